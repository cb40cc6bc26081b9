"""The integer fast paths of the numeric layer against the Fraction reference (hypothesis, derandomized).

round_fen, round_fen_product and round_fen_sum compute in integers what the original
rounding computed through Fraction: half-up to the 分, halves away from zero, on exact
values. yuan and pct keep their texts; parse_money's memo and the 大病保险 memo of
person.parse_person return what a fresh parse returns, errors included.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasoner import numeric
from reasoner.numeric import parse_money, pct, round_fen, round_fen_product, round_fen_sum, yuan
from reasoner.person import RecordError, parse_person

PROPERTY = settings(max_examples=2000, derandomize=True, deadline=None, database=None)


def reference_round(value: Fraction) -> int:
    """round_fen as it was before the fast path: through Fraction arithmetic."""
    sign = -1 if value < 0 else 1
    return sign * int((abs(value) * 2 + 1) // 2)


def reference_yuan(fen: int | Fraction) -> str:
    whole = fen if isinstance(fen, int) else (fen.numerator if fen.denominator == 1 else reference_round(fen))
    sign = "-" if whole < 0 else ""
    y, f = divmod(abs(whole), 100)
    return f"{sign}{y:,}.{f:02d}元"


def reference_pct(rate: Fraction) -> str:
    text = f"{Decimal(rate.numerator) / Decimal(rate.denominator) * 100:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


AMOUNTS = st.one_of(st.integers(-10**6, 10**6), st.integers(-10**15, 10**15))
#: rates as policies write them (percent with decimals) and arbitrary fractions, incl. negative and > 1
RATES = st.one_of(
    st.integers(0, 10000).map(lambda n: Fraction(n, 10000)),
    st.sampled_from([Fraction(1, 3), Fraction(2, 3), Fraction(1, 2), Fraction(7, 10), Fraction(0), Fraction(1)]),
    st.fractions(min_value=-3, max_value=3, max_denominator=10**6),
)
FRACTIONS = st.one_of(st.fractions(max_denominator=10**9),
                      st.builds(lambda n, d: Fraction(2 * n + 1, 2 * d), st.integers(-10**9, 10**9), st.integers(1, 1000)))


@PROPERTY
@given(FRACTIONS)
def test_round_fen_matches_fraction_reference(value: Fraction) -> None:
    assert round_fen(value) == reference_round(value)
    assert type(round_fen(value)) is int


@PROPERTY
@given(st.integers(-10**18, 10**18))
def test_round_fen_of_an_int_is_itself(value: int) -> None:
    assert round_fen(value) == reference_round(value) == value


def test_round_fen_halves_away_from_zero() -> None:
    assert [round_fen(Fraction(n, 2)) for n in (-5, -3, -1, 1, 3, 5)] == [-3, -2, -1, 1, 2, 3]
    assert round_fen(Fraction(-1, 3)) == 0 and round_fen(Fraction(-2, 3)) == -1
    assert round_fen(Decimal("2.5")) == 3 and round_fen(Decimal("-2.5")) == -3  # other values: the Fraction formula


@PROPERTY
@given(AMOUNTS, RATES)
def test_round_fen_product_matches_fraction_reference(amount: int, rate: Fraction) -> None:
    assert round_fen_product(amount, rate) == reference_round(amount * rate)


@PROPERTY
@given(st.lists(st.tuples(AMOUNTS, RATES), max_size=6))
def test_round_fen_sum_matches_fraction_reference(terms: list[tuple[int, Fraction]]) -> None:
    assert round_fen_sum(terms) == reference_round(sum((a * r for a, r in terms), Fraction(0)))


def test_round_fen_sum_falls_back_for_other_numbers() -> None:
    assert round_fen_sum([(3, Fraction(1, 2)), (1, 2)]) == reference_round(Fraction(7, 2))


@PROPERTY
@given(st.one_of(st.integers(-10**15, 10**15), FRACTIONS))
def test_yuan_matches_reference(fen: int | Fraction) -> None:
    assert yuan(fen) == reference_yuan(fen)


@PROPERTY
@given(RATES)
def test_pct_matches_reference(rate: Fraction) -> None:
    assert pct(rate) == reference_pct(rate)
    assert pct(rate) == reference_pct(rate)  # from the memo


MONEY_TEXTS = st.one_of(
    st.integers(-10**12, 10**12).map(lambda f: f"{f / 100:.2f}"),
    st.integers(0, 10**9).map(str),
    st.sampled_from(["5万元", "1.2万元", "12,000.50", " 3 元 ", "0.001", "abc", "", "1.5万", "-0", "12.345万"]),
)


def _outcome(fn, raw):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(raw))
    except ValueError as err:
        return ("error", str(err))


@PROPERTY
@given(st.one_of(MONEY_TEXTS, st.integers(-10**12, 10**12), st.booleans(), st.floats(allow_nan=False, allow_infinity=False)))
def test_parse_money_memo_matches_a_fresh_parse(raw: object) -> None:
    want = _outcome(numeric._parse_money, raw)
    assert _outcome(parse_money, raw) == want
    assert _outcome(parse_money, raw) == want  # again, from the memo when it read


def test_parse_money_memo_keeps_types_apart() -> None:
    numeric._remembered_money.cache_clear()
    assert parse_money(1) == 100
    with pytest.raises(ValueError):
        parse_money(True)  # equal to 1 as a key, but a 是/否 is not an amount
    assert parse_money("1") == 100 and parse_money(1.0) == 100
    with pytest.raises(ValueError):
        parse_money("0.001")
    with pytest.raises(ValueError):
        parse_money("0.001")  # errors are not remembered


# ------------------------------------------------------------------ 大病保险 parsed once per content
ORDINARY = {"起付线": 13000, "分段": [{"起": 13000, "止": 100000, "比例": "60%"}, {"起": 100000, "止": 150000, "比例": "65%"},
                                    {"起": 150000, "比例": "70%"}], "封顶线": 400000}


def _record(catastrophic: object, rid: str = "p1") -> dict:
    return {"编号": rid, "地区": "龙岩市", "日期": "2024-06-01", "大病保险": catastrophic}


def test_catastrophic_shared_between_equal_objects_and_equal_to_a_fresh_parse() -> None:
    from reasoner import person as person_module
    person_module._CATASTROPHIC.clear()
    first = parse_person(_record(ORDINARY)).catastrophic
    import copy
    second = parse_person(_record(copy.deepcopy(ORDINARY))).catastrophic
    assert first is second
    assert first == person_module._parse_catastrophic(ORDINARY, "p1")


@pytest.mark.parametrize("variant, field", [
    ({**ORDINARY, "起付线": "13000.001"}, "大病保险.起付线"),
    ({**ORDINARY, "封顶线": True}, "大病保险.封顶线"),
    ({**ORDINARY, "分段": [{"起": 13000, "比例": "x%"}]}, "大病保险.分段[0].比例"),
    ({**ORDINARY, "倍数": 2}, "大病保险.倍数"),
])
def test_catastrophic_errors_are_raised_every_time_with_their_record(variant: dict, field: str) -> None:
    for rid in ("a1", "a2"):
        with pytest.raises(RecordError) as err:
            parse_person(_record(variant, rid))
        assert err.value.field == field and err.value.record_id == rid


def test_catastrophic_memo_keeps_types_apart() -> None:
    parsed = [parse_person(_record({**ORDINARY, "起付线": v})).catastrophic.deductible for v in (13000, 13000.5, "13000.5万", "1.5")]
    assert parsed == [1300000, 1300050, 13000500000, 150]
    # 1 and True compare equal in Python; the memo must not hand one's result to the other
    assert parse_person(_record({**ORDINARY, "封顶线": 1})).catastrophic.cap == 100
    with pytest.raises(RecordError):
        parse_person(_record({**ORDINARY, "封顶线": True}))
    assert parse_person(_record({**ORDINARY, "分段": [{"起": 1, "比例": 1}]})).catastrophic.segments[0].rate == 1
    assert parse_person(_record({**ORDINARY, "分段": [{"起": 1, "比例": 0.5}]})).catastrophic.segments[0].rate == Fraction(1, 2)
