"""This module settles a person's claims (就医记录) over a calendar year, to the 分.

Per claim, in date order: a decision as of the claim's date (clingo: categories, the
values chosen under 待遇就高, which 救助项目 apply, whether an exclusion removes the
claim, which caps bind) — then the arithmetic here, in exact integers:

    大病保险   the year's cumulative self-pay after basic insurance, paid by segment above
              the deductible (ordinary parameters, or the policy's tilt over them), capped;
    医疗救助   for each applying project, in the policy's order (救助后 projects last):
              (base − what is left of the deductible) × rate, rounded once (numeric.round_fen),
              then limited by every cap that applies, less what it has already paid this year.

Every number in the explanation names its source: the record, a parameter, or a clause.
"""
from __future__ import annotations

import functools
from copy import deepcopy
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable

from . import ast
from .compile import ITEM_CONST, CompiledPolicy
from .decide import ITEM_DECIDED, ITEM_UNDECIDED, STATUS_UNDECIDED, Citation, Decision, PersonParts, Reasoner
from .numeric import ROUNDING, pct, round_fen, round_fen_product, round_fen_sum, yuan
from .person import Catastrophic, Claim, Person, Segment, parse_person

CLAIM_SETTLED, CLAIM_NO_ASSISTANCE, CLAIM_UNDECIDED = "已结算", "不予救助", "无法结算"


@dataclass
class Payment:
    """What one 救助项目 paid on one claim, and how."""

    project: str
    paid: int
    text: str  #: the arithmetic, e.g. "(12,000.00 − 3,000.00) × 67% = 6,030.00元；…"
    citations: list[Citation] = field(default_factory=list)
    caps: list[str] = field(default_factory=list)  #: the projects whose annual caps this payment counts against
    category: str = ""  #: whose values were applied
    base: int = 0  #: self-pay this project started from
    deducted: int = 0  #: what the deductible kept back
    rate: Fraction = Fraction(0)
    raw: int = 0  #: (base − deducted) × rate, rounded
    capped_by: str = ""  #: the cap holder that bound (raw > paid), if any

    @property
    def cap_cut(self) -> int:
        return self.raw - self.paid


@dataclass
class ClaimResult:
    claim: Claim
    decision: Decision
    status: str
    catastrophic: int = 0  #: 大病保险支付 (given, or computed here)
    catastrophic_text: str = ""
    self_pay: int = 0  #: after basic and catastrophic insurance
    payments: list[Payment] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  #: why no (or not all) assistance
    missing: list[str] = field(default_factory=list)
    cap_use: dict[str, int] = field(default_factory=dict)  #: per cap holder: paid this year after this claim

    @property
    def assistance(self) -> int:
        return sum(p.paid for p in self.payments)


@dataclass
class YearState:
    """What the year has used so far: deductibles met, caps used, catastrophic totals."""

    catastrophic_base: int = 0
    catastrophic_paid: int = 0
    deductible_base: dict[str, int] = field(default_factory=dict)  #: per project: self-pay counted towards its annual deductible
    paid: dict[str, int] = field(default_factory=dict)  #: per project (own or shared cap): assistance paid


@dataclass
class Settlement:
    person: Person
    year: int
    claims: list[ClaimResult]
    state: YearState
    rounding: str = ROUNDING

    @property
    def total_assistance(self) -> int:
        return sum(c.assistance for c in self.claims)


# ------------------------------------------------------------------ 大病保险
_TILTED: dict[tuple[int, int], tuple[ast.Tilt, Catastrophic | None, tuple[Catastrophic | None, str]]] = {}
_TILTED_KEPT = 256


def _tilted(tilt: ast.Tilt | None, ordinary: Catastrophic | None) -> tuple[Catastrophic | None, str]:
    """The catastrophic parameters in force for the person: ordinary, or tilted by the policy.

    Remembered per (tilt, ordinary parameters) object pair (bounded): records of one batch
    share their ordinary parameters (person._catastrophic) and a policy's tilt is one object.
    """
    if tilt is None:
        return ordinary, "普通参保人大病保险参数"
    key = (id(tilt), id(ordinary))
    hit = _TILTED.get(key)
    if hit is not None and hit[0] is tilt and hit[1] is ordinary:  # the entry keeps both alive: ids not reused
        return hit[2]
    out = _tilt_params(tilt, ordinary)
    if len(_TILTED) >= _TILTED_KEPT:
        _TILTED.clear()
    _TILTED[key] = (tilt, ordinary, out)
    return out


