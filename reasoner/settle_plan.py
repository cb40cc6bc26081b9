"""This module reduces a claim's Decision to what settling it needs: a ClaimPlan.

Settler (settle.py) reads a Decision piece by piece while it settles one claim and writes
the arithmetic out as text. A batch settles millions of claims that share a few hundred
decisions, so here each distinct decision is read once, with Settler's own views
(settle._number, settle.candidate_view), into plain numbers: which projects pay, in which
order, at which rate, above which deductible, under which caps — per candidate category
where 待遇就高 compares on the money. settle_arrays.py then does Settler's arithmetic on
columns of claims with these numbers; a row's explanation is still Settler's, recomputed
on demand.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from . import ast
from .decide import ITEM_DECIDED, ITEM_UNDECIDED, STATUS_UNDECIDED, Decision
from .person import Catastrophic
from .settle import View, _number, _tilt_of, _tilted, candidate_view, cap_holders, lacking

#: What Settler notes as missing when no catastrophic parameters can be found (settle.Settler._catastrophic).
NO_ORDINARY = "就医记录的「大病保险支付」，或个人记录的「大病保险」参数"


@dataclass(frozen=True)
class ProjectPlan:
    """One 救助项目 on one claim, as one view (the decided values, or one candidate's) gives it."""

    project: str
    after: bool  #: 救助后: paid from what the earlier projects left
    rate: Fraction | None  #: None: the project pays nothing on this claim
    undecided: tuple[str, ...] | None  #: rate None because undecided: what is missing (the claim is then 无法结算)
    deductible: int  #: 分; 0: no deductible
    per_stay: bool  #: 按次起付 rather than once a year
    holders: tuple[tuple[str, int | None], ...]  #: the caps this payment counts against, with their limits (None: no limit)


@dataclass(frozen=True)
class ClaimPlan:
    """Everything Settler reads from a claim's Decision, as numbers."""

    excluded: bool  #: a claim exclusion holds: 不予救助
    open_missing: tuple[str, ...] | None  #: the claim's conditions cannot be decided: 无法结算, with what is missing
    tilted: bool  #: a 大病保险倾斜 item is decided (the catastrophic layer uses `tilt`)
    tilt: ast.Tilt | None
    views: tuple[tuple[ProjectPlan, ...], ...]  #: one view, or one per candidate when 待遇就高 compares on the money

    def catastrophic(self, ordinary: Catastrophic | None) -> tuple[Catastrophic | None, str]:
        """The catastrophic parameters in force, or None and what Settler notes as missing."""
        params, label = _tilted(self.tilt, ordinary)
        return params, (NO_ORDINARY if self.tilt is None else label)


def plan_of(decision: Decision) -> ClaimPlan:
    """The plan of a claim's Decision, read the way Settler.claim reads it."""
    answer = decision.answer
    tilted = any(i.item == "大病保险倾斜" and i.status == ITEM_DECIDED for i in decision.items)
    tilt = _tilt_of(decision.policy, decision) if tilted else None
    excluded = bool(decision.claim_exclusions())
    open_missing = None
    if not excluded and (answer.get("applies_open") or answer.get("claim_open") or decision.status == STATUS_UNDECIDED):
        open_missing = tuple(decision.missing or ["（就医条件无法判断）"])
    projects = decision.projects()
    candidates = [c for c in decision.policy.categories if answer.has("candidate", c)]
    if answer.get("by_bill") and len(candidates) > 1:
        views = tuple(_view(decision, projects, candidate_view(decision, c)) for c in candidates)
    else:
        views = (_view(decision, projects, lambda item, project: _number(decision, item, project)),)
    return ClaimPlan(excluded, open_missing, tilted, tilt, views)


def _view(decision: Decision, projects: list[str], view: View) -> tuple[ProjectPlan, ...]:
    """The projects in payment order (救助后 ones last), as Settler._pay and Settler._project read them."""
    answer = decision.answer
    after = {str(p) for (p,) in answer.get("after")}
    ordered = [p for p in projects if p not in after] + [p for p in projects if p in after]
    out = []
    for project in ordered:
        rate, rate_from = view("救助比例", project)
        undecided = None
        if rate is not None or rate_from == ITEM_UNDECIDED:
            missing = lacking(decision, project, view)
            if rate is None or missing is not None:
                rate, undecided = None, tuple(missing or ())
        deductible, _ = view("救助起付标准", project)
        modes = {str(m) for (p, m) in answer.get("deductible_mode") if p == project}
        holders = cap_holders(decision, project)
        limits = tuple((h, None if (limit := view("年度救助限额", h)[0]) is None else int(limit)) for h in holders)
        out.append(ProjectPlan(project, project in after, rate, undecided, int(deductible or 0), "per_stay" in modes, limits))
    return tuple(out)


__all__ = ["ClaimPlan", "NO_ORDINARY", "ProjectPlan", "plan_of"]
