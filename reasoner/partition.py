"""This module is the one partition function every batch runner calls: rows in → result table out.

A partition is a list of (row number, raw record) — the row number as a person sees it in
the input file (CSV/Excel count the header as row 1, Parquet and YAML/JSON lists count from
1). run_partition turns it into an Arrow table with exactly one output row per input row,
in input order: the decision summary (decide) or the year's settlement totals (settle), or
the row's error with its Chinese reason. It is pure and deterministic — the output depends
only on (job, rows) — so the in-process loop, the process pool and Dask give the same bytes,
and a chunk recomputed after a crash equals the chunk that was lost.

What is not pure is only a cache: each process keeps one Reasoner per rules folder
(reasoner_for), with its groundings, answer sets and batch keys, so a worker that receives
chunk after chunk stops solving once it has seen the signatures. Record ids that the record
does not give are derived from the global row number (parse_person's "#N"), never from the
position inside a chunk, so chunking cannot change a result.
"""
from __future__ import annotations

import gc
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .batch import decide_batch
from .batch_rows import DECIDE_SCHEMA, ERROR_STATUS, SETTLE_SCHEMA, error_cells, parse_rows, raw_id, settle_rows
from .batch_summary import BatchResult, Summary
from .batch_table import decide_table
from .chunk_files import FilesNotShared, ParquetSlice, save_chunk
from .codes import first_seen
from .decide import Reasoner
from .person import table_record
from .policies import PolicySet
from .settle_table import settle_table
from .tables import row_dicts
from .version import engine_digest, files_digest

MODES = ("decide", "settle")
SUMMARY_COLUMNS = ("政策", "状态", "类别", "缺少", "待遇")  #: a decide row's cells taken from its summary
#: the result of a partition: decide's summary columns dictionary-encoded — a chunk has a few hundred distinct
#: summaries, and copying their 待遇 texts into every row (≈ 700 bytes each) cost more than deciding the rows
CHUNK_SCHEMAS = {"decide": pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), pa.string())) if f.name in SUMMARY_COLUMNS else f
                                      for f in DECIDE_SCHEMA]),
                 "settle": SETTLE_SCHEMA}


@dataclass(frozen=True)
class ArrowRows:
    """A partition still in Arrow form (a Parquet slice): rows first, first + 1, … in the file.

    The driver of a run only slices Parquet (C++, no Python objects per row); the worker
    turns the slice into row dicts (tables.cell_text per cell), so with N workers that work
    is spread over N cores instead of serialising the whole run on the driver.
    """

    first: int
    table: pa.Table

    def __len__(self) -> int:
        return self.table.num_rows

    def numbers(self) -> tuple[int, int]:
        return self.first, self.first + self.table.num_rows - 1

    def rows(self) -> list[tuple[int, Any]]:
        return list(enumerate(row_dicts(self.table), start=self.first))


Rows = Sequence[tuple[int, Any]] | ArrowRows | ParquetSlice  #: what a partition receives


@dataclass(frozen=True)
class Job:
    """What every partition of one run shares (picklable: it travels to pool and Dask workers)."""

    mode: str  #: "decide" or "settle"
    rules: str  #: rules folder
    flat: bool  #: rows are flat table rows (person.flat_record) rather than records
    year: int | None = None  #: settle: only this calendar year
    rules_sha256: str = ""  #: the rules as the run's driver read them (rules_digest; batch_run sets it): "" is not checked
    engine_sha256: str = ""  #: the driver's engine (version.engine_digest; batch_run sets it): "" is not checked
    chunks_dir: str = ""  #: the run directory, when the workers write their chunk files there themselves (run_chunk)
    run_tag: str = ""  #: the run's identity tag, part of every chunk file's name (chunk_files.save_chunk)


class RulesMismatch(RuntimeError):
    """A worker reads other rules than the run's driver (another machine's copy, or files changed during the run)."""


class EngineMismatch(RuntimeError):
    """A worker runs another build of the reasoner than the run's driver (a Dask worker on a machine not upgraded)."""


# ------------------------------------------------------------------ per-process reasoner
_REASONERS: dict[str, tuple[Reasoner, str]] = {}  #: rules folder → (Reasoner, digest of the files it loaded)


def reasoner_for(rules: str, expected: str = "") -> Reasoner:
    """One Reasoner per rules folder and process, kept across partitions (its caches are the speed);
    loaded again when the run expects other rules than those it holds, and refused when the folder
    here does not hold the rules the run expects."""
    reasoner, digest = _REASONERS.get(rules, (None, ""))
    if reasoner is None or (expected and expected != digest):
        digest = rules_digest(rules)
        if expected and expected != digest:
            raise RulesMismatch(f"工作进程读到的规则（{rules}）与发起批处理时的规则不同：请让各机器使用同一份规则，并在运行中不要修改规则")
        was_enabled = gc.isenabled()
        gc.disable()  # loading makes long-lived objects only: collections while it runs cost ≈ 0.02 s and free nothing
        try:
            reasoner = Reasoner(PolicySet.load(rules))
        finally:
            if was_enabled:
                gc.enable()
        _REASONERS[rules] = (reasoner, digest)
        gc.freeze()  # the policies and parser are long-lived: keep them out of every later collection
    return reasoner


