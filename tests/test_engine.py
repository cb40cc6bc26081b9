"""Engine semantics on small inline policies: each test states the rule it exercises.

These pin behaviour the five real policies do not reach (待遇就高 按 类别, exclusions whose
condition is unknown, 按年 tables without a value for the year) and the public surfaces
(explanation JSON, why-not, CLI exit codes, batches with bad rows).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reasoner import PolicySet, Reasoner, RecordError, explain
from reasoner.explain import SCHEMA

ROOT = Path(__file__).resolve().parent.parent

TOY = """
政策 测试政策 {
  名称 "测试用政策"  文号 "测〔2024〕1号"  地区 测试市  施行 2024-01-01 至 2024-12-31
}
事实 家庭收入 金额 "家庭人均收入"
事实 已参保 布尔 "认定前已参保"
参数 收入标准 金额 "标准"
救助项目 住院 "住院费用"
条款 "一" {
  原文 "甲类：特困人员；乙类：低保对象；丙类：收入低于标准的人员。"
  身份 特困人员、低保对象 由 民政 认定
  类别 甲类 若 身份 特困人员
  类别 乙类 若 身份 低保对象
  类别 丙类 若 不属于 甲类、乙类 且 家庭收入 低于 收入标准
  生效 认定当日
}
条款 "二" {
  原文 "多重身份的，按甲类、乙类、丙类顺序确定类别。"
  待遇就高 按 类别 顺序 乙类、甲类、丙类
}
条款 "三" {
  原文 "资助：甲类全额，乙类80%，丙类按年：2023年50%，2025年起40%。"
  参保资助 甲类 全额；乙类 80%；丙类 按年 2023年 50%、2025年起 40%
  救助比例（住院） 甲类 90%；乙类 95%；丙类 50%
  排除 参保资助 若 已参保
}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Reasoner:
    folder = tmp_path_factory.mktemp("rules")
    (folder / "toy.rules").write_text(TOY, encoding="utf-8")
    return Reasoner(PolicySet.load(folder))


def person(*identities: str, **facts: object) -> dict[str, object]:
    return {"地区": "测试市", "日期": "2024-06-01",
            "身份": [{"名称": i, "认定部门": "民政", "认定日期": "2024-01-01"} for i in identities],
            "事实": facts, "假设参数": {"收入标准": 10000}}


def test_per_category_mode_takes_the_declared_order_not_the_best_item(toy: Reasoner) -> None:
    # 条款 二: 顺序 乙类、甲类 — 乙类 wins every item, even where 甲类 is better (全额 > 80%).
    d = toy.decide(person("特困人员", "低保对象", 已参保=False))
    assert d.item("参保资助").category == "乙类" and d.item("参保资助").value == "80%"
    assert d.item("救助比例", "住院").value == "95%"
    assert [a.category for a in d.item("参保资助").lost] == ["甲类"]


def test_unknown_exclusion_condition_makes_the_item_undecided_and_names_the_fact(toy: Reasoner) -> None:
    d = toy.decide(person("低保对象"))
    assert d.item("参保资助").status == "无法决定"
    assert d.item("参保资助").missing == ("事实「已参保」",)
    assert d.item("救助比例", "住院").status == "已决定"


def test_true_exclusion_blocks_the_item_only(toy: Reasoner) -> None:
    d = toy.decide(person("低保对象", 已参保=True))
    assert d.item("参保资助").status == "已排除"
    assert d.item("救助比例", "住院").value == "95%"


def test_by_year_table_without_a_value_for_the_year_is_not_applicable(toy: Reasoner) -> None:
    # 条款 三: 丙类 has 2023 and 2025起, nothing for 2024.
    d = toy.decide(person(家庭收入=5000, 已参保=False))
    assert d.categories == ["丙类"]
    assert d.item("参保资助").status == "不适用"


def test_negated_category_with_missing_fact_is_undecided_not_ineligible(toy: Reasoner) -> None:
    d = toy.decide(person(已参保=False))
    assert d.status == "无法决定"
    assert d.missing == ["事实「家庭收入」"]


