"""This module decides many person records at once, solving each distinct signature once.

A batch makes the same decision as Reasoner.decide for every row, but does the per-person
work only where it differs between persons:

    record ──parse_person (every row: validation)──▶ Person
        ──cheap key: date context (region, date, 待遇年度, 假设参数) → context id,
          identity claims (name, department, recognition and end relative to the date) → claims id
            → layer id (what the identity layer makes of them: GroundPolicy.key, reasoner/layers.py),
          facts present → mask, atomic conditions (numeric layer, int64 columns) → t/f/u codes
        ──key seen before?──▶ summary index            (the common path: dict lookups and numpy)
        ──new key: its signature from the claims id and the codes (Reasoner.claim_signature)
          ──▶ (context, AnswerKey) ──new? one solve ──▶ answer set
        ──new (context, answer set, facts present, per-person amounts): the full decide path
          once, on one representative row checked against the columns
          ──▶ Summary (status, categories, per item: category / value / status)

A key is always at least as fine as the decision inputs (a refinement of the date context
and the AnswerKey — by the splitting set theorem, everything a summary reads of the answer
set), so rows with one key share one summary; the decide path is only ever run on
representatives. Rows that do not fit the common path
(anything malformed, units the columns do not cover) go through the exact per-row path,
so a RecordError (or a PolicySelectionError, or a bad 假设参数) stays in place as that row's
error. BatchResult.explain(i) recomputes the full Decision of row i with Reasoner.decide.

Amounts in the columns are exact: a JSON number becomes 分 in int64 only when that equals
what numeric.parse_money gives (see _money_column); everything else goes through
parse_money itself. Caches (contexts, claims, keys, summaries) live per Reasoner, so a
worker that decides batch after batch stops solving once it has seen the signatures.
The caches are not locked: use one Reasoner per thread. The garbage collector is paused
during a batch (the loop makes many short-lived objects and no cycles).

The results (Summary, BatchResult) live in batch_summary.py and the column converters in
batch_columns.py; batch_table.py is the columnar front for Arrow chunks (it computes the same
contexts, claims ids and fact columns from the cells and calls key_rows and exact_row); whole
roster files, chunking, resumption and the runners (process pool, Dask) are batch_run.py,
partition.py and runners.py.

Two small pieces stand in for refactors of decide.py that would let the batch call one
function instead: _prepare (decide() up to the signature: a Reasoner.prepare) and
_values_key (the key of Reasoner._context's cache: a Reasoner.context_key).
"""
from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ast
from .batch_columns import _bool_column, _frac, _money_column, _other_column, _times
from .batch_summary import BatchConsistencyError, BatchResult, ItemSummary, Summary, _person
from .codes import IntIndex, first_seen
from .compile import CompiledPolicy
from .decide import Prepared, Reasoner
from .numeric import OPS, Evaluated, _side, month_relation, parse_money
from .params import parse_assumed
from .person import Person, RecordError, parse_person
from .policies import PolicySelectionError, Selection
from .solve import Answer, AnswerKey, GroundPolicy, Signature

#: Errors a row may end in; they are kept in place (Reasoner.decide raises the same ones).
#: ValueError is the bare error of parse_assumed (a malformed 假设参数 amount).
ROW_ERRORS = (RecordError, PolicySelectionError, ValueError)

CHUNK = 32768  #: rows per chunk: bounds the transient memory of a batch
_CLAIM_BITS = 24  #: bits of the layer id in a packed key
_CLAIM_MASK = (1 << _CLAIM_BITS) - 1



# ------------------------------------------------------------------ per-reasoner caches
@dataclass
class _Atom:
    """An atomic condition as the columns evaluate it; sides are facts or per-context constants."""

    aid: str
    kind: str  #: "bool", "cmp" or "unknown"
    fact: str = ""  #: bool: the fact
    op: str = ""
    sides: tuple[tuple[str, Any, Any], ...] = ()  #: ("fact", name, rate) or ("op", operand, None)


@dataclass
class _Plan:
    """How one policy's rows are read into columns; vectorised False sends its rows the exact way."""

    policy: CompiledPolicy
    hash: str  #: policy.content_hash (a sha256 of the source: computed once here)
    units: dict[str, str]  #: fact → unit (decl order)
    atoms: list[_Atom]
    key_facts: list[str]  #: facts whose presence is part of the key (used by atoms or per-person values)
    per_person: list[str]  #: facts whose amount enters a value (e.g. 2.2% × 缴费基数): their 分 join the key
    vectorised: bool


