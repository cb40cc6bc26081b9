"""This module turns a decision's justification graph into explanations for people and machines.

The graph comes from the answer set (why/because atoms of asp/justify.lp); this module
only names its nodes in Chinese, attaches the clause citations (with their
interpretations) and the numbers the numeric layer used, and prints. The JSON form is a
flat, versioned node list (schema in docs/explanation-schema.md) so that a saved
explanation can be read and checked later against the policy's content hash.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from .version import __version__ as REASONER_VERSION
from .compile import ITEM_CONST, ITEM_LABEL
from .decide import ITEM_DECIDED, Citation, Decision, Reasoner
from .numeric import ROUNDING, ParamReading
from .solve import Term

SCHEMA = "yiliao-jiuzhu-reasoner/explanation/1"
RELATION = {"before_month": "早于决定日期所在月份", "same_month": "与决定日期同月（且不晚于决定日期）", "after": "晚于决定日期"}


#: Conclusions whose wording needs only their arguments (the others are methods of GraphReader).
TEMPLATES: dict[str, tuple[str, str]] = {
    "lacks": ("不具有有效身份「{0}」", "结论"),
    "not_claimed": ("个人记录中没有身份「{0}」", "输入事实"),
    "member": ("属于「{0}」", "结论"),
    "nonmember": ("不属于「{0}」", "结论"),
    "undetermined": ("无法判断是否属于「{0}」", "结论"),
    "applies": ("救助项目「{0}」适用于本次就医", "结论"),
    "claim_blocked": ("本次就医不纳入医疗救助", "结论"),
    "cap_applies": ("救助项目「{0}」的支付计入「{1}」的年度限额", "结论"),
    "after": ("救助项目「{0}」以其他救助后的剩余负担为基数", "结论"),
    "candidate": ("「{0}」参加按金额的待遇就高比较", "结论"),
}


@dataclass
class Step:
    """One conclusion with the clause that licenses it and its premises."""

    key: str  #: the ASP term, stable across runs
    text: str  #: Chinese
    citations: list[Citation] = field(default_factory=list)
    premises: list["Step"] = field(default_factory=list)
    kind: str = "结论"  #: 结论 / 输入事实 / 数值


def term_key(term: Term) -> str:
    if isinstance(term, tuple):
        return f"{term[0]}({','.join(term_key(a) for a in term[1:])})"
    return f'"{term}"' if isinstance(term, str) and (not term or not term.isascii()) else str(term)


class GraphReader:
    """Names the nodes of one decision's justification graph."""

    def __init__(self, decision: Decision):
        self.d = decision
        self.policy = decision.policy
        self.why: dict[Term, list[str]] = {}
        self.because: dict[Term, list[Term]] = {}
        for concl, clause in decision.answer.get("why"):
            self.why.setdefault(concl, []).append(str(clause))
        for concl, prem in decision.answer.get("because"):
            self.because.setdefault(concl, []).append(prem)
        self._claims = {c.name: c for c in decision.person.identities}
        self._memo: dict[Term, Step] = {}

    def step(self, term: Term, depth: int = 0) -> Step:
        if term in self._memo:
            return self._memo[term]
        text, kind = self.describe(term)
        cites = [Reasoner.citation(self.policy, c) for c in sorted(set(self.why.get(term, [])))]
        node = Step(term_key(term), text, cites, kind=kind)
        self._memo[term] = node
        if depth < 40:
            node.premises = [self.step(p, depth + 1) for p in sorted(self.because.get(term, []), key=term_key)]
        return node

    # ---------------------------------------------------------------- naming
    def describe(self, term: Term) -> tuple[str, str]:
        if not isinstance(term, tuple):
            return str(term), "结论"
        name, *args = term
        if name in TEMPLATES:
            text, kind = TEMPLATES[name]
            return text.format(*args), kind
        method = getattr(self, f"_{name}", None)
        return method(*args) if method else (term_key(term), "结论")

    def _val(self, nid: Term, value: Term) -> tuple[str, str]:
        node = self.policy.nodes[str(nid)]
        verdict = {"t": "成立", "f": "不成立", "u": "无法判断"}[str(value)]
        return f"条件「{node.label}」{verdict}", "结论"

    def _claim_text(self, ident: str) -> str:
        claim = self._claims.get(ident)
        if not claim:
            return ""
        end = f"，终止日期 {claim.ended}" if claim.ended else ""
        return f"{claim.department}认定，认定日期 {claim.recognised}{end}"

    def _holds(self, ident: Term) -> tuple[str, str]:
        return f"具有有效身份「{ident}」（{self._claim_text(str(ident))}）", "结论"


    def _claimed(self, ident: Term, dept: Term) -> tuple[str, str]:
        return f"个人记录：身份「{ident}」，{self._claim_text(str(ident))}", "输入事实"


    def _in_effect(self, ident: Term) -> tuple[str, str]:
        return f"身份「{ident}」在决定日期 {self.d.person.date} 已生效", "结论"

    def _recog(self, ident: Term, relation: Term) -> tuple[str, str]:
        claim = self._claims.get(str(ident))
        when = claim.recognised if claim else "?"
        return f"认定日期 {when} {RELATION[str(relation)]}（决定日期 {self.d.person.date}）", "数值"

    def _not_yet(self, ident: Term) -> tuple[str, str]:
        return f"身份「{ident}」在决定日期 {self.d.person.date} 尚未生效", "结论"

    def _expired(self, ident: Term) -> tuple[str, str]:
        return f"身份「{ident}」在决定日期前已终止（{self._claim_text(str(ident))}）", "结论"

    def _wrong_dept(self, ident: Term, dept: Term) -> tuple[str, str]:
        right = self.policy.identities.get(str(ident)) or "?"
        claim = self._claims.get(str(ident))
        actual = claim.department if claim else str(dept)
        return f"身份「{ident}」应由{right}部门认定，记录中的认定部门为「{actual}」，不予认可", "结论"

    def _atom_val(self, aid: Term, value: Term) -> tuple[str, str]:
        result = self.d.atom_results[str(aid)]
        return f"{result.text}：{'成立' if value == 't' else '不成立'}{param_sources(result.params)}", "数值"

    def _atom_missing(self, aid: Term) -> tuple[str, str]:
        result = self.d.atom_results[str(aid)]
        return f"{result.text}：无法判断，缺少 {'、'.join(m.describe() for m in result.missing)}", "数值"




    def _chosen(self, item: Term, scope: Term, cat: Term, vid: Term) -> tuple[str, str]:
        label = ITEM_LABEL[str(item)] + (f"（{scope}）" if scope else "")
        return f"{label}：{self.d.values[str(vid)].display}，依「{cat}」", "结论"

    def _claim_kind(self, kind: Term) -> tuple[str, str]:
        claim = self.d.claim
        return f"就医记录{' ' + claim.id if claim else ''}：类别「{kind}」", "输入事实"




    def _deductible_mode(self, project: Term, mode: Term) -> tuple[str, str]:
        return f"救助项目「{project}」的起付标准{'按年累计' if mode == 'annual' else '按次扣除'}", "结论"



    def _blocked(self, item: Term, scope: Term, cat: Term, xid: Term) -> tuple[str, str]:
        label = ITEM_LABEL[str(item)] + (f"（{scope}）" if scope else "")
        return f"「{cat}」的{label}被排除", "结论"

    def _excl_open(self, item: Term, scope: Term, cat: Term, xid: Term) -> tuple[str, str]:
        label = ITEM_LABEL[str(item)] + (f"（{scope}）" if scope else "")
        return f"无法判断「{cat}」的{label}是否被排除", "结论"


