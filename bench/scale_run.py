"""Scale benchmark (issue 7): `reasoner batch` on rosters of 10⁴–10⁶ persons against numpy and OpenFisca.

    python -m bench.scale_run                                   # decide 10⁴,10⁵,10⁶; settle 10⁴,10⁵
    python -m bench.scale_run --sizes 10000 --settle-sizes 2000 # smoke run, about a minute

For each size N, a seeded Longyan roster (bench/roster.py: bench.generate's records, 0.1%
malformed for decide; bench.settle_generate's for settle) is written as Parquet, then:

1. the CLI, as a user runs it — `python -m reasoner.cli batch decide|settle ROSTER --out OUT.parquet`
   — with --workers 1 (in process), --workers 2 (process pool) and --dask local --workers 2
   (a LocalCluster), each from a fresh run directory: wall time (process start, reading the
   Parquet, every decision, writing the output), persons/s, CPU seconds of the CLI and every
   worker it waited for (the machine is shared: CPU time shows what wall time hides), and peak memory: the largest sum of
   RSS over the process tree (driver + workers) sampled every 50 ms, and the largest single process;
2. the three outputs must be byte-identical;
3. the peers on the same records: numpy_longyan / numpy_settle (the hand-written lower bound)
   and openfisca_longyan / openfisca_settle_longyan (OpenFisca-core): time to build their
   columns from the record dicts, and time of the rules on those columns (median of 3; 1 at 10⁶);
4. agreement: every row's status, categories and five items in the reasoner's output against
   OpenFisca's (and OpenFisca against numpy); for settle, each person's 医疗救助 and 大病保险
   totals in the reasoner's output against OpenFisca's and numpy_settle's (and OpenFisca
   against numpy claim by claim, every field);
5. explain: RowExplainer on the output — one row's full justification (decide: the decision's;
   settle: Settler's settlement of every claim, as text with every step) recomputed from the
   input file and its row number: the first row of a chunk (which reads that chunk of the
   input) and then p50/p99 over 200 rows of the same chunk.

A size whose run is estimated (from the previous size, × N) to take longer than --max-seconds is
not run; its numbers are extrapolated and marked so. Results: bench/results/scale_latest.json.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow.parquet as pq

from reasoner.batch_run import DEFAULT_CHUNK

from . import numpy_longyan, numpy_settle
from .roster import DECIDE_COLUMNS, SETTLE_COLUMNS, blocks, write_roster
from .run import _machine, _table, median_time as _median, publish

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
RUNNERS = {"1 process": ["--workers", "1"], "2 processes": ["--workers", "2"], "Dask local (2 workers)": ["--dask", "local", "--workers", "2"]}
BAD = 0.001


# ------------------------------------------------------------------ the CLI, measured
def byte_compile() -> bool:
    """Compile the package's modules as `pip install` does, so that each run imports them as an
    installed reasoner does. Without it, where PYTHONDONTWRITEBYTECODE is set (as on the machine
    these numbers come from) every CLI process and worker compiled ≈ 50 modules from source again:
    ≈ 0.12 s before the pool forks, on every run's critical path. Third-party packages are installed
    compiled either way."""
    return compileall.compile_dir(str(ROOT / "reasoner"), quiet=1)


def run_cli(args: list[str]) -> dict[str, Any]:
    """Run the CLI; wall time and peak RSS of its process tree (sampled every 50 ms)."""
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([sys.executable, "-m", "reasoner.cli", "batch", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak_sum = peak_one = 0
    while proc.poll() is None:
        try:
            rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
        except psutil.Error:
            rss = []
        if rss:
            peak_sum, peak_one = max(peak_sum, sum(rss)), max(peak_one, max(rss))
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)  # the CLI and every worker it waited for
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 2, 3):
        raise RuntimeError(f"reasoner batch failed ({proc.returncode}): {err[-2000:]}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak_sum / 1e6, 1),
            "peak_rss_largest_process_mb": round(peak_one / 1e6, 1), "exit": proc.returncode, "stderr": err.strip()[-300:]}


# ------------------------------------------------------------------ agreement with the peers
def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def decide_agreement(out: Path, peer: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, Any]:
    """The reasoner's output rows against a peer's arrays (numpy_longyan.decide's keys and codes)."""
    table = pq.read_table(out, columns=["状态", "类别", "待遇"])
    status, cats, items = (table.column(c).to_pylist() for c in ("状态", "类别", "待遇"))
    decoded: dict[str | None, np.ndarray] = {}
    n = len(status)
    ok_rows = np.array([s != "错误" for s in status]) & valid
    same = np.ones(n, dtype=bool)
    codes = np.zeros((n, 3 * len(numpy_longyan.ITEMS)), dtype=np.int64)
    for i in np.flatnonzero(ok_rows).tolist():
        text = items[i]
        row = decoded.get(text)
        if row is None:
            data = json.loads(text)
            vals = []
            for name, scope in numpy_longyan.ITEMS:
                it = data[f"{name}（{scope}）" if scope else name]
                cat = numpy_longyan.CATEGORIES.index(it["类别"]) + 1 if it["类别"] else 0
                vals += [numpy_longyan.STATUS_TEXT[it["状态"]], cat, numpy_longyan._encode_value(name, it["数值"])]
            row = decoded[text] = np.array(vals, dtype=np.int64)
        codes[i] = row
        members = [c in (cats[i] or "").split("、") for c in numpy_longyan.CATEGORIES]
        same[i] = (status[i] == "符合救助条件") == bool(peer["eligible"][i]) and members == peer["members"][i].tolist()
    theirs = np.stack([peer[f"{name}.{part}"] for name, _ in numpy_longyan.ITEMS for part in ("status", "category", "value")], axis=1)
    same &= (codes == theirs).all(axis=1)
    compared = int(ok_rows.sum())
    return {"compared": compared, "agree_pct": round(100.0 * float(same[ok_rows].mean()), 4) if compared else 100.0,
            "reasoner_error_rows": int(sum(s == "错误" for s in status)), "peer_unreadable": int((~valid).sum())}


def settle_agreement(out: Path, npres: dict[str, np.ndarray]) -> dict[str, Any]:
    table = pq.read_table(out, columns=["医疗救助（分）", "大病保险支付（分）"])
    mine = np.stack([np.array(table.column(c).to_pylist(), dtype=np.int64) for c in table.column_names], axis=1)
    theirs = np.stack([npres["assistance"].sum(axis=1), npres["catastrophic"].sum(axis=1)], axis=1)
    same = (mine == theirs).all(axis=1)
    return {"compared": len(same), "agree_pct": round(100.0 * float(same.mean()), 4),
            "assistance_total_yuan": round(int(mine[:, 0].sum()) / 100, 2)}


# ------------------------------------------------------------------ explain
def explain_latency(out: Path, rows: int = 200) -> dict[str, Any]:
    from reasoner.batch_run import RowExplainer

    explainer = RowExplainer(out)
    entry = explainer.chunks[len(explainer.chunks) // 2]
    first, last = entry["rows"]
    t0 = time.perf_counter()
    explainer.explain(first)
    load = time.perf_counter() - t0
    rng = np.random.default_rng(7)
    sample = rng.integers(first, last + 1, min(rows, last - first + 1)).tolist()
    times = []
    for r in sample:
        t0 = time.perf_counter()
        try:
            explainer.explain(r)
        except ValueError:
            continue  # an error row: nothing to explain
        times.append(time.perf_counter() - t0)
    return {"first_row_of_chunk_ms": round(load * 1000, 1), "rows": len(times),
            "p50_ms": round(float(np.percentile(times, 50)) * 1000, 2), "p99_ms": round(float(np.percentile(times, 99)) * 1000, 2)}


# ------------------------------------------------------------------ one size
def _chunk(n: int) -> int:
    """The CLI's default chunk size (at 10⁵ and 10⁶ alike, so that their memory compares), or a quarter
    of a smaller roster (every runner then has chunks to share)."""
    return DEFAULT_CHUNK if n >= 2 * DEFAULT_CHUNK else max(500, n // 4)


def bench_size(mode: str, n: int, work: Path, quick: bool) -> dict[str, Any]:
    roster = work / f"{mode}-{n}.parquet"
    t0 = time.perf_counter()
    write_roster(roster, (r for b in blocks(mode, n, 1, BAD if mode == "decide" else 0.0) for r in b),
                 DECIDE_COLUMNS if mode == "decide" else SETTLE_COLUMNS)
    res: dict[str, Any] = {"mode": mode, "persons": n, "chunk_size": _chunk(n), "roster_mb": round(roster.stat().st_size / 1e6, 1),
                           "roster_write_s": round(time.perf_counter() - t0, 1), "runners": {}}
    outs = {}
    for name, flags in RUNNERS.items():
        out = work / f"{mode}-{n}-{name.split()[0]}.parquet"
        shutil.rmtree(str(out) + ".run", ignore_errors=True)
        print(f"  {mode} {n:,} {name} ...", file=sys.stderr)
        m = run_cli([mode, str(roster), "--out", str(out), "--chunk-size", str(_chunk(n)), "--no-progress", *flags])
        m["persons_per_s"] = round(n / m["seconds"])
        res["runners"][name] = m
        outs[name] = out
    first = next(iter(outs.values())).read_bytes()
    res["outputs_identical"] = all(o.read_bytes() == first for o in outs.values())
    res |= _peers(mode, n, outs["1 process"], quick)
    res["explain"] = explain_latency(outs["1 process"])
    for o in outs.values():
        o.unlink()
    roster.unlink()
    return res


def _peers(mode: str, n: int, out: Path, quick: bool) -> dict[str, Any]:
    runs = 1 if quick or n >= 1_000_000 else 3
    parts: list[dict[str, Any]] = []
    t_cols = 0.0
    for b in blocks(mode, n, 1, BAD if mode == "decide" else 0.0):
        t0 = time.perf_counter()
        parts.append(numpy_longyan.columns(b) if mode == "decide" else numpy_settle.columns(b))
        t_cols += time.perf_counter() - t0
    if mode == "decide":
        cols = _concat(parts)
        t_np, npres = _median(lambda: numpy_longyan.decide(cols), runs)
        from . import openfisca_longyan

        openfisca_longyan.system()  # building the tax-benefit system is not part of a run
        t_of, ofres = _median(lambda: openfisca_longyan.simulate(cols), runs)
        return {"columns_s": round(t_cols, 3), "numpy_s": round(t_np, 4), "openfisca_s": round(t_of, 4),
                "openfisca_vs_numpy_agree_pct": openfisca_longyan.agreement_with_numpy(ofres, npres, cols["valid"]),
                "agreement_reasoner_openfisca": decide_agreement(out, ofres, cols["valid"])}
    cols = {"person": _concat([p["person"] for p in parts]), "claims": _concat([p["claims"] for p in parts])}
    t_np, npres = _median(lambda: numpy_settle.settle(cols), runs)
    from . import openfisca_settle_longyan

    openfisca_settle_longyan.system()
    t_of, ofres = _median(lambda: openfisca_settle_longyan.simulate(cols), runs)
    of_np = openfisca_settle_longyan.agreement_with_numpy(ofres, npres, cols["claims"]["count"])
    return {"columns_s": round(t_cols, 3), "numpy_s": round(t_np, 4), "openfisca_s": round(t_of, 4),
            "openfisca_vs_numpy_agree_pct": of_np["all_fields"], "openfisca_vs_numpy": of_np,
            "agreement_reasoner_openfisca": settle_agreement(out, ofres),
            "agreement_reasoner_numpy": settle_agreement(out, npres)}


def extrapolate(prev: dict[str, Any], n: int) -> dict[str, Any]:
    scale = n / prev["persons"]
    runners = {name: {"seconds": round(m["seconds"] * scale, 1), "persons_per_s": m["persons_per_s"],
                      "peak_rss_mb": m["peak_rss_mb"]} for name, m in prev["runners"].items()}
    return {"mode": prev["mode"], "persons": n, "extrapolated_from": prev["persons"], "runners": runners,
            "numpy_s": round(prev["numpy_s"] * scale, 3),
            "openfisca_s": round(prev["openfisca_s"] * scale, 3) if prev.get("openfisca_s") else None}


# ------------------------------------------------------------------ report
def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    for b in results["sizes"]:
        tag = f"{b['mode']} {b['persons']:,}" + (f" (EXTRAPOLATED from {b['extrapolated_from']:,})" if "extrapolated_from" in b else "")
        for name, m in b["runners"].items():
            mem = f"peak RSS {m['peak_rss_mb']:,} MB" + (f" (largest process {m['peak_rss_largest_process_mb']:,})"
                                                        if "peak_rss_largest_process_mb" in m else "")
            cpu = f", CPU {m['cpu_seconds']} s" if "cpu_seconds" in m else ""
            rows.append((f"{tag} {name}", f"{m['persons_per_s']:,} persons/s ({m['seconds']} s{cpu}), {mem}"))
        peers = f"numpy {b['numpy_s'] * 1000:.1f} ms"
        if b.get("openfisca_s"):
            peers += f", OpenFisca {b['openfisca_s'] * 1000:.1f} ms"
        if "columns_s" in b:
            peers += f"; their columns from the record dicts {b['columns_s']:.2f} s"
        rows.append((f"{tag} peers", peers))
        best = min(m["seconds"] for m in b["runners"].values())
        ratio = f"best reasoner run / numpy ×{best / b['numpy_s']:,.0f}"
        if b.get("openfisca_s"):
            ratio += f", / OpenFisca ×{best / b['openfisca_s']:,.1f} (aim ≤ ×3)"
            if "columns_s" in b:
                ratio += f", / (OpenFisca + its columns) ×{best / (b['openfisca_s'] + b['columns_s']):,.1f}"
        rows.append((f"{tag} ratios", ratio))
        if "outputs_identical" in b:
            rows.append((f"{tag} runners agree", "outputs byte-identical" if b["outputs_identical"] else "OUTPUTS DIFFER"))
        for key in ("agreement_reasoner_openfisca", "agreement_reasoner_numpy"):
            if key in b:
                a = b[key]
                extra = ""
                if key.endswith("openfisca") and "openfisca_vs_numpy_agree_pct" in b:
                    extra = f"; OpenFisca = numpy on {b['openfisca_vs_numpy_agree_pct']}%"
                    extra += " of claims (every field)" if b["mode"] == "settle" else ""
                what = " (医疗救助 and 大病保险 totals)" if b["mode"] == "settle" else ""
                rows.append((f"{tag} agreement", f"{a['agree_pct']}% of {a['compared']:,} rows vs {key.split('_')[-1]}{what}{extra}"))
        if "explain" in b:
            e = b["explain"]
            rows.append((f"{tag} explain one row", (f"p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms over {e['rows']} rows; "
                                                    f"first row of a chunk {e['first_row_of_chunk_ms']} ms (reads the chunk)")))
    m = results["machine"]
    return f"scale bench ({m['cpus']} CPUs, Python {m['python']}, clingo {m['clingo']}, commit {m['commit']})\n" + _table(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="reasoner batch at scale vs numpy and OpenFisca")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="decide sizes")
    ap.add_argument("--settle-sizes", default="10000,100000", help="settle sizes")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="extrapolate a size estimated to run longer (per runner)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "scale_latest.json"))
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"command": "python -m bench.scale_run " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "machine": _machine(), "sizes": [], "byte_compiled": byte_compile()}
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for mode, sizes in (("decide", args.sizes), ("settle", args.settle_sizes)):
            prev = None
            for n in sorted(int(s) for s in sizes.split(",") if s):
                if prev is not None:
                    estimate = max(m["seconds"] for m in prev["runners"].values()) * n / prev["persons"]
                    if estimate > args.max_seconds:
                        print(f"{mode} {n}: estimated {estimate:.0f} s > {args.max_seconds:.0f} s — extrapolating", file=sys.stderr)
                        results["sizes"].append(extrapolate(prev, n))
                        continue
                prev = bench_size(mode, n, Path(tmp), args.quick)
                results["sizes"].append(prev)
                print(report(results).splitlines()[-1], file=sys.stderr)
    publish(report(results), results, args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
