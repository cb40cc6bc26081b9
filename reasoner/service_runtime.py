"""This module holds what one server process shares between requests: settings, the compiled
policies and their reasoner, the reasoning thread, the ledger and its recorder, the audit jobs.

The HTTP layer (reasoner/service.py) only routes and translates; everything that outlives a
request, or runs beside one, lives here.
"""
from __future__ import annotations

import asyncio
import functools
import os
import queue
import re
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from .decide import Decision, Reasoner
from .ledger import Draft
from .ledger_record import Snapshot, decision_draft, settlement_draft, snapshot
from .policies import PolicySet, bundled_rules_dir
from .service_models import ApiError, JobOut
from .settle import Settlement

T = TypeVar("T")


@dataclass
class ServiceConfig:
    rules: Path = field(default_factory=bundled_rules_dir)
    data: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "reasoner-service")  #: audit uploads and results
    token: str | None = None  #: API token for writes; None: one is generated at start-up and printed
    open_reads: bool = True  #: reads without a token
    record: bool = True  #: record every decision and settlement in the ledger
    db: str | None = None  #: ledger URL (default: the ledger's default SQLite file)
    max_body: int = 1_000_000  #: bytes, JSON bodies
    max_upload: int = 200_000_000  #: bytes, audit uploads
    max_batch: int = 1_000  #: records per request
    request_timeout: float = 30.0  #: seconds per request
    solve_timeout: float = 5.0  #: seconds per clingo solve

    @classmethod
    def from_env(cls) -> "ServiceConfig":
        """Settings from REASONER_* environment variables (how `reasoner serve` hands them to workers)."""
        env, base = os.environ, cls()
        return cls(rules=Path(env.get("REASONER_RULES", base.rules)), data=Path(env.get("REASONER_DATA", base.data)),
                   token=env.get("REASONER_API_TOKEN") or None, open_reads=env.get("REASONER_OPEN_READS", "1") == "1",
                   record=env.get("REASONER_RECORD", "1") == "1", db=env.get("REASONER_DB") or None,
                   max_body=int(env.get("REASONER_MAX_BODY", base.max_body)), max_upload=int(env.get("REASONER_MAX_UPLOAD", base.max_upload)),
                   max_batch=int(env.get("REASONER_MAX_BATCH", base.max_batch)),
                   request_timeout=float(env.get("REASONER_REQUEST_TIMEOUT", base.request_timeout)),
                   solve_timeout=float(env.get("REASONER_SOLVE_TIMEOUT", base.solve_timeout)))


