"""This module reads canonical cells of Arrow string arrays for the columnar batch paths.

A roster's dates, amounts and identity cells are read on every row of a batch, and Arrow's
kernels (a regex, a decimal cast, a split into lists and a join per part, a trim copying every
cell) cost 0.1–0.3 µs a cell each: at decide 10⁶ most of the per-row time left after the keys.
A canonical cell is plain ASCII in a fixed shape, so numpy reads dates and identity cells in
place from the array's offsets and data buffers. Every reader returns, beside the values,
which cells it read; a cell it does not read goes to the caller's exact path (parse_person),
so only canonical cells are ever taken here:

    date        YYYY-MM-DD, a real day of year ≥ 1 (what date.fromisoformat reads the same way)
    amount      -?\\d{1,13}(\\.\\d{1,2})? in 元 → exactly its 分 (what numeric.parse_money reads),
                matched by Arrow's regex and read through float64 (see money)
    identities  名称|认定部门|YYYY-MM-DD[|YYYY-MM-DD] entries separated by ； or ; (empty
                entries skipped), 名称 and 认定部门 not empty
    plain ends  no cell empty or beginning or ending with whitespace: the column needs no trim

No byte of a multi-byte UTF-8 character is ASCII, so searching the bytes for | ; - and digits
finds only those characters. tests/test_cell_bytes.py checks each reader against a plain
Python reading of the same cells (bench/README.md «What was tried» 47).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DATE = r"^\d{4}-\d{2}-\d{2}$"
DATE_BYTES = 10
MONEY = r"^-?\d{1,13}(\.\d{1,2})?$"  #: 元 with at most two decimals: parse_money reads it as exactly these 分
_ZERO, _DASH = ord("0"), ord("-")
_FULL_SEMI = "；".encode()  #: U+FF1B
_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9])  #: where a YYYY-MM-DD cell has digits (dashes at 4 and 7)
_ASCII = np.zeros(256, dtype=bool)
_ASCII[0x21:0x7F] = True  #: printable ASCII bytes but the space
_CJK_LEAD = np.zeros(256, dtype=bool)
_CJK_LEAD[0xE4:0xEA] = True  #: lead bytes of U+4000–U+9FFF
_PLAIN_FIRST = _ASCII | _CJK_LEAD
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass(frozen=True)
class Buffers:
    """A string array's cells as numpy views: cell i is data[offsets[i]:offsets[i + 1]] where valid[i]."""

    offsets: np.ndarray  #: int64, one more than the cells
    data: np.ndarray  #: uint8
    valid: np.ndarray  #: bool

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def buffers(text: pa.Array) -> Buffers | None:
    """The buffers of a plain string array (None for other types: the caller uses Arrow's kernels)."""
    if not pa.types.is_string(text.type):
        return None
    n = len(text)
    validity, offsets, data = text.buffers()
    at = np.frombuffer(offsets, dtype=np.int32, count=n + 1, offset=text.offset * 4).astype(np.int64)
    raw = np.zeros(0, dtype=np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
    valid = np.ones(n, dtype=bool) if validity is None else np.asarray(text.is_valid())
    return Buffers(at, raw, valid)


def plain_ends(text: pa.Array) -> bool:
    """Whether no cell is empty and every cell begins and ends with a character no trimming removes:
    printable ASCII, or a CJK ideograph of U+4000–U+9FFF (lead byte E4–E9). Checking the two ends of
    each cell spares a roster's clean columns Arrow's trim (a copy of every cell)."""
    cells = buffers(text)
    if cells is None:
        return False
    if text.null_count:
        at = np.flatnonzero(cells.valid)
        start, end = cells.offsets[at], cells.offsets[at + 1]
    else:
        start, end = cells.offsets[:-1], cells.offsets[1:]
    if not len(start) or (end == start).any():
        return not len(start)
    data = cells.data
    last = _ASCII[data[end - 1]] | (_CJK_LEAD[data[np.maximum(end - 3, start)]] & (end - start >= 3))
    return bool((_PLAIN_FIRST[data[start]] & last).all())


def filled(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as numpy, null read as False."""
    return np.asarray(pc.fill_null(mask, False))


# ------------------------------------------------------------------ dates
def distinct_cells(text: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """The cells to read and, for a dictionary column, each row's position among them: the
    dictionary's values and a null after them (a null row's). Any other column: itself and None."""
    if not pa.types.is_dictionary(text.type):
        return text, None
    values = pa.concat_arrays([text.dictionary, pa.nulls(1, text.dictionary.type)])
    return values, np.asarray(text.indices.fill_null(len(text.dictionary)), dtype=np.intp)


def per_cell(text: pa.Array, read: Callable[[pa.Array], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """read's per-cell arrays (cells on the last axis), read once per distinct cell of a dictionary
    column and taken per row: a roster's dates, 是/否 and 假设参数 repeat (≈ 1,000 distinct dates in
    50,000 rows), and a take costs less than reading a cell again."""
    values, codes = distinct_cells(text)
    read_values = read(values)
    return read_values if codes is None else tuple(np.take(part, codes, axis=-1) for part in read_values)


def dates(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """YYYY-MM-DD cells → (days since 1970-01-01, canonical)."""
    cells = buffers(text)
    if cells is None:
        return _dates_by_kernels(text)
    at = np.flatnonzero((cells.lengths == DATE_BYTES) & cells.valid)
    days, ok, _ = dates_at(cells.data, cells.offsets[at])
    out_days, out_ok = np.zeros(len(text), dtype=np.int64), np.zeros(len(text), dtype=bool)
    out_days[at], out_ok[at] = days, ok
    return out_days, out_ok


def dates_at(data: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ten bytes at each of starts read as YYYY-MM-DD → (day numbers, canonical, months since 1970-01)."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    cells = data[starts[:, None] + np.arange(DATE_BYTES)].astype(np.int32) - _ZERO  # int32: half the time of int64
    good = ((cells[:, _DIGITS] >= 0) & (cells[:, _DIGITS] <= 9)).all(axis=1)
    good &= (cells[:, 4] == _DASH - _ZERO) & (cells[:, 7] == _DASH - _ZERO)
    year = cells[:, 0] * 1000 + cells[:, 1] * 100 + cells[:, 2] * 10 + cells[:, 3]
    month = cells[:, 5] * 10 + cells[:, 6]
    day = cells[:, 8] * 10 + cells[:, 9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    length = _MONTH_DAYS[np.where(month_ok, month, 0)] + (leap & (month == 2))
    good &= (year >= 1) & month_ok & (day >= 1) & (day <= length)
    months = np.where(good, (year - 1970) * 12 + month - 1, 0).astype(np.int64)
    return np.where(good, civil_days(year, month, day), 0).astype(np.int64), good, months


def civil_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (year ≥ 1): H. Hinnant's days_from_civil."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _dates_by_kernels(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """dates with Arrow's kernels, for cells that are not plain string arrays."""
    canonical = pc.fill_null(pc.match_substring_regex(text, DATE), False)
    parsed = pc.strptime(pc.if_else(canonical, text, None), format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2023-02-30 over into March (another day of the month) and takes year 0
    day = pc.utf8_slice_codeunits(pc.if_else(canonical, text, None), 8, 10).cast(pa.int64())
    ok = filled(pc.equal(pc.day(parsed), day)) & filled(pc.greater_equal(text, "0001-01-01"))
    days = np.asarray(pc.fill_null(parsed.cast(pa.date32()).cast(pa.int32()), 0), dtype=np.int64)
    return np.where(ok, days, 0), ok


# ------------------------------------------------------------------ amounts
def money(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Amount cells in 元 → (分, canonical): -?\\d{1,13}(\\.\\d{1,2})?, which parse_money reads as exactly these 分.

    Through float64, exactly: such a cell is n/100 with |n| < 10¹⁵ < 2⁵³; Arrow reads it correctly
    rounded and ×100 rounds once more, so the product is within |n|·2⁻⁵² < 0.25 of n and rint gives
    n. (A decimal cast cost 2.3× more; reading the bytes in numpy, a cells × 17 matrix, 4×.)"""
    canonical = filled(pc.match_substring_regex(text, MONEY))
    amount = np.asarray(pc.if_else(pa.array(canonical), text, "0").cast(pa.float64()))
    return np.rint(amount * 100).astype(np.int64), canonical


# ------------------------------------------------------------------ identities
@dataclass(frozen=True)
class IdentityEntries:
    """The entries of identity cells, in cell order: entry e belongs to row parent[e]; ok[e]: it reads
    as 名称|认定部门|recognised[|ended]; pair[e] indexes pair_text (名称|认定部门) where ok."""

    parent: np.ndarray
    ok: np.ndarray
    pair: np.ndarray
    pair_text: list[str]
    recognised: np.ndarray  #: day numbers
    ended: np.ndarray
    has_end: np.ndarray
    recognised_month: np.ndarray  #: months since 1970-01 (numeric.month_relation compares months)
    ended_month: np.ndarray


def identity_entries(cell: pa.Array) -> IdentityEntries:
    """Identity cells split into entries and parts by their separator bytes."""
    cells = buffers(cell.cast(pa.string()))
    assert cells is not None
    data, offsets = cells.data, cells.offsets
    inside = _in_cells(cells)
    semi = inside(_find(data, offsets, b";"))
    full = inside(_find(data, offsets, _FULL_SEMI))
    rows = np.flatnonzero(cells.valid & (cells.lengths > 0))
    # the entries of a cell lie between its start, its separators and its end, in byte order
    starts = np.sort(np.concatenate([offsets[rows], semi + 1, full + len(_FULL_SEMI)]), kind="stable")  # sorted runs: merged
    ends = np.sort(np.concatenate([semi, full, offsets[rows + 1]]), kind="stable")
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    parent = np.searchsorted(offsets, starts, side="right") - 1
    pipes = np.concatenate([inside(_find(data, offsets, b"|")), np.full(3, len(data) + 1)])  # padded: a missing | lies beyond every entry
    first = np.searchsorted(pipes, starts)
    count = np.searchsorted(pipes, ends) - first
    p1, p2, p3 = pipes[first], pipes[first + 1], pipes[first + 2]
    ok = ((count == 2) | (count == 3)) & (p1 > starts) & (p2 > p1 + 1)
    recognised_end = np.where(count == 3, p3, ends)
    recognised, recognised_ok, recognised_month = _date_between(data, p2 + 1, recognised_end, ok)
    has_end = ok & (count == 3) & (ends > p3 + 1)
    ended, ended_ok, ended_month = _date_between(data, p3 + 1, ends, has_end)
    ok &= recognised_ok & (~has_end | ended_ok)
    pair = np.zeros(len(starts), dtype=np.int64)
    pair_text: list[str] = []
    if ok.any():
        encoded = pc.dictionary_encode(substrings(data, starts[ok], p2[ok]))
        pair[ok] = np.asarray(encoded.indices, dtype=np.int64)
        pair_text = encoded.dictionary.to_pylist()
    return IdentityEntries(parent, ok, pair, pair_text, recognised, ended, has_end, recognised_month, ended_month)


def _find(data: np.ndarray, offsets: np.ndarray, pattern: bytes) -> np.ndarray:
    """Where pattern starts in the cells' bytes (a sliced array's buffer also holds other cells: not searched)."""
    window = data[offsets[0]:offsets[-1]]
    found = window[:len(window) - len(pattern) + 1] == pattern[0]
    for k in range(1, len(pattern)):
        found &= window[k:len(window) - len(pattern) + 1 + k] == pattern[k]
    return np.flatnonzero(found) + offsets[0]


def _in_cells(cells: Buffers) -> Callable[[np.ndarray], np.ndarray]:
    """A filter of byte positions to those in valid cells (a null cell's bytes, if any, are not read)."""
    def inside(positions: np.ndarray) -> np.ndarray:
        row = np.searchsorted(cells.offsets, positions, side="right") - 1
        return positions[cells.valid[np.minimum(row, len(cells.valid) - 1)]]
    return inside


def _date_between(data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                  where: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part [starts, ends) of the entries in `where` read as a date → (day numbers, canonical, months)."""
    days, ok, months = np.zeros(len(starts), dtype=np.int64), np.zeros(len(starts), dtype=bool), np.zeros(len(starts), dtype=np.int64)
    at = np.flatnonzero(where & (ends - starts == DATE_BYTES))
    days[at], ok[at], months[at] = dates_at(data, starts[at])
    return days, ok, months


def substrings(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The byte ranges [starts, ends) of data (whole UTF-8 characters) as a string array."""
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data[gather]))


__all__ = [
    "DATE",
    "Buffers",
    "IdentityEntries",
    "buffers",
    "civil_days",
    "dates",
    "dates_at",
    "distinct_cells",
    "filled",
    "identity_entries",
    "money",
    "per_cell",
    "plain_ends",
    "substrings",
]
