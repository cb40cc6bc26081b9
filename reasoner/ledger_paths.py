"""This module says where the decision ledger lives, without importing the database layer.

(The CLI builds its help from these names on every run; SQLAlchemy is imported only by a
command that opens a ledger.)

`--db` or the environment variable REASONER_LEDGER (a URL or a file path), else
`$XDG_DATA_HOME/yiliao-jiuzhu-reasoner/ledger.sqlite3` (XDG_DATA_HOME defaults to
~/.local/share): one ledger per user, outside any project folder, so records made from
different working directories land in the same chain.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "REASONER_LEDGER"


class LedgerError(LookupError):
    """A ledger request that cannot be met (unknown decision id, database unreachable); Chinese message."""


def default_path() -> Path:
    """The default SQLite file: per user, outside any project folder (XDG data directory)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "yiliao-jiuzhu-reasoner" / "ledger.sqlite3"


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """A database URL from --db / the environment / the default file; a bare path means SQLite.

    `postgresql://` is read as psycopg 3 (`postgresql+psycopg://`), the driver this package
    depends on, rather than SQLAlchemy's default psycopg2.
    """
    raw = str(db) if db else os.environ.get(ENV_VAR) or str(default_path())
    if "://" not in raw:
        path = Path(raw).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if raw.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    return raw
