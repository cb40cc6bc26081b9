"""This module audits a payment ledger: each paid row is recomputed by the settlement engine and classified.

An auditor (审计, 医保基金监管) holds an export of what was paid — one row per payment,
columns named as a 医保 export names them (see COLUMNS) — and asks, row by row: was this
right, and if not, how far off and by which clause? The engine knows the answer only for a
person's whole year in date order (deductibles and caps accumulate), while exports come in
any order and may not fit in memory. So the audit runs in three streaming passes over a
scratch SQLite database (stdlib sqlite3, a temporary file):

    1. stage   read the export in chunks (tables.read_rows); each row is checked on its own
               (amounts, dates, cells) — a bad row becomes an error finding at once — and
               the good ones are stored, indexed by (person, region, year, date, row);
    2. settle  walk that index one (person, region, year) group at a time: the person's
               claims go through a settle.Settler in date order exactly as `reasoner settle`
               would settle them, and each row's paid amount is compared with what the engine
               says was due (classify());
    3. report  findings are read back in input-row order (audit_report writes CSV/Excel,
               JSON and HTML chunk by chunk).

Memory is bounded by a chunk and by one person-year, not by the file. Every input row
yields exactly one finding: one of OUTCOMES, an error row (错误行) or 无法核查 when the
engine cannot settle the claim (a fact or parameter missing).

Precedence when several findings fit one row (the first that applies wins, because each
later check presumes the earlier ones passed):

    重复救助 (the claim was already paid in an earlier row) > 无法核查 > 身份尚未生效 >
    当日不符合救助条件 > 对排除的就医支付 > 未按待遇就高 > 超过年度限额支付 > 多付 / 少付 > 正确

A duplicate row is not settled again (it would otherwise use up the cap twice); the
amount at stake of every finding is exact, in 分, and never negative — the outcome says
in which direction.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import yaml

from .decide import Citation, Decision, Reasoner
from .numeric import parse_money, yuan
from .person import CSV_IDENTITIES, Claim, RecordError, flat_record, load_records, parse_person
from .policies import PolicySelectionError
from .settle import CLAIM_UNDECIDED, ClaimResult, Settler, YearState, candidate_view
from .tables import DEFAULT_CHUNK, TableError, is_table, read_rows

# ------------------------------------------------------------------ the export's columns
PAYMENT_ID, PERSON, REGION, DATE, KIND = "结算单号", "人员编号", "地区", "就医日期", "就医类别"
SCOPE_COST, BASIC, CATASTROPHIC, APPLIED, PAID = "政策范围内费用", "基本医保支付", "大病保险支付", "救助类别", "医疗救助支付"
FILED, VISIT = "备案日期", "就诊流水号"
ASSUMED_PREFIX = "假设参数."  #: a column 假设参数.年度救助限额 gives an assumed parameter value (元)

#: column → what it holds; required columns first. Any other column is a fact (事实 or
#: 就医事实 of the policy in force), or, when the payments file carries the persons, 身份.
COLUMNS = {
    PAYMENT_ID: "支付记录的编号（每行唯一）",
    PERSON: "人员编号；与人员文件的「编号」对应",
    DATE: "就医（入院）日期 YYYY-MM-DD",
    KIND: "就医类别，政策声明的名称（如 住院、门诊特殊病种）",
    SCOPE_COST: "政策范围内费用（元）",
    BASIC: "基本医保支付（元）",
    PAID: "医疗救助支付（元）：实际支付的金额，即被审核的数",
    REGION: "地区（统筹区）；缺省取人员文件的「地区」",
    CATASTROPHIC: "大病保险支付（元）；缺省按人员记录的大病保险参数计算",
    APPLIED: "经办时适用的救助类别（如 第三类）；用于「未按待遇就高」",
    FILED: "跨省异地就医备案日期",
    VISIT: "就诊流水号：同一次就医的编号；缺省以 就医日期+就医类别+政策范围内费用+基本医保支付 识别同一次就医",
}
REQUIRED = (PAYMENT_ID, PERSON, DATE, KIND, SCOPE_COST, BASIC, PAID)
FINDINGS_CHUNK = 2_000  #: findings held in memory at once (each carries its reason and quoted clauses: ~4 KB)

# ------------------------------------------------------------------ outcomes
CORRECT, OVERPAID, UNDERPAID = "正确", "多付", "少付"
NOT_ELIGIBLE, NOT_YET, OVER_CAP = "当日不符合救助条件", "身份尚未生效", "超过年度限额支付"
EXCLUDED, DUPLICATE, NOT_HIGHEST = "对排除的就医支付", "重复救助", "未按待遇就高"
ERROR, UNDECIDED = "错误行", "无法核查"
OUTCOMES = (CORRECT, OVERPAID, UNDERPAID, NOT_ELIGIBLE, NOT_YET, OVER_CAP, EXCLUDED, DUPLICATE, NOT_HIGHEST)
ALL_OUTCOMES = OUTCOMES + (UNDECIDED, ERROR)


class AuditError(ValueError):
    """The audit cannot start: a missing column, an unreadable mapping or persons file (Chinese message)."""


class RowError(ValueError):
    """One row that cannot be read; the message names the column."""


@dataclass
class AuditFinding:
    """One input row's outcome. Amounts in 分; at_stake ≥ 0, its direction given by the outcome."""

    row: int  #: row number as shown in the file (header = 1)
    outcome: str
    reason: str  #: one Chinese line citing the clause (文号 条目, file:line)
    payment_id: str = ""
    person: str = ""
    date: str = ""
    kind: str = ""
    applied: str = ""  #: 救助类别 the payer applied
    due_category: str = ""  #: the category the engine paid under (待遇就高)
    paid: int | None = None
    due: int | None = None
    at_stake: int = 0
    clauses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AuditOptions:
    """What besides the export an audit reads."""

    persons: str | Path | None = None  #: persons file (YAML/JSON/CSV/Excel), keyed by 编号 = 人员编号
    columns: str | Path | None = None  #: mapping YAML: export column → our column
    params: dict[str, str] = field(default_factory=dict)  #: assumed parameter values (元) for every person
    chunk_size: int = DEFAULT_CHUNK
    progress: bool | None = None  #: None: a bar on stderr only when stderr is a terminal


