"""This module turns decisions and settlements into ledger drafts, and recomputes them for replay.

The outputs and justification of an entry are made by the same two functions at recording
and at replay (decision_payload, settlement_payload), so a replay under the recorded texts
is identical unless something outside the texts changed (the reasoner itself, say).

- decision: outputs = decision_json + person id and policy name (what `decide --json`
  prints); justification = explain_json (docs/explanation-schema.md).
- settlement (one calendar year of a record's claims): outputs = settlement_json without
  the per-claim justifications; justification = {"claims": [{"id", "justification"}]}.
  Put back together they are exactly settlement_json.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable

from .decide import Decision, Reasoner
from .explain import decision_json, explain_json
from .ledger import KIND_DECISION, KIND_SETTLEMENT, Draft, Entry, Ledger, LedgerError, canonical, sha256
from .numeric import ParamReading
from .person import Person, parse_person
from .policies import PolicySet
from .settle import Settlement, settle
from .settle_explain import settlement_json
from .version import __version__


@dataclass(frozen=True)
class Snapshot:
    """What a policy set was made of: file descriptions (canonical JSON pieces) and their texts by hash."""

    rules: list[dict[str, Any]]
    parameter_files: list[dict[str, Any]]
    texts: dict[str, str]


def snapshot(policies: PolicySet) -> Snapshot:
    """Each rules file (display path, sha256, name, 文号, period) and parameter file, with the texts."""
    rules, params, texts = [], [], {}
    for policy in sorted(policies.policies.values(), key=lambda p: p.source.path):
        header, text = policy.source.header, policy.source.source
        digest = sha256(text)
        texts[digest] = text
        rules.append({"file": policy.source.path, "sha256": digest, "name": policy.name, "document": header.docno,
                      "version": f"{header.docno or '无文号'}，施行 {header.start} 至 {header.end or '（未定）'}"})
    for name, text in sorted(policies.params.texts.items()):
        digest = sha256(text)
        texts[digest] = text
        params.append({"file": name, "sha256": digest})
    return Snapshot(rules, params, texts)


def policies_from(entry_policies: dict[str, Any], text_of: Any) -> PolicySet:
    """The policy set an entry was decided under, rebuilt from the ledger's stored texts."""
    rules = {f["file"]: text_of(f["sha256"]) for f in entry_policies["rules"]}
    params = {f["file"]: text_of(f["sha256"]) for f in entry_policies["parameter_files"]}
    return PolicySet.from_texts(rules, params)


# ------------------------------------------------------------------ the record as received
def record_text(record: Any) -> str:
    """The record as JSON text, key order kept; ISO dates; refuses what JSON would silently change."""
    return json.dumps(_jsonable(record, "记录"), ensure_ascii=False)


def _jsonable(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise LedgerError(f"{where} 的键「{bad[0]!r}」不是文本：无法按原样记入账本")
        return {k: _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (Fraction, Decimal)):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise LedgerError(f"{where} 的值类型 {type(value).__name__} 无法记入账本")


# ------------------------------------------------------------------ payloads
def decision_payload(decision: Decision) -> tuple[dict[str, Any], dict[str, Any]]:
    """(outputs, justification) of a decision, as plain JSON values."""
    outputs = decision_json(decision) | {"id": decision.person.id, "policy": decision.policy.name}
    return _plain(outputs), _plain(explain_json(decision))


def settlement_payload(settlement: Settlement) -> tuple[dict[str, Any], dict[str, Any]]:
    """(outputs, justification) of one settlement year; together they are settlement_json."""
    full = _plain(settlement_json(settlement))
    justification = {"claims": [{"id": c["id"], "justification": c.pop("justification")} for c in full["claims"]]}
    return full, justification


def _plain(value: Any) -> Any:
    """As it will read back from the ledger (tuples become lists, dates text)."""
    return json.loads(canonical(_jsonable(value, "输出")))


def _readings(decisions: Iterable[Decision]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], ParamReading] = {}
    for d in decisions:
        for reading in [r for ev in d.values.values() for r in ev.params] + [r for a in d.atom_results.values() for r in a.params]:
            seen[(reading.name, reading.region, reading.year, reading.fen, reading.source)] = reading
    return [{"name": r.name, "region": r.region, "year": r.year, "value_fen": r.fen, "source": r.source}
            for _, r in sorted(seen.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]


def _draft(kind: str, person: Person, options: dict[str, Any], used: list[str], decisions: list[Decision],
           payload: tuple[dict[str, Any], dict[str, Any]], snap: Snapshot) -> Draft:
    policies = {"rules": snap.rules, "parameter_files": snap.parameter_files, "used": sorted(set(used))}
    return Draft(kind, person.id, person.region, record_text(person.raw), canonical(options), canonical(policies),
                 canonical(_readings(decisions)), __version__, canonical(payload[0]), canonical(payload[1]), snap.texts)


def decision_draft(decision: Decision, snap: Snapshot, index: int = 0) -> Draft:
    """A decision as a ledger draft; index is the record's place in its file (it names records without 编号)."""
    return _draft(KIND_DECISION, decision.person, {"index": index}, [decision.policy.name], [decision],
                  decision_payload(decision), snap)


def settlement_draft(settlement: Settlement, snap: Snapshot, index: int = 0) -> Draft:
    decisions = [c.decision for c in settlement.claims]
    return _draft(KIND_SETTLEMENT, settlement.person, {"index": index, "year": settlement.year},
                  [d.policy.name for d in decisions], decisions, settlement_payload(settlement), snap)


# ------------------------------------------------------------------ recomputing
def recompute(kind: str, record: Any, options: dict[str, Any],
              reasoner: Reasoner) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The outputs, justification and parameter readings the reasoner gives now for a recorded input."""
    person = parse_person(record, int(options.get("index", 0)))
    if kind == KIND_DECISION:
        decision = reasoner.decide(person)
        return (*decision_payload(decision), _readings([decision]))
    settlement = settle(reasoner, person, int(options["year"]))[0]
    return (*settlement_payload(settlement), _readings(c.decision for c in settlement.claims))


# ------------------------------------------------------------------ recording
def record_decisions(ledger: Ledger, policies: PolicySet, decisions: list[tuple[int, Decision]]) -> list[Entry]:
    """Record decisions (each with its record's index in its file) in one append; entries in the same order."""
    snap = snapshot(policies)
    return ledger.append([decision_draft(d, snap, i) for i, d in decisions])


def record_settlements(ledger: Ledger, policies: PolicySet, settlements: list[tuple[int, Settlement]]) -> list[Entry]:
    """Record settlement years (each with its record's index in its file) in one append."""
    snap = snapshot(policies)
    return ledger.append([settlement_draft(s, snap, i) for i, s in settlements])
