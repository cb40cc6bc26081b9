"""Alembic environment for the decision ledger.

The ledger always hands Alembic an open connection inside a transaction that already holds
the ledger's write lock (SQLite BEGIN IMMEDIATE, PostgreSQL advisory lock), so that several
processes opening a new ledger at once migrate it exactly once. Run offline (SQL script) mode
is not supported: the ledger migrates itself.
"""
from __future__ import annotations

from alembic import context

VERSION_TABLE = "ledger_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("账本迁移须由 reasoner.ledger 在已打开的数据库连接上执行")
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
