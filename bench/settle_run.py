"""Settlement benchmark (issue 3): reasoner.settle.settle against a numpy lower bound.

    python -m bench.settle_run --sizes 1000,10000,100000        # about 16 minutes on 2 cores
    python -m bench.settle_run --sizes 1000 --quick              # smoke run, under a minute

Prints a table and writes bench/results/settle_latest.json. For each size N (Longyan persons
of bench/settle_generate.py, 1–5 claims each, ≈ 2.4 on average):

1. reasoner: reasoner.settle.settle(reasoner, record) per record, every result kept — each
   ClaimResult holds its Decision (the full justification graph) and its arithmetic text, so
   any explanation can be rendered afterwards. The Reasoner is fresh but warmed on 2,000
   other persons (every date context ground, the common signatures solved), as a worker
   would be; new signatures still arrive (the "solves" column). persons/s and claims/s, and
   how many decided cores the Reasoner keeps (reasoner.decide: DECISIONS_KEPT);
2. peak memory: tracemalloc peak of the allocations made while settling (the results are
   kept, so this grows with N), in a separate run since tracing slows Python ≈ 2.7×; for
   N > --memory-max it is measured on the first --memory-max persons and scaled by N (said so);
3. numpy: bench/numpy_settle.py on the same records — columns from the dicts, then the
   settlement (median of 7) — the ratio reasoner/numpy, and the per-claim agreement;
4. explain: reasoner.settle_explain.settlement_text of one person's settlement, p50/p99;
5. stress: the numpy/reasoner agreement once more on 2,000 gravely ill persons with claims up
   to 1,000,000元, where the assistance cap and the ordinary 大病保险 cap bind often;
6. profile: cProfile of the reasoner settlement path on --profile persons: top functions by
   own time, and the time per stage.

(The PROTOTYPE CachedDecider that used to be measured here is now the library's own reuse:
the person part per settlement and the decided cores per Reasoner, reasoner/decide.py; that
it changes no result is tests/test_settle_reuse.py.)

Timed runs freeze (gc.freeze) the objects that exist before them, so that no run pays the
cyclic GC for another run's kept results; "repeat, gc disabled" shows what the GC costs.

If settling N persons would take more than --max-seconds (estimated from the previous size,
× N / previous N), N is not run: its numbers are extrapolated from the previous size and
marked as such.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.run import _peak
from reasoner import load_policies
from reasoner.decide import Reasoner
from reasoner.settle import Settlement
from reasoner.settle import settle as reasoner_settle
from reasoner.settle_explain import settlement_text

from . import numpy_settle
from .run import _machine, _ms, _pct, _table, _timed, publish
from .settle_generate import generate_settle

RESULTS = Path(__file__).resolve().parent / "results"
WARM = 2000  #: persons (another seed) settled by each fresh Reasoner before it is measured


# ------------------------------------------------------------------ measurements
def _solves(reasoner: Reasoner) -> int:
    """Answer sets cached so far (one clingo solve each): read-only peek at the Reasoner's groundings."""
    return sum(len(g.cache) for g in reasoner._grounds.values())


def _warm_reasoner() -> Reasoner:
    reasoner = load_policies()
    for rec in generate_settle(WARM, seed=2):
        reasoner_settle(reasoner, rec)
    return reasoner


def _settle_all(fn: Callable[[dict[str, Any]], list[Settlement]], records: Sequence[dict[str, Any]]) -> list[list[Settlement]]:
    return [fn(rec) for rec in records]


def _frozen(fn: Callable[[], Any], gc_off: bool = False) -> tuple[float, Any]:
    """_timed with every object that exists before the run frozen out of the cyclic GC (gc.freeze):
    the run pays for collecting its own allocations, not for traversing earlier results, the
    records or another run's caches. gc_off: no cyclic GC at all during the run."""
    gc.collect()
    gc.freeze()
    if gc_off:
        gc.disable()
    try:
        return _timed(fn)
    finally:
        gc.enable()
        gc.unfreeze()


