"""Replay from the ledger: a decision recorded under one version of a rules file replays
identically after the file changed (the recorded text is used, not the file), and
--with-current-rules shows what today's rules give, with the exact values, the changed
clause and both explanations' steps. On SQLite and PostgreSQL, through the facade and the CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reasoner import load_policies, open_ledger, record, replay
from reasoner.cli import main
from reasoner.ledger_replay import Change, diff_values
from reasoner.person import load_records

ROOT = Path(__file__).resolve().parent.parent
OLD_RATE = "救助比例（住院及门诊特殊病种） 第一类 90%；第二类、第三类 70%；第四类 60%；第五类 50%"
NEW_RATE = "救助比例（住院及门诊特殊病种） 第一类 95%；第二类、第三类 75%；第四类 60%；第五类 50%"
RATE_LABEL = "救助比例（住院及门诊特殊病种）"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A private copy of the bundled rules, to be changed after recording."""
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


def change_rate(folder: Path) -> None:
    path = folder / "longyan.rules"
    text = path.read_text(encoding="utf-8")
    assert text.count(OLD_RATE) == 1
    path.write_text(text.replace(OLD_RATE, NEW_RATE), encoding="utf-8")


def person(name: str) -> dict[str, Any]:
    return next(r for r in load_records(ROOT / "examples" / "persons.yaml") if r["编号"] == name)


def test_replay_is_identical_after_the_rules_file_changed(ledger_url: str, rules: Path) -> None:
    with open_ledger(ledger_url) as ledger:
        decision_id, decision = record(person("龙岩-低保兼重残"), ledger, reasoner=load_policies(rules))[0]
        assert decision.item("救助比例", "住院及门诊特殊病种").value == "70%"
        change_rate(rules)
        same = replay(decision_id, ledger)
        assert same.identical, (same.changes, same.justification_changes, same.error)
        today = replay(decision_id, ledger, rules, current=True)
    assert not today.identical
    changes = {c.path: (c.old, c.new) for c in today.changes}
    assert changes[f"items[{RATE_LABEL}].value"] == ("70%", "75%")
    assert changes[f"items[{RATE_LABEL}].exact"] == ("7/10", "3/4")
    assert changes[f"items[{RATE_LABEL}].lost[第三类].value"] == ("70%", "75%")
    assert len(today.changes) == 3  # the rate only: category, deductible, cap, subsidy, tilt unchanged
    (clause,) = today.clause_changes
    assert (clause.policy, clause.article, clause.removed, clause.added) == ("龙岩市医疗救助", "二（四）2", (OLD_RATE,), (NEW_RATE,))
    (label, before, after), = today.steps
    assert label == RATE_LABEL
    assert before.startswith(f"{RATE_LABEL}：70%，依「第二类」") and after.startswith(f"{RATE_LABEL}：75%，依「第二类」")
    assert "〔龙政办规〔2022〕14号 二（四）2〕" in before and "〔龙政办规〔2022〕14号 二（四）2〕" in after


def test_replay_of_a_settlement_after_the_rules_file_changed(ledger_url: str, rules: Path) -> None:
    claims = next(r for r in load_records(ROOT / "examples" / "claims.yaml") if r["编号"] == "龙岩-特困大病")
    with open_ledger(ledger_url) as ledger:
        (decision_id, settlement), = record(claims, ledger, settle=True, reasoner=load_policies(rules), index=1)
        change_rate(rules)
        assert replay(decision_id, ledger).identical
        today = replay(decision_id, ledger, rules, current=True)
    paid = {c.path: (c.old, c.new) for c in today.changes}
    old, new = paid["claims[l1].payments[住院及门诊特殊病种].text"]
    assert "61,725.00元（不设起付标准） × 90% = 55,552.50元" in old and "61,725.00元（不设起付标准） × 95% = 58,638.75元" in new
    assert "年度救助限额 45,000.00元，本年已付 0.00元 → 45,000.00元" in new  # the cap binds: the same amount is paid
    assert "total_assistance_fen" not in paid and settlement.total_assistance == 4_500_000
    assert [c.article for c in today.clause_changes] == ["二（四）2"]
    assert {label for label, _, _ in today.steps} == {f"就医 l1：{RATE_LABEL}", f"就医 l2：{RATE_LABEL}"}