@dataclass
class _Ctx:
    """A date context: policy in force, year, region and assumed parameters."""

    id: int
    selection: Selection
    values_key: tuple[Any, ...]
    values: dict[str, Evaluated]
    plan: _Plan
    consts: dict[tuple[str, int], Any]  #: (atom, side) → Fraction | None (parameter not known)
    ground: GroundPolicy
    keys: dict[Any, int] = field(default_factory=dict)  #: packed key → summary index
    claims_ok: np.ndarray = field(default_factory=lambda: _unknown(0))  #: claims id → identity names known to the policy (1/0), −1: not yet known
    layer_of: np.ndarray = field(default_factory=lambda: _unknown(0))  #: claims id → layer id (what the identity layer makes of the claims), −1: not yet known
    layers: dict[tuple[Any, ...], int] = field(default_factory=dict)  #: AnswerKey.layer → layer id
    groups: dict[tuple[str, ...], int] = field(default_factory=dict)  #: fact names in record order → group id


@dataclass(frozen=True)
class FactColumns:
    """A context's facts over some rows: 分 of 金额 facts, 是/否 of 布尔 facts, which cells are
    present (an empty cell is a missing fact), and which rows hold a value the columns cannot
    read exactly (those take the exact per-row path)."""

    money: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    bad: np.ndarray


class _Cache:
    def __init__(self) -> None:
        self.ctx_by_raw: dict[tuple[Any, ...], _Ctx | Exception] = {}
        self.forget_cells()
        self.ctx_by_values: dict[tuple[Any, ...], _Ctx] = {}
        self.ctxs: list[_Ctx] = []
        self.plans: dict[str, _Plan] = {}
        self.claims: dict[tuple[Any, ...], int] = {(): 0}
        self.claim_keys: list[tuple[Any, ...]] = [()]  #: claims id → its key in claims
        self.groups: list[tuple[_Ctx, tuple[str, ...]]] = []  #: group id → (context, fact names in record order)
        self.summaries: list[Summary] = []
        self.summary_index: dict[tuple[Any, ...], int] = {}
        self.by_answer: dict[tuple[Any, ...], int] = {}  #: (context, answer set, facts present, per-person amounts) → summary index
        self.skeys: list[tuple[Any, ...]] = []  #: summary index → its (context, signature, facts present, per-person amounts) key
        self.solves = 0

    def forget_cells(self) -> None:
        """Empty batch_table's own caches keyed by interned cells (its ids have a fixed number of bits)."""
        self.cell_ids: dict[Any, int] = {}  #: interned cell values: 地区 texts, 假设参数 items, 名称|认定部门 pairs
        self.ctx_index = IntIndex()  #: packed (地区, 日期, 待遇年度, 假设参数) → position in ctx_found
        self.ctx_found: list[_Ctx | Exception | None] = []  #: a context, its PolicySelectionError, or None (the exact path)
        self.ctx_slots = np.zeros(0, dtype=np.int64)  #: batch_table._slot of each of ctx_found
        self.claims_index = IntIndex()  #: packed identity entries → claims id

    def claim_id(self, key: tuple[Any, ...]) -> int:
        """Intern the identity claims of a row relative to its date: one claim's (name, department,
        recognition relation, end relation or None), or a tuple of them."""
        cid = self.claims.get(key)
        if cid is None:
            cid = self.claims[key] = len(self.claim_keys)
            self.claim_keys.append(key)
        return cid

    def claim_entries(self, cid: int) -> list[tuple[Any, ...]]:
        """The claims of an interned id, one (name, department, relation, relation) per identity."""
        key = self.claim_keys[cid]
        return [key] if key and isinstance(key[0], str) else list(key)


_CACHES: weakref.WeakKeyDictionary[Reasoner, _Cache] = weakref.WeakKeyDictionary()
_KEY_CACHES: weakref.WeakKeyDictionary[Reasoner, _Cache] = weakref.WeakKeyDictionary()  #: keys only: summaries never solved


