"""This module drives a resumable batch run: input in chunks → a runner → chunk files → one output.

    reasoner batch decide|settle INPUT --out OUT.parquet|csv [--workers N] [--chunk-size K] [--dask ADDR]

The input (CSV, Excel, Parquet, JSON Lines: streamed; YAML/JSON lists: read whole) is cut
into chunks of K data rows; chunk k is always the same rows, so a chunk's result is a pure
function of the input, the rules, the options and the engine. The run directory OUT.run/
holds manifest.json, written once (a temporary file, fsync, os.replace): the input's hash, the
rules' hash, the engine's hash (version.engine_digest) and the options. Each finished chunk is
written atomically the same way (Arrow IPC) — by the worker that ran it, when the workers share
this machine's files (chunk_files.py; they then also read their own Parquet rows) — then recorded
by one line appended to chunks.jsonl and synced: its file, row range, row count, error count and
status counts. A chunk not yet
recorded (or whose line a crash cut short) is simply recomputed. Rerunning the same command after
a crash or a kill skips the recorded chunks and produces the same output as an uninterrupted run;
a run with another input, other rules, other options or another engine starts over (and says so).

The chunk files are concatenated, in input order, into OUT (Parquet or CSV through Arrow;
CSV with a BOM so that Excel reads the Chinese) while the run goes on — chunk k as soon as it
and every chunk before it are done — into a temporary file renamed at the end. Every input row
appears exactly once: a result row or an error row with its row number and a Chinese reason.
The run directory is kept: it is what `reasoner batch explain OUT ROW` reads to recompute the
full justification of one row.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq

from .chunk_files import ParquetSlice, atomic, close_readers, parquet_slices, save_chunk
from .partition import CHUNK_SCHEMAS, ERROR_STATUS, ArrowRows, Job, Rows, RulesMismatch, reasoner_for, rules_digest, table_record
from .person import load_records, parse_person
from .runners import Runner
from .tables import is_table, read_rows, row_dicts, table_format
from .version import engine_digest

MANIFEST_FORMAT = 2  #: 2: the chunk entries in chunks.jsonl
CHUNK_LOG = "chunks.jsonl"
#: rows per chunk: a chunk pays ≈ 150 whole-column steps and a lookup per distinct key and date whatever
#: its size, which at 10,000 rows was a fifth of decide's time; 50,000 rows with two workers: decide 10⁶
#: 3.8 → 2.9–3.3 s, settle 10⁶ 10.9 → 7.7 s, at ≈ 540 MB per settle worker (bench/README.md «What was tried» 46)
DEFAULT_CHUNK = 50_000
MAX_GROUP_ROWS = 65_536  #: Parquet row groups up to this size (or 4 chunks) are read by the workers themselves
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class BatchRunError(ValueError):
    """A run that cannot start or finish (bad output name, input changed since the run, …): Chinese."""


# ------------------------------------------------------------------ input
def input_chunks(path: str | Path, chunk_size: int) -> Iterator[Rows]:
    """The input's rows in chunks of chunk_size, each as (row number, raw row or record);
    Parquet as ArrowRows slices (converted to rows by the worker that runs the chunk)."""
    if is_table(path) and table_format(path) == "parquet":
        yield from _parquet_chunks(Path(path), chunk_size)
        return
    if is_table(path):
        yield from read_rows(path, chunk_size)
        return
    if str(path).endswith(".jsonl"):
        yield from _jsonl_chunks(Path(path), chunk_size)
        return
    records = load_records(path)
    for start in range(0, len(records), chunk_size):
        yield [(start + k + 1, r) for k, r in enumerate(records[start:start + chunk_size])]


def _parquet_chunks(path: Path, chunk_size: int) -> Iterator[ArrowRows]:
    """Exactly chunk_size rows per slice whatever the file's row groups; rows numbered from 1."""
    source = pq.ParquetFile(path)
    pending: list[pa.RecordBatch] = []
    held, first = 0, 1
    # one reader per row group: a single reader over the whole file kept up to ≈ 100 MB of
    # decoded pages (10⁶ settle rows) however small the chunks; per row group it stays ≈ 20 MB
    batches = (b for g in range(source.metadata.num_row_groups) for b in source.iter_batches(batch_size=chunk_size, row_groups=[g]))
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_size:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield ArrowRows(first, table.slice(0, chunk_size))
            first += chunk_size
            rest = table.slice(chunk_size)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield ArrowRows(first, pa.Table.from_batches(pending, schema=source.schema_arrow).combine_chunks())