def bench_size(n: int, quick: bool, memory_max: int, repeat_max: int) -> dict[str, Any]:
    records = generate_settle(n, seed=1)
    n_claims = sum(len(r["就医"]) for r in records)
    res: dict[str, Any] = {"persons": n, "claims": n_claims}

    # 1. the reasoner, full explanations kept
    reasoner = _warm_reasoner()
    solves0 = _solves(reasoner)
    gc.collect()
    t, results = _frozen(lambda: _settle_all(lambda r: reasoner_settle(reasoner, r), records))
    statuses = Counter(c.status for x in results for s in x for c in s.claims)
    res["reasoner"] = {"seconds": round(t, 3), "persons_per_s": round(n / t), "claims_per_s": round(n_claims / t),
                       "us_per_claim": round(1e6 * t / n_claims, 1), "solves": _solves(reasoner) - solves0,
                       "decided_cores": len(reasoner._decided), "claim_status": dict(statuses)}
    if n <= repeat_max:  # the same population again: every signature known, the per-claim cost alone
        tr, _ = _frozen(lambda: _settle_all(lambda r: reasoner_settle(reasoner, r), records))
        res["reasoner"]["repeat"] = {"seconds": round(tr, 3), "persons_per_s": round(n / tr), "claims_per_s": round(n_claims / tr),
                                     "us_per_claim": round(1e6 * tr / n_claims, 1), "solves": 0}
        _ = None
        tg, _ = _frozen(lambda: _settle_all(lambda r: reasoner_settle(reasoner, r), records), gc_off=True)
        res["reasoner"]["repeat_gc_off"] = {"seconds": round(tg, 3), "persons_per_s": round(n / tg),
                                            "claims_per_s": round(n_claims / tg), "us_per_claim": round(1e6 * tg / n_claims, 1),
                                            "gc_share_pct": round(100 * (tr - tg) / tr, 1)}
        _ = None

    # 2. memory (separate run: tracing slows Python down)
    m = min(n, memory_max)
    fresh = _warm_reasoner()
    peak, _kept = _peak(lambda: _settle_all(lambda r: reasoner_settle(fresh, r), records[:m]))
    _kept = None
    res["memory"] = {"measured_persons": m, "peak_mb": round(peak / 1e6, 2), "bytes_per_person": round(peak / m),
                     "peak_mb_at_n": round(peak / 1e6 * n / m, 1), "extrapolated": m < n}

    # 3. numpy lower bound, and agreement
    col_runs = [_frozen(lambda: numpy_settle.columns(records))[0] for _ in range(3)]
    t_cols = statistics.median(col_runs)
    cols = numpy_settle.columns(records)
    runs = [_frozen(lambda: numpy_settle.settle(cols))[0] for _ in range(3 if quick else 7)]
    t_np = statistics.median(runs)
    npres = numpy_settle.settle(cols)
    coverage: dict[str, int] = {}
    numpy_settle.settle(cols, coverage)
    res["numpy"] = {"columns_ms": _ms(t_cols), "columns_ms_runs": [_ms(x) for x in col_runs], "settle_ms": _ms(t_np), "runs": len(runs),
                    "ratio_reasoner_vs_settle": round(t / t_np, 1),
                    "ratio_reasoner_vs_columns_and_settle": round(t / (t_cols + t_np), 1)}
    res["agreement"] = numpy_settle.agreement(results, records, npres)
    res["coverage"] = coverage

    # 4. explanation of one person's settlement, rendered on demand
    rng = np.random.default_rng(7)
    sample = rng.choice(n, size=min(n, 50 if quick else 300), replace=False).tolist()
    times = [_timed(lambda i=i: [settlement_text(s) for s in results[i]])[0] for i in sample]
    res["explain"] = {"persons": len(sample), "p50_ms": _ms(_pct(times, 50)), "p99_ms": _ms(_pct(times, 99)),
                      "max_ms": _ms(max(times))}

    return res


def extrapolate(prev: dict[str, Any], n: int) -> dict[str, Any]:
    """Numbers for size n from a measured smaller size (linear in persons), marked as extrapolated."""
    f = n / prev["persons"]
    out: dict[str, Any] = {"persons": n, "claims": round(prev["claims"] * f), "extrapolated_from": prev["persons"]}
    p = prev["reasoner"]
    out["reasoner"] = {"seconds": round(p["seconds"] * f, 1), "persons_per_s": p["persons_per_s"],
                       "claims_per_s": p["claims_per_s"], "us_per_claim": p["us_per_claim"]}
    out["memory"] = {**prev["memory"], "peak_mb_at_n": round(prev["memory"]["peak_mb"] * n / prev["memory"]["measured_persons"], 1),
                     "extrapolated": True}
    return out


def stress_agreement(n: int) -> dict[str, Any]:
    """numpy vs reasoner on a stress population (everyone gravely ill, claims up to 1,000,000元): caps bind often."""
    records = generate_settle(n, seed=5, severe=1.0, cost_max=1_000_000_00)
    reasoner = _warm_reasoner()
    results = [reasoner_settle(reasoner, r) for r in records]
    coverage: dict[str, int] = {}
    npres = numpy_settle.settle(numpy_settle.columns(records), coverage)
    return {"persons": n, "agreement": numpy_settle.agreement(results, records, npres), "coverage": coverage}


