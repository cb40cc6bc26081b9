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
from reasoner.diff import diff, diff_file, histogram, render_chart, render_svg
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
    # the distribution: one non-zero change (a: +500.00元) in a 1元 bin; b, c and d settled with no change in money
    assert report.settled_persons == 4 and report.unchanged_money == 3
    assert report.to_json()["assistance_delta_distribution"] == {
        "unit": "分", "settled_persons": 4, "unchanged_persons": 3, "bins": [{"from_fen": 50000, "to_fen": 50100, "persons": 1}]}


def test_histogram_bins_are_round_half_open_and_at_most_twenty() -> None:
    # span 99,900 − (−150) = 100,050分 > 20 × 5,000: the width is 10,000分 (100元), starting at −10,000 (the
    # multiple below −150); 11 bins, −150 in [−10,000, 0), 250 in [0, 10,000), 99,900 in [90,000, 100,000)
    bins = histogram([-150, 250, 99900])
    assert bins == [(-10000, 0, 1), (0, 10000, 1)] + [(k * 10000, (k + 1) * 10000, 0) for k in range(1, 9)] + [(90000, 100000, 1)]
    assert histogram([]) == []


def test_chart_png_and_svg_show_the_distribution(versions: tuple[PolicySet, PolicySet], tmp_path: Path) -> None:
    old, new = versions
    report = diff(old, new, [person("a", "最低生活保障边缘家庭成员", 14000), person("d", "最低生活保障对象", 20000)])
    png, svg = tmp_path / "impact.png", tmp_path / "impact.svg"
    render_chart(report, png)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert render_chart(report, svg) == []  # SVG keeps the text as text: no font needed
    text = svg.read_text(encoding="utf-8")
    assert "1 人有变化；1 人金额不变，未画出；合计 500.00元" in text and "救助比例（住院及门诊特殊病种） 增加" in text
    with pytest.raises(ValueError, match="只支持"):
        render_chart(report, tmp_path / "impact.gif")


def test_chart_without_a_chinese_font_is_written_with_a_note(versions: tuple[PolicySet, PolicySet], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import reasoner.diff as diff_module

    monkeypatch.setattr(diff_module, "cjk_font", lambda: None)
    monkeypatch.setattr(diff_module, "CJK_FAMILIES", ())  # only DejaVu Sans: every Chinese glyph is missing
    old, new = versions
    report = diff(old, new, [person("a", "最低生活保障边缘家庭成员", 14000)])
    notes = render_chart(report, tmp_path / "impact.png")
    assert notes == [diff_module.NO_CJK_FONT] and (tmp_path / "impact.png").stat().st_size > 0


FLAT = ("编号", "地区", "日期", "身份", "认定前当年已参保", "未按规定缴费参保")
FLAT_ROWS = [  # 二（一）1: 低保边缘 → 第四类 (60% → 65%); 低保对象 → 第三类 (70%, untouched); a bad date
    {"编号": "p1", "地区": "龙岩市", "日期": "2023-06-15", "身份": "最低生活保障边缘家庭成员|民政|2023-01-10", "认定前当年已参保": "否", "未按规定缴费参保": "否"},
    {"编号": "p2", "地区": "龙岩市", "日期": "2023-06-15", "身份": "最低生活保障对象|民政|2023-01-10", "认定前当年已参保": "否", "未按规定缴费参保": "否"},
    {"编号": "p3", "地区": "龙岩市", "日期": "2023-13-01", "身份": None, "认定前当年已参保": "否", "未按规定缴费参保": None},
]


@pytest.mark.parametrize("suffix, rows", [(".xlsx", (2, 4)), (".parquet", (1, 3)), (".csv", (2, 4))])
def test_table_populations_are_streamed_with_their_row_numbers(versions: tuple[PolicySet, PolicySet], tmp_path: Path,
                                                               suffix: str, rows: tuple[int, int]) -> None:
    from reasoner.tables import write_rows

    old, new = versions
    path = tmp_path / f"people{suffix}"
    write_rows(path, FLAT, FLAT_ROWS)
    report = diff_file(old, new, path, chunk_size=1)  # one row per chunk: the stream, not the list
    changed_row, error_row = rows  # Excel and CSV count the header as row 1; Parquet numbers data rows from 1
    assert report.persons == 3
    assert [(c.row, c.id, c.items) for c in report.changed] == [
        (changed_row, "p1", [("救助比例（住院及门诊特殊病种）", "60%（第四类）", "65%（第四类）")])]
    assert [r for r, _ in report.errors] == [error_row] and "2023-13-01" in report.errors[0][1]
    assert not report.settled and report.to_json()["assistance_delta_distribution"] is None


def test_cli_diff_writes_the_chart_for_an_excel_population(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from reasoner.cli import main
    from reasoner.tables import write_rows

    folder = tmp_path / "new"
    shutil.copytree(ROOT / "rules", folder)
    rules = folder / "longyan.rules"
    rules.write_text(rules.read_text(encoding="utf-8").replace("第四类 60%；第五类 50%", "第四类 65%；第五类 50%"), encoding="utf-8")
    people = tmp_path / "people.xlsx"
    write_rows(people, FLAT, FLAT_ROWS[:2])
    code = main(["diff", str(ROOT / "rules"), str(folder), "--population", str(people), "--chart", str(tmp_path / "c.png"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["changed"] == 1 and out["persons_changed"][0]["row"] == 2
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


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


def test_what_if_facade_reads_a_population_file_and_writes_the_chart(versions: tuple[PolicySet, PolicySet], tmp_path: Path) -> None:
    from reasoner import what_if
    from reasoner.tables import write_rows

    old, new = versions
    people = tmp_path / "people.parquet"
    write_rows(people, FLAT, FLAT_ROWS[:2])
    report = what_if(old, new, people, chart=tmp_path / "impact.svg")
    assert [c.id for c in report.changed] == ["p1"] and report.chart == str(tmp_path / "impact.svg")
    assert report.to_json()["chart"] == str(tmp_path / "impact.svg") and report.notes == []


def test_streamed_generator_gives_the_same_population_as_generate(versions: tuple[PolicySet, PolicySet]) -> None:
    from reasoner.population import iter_records

    old, _ = versions
    policy = old.policies["龙岩市医疗救助"]
    assert list(iter_records(policy, old.params, 50, seed=7)) == generate(policy, old.params, 50, seed=7)
