"""Time and peak memory of `diff` (reasoner.diff) on a seeded synthetic population.

    python -m bench.diff_run --n 100000            # streamed: generated and diffed 10,000 persons at a time
    python -m bench.diff_run --n 100000 --list     # the population held in memory as a list of dicts first
    python -m bench.diff_run --n 100000 --parquet  # written to a Parquet file first, then `diff_file` reads it in chunks

Two versions of the bundled rules: Longyan's 第四类 救助比例 60% → 65% (二（四）2). The
population comes from reasoner.population (the generator shipped for drafters). Peak memory
is the process's peak RSS (ru_maxrss), which includes the interpreter, clingo and both
groundings; run each mode in its own process to compare them. The Parquet mode has no
假设参数 (a flat table carries facts only), so its decisions may differ from the other two.
"""
from __future__ import annotations

import argparse
import itertools
import resource
import shutil
import tempfile
import time
from pathlib import Path

from reasoner import PolicySet
from reasoner.diff import DiffReport, diff, diff_chunks, diff_file
from reasoner.population import iter_records
from reasoner.tables import DEFAULT_CHUNK, TableWriter

ROOT = Path(__file__).resolve().parent.parent


def _versions(tmp: str) -> tuple[PolicySet, PolicySet]:
    old = PolicySet.load(ROOT / "rules")
    folder = Path(tmp) / "rules"
    shutil.copytree(ROOT / "rules", folder)
    path = folder / "longyan.rules"
    path.write_text(path.read_text(encoding="utf-8").replace("第四类 60%；第五类 50%", "第四类 65%；第五类 50%"), encoding="utf-8")
    return old, PolicySet.load(folder)


def _write_parquet(records: object, path: Path) -> None:
    """The population as a flat table: 身份 as 名称|认定部门|认定日期 entries, one column per fact."""
    rows, columns = [], ["编号", "地区", "日期", "身份"]
    for r in records:  # type: ignore[attr-defined]
        row = {k: r[k] for k in ("编号", "地区", "日期")}
        row["身份"] = "；".join(f"{i['名称']}|{i['认定部门']}|{i['认定日期']}" for i in r["身份"]) or None
        row.update({k: ("是" if v else "否") if isinstance(v, bool) else v for k, v in r["事实"].items()})
        columns += [k for k in r["事实"] if k not in columns]
        rows.append(row)
    with TableWriter(path, columns) as out:
        out.write(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="hold the whole population in memory first")
    mode.add_argument("--parquet", action="store_true", help="write a Parquet file first and stream it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old, new = _versions(tmp)
        policy = old.policies["龙岩市医疗救助"]
        records = iter_records(policy, old.params, args.n, seed=args.seed)
        if args.parquet:
            path = Path(tmp) / "people.parquet"
            _write_parquet(records, path)
        elif args.list:
            held = list(records)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        if args.parquet:
            report: DiffReport = diff_file(old, new, path)
            how = "streamed from Parquet by diff_file"
        elif args.list:
            report = diff(old, new, held)
            how = "held in memory as a list of dicts"
        else:
            numbered = enumerate(records, start=1)
            chunks = iter(lambda: list(itertools.islice(numbered, DEFAULT_CHUNK)), [])
            report = diff_chunks(old, new, chunks)
            how = f"generated and diffed {DEFAULT_CHUNK:,} at a time"
        elapsed = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"diff {args.n:,} persons ({how}): {elapsed:.2f} s ({args.n / elapsed:,.0f} persons/s), "
          f"peak RSS {rss_after / 1024:.0f} MB (+{(rss_after - rss_before) / 1024:.0f} MB during the diff), "
          f"{len(report.changed):,} changed, {len(report.errors):,} errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
