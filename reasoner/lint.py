"""This module is the drafter's checker: it searches a policy for conflicts, gaps and
differences from its parent, each shown by a witness person.

The search is concrete: the abstract persons of reasoner.witness are decided by the
engine (clingo, the same generic programs) and the findings are read off the decisions,
so a witness is a record `reasoner decide` accepts and reproduces. Rendering (text,
SARIF) is in reasoner.lint_report.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from . import ast
from .check import iter_statements
from .compile import CompiledPolicy
from .decide import ITEM_DECIDED, Decision, Reasoner
from .diagnostics import Severity
from .numeric import round_fen, yuan
from .person import RecordError
from .policies import PolicySelectionError, PolicySet
from .witness import Population, _probe_date, _yuan_text

@dataclass(frozen=True)
class ClauseRef:
    file: str
    line: int
    document: str
    article: str
    quote: str

    def short(self) -> str:
        return f"〔{self.document} {self.article}〕{self.file}:{self.line}"


@dataclass
class Finding:
    code: str  #: stable: L1xx contradiction, L2xx 待遇就高, L3xx gaps, L4xx dead/shadowed, L5xx parent, L6xx ambiguity, L7xx references
    severity: Severity
    message: str
    clauses: list[ClauseRef] = field(default_factory=list)
    witness: dict[str, Any] | None = None
    bill: dict[str, Any] | None = None
    classification: str = ""  #: parent findings: 更严 / 更宽 / 相悖

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "message": self.message,
                "classification": self.classification or None,
                "clauses": [c.__dict__ for c in self.clauses], "witness": self.witness, "bill": self.bill}


def clause_ref(policy: CompiledPolicy, cid: str) -> ClauseRef:
    info = policy.clauses[cid]
    return ClauseRef(info.span.file, info.span.line, policy.source.header.docno or policy.name, info.article, info.quote)


# ------------------------------------------------------------------ the checker
class Linter:
    """Runs every search over one policy (and its parent, when given)."""

    def __init__(self, policies: PolicySet, name: str, parent: str | None = None):
        self.policies = policies
        self.reasoner = Reasoner(policies)
        self.policy = policies.policies[name]
        self.parent = policies.policies.get(parent) if parent else None
        header = self.policy.source.header
        self.region = header.region.text if header.region else ""
        self.on = _probe_date(header.start or dt.date(2023, 1, 1))
        self.findings: list[Finding] = []
        self._seen: set[str] = set()

    def add(self, key: str, finding: Finding) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(finding)

    def run(self) -> list[Finding]:
        population = list(Population(self.reasoner, self.policy, self.region, self.on).decisions())
        self._highest(population)
        self._reach(population)
        self._dead_and_shadowed(population)
        self._by_year_gaps()
        self._interpretations()
        self._delegations()
        self._shared_caps()
        self._missing_deductibles()
        self._tiers()
        self._floors()
        self._overlaps()
        if self.parent is not None:
            self._parent(population)
            self._claim_scope()
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}
        return sorted(self.findings, key=lambda f: (order[f.severity], f.code, f.message))

    # ---------------------------------------------------------------- 待遇就高
    def _highest(self, population: list[tuple[dict[str, Any], Decision]]) -> None:
        highest = [cid for (_, cid) in next(iter(population))[1].answer.get("highest")] if population else []
        for record, d in population:
            winners = {it.label: it for it in d.items if it.status == ITEM_DECIDED and it.category in d.categories}
            for a, b in itertools.permutations(winners.values(), 2):
                x, y = a.category, b.category
                if x == y or not (_worse(y, a, d) and _worse(x, b, d)):
                    continue
                pair = "、".join(sorted((str(x), str(y))))
                cites = [c for c in (a.citation, b.citation) if c] + [self.reasoner.citation(self.policy, str(c)) for c in highest]
                self.add(f"L201:{pair}", Finding(
                    "L201", Severity.WARNING,
                    f"待遇就高不是全序：同属「{x}」与「{y}」时，{a.label}以「{x}」为优（{a.value}），{b.label}以「{y}」为优（{b.value}）；"
                    f"按本文件的读法逐项取高，组合后的待遇多于任一单一类别",
                    [_from_citation(c) for c in cites], record))
                self._crossover(record, d, str(x), str(y), population)

    def _crossover(self, record: dict[str, Any], d: Decision, x: str, y: str,
                   population: list[tuple[dict[str, Any], Decision]]) -> None:
        """Where one category has the lower deductible and the other the higher rate, the better one depends on the bill."""
        for (item, project, cat, _vid, _) in sorted(d.answer.get("ranked")):
            if item != "rate" or cat != x:
                continue
            project = str(project)
            dx, rx = self._value(d, "deductible", project, x), self._value(d, "rate", project, x)
            dy, ry = self._value(d, "deductible", project, y), self._value(d, "rate", project, y)
            if None in (dx, rx, dy, ry) or rx == ry:
                continue
            assert dx is not None and rx is not None and dy is not None and ry is not None
            if (dx - dy) * (rx - ry) <= 0:
                continue  # one category is better on both: no crossover
            bill = (dx * rx - dy * ry) / (rx - ry)
            low, high = (x, y) if dx < dy else (y, x)  # the lower deductible wins below the crossover, the higher rate above
            key = f"L202:{project}:{low}:{high}"
            if bill <= max(dx, dy) or key in self._seen:
                continue
            terms = {low: (min(dx, dy), rx if low == x else ry), high: (max(dx, dy), ry if low == x else rx)}
            self.add(key, self._crossover_finding(record, population, project, bill, terms))

    def _crossover_finding(self, record: dict[str, Any], population: list[tuple[dict[str, Any], Decision]], project: str,
                           bill: Fraction, terms: dict[str, tuple[Fraction, Fraction]]) -> Finding:
        """L202 with runnable witnesses: the person in both categories and one person in each alone,
        each with one claim whose self-pay after insurance is the crossover bill (when it is a whole 分)
        or the 分 just above it, each checked by settling it here."""
        (low, (d_low, r_low)), (high, (d_high, r_high)) = terms.items()
        exact = bill.denominator == 1
        at = int(bill) if exact else int(bill) + 1
        pay = {c: round_fen((at - ded) * rate) for c, (ded, rate) in terms.items()}
        where = (f"年度医保后自付 {yuan(at)} 时两者都付 {yuan(pay[low])}" if exact else
                 f"两者在年度医保后自付 {yuan(at - 1)} 与 {yuan(at)} 之间相等（{yuan(at)} 时「{low}」付 {yuan(pay[low])}，「{high}」付 {yuan(pay[high])}）")
        message = (f"「{low}」与「{high}」在救助项目「{project}」上孰优取决于账单：{where}；低于此数「{low}」较优（起付标准 "
                   f"{yuan(round_fen(d_low))}，比例 {_pct(r_low)}），高于此数「{high}」较优（起付标准 {yuan(round_fen(d_high))}，比例 {_pct(r_high)}）")
        bill_info: dict[str, Any] = {"救助项目": project, "年度医保后自付（元）": _yuan_text(Fraction(at, 100)),
                                     "各类别救助（元）": {c: _yuan_text(Fraction(v, 100)) for c, v in pay.items()}}
        witness, alone = self._claim_witnesses(record, population, project, at, pay)
        if alone:
            bill_info["单一类别证例"] = alone
        else:
            bill_info["说明"] = "未能构造单独属于每个类别且按此账单结算的证例（限额、就医条件或类别组合所限）"
        return Finding("L202", Severity.NOTE, message, [], witness, bill_info)

    def _claim_witnesses(self, record: dict[str, Any], population: list[tuple[dict[str, Any], Decision]], project: str,
                         at: int, pay: dict[str, int]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The pair record with the claim, and per category a record holding it alone (among the
        searched persons) whose settlement pays exactly the expected amount on the project."""
        kinds = self._covered_kinds(project)
        candidates = self._alone(population, project, pay)
        if len(candidates) < len(pay):
            return record, {}
        for facts in self._claim_fact_choices():
            for kind in kinds:
                alone = {}
                for cat, records in candidates.items():
                    claimed = (_with_claim(r, kind, at, facts) for r in records)
                    found = next((r for r in claimed if self._pays(r, project) == pay[cat]), None)
                    if found is None:
                        break
                    alone[cat] = found
                else:
                    return _with_claim(record, kind, at, facts), alone
        return record, {}

    def _alone(self, population: list[tuple[dict[str, Any], Decision]], project: str,
               pay: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        """Per category, the searched persons in it and in none of the others compared whose decided
        rate on the project is that category's: fewest identities and fewest facts 是 first."""
        out: dict[str, list[dict[str, Any]]] = {}
        for cat in pay:
            fits = [r for r, d in population if cat in d.categories and not (set(pay) - {cat}) & set(d.categories)
                    and any(it.category == cat and it.item == "救助比例" and it.scope == project and it.status == ITEM_DECIDED
                            for it in d.items)]
            if fits:
                out[cat] = sorted(fits, key=lambda r: (len(r["身份"]), sum(v is True for v in r["事实"].values())))[:8]
        return out

    def _pays(self, record: dict[str, Any], project: str) -> int | None:
        from .settle import settle

        try:
            results = [c for s in settle(self.reasoner, record) for c in s.claims]
        except (RecordError, PolicySelectionError):
            return None
        return sum(p.paid for c in results for p in c.payments if p.project == project)

    def _covered_kinds(self, project: str) -> list[str]:
        return [k.text for _, s in iter_statements(self.policy.source)
                if isinstance(s, ast.ProjectRule) and s.kind == "covers" and s.project.text == project for k in s.kinds]

    def _claim_fact_choices(self) -> list[dict[str, bool]]:
        """Values of the policy's yes/no 就医事实 to try, all 是 first (at most 16 combinations)."""
        names = [d.name.text for d in self.policy.source.decls if d.kind == "claim_fact" and d.unit == "布尔"][:4]
        return [dict(zip(names, values)) for values in itertools.product((True, False), repeat=len(names))]

    @staticmethod
    def _value(d: Decision, item: str, project: str, cat: str) -> Fraction | None:
        for (i, s, c, v, _) in d.answer.get("ranked"):
            if (i, s, c) == (item, project, cat):
                return d.values[str(v)].number
        return None

    # ---------------------------------------------------------------- gaps, dead and shadowed clauses
    def _reach(self, population: list[tuple[dict[str, Any], Decision]]) -> None:
        delegated = {str(t) for d in (population[:1]) for (t, _, _) in d[1].answer.get("delegated")}
        baseline = {c for r, d in population if not r["身份"] for c in d.categories}
        for ident in self.policy.identities:
            alone = [(r, d) for r, d in population if [i["名称"] for i in r["身份"]] == [ident]]
            reached = any(set(d.categories) - baseline for _, d in alone)
            benefits = any(it.status == ITEM_DECIDED for _, d in alone for it in d.items)
            handed_on = ident in delegated or any(g in delegated for _, d in alone for g in d.groups)
            if reached or handed_on:
                continue
            refs = [clause_ref(self.policy, f"c{i}") for i, clause in enumerate(self.policy.source.clauses, start=1)
                    for s in clause.statements if isinstance(s, ast.IdentityDecl) and ident in [n.text for n in s.names]]
            witness = alone[0][0] if alone else None
            what = "只得到群体待遇" if benefits else "不得任何待遇"
            also = f"（仅可能如无身份者一样属于{'、'.join(sorted(baseline))}）" if baseline else ""
            self.add(f"L301:{ident}", Finding("L301", Severity.WARNING,
                                              f"身份「{ident}」本身不使人进入任何救助类别{also}，{what}", refs, witness))

    def _dead_and_shadowed(self, population: list[tuple[dict[str, Any], Decision]]) -> None:
        member = {c for _, d in population for c in d.categories + d.groups}
        chosen = {(str(i), str(s), str(c)) for _, d in population for (i, s, c, _) in d.answer.get("chosen")}
        for cat, clauses in self.policy.category_clauses.items():
            if cat not in member:
                self.add(f"L401:{cat}", Finding("L401", Severity.WARNING, f"「{cat}」的条件在任何身份组合与事实取值下都不成立（死条款）",
                                                [clause_ref(self.policy, c) for c in clauses]))
        for v in self.policy.values.values():
            for target in self._targets_of(v.vid):
                if target == "all" or target not in member:
                    continue
                if (v.item, v.scope, target) not in chosen:
                    self.add(f"L402:{v.vid}:{target}", Finding(
                        "L402", Severity.WARNING, f"「{target}」的{_label(v.item, v.scope)}在任何人身上都被其他类别的更优待遇覆盖，从未生效",
                        [clause_ref(self.policy, v.cid)]))

    def _by_year_gaps(self) -> None:
        header = self.policy.source.header
        if header.start is None:
            return
        last = header.end.year if header.end else header.start.year + 4
        for v in self.policy.values.values():
            if not isinstance(v.value, ast.ByYear):
                continue
            from .numeric import select_year
            missing = [y for y in range(header.start.year, last + 1) if select_year(v.value, y) is None]
            if missing:
                self.add(f"L303:{v.vid}", Finding("L303", Severity.WARNING,
                                                  f"{_label(v.item, v.scope)}按年取值，施行期间内 {'、'.join(map(str, missing))} 年没有值",
                                                  [clause_ref(self.policy, v.cid)]))

    def _delegations(self) -> None:
        for cid in self.policy.clauses:
            for stmt in self._statements(cid):
                if isinstance(stmt, ast.Delegation):
                    names = "、".join(n.text for n in stmt.targets)
                    self.add(f"L302:{cid}:{names}", Finding("L302", Severity.NOTE,
                                                            f"「{names}」的待遇交由其他文件规定（{stmt.document}），本文件未给出标准",
                                                            [clause_ref(self.policy, cid)]))

    def _statements(self, cid: str) -> list[ast.Statement]:
        index = int(cid[1:]) - 1
        return list(self.policy.source.clauses[index].statements)

    # ---------------------------------------------------------------- ambiguities
    def _interpretations(self) -> None:
        for cid, info in self.policy.clauses.items():
            for interp in info.interpretations:
                self.add(f"L601:{cid}:{interp.key.text}", Finding(
                    "L601", Severity.NOTE, f"解释「{interp.key.text}」：{interp.text}", [clause_ref(self.policy, cid)]))

    def _shared_caps(self) -> None:
        caps = self._fixed_values("cap")
        for cid in self.policy.clauses:
            for stmt in self._statements(cid):
                if isinstance(stmt, ast.ProjectRule) and stmt.kind == "sums":
                    shared = caps.get(stmt.project.text)
                    parts = [caps.get(p.text) for p in stmt.kinds]
                    if shared is None or None in parts:
                        continue
                    total = sum(p for p in parts if p is not None)
                    if total > shared:
                        names = "、".join(f"{p.text} {yuan(int(caps[p.text]))}" for p in stmt.kinds)
                        self.add(f"L602:{stmt.project.text}", Finding(
                            "L602", Severity.NOTE,
                            f"分项限额之和 {yuan(int(total))}（{names}）超过其共用限额「{stmt.project.text}」{yuan(int(shared))}：分项限额不能同时用满",
                            [clause_ref(self.policy, cid)]))

    def _fixed_values(self, item: str) -> dict[str, Fraction]:
        """Per scope, a value that is the same for every target and fixed in the text (no parameter)."""
        out: dict[str, Fraction] = {}
        for v in self.policy.values.values():
            if v.item == item and isinstance(v.value, ast.Amount):
                out[v.scope] = Fraction(v.value.fen)
        return out

    def _missing_deductibles(self) -> None:
        by_scope: dict[str, dict[str, set[str]]] = {}
        for v in self.policy.values.values():
            for stmt_target in self._targets_of(v.vid):
                by_scope.setdefault(v.scope, {}).setdefault(v.item, set()).add(stmt_target)
        for scope, items in by_scope.items():
            rated, deducted = items.get("rate", set()), items.get("deductible", set())
            if deducted and "all" not in deducted:
                lacking = sorted(rated - deducted - {"all"})
                if lacking:
                    cid = next(v.cid for v in self.policy.values.values() if v.scope == scope and v.item == "deductible")
                    self.add(f"L603:{scope}", Finding("L603", Severity.WARNING,
                                                      f"救助项目「{scope}」为部分类别规定了起付标准，{'、'.join(lacking)}有救助比例却未规定起付标准",
                                                      [clause_ref(self.policy, cid)]))

    def _fixed_by_target(self, item: str) -> dict[str, tuple[Fraction, str, str]]:
        """Per category, a rate or amount fixed in the text for the item: (value, clause, scope)."""
        out: dict[str, tuple[Fraction, str, str]] = {}
        for v in self.policy.values.values():
            if v.item != item:
                continue
            number = v.value.rate if isinstance(v.value, ast.Percent) else (Fraction(1) if isinstance(v.value, ast.Full) else None)
            if number is None:
                continue
            for target in self._targets_of(v.vid):
                out.setdefault(target, (number, v.cid, v.scope))
        return out

    def _targets_of(self, vid: str) -> list[str]:
        return self.policy.value_targets.get(vid, [])

    def _tiers(self) -> None:
        """A category listed earlier (a higher tier) that gets less of an item than a later one, or none of it."""
        order = [c for c, group in self.policy.categories.items() if not group]
        if not _tiered(self.policy, order):
            return
        for item in ("subsidy", "tilt", "rate"):
            holders = {t for v in self.policy.values.values() if v.item == item for t in self._targets_of(v.vid)}
            if "all" in holders:
                continue
            fixed = self._fixed_by_target(item)
            for hi, lo in itertools.combinations(order, 2):
                if hi in fixed and lo in fixed and fixed[lo][0] > fixed[hi][0]:
                    self.add(f"L604:{item}:{hi}:{lo}", Finding(
                        "L604", Severity.NOTE, f"排序在后的「{lo}」的{_label(item, fixed[lo][2])}高于排序在前的「{hi}」",
                        [clause_ref(self.policy, fixed[lo][1])]))
                if lo in holders and hi not in holders:
                    cid = next(v.cid for v in self.policy.values.values() if v.item == item and lo in self._targets_of(v.vid))
                    self.add(f"L604:{item}:{hi}:{lo}", Finding(
                        "L604", Severity.NOTE, f"排序在前的「{hi}」没有{_label(item, '')}，而排序在后的「{lo}」有",
                        [clause_ref(self.policy, cid)]))

    # ---------------------------------------------------------------- references
    def _floors(self) -> None:
        header = self.policy.source.header
        if header.start is None:
            return
        last = header.end.year if header.end else header.start.year + 2
        for v in self.policy.values.values():
            if not isinstance(v.value, ast.Bounded) or not isinstance(v.value.value, ast.ParamValue):
                continue
            floor = v.value.floor
            if not isinstance(floor, ast.NameRef):
                continue
            unknown = []
            for year in range(header.start.year, last + 1):
                value = self.policies.params.lookup(v.value.value.param.text, self.region, year)
                bound = self.policies.params.lookup(floor.name.text, self.region, year)
                if value.fen is None or bound.fen is None:
                    unknown.append(year)
                elif value.fen < bound.fen:
                    self.add(f"L701:{v.vid}:{year}", Finding(
                        "L701", Severity.ERROR,
                        f"{year}年「{v.value.value.param.text}」{yuan(value.fen)} 低于文件要求的下限「{floor.name.text}」{yuan(bound.fen)}",
                        [clause_ref(self.policy, v.cid)]))
            if unknown:
                self.add(f"L702:{v.vid}", Finding(
                    "L702", Severity.NOTE,
                    f"无法核对「{v.value.value.param.text}」不低于「{floor.name.text}」：{'、'.join(map(str, unknown))} 年参数文件中没有数值",
                    [clause_ref(self.policy, v.cid)]))

    def _overlaps(self) -> None:
        """Another policy for the same region in force on some of the same days: which one decides is then a guess."""
        mine = self.policy.source.header
        for other in self.policies.policies.values():
            h = other.source.header
            if other is self.policy or not (h.region and mine.region and h.region.text == mine.region.text):
                continue
            if mine.start and h.start and mine.start <= (h.end or dt.date.max) and h.start <= (mine.end or dt.date.max):
                self.add(f"L502:{other.name}", Finding(
                    "L502", Severity.ERROR,
                    f"施行期间 {mine.start}—{mine.end or '未定'} 与同一地区的「{other.name}」（{h.start}—{h.end or '未定'}）重叠",
                    [ClauseRef(self.policy.source.path, mine.span.line if mine.span else 1, mine.docno, "政策头", ""),
                     ClauseRef(other.source.path, h.span.line if h.span else 1, h.docno, "政策头", "")], classification="相悖"))

    def _claim_scope(self) -> None:
        """就医类别 the local policy settles that its parent does not: an extension of the assistance scope."""
        assert self.parent is not None
        kinds = {d.name.text for d in self.policy.source.decls if d.kind == "claim_kind"}
        theirs = {d.name.text for d in self.parent.source.decls if d.kind == "claim_kind"}
        extra = sorted(kinds - theirs) if theirs else []
        forbids = [f"c{i}" for i, c in enumerate(self.parent.source.clauses, start=1)
                   if any(isinstance(s, ast.NoExtension) for s in c.statements)]
        if extra:
            self.add("L506", Finding(
                "L506", Severity.ERROR if forbids else Severity.WARNING,
                f"本文件结算的就医类别 {'、'.join(extra)} 不在上位政策的救助范围内（上位：{'、'.join(sorted(theirs))}）"
                + ("，而上位政策禁止下位扩大救助范围" if forbids else ""),
                [clause_ref(self.parent, c) for c in forbids], classification="相悖" if forbids else "更宽"))

    # ---------------------------------------------------------------- parent
    def _parent(self, population: list[tuple[dict[str, Any], Decision]]) -> None:
        assert self.parent is not None
        child_h, parent_h = self.policy.source.header, self.parent.source.header
        if parent_h.start and child_h.start and (child_h.start < parent_h.start or (
                parent_h.end and (child_h.end is None or child_h.end > parent_h.end))):
            self.add("L501", Finding("L501", Severity.WARNING, f"施行期间 {child_h.start}—{child_h.end or '未定'} 超出上位政策的 {parent_h.start}—{parent_h.end or '未定'}",
                                     [], None, classification="相悖"))
        shared = [i for i in self.policy.identities if i in self.parent.identities]
        for ident in sorted(set(self.policy.identities) ^ set(self.parent.identities)):
            ours = ident in self.policy.identities
            where = "本文件有而上位政策没有" if ours else "上位政策有而本文件没有"
            self.add(f"L504:{ident}", Finding("L504", Severity.WARNING, f"身份「{ident}」{where}",
                                              _identity_clauses(self.policy if ours else self.parent, ident),
                                              classification="更宽" if ours else "更严"))
        for ident in shared:
            a, b = self.policy.identities[ident], self.parent.identities[ident]
            if a != b:
                self.add(f"L505:{ident}", Finding("L505", Severity.WARNING, f"身份「{ident}」的认定部门不同：本文件 {a or '未写'}，上位政策 {b or '未写'}",
                                                  classification="相悖"))
        parent_region = parent_h.region.text if parent_h.region else ""
        on = _probe_date(max(d for d in (child_h.start, parent_h.start) if d))
        if (child_h.end and on > child_h.end) or (parent_h.end and on > parent_h.end):
            return  # no common period: L501 says so
        up = Population(self.reasoner, self.parent, parent_region, on, shared)
        for record, mine in Population(self.reasoner, self.policy, self.region, on, shared).decisions():
            try:
                theirs = self.reasoner.decide(dict(record, 地区=parent_region, 假设参数=up.assumed | record["假设参数"]))
            except (RecordError, PolicySelectionError):
                continue
            self._compare(record, mine, theirs)

    def _parent_clauses(self, item: Any) -> list[ClauseRef]:
        """The parent's clauses for an item it did not give: where it says who gets it."""
        assert self.parent is not None
        from .compile import ITEM_CONST

        const = ITEM_CONST[item.item]
        cids = sorted({v.cid for v in self.parent.values.values() if v.item == const and v.scope == item.scope})
        return [clause_ref(self.parent, c) for c in cids[:1]]

    def _compare(self, record: dict[str, Any], mine: Decision, theirs: Decision) -> None:
        for ours in mine.items:
            other = next((o for o in theirs.items if o.item == ours.item and o.scope == ours.scope), None)
            a = ours.value if ours.status == ITEM_DECIDED else None
            b = other.value if other and other.status == ITEM_DECIDED else None
            if a == b or (a is None and b is None):
                continue
            if a is not None and b is not None and ours.number and other and other.number:
                better = _better(ours.item, ours.number, other.number)
                if better is None:
                    continue
                kind = "更宽" if better else "更严"
            else:
                kind = "更宽" if b is None else "更严"
            cites = [_from_citation(c) for c in (ours.citation, other.citation if other else None) if c]
            if not (other and other.citation):
                cites += self._parent_clauses(ours)
            self.add(f"L503:{ours.label}:{kind}:{ours.category}:{other.category if other else ''}", Finding(
                "L503", Severity.WARNING if kind == "更严" else Severity.NOTE,
                f"{ours.label}：本文件给 {a or '无'}（{ours.category or '—'}），上位政策给 {b or '无'}（{other.category if other and other.category else '—'}）——比上位政策{kind}",
                cites, record, classification=kind))


def _with_claim(record: dict[str, Any], kind: str, self_pay: int, facts: dict[str, bool]) -> dict[str, Any]:
    """The record with one claim on its decision date whose self-pay after basic and catastrophic
    insurance is `self_pay` 分 (both insurers' payments given as 0, so none is computed)."""
    claim = {"编号": f"{record['编号']}-账单", "日期": record["日期"], "类别": kind, "政策范围内费用": _yuan_text(Fraction(self_pay, 100)),
             "基本医保支付": "0", "大病保险支付": "0", "事实": dict(facts)}
    return dict(record, 编号=f"{record['编号']}-账单", 就医=[claim])


def _pct(rate: Fraction) -> str:
    return f"{float(rate * 100):g}%"


def _worse(cat: str | None, item: Any, d: Decision) -> bool:
    """Is a category the person holds strictly worse than the winner on this item (a lower value, or none)?"""
    if cat not in d.categories:
        return False
    lost = {alt.category: alt.value for alt in item.lost}
    return cat not in lost or lost[cat] != item.value


def _better(item: str, mine: str, theirs: str) -> bool | None:
    if mine == theirs:
        return None
    if "inf" in (mine, theirs):
        return mine == "inf" if item != "救助起付标准" else theirs == "inf"
    a, b = Fraction(mine), Fraction(theirs)
    if a == b:
        return None
    return a < b if item == "救助起付标准" else a > b


def _identity_clauses(policy: CompiledPolicy, ident: str) -> list[ClauseRef]:
    """Clauses that declare an identity or name it in a condition."""
    out = []
    for i, clause in enumerate(policy.source.clauses, start=1):
        text = " ".join(str(s) for s in clause.statements)
        if f"'{ident}'" in text:
            out.append(clause_ref(policy, f"c{i}"))
    return out


def _tiered(policy: CompiledPolicy, order: list[str]) -> bool:
    """Categories are tiers when the policy orders them (待遇就高 按 类别 顺序) or numbers them (第一类, 第二类 …)."""
    import re

    ordered = any(isinstance(s, ast.Highest) and s.order for _, s in iter_statements(policy.source))
    return ordered or all(re.fullmatch(r"第[一二三四五六七八九十]+类", c) for c in order)


def _label(item: str, scope: str) -> str:
    from .compile import ITEM_LABEL

    label = ITEM_LABEL.get(item, item)
    return f"{label}（{scope}）" if scope else label


def _from_citation(c: Any) -> ClauseRef:
    return ClauseRef(c.file, c.line, c.document, c.article, c.quote)


def lint(policies: PolicySet, name: str, parent: str | None = None) -> list[Finding]:
    """Every finding for one policy of a rule set (and against its parent, when named or declared)."""
    declared = policies.policies[name].source.header.parent
    return Linter(policies, name, parent or (declared.text if declared and declared.text in policies.policies else None)).run()
