"""This module is the ledger's data layer: where the database is, how it is opened and locked.

One SQLAlchemy Core layer serves both backends; only the write lock differs:

- SQLite (the default, a file created on first use): WAL journal, so readers never block the
  writer; every write transaction starts with BEGIN IMMEDIATE, which takes the database's
  write lock before the head row is read — two processes can then never append after the
  same head. (pysqlite's own implicit BEGIN is switched off for this: SQLAlchemy's
  documented recipe.)
- PostgreSQL (`postgresql+psycopg://…`, psycopg 3): the head row is read with
  SELECT … FOR UPDATE, which queues concurrent appenders on that row; the first migration
  runs under a transaction-scoped advisory lock.

Where the ledger lives: see reasoner.ledger_paths. Migrations (reasoner/ledger_migrations,
Alembic) are applied on first use.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .ledger_paths import ENV_VAR, default_path, resolve_url  # noqa: F401  (re-exported)

GENESIS = "0" * 64
MIGRATIONS = "reasoner:ledger_migrations"
VERSION_TABLE = "ledger_alembic_version"
#: pg_advisory_xact_lock key for migrations: "ledger" in ASCII, any constant unique to this application
MIGRATION_LOCK = 0x6C6564676572

metadata = sa.MetaData()
head = sa.Table(
    "ledger_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)
entries = sa.Table(
    "ledger_entries", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("person_id", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("input_text", sa.Text, nullable=False),
    sa.Column("input_options", sa.Text, nullable=False),
    sa.Column("policies", sa.Text, nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("reasoner_version", sa.String(40), nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("justification", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)
texts = sa.Table(
    "ledger_texts", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
)
#: the columns an entry's hash covers, in a fixed order (all but entry_hash)
HASHED = tuple(c.name for c in entries.columns if c.name != "entry_hash")


def make_engine(url: str) -> Engine:
    """An engine with the backend's locking set up (see the module docstring)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 120})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=120000")
        _wal(cur)
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("ledger_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _wal(cur: Any, seconds: float = 120.0) -> None:
    """Switch a new database to WAL. Several processes opening a new file together can be refused
    ("database is locked") without SQLite's busy handler being consulted: retry until the timeout."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the ledger's write lock from its first statement to commit."""
    with engine.connect() as conn:
        conn = conn.execution_options(ledger_write=True)
        with conn.begin():
            yield conn


def lock_head(conn: Connection) -> tuple[int, str]:
    """The head (last seq, last entry hash), locked until the transaction ends."""
    row = conn.execute(sa.select(head.c.seq, head.c.entry_hash).where(head.c.id == 1).with_for_update()).one()
    return int(row.seq), str(row.entry_hash)


#: the newest revision in ledger_migrations/versions (a test checks they agree): a ledger already
#: there is recognised without importing Alembic, which costs about a second per process
SCHEMA_REVISION = "0001"


def current_revision(engine: Engine) -> str | None:
    """The schema revision a database is at (None: a new database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, once, even with several processes starting together."""
    if current_revision(engine) == SCHEMA_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
