"""This module answers the auditor's "why not more?" for a payout.

Two halves, both cited to the clause:

    what held the payout down   per claim, from the settlement's own arithmetic: the part
                                the deductible kept back, the part the rate leaves to the
                                person, what a cap cut off, exclusions, missing facts;
    what a better category      every category the person was not in, settled over the same
    would have paid             claims as if they had been (settle.hypothetical_view), kept
                                when it pays more; each with the conditions that failed
                                (explain.why_not_step). The smallest gain is the next better one.

A record without claims gets the item-level half: the categories whose values rank above
the ones decided, item by item.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .decide import Citation, Decision, Reasoner
from .explain import Step, cite_json, render_text, steps_json, why_not_step
from .numeric import pct, yuan
from .person import Person, parse_person
from .settle import (CLAIM_NO_ASSISTANCE, CLAIM_UNDECIDED, ClaimResult, Settlement, Settler, hypothetical_view,
                     item_citation, settle)

SCHEMA = "yiliao-jiuzhu-reasoner/why-not-more/1"


@dataclass
class Limit:
    """One thing that kept a claim's assistance below the self-pay."""

    claim: str
    kind: str  #: 起付标准 / 救助比例 / 年度救助限额 / 未予救助 / 无法结算
    amount: int | None  #: 分 it kept back, where it is a number
    text: str
    citations: list[Citation] = field(default_factory=list)


@dataclass
class Alternative:
    """A category the person was not in that would have paid more (or given better values)."""

    category: str
    total: int | None  #: 分 over the same claims; None at item level
    why_not: Step
    better_items: list[str] = field(default_factory=list)  #: item level: "救助比例（住院）：90% 高于 70%"
    next_better: bool = False


@dataclass
class WhyNotMore:
    person: Person
    year: int | None
    paid: int | None  #: 分, None without claims
    limits: list[Limit]
    alternatives: list[Alternative]

    def text(self) -> str:
        return why_not_more_text(self)

    def to_json(self) -> dict[str, Any]:
        return why_not_more_json(self)


# ------------------------------------------------------------------ what held the payout down
def claim_limits(c: ClaimResult) -> list[Limit]:
    cid = c.claim.id
    if c.status == CLAIM_UNDECIDED:
        return [Limit(cid, "无法结算", None, f"缺少：{'、'.join(c.missing) or '（条件无法判断）'}")]
    if c.status == CLAIM_NO_ASSISTANCE:
        return [Limit(cid, "未予救助", c.self_pay, "；".join(c.reasons) or "没有适用的救助项目")]
    out: list[Limit] = []
    for p in c.payments:
        def cite(item: str) -> list[Citation]:
            found = item_citation(c.decision, item, p.project)
            return [found] if found else []
        if p.deducted:
            out.append(Limit(cid, "起付标准", p.deducted, f"救助项目「{p.project}」起付标准扣除 {yuan(p.deducted)}", cite("救助起付标准")))
        left = p.base - p.deducted - p.raw
        if left:
            out.append(Limit(cid, "救助比例", left, f"救助项目「{p.project}」按 {pct(p.rate)} 救助，其余 {yuan(left)} 由个人负担", cite("救助比例")))
        if p.cap_cut:
            out.append(Limit(cid, "年度救助限额", p.cap_cut,
                             f"「{p.capped_by}」年度救助限额已用尽或不足，少付 {yuan(p.cap_cut)}", cite("年度救助限额")))
    return out


# ------------------------------------------------------------------ what a better category would pay
def _outside(decisions: list[Decision]) -> list[str]:
    """Categories (not groups) the person was in on none of the claim dates."""
    policy = decisions[0].policy
    held = {c for d in decisions for c in d.categories}
    return [c for c, is_group in policy.categories.items() if c not in held and not is_group]


def settled_alternatives(reasoner: Reasoner, s: Settlement) -> list[Alternative]:
    decisions = [c.decision for c in s.claims]
    out = []
    for category in _outside(decisions):
        trial = Settler(reasoner, s.person, s.year, view_of=lambda d, c=category: hypothetical_view(d, c)).run()
        if trial.total_assistance > s.total_assistance:
            out.append(Alternative(category, trial.total_assistance, why_not_step(decisions[-1], category)))
    order = list(decisions[0].policy.categories)
    out.sort(key=lambda a: (a.total, order.index(a.category)))
    for a in out:
        a.next_better = a.total == out[0].total
    return out