def test_wrong_department_is_rejected_and_explained(toy: Reasoner) -> None:
    rec = person(已参保=False, 家庭收入=20000)
    rec["身份"] = [{"名称": "特困人员", "认定部门": "残联", "认定日期": "2024-01-01"}]
    d = toy.decide(rec)
    assert d.status == "不符合救助条件"
    text = explain(d, why_not="甲类")
    assert "应由民政部门认定，记录中的认定部门为「残联」" in text


def test_explanation_json_is_versioned_and_carries_the_rules_hash(toy: Reasoner) -> None:
    d = toy.decide(person("特困人员", 已参保=False))
    data = explain(d, "json")
    assert data["schema"] == SCHEMA
    assert data["policy"]["content_sha256"] == hashlib.sha256(TOY.encode("utf-8")).hexdigest()
    keys = {n["key"] for n in data["nodes"]}
    assert all(p in keys for n in data["nodes"] for p in n["premises"])
    assert set(data["roots"]) <= keys | {"policy"}
    json.dumps(data, ensure_ascii=False)


def test_unknown_fact_and_identity_list_the_accepted_names(toy: Reasoner) -> None:
    with pytest.raises(RecordError, match="可用的事实：家庭收入、已参保"):
        toy.decide(person(收入=1))
    with pytest.raises(RecordError, match="可用的身份：特困人员、低保对象"):
        toy.decide(person("孤儿"))


def test_batch_keeps_bad_rows_in_place_and_decides_the_rest(toy: Reasoner) -> None:
    rows = [person("特困人员", 已参保=False), {"地区": "测试市"}, person("低保对象", 已参保=False)]
    out = toy.decide_many(rows)
    assert [type(o).__name__ for o in out] == ["Decision", "RecordError", "Decision"]
    assert isinstance(out[1], RecordError) and out[1].field == "日期"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reasoner.cli", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_exit_codes(tmp_path: Path) -> None:
    assert run_cli("check", "rules/longyan.rules").returncode == 0
    bad = tmp_path / "bad.rules"
    bad.write_text(TOY.replace("身份 特困人员\n", "身份 特困人\n"), encoding="utf-8")
    result = run_cli("check", str(bad))
    assert result.returncode == 1 and "未定义的身份「特困人」" in result.stderr
    assert run_cli("decide", "examples/persons.yaml").returncode == 0
    broken = tmp_path / "p.yaml"
    broken.write_text("地区: 龙岩市\n日期: 2023-13-01\n", encoding="utf-8")
    result = run_cli("decide", str(broken))
    assert result.returncode == 2 and "字段「日期」" in result.stderr


def test_cli_compile_prints_facts_with_citations() -> None:
    result = run_cli("compile", "rules/longyan.rules")
    assert result.returncode == 0
    assert 'benefit(rate,"住院及门诊特殊病种","第一类",' in result.stdout
    assert "% 〔二（四）2〕" in result.stdout


MONEY = """
政策 金额比较政策 {
  名称 "测试：待遇就高按金额"  文号 "测〔2024〕2号"  地区 比较市  施行 2024-01-01
}
就医类别 住院 "住院"
救助项目 住院 "住院救助"
条款 "一" {
  原文 "甲类：特困人员；乙类：低保对象。"
  身份 特困人员、低保对象 由 民政 认定
  类别 甲类 若 身份 特困人员
  类别 乙类 若 身份 低保对象
  生效 认定当日
}
条款 "二" {
  原文 "同时符合的，按救助金额较高的类别救助。"
  待遇就高 按 金额
}
条款 "三" {
  原文 "甲类不设起付标准，按60%救助；乙类起付标准5000元，按90%救助；年度限额10万元。"
  救助项目 住院 覆盖 住院
  救助项目 住院 按年起付
  救助起付标准（住院） 甲类 无；乙类 5000元
  救助比例（住院） 甲类 60%；乙类 90%
  年度救助限额（住院） 所有对象 10万元
}
"""


@pytest.fixture(scope="module")
def money(tmp_path_factory: pytest.TempPathFactory) -> Reasoner:
    folder = tmp_path_factory.mktemp("money")
    (folder / "money.rules").write_text(MONEY, encoding="utf-8")
    return Reasoner(PolicySet.load(folder))