def _jsonl_chunks(path: Path, chunk_size: int) -> Iterator[list[tuple[int, Any]]]:
    """JSON Lines: one record per line, row number = line number; a bad line stays as its text."""
    chunk: list[tuple[int, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                chunk.append((number, json.loads(line)))
            except ValueError:
                chunk.append((number, line.rstrip("\n")))  # parse_person: 每条记录应为键值对象
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


RECORD_FORMATS = (".jsonl", ".json", ".yaml", ".yml")


def check_input(path: Path) -> None:
    """A readable input of a known format, or a Chinese error before any work starts."""
    if not is_table(path) and path.suffix.lower() not in RECORD_FORMATS:
        raise BatchRunError(f"{path}：不支持的输入格式（可用：CSV、Excel .xlsx、Parquet、JSON Lines .jsonl、YAML 或 JSON 列表）")
    if not path.is_file():
        raise BatchRunError(f"{path}：输入文件不存在")


def estimate_rows(path: str | Path) -> int | None:
    """Data rows in the input, for the progress bar (exact for Parquet, lines for CSV/JSON Lines)."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        return pq.ParquetFile(p).metadata.num_rows
    if p.suffix.lower() in (".csv", ".jsonl"):
        lines = 0
        with open(p, "rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
        return max(0, lines - (p.suffix.lower() == ".csv"))
    return None


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------ the run directory
def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic(path, lambda tmp: tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8"))


def run_dir_of(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".run")


@dataclass
class Manifest:
    """What a run is (identity: manifest.json, written once) and which chunks are done (chunks:
    index → entry; one JSON line each in chunks.jsonl, appended as chunks finish). Rewriting one
    file with every entry per chunk made the driver's work grow with the square of the chunks."""

    identity: dict[str, Any]
    chunks: dict[int, dict[str, Any]] = field(default_factory=dict)

    def start(self, run_dir: Path) -> None:
        """Write the identity and the entries kept (a fresh run: none)."""
        _write_json(run_dir / "manifest.json", {"format": MANIFEST_FORMAT, **self.identity})
        lines = "".join(json.dumps({"chunk": k, **v}, ensure_ascii=False) + "\n" for k, v in sorted(self.chunks.items()))
        atomic(run_dir / CHUNK_LOG, lambda tmp: tmp.write_text(lines, encoding="utf-8"))

    def record(self, run_dir: Path, index: int, entry: dict[str, Any]) -> None:
        """A finished chunk: one line appended and synced (a line cut short by a crash is ignored on load)."""
        self.chunks[index] = entry
        with open(run_dir / CHUNK_LOG, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"chunk": index, **entry}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, run_dir: Path) -> Manifest | None:
        try:
            data = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
            lines = (run_dir / CHUNK_LOG).read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError):
            return None
        data.pop("format", None)
        chunks = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # the last line of a run killed while appending
                continue
            chunks[int(entry.pop("chunk"))] = entry
        return cls(data, chunks)


def _identity(job: Job, input_path: Path, chunk_size: int) -> dict[str, Any]:
    """Everything a chunk's result depends on; a manifest with another identity is not resumed."""
    stat = input_path.stat()
    return {"mode": job.mode, "input": str(input_path.resolve()), "input_sha256": file_digest(input_path),
            "input_size": stat.st_size, "input_mtime_ns": stat.st_mtime_ns, "rules": job.rules,
            "rules_sha256": rules_digest(job.rules), "engine_sha256": engine_digest(), "chunk_size": chunk_size, "year": job.year,
            "flat": job.flat}


_VOLATILE = ("input_mtime_ns", "input", "rules")  #: may differ between two runs of the same work


def _work(identity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if k not in _VOLATILE}


