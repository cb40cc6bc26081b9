"""This module keeps what processes derive from the same rules on disk, so that the next process reads it back.

Every batch worker, CLI call and service start parses, checks and compiles the same rules files
and analyses the same generated program (solve.GroundPolicy's identity layer): ≈ 0.1–0.2 s before
its first decision, on the critical path of every worker of a run (bench/README.md «What was
tried» 54). What they derive is a pure function of texts — the rules file, the grammar, the
generated program — and of the engine's code, so a file named by a digest of all of them gives the
same value back in milliseconds:

    key = sha256(engine digest (every .py and .lp of the package: version.engine_digest),
                 Python version, kind, the texts)  →  $XDG_CACHE_HOME/reasoner/<kind>/<key>.pickle

Nothing else is ever read: a changed rules file, grammar or engine is another key. A missing,
unreadable or corrupt file is computed again and written over; a cache directory that cannot be
made or written is not used (the value is computed as if there were none). Writes go through a
temporary file and a rename, so a reader never sees half a file, and each kind keeps its
KEPT most recently written files. The files are trusted like Lark's own cache beside them
(parse.parser): they are pickles in the user's own cache directory.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from .version import engine_digest

T = TypeVar("T")
KEPT = 256  #: files per kind (one per distinct rules text or program; ≈ 60 KB each)


def cache_root() -> Path | None:
    """The user's cache directory for the reasoner ($XDG_CACHE_HOME/reasoner, else ~/.cache/reasoner), or
    None where it cannot be made."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reasoner"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return root


def remembered(kind: str, texts: Iterable[str], make: Callable[[], T]) -> T:
    """make()'s value, read from the cache file of (kind, texts) when there is one, else computed and
    written there. An exception from make() propagates and nothing is written."""
    root = cache_root()
    path = root / kind / f"{_key(kind, texts)}.pickle" if root is not None else None
    if path is not None:
        try:
            return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 — missing, unreadable, corrupt or from another build: computed again
            pass
    value = make()
    if path is not None:
        _write(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def _key(kind: str, texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in (engine_digest(), sys.version, kind, *texts):
        data = part.encode()
        h.update(len(data).to_bytes(8, "little") + data)  # length-prefixed: the parts cannot run into each other
    return h.hexdigest()


def _write(path: Path, data: bytes) -> None:
    """data into path by a rename (readers see the old file or the new one); the oldest files of the
    kind beyond KEPT removed. A directory that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)
        files = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in files[:-KEPT]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass


__all__ = ["KEPT", "cache_root", "remembered"]