# ------------------------------------------------------------------ profile
STAGES: list[tuple[str, str, str]] = [
    # (label, file suffix, function): cumulative time of each, per claim
    ("settle (whole path)", "reasoner/settle.py", "settle"),
    ("  parse_person (validate the record)", "reasoner/person.py", "parse_person"),
    ("  Reasoner.decide (one per claim)", "reasoner/decide.py", "decide"),
    ("    prepare: person part, claim part", "reasoner/decide.py", "prepare"),
    ("      person_part (once per person and year)", "reasoner/decide.py", "person_part"),
    ("        Reasoner._typed_facts", "reasoner/decide.py", "_typed_facts"),
    ("        parse_assumed", "reasoner/params.py", "parse_assumed"),
    ("      claim_part: claim facts, claim atoms, signature", "reasoner/decide.py", "claim_part"),
    ("        Reasoner._claim_facts", "reasoner/decide.py", "_claim_facts"),
    ("      evaluate_atom (person and claim parts)", "reasoner/numeric.py", "evaluate_atom"),
    ("    Reasoner._decision (decided core kept, or solved and assembled)", "reasoner/decide.py", "_decision"),
    ("      Reasoner._ground", "reasoner/decide.py", "_ground"),
    ("      GroundPolicy.solve (cache lookup; clingo on a new signature)", "reasoner/solve.py", "solve"),
    ("      Reasoner._assemble (items, citations)", "reasoner/decide.py", "_assemble"),
    ("  Settler._catastrophic (大病保险 + text)", "reasoner/settle.py", "_catastrophic"),
    ("  Settler._assistance (医疗救助 + text)", "reasoner/settle.py", "_assistance"),
    ("  numeric.yuan (amount → text)", "reasoner/numeric.py", "yuan"),
    ("  numeric.round_fen (Fraction)", "reasoner/numeric.py", "round_fen"),
    ("  numeric.pct (rate → text, Decimal)", "reasoner/numeric.py", "pct"),
]


def _stage_times(stats: pstats.Stats) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for (file, _, func), (_, ncalls, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        for label, suffix, name in STAGES:
            if func == name and file.replace("\\", "/").endswith(suffix):
                t, c = out.get(label, (0.0, 0))
                out[label] = (t + cum, c + ncalls)
    return out


def _top(stats: pstats.Stats, k: int, key: int) -> list[dict[str, Any]]:
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][key], reverse=True)[:k]  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    out = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in rows:
        where = file.replace(root, "") if file.startswith(root) else Path(file).name
        out.append({"function": f"{where}:{line}({func})", "calls": ncalls, "own_s": round(tottime, 3), "cum_s": round(cumtime, 3)})
    return out


def profile(n: int) -> dict[str, Any]:
    records = generate_settle(n, seed=3)
    n_claims = sum(len(r["就医"]) for r in records)
    out: dict[str, Any] = {"persons": n, "claims": n_claims}
    reasoner = _warm_reasoner()
    gc.collect()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for rec in records:
        reasoner_settle(reasoner, rec)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof, stream=io.StringIO())
    stages = _stage_times(stats)
    total = max((t for label, (t, _) in stages.items() if "whole path" in label), default=wall)
    out["reasoner"] = {
        "profiled_seconds": round(wall, 2),
        "stages": [{"stage": label, "cum_s": round(stages[label][0], 3), "calls": stages[label][1],
                    "share_pct": round(100 * stages[label][0] / total, 1),
                    "us_per_claim": round(1e6 * stages[label][0] / n_claims, 1)}
                   for label, _, _ in STAGES if label in stages],
        "top_own_time": _top(stats, 20, 2),
    }
    return out