def param_sources(readings: Iterable[ParamReading]) -> str:
    """Where each parameter value came from: the parameter file's source line or the caller's assumption."""
    shown = [f"{r.name}（{r.region}{r.year}年）来源：{r.source}" for r in readings if r.fen is not None]
    return f"〔{'；'.join(shown)}〕" if shown else ""


def roots(decision: Decision) -> list[Step]:
    """The top of the explanation: one step per benefit item, then status."""
    reader = GraphReader(decision)
    out = [Step("policy", decision.selection_note, kind="政策选择")]
    for it in decision.items:
        item_const, scope = ITEM_CONST[it.item], it.scope
        if it.status == ITEM_DECIDED:
            chosen = [t for t in decision.answer.get("chosen") if (t[0], t[1]) == (item_const, scope)]
            step = reader.step(("chosen", *sorted(chosen)[0]))
            readings = decision.values[str(sorted(chosen)[0][3])].params
            if any(r.fen is not None for r in readings):
                step.premises.append(Step(f"param({item_const},{scope})", f"参数取值{param_sources(readings)}", kind="数值"))
            for alt in it.lost:
                verdict = "与所选相同，按类别顺序取前者" if alt.value == it.value else "不及所选，未采用"
                step.premises.append(Step(f"lost({item_const},{alt.category})",
                                          f"待遇就高：「{alt.category}」可得 {alt.value}，{verdict}", [alt.citation], kind="比较"))
            out.append(step)
        else:
            blocked = [t for t in decision.answer.get("blocked") if (t[0], t[1]) == (item_const, scope)]
            step = Step(f"item({item_const},{scope})", f"{it.label}：{it.status}" + (f"（缺少：{'、'.join(it.missing)}）" if it.missing else ""))
            step.premises = [reader.step(("blocked", *t)) for t in sorted(blocked)]
            out.append(step)
    for cat in decision.undetermined:
        out.append(reader.step(("undetermined", cat)))
    return out


