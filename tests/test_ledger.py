"""The decision ledger on SQLite and on a real PostgreSQL server (started by the tests, see
tests/ledger_support.py): record, read back, verify; one altered byte, one deleted entry and
two swapped entries each reported at the right entry; concurrent writer processes lose no
entry and keep the chain valid; the CLI's --record, ledger verify|list|show and why."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reasoner import LedgerError, explain_json, explain_text, load_policies, open_ledger, record, why
from reasoner import ledger_db as db
from reasoner.cli import main
from reasoner.ledger import Ledger, entry_hash
from reasoner.ledger_paths import ENV_VAR, default_path, resolve_url
from reasoner.person import load_records

ROOT = Path(__file__).resolve().parent.parent
PERSONS = ROOT / "examples" / "persons.yaml"
CLAIMS = ROOT / "examples" / "claims.yaml"


@pytest.fixture(scope="module")
def reasoner() -> Any:
    return load_policies(ROOT / "rules")


def _record_persons(ledger: Ledger, reasoner: Any, n: int) -> list[str]:
    records = (load_records(PERSONS) * 3)[:n]
    return [record(r, ledger, reasoner=reasoner, index=i)[0][0] for i, r in enumerate(records)]


def _execute(ledger: Ledger, sql: str, **params: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


# ------------------------------------------------------------------ record, read back, verify
def test_record_read_back_and_verify(ledger_url: str, reasoner: Any) -> None:
    with open_ledger(ledger_url) as ledger:
        first = load_records(PERSONS)[0]
        decision_id, decision = record(first, ledger, reasoner=reasoner)[0]
        settled = record(load_records(CLAIMS)[1], ledger, settle=True, reasoner=reasoner, index=1)
        entry = ledger.get(decision_id)
        assert entry.seq == 1 and entry.kind == "decision" and entry.person_id == "龙岩-低保兼重残"
        assert entry.data("input_text") == first  # the record exactly as parsed, key order included
        assert list(entry.data("input_text")) == list(first)
        assert entry.data("outputs")["status"] == decision.status == "符合救助条件"
        assert entry.data("justification") == json.loads(json.dumps(explain_json(decision), ensure_ascii=False, default=str))
        policies = entry.data("policies")
        assert policies["used"] == ["龙岩市医疗救助"]
        longyan = next(f for f in policies["rules"] if f["name"] == "龙岩市医疗救助")
        assert ledger.text(longyan["sha256"]) == (ROOT / "rules" / "longyan.rules").read_text(encoding="utf-8")
        assert "龙政办规〔2022〕14号" in longyan["version"]
        readings = {r["name"]: r for r in entry.data("parameters")}
        assert readings["上年度居民人均可支配收入"]["value_fen"] == 4_000_000
        assert readings["上年度居民人均可支配收入"]["source"] == "调用方提供的假设值"
        settlement = ledger.get(settled[0][0])
        assert settlement.kind == "settlement" and settlement.seq == 2 and settlement.prev_hash == entry.entry_hash
        assert settlement.data("outputs")["total_assistance_fen"] == settled[0][1].total_assistance
        report = ledger.verify()
        assert report.ok and report.count == 2 and report.head_seq == 2, report.text()
        assert "账本完好：共 2 条" in report.text()


def test_decision_ids_are_readable_and_unique(tmp_path: Path, reasoner: Any) -> None:
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        ids = _record_persons(ledger, reasoner, 3)
        assert len(set(ids)) == 3
        assert all(i.startswith("D") and i.endswith(f"-{n:06d}") for n, i in enumerate(ids, 1))


def test_entry_hash_covers_every_column_and_the_previous_hash(tmp_path: Path, reasoner: Any) -> None:
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        _record_persons(ledger, reasoner, 2)
        second = ledger.get(next(ledger.entries(newest_first=True)).decision_id)
        columns = second.columns()
        assert entry_hash(columns) == second.entry_hash
        for name in db.HASHED:
            changed = dict(columns, **{name: columns[name] + 1 if isinstance(columns[name], int) else columns[name] + " "})
            assert entry_hash(changed) != second.entry_hash, name


# ------------------------------------------------------------------ tampering
def test_one_altered_byte_is_reported_at_its_entry(ledger_url: str, reasoner: Any) -> None:
    with open_ledger(ledger_url) as ledger:
        ids = _record_persons(ledger, reasoner, 6)
        outputs = ledger.get(ids[3]).outputs
        assert "符合救助条件" in outputs
        position = outputs.index("救助条件")
        tampered = outputs[:position] + "救助条仵" + outputs[position + 4:]  # one character, as a clerk's edit would
        _execute(ledger, "UPDATE ledger_entries SET outputs = :o WHERE seq = 4", o=tampered)
        report = ledger.verify()
        assert not report.ok
        problem = report.problems[0]
        assert (problem.kind, problem.seq, problem.decision_id) == ("altered", 4, ids[3])
        assert f"第 4 号条目（{ids[3]}）内容被改动" in report.text()


def test_one_altered_ascii_byte_in_the_input_is_reported(ledger_url: str, reasoner: Any) -> None:
    with open_ledger(ledger_url) as ledger:
        ids = _record_persons(ledger, reasoner, 3)
        text = ledger.get(ids[1]).input_text
        _execute(ledger, "UPDATE ledger_entries SET input_text = :t WHERE seq = 2", t=text.replace("2024-03-20", "2024-03-21"))
        problem = ledger.verify().problems[0]
        assert (problem.kind, problem.seq, problem.decision_id) == ("altered", 2, ids[1])


def test_a_deleted_entry_is_reported_as_missing(ledger_url: str, reasoner: Any) -> None:
    with open_ledger(ledger_url) as ledger:
        ids = _record_persons(ledger, reasoner, 6)
        _execute(ledger, "DELETE FROM ledger_entries WHERE seq = 3")
        report = ledger.verify()
        assert [(p.kind, p.seq) for p in report.problems] == [("missing", 3)]
        assert f"第 3 号条目缺失：第 2 号之后是第 4 号条目（{ids[3]}）" in report.text()


def test_deleting_the_newest_entry_is_reported(ledger_url: str, reasoner: Any) -> None:
    with open_ledger(ledger_url) as ledger:
        _record_persons(ledger, reasoner, 4)
        _execute(ledger, "DELETE FROM ledger_entries WHERE seq = 4")
        report = ledger.verify()
        assert [(p.kind, p.seq) for p in report.problems] == [("tail", 4)]
        assert "第 4 号至第 4 号条目缺失" in report.text()


def test_two_swapped_entries_are_reported_as_reordered(ledger_url: str, reasoner: Any) -> None:
    with open_ledger(ledger_url) as ledger:
        ids = _record_persons(ledger, reasoner, 6)
        for sql in ("UPDATE ledger_entries SET seq = -1 WHERE seq = 2", "UPDATE ledger_entries SET seq = 2 WHERE seq = 5",
                    "UPDATE ledger_entries SET seq = 5 WHERE seq = -1"):
            _execute(ledger, sql)
        report = ledger.verify()
        problem = report.problems[0]
        assert (problem.kind, problem.seq, problem.decision_id) == ("reordered", 2, ids[4])
        assert "第 2 号位置上是原第 5 号条目" in problem.message and "顺序被调换" in problem.message


def test_a_replaced_predecessor_breaks_the_link(ledger_url: str, reasoner: Any) -> None:
    """An entry rewritten with a freshly computed hash still breaks the next entry's link."""
    with open_ledger(ledger_url) as ledger:
        ids = _record_persons(ledger, reasoner, 4)
        entry = ledger.get(ids[1])
        columns = entry.columns() | {"outputs": entry.outputs.replace("符合救助条件", "不符合救助条件", 1)}
        _execute(ledger, "UPDATE ledger_entries SET outputs = :o, entry_hash = :h WHERE seq = 2",
                 o=columns["outputs"], h=entry_hash(columns))
        problem = ledger.verify().problems[0]
        assert (problem.kind, problem.seq, problem.decision_id) == ("broken", 3, ids[2])


