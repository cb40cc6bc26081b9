"""`reasoner batch`: one partition function, three runners, resumable runs, every row accounted for.

- the in-process loop, the process pool and a Dask LocalCluster (processes, 2 workers) give
  identical output on the same seeded roster;
- a run killed with SIGKILL (a real signal, to the CLI process and its pool workers) after
  its first chunks are in the manifest, then rerun, equals an uninterrupted run: no row lost
  or doubled;
- a roster with malformed rows mixed in: every data row appears exactly once, the bad ones as
  error rows with their row number and a Chinese reason.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.roster import DECIDE_COLUMNS, SETTLE_COLUMNS, records, write_roster
from reasoner.batch_run import RowExplainer, run_batch, run_dir_of
from reasoner.partition import ArrowRows, Job, run_partition
from reasoner.policies import bundled_rules_dir
from reasoner.runners import DaskRunner, LocalRunner, PoolRunner

ROOT = Path(__file__).resolve().parent.parent
RULES = str(bundled_rules_dir())


def _run(job: Job, src: Path, out: Path, runner, chunk: int) -> None:
    try:
        run_batch(job, src, out, runner, chunk, progress=False, note=lambda _: None)
    finally:
        runner.close()


def _reference(tmp_path: Path, n: int, seed: int, chunk: int) -> tuple[Path, Job]:
    """A decide roster of n rows (some malformed) and its output run in this process, inline.parquet:
    what another way of running it must give byte for byte."""
    src = tmp_path / "roster.parquet"
    write_roster(src, records("decide", n, seed=seed, bad=0.05), DECIDE_COLUMNS)
    job = Job("decide", RULES, flat=True)
    _run(job, src, tmp_path / "inline.parquet", LocalRunner(), chunk)
    return src, job


def test_three_runners_give_identical_results(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    src = tmp_path / "roster.parquet"
    write_roster(src, records("decide", 2000, seed=3, bad=0.01), DECIDE_COLUMNS)
    job = Job("decide", RULES, flat=True)
    outs = {name: tmp_path / f"{name}.parquet" for name in ("local", "pool", "dask")}
    _run(job, src, outs["local"], LocalRunner(), 250)
    _run(job, src, outs["pool"], PoolRunner(2, RULES), 250)
    _run(job, src, outs["dask"], DaskRunner("local", 2), 250)
    local = pq.read_table(outs["local"])
    assert local.num_rows == 2000
    assert local.column("行号").to_pylist() == list(range(1, 2001))
    for name in ("pool", "dask"):
        assert pq.read_table(outs[name]).equals(local), name
        assert outs[name].read_bytes() == outs["local"].read_bytes(), name
    group = pq.ParquetFile(outs["local"]).metadata.row_group(0)
    stats = {group.column(k).path_in_schema: group.column(k).is_stats_set for k in range(group.num_columns)}
    assert stats["行号"] and not stats["编号"] and not stats["待遇"]  # min/max only where a reader can use them


def test_partition_does_not_depend_on_chunking() -> None:
    rows = [(i + 1, r) for i, r in enumerate(records("decide", 300, seed=4, bad=0.02))]
    job = Job("decide", RULES, flat=False)
    whole = run_partition(job, rows)
    pieces = [run_partition(job, rows[k:k + 37]).to_pylist() for k in range(0, len(rows), 37)]
    assert whole.to_pylist() == [r for piece in pieces for r in piece]


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reasoner.cli", "batch", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def _manifest_chunks(out: Path) -> int:
    """Chunks the run has recorded as done (complete lines of its chunk log)."""
    try:
        return (run_dir_of(out) / "chunks.jsonl").read_text(encoding="utf-8").count("\n")
    except OSError:
        return 0


def test_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    src = tmp_path / "claims.jsonl"
    write_roster(src, records("settle", 3000, seed=5), SETTLE_COLUMNS)
    killed, whole = tmp_path / "killed.parquet", tmp_path / "whole.parquet"
    args = ("settle", str(src), "--chunk-size", "100", "--no-progress")

    proc = _cli(*args, "--out", str(killed), "--workers", "2", start_new_session=True)
    deadline = time.monotonic() + 120
    while _manifest_chunks(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its pool workers
    proc.wait()
    done = _manifest_chunks(killed)
    assert 2 <= done < 30 and not killed.exists()

    rerun = _cli(*args, "--out", str(killed), "--workers", "2")
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    assert "继续上次的批处理" in err.decode()
    reference = _cli(*args, "--out", str(whole), "--workers", "1")
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err.decode()

    a, b = pq.read_table(killed), pq.read_table(whole)
    assert a.equals(b)
    numbers = a.column("行号").to_pylist()
    assert numbers == list(range(1, 3001))  # JSON Lines: row number = line number; none lost or doubled


def _odd_roster(path: Path) -> list[int]:
    """A CSV roster with malformed rows mixed in; returns the row numbers of its data rows."""
    good = list(records("decide", 60, seed=6))
    write_roster(path, good, DECIDE_COLUMNS)
    lines = list(csv.reader(path.open(encoding="utf-8-sig")))
    header, body = lines[0], lines[1:]
    col = {name: k for k, name in enumerate(header)}

    def spoil(row: list[str], name: str, value: str) -> list[str]:
        row = list(row)
        row[col[name]] = value
        return row

    bad = [
        spoil(body[0], "日期", "2024-02-30"),
        spoil(body[1], "身份", "低保户|民政|2020-01-01"),
        spoil(body[2], "申请前12个月政策范围内医疗费用个人自付", "一万元"),
        spoil(body[3], "身份", "最低生活保障对象|民政"),
        spoil(body[4], "假设参数", "{不是JSON"),
        spoil(body[5], "地区", ""),
        spoil(body[6], "地区", "火星市"),
        spoil(body[7], "家庭财产符合低保边缘家庭条件", "也许"),
        body[8] + ["多出的一格"],
        body[9][:3],
    ]
    rows = body[10:]
    for k, b in enumerate(bad):
        rows.insert(3 * k + 1, b)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for k, r in enumerate(rows):
            writer.writerow(r)
            if k == 20:
                handle.write("\n")  # a blank line: not a data row
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [reader.line_num for r in reader if any(r)]


def test_malformed_rows_are_all_accounted_for(tmp_path: Path) -> None:
    src, out = tmp_path / "odd.csv", tmp_path / "odd.csv.out.csv"
    numbers = _odd_roster(src)
    _run(Job("decide", RULES, flat=True), src, out, LocalRunner(), 7)
    with out.open(encoding="utf-8-sig") as handle:
        result = list(csv.DictReader(handle))
    assert [int(r["行号"]) for r in result] == numbers  # each data row once, in order
    errors = [r for r in result if r["状态"] == "错误"]
    assert len(errors) == 9  # the short row is a record without identities or facts: 无法决定, not an error
    for r in errors:
        assert r["错误"] and any("\u4e00" <= ch <= "\u9fff" for ch in r["错误"]), r
    fields = {r["错误字段"] for r in errors}
    assert {"日期", "地区", "假设参数", "表头", "身份[0]"} <= fields
    ok = [r for r in result if r["状态"] != "错误"]
    assert len(ok) == len(numbers) - 9 and all(r["政策"] for r in ok)
    assert sum(r["状态"] == "无法决定" and bool(r["缺少"]) for r in ok) >= 1


def test_explain_recomputes_a_row_from_the_input(tmp_path: Path) -> None:
    src, out = tmp_path / "roster.csv", tmp_path / "out.parquet"
    write_roster(src, records("decide", 120, seed=7), DECIDE_COLUMNS)
    _run(Job("decide", RULES, flat=True), src, out, LocalRunner(), 50)
    table = pq.read_table(out).to_pylist()
    explainer = RowExplainer(out)
    for row in (table[0], table[77]):
        text = explainer.explain(row["行号"])
        assert row["编号"] in text and row["状态"] in text
    src.write_text(src.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="已改变"):
        RowExplainer(out)


def test_explain_reads_a_parquet_rows_chunk_alone_and_decides_the_row_as_the_record(tmp_path: Path) -> None:
    """RowExplainer on a Parquet input reads only the row groups of the row's chunk; the explanation
    of a row at the start, in the middle and at the end of a chunk, in the first and the last chunk,
    is explain_text of Reasoner.decide on that row's record."""
    from reasoner import Reasoner
    from reasoner.explain import explain_text
    from reasoner.partition import reasoner_for, table_record
    from reasoner.person import parse_person
    from reasoner.tables import row_dicts

    src, out = tmp_path / "roster.parquet", tmp_path / "out.parquet"
    write_roster(src, records("decide", 230, seed=11), DECIDE_COLUMNS)
    _run(Job("decide", RULES, flat=True), src, out, LocalRunner(), 50)
    rows = row_dicts(pq.read_table(src))
    explainer = RowExplainer(out)
    reasoner: Reasoner = reasoner_for(RULES)
    for row in (1, 37, 50, 51, 200, 230):
        expected = explain_text(reasoner.decide(parse_person(table_record(rows[row - 1]), row - 1)))
        assert explainer.explain(row) == expected, row
        loaded = explainer._loaded[1]  # the row's chunk alone, still Arrow
        assert isinstance(loaded, ArrowRows) and loaded.first == (row - 1) // 50 * 50 + 1 and len(loaded) == min(50, 231 - loaded.first)
    with pytest.raises(ValueError, match="不在批处理结果中"):
        explainer.explain(231)