def _same_work(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _work(a) == _work(b)


def _tag(identity: dict[str, Any]) -> str:
    """The run's tag in its chunk files' names: the same work, the same tag."""
    return hashlib.sha256(json.dumps(_work(identity), sort_keys=True).encode()).hexdigest()[:12]


def _open_run(run_dir: Path, identity: dict[str, Any], note: Any) -> Manifest:
    """The manifest to continue, or a fresh one (old chunk files removed) if the work differs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in run_dir.glob(".*.tmp"):  # a write cut short by a crash: never in the manifest
        leftover.unlink()
    old = Manifest.load(run_dir)
    if old is not None and _same_work(old.identity, identity):
        done = {k: v for k, v in old.chunks.items() if (run_dir / v["file"]).exists()}
        if done:
            note(f"继续上次的批处理：已完成 {len(done)} 块（{sum(v['count'] for v in done.values()):,} 行），跳过")
        manifest = Manifest(identity, done)
    else:
        if old is not None or (run_dir / "manifest.json").exists():
            note("输入、规则、选项或推理引擎与上次不同：重新开始批处理")
        for stale in run_dir.glob("chunk-*"):
            stale.unlink()
        manifest = Manifest(identity)
    manifest.start(run_dir)
    return manifest


# ------------------------------------------------------------------ the run
@dataclass
class RunReport:
    out: Path
    rows: int
    errors: int
    statuses: dict[str, int]
    chunks: int
    resumed_chunks: int


def run_batch(job: Job, input_path: str | Path, out: str | Path, runner: Runner, chunk_size: int = DEFAULT_CHUNK,
              progress: bool | None = None, note: Any = None) -> RunReport:
    """Run job over the input with runner; resumable (see the module docstring)."""
    input_path, out = Path(input_path), Path(out)
    out_format = OUTPUT_FORMATS.get(out.suffix.lower())
    if out_format is None:
        raise BatchRunError(f"{out}：输出只支持 Parquet（.parquet）或 CSV（.csv）")
    if chunk_size < 1:
        raise BatchRunError("--chunk-size 应为正整数")
    check_input(input_path)
    note = note or (lambda text: print(text, file=sys.stderr))
    run_dir = run_dir_of(out)
    for leftover in out.parent.glob(f".{out.name}.*.tmp"):  # an output write cut short by a crash
        leftover.unlink()
    manifest = _open_run(run_dir, _identity(job, input_path, chunk_size), note)
    tag = _tag(manifest.identity)
    shared = runner.reaches(input_path, run_dir)  # the workers read their own rows and write their own chunks
    job = replace(job, rules_sha256=manifest.identity["rules_sha256"], engine_sha256=manifest.identity["engine_sha256"],  # workers check
                  chunks_dir=str(run_dir) if shared else "", run_tag=tag)
    resumed = len(manifest.chunks)
    bar = _progress(input_path, manifest, progress)
    total_chunks = 0

    def todo() -> Iterator[tuple[int, Rows]]:
        nonlocal total_chunks
        slices = _slices(input_path, chunk_size) if shared else None
        for index, rows in enumerate(slices or input_chunks(input_path, chunk_size)):
            total_chunks = index + 1
            entry = manifest.chunks.get(index)
            if entry is not None and entry["count"] == len(rows) and entry["rows"] == list(_numbers(rows)):
                continue
            manifest.chunks.pop(index, None)  # an entry that does not fit is not written out (_in_order)
            yield index, rows

    def finished() -> Iterator[int]:
        """Each chunk's index as its result is recorded (runners yield in completion order)."""
        try:
            for index, result in runner.map(job, todo()):
                entry = result if isinstance(result, dict) else save_chunk(run_dir, index, tag, result)
                manifest.record(run_dir, index, entry)
                if bar is not None:
                    bar.update(entry["count"])
                yield index
        finally:
            close_readers()  # the in-process runner read the input here: do not keep its last row group
            if bar is not None:
                bar.close()

    _write_output(out, out_format, CHUNK_SCHEMAS[job.mode], _in_order(run_dir, manifest, finished(), lambda: total_chunks))
    for stale in [k for k in manifest.chunks if k >= total_chunks]:  # the input got shorter: cannot happen with one hash
        del manifest.chunks[stale]
    statuses: dict[str, int] = {}
    for entry in manifest.chunks.values():
        for status, count in entry["status"].items():
            statuses[status] = statuses.get(status, 0) + count
    return RunReport(out, sum(e["count"] for e in manifest.chunks.values()), statuses.get(ERROR_STATUS, 0), statuses,
                     total_chunks, resumed)


def _numbers(rows: Rows) -> tuple[int, int]:
    """The first and last row number of a chunk."""
    return rows.numbers() if isinstance(rows, (ArrowRows, ParquetSlice)) else (rows[0][0], rows[-1][0])


def _slices(path: Path, chunk_size: int) -> list[ParquetSlice] | None:
    """A Parquet input's chunks as slices the workers read themselves (None: the driver reads the input).
    A worker holds one decoded row group: groups far larger than a chunk stay with the driver."""
    if not (is_table(path) and table_format(path) == "parquet"):
        return None
    return parquet_slices(path, chunk_size, max(4 * chunk_size, MAX_GROUP_ROWS))


def _in_order(run_dir: Path, manifest: Manifest, finished: Iterator[int], total: Callable[[], int]) -> Iterator[pa.Table]:
    """The chunk tables in input order, each as soon as it and every chunk before it are done, so the
    output is written while the workers run (one chunk in memory at a time); total() is the number
    of chunks, known once finished is exhausted."""
    ready = 0
    for _ in itertools.chain(finished, [None]):
        while ready in manifest.chunks and ready < total():
            yield feather.read_table(run_dir / manifest.chunks[ready]["file"])
            ready += 1
    if ready < total():
        raise BatchRunError(f"批处理未完成：第 {ready} 块没有结果")


def _write_output(out: Path, out_format: str, schema: pa.Schema, tables: Iterator[pa.Table]) -> None:
    """The chunk tables into out through a temporary file: Parquet without the Arrow schema (readers
    see the dictionary columns as plain text), or CSV with a BOM so that Excel reads the Chinese."""
    def write(tmp: Path) -> None:
        if out_format == "parquet":
            with pq.ParquetWriter(tmp, schema, store_schema=False, use_dictionary=_dictionary_columns(schema),
                                  write_statistics=_statistics_columns(schema)) as writer:
                for table in tables:
                    writer.write_table(table.cast(schema))
            return
        with open(tmp, "wb") as handle:
            handle.write("\ufeff".encode())
            with pacsv.CSVWriter(handle, schema) as writer:
                for table in tables:
                    writer.write_table(table.cast(schema))

    atomic(out, write)


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """The output's text columns but 编号: few distinct values each, which Parquet's dictionary pages
    pay for; on 编号 (one per row) and the integer columns they only cost — decide 10⁶ with them
    everywhere: 16.1 MB written in 0.28–0.32 s, with them here 12.6 MB in 0.21 s."""
    return [f.name for f in schema if f.name != "编号" and (pa.types.is_string(f.type) or pa.types.is_dictionary(f.type))]


def _statistics_columns(schema: pa.Schema) -> list[str]:
    """The output's number columns (行号, amounts): their min/max let a reader skip row groups. On the
    text columns the statistics cost the driver ≈ 0.1 s of CPU at decide 10⁶ (a third of writing the
    output, taken from the workers' two cores) and a 编号 or 待遇 range selects nothing."""
    return [f.name for f in schema if not (pa.types.is_string(f.type) or pa.types.is_dictionary(f.type))]


def _progress(input_path: Path, manifest: Manifest, enabled: bool | None) -> Any:
    """A tqdm bar (rows, rate, ETA) on stderr when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    done = sum(v["count"] for v in manifest.chunks.values())
    return tqdm(total=estimate_rows(input_path), initial=done, unit="行", unit_scale=True, file=sys.stderr,
                desc=f"批处理（{manifest.identity['mode']}）", dynamic_ncols=True)


# ------------------------------------------------------------------ explain one row
class RowExplainer:
    """Recomputes the full justification of one output row from the input file and its row number.

    Nothing per row is stored beyond the result: the manifest says which chunk holds the row,
    that chunk of the input is read (and kept for the next row; a Parquet chunk from its own row
    groups, in Arrow), and the row is decided or settled again with the same rules — the answer
    sets are cached, so a row costs well under 10 ms once its chunk is loaded (bench/README.md).
    """

    def __init__(self, out: str | Path):
        run_dir = run_dir_of(out)
        manifest = Manifest.load(run_dir)
        if manifest is None:
            raise BatchRunError(f"{out}：找不到批处理目录 {run_dir}（其中的 manifest.json 记录输入文件与规则）")
        self.identity = manifest.identity
        self.chunks = manifest.chunks
        self.input = Path(self.identity["input"])
        self._check_input()
        self.job = Job(self.identity["mode"], self.identity["rules"], bool(self.identity["flat"]), self.identity.get("year"))
        try:  # the run's rules, or the recomputed justification would not be the result's
            self.reasoner = reasoner_for(self.job.rules, self.identity["rules_sha256"])
        except RulesMismatch:
            raise BatchRunError(f"规则目录 {self.job.rules} 在批处理之后已改变，无法按行号重算依据") from None
        self._loaded: tuple[int, ArrowRows | dict[int, Any]] | None = None

    def _check_input(self) -> None:
        try:
            stat = self.input.stat()
        except OSError:
            raise BatchRunError(f"输入文件 {self.input} 已不存在，无法重算依据") from None
        if stat.st_size != self.identity["input_size"] or (
                stat.st_mtime_ns != self.identity["input_mtime_ns"] and file_digest(self.input) != self.identity["input_sha256"]):
            raise BatchRunError(f"输入文件 {self.input} 在批处理之后已改变，无法按行号重算依据")

    def record(self, row: int) -> Any:
        """The raw record of input row number `row` (as read by the run)."""
        index = next((k for k, e in self.chunks.items() if e["rows"][0] <= row <= e["rows"][1]), None)
        if index is None:
            raise BatchRunError(f"第 {row} 行不在批处理结果中")
        if self._loaded is None or self._loaded[0] != index:
            self._loaded = (index, self._chunk(index))
        chunk = self._loaded[1]
        if isinstance(chunk, ArrowRows):  # only the row asked for becomes a Python record
            raw = row_dicts(chunk.table.slice(row - chunk.first, 1))[0] if chunk.first <= row < chunk.first + len(chunk) else None
        else:
            raw = chunk.get(row)
        if raw is None:
            raise BatchRunError(f"第 {row} 行不是数据行（空行或表头）")
        return table_record(raw) if self.job.flat else raw

    def _chunk(self, index: int) -> ArrowRows | dict[int, Any]:
        """Chunk `index` of the input: a Parquet chunk from its own row groups alone (one decoded group,
        not every group before it), as Arrow; other inputs read up to it, as row number → record."""
        slices = _slices(self.input, self.identity["chunk_size"])
        if slices is not None:
            return ArrowRows(slices[index].first, slices[index].table())
        rows = next(r for k, r in enumerate(input_chunks(self.input, self.identity["chunk_size"])) if k == index)
        return rows if isinstance(rows, ArrowRows) else dict(rows)

    def explain(self, row: int, fmt: str = "text") -> Any:
        """The full explanation of one row: the decision's justification, or each year's settlement."""
        from .explain import explain_json, explain_text
        from .settle import settle
        from .settle_explain import settlement_json, settlement_text

        person = parse_person(self.record(row), row - 1)
        if self.job.mode == "decide":
            decision = self.reasoner.decide(person)
            return explain_json(decision) if fmt == "json" else explain_text(decision)
        settlements = settle(self.reasoner, person, self.job.year)
        if fmt == "json":
            return [settlement_json(s) for s in settlements]
        return "\n\n".join(settlement_text(s, explain=True) for s in settlements)


__all__ = ["BatchRunError", "DEFAULT_CHUNK", "Manifest", "RowExplainer", "RunReport", "estimate_rows", "input_chunks",
           "run_batch", "run_dir_of", "table_format"]
