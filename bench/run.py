"""Benchmarks of the reasoner: prints a table and writes bench/results/latest.json.

    python -m bench.run                       # sizes 10000,100000
    python -m bench.run --sizes 10000 --quick # a smoke run (fewer repeats, smaller samples)

What is measured (bench/README.md says what each number means and what it compares to):

1. compile: parse + check + compile of each rules file (reasoner.load_policy), median ms;
2. single: Reasoner.decide latency per person, in process, policies loaded and ground
   (p50/p99 over distinct persons, each decided once; the Decision carries the whole
   justification graph), and the same plus rendering the Chinese explanation;
3. batch: reasoner.batch.decide_batch throughput on Longyan populations, three ways —
   cold (a fresh Reasoner: grounding and every first solve included), warm (the same
   Reasoner after one other population of the same size: the steady state of a worker),
   repeat (the same population again: every key known, the per-row cost alone) — and the
   peak of memory allocated during a batch (tracemalloc, a separate run since tracing slows it);
4. numpy: bench/numpy_longyan.py on the same population (columns from records, then the
   rules), the ratio batch / numpy, numpy at 10^6 rows, and the per-item agreement;
5. explain: BatchResult.explain(i) latency (the full Decision of one row, recomputed).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reasoner import load_policies
from reasoner.batch import decide_batch
from reasoner.policies import PolicySet, bundled_rules_dir, load_policy

from . import numpy_longyan
from .generate import IDENTITIES, generate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
LONGYAN = "龙岩市医疗救助"
BAD = 0.001  #: malformed records in the batch populations (they must come back as errors, in place)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


# ------------------------------------------------------------------ 1. compile
def bench_compile(rules_dir: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first, _ = _timed(lambda: load_policy(min(rules_dir.glob("*.rules"))))
    out["_first_call_ms"] = _ms(first)  # includes building the Lark parser (once per process)
    for path in sorted(rules_dir.glob("*.rules")):
        times = [_timed(lambda path=path: load_policy(path))[0] for _ in range(runs)]
        out[path.name] = {"median_ms": _ms(statistics.median(times)), "min_ms": _ms(min(times)), "runs": runs}
    return out


# ------------------------------------------------------------------ 2. single-person latency
def bench_single(n: int) -> dict[str, Any]:
    from reasoner.explain import explain_text

    reasoner = load_policies()
    warm = generate(n, seed=101)
    reasoner.decide_many(warm)  # ground every date context, see the common signatures
    persons = generate(n, seed=102)
    gc.collect()
    decide, render = [], []
    for rec in persons:
        t0 = time.perf_counter()
        d = reasoner.decide(rec)
        t1 = time.perf_counter()
        explain_text(d)
        t2 = time.perf_counter()
        decide.append(t1 - t0)
        render.append(t2 - t0)
    total = sum(decide)
    return {"persons": n, "decide_p50_ms": _ms(_pct(decide, 50)), "decide_p99_ms": _ms(_pct(decide, 99)),
            "decide_max_ms": _ms(max(decide)), "decide_and_render_p50_ms": _ms(_pct(render, 50)),
            "decide_and_render_p99_ms": _ms(_pct(render, 99)), "per_person_throughput": round(n / total)}


# ------------------------------------------------------------------ 3./4./5. batch, numpy, explain
def _peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out


def bench_batch(n: int, quick: bool, memory_cold: bool) -> dict[str, Any]:
    records = generate(n, seed=1, bad=BAD)
    other = generate(n, seed=2, bad=BAD)
    res: dict[str, Any] = {"persons": n}

    reasoner = load_policies()
    t, result = _timed(lambda: decide_batch(reasoner, records))
    res["cold"] = {"seconds": round(t, 3), "per_s": round(n / t), **_stats(result)}
    t, result = _timed(lambda: decide_batch(reasoner, other))
    res["warm"] = {"seconds": round(t, 3), "per_s": round(n / t), **_stats(result)}
    repeats = [_timed(lambda: decide_batch(reasoner, other))[0] for _ in range(2 if quick else 5)]
    t = statistics.median(repeats)
    res["repeat"] = {"seconds": round(t, 4), "per_s": round(n / t), "runs": len(repeats),
                     "per_s_min": round(n / max(repeats)), "per_s_max": round(n / min(repeats))}

    peak, _ = _peak(lambda: decide_batch(reasoner, other))
    res["memory_repeat_peak_mb"] = round(peak / 1e6, 2)
    res["memory_repeat_bytes_per_person"] = round(peak / n, 1)
    if memory_cold:
        peak, _ = _peak(lambda: decide_batch(load_policies(), records))
        res["memory_cold_peak_mb"] = round(peak / 1e6, 2)

    # numpy lower bound on the warm population
    t_cols, cols = _timed(lambda: numpy_longyan.columns(other))
    t_rules = statistics.median(_timed(lambda: numpy_longyan.decide(cols))[0] for _ in range(3 if quick else 7))
    npres = numpy_longyan.decide(cols)
    res["numpy"] = {"columns_ms": _ms(t_cols), "rules_ms": _ms(t_rules),
                    "ratio_warm": round(res["warm"]["seconds"] / t_rules, 1),
                    "ratio_repeat": round(res["repeat"]["seconds"] / t_rules, 1),
                    "ratio_repeat_vs_columns_and_rules": round(res["repeat"]["seconds"] / (t_cols + t_rules), 2)}
    res["agreement"] = numpy_longyan.agreement(result, other, cols, npres)

    # explanation of single rows, on demand
    rng = np.random.default_rng(7)
    valid = np.flatnonzero(result.rows >= 0)
    sample = rng.choice(valid, size=min(len(valid), 50 if quick else 300), replace=False).tolist()
    times = [_timed(lambda i=i: result.explain(i))[0] for i in sample]
    res["explain"] = {"rows": len(sample), "p50_ms": _ms(_pct(times, 50)), "p99_ms": _ms(_pct(times, 99))}
    return res


def _stats(result: Any) -> dict[str, Any]:
    keep = ("errors", "exact_rows", "new_keys", "new_summaries", "distinct_summaries", "solves")
    return {k: result.stats[k] for k in keep}


def bench_numpy_million() -> dict[str, Any]:
    """The numpy rules on 10^6 rows (a 10^4 population tiled 100 times), as in the issue's reference."""
    cols = numpy_longyan.columns(generate(10000, seed=3))
    big = {k: np.concatenate([v] * 100) for k, v in cols.items()}
    t = statistics.median(_timed(lambda: numpy_longyan.decide(big))[0] for _ in range(3))
    return {"persons": 1_000_000, "rules_ms": _ms(t)}


