"""Test support for the decision ledger: a real PostgreSQL server, and a writer process.

The server is started by the tests themselves (a session fixture in conftest.py): initdb
into a temporary folder, postgres on a free port listening only on a Unix socket in that
folder, stopped at the end. PostgreSQL refuses to run as root, so when the tests run as root
the server runs as the `postgres` system user (runuser). Without the server binaries the
tests fail with a message saying how to install them — they are not skipped, so that CI
cannot pass without having checked PostgreSQL (.ci/run installs the Debian package).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest


def pg_bin() -> Path:
    """The folder of the newest installed PostgreSQL server binaries."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).parent
    pytest.fail("未找到 PostgreSQL 服务器程序（pg_ctl）：账本测试需要真实的 PostgreSQL。"
                "Debian/Ubuntu 上请执行 apt-get install -y postgresql（.ci/run 会自动安装）", pytrace=False)


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throw-away server; new_database() gives each test its own empty database."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="reasoner-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data, self.port = self.root / "data", _free_port()
        self.url = f"postgresql+psycopg://postgres@/postgres?host={self.root}&port={self.port}"

    def start(self) -> None:
        run = lambda *cmd: subprocess.run(_as_server_user([str(c) for c in cmd]), check=True, capture_output=True)  # noqa: E731
        run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
        options = f"-p {self.port} -k {self.root} -c listen_addresses='' -c fsync=off"
        run(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "server.log", "-w", "start")

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        import sqlalchemy as sa

        name = f"ledger_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url.replace("@/postgres?", f"@/{name}?")


def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except subprocess.CalledProcessError as err:
        server.stop()
        pytest.fail(f"PostgreSQL 启动失败：{err.stderr.decode(errors='replace')}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def append_worker(url: str, drafts: list[Any]) -> list[str]:
    """One writer process: append real decision drafts one at a time (one transaction each); their ids."""
    from reasoner.ledger import Ledger

    with Ledger(url) as ledger:
        return [ledger.append([draft])[0].decision_id for draft in drafts]


def decision_drafts(reasoner: Any, names: list[str]) -> list[Any]:
    """Drafts of real decisions (the same person under different 编号), made once in the test process."""
    from reasoner.ledger_record import decision_draft, snapshot

    snap = snapshot(reasoner.policies)
    drafts = []
    for name in names:
        person = {"编号": name, "地区": "龙岩市", "日期": "2023-06-15",
                  "身份": [{"名称": "最低生活保障对象", "认定部门": "民政", "认定日期": "2023-01-10"}],
                  "事实": {"认定前当年已参保": False, "未按规定缴费参保": False}}
        drafts.append(decision_draft(reasoner.decide(person), snap))
    return drafts