def _tilt_params(tilt: ast.Tilt, ordinary: Catastrophic | None) -> tuple[Catastrophic | None, str]:
    needs_ordinary = tilt.deductible is None or not tilt.segments or not tilt.no_cap
    if needs_ordinary and ordinary is None:
        return None, "缺少普通参保人大病保险参数（起付线、分段、封顶线），无法计算倾斜后的大病保险"
    if tilt.deductible is not None:
        deductible = tilt.deductible.fen
    else:
        assert ordinary is not None
        cut = tilt.deductible_cut.rate if tilt.deductible_cut else Fraction(0)
        deductible = round_fen(ordinary.deductible * (1 - cut))
    if tilt.segments:
        segments = tuple(Segment(s.lower.fen, s.upper.fen if s.upper else None, s.rate.rate) for s in tilt.segments)
    else:
        assert ordinary is not None
        raise_by = tilt.rate_raise.rate if tilt.rate_raise else Fraction(0)
        segments = tuple(Segment(s.lower, s.upper, s.rate + raise_by) for s in ordinary.segments)
        # a lowered deductible moves the start of the first paying segment down with it
        segments = (replace(segments[0], lower=min(segments[0].lower, deductible)),) + segments[1:]
    cap = None if tilt.no_cap else (ordinary.cap if ordinary else None)
    return Catastrophic(deductible, segments, cap), "大病保险倾斜支付后的参数"


def _segment_pieces(params: Catastrophic, before: int, after: int) -> list[tuple[int, int, Fraction]]:
    """The parts of the year's cumulative self-pay (before, after] that fall in each paying segment."""
    pieces = []
    for i, seg in enumerate(params.segments):
        lower = max(seg.lower, params.deductible) if i == 0 else seg.lower
        upper = seg.upper if seg.upper is not None else max(after, lower)
        lo, hi = max(before, lower), min(after, upper)
        if hi > lo:
            pieces.append((lo, hi, seg.rate))
    return pieces


def settle_catastrophic(claim: Claim, params: Catastrophic, state: YearState) -> tuple[int, str]:
    base = claim.scope_cost - claim.basic_paid
    before, after = state.catastrophic_base, state.catastrophic_base + base
    pieces = _segment_pieces(params, before, after)
    amount = round_fen_sum([(hi - lo, rate) for lo, hi, rate in pieces])  # = round_fen(Σ (hi − lo) × rate)
    terms = " + ".join(f"({yuan(hi)} − {yuan(lo)}) × {pct(rate)}" for lo, hi, rate in pieces) or "0"
    text = (f"本年累计基本医保后自付 {yuan(before)} → {yuan(after)}，起付线 {yuan(params.deductible)}："
            f"{terms} = {yuan(amount)}")
    if params.cap is not None:
        room = max(0, params.cap - state.catastrophic_paid)
        if amount > room:
            text += f"；封顶线 {yuan(params.cap)}，本年已付 {yuan(state.catastrophic_paid)} → {yuan(room)}"
            amount = room
    else:
        text += "；不设封顶线"
    state.catastrophic_base, state.catastrophic_paid = after, state.catastrophic_paid + amount
    return amount, text


# ------------------------------------------------------------------ 医疗救助
View = Callable[[str, str], tuple[Fraction | None, str]]


def _number(decision: Decision, item: str, project: str) -> tuple[Fraction | None, str]:
    """The decided value of an item for a project: (number, category) or (None, status); "inf" for no cap."""
    it = next((i for i in decision.items if i.item == item and i.scope == project), None)
    if it is None or it.status != ITEM_DECIDED or it.number is None:
        return None, it.status if it else "不适用"
    return (None, "inf") if it.number == "inf" else (_fraction(it.number), it.category or "")


def _fraction(text: str) -> Fraction:
    """Fraction(text) for an ItemDecision.number ("9/10", an amount in 分), remembered per text
    (a policy has few distinct ones)."""
    return _fraction_of(text) if type(text) is str else Fraction(text)


@functools.lru_cache(maxsize=4096)
def _fraction_of(text: str) -> Fraction:
    return Fraction(text)


def candidate_view(decision: Decision, candidate: str) -> View:
    """Items as one candidate category gives them (待遇就高 按 金额); agreed items and groups as decided."""
    def view(item: str, project: str) -> tuple[Fraction | None, str]:
        const = ITEM_CONST[item]
        for (i, s, c, v, _) in decision.answer.get("ranked"):
            if (i, s, c) == (const, project, candidate):
                ev = decision.values[str(v)]
                return (None, "inf") if ev.infinite else (ev.number, candidate)
        if (const, project) in decision.answer.get("by_bill"):
            return None, "不适用"
        return _number(decision, item, project)
    return view


