"""This module makes a decision for one person as of a date, and for batches.

Pipeline per person: pick the policy in force → type the record's facts by the policy's
declarations → numeric layer: evaluate atomic conditions and the date's benefit values →
signature → clingo (cached per signature) → Decision. Nothing here knows a region.

The work splits in two. The person part (PersonPart: typed facts, the date context's values,
the atomic conditions that name no 就医事实) depends on the person, the policy and the year
only; the claim part (the person as of the date, claim facts, claim-level conditions, the
signature) on the date and the claim. A settlement (settle.Settler) keeps its person's parts
in a PersonParts and pays for the person part once per policy and year, not once per claim.
The decided core of a Decision (status, categories, items with their citations, the answer
set) is kept per Reasoner, LRU, under everything it is computed from (see Reasoner._decision),
so a person sharing a signature with an earlier one, or a second claim of the same person,
gets the same core and only the person-specific fields are rebuilt.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Iterable

from . import ast
from .compile import ITEM_LABEL, OTHER_DEPARTMENT, CompiledPolicy
from .numeric import AtomResult, Evaluated, Missing, ParamLookup, evaluate, evaluate_atom, month_relation, parse_bool, parse_money, parse_rate, ranks, round_fen, yuan, pct
from .params import parse_assumed
from .person import Claim, Person, RecordError, parse_person
from .policies import PolicySet, Selection
from .recent import Recent
from .solve import Answer, GroundPolicy, Signature, context_facts

STATUS_ELIGIBLE, STATUS_NOT_ELIGIBLE, STATUS_UNDECIDED = "符合救助条件", "不符合救助条件", "无法决定"
ITEM_DECIDED, ITEM_NA, ITEM_UNDECIDED, ITEM_EXCLUDED = "已决定", "不适用", "无法决定", "已排除"
ITEM_BY_BILL = "视账单而定"  #: 待遇就高 按 金额: the categories differ on this item; settlement compares them


@dataclass(frozen=True)
class Citation:
    clause_id: str
    document: str  #: 文号
    article: str
    quote: str
    file: str
    line: int
    interpretations: tuple[tuple[str, str], ...] = ()

    def short(self) -> str:
        return f"〔{self.document} {self.article}〕"


@dataclass(frozen=True)
class Alternative:
    """A category that also qualified for an item but lost under 待遇就高."""

    category: str
    value: str
    citation: Citation


@dataclass(frozen=True)
class ItemDecision:
    item: str  #: 参保资助 救助起付标准 救助比例 年度救助限额 大病保险倾斜
    scope: str  #: 救助项目 or 档次, "" when none
    status: str
    category: str | None = None
    value: str | None = None  #: as it reads, e.g. "90%", "3,000.00元", "不设封顶"
    number: str | None = None  #: exact: a rate as a fraction ("9/10"), an amount in 分, "inf"
    citation: Citation | None = None
    lost: tuple[Alternative, ...] = ()
    missing: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)  #: tilt parameters

    @property
    def label(self) -> str:
        return f"{self.item}（{self.scope}）" if self.scope else self.item


@dataclass
class Decision:
    """The outcome for one person on one date, with what is needed to explain it."""

    person: Person
    policy: CompiledPolicy
    selection_note: str
    status: str
    categories: list[str]
    groups: list[str]
    undetermined: list[str]
    missing: list[str]
    items: list[ItemDecision]
    answer: Answer
    atom_results: dict[str, AtomResult]
    values: dict[str, Evaluated]
    facts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    claim: Claim | None = None  #: the claim this decision settles, if any

    def projects(self) -> list[str]:
        """救助项目 that apply to the claim (ASP: applies/1), in the policy's declaration order."""
        applied = {str(p) for (p,) in self.answer.get("applies")}
        return [d.name.text for d in self.policy.source.decls if d.kind == "project" and d.name.text in applied]

    def claim_exclusions(self) -> list[Citation]:
        return [Reasoner.citation(self.policy, str(cl)) for (x, item, cl) in sorted(self.answer.get("exclusion"))
                if item == "claim" and self.answer.has("claim_blocked", x)]

    def item(self, item: str, scope: str = "") -> ItemDecision:
        for it in self.items:
            if it.item == item and it.scope == scope:
                return it
        raise KeyError(f"{item}（{scope}）")