def test_an_altered_policy_text_is_reported(tmp_path: Path, reasoner: Any) -> None:
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        _record_persons(ledger, reasoner, 2)
        digest = next(f["sha256"] for f in ledger.get(next(ledger.entries()).decision_id).data("policies")["rules"])
        _execute(ledger, "UPDATE ledger_texts SET content = content || ' ' WHERE sha256 = :d", d=digest)
        report = ledger.verify()
        assert [p.kind for p in report.problems] == ["text"] and "被改动" in report.text()


# ------------------------------------------------------------------ concurrency
def test_concurrent_writer_processes_lose_no_entry(ledger_url: str, reasoner: Any) -> None:
    """4 processes × 25 appends, each its own transaction, all at once — on a new database, so the
    writers also race to migrate it (exactly one does, under the write lock)."""
    from ledger_support import append_worker, decision_drafts

    names = [[f"w{w}-{n}" for n in range(25)] for w in range(4)]
    work = [(ledger_url, decision_drafts(reasoner, batch)) for batch in names]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(append_worker, work)
    ids = [i for batch in results for i in batch]
    assert len(ids) == len(set(ids)) == 100
    with open_ledger(ledger_url) as ledger:
        entries = list(ledger.entries())
        assert [e.seq for e in entries] == list(range(1, 101))
        assert {e.decision_id for e in entries} == set(ids)
        assert sorted(e.person_id for e in entries) == sorted(n for batch in names for n in batch)
        for batch, got in zip(names, results):  # each writer's own entries are in its order
            assert [ledger.get(i).person_id for i in got] == batch
        report = ledger.verify()
        assert report.ok and report.count == 100, report.text()


def test_schema_revision_constant_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", db.MIGRATIONS)
    assert ScriptDirectory.from_config(config).get_current_head() == db.SCHEMA_REVISION