# ------------------------------------------------------------------ text
def cite_lines(c: dict[str, Any]) -> list[str]:
    """A clause (as in the JSON) as printed under a step: reference, quote, file:line, interpretations."""
    lines = [f"〔{c['document']} {c['article']}〕“{c['quote']}”（{c['file']}:{c['line']}）"]
    lines += [f"  解释「{i['key']}」：{i['text']}" for i in c.get("interpretations", [])]
    return lines


N = TypeVar("N")


def render_tree(tops: list[N], key: Callable[[N], str], text: Callable[[N], str], cites: Callable[[N], list[str]],
                premises: Callable[[N], list[N]], max_depth: int = 12) -> str:
    """One layout for every justification tree (live Steps, or nodes read back from JSON):
    a shared premise is drawn once and then marked 同上."""
    out: list[str] = []
    shown: set[str] = set()

    def walk(node: N, depth: int, prefix: str, last: bool) -> None:
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        below = premises(node)
        again = key(node) in shown and below
        out.append(f"{prefix}{branch}{text(node)}{'（同上）' if again else ''}")
        child_prefix = prefix + ("" if depth == 0 else ("   " if last else "│  "))
        if again:
            return
        shown.add(key(node))
        out.extend(f"{child_prefix}   {line}" for line in cites(node))
        if depth >= max_depth:
            return
        for i, p in enumerate(below):
            walk(p, depth + 1, child_prefix, i == len(below) - 1)

    for top in tops:
        walk(top, 0, "", True)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_text(steps: list[Step], max_depth: int = 12) -> str:
    return render_tree(steps, lambda s: s.key, lambda s: s.text, lambda s: [x for c in s.citations for x in cite_lines(cite_json(c))],
                       lambda s: s.premises, max_depth)


def render_nodes(explanation: dict[str, Any], keys: list[str], max_depth: int = 12) -> str:
    """The tree under the given node keys of an explanation JSON (a recorded one, say), laid out as render_text."""
    nodes = {n["key"]: n for n in explanation["nodes"]}
    return render_tree([nodes[k] for k in keys], lambda n: n["key"], lambda n: n["text"],
                       lambda n: [x for c in n["clauses"] for x in cite_lines(c)], lambda n: [nodes[k] for k in n["premises"]], max_depth)


def explain_text(decision: Decision) -> str:
    p = decision.person
    head = [f"决定：{p.id}（{p.region}，{p.date}）— {decision.status}",
            f"所属类别：{'、'.join(decision.categories) or '无'}" + (f"；群体：{'、'.join(decision.groups)}" if decision.groups else "")]
    if decision.missing:
        head.append(f"缺少的事实或参数：{'、'.join(decision.missing)}")
    for w in decision.warnings:
        head.append(f"注意：{w}")
    head.append(f"金额规则：{ROUNDING}")
    return "\n".join(head) + "\n\n" + render_text(roots(decision))


