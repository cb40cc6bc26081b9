"""Why not more: what held a payout down, and what a better category would have paid.

Amounts are worked out by hand from 龙政办规〔2022〕14号 二（四）:
  1 “第一、二、三类救助对象不设救助起付标准，第四类救助对象按我市上年度居民人均可支配收入的 10%
     确定起付标准，第五类……25%”;
  2 “……第一类救助对象按 90% 比例救助，第二、三类救助对象按 70% 比例救助，第四类救助对象按 60%
     比例救助，第五类救助对象按 50% 比例救助。”
The statistics the document leaves open are assumed in each record (假设参数).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoner import load_policies
from reasoner.cli import main
from reasoner.why_not_more import why_not_more

LONGYAN = {"地区": "龙岩市", "日期": "2023-12-31", "事实": {"认定前当年已参保": "否"},
           "假设参数": {"上年度居民人均可支配收入": 40000, "年度救助限额": 45000}}


def longyan(identity: str, claims: list[dict], pid: str = "p") -> dict:
    return LONGYAN | {"编号": pid, "身份": [{"名称": identity, "认定部门": "民政", "认定日期": "2022-03-10"}], "就医": claims}


def claim(cid: str, date: str, scope: int, basic: int, **facts: str) -> dict:
    return {"编号": cid, "日期": date, "类别": "住院", "政策范围内费用": scope, "基本医保支付": basic, "大病保险支付": 0,
            "事实": {"按规定转诊": "是"} | facts}


@pytest.fixture(scope="module")
def reasoner():
    return load_policies()


def test_fourth_category_limits_and_better_categories(reasoner):
    # 第四类 (最低生活保障边缘家庭成员): self-pay 60,000 − 30,000 − 0 = 30,000.00;
    # deductible 10% × 40,000 = 4,000.00 (二（四）1); (30,000 − 4,000) × 60% = 15,600.00 (二（四）2);
    # the rate leaves 26,000 − 15,600 = 10,400.00 to the person.
    [w] = why_not_more(reasoner, longyan("最低生活保障边缘家庭成员", [claim("c1", "2023-05-01", 60000, 30000)]))
    assert w.paid == 1_560_000
    assert [(lim.kind, lim.amount, lim.citations[0].article) for lim in w.limits] == [
        ("起付标准", 400_000, "二（四）1"), ("救助比例", 1_040_000, "二（四）2")]
    # 第二、三类: no deductible, 30,000 × 70% = 21,000.00 (+5,400.00), the next better ones (a tie);
    # 第一类: 30,000 × 90% = 27,000.00 (+11,400.00); 第五类 pays less (25% deductible, 50%) and is not listed.
    assert [(a.category, a.total, a.next_better) for a in w.alternatives] == [
        ("第二类", 2_100_000, True), ("第三类", 2_100_000, True), ("第一类", 2_700_000, False)]
    first = w.alternatives[-1].why_not
    assert first.key == 'nonmember("第一类")'
    assert first.citations[0].article == "二（一）1"
    text = w.text()
    assert "「第二类」（紧邻的更优类别）：同样的就医可得 21,000.00元，多 5,400.00元" in text
    assert "个人记录中没有身份「特困供养人员」" in text


def test_cap_and_exclusion_limits(reasoner):
    # 第一类 (特困供养人员), cap assumed 45,000.00: c1 self-pay 60,000 × 90% = 54,000.00 → capped at 45,000.00,
    # cut 9,000.00 (二（四）2 “在年度救助限额内”); the rate leaves 6,000.00.
    # c2 not referred: “对未按规定转诊的救助对象，所发生的医疗费用原则上不纳入医疗救助范围。” → nothing paid.
    record = longyan("特困供养人员", [claim("c1", "2023-03-01", 90000, 30000),
                                   claim("c2", "2023-08-01", 20000, 10000, 按规定转诊="否")])
    [w] = why_not_more(reasoner, record)
    assert w.paid == 4_500_000
    kinds = [(lim.claim, lim.kind, lim.amount) for lim in w.limits]
    assert kinds == [("c1", "救助比例", 600_000), ("c1", "年度救助限额", 900_000), ("c2", "未予救助", 1_000_000)]
    assert "不纳入医疗救助范围" in w.limits[-1].text
    assert w.alternatives == []  # no category pays more than 第一类
    assert "二、更优的类别：无" in w.text()


def test_record_without_claims_compares_items(reasoner):
    record = longyan("最低生活保障边缘家庭成员", [])
    del record["就医"]
    [w] = why_not_more(reasoner, record)
    assert w.paid is None and w.limits == []
    first = next(a for a in w.alternatives if a.category == "第一类")
    assert "救助比例（住院及门诊特殊病种）：90%（现为 60%）" in first.better_items


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(longyan("最低生活保障边缘家庭成员", [claim("c1", "2023-05-01", 60000, 30000)])), encoding="utf-8")
    assert main(["explain", str(path), "--why-not-more", "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["schema"] == "yiliao-jiuzhu-reasoner/why-not-more/1"
    assert report["paid_fen"] == 1_560_000
    assert [(a["category"], a["gain_fen"]) for a in report["alternatives"]] == [("第二类", 540_000), ("第三类", 540_000), ("第一类", 1_140_000)]
    node = report["alternatives"][0]["why_not"]["nodes"][0]
    assert node["clauses"][0]["file"].endswith("longyan.rules")