def item_alternatives(decision: Decision) -> list[Alternative]:
    """Item level: for each category not held, the items where its value ranks above the decided one."""
    answer = decision.answer
    rank = {str(v): r for (v, r) in answer.get("rank")}
    absent = {str(v) for (v,) in answer.get("value_absent")}
    chosen = {(i, s): str(v) for (i, s, _, v) in answer.get("chosen")}
    out = []
    for category in _outside([decision]):
        better = []
        for (i, s, t, v, _) in sorted(answer.get("benefit"), key=str):
            now = chosen.get((i, s))
            if t not in (category, "all") or str(v) in absent or rank.get(str(v)) is None:
                continue
            if now is None or rank[str(v)] > rank.get(now, -1):
                it = next((x for x in decision.items if (x.item, x.scope) == (_label(i), s)), None)
                was = it.value if it and it.value else "无"
                better.append(f"{_label(i)}{f'（{s}）' if s else ''}：{decision.values[str(v)].display}（现为 {was}）")
        if better:
            out.append(Alternative(category, None, why_not_step(decision, category), better))
    return out


def _label(const: Any) -> str:
    from .compile import ITEM_LABEL
    return ITEM_LABEL[str(const)]


def why_not_more(reasoner: Reasoner, record: Person | dict[str, Any], year: int | None = None) -> list[WhyNotMore]:
    """Per settled year (or the decision, for a record without claims): limits and better categories."""
    person = record if isinstance(record, Person) else parse_person(record)
    if not person.claims:
        decision = reasoner.decide(person)
        return [WhyNotMore(person, None, None, [], item_alternatives(decision))]
    out = []
    for s in settle(reasoner, person, year):
        limits = [lim for c in s.claims for lim in claim_limits(c)]
        out.append(WhyNotMore(person, s.year, s.total_assistance, limits, settled_alternatives(reasoner, s)))
    return out


# ------------------------------------------------------------------ output
def why_not_more_text(w: WhyNotMore) -> str:
    p = w.person
    lines = [f"为何没有多付：{p.id}（{p.region}）" + (f"{w.year}年，医疗救助实付 {yuan(w.paid)}" if w.paid is not None else "，按决定日期的待遇")]
    if w.paid is not None:
        lines += ["", "一、限制本年支付的因素（逐笔就医）："]
        lines += [f"  就医 {lim.claim}：{lim.kind}：{lim.text} " + "".join(c.short() for c in lim.citations) for lim in w.limits] or ["  （无：自付部分已全部救助）"]
    head = "二、更优的类别" if w.paid is not None else "更优的类别（按决定日期逐项比较待遇）"
    lines += ["", f"{head}：" if w.alternatives else f"{head}：无（没有其他类别能给出更优的待遇）"]
    for a in w.alternatives:
        if a.total is not None and w.paid is not None:
            tag = "（紧邻的更优类别）" if a.next_better else ""
            lines.append(f"  「{a.category}」{tag}：同样的就医可得 {yuan(a.total)}，多 {yuan(a.total - w.paid)}")
        else:
            lines.append(f"  「{a.category}」：" + "；".join(a.better_items))
        lines.append("    为何不属于：")
        lines += ["      " + row for row in render_text([a.why_not]).rstrip().splitlines()]
    return "\n".join(lines) + "\n"


def why_not_more_json(w: WhyNotMore) -> dict[str, Any]:
    def alt(a: Alternative) -> dict[str, Any]:
        roots, nodes = steps_json([a.why_not])
        return {"category": a.category, "total_fen": a.total, "gain_fen": None if a.total is None or w.paid is None else a.total - w.paid,
                "next_better": a.next_better, "better_items": a.better_items, "why_not": {"roots": roots, "nodes": nodes}}
    return {"schema": SCHEMA, "person": {"id": w.person.id, "region": w.person.region}, "year": w.year, "paid_fen": w.paid,
            "limits": [{"claim": lim.claim, "kind": lim.kind, "amount_fen": lim.amount, "text": lim.text,
                        "clauses": [cite_json(c) for c in lim.citations]} for lim in w.limits],
            "alternatives": [alt(a) for a in w.alternatives]}
