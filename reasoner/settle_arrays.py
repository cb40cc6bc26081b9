"""This module does Settler's arithmetic on columns of claims: a whole chunk of persons at once.

Settler (settle.py) settles one person's year claim by claim, because each claim's
deductible and caps depend on what the earlier claims of the year used. The dependency is
only within a person's year, so here the k-th claim of every person-year is settled in one
vectorised step (k = 0, 1, …): the year's state (cumulative catastrophic base and payment,
deductible counted and cap used per project) is an int64 column per person-year, and the
claims of one step are grouped by their ClaimPlan (settle_plan.py), whose numbers are the
same for all of them. Every operation is Settler's, in the same order, in exact integers
(numeric._half_up's rounding, written for arrays; Python integers where int64 could
overflow), so each claim's amounts equal Settler's to the 分 (tests/test_settle_table.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm

import numpy as np

from .codes import first_seen
from .person import Catastrophic
from .settle_plan import ClaimPlan, ProjectPlan

SETTLED, NO_ASSISTANCE, UNDECIDED = 0, 1, 2  #: claim status codes (settle.CLAIM_SETTLED, CLAIM_NO_ASSISTANCE, CLAIM_UNDECIDED)
_SAFE = 1 << 62  #: beyond this an intermediate product leaves int64: Python integers instead


@dataclass
class Claims:
    """A chunk's claims in settlement order (person, year, date): one entry per claim."""

    group: np.ndarray  #: int64 person-year
    step: np.ndarray  #: int64 position in its person-year
    cost: np.ndarray  #: 政策范围内费用, 分
    basic: np.ndarray  #: 基本医保支付, 分
    plan: np.ndarray  #: int64 index into the plans
    ordinary: np.ndarray  #: int64 index into the ordinary catastrophic parameters


@dataclass
class Settled:
    status: np.ndarray  #: SETTLED / NO_ASSISTANCE / UNDECIDED
    catastrophic: np.ndarray
    self_pay: np.ndarray
    assistance: np.ndarray
    missing: dict[int, tuple[str, ...]]  #: claim → what is missing (only claims that note something)


