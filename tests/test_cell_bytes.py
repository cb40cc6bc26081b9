"""The byte readers of reasoner/cell_bytes.py against plain Python readings of the same cells.

They decide which cells the columnar batch paths take, and what they read in them; a cell read
wrongly would be a wrong decision, a cell refused only a slower one. So each property checks
both: the cells taken are exactly the canonical ones, and their values are what Python reads.
Arrays are sliced at a random offset, as the chunks of a row group are.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from reasoner.cell_bytes import _dates_by_kernels, dates, identity_entries, money
from reasoner.numeric import parse_money

EPOCH = dt.date(1970, 1, 1).toordinal()


def _sliced(cells: list[str | None], offset: int, filler: str) -> pa.Array:
    return pa.array([filler] * offset + cells + [filler], pa.string()).slice(offset, len(cells))


def _day(cell: str) -> int | None:
    """date.fromisoformat's day number of a canonical YYYY-MM-DD cell, else None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell, re.ASCII):
        return None
    try:
        return dt.date.fromisoformat(cell).toordinal() - EPOCH
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.from_regex(r"\A\d{4}-\d{2}-\d{2}\Z"), st.dates().map(dt.date.isoformat), st.text(max_size=12), st.none()),
                max_size=40), st.integers(0, 3))
def test_dates_read_from_the_bytes_are_what_fromisoformat_reads(cells: list[str | None], offset: int) -> None:
    """Exactly the cells (and days) that Arrow's regex and strptime take, and that date.fromisoformat
    reads the same way, including 02-29 of years that are not leap years and year 0000."""
    text = _sliced(cells, offset, "2024-02-29")
    days, ok = dates(text)
    kernel_days, kernel_ok = _dates_by_kernels(text)
    assert ok.tolist() == kernel_ok.tolist() and days.tolist() == kernel_days.tolist()
    for cell, good, day in zip(cells, ok.tolist(), days.tolist()):
        expected = None if cell is None else _day(cell)
        assert good == (expected is not None), cell
        assert not good or day == expected


AMOUNTS = st.one_of(st.from_regex(r"\A-?\d{1,14}(\.\d{0,3})?\Z"), st.decimals(-10**13, 10**13, places=2).map(str),
                    st.text("0123456789.-+ e万", max_size=18), st.text(max_size=6), st.none())


@settings(max_examples=400, deadline=None)
@given(st.lists(AMOUNTS, max_size=40), st.integers(0, 3))
def test_amounts_read_from_the_bytes_are_what_parse_money_reads(cells: list[str | None], offset: int) -> None:
    """The cells taken are -?\\d{1,13}(\\.\\d{1,2})? and each is read as its 分, which parse_money agrees with."""
    fen, ok = money(_sliced(cells, offset, "12.5"))
    for cell, good, value in zip(cells, ok.tolist(), fen.tolist()):
        canonical = cell is not None and re.fullmatch(r"-?\d{1,13}(\.\d{1,2})?", cell, re.ASCII) is not None
        assert good == canonical, cell
        if canonical:
            assert value == int(Decimal(cell) * 100) == parse_money(cell), cell


PART = st.one_of(st.sampled_from(["特困供养人员", "民政", "残联", "a", " ", ""]), st.text(max_size=4))
DATE_PART = st.one_of(st.dates().map(dt.date.isoformat), st.sampled_from(["2019-02-29", "2024-13-01", "", "2024-1-01"]), st.text(max_size=10))
ENTRY = st.one_of(
    st.tuples(PART, PART, DATE_PART).map("|".join),
    st.tuples(PART, PART, DATE_PART, DATE_PART).map("|".join),
    st.lists(PART, max_size=5).map("|".join),
)
CELLS = st.one_of(st.none(), st.tuples(st.lists(ENTRY, max_size=4), st.sampled_from([";", "；"])).map(lambda t: t[1].join(t[0])),
                  st.lists(st.tuples(ENTRY, st.sampled_from([";", "；", ""])), max_size=4).map(lambda es: "".join(e + s for e, s in es)))