# ------------------------------------------------------------------ report
def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    for b in results["sizes"]:
        n = f"{b['persons']:,}"
        x = " (EXTRAPOLATED from " + f"{b['extrapolated_from']:,})" if "extrapolated_from" in b else ""
        r, mem = b["reasoner"], b["memory"]
        solves = f", {r['solves']} solves" if "solves" in r else ""
        cores = f", {r['decided_cores']:,} decided cores kept" if "decided_cores" in r else ""
        rows.append((f"settle {n} ({b['claims']:,} claims)",
                     (f"{r['persons_per_s']:,} persons/s, {r['claims_per_s']:,} claims/s ({r['seconds']} s, "
                     f"{r['us_per_claim']} µs/claim{solves}{cores}){x}")))
        if "repeat" in r:
            rr = r["repeat"]
            rows.append((f"settle {n} repeat", (f"{rr['persons_per_s']:,} persons/s, {rr['claims_per_s']:,} claims/s ({rr['seconds']} s, "
                                               f"{rr['us_per_claim']} µs/claim; same population again, no new signature)")))
        if "repeat_gc_off" in r:
            rg = r["repeat_gc_off"]
            rows.append((f"settle {n} repeat, gc disabled", (f"{rg['claims_per_s']:,} claims/s ({rg['seconds']} s, {rg['us_per_claim']} µs/claim): "
                                                            f"the cyclic GC is {rg['gc_share_pct']}% of the repeat")))
        memtxt = f"{mem['peak_mb']} MB for {mem['measured_persons']:,} persons ({mem['bytes_per_person']:,} B/person)"
        if mem["extrapolated"]:
            memtxt += f" → ≈ {mem['peak_mb_at_n']} MB at {n} (scaled)"
        rows.append((f"settle {n} peak memory (tracemalloc)", memtxt))
        if "numpy" in b:
            np_ = b["numpy"]
            rows.append((f"numpy {n}", (f"settle {np_['settle_ms']:.1f} ms (median of {np_['runs']}), columns from records "
                                       f"{np_['columns_ms']:.1f} ms (median of 3)")))
            rows.append((f"reasoner/numpy {n}", (f"×{np_['ratio_reasoner_vs_settle']:,} (settle only), "
                                                f"×{np_['ratio_reasoner_vs_columns_and_settle']:,} (columns + settle)")))
            a = b["agreement"]
            rows.append((f"agreement {n}", (f"{a['assistance_and_catastrophic']}% of {a['claims']:,} claims on 医疗救助 and 大病保险 "
                                           f"({a['all_fields']}% also on 医保后自付 and status; {a['disagreeing_claims']} differ)")))
            e = b["explain"]
            rows.append((f"explain one person {n}", f"p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms over {e['persons']} persons"))
    if "stress" in results:
        a = results["stress"]["agreement"]
        cov = results["stress"]["coverage"]
        rows.append((f"agreement, stress {results['stress']['persons']:,}",
                     (f"{a['assistance_and_catastrophic']}% of {a['claims']:,} claims ({a['all_fields']}% all fields); "
                      f"assistance cap binds on {cov['cap_binds']}, ordinary 大病保险 cap on {cov['catastrophic_ordinary_cap_binds']}")))
    m = results["machine"]
    head = f"settle bench ({m['cpus']} CPUs, Python {m['python']}, clingo {m['clingo']}, numpy {m['numpy']}, commit {m['commit']})"
    text = head + ("\n" + _table(rows) if rows else "")
    if "profile" in results:
        pr = results["profile"]
        text += f"\n\nprofile (reasoner, cProfile, {pr['persons']:,} persons, {pr['claims']:,} claims; "
        text += f"{pr['reasoner']['profiled_seconds']} s under the profiler)\n"
        text += _table([(s["stage"], (f"{s['cum_s']:7.3f} s  {s['share_pct']:5.1f}%  {s['us_per_claim']:6.1f} µs/claim  "
                                     f"{s['calls']:,} calls")) for s in pr["reasoner"]["stages"]])
        text += "\n  top functions by own time:\n"
        text += _table([(t["function"], f"own {t['own_s']:.3f} s, cum {t['cum_s']:.3f} s, {t['calls']:,} calls")
                        for t in pr["reasoner"]["top_own_time"][:12]])
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Settlement benchmark: reasoner.settle vs a numpy lower bound.")
    ap.add_argument("--sizes", default="1000,10000,100000", help="population sizes, comma separated")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples; profile on 2,000 persons")
    ap.add_argument("--max-seconds", type=float, default=240.0,
                    help="extrapolate a size whose reasoner run is estimated to take longer than this (default 240)")
    ap.add_argument("--memory-max", type=int, default=10000, help="trace memory on at most this many persons (default 10000)")
    ap.add_argument("--repeat-max", type=int, default=10000,
                    help="also settle the same population a second time (every signature known) up to this size (default 10000)")
    ap.add_argument("--profile", type=int, default=None, help="persons to profile (default 10000, --quick 2000; 0: none)")
    ap.add_argument("--out", default=str(RESULTS / "settle_latest.json"))
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    results: dict[str, Any] = {"command": "python -m bench.settle_run " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "machine": _machine(), "sizes": []}
    for n in sizes:
        prev = next((b for b in reversed(results["sizes"]) if "extrapolated_from" not in b), None)
        if prev is not None:
            estimate = prev["reasoner"]["seconds"] * n / prev["persons"]
            if estimate > args.max_seconds:
                print(f"settle {n}: estimated {estimate:.0f} s > {args.max_seconds:.0f} s — extrapolating from {prev['persons']}",
                      file=sys.stderr)
                results["sizes"].append(extrapolate(prev, n))
                continue
        print(f"settle {n} ...", file=sys.stderr)
        results["sizes"].append(bench_size(n, args.quick, args.memory_max, args.repeat_max))
    print("stress agreement ...", file=sys.stderr)
    results["stress"] = stress_agreement(500 if args.quick else 2000)
    profile_n = args.profile if args.profile is not None else (2000 if args.quick else 10000)
    if profile_n:
        print(f"profile {profile_n} ...", file=sys.stderr)
        results["profile"] = profile(profile_n)
    publish(report(results), results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
