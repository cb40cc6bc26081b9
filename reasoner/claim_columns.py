"""This module reads the 就医 cells of a roster chunk into claim columns (stage 1 of settle_table.py).

A claim is taken only where parse_person would read it the same way: a YYYY-MM-DD 日期, a 类别,
政策范围内费用 and 基本医保支付 as JSON numbers that are exact 分 (0 ≤ 基本医保支付 ≤ 政策范围内费用),
事实 as text, and no other field but 编号. A clean chunk's cells are parsed by Arrow's JSON
reader (C++, no Python object per claim) and checked column-wise; a chunk that Arrow might
read otherwise than json.loads (a type that changes between rows, a repeated key, a field
parse_person does not know) is read cell by cell instead. A row with any claim that is not
canonical, with null anywhere in its cell, or with no claim of the year is left to the exact
path. 大病保险 cells are parsed once per distinct text, by parse_person's own function.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .batch_table import _EPOCH, _encoded, _plain_text
from .cell_bytes import dates, filled, per_cell
from .codes import pack_codes
from .decide import Reasoner
from .person import Catastrophic, RecordError, _catastrophic

CLAIM_KEYS = frozenset({"编号", "日期", "类别", "政策范围内费用", "基本医保支付", "事实"})  #: fields a canonical claim may have
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNSEEN = object()
MAX_FLOAT_YUAN = 10 ** 12  #: below this a float is an exact 分 amount exactly when round(x·100)/100 == x (and int64 is safe)


def _fen(x: Any) -> int | None:
    """A JSON amount in 元 as 分 when parse_money reads it as exactly that; None: let parse_person judge."""
    kind = type(x)
    if kind is int and abs(x) < MAX_FLOAT_YUAN:
        return x * 100
    if kind is float and abs(x) < MAX_FLOAT_YUAN:
        n = round(x * 100)
        return n if n / 100 == x else None
    return None


@dataclass
class ClaimColumns:
    """The claims of a chunk that the columns take, row by row, each row's claims in list order."""

    parent: np.ndarray  #: row
    index: np.ndarray  #: position in the row's 就医 list
    day: np.ndarray  #: the date as a day number (days since 1970-01-01)
    year: np.ndarray
    date: pa.Array  #: YYYY-MM-DD
    cost: np.ndarray  #: 政策范围内费用, 分
    basic: np.ndarray  #: 基本医保支付, 分
    kind: Sequence[str]  #: 类别
    kind_code: np.ndarray  #: equal codes: equal 类别
    facts: Sequence[tuple[tuple[str, Any], ...]]  #: 事实 as (name, text) pairs
    fact_code: np.ndarray  #: equal codes: equal 事实

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> ClaimColumns:
        """From (row, position, day, date, 类别, 分, 分, 事实) tuples."""
        parent, index, day, date, kind, cost, basic, facts = (list(c) for c in zip(*rows)) if rows else ([],) * 8
        return cls(*(np.array(c, dtype=np.int64) for c in (parent, index, day, [int(d[:4]) for d in date])),
                   pa.array(date, pa.string()), np.array(cost, dtype=np.int64), np.array(basic, dtype=np.int64),
                   kind, _codes(kind), facts, _codes(facts))


def _codes(values: Sequence[Any]) -> np.ndarray:
    index: dict[Any, int] = {}
    return np.array([index.setdefault(v, len(index)) for v in values], dtype=np.int64)


class _CodedFacts(Sequence[tuple[tuple[str, Any], ...]]):
    """事实 of Arrow-read claims: one tuple per distinct code (a chunk has a handful), found by code."""

    def __init__(self, code: np.ndarray, columns: dict[str, pa.Array]):
        self.code = code
        self.tuples: dict[int, tuple[tuple[str, Any], ...]] = {}
        if len(code):
            _, first = np.unique(code, return_index=True)
            for c in first.tolist():
                cells = ((name, values[c].as_py()) for name, values in columns.items())
                self.tuples[int(code[c])] = tuple((name, value) for name, value in cells if value is not None)

    def __len__(self) -> int:
        return len(self.code)

    def __getitem__(self, c: Any) -> Any:
        return self.tuples[int(self.code[c])]


