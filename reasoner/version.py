"""The reasoner's version, recorded in every explanation, and a digest of the engine itself."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__version__ = "0.1.0"


def files_digest(root: Path, paths: Iterable[Path]) -> str:
    """A sha256 of files under root, by their relative names and contents, in name order."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1)
def engine_digest() -> str:
    """A digest of the engine's code and generic programs (reasoner/**/*.py, asp/*.lp): a resumed
    batch must not put chunks of two engines into one result, and the version string alone does
    not change between builds of one version."""
    root = Path(__file__).resolve().parent
    return files_digest(root, [*root.rglob("*.py"), *root.rglob("*.lp")])