def test_rerun_with_other_options_starts_over(tmp_path: Path) -> None:
    src, out = tmp_path / "roster.jsonl", tmp_path / "out.parquet"
    write_roster(src, records("decide", 200, seed=8), DECIDE_COLUMNS)
    notes: list[str] = []
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=notes.append)
    first = out.read_bytes()
    leftover = run_dir_of(out) / ".chunk-000001.parquet.999.tmp"  # a write cut short by a crash
    leftover.write_bytes(b"partial")
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=notes.append)
    assert "继续" in notes[-1] and out.read_bytes() == first and not leftover.exists()
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 64, progress=False, note=notes.append)
    assert "重新开始" in notes[-1]
    assert pq.read_table(out).equals(pq.read_table(pa.BufferReader(first)))  # chunking changes nothing


def test_parquet_chunks_are_exact_whatever_the_row_groups(tmp_path: Path) -> None:
    from reasoner.batch_run import input_chunks

    src = tmp_path / "r.parquet"
    table = pa.table({"编号": [f"p{i}" for i in range(500)], "地区": ["龙岩市"] * 500})
    pq.write_table(table, src, row_group_size=77)
    chunks = list(input_chunks(src, 60))
    assert [len(c) for c in chunks] == [60] * 8 + [20]
    numbers = [n for c in chunks for n, _ in c.rows()]
    assert numbers == list(range(1, 501))
    assert [row["编号"] for c in chunks for _, row in c.rows()] == table.column("编号").to_pylist()


