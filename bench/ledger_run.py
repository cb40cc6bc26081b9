"""Decision ledger timings: appends per second (one transaction each, and batches of 100) and
verify time, on SQLite and on a throw-away PostgreSQL server (started as the tests start it).

    python -m bench.ledger_run                 # 10^4 entries per backend
    python -m bench.ledger_run -n 2000 --no-postgres

Each entry is a real decision (Longyan 低保对象 with its full explanation JSON, about 15 KB);
the draft is made once and appended repeatedly, so the numbers are the ledger's own cost
(serialise, hash, insert, commit), not the reasoner's. SQLite runs with its default
synchronous=FULL in WAL mode (one fsync per commit); the PostgreSQL test server runs with
fsync=off, so its numbers are an upper bound for a real server's.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _draft() -> Any:
    sys.path.insert(0, str(ROOT / "tests"))
    from ledger_support import decision_drafts

    from reasoner import load_policies

    return decision_drafts(load_policies(), ["bench"])[0]


def run(url: str, draft: Any, n: int) -> dict[str, float]:
    from reasoner.ledger import Ledger

    single = min(n, 1000)
    with Ledger(url) as ledger:
        t = time.perf_counter()
        for _ in range(single):
            ledger.append([draft])
        one = single / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range((n - single) // 100):
            ledger.append([draft] * 100)
        batched = (n - single) // 100 * 100 / (time.perf_counter() - t) if n > single else float("nan")
        t = time.perf_counter()
        report = ledger.verify()
        verify = time.perf_counter() - t
        assert report.ok and report.count == single + (n - single) // 100 * 100, report.text()
    return {"entries": report.count, "appends_per_s_single": round(one, 1), "appends_per_s_batch100": round(batched, 1),
            "verify_s": round(verify, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    draft = _draft()
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite", run(str(Path(tmp) / "bench.sqlite3"), draft, args.n), flush=True)
    if not args.no_postgres:
        from ledger_support import PostgresServer

        server = PostgresServer()
        server.start()
        try:
            print("postgresql", run(server.new_database(), draft, args.n), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
