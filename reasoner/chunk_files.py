"""This module moves a run's chunks through files instead of through the driver.

With N worker processes the driver used to read every input chunk, pipe it to a worker, take the
result back through a pipe and write the chunk file itself. At settle 10⁶ with two workers that
cost the driver ≈ 5.8 s of CPU (half of it in the kernel: 840 MB of decoded 就医 text sent to the
workers), on a two-core machine where every second of the driver is taken from the workers; for
decide the 待遇 texts came back the same way (≈ 700 MB). When the workers share this machine's files
(the process pool, a local Dask cluster, the in-process runner) the driver sends a worker only
where its rows are (ParquetSlice: path and row numbers) and where its result goes (the run
directory); the worker reads its rows, writes its chunk file atomically and returns the chunk's
log entry. A Dask cluster elsewhere does the same when every one of its workers sees the run's
files as the driver does (a shared file system: sees_files, asked of each worker at the start of
the run); otherwise its workers receive rows and return tables.

A chunk file's name carries the run's identity tag, so a worker of an earlier run, killed with its
driver while finishing a chunk, cannot overwrite a chunk of another run in the same directory.
"""
from __future__ import annotations

import bisect
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from .batch_rows import ERROR_STATUS


def atomic(path: Path, write: Any) -> None:
    """write(temporary path), fsync, then os.replace: a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_chunk(run_dir: Path, index: int, tag: str, table: pa.Table) -> dict[str, Any]:
    """A finished chunk as an Arrow IPC file, LZ4-compressed (the run's own, read once when the output
    is assembled: less than half of Parquet's cost to write and to read; uncompressed, a decide
    chunk's repetitive 待遇 texts made 7 MB to write and fsync); its entry for the chunk log."""
    name = f"chunk-{index:06d}-{tag}.arrow"
    atomic(run_dir / name, lambda tmp: feather.write_feather(table, tmp, compression="lz4"))
    numbers = table.column("行号")
    counts = table.column("状态").value_counts().to_pylist()
    return {"file": name, "rows": [numbers[0].as_py(), numbers[-1].as_py()], "count": table.num_rows,
            "errors": sum(c["counts"] for c in counts if c["values"] == ERROR_STATUS),
            "status": {c["values"]: c["counts"] for c in counts}}


# ------------------------------------------------------------------ Parquet rows read by the worker
def sees_files(probe: str, token: str, input_path: str, size: int, mtime_ns: int) -> bool:
    """Run on a worker: whether it sees the driver's run directory (the probe file the driver just
    wrote there, with its token, and room to write) and the same input file (path, size, mtime)."""
    try:
        if Path(probe).read_text(encoding="utf-8") != token or not os.access(Path(probe).parent, os.W_OK):
            return False
        stat = os.stat(input_path)
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns


class InputChanged(RuntimeError):
    """The input file is not the one the run started with (Chinese message)."""


class FilesNotShared(RuntimeError):
    """This worker does not see the run's files (a Dask worker that joined after the run asked
    them all): the driver sends it the rows instead (runners.DaskRunner)."""


@dataclass(frozen=True)
class ParquetSlice:
    """Rows first … first + count − 1 of a Parquet file (numbered from 1), read by the worker that runs
    the chunk; size and mtime are the file's when the run started."""

    path: str
    first: int
    count: int
    group: int  #: the row group holding the first row (runners send a group's chunks to one worker)
    size: int
    mtime_ns: int

    def __len__(self) -> int:
        return self.count

    def numbers(self) -> tuple[int, int]:
        return self.first, self.first + self.count - 1

    def table(self) -> pa.Table:
        return _reader(self).rows(self.first - 1, self.count)


class _Reader:
    """One Parquet file in one process: its row groups' offsets, and the last row group decoded
    (consecutive chunks fall in the same group: each group is decoded once per worker)."""

    def __init__(self, path: str):
        meta = pq.ParquetFile(path).metadata
        self.file = pq.ParquetFile(path, read_dictionary=_few_values(meta))
        self.starts = [0]
        for g in range(meta.num_row_groups):
            self.starts.append(self.starts[-1] + meta.row_group(g).num_rows)
        self.last: tuple[int, pa.Table] | None = None

    def group(self, g: int) -> pa.Table:
        if self.last is None or self.last[0] != g:
            self.last = None  # let the old group go before the new one is decoded
            self.last = (g, self.file.read_row_group(g))
        return self.last[1]

    def rows(self, start: int, count: int) -> pa.Table:
        parts = []
        end = start + count
        for g in range(len(self.starts) - 1):
            lo, hi = max(start, self.starts[g]), min(end, self.starts[g + 1])
            if lo < hi:
                parts.append(self.group(g).slice(lo - self.starts[g], hi - lo))
        return pa.concat_tables(parts).combine_chunks() if len(parts) > 1 else parts[0]


def _few_values(meta: pq.FileMetaData) -> list[str]:
    """The text columns to read as Arrow dictionaries: those whose Parquet dictionary page is, in every
    row group, smaller than a byte per row — few distinct cells (a roster's dates, regions, 是/否 and
    假设参数), which the batch readers then read once per distinct cell (cell_bytes.per_cell). A column
    of mostly distinct cells (编号, amounts) or whose writer gave up its dictionary is read as plain
    text: there a dictionary would cost more to build than it saves."""
    schema = meta.schema.to_arrow_schema()
    names = []
    for k in range(meta.num_columns):
        chunks = [meta.row_group(g).column(k) for g in range(meta.num_row_groups)]
        at = schema.get_field_index(chunks[0].path_in_schema) if chunks else -1  # a top-level column of text
        if at >= 0 and pa.types.is_string(schema.field(at).type) and all(
                c.has_dictionary_page and c.dictionary_page_offset is not None
                and c.data_page_offset - c.dictionary_page_offset < c.num_values for c in chunks):
            names.append(schema.field(at).name)
    return names


_READERS: dict[tuple[str, int, int], _Reader] = {}  #: (path, size, mtime) → reader, in this process


def _reader(s: ParquetSlice) -> _Reader:
    key = (s.path, s.size, s.mtime_ns)
    reader = _READERS.get(key)
    if reader is None:
        try:
            stat = os.stat(s.path)
        except OSError:
            raise FilesNotShared(f"工作进程读不到输入文件 {s.path}") from None
        if (stat.st_size, stat.st_mtime_ns) != (s.size, s.mtime_ns):
            raise InputChanged(f"输入文件 {s.path} 在批处理过程中被修改：请重新运行")
        _READERS.clear()  # one input at a time: a worker serves one run
        reader = _READERS[key] = _Reader(s.path)
    return reader


def close_readers() -> None:
    """Let this process's decoded row group go (a run in this process is over)."""
    _READERS.clear()


def parquet_slices(path: Path, chunk_size: int, max_group_rows: int) -> list[ParquetSlice] | None:
    """The chunks of a Parquet file as slices for workers to read, or None when a row group is larger
    than max_group_rows (a worker holds one decoded group: memory must not grow with the file)."""
    meta = pq.ParquetFile(path).metadata
    if any(meta.row_group(g).num_rows > max_group_rows for g in range(meta.num_row_groups)):
        return None
    stat = path.stat()
    ends = list(itertools.accumulate(meta.row_group(g).num_rows for g in range(meta.num_row_groups)))
    n = meta.num_rows
    return [ParquetSlice(str(path), first, min(chunk_size, n - first + 1), bisect.bisect_right(ends, first - 1),
                         stat.st_size, stat.st_mtime_ns) for first in range(1, n + 1, chunk_size)]


__all__ = ["FilesNotShared", "InputChanged", "ParquetSlice", "atomic", "close_readers", "parquet_slices", "save_chunk"]
