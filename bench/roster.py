"""Seeded synthetic rosters as files, for `reasoner batch` (benchmarks and tests/test_runners.py).

A roster is what a province exports: one flat row per person — 编号, 地区, 日期, 身份
(名称|认定部门|认定日期[|终止日期] entries separated by ；), one column per fact, and the
nested fields as JSON text (假设参数; for settlement also 就医 and 大病保险). The records are
bench.generate's (decide) or bench.settle_generate's (settle), so the numpy and OpenFisca
peers can read the same population from the same generator.

    python -m bench.roster decide 100000 --seed 1 --out roster.parquet   # .csv, .parquet or .jsonl
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .generate import INCOME, INSURED_BEFORE, NOT_PAID, OOP, PROPERTY, generate
from .settle_generate import generate_settle

FACTS = [OOP, INCOME, PROPERTY, INSURED_BEFORE, NOT_PAID]
DECIDE_COLUMNS = ["编号", "地区", "日期", "身份", *FACTS, "假设参数"]
SETTLE_COLUMNS = [*DECIDE_COLUMNS, "大病保险", "就医"]
BLOCK = 50_000  #: rows written at a time
GENERATE_BLOCK = 100_000  #: records generated at a time (memory stays flat in N)


def _identities(claims: list[Any]) -> str | None:
    if not isinstance(claims, list):
        return str(claims)
    parts = []
    for c in claims:
        fields = [str(c.get(k, "")) for k in ("名称", "认定部门", "认定日期")]
        if c.get("终止日期"):
            fields.append(str(c["终止日期"]))
        parts.append("|".join(fields))
    return "；".join(parts) or None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def flat_row(record: dict[str, Any], columns: list[str]) -> dict[str, str | None]:
    """A generated record as a roster row (every cell text or empty)."""
    facts = record.get("事实") or {}
    row: dict[str, str | None] = {"编号": _text(record.get("编号")), "地区": _text(record.get("地区")),
                                  "日期": _text(record.get("日期")), "身份": _identities(record.get("身份") or [])}
    for f in FACTS:
        row[f] = _text(facts.get(f))
    for name in ("假设参数", "大病保险", "就医"):
        if name in columns:
            row[name] = json.dumps(record[name], ensure_ascii=False) if record.get(name) is not None else None
    return row


def blocks(mode: str, n: int, seed: int, bad: float = 0.0) -> Iterator[list[dict[str, Any]]]:
    """n records, generated GENERATE_BLOCK at a time (block b seeded seed·1000 + b), so that a
    10⁶ roster never holds more than one block of dicts; n ≤ GENERATE_BLOCK is exactly
    generate(n, seed) (resp. generate_settle)."""
    for b, start in enumerate(range(0, n, GENERATE_BLOCK)):
        size, block_seed = min(GENERATE_BLOCK, n - start), seed if n <= GENERATE_BLOCK else seed * 1000 + b
        yield generate(size, seed=block_seed, bad=bad) if mode == "decide" else generate_settle(size, seed=block_seed)


def records(mode: str, n: int, seed: int, bad: float = 0.0) -> Iterator[dict[str, Any]]:
    """The records of blocks(...), one after another."""
    for block in blocks(mode, n, seed, bad):
        yield from block


def write_roster(path: str | Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """Write records as a CSV, Parquet or JSON Lines roster (JSON Lines keeps the records as they are)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        with open(path, "w", encoding="utf-8") as handle:
            for r in rows:
                handle.write(json.dumps(r, ensure_ascii=False) + "\n")
        return
    schema = pa.schema([(c, pa.string()) for c in columns])
    batches = _blocks((flat_row(r, columns) for r in rows), BLOCK)
    if path.suffix == ".parquet":
        with pq.ParquetWriter(path, schema) as writer:
            for block in batches:
                writer.write_table(pa.Table.from_pylist(block, schema=schema))
        return
    from reasoner.tables import TableWriter

    with TableWriter(path, columns) as out:
        for block in batches:
            out.write(block)


def _blocks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    block: list[Any] = []
    for item in items:
        block.append(item)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a seeded synthetic Longyan roster for `reasoner batch`.")
    ap.add_argument("mode", choices=("decide", "settle"))
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bad", type=float, default=0.0, help="decide: fraction of malformed records")
    ap.add_argument("--out", required=True, help=".csv, .parquet or .jsonl")
    args = ap.parse_args(argv)
    columns = DECIDE_COLUMNS if args.mode == "decide" else SETTLE_COLUMNS
    write_roster(args.out, records(args.mode, args.n, args.seed, args.bad), columns)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