@dataclass
class PersonPart:
    """What a decision needs of a person under one policy and year, whatever the date and claim."""

    policy: CompiledPolicy
    facts: dict[str, Any]  #: typed by the policy's 事实 declarations
    context: tuple[Any, ...]  #: Reasoner.context_key: what `values` depend on
    values: dict[str, Evaluated]  #: the date context's benefit values (the Reasoner's cached dict)
    lookup: ParamLookup  #: parameters of the region and year, with the record's 假设参数
    atoms: dict[str, AtomResult] | None  #: the atomic conditions that name no 就医事实; None: evaluate all per claim
    per_person: tuple[str, ...]  #: facts whose amount enters a value (e.g. 2.2% × 缴费基数)


class PersonParts:
    """The person parts of one person's decisions, by policy and year.

    A Settler keeps one: its claims share the person's typed facts, date context and
    person-level conditions. It holds the parts of one Person object at a time (compared by
    identity): handed another person, it forgets the previous one's.
    """

    def __init__(self) -> None:
        self.person: Person | None = None
        self.parts: dict[tuple[str, int], PersonPart] = {}

    def of(self, person: Person) -> dict[tuple[str, int], PersonPart]:
        if person is not self.person:
            self.person, self.parts = person, {}
        return self.parts


@dataclass
class Prepared:
    """A decision up to its signature: everything the numeric layer computed for one person."""

    person: Person
    selection: Selection
    facts: dict[str, Any]
    values: dict[str, Evaluated]
    atoms: dict[str, AtomResult]
    signature: Signature
    part: PersonPart | None = None  #: the person part it was prepared from


@dataclass(frozen=True)
class _Layout:
    """What deciding reads from a policy's declarations, worked out once per policy."""

    fact_decls: dict[str, ast.Decl]
    units: dict[str, str]  #: 事实 → unit
    claim_decls: dict[str, ast.Decl]
    all_units: dict[str, str]  #: 事实 and 就医事实 → unit, as a claim's conditions see them
    claim_kinds: list[str]
    claim_atoms: frozenset[str]  #: atomic conditions that read a 就医事实 (or that cannot be told apart)


@dataclass(frozen=True)
class _Decided:
    """The part of a Decision that is the same for every person with the same key (Reasoner._decision)."""

    status: str
    categories: tuple[str, ...]
    groups: tuple[str, ...]
    undetermined: tuple[str, ...]
    missing: tuple[str, ...]
    items: tuple[ItemDecision, ...]
    answer: Answer
    warnings: tuple[str, ...]


CONTEXTS_KEPT = 1024  #: date contexts (policy, year, region, 假设参数) whose evaluated values are kept
GROUNDS_KEPT = 256  #: clingo groundings kept (one per distinct ranking of the benefit values)
DECISIONS_KEPT = 4096  #: decided cores kept (Reasoner._decision); each holds its items and answer set


