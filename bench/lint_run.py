"""Time of the drafter's checker (reasoner lint) on each bundled policy and on all five.

    python -m bench.lint_run
"""
from __future__ import annotations

import time
from pathlib import Path

from reasoner import PolicySet
from reasoner.lint import lint

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    start = time.perf_counter()
    policies = PolicySet.load(ROOT / "rules")
    print(f"load and compile the five rules files (builds the parser): {(time.perf_counter() - start) * 1000:.0f} ms")
    total = 0.0
    for name in sorted(policies.policies):
        t = time.perf_counter()
        findings = lint(policies, name)
        elapsed = time.perf_counter() - t
        total += elapsed
        print(f"{name}: {elapsed * 1000:.0f} ms, {len(findings)} findings")
    print(f"all five: {total:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
