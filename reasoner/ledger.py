"""This module is the decision ledger: an append-only, tamper-evident record of what was decided.

Each entry (one decision, or one settlement year) carries a readable decision id, a sequence
number, the UTC time, the input record, the policy files' hashes and versions, the parameter
values used, the reasoner's version, the outputs and the full justification, and two hashes:

    entry_hash = sha256(canonical JSON of every other column of the entry, prev_hash included)

so that each entry seals the one before it. The input record is stored as JSON text of
exactly what was parsed (not the YAML source slice): key order as read, YAML dates kept as
the strings they were written as (the reader resolves no timestamps), dates given by a
library caller in ISO form; a record with a non-text key is refused rather than altered.
Replaying parses this text back to the same value the reasoner saw.

Policy texts (rules files and parameter files) are stored once each, addressed by their
sha256, so a decision can be replayed after the files change. Appends are serialised by the
write lock of reasoner.ledger_db; `verify` walks the chain and names the first entry that
was altered, is missing or is out of order — by sequence number and decision id, in Chinese.
The head row also seals the tail: deleting the newest entries is reported too, unless the
head is rewritten as well — publish the head hash that `verify` prints to anchor it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import sqlalchemy as sa

from . import ledger_db as db
from .ledger_paths import LedgerError

KIND_DECISION, KIND_SETTLEMENT = "decision", "settlement"
ID_PREFIX = {KIND_DECISION: "D", KIND_SETTLEMENT: "S"}
KIND_LABEL = {KIND_DECISION: "决定", KIND_SETTLEMENT: "结算"}
ID_SEQ = re.compile(r"-(\d+)$")


def canonical(value: Any) -> str:
    """The one serialisation hashed and stored: sorted keys, no spaces, UTF-8 text as is."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(columns: dict[str, Any]) -> str:
    """The hash sealing an entry: over every hashed column, the previous entry's hash included."""
    return sha256(canonical({name: columns[name] for name in db.HASHED}))


@dataclass
class Draft:
    """An entry before it has a place in the chain (seq, id, time and hashes are given by append)."""

    kind: str
    person_id: str
    region: str
    input_text: str  #: JSON of the record exactly as parsed (see the module docstring)
    input_options: str  #: canonical JSON: how the record was run (its index in the file, the settlement year)
    policies: str  #: canonical JSON: each rules and parameter file's path, sha256 and version; the policies used
    parameters: str  #: canonical JSON: every parameter reading the decision consulted, with its value and source
    reasoner_version: str
    outputs: str  #: canonical JSON of the outputs
    justification: str  #: canonical JSON of the explanation
    texts: dict[str, str] = field(default_factory=dict)  #: sha256 → policy text, stored content-addressed


@dataclass(frozen=True)
class Entry:
    """One stored ledger entry (every column as stored)."""

    seq: int
    decision_id: str
    recorded_at: str
    kind: str
    person_id: str
    region: str
    input_text: str
    input_options: str
    policies: str
    parameters: str
    reasoner_version: str
    outputs: str
    justification: str
    prev_hash: str
    entry_hash: str

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*db.HASHED, "entry_hash")}

    def data(self, column: str) -> Any:
        """A JSON column parsed (input_text, input_options, policies, parameters, outputs, justification)."""
        return json.loads(getattr(self, column))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in ("seq", "decision_id", "recorded_at", "kind",
                                                                       "person_id", "region", "reasoner_version")}
        out["input"] = self.data("input_text")
        for name in ("input_options", "policies", "parameters", "outputs", "justification"):
            out[name] = self.data(name)
        out |= {"prev_hash": self.prev_hash, "entry_hash": self.entry_hash}
        return out


@dataclass(frozen=True)
class Problem:
    """What verify found wrong, where: kind is altered / missing / reordered / broken / tail / text."""

    kind: str
    seq: int
    decision_id: str
    message: str


