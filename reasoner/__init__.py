"""医疗救助政策推理器 — a rules-as-code reasoner for Chinese medical-assistance policy.

Pipeline (one module per stage)::

    rules/*.rules ──parse (grammar/policy.lark, Lark LALR)──▶ ast (dataclasses with spans)
        ──check──▶ diagnostics (file:line:col, Chinese)
        ──compile──▶ ASP facts (clauses, condition nodes, benefit tables, citations)
    person record ──person──▶ Person ──numeric (exact 分/fractions)──▶ atom truth values, value ranks
    facts + asp/decide.lp + asp/justify.lp ──solve (clingo, one grounding per context,
        persons as #external assignments, cached per signature)──▶ answer set
        ──decide──▶ Decision ──explain──▶ Chinese text tree / JSON / why-not
    claims (就医) ──settle (a decision per claim date; exact arithmetic)──▶ Settlement ──settle_explain──▶ table / arithmetic / JSON
    payment ledger ──audit (staged in SQLite by person-year, settled, each row classified)──▶ findings ──audit_report──▶ CSV/Excel / JSON / HTML
    many records ──batch (one solve per signature)──▶ summaries; ──diff──▶ two rule versions compared
    a roster file ──batch_run (chunks, manifest, resumable)──▶ runners (in process, process pool, Dask)
        ──partition.run_partition (pure: rows in, one result row each out)──▶ Parquet / CSV; batch_cli: `reasoner batch`
    a policy ──witness (abstract persons)──▶ decisions ──lint──▶ findings ──lint_report──▶ text / SARIF
    a decision or settlement ──ledger_record──▶ ledger (hash-chained entries, policy texts by hash; ledger_db:
        SQLite / PostgreSQL, Alembic migrations) ──ledger_replay──▶ identical, or every difference ──ledger_view──▶ why / replay text

Glossary (DSL keyword / Python / ASP):

    身份 identity             IdentityClaim, identity(I), holds(I)
    认定 recognition          recognizer(I,Dept,Clause), claimed(I,Dept), wrong_dept(I,D)
    类别 category             CategoryRule, category(C), member(C), nonmember(C), undetermined(C)
    群体 auxiliary group      CategoryRule(group=True), group(C)
    条款 clause               Clause, clause(Cid,Article); why(Conclusion,Cid)
    待遇就高 highest benefit  Highest, highest(item|category,Cid), chosen(Item,Scope,C,V), lost(...)
    参保资助 premium subsidy  item subsidy
    救助起付标准 deductible   item deductible
    救助比例 rate             item rate
    年度救助限额 annual cap    item cap
    大病保险倾斜 tilt          Tilt, item tilt
    救助项目 scope            Decl(kind="project"), scope(Item,Scope)
    排除 exclusion            Exclusion, exclusion(X,Item,Cid), blocked(Item,Scope,C,X)
    解释 interpretation       Interpretation, interpretation(Cid,Key)
    参数 parameter            ParameterStore, value_unknown(V)
    事实 person fact          Person.facts, atom_val(A,t|f)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .decide import Decision, ItemDecision, Reasoner
from .diagnostics import Diagnostic, DiagnosticError
from .explain import explain_json, explain_text, why_not_text
from .diff import DiffReport
from .diff import diff as _diff
from .lint import Finding
from .lint import lint as _lint
from .settle import Settlement
from .settle import settle as _settle
from .settle_explain import settlement_json, settlement_text
from .person import Person, RecordError, load_records, parse_person
from .policies import PolicySelectionError, PolicySet, load_policy

from .why_not_more import WhyNotMore
from .why_not_more import why_not_more as _why_not_more
from .audit import Audit, AuditFinding, AuditOptions
from .audit import run_audit as _run_audit
from .ledger_paths import LedgerError
from .version import __version__

__all__ = [
    "Decision", "Diagnostic", "DiagnosticError", "ItemDecision", "Person", "PolicySelectionError", "PolicySet",
    "DiffReport", "Finding", "Reasoner", "RecordError", "Settlement", "decide", "explain", "lint_policy", "settle", "what_if", "why_not_more", "WhyNotMore", "settlement_json", "settlement_text", "load_policies", "load_policy", "load_records", "parse_person",
    "audit", "Audit", "AuditFinding", "AuditOptions",
    "Ledger", "LedgerError", "open_ledger", "record", "replay", "why",
    "__version__",
]


def load_policies(folder: str | Path | None = None) -> Reasoner:
    """A reasoner over every rules file of a folder (default: the bundled policies).

    Raises DiagnosticError listing every error in the rules files.
    """
    return Reasoner(PolicySet.load(folder))


def decide(record: dict[str, Any] | Person, reasoner: Reasoner | None = None) -> Decision:
    """Decide one person record (a dict as read from YAML/JSON) under the bundled policies."""
    return (reasoner or _default()).decide(record)


def settle(record: dict[str, Any] | Person, year: int | None = None, reasoner: Reasoner | None = None) -> list[Settlement]:
    """Settle a record's claims (就医): one Settlement per calendar year, or only `year`."""
    return _settle(reasoner or _default(), record, year)


