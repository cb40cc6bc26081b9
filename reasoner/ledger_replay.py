"""This module replays a recorded decision and says what, if anything, differs, and why.

Two questions an auditor asks of a past decision:

- replay: recomputed from the recorded input under the recorded policy texts (rebuilt from
  the ledger, not read from today's files), is it the same? Every difference is listed field
  by field — outputs first, then the justification.
- with current rules: what would today's rules give? Besides the changed fields, the report
  names the clauses whose text changed (old and new lines), the parameter values that
  changed, and for every changed benefit item the recorded and the current explanation step.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compile import CompiledPolicy
from .decide import Reasoner
from .diagnostics import DiagnosticError
from .explain import render_nodes
from .ledger import KIND_DECISION, Entry, Ledger
from .ledger_record import policies_from, recompute
from .person import RecordError
from .policies import PolicySelectionError, PolicySet


@dataclass(frozen=True)
class Change:
    """One field that differs: path as an auditor reads it (items keyed by label), old and new value."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ClauseChange:
    """Lines of a rules file that changed, with the clause (条目) they sit in."""

    policy: str
    article: str
    removed: tuple[str, ...]
    added: tuple[str, ...]


@dataclass
class ReplayReport:
    entry: Entry
    current_rules: str | None  #: None: replayed under the recorded texts
    changes: list[Change] = field(default_factory=list)
    justification_changes: list[Change] = field(default_factory=list)
    clause_changes: list[ClauseChange] = field(default_factory=list)
    parameter_changes: list[Change] = field(default_factory=list)
    steps: list[tuple[str, str, str]] = field(default_factory=list)  #: (item label, recorded step, current step)
    error: str | None = None  #: the input could not be decided again (e.g. today's rules reject it)

    @property
    def identical(self) -> bool:
        return self.error is None and not self.changes and not self.justification_changes


# ------------------------------------------------------------------ field-level diff
def _list_key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if "item" in item and "scope" in item:
        return f"{item['item']}（{item['scope']}）" if item["scope"] else str(item["item"])
    for name in ("key", "id", "project", "category"):
        if name in item:
            return str(item[name])
    if {"name", "region", "year"} <= set(item):
        return f"{item['name']}（{item['region']}，{item['year']}）"
    return None


def diff_values(old: Any, new: Any, path: str = "") -> list[Change]:
    """Every leaf that differs; lists of keyed objects are matched by key, not position."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            out += diff_values(old.get(key, _ABSENT), new.get(key, _ABSENT), sub)
        return out
    if isinstance(old, list) and isinstance(new, list):
        return _diff_lists(old, new, path)
    if old == new:
        return []
    return [Change(path, None if old is _ABSENT else old, None if new is _ABSENT else new)]


class _Absent:
    def __repr__(self) -> str:
        return "（无）"


_ABSENT: Any = _Absent()


def _diff_lists(old: list[Any], new: list[Any], path: str) -> list[Change]:
    old_keys, new_keys = [_list_key(x) for x in old], [_list_key(x) for x in new]
    keyed = None not in old_keys + new_keys and len(set(old_keys)) == len(old) and len(set(new_keys)) == len(new)
    if not keyed:
        if old == new:
            return []
        if len(old) != len(new):
            return [Change(path, old, new)]
        return [c for i, (a, b) in enumerate(zip(old, new)) for c in diff_values(a, b, f"{path}[{i}]")]
    olds, news = dict(zip(old_keys, old)), dict(zip(new_keys, new))
    out: list[Change] = []
    for key in list(olds) + [k for k in news if k not in olds]:
        out += diff_values(olds.get(str(key), _ABSENT), news.get(str(key), _ABSENT), f"{path}[{key}]")
    return out


# ------------------------------------------------------------------ replay
def replay(ledger: Ledger, decision_id: str, rules: str | Path | None = None, current: bool = False) -> ReplayReport:
    """Recompute an entry: under its recorded texts, or (current=True) under the rules folder `rules`."""
    entry = ledger.get(decision_id)
    recorded = policies_from(entry.data("policies"), ledger.text)
    folder = str(rules) if current and rules else None
    report = ReplayReport(entry, (folder or "随包附带的规则") if current else None)
    policies = PolicySet.load(folder) if current else recorded
    try:
        outputs, justification, readings = recompute(entry.kind, entry.data("input_text"), entry.data("input_options"),
                                                     Reasoner(policies))
    except (RecordError, PolicySelectionError, KeyError, DiagnosticError) as err:
        report.error = str(err)
        return report
    report.changes = diff_values(entry.data("outputs"), outputs)
    report.justification_changes = diff_values(entry.data("justification"), justification)
    if current:
        used = entry.data("policies")["used"]
        report.clause_changes = clause_changes(recorded, policies, used)
        report.parameter_changes = diff_values(entry.data("parameters"), readings, "参数")
        report.steps = relevant_steps(entry.kind, entry.data("justification"), justification)
    return report


def clause_changes(old: PolicySet, new: PolicySet, names: list[str]) -> list[ClauseChange]:
    """For each policy used: the changed lines of its rules text, grouped by the clause they sit in."""
    out: list[ClauseChange] = []
    for name in names:
        before, after = old.policies.get(name), new.policies.get(name)
        if before is None:
            continue
        if after is None:
            out.append(ClauseChange(name, "（整份政策）", ("现行规则中已没有此政策",), ()))
            continue
        out += _text_changes(name, before, after)
    return out


def _text_changes(name: str, before: CompiledPolicy, after: CompiledPolicy) -> list[ClauseChange]:
    a, b = before.source.source.splitlines(), after.source.source.splitlines()
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        article = _article_at(before, i1 + 1) or _article_at(after, j1 + 1) or "（条款之外）"
        out.append(ClauseChange(name, article, tuple(x.strip() for x in a[i1:i2]), tuple(x.strip() for x in b[j1:j2])))
    return out


def _article_at(policy: CompiledPolicy, line: int) -> str | None:
    for info in policy.clauses.values():
        if info.span.line <= line <= info.span.end_line:
            return info.article
    return None


# ------------------------------------------------------------------ relevant explanation steps
def relevant_steps(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """For every benefit item whose decision differs: its recorded and its current explanation step."""
    if kind == KIND_DECISION:
        return _item_steps(old, new, "")
    olds = {c["id"]: c["justification"] for c in old.get("claims", [])}
    out = []
    for claim in new.get("claims", []):
        if claim["id"] in olds:
            out += _item_steps(olds[claim["id"]], claim["justification"], f"就医 {claim['id']}：")
    return out


def _item_steps(old: dict[str, Any], new: dict[str, Any], prefix: str) -> list[tuple[str, str, str]]:
    old_items, new_items = _items_by_label(old), _items_by_label(new)
    out = []
    for label, (index, item) in old_items.items():
        if label in new_items and new_items[label][1] == item:
            continue
        new_step = _step_text(new, new_items[label][0]) if label in new_items else "（现行规则下无此项）"
        out.append((prefix + label, _step_text(old, index), new_step))
    return out


def _items_by_label(explanation: dict[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    items = explanation["decision"]["items"]
    return {str(_list_key(it)): (i, it) for i, it in enumerate(items)}


def _step_text(explanation: dict[str, Any], item_index: int, depth: int = 2) -> str:
    """The root step of an item (roots are the policy choice, then one per item in order), a few levels deep."""
    key = explanation["roots"][1 + item_index]
    return render_nodes(explanation, [key], max_depth=depth)