def _entries(cell: str) -> list[tuple[bool, str, int | None, int | None]]:
    """The reference reading: (ok, 名称|认定部门, recognised, ended) per non-empty entry."""
    out = []
    for entry in re.split("[;；]", cell):
        if not entry:
            continue
        parts = entry.split("|")
        recognised = _day(parts[2]) if len(parts) in (3, 4) else None
        ended = parts[3] if len(parts) == 4 and parts[3] else None
        ended_day = None if ended is None else _day(ended)
        ok = len(parts) in (3, 4) and bool(parts[0]) and bool(parts[1]) and recognised is not None and (ended is None or ended_day is not None)
        out.append((ok, f"{parts[0]}|{parts[1]}" if ok else "", recognised if ok else None, ended_day if ok else None))
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(CELLS, max_size=20), st.integers(0, 3))
def test_identity_cells_split_from_the_bytes_are_what_python_splits(cells: list[str | None], offset: int) -> None:
    """Entries split on ； and ; (empty ones skipped), parts on |: each entry's row, whether it reads,
    its 名称|认定部门, recognition and end are what str.split and date.fromisoformat give."""
    found = identity_entries(_sliced(cells, offset, "孤儿|民政|2015-01-01；x|y"))
    got = [(bool(ok), found.pair_text[p] if ok else "", r if ok else None, e if ok and h else None)
           for ok, p, r, e, h in zip(found.ok.tolist(), found.pair.tolist(), found.recognised.tolist(), found.ended.tolist(),
                                     found.has_end.tolist())]
    expected = [(row, entry) for row, cell in enumerate(cells) if cell is not None for entry in _entries(cell)]
    assert found.parent.tolist() == [row for row, _ in expected]
    assert got == [entry for _, entry in expected]
    assert [(r if ok else None, e if ok and h else None) for ok, r, e, h in zip(found.ok.tolist(), found.recognised_month.tolist(),
            found.ended_month.tolist(), found.has_end.tolist())] == [(_month(r), _month(e)) for _, (_, _, r, e) in expected]


def _month(day: int | None) -> int | None:
    """Months since 1970-01 of a day number."""
    if day is None:
        return None
    date = dt.date.fromordinal(day + EPOCH)
    return (date.year - 1970) * 12 + date.month - 1


def test_the_largest_and_smallest_amounts_are_read_to_the_fen() -> None:
    """Through float64 the 分 are exact up to the largest amount parse_money takes."""
    cells = ["9999999999999.99", "-9999999999999.99", "9007199254740.99", "0.01", "-0.01", "0.29", "1.1", "4503599627370.49", "-0"]
    fen, ok = money(pa.array(cells))
    assert ok.all()
    assert fen.tolist() == [parse_money(c) for c in cells] == [int(Decimal(c) * 100) for c in cells]


ENDS = st.text(alphabet=st.sampled_from([" ", "\t", "\u3000", "\u00a0", "\u2003", "\u0085", "\x1c", "a", "1", "龙", "是", "「", "é", "𠀀", "|"]),
               max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(ENDS, st.none()), max_size=8), st.integers(0, 2))
def test_a_column_with_plain_ends_is_what_trimming_leaves(cells: list[str | None], offset: int) -> None:
    """plain_ends lets tables.trimmed skip Arrow's trim: only when neither Arrow's trim nor str.strip
    (cell_text's) would change a cell or empty it."""
    from reasoner.cell_bytes import plain_ends

    assert plain_ends(pa.array(["龙岩市", "a|民政|2024-01-01", None, "是"]))  # the common case takes the skip
    assert not plain_ends(pa.array(["龙岩市", " 是"])) and not plain_ends(pa.array(["是\u3000"])) and not plain_ends(pa.array([""]))
    text = _sliced(cells, offset, " x ")
    if plain_ends(text):
        assert pa.compute.utf8_trim_whitespace(text).to_pylist() == cells
        assert [None if c is None else c.strip() or None for c in cells] == cells