def _cache(reasoner: Reasoner, solve: bool = True) -> _Cache:
    caches = _CACHES if solve else _KEY_CACHES
    cache = caches.get(reasoner)
    if cache is None:
        cache = caches[reasoner] = _Cache()
    return cache


def clear_cache(reasoner: Reasoner) -> None:
    """Forget the batch caches of a reasoner (its groundings and answer sets stay)."""
    _CACHES.pop(reasoner, None)
    _KEY_CACHES.pop(reasoner, None)


# ------------------------------------------------------------------ the exact per-row path
_Prepared = Prepared


def _prepare(reasoner: Reasoner, record: Any, index: int) -> Prepared:
    """Reasoner.decide up to the signature (raises what decide raises)."""
    return reasoner.prepare(record, index=index)


def _values_key(reasoner: Reasoner, policy: CompiledPolicy, person: Person) -> tuple[Any, ...]:
    """The key under which Reasoner._context caches a date context's values."""
    return reasoner.context_key(policy, person)


# ------------------------------------------------------------------ the batch
class _Batch:
    def __init__(self, reasoner: Reasoner, records: Sequence[Any], verify: float, solve: bool = True):
        """solve=False: only each row's key (BatchResult.keys), its summary left None — for callers that
        decide more than the person (settlement: the claim's decision); such keys live in their own cache."""
        self.reasoner = reasoner
        self.records = records
        self.solve = solve
        self.cache = _cache(reasoner, solve)
        self.verify = verify
        self.errors: dict[int, Exception] = {}
        self.stats = {"rows": len(records), "errors": 0, "exact_rows": 0, "new_keys": 0, "new_summaries": 0,
                      "solves_before": self.cache.solves}

    # ---------------------------------------------------------- contexts and plans
    def _plan(self, policy: CompiledPolicy) -> _Plan:
        digest = policy.content_hash
        plan = self.cache.plans.get(digest)
        if plan is not None:
            return plan
        units = {d.name.text: d.unit or "" for d in policy.source.decls if d.kind == "fact"}
        atoms: list[_Atom] = []
        ok = True
        used: list[str] = []
        for aid, cond in policy.atoms.items():
            if isinstance(cond, ast.BoolFact):
                name = cond.name.text
                if name not in units:  # not a person fact (e.g. a 就医事实): never known in a person's decision
                    atoms.append(_Atom(aid, "unknown"))
                    continue
                ok &= units[name] == "布尔"
                atoms.append(_Atom(aid, "bool", fact=name))
                used.append(name)
                continue
            sides = []
            for op in (cond.left, cond.right):
                name = op.name.text if isinstance(op, ast.NameRef) else op.of.text if isinstance(op, ast.PercentOf) else None
                if name is not None and name in units:
                    ok &= units[name] == "金额"
                    rate = op.rate if isinstance(op, ast.PercentOf) else 1
                    sides.append(("fact", name, rate))
                    used.append(name)
                else:
                    sides.append(("op", op, None))
            atoms.append(_Atom(aid, "cmp", op=cond.op, sides=tuple(sides)))
        per_person = sorted({v.value.of.text for v in policy.values.values() if _per_person_fact(v.value, units)})
        ok &= all(units[f] == "金额" for f in per_person)
        key_facts = list(dict.fromkeys(used + per_person))
        ok &= _CLAIM_BITS + len(key_facts) + 2 * len(atoms) <= 63  # the key packs into one int64
        plan = _Plan(policy, digest, units, atoms, key_facts, per_person, ok)
        self.cache.plans[digest] = plan
        return plan

    def context_of(self, person: Person) -> _Ctx | Exception:
        """The date context of a parsed row (cached by its raw region, date, 待遇年度 and 假设参数),
        or the error that sends its rows elsewhere: a PolicySelectionError is the row's error,
        any other the exact path's to report."""
        raw_key = (person.region, person.date, person.benefit_year, tuple(person.assumed.items()))
        known = self.cache.ctx_by_raw.get(raw_key)
        return known if known is not None else self._context(person, raw_key)

    def claims_known(self, ctx: _Ctx, cids: np.ndarray) -> np.ndarray:
        """Per row, whether the policy of ctx knows every identity name of the row's claims id (else
        the exact path reports the unknown name, as Reasoner.decide does)."""
        ctx.claims_ok = _grown(ctx.claims_ok, int(cids.max(initial=-1)) + 1)
        ok = ctx.claims_ok[cids]
        if (ok >= 0).all():
            return ok == 1
        known = ctx.plan.policy.identities
        for c in np.unique(cids[ok < 0]).tolist():
            ctx.claims_ok[c] = all(entry[0] in known for entry in self.cache.claim_entries(c))
        return ctx.claims_ok[cids] == 1

    def _context(self, person: Person, raw_key: tuple[Any, ...]) -> _Ctx | Exception:
        try:
            selection = self.reasoner.policies.select(person.region, person.date)
            policy = selection.policy
            vkey = _values_key(self.reasoner, policy, person)
        except (PolicySelectionError, ValueError) as err:
            # a selection error is the row's error (decide raises it right after parsing);
            # a bad 假设参数 is raised by decide only after the identity and fact checks: exact path
            out: _Ctx | Exception = _detach(err)
        else:
            ctx = self.cache.ctx_by_values.get(vkey)
            if ctx is None:
                plan = self._plan(policy)
                values = self.reasoner._context(policy, person, set(plan.units))
                ground = self.reasoner._ground(policy, values, justify=False)  # once per context; summaries need no why
                assumed = parse_assumed(person.assumed)
                lookup = lambda name: self.reasoner.policies.params.lookup(name, person.region, person.year, assumed)
                consts = {}
                for atom in plan.atoms:
                    for k, (kind, op, _) in enumerate(atom.sides):
                        if kind == "op":
                            consts[(atom.aid, k)] = _side(op, {}, plan.units, lookup)[0]
                ctx = _Ctx(len(self.cache.ctxs), selection, vkey, values, plan, consts, ground)
                self.cache.ctxs.append(ctx)
                self.cache.ctx_by_values[vkey] = ctx
            out = ctx
        self.cache.ctx_by_raw[raw_key] = out
        return out

    # ---------------------------------------------------------- the per-row loop
    def run(self) -> BatchResult:
        n = len(self.records)
        out = np.full(n, -1, dtype=np.int32)
        t0 = time.perf_counter()
        for start in range(0, n, CHUNK):
            self._chunk(start, min(n, start + CHUNK), out)
        return self.finish(out, t0)

    def finish(self, out: np.ndarray, t0: float) -> BatchResult:
        """The result of rows decided into out (summary index per row, -1 for an error row)."""
        n = len(out)
        # compact: the distinct summaries this batch uses (in the order the cache first met them)
        valid = out >= 0
        met = np.zeros(len(self.cache.summaries) + 1, dtype=bool)  # summary indices are few: marked, not sorted
        met[out[valid]] = True
        used = np.flatnonzero(met)
        rows = np.full(n, -1, dtype=np.int32)
        rows[valid] = (np.cumsum(met, dtype=np.int32) - 1)[out[valid]]
        summaries = [self.cache.summaries[k] for k in used.tolist()]
        keys = [self.cache.skeys[k] for k in used.tolist()]
        self.stats.update(errors=len(self.errors), distinct_summaries=len(summaries),
                          solves=self.cache.solves - self.stats.pop("solves_before"), seconds=time.perf_counter() - t0)
        return BatchResult(self.reasoner, self.records, rows, summaries, self.errors, self.stats, keys)

    def _chunk(self, start: int, stop: int, out: np.ndarray) -> None:
        """The per-row loop: validate, find the context, intern the claims, note the facts' layout."""
        cache = self.cache
        ctx_by_raw = cache.ctx_by_raw
        claims_ids = cache.claims
        m = stop - start
        group_l = [-1] * m
        claims_l = [0] * m
        values_l: list[tuple[Any, ...]] = [()] * m
        exact: list[int] = []  # rows for the exact per-row path
        errors = self.errors
        relation = month_relation
        for j, r in enumerate(self.records[start:stop]):
            try:
                p = parse_person(r, start + j) if r.__class__ is not Person else r
            except RecordError as err:
                errors[start + j] = _detach(err)
                continue
            try:
                ctx = ctx_by_raw.get((p.region, p.date, p.benefit_year, tuple(p.assumed.items()))) or self.context_of(p)
                if ctx.__class__ is not _Ctx:
                    if isinstance(ctx, PolicySelectionError):
                        errors[start + j] = ctx  # type: ignore[assignment]
                    else:
                        exact.append(start + j)
                    continue
                ids = p.identities
                if ids:
                    d = p.date
                    if len(ids) == 1:
                        c = ids[0]
                        ck: tuple[Any, ...] = (c.name, c.department, relation(c.recognised, d), c.ended and relation(c.ended, d))
                    else:
                        ck = tuple((c.name, c.department, relation(c.recognised, d), c.ended and relation(c.ended, d)) for c in ids)
                    cid = claims_ids.get(ck)
                    if cid is None:
                        cid = cache.claim_id(ck)
                    if not self.claims_known(ctx, np.array([cid]))[0]:
                        exact.append(start + j)
                        continue
                    claims_l[j] = cid
                facts = p.facts
                g = ctx.groups.get(tuple(facts))
                if g is None:
                    g = self._group(ctx, tuple(facts))
                if g < 0:
                    exact.append(start + j)
                    continue
                group_l[j] = g
                values_l[j] = tuple(facts.values())
            except TypeError:  # unhashable values where the key expects plain ones: take the exact path
                exact.append(start + j)
        group_a = np.array(group_l, dtype=np.int32)
        claims_a = np.array(claims_l, dtype=np.int64)
        for g in np.unique(group_a[group_a >= 0]).tolist():
            idx = np.flatnonzero(group_a == g)
            ctx, names = cache.groups[g]
            self._columns(ctx, names, idx, start, claims_a[idx], values_l, out, exact)
        for i in exact:
            self.exact_row(i, out)
        self.stats["exact_rows"] += len(exact)

    def _group(self, ctx: _Ctx, names: tuple[str, ...]) -> int:
        """A group = a context and the fact names of a record, in order; -1 sends the row the exact way."""
        plan = ctx.plan
        if not plan.vectorised or not set(names) <= plan.units.keys():
            g = -1
        else:
            g = len(self.cache.groups)
            self.cache.groups.append((ctx, names))
        ctx.groups[names] = g
        return g

    # ---------------------------------------------------------- columns, atoms, keys
    def _columns(self, ctx: _Ctx, names: tuple[str, ...], idx: np.ndarray, start: int, claims: np.ndarray,
                 values_l: list[tuple[Any, ...]], out: np.ndarray, exact: list[int]) -> None:
        """Rows of one context whose facts have one layout: convert the values into columns, then key them."""
        plan = ctx.plan
        rows = idx.tolist()
        k = len(rows)
        transposed = list(zip(*[values_l[j] for j in rows])) if names else []
        by_name = dict(zip(names, transposed))
        bad = np.zeros(k, dtype=bool)
        present: dict[str, np.ndarray] = {}
        money: dict[str, np.ndarray] = {}
        flags: dict[str, np.ndarray] = {}
        absent = np.zeros(k, dtype=bool)
        for name, unit in plan.units.items():
            col = by_name.get(name)
            if col is None:
                present[name] = absent
                money[name] = np.zeros(k, dtype=np.int64)
                flags[name] = absent
                continue
            if unit == "金额":
                money[name], pres, wrong = _money_column(col)
            elif unit == "布尔":
                flags[name], pres, wrong = _bool_column(col)
            else:  # validated per element, as _typed_facts does
                pres, wrong = _other_column(unit, col)
            present[name] = pres
            bad |= wrong
        self.key_rows(ctx, idx, start, claims, FactColumns(money, present, flags, bad), out, exact)

    def key_rows(self, ctx: _Ctx, idx: np.ndarray, start: int, claims: np.ndarray, facts: FactColumns,
                 out: np.ndarray, exact: list[int]) -> None:
        """Rows of one context, their facts as exact columns: evaluate atoms, key, look up or decide each new key.

        Rows marked bad (a value the columns could not read exactly) are sent the exact way.
        """
        plan = ctx.plan
        money, present, flags, bad = facts.money, facts.present, facts.flags, facts.bad
        k = len(idx)
        absent = np.zeros(k, dtype=bool)
        codes = []
        for atom in plan.atoms:
            if atom.kind == "bool":
                value = flags[atom.fact]
                known = present[atom.fact].copy()
            elif atom.kind == "unknown":
                value = known = absent
            else:
                value, known = self._compare(ctx, atom, money, present, k)
            codes.append(np.where(known, value.astype(np.int64), 2))
        key = self._layer_ids(ctx, claims)
        if np.any(key >= (1 << _CLAIM_BITS)):
            raise OverflowError("超过 2^24 种不同的身份组合")
        shift = _CLAIM_BITS
        for name in plan.key_facts:
            key |= present[name].astype(np.int64) << shift
            shift += 1
        for code in codes:
            key |= code << shift
            shift += 2
        keys: Any = key
        if plan.per_person:  # amounts that enter a value make the key a tuple
            keys = list(zip(key.tolist(), *(np.where(present[f], money[f], -1).tolist() for f in plan.per_person)))
        if bad.any():
            for pos in np.flatnonzero(bad).tolist():
                exact.append(start + int(idx[pos]))
            keep = ~bad
            idx, claims, key = idx[keep], claims[keep], key[keep]
            codes = [c[keep] for c in codes]
            keys = key if not plan.per_person else [kk for kk, b in zip(keys, bad.tolist()) if not b]
        if not len(idx):
            return
        if plan.per_person:
            distinct: dict[Any, int] = {}
            inverse = np.array([distinct.setdefault(kk, len(distinct)) for kk in keys], dtype=np.int64)
            uniq = list(distinct)
            first = np.full(len(uniq), -1, dtype=np.int64)
            for pos, u in enumerate(inverse.tolist()):
                if first[u] < 0:
                    first[u] = pos
        else:
            first, inverse = first_seen(key)
            uniq = key[first].tolist()
        sidx = np.empty(len(uniq), dtype=np.int32)
        unresolved = []
        for u_pos, (u, f) in enumerate(zip(uniq, first.tolist())):
            s = ctx.keys.get(u)
            if s is None:
                s = self._new_key(ctx, start + int(idx[f]), int(claims[f]), int(key[f]), u[1:] if plan.per_person else (),
                                  [int(c[f]) for c in codes])
                if s is None:
                    unresolved.append(u_pos)
                    s = -1
                else:
                    ctx.keys[u] = s
            sidx[u_pos] = s
        out[start + idx] = sidx[inverse]
        if unresolved:
            for pos in np.flatnonzero(np.isin(inverse, unresolved)).tolist():
                exact.append(start + int(idx[pos]))
        if self.verify > 0:
            self._verify(idx + start, out)

    def _layer_ids(self, ctx: _Ctx, claims: np.ndarray) -> np.ndarray:
        """Each row's claims id → the id of what ctx's identity layer makes of those claims: rows
        whose claims differ only in ways the rest of the program cannot see share keys."""
        ctx.layer_of = _grown(ctx.layer_of, int(claims.max(initial=-1)) + 1)
        ids = ctx.layer_of[claims]
        if (ids >= 0).all():
            return ids
        for c in np.unique(claims[ids < 0]).tolist():
            layer = ctx.ground.key(Signature(self._claims_signature(ctx, c), ())).layer
            ctx.layer_of[c] = ctx.layers.setdefault(layer, len(ctx.layers))
        return ctx.layer_of[claims]

    def _claims_signature(self, ctx: _Ctx, cid: int) -> tuple[Any, ...]:
        """A claims id as the claims part of a Signature (Reasoner.signature's, without a parsed row)."""
        policy = ctx.plan.policy
        return tuple(sorted({Reasoner.claim_signature(policy, *e) for e in self.cache.claim_entries(cid)}))

    def _compare(self, ctx: _Ctx, atom: _Atom, money: dict[str, np.ndarray], present: dict[str, np.ndarray],
                 k: int) -> tuple[np.ndarray, np.ndarray]:
        """An atomic comparison over the rows of one context, exactly (cross-multiplied integers)."""
        known = np.ones(k, dtype=bool)
        terms: list[Any] = []  # each side as (int column or int, denominator)
        for s, (kind, name, rate) in enumerate(atom.sides):
            if kind == "fact":
                r = _frac(rate)
                terms.append((money[name], r.numerator, r.denominator))
                known &= present[name]
            else:
                c = ctx.consts[(atom.aid, s)]
                if c is None:
                    return np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
                c = _frac(c)
                terms.append((None, c.numerator, c.denominator))
        (lx, ln, ld), (rx, rn, rd) = terms
        # l = lx·ln/ld, r = rx·rn/rd (x = 1 for constants): compare lx·ln·rd with rx·rn·ld
        lm, rm = ln * rd, rn * ld
        value = OPS[atom.op](_times(lx, lm), _times(rx, rm))
        if not isinstance(value, np.ndarray):  # two constants
            value = np.full(k, bool(value))
        return value, known

    def _new_key(self, ctx: _Ctx, i: int, cid: int, packed: int, amounts: tuple[int, ...], codes: list[int]) -> int | None:
        """The summary of a key met for the first time (row i its representative; packed its key_rows
        key, amounts its per-person amounts). Keys are many and answers few (decide 10⁶: 3,578 keys,
        449 answer sets, 63 summaries), so the key's signature is read from the columns — its claims
        id and atom codes — and solved; only an answer set not met before is decided in full, from
        the representative parsed and prepared the exact way and checked against the columns."""
        self.stats["new_keys"] += 1
        plan = ctx.plan
        present = tuple(bool(packed >> (_CLAIM_BITS + k) & 1) for k in range(len(plan.key_facts)))
        has = dict(zip(plan.key_facts, present))
        pp = tuple(a if has[f] else None for f, a in zip(plan.per_person, amounts))
        known = tuple(sorted((a.aid, c == 1) for a, c in zip(plan.atoms, codes) if c != 2))
        sig = Signature(self._claims_signature(ctx, cid), known)
        skey = (ctx.values_key, ctx.ground.key(sig), present, pp)
        if ctx.layers.get(skey[1].layer) != packed & _CLAIM_MASK:
            raise BatchConsistencyError(f"row {i}: identity layer {packed & _CLAIM_MASK} in the columns but {skey[1].layer} signed")
        s = self._known(skey)
        if s is not None or not self.solve:
            return s if s is not None else self._add(skey, None)  # type: ignore[arg-type]
        answer = self._solved(ctx.ground, skey[1], sig)
        akey = (ctx.values_key, answer.content(), present, pp)  # what Summary.of reads of a decision (_assemble)
        s = self.cache.by_answer.get(akey)
        if s is not None:
            return self._put(skey, self.cache.summaries[s])
        try:
            person = _person(self.records[i], i)
            prep = _prepare(self.reasoner, person, i)
        except ROW_ERRORS:
            return None
        exact_codes = [2 if prep.atoms[a.aid].value is None else int(prep.atoms[a.aid].value) for a in plan.atoms]
        exact_facts = (tuple(person.facts.get(f) is not None for f in plan.key_facts), self._per_person(ctx, person))
        if exact_codes != codes or prep.signature != sig or exact_facts != (present, pp):
            raise BatchConsistencyError(f"row {i}: columns {codes} / {sig} / {(present, pp)} but exact {exact_codes} / {prep.signature} / {exact_facts}")
        self.cache.by_answer[akey] = self._summary(skey, prep, ctx.ground, answer)
        return self.cache.by_answer[akey]

    def _solved(self, ground: GroundPolicy, key: AnswerKey, sig: Signature) -> Answer:
        """sig's answer set, solved as the signature its key shares (GroundPolicy.shared: decide 10⁶ has
        5 conditions, 32 combinations a layer, and most layers read one or two of them)."""
        return self._answer(ground, ground.shared(key) or sig)

    def _per_person(self, ctx: _Ctx, person: Person) -> tuple[Any, ...]:
        return tuple(parse_money(person.facts[f]) if person.facts.get(f) is not None else None for f in ctx.plan.per_person)

    def _summary(self, skey: tuple[Any, ...], prep: _Prepared, ground: GroundPolicy | None = None, answer: Answer | None = None) -> int:
        """The index of the summary for a (context, signature, facts present, per-person amounts) key
        (answer: prep's answer set when the caller has it)."""
        s = self._known(skey)
        if s is None and not self.solve:
            return self._add(skey, None)  # type: ignore[arg-type]
        if s is None:
            if ground is None:
                ground = self.reasoner._ground(prep.selection.policy, prep.values, justify=False)
            if answer is None:
                answer = self._answer(ground, prep.signature)
            decision = self.reasoner._assemble(prep.person, prep.selection, answer, prep.atoms, prep.values, prep.facts)
            s = self._put(skey, Summary.of(decision))
        return s

    def _answer(self, ground: GroundPolicy, sig: Signature) -> Answer:
        if sig not in ground.cache:
            self.cache.solves += 1
        return ground.solve(sig)

    def _put(self, skey: tuple[Any, ...], summary: Summary) -> int:
        """A summary decided here."""
        s = self._add(skey, summary)
        self.stats["new_summaries"] += 1
        return s

    def _known(self, skey: tuple[Any, ...]) -> int | None:
        return self.cache.summary_index.get(skey)

    def _add(self, skey: tuple[Any, ...], summary: Summary) -> int:
        s = len(self.cache.summaries)
        self.cache.summaries.append(summary)
        self.cache.skeys.append(skey)
        self.cache.summary_index[skey] = s
        return s

    def _exact_key(self, prep: _Prepared) -> tuple[Any, ...]:
        policy = prep.selection.policy
        plan = self._plan(policy)
        vkey = _values_key(self.reasoner, policy, prep.person)
        present = tuple(prep.person.facts.get(f) is not None for f in plan.key_facts)
        pp = tuple(prep.facts.get(f) for f in plan.per_person)
        ground = self.reasoner._ground(policy, prep.values, justify=False)
        return (vkey, ground.key(prep.signature), present, pp)

    def exact_row(self, i: int, out: np.ndarray) -> None:
        """Decide row i the way Reasoner.decide does (its error, if any, kept in place)."""
        try:
            prep = _prepare(self.reasoner, self.records[i], i)
        except ROW_ERRORS as err:
            self.errors[i] = _detach(err)
            return
        out[i] = self._summary(self._exact_key(prep), prep)

    def _verify(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Re-decide a sample of rows the exact way and compare (tests; bench --verify)."""
        rng = np.random.default_rng(len(rows))
        sample = rows if self.verify >= 1 else rows[rng.random(len(rows)) < self.verify]
        for i in sample.tolist():
            if out[i] < 0:
                continue
            prep = _prepare(self.reasoner, self.records[i], i)
            s = self._summary(self._exact_key(prep), prep)
            if self.cache.summaries[s] != self.cache.summaries[out[i]]:
                raise BatchConsistencyError(f"row {i}: batch {self.cache.summaries[out[i]]} but exact {self.cache.summaries[s]}")


_EMPTY: dict[str, Any] = {}


def _unknown(size: int) -> np.ndarray:
    return np.full(max(size, 64), -1, dtype=np.int64)


def _grown(table: np.ndarray, size: int) -> np.ndarray:
    """A lookup table by interned id (−1: not yet known) with room for ids below size."""
    if size <= len(table):
        return table
    grown = _unknown(max(2 * len(table), size))
    grown[:len(table)] = table
    return grown


def _detach(err: Exception) -> Exception:
    """Drop the tracebacks of an error kept as a row's result (and of its chained causes):
    their frames would keep a whole chunk's locals alive for as long as the result lives."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__cause__ or e.__context__
    return err



def _per_person_fact(value: Any, units: dict[str, str]) -> bool:
    while isinstance(value, (ast.ByYear, ast.Bounded)):
        if isinstance(value, ast.Bounded):
            value = value.value
        else:
            return any(_per_person_fact(e.value, units) for e in value.entries)
    return isinstance(value, ast.PercentOf) and value.of.text in units


# ------------------------------------------------------------------ entry point
def decide_batch(reasoner: Reasoner, records: Sequence[Any], *, verify: float = 0.0) -> BatchResult:
    """Decide every record (raw dicts as read from JSON/YAML, or Person objects).

    Each row ends either in a summary shared with every row of the same date context and
    signature, or in its own error (RecordError, PolicySelectionError, ValueError for a
    bad 假设参数), in place. verify > 0 re-decides that fraction of rows the exact way and
    raises BatchConsistencyError on any difference (for tests).
    """
    was_enabled = gc.isenabled()
    gc.disable()  # the loop allocates many short-lived objects; collection passes over the input cost more than they free
    try:
        return _Batch(reasoner, records, verify).run()
    finally:
        if was_enabled:
            gc.enable()


__all__ = ["BatchConsistencyError", "BatchResult", "ItemSummary", "Summary", "clear_cache", "decide_batch"]
