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

What does not depend on the date (identity cells split, facts, 待遇年度, 假设参数, 地区) is read
once per table row (_row_cells); only the date relations are computed per decided row. That is
what decide_on_dates is for: a settlement decides each claim as its person on the claim's date,
2–3 dates per person, without copying the person's cells per claim.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import BatchResult, FactColumns, _Batch, _Ctx, _detach
from .cell_bytes import dates, distinct_cells, filled, identity_entries, money, per_cell
from .codes import first_seen
from .decide import Reasoner
from .numeric import FALSE_TEXTS, TRUE_TEXTS
from .person import JSON_COLUMNS, Person, RecordError, parse_person, table_record
from .policies import PolicySelectionError
from .tables import cell_text, column_text, row_dicts, trimmed

RESERVED = frozenset({"编号", "地区", "日期", "身份", "待遇年度", *JSON_COLUMNS})  #: columns that are not facts
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
    of new keys, contexts and identity combinations, and the rows of the exact path).

    With rows_of and dates, record i is table row rows_of[i] on the date dates[i] (a claim's date:
    settle_table decides each claim as its person on the claim's date)."""

    def __init__(self, table: pa.Table, first: int, columns: dict[str, pa.Array] | None = None,
                 rows_of: np.ndarray | None = None, dates: pa.Array | None = None):
        self.table, self.first, self.columns = table, first, columns
        self.rows_of, self.dates = rows_of, dates
        self._raw: dict[int, dict[str, Any]] = {}
        self._parsed: dict[int, Person | RecordError] = {}

    def __len__(self) -> int:
        return self.table.num_rows if self.rows_of is None else len(self.rows_of)

    def load(self, positions: Iterable[int]) -> None:
        """Read many rows at once (one Arrow take instead of one row at a time)."""
        todo = sorted(set(positions) - self._raw.keys())
        rows = todo if self.rows_of is None else self.rows_of[todo].tolist()
        if len(todo) > 1 or (todo and self.columns is None):
            raws = row_dicts(self.table.take(pa.array(rows, pa.int64())))
        elif todo:  # one row: its cells straight from the text columns (row_dicts' reading of them)
            raws = [{name: column[rows[0]].as_py() for name, column in self.columns.items()}]
        else:
            return
        for i, raw in zip(todo, raws):
            if self.dates is not None:
                raw["日期"] = self.dates[i].as_py()
            self._raw[i] = raw

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
def _text_columns(table: pa.Table, dictionaries: bool = False) -> dict[str, pa.Array] | None:
    """Every column as trimmed text (empty → null), by header; None when headers are not plain.
    dictionaries: a dictionary column of text stays one (its values trimmed), for readers that
    read each distinct cell once (cell_bytes.per_cell)."""
    names = [cell_text(n) or "" for n in table.column_names]
    if "" in names or len(set(names)) != len(names) or "__extra__" in names:
        return None
    out = {}
    for name, column in zip(names, table.columns):
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        text_dictionary = pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type)
        out[name] = _trimmed_dictionary(column) if dictionaries and text_dictionary else trimmed(column_text(column).cast(pa.string()))
    return out


def _trimmed_dictionary(column: pa.DictionaryArray) -> pa.DictionaryArray:
    """A dictionary column with its values trimmed; a row whose value trims to nothing is null."""
    values = trimmed(column.dictionary)
    indices = column.indices
    if values.null_count:
        indices = pc.if_else(pc.take(pc.is_valid(values), indices), indices, pa.scalar(None, indices.type))
    return pa.DictionaryArray.from_arrays(indices, values)