def test_a_changed_parameter_file_is_shown(ledger_url: str, rules: Path) -> None:
    record_ = dict(person("龙岩-低保兼重残"))
    record_["假设参数"] = {"上年度居民人均可支配收入": 40000}  # 年度救助限额 from the file: unknown there
    with open_ledger(ledger_url) as ledger:
        decision_id, decision = record(record_, ledger, reasoner=load_policies(rules))[0]
        assert decision.item("年度救助限额", "住院及门诊特殊病种").status == "无法决定"
        params = rules / "parameters" / "龙岩市.yaml"
        text = params.read_text(encoding="utf-8")
        assert "年度救助限额" in text
        params.write_text(_set_cap(text, 2023, 45000), encoding="utf-8")
        assert replay(decision_id, ledger).identical
        today = replay(decision_id, ledger, rules, current=True)
    changes = {c.path: (c.old, c.new) for c in today.changes}
    assert changes["items[年度救助限额（住院及门诊特殊病种）].value"] == (None, "45,000.00元（参数 年度救助限额）")
    assert any(c.path == "参数[年度救助限额（龙岩市，2023）].value_fen" and c.new == 4_500_000 for c in today.parameter_changes)


def _set_cap(text: str, year: int, value: int) -> str:
    """The parameter file with 年度救助限额 for one year set (the bundled files hold null: unverified)."""
    import yaml

    data = yaml.safe_load(text)
    rows = data["参数"]["年度救助限额"]["取值"]
    row = next(r for r in rows if int(r["年度"]) == year)
    row["值"], row["来源"] = value, "测试假设"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_replay_reports_when_todays_rules_reject_the_record(ledger_url: str, rules: Path) -> None:
    with open_ledger(ledger_url) as ledger:
        decision_id, _ = record(person("龙岩-低保兼重残"), ledger, reasoner=load_policies(rules))[0]
        (rules / "longyan.rules").unlink()
        (rules / "fujian.rules").unlink()
        today = replay(decision_id, ledger, rules, current=True)
    assert today.error and "没有地区「龙岩市」的政策" in today.error and not today.identical


# ------------------------------------------------------------------ CLI
def test_cli_replay_and_with_current_rules(ledger_url: str, rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    persons = ROOT / "examples" / "persons.yaml"
    assert main(["decide", str(persons), "--rules", str(rules), "--record", "--db", ledger_url, "--json"]) == 0
    decided = json.loads(capsys.readouterr().out)
    decision_id = next(d["decision_id"] for d in decided if d["id"] == "龙岩-低保兼重残")
    change_rate(rules)
    for d in decided:  # every record replays identically, the one without 编号-dependence included
        assert main(["replay", d["decision_id"], "--db", ledger_url]) == 0
        assert capsys.readouterr().out.endswith("按记录时的规则文本：一致\n")
    assert main(["replay", decision_id, "--db", ledger_url, "--with-current-rules", "--rules", str(rules)]) == 6
    out = capsys.readouterr().out
    assert f"items[{RATE_LABEL}].value：70% → 75%" in out
    assert "「龙岩市医疗救助」〔二（四）2〕" in out and f"− {OLD_RATE}" in out and f"+ {NEW_RATE}" in out
    assert f"「{RATE_LABEL}」记录时的依据：" in out and f"「{RATE_LABEL}」现在的依据：" in out
    assert main(["replay", decision_id, "--db", ledger_url, "--with-current-rules", "--rules", str(rules), "--json"]) == 6
    report = json.loads(capsys.readouterr().out)
    assert {"path": f"items[{RATE_LABEL}].value", "old": "70%", "new": "75%"} in report["changes"]
    assert report["clause_changes"][0]["article"] == "二（四）2"


def test_cli_replay_of_an_unknown_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "D20990101-000009", "--db", str(tmp_path / "l.db")]) == 2
    assert "账本中没有编号为「D20990101-000009」的决定" in capsys.readouterr().err


def test_a_record_without_id_replays_under_its_index(tmp_path: Path) -> None:
    unnamed = {k: v for k, v in person("龙岩-低保兼重残").items() if k != "编号"}
    with open_ledger(str(tmp_path / "l.db")) as ledger:
        decision_id, decision = record(unnamed, ledger, index=4)[0]
        assert decision.person.id == "#5"
        assert replay(decision_id, ledger).identical


# ------------------------------------------------------------------ the field-level diff
def test_diff_matches_keyed_lists_by_key_not_position() -> None:
    old = {"items": [{"item": "救助比例", "scope": "住院", "value": "70%"}, {"item": "参保资助", "scope": "", "value": "全额"}]}
    new = {"items": [{"item": "参保资助", "scope": "", "value": "全额"}, {"item": "救助比例", "scope": "住院", "value": "75%"}]}
    assert diff_values(old, new) == [Change("items[救助比例（住院）].value", "70%", "75%")]


def test_diff_names_added_and_removed_fields() -> None:
    assert diff_values({"a": 1, "b": [1, 2]}, {"b": [1, 3], "c": "x"}) == [
        Change("a", 1, None), Change("b[1]", 2, 3), Change("c", None, "x")]