def cite(c: Citation) -> str:
    """〔文号 条目〕（file:line） — the clause as the reason line prints it."""
    return f"〔{c.document} {c.article}〕（{c.file}:{c.line}）"


def cite_json(c: Citation) -> dict[str, Any]:
    return {"document": c.document, "article": c.article, "file": c.file, "line": c.line, "quote": c.quote}


def load_mapping(path: str | Path | None) -> dict[str, str]:
    """The mapping file: `export column: our column` pairs, at top level or under 列名."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise AuditError(f"列名对照文件 {path} 无法读取：{err}") from None
    data = data.get("列名", data) if isinstance(data, dict) else data
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise AuditError(f"列名对照文件 {path} 应为「导出列名: 本程序列名」的对照表")
    targets = list(data.values())
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise AuditError(f"列名对照文件 {path}：多个导出列对应到同一列 {'、'.join(twice)}")
    return data


# ------------------------------------------------------------------ pass 1: one row on its own
def _date(row: dict[str, Any], column: str) -> str:
    try:
        return dt.date.fromisoformat(str(row[column])[:10]).isoformat()
    except ValueError:
        raise RowError(f"「{column}」无法识别的日期「{row[column]}」，应写作 YYYY-MM-DD") from None


def _money(row: dict[str, Any], column: str) -> int:
    try:
        return parse_money(row[column])
    except ValueError as err:
        raise RowError(f"「{column}」{err}") from None


def normalise(row: dict[str, Any], needs_region: bool) -> dict[str, Any]:
    """A row's checked values (amounts in 分, ISO dates) plus its other cells as facts; RowError names the cell."""
    if row.get("__extra__"):
        raise RowError(f"表头以外多出单元格：{row['__extra__']}")
    required = REQUIRED + ((REGION,) if needs_region else ())
    empty = [c for c in required if row.get(c) is None]
    if empty:
        raise RowError(f"缺少「{'」「'.join(empty)}」")
    out: dict[str, Any] = {c: row[c] for c in (PAYMENT_ID, PERSON, KIND)}
    out[DATE] = _date(row, DATE)
    for column in (SCOPE_COST, BASIC, PAID):
        out[column] = _money(row, column)
    out[CATASTROPHIC] = _money(row, CATASTROPHIC) if row.get(CATASTROPHIC) is not None else None
    if min(out[SCOPE_COST], out[BASIC], out[PAID], out[CATASTROPHIC] or 0) < 0:
        raise RowError("金额不能为负")
    if out[BASIC] + (out[CATASTROPHIC] or 0) > out[SCOPE_COST]:
        raise RowError("基本医保与大病保险支付之和超过政策范围内费用")
    out[FILED] = _date(row, FILED) if row.get(FILED) else None
    out[REGION], out[APPLIED], out[VISIT] = row.get(REGION), row.get(APPLIED), row.get(VISIT)
    out["cells"] = {k: v for k, v in row.items() if k not in COLUMNS and v is not None}
    return out