# ------------------------------------------------------------------ where the ledger lives
def test_database_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "yiliao-jiuzhu-reasoner" / "ledger.sqlite3"
    assert resolve_url() == f"sqlite:///{default_path()}"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.db"))
    assert resolve_url() == f"sqlite:///{tmp_path / 'env.db'}"
    assert resolve_url(str(tmp_path / "flag.db")) == f"sqlite:///{tmp_path / 'flag.db'}"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_sqlite_ledger_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "ledger.sqlite3"
    with open_ledger(str(path)) as ledger:
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT version_num FROM ledger_alembic_version").scalar() == "0001"
    assert path.exists()


def test_unknown_decision_id_is_a_chinese_error(tmp_path: Path) -> None:
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        with pytest.raises(LedgerError, match="账本中没有编号为「D20990101-000001」的决定"):
            ledger.get("D20990101-000001")


def test_an_unreachable_database_is_a_chinese_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="无法打开账本数据库"):
        open_ledger(f"postgresql+psycopg://nobody@/none?host={tmp_path}&port=1")


# ------------------------------------------------------------------ why
def test_why_prints_the_recorded_explanation_as_explain_did(tmp_path: Path, reasoner: Any) -> None:
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        for i, rec in enumerate(load_records(PERSONS)):
            decision_id, decision = record(rec, ledger, reasoner=reasoner, index=i)[0]
            text = why(decision_id, ledger)
            assert text.split("\n\n", 1)[1] == explain_text(decision)
            assert why(decision_id, ledger, "json")["decision"]["status"] == decision.status


def test_why_of_a_settlement_shows_the_arithmetic_and_each_claims_tree(tmp_path: Path, reasoner: Any) -> None:
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        (decision_id, settlement), = record(load_records(CLAIMS)[1], ledger, settle=True, reasoner=reasoner)
        text = why(decision_id, ledger)
        for claim in settlement.claims:
            assert all(p.text in text for p in claim.payments)
        assert "就医当日的决定依据" in text and "属于「第一类」" in text
        from reasoner.settle_explain import settlement_json

        assert why(decision_id, ledger, "json") == json.loads(json.dumps(settlement_json(settlement), ensure_ascii=False, default=str))


# ------------------------------------------------------------------ CLI
def test_cli_records_lists_shows_verifies_and_explains(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decide", str(PERSONS), "--rules", str(ROOT / "rules"), "--record", "--db", ledger_url]) == 0
    out = capsys.readouterr().out
    ids = [line.split("：")[1] for line in out.splitlines() if "账本编号" in line]
    assert len(ids) == len(load_records(PERSONS))
    assert main(["ledger", "verify", "--db", ledger_url]) == 0
    assert f"账本完好：共 {len(ids)} 条" in capsys.readouterr().out
    assert main(["ledger", "list", "--db", ledger_url]) == 0
    listed = capsys.readouterr().out
    assert all(i in listed for i in ids) and "龙岩-低保兼重残（龙岩市）  龙岩市医疗救助  符合救助条件" in listed
    assert main(["ledger", "show", ids[0], "--db", ledger_url]) == 0
    shown = capsys.readouterr().out
    assert "rules/longyan.rules  龙岩市医疗救助" in shown and "上年度居民人均可支配收入（龙岩市2023年）：40,000.00元" in shown
    assert main(["why", ids[0], "--db", ledger_url]) == 0
    assert "救助比例（住院及门诊特殊病种）：70%" in capsys.readouterr().out
    assert main(["why", "D19990101-000001", "--db", ledger_url]) == 2
    assert "账本中没有编号为「D19990101-000001」的决定" in capsys.readouterr().err


def test_cli_verify_exit_code_when_altered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "l.db")
    assert main(["explain", str(PERSONS), "--record", "--db", url, "--json"]) == 0
    explained = json.loads("[" + capsys.readouterr().out.replace("}\n{", "},\n{") + "]")
    assert all(e["decision_id"].startswith("D") for e in explained)
    with Ledger(url) as ledger:
        _execute(ledger, "UPDATE ledger_entries SET recorded_at = '2020-01-01T00:00:00.000000Z' WHERE seq = 2")
    assert main(["ledger", "verify", "--db", url]) == 7
    assert f"第 2 号条目（{explained[1]['decision_id']}）内容被改动" in capsys.readouterr().out
    assert main(["ledger", "verify", "--db", url, "--json"]) == 7
    assert json.loads(capsys.readouterr().out)["problems"][0]["seq"] == 2


def test_cli_settle_records_each_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.db"))  # --db left out: the environment variable names the ledger
    assert main(["settle", str(CLAIMS), "--record", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    ids = [r["decision_id"] for r in reports]
    assert len(ids) == len(reports) and all(i.startswith("S") for i in ids)
    with Ledger(str(tmp_path / "env.db")) as ledger:
        assert [e.decision_id for e in ledger.entries()] == ids
        assert ledger.get(ids[0]).data("input_options")["year"] == reports[0]["year"]


def test_decide_without_record_writes_no_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "never.db"))
    assert main(["decide", str(PERSONS)]) == 0
    assert not (tmp_path / "never.db").exists()
