"""This module builds the abstract persons the drafter's checker searches, as ordinary records.

No identity, every identity alone, every pair, and triples of identities that lead to
different places (see Population.triples), recognised by the right department and in
effect on a probe date; for each, the atomic conditions its decision needs are set
just at or just across their thresholds, branching only where the decision reports a fact
missing. Parameters the documents leave open get a nominal value (示意值) written into the
record as 假设参数, so every witness can be re-run with `reasoner decide`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from fractions import Fraction
from typing import Any, Iterator

from . import ast
from .compile import CompiledPolicy
from .decide import Decision, Reasoner
from .numeric import round_fen
from .person import RecordError
from .policies import PolicySelectionError

NOMINAL_YUAN = 40000  #: 示意值 for every amount parameter the documents do not state
NOMINAL = "示意值（文件未给出该参数的数值）"


class Population:
    """Abstract persons of one policy as concrete records, with their decisions."""

    def __init__(self, reasoner: Reasoner, policy: CompiledPolicy, region: str, on: dt.date,
                 identities: list[str] | None = None):
        self.reasoner, self.policy, self.region, self.on = reasoner, policy, region, on
        self.identities = identities if identities is not None else list(policy.identities)
        self.assumed = {d.name.text: NOMINAL_YUAN for d in policy.source.decls if d.kind == "param" and d.unit == "金额"}

    def identity_sets(self) -> list[tuple[str, ...]]:
        return [()] + [(i,) for i in self.identities] + list(itertools.combinations(self.identities, 2))

    def triples(self) -> list[tuple[str, ...]]:
        """Identity triples worth deciding: one identity per class of identities the policy never
        tells apart — named in exactly the same lists (conditions, targets, delegations; the
        department is set right for each in the record anyway) — so each triple is a different
        combination to the engine. All triples would cost C(n, 3) searches (165 for a policy of 11
        identities) and only repeat what a representative shows."""
        classes: dict[frozenset[int], str] = {}
        lists = _name_lists(self.policy.source)
        for ident in self.identities:
            classes.setdefault(frozenset(k for k, names in enumerate(lists) if ident in names), ident)
        return list(itertools.combinations(classes.values(), 3))

    def _person_atom(self, aid: str) -> bool:
        facts = {d.name.text for d in self.policy.source.decls if d.kind == "fact"}
        cond = self.policy.atoms[aid]
        names = [cond.name.text] if isinstance(cond, ast.BoolFact) else [
            op.name.text for op in (cond.left, cond.right) if isinstance(op, ast.NameRef)]
        return any(n in facts for n in names)

    def record(self, ident_set: tuple[str, ...], atom_values: dict[str, bool]) -> dict[str, Any]:
        recognised = (self.on.replace(day=1) - dt.timedelta(days=40)).replace(day=1)
        identities = [{"名称": i, "认定部门": self.policy.identities.get(i) or "民政", "认定日期": str(recognised)} for i in ident_set]
        facts: dict[str, Any] = {}
        for aid, value in atom_values.items():
            facts.update(self._facts_for(self.policy.atoms[aid], value))
        return {"编号": "证例-" + ("+".join(ident_set) or "无身份"), "地区": self.region, "日期": str(self.on), "身份": identities,
                "事实": facts, "假设参数": dict(self.assumed)}

    def _facts_for(self, cond: ast.Comparison | ast.BoolFact, value: bool) -> dict[str, Any]:
        if isinstance(cond, ast.BoolFact):
            return {cond.name.text: value}
        facts = {d.name.text for d in self.policy.source.decls if d.kind == "fact"}
        left, right = cond.left, cond.right
        if not (isinstance(left, ast.NameRef) and left.name.text in facts):
            return {}
        bound = self._number(right)
        if bound is None:
            return {}
        holds_at = {">=": bound, ">": bound + Fraction(1, 100), "<=": bound, "<": bound - Fraction(1, 100), "=": bound}[cond.op]
        fails_at = {">=": bound - Fraction(1, 100), ">": bound, "<=": bound + Fraction(1, 100), "<": bound, "=": bound + 1}[cond.op]
        amount = holds_at if value else fails_at
        return {left.name.text: _yuan_text(amount)}

    def _number(self, op: ast.Operand) -> Fraction | None:
        """An operand's value in 元 under the nominal parameters."""
        if isinstance(op, ast.Amount):
            return Fraction(op.fen, 100)
        if isinstance(op, ast.Number):
            return op.value
        if isinstance(op, ast.Percent):
            return None
        name = op.name.text if isinstance(op, ast.NameRef) else op.of.text
        if name not in self.assumed:
            return None
        return Fraction(self.assumed[name]) * (op.rate if isinstance(op, ast.PercentOf) else 1)

    def decisions(self) -> Iterator[tuple[dict[str, Any], Decision]]:
        """Every identity set, branching only on the atomic conditions its decision actually needs:
        decide with the facts set so far; if a fact is missing, try the condition true and false."""
        person_atoms = {a for a in self.policy.atoms if self._person_atom(a)}
        for ident_set in self.identity_sets() + self.triples():
            yield from self._branches(ident_set, person_atoms)

    def _branches(self, ident_set: tuple[str, ...], person_atoms: set[str]) -> Iterator[tuple[dict[str, Any], Decision]]:
        """One identity set: decide, and where a fact the decision needs is missing, try it both ways."""
        stack: list[dict[str, bool]] = [{}]
        while stack:
            values = stack.pop()
            record = self.record(ident_set, values)
            try:
                decision = self.reasoner.decide(record)
            except (RecordError, PolicySelectionError):
                continue
            open_atoms = sorted(str(a) for (a,) in decision.answer.get("missing") if str(a) in person_atoms and str(a) not in values)
            if open_atoms:
                stack += [dict(values, **{open_atoms[0]: v}) for v in (False, True)]
            else:
                yield record, decision


def _name_lists(node: Any) -> list[set[str]]:
    """Every list of names in a policy's statements (an identity condition, a table's targets,
    a delegation …), except the identity declarations themselves."""
    out: list[set[str]] = []
    if isinstance(node, (list, tuple)):
        if node and all(isinstance(n, ast.Name) for n in node):
            return [{n.text for n in node}]
        for item in node:
            out += _name_lists(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, (ast.IdentityDecl, ast.Name)):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            out += [{value.text}] if isinstance(value, ast.Name) else _name_lists(value)
    return out


def _yuan_text(amount: Fraction) -> str:
    fen = round_fen(amount * 100)
    return f"{fen // 100}.{fen % 100:02d}"


def _probe_date(start: dt.date) -> dt.date:
    """A decision date well inside a period starting at `start`, late enough for identities
    recognised the month before last to be in effect under any 生效 rule."""
    return dt.date(start.year, 3, 15) if start.month < 3 else start + dt.timedelta(days=70)