def hypothetical_view(decision: Decision, category: str) -> View:
    """Items as `category` would give them had the person been in it (the why-not-more what-if).

    The category's own best value per item (or the policy's value for every category), unless
    an exclusion that holds would remove it; groups the person is in keep their values; an
    item the category does not give is not applicable.
    """
    answer = decision.answer
    absent = {str(v) for (v,) in answer.get("value_absent")}
    rank = {str(v): r for (v, r) in answer.get("rank")}

    def excluded(const: str) -> bool:
        for (x, i) in answer.get("excl_item"):
            targets = {str(c) for (y, c) in answer.get("excl_for") if y == x}
            applies = not targets or category in targets or any(answer.has("member", c) for c in targets)
            if i == const and applies and answer.has("excl_val", x, "t"):
                return True
        return False

    def view(item: str, project: str) -> tuple[Fraction | None, str]:
        const = ITEM_CONST[item]
        options = [(rank.get(str(v), 0), str(v)) for (i, s, t, v, _) in answer.get("benefit")
                   if (i, s) == (const, project) and t in (category, "all") and str(v) not in absent]
        if options and not excluded(const):
            ev = decision.values[max(options)[1]]
            return (None, "inf") if ev.infinite else (ev.number, category)
        if any((i, s) == (const, project) and str(c) in decision.groups for (i, s, c, _) in answer.get("chosen")):
            return _number(decision, item, project)
        return None, "不适用"
    return view


