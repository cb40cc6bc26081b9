"""This module converts one fact's values over many rows into exact numpy columns.

Split from reasoner/batch.py: the converters are the part of the batch path that must agree
element by element with the per-person parsers (numeric.parse_money, numeric.parse_bool,
decide._convert), so they live apart and are tested through bench/check_batch.py. Each
returns the values, which cells are present (an empty cell is a missing fact, never 0 or 否)
and which are malformed (those rows take the exact per-row path, which names the field).
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .decide import _convert
from .numeric import parse_bool, parse_money

_ABS_LIMIT = 1e13  #: |元| below which a float's 分 are exact in float64 arithmetic (see money_column)

def _frac(x: Any) -> Fraction:
    return x if isinstance(x, Fraction) else Fraction(x)


_I64 = 1 << 62  #: bound for exact int64 products


def _times(x: np.ndarray | None, k: int) -> Any:
    """x·k exactly: int64 when it cannot overflow, else Python ints in an object array."""
    if x is None:
        return k
    if k == 1:
        return x
    top = int(np.abs(x).max()) if len(x) else 0
    if top * abs(k) < _I64:
        return x * k
    return x.astype(object) * k


def _money_column(col: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Amounts in 元 → (分 as int64, present, malformed), equal to numeric.parse_money element-wise.

    A float x with |x| < 10^13 takes the fast path when rint(100x)/100 == x: then the
    decimal n/100 (n = rint(100x)) converts back to x, so repr(x) — what parse_money reads —
    is n/100 with at most two decimals, and parse_money(x) == n (two distinct multiples of
    0.01 cannot both be within half an ulp ≤ 2^-10 of x). Ints take it when |x| < 10^13
    (100x is then exact in float64). Everything else (text such as "5万元", Decimal, bool,
    sub-分 amounts, huge numbers) is handed to parse_money itself.
    """
    n = len(col)
    try:
        x = np.fromiter((v if v.__class__ in _NUMBERS else _NAN for v in col), dtype=np.float64, count=n)
    except OverflowError:  # an int beyond float64: leave it to parse_money
        x = np.fromiter((v if v.__class__ is float or (v.__class__ is int and abs(v) < _ABS_LIMIT) else _NAN for v in col),
                        dtype=np.float64, count=n)
    with np.errstate(invalid="ignore"):
        ok = np.abs(x) < _ABS_LIMIT
        fen = np.rint(x * 100)
        ok &= fen / 100 == x
    out = np.where(ok, fen, 0).astype(np.int64)
    present = np.ones(n, dtype=bool)
    wrong = np.zeros(n, dtype=bool)
    if not ok.all():
        for pos in np.flatnonzero(~ok).tolist():
            raw = col[pos]
            if raw is None:
                present[pos] = False
                continue
            try:
                value = parse_money(raw)
            except (ValueError, TypeError):
                wrong[pos] = True
                continue
            if abs(value) < _I64:
                out[pos] = value
            else:
                wrong[pos] = True  # beyond int64: the exact path decides this row
    return out, present, wrong


_NUMBERS = {int, float}
_NAN = float("nan")
_BOOL_TEXT: dict[str, int] = {}  #: text → 0/1 as parse_bool reads it; str keys only (1.0 == True must not match)


def _bool_column(col: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """是/否 (and whatever parse_bool accepts) → (value, present, malformed)."""
    get = _BOOL_TEXT.get
    try:
        codes = np.array([get(v, 3) for v in col], dtype=np.int8)  # type: ignore[arg-type]
    except TypeError:  # an unhashable value
        codes = np.array([get(v, 3) if v.__class__ is str else 3 for v in col], dtype=np.int8)
    value = codes == 1
    present = np.ones(len(col), dtype=bool)
    wrong = np.zeros(len(col), dtype=bool)
    for pos in np.flatnonzero(codes == 3).tolist():
        raw = col[pos]
        if raw is None:
            present[pos] = False
            continue
        try:
            b = parse_bool(raw)
        except ValueError:
            wrong[pos] = True
            continue
        if raw.__class__ is str:
            _BOOL_TEXT[raw] = int(b)
        value[pos] = b
    return value, present, wrong


def _other_column(unit: str, col: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    present = np.array([v is not None for v in col], dtype=bool)
    wrong = np.zeros(len(col), dtype=bool)
    for pos, raw in enumerate(col):
        if raw is not None:
            try:
                _convert(unit, raw)
            except (ValueError, TypeError):
                wrong[pos] = True
    return present, wrong


__all__ = ["_bool_column", "_frac", "_money_column", "_other_column", "_times"]
