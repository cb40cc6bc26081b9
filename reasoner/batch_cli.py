"""This module is the `reasoner batch` command: whole rosters on every core, resumable, or on Dask.

    reasoner batch decide  INPUT --out OUT.parquet|csv [--workers N] [--chunk-size K] [--dask ADDR|local]
    reasoner batch settle  INPUT --out OUT.parquet|csv [--year Y] [...]
    reasoner batch explain OUT ROW [ROW ...] [--json]

It lives apart from reasoner/cli.py (which only registers it) so the batch options and their
messages stay together. Exit codes follow the CLI: 0 done; 2 done but some rows are errors
(each an error row in the output) or the input cannot be read; 3 done, some decision could
not be made (facts or parameters missing).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .batch_run import DEFAULT_CHUNK, BatchRunError, RowExplainer, run_batch
from .partition import Job
from .policies import bundled_rules_dir
from .runners import make_runner
from .tables import TableError, is_table

EXIT_OK, EXIT_INPUT, EXIT_UNDECIDED = 0, 2, 3
UNDECIDED = ("无法决定", "无法结算")


def add_batch_parser(sub: Any) -> None:
    """Register `batch` with its three actions on the CLI's subparsers."""
    p = sub.add_parser("batch", help="批量决定或结算整个名册（CSV、Excel、Parquet）：多核并行、可断点续跑、可用Dask集群")
    actions = p.add_subparsers(dest="batch_command", required=True)
    for name, text in (("decide", "逐行决定救助类别与各项待遇，写出每行的结果或错误"),
                       ("settle", "逐行结算就医记录（表格中「就医」列为JSON），写出每人的合计")):
        a = actions.add_parser(name, help=text)
        a.add_argument("input", help="输入：CSV、Excel .xlsx、Parquet、JSON Lines（.jsonl），或YAML/JSON列表")
        a.add_argument("--out", required=True, help="输出：.parquet 或 .csv；断点信息保存在「输出名.run」目录")
        a.add_argument("--workers", type=int, default=None, help="进程数（默认：全部CPU核；1 表示在本进程中运行）")
        a.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help=f"每块行数（默认 {DEFAULT_CHUNK}）")
        a.add_argument("--dask", metavar="地址", help="在Dask集群上运行：调度器地址（如 tcp://host:8786），或 local 启动本机集群")
        a.add_argument("--rules", default=str(bundled_rules_dir()), help="规则目录（默认：随包附带的五个政策）")
        a.add_argument("--no-progress", action="store_true", help="不显示进度条（默认在终端上显示）")
        if name == "settle":
            a.add_argument("--year", type=int, help="只结算这一年")
        a.set_defaults(func=cmd_batch)
    a = actions.add_parser("explain", help="按行号重算批处理结果中某一行的完整依据")
    a.add_argument("out", help="批处理的输出文件（其「.run」目录记录输入文件与规则）")
    a.add_argument("rows", nargs="+", type=int, help="输入文件中的行号（与输出的「行号」列相同）")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    try:
        if args.batch_command == "explain":
            return _explain(args)
        return _run(args)
    except (BatchRunError, TableError, RuntimeError) as err:
        print(f"错误：{err}", file=sys.stderr)
        return EXIT_INPUT


def _run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise BatchRunError("--workers 应为正整数（1 表示在本进程中运行）")
    job = Job(args.batch_command, str(args.rules), is_table(args.input), getattr(args, "year", None))
    runner = make_runner(job.rules, args.workers, args.dask)
    t0 = time.perf_counter()
    try:
        report = run_batch(job, args.input, args.out, runner, args.chunk_size,
                           progress=False if args.no_progress else None)
    finally:
        runner.close()
    seconds = time.perf_counter() - t0
    counts = "；".join(f"{k} {v:,}" for k, v in sorted(report.statuses.items())) or "无数据行"
    print(f"{report.out}：{report.rows:,} 行（{counts}），{report.chunks} 块（续跑跳过 {report.resumed_chunks} 块），"
          f"{runner.name}，{seconds:.1f} 秒", file=sys.stderr)
    if report.errors:
        return EXIT_INPUT
    return EXIT_UNDECIDED if any(report.statuses.get(s) for s in UNDECIDED) else EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    explainer = RowExplainer(args.out)
    code = EXIT_OK
    for row in args.rows:
        try:
            text = explainer.explain(row, "json" if args.json else "text")
        except (ValueError, KeyError) as err:  # the row's own error (RecordError, no policy, …)
            print(f"第 {row} 行：错误：{err}", file=sys.stderr)
            code = EXIT_INPUT
            continue
        print(json.dumps(text, ensure_ascii=False, indent=2) if args.json else text)
    return code


__all__ = ["add_batch_parser", "cmd_batch"]