def claim_key(r: dict[str, Any]) -> str:
    """What makes two rows the same 就医: its 就诊流水号, else its date, kind and amounts."""
    return f"流水号 {r[VISIT]}" if r[VISIT] else f"{r[DATE]}|{r[KIND]}|{r[SCOPE_COST]}|{r[BASIC]}"


# ------------------------------------------------------------------ the scratch database
class Stage:
    """Rows, persons and findings in a temporary SQLite file, so memory stays flat in the file size."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="reasoner-audit-")
        self.db = sqlite3.connect(Path(self._dir.name) / "audit.sqlite")
        self.db.executescript("""
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE staged (row INTEGER PRIMARY KEY, person TEXT, region TEXT, year INTEGER, date TEXT, data TEXT);
            CREATE TABLE persons (id TEXT PRIMARY KEY, data TEXT);
            CREATE TABLE findings (row INTEGER PRIMARY KEY, data TEXT);
        """)

    def index(self) -> None:
        """Built once staging is done: one sorted build is cheaper than keeping it up row by row."""
        self.db.execute("CREATE INDEX staged_group ON staged (person, region, year, date, row)")

    def put_findings(self, findings: list[AuditFinding]) -> None:
        self.db.executemany("INSERT INTO findings VALUES (?, ?)",
                            [(f.row, json.dumps(asdict(f), ensure_ascii=False)) for f in findings])

    def findings(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[list[AuditFinding]]:
        """The findings in input-row order, chunk by chunk."""
        cursor = self.db.execute("SELECT data FROM findings ORDER BY row")
        while batch := cursor.fetchmany(chunk_size):
            yield [AuditFinding(**json.loads(d)) for (d,) in batch]

    def person(self, pid: str) -> dict[str, Any] | None:
        hit = self.db.execute("SELECT data FROM persons WHERE id = ?", (pid,)).fetchone()
        return json.loads(hit[0]) if hit else None

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()


def _progress(total: int | None, desc: str, enabled: bool | None) -> Any:
    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=desc, unit="行", disable=not show, file=sys.stderr, dynamic_ncols=True)


def _flat_person(row: dict[str, Any]) -> dict[str, Any]:
    """A flat person row (persons table, or the payments row itself): columns 假设参数.X become 假设参数."""
    assumed = {k[len(ASSUMED_PREFIX):]: v for k, v in row.items() if k.startswith(ASSUMED_PREFIX) and v is not None}
    record = flat_record({k: v for k, v in row.items() if not k.startswith(ASSUMED_PREFIX)})
    if assumed:
        record["假设参数"] = assumed
    return record


def stage_persons(stage: Stage, path: str | Path, chunk_size: int) -> None:
    """Persons keyed by 编号; a table is streamed, a YAML/JSON file is read whole (it is small)."""
    def put(records: list[Any]) -> None:
        rows = [(str(r.get("编号")), json.dumps(r, ensure_ascii=False, default=str)) for r in records if isinstance(r, dict)]
        stage.db.executemany("INSERT OR REPLACE INTO persons VALUES (?, ?)", rows)

    try:
        if is_table(path):
            for chunk in read_rows(path, chunk_size, required=("编号",)):
                put([_flat_person(row) for _, row in chunk])
        else:
            put(load_records(path))
    except (OSError, TableError, yaml.YAMLError, json.JSONDecodeError) as err:
        raise AuditError(f"人员文件 {path} 无法读取：{err}") from None


# ------------------------------------------------------------------ the audit
class Audit:
    """A finished audit: findings in row order (streamed from the scratch database) and a summary.

    Use as a context manager, or call close(), to remove the scratch database.
    """

    def __init__(self, reasoner: Reasoner, payments: str | Path, options: AuditOptions | None = None):
        self.reasoner, self.payments, self.options = reasoner, Path(payments), options or AuditOptions()
        self.stage = Stage()
        self.rows = 0
        self.unused_columns: set[str] = set()
        try:
            self._run()
        except BaseException:
            self.stage.close()
            raise

    def __enter__(self) -> Audit:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.stage.close()

    def findings(self) -> Iterator[list[AuditFinding]]:
        return self.stage.findings(min(self.options.chunk_size, FINDINGS_CHUNK))

    def _run(self) -> None:
        opts = self.options
        if opts.persons is not None:
            stage_persons(self.stage, opts.persons, opts.chunk_size)
        self._stage_rows()
        self.stage.index()
        self._settle_all()
        self.stage.db.commit()

    def _stage_rows(self) -> None:
        opts = self.options
        required = REQUIRED if opts.persons is not None else REQUIRED + (REGION, CSV_IDENTITIES)
        needs_region = opts.persons is None
        try:
            chunks = read_rows(self.payments, opts.chunk_size, load_mapping(opts.columns), required)
            with _progress(None, "读取", opts.progress) as bar:
                for chunk in chunks:
                    staged, errors = [], []
                    for number, row in chunk:
                        try:
                            r = normalise(row, needs_region)
                        except RowError as err:
                            errors.append(AuditFinding(number, ERROR, f"第{number}行：{err}", row.get(PAYMENT_ID) or "",
                                                       row.get(PERSON) or ""))
                            continue
                        staged.append((number, r[PERSON], r[REGION] or "", int(r[DATE][:4]), r[DATE],
                                       json.dumps(r, ensure_ascii=False)))
                    self.stage.db.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?)", staged)
                    self.stage.put_findings(errors)
                    self.rows += len(chunk)
                    bar.update(len(chunk))
        except TableError as err:
            hint = "；列名不同的导出请用 --columns 给出对照表" if "缺少必需的列" in str(err) else ""
            raise AuditError(f"{err}{hint}") from None

    def _settle_all(self) -> None:
        total = self.stage.db.execute("SELECT COUNT(*) FROM staged").fetchone()[0]
        cursor = self.stage.db.execute(
            "SELECT row, person, region, year, data FROM staged ORDER BY person, region, year, date, row")
        pending: list[AuditFinding] = []
        with _progress(total, "核查", self.options.progress) as bar:
            for _, group in groupby(_iter(cursor), key=lambda t: t[1:4]):
                rows = [(number, json.loads(data)) for number, _, _, _, data in group]
                pending += PersonYear(self, rows).run()
                bar.update(len(rows))
                if len(pending) >= FINDINGS_CHUNK:
                    self.stage.put_findings(pending)
                    pending = []
        self.stage.put_findings(pending)

    def person_record(self, r: dict[str, Any]) -> dict[str, Any]:
        """The person record a row is settled with: from the persons file, or from the row's own 身份 and facts."""
        if self.options.persons is not None:
            record = self.stage.person(r[PERSON])
            if record is None:
                raise RowError(f"人员编号「{r[PERSON]}」不在人员文件中")
        else:
            record = _flat_person({"编号": r[PERSON], "地区": r[REGION], "日期": r[DATE], CSV_IDENTITIES: r["cells"].get(CSV_IDENTITIES),
                                   **{k: v for k, v in r["cells"].items() if k.startswith(ASSUMED_PREFIX)}})
        record = dict(record)
        record["编号"] = r[PERSON]
        if r[REGION]:
            record["地区"] = r[REGION]
        record.setdefault("日期", r[DATE])
        if not record.get("地区"):
            raise RowError(f"人员「{r[PERSON]}」没有「地区」：请在支付文件或人员文件中给出")
        if self.options.params:
            record["假设参数"] = {**(record.get("假设参数") or {}), **self.options.params}
        return record