class CellReader:
    """Reads 就医 and 大病保险 cells one by one (json.loads); any doubt sends the row the exact way."""

    def __init__(self) -> None:
        self.days: dict[str, int | None] = {}
        self.ordinaries: dict[str | None, Catastrophic | None | Exception] = {None: None}

    def day(self, text: str) -> int | None:
        """The day number (days since 1970-01-01, as Arrow counts) of a YYYY-MM-DD date, None for
        any other text (remembered per text)."""
        try:
            day = dt.date.fromisoformat(text).toordinal() - _EPOCH if DATE.match(text) else None
        except ValueError:
            day = None
        self.days[text] = day
        return day

    def ordinary(self, text: str | None) -> Catastrophic | None | Exception:
        """The 大病保险 cell as parse_person reads it (null or "": none), or the error."""
        if text not in self.ordinaries:
            try:
                data = json.loads(text)  # type: ignore[arg-type]
                self.ordinaries[text] = None if data in (None, "") else _catastrophic(data, "")
            except (ValueError, RecordError) as err:
                self.ordinaries[text] = err
        return self.ordinaries[text]

    def claims(self, cells: list[str | None], year: int | None) -> tuple[np.ndarray, ClaimColumns]:
        """Each row's canonical claims of the year, and which rows were read (all their claims canonical,
        at least one of the year)."""
        ok = np.zeros(len(cells), dtype=bool)
        rows: list[tuple[Any, ...]] = []
        loads, claim = json.loads, self._claim
        for i, text in enumerate(cells):
            if text is None:
                continue
            try:
                listed = loads(text)
            except ValueError:
                continue
            if type(listed) is not list:
                continue
            read = [claim(i, j, c) for j, c in enumerate(listed)]
            if None in read:
                continue
            kept = [r for r in read if year is None or int(r[3][:4]) == year]
            if kept:
                rows += kept
                ok[i] = True
        return ok, ClaimColumns.of(rows)

    def _claim(self, i: int, j: int, c: Any) -> tuple[Any, ...] | None:
        """(row, position, day, date, 类别, 分, 分, 事实) of a canonical claim; None for any other."""
        if type(c) is not dict or not c.keys() <= CLAIM_KEYS:
            return None
        date, kind, facts = c.get("日期"), c.get("类别"), c.get("事实")
        cost, basic = _fen(c.get("政策范围内费用")), _fen(c.get("基本医保支付"))
        day = self.days.get(date, _UNSEEN) if type(date) is str else None
        if day is _UNSEEN:
            day = self.day(date)
        if day is None or type(kind) is not str or not kind or cost is None or basic is None or not 0 <= basic <= cost:
            return None
        if facts is None or facts == {}:
            return i, j, day, date, kind, cost, basic, ()
        if type(facts) is dict and all(type(v) is str for v in facts.values()):  # 1 and True would share a key
            return i, j, day, date, kind, cost, basic, tuple(facts.items())
        return None


def _arrow_claims(cells: pa.Array, names: list[str]) -> tuple[np.ndarray, pa.Array] | None:
    """The 就医 cells parsed by Arrow's JSON reader (C++, no Python object per claim), or None when the
    chunk holds anything that reader might read otherwise than json.loads: then the chunk is read by
    CellReader.claims. Rows whose cell is empty or mentions null (absent and null differ for parse_person,
    not for Arrow) are left out here — read as no claims, so they go the exact way."""
    usable = filled(pc.is_valid(cells))
    if _may_hold(cells, b"null", b"\n", b"\r"):
        usable &= ~filled(pc.match_substring_regex(cells, "null|\n|\r"))
    text = pc.if_else(pa.array(usable), cells, "[]")
    lines = pc.binary_join_element_wise('{"c":', text, "}\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    data = lines.buffers()[2][int(offsets[0]):int(offsets[-1])]
    claim = pa.struct([("日期", pa.string()), ("类别", pa.string()), ("政策范围内费用", pa.float64()),
                       ("基本医保支付", pa.float64()), ("事实", pa.struct([(n, pa.string()) for n in names]))])
    options = pj.ParseOptions(explicit_schema=pa.schema([("c", pa.list_(claim))]), unexpected_field_behavior="infer")
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    listed = table.column("c").combine_chunks()
    fields = listed.type.value_type
    if table.num_rows != len(cells) or {f.name for f in fields} - {"日期", "类别", "政策范围内费用", "基本医保支付", "事实", "编号"} \
            or len(fields.field("事实").type) != len(names):
        return None
    return usable, listed


def _may_hold(cells: pa.Array, *needles: bytes) -> bool:
    """Whether the cells' bytes, end to end, hold one of the needles (a needle across two cells is a
    false alarm: the caller then checks cell by cell): ≈ 1 ms for 4 MB, against 8 ms for a regex
    over every cell."""
    data = cells.buffers()[2]
    if data is None:
        return False
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32, count=len(cells) + 1, offset=cells.offset * 4)
    text = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    for needle in needles:
        at = np.flatnonzero(text[:len(text) - len(needle) + 1] == needle[0])
        for k in range(1, len(needle)):
            at = at[text[at + k] == needle[k]]
        if len(at):
            return True
    return False