def _plain_text(column: pa.Array) -> pa.Array:
    """A column as plain strings (what the output shows)."""
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _months(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _relation(of: np.ndarray, of_month: np.ndarray, on: np.ndarray, on_month: np.ndarray) -> np.ndarray:
    """numeric.month_relation(of, on) as codes into _RELATIONS, for day numbers and their _months."""
    return np.where(of > on, 0, np.where(of_month == on_month, 1, 2))


def _flags(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """是/否 cells → (value, canonical) (a plain string array: see per_cell)."""
    true = filled(pc.is_in(text, pa.array(TRUE_TEXTS)))
    return true, true | filled(pc.is_in(text, pa.array(FALSE_TEXTS)))


@dataclass
class _IdentityCells:
    """Each table row's identity cell read without its date: entry k (k < MAX_IDENTITIES) of row r is
    has[k, r], its 名称|认定部门 pair[k, r] (into pair_text), recognised[k, r] and, where has_end[k, r],
    ended[k, r] (day numbers); good[r]: a cell the columns take. None: no identity cell at all."""

    has: np.ndarray
    pair: np.ndarray
    recognised: np.ndarray
    ended: np.ndarray
    has_end: np.ndarray
    good: np.ndarray
    pair_text: list[str]
    recognised_month: np.ndarray  #: months since 1970-01 of recognised and ended (once per table row)
    ended_month: np.ndarray

    def taken(self, codes: np.ndarray) -> _IdentityCells:
        """The cells of rows that are cells codes[r] of these."""
        return replace(self, **{f.name: np.take(getattr(self, f.name), codes, axis=-1) for f in fields(self) if f.name != "pair_text"})


def _identity_cells(cell: pa.Array | None, n: int) -> _IdentityCells | None:
    """Identity cells → their entries, split and their dates read once per table row (once per
    distinct cell of a dictionary column)."""
    if cell is None or cell.null_count == n:
        return None
    values, codes = distinct_cells(_encoded(cell))  # a roster's identity cells repeat: ≈ 40% distinct
    cells = _identity_values(values)
    return cells if codes is None else cells.taken(codes)


def _identity_values(cell: pa.Array) -> _IdentityCells:
    n = len(cell)
    entries = identity_entries(cell)
    parent, ok = entries.parent, entries.ok
    position = np.arange(len(parent)) - np.searchsorted(parent, parent)  # entries of a row are consecutive
    per_row = np.bincount(parent, minlength=n)
    good = per_row <= MAX_IDENTITIES
    good[parent[~ok]] = False
    if len(entries.pair_text) >= 1 << (_CELL_BITS - 1):  # more pairs than interned ids hold: the exact path
        good[:] = per_row == 0
    at = position < MAX_IDENTITIES
    k, r = position[at], parent[at]

    def by_position(values: np.ndarray) -> np.ndarray:
        out = np.zeros((MAX_IDENTITIES, n), dtype=values.dtype)
        out[k, r] = values[at]
        return out

    return _IdentityCells(by_position(np.ones(len(parent), dtype=bool)), by_position(entries.pair), by_position(entries.recognised),
                          by_position(entries.ended), by_position(entries.has_end), good, entries.pair_text,
                          by_position(entries.recognised_month), by_position(entries.ended_month))


def _identities(batch: _Batch, cells: _IdentityCells | None, rows_of: np.ndarray, days: np.ndarray, fast: np.ndarray) -> np.ndarray:
    """Each decided row's identity entries relative to its date → the claims id decide_batch interns
    (see _chunk); −1: a cell the columns do not take."""
    n = len(days)
    cid = np.zeros(n, dtype=np.int64)
    if cells is None:
        return cid
    packed = np.zeros(n, dtype=np.int64)
    month = _months(days)
    pairs = np.array([_cell_id(batch.cache, "身份", text) for text in cells.pair_text], dtype=np.int64)  # interned: the packed
    pair = pairs[cells.pair] if len(pairs) else cells.pair  # entries mean the same in every chunk
    for k in range(MAX_IDENTITIES):
        has = cells.has[k][rows_of]
        if not has.any():
            continue
        ended = _relation(cells.ended[k][rows_of], cells.ended_month[k][rows_of], days, month)
        end_code = np.where(cells.has_end[k][rows_of], ended + 1, 0)
        recognised = _relation(cells.recognised[k][rows_of], cells.recognised_month[k][rows_of], days, month)
        code = (pair[k][rows_of] * 3 + recognised) * 4 + end_code
        packed |= np.where(has, (code + 1) << (_ENTRY_BITS * k), 0)
    usable = fast & cells.good[rows_of]
    cid[~usable] = -1
    values = packed[usable]
    ids, known = batch.cache.claims_index.get(values)
    if not known.all():
        names = dict(zip(pairs.tolist(), cells.pair_text))
        new = np.unique(values[~known])
        batch.cache.claims_index.add(new, np.array([_claims_id(batch, value, names) for value in new.tolist()], dtype=np.int64))
        ids = batch.cache.claims_index.get(values)[0]
    cid[usable] = ids
    return cid


def _claims_id(batch: _Batch, packed: int, pair_text: dict[int, str]) -> int:
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
        self.present = {name: filled(pc.is_valid(col)) for name, col in self.columns.items()}
        self._money: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._flags: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def money(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._money:
            self._money[name] = per_cell(self.columns[name], money)  # type: ignore[assignment]
        return self._money[name]

    def flags(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._flags:
            self._flags[name] = per_cell(self.columns[name], _flags)  # type: ignore[assignment]
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
    return per_cell(cell, _year_cells)  # type: ignore[return-value]


def _year_cells(cell: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    digits = filled(pc.match_substring_regex(cell, YEAR))
    year = np.asarray(pc.fill_null(pc.if_else(pa.array(digits), cell, None).cast(pa.int64()), 0), dtype=np.int64)
    return year, ~filled(pc.is_valid(cell)) | (digits & (year > 1949) & (year < 2200))


def _assumed(columns: dict[str, pa.Array], n: int) -> tuple[np.ndarray, np.ndarray, list[tuple[Any, ...]]]:
    """假设参数 JSON → (code of the distinct text or -1, readable, each code's items): a JSON object, or an empty cell."""
    cell = columns.get("假设参数")
    if cell is None:
        return np.full(n, -1, dtype=np.int64), np.ones(n, dtype=bool), []
    encoded = _encoded(cell)
    items: list[tuple[Any, ...]] = []
    good = []
    for text in encoded.dictionary.to_pylist():
        try:
            value = json.loads(text) if text is not None else None  # None: a dictionary value no row holds
        except ValueError:
            value = None
        good.append(isinstance(value, dict))
        items.append(tuple(value.items()) if isinstance(value, dict) else ())
    code = np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)
    return code, (code < 0) | np.asarray(good + [False], dtype=bool)[code], items


def _encoded(cell: pa.Array) -> pa.DictionaryArray:
    """A column as a dictionary array (a dictionary column as it is: its values may repeat once trimmed)."""
    return cell if pa.types.is_dictionary(cell.type) else pc.dictionary_encode(cell)


def _raw_key(cells: _RowCells, row: int, day: int) -> tuple[Any, ...]:
    """Table row `row` on day `day`: its key in decide_batch's context cache — (地区, 日期, 待遇年度,
    假设参数 items), the values parse_person reads from its canonical cells — so a known context
    needs no parsed record."""
    assumed = cells.assumed[row]
    return (cells.regions[cells.region_code[row]], dt.date.fromordinal(day + _EPOCH), int(cells.year[row]) or None,
            cells.assumed_items[assumed] if assumed >= 0 else ())


def _context_person(raw_key: tuple[Any, ...]) -> Person:
    """A record of only what a date context reads (_raw_key's values), validated as parse_person
    validates them: a new date needs no row parsed (each claim date of a settlement is one)."""
    region, date, year, assumed = raw_key
    record: dict[str, Any] = {"地区": region, "日期": date.isoformat(), "假设参数": dict(assumed)}
    if year is not None:
        record["待遇年度"] = year
    return parse_person(record)


@dataclass
class _RowCells:
    """A chunk's cells read once per table row, whatever date the row is decided on."""

    columns: dict[str, pa.Array]
    ok: np.ndarray  #: the row's cells other than its date are canonical
    region_code: np.ndarray  #: into regions (−1: empty, not ok)
    regions: list[str]
    year: np.ndarray
    assumed: np.ndarray
    assumed_items: list[tuple[Any, ...]]
    identities: _IdentityCells | None
    facts: _Facts


def _row_cells(columns: dict[str, pa.Array], n: int) -> _RowCells:
    ok = filled(pc.is_valid(columns["地区"]))
    for name in JSON_COLUMNS:
        if name != "假设参数" and name in columns:
            ok &= ~filled(pc.is_valid(columns[name]))  # a 就医 or 大病保险 cell is validated by parse_person
    year, year_ok = _years(columns, n)
    assumed, assumed_ok, assumed_items = _assumed(columns, n)
    regions = _encoded(columns["地区"])
    region_code = np.asarray(regions.indices.fill_null(-1), dtype=np.int64)
    return _RowCells(columns, ok & year_ok & assumed_ok, region_code, regions.dictionary.to_pylist(), year, assumed, assumed_items,
                     _identity_cells(columns.get("身份"), n), _Facts(columns))


def _columnar(batch: _Batch, cells: _RowCells, rows_of: np.ndarray, days: np.ndarray,
              days_ok: np.ndarray, out: np.ndarray) -> list[int]:
    """Decide the rows (table row rows_of[i] on day days[i]) whose cells are canonical into out;
    return the rows left for the exact path."""
    cache = batch.cache
    pair_text = cells.identities.pair_text if cells.identities else []
    if len(cache.cell_ids) + len(cells.regions) + len(cells.assumed_items) + len(pair_text) >= (1 << _CELL_BITS) - 1:
        cache.forget_cells()
    fast = days_ok & cells.ok[rows_of]
    claims = _identities(batch, cells.identities, rows_of, days, fast)
    fast &= claims >= 0
    exact = np.flatnonzero(~fast).tolist()
    rows = np.flatnonzero(fast)
    position = _contexts(batch, cells, rows_of, days, rows)
    slot = batch.cache.ctx_slots[position]
    exact.extend(rows[slot == _EXACT].tolist())
    for k in np.flatnonzero(slot == _ERROR).tolist():
        batch.errors[int(rows[k])] = batch.cache.ctx_found[position[k]]  # type: ignore[assignment]
    for ctx_id in np.unique(slot[slot >= 0]).tolist():
        ctx = batch.cache.ctxs[ctx_id]
        mine = rows[slot == ctx_id]
        cid = claims[mine]
        known = batch.claims_known(ctx, cid)
        columns_of, unused = cells.facts.of(ctx, rows_of[mine])
        keep = known & ~unused
        exact.extend(mine[~keep].tolist())
        if keep.any():
            kept = FactColumns(*({k: v[keep] for k, v in part.items()} for part in (columns_of.money, columns_of.present, columns_of.flags)),
                               columns_of.bad[keep])
            batch.key_rows(ctx, mine[keep], 0, cid[keep], kept, out, exact)
    return exact


_EXACT, _ERROR = -1, -2  #: _slot's codes for rows that are not keyed by a context


def _slot(ctx: _Ctx | Exception | None) -> int:
    """A date context found for some rows → its id, or what becomes of those rows."""
    if isinstance(ctx, _Ctx) and ctx.plan.vectorised:
        return ctx.id
    return _ERROR if isinstance(ctx, PolicySelectionError) else _EXACT


_DAY_BIAS = 719_163  #: day numbers of the years 1–9999 plus this: 1 … < 2²²
_CELL_BITS = 14  #: bits of an interned cell id in a packed context or pair (more ids: the caches start again)


def _contexts(batch: _Batch, cells: _RowCells, rows_of: np.ndarray, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The date context of each of rows, as a position in cache.ctx_found — a context, the rows'
    PolicySelectionError, or None (the exact path) — by the integers of (地区, 日期, 待遇年度, 假设参数):
    the texts and items are interned per process, so the contexts met in earlier chunks (≈ 1,000
    distinct dates a chunk) are one hash lookup of the column (codes.IntIndex)."""
    cache = batch.cache
    region = np.array([_cell_id(cache, "地区", r) for r in cells.regions] + [-1], dtype=np.int64)
    assumed = np.array([_cell_id(cache, "假设参数", a) for a in cells.assumed_items] + [-1], dtype=np.int64)
    person = rows_of[rows]
    packed = (region[cells.region_code[person]] + 1) << _CELL_BITS | (assumed[cells.assumed[person]] + 1)
    packed = (packed << 12 | cells.year[person]) << 22 | (days[rows] + _DAY_BIAS)
    position, found = cache.ctx_index.get(packed)
    if found.all():
        return position
    missing = np.flatnonzero(~found)
    first, _ = first_seen(packed[missing])
    new = [_context(batch, _raw_key(cells, int(person[f]), int(days[rows[f]]))) for f in missing[first].tolist()]
    cache.ctx_index.add(packed[missing][first], np.arange(len(cache.ctx_found), len(cache.ctx_found) + len(new)))
    cache.ctx_found.extend(new)
    cache.ctx_slots = np.concatenate([cache.ctx_slots, np.array([_slot(c) for c in new], dtype=np.int64)])
    return cache.ctx_index.get(packed)[0]


def _cell_id(cache: Any, column: str, value: Any) -> int:
    return cache.cell_ids.setdefault((column, value), len(cache.cell_ids))


def _context(batch: _Batch, raw_key: tuple[Any, ...]) -> _Ctx | Exception | None:
    """The context of a new (地区, 日期, 待遇年度, 假设参数); None when parse_person refuses those cells."""
    ctx = batch.cache.ctx_by_raw.get(raw_key)
    if ctx is not None:
        return ctx
    try:
        return batch.context_of(_context_person(raw_key))
    except RecordError:
        return None


# ------------------------------------------------------------------ entry point
def decide_table(reasoner: Reasoner, table: pa.Table, first: int, solve: bool = True) -> TableDecisions:
    """Decide every row of a flat table chunk whose first row is row number `first`: each row
    ends in a summary or its own error, in place, as decide_batch gives them for the rows read
    by person.table_record and parse_person. solve=False: keys only (result.keys; summaries None)."""
    t0 = time.perf_counter()
    columns = _text_columns(table, dictionaries=True)
    records = TableRecords(table, first, columns)
    usable = columns is not None and {"地区", "日期"} <= columns.keys()
    days, days_ok = per_cell(columns["日期"], dates) if usable else (None, None)  # type: ignore[index]
    result, exact = _decide(reasoner, records, days, days_ok, solve, t0)
    return TableDecisions(result, *_cells(records, columns, exact, first))


def decide_on_dates(reasoner: Reasoner, table: pa.Table, columns: dict[str, pa.Array], rows_of: np.ndarray,
                    days: np.ndarray, dates: pa.Array) -> BatchResult:
    """The keys (solve=False) of table row rows_of[i] decided on dates[i] (YYYY-MM-DD, day number
    days[i]), for every i: a settlement's claims, each decided as its person on the claim's date.
    columns: the table's trimmed text columns, without 就医 and 大病保险 (read by the caller); each
    row's cells are read once however many dates it is decided on."""
    records = TableRecords(table, 1, columns, rows_of, dates)
    return _decide(reasoner, records, days, np.ones(len(days), dtype=bool), False, time.perf_counter())[0]


def _decide(reasoner: Reasoner, records: TableRecords, days: np.ndarray | None, days_ok: np.ndarray | None, solve: bool,
            t0: float) -> tuple[BatchResult, list[int]]:
    """The columnar path where the cells allow (days None: nowhere), then the exact path for the rest."""
    batch = _Batch(reasoner, records, 0.0, solve)
    n = len(records)
    out = np.full(n, -1, dtype=np.int32)
    if days is None or records.columns is None:
        exact = list(range(n))
    else:
        rows_of = np.arange(n) if records.rows_of is None else records.rows_of
        exact = _columnar(batch, _row_cells(records.columns, records.table.num_rows), rows_of, days, days_ok, out)
    exact.sort()
    records.load(exact)
    for i in exact:
        batch.exact_row(i, out)
    batch.stats["exact_rows"] += len(exact)
    return batch.finish(out, t0), exact


def _cells(records: TableRecords, columns: dict[str, pa.Array] | None, exact: list[int], first: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    """编号, 地区, 日期 per row: the cells themselves on the columnar path, the parsed record's on the exact path."""
    n = len(records)
    none = pa.nulls(n, pa.string())
    columns = columns or {}
    numbers = pa.array(np.arange(first, first + n)).cast(pa.string())
    given = _plain_text(columns.get("编号", none))
    ids = pc.if_else(pc.is_valid(given), given, pc.binary_join_element_wise("#", numbers, ""))
    regions, dates = _plain_text(columns.get("地区", none)), _plain_text(columns.get("日期", none))
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


__all__ = ["TableDecisions", "TableRecords", "decide_on_dates", "decide_table"]