class Settler:
    """Settles one person's claims of one year; one Settler per (person, year)."""

    def __init__(self, reasoner: Reasoner, person: Person, year: int, view_of: Callable[[Decision], View] | None = None):
        """`view_of` replaces 待遇就高 by given values (what-if: "had the person been in category C")."""
        self.reasoner, self.person, self.year, self.view_of = reasoner, person, year, view_of
        self.state = YearState()
        self.parts = PersonParts()  #: the person part of the decisions, worked out once for all claims (per policy and year)

    def run(self) -> Settlement:
        claims = sorted((c for c in self.person.claims if c.date.year == self.year), key=lambda c: c.date)
        return Settlement(self.person, self.year, [self.claim(c) for c in claims], self.state)

    def claim(self, claim: Claim) -> ClaimResult:
        decision = self.reasoner.decide(self.person, claim, parts=self.parts)
        result = ClaimResult(claim, decision, CLAIM_SETTLED)
        self._catastrophic(result)
        if result.status == CLAIM_UNDECIDED:
            return result
        result.self_pay = claim.scope_cost - claim.basic_paid - result.catastrophic
        self._assistance(result)
        return result

    def _catastrophic(self, result: ClaimResult) -> None:
        claim, decision = result.claim, result.decision
        if claim.catastrophic_paid is not None:
            result.catastrophic = claim.catastrophic_paid
            result.catastrophic_text = f"大病保险支付 {yuan(claim.catastrophic_paid)}（就医记录提供）"
            self.state.catastrophic_base += claim.scope_cost - claim.basic_paid
            self.state.catastrophic_paid += claim.catastrophic_paid
            return
        tilt_item = next((i for i in decision.items if i.item == "大病保险倾斜" and i.status == ITEM_DECIDED), None)
        tilt = _tilt_of(decision.policy, decision) if tilt_item else None
        params, label = _tilted(tilt, self.person.catastrophic)
        if params is None:
            result.status = CLAIM_UNDECIDED
            result.missing.append("就医记录的「大病保险支付」，或个人记录的「大病保险」参数" if tilt is None else label)
            return
        amount, text = settle_catastrophic(claim, params, self.state)
        result.catastrophic = amount
        cite = f" {tilt_item.citation.short()}" if tilt_item and tilt_item.citation else ""
        source = f"，依「{tilt_item.category}」" if tilt_item else ""
        result.catastrophic_text = f"大病保险（{label}{source}）：{text}{cite}"

    def _assistance(self, result: ClaimResult) -> None:
        decision = result.decision
        if decision.claim_exclusions():
            result.status = CLAIM_NO_ASSISTANCE
            result.reasons += [f"就医被排除：“{c.quote}” {c.short()}" for c in decision.claim_exclusions()]
            return
        if decision.answer.get("applies_open") or decision.answer.get("claim_open") or decision.status == STATUS_UNDECIDED:
            result.status = CLAIM_UNDECIDED
            result.missing += decision.missing or ["（就医条件无法判断）"]
            return
        projects = decision.projects()
        candidates = [c for c in decision.policy.categories if decision.answer.has("candidate", c)]
        if self.view_of is not None:
            self._pay(result, projects, self.view_of(decision))
        elif decision.answer.get("by_bill") and len(candidates) > 1:
            self._compare(result, projects, candidates)
        else:
            self._pay(result, projects, lambda item, project: _number(decision, item, project))
        if not result.payments and result.status == CLAIM_SETTLED:
            result.status = CLAIM_NO_ASSISTANCE
            if not projects:
                result.reasons.append(f"「{decision.policy.name}」没有适用于{result.claim.kind}的救助项目")
            if not decision.categories:
                result.reasons.append(f"就医日期 {result.claim.date} 时{decision.status}（所属类别：无）")
                result.reasons += _status_reasons(decision)

    def _pay(self, result: ClaimResult, projects: list[str], view: View) -> None:
        after = {str(p) for (p,) in result.decision.answer.get("after")}
        remaining = result.self_pay
        for project in [p for p in projects if p not in after] + [p for p in projects if p in after]:
            payment = self._project(result, project, remaining if project in after else result.self_pay, view)
            if payment is not None:
                result.payments.append(payment)
                remaining -= payment.paid

    def _compare(self, result: ClaimResult, projects: list[str], candidates: list[str]) -> None:
        """待遇就高 on the money: settle the claim under each candidate category, keep the highest."""
        trials = []
        for cand in candidates:
            trial = ClaimResult(result.claim, result.decision, CLAIM_SETTLED, result.catastrophic,
                                result.catastrophic_text, result.self_pay)
            saved, self.state = self.state, deepcopy(self.state)
            self._pay(trial, projects, candidate_view(result.decision, cand))
            trials.append((trial.assistance, -candidates.index(cand), cand, trial, self.state))
            self.state = saved
        best = max(trials, key=lambda t: (t[0], t[1]))
        _, _, cand, trial, self.state = best
        result.payments, result.cap_use, result.status = trial.payments, trial.cap_use, trial.status
        result.missing += trial.missing
        shown = "；".join(f"依「{c}」可得 {yuan(a)}" for a, _, c, _, _ in trials)
        cite = next((Reasoner.citation(result.decision.policy, str(cl)).short() for (_, cl) in result.decision.answer.get("highest")), "")
        result.reasons.append(f"待遇就高（按金额比较）：{shown} → 取「{cand}」{cite}")

    def _project(self, result: ClaimResult, project: str, base: int, view: View) -> Payment | None:
        decision = result.decision
        rate, rate_from = view("救助比例", project)
        if rate is None and rate_from != ITEM_UNDECIDED:
            if rate_from == "已排除":
                result.reasons.append(f"救助项目「{project}」的救助比例已被排除")
            return None
        missing = lacking(decision, project, view)
        if rate is None or missing is not None:  # an undecided deductible or cap is never read as none
            result.status = CLAIM_UNDECIDED
            result.missing += missing or []
            return None
        deductible, _ = view("救助起付标准", project)
        cap, cap_status = view("年度救助限额", project)
        modes = {str(m) for (p, m) in decision.answer.get("deductible_mode") if p == project}
        parts, cites = [], [c for c in (item_citation(decision, i, project) for i in ("救助起付标准", "救助比例", "年度救助限额")) if c]
        eligible, deductible_text = self._deductible(project, base, int(deductible or 0), "per_stay" in modes)
        if deductible is None:
            deductible_text = f"{yuan(base)}（本项目对其类别未规定起付标准）"
        raw = round_fen_product(eligible, rate)  # = round_fen(eligible × rate)
        parts.append(f"{deductible_text} × {pct(rate)} = {yuan(raw)}")
        paid = raw
        holders = cap_holders(decision, project)
        capped_by = ""
        for holder in holders:
            limit, _ = view("年度救助限额", holder)
            if limit is None:
                continue
            used = self.state.paid.get(holder, 0)
            room = max(0, int(limit) - used)
            parts.append(f"{holder}年度救助限额 {yuan(int(limit))}，本年已付 {yuan(used)}")
            if room < paid:
                paid, capped_by = room, holder
        if cap is None and not any(p == project for (p, x) in decision.answer.get("cap_applies") if x != project):
            parts.append("本项目不设年度限额" if cap_status == "inf" else "本项目未规定年度限额")
        for holder in holders:
            self.state.paid[holder] = self.state.paid.get(holder, 0) + paid
            result.cap_use[holder] = self.state.paid[holder]
        category = rate_from
        sources = " ".join(dict.fromkeys(c.short() for c in cites))
        text = f"救助项目「{project}」（依「{category}」）：" + "；".join(parts) + f" → {yuan(paid)} {sources}"
        return Payment(project, paid, text, cites, holders, category, base, base - eligible, rate, raw, capped_by)

    def _deductible(self, project: str, base: int, deductible: int, per_stay: bool) -> tuple[int, str]:
        """Returns what is above the deductible, and the arithmetic as text."""
        if deductible == 0:
            return base, f"{yuan(base)}（不设起付标准）"
        if per_stay:
            eligible = max(0, base - deductible)
            return eligible, f"({yuan(base)} − 起付标准 {yuan(deductible)}，按次)"
        counted = self.state.deductible_base.get(project, 0)
        left = max(0, deductible - counted)
        self.state.deductible_base[project] = counted + base
        eligible = max(0, base - left)
        return eligible, f"({yuan(base)} − 起付标准余额 {yuan(left)}（起付标准 {yuan(deductible)}，本年已计入 {yuan(counted)}）)"


