"""This module shares decided summaries between the processes of one batch run (a SQLite file).

A batch worker decides each distinct (date context, signature) once — a clingo solve and the
assembly of a decision, ≈ 0.5–1 ms — and then reuses it for every row with that key. On a
roster of millions that first decision is most of the work (bench/README.md, *Scale*), and with
N worker processes each decided every key again: N times the work for the same results. The
run directory's store lets a worker take a summary another worker (or an earlier, crashed run
of the same work) has already decided.

A summary is a pure function of its key (date context, Signature, facts present, per-person
amounts) under fixed rules, so taking it from the store gives the same bytes as deciding it
again; the store belongs to one rules digest and is removed when a run starts afresh. It is a
cache: written without fsync (synchronous=OFF), and a store that cannot be opened or written
is simply not used.
"""
from __future__ import annotations

import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

from .batch_summary import Summary

FLUSH_SECONDS = 0.05  #: at most this long between a put and the other workers seeing it (besides the batch's end)
PICKLES_KEPT = 1 << 14


class SummaryStore:
    """Summaries by key text (repr of the key: plain tuples of str, int, bool and None)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._pending: list[tuple[str, bytes]] = []
        self._flushed = time.monotonic()
        self._rows: dict[str, int] = {}  #: key text → rowid, of every summary stored when last read
        self._read_to = 0  #: the largest rowid read (rows are only added, one writer at a time: rowids grow in commit order)
        self._read_at = float("-inf")
        self._pickles: dict[int, tuple[Any, bytes]] = {}
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, summary BLOB NOT NULL)")

    def get(self, key: Any) -> Summary | None:
        """The stored summary of key, looked up among the keys read from the file at most
        FLUSH_SECONDS ago: a query per lookup cost ≈ 0.1 ms, most lookups miss, and a worker asks
        for every key it meets (settle 10⁶ with two workers: ≈ 8,000 plan keys each, ≈ 0.9 s)."""
        text = repr(key)
        if text not in self._rows and time.monotonic() - self._read_at >= FLUSH_SECONDS:
            self._read_new()
        rowid = self._rows.get(text)
        if rowid is None:
            return None
        row = self._db.execute("SELECT summary FROM summaries WHERE rowid = ?", (rowid,)).fetchone()
        return pickle.loads(row[0])

    def _read_new(self) -> None:
        """The keys the run's processes have stored since the last read."""
        for rowid, text in self._db.execute("SELECT rowid, key FROM summaries WHERE rowid > ?", (self._read_to,)):
            self._rows[text] = rowid
            self._read_to = max(self._read_to, rowid)
        self._read_at = time.monotonic()

    def put(self, key: Any, summary: Summary) -> None:
        """Keep a summary for the next flush: at the end of the batch, or sooner once FLUSH_SECONDS
        have passed since the last — a commit per summary cost about as much as deciding it, and
        one per batch left the other workers deciding the same first keys all through a chunk."""
        self._pending.append((repr(key), self._pickled(summary)))
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def _pickled(self, value: Any) -> bytes:
        """value pickled once per object: keys are many and values few, the same object put again
        and again (settle 10⁶: ≈ 9,900 claim plans put, 405 objects, 32 distinct plans)."""
        hit = self._pickles.get(id(value))
        if hit is None or hit[0] is not value:  # the entry holds its object, so its id is not reused
            if len(self._pickles) >= PICKLES_KEPT:
                self._pickles.clear()
            hit = self._pickles[id(value)] = (value, pickle.dumps(value))
        return hit[1]

    def flush(self) -> None:
        if not self._pending:
            return
        try:
            with self._db:
                self._db.executemany("INSERT OR IGNORE INTO summaries VALUES (?, ?)", self._pending)
        except sqlite3.OperationalError:  # busy past the timeout: these summaries are only not shared
            pass
        self._pending.clear()
        self._flushed = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._db.close()


def open_store(path: str | None) -> SummaryStore | None:
    """The store at path, or None (no path given, or a directory this process cannot reach)."""
    if not path:
        return None
    try:
        return SummaryStore(path)
    except sqlite3.Error:
        return None


__all__ = ["SummaryStore", "open_store"]