class Reasoner:
    """Decides persons under a policy set; keeps one grounding per policy and date context."""

    def __init__(self, policies: PolicySet, solve_timeout: float | None = None):
        self.policies = policies
        self.solve_timeout = solve_timeout  #: seconds per clingo solve (the service sets one); None: no limit
        self._grounds: Recent[tuple[str, tuple[str, ...], bool], GroundPolicy] = Recent(GROUNDS_KEPT)
        self._values: Recent[tuple[Any, ...], dict[str, Evaluated]] = Recent(CONTEXTS_KEPT)
        # keyed by id(values): entries hold the values themselves, so an id is never reused while its entry lives
        self._ground_of_values: Recent[tuple[int, bool], tuple[dict[str, Evaluated], GroundPolicy]] = Recent(CONTEXTS_KEPT)
        self._decided: Recent[tuple[Any, ...], _Decided] = Recent(DECISIONS_KEPT)
        self._layouts: dict[str, tuple[CompiledPolicy, _Layout]] = {}  #: by policy name: as many as the policy set has

    # ---------------------------------------------------------------- inputs
    def _layout(self, policy: CompiledPolicy) -> _Layout:
        hit = self._layouts.get(policy.name)
        if hit is not None and hit[0] is policy:
            return hit[1]
        decls = policy.source.decls
        facts = {d.name.text: d for d in decls if d.kind == "fact"}
        claims = {d.name.text: d for d in decls if d.kind == "claim_fact"}
        units = {name: d.unit or "" for name, d in facts.items()}
        claim_units = {name: d.unit or "" for name, d in claims.items()}
        claim_atoms = frozenset(aid for aid, cond in policy.atoms.items()
                                if (names := _atom_names(cond)) is None or not names.isdisjoint(claim_units))
        layout = _Layout(facts, units, claims, units | claim_units, [d.name.text for d in decls if d.kind == "claim_kind"], claim_atoms)
        self._layouts[policy.name] = (policy, layout)
        return layout

    def _typed_facts(self, policy: CompiledPolicy, person: Person) -> dict[str, Any]:
        decls = self._layout(policy).fact_decls
        typed: dict[str, Any] = {}
        for name, raw in person.facts.items():
            if name not in decls:
                accepted = "、".join(decls) or "（本政策不需要任何事实）"
                raise RecordError(f"事实.{name}", f"「{policy.name}」不使用此事实；可用的事实：{accepted}", person.id)
            if raw is None:
                continue
            try:
                typed[name] = _convert(decls[name].unit or "", raw)
            except ValueError as err:
                raise RecordError(f"事实.{name}", str(err), person.id) from None
        return typed

    def _check_identities(self, policy: CompiledPolicy, person: Person) -> None:
        for i, claim in enumerate(person.identities):
            if claim.name not in policy.identities:
                raise RecordError(f"身份[{i}].名称", f"「{policy.name}」没有身份「{claim.name}」；可用的身份：{'、'.join(policy.identities)}", person.id)

    @staticmethod
    def context_key(policy: CompiledPolicy, person: Person, assumed: dict[str, int] | None = None) -> tuple[Any, ...]:
        """What a date context's benefit values depend on: policy, year, region, assumed parameters."""
        assumed = parse_assumed(person.assumed) if assumed is None else assumed
        return (policy.name, person.year, person.region, tuple(sorted(assumed.items())))

    def _context(self, policy: CompiledPolicy, person: Person, facts: set[str], assumed: dict[str, int] | None = None) -> dict[str, Evaluated]:
        assumed = parse_assumed(person.assumed) if assumed is None else assumed
        key = self.context_key(policy, person, assumed)
        values = self._values.get_recent(key)
        if values is None:
            year = person.year
            lookup = lambda name: self.policies.params.lookup(name, person.region, year, assumed)  # noqa: E731
            values = self._values.put(key, {vid: evaluate(v.item, v.value, year, lookup, facts) for vid, v in policy.values.items()})
        return values

    def _ground(self, policy: CompiledPolicy, values: dict[str, Evaluated], justify: bool = True) -> GroundPolicy:
        """The grounding for a date context; found by the identity of its (cached, long-lived) values.

        justify=False: a grounding without justify.lp, for callers that keep only what was decided
        (the batch's summaries); its answer sets must never be explained."""
        hit = self._ground_of_values.get_recent((id(values), justify))
        if hit is not None and hit[0] is values:
            return hit[1]
        ground = self._ground_for(policy, values, justify)
        self._ground_of_values.put((id(values), justify), (values, ground))
        return ground

    def _ground_for(self, policy: CompiledPolicy, values: dict[str, Evaluated], justify: bool) -> GroundPolicy:
        rank = ranks({vid: (policy.values[vid].item, policy.values[vid].scope, ev) for vid, ev in values.items()})
        absent = {vid for vid, ev in values.items() if ev.absent}
        unknown = {vid for vid, ev in values.items() if ev.missing and not ev.absent}
        facts = tuple(context_facts(rank, absent, unknown))
        key = (policy.content_hash, facts, justify)
        return self._grounds.get_recent(key) or self._grounds.put(key, GroundPolicy(policy, list(facts), self.solve_timeout, justify))

    # ---------------------------------------------------------------- decision
    def decide(self, record: Person | dict[str, Any], claim: Claim | None = None, parts: PersonParts | None = None) -> Decision:
        """Decide as of the record's date, or, for a claim, as of the claim's date with its facts.

        `parts` keeps the person part between calls for the same Person (a settlement's claims)."""
        prep = self.prepare(record, claim, parts=parts)
        decision = self._decision(prep)
        decision.claim = claim
        return decision

    def prepare(self, record: Person | dict[str, Any], claim: Claim | None = None, index: int = 0,
                parts: PersonParts | None = None) -> Prepared:
        """Everything up to the solve: policy, typed facts, the date's values, atom truth values, signature."""
        person = record if isinstance(record, Person) else parse_person(record, index)
        on = person if claim is None else replace(person, date=claim.date)
        selection = self.policies.select(on.region, on.date)
        policy = selection.policy
        kept = parts.of(person) if parts is not None else {}
        part = kept.get((policy.name, on.year))
        if part is None or part.policy is not policy:
            part = kept[(policy.name, on.year)] = self.person_part(policy, on)
        return self.claim_part(part, on, selection, claim)

    def person_part(self, policy: CompiledPolicy, person: Person) -> PersonPart:
        """The person's typed facts, date context and person-level atomic conditions under `policy`.

        Depends on the person's identities (checked), facts, region, year and 假设参数, not on the date."""
        layout = self._layout(policy)
        self._check_identities(policy, person)
        facts = self._typed_facts(policy, person)
        assumed = parse_assumed(person.assumed)
        context = self.context_key(policy, person, assumed)
        values = self._context(policy, person, set(layout.units), assumed)
        region, year, params = person.region, person.year, self.policies.params
        lookup: ParamLookup = lambda name: params.lookup(name, region, year, assumed)
        atoms: dict[str, AtomResult] | None
        try:
            atoms = {aid: evaluate_atom(cond, facts, layout.units, lookup) for aid, cond in policy.atoms.items()
                     if aid not in layout.claim_atoms}
        except Exception:  # noqa: BLE001 — every claim evaluates all its conditions in order, so it raises what it would have
            atoms = None
        per_person = tuple(sorted({ev.per_person.of.text for ev in values.values() if ev.per_person is not None}))
        return PersonPart(policy, facts, context, values, lookup, atoms, per_person)

    def claim_part(self, part: PersonPart, person: Person, selection: Selection, claim: Claim | None) -> Prepared:
        """The rest, as of the person's date: the claim's facts, the conditions that read them, the signature."""
        policy = selection.policy
        layout = self._layout(policy)
        if claim is not None:
            facts = part.facts | self._claim_facts(policy, person, claim)
            units = layout.all_units
        else:
            facts, units = dict(part.facts), layout.units
        kept, lookup = part.atoms, part.lookup
        if kept is None:
            atoms = {aid: evaluate_atom(cond, facts, units, lookup) for aid, cond in policy.atoms.items()}
        else:
            atoms = {aid: kept[aid] if aid in kept else evaluate_atom(cond, facts, units, lookup) for aid, cond in policy.atoms.items()}
        return Prepared(person, selection, facts, part.values, atoms, self.signature(policy, person, atoms, claim.kind if claim else ""), part)

    def _decision(self, prep: Prepared) -> Decision:
        """The Decision for a prepared person: the decided core from the cache, or solved and assembled.

        The core (status, categories, groups, undetermined, missing, items, answer, warnings) is a
        function of exactly what its key holds: the policy (content hash) and date context (→ the
        values and the grounding), the Signature (→ the answer set), what each unknown atomic
        condition lacks (→ the missing texts), and the amounts of the facts a per-person value
        reads (→ that item's value). The rest of the Decision (the person as of the date, the
        selection note, atom results, facts) is the person's own and is never shared.
        """
        policy, part = prep.selection.policy, prep.part
        key = None
        if part is not None:
            unknown = tuple((aid, r.missing) for aid, r in prep.atoms.items() if r.value is None)
            amounts = tuple(prep.facts.get(name) for name in part.per_person)
            key = (policy.content_hash, part.context, prep.signature, unknown, amounts)
            core = self._decided.get_recent(key)
            if core is not None:
                return Decision(prep.person, policy, prep.selection.note, core.status, list(core.categories), list(core.groups),
                                list(core.undetermined), list(core.missing), list(core.items), core.answer, prep.atoms,
                                prep.values, prep.facts, list(core.warnings))
        answer = self._ground(policy, prep.values).solve(prep.signature)
        decision = self._assemble(prep.person, prep.selection, answer, prep.atoms, prep.values, prep.facts)
        if key is not None:
            self._decided.put(key, _Decided(decision.status, tuple(decision.categories), tuple(decision.groups),
                                            tuple(decision.undetermined), tuple(decision.missing), tuple(decision.items),
                                            decision.answer, tuple(decision.warnings)))
        return decision

    def _claim_facts(self, policy: CompiledPolicy, person: Person, claim: Claim) -> dict[str, Any]:
        layout = self._layout(policy)
        decls, kinds = layout.claim_decls, layout.claim_kinds
        if claim.kind not in kinds:
            raise RecordError(f"就医[{claim.id}].类别", f"「{policy.name}」没有就医类别「{claim.kind}」；可用的就医类别：{'、'.join(kinds)}", person.id)
        typed: dict[str, Any] = {k: v for k, v in claim.builtin_facts().items() if k in decls}
        for name, raw in claim.facts.items():
            if name not in decls:
                raise RecordError(f"就医[{claim.id}].事实.{name}", f"「{policy.name}」不使用此就医事实；可用的就医事实：{'、'.join(decls)}", person.id)
            if raw is not None:
                try:
                    typed[name] = _convert(decls[name].unit or "", raw)
                except ValueError as err:
                    raise RecordError(f"就医[{claim.id}].事实.{name}", str(err), person.id) from None
        return typed

    @staticmethod
    def claim_signature(policy: CompiledPolicy, name: str, department: str, recognised: str, ended: str | None) -> tuple[str, str, str, str]:
        """One identity claim as a signature holds it, from its dates' month relations to the date
        (numeric.month_relation): a department the policy does not name is any other department,
        and an end after the date is no end yet."""
        dept = department if department in policy.departments else OTHER_DEPARTMENT
        return (name, dept, recognised, ended if ended in ("before_month", "same_month") else "")

    @staticmethod
    def signature(policy: CompiledPolicy, person: Person, atoms: dict[str, AtomResult], claim_kind: str = "") -> Signature:
        d = person.date
        claims = {Reasoner.claim_signature(policy, c.name, c.department, month_relation(c.recognised, d), c.ended and month_relation(c.ended, d))
                  for c in person.identities}
        known = tuple(sorted((aid, r.value) for aid, r in atoms.items() if r.value is not None))
        return Signature(tuple(sorted(claims)), known, claim_kind)

    def _assemble(self, person: Person, selection: Selection, answer: Answer, atoms: dict[str, AtomResult],
                  values: dict[str, Evaluated], facts: dict[str, Any]) -> Decision:
        policy = selection.policy
        categories = [c for c, g in policy.categories.items() if not g and answer.has("member", c)]
        groups = [c for c, g in policy.categories.items() if g and answer.has("member", c)]
        undetermined = [c for c in policy.categories if answer.has("undetermined", c)]
        status = STATUS_ELIGIBLE if answer.has("eligible") else (STATUS_UNDECIDED if answer.has("undecided_status") else STATUS_NOT_ELIGIBLE)
        missing_atoms = sorted(str(a) for (a,) in answer.get("missing"))
        missing = _describe_missing(m for a in missing_atoms for m in atoms[a].missing)
        items = [self._item(policy, answer, values, facts, item, scope, atoms) for item, scope in sorted(answer.get("scope"), key=_item_order)]
        if status == STATUS_UNDECIDED and not missing:
            missing = ["（无）"]
        warnings = sorted({w for it in items if it.status == ITEM_DECIDED for vid in _vids(answer, it) for w in values[vid].warnings})
        return Decision(person, policy, selection.note, status, categories, groups, undetermined, missing, items,
                        answer, atoms, values, facts, warnings)

    def _item(self, policy: CompiledPolicy, answer: Answer, values: dict[str, Evaluated], facts: dict[str, Any],
              item: Any, scope: Any, atoms: dict[str, AtomResult]) -> ItemDecision:
        label = ITEM_LABEL[str(item)]
        chosen = sorted((c, v) for (i, s, c, v) in answer.get("chosen") if (i, s) == (item, scope))
        if (item, scope) in answer.get("open_item"):
            needed = [m for (i, s, c, v) in answer.get("param_missing") if (i, s) == (item, scope) for m in values[str(v)].missing]
            needed += [m for (i, s, c, v) in answer.get("uncertain") if (i, s) == (item, scope) for m in values[str(v)].missing]
            needed += [m for (a,) in answer.get("missing") for m in atoms[str(a)].missing]
            return ItemDecision(label, str(scope), ITEM_UNDECIDED, missing=tuple(_describe_missing(needed)))
        if (item, scope) in answer.get("by_bill"):
            options = tuple(Alternative(str(c), values[str(v)].display, self.citation(policy, _benefit_clause(answer, item, scope, c, v)))
                            for (i, s, c, v, r) in sorted(answer.get("ranked")) if (i, s) == (item, scope))
            return ItemDecision(label, str(scope), ITEM_BY_BILL, lost=options)
        if chosen:
            cat, vid = chosen[0]
            ev = values[str(vid)]
            if ev.per_person is not None and ev.per_person.of.text not in facts:
                return ItemDecision(label, str(scope), ITEM_UNDECIDED, str(cat), missing=(Missing("fact", ev.per_person.of.text).describe(),))
            value, number = _show(ev, facts)
            cites = sorted(str(cl) for (i, s, c, v, cl) in answer.get("benefit") if (i, s, v) == (item, scope, vid))
            lost = tuple(Alternative(str(c), values[str(v)].display, self.citation(policy, _benefit_clause(answer, item, scope, c, v)))
                         for (i, s, c, v) in sorted(answer.get("lost")) if (i, s) == (item, scope))
            detail = _tilt_detail(policy.values[str(vid)].value) if item == "tilt" else {}
            return ItemDecision(label, str(scope), ITEM_DECIDED, str(cat), value, number, self.citation(policy, str(cites[0])), lost, detail=detail)
        if any((i, s) == (item, scope) for (i, s, c, x) in answer.get("blocked")):
            return ItemDecision(label, str(scope), ITEM_EXCLUDED)
        return ItemDecision(label, str(scope), ITEM_NA)

    @staticmethod
    def citation(policy: CompiledPolicy, cid: str) -> Citation:
        info = policy.clauses[cid]
        return Citation(cid, policy.source.header.docno or policy.name, info.article, info.quote, info.span.file, info.span.line,
                        tuple((i.key.text, i.text) for i in info.interpretations))

    def decide_many(self, records: Iterable[Person | dict[str, Any]]) -> list[Decision | RecordError]:
        """Decide each record; a bad record yields its RecordError in place, the rest go on."""
        out: list[Decision | RecordError] = []
        for i, record in enumerate(records):
            try:
                person = record if isinstance(record, Person) else parse_person(record, i)
                out.append(self.decide(person))
            except RecordError as err:
                out.append(err.with_traceback(None))  # a kept error must not hold the batch's frames alive
        return out