def bill(self_pay: int) -> dict[str, object]:
    return {"地区": "比较市", "日期": "2024-12-31",
            "身份": [{"名称": n, "认定部门": "民政", "认定日期": "2024-01-01"} for n in ("特困人员", "低保对象")],
            "就医": [{"编号": "c1", "日期": "2024-03-01", "类别": "住院", "政策范围内费用": self_pay + 1000,
                      "基本医保支付": 1000, "大病保险支付": 0}]}


def test_per_amount_mode_leaves_differing_items_to_the_bill(money: Reasoner) -> None:
    d = money.decide({k: v for k, v in bill(1).items() if k != "就医"})
    assert d.item("救助比例", "住院").status == "视账单而定"
    assert {a.category: a.value for a in d.item("救助比例", "住院").lost} == {"甲类": "60%", "乙类": "90%"}
    assert d.item("年度救助限额", "住院").value == "100,000.00元"  # the candidates agree


@pytest.mark.parametrize("self_pay, winner, paid", [
    (10000, "甲类", 600000),    # 甲 10,000 × 60% = 6,000.00 > 乙 (10,000 − 5,000) × 90% = 4,500.00
    (15000, "甲类", 900000),    # crossover: 甲 9,000.00 = 乙 (15,000 − 5,000) × 90% = 9,000.00 → first in order
    (100000, "乙类", 8550000),  # 甲 60,000.00 < 乙 (100,000 − 5,000) × 90% = 85,500.00
])
def test_per_amount_mode_pays_the_higher_candidate_and_shows_the_comparison(money: Reasoner, self_pay: int, winner: str, paid: int) -> None:
    from reasoner.settle import settle

    (s,) = settle(money, bill(self_pay))
    (c,) = s.claims
    assert c.assistance == paid
    assert any(f"取「{winner}」" in r and "依「甲类」可得" in r and "依「乙类」可得" in r for r in c.reasons), c.reasons


def test_date_contexts_are_bounded(monkeypatch: pytest.MonkeyPatch):
    """A service meets 假设参数 without end: the kept contexts stay bounded and an evicted one is rebuilt
    to the same decision (第四类 deductible 10% × the assumed income: 龙政办规〔2022〕14号 二（四）1)."""
    import importlib

    from reasoner import PolicySet, Reasoner

    decide_module = importlib.import_module("reasoner.decide")  # (reasoner.decide is also the facade function)

    monkeypatch.setattr(decide_module, "CONTEXTS_KEPT", 3)
    r = Reasoner(PolicySet.load())
    def person(income: int) -> dict:
        return {"地区": "龙岩市", "日期": "2023-06-01", "事实": {"认定前当年已参保": "否"},
                "身份": [{"名称": "最低生活保障边缘家庭成员", "认定部门": "民政", "认定日期": "2022-01-01"}],
                "假设参数": {"上年度居民人均可支配收入": income, "年度救助限额": 50000}}
    first = r.decide(person(40000)).item("救助起付标准", "住院及门诊特殊病种").value
    for income in range(41000, 51000, 1000):
        r.decide(person(income))
    assert len(r._values) == 3 and len(r._ground_of_values) <= 3
    assert r.decide(person(40000)).item("救助起付标准", "住院及门诊特殊病种").value == first
    assert "4,000.00元" in first


@pytest.mark.parametrize("value", [0, {}, [], "否"])
def test_a_catastrophic_value_that_is_not_an_object_is_an_error_not_absent(value: object) -> None:
    """大病保险 is the ordinary catastrophic insurance's 起付线/分段/封顶线; a value that is not such an
    object must be reported on that field, not read as «not given» (which settles without it)."""
    from reasoner.person import parse_person

    with pytest.raises(RecordError) as err:
        parse_person({"地区": "龙岩市", "日期": "2024-03-01", "大病保险": value})
    assert err.value.field.startswith("大病保险")
    assert parse_person({"地区": "龙岩市", "日期": "2024-03-01", "大病保险": None}).catastrophic is None
