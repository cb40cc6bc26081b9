"""This module prints what the ledger holds: recorded explanations (why), entries, replay reports.

`why` renders the explanation stored in the entry, never a recomputation: the recorded
JSON is walked the way reasoner.explain walks a live decision, so the text an auditor reads
later is the text the counter would have printed that day (tests check they are equal).
"""
from __future__ import annotations

from typing import Any

from .explain import render_nodes
from .ledger import KIND_DECISION, KIND_LABEL, Entry
from .numeric import yuan
from .ledger_replay import ReplayReport


# ------------------------------------------------------------------ recorded explanations
def render_explanation(explanation: dict[str, Any]) -> str:
    """A recorded decision explanation as Chinese text (what `reasoner explain` printed)."""
    d, p = explanation["decision"], explanation["person"]
    head = [f"决定：{p['id']}（{p['region']}，{p['date']}）— {d['status']}",
            f"所属类别：{'、'.join(d['categories']) or '无'}" + (f"；群体：{'、'.join(d['groups'])}" if d["groups"] else "")]
    if d["missing"]:
        head.append(f"缺少的事实或参数：{'、'.join(d['missing'])}")
    head += [f"注意：{w}" for w in d["warnings"]]
    head.append(f"金额规则：{explanation['rounding']}")
    return "\n".join(head) + "\n\n" + render_nodes(explanation, explanation["roots"])


def _claim_lines(claim: dict[str, Any]) -> list[str]:
    lines = [f"就医 {claim['id']}（{claim['date']}，{claim['kind']}）：政策范围内费用 {yuan(claim['scope_cost_fen'])}，"
             f"基本医保支付 {yuan(claim['basic_paid_fen'])} —— {claim['status']}",
             f"  就医当日：{claim['decision_status']}；类别：{'、'.join(claim['categories']) or '无'}"]
    if claim["catastrophic_text"]:
        lines.append(f"  {claim['catastrophic_text']}")
    lines += [f"  {p['text']}" for p in claim["payments"]] + [f"  {r}" for r in claim["reasons"]]
    if claim["missing"]:
        lines.append(f"  缺少：{'、'.join(claim['missing'])}")
    lines.append(f"  医疗救助合计 {yuan(claim['assistance_fen'])}")
    return lines


def why_text(entry: Entry) -> str:
    """The recorded explanation of an entry: a decision's tree, or a settlement's arithmetic and each claim's tree."""
    head = f"账本条目 {entry.decision_id}（第 {entry.seq} 号，{KIND_LABEL[entry.kind]}，记录于 {entry.recorded_at}，推理器 {entry.reasoner_version}）\n\n"
    if entry.kind == KIND_DECISION:
        return head + render_explanation(entry.data("justification"))
    outputs = entry.data("outputs")
    trees = {c["id"]: c["justification"] for c in entry.data("justification")["claims"]}
    out = [f"结算：{outputs['person']['id']}（{outputs['person']['region']}）{outputs['year']}年，"
           f"医疗救助合计 {yuan(outputs['total_assistance_fen'])}", ""]
    for claim in outputs["claims"]:
        out += _claim_lines(claim) + ["", "  就医当日的决定依据：", _indent(render_explanation(trees[claim["id"]])), ""]
    out.append(f"金额规则：{outputs['rounding']}")
    return head + "\n".join(out) + "\n"


def why_json(entry: Entry) -> dict[str, Any]:
    """The recorded explanation as stored; a settlement's is settlement_json put back together."""
    if entry.kind == KIND_DECISION:
        return dict(entry.data("justification"))
    outputs = entry.data("outputs")
    trees = {c["id"]: c["justification"] for c in entry.data("justification")["claims"]}
    for claim in outputs["claims"]:
        claim["justification"] = trees[claim["id"]]
    return dict(outputs)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line if line else line for line in text.rstrip().splitlines())


# ------------------------------------------------------------------ entries
def entry_line(entry: Entry) -> str:
    """One line per entry for `ledger list`: id, time, kind, person, policy used, outcome."""
    used = "、".join(entry.data("policies")["used"])
    outputs = entry.data("outputs")
    if entry.kind == KIND_DECISION:
        outcome = f"{outputs['status']}；类别：{'、'.join(outputs['categories']) or '无'}"
    else:
        outcome = f"{outputs['year']}年 医疗救助合计 {yuan(outputs['total_assistance_fen'])}"
    return f"{entry.seq:>6}  {entry.decision_id}  {entry.recorded_at}  {KIND_LABEL[entry.kind]}  {entry.person_id}（{entry.region}）  {used}  {outcome}"