ITEM_ORDER = ["subsidy", "tilt", "deductible", "rate", "cap"]


def _item_order(key: tuple[Any, ...]) -> tuple[int, str]:
    return ITEM_ORDER.index(str(key[0])), str(key[1])


def _vids(answer: Answer, it: ItemDecision) -> list[str]:
    return [str(v) for (i, s, c, v) in answer.get("chosen") if ITEM_LABEL[str(i)] == it.item and s == it.scope]


def _benefit_clause(answer: Answer, item: Any, scope: Any, cat: Any, vid: Any) -> str:
    for (i, s, c, v, cl) in sorted(answer.get("benefit")):
        if (i, s, v) == (item, scope, vid) and c in (cat, "all"):
            return str(cl)
    raise KeyError(vid)


def _atom_names(cond: Any) -> set[str] | None:
    """The names (facts or parameters) numeric.evaluate_atom reads for an atomic condition; None for a kind it does not know."""
    if isinstance(cond, ast.BoolFact):
        return {cond.name.text}
    if not isinstance(cond, ast.Comparison):
        return None
    names = set()
    for op in (cond.left, cond.right):
        if isinstance(op, ast.NameRef):
            names.add(op.name.text)
        elif isinstance(op, ast.PercentOf):
            names.add(op.of.text)
        elif not isinstance(op, (ast.Amount, ast.Percent, ast.Number)):
            return None
    return names


