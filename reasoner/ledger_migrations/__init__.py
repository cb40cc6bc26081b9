"""Alembic migrations of the decision ledger (reasoner.ledger), applied automatically on first use.

script_location is "reasoner:ledger_migrations"; revisions live in versions/ (not a package:
Alembic loads every .py file there as a revision). The version table is
ledger_alembic_version so the ledger can share a PostgreSQL database with other applications.
"""