def reasoners_loaded() -> bool:
    """Whether this process holds a run's Reasoner (runners.start_method does not fork one that does)."""
    return bool(_REASONERS)


def init_worker(rules: str, workers: int = 1) -> None:
    """Process-pool initializer: load the policies once per worker, before the first chunk, and take
    this worker's share of the cores (share_cores)."""
    share_cores(workers)
    reasoner_for(rules)


def share_cores(workers: int) -> None:
    """Leave Arrow's thread pool this worker's share of the machine's cores: with a worker per core,
    Arrow's own threads (the JSON reader's) only competed with the other workers (settle 10⁶ with two
    workers ≈ 7% faster: bench/README.md «What was tried» 36)."""
    pa.set_cpu_count(max(1, (os.cpu_count() or 1) // workers))


# ------------------------------------------------------------------ the partition function
def run_partition(job: Job, rows: Rows) -> pa.Table:
    """Records in → one result row per record out, in order (pure; see the module docstring)."""
    if job.mode not in MODES:
        raise ValueError(f"未知的批处理模式「{job.mode}」（可用：{'、'.join(MODES)}）")
    if job.engine_sha256 and job.engine_sha256 != engine_digest():
        raise EngineMismatch("工作进程的推理引擎与发起批处理的不同（版本或代码不一致）：请在各机器上安装同一版本")
    reasoner = reasoner_for(job.rules, job.rules_sha256)
    if isinstance(rows, ParquetSlice):
        rows = ArrowRows(rows.first, rows.table())
    was_enabled = gc.isenabled()
    gc.disable()  # a chunk makes many short-lived objects and few cycles; collect once afterwards
    try:
        run = _decide_table if job.mode == "decide" else _settle_table
        runs = _arrow_runs(rows) if job.flat and not isinstance(rows, ArrowRows) else None
        table = run(job, reasoner, rows) if runs is None else pa.concat_tables([run(job, reasoner, r) for r in runs])
    finally:
        if was_enabled:
            gc.enable()
    return table


ChunkResult = pa.Table | dict[str, Any]  #: run_chunk's: the table, or the log entry of the chunk file written


def run_chunk(job: Job, index: int, rows: Rows) -> ChunkResult:
    """What a runner ships to a worker: chunk `index` through run_partition, its result written to the
    run directory by this process when job.chunks_dir is set (then its chunk log entry is returned),
    else the table itself (a remote worker cannot reach the driver's files)."""
    if job.chunks_dir and not os.path.isdir(job.chunks_dir):
        raise FilesNotShared(f"工作进程看不到本次批处理的目录 {job.chunks_dir}")
    table = run_partition(job, rows)
    return save_chunk(Path(job.chunks_dir), index, job.run_tag, table) if job.chunks_dir else table


def run_chunks(job: Job, chunks: list[tuple[int, Rows]]) -> list[tuple[int, ChunkResult]]:
    """A task of several chunks (runners._tasks), in order."""
    return [(index, run_chunk(job, index, rows)) for index, rows in chunks]


def _arrow_runs(rows: Sequence[tuple[int, Any]]) -> list[ArrowRows] | None:
    """Flat rows of text (CSV, Excel) as Arrow slices, one per run of consecutive row numbers, so
    that they take the columnar paths as Parquet does; None (row by row) unless every row has the
    same columns in the same order and only text or empty cells."""
    if not rows:
        return None
    names = list(rows[0][1]) if isinstance(rows[0][1], dict) else None
    if not names or "__extra__" in names or any(not isinstance(raw, dict) or list(raw) != names for _, raw in rows):
        return None
    if any(v is not None and type(v) is not str for _, raw in rows for v in raw.values()):
        return None
    cuts = [k for k in range(1, len(rows)) if rows[k][0] != rows[k - 1][0] + 1]
    return [ArrowRows(part[0][0], pa.table({name: pa.array([raw[name] for _, raw in part], pa.string()) for name in names}))
            for part in (rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)]))]


