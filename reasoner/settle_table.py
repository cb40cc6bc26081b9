"""This module settles a chunk of flat roster rows held as Arrow columns: the columnar settlement.

Settling person by person (batch_rows.settle_rows: parse_person, then Settler, which decides
every claim and writes every step out as text) costs about half a millisecond a person. Here
a chunk is settled in four column-wise stages, and Python runs once per distinct decision:

    1. claims    the 就医 cells → claim columns (claim_columns.py: Arrow's JSON reader on a clean
                 chunk; canonical claims only); 大病保险 cells parsed once per distinct text
    2. decide    every claim as its person on the claim's date (batch_table.decide_on_dates: the
                 person's cells read once, only the date relations per claim): the person
                 part of each claim's decision, as a summary key (context, AnswerKey)
    3. plan      (summary key, 类别, the claim conditions' values) → a ClaimPlan
                 (settle_plan.py), made once from the full Decision of one representative claim
                 per answer set outside the identity layer (claims of persons whose identities
                 decide alike share it: _Planner._by_answer)
    4. settle    settle_arrays.settle_claims: Settler's arithmetic, the k-th claim of every
                 person-year at once; totals per person as batch_rows.settlement_cells gives them

A row goes the exact way (batch_rows.settle_rows) whenever any of its cells is not one the
columnar reader takes exactly as parse_person would, whenever any of its claims' decisions
would raise, and when it has no claim to settle — so every result and every error equals
Settler's; tests/test_settle_table.py checks this row by row. A row's explanation is Settler's,
recomputed on demand (batch_run.RowExplainer).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import ROW_ERRORS, _cache, _per_person_fact
from .batch_rows import SETTLE_SCHEMA, settle_rows
from .batch_summary import BatchConsistencyError
from .batch_table import TableRecords, _plain_text, _text_columns, decide_on_dates
from .claim_columns import ClaimColumns, claim_fact_names, read_claims
from .codes import first_seen, pack_codes
from .compile import CompiledPolicy
from .decide import PersonParts, Reasoner, _atom_names, _convert
from .numeric import evaluate_atom
from .person import Catastrophic
from .settle import CLAIM_NO_ASSISTANCE, CLAIM_SETTLED, CLAIM_UNDECIDED
from .settle_arrays import Claims, Settled, settle_claims
from .settle_plan import ClaimPlan, plan_of
from .solve import Answer, AnswerKey
from .tables import row_dicts

MAX_ROW_FEN = 10 ** 16  #: a row whose claims cost more in all goes the exact way: the year's running sums stay in int64
STATUS_TEXT = (CLAIM_SETTLED, CLAIM_NO_ASSISTANCE, CLAIM_UNDECIDED)  #: settle_arrays' status codes as Settler writes them
PLANS_KEPT = 1 << 18  #: claim keys remembered per reasoner (a key that reads amounts is nearly one per claim)


# ------------------------------------------------------------------ 3. plans
@dataclass(frozen=True)
class _Person:
    """What a summary key tells about the claims of its rows: the policy and how to read a claim."""

    policy: CompiledPolicy
    key: AnswerKey  #: the person part of the claim's decision (its summary key's AnswerKey)
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
        self.by_answer: dict[tuple[Any, ...], ClaimPlan] = {}  #: (summary key without its layer, 类别, conditions, answer) → plan
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
    def __init__(self, reasoner: Reasoner, records: TableRecords, read: ClaimColumns):
        self.reasoner, self.records, self.read = reasoner, records, read
        self.cache = _plans(reasoner)
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
        (name, year, region, assumed), key = skey[0], skey[1]
        policy = self.reasoner.policies.policies[name]
        reading = self.cache.readings.get(policy.content_hash)
        if reading is None:
            reading = self.cache.readings[policy.content_hash] = self._reading(policy)
        if not reading:
            return None
        params, given = self.reasoner.policies.params, dict(assumed)
        return _Person(policy, key, *reading, lambda p: params.lookup(p, region, year, given))

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
            plan = self._by_answer(pk, info, c, results, conditions)
            if plan is None:
                return -1
            p = self.cache.by_atoms[(pk, read.kind[c], conditions)] = self._index(plan)
        return p

    def _index(self, plan: ClaimPlan) -> int:
        p = self.cache.plan_index.setdefault(plan, len(self.cache.plans))
        if p == len(self.cache.plans):
            self.cache.plans.append(plan)
        return p

    def _by_answer(self, pk: int, info: _Person, c: int, results: list[tuple[str, Any]],
                   conditions: tuple[Any, ...]) -> ClaimPlan | None:
        """Claims whose decisions come out as one answer set share a plan (persons' keys differ in
        identity layers that decide alike, and in conditions the answer set shows or does not need):
        one solve of a representative signature tells, and only a new answer is decided in full and
        read into a plan. What the plan reads besides the answer set (plan_of, through _assemble):
        the context's values, the facts present and the per-person amounts (the summary key's), and
        for a condition left unknown, what it lacks (the person's follow from the facts present, the
        claim's are in akey). Settle 10⁶: 9,884 plan keys, 3,266 → 405 answers decided in full, 32 plans."""
        skey, kind = self.cache.skeys[pk], self.read.kind[c]
        known = {a: v for a, v in info.key.atoms} | {aid: r.value for aid, r in results if r.value is not None}
        expected = AnswerKey(info.key.layer, tuple(sorted(known.items())), kind)
        ctx = _cache(self.reasoner, solve=False).ctx_by_values.get(skey[0])
        sig = ctx.ground.shared(expected) if ctx is not None else None
        if sig is None:
            return self._decided(c, expected)
        answer = ctx.ground.solve(sig).without(ctx.ground.layer.names)
        unknown = tuple((aid, missing) for aid, value, missing in conditions if value is None)
        akey = (skey[0], skey[2], skey[3], kind, unknown, answer.content())
        plan = self.cache.by_answer.get(akey)
        if plan is None:
            plan = self._decided(c, expected, answer)
            if plan is not None:
                if len(self.cache.by_answer) >= PLANS_KEPT:
                    self.cache.by_answer.clear()
                self.cache.by_answer[akey] = plan
        return plan

    def _decided(self, c: int, expected: AnswerKey, answer: Answer | None = None) -> ClaimPlan | None:
        """A new plan, from the full decision of claim c (Settler's own decide); None: the exact way.
        answer: the answer set outside the identity layer of a signature with the claim's AnswerKey
        (the representative's, already solved): by the splitting set theorem, the claim's own."""
        read = self.read
        try:
            person = self.records[int(read.parent[c])]
            prep = self.reasoner.prepare(person, person.claims[int(read.index[c])], parts=self.parts)
        except ROW_ERRORS:
            return None
        ground = self.reasoner._ground(prep.selection.policy, prep.values, justify=False)  # a plan needs no why
        exact = ground.key(prep.signature)
        if exact != expected:
            raise BatchConsistencyError(f"row {read.parent[c]} claim {read.index[c]}: columns {expected} but exact {exact}")
        if answer is None:
            answer = ground.solve(prep.signature).without(ground.layer.names)  # so that plans can be shared by answer (_by_answer)
        return plan_of(self.reasoner._assemble(prep.person, prep.selection, answer, prep.atoms, prep.values, prep.facts))


# ------------------------------------------------------------------ the chunk
def settle_table(reasoner: Reasoner, table: pa.Table, first: int, year: int | None) -> pa.Table:
    """Settle every row of a flat table chunk whose first row is row number `first` (only the claims of
    `year` when given): SETTLE_SCHEMA's row per input row, equal to batch_rows.settle_rows'."""
    n = table.num_rows
    columns = _text_columns(table, dictionaries=True)
    cells = None
    ok = np.zeros(n, dtype=bool)
    if columns is not None and {"地区", "日期", "就医"} <= columns.keys():
        ok, read, ordinary, ordinaries = read_claims(columns, year, claim_fact_names(reasoner))
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


def _columnar(reasoner: Reasoner, records: TableRecords, columns: dict[str, pa.Array], read: ClaimColumns, ok: np.ndarray,
              ordinary: np.ndarray, ordinaries: list[Catastrophic | None], first: int) -> dict[str, pa.Array] | None:
    """Stages 2–4 for the rows marked ok (rows found unfit are unmarked); the cells of every row."""
    parent = read.parent
    plan, plans = _plan_claims(reasoner, records, columns, read, parent, ok)
    ok[np.unique(parent[ok[parent] & (plan < 0)])] = False
    ok &= np.bincount(parent, weights=read.cost.astype(np.float64), minlength=len(ok)) < MAX_ROW_FEN
    use = np.flatnonzero(ok[parent])
    if not len(use):
        return None
    settled, parent, year = _settle(read, use, plan, ordinary, plans, ordinaries)
    return _cells(columns, ok, parent, year, settled, first)


def _plan_claims(reasoner: Reasoner, records: TableRecords, columns: dict[str, pa.Array], read: ClaimColumns, parent: np.ndarray,
                 ok: np.ndarray) -> tuple[np.ndarray, list[ClaimPlan]]:
    """Stages 2 and 3: each claim of the rows marked ok → its plan (−1: the row goes the exact way)."""
    claims_at = np.flatnonzero(ok[parent])
    person = {name: col for name, col in columns.items() if name not in ("就医", "大病保险")}
    decided = decide_on_dates(reasoner, pa.table(person), person, parent[claims_at], read.day[claims_at],
                              read.date.take(pa.array(claims_at)))  # the keys: the plans decide the claims
    planner = _Planner(reasoner, records, read)
    pk_of = np.array([planner.person(k) for k in decided.keys or []] + [-1], dtype=np.int64)
    person_key = pk_of[np.where(decided.rows >= 0, decided.rows, len(pk_of) - 1)]
    plan = np.full(len(parent), -1, dtype=np.int64)
    if len(claims_at):
        # one lookup per distinct (person key, 类别, 事实); claims whose policy's conditions read amounts one by one
        keys = pack_codes([person_key, read.kind_code[claims_at], read.fact_code[claims_at]], len(claims_at))
        first, inverse = first_seen(keys)
        found = np.full(len(first) + 1, -1, dtype=np.int64)
        for u, f in enumerate(first.tolist()):  # in claim order: a person's new claims one after another (PersonParts)
            pk = int(person_key[f])
            found[u] = planner.plan(pk, int(claims_at[f])) if pk >= 0 and not planner.reads(pk) else -2
        plan[claims_at] = found[inverse]
        for c in claims_at[plan[claims_at] == -2].tolist():
            pk = int(person_key[np.searchsorted(claims_at, c)])
            plan[c] = planner.plan(pk, c) if pk >= 0 else -1
    return plan, planner.cache.plans


def _settle(read: ClaimColumns, use: np.ndarray, plan: np.ndarray, ordinary: np.ndarray, plans: list[ClaimPlan],
            ordinaries: list[Catastrophic | None]) -> tuple[Settled, np.ndarray, np.ndarray]:
    """Stage 4: the claims in settlement order (row, year, date, position), settled column-wise;
    with each settled claim's row and year."""
    parent, day, index, year = read.parent[use], read.day[use], read.index[use], read.year[use]
    order = np.lexsort((index, day, year, parent))
    use, parent, year = use[order], parent[order], year[order]
    start = np.ones(len(use), dtype=bool)
    start[1:] = (parent[1:] != parent[:-1]) | (year[1:] != year[:-1])
    group = np.cumsum(start) - 1
    step = np.arange(len(use)) - np.flatnonzero(start)[group]
    claims = Claims(group, step, read.cost[use], read.basic[use], plan[use], ordinary[parent])
    return settle_claims(claims, plans, ordinaries, int(group[-1]) + 1 if len(group) else 0), parent, year


def _cells(columns: dict[str, pa.Array], ok: np.ndarray, parent: np.ndarray, year: np.ndarray, settled: Settled,
           first: int) -> dict[str, pa.Array]:
    """Totals per row, as batch_rows.settlement_cells writes them (rows not ok are filled in later)."""
    n = len(ok)
    starts = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
    rows = parent[starts]

    def per_row(values: np.ndarray) -> pa.Array:
        full = np.zeros(n, dtype=np.int64)
        full[rows] = np.add.reduceat(values, starts)
        return pa.array(full)

    numbers = pa.array(np.arange(first, first + n, dtype=np.int64))
    given = _plain_text(columns.get("编号", pa.nulls(n, pa.string())))
    return {"行号": numbers, "编号": pc.if_else(pc.is_valid(given), given, pc.binary_join_element_wise("#", numbers.cast(pa.string()), "")),
            "地区": _plain_text(columns["地区"]), "状态": _texts(n, rows, ["已结算"], np.zeros(len(rows), dtype=np.int64)),
            "年度": _years(n, rows, starts, year),
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
    texts = [str(y) for y in range(int(lo.min()), int(hi.max()) + 1)]  # a row has claims: lo is not empty
    which = lo - lo.min()
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
        count = np.add.reduceat(here.astype(np.int64), starts)
        counts.append(count)
        first_at = np.minimum.reduceat(np.where(here, position, len(status)), starts) - starts
        firsts.append(np.where(count > 0, first_at, -1))  # the same for every row without the status: rows share texts
    first, which = first_seen(pack_codes(firsts + counts, len(starts)))
    texts = []
    for k in first.tolist():
        present = sorted((int(firsts[code][k]), code) for code in range(len(STATUS_TEXT)) if counts[code][k])
        texts.append("；".join(f"{STATUS_TEXT[code]} {int(counts[code][k])}" for _, code in present))
    return _texts(n, rows, texts, which)


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