def _arrow_read(usable: np.ndarray, listed: pa.Array, year: int | None) -> tuple[np.ndarray, ClaimColumns]:
    """CellReader.claims for claims parsed by Arrow: the same checks, on columns."""
    n = len(listed)
    lengths = np.asarray(pc.fill_null(pc.list_value_length(listed), 0), dtype=np.int64)
    parent = np.repeat(np.arange(n, dtype=np.int64), lengths)
    index = np.arange(len(parent), dtype=np.int64) - (np.cumsum(lengths) - lengths)[parent]
    date, kind, cost_x, basic_x, facts = listed.flatten().flatten()[:5]
    day, good = dates(date)
    cost, cost_ok = _fen_column(cost_x)
    basic, basic_ok = _fen_column(basic_x)
    good &= filled(pc.greater(pc.utf8_length(kind), 0)) & cost_ok & basic_ok & (basic >= 0) & (basic <= cost)
    years = np.where(good, day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970, 0)
    wanted = np.ones(len(parent), dtype=bool) if year is None else years == year
    ok = usable & (np.bincount(parent[~good], minlength=n) == 0) & (np.bincount(parent[wanted], minlength=n) > 0)
    keep = np.flatnonzero(ok[parent] & wanted)
    taken = pa.array(keep)
    kinds = kind.take(taken)
    fact_columns = {f.name: column.take(taken) for f, column in zip(facts.type, facts.flatten())}
    fact_code = pack_codes([np.asarray(pc.fill_null(pc.dictionary_encode(c).indices, -1), dtype=np.int64) for c in fact_columns.values()],
                      len(keep))
    read = ClaimColumns(parent[keep], index[keep], day[keep], years[keep], date.take(taken), cost[keep], basic[keep], kinds.to_pylist(),
                 np.asarray(pc.dictionary_encode(kinds).indices, dtype=np.int64), _CodedFacts(fact_code, fact_columns), fact_code)
    return ok, read


def _fen_column(x: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """_fen on a column of JSON numbers read as doubles (JSON integers below 10¹² 元 are exact doubles)."""
    v = np.asarray(x.to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(v) & (np.abs(v) < MAX_FLOAT_YUAN)
        fen = np.rint(np.where(finite, v, 0.0) * 100)
        return fen.astype(np.int64), finite & (fen / 100 == v)


def claim_fact_names(reasoner: Reasoner) -> list[str]:
    """Every 就医事实 a policy of the set declares (the columns Arrow reads 事实 into)."""
    return sorted({name for policy in reasoner.policies.policies.values() for name in reasoner._layout(policy).claim_decls})


def read_claims(columns: dict[str, pa.Array], year: int | None, names: list[str]) -> tuple[np.ndarray, ClaimColumns, np.ndarray, list[Catastrophic | None]]:
    """Stage 1: which rows the columns can take, their claims, and their ordinary catastrophic parameters
    (per row an index into the distinct ones)."""
    reader = CellReader()
    claims = _plain_text(columns["就医"])
    parsed = _arrow_claims(claims, names)
    ok, read = _arrow_read(*parsed, year) if parsed is not None else reader.claims(claims.to_pylist(), year)
    ok &= per_cell(columns["日期"], dates)[1] & np.asarray(pc.is_valid(columns["地区"]))
    if "大病保险" not in columns:
        return ok, read, np.zeros(len(ok), dtype=np.int64), [None]
    encoded = _encoded(columns["大病保险"])  # each distinct text parsed once
    found = [reader.ordinary(text) if text is not None else None for text in encoded.dictionary.to_pylist()] + [None]
    ok &= ~np.array([isinstance(f, Exception) for f in found])[np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)]
    ordinary = np.asarray(pc.fill_null(encoded.indices, len(found) - 1), dtype=np.int64)
    return ok, read, ordinary, [None if isinstance(f, Exception) else f for f in found]


__all__ = ["ClaimColumns", "claim_fact_names", "read_claims"]
