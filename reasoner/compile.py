"""This module lowers a checked policy to ASP facts, and keeps the map back to the text.

Each clause, condition node, atomic comparison and benefit value gets a short id
(c3, n12, a2, v7); the facts mention only ids, names and small constants, never money,
so clingo's 32-bit integers are never asked to hold an amount. The id maps let the
numeric layer evaluate atoms and values, and the explainer cite clauses, from the same
compilation.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from . import ast
from .check import symbols

ITEM_CONST = {"参保资助": "subsidy", "救助起付标准": "deductible", "救助比例": "rate", "年度救助限额": "cap", "大病保险倾斜": "tilt"}
ITEM_LABEL = {v: k for k, v in ITEM_CONST.items()}
ALL_BENEFITS = "全部待遇"
CLAIM = "就医"
OTHER_DEPARTMENT = "其他部门"


@dataclass(frozen=True)
class ClauseInfo:
    cid: str
    article: str
    quote: str
    span: ast.Span
    interpretations: tuple[ast.Interpretation, ...]


@dataclass(frozen=True)
class NodeInfo:
    nid: str
    kind: str  #: all any none ident incat atom
    label: str  #: Chinese description for explanations
    payload: str = ""  #: identity, category or atom id
    span: ast.Span | None = None


@dataclass(frozen=True)
class ValueInfo:
    vid: str
    item: str  #: ASP constant: subsidy deductible rate cap tilt
    scope: str
    value: ast.Value | ast.Tilt
    cid: str


@dataclass
class CompiledPolicy:
    """The ASP facts of one policy plus everything needed to read its answers back."""

    source: ast.PolicyFile
    facts: list[str] = field(default_factory=list)
    clauses: dict[str, ClauseInfo] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    atoms: dict[str, ast.Comparison | ast.BoolFact] = field(default_factory=dict)
    values: dict[str, ValueInfo] = field(default_factory=dict)
    value_targets: dict[str, list[str]] = field(default_factory=dict)  #: value id → categories/groups it is given to ("all")
    identities: dict[str, str | None] = field(default_factory=dict)  #: identity → recognising department
    departments: list[str] = field(default_factory=list)
    categories: dict[str, bool] = field(default_factory=dict)  #: name → is auxiliary group, in order
    category_clauses: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.source.header.name.text

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.source.source.encode("utf-8")).hexdigest()

    def text(self) -> str:
        """The facts as a program, citations shown as comments for a human reader."""
        return "\n".join(self.facts) + "\n"


def q(text: str) -> str:
    """An ASP string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Lowerer:
    def __init__(self, policy: ast.PolicyFile):
        self.policy = policy
        self.out = CompiledPolicy(policy)
        self.table = symbols(policy)
        self._atom_ids: dict[str, str] = {}

    def emit(self, fact: str) -> None:
        self.out.facts.append(fact + ".")

    def run(self) -> CompiledPolicy:
        header = self.policy.header
        self.out.facts.append(f"% {header.name.text} {header.docno}")
        self.emit(f"policy({q(header.name.text)})")
        for name in self.table.categories:
            self.out.categories[name] = self.table.categories[name][0].group
        order = {n: i + 1 for i, n in enumerate(self.table.categories)}
        for i, clause in enumerate(self.policy.clauses, start=1):
            self._clause(f"c{i}", clause, order)
        for name, is_group in self.out.categories.items():
            self.emit(f"{'group' if is_group else 'category'}({q(name)})")
            self.emit(f"cat_order({q(name)},{order[name]})")
        self.out.departments = sorted({d for d in self.out.identities.values() if d} | {OTHER_DEPARTMENT})
        for dept in self.out.departments:
            self.emit(f"department({q(dept)})")
        for decl in self.policy.decls:
            if decl.kind == "claim_kind":
                self.emit(f"kind({q(decl.name.text)})")
        return self.out

    def _clause(self, cid: str, clause: ast.Clause, order: dict[str, int]) -> None:
        interps = tuple(s for s in clause.statements if isinstance(s, ast.Interpretation))
        self.out.clauses[cid] = ClauseInfo(cid, clause.article, clause.quote, clause.span, interps)
        self.out.facts.append(f"% 〔{clause.article}〕 {clause.quote}")
        self.emit(f"clause({cid},{q(clause.article)})")
        for interp in interps:
            self.emit(f"interpretation({cid},{q(interp.key.text)})")
        for k, stmt in enumerate(clause.statements, start=1):
            self._statement(cid, f"{cid}_{k}", stmt, order)

    def _statement(self, cid: str, sid: str, stmt: ast.Statement, order: dict[str, int]) -> None:
        if isinstance(stmt, ast.IdentityDecl):
            for name in stmt.names:
                dept = stmt.department.text if stmt.department else None
                self.out.identities[name.text] = dept
                self.emit(f"identity({q(name.text)})")
                self.emit(f"recognizer({q(name.text)},{q(dept)},{cid})" if dept else f"open_recognizer({q(name.text)},{cid})")
        elif isinstance(stmt, ast.CategoryRule):
            self.out.category_clauses.setdefault(stmt.name.text, []).append(cid)
            self.emit(f"defines({q(stmt.name.text)},{sid},{cid})")
            self.emit(f"root({sid},{self._cond(stmt.cond)})")
        elif isinstance(stmt, ast.Highest):
            self.emit(f"highest({stmt.mode},{cid})")
            for rank, name in enumerate(stmt.order, start=1):
                self.emit(f"preferred({q(name.text)},{rank})")
        elif isinstance(stmt, ast.StartRule):
            self.emit(f"start_rule({stmt.mode},{cid})")
        elif isinstance(stmt, ast.NoExtension):
            self.out.facts.append(f"% 下位不得扩大救助范围〔{cid}〕: read by the drafter's checker (reasoner/lint.py)")
        elif isinstance(stmt, ast.EndRule):
            self.emit(f"end_rule({stmt.mode},{cid})")
        elif isinstance(stmt, ast.Delegation):
            for name in stmt.targets:
                self.emit(f"delegated({q(name.text)},{q(stmt.document)},{cid})")
        elif isinstance(stmt, ast.Benefit):
            self._benefit(cid, stmt)
        elif isinstance(stmt, ast.Tilt):
            vid = self._value_id("tilt", "", stmt, cid)
            self.emit('scope(tilt,"")')
            for target in stmt.targets or (None,):
                self.emit(f"benefit(tilt,\"\",{q(target.text) if target else 'all'},{vid},{cid})")
                self.out.value_targets.setdefault(vid, []).append(target.text if target else "all")
        elif isinstance(stmt, ast.ProjectRule):
            self._project_rule(cid, stmt)
        elif isinstance(stmt, ast.Exclusion):
            item = {ALL_BENEFITS: "all", CLAIM: "claim"}.get(stmt.item) or ITEM_CONST[stmt.item]
            self.emit(f"exclusion({sid},{item},{cid})")
            self.emit(f"excl_root({sid},{self._cond(stmt.cond)})")
            for name in stmt.categories:
                self.emit(f"excl_for({sid},{q(name.text)})")

    def _project_rule(self, cid: str, stmt: ast.ProjectRule) -> None:
        project = q(stmt.project.text)
        if stmt.kind == "covers":
            for kind in stmt.kinds:
                self.emit(f"covers({project},{q(kind.text)},{cid})")
        elif stmt.kind == "condition":
            assert stmt.cond is not None
            self.emit(f"project_cond({project},{self._cond(stmt.cond)},{cid})")
        elif stmt.kind == "sums":
            for part in stmt.kinds:
                self.emit(f"sums({project},{q(part.text)},{cid})")
        elif stmt.kind in ("annual", "per_stay"):
            self.emit(f"project_mode({project},{stmt.kind},{cid})")
        else:
            self.emit(f"after_assistance({project},{cid})")

    def _benefit(self, cid: str, stmt: ast.Benefit) -> None:
        item = ITEM_CONST[stmt.item]
        scope = stmt.scope.text if stmt.scope else ""
        self.emit(f"scope({item},{q(scope)})")
        for entry in stmt.entries:
            vid = self._value_id(item, scope, entry.value, cid)
            for target in entry.targets or (None,):
                self.emit(f"benefit({item},{q(scope)},{q(target.text) if target else 'all'},{vid},{cid})")
                self.out.value_targets.setdefault(vid, []).append(target.text if target else "all")

    def _value_id(self, item: str, scope: str, value: ast.Value | ast.Tilt, cid: str) -> str:
        vid = f"v{len(self.out.values) + 1}"
        self.out.values[vid] = ValueInfo(vid, item, scope, value, cid)
        return vid

    # ---------------------------------------------------------------- conditions
    def _node(self, kind: str, label: str, payload: str = "", span: ast.Span | None = None,
              children: tuple[str, ...] | list[str] = ()) -> str:
        nid = f"n{len(self.out.nodes) + 1}"
        self.out.nodes[nid] = NodeInfo(nid, kind, label, payload, span)
        term = {"ident": f"ident({q(payload)})", "incat": f"incat({q(payload)})", "atom": f"atom({payload})",
                "claimkind": f"claimkind({q(payload)})"}.get(kind, kind)
        self.emit(f"node({nid},{term})")
        for child in children:
            self.emit(f"sub({nid},{child})")
        return nid

    def _cond(self, cond: ast.Cond) -> str:
        if isinstance(cond, (ast.AnyOf, ast.AllOf)):
            kids = [self._cond(p) for p in cond.parts]
            kind, label = ("any", "下列条件之一成立") if isinstance(cond, ast.AnyOf) else ("all", "下列条件同时成立")
            return self._node(kind, label, span=cond.span, children=kids)
        if isinstance(cond, ast.Not):
            return self._node("none", "下列条件不成立", span=cond.span, children=[self._cond(cond.part)])
        if isinstance(cond, ast.HasIdentity):
            kids = [self._node("ident", f"具有身份「{n.text}」", n.text, n.span) for n in cond.names]
            if len(kids) == 1:
                return kids[0]
            return self._node("any", "具有下列身份之一：" + "、".join(n.text for n in cond.names), span=cond.span, children=kids)
        if isinstance(cond, ast.ClaimKindIs):
            kids = [self._node("claimkind", f"就医类别为「{n.text}」", n.text, n.span) for n in cond.names]
            return kids[0] if len(kids) == 1 else self._node("any", "就医类别为" + "、".join(n.text for n in cond.names) + "之一", span=cond.span, children=kids)
        if isinstance(cond, (ast.InCategory, ast.NotInCategory)):
            kids = [self._node("incat", f"属于「{n.text}」", n.text, n.span) for n in cond.names]
            listed = "、".join(n.text for n in cond.names)
            if isinstance(cond, ast.NotInCategory):
                return self._node("none", f"不属于{listed}中任何一类", span=cond.span, children=kids)
            return kids[0] if len(kids) == 1 else self._node("any", f"属于{listed}之一", span=cond.span, children=kids)
        return self._node("atom", self._label(cond), self._atom(cond), cond.span)

    def _atom(self, cond: ast.Comparison | ast.BoolFact) -> str:
        key = cond.text if isinstance(cond, ast.Comparison) else "bool:" + cond.name.text
        if key not in self._atom_ids:
            aid = f"a{len(self._atom_ids) + 1}"
            self._atom_ids[key] = aid
            self.out.atoms[aid] = cond
            self.emit(f"atom({aid})")
        return self._atom_ids[key]

    @staticmethod
    def _label(cond: ast.Comparison | ast.BoolFact) -> str:
        return cond.text if isinstance(cond, ast.Comparison) else cond.name.text


def compile_policy(policy: ast.PolicyFile) -> CompiledPolicy:
    """Lower a checked policy file to facts (see reasoner/asp/decide.lp for their meaning)."""
    return Lowerer(policy).run()