# ------------------------------------------------------------------ JSON
def cite_json(c: Citation) -> dict[str, Any]:
    return {"document": c.document, "article": c.article, "quote": c.quote, "file": c.file, "line": c.line,
            "interpretations": [{"key": k, "text": t} for k, t in c.interpretations]}


def explain_json(decision: Decision) -> dict[str, Any]:
    """The versioned, flat form: nodes by stable key, premises as keys."""
    top, nodes = steps_json(roots(decision))
    header = decision.policy.source.header
    return {
        "schema": SCHEMA,
        "reasoner_version": REASONER_VERSION,
        "policy": {"name": decision.policy.name, "document": header.docno, "file": decision.policy.source.path,
                   "content_sha256": decision.policy.content_hash, "selection": decision.selection_note},
        "person": {"id": decision.person.id, "region": decision.person.region, "date": str(decision.person.date),
                   "record": _plain(decision.person.raw)},
        "decision": decision_json(decision),
        "rounding": ROUNDING,
        "roots": top,
        "nodes": nodes,
    }


def steps_json(steps: list[Step]) -> tuple[list[str], list[dict[str, Any]]]:
    """Steps as flat nodes by stable key with premises as keys: (root keys, nodes)."""
    nodes: dict[str, dict[str, Any]] = {}

    def add(step: Step) -> str:
        if step.key not in nodes:
            nodes[step.key] = {"key": step.key, "text": step.text, "kind": step.kind,
                               "clauses": [cite_json(c) for c in step.citations], "premises": []}
            nodes[step.key]["premises"] = [add(p) for p in step.premises]
        return step.key

    return [add(s) for s in steps], list(nodes.values())


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "status": decision.status, "categories": decision.categories, "groups": decision.groups,
        "undetermined": decision.undetermined, "missing": decision.missing, "warnings": decision.warnings,
        "items": [{"item": it.item, "scope": it.scope, "status": it.status, "category": it.category, "value": it.value,
                   "exact": it.number, "detail": it.detail, "missing": list(it.missing),
                   "clause": cite_json(it.citation) if it.citation else None,
                   "lost": [{"category": a.category, "value": a.value, "clause": cite_json(a.citation)} for a in it.lost]}
                  for it in decision.items],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


# ------------------------------------------------------------------ why not
def why_not_text(decision: Decision, category: str) -> str:
    """Why the person is not in a category: the failed conditions, and what it would give."""
    policy = decision.policy
    if category not in policy.categories:
        raise KeyError(f"「{policy.name}」没有类别「{category}」；可用的类别：{'、'.join(policy.categories)}")
    if decision.answer.has("member", category):
        return f"已属于「{category}」。\n\n" + render_text([GraphReader(decision).step(("member", category))])
    lines = [f"为何不属于「{category}」：", "", render_text([why_not_step(decision, category)]).rstrip(), "", f"若属于「{category}」，按本政策可得："]
    for (item, scope, target, vid, cid) in sorted(decision.answer.get("benefit"), key=term_key):
        if target == category or (target == "all" and not policy.categories[category]):
            label = ITEM_LABEL[str(item)] + (f"（{scope}）" if scope else "")
            cite = Reasoner.citation(policy, str(cid))
            lines.append(f"  {label}：{decision.values[str(vid)].display} {cite.short()}")
    return "\n".join(lines) + "\n"


def why_not_step(decision: Decision, category: str) -> Step:
    """The justification of not being (or not surely being) in a category, failed branches only."""
    term = ("undetermined", category) if decision.answer.has("undetermined", category) else ("nonmember", category)
    return _failed_only(GraphReader(decision).step(term))


FAILED = re.compile(r"^(val\(\w+,[fu]\)|atom_val\(\w+,f\)|atom_missing|lacks|nonmember|undetermined|not_claimed|wrong_dept|not_yet|expired)")


def _failed_only(step: Step) -> Step:
    """Keep only the branches that explain a failure (drop the satisfied siblings of a failed 且)."""
    keep = [p for p in step.premises if FAILED.match(p.key)]
    return Step(step.key, step.text, step.citations, [_failed_only(p) for p in (keep or step.premises)], step.kind)
