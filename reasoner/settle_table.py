"""This module settles a chunk of flat roster rows held as Arrow columns: the columnar settlement.

Settling person by person (batch_rows.settle_rows: parse_person, then Settler, which decides
every claim and writes every step out as text) costs about half a millisecond a person. Here
a chunk is settled in four column-wise stages, and Python runs once per claim only to read
its JSON and once per distinct decision otherwise:

    1. claims    the 就医 cells read claim by claim (canonical claims only: a YYYY-MM-DD date,
                 amounts as JSON numbers that are exact 分, a 类别, 事实) → claim columns;
                 大病保险 cells parsed once per distinct text
    2. decide    every claim as a row of the person on the claim's date (the person's columns
                 taken once per claim, 日期 = the claim's date) through decide_table: the
                 person part of each claim's decision, as a summary key (context, Signature)
    3. plan      (summary key, 类别, the claim conditions' values) → a ClaimPlan
                 (settle_plan.py), made once from the full Decision of one representative claim
    4. settle    settle_arrays.settle_claims: Settler's arithmetic, the k-th claim of every
                 person-year at once; totals per person as batch_rows.settlement_cells gives them

A row goes the exact way (batch_rows.settle_rows) whenever any of its cells is not one the
columnar reader takes exactly as parse_person would, whenever any of its claims' decisions
would raise, and when it has no claim to settle — so every result and every error equals
Settler's; tests/test_settle_table.py checks this row by row. A row's explanation is Settler's,
recomputed on demand (BatchRun.explain).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .batch import ROW_ERRORS, _cache, _per_person_fact
from .batch_rows import SETTLE_SCHEMA, settle_rows
from .batch_summary import BatchConsistencyError
from .batch_table import TableRecords, _dates, _filled, _text_columns, decide_table
from .compile import CompiledPolicy
from .decide import PersonParts, Reasoner, _atom_names, _convert
from .numeric import evaluate_atom
from .person import Catastrophic, RecordError, _catastrophic
from .settle import CLAIM_NO_ASSISTANCE, CLAIM_SETTLED, CLAIM_UNDECIDED
from .settle_arrays import Claims, Settled, settle_claims
from .settle_plan import ClaimPlan, plan_of
from .solve import Signature
from .tables import row_dicts

CLAIM_KEYS = frozenset({"编号", "日期", "类别", "政策范围内费用", "基本医保支付", "事实"})  #: fields a canonical claim may have
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_FLOAT_YUAN = 10 ** 12  #: below this a float is an exact 分 amount exactly when round(x·100)/100 == x (and int64 is safe)
MAX_ROW_FEN = 10 ** 16  #: a row whose claims cost more in all goes the exact way: the year's running sums stay in int64
STATUS_TEXT = (CLAIM_SETTLED, CLAIM_NO_ASSISTANCE, CLAIM_UNDECIDED)  #: settle_arrays' status codes as Settler writes them
PLANS_KEPT = 1 << 18  #: claim keys remembered per reasoner (a key that reads amounts is nearly one per claim)


# ------------------------------------------------------------------ 1. claims
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
class _Read:
    """The claims of a chunk that the columns take, row by row, each row's claims in list order."""

    parent: np.ndarray  #: row
    index: np.ndarray  #: position in the row's 就医 list
    day: np.ndarray  #: the date as a day number (any numbering that keeps the order)
    year: np.ndarray
    date: pa.Array  #: YYYY-MM-DD
    cost: np.ndarray  #: 政策范围内费用, 分
    basic: np.ndarray  #: 基本医保支付, 分
    kind: Sequence[str]  #: 类别
    kind_code: np.ndarray  #: equal codes: equal 类别
    facts: Sequence[tuple[tuple[str, Any], ...]]  #: 事实 as (name, text) pairs
    fact_code: np.ndarray  #: equal codes: equal 事实

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> _Read:
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