def half_up(n: np.ndarray, d: int) -> np.ndarray:
    """numeric._half_up(n, d) element-wise (halves away from zero)."""
    return np.where(n >= 0, (2 * n + d) // (2 * d), -((d - 2 * n) // (2 * d)))


def times_rate(x: np.ndarray, rate: Fraction) -> np.ndarray:
    """round_fen(x × rate) element-wise: numeric.round_fen_product for a column."""
    num, den = rate.numerator, rate.denominator
    if len(x) and (2 * int(np.abs(x).max()) * abs(num) + den) >= _SAFE:
        return half_up(x.astype(object) * num, den).astype(np.int64)
    return half_up(x * num, den)


class _State:
    """A chunk's year state: one column per quantity, one entry per person-year."""

    def __init__(self, groups: int):
        self.groups = groups
        self.cat_base = np.zeros(groups, dtype=np.int64)
        self.cat_paid = np.zeros(groups, dtype=np.int64)
        self.counted: dict[str, np.ndarray] = {}  #: project → self-pay counted towards its annual deductible
        self.paid: dict[str, np.ndarray] = {}  #: cap holder → assistance paid this year

    def column(self, table: dict[str, np.ndarray], name: str) -> np.ndarray:
        col = table.get(name)
        if col is None:
            col = table[name] = np.zeros(self.groups, dtype=np.int64)
        return col


def settle_claims(claims: Claims, plans: list[ClaimPlan], ordinaries: list[Catastrophic | None], groups: int) -> Settled:
    """Settle every claim: Settler.claim for each, person-years side by side, claims of a year in order."""
    n = len(claims.group)
    out = Settled(np.full(n, SETTLED, dtype=np.int8), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                  np.zeros(n, dtype=np.int64), {})
    state = _State(groups)
    params = _params(claims, plans, ordinaries)
    order = np.argsort(claims.step, kind="stable")
    bounds = np.searchsorted(claims.step[order], np.arange(int(claims.step.max(initial=-1)) + 2))
    for k in range(len(bounds) - 1):
        rows = order[bounds[k]:bounds[k + 1]]
        rows = rows[_catastrophic(claims, rows, params, state, out)]
        _assistance(claims, rows, plans, state, out)
    return out


# ------------------------------------------------------------------ 大病保险
def _params(claims: Claims, plans: list[ClaimPlan], ordinaries: list[Catastrophic | None]) -> tuple[np.ndarray, list[tuple[Catastrophic | None, str]]]:
    """Per claim an index into the distinct (parameters, missing note) its plan and ordinary parameters give."""
    width = max(len(ordinaries), 1)
    pairs = claims.plan * width + claims.ordinary
    first, inverse = first_seen(pairs)
    distinct = pairs[first]
    index: dict[tuple[int, str], int] = {}  # equal parameters (one object per content: person._catastrophic, settle._tilted) once
    found: list[tuple[Catastrophic | None, str]] = []
    remap = []
    for pair in distinct.tolist():
        params = plans[pair // width].catastrophic(ordinaries[pair % width])
        k = index.setdefault((id(params[0]), params[1]), len(found))
        if k == len(found):
            found.append(params)
        remap.append(k)
    return np.array(remap, dtype=np.int64)[inverse], found


def _catastrophic(claims: Claims, rows: np.ndarray, params: tuple[np.ndarray, list[tuple[Catastrophic | None, str]]],
                  state: _State, out: Settled) -> np.ndarray:
    """Settler._catastrophic for one step's claims (the columns take no claim that gives its own
    大病保险支付: those rows are settled by Settler); returns which of them go on to assistance."""
    which, found = params
    g = claims.group[rows]
    base = claims.cost[rows] - claims.basic[rows]
    go_on = np.ones(len(rows), dtype=bool)
    amount = np.zeros(len(rows), dtype=np.int64)
    kinds = which[rows]
    for p in np.unique(kinds).tolist():
        sel = kinds == p
        catastrophic, note = found[p]
        if catastrophic is None:
            go_on &= ~sel
            out.status[rows[sel]] = UNDECIDED
            for r in rows[sel].tolist():
                out.missing[r] = (note,)
            continue
        gs = g[sel]
        before = state.cat_base[gs]
        after = before + base[sel]
        paid = _segments(catastrophic, before, after)
        if catastrophic.cap is not None:
            paid = np.minimum(paid, np.maximum(0, catastrophic.cap - state.cat_paid[gs]))
        state.cat_base[gs] = after
        state.cat_paid[gs] += paid
        amount[sel] = paid
    out.catastrophic[rows] = amount
    out.self_pay[rows[go_on]] = (base - amount)[go_on]
    return go_on


def _segments(params: Catastrophic, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """settle._segment_pieces and round_fen_sum on columns: Σ (hi − lo) × rate over the paying segments, rounded once."""
    den = lcm(*(s.rate.denominator for s in params.segments)) if params.segments else 1
    wide = bool(len(after)) and 2 * int(np.abs(after).max()) * sum(abs(s.rate.numerator) * den // s.rate.denominator
                                                                  for s in params.segments) + den >= _SAFE
    total = np.zeros(len(after), dtype=object if wide else np.int64)
    for i, seg in enumerate(params.segments):
        lower = max(seg.lower, params.deductible) if i == 0 else seg.lower
        upper = np.maximum(after, lower) if seg.upper is None else seg.upper
        piece = np.maximum(np.minimum(after, upper) - np.maximum(before, lower), 0)
        total = total + (piece.astype(object) if wide else piece) * (seg.rate.numerator * den // seg.rate.denominator)
    return half_up(total, den).astype(np.int64)


# ------------------------------------------------------------------ 医疗救助
def _assistance(claims: Claims, rows: np.ndarray, plans: list[ClaimPlan], state: _State, out: Settled) -> None:
    """Settler._assistance for one step's claims, grouped by plan."""
    plan_of = claims.plan[rows]
    for p in np.unique(plan_of).tolist():
        sel = rows[plan_of == p]
        plan = plans[p]
        if plan.excluded:
            out.status[sel] = NO_ASSISTANCE
        elif plan.open_missing is not None:
            out.status[sel] = UNDECIDED
            _note(out, sel, plan.open_missing)
        else:
            _pay(plan, sel, claims.group[sel], state, out)


def _pay(plan: ClaimPlan, rows: np.ndarray, g: np.ndarray, state: _State, out: Settled) -> None:
    """Settler._pay (one view) or Settler._compare (待遇就高 on the money: the first view paying most)."""
    names = sorted({p.project for v in plan.views for p in v} | {h for v in plan.views for p in v for h, _ in p.holders})
    trials = []
    for view in plan.views:
        counted = {name: state.column(state.counted, name)[g] for name in names}
        paid = {name: state.column(state.paid, name)[g] for name in names}
        trials.append((_trial(view, out.self_pay[rows], counted, paid), counted, paid, view))
    best = np.argmax(np.stack([t[0] for t in trials]), axis=0) if len(trials) > 1 else np.zeros(len(rows), dtype=np.int64)
    for v, (total, counted, paid, view) in enumerate(trials):
        sel = best == v
        if not sel.any():
            continue
        out.assistance[rows[sel]] = total[sel]
        for name in names:
            state.counted[name][g[sel]] = counted[name][sel]
            state.paid[name][g[sel]] = paid[name][sel]
        missing = tuple(m for p in view if p.undecided is not None for m in p.undecided)
        if any(p.undecided is not None for p in view):
            out.status[rows[sel]] = UNDECIDED
        elif not any(p.rate is not None for p in view):
            out.status[rows[sel]] = NO_ASSISTANCE
        if missing:
            _note(out, rows[sel], missing)


def _trial(view: tuple[ProjectPlan, ...], self_pay: np.ndarray, counted: dict[str, np.ndarray], paid: dict[str, np.ndarray]) -> np.ndarray:
    """Settler._pay and Settler._project over one view; updates the state copies in place; returns what was paid."""
    remaining = self_pay.copy()
    total = np.zeros(len(self_pay), dtype=np.int64)
    for p in view:
        if p.rate is None:
            continue
        base = remaining if p.after else self_pay
        if p.deductible == 0:
            eligible = base
        elif p.per_stay:
            eligible = np.maximum(0, base - p.deductible)
        else:
            left = np.maximum(0, p.deductible - counted[p.project])
            counted[p.project] = counted[p.project] + base
            eligible = np.maximum(0, base - left)
        pay = times_rate(eligible, p.rate)
        for holder, limit in p.holders:
            if limit is not None:
                pay = np.minimum(pay, np.maximum(0, limit - paid[holder]))
        for holder, _ in p.holders:
            paid[holder] = paid[holder] + pay
        remaining = remaining - pay
        total += pay
    return total


def _note(out: Settled, rows: np.ndarray, missing: tuple[str, ...]) -> None:
    for r in rows.tolist():
        out.missing[r] = out.missing.get(r, ()) + missing


__all__ = ["Claims", "NO_ASSISTANCE", "SETTLED", "Settled", "UNDECIDED", "half_up", "settle_claims", "times_rate"]