# ------------------------------------------------------------------ report
def _machine() -> dict[str, Any]:
    import clingo
    import lark

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "numpy": np.__version__,
            "clingo": clingo.__version__, "lark": lark.__version__, "commit": commit,
            "date": dt.datetime.now().isoformat(timespec="seconds")}


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"  {a.ljust(width)}  {b}" for a, b in rows)


def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    for name, v in results["compile"].items():
        if name.startswith("_"):
            rows.append(("compile: first call (builds the parser)", f"{v:.1f} ms"))
        else:
            rows.append((f"compile {name}", f"{v['median_ms']:.1f} ms (median of {v['runs']})"))
    s = results["single"]
    rows.append(("single decide, warm process", (f"p50 {s['decide_p50_ms']:.2f} ms, p99 {s['decide_p99_ms']:.2f} ms "
                                                  f"(max {s['decide_max_ms']:.1f}) over {s['persons']} persons")))
    rows.append(("single decide + render text", f"p50 {s['decide_and_render_p50_ms']:.2f} ms, p99 {s['decide_and_render_p99_ms']:.2f} ms"))
    rows.append(("per-person decide loop", f"{s['per_person_throughput']:,} persons/s"))
    for b in results["batch"]:
        n = f"{b['persons']:,}"
        for mode in ("cold", "warm", "repeat"):
            m = b[mode]
            if mode == "repeat":
                extra = f", median of {m['runs']}: {m['per_s_min']:,}–{m['per_s_max']:,}"
            else:
                extra = f", {m['solves']} solves, {m['new_keys']} new keys, {m['errors']} errors"
            rows.append((f"batch {n} {mode}", f"{m['per_s']:,} persons/s ({m['seconds']} s{extra})"))
        mem = f"{b['memory_repeat_peak_mb']} MB repeat ({b['memory_repeat_bytes_per_person']} B/person)"
        if "memory_cold_peak_mb" in b:
            mem += f", {b['memory_cold_peak_mb']} MB cold"
        rows.append((f"batch {n} peak memory (tracemalloc)", mem))
        np_ = b["numpy"]
        rows.append((f"numpy {n}", f"rules {np_['rules_ms']:.2f} ms, columns from records {np_['columns_ms']:.1f} ms"))
        rows.append((f"batch/numpy-rules {n}", (f"warm ×{np_['ratio_warm']}, repeat ×{np_['ratio_repeat']}; "
                                               f"repeat/(columns+rules) ×{np_['ratio_repeat_vs_columns_and_rules']}")))
        a = b["agreement"]
        rows.append((f"agreement {n}", f"{a['全部一致']}% of {a['compared']} rows agree on status, categories and every item"))
        e = b["explain"]
        rows.append((f"explain(i) {n}", f"p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms over {e['rows']} rows"))
    if "numpy_million" in results:
        rows.append(("numpy 1,000,000 rules", f"{results['numpy_million']['rules_ms']:.1f} ms"))
    m = results["machine"]
    head = f"bench ({m['cpus']} CPUs, Python {m['python']}, clingo {m['clingo']}, numpy {m['numpy']}, commit {m['commit']})"
    return head + "\n" + _table(rows)


def check_generator() -> None:
    """The generator's identity table must match the compiled Longyan rules."""
    policy = PolicySet.load(bundled_rules_dir()).policies[LONGYAN]
    if dict(policy.identities) != IDENTITIES:
        raise SystemExit(f"bench/generate.py IDENTITIES differ from rules/longyan.rules: {policy.identities}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="batch sizes, comma separated (default 10000,100000)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples (a smoke run)")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[str, Any] = {"command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "machine": _machine()}
    print("compile ...", file=sys.stderr)
    results["compile"] = bench_compile(bundled_rules_dir(), 3 if args.quick else 9)  # first: its first call builds the parser
    check_generator()
    print("single ...", file=sys.stderr)
    results["single"] = bench_single(300 if args.quick else 2000)
    results["batch"] = []
    for n in sizes:
        print(f"batch {n} ...", file=sys.stderr)
        results["batch"].append(bench_batch(n, args.quick, memory_cold=not args.quick))
    if not args.quick:
        results["numpy_million"] = bench_numpy_million()
    publish(report(results), results, args.out)
    return 0


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of `runs` calls of fn, and the last call's result."""
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def publish(text: str, results: dict[str, Any], out: str | Path) -> None:
    """Print a benchmark's table and keep its numbers as JSON (bench/results/, not committed)."""
    print(text)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=_plain), encoding="utf-8")
    print(f"\n(written to {path})")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


if __name__ == "__main__":
    raise SystemExit(main())