class _Reader:
    """Reads 就医 and 大病保险 cells one by one (json.loads); any doubt sends the row the exact way."""

    def __init__(self) -> None:
        self.days: dict[str, int] = {}
        self.ordinaries: dict[str | None, Catastrophic | None | Exception] = {None: None}

    def day(self, text: str) -> int:
        """The ordinal of a YYYY-MM-DD date, -1 for any other text (remembered per text)."""
        try:
            day = dt.date.fromisoformat(text).toordinal() if DATE.match(text) else -1
        except ValueError:
            day = -1
        self.days[text] = day
        return day

    def ordinary(self, text: str | None) -> Catastrophic | None | Exception:
        """The 大病保险 cell as parse_person reads it (a falsy value: none), or the error."""
        if text not in self.ordinaries:
            try:
                data = json.loads(text)  # type: ignore[arg-type]
                self.ordinaries[text] = _catastrophic(data, "") if data else None
            except (ValueError, RecordError) as err:
                self.ordinaries[text] = err
        return self.ordinaries[text]

    def claims(self, cells: list[str | None], year: int | None) -> tuple[np.ndarray, _Read]:
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
        return ok, _Read.of(rows)

    def _claim(self, i: int, j: int, c: Any) -> tuple[Any, ...] | None:
        """(row, position, day, date, 类别, 分, 分, 事实) of a canonical claim; None for any other."""
        if type(c) is not dict or not c.keys() <= CLAIM_KEYS:
            return None
        date, kind, facts = c.get("日期"), c.get("类别"), c.get("事实")
        cost, basic = _fen(c.get("政策范围内费用")), _fen(c.get("基本医保支付"))
        day = self.days.get(date, -2) if type(date) is str else -1
        if day == -2:
            day = self.day(date)
        if day < 0 or type(kind) is not str or not kind or cost is None or basic is None or not 0 <= basic <= cost:
            return None
        if facts is None or facts == {}:
            return i, j, day, date, kind, cost, basic, ()
        if type(facts) is dict and all(type(v) is str for v in facts.values()):  # 1 and True would share a key
            return i, j, day, date, kind, cost, basic, tuple(facts.items())
        return None


def _arrow_claims(cells: pa.Array, names: list[str]) -> tuple[np.ndarray, pa.Array] | None:
    """The 就医 cells parsed by Arrow's JSON reader (C++, no Python object per claim), or None when the
    chunk holds anything that reader might read otherwise than json.loads: then the chunk is read by
    _Reader.claims. Rows whose cell is empty or mentions null (absent and null differ for parse_person,
    not for Arrow) are left out here — read as no claims, so they go the exact way."""
    usable = _filled(pc.is_valid(cells)) & ~_filled(pc.match_substring_regex(cells, "null|\n|\r"))
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


def _arrow_read(usable: np.ndarray, listed: pa.Array, year: int | None) -> tuple[np.ndarray, _Read]:
    """_Reader.claims for claims parsed by Arrow: the same checks, on columns."""
    n = len(listed)
    lengths = np.asarray(pc.fill_null(pc.list_value_length(listed), 0), dtype=np.int64)
    parent = np.repeat(np.arange(n, dtype=np.int64), lengths)
    index = np.arange(len(parent), dtype=np.int64) - (np.cumsum(lengths) - lengths)[parent]
    date, kind, cost_x, basic_x, facts = listed.flatten().flatten()[:5]
    day, good = _dates(date)
    cost, cost_ok = _fen_column(cost_x)
    basic, basic_ok = _fen_column(basic_x)
    good &= _filled(pc.greater(pc.utf8_length(kind), 0)) & cost_ok & basic_ok & (basic >= 0) & (basic <= cost)
    years = np.where(good, day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970, 0)
    wanted = np.ones(len(parent), dtype=bool) if year is None else years == year
    ok = usable & (np.bincount(parent[~good], minlength=n) == 0) & (np.bincount(parent[wanted], minlength=n) > 0)
    keep = np.flatnonzero(ok[parent] & wanted)
    taken = pa.array(keep)
    kinds = kind.take(taken)
    fact_columns = {f.name: column.take(taken) for f, column in zip(facts.type, facts.flatten())}
    fact_code = _pack([np.asarray(pc.fill_null(pc.dictionary_encode(c).indices, -1), dtype=np.int64) for c in fact_columns.values()],
                      len(keep))
    read = _Read(parent[keep], index[keep], day[keep], years[keep], date.take(taken), cost[keep], basic[keep], kinds.to_pylist(),
                 np.asarray(pc.dictionary_encode(kinds).indices, dtype=np.int64), _CodedFacts(fact_code, fact_columns), fact_code)
    return ok, read