def lint_policy(policies: PolicySet, name: str, parent: str | None = None) -> list[Finding]:
    """The drafter's checker: findings with codes, clauses and witness records (see reasoner.lint)."""
    return _lint(policies, name, parent)


def what_if(old: PolicySet, new: PolicySet, records: list[Any] | str | Path, chart: str | Path | None = None) -> DiffReport:
    """Two versions of the rules over one population: who changes, by how much (see reasoner.diff).

    `records` is a list of records or a population file (YAML, JSON, or a CSV/Excel/Parquet
    table, read in chunks); `chart` (.png or .svg) writes the distribution of changes there
    (report.chart; report.notes says if the PNG lacked a Chinese font).
    """
    from .diff import diff_file, render_chart

    report = diff_file(old, new, records) if isinstance(records, (str, Path)) else _diff(old, new, records)
    if chart is not None:
        render_chart(report, chart)
    return report


def explain(decision: Decision, fmt: str = "text", why_not: str | None = None) -> Any:
    """The justification of a decision: Chinese text ("text") or the versioned JSON ("json")."""
    if why_not:
        return why_not_text(decision, why_not)
    return explain_json(decision) if fmt == "json" else explain_text(decision)


def why_not_more(record: dict[str, Any] | Person, year: int | None = None, reasoner: Reasoner | None = None) -> list[WhyNotMore]:
    """Why a payout was not higher: per-claim limits and the better categories (see reasoner.why_not_more)."""
    return _why_not_more(reasoner or _default(), record, year)


def audit(payments: str | Path, persons: str | Path | None = None, columns: str | Path | None = None,
          params: dict[str, str] | None = None, reasoner: Reasoner | None = None) -> Audit:
    """Audit a payment ledger (CSV/Excel/Parquet): every row recomputed and classified (see reasoner.audit).

    Returns an Audit (a context manager: it holds a scratch database); `audit.findings()` yields
    the findings in input-row order, chunk by chunk; reasoner.audit_report writes CSV/Excel, JSON
    and HTML from it. Raises AuditError when the header lacks a required column.
    """
    options = AuditOptions(persons=persons, columns=columns, params=dict(params or {}))
    return _run_audit(reasoner or _default(), payments, options)


def open_ledger(db: str | None = None) -> Any:
    """The decision ledger (reasoner.ledger.Ledger), migrated on first use.

    db: a SQLite file path or a URL (postgresql+psycopg://…); default: $REASONER_LEDGER, else
    the per-user file (reasoner.ledger_paths). Close it (or use it in a with block) when done.
    """
    from .ledger import Ledger

    return Ledger(db)


def record(record: dict[str, Any], ledger: Any = None, settle: bool = False, year: int | None = None,
           reasoner: Reasoner | None = None, index: int = 0) -> list[tuple[str, Decision | Settlement]]:
    """Decide (or, with settle=True, settle) a record and write each result to the ledger.

    Returns (decision id, Decision or Settlement) pairs: one for a decision, one per settled
    year. `ledger` is a Ledger or a db as for open_ledger. `index` is the record's place in its
    file (it names records without 编号, and replay uses it).
    """
    from .ledger_record import record_decisions, record_settlements

    reasoner = reasoner or _default()
    person = parse_person(record, index)
    with _ledger(ledger) as book:
        if settle:
            settled = _settle(reasoner, person, year)
            entries = record_settlements(book, reasoner.policies, [(index, s) for s in settled])
            return [(e.decision_id, s) for e, s in zip(entries, settled)]
        decision = reasoner.decide(person)
        return [(record_decisions(book, reasoner.policies, [(index, decision)])[0].decision_id, decision)]


def replay(decision_id: str, ledger: Any = None, rules: str | Path | None = None, current: bool = False) -> Any:
    """Recompute a recorded decision (reasoner.ledger_replay.ReplayReport): under the recorded policy
    texts, or with current=True under the rules folder `rules` (default: the bundled rules)."""
    from .ledger_replay import replay as _replay

    with _ledger(ledger) as book:
        return _replay(book, decision_id, rules, current)


def why(decision_id: str, ledger: Any = None, fmt: str = "text") -> Any:
    """The explanation recorded with a decision: Chinese text ("text") or its JSON ("json"); never recomputed."""
    from .ledger_view import why_json, why_text

    with _ledger(ledger) as book:
        entry = book.get(decision_id)
        return why_json(entry) if fmt == "json" else why_text(entry)


def _ledger(ledger: Any) -> Any:
    """A with-block over the ledger: a given Ledger stays open, one opened here is closed."""
    from contextlib import nullcontext

    return nullcontext(ledger) if hasattr(ledger, "append") else open_ledger(ledger)


def __getattr__(name: str) -> Any:
    """Ledger on first use only: the database layer (SQLAlchemy) is not imported with the package."""
    if name == "Ledger":
        from .ledger import Ledger

        return Ledger
    raise AttributeError(f"module 'reasoner' has no attribute {name!r}")


_DEFAULT: Reasoner | None = None


def _default() -> Reasoner:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_policies()
    return _DEFAULT
