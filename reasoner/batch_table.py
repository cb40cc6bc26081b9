"""This module decides a chunk of flat roster rows held as Arrow columns: the columnar front of decide_batch.

decide_batch (reasoner/batch.py) turns every row into a Person first (parse_person, 5–10 µs)
and builds its cheap key in Python. For a roster of millions that per-row Python is most of
the time, so here the cells are read in Arrow, column by column, and Python runs once per
distinct date context, identity combination and key instead of once per row:

    canonical cells — a date written YYYY-MM-DD, an amount such as 1234.56, a 是/否 word
    parse_bool reads, identities 名称|认定部门|YYYY-MM-DD[|YYYY-MM-DD] (at most three), a
    four-digit 待遇年度, 假设参数 as a JSON object
        ──Arrow / numpy──▶ date context per distinct (地区, 日期, 待遇年度, 假设参数),
                           identity claims relative to the date → claims id, facts in 分
        ──_Batch.key_rows: the keys, caches and summaries of decide_batch itself
    any other row — an odd but valid spelling (1.2万元, 2024/6/2), a malformed cell, a fact
    the policy does not use, an unknown identity, a 就医 or 大病保险 cell
        ──_Batch.exact_row: parse_person and Reasoner.prepare, its error kept in place

A row takes the columnar path only where parse_person would accept it and read the same
values, so every result and every error is decide_batch's on the parsed records;
tests/test_batch_table.py checks this row by row on generated and adversarial tables.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import BatchResult, FactColumns, _Batch, _Ctx, _detach
from .decide import Reasoner
from .numeric import FALSE_TEXTS, TRUE_TEXTS
from .person import JSON_COLUMNS, Person, RecordError, parse_person, table_record
from .policies import PolicySelectionError
from .tables import cell_text, row_dicts, trimmed

RESERVED = frozenset({"编号", "地区", "日期", "身份", "待遇年度", *JSON_COLUMNS})  #: columns that are not facts
DATE = r"^\d{4}-\d{2}-\d{2}$"
MONEY = r"^-?\d{1,13}(\.\d{1,2})?$"  #: 元 with at most two decimals: parse_money reads it as exactly these 分
YEAR = r"^\d{4}$"
MAX_IDENTITIES = 3  #: identities per row the columnar path packs into one key (more: the exact path)
_ENTRY_BITS = 20
_EPOCH = dt.date(1970, 1, 1).toordinal()  #: Arrow's day 0
_RELATIONS = ("after", "same_month", "before_month")  #: numeric.month_relation's answers, coded 0, 1, 2


@dataclass(frozen=True)
class TableDecisions:
    """A decided table chunk: the BatchResult (row → summary or error, explain(i)), and each row's
    编号, 地区 and 日期 as the output shows them (None where the row could not be read)."""

    result: BatchResult
    ids: pa.Array
    regions: pa.Array
    dates: pa.Array


class TableRecords:
    """The rows of a table chunk as records, built only for the rows that need one (representatives
    of new keys, contexts and identity combinations, and the rows of the exact path)."""

    def __init__(self, table: pa.Table, first: int, columns: dict[str, pa.Array] | None = None):
        self.table, self.first, self.columns = table, first, columns
        self._raw: dict[int, dict[str, Any]] = {}
        self._parsed: dict[int, Person | RecordError] = {}

    def __len__(self) -> int:
        return self.table.num_rows

    def load(self, positions: Iterable[int]) -> None:
        """Read many rows at once (one Arrow take instead of one row at a time)."""
        todo = sorted(set(positions) - self._raw.keys())
        if len(todo) > 1 or (todo and self.columns is None):
            self._raw.update(zip(todo, row_dicts(self.table.take(pa.array(todo, pa.int64())))))
        elif todo:  # one row: its cells straight from the text columns (row_dicts' reading of them)
            i = todo[0]
            self._raw[i] = {name: column[i].as_py() for name, column in self.columns.items()}

    def raw(self, i: int) -> dict[str, Any]:
        if i not in self._raw:
            self.load([i])
        return self._raw[i]

    def __getitem__(self, i: int) -> Person:
        """Row i parsed as parse_person would parse it in a record list (its #N id is the row number)."""
        got = self._parsed.get(i)
        if got is None:
            try:
                got = parse_person(table_record(self.raw(i)), self.first + i - 1)
            except RecordError as err:
                got = _detach(err)
            self._parsed[i] = got
        if isinstance(got, RecordError):
            raise got
        return got


# ------------------------------------------------------------------ cells
def _text_columns(table: pa.Table) -> dict[str, pa.Array] | None:
    """Every column as trimmed text (empty → null), by header; None when headers are not plain."""
    names = [cell_text(n) or "" for n in table.column_names]
    if "" in names or len(set(names)) != len(names) or "__extra__" in names:
        return None
    out = {}
    for name, column in zip(names, table.columns):
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pa.array([cell_text(v) for v in column.to_pylist()], pa.string())
        out[name] = trimmed(column.cast(pa.string()))
    return out


def _filled(mask: Any) -> np.ndarray:
    """A boolean Arrow result as numpy, null read as False."""
    return np.asarray(pc.fill_null(mask, False))


def _dates(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """YYYY-MM-DD cells → (days since 1970-01-01, canonical): what date.fromisoformat reads the same way."""
    canonical = pc.fill_null(pc.match_substring_regex(text, DATE), False)
    parsed = pc.strptime(pc.if_else(canonical, text, None), format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2023-02-30 over into March (another day of the month) and takes year 0
    day = pc.utf8_slice_codeunits(pc.if_else(canonical, text, None), 8, 10).cast(pa.int64())
    ok = _filled(pc.equal(pc.day(parsed), day)) & _filled(pc.greater_equal(text, "0001-01-01"))
    days = np.asarray(pc.fill_null(parsed.cast(pa.date32()).cast(pa.int32()), 0), dtype=np.int64)
    return np.where(ok, days, 0), ok


def _part(parts: pa.Array, k: int) -> pa.Array:
    """Element k of each list, "" where the list is shorter."""
    return pc.binary_join(pc.list_slice(parts, k, k + 1), "")


def _months(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _relation(of: np.ndarray, on: np.ndarray) -> np.ndarray:
    """numeric.month_relation(of, on) as codes into _RELATIONS, for day numbers."""
    return np.where(of > on, 0, np.where(_months(of) == _months(on), 1, 2))


def _money(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Amount cells → (分, canonical)."""
    canonical = _filled(pc.match_substring_regex(text, MONEY))
    decimals = pc.if_else(pa.array(canonical), text, None).cast(pa.decimal128(18, 2))
    fen = pc.multiply(decimals, pa.scalar(100, pa.decimal128(5, 0))).cast(pa.int64())
    return np.asarray(pc.fill_null(fen, 0), dtype=np.int64), canonical


def _flags(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """是/否 cells → (value, canonical)."""
    true = _filled(pc.is_in(text, pa.array(TRUE_TEXTS)))
    return true, true | _filled(pc.is_in(text, pa.array(FALSE_TEXTS)))


@dataclass
class _Identities:
    """Each row's identity cell: claims id per row (-1: not canonical), and one row per distinct id."""

    cid: np.ndarray
    holder: dict[int, int]


def _identities(batch: _Batch, cell: pa.Array | None, days: np.ndarray, fast: np.ndarray) -> _Identities:
    """Identity cells relative to each row's date → the claims ids decide_batch interns (see _chunk)."""
    n = len(days)
    cid = np.zeros(n, dtype=np.int64)
    holder: dict[int, int] = {}
    if cell is None or cell.null_count == n:
        return _Identities(cid, {0: int(np.flatnonzero(fast)[0])} if fast.any() else {})
    entries = pc.split_pattern(pc.replace_substring(cell, ";", "；"), "；")
    flat = pc.list_flatten(entries)
    parent = np.asarray(pc.list_parent_indices(entries), dtype=np.int64)
    keep = _filled(pc.not_equal(flat, ""))
    flat, parent = flat.filter(pa.array(keep)), parent[keep]
    parts = pc.split_pattern(flat, "|")
    count = np.asarray(pc.list_value_length(parts), dtype=np.int64)
    ok = (count >= 3) & (count <= 4)
    name, dept, recognised, ended = (_part(parts, k) for k in range(4))
    ok &= _filled(pc.not_equal(name, "")) & _filled(pc.not_equal(dept, ""))
    rec_days, rec_ok = _dates(recognised)
    has_end = _filled(pc.not_equal(ended, ""))
    end_days, end_ok = _dates(ended)
    ok &= rec_ok & (~has_end | end_ok)
    on = days[parent]
    pairs = pc.dictionary_encode(pc.binary_join_element_wise(name, dept, "|"))
    pair = np.asarray(pairs.indices, dtype=np.int64)
    end_code = np.where(has_end, _relation(end_days, on) + 1, 0)
    code = (pair * 3 + _relation(rec_days, on)) * 4 + end_code
    position = np.arange(len(parent)) - np.searchsorted(parent, parent)  # entries of a row are consecutive
    per_row = np.bincount(parent, minlength=n)
    good_row = np.ones(n, dtype=bool)
    np.logical_and.at(good_row, parent, ok)
    good_row &= per_row <= MAX_IDENTITIES
    if (len(pairs.dictionary) * 12) >= (1 << _ENTRY_BITS):
        good_row[:] = per_row == 0
    packed = np.zeros(n, dtype=np.int64)
    for k in range(MAX_IDENTITIES):
        at = position == k
        packed[parent[at]] |= (code[at] + 1) << (_ENTRY_BITS * k)
    usable = fast & good_row
    cid[~usable] = -1
    pair_text = pairs.dictionary.to_pylist()
    values, first, inverse = np.unique(packed[usable], return_index=True, return_inverse=True)
    rows = np.flatnonzero(usable)
    ids = np.empty(len(values), dtype=np.int64)
    for u, (value, at) in enumerate(zip(values.tolist(), first.tolist())):
        ids[u] = _claims_id(batch, value, pair_text)
        holder[int(ids[u])] = int(rows[at])
    cid[rows] = ids[inverse]
    return _Identities(cid, holder)


def _claims_id(batch: _Batch, packed: int, pair_text: list[str]) -> int:
    """The interned claims id of a packed identity combination (the tuple decide_batch's _chunk builds)."""
    entries = []
    while packed:
        code = (packed & ((1 << _ENTRY_BITS) - 1)) - 1
        packed >>= _ENTRY_BITS
        pair, relation, end = code // 12, code // 4 % 3, code % 4
        name, dept = pair_text[pair].split("|", 1)  # neither can hold "|": the cell was split on it
        entries.append((name, dept, _RELATIONS[relation], _RELATIONS[end - 1] if end else None))
    key: tuple[Any, ...] = entries[0] if len(entries) == 1 else tuple(entries)
    return batch.cache.claim_id(key)


class _Facts:
    """Fact columns read once per chunk, whatever policies its rows fall under."""

    def __init__(self, columns: dict[str, pa.Array]):
        self.columns = {name: col for name, col in columns.items() if name not in RESERVED}
        self.present = {name: _filled(pc.is_valid(col)) for name, col in self.columns.items()}
        self._money: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._flags: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def money(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._money:
            self._money[name] = _money(self.columns[name])
        return self._money[name]

    def flags(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._flags:
            self._flags[name] = _flags(self.columns[name])
        return self._flags[name]

    def of(self, ctx: _Ctx, rows: np.ndarray) -> tuple[FactColumns, np.ndarray]:
        """The facts of ctx's policy over rows, and which rows hold a fact that policy does not use."""
        k = len(rows)
        unused = np.zeros(k, dtype=bool)
        for name, present in self.present.items():
            if name not in ctx.plan.units:
                unused |= present[rows]
        money, present, flags = {}, {}, {}
        bad = np.zeros(k, dtype=bool)
        absent = np.zeros(k, dtype=bool)
        for name, unit in ctx.plan.units.items():
            here = self.present[name][rows] if name in self.present else absent
            present[name], money[name], flags[name] = here, np.zeros(k, dtype=np.int64), absent
            if not here.any():
                continue
            if unit == "金额":
                fen, ok = self.money(name)
                money[name] = fen[rows]
            elif unit == "布尔":
                value, ok = self.flags(name)
                flags[name] = value[rows]
            else:  # other units are read per element by the exact path
                ok = np.zeros(len(self.present[name]), dtype=bool)
            bad |= here & ~ok[rows]
        return FactColumns(money, present, flags, bad), unused


def _years(columns: dict[str, pa.Array], n: int) -> tuple[np.ndarray, np.ndarray]:
    """待遇年度 → (year or 0, readable): a four-digit year parse_person accepts, or an empty cell."""
    cell = columns.get("待遇年度")
    if cell is None:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    digits = _filled(pc.match_substring_regex(cell, YEAR))
    year = np.asarray(pc.fill_null(pc.if_else(pa.array(digits), cell, None).cast(pa.int64()), 0), dtype=np.int64)
    return year, ~_filled(pc.is_valid(cell)) | (digits & (year > 1949) & (year < 2200))


def _assumed(columns: dict[str, pa.Array], n: int) -> tuple[np.ndarray, np.ndarray, list[tuple[Any, ...]]]:
    """假设参数 JSON → (code of the distinct text or -1, readable, each code's items): a JSON object, or an empty cell."""
    cell = columns.get("假设参数")
    if cell is None:
        return np.full(n, -1, dtype=np.int64), np.ones(n, dtype=bool), []
    encoded = pc.dictionary_encode(cell)
    items: list[tuple[Any, ...]] = []
    good = []
    for text in encoded.dictionary.to_pylist():
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        good.append(isinstance(value, dict))
        items.append(tuple(value.items()) if isinstance(value, dict) else ())
    code = np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)
    return code, (code < 0) | np.asarray(good + [False], dtype=bool)[code], items


def _raw_key(columns: dict[str, pa.Array], i: int, days: np.ndarray, year: np.ndarray, assumed: np.ndarray,
             assumed_items: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Row i's key in decide_batch's context cache — (地区, 日期, 待遇年度, 假设参数 items), the values
    parse_person reads from its canonical cells — so a known context needs no parsed record."""
    return (columns["地区"][i].as_py(), dt.date.fromordinal(int(days[i]) + _EPOCH), int(year[i]) or None,
            assumed_items[assumed[i]] if assumed[i] >= 0 else ())


def _context_person(raw_key: tuple[Any, ...]) -> Person:
    """A record of only what a date context reads (_raw_key's values), validated as parse_person
    validates them: a new date needs no row parsed (each claim date of a settlement is one)."""
    region, date, year, assumed = raw_key
    record: dict[str, Any] = {"地区": region, "日期": date.isoformat(), "假设参数": dict(assumed)}
    if year is not None:
        record["待遇年度"] = year
    return parse_person(record)


def _groups(keys: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """rows split by equal rows of keys (non-negative after +1; each group in row order)."""
    if not len(rows):
        return []
    low = keys.min(axis=0)
    radix = keys.max(axis=0) - low + 1
    if float(np.prod(radix.astype(np.float64))) < 2.0 ** 62:  # one int64 per row: a 1-d sort
        packed = np.zeros(len(rows), dtype=np.int64)
        for k in range(keys.shape[1]):
            packed = packed * int(radix[k]) + (keys[:, k] - low[k])
        _, inverse = np.unique(packed, return_inverse=True)
    else:
        _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    return np.split(rows[order], np.cumsum(np.bincount(inverse))[:-1])


def _columnar(batch: _Batch, records: TableRecords, columns: dict[str, pa.Array], out: np.ndarray) -> list[int]:
    """Decide the rows whose cells are canonical into out; return the rows left for the exact path."""
    n = len(out)
    region = columns["地区"]
    days, fast = _dates(columns["日期"])
    fast &= _filled(pc.is_valid(region))
    for name in JSON_COLUMNS:
        if name != "假设参数" and name in columns:
            fast &= ~_filled(pc.is_valid(columns[name]))  # a 就医 or 大病保险 cell is validated by parse_person
    year, year_ok = _years(columns, n)
    assumed, assumed_ok, assumed_items = _assumed(columns, n)
    fast &= year_ok & assumed_ok
    identities = _identities(batch, columns.get("身份"), days, fast)
    fast &= identities.cid >= 0
    exact = np.flatnonzero(~fast).tolist()
    region_code = np.asarray(pc.dictionary_encode(region).indices.fill_null(-1), dtype=np.int64)
    rows = np.flatnonzero(fast)
    by_ctx: dict[int, tuple[_Ctx, list[np.ndarray]]] = {}
    groups = _groups(np.stack([region_code, days, year, assumed], axis=1)[rows], rows)
    raw_keys = [_raw_key(columns, int(g[0]), days, year, assumed, assumed_items) for g in groups]
    for group, raw_key in zip(groups, raw_keys):
        ctx = batch.cache.ctx_by_raw.get(raw_key)
        if ctx is None:
            try:
                ctx = batch.context_of(_context_person(raw_key))
            except RecordError:
                exact.extend(group.tolist())
                continue
        if isinstance(ctx, PolicySelectionError):
            for i in group.tolist():
                batch.errors[i] = ctx
        elif not isinstance(ctx, _Ctx) or not ctx.plan.vectorised:
            exact.extend(group.tolist())
        else:
            by_ctx.setdefault(ctx.id, (ctx, []))[1].append(group)
    facts = _Facts(columns)
    for ctx, groups in by_ctx.values():
        rows = np.sort(np.concatenate(groups))
        cid = identities.cid[rows]
        known = np.ones(len(rows), dtype=bool)
        for c in np.unique(cid).tolist():
            if not _claims_ok(batch, ctx, c, records, identities.holder[c]):
                known &= cid != c
        columns_of, unused = facts.of(ctx, rows)
        keep = known & ~unused
        exact.extend(rows[~keep].tolist())
        if keep.any():
            kept = FactColumns(*({k: v[keep] for k, v in part.items()} for part in (columns_of.money, columns_of.present, columns_of.flags)),
                               columns_of.bad[keep])
            batch.key_rows(ctx, rows[keep], 0, cid[keep], kept, out, exact)
    return exact


def _claims_ok(batch: _Batch, ctx: _Ctx, cid: int, records: TableRecords, holder: int) -> bool:
    if cid in ctx.claims_ok:
        return ctx.claims_ok[cid]
    try:
        return batch.claims_ok(ctx, cid, records[holder])
    except RecordError:
        return False


# ------------------------------------------------------------------ entry point
def decide_table(reasoner: Reasoner, table: pa.Table, first: int, solve: bool = True, texts: bool = False) -> TableDecisions:
    """Decide every row of a flat table chunk whose first row is row number `first`: each row
    ends in a summary or its own error, in place, as decide_batch gives them for the rows read
    by person.table_record and parse_person. solve=False: keys only (result.keys; summaries None).
    texts=True: the table's columns are already trimmed text (_text_columns' output)."""
    t0 = time.perf_counter()
    n = table.num_rows
    columns = {name: table.column(name).combine_chunks() for name in table.column_names} if texts else _text_columns(table)
    records = TableRecords(table, first, columns)
    batch = _Batch(reasoner, records, 0.0, solve)
    out = np.full(n, -1, dtype=np.int32)
    if columns is None or "地区" not in columns or "日期" not in columns:
        exact = list(range(n))
    else:
        exact = _columnar(batch, records, columns, out)
    exact.sort()
    records.load(exact)
    for i in exact:
        batch.exact_row(i, out)
    batch.stats["exact_rows"] += len(exact)
    result = batch.finish(out, t0)
    return TableDecisions(result, *_cells(records, columns, exact, first))


def _cells(records: TableRecords, columns: dict[str, pa.Array] | None, exact: list[int], first: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    """编号, 地区, 日期 per row: the cells themselves on the columnar path, the parsed record's on the exact path."""
    n = len(records)
    none = pa.nulls(n, pa.string())
    columns = columns or {}
    numbers = pa.array(np.arange(first, first + n)).cast(pa.string())
    given = columns.get("编号", none)
    ids = pc.if_else(pc.is_valid(given), given, pc.binary_join_element_wise("#", numbers, ""))
    regions, dates = columns.get("地区", none), columns.get("日期", none)
    if not exact:
        return ids, regions, dates
    mask = np.zeros(n, dtype=bool)
    mask[exact] = True
    fixed: list[tuple[str | None, str | None, str | None]] = []
    for i in exact:
        try:
            p = records[i]
            fixed.append((p.id, p.region, p.date.isoformat()))
        except RecordError:
            raw = records.raw(i).get("编号")
            fixed.append((None if raw is None else str(raw), None, None))
    mask_a = pa.array(mask)
    return tuple(pc.replace_with_mask(arr, mask_a, pa.array([f[k] for f in fixed], pa.string()))  # type: ignore[return-value]
                 for k, arr in enumerate((ids, regions, dates)))


__all__ = ["TableDecisions", "TableRecords", "decide_table"]