def _pack(columns: list[np.ndarray], n: int) -> np.ndarray:
    """One int64 code per row, equal exactly where every column is equal (columns of codes ≥ −1)."""
    code = np.zeros(n, dtype=np.int64)
    width = 1
    for column in columns:
        base = int(column.max(initial=-1)) + 2
        if width * base >= 1 << 62:  # too many combinations to pack: number the distinct rows instead
            return np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
        code += (column + 1) * width
        width *= base
    return code


def _fen_column(x: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """_fen on a column of JSON numbers read as doubles (JSON integers below 10¹² 元 are exact doubles)."""
    v = np.asarray(x.to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(v) & (np.abs(v) < MAX_FLOAT_YUAN)
        fen = np.rint(np.where(finite, v, 0.0) * 100)
        return fen.astype(np.int64), finite & (fen / 100 == v)


# ------------------------------------------------------------------ 3. plans
@dataclass(frozen=True)
class _Person:
    """What a summary key tells about the claims of its rows: the policy and how to read a claim."""

    policy: CompiledPolicy
    signature: Signature
    atoms: tuple[tuple[str, Any], ...]  #: the claim conditions (atom id, condition)
    reads: tuple[str, ...]  #: the claim amounts those conditions read (政策范围内费用, 基本医保支付)
    lookup: Callable[[str], Any]


class _Plans:
    """Per reasoner: summary keys, claim keys and the plans they lead to."""

    def __init__(self) -> None:
        self.persons: dict[tuple[Any, ...], int] = {}  #: summary key → person index
        self.skeys: list[tuple[Any, ...]] = []  #: person index → summary key
        self.person_info: list[_Person | None] = []
        self.by_claim: dict[tuple[Any, ...], int] = {}  #: (person, 类别, 事实, amounts read) → plan, or -1: the exact way
        self.by_atoms: dict[tuple[Any, ...], int] = {}  #: (person, 类别, claim conditions' values) → plan
        self.plans: list[ClaimPlan] = []
        self.plan_index: dict[ClaimPlan, int] = {}  #: equal plans share an index (persons differ, their claims' numbers rarely do)
        self.readings: dict[str, tuple[Any, ...]] = {}  #: by policy content hash: _Planner._reading


_PLANS: weakref.WeakKeyDictionary[Reasoner, _Plans] = weakref.WeakKeyDictionary()


def _plans(reasoner: Reasoner) -> _Plans:
    plans = _PLANS.get(reasoner)
    if plans is None:
        plans = _PLANS[reasoner] = _Plans()
    return plans


class _Planner:
    def __init__(self, reasoner: Reasoner, records: TableRecords, read: _Read):
        self.reasoner, self.records, self.read = reasoner, records, read
        self.cache = _plans(reasoner)
        self.store = _cache(reasoner).store  #: the run's store (several workers): plans another worker made
        self.parts = PersonParts()  #: the person part of the last representative, for its other claims

    def person(self, skey: tuple[Any, ...]) -> int:
        pk = self.cache.persons.get(skey)
        if pk is None:
            pk = self.cache.persons[skey] = len(self.cache.person_info)
            self.cache.skeys.append(skey)
            self.cache.person_info.append(self._person(skey))
        return pk

    def _person(self, skey: tuple[Any, ...]) -> _Person | None:
        """None when a claim condition reads a person fact, or a value reads a claim amount: the exact way."""
        (name, year, region, assumed), signature = skey[0], skey[1]
        policy = self.reasoner.policies.policies[name]
        reading = self.cache.readings.get(policy.content_hash)
        if reading is None:
            reading = self.cache.readings[policy.content_hash] = self._reading(policy)
        if not reading:
            return None
        params, given = self.reasoner.policies.params, dict(assumed)
        return _Person(policy, signature, *reading, lambda p: params.lookup(p, region, year, given))

    def _reading(self, policy: CompiledPolicy) -> tuple[Any, ...]:
        """A policy's claim conditions and the claim amounts they read; () when its claims cannot be
        keyed on their own (a condition also reads a person fact, or a value reads a claim amount)."""
        layout = self.reasoner._layout(policy)
        atoms = tuple((aid, cond) for aid, cond in policy.atoms.items() if aid in layout.claim_atoms)
        names = [_atom_names(cond) for _, cond in atoms]
        if any(n is None or not n.isdisjoint(layout.units) for n in names):
            return ()
        if any(_per_person_fact(v.value, layout.claim_decls) for v in policy.values.values()):
            return ()
        return atoms, tuple(b for b in ("政策范围内费用", "基本医保支付") if b in layout.claim_decls and any(b in n for n in names if n))

    def reads(self, pk: int) -> bool:
        """Whether a claim's conditions read its amounts under person key pk (then every claim is its own key)."""
        info = self.cache.person_info[pk]
        return info is not None and bool(info.reads)

    def plan(self, pk: int, c: int) -> int:
        """The plan of claim c, whose person part is pk; -1 sends its row the exact way."""
        info = self.cache.person_info[pk]
        if info is None:
            return -1
        read = self.read
        amounts = tuple(int(read.cost[c] if b == "政策范围内费用" else read.basic[c]) for b in info.reads)
        key = (pk, read.kind[c], read.facts[c], amounts)
        p = self.cache.by_claim.get(key)
        if p is None:
            if len(self.cache.by_claim) >= PLANS_KEPT:
                self.cache.by_claim.clear()
            p = self.cache.by_claim[key] = self._plan(pk, info, c)
        return p

    def _plan(self, pk: int, info: _Person, c: int) -> int:
        read, layout = self.read, self.reasoner._layout(info.policy)
        if read.kind[c] not in layout.claim_kinds:
            return -1
        typed: dict[str, Any] = {"政策范围内费用": int(read.cost[c]), "基本医保支付": int(read.basic[c])}
        typed = {k: v for k, v in typed.items() if k in layout.claim_decls}
        try:
            for name, raw in read.facts[c]:
                if name not in layout.claim_decls:
                    return -1
                typed[name] = _convert(layout.claim_decls[name].unit or "", raw)
            results = [(aid, evaluate_atom(cond, typed, layout.all_units, info.lookup)) for aid, cond in info.atoms]
        except Exception:  # noqa: BLE001 — Settler would raise (or the exact path reports) it: the exact way
            return -1
        conditions = tuple((aid, r.value, r.missing) for aid, r in results)
        p = self.cache.by_atoms.get((pk, read.kind[c], conditions))
        if p is None:
            shared = ("plan", self.cache.skeys[pk], read.kind[c], conditions)  # a plan is a function of this key
            plan = self.store.get(shared) if self.store is not None else None
            if plan is None:
                plan = self._decided(info, c, results)
                if plan is None:
                    return -1
                if self.store is not None:
                    self.store.put(shared, plan)
            p = self.cache.by_atoms[(pk, read.kind[c], conditions)] = self._index(plan)
        return p

    def _index(self, plan: ClaimPlan) -> int:
        p = self.cache.plan_index.setdefault(plan, len(self.cache.plans))
        if p == len(self.cache.plans):
            self.cache.plans.append(plan)
        return p

    def _decided(self, info: _Person, c: int, results: list[tuple[str, Any]]) -> ClaimPlan | None:
        """A new plan, from the full decision of claim c (Settler's own decide); None: the exact way."""
        read = self.read
        try:
            person = self.records[int(read.parent[c])]
            prep = self.reasoner.prepare(person, person.claims[int(read.index[c])], parts=self.parts)
        except ROW_ERRORS:
            return None
        known = {a: v for a, v in info.signature.atoms} | {aid: r.value for aid, r in results if r.value is not None}
        expected = Signature(info.signature.claims, tuple(sorted(known.items())), read.kind[c])
        if prep.signature != expected:
            raise BatchConsistencyError(f"row {read.parent[c]} claim {read.index[c]}: columns {expected} but exact {prep.signature}")
        ground = self.reasoner._ground(prep.selection.policy, prep.values, justify=False)  # a plan needs no why
        answer = ground.solve(prep.signature)
        return plan_of(self.reasoner._assemble(prep.person, prep.selection, answer, prep.atoms, prep.values, prep.facts))


# ------------------------------------------------------------------ the chunk
def settle_table(reasoner: Reasoner, table: pa.Table, first: int, year: int | None) -> pa.Table:
    """Settle every row of a flat table chunk whose first row is row number `first` (only the claims of
    `year` when given): SETTLE_SCHEMA's row per input row, equal to batch_rows.settle_rows'."""
    n = table.num_rows
    columns = _text_columns(table)
    cells = None
    ok = np.zeros(n, dtype=bool)
    if columns is not None and {"地区", "日期", "就医"} <= columns.keys():
        ok, read, ordinary, ordinaries = _rows(columns, year, _claim_facts(reasoner))
        if ok.any():
            cells = _columnar(reasoner, TableRecords(table, first, columns), columns, read, ok, ordinary, ordinaries, first)
    exact = np.flatnonzero(~ok).tolist()
    rows = list(zip((first + i for i in exact), row_dicts(table.take(pa.array(exact, pa.int64()))))) if exact else []
    fixed = settle_rows(reasoner, rows, True, year)
    if cells is None:
        return pa.Table.from_pydict(fixed, schema=SETTLE_SCHEMA)
    if exact:
        mask = pa.array(~ok)
        cells = {f.name: pc.replace_with_mask(cells[f.name], mask, pa.array(fixed[f.name], f.type)) for f in SETTLE_SCHEMA}
    return pa.Table.from_pydict(cells, schema=SETTLE_SCHEMA)


def _claim_facts(reasoner: Reasoner) -> list[str]:
    """Every 就医事实 a policy of the set declares (the columns Arrow reads 事实 into)."""
    return sorted({name for policy in reasoner.policies.policies.values() for name in reasoner._layout(policy).claim_decls})


def _rows(columns: dict[str, pa.Array], year: int | None, names: list[str]) -> tuple[np.ndarray, _Read, np.ndarray, list[Catastrophic | None]]:
    """Stage 1: which rows the columns can take, their claims, and their ordinary catastrophic parameters
    (per row an index into the distinct ones)."""
    reader = _Reader()
    parsed = _arrow_claims(columns["就医"], names)
    ok, read = _arrow_read(*parsed, year) if parsed is not None else reader.claims(columns["就医"].to_pylist(), year)
    ok &= _dates(columns["日期"])[1] & np.asarray(pc.is_valid(columns["地区"]))
    if "大病保险" not in columns:
        return ok, read, np.zeros(len(ok), dtype=np.int64), [None]
    encoded = pc.dictionary_encode(columns["大病保险"])  # each distinct text parsed once
    found = [reader.ordinary(text) for text in encoded.dictionary.to_pylist()] + [None]
    ok &= ~np.array([isinstance(f, Exception) for f in found])[np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)]
    ordinary = np.asarray(pc.fill_null(encoded.indices, len(found) - 1), dtype=np.int64)
    return ok, read, ordinary, [None if isinstance(f, Exception) else f for f in found]


def _columnar(reasoner: Reasoner, records: TableRecords, columns: dict[str, pa.Array], read: _Read, ok: np.ndarray,
              ordinary: np.ndarray, ordinaries: list[Catastrophic | None], first: int) -> dict[str, list[Any]] | None:
    """Stages 2–4 for the rows marked ok (rows found unfit are unmarked); the cells of every row."""
    parent = read.parent
    plan, plans = _plan_claims(reasoner, records, columns, read, parent, ok)
    ok[np.unique(parent[ok[parent] & (plan < 0)])] = False
    ok &= np.bincount(parent, weights=read.cost.astype(np.float64), minlength=len(ok)) < MAX_ROW_FEN
    use = np.flatnonzero(ok[parent])
    if not len(use):
        return None
    settled, claims = _settle(read, use, plan, ordinary, plans, ordinaries)
    return _cells(columns, ok, claims, settled, first)


def _plan_claims(reasoner: Reasoner, records: TableRecords, columns: dict[str, pa.Array], read: _Read, parent: np.ndarray,
                 ok: np.ndarray) -> tuple[np.ndarray, list[ClaimPlan]]:
    """Stages 2 and 3: each claim of the rows marked ok → its plan (−1: the row goes the exact way)."""
    claims_at = np.flatnonzero(ok[parent])
    taken = pa.array(parent[claims_at])
    exploded = pa.table({name: col.take(taken) for name, col in columns.items() if name not in ("就医", "大病保险")} |
                        {"日期": read.date.take(pa.array(claims_at))})
    decided = decide_table(reasoner, exploded, 1, solve=False).result  # the keys: the plans decide the claims
    planner = _Planner(reasoner, records, read)
    pk_of = np.array([planner.person(k) for k in decided.keys or []] + [-1], dtype=np.int64)
    person_key = pk_of[np.where(decided.rows >= 0, decided.rows, len(pk_of) - 1)]
    plan = np.full(len(parent), -1, dtype=np.int64)
    if len(claims_at):
        # one lookup per distinct (person key, 类别, 事实); claims whose policy's conditions read amounts one by one
        keys = _pack([person_key, read.kind_code[claims_at], read.fact_code[claims_at]], len(claims_at))
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        found = np.full(len(first) + 1, -1, dtype=np.int64)
        for u in np.argsort(first).tolist():  # in claim order: a person's new claims one after another (PersonParts)
            pk, f = int(person_key[first[u]]), int(first[u])
            found[u] = planner.plan(pk, int(claims_at[f])) if pk >= 0 and not planner.reads(pk) else -2
        plan[claims_at] = found[inverse.reshape(-1)]
        for c in claims_at[plan[claims_at] == -2].tolist():
            pk = int(person_key[np.searchsorted(claims_at, c)])
            plan[c] = planner.plan(pk, c) if pk >= 0 else -1
    if planner.store is not None:
        planner.store.flush()  # what this chunk decided, for the run's other workers
    return plan, planner.cache.plans


def _settle(read: _Read, use: np.ndarray, plan: np.ndarray, ordinary: np.ndarray, plans: list[ClaimPlan],
            ordinaries: list[Catastrophic | None]) -> tuple[Settled, Claims]:
    """Stage 4: the claims in settlement order (row, year, date, position), settled column-wise."""
    parent, day, index, year = read.parent[use], read.day[use], read.index[use], read.year[use]
    order = np.lexsort((index, day, year, parent))
    use, parent, year = use[order], parent[order], year[order]
    start = np.ones(len(use), dtype=bool)
    start[1:] = (parent[1:] != parent[:-1]) | (year[1:] != year[:-1])
    group = np.cumsum(start) - 1
    step = np.arange(len(use)) - np.flatnonzero(start)[group]
    claims = Claims(group, step, read.cost[use], read.basic[use],
                    np.full(len(use), -1, dtype=np.int64), plan[use], ordinary[parent])
    claims.parent, claims.year = parent, year  # type: ignore[attr-defined]
    return settle_claims(claims, plans, ordinaries, int(group[-1]) + 1 if len(group) else 0), claims


def _cells(columns: dict[str, pa.Array], ok: np.ndarray, claims: Claims, settled: Settled, first: int) -> dict[str, pa.Array]:
    """Totals per row, as batch_rows.settlement_cells writes them (rows not ok are filled in later)."""
    n = len(ok)
    parent = claims.parent  # type: ignore[attr-defined]
    starts = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
    rows = parent[starts]

    def per_row(values: np.ndarray) -> pa.Array:
        full = np.zeros(n, dtype=np.int64)
        full[rows] = np.add.reduceat(values, starts)
        return pa.array(full)

    numbers = pa.array(np.arange(first, first + n, dtype=np.int64))
    given = columns.get("编号", pa.nulls(n, pa.string()))
    return {"行号": numbers, "编号": pc.if_else(pc.is_valid(given), given, pc.binary_join_element_wise("#", numbers.cast(pa.string()), "")),
            "地区": columns["地区"], "状态": _texts(n, rows, ["已结算"], np.zeros(len(rows), dtype=np.int64)),
            "年度": _years(n, rows, starts, claims.year),  # type: ignore[attr-defined]
            "就医笔数": per_row(np.ones(len(parent), dtype=np.int64)),
            "大病保险支付（分）": per_row(settled.catastrophic), "医疗救助（分）": per_row(settled.assistance),
            "医保后自付（分）": per_row(settled.self_pay), "结算状态": _counts(n, rows, starts, settled.status),
            "缺少": pa.array(_missing(n, parent, settled.missing), pa.string()),
            "错误字段": pa.nulls(n, pa.string()), "错误": pa.nulls(n, pa.string())}


def _texts(n: int, rows: np.ndarray, texts: list[str], which: np.ndarray) -> pa.Array:
    """A text column: texts[which[k]] at rows[k], empty elsewhere."""
    index = np.full(n, -1, dtype=np.int64)
    index[rows] = which
    return pa.array(texts, pa.string()).take(pa.array(index, mask=index < 0))


def _years(n: int, rows: np.ndarray, starts: np.ndarray, year: np.ndarray) -> pa.Array:
    """年度: the years settled, ascending, joined by 、."""
    lo, hi = np.minimum.reduceat(year, starts), np.maximum.reduceat(year, starts)
    texts = [str(y) for y in range(int(lo.min(initial=0)), int(hi.max(initial=0)) + 1)]
    which = lo - lo.min(initial=0)
    ends = np.r_[starts[1:], len(year)]
    for k in np.flatnonzero(lo != hi).tolist():  # claims over several years: rare
        texts.append("、".join(str(y) for y in sorted(set(year[starts[k]:ends[k]].tolist()))))
        which[k] = len(texts) - 1
    return _texts(n, rows, texts, which)


def _counts(n: int, rows: np.ndarray, starts: np.ndarray, status: np.ndarray) -> pa.Array:
    """结算状态: "status count" per status, in the order the statuses first occur, joined by ；."""
    position = np.arange(len(status))
    firsts, counts = [], []
    for code in range(len(STATUS_TEXT)):
        here = status == code
        counts.append(np.add.reduceat(here.astype(np.int64), starts))
        firsts.append(np.minimum.reduceat(np.where(here, position, len(status)), starts) - starts)
    distinct, first, which = np.unique(_pack(firsts + counts, len(starts)), return_index=True, return_inverse=True)
    texts = []
    for k in first.tolist():
        present = sorted((int(firsts[code][k]), code) for code in range(len(STATUS_TEXT)) if counts[code][k])
        texts.append("；".join(f"{STATUS_TEXT[code]} {int(counts[code][k])}" for _, code in present))
    return _texts(n, rows, texts, which.reshape(-1))


def _missing(n: int, parent: np.ndarray, missing: dict[int, tuple[str, ...]]) -> list[Any]:
    """缺少: what the claims lack, each text once, in order of first mention."""
    out: list[Any] = [None] * n
    by_row: dict[int, dict[str, None]] = {}
    for c in sorted(missing):
        by_row.setdefault(int(parent[c]), {}).update(dict.fromkeys(missing[c]))
    for r, texts in by_row.items():
        out[r] = "、".join(texts) or None
    return out


__all__ = ["settle_table"]
