"""This module renders a year's settlement: the table an auditor reads, its arithmetic, and JSON.

The table has one row per claim (each layer's payment) and, per cap, the year's use after
the claim; the explanation gives each claim's arithmetic with every number's source and
clause; the JSON carries the same with exact amounts in 分.
"""
from __future__ import annotations

from typing import Any

from .decide import Citation
from .explain import SCHEMA as DECISION_SCHEMA
from .explain import cite_json, explain_json
from .numeric import ROUNDING, yuan
from .settle import ClaimResult, Settlement
from .version import __version__

SCHEMA = "yiliao-jiuzhu-reasoner/settlement/1"


def _cap_columns(settlement: Settlement) -> list[str]:
    seen: list[str] = []
    for claim in settlement.claims:
        for p in claim.payments:
            for holder in p.caps:
                if holder not in seen:
                    seen.append(holder)
    return seen


def table_text(settlement: Settlement) -> str:
    caps = _cap_columns(settlement)
    head = ["就医", "日期", "类别", "政策范围内费用", "基本医保", "大病保险", "医保后自付", "医疗救助", "个人负担", "结果"]
    head += [f"{c}限额已用" for c in caps]
    rows = [head]
    for c in settlement.claims:
        row = [c.claim.id, str(c.claim.date), c.claim.kind, yuan(c.claim.scope_cost), yuan(c.claim.basic_paid),
               yuan(c.catastrophic), yuan(c.self_pay), yuan(c.assistance), yuan(c.self_pay - c.assistance), c.status]
        row += [yuan(c.cap_use.get(h, 0)) if h in c.cap_use else "" for h in caps]
        rows.append(row)
    total = settlement.claims
    rows.append(["合计", "", "", yuan(sum(c.claim.scope_cost for c in total)), yuan(sum(c.claim.basic_paid for c in total)),
                 yuan(sum(c.catastrophic for c in total)), yuan(sum(c.self_pay for c in total)),
                 yuan(settlement.total_assistance), yuan(sum(c.self_pay - c.assistance for c in total)), ""] + [""] * len(caps))
    return _grid(rows)


def _grid(rows: list[list[str]]) -> str:
    from .diagnostics import display_width

    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        lines.append("  ".join(cell + " " * (w - display_width(cell)) for cell, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _cite(c: Citation) -> str:
    interp = "".join(f"\n        解释「{k}」：{t}" for k, t in c.interpretations)
    return f"{c.short()}“{c.quote}”{interp}"


def claim_text(c: ClaimResult, with_quotes: bool = False) -> str:
    claim, decision = c.claim, c.decision
    lines = [f"就医 {claim.id}（{claim.date}，{claim.kind}）：政策范围内费用 {yuan(claim.scope_cost)}，"
             f"基本医保支付 {yuan(claim.basic_paid)} —— {c.status}",
             f"  就医当日：{decision.status}；类别：{'、'.join(decision.categories) or '无'}"]
    if c.catastrophic_text:
        lines.append(f"  {c.catastrophic_text}")
    if c.status != "无法结算":
        lines.append(f"  医保后自付 = {yuan(claim.scope_cost)} − {yuan(claim.basic_paid)} − {yuan(c.catastrophic)} = {yuan(c.self_pay)}")
    for p in c.payments:
        lines.append(f"  {p.text}")
        if with_quotes:
            lines += [f"      {_cite(cite)}" for cite in p.citations]
    lines += [f"  {r}" for r in c.reasons]
    if c.missing:
        lines.append(f"  缺少：{'、'.join(c.missing)}")
    if c.status != "无法结算":
        lines.append(f"  医疗救助合计 {yuan(c.assistance)}；个人负担 {yuan(c.self_pay - c.assistance)}")
    return "\n".join(lines)


def settlement_text(settlement: Settlement, explain: bool = True) -> str:
    p = settlement.person
    out = [f"结算：{p.id}（{p.region}）{settlement.year}年，{len(settlement.claims)} 条就医记录", "", table_text(settlement)]
    if explain:
        out += [claim_text(c) + "\n" for c in settlement.claims]
        cited = {x.short(): x for c in settlement.claims for p in c.payments for x in p.citations}
        if cited:
            out += ["所引条款："] + [f"  {_cite(x)}" for x in cited.values()] + [""]
    out.append(f"金额规则：{ROUNDING}")
    return "\n".join(out) + "\n"


def settlement_json(settlement: Settlement) -> dict[str, Any]:
    claims = []
    for c in settlement.claims:
        claims.append({
            "id": c.claim.id, "date": str(c.claim.date), "kind": c.claim.kind, "status": c.status,
            "policy": c.decision.policy.name, "decision_status": c.decision.status, "categories": c.decision.categories,
            "scope_cost_fen": c.claim.scope_cost, "basic_paid_fen": c.claim.basic_paid,
            "catastrophic_fen": c.catastrophic, "catastrophic_text": c.catastrophic_text,
            "self_pay_fen": c.self_pay, "assistance_fen": c.assistance,
            "payments": [{"project": p.project, "paid_fen": p.paid, "text": p.text, "clauses": [cite_json(x) for x in p.citations]}
                         for p in c.payments],
            "cap_use_fen": c.cap_use, "reasons": c.reasons, "missing": c.missing,
            "justification": explain_json(c.decision),
        })
    return {"schema": SCHEMA, "decision_schema": DECISION_SCHEMA, "reasoner_version": __version__,
            "person": {"id": settlement.person.id, "region": settlement.person.region}, "year": settlement.year,
            "rounding": ROUNDING, "total_assistance_fen": settlement.total_assistance, "claims": claims}