def _iter(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(1000):
        yield from batch


class PersonYear:
    """One person's rows of one region and year, settled in date order by one Settler."""

    def __init__(self, audit: Audit, rows: list[tuple[int, dict[str, Any]]]):
        self.audit, self.rows = audit, rows
        self.settler: Settler | None = None
        self.paid_claims: dict[str, tuple[int, str, Decision | None]] = {}  #: claim key → (row, 结算单号, decision)

    def run(self) -> list[AuditFinding]:
        return [self.row(number, r) for number, r in self.rows]

    def row(self, number: int, r: dict[str, Any]) -> AuditFinding:
        base = AuditFinding(number, ERROR, "", r[PAYMENT_ID], r[PERSON], r[DATE], r[KIND], r[APPLIED] or "", paid=r[PAID])
        key = claim_key(r)
        if key in self.paid_claims:
            return duplicate(base, *self.paid_claims[key])
        self.paid_claims[key] = (number, r[PAYMENT_ID], None)
        try:
            result, before = self._settle(r)
        except (RowError, RecordError, PolicySelectionError) as err:
            base.reason = f"第{number}行：{err}"
            return base
        self.paid_claims[key] = (number, r[PAYMENT_ID], result.decision)
        return classify(base, result, lambda category: self._trial(result, before, category))

    def _settle(self, r: dict[str, Any]) -> tuple[ClaimResult, YearState]:
        reasoner = self.audit.reasoner
        record = self.audit.person_record(r)
        claim_facts, person_facts = self._split(record, r)
        record["事实"] = {**person_facts, **(record.get("事实") or {})}
        person = parse_person(record)
        claim = Claim(r[PAYMENT_ID], dt.date.fromisoformat(r[DATE]), r[KIND], r[SCOPE_COST], r[BASIC], r[CATASTROPHIC],
                      dt.date.fromisoformat(r[FILED]) if r[FILED] else None, claim_facts)
        if self.settler is None:
            self.settler = Settler(reasoner, person, claim.date.year)
        self.settler.person = person  # identities and facts as this row has them
        before = _copy(self.settler.state)
        return self.settler.claim(claim), before

    def _split(self, record: dict[str, Any], r: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The row's fact cells: the policy's 就医事实 go to the claim, its 事实 to the person; others are noted unused."""
        policy = self.audit.reasoner.policies.select(str(record["地区"]), dt.date.fromisoformat(r[DATE])).policy
        kinds = {d.name.text: d.kind for d in policy.source.decls if d.kind in ("fact", "claim_fact")}
        claim_facts, person_facts = {}, {}
        for name, value in r["cells"].items():
            if name == CSV_IDENTITIES or name.startswith(ASSUMED_PREFIX):
                continue
            kind = kinds.get(name)
            if kind == "claim_fact":
                claim_facts[name] = value
            elif kind == "fact":
                person_facts[name] = value
            else:
                self.audit.unused_columns.add(name)
        return claim_facts, person_facts

    def _trial(self, result: ClaimResult, before: YearState, category: str) -> int:
        """What the claim would have paid had only `category` been applied, from the year's state before it."""
        assert self.settler is not None
        trial = Settler(self.audit.reasoner, self.settler.person, self.settler.year,
                        view_of=lambda d: candidate_view(d, category))
        trial.state = _copy(before)
        return trial.claim(result.claim).assistance


def _copy(state: YearState) -> YearState:
    return YearState(state.catastrophic_base, state.catastrophic_paid, dict(state.deductible_base), dict(state.paid))


# ------------------------------------------------------------------ classification
def duplicate(base: AuditFinding, first_row: int, first_id: str, decision: Decision | None) -> AuditFinding:
    """A later row for a claim already paid: all of it is at stake (不得重复救助)."""
    base.outcome, base.due, base.at_stake = DUPLICATE, 0, base.paid or 0
    clause = _duplicate_clause(decision)
    base.reason = (f"同一就医已于第{first_row}行（结算单号 {first_id}）支付，本行再付 {yuan(base.at_stake)}，应全部追回"
                   + (f"；依 {cite(clause)}" if clause else ""))
    base.clauses = [cite_json(clause)] if clause else []
    return base


def _duplicate_clause(decision: Decision | None) -> Citation | None:
    """The clause that forbids paying twice when the policy has one (its text says 重复), else its 待遇就高 clause."""
    if decision is None:
        return None
    policy = decision.policy
    cid = next((cid for cid, info in policy.clauses.items() if "重复救助" in info.quote), None)
    if cid is None:
        cid = next((str(cl) for (_, cl) in decision.answer.get("highest")), None)
    return Reasoner.citation(policy, cid) if cid else None


def classify(f: AuditFinding, result: ClaimResult, trial: Any) -> AuditFinding:
    """Compares the row's paid amount with the engine's; the first check that fits wins (see the module docstring)."""
    decision, paid = result.decision, f.paid or 0
    if result.status == CLAIM_UNDECIDED:
        f.outcome = UNDECIDED
        f.reason = f"无法结算，缺少：{'、'.join(result.missing) or '（未知）'}"
        return f
    due = f.due = result.assistance
    f.due_category = "、".join(dict.fromkeys(p.category for p in result.payments if p.paid)) or "、".join(decision.categories)
    for check in (_not_yet, _not_eligible, _excluded, _not_highest, _over_cap):
        if check(f, result, paid, due, trial):
            return f
    return _amounts(f, result, paid, due)


def _set(f: AuditFinding, outcome: str, at_stake: int, reason: str, clauses: list[Citation]) -> bool:
    f.outcome, f.at_stake, f.reason = outcome, at_stake, reason
    f.clauses = [cite_json(c) for c in clauses]
    return True


def _not_yet(f: AuditFinding, result: ClaimResult, paid: int, due: int, trial: Any) -> bool:
    """Paid under an identity recognised but not yet in effect (e.g. 认定次月 not reached), beyond what is due."""
    d = result.decision
    waiting = sorted(str(i) for (i,) in d.answer.get("not_yet"))
    if paid <= due or not waiting or (f.applied and f.applied in d.categories):
        return False
    claims = {c.name: c for c in d.person.identities}
    start = [Reasoner.citation(d.policy, str(cl)) for (_, cl) in d.answer.get("start_rule")][:1]
    who = "、".join(f"「{i}」（认定于 {claims[i].recognised}）" for i in waiting)
    return _set(f, NOT_YET, paid - due, f"身份{who}在就医日期 {f.date} 尚未生效，应付 {yuan(due)}，实付 {yuan(paid)}"
                + (f"；依 {cite(start[0])}" if start else ""), start)


def _category_clause(d: Decision, category: str) -> list[Citation]:
    cids = d.policy.category_clauses.get(category) or next(iter(d.policy.category_clauses.values()), [])
    return [Reasoner.citation(d.policy, cids[0])] if cids else []


def _not_eligible(f: AuditFinding, result: ClaimResult, paid: int, due: int, trial: Any) -> bool:
    d = result.decision
    if d.categories or paid <= due:
        return False
    why = "；".join(r for r in result.reasons if not r.startswith("就医日期")) or "不属于任何救助类别"
    clauses = _category_clause(d, f.applied)
    return _set(f, NOT_ELIGIBLE, paid - due, f"就医日期 {f.date} {d.status}（{why}），实付 {yuan(paid)} 应全部追回"
                + (f"；类别条件见 {cite(clauses[0])}" if clauses else ""), clauses)


def _excluded(f: AuditFinding, result: ClaimResult, paid: int, due: int, trial: Any) -> bool:
    exclusions = result.decision.claim_exclusions()
    if not exclusions or paid <= due:
        return False
    return _set(f, EXCLUDED, paid - due, f"该就医不予救助（“{exclusions[0].quote}”），实付 {yuan(paid)} 应全部追回；依 {cite(exclusions[0])}",
                exclusions)


def _not_highest(f: AuditFinding, result: ClaimResult, paid: int, due: int, trial: Any) -> bool:
    """Underpaid, and the category applied — held that day — gives less on its own than 待遇就高 does."""
    d = result.decision
    if paid >= due or not f.applied or f.applied not in d.categories or len(d.categories) < 2:
        return False
    alone = trial(f.applied)
    if alone >= due:
        return False
    highest = [Reasoner.citation(d.policy, str(cl)) for (_, cl) in d.answer.get("highest")][:1]
    rate = _rate_clauses(result)[:1]
    clauses = highest + rate
    agrees = "（与实付一致）" if alone == paid else ""
    return _set(f, NOT_HIGHEST, due - paid,
                f"本人当日属「{'、'.join(d.categories)}」，按所用「{f.applied}」只得 {yuan(alone)}{agrees}，待遇就高应依「{f.due_category}」付 {yuan(due)}"
                + (f"；依 {cite(highest[0])}" if highest else "") + (f"、{cite(rate[0])}" if rate else ""), clauses)


def _over_cap(f: AuditFinding, result: ClaimResult, paid: int, due: int, trial: Any) -> bool:
    """Overpaid on a claim whose due amount an annual cap cut: the payer did not count the year's earlier payments."""
    capped = [p for p in result.payments if p.capped_by]
    if paid <= due or not capped:
        return False
    p = capped[0]
    item = next((i for i in result.decision.items if i.item == "年度救助限额" and i.scope == p.capped_by), None)
    clauses = [item.citation] if item and item.citation else []
    limit = f"年度救助限额 {item.value}" if item and item.value else "年度救助限额"
    used = result.cap_use.get(p.capped_by, 0) - p.paid
    return _set(f, OVER_CAP, paid - due,
                f"「{p.capped_by}」{limit}，本年此前应付已计 {yuan(used)}，本笔按比例 {yuan(p.raw)} 只能付 {yuan(due)}，"
                f"实付 {yuan(paid)} 超限 {yuan(paid - due)}" + (f"；依 {cite(clauses[0])}" if clauses else ""), clauses)


def _rate_clauses(result: ClaimResult) -> list[Citation]:
    """The clauses of the rates the engine applied (the rate carries the amount), then its other clauses."""
    rates = [i.citation for p in result.payments for i in result.decision.items
             if i.item == "救助比例" and i.scope == p.project and i.citation]
    return list(dict.fromkeys(rates + [c for p in result.payments for c in p.citations]))


def _amounts(f: AuditFinding, result: ClaimResult, paid: int, due: int) -> AuditFinding:
    """多付, 少付 or 正确: the engine's arithmetic for the claim, with the clauses of its rates."""
    clauses = _rate_clauses(result)
    how = "；".join(f"「{p.project}」依「{p.category}」{yuan(p.paid)}" for p in result.payments) or "；".join(result.reasons) or "无救助"
    where = f"；依 {cite(clauses[0])}" if clauses else ""
    note = f"（所用救助类别「{f.applied}」本人当日不具备）" if f.applied and f.applied not in result.decision.categories else ""
    if paid == due:
        _set(f, CORRECT, 0, f"应付 {yuan(due)}（{how}），与实付一致{where}", clauses)
    elif paid > due:
        _set(f, OVERPAID, paid - due, f"应付 {yuan(due)}（{how}），实付 {yuan(paid)}，多付 {yuan(paid - due)}{note}{where}", clauses)
    else:
        _set(f, UNDERPAID, due - paid, f"应付 {yuan(due)}（{how}），实付 {yuan(paid)}，少付 {yuan(due - paid)}{note}{where}", clauses)
    return f


def run_audit(reasoner: Reasoner, payments: str | Path, options: AuditOptions | None = None) -> Audit:
    """Audit a payment ledger (CSV, Excel or Parquet); see the module docstring. Raises AuditError before any row
    is judged when the header lacks a required column or a side file cannot be read."""
    return Audit(reasoner, payments, options)