def show_text(entry: Entry) -> str:
    """An entry's metadata, the policy versions it used, the parameter values and its input."""
    import json

    policies = entry.data("policies")
    lines = [f"账本条目 {entry.decision_id}", f"  序号：{entry.seq}", f"  时间（UTC）：{entry.recorded_at}",
             f"  类型：{KIND_LABEL[entry.kind]}", f"  个人：{entry.person_id}（{entry.region}）",
             f"  推理器版本：{entry.reasoner_version}", f"  所用政策：{'、'.join(policies['used'])}", "  规则文件："]
    lines += [f"    {f['file']}  {f['name']}（{f['version']}）sha256 {f['sha256']}" for f in policies["rules"]]
    lines += ["  参数文件："] + [f"    {f['file']}  sha256 {f['sha256']}" for f in policies["parameter_files"]]
    lines += ["  参数取值："] + [f"    {r['name']}（{r['region']}{r['year']}年）："
                               f"{yuan(r['value_fen']) if r['value_fen'] is not None else '无已知取值'}；来源：{r['source']}"
                               for r in entry.data("parameters")]
    lines += [f"  运行选项：{entry.input_options}", "  输入记录（按读取时原样）：",
              _indent(json.dumps(entry.data("input_text"), ensure_ascii=False, indent=2), "    "),
              f"  前一哈希：{entry.prev_hash}", f"  本条哈希：{entry.entry_hash}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ replay
def _value(v: Any) -> str:
    if v is None:
        return "（无）"
    return v if isinstance(v, str) else __import__("json").dumps(v, ensure_ascii=False)


def replay_text(report: ReplayReport) -> str:
    entry = report.entry
    where = f"按现行规则（{report.current_rules}）" if report.current_rules else "按记录时的规则文本"
    head = f"重算 {entry.decision_id}（{KIND_LABEL[entry.kind]}，记录于 {entry.recorded_at}）{where}："
    if report.error:
        return f"{head}无法重算：{report.error}\n"
    if report.identical:
        return f"{head}一致\n"
    lines = [f"{head}不一致"]
    if report.changes:
        lines += ["", f"结果的差异（{len(report.changes)} 处）："] + [f"  {c.path}：{_value(c.old)} → {_value(c.new)}" for c in report.changes]
    if report.clause_changes:
        lines += ["", "规则文本的改动："]
        for cc in report.clause_changes:
            lines.append(f"  「{cc.policy}」〔{cc.article}〕")
            lines += [f"    − {x}" for x in cc.removed] + [f"    + {x}" for x in cc.added]
    if report.parameter_changes:
        lines += ["", "参数取值的差异："] + [f"  {c.path}：{_value(c.old)} → {_value(c.new)}" for c in report.parameter_changes]
    for label, old, new in report.steps:
        lines += ["", f"「{label}」记录时的依据：", _indent(old), f"「{label}」现在的依据：", _indent(new)]
    if report.justification_changes and not report.current_rules:
        lines += ["", f"依据（解释）的差异（{len(report.justification_changes)} 处）："]
        lines += [f"  {c.path}：{_value(c.old)} → {_value(c.new)}" for c in report.justification_changes]
    elif report.justification_changes:
        lines += ["", f"依据（解释）另有 {len(report.justification_changes)} 处差异（--json 列出全部）"]
    return "\n".join(lines) + "\n"


def replay_json(report: ReplayReport) -> dict[str, Any]:
    def changes(items: list[Any]) -> list[dict[str, Any]]:
        return [{"path": c.path, "old": c.old, "new": c.new} for c in items]

    return {"decision_id": report.entry.decision_id, "kind": report.entry.kind, "current_rules": report.current_rules,
            "identical": report.identical, "error": report.error, "changes": changes(report.changes),
            "justification_changes": changes(report.justification_changes),
            "clause_changes": [cc.__dict__ | {"removed": list(cc.removed), "added": list(cc.added)} for cc in report.clause_changes],
            "parameter_changes": changes(report.parameter_changes),
            "steps": [{"item": label, "recorded": old, "current": new} for label, old, new in report.steps]}