# ------------------------------------------------------------------ state shared by requests
class State:
    """The compiled policies, the reasoner, the ledger and the audit jobs of one server process."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reasoner")
        self.jobs: dict[str, dict[str, Any]] = {}
        self.jobs_lock = threading.Lock()
        self.ledger: Any = None
        self.ledger_lock = threading.Lock()
        self.recorder: Recorder | None = None
        self.load()

    def load(self) -> None:
        self.policies = PolicySet.load(self.config.rules)
        self.reasoner = Reasoner(self.policies, solve_timeout=self.config.solve_timeout)
        self.snapshot: Snapshot | None = None  # what the ledger stores of these policies, made on first record

    async def record(self, made: list[tuple[int, Decision | Settlement]]) -> list[str | None]:
        """Ledger ids of decisions or settlement years (each with its record's index), in order, once
        appended by the recorder's thread; Nones when recording is off."""
        if not self.config.record or not made:
            return [None] * len(made)
        if self.recorder is None:
            self.recorder = Recorder(self.open_ledger())
        if self.snapshot is None:
            self.snapshot = snapshot(self.policies)
        snap = self.snapshot

        def drafts() -> list[Draft]:
            return [decision_draft(x, snap, i) if isinstance(x, Decision) else settlement_draft(x, snap, i) for i, x in made]
        future = self.recorder.submit(drafts)
        try:
            entries = await asyncio.wait_for(asyncio.wrap_future(future), self.config.request_timeout)
        except asyncio.TimeoutError:
            raise ApiError(503, "E_TIMEOUT", f"记入台账超过时限 {self.config.request_timeout} 秒") from None
        return [e.decision_id for e in entries]

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run reasoning on the worker thread under the request deadline."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.worker, functools.partial(fn, *args)), self.config.request_timeout)
        except asyncio.TimeoutError:
            raise ApiError(503, "E_TIMEOUT", f"请求超过时限 {self.config.request_timeout} 秒") from None

    def open_ledger(self) -> Any:
        """The one Ledger of this process (the worker and the recorder threads both ask for it)."""
        with self.ledger_lock:
            if self.ledger is None:
                from .ledger import Ledger
                self.ledger = Ledger(self.config.db)
            return self.ledger


class Recorder:
    """Appends to the ledger from one thread, many requests per transaction (group commit).

    Recording costs a transaction and a sync to disk; done on the reasoning thread, one per
    decision, it would cap the service at the disk's rate. Here concurrent requests share one
    transaction, and drafts (explanation JSON, hashing) are built off the reasoning thread.
    """

    MAX_BATCH = 256

    def __init__(self, ledger: Any):
        self.ledger = ledger
        self.queue: queue.SimpleQueue[tuple[Callable[[], list[Draft]], Future[list[Any]]]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="ledger-recorder", daemon=True).start()

    def submit(self, make: Callable[[], list[Draft]]) -> Future[list[Any]]:
        future: Future[list[Any]] = Future()
        self.queue.put((make, future))
        return future

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._append(batch)

    def _append(self, batch: list[tuple[Callable[[], list[Draft]], Future[list[Any]]]]) -> None:
        built: list[tuple[list[Draft], Future[list[Any]]]] = []
        for make, future in batch:
            try:
                built.append((make(), future))
            except Exception as err:  # one request's bad draft fails that request only
                future.set_exception(err)
        try:
            entries = self.ledger.append([d for drafts, _ in built for d in drafts])
        except Exception as err:
            for _, future in built:
                future.set_exception(err)
            return
        for drafts, future in built:
            future.set_result(entries[:len(drafts)])
            entries = entries[len(drafts):]


def job_id_checked(job_id: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        raise ApiError(404, "E_NOT_FOUND", "没有这个任务")
    return job_id


def job_status(state: State, job_id: str) -> JobOut:
    with state.jobs_lock:
        info = state.jobs.get(job_id_checked(job_id))
    if info is None:
        raise ApiError(404, "E_NOT_FOUND", "没有这个任务")
    result = f"/api/jobs/{job_id}/result" if info["status"] == "完成" else None
    return JobOut(id=job_id, status=info["status"], rows=info["rows"], message=info.get("message"), result=result,
                  summary=info.get("summary"))


def run_audit_job(state: State, job_id: str, upload: Path, persons: Path | None, params: dict[str, str]) -> None:
    """An audit in its own thread with its own Reasoner (the shared one belongs to the worker thread)."""
    from .audit import AuditOptions, run_audit
    from .audit_report import write_outputs

    with state.jobs_lock:
        state.jobs[job_id]["status"] = "运行中"
    try:
        folder = upload.parent
        reasoner = Reasoner(state.policies, solve_timeout=state.config.solve_timeout)
        with run_audit(reasoner, upload, AuditOptions(persons=persons, params=params, progress=False)) as audit, \
                open(folder / "findings.json", "w", encoding="utf-8") as js:
            summary = write_outputs(audit, folder / "findings.csv", js, folder / "findings.html")
            rows = audit.rows
        with state.jobs_lock:
            state.jobs[job_id].update(status="完成", rows=rows, summary=summary.to_json())
    except Exception as err:  # the job reports any failure; the server goes on
        with state.jobs_lock:
            state.jobs[job_id].update(status="失败", message=str(err))