def _decide_table(job: Job, reasoner: Reasoner, rows: Rows) -> pa.Table:
    """Decide a partition: an Arrow slice column by column (batch_table), rows as records one by one."""
    if isinstance(rows, ArrowRows):
        decided = decide_table(reasoner, rows.table, rows.first)
        return _decide_output(pa.array(np.arange(rows.first, rows.first + len(rows))), decided.result,
                              decided.ids, decided.regions, decided.dates)
    persons, errors = parse_rows(rows, job.flat)
    ok = [pos for pos, p in enumerate(persons) if p is not None]
    result = decide_batch(reasoner, [persons[pos] for pos in ok])
    summary_of = np.full(len(rows), -1, dtype=np.int32)  # position → index into result.summaries
    for k, pos in enumerate(ok):
        if result.rows[k] >= 0:
            summary_of[pos] = result.rows[k]
        else:
            errors[pos] = result.errors[k]
    whole = BatchResult(reasoner, persons, summary_of, result.summaries, errors, result.stats)
    ids = [p.id if p else raw_id(raw) for p, (_, raw) in zip(persons, rows)]
    regions = [p.region if p else None for p in persons]
    dates = [p.date.isoformat() if p else None for p in persons]
    return _decide_output(pa.array([number for number, _ in rows], pa.int64()), whole,
                          *(pa.array(cells, pa.string()) for cells in (ids, regions, dates)))


def _settle_table(job: Job, reasoner: Reasoner, rows: Rows) -> pa.Table:
    """Settle a partition: an Arrow slice column-wise (settle_table), rows as records one by one (Settler)."""
    if isinstance(rows, ArrowRows):
        return settle_table(reasoner, rows.table, rows.first, job.year)
    return pa.Table.from_pydict(settle_rows(reasoner, rows, job.flat, job.year), schema=SETTLE_SCHEMA)


def _decide_output(numbers: pa.Array, result: BatchResult, ids: pa.Array, regions: pa.Array, dates: pa.Array) -> pa.Table:
    """The decide result table: each distinct summary's cells computed once and taken per row."""
    n = len(numbers)
    texts = [_summary_cells(s) for s in result.summaries] + [(None, ERROR_STATUS, None, None, None)]
    # the summaries in order of first use, so that the dictionaries do not depend on which
    # process met a summary first (the runners' outputs are byte-identical)
    codes = np.where(result.rows >= 0, result.rows, len(texts) - 1).astype(np.int64)
    first, which = first_seen(codes)
    taken = pa.array(which)
    cells = {}
    for k, name in enumerate(SUMMARY_COLUMNS):
        distinct = pa.array([texts[u][k] for u in codes[first].tolist()], pa.string()).dictionary_encode()
        cells[name] = pa.DictionaryArray.from_arrays(distinct.indices.take(taken), distinct.dictionary)
    where = np.full(n, -1, dtype=np.int64)  # each row's error among the chunk's few (-1: none)
    where[list(result.errors)] = np.arange(len(result.errors))
    error_at = pa.array(where, mask=where < 0)
    fields, errors = zip(*map(error_cells, result.errors.values())) if result.errors else ((), ())
    columns = {"行号": numbers.cast(pa.int64()), "编号": ids, "地区": regions, "日期": dates, **cells,
               "错误字段": pa.array(fields, pa.string()).take(error_at), "错误": pa.array(errors, pa.string()).take(error_at)}
    return pa.Table.from_pydict(columns, schema=CHUNK_SCHEMAS["decide"])


Cells = tuple[str, str, "str | None", "str | None", str]
_CELLS: dict[int, tuple[Summary, Cells]] = {}  #: by id(summary); an entry holds its summary, so the id is not reused
CELLS_KEPT = 1 << 16


def _summary_cells(s: Summary) -> Cells:
    """A summary's cells, computed once per distinct summary in a process (shared by all its rows,
    chunk after chunk; found by identity, as hashing a summary costs more than this lookup saves);
    an empty list is an empty cell (None), which CSV and Parquet read back alike."""
    hit = _CELLS.get(id(s))
    if hit is not None and hit[0] is s:
        return hit[1]
    if len(_CELLS) >= CELLS_KEPT:
        _CELLS.clear()
    items = {it.label: {"状态": it.status, "类别": it.category, "值": it.value, "数值": it.number} for it in s.items}
    cells = (s.policy, s.status, "、".join(s.categories) or None, "、".join(s.missing) or None,
             json.dumps(items, ensure_ascii=False, separators=(",", ":")))
    _CELLS[id(s)] = (s, cells)
    return cells


def rules_digest(rules: str | Path) -> str:
    """A digest of a rules folder (rules files and parameter files): part of a run's identity."""
    root = Path(rules)
    return files_digest(root, [*root.glob("*.rules"), *root.glob("parameters/*.yaml")])


__all__ = ["ArrowRows", "CHUNK_SCHEMAS", "ChunkResult", "DECIDE_SCHEMA", "ERROR_STATUS", "EngineMismatch", "Job", "MODES", "RulesMismatch", "SETTLE_SCHEMA", "init_worker", "reasoner_for", "reasoners_loaded", "share_cores",
           "rules_digest", "run_chunk", "run_chunks", "run_partition", "table_record"]
