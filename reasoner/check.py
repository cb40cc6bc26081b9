"""This module checks a parsed policy for errors the grammar cannot see.

Unknown names (with the closest known name as a suggestion), duplicate declarations,
unit mismatches, categories used but never defined, contradictory values for one benefit
item, cyclic category definitions and a missing 待遇就高 rule. All problems are
collected; nothing stops at the first.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterator

from . import ast
from .diagnostics import Diagnostic, Severity, Span
from .parse import spacing_hint

SCOPED_ITEMS = ("救助起付标准", "救助比例", "年度救助限额")


@dataclass
class SymbolTable:
    """Every name a policy declares, with where it was declared."""

    params: dict[str, ast.Decl] = field(default_factory=dict)
    facts: dict[str, ast.Decl] = field(default_factory=dict)
    projects: dict[str, ast.Decl] = field(default_factory=dict)
    claim_kinds: dict[str, ast.Decl] = field(default_factory=dict)
    claim_facts: dict[str, ast.Decl] = field(default_factory=dict)
    identities: dict[str, ast.IdentityDecl] = field(default_factory=dict)
    categories: dict[str, list[ast.CategoryRule]] = field(default_factory=dict)  #: in order of first rule


def iter_statements(policy: ast.PolicyFile) -> Iterator[tuple[ast.Clause, ast.Statement]]:
    for clause in policy.clauses:
        for stmt in clause.statements:
            yield clause, stmt


def iter_conds(cond: ast.Cond) -> Iterator[ast.Cond]:
    yield cond
    if isinstance(cond, (ast.AnyOf, ast.AllOf)):
        for part in cond.parts:
            yield from iter_conds(part)
    elif isinstance(cond, ast.Not):
        yield from iter_conds(cond.part)


def symbols(policy: ast.PolicyFile, diags: list[Diagnostic] | None = None) -> SymbolTable:
    """Collect declarations; duplicates are reported into diags when given."""
    diags = diags if diags is not None else []
    table = SymbolTable()
    kinds = {"param": table.params, "fact": table.facts, "project": table.projects,
             "claim_kind": table.claim_kinds, "claim_fact": table.claim_facts}
    for decl in policy.decls:
        target = kinds[decl.kind]
        if decl.name.text in target:
            diags.append(_dup(decl.name, target[decl.name.text].span))
        target[decl.name.text] = decl
    for _, stmt in iter_statements(policy):
        if isinstance(stmt, ast.IdentityDecl):
            for name in stmt.names:
                if name.text in table.identities:
                    diags.append(_dup(name, table.identities[name.text].span))
                table.identities[name.text] = stmt
        elif isinstance(stmt, ast.CategoryRule):
            table.categories.setdefault(stmt.name.text, []).append(stmt)
    return table


def _dup(name: ast.Name, first: Span) -> Diagnostic:
    return Diagnostic("E101", Severity.ERROR, f"重复定义「{name.text}」", name.span, related=((first, "首次定义于此"),))


def _unknown(kind: str, name: ast.Name, known: list[str], code: str) -> Diagnostic:
    close = difflib.get_close_matches(name.text, known, n=1, cutoff=0.7)
    hint = spacing_hint(name.text) or (f"您是否想写「{close[0]}」？" if close else None) \
        or (f"已定义的{kind}：{'、'.join(known[:12])}" if known else None)
    return Diagnostic(code, Severity.ERROR, f"未定义的{kind}「{name.text}」", name.span, hint)


class Checker:
    """Runs every static check over one policy file."""

    def __init__(self, policy: ast.PolicyFile):
        self.policy = policy
        self.diags: list[Diagnostic] = []
        self.table = symbols(policy, self.diags)
        self._claim_context = False  #: claim facts may be named (project conditions, 排除 就医)

    def run(self) -> list[Diagnostic]:
        self._header()
        for clause in self.policy.clauses:
            if not clause.quote.strip():
                self.diags.append(Diagnostic("E104", Severity.ERROR, "条款缺少原文", clause.span, "原文须逐字引用文件中的句子"))
        for clause, stmt in iter_statements(self.policy):
            self._statement(clause, stmt)
        self._contradictions()
        self._cycles()
        self._highest()
        self._settlement()
        return sorted(self.diags, key=lambda d: (d.span or Span("", 0, 0, 0, 0), d.code))

    # ---------------------------------------------------------------- header
    def _header(self) -> None:
        header = self.policy.header
        missing = [label for label, value in (("地区", header.region), ("施行", header.start)) if not value]
        for label in missing:
            self.diags.append(Diagnostic("E102", Severity.ERROR, f"政策头缺少「{label}」", header.span or header.name.span))
        if not header.docno:
            self.diags.append(Diagnostic("W102", Severity.WARNING, "政策头没有「文号」；引用时以政策名称代替", header.span or header.name.span,
                                         "原件确无文号时可不写，但请在注释中说明"))
        if header.start and header.end and header.end < header.start:
            self.diags.append(Diagnostic("E103", Severity.ERROR, "施行期间的结束日期早于开始日期", header.span))

    # ---------------------------------------------------------------- statements
    def _statement(self, clause: ast.Clause, stmt: ast.Statement) -> None:
        if isinstance(stmt, ast.CategoryRule):
            self._cond(stmt.cond)
        elif isinstance(stmt, ast.Exclusion):
            self._claim_context = stmt.item == "就医"
            self._cond(stmt.cond)
            self._claim_context = False
            self._targets(stmt.categories)
        elif isinstance(stmt, ast.ProjectRule):
            self._project_rule(stmt)
        elif isinstance(stmt, ast.Benefit):
            self._benefit(stmt)
        elif isinstance(stmt, ast.Tilt):
            self._targets(stmt.targets or ())
            if stmt.deductible is None and stmt.deductible_cut is None and not stmt.segments and stmt.rate_raise is None:
                self.diags.append(Diagnostic("E207", Severity.ERROR, "大病保险倾斜没有给出任何参数", stmt.span))
        elif isinstance(stmt, ast.Highest):
            self._targets(stmt.order)
        elif isinstance(stmt, ast.Delegation):
            for name in stmt.targets:
                if name.text not in self.table.identities and name.text not in self.table.categories:
                    self.diags.append(_unknown("身份或类别", name, list(self.table.identities) + list(self.table.categories), "E201"))

    def _targets(self, names: tuple[ast.Name, ...]) -> None:
        for name in names:
            if name.text not in self.table.categories:
                self.diags.append(_unknown("类别", name, list(self.table.categories), "E202"))

    def _benefit(self, stmt: ast.Benefit) -> None:
        if stmt.item in SCOPED_ITEMS and stmt.scope is None:
            self.diags.append(Diagnostic("E205", Severity.ERROR, f"「{stmt.item}」必须注明救助项目，如 {stmt.item}（住院）", stmt.span))
        if stmt.scope and stmt.item in SCOPED_ITEMS and stmt.scope.text not in self.table.projects:
            self.diags.append(_unknown("救助项目", stmt.scope, list(self.table.projects), "E204"))
        for entry in stmt.entries:
            self._targets(entry.targets or ())
            self._value(stmt.item, entry.value, entry.span)

    def _value(self, item: str, value: ast.Value, span: Span) -> None:
        if isinstance(value, ast.ByYear):
            years = [e.year for e in value.entries]
            if years != sorted(set(years)):
                self.diags.append(Diagnostic("E206", Severity.ERROR, "按年取值的年度须递增且不重复", span))
            for e in value.entries:
                self._value(item, e.value, span)
        elif isinstance(value, ast.Bounded):
            self._value(item, value.value, span)
            self._operand_unit(value.floor)
        elif isinstance(value, ast.PercentOf):
            unit = self._name_unit(value.of, allow_facts=True)
            if unit and unit != "金额":
                self.diags.append(Diagnostic("E301", Severity.ERROR, f"「{value.of.text}」的单位是{unit}，不能按比例折算为金额", value.of.span))
        elif isinstance(value, ast.ParamValue):
            if value.param.text not in self.table.params:
                self.diags.append(_unknown("参数", value.param, list(self.table.params), "E203"))
        if item in ("救助比例",) and isinstance(value, (ast.Amount, ast.PercentOf, ast.ParamValue)):
            self.diags.append(Diagnostic("E302", Severity.ERROR, "救助比例应为百分比，而非金额", span))

    # ---------------------------------------------------------------- conditions and units
    def _cond(self, cond: ast.Cond) -> None:
        for node in iter_conds(cond):
            if isinstance(node, ast.HasIdentity):
                for name in node.names:
                    if name.text not in self.table.identities:
                        self.diags.append(_unknown("身份", name, list(self.table.identities), "E201"))
            elif isinstance(node, (ast.InCategory, ast.NotInCategory)):
                self._targets(node.names)
            elif isinstance(node, ast.BoolFact):
                self._bool_fact(node.name)
            elif isinstance(node, ast.ClaimKindIs):
                for name in node.names:
                    if name.text not in self.table.claim_kinds:
                        self.diags.append(_unknown("就医类别", name, list(self.table.claim_kinds), "E209"))
                if not self._claim_context:
                    self.diags.append(Diagnostic("E212", Severity.ERROR, "「就医类别」条件只能用于救助项目条件和「排除 就医」", node.span))
            elif isinstance(node, ast.Comparison):
                left, right = self._operand_unit(node.left), self._operand_unit(node.right)
                if left and right and left != right:
                    self.diags.append(Diagnostic("E301", Severity.ERROR, f"单位不一致：不能比较{left}与{right}", node.span,
                                                 "比较的两边须同为金额、比例、数量或日期"))
                if "布尔" in (left, right):
                    self.diags.append(Diagnostic("E303", Severity.ERROR, "布尔事实不能参与大小比较", node.span))

    def _facts(self) -> dict[str, ast.Decl]:
        return {**self.table.facts, **self.table.claim_facts} if self._claim_context else self.table.facts

    def _bool_fact(self, name: ast.Name) -> None:
        decl = self._facts().get(name.text)
        if decl is None:
            hint = "（就医事实只能用于救助项目条件和「排除 就医」）" if name.text in self.table.claim_facts else ""
            self.diags.append(_unknown("事实" + hint, name, [n for n, d in self._facts().items() if d.unit == "布尔"], "E203"))
        elif decl.unit != "布尔":
            self.diags.append(Diagnostic("E303", Severity.ERROR, f"「{name.text}」是{decl.unit}，条件中单独使用须为布尔事实", name.span,
                                         f"请写成比较，如 {name.text} 达到或超过 …"))

    def _name_unit(self, name: ast.Name, allow_facts: bool = True) -> str | None:
        decl = self.table.params.get(name.text) or (self._facts().get(name.text) if allow_facts else None)
        if decl is None:
            known = list(self.table.params) + (list(self._facts()) if allow_facts else [])
            self.diags.append(_unknown("参数或事实", name, known, "E203"))
            return None
        return decl.unit

    def _operand_unit(self, op: ast.Operand) -> str | None:
        if isinstance(op, ast.Amount):
            return "金额"
        if isinstance(op, ast.Percent):
            return "比例"
        if isinstance(op, ast.Number):
            return "数量"
        if isinstance(op, ast.PercentOf):
            return self._name_unit(op.of)
        return self._name_unit(op.name)

    # ---------------------------------------------------------------- policy-wide
    def _contradictions(self) -> None:
        """One item, scope and target given two different values anywhere in the policy."""
        seen: dict[tuple[str, str, str], tuple[ast.Entry, str]] = {}
        for _, stmt in iter_statements(self.policy):
            if not isinstance(stmt, ast.Benefit):
                continue
            for entry in stmt.entries:
                for target in entry.targets or (ast.Name(ast.ALL, entry.span),):
                    key = (stmt.item, stmt.scope.text if stmt.scope else "", target.text)
                    shown = describe_value(entry.value)
                    if key in seen and seen[key][1] != shown:
                        first = seen[key][0]
                        self.diags.append(Diagnostic(
                            "E401", Severity.ERROR,
                            f"「{target.text}」的{stmt.item}{'（' + key[1] + '）' if key[1] else ''}有两个不同的值：{seen[key][1]} 与 {shown}",
                            entry.span, related=((first.span, f"另一处定义为 {seen[key][1]}"),)))
                    seen.setdefault(key, (entry, shown))

    def _project_rule(self, stmt: ast.ProjectRule) -> None:
        if stmt.project.text not in self.table.projects:
            self.diags.append(_unknown("救助项目", stmt.project, list(self.table.projects), "E204"))
        for kind in stmt.kinds:
            table, label = (self.table.projects, "救助项目") if stmt.kind == "sums" else (self.table.claim_kinds, "就医类别")
            if kind.text not in table:
                self.diags.append(_unknown(label, kind, list(table), "E209"))
        if stmt.cond is not None:
            self._claim_context = True
            self._cond(stmt.cond)
            self._claim_context = False

    def _settlement(self) -> None:
        """Once a policy declares 就医类别, every project that pays must say what it covers and how its deductible runs."""
        if not self.table.claim_kinds:
            return
        rules = [s for _, s in iter_statements(self.policy) if isinstance(s, ast.ProjectRule)]
        covered = {r.project.text for r in rules if r.kind in ("covers", "sums")}
        modes: dict[str, list[ast.ProjectRule]] = defaultdict(list)
        for r in rules:
            if r.kind in ("annual", "per_stay"):
                modes[r.project.text].append(r)
        reported: set[str] = set()
        for _, stmt in iter_statements(self.policy):
            if isinstance(stmt, ast.Benefit) and stmt.scope and stmt.scope.text in self.table.projects:
                name = stmt.scope.text
                if name not in covered and stmt.item in ("救助比例", "年度救助限额"):
                    self.diags.append(Diagnostic("E210", Severity.ERROR, f"救助项目「{name}」没有声明覆盖哪些就医类别", stmt.scope.span,
                                                 f"请写 救助项目 {name} 覆盖 …"))
                    covered.add(name)
                zero = all(isinstance(e.value, ast.NoValue) for e in stmt.entries)
                if stmt.item == "救助起付标准" and len(modes[name]) != 1 and not (zero and not modes[name]) and name not in reported:
                    reported.add(name)
                    what = "没有声明" if not modes[name] else "重复声明"
                    self.diags.append(Diagnostic("E211", Severity.ERROR, f"救助项目「{name}」{what}起付标准按年累计还是按次扣除", stmt.scope.span,
                                                 f"请在所依据的条款中写 救助项目 {name} 按年起付 或 按次起付，并用 解释 说明理由"))

    def _cycles(self) -> None:
        deps: dict[str, set[str]] = defaultdict(set)
        for name, rules in self.table.categories.items():
            for rule in rules:
                for node in iter_conds(rule.cond):
                    if isinstance(node, (ast.InCategory, ast.NotInCategory)):
                        deps[name].update(n.text for n in node.names)
        for start in self.table.categories:
            stack, seen = [start], set()
            while stack:
                cur = stack.pop()
                for nxt in deps.get(cur, ()):
                    if nxt == start:
                        rule = self.table.categories[start][0]
                        self.diags.append(Diagnostic("E402", Severity.ERROR, f"类别「{start}」的定义循环依赖于自身", rule.name.span))
                        stack = []
                        break
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)

    def _highest(self) -> None:
        rules = [s for _, s in iter_statements(self.policy) if isinstance(s, ast.Highest)]
        real = [n for n, rs in self.table.categories.items() if not rs[0].group]
        if not rules and len(real) > 1:
            self.diags.append(Diagnostic("E403", Severity.ERROR, "有多个救助类别，但未声明待遇就高规则", self.policy.header.span,
                                         "请在相应条款中写 待遇就高 按 项目 或 待遇就高 按 类别 顺序 …"))
        for extra in rules[1:]:
            self.diags.append(Diagnostic("E101", Severity.ERROR, "待遇就高规则重复声明", extra.span, related=((rules[0].span, "首次声明于此"),)))


def describe_value(value: ast.Value) -> str:
    """The value as the rules file writes it, for messages and explanations."""
    if isinstance(value, ast.Full):
        return "全额"
    if isinstance(value, ast.NoValue):
        return "无"
    if isinstance(value, (ast.Percent, ast.Amount, ast.PercentOf)):
        return value.text
    if isinstance(value, ast.ParamValue):
        return f"参数 {value.param.text}"
    if isinstance(value, ast.Bounded):
        floor = value.floor.name.text if isinstance(value.floor, ast.NameRef) else value.floor.text
        return f"{describe_value(value.value)}（不低于 {floor}）"
    return "按年 " + "、".join(f"{e.year}年{'起' if e.onwards else ''} {describe_value(e.value)}" for e in value.entries)


def check(policy: ast.PolicyFile) -> list[Diagnostic]:
    """All static diagnostics of one policy, sorted by position."""
    return Checker(policy).run()