def _convert(unit: str, raw: Any) -> Any:
    if unit == "金额":
        return parse_money(raw)
    if unit == "布尔":
        return parse_bool(raw)
    if unit == "比例":
        return parse_rate(raw)
    if unit == "日期":
        return dt.date.fromisoformat(str(raw))
    return Fraction(str(raw))


def _show(ev: Evaluated, facts: dict[str, Any]) -> tuple[str, str]:
    if ev.infinite:
        return ev.display, "inf"
    if ev.per_person is not None:
        base = facts.get(ev.per_person.of.text)
        if base is None:
            return f"{ev.display}（{ev.per_person.of.text} 未提供）", str(ev.number)
        amount = round_fen(ev.per_person.rate * base)
        return f"{pct(ev.per_person.rate)} × {yuan(base)} = {yuan(amount)}", str(amount)
    assert ev.number is not None
    return ev.display, str(ev.number)


def _tilt_detail(tilt: Any) -> dict[str, Any]:
    assert isinstance(tilt, ast.Tilt)
    out: dict[str, Any] = {"取消封顶线": tilt.no_cap}
    if tilt.deductible:
        out["起付线"] = yuan(tilt.deductible.fen)
    if tilt.deductible_cut:
        out["起付线降低"] = tilt.deductible_cut.text
    if tilt.rate_raise:
        out["报销比例提高"] = tilt.rate_raise.text
    if tilt.segments:
        out["分段"] = [f"{s.lower.text}{' 至 ' + s.upper.text if s.upper else ' 以上'} {s.rate.text}" for s in tilt.segments]
    return out


def _describe_missing(items: Iterable[Missing]) -> list[str]:
    return sorted({m.describe() for m in items})
