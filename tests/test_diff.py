"""What-if: the same population under two versions of the rules (reasoner.diff).

The changed rule: Longyan 二（四）2 raises 第四类's 救助比例 from 60% to 65%. By the text,
exactly the persons whose best rate comes from 第四类 change (those also in 第一类 to 第三类
keep 90% or 70% under 待遇就高), and each claim's assistance rises by 5% of what lies above
the 第四类 deductible, within the cap.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reasoner import PolicySet, Reasoner
from reasoner.diff import diff, render_svg
from reasoner.population import generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[PolicySet, PolicySet]:
    folder = tmp_path_factory.mktemp("new") / "rules"
    shutil.copytree(ROOT / "rules", folder)
    path = folder / "longyan.rules"
    path.write_text(path.read_text(encoding="utf-8").replace("第四类 60%；第五类 50%", "第四类 65%；第五类 50%"), encoding="utf-8")
    return PolicySet.load(ROOT / "rules"), PolicySet.load(folder)


def test_seeded_population_changes_exactly_the_fourth_category_persons(versions: tuple[PolicySet, PolicySet]) -> None:
    old, new = versions
    records = generate(old.policies["龙岩市医疗救助"], old.params, 400, seed=5)
    reasoner = Reasoner(old)
    expected = set()
    for i, r in enumerate(records):
        d = reasoner.decide(r)
        if "第四类" in d.categories and not {"第一类", "第二类", "第三类"} & set(d.categories):
            expected.add(i + 1)
    report = diff(old, new, records)
    assert expected, "the seeded population must hold some 第四类 persons"
    assert {c.row for c in report.changed} == expected
    assert all(c.items == [("救助比例（住院及门诊特殊病种）", "60%（第四类）", "65%（第四类）")] for c in report.changed)
    assert report.by_item == {("救助比例（住院及门诊特殊病种）", "增加"): len(expected)}


def person(pid: str, identity: str, self_pay: int) -> dict[str, object]:
    return {"编号": pid, "地区": "龙岩市", "日期": "2023-12-31",
            "身份": [{"名称": identity, "认定部门": "民政", "认定日期": "2022-01-01"}],
            "事实": {"认定前当年已参保": False, "未按规定缴费参保": False},
            "假设参数": {"上年度居民人均可支配收入": 40000, "年度救助限额": 45000},
            "就医": [{"编号": f"{pid}-1", "日期": "2023-06-01", "类别": "住院", "政策范围内费用": self_pay + 10000,
                      "基本医保支付": 10000, "大病保险支付": 0, "事实": {"按规定转诊": True}}]}


def test_budget_impact_of_the_rate_change_on_claims(versions: tuple[PolicySet, PolicySet]) -> None:
    old, new = versions
    records = [
        person("a", "最低生活保障边缘家庭成员", 14000),  # (14,000 − 4,000) × 65% − × 60% = 6,500 − 6,000 = 500.00
        person("b", "最低生活保障边缘家庭成员", 3000),   # below the 4,000 deductible: 0 either way, no change in money
        person("c", "最低生活保障边缘家庭成员", 84000),  # (84,000 − 4,000) × 60% = 48,000 → cap 45,000; × 65% = 52,000 → 45,000: no change
        person("d", "最低生活保障对象", 20000),          # 第三类 70%: untouched
    ]
    report = diff(old, new, records)
    assert report.settled
    by_id = {c.id: c.assistance_delta for c in report.changed}
    assert by_id == {"a": 50000, "b": 0, "c": 0}  # b and c change rate but not money; d does not change
    assert report.total_delta == 50000
    assert report.by_category == {"第四类": {"persons": 3, "assistance_delta": 50000}}
    svg = render_svg(report)
    assert svg.startswith("<svg") and "救助比例（住院及门诊特殊病种） 增加" in svg


def test_csv_population_keeps_bad_rows_in_place(tmp_path: Path) -> None:
    from reasoner.person import load_records

    csv = tmp_path / "people.csv"
    csv.write_text("编号,地区,日期,身份,认定前当年已参保,未按规定缴费参保\n"
                   "p1,龙岩市,2023-06-15,最低生活保障对象|民政|2023-01-10,否,否\n"
                   "p2,龙岩市,2023-13-01,,否,\n"
                   "p3,龙岩市,2023-06-15,重度残疾人|残联|2022-03-01；最低生活保障对象|民政|2023-01-10,否,否\n", encoding="utf-8")
    records = load_records(csv)
    out = Reasoner(PolicySet.load(ROOT / "rules")).decide_many(records)
    assert [type(o).__name__ for o in out] == ["Decision", "RecordError", "Decision"]
    assert out[2].categories == ["第二类", "第三类"]  # type: ignore[union-attr]
    assert "未按规定缴费参保" not in records[1]["事实"]  # an empty cell is a missing fact, not 否


def test_compare_one_person_under_two_regions(tmp_path: Path) -> None:
    import subprocess
    import sys

    person_file = tmp_path / "p.yaml"
    person_file.write_text("地区: 龙岩市\n日期: 2024-03-01\n身份:\n  - {名称: 低保对象, 认定部门: 民政, 认定日期: 2023-01-01}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "reasoner.cli", "compare", "秦皇岛市", "巴南区", "--person", str(person_file)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "参保资助（城乡居民医保） | 90%（低保对象）" in result.stdout and "参保资助（一档）" in result.stdout