def test_workers_read_the_same_parquet_rows_as_the_driver(tmp_path: Path) -> None:
    """A worker on this machine reads its own chunk (chunk_files.ParquetSlice): the same rows as the
    driver's slices, across row-group boundaries; each slice names the row group of its first row."""
    from reasoner.batch_run import input_chunks
    from reasoner.chunk_files import parquet_slices

    src = tmp_path / "r.parquet"
    table = pa.table({"编号": [f"p{i}" for i in range(500)], "地区": ["龙岩市"] * 500})
    pq.write_table(table, src, row_group_size=77)
    slices = parquet_slices(src, 60, 77)
    driver = list(input_chunks(src, 60))
    assert [(s.first, len(s)) for s in slices] == [(c.first, len(c)) for c in driver]
    assert [s.group for s in slices] == [(s.first - 1) // 77 for s in slices] == [0, 0, 1, 2, 3, 3, 4, 5, 6]
    for s, c in zip(reversed(slices), reversed(driver)):  # out of order: a group decoded again when needed
        got = s.table()
        # a column of few distinct cells comes as a dictionary (read once per distinct cell), the others as text
        assert got.schema.types == [pa.string(), pa.dictionary(pa.int32(), pa.string())]
        assert got.cast(c.table.schema).equals(c.table)
    assert parquet_slices(src, 60, 76) is None  # a row group larger than a worker may hold: the driver reads


def test_a_run_in_process_keeps_no_decoded_row_group(tmp_path: Path) -> None:
    """The in-process runner reads its own Parquet slices too; the decoded row group it holds is
    let go when the run ends (a service embedding batch runs would keep it otherwise)."""
    from reasoner import chunk_files

    src, out = tmp_path / "roster.parquet", tmp_path / "out.parquet"
    write_roster(src, records("decide", 40, seed=2), DECIDE_COLUMNS)
    seen: list[int] = []

    class Watching(LocalRunner):
        def map(self, job, chunks):
            for index, result in super().map(job, chunks):
                seen.append(len(chunk_files._READERS))
                yield index, result

    _run(Job("decide", RULES, flat=True), src, out, Watching(), 15)
    assert seen == [1, 1, 1] and not chunk_files._READERS
    assert pq.read_table(out).num_rows == 40


def test_the_output_is_written_in_input_order_while_chunks_finish(tmp_path: Path) -> None:
    """Chunks may finish in any order: the output is still in input order and the same bytes, and it
    is written while the run goes on (a temporary file beside it), not after the last chunk."""
    src, job = _reference(tmp_path, 60, 4, 15)
    written: list[int] = []

    class Reversed(LocalRunner):
        def map(self, job, chunks):
            done = list(super().map(job, chunks))
            for index, result in reversed(done):
                yield index, result
                written.append(sum(f.stat().st_size for f in tmp_path.glob(".reversed.parquet.*.tmp")))

    _run(job, src, tmp_path / "reversed.parquet", Reversed(), 15)
    assert (tmp_path / "reversed.parquet").read_bytes() == (tmp_path / "inline.parquet").read_bytes()
    assert written[0] == written[1] == written[2] < written[3]  # chunk 0 came last: then chunks 0–3 were written
    assert not list(tmp_path.glob(".reversed.parquet.*.tmp"))


def test_each_worker_takes_its_share_of_the_cores_for_arrow() -> None:
    """With a worker per core, Arrow's own thread pool in each worker only competes with the other
    workers: pool workers and a local Dask cluster's workers keep cores // workers threads; this
    process keeps its own."""
    pytest.importorskip("distributed")
    before = pa.cpu_count()
    share = max(1, (os.cpu_count() or 1) // 2)
    runner = PoolRunner(2, RULES)
    try:
        assert {runner.pool.submit(pa.cpu_count).result() for _ in range(4)} == {share}
    finally:
        runner.close()
    dask = DaskRunner("local", 2)
    try:
        assert set(dask.client.run(pa.cpu_count).values()) == {share}
    finally:
        dask.close()
    assert pa.cpu_count() == before


def test_the_pool_forks_only_a_process_that_holds_nothing_a_child_must_not_copy() -> None:
    """runners.start_method: a process like the CLI's when it makes its pool (no other thread of
    Python's, no run's Reasoner) forks its workers on Linux; with another thread running, or once a run's
    Reasoner is loaded, the pool spawns them. (The killed-run test runs the CLI's forked pool
    against the in-process runner, byte for byte; the other pool tests run in this process, spawned.)"""
    code = ("import threading, time\n"
            "from reasoner.runners import start_method\n"
            "from reasoner.partition import reasoner_for\n"
            "alone = start_method()\n"
            "other = threading.Thread(target=time.sleep, args=(0.5,)); other.start()\n"
            "with_thread = start_method(); other.join()\n"
            f"reasoner_for({RULES!r})\n"
            "print(alone, with_thread, start_method())\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    alone = "fork" if sys.platform.startswith("linux") else "spawn"
    assert done.stdout.split() == [alone, "spawn", "spawn"]


def test_a_worker_says_whether_it_sees_the_runs_files(tmp_path: Path) -> None:
    """chunk_files.sees_files, which a Dask scheduler elsewhere runs on each worker: the probe the
    driver wrote into the run directory with its token, and the same input file (size, mtime)."""
    from reasoner.chunk_files import sees_files

    src = tmp_path / "roster.parquet"
    write_roster(src, records("decide", 5, seed=1), DECIDE_COLUMNS)
    probe = tmp_path / ".probe-x"
    probe.write_text("token", encoding="utf-8")
    stat = src.stat()
    assert sees_files(str(probe), "token", str(src), stat.st_size, stat.st_mtime_ns)
    assert not sees_files(str(probe), "another run's token", str(src), stat.st_size, stat.st_mtime_ns)
    assert not sees_files(str(tmp_path / ".probe-y"), "token", str(src), stat.st_size, stat.st_mtime_ns)  # another machine's folder
    assert not sees_files(str(probe), "token", str(src), stat.st_size + 1, stat.st_mtime_ns)  # another copy of the input
    assert not sees_files(str(probe), "token", str(tmp_path / "missing.parquet"), stat.st_size, stat.st_mtime_ns)


def test_a_dask_cluster_elsewhere_reads_its_own_rows_when_it_sees_the_files(tmp_path: Path) -> None:
    """A scheduler given by address (here a cluster started apart, on this machine): its workers see
    the run's files, so they read their own Parquet slices and write their own chunk files — the
    driver receives log entries, not tables; workers that do not see them receive the rows and
    return tables. Either way the output is the in-process run's, byte for byte."""
    distributed = pytest.importorskip("distributed")
    src, job = _reference(tmp_path, 300, 8, 100)
    results: list[object] = []

    class Watching(DaskRunner):
        def map(self, job, chunks):
            for index, result in super().map(job, chunks):
                results.append(result)
                yield index, result

    class Blind(Watching):  # workers on machines without the run's files
        def reaches(self, input_path, run_dir):
            return False

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = Watching(cluster.scheduler_address, 2)
        assert runner.cluster is None and runner.reaches(src, tmp_path)
        _run(job, src, tmp_path / "remote.parquet", runner, 100)
        assert len(results) == 3 and all(isinstance(r, dict) for r in results)
        results.clear()
        _run(job, src, tmp_path / "blind.parquet", Blind(cluster.scheduler_address, 2), 100)
        assert len(results) == 3 and all(isinstance(r, pa.Table) for r in results)  # the rows went there, the tables came back
    assert not list(tmp_path.glob(".probe-*"))
    for name in ("remote", "blind"):
        assert (tmp_path / f"{name}.parquet").read_bytes() == (tmp_path / "inline.parquet").read_bytes(), name


def _blind_to(folder: str) -> None:
    """Run on a Dask worker: from now on it sees nothing under folder, as a worker on another machine
    would not (the reasoner's own file access in this process goes through these two modules)."""
    import os
    import types

    from reasoner import chunk_files, partition

    def hidden(path: object) -> bool:
        return str(path).startswith(folder)

    def stat(path, *args, **kwargs):
        if hidden(path):
            raise FileNotFoundError(path)
        return os.stat(path, *args, **kwargs)

    def isdir(path) -> bool:
        return not hidden(path) and os.path.isdir(path)

    chunk_files.os = types.SimpleNamespace(**{**vars(os), "stat": stat})
    partition.os = types.SimpleNamespace(**{**vars(os), "path": types.SimpleNamespace(**{**vars(os.path), "isdir": isdir})})


def test_a_dask_worker_that_joins_after_the_question_is_sent_the_rows(tmp_path: Path) -> None:
    """A cluster elsewhere whose workers all see the run's files when the run asks them (reaches), and
    then a worker joins that does not (another machine) while the first leaves: its chunks fail to
    find the files (FilesNotShared), and the driver sends it their rows instead of failing the run.
    The output is the in-process run's, byte for byte."""
    distributed = pytest.importorskip("distributed")
    src, job = _reference(tmp_path, 300, 8, 100)
    results: list[object] = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:

        class JoinedLate(DaskRunner):
            def reaches(self, input_path, run_dir):
                sees = super().reaches(input_path, run_dir)
                first = set(self.client.scheduler_info()["workers"])
                cluster.scale(2)
                self.client.wait_for_workers(2)
                late = sorted(set(self.client.scheduler_info()["workers"]) - first)
                self.client.run(_blind_to, str(tmp_path), workers=late)
                self.client.retire_workers(sorted(first))
                return sees

            def map(self, job, chunks):
                for index, result in super().map(job, chunks):
                    results.append(result)
                    yield index, result

        runner = JoinedLate(cluster.scheduler_address, 1)
        _run(job, src, tmp_path / "late.parquet", runner, 100)
    assert len(results) == 3 and all(isinstance(r, pa.Table) for r in results)  # every chunk came back as rows' results
    assert (tmp_path / "late.parquet").read_bytes() == (tmp_path / "inline.parquet").read_bytes()


def test_a_worker_refuses_an_input_changed_during_the_run(tmp_path: Path) -> None:
    from reasoner.chunk_files import InputChanged, parquet_slices

    src = tmp_path / "r.parquet"
    pq.write_table(pa.table({"编号": ["a", "b"]}), src)
    first = parquet_slices(src, 1, 10)[0]
    pq.write_table(pa.table({"编号": ["a", "b", "c"]}), src)
    with pytest.raises(InputChanged, match="被修改"):
        first.table()


def test_chunk_files_are_named_for_their_run(tmp_path: Path) -> None:
    """A pool worker of a killed run may still finish its chunk after the driver died: its file is
    named for that run's work, so it cannot replace a chunk of another run in the same directory."""
    import json

    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_roster(a, records("decide", 30, seed=5), DECIDE_COLUMNS)
    write_roster(b, records("decide", 30, seed=6), DECIDE_COLUMNS)
    out = tmp_path / "out.parquet"

    def files() -> list[str]:
        lines = (run_dir_of(out) / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["file"] for line in lines]

    _run(Job("decide", RULES, flat=True), a, out, LocalRunner(), 10)
    of_a = files()
    _run(Job("decide", RULES, flat=True), b, out, LocalRunner(), 10)
    of_b = files()
    assert len(of_a) == len(of_b) == 3 and not set(of_a) & set(of_b)
    assert sorted(p.name for p in run_dir_of(out).glob("chunk-*")) == sorted(of_b)
    (run_dir_of(out) / "chunks.jsonl").unlink()
    _run(Job("decide", RULES, flat=True), b, out, LocalRunner(), 10)
    assert files() == of_b  # the same work: the same names


@pytest.mark.parametrize("mode", ["decide", "settle"])
def test_csv_rows_take_the_columnar_path_with_the_same_result(tmp_path: Path, mode: str) -> None:
    """CSV and Excel chunks arrive as numbered text rows; run_partition turns each run of
    consecutive row numbers into an Arrow slice (partition._arrow_runs) so that they are decided
    and settled column-wise like Parquet. The result must be the row-by-row path's, row for row:
    a blank line (a gap in the numbers), a row with more cells than the header (row by row),
    malformed cells and an empty 编号 (#N from the CSV line number)."""
    from reasoner.partition import _arrow_runs, _decide_table, _settle_table, reasoner_for
    from reasoner.tables import read_rows

    columns = DECIDE_COLUMNS if mode == "decide" else SETTLE_COLUMNS
    src = tmp_path / "roster.csv"
    write_roster(src, records(mode, 300, seed=9, bad=0.05 if mode == "decide" else 0.0), columns)
    lines = src.read_text(encoding="utf-8").splitlines()
    lines.insert(40, "")                                         # a blank line: row numbers jump
    lines[60] = lines[60].replace("LY", "", 1) + ",额外"          # one cell more than the header
    header = next(csv.reader([lines[0].lstrip("\ufeff")]))
    for line, column, value in ((80, "编号", ""), (85, "日期", "2024-02-30")):  # no 编号 (#N); an impossible date
        cells = next(csv.reader([lines[line]]))
        cells[header.index(column)] = value
        lines[line] = ",".join('"' + c.replace('"', '""') + '"' for c in cells)
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [rows] = list(read_rows(src, 10_000))
    job, reasoner = Job(mode, RULES, True), reasoner_for(RULES)
    runs = _arrow_runs(rows)
    assert runs is None  # the row with an extra cell keeps this chunk on the row-by-row path
    clean = [r for r in rows if "__extra__" not in r[1]]
    runs = _arrow_runs(clean)
    assert runs is not None and len(runs) >= 3 and sum(len(r) for r in runs) == len(clean)  # cut at the blank line and the dropped row
    by_rows = (_decide_table if mode == "decide" else _settle_table)(job, reasoner, clean)
    assert run_partition(job, clean).to_pylist() == by_rows.to_pylist()
    [unnamed] = [number for number, raw in clean if raw.get("编号") is None]
    assert f"#{unnamed}" in run_partition(job, clean).column("编号").to_pylist()


def test_a_run_resumed_by_another_engine_starts_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks decided by two versions of the engine must not end up in one result: the engine's
    digest (its code and generic programs) is part of a run's identity."""
    from reasoner import batch_run, partition

    src, out = tmp_path / "roster.jsonl", tmp_path / "out.parquet"
    write_roster(src, records("decide", 120, seed=9), DECIDE_COLUMNS)
    notes: list[str] = []
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=notes.append)
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=notes.append)
    assert "继续" in notes[-1]
    for module in (batch_run, partition):  # the upgraded installation: its driver and its workers
        monkeypatch.setattr(module, "engine_digest", lambda: "another engine")
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=notes.append)
    assert "重新开始" in notes[-1] and "引擎" in notes[-1]
    assert pq.read_table(out).num_rows == 120


