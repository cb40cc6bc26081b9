"""Benchmark of the batch audit (`reasoner audit`): rows/s and peak memory at 10⁴ and 10⁵ payment rows.

The claim to show is flat memory: the audit streams the export in chunks through a scratch
SQLite database, so its peak memory should not grow with the number of rows (only with the
engine's caches: groundings and answer sets per distinct signature, which saturate).

The ledger is generated from bench.settle_generate's seeded Longyan persons (identities, facts,
假设参数; claims 住院/门诊特殊病种 with 按规定转诊): one payment row per claim, written to
payments.csv, and the persons to persons.csv (flat: 身份 as 名称|认定部门|认定日期[|终止日期],
one column per fact, 假设参数.X columns). 大病保险支付 is given on each row (a rough ordinary
first segment: 60% above 13,000元 of the claim's self-pay). 医疗救助支付 is a payer's guess —
70% of what is left for a person with an identity, 0 otherwise — then, seeded: 5% paid 10%
more, 3% 10% less, 1% of rows repeated (重复救助), 0.1% with an unreadable amount. So the
findings are a mix of every kind, like a real audit's; their counts are printed.

Each size's files are generated in one process and audited in a fresh one, so that the peak
RSS (ru_maxrss, which a child inherits from its parent) is the audit's own and not the
generator's; the audit process first loads
the policies, and the RSS after that is reported too. RSS also holds the engine's answer-set
cache (one per distinct signature: it grows until the signatures are all seen, whatever N), so
the same file is then audited a second time under tracemalloc: with the caches full, that
peak is the audit's own working memory — the number that must stay flat from 10⁴ to 10⁵.

    python -m bench.audit_run                      # sizes 10000,100000: several minutes on 2 cores
    python -m bench.audit_run --sizes 2000         # smoke run
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from .settle_generate import generate_settle

RESULTS = Path(__file__).resolve().parent / "results" / "audit_latest.json"
PAYMENT_HEADER = ["结算单号", "人员编号", "地区", "就医日期", "就医类别", "政策范围内费用", "基本医保支付", "大病保险支付",
                  "救助类别", "医疗救助支付", "按规定转诊"]


def _fen(text: Any) -> int:
    return round(float(text) * 100)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _person_row(rec: dict[str, Any], columns: list[str]) -> list[str]:
    identities = "；".join("|".join(str(i[k]) for k in ("名称", "认定部门", "认定日期", "终止日期") if i.get(k)) for i in rec["身份"])
    row = {"编号": rec["编号"], "地区": rec["地区"], "日期": rec["日期"], "身份": identities}
    row |= {k: str(v) for k, v in rec["事实"].items()}
    row |= {f"假设参数.{k}": str(v) for k, v in rec["假设参数"].items()}
    return [row.get(c, "") for c in columns]


def generate_files(n: int, folder: Path, seed: int = 7) -> tuple[Path, Path]:
    """A seeded payments file of exactly n rows and the persons file it refers to."""
    persons = generate_settle(math.ceil(n / 2.2) + 10, seed)
    rng = np.random.default_rng(seed)
    payments, people = folder / f"payments_{n}.csv", folder / f"persons_{n}.csv"
    facts = sorted({k for r in persons for k in r["事实"]})
    params = sorted({k for r in persons for k in r["假设参数"]})
    person_cols = ["编号", "地区", "日期", "身份", *facts, *(f"假设参数.{p}" for p in params)]
    rows = 0
    with open(payments, "w", encoding="utf-8", newline="") as pay, open(people, "w", encoding="utf-8", newline="") as per:
        pw, qw = csv.writer(pay), csv.writer(per)
        pw.writerow(PAYMENT_HEADER)
        qw.writerow(person_cols)
        for rec in persons:
            if rows >= n:
                break
            qw.writerow(_person_row(rec, person_cols))
            for claim in rec["就医"]:
                if rows >= n:
                    break
                rows += 1
                pw.writerow(_payment(rec, claim, rows, rng))
                if rows < n and rng.random() < 0.01:  # the same claim paid again
                    rows += 1
                    pw.writerow(_payment(rec, claim, rows, rng, repeat=True))
    return payments, people


def _payment(rec: dict[str, Any], claim: dict[str, Any], number: int, rng: np.random.Generator, repeat: bool = False) -> list[str]:
    cost, basic = _fen(claim["政策范围内费用"]), _fen(claim["基本医保支付"])
    catastrophic = max(0, cost - basic - 13_000_00) * 6 // 10
    left = cost - basic - catastrophic
    paid = left * 7 // 10 if rec["身份"] else 0
    draw = rng.random()
    if draw < 0.05:
        paid = paid * 11 // 10
    elif draw < 0.08:
        paid = paid * 9 // 10
    paid_text = "壹佰元" if rng.random() < 0.001 else _yuan(paid)
    return [f"S{number:07d}", rec["编号"], rec["地区"], claim["日期"], claim["类别"], _yuan(cost), _yuan(basic), _yuan(catastrophic),
            "", paid_text, claim["事实"]["按规定转诊"]]


def run_one(payments: Path, persons: Path, folder: Path) -> dict[str, Any]:
    """One size, in this process: load the policies, audit with CSV and HTML output (timed, peak RSS), then
    audit the same file again under tracemalloc: with the engine's caches already full, that peak is the
    audit's own working memory, the number that must not grow with the file."""
    from reasoner import load_policies
    from reasoner.audit import AuditOptions, run_audit
    from reasoner.audit_report import write_outputs

    reasoner = load_policies()
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def once() -> Any:
        with run_audit(reasoner, payments, AuditOptions(persons=persons, progress=False)) as audit:
            return write_outputs(audit, out=folder / "findings.csv", html_out=folder / "report.html")

    start = time.perf_counter()
    summary = once()
    seconds = time.perf_counter() - start
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answers = sum(len(g.cache) for g in reasoner._grounds.values())
    gc.collect()
    tracemalloc.start()
    once()
    _, warm_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rows": summary.rows, "seconds": round(seconds, 2), "rows_per_s": round(summary.rows / seconds),
            "rss_after_policies_mb": round(rss_loaded / 1024, 1), "rss_peak_mb": round(rss_peak / 1024, 1),
            "cached_answer_sets": answers, "warm_traced_peak_mb": round(warm_peak / 2**20, 1),
            "findings": {o: t.count for o, t in summary.by_outcome.items() if t.count}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # payments persons folder: one audit in this process
    ap.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)  # n folder: write the files in this process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*map(Path, args.one)), ensure_ascii=False))
        return 0
    if args.generate:
        generate_files(int(args.generate[0]), Path(args.generate[1]))
        return 0
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            # generated in a process of its own: a child inherits its parent's peak RSS, so the driver stays small
            subprocess.run([sys.executable, "-m", "bench.audit_run", "--generate", str(n), str(folder)], check=True)
            payments, persons = folder / f"payments_{n}.csv", folder / f"persons_{n}.csv"
            done = subprocess.run([sys.executable, "-m", "bench.audit_run", "--one", str(payments), str(persons), str(folder)],
                                  capture_output=True, text=True, check=True)
        res = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{res['rows']:>8} 行  {res['seconds']:>7.1f} s  {res['rows_per_s']:>6} 行/s  "
              f"RSS 载入政策后 {res['rss_after_policies_mb']} MB，峰值 {res['rss_peak_mb']} MB（缓存答案集 {res['cached_answer_sets']}）  "
              f"再审一遍的 tracemalloc 峰值 {res['warm_traced_peak_mb']} MB  {res['findings']}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "commit": commit,
                                   "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
