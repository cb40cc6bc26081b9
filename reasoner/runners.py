"""This module runs the partition function over chunks: in process, on a process pool, or on Dask.

Every runner takes the same (job, chunks) and yields (chunk index, result) as chunks finish —
in completion order — where the result is partition.run_chunk's: the chunk log entry of the
chunk file the worker wrote (when every worker sees the run's files: reaches), or the Arrow
table for the caller (reasoner.batch_run) to write. The caller
records each chunk and assembles the output in input order, so which runner ran a chunk
never shows in the result. Each runner keeps at most `window` tasks in flight (a task: one
chunk, or the chunks of one Parquet row group), so the rows held in memory are bounded
whatever the input size.

- LocalRunner: run_partition in this process (one core; the reasoner's caches persist).
- PoolRunner: a ProcessPoolExecutor over N workers (forked from a process that holds nothing a
  child must not copy, spawned otherwise: start_method); the initializer loads the policies
  once per worker, and each worker keeps its Reasoner — groundings, answer sets, batch
  keys — across all its chunks.
- DaskRunner: a distributed.Client on a scheduler address, or a LocalCluster
  (processes, one thread per worker: clingo controls are not shared between threads); the
  worker-side Reasoner is kept by the same per-process cache (partition.reasoner_for). The
  workers of a scheduler elsewhere read their own rows and write their own chunk files when
  each of them sees the run's files (a shared file system, asked once per run); otherwise
  the rows travel to them and the tables back. A worker that joins after the question and
  does not see the files fails its task with FilesNotShared, and is sent the task's rows.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import secrets
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from .chunk_files import FilesNotShared, ParquetSlice, sees_files
from .partition import ArrowRows, ChunkResult, Job, Rows, init_worker, reasoners_loaded, run_chunk, run_chunks, share_cores

Chunk = tuple[int, Rows]  #: (chunk index, rows as (row number, raw record), or a Parquet slice)


class Runner(Protocol):
    name: str
    workers: int  #: processes deciding at once
    def reaches(self, input_path: Path, run_dir: Path) -> bool:
        """Whether every worker sees the input and the run directory as this process does: then the
        workers read their own rows and write their own chunk files (chunk_files)."""
        ...

    def map(self, job: Job, chunks: Iterable[Chunk]) -> Iterator[tuple[int, ChunkResult]]: ...

    def close(self) -> None: ...


class LocalRunner:
    """In process: the reference every other runner must agree with."""

    name = "本进程"
    workers = 1

    def reaches(self, input_path: Path, run_dir: Path) -> bool:
        return True

    def map(self, job: Job, chunks: Iterable[Chunk]) -> Iterator[tuple[int, ChunkResult]]:
        for index, rows in chunks:
            yield index, run_chunk(job, index, rows)

    def close(self) -> None:
        pass


def _tasks(chunks: Iterable[Chunk]) -> Iterator[list[Chunk]]:
    """Chunks as tasks: consecutive slices of one Parquet row group go to one worker together, which
    decodes that group once (two workers taking alternate chunks decoded every group twice)."""
    for _, task in itertools.groupby(chunks, key=lambda c: c[1].group if isinstance(c[1], ParquetSlice) else object()):
        yield list(task)


def _bounded(submit: Any, wait_some: Any, tasks: Iterable[list[Chunk]], window: int) -> Iterator[Any]:
    """Submit tasks keeping at most `window` in flight; yield each finished future."""
    pending: set[Any] = set()
    source = iter(tasks)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            task = next(source, None)
            if task is None:
                exhausted = True
                break
            pending.add(submit(task))
        if not pending:
            return
        for future in wait_some(list(pending)):
            pending.discard(future)
            yield future


def start_method() -> str:
    """fork when this process holds nothing a child must not copy: no thread of Python's besides
    this one (a lock another thread holds at the fork is never released in the child; the native
    threads numpy and Arrow start at import reset themselves at a fork) and no Reasoner of a run
    (clingo controls) — the CLI when it makes its pool. The workers then
    start with every module imported: the first chunk of a 10⁶-row run begins ≈ 0.5 s sooner
    (bench/README.md «What was tried» 40). spawn otherwise, and off Linux (macOS's system libraries
    do not survive a fork, which is why Python spawns there by default)."""
    alone = threading.active_count() == 1 and not reasoners_loaded()
    return "fork" if alone and sys.platform.startswith("linux") else "spawn"


class PoolRunner:
    """A process pool over `workers` cores; each worker keeps its Reasoner across chunks."""

    name = "进程池"

    def reaches(self, input_path: Path, run_dir: Path) -> bool:
        return True

    def __init__(self, workers: int, rules: str):
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(start_method()),
                                        initializer=init_worker, initargs=(rules, workers))
        # a pool spawns its workers at the first submits: start them all now, so that their imports and
        # policies load while the caller hashes the input and opens the run (≈ 0.3 s of a 10⁶-row file)
        for _ in range(workers):
            self.pool.submit(os.getpid)

    def map(self, job: Job, chunks: Iterable[Chunk]) -> Iterator[tuple[int, ChunkResult]]:
        def wait_some(futures: list[Future[Any]]) -> set[Future[Any]]:
            return wait(futures, return_when=FIRST_COMPLETED).done

        for future in _bounded(lambda task: self.pool.submit(run_chunks, job, task), wait_some, _tasks(chunks), 2 * self.workers):
            yield from future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """Dask distributed: a scheduler address, or "local" for a LocalCluster of `workers` processes."""

    name = "Dask"

    def __init__(self, address: str, workers: int):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("使用 --dask 需要安装 dask[distributed]：pip install 'yiliao-jiuzhu-reasoner[dask]'") from None
        self.cluster = None
        if address == "local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
            self.client.run(share_cores, workers)  # our own workers (a cluster elsewhere is left as its owner set it)
        else:
            self.client = Client(address)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def reaches(self, input_path: Path, run_dir: Path) -> bool:
        """A local cluster does; a scheduler elsewhere is asked: each of its workers must read the
        probe the driver writes into the run directory and see the same input file."""
        if self.cluster is not None:
            return True
        token = secrets.token_hex(16)
        probe = run_dir / f".probe-{token}"
        probe.write_text(token, encoding="utf-8")
        stat = input_path.stat()
        try:
            answers = self.client.run(sees_files, str(probe.resolve()), token, str(input_path.resolve()), stat.st_size, stat.st_mtime_ns)
        except Exception:  # noqa: BLE001 — a worker that cannot run the probe (another build, say) is sent its rows
            return False
        finally:
            probe.unlink(missing_ok=True)
        return bool(answers) and all(answers.values())

    def map(self, job: Job, chunks: Iterable[Chunk]) -> Iterator[tuple[int, ChunkResult]]:
        from distributed import wait as dask_wait

        tasks: dict[str, list[Chunk]] = {}

        def submit(task: list[Chunk]) -> Any:
            future = self.client.submit(run_chunks, job, task, pure=False)
            tasks[future.key] = task
            return future

        def wait_some(futures: list[Any]) -> Any:
            return dask_wait(futures, return_when="FIRST_COMPLETED").done

        for future in _bounded(submit, wait_some, _tasks(chunks), 2 * self.workers):
            task = tasks.pop(future.key)
            try:
                results = future.result()
            except FilesNotShared:  # a worker that joined after reaches() asked: it is sent the rows
                results = self.client.submit(run_chunks, replace(job, chunks_dir=""), _with_rows(task), pure=False).result()
            future.release()
            yield from results

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _with_rows(task: list[Chunk]) -> list[Chunk]:
    """A task's Parquet slices read here, to travel as rows."""
    return [(index, ArrowRows(rows.first, rows.table()) if isinstance(rows, ParquetSlice) else rows) for index, rows in task]


def make_runner(rules: str, workers: int | None = None, dask: str | None = None) -> Runner:
    """The runner the options ask for: Dask if an address (or "local") is given, else a pool
    over `workers` processes (default: every core), or this process when workers is 1."""
    n = workers or os.cpu_count() or 1
    if dask:
        return DaskRunner(dask, n)
    return LocalRunner() if n == 1 else PoolRunner(n, rules)


__all__ = ["Chunk", "DaskRunner", "LocalRunner", "PoolRunner", "Runner", "make_runner", "start_method"]