def test_workers_refuse_rules_other_than_the_runs(tmp_path: Path) -> None:
    """A worker (another machine's copy of the rules, or files changed during the run) must not
    decide under other rules than those the run's identity records; nor may explain."""
    import shutil

    from reasoner import partition
    from reasoner.partition import RulesMismatch, rules_digest

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    src, out = tmp_path / "roster.jsonl", tmp_path / "out.parquet"
    write_roster(src, records("decide", 60, seed=3), DECIDE_COLUMNS)
    _run(Job("decide", str(rules), flat=False), src, out, LocalRunner(), 50)
    assert "龙岩" in RowExplainer(out).explain(1)
    (rules / "longyan.rules").write_text((rules / "longyan.rules").read_text(encoding="utf-8") + "\n# 改动\n", encoding="utf-8")
    with pytest.raises(RulesMismatch, match="规则"):
        run_partition(Job("decide", str(rules), flat=False, rules_sha256="the driver's digest"), [(1, {"地区": "龙岩市"})])
    assert "龙岩" in RowExplainer(out).explain(1)  # this process still holds the run's rules
    partition._REASONERS.pop(str(rules))  # a fresh process reads the changed files
    with pytest.raises(ValueError, match="规则目录"):
        RowExplainer(out)
    changed = rules_digest(rules)  # a new run reads the changed rules everywhere
    assert run_partition(Job("decide", str(rules), flat=False, rules_sha256=changed), [(1, {"地区": "龙岩市"})]).num_rows == 1


