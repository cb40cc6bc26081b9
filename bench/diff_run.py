"""Time and peak memory of `diff` (reasoner.diff) on a seeded synthetic population.

    python -m bench.diff_run --n 100000

Two versions of the bundled rules: Longyan's 第四类 救助比例 60% → 65% (二（四）2). The
population comes from reasoner.population (the generator shipped for drafters).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import resource
from pathlib import Path

from reasoner import PolicySet
from reasoner.diff import diff
from reasoner.population import generate

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args(argv)
    old = PolicySet.load(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        shutil.copytree(ROOT / "rules", folder)
        path = folder / "longyan.rules"
        path.write_text(path.read_text(encoding="utf-8").replace("第四类 60%；第五类 50%", "第四类 65%；第五类 50%"), encoding="utf-8")
        new = PolicySet.load(folder)
    records = generate(old.policies["龙岩市医疗救助"], old.params, args.n, seed=1)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = diff(old, new, records)
    elapsed = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"diff {args.n:,} persons: {elapsed:.2f} s ({args.n / elapsed:,.0f} persons/s), "
          f"peak RSS {rss_after / 1024:.0f} MB (+{(rss_after - rss_before) / 1024:.0f} MB during the diff; "
          f"the population itself is held in memory as dicts), {len(report.changed):,} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