@dataclass
class VerifyReport:
    count: int = 0
    head_seq: int = 0
    head_hash: str = db.GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            return f"账本完好：共 {self.count} 条，哈希链完整；链尾第 {self.head_seq} 号，哈希 {self.head_hash}\n"
        lines = [f"账本校验失败（已检查 {self.count} 条）："] + [f"  {p.message}" for p in self.problems]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "problems": [p.__dict__ for p in self.problems]}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _decision_id(kind: str, seq: int, when: str) -> str:
    """Readable and unique: kind letter, UTC date, sequence number (e.g. D20250301-000042)."""
    return f"{ID_PREFIX[kind]}{when[:10].replace('-', '')}-{seq:06d}"


class Ledger:
    """A decision ledger in SQLite (default) or PostgreSQL; see the module docstring."""

    def __init__(self, db_url: str | None = None):
        self.url = db.resolve_url(db_url)
        self.engine = db.make_engine(self.url)
        try:
            db.migrate(self.engine)
        except sa.exc.SQLAlchemyError as err:
            self.engine.dispose()
            raise LedgerError(f"无法打开账本数据库 {self.display_url()}：{getattr(err, 'orig', None) or err}") from None
        self._stored_texts: set[str] = set()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- writing
    def append(self, drafts: list[Draft]) -> list[Entry]:
        """Append drafts in order, in one transaction holding the write lock: all or none."""
        if not drafts:
            return []
        with db.write_transaction(self.engine) as conn:
            seq, prev = db.lock_head(conn)
            self._store_texts(conn, {h: t for d in drafts for h, t in d.texts.items()})
            out = []
            for draft in drafts:
                seq += 1
                entry = self._seal(draft, seq, prev)
                conn.execute(db.entries.insert().values(**entry.columns()))
                out.append(entry)
                prev = entry.entry_hash
            conn.execute(db.head.update().where(db.head.c.id == 1).values(seq=seq, entry_hash=prev))
        self._stored_texts.update(h for d in drafts for h in d.texts)
        return out

    @staticmethod
    def _seal(draft: Draft, seq: int, prev: str) -> Entry:
        when = _now()
        columns: dict[str, Any] = {name: getattr(draft, name) for name in db.HASHED if hasattr(draft, name)}
        columns |= {"seq": seq, "decision_id": _decision_id(draft.kind, seq, when), "recorded_at": when, "prev_hash": prev}
        return Entry(**columns, entry_hash=entry_hash(columns))

    def _store_texts(self, conn: sa.Connection, texts: dict[str, str]) -> None:
        wanted = {h: t for h, t in texts.items() if h not in self._stored_texts}
        if not wanted:
            return
        have = set(conn.execute(sa.select(db.texts.c.sha256).where(db.texts.c.sha256.in_(list(wanted)))).scalars())
        rows = [{"sha256": h, "content": t} for h, t in sorted(wanted.items()) if h not in have]
        if rows:
            conn.execute(db.texts.insert(), rows)

    # ---------------------------------------------------------------- reading
    def get(self, decision_id: str) -> Entry:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(db.entries).where(db.entries.c.decision_id == decision_id)).first()
        if row is None:
            raise LedgerError(f"账本中没有编号为「{decision_id}」的决定（账本：{self.display_url()}）")
        return Entry(**row._mapping)

    def entries(self, limit: int | None = None, newest_first: bool = False, batch: int = 1000) -> Iterator[Entry]:
        """Entries in sequence order (or newest first), streamed in batches: memory flat in the ledger's size."""
        order = db.entries.c.seq.desc() if newest_first else db.entries.c.seq
        last: int | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            query = sa.select(db.entries).order_by(order).limit(batch if remaining is None else min(batch, remaining))
            if last is not None:
                query = query.where(db.entries.c.seq < last if newest_first else db.entries.c.seq > last)
            with self.engine.connect() as conn:
                rows = [Entry(**r._mapping) for r in conn.execute(query)]
            if not rows:
                return
            yield from rows
            last = rows[-1].seq
            remaining = None if remaining is None else remaining - len(rows)

    def text(self, digest: str) -> str:
        """A stored policy text by its sha256."""
        with self.engine.connect() as conn:
            content = conn.execute(sa.select(db.texts.c.content).where(db.texts.c.sha256 == digest)).scalar()
        if content is None:
            raise LedgerError(f"账本中没有哈希为 {digest} 的规则文本")
        return str(content)

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(db.head.c.seq, db.head.c.entry_hash).where(db.head.c.id == 1)).one()
        return int(row.seq), str(row.entry_hash)

    def display_url(self) -> str:
        """The URL without a password, for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # ---------------------------------------------------------------- verify
    def verify(self) -> VerifyReport:
        """Walk the chain from the first entry; stop at the first altered, missing or reordered one."""
        head_seq, head_hash = self.head()
        report = VerifyReport(head_seq=head_seq, head_hash=head_hash)
        prev, expected = db.GENESIS, 1
        texts: dict[str, int] = {}
        for entry in self.entries():
            if entry.seq > head_seq:
                break  # appended after we read the head: not part of this check
            problem = check_link(entry, expected, prev)
            if problem:
                report.problems.append(problem)
                return report
            report.count += 1
            for digest in referenced_texts(entry):
                texts.setdefault(digest, entry.seq)
            prev, expected = entry.entry_hash, entry.seq + 1
        if expected - 1 != head_seq or prev != head_hash:
            report.problems.append(Problem("tail", expected, "", f"第 {expected} 号至第 {head_seq} 号条目缺失：账本头记录最后一条为第 "
                                                                f"{head_seq} 号（哈希 {head_hash[:12]}…），链只到第 {expected - 1} 号"))
        report.problems += self._check_texts(texts)
        return report

    def _check_texts(self, first_use: dict[str, int]) -> list[Problem]:
        out = []
        for digest, seq in sorted(first_use.items(), key=lambda kv: kv[1]):
            try:
                content = self.text(digest)
            except LedgerError:
                out.append(Problem("text", seq, "", f"规则文本 {digest[:12]}…（自第 {seq} 号条目起引用）缺失"))
                continue
            if sha256(content) != digest:
                out.append(Problem("text", seq, "", f"规则文本 {digest[:12]}…（自第 {seq} 号条目起引用）被改动：内容哈希为 {sha256(content)[:12]}…"))
        return out


def check_link(entry: Entry, expected: int, prev: str) -> Problem | None:
    """The first thing wrong with an entry at its place in the chain, or None."""
    where = f"第 {entry.seq} 号条目（{entry.decision_id}）"
    if entry.seq != expected:
        return Problem("missing", expected, "", f"第 {expected} 号条目缺失：第 {expected - 1} 号之后是{where}")
    if entry_hash(entry.columns()) != entry.entry_hash:
        original = _original_seq(entry)
        if original is not None:
            return Problem("reordered", entry.seq, entry.decision_id,
                           f"第 {entry.seq} 号位置上是原第 {original} 号条目（{entry.decision_id}）：条目顺序被调换")
        return Problem("altered", entry.seq, entry.decision_id, f"{where}内容被改动：按内容重算的哈希与存储的哈希 {entry.entry_hash[:12]}… 不符")
    if entry.prev_hash != prev:
        return Problem("broken", entry.seq, entry.decision_id,
                       f"{where}与前一条不相连：其记录的前一哈希 {entry.prev_hash[:12]}… 不是第 {expected - 1} 号条目的哈希 {prev[:12]}…"
                       "（前面的条目被删除、插入或替换）")
    return None


def _original_seq(entry: Entry) -> int | None:
    """The sequence number an out-of-place entry was sealed with, if its id names one that makes it intact."""
    match = ID_SEQ.search(entry.decision_id)
    if not match or int(match.group(1)) == entry.seq:
        return None
    original = int(match.group(1))
    return original if entry_hash(entry.columns() | {"seq": original}) == entry.entry_hash else None


def referenced_texts(entry: Entry) -> list[str]:
    """The sha256 of every rules and parameter text an entry was decided under."""
    data = entry.data("policies")
    return [f["sha256"] for f in data.get("rules", []) + data.get("parameter_files", [])]