def cap_holders(decision: Decision, project: str) -> list[str]:
    """The annual caps a project's payment counts against: its own first, then shared ones."""
    return sorted({str(x) for (p, x) in decision.answer.get("cap_applies") if p == project}, key=lambda x: x != project)


def lacking(decision: Decision, project: str, view: View) -> list[str] | None:
    """What is missing when the view leaves the project's rate, deductible or one of its caps
    undecided (None: all are decided, or not applicable): such a claim cannot be settled."""
    holders = cap_holders(decision, project)
    wanted = [("救助比例", project), ("救助起付标准", project), *(("年度救助限额", h) for h in holders)]
    if all(view(item, scope)[1] != ITEM_UNDECIDED for item, scope in wanted):
        return None
    scopes = {project, *holders}
    return list(dict.fromkeys(m for it in decision.items if it.scope in scopes for m in it.missing))


def _status_reasons(decision: Decision) -> list[str]:
    """Why a person held no category on a claim's date: identities not yet (or no longer) in effect,
    recognised by the wrong department, or groups whose benefits another document sets."""
    out = []
    claims = {c.name: c for c in decision.person.identities}
    start = next((Reasoner.citation(decision.policy, str(cl)) for (_, cl) in decision.answer.get("start_rule")), None)
    for (ident,) in sorted(decision.answer.get("not_yet")):
        c = claims[str(ident)]
        out.append(f"身份「{ident}」认定于 {c.recognised}，就医日期 {decision.person.date} 时尚未生效" + (f" {start.short()}" if start else ""))
    for (ident,) in sorted(decision.answer.get("expired")):
        if not decision.answer.has("in_effect", ident):
            out.append(f"身份「{ident}」已于 {claims[str(ident)].ended} 终止")
    for (ident, dept) in sorted(decision.answer.get("wrong_dept")):
        out.append(f"身份「{ident}」应由{decision.policy.identities.get(str(ident))}部门认定，记录为「{claims[str(ident)].department}」")
    for (target, document, cl) in sorted(decision.answer.get("delegated")):
        if decision.answer.has("member", target):
            out.append(f"「{target}」的待遇另行规定：{document} {Reasoner.citation(decision.policy, str(cl)).short()}")
    return out


def item_citation(decision: Decision, item: str, project: str) -> Citation | None:
    it = next((i for i in decision.items if i.item == item and i.scope == project), None)
    return it.citation if it else None


def _tilt_of(policy: CompiledPolicy, decision: Decision) -> ast.Tilt | None:
    for (item, _, _, vid) in decision.answer.get("chosen"):
        if item == "tilt":
            value = policy.values[str(vid)].value
            return value if isinstance(value, ast.Tilt) else None
    return None


def settle(reasoner: Reasoner, record: Person | dict[str, Any], year: int | None = None) -> list[Settlement]:
    """Settle the claims of a record: one Settlement per calendar year (or only the year asked)."""
    person = record if isinstance(record, Person) else parse_person(record)
    reasoner.policies.local(person.region)  # a region without a policy is an error even with nothing to settle
    if not any(year is None or c.date.year == year for c in person.claims):
        # nothing to settle: the record is still checked as its decision on 日期 would check it
        # (an identity, fact or 假设参数 the policy in force does not know is its error)
        reasoner.prepare(person)
    years = sorted({c.date.year for c in person.claims}) if year is None else [year]
    return [Settler(reasoner, person, y).run() for y in years]