def test_workers_refuse_an_engine_other_than_the_drivers(tmp_path: Path) -> None:
    """A Dask worker on a machine running another build of the reasoner would put its engine's
    results into the driver's run: the run's engine digest travels with the job and is checked."""
    from reasoner.partition import EngineMismatch
    from reasoner.version import engine_digest

    rows = [(1, {"地区": "龙岩市"})]
    with pytest.raises(EngineMismatch, match="推理引擎"):
        run_partition(Job("decide", RULES, flat=False, engine_sha256="another build"), rows)
    assert run_partition(Job("decide", RULES, flat=False, engine_sha256=engine_digest()), rows).num_rows == 1
    src, out = tmp_path / "roster.jsonl", tmp_path / "out.parquet"
    write_roster(src, records("decide", 20, seed=3), DECIDE_COLUMNS)
    seen: list[Job] = []

    class Recording(LocalRunner):
        def map(self, job, chunks):
            seen.append(job)
            return super().map(job, chunks)

    _run(Job("decide", RULES, flat=False), src, out, Recording(), 50)
    assert seen[0].engine_sha256 == engine_digest()  # run_batch hands the driver's engine to every chunk


def test_a_chunk_log_line_cut_short_by_a_crash_is_recomputed(tmp_path: Path) -> None:
    """Finished chunks are appended to chunks.jsonl one line each (the manifest is not rewritten
    per chunk); a crash while appending leaves a partial last line, which a rerun ignores: that
    chunk is decided again and the output equals an uninterrupted run's."""
    src, out = tmp_path / "roster.jsonl", tmp_path / "out.parquet"
    write_roster(src, records("decide", 230, seed=12), DECIDE_COLUMNS)
    run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=lambda _: None)
    first = out.read_bytes()
    log = run_dir_of(out) / "chunks.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == 5
    log.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2], encoding="utf-8")  # killed mid-line
    out.unlink()
    notes: list[str] = []
    report = run_batch(Job("decide", RULES, flat=False), src, out, LocalRunner(), 50, progress=False, note=notes.append)
    assert "已完成 3 块" in notes[-1] and report.resumed_chunks == 3
    assert out.read_bytes() == first
    assert log.read_text(encoding="utf-8").count("\n") == 5
