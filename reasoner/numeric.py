"""This module is the exact numeric layer: money in integer 分, rates as fractions.

Clingo's integers are 32 bits and overflow silently on money, so every amount and every
comparison of amounts is done here, in Python integers, from the same compiled policy:
atomic conditions are evaluated for a person and handed to ASP as t/f facts, benefit
values are evaluated for a date and handed to ASP as small favourability ranks.

Rounding is stated once: ROUNDING, half-up to the 分, applied only in round_fen() and its integer
forms round_fen_product() and round_fen_sum() (one rule, _half_up).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Callable, Sequence

from . import ast

#: The one rounding rule. None of the five documents states one, so amounts are rounded
#: half-up to the 分 (the settlement convention); every explanation that rounds cites this.
ROUNDING = "金额按四舍五入精确到分（各文件均未另行规定）"


def round_fen(value: Fraction) -> int:
    """Half-up to the 分 (halves away from zero); the only place where an exact amount becomes an integer.

    Exact integer arithmetic on numerator n and denominator d > 0 (an int is n/1): for n ≥ 0
    ⌊(2n + d) / 2d⌋ = ⌊|x| + ½⌋, for n < 0 its negation: the same as the Fraction formula
    (−1 if x < 0 else 1) × ⌊(|x|·2 + 1) / 2⌋ that other values take (tests/test_numeric_fast.py
    checks the two against each other).
    """
    kind = type(value)
    if kind is int:
        return value
    if kind is Fraction:
        return _half_up(value.numerator, value.denominator)
    sign = -1 if value < 0 else 1
    return sign * int((abs(value) * 2 + 1) // 2)


def _half_up(n: int, d: int) -> int:
    """round_fen(n / d) for integers n and d > 0 (need not be in lowest terms)."""
    if n >= 0:
        return (2 * n + d) // (2 * d)
    return -((d - 2 * n) // (2 * d))


def round_fen_product(amount: int, rate: Fraction) -> int:
    """round_fen(amount × rate) for an amount in 分 and a rate, without building the Fraction."""
    if type(amount) is int and type(rate) is Fraction:
        return _half_up(amount * rate.numerator, rate.denominator)
    return round_fen(amount * rate)


def round_fen_sum(terms: Sequence[tuple[int, Fraction]]) -> int:
    """round_fen(Σ amount × rate) over (amount in 分, rate) pairs, rounded once, in integers."""
    num, den = 0, 1
    for amount, rate in terms:
        if type(amount) is not int or type(rate) is not Fraction:
            return round_fen(sum((a * r for a, r in terms), Fraction(0)))
        d = rate.denominator
        if d == den:
            num += amount * rate.numerator
        else:
            num, den = num * d + amount * rate.numerator * den, den * d
    return _half_up(num, den)


def yuan(fen: int | Fraction) -> str:
    """12345678 分 → '123,456.78元'."""
    if type(fen) is int:
        if fen >= 0:
            return f"{fen // 100:,}.{fen % 100:02d}元"
        whole = fen
    else:
        whole = fen if isinstance(fen, int) else (fen.numerator if fen.denominator == 1 else round_fen(fen))
    sign = "-" if whole < 0 else ""
    y, f = divmod(abs(whole), 100)
    return f"{sign}{y:,}.{f:02d}元"


def pct(rate: Fraction) -> str:
    """9/10 → '90%'."""
    if type(rate) is Fraction:
        return _pct_of(rate.numerator, rate.denominator)  # hashing ints is cheaper than hashing the Fraction
    return _pct(rate)


@functools.lru_cache(maxsize=1024)
def _pct_of(numerator: int, denominator: int) -> str:
    return _pct(Fraction(numerator, denominator))


def _pct(rate: Fraction) -> str:
    text = f"{Decimal(rate.numerator) / Decimal(rate.denominator) * 100:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


MAX_FEN = 10 ** 15  #: amounts are below 10 万亿元 (10¹⁵ 分), so sums over a year's claims fit in int64
AMOUNT_TEXT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(万)?\s*元?\s*$")


def parse_money(raw: object) -> int:
    """An input amount in 元 (number or text such as '5万元', '12,000.50') → 分; at most two decimals.

    The same texts come back again and again (every record's 假设参数 and 大病保险, each read by
    the record's validation and again by every decision), so readings of exact str and int
    values are remembered (bounded; typed, so True is not 1; a value that does not read raises
    every time).
    """
    kind = type(raw)
    return _remembered_money(raw) if kind is str or kind is int else _parse_money(raw)


@functools.lru_cache(maxsize=4096, typed=True)
def _remembered_money(raw: str | int) -> int:
    return _parse_money(raw)


def _parse_money(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("应为金额（元），而非是/否")
    if isinstance(raw, (int, float, Decimal)):
        text = repr(raw) if isinstance(raw, float) else str(raw)
        match = AMOUNT_TEXT.match(text)
    else:
        match = AMOUNT_TEXT.match(str(raw).replace(",", ""))
    if not match:
        raise ValueError(f"无法识别的金额「{raw}」，应写作如 12000.50 或 1.2万元")
    try:
        number = Decimal(match.group(1)) * (10000 if match.group(2) else 1) * 100
    except InvalidOperation as err:
        raise ValueError(f"无法识别的金额「{raw}」") from err
    if number != number.to_integral_value():
        raise ValueError(f"金额「{raw}」精确到分以下")
    if abs(number) >= MAX_FEN:
        raise ValueError(f"金额「{raw}」超出可处理的范围（绝对值应小于 10 万亿元）")
    return int(number)


def parse_rate(raw: object) -> Fraction:
    text = str(raw).strip()
    try:
        return Fraction(Decimal(text[:-1])) / 100 if text.endswith("%") else Fraction(Decimal(text))
    except (InvalidOperation, ValueError) as err:
        raise ValueError(f"无法识别的比例「{raw}」，应写作如 90% 或 0.9") from err


TRUE_TEXTS = ("是", "true", "yes", "1", "真")  #: what parse_bool reads as 是 (after strip and lower)
FALSE_TEXTS = ("否", "false", "no", "0", "假")


def parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    key = str(raw).strip().lower()
    if key in TRUE_TEXTS:
        return True
    if key in FALSE_TEXTS:
        return False
    raise ValueError(f"应为 是/否，而非「{raw}」")


# ------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class ParamReading:
    """A parameter value as used in one decision, with where it came from."""

    name: str
    region: str
    year: int
    fen: int | None  #: None: not known
    source: str


ParamLookup = Callable[[str], ParamReading]


@dataclass(frozen=True)
class Missing:
    kind: str  #: "fact" or "param"
    name: str
    region: str = ""
    year: int = 0

    def describe(self) -> str:
        if self.kind == "param":
            return f"参数「{self.name}」（{self.region}，{self.year}年）没有已知取值"
        return f"事实「{self.name}」"


# ------------------------------------------------------------------ benefit values
@dataclass(frozen=True)
class Evaluated:
    """A benefit value for one date: the number, how it reads, and what it needed."""

    number: Fraction | None  #: rate, or amount in 分; None when unknown or absent; cap 无 → None with infinite
    display: str
    absent: bool = False  #: the text gives no value for that year
    infinite: bool = False  #: 无 封顶
    missing: tuple[Missing, ...] = ()
    params: tuple[ParamReading, ...] = ()
    per_person: ast.PercentOf | None = None  #: rate of a person's fact, e.g. 2.2% × 缴费基数
    warnings: tuple[str, ...] = ()


HIGHER_IS_BETTER = {"subsidy": True, "rate": True, "cap": True, "deductible": False, "tilt": True}


def select_year(value: ast.ByYear, year: int) -> ast.SimpleValue | None:
    exact = [e for e in value.entries if e.year == year and not e.onwards]
    if exact:
        return exact[0].value
    onwards = [e for e in value.entries if e.onwards and e.year <= year]
    return max(onwards, key=lambda e: e.year).value if onwards else None


def evaluate(item: str, value: ast.Value | ast.Tilt, year: int, lookup: ParamLookup, facts: set[str]) -> Evaluated:
    """The number a benefit value stands for in a year; parameters through lookup."""
    if isinstance(value, ast.Tilt):
        return Evaluated(Fraction(1), describe_tilt(value))
    if isinstance(value, ast.ByYear):
        chosen = select_year(value, year)
        if chosen is None:
            return Evaluated(None, f"{year}年无规定", absent=True)
        inner = evaluate(item, chosen, year, lookup, facts)
        return Evaluated(inner.number, f"{inner.display}（{year}年）", inner.absent, inner.infinite, inner.missing,
                         inner.params, inner.per_person, inner.warnings)
    if isinstance(value, ast.Bounded):
        inner = evaluate(item, value.value, year, lookup, facts)
        floor = _operand_fen(value.floor, lookup)
        warnings = inner.warnings
        if inner.number is not None and floor[0] is not None and inner.number < floor[0]:
            warnings += (f"{inner.display} 低于文件要求的下限 {yuan(floor[0])}",)
        return Evaluated(inner.number, inner.display, inner.absent, inner.infinite, inner.missing + floor[1],
                         inner.params + floor[2], inner.per_person, warnings)
    if isinstance(value, ast.Full):
        return Evaluated(Fraction(1), "全额")
    if isinstance(value, ast.NoValue):
        if item == "cap":
            return Evaluated(None, "不设封顶", infinite=True)
        return Evaluated(Fraction(0), "无" if item != "deductible" else "不设起付标准")
    if isinstance(value, ast.Percent):
        return Evaluated(value.rate, pct(value.rate))
    if isinstance(value, ast.Amount):
        return Evaluated(Fraction(value.fen), yuan(value.fen))
    if isinstance(value, ast.ParamValue):
        reading = lookup(value.param.text)
        if reading.fen is None:
            return Evaluated(None, f"参数 {value.param.text}", missing=(Missing("param", reading.name, reading.region, reading.year),), params=(reading,))
        return Evaluated(Fraction(reading.fen), f"{yuan(reading.fen)}（参数 {value.param.text}）", params=(reading,))
    assert isinstance(value, ast.PercentOf)
    if value.of.text in facts:
        return Evaluated(value.rate, value.text, per_person=value)
    reading = lookup(value.of.text)
    if reading.fen is None:
        return Evaluated(None, value.text, missing=(Missing("param", reading.name, reading.region, reading.year),), params=(reading,))
    amount = round_fen(value.rate * reading.fen)
    return Evaluated(Fraction(amount), f"{pct(value.rate)} × {yuan(reading.fen)} = {yuan(amount)}", params=(reading,))


def describe_tilt(tilt: ast.Tilt) -> str:
    parts = []
    if tilt.deductible:
        parts.append(f"起付线 {yuan(tilt.deductible.fen)}")
    if tilt.deductible_cut:
        parts.append(f"起付线降低 {tilt.deductible_cut.text}")
    if tilt.rate_raise:
        parts.append(f"报销比例提高 {tilt.rate_raise.text}")
    if tilt.segments:
        parts.append("分段 " + "；".join(f"{yuan(s.lower.fen)}{' 至 ' + yuan(s.upper.fen) if s.upper else ' 以上'} {s.rate.text}"
                                         for s in tilt.segments))
    if tilt.no_cap:
        parts.append("不设封顶线")
    return "，".join(parts)


def _operand_fen(op: ast.Operand, lookup: ParamLookup) -> tuple[Fraction | None, tuple[Missing, ...], tuple[ParamReading, ...]]:
    if isinstance(op, ast.Amount):
        return Fraction(op.fen), (), ()
    if isinstance(op, (ast.Percent, ast.Number)):
        return (op.rate if isinstance(op, ast.Percent) else op.value), (), ()
    name = op.name.text if isinstance(op, ast.NameRef) else op.of.text
    reading = lookup(name)
    if reading.fen is None:
        return None, (Missing("param", reading.name, reading.region, reading.year),), (reading,)
    base = Fraction(reading.fen)
    return (base * op.rate if isinstance(op, ast.PercentOf) else base), (), (reading,)


def _favour(item: str, ev: Evaluated) -> Fraction:
    """A key that grows with how favourable the value is to the person."""
    if ev.infinite:
        return Fraction(10**18)
    assert ev.number is not None
    return ev.number if HIGHER_IS_BETTER[item] else -ev.number


def ranks(values: dict[str, tuple[str, str, Evaluated]]) -> dict[str, int]:
    """Dense favourability rank per (item, scope); higher is better. Unknown values get none."""
    groups: dict[tuple[str, str], list[tuple[str, Evaluated]]] = {}
    for vid, (item, scope, ev) in values.items():
        groups.setdefault((item, scope), []).append((vid, ev))
    out: dict[str, int] = {}
    for (item, _), members in groups.items():
        known = [(vid, _favour(item, ev)) for vid, ev in members if not ev.absent and (ev.number is not None or ev.infinite)]
        levels = sorted({k for _, k in known})
        for vid, k in known:
            out[vid] = levels.index(k) + 1
    return out


# ------------------------------------------------------------------ atomic conditions
@dataclass(frozen=True)
class AtomResult:
    value: bool | None
    text: str  #: the comparison with its numbers, for explanations
    missing: tuple[Missing, ...] = ()
    params: tuple[ParamReading, ...] = field(default=())


def _fmt(unit: str | None, number: Fraction) -> str:
    if unit == "金额":
        return yuan(number)
    if unit == "比例":
        return pct(number)
    return str(number)


OPS: dict[str, Callable[[Fraction, Fraction], bool]] = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b, "=": lambda a, b: a == b,
}


def evaluate_atom(cond: ast.Comparison | ast.BoolFact, facts: dict[str, object], units: dict[str, str],
                  lookup: ParamLookup) -> AtomResult:
    """Three-valued: True, False, or None with the facts/parameters that are missing."""
    if isinstance(cond, ast.BoolFact):
        raw = facts.get(cond.name.text)
        if raw is None:
            return AtomResult(None, f"{cond.name.text}：未提供", (Missing("fact", cond.name.text),))
        return AtomResult(bool(raw), f"{cond.name.text}：{'是' if raw else '否'}")
    left, ltext, lmiss, lparams = _side(cond.left, facts, units, lookup)
    right, rtext, rmiss, rparams = _side(cond.right, facts, units, lookup)
    missing, params = lmiss + rmiss, lparams + rparams
    opword = {">=": "达到或超过", ">": "超过", "<=": "不超过", "<": "低于", "=": "等于"}[cond.op]
    text = f"{ltext} {opword} {rtext}"
    if left is None or right is None:
        return AtomResult(None, text, tuple(missing), tuple(params))
    return AtomResult(OPS[cond.op](left, right), text, (), tuple(params))


def _side(op: ast.Operand, facts: dict[str, object], units: dict[str, str], lookup: ParamLookup
          ) -> tuple[Fraction | None, str, list[Missing], list[ParamReading]]:
    if isinstance(op, ast.Amount):
        return Fraction(op.fen), op.text, [], []
    if isinstance(op, ast.Percent):
        return op.rate, op.text, [], []
    if isinstance(op, ast.Number):
        return op.value, op.text, [], []
    name = op.name.text if isinstance(op, ast.NameRef) else op.of.text
    rate = op.rate if isinstance(op, ast.PercentOf) else Fraction(1)
    prefix = f"{pct(rate)} × " if isinstance(op, ast.PercentOf) else ""
    if name in units:  # a fact of the person
        raw = facts.get(name)
        if raw is None:
            return None, f"{prefix}{name}（未提供）", [Missing("fact", name)], []
        number = Fraction(raw) if isinstance(raw, (int, Fraction)) else Fraction(str(raw))
        return number * rate, f"{prefix}{name} {_fmt(units[name], number)}", [], []
    reading = lookup(name)
    if reading.fen is None:
        return None, f"{prefix}{name}（{reading.region}{reading.year}年无已知取值）", [Missing("param", name, reading.region, reading.year)], [reading]
    return Fraction(reading.fen) * rate, f"{prefix}{name} {yuan(reading.fen)}", [], [reading]


def month_relation(recognised: dt.date, on: dt.date) -> str:
    """Where a recognition date lies relative to the decision date, in the terms decide.lp uses."""
    if recognised > on:
        return "after"
    if (recognised.year, recognised.month) == (on.year, on.month):
        return "same_month"
    return "before_month"
