"""The decision ledger: chained entries, content-addressed policy texts, and the head row.

ledger_head holds one row (id 1): the last sequence number and entry hash. Appends lock it
(PostgreSQL SELECT … FOR UPDATE; SQLite holds the database write lock from BEGIN IMMEDIATE),
and verify compares it with the chain's tail, so deleting the newest entries is detected too.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": GENESIS}])
    op.create_table(
        "ledger_entries",
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
    op.create_index("ledger_entries_person", "ledger_entries", ["person_id"])
    op.create_table(
        "ledger_texts",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_texts")
    op.drop_index("ledger_entries_person", "ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_head")
