"""Batch audit of a payment ledger (reasoner.audit, reasoner.audit_report).

The fixture tests/audit/payments.csv plants one row of every finding type, one correct row
and four malformed rows against the real Longyan policy (龙政办规〔2022〕14号,
rules/longyan.rules) and the persons in tests/audit/persons.yaml. Its data rows are out of
date order on purpose (S02 before S01). Every amount below is worked out by hand from the
clause it rests on; the parameters are assumed (--param): 上年度居民人均可支配收入 40,000元,
年度救助限额 45,000元.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reasoner.audit import (CORRECT, DUPLICATE, ERROR, EXCLUDED, NOT_ELIGIBLE, NOT_HIGHEST, NOT_YET, OUTCOMES, OVER_CAP,
                            OVERPAID, UNDERPAID, AuditError, AuditFinding, AuditOptions, run_audit)
from reasoner.audit_report import render_html, summarise, write_outputs
from reasoner import PolicySet, Reasoner
from reasoner.tables import read_rows, write_rows

HERE = Path(__file__).resolve().parent / "audit"
_REASONER: list[Reasoner] = []


def shared_reasoner() -> Reasoner:
    """The bundled policies (rules/), loaded once for this module."""
    if not _REASONER:
        _REASONER.append(Reasoner(PolicySet.load(HERE.parent.parent / "rules")))
    return _REASONER[0]
PAYMENTS, PERSONS = HERE / "payments.csv", HERE / "persons.yaml"
PARAMS = {"上年度居民人均可支配收入": "40000", "年度救助限额": "45000"}

# row → (outcome, paid 分, due 分, at stake 分)
EXPECTED: dict[int, tuple[str, int | None, int | None, int]] = {
    # S02, P1 特困供养人员 = 第一类 (二（一）1): 90%, no deductible (二（四）2, 二（四）1).
    # Settled after S01 (date order): self-pay 100,000 − 50,000 − 10,000 = 40,000 × 90% = 36,000;
    # cap 45,000 (二（四）3) less 10,800 already due this year → room 34,200. Paid 36,000 → 1,800 beyond the cap.
    2: (OVER_CAP, 3_600_000, 3_420_000, 180_000),
    # S01, P1: 30,000 − 18,000 − 0 = 12,000 × 90% = 10,800 (二（四）2); paid 10,800.
    3: (CORRECT, 1_080_000, 1_080_000, 0),
    # S03: same 就诊流水号 V-A2 as S02, paid again: all 34,200 at stake (不得重复救助).
    4: (DUPLICATE, 3_420_000, 0, 3_420_000),
    # S04, P2 最低生活保障对象 = 第三类: 70%, no deductible: (20,000 − 12,000) × 70% = 5,600; paid 6,000 → 400 over.
    5: (OVERPAID, 600_000, 560_000, 40_000),
    # S05, P2 门诊特殊病种: (5,000 − 2,000) × 70% = 2,100; paid 2,000 → 100 under.
    6: (UNDERPAID, 200_000, 210_000, 10_000),
    # S06, P2 not referred (按规定转诊 否): 二（四）2 “未按规定转诊 … 不纳入医疗救助范围” → due 0; paid 2,800.
    7: (EXCLUDED, 280_000, 0, 280_000),
    # S07, P3 低保边缘 (第四类) + 重度残疾人 (第二类). 待遇就高 按 项目 (二（一）1): deductible 无 (第二类, 二（四）1),
    # rate 70% (第二类, 二（四）2): (30,000 − 15,000) × 70% = 10,500. The payer applied 第四类:
    # (15,000 − 4,000 deductible = 10% × 40,000) × 60% = 6,600 — what was paid. Under by 3,900.
    8: (NOT_HIGHEST, 660_000, 1_050_000, 390_000),
    # S08, P4 低保 recognised 2023-05-20, claim 2023-05-25: benefits from the next month (二（二） 生效 认定次月) → due 0.
    9: (NOT_YET, 280_000, 0, 280_000),
    # S09, P5 低保 ended 2023-02-01, claim 2023-08-01: no category that day (二（一）1) → due 0; paid 1,000.
    10: (NOT_ELIGIBLE, 100_000, 0, 100_000),
    # S10 政策范围内费用 "abc"; S11 unknown person P9; S12 P6's identity 低保户 is not a Longyan identity; S13 no 就医日期.
    11: (ERROR, None, None, 0),
    12: (ERROR, 280_000, None, 0),
    13: (ERROR, 280_000, None, 0),
    14: (ERROR, None, None, 0),
}
ERRORS = {11: "「政策范围内费用」无法识别的金额「abc」", 12: "人员编号「P9」不在人员文件中", 13: "没有身份「低保户」", 14: "缺少「就医日期」"}


def findings_of(payments: Path, persons: Path | None = PERSONS, **kw: object) -> list[AuditFinding]:
    options = AuditOptions(persons=persons, params=dict(PARAMS), progress=False, **kw)  # type: ignore[arg-type]
    with run_audit(shared_reasoner(), payments, options) as audit:
        return [f for chunk in audit.findings() for f in chunk]


@pytest.fixture(scope="module")
def findings() -> list[AuditFinding]:
    return findings_of(PAYMENTS)


def test_every_finding_type_planted_once_with_exact_amounts(findings: list[AuditFinding]) -> None:
    got = {f.row: (f.outcome, f.paid, f.due, f.at_stake) for f in findings}
    assert got == EXPECTED
    assert {f.outcome for f in findings} >= set(OUTCOMES)


def test_every_row_appears_once_in_input_order(findings: list[AuditFinding]) -> None:
    with open(PAYMENTS, encoding="utf-8") as handle:
        data_rows = sum(1 for _ in handle) - 1
    assert [f.row for f in findings] == list(range(2, 2 + data_rows))


def test_error_rows_say_why(findings: list[AuditFinding]) -> None:
    by_row = {f.row: f for f in findings}
    for row, text in ERRORS.items():
        assert text in by_row[row].reason, by_row[row].reason


def test_reasons_cite_clause_file_and_line(findings: list[AuditFinding]) -> None:
    by_row = {f.row: f for f in findings}
    cites = {2: "二（四）3", 3: "二（四）2", 7: "二（四）2", 8: "二（一）1", 9: "二（二）", 10: "二（一）1"}
    for row, article in cites.items():
        assert f"龙政办规〔2022〕14号 {article}〕（" in by_row[row].reason and "longyan.rules:" in by_row[row].reason
        assert by_row[row].clauses and by_row[row].clauses[0]["article"] == article
    assert "第2行（结算单号 S02）" in by_row[4].reason
    assert "按所用「第四类」只得 6,600.00元（与实付一致）" in by_row[8].reason


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def _fixture_rows() -> tuple[list[str], list[list[str]]]:
    with open(PAYMENTS, encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def test_rows_in_any_order_give_the_same_findings(tmp_path: Path, findings: list[AuditFinding]) -> None:
    header, rows = _fixture_rows()
    # reversed, but S02 kept before its duplicate S03 (which of two payments is the repeat is decided by file order)
    order = [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 0, 2, 1]
    assert sorted(order) == list(range(len(rows))) and order.index(0) < order.index(2)
    shuffled = tmp_path / "shuffled.csv"
    _write_csv(shuffled, header, [rows[i] for i in order])
    again = findings_of(shuffled)
    key = lambda f: (f.payment_id, f.outcome, f.paid, f.due, f.at_stake)  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, findings))
    assert [f.row for f in again] == list(range(2, 2 + len(rows)))


def test_excel_round_trip(tmp_path: Path, findings: list[AuditFinding]) -> None:
    header, rows = _fixture_rows()
    xlsx = tmp_path / "payments.xlsx"
    write_rows(xlsx, header, [dict(zip(header, r)) for r in rows])
    out = tmp_path / "findings.xlsx"
    options = AuditOptions(persons=PERSONS, params=dict(PARAMS), progress=False)
    with run_audit(shared_reasoner(), xlsx, options) as audit:
        write_outputs(audit, out=out)
    back = [row for chunk in read_rows(out) for _, row in chunk]
    assert [(int(r["行号"] or 0), r["结论"], int(r["涉及金额（分）"] or 0)) for r in back] == \
        [(f.row, f.outcome, f.at_stake) for f in findings]
    assert back[0]["实付金额（元）"] == "36000.00" and back[0]["应付金额（元）"] == "34200.00"


def test_mapping_file_renames_export_columns(tmp_path: Path, findings: list[AuditFinding]) -> None:
    header, rows = _fixture_rows()
    names = {"人员编号": "个人编号", "医疗救助支付": "救助金额", "按规定转诊": "是否转诊"}
    renamed = tmp_path / "export.csv"
    _write_csv(renamed, [names.get(h, h) for h in header], rows)
    mapping = tmp_path / "columns.yaml"
    mapping.write_text("列名:\n" + "".join(f"  {ours_as}: {ours}\n" for ours, ours_as in names.items()), encoding="utf-8")
    got = findings_of(renamed, columns=mapping)
    assert [(f.row, f.outcome, f.at_stake) for f in got] == [(f.row, f.outcome, f.at_stake) for f in findings]
    with pytest.raises(AuditError, match="缺少必需的列 人员编号、医疗救助支付.*--columns"):
        findings_of(renamed)


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    _write_csv(bad, ["结算单号", "人员编号", "就医日期"], [["S1", "P1", "2023-01-01"]])
    with pytest.raises(AuditError, match="就医类别、政策范围内费用、基本医保支付、医疗救助支付"):
        findings_of(bad)
    with pytest.raises(AuditError, match="地区、身份"):  # without --persons the payments carry the persons
        findings_of(bad, persons=None)


def test_persons_from_identity_columns_of_the_payments_file(tmp_path: Path) -> None:
    payments = tmp_path / "with_identities.csv"
    header = ["结算单号", "人员编号", "地区", "身份", "就医日期", "就医类别", "政策范围内费用", "基本医保支付", "大病保险支付",
              "医疗救助支付", "按规定转诊", "认定前当年已参保", "未按规定缴费参保", "家庭财产符合低保边缘家庭条件", "姓名"]
    person = ["P1", "龙岩市", "特困供养人员|民政|2021-01-01"]
    facts = ["是", "否", "否", "否", "张三"]
    _write_csv(payments, header, [
        ["S1", *person, "2023-03-01", "住院", "30000", "18000", "0", "10800", *facts],  # 12,000 × 90% = 10,800 (二（四）2)
        ["S2", *person, "2023-04-01", "住院", "10000", "6000", "0", "3000", *facts],  # 4,000 × 90% = 3,600; paid 3,000
    ])
    options = AuditOptions(params=dict(PARAMS), progress=False)
    with run_audit(shared_reasoner(), payments, options) as audit:
        got = [(f.outcome, f.at_stake) for chunk in audit.findings() for f in chunk]
        summary = summarise(audit)
    assert got == [(CORRECT, 0), (UNDERPAID, 60_000)]
    assert summary.unused_columns == ["姓名"]


QHD_PERSONS = """
- 编号: Q1
  地区: 秦皇岛市
  身份: [{名称: 低保边缘家庭成员, 认定部门: 民政, 认定日期: 2022-08-01}]
"""


def test_cross_province_without_filing_and_duplicate_cite_qinhuangdao(tmp_path: Path) -> None:
    """秦皇岛: 六（五） excludes a 跨省异地住院 without filing; 二（三）2 “不得重复救助” is cited for a repeat."""
    persons = tmp_path / "q.yaml"
    persons.write_text(QHD_PERSONS, encoding="utf-8")
    payments = tmp_path / "q.csv"
    header = ["结算单号", "人员编号", "就医日期", "就医类别", "政策范围内费用", "基本医保支付", "大病保险支付", "医疗救助支付",
              "跨省异地住院", "已备案"]
    _write_csv(payments, header, [
        # 低保边缘家庭成员: 住院 deductible 3,000 (annual), 77% (二（三）2): (40,000 − 22,000 − 3,000 − 3,000) × 77% = 9,240
        ["S1", "Q1", "2023-05-20", "住院", "40000", "22000", "3000", "9240", "否", "否"],
        ["S2", "Q1", "2023-05-20", "住院", "40000", "22000", "3000", "9240", "否", "否"],
        # out of province, never filed → no assistance (六（五）); paid 1,000
        ["S3", "Q1", "2023-09-02", "住院", "10000", "5000", "0", "1000", "是", "否"],
    ])
    got = findings_of(payments, persons=persons)
    assert [(f.outcome, f.at_stake) for f in got] == [(CORRECT, 0), (DUPLICATE, 924_000), (EXCLUDED, 100_000)]
    assert "不得重复救助" in got[1].clauses[0]["quote"]
    assert got[2].clauses[0]["article"].startswith("六（五）")


def test_html_report_holds_the_summary_offline(findings: list[AuditFinding]) -> None:
    options = AuditOptions(persons=PERSONS, params=dict(PARAMS), progress=False)
    with run_audit(shared_reasoner(), PAYMENTS, options) as audit:
        summary = summarise(audit)
    page = render_html(summary)
    # at stake: 1,800 + 34,200 + 400 + 100 + 2,800 + 3,900 + 2,800 + 1,000 = 47,000
    assert summary.at_stake == 4_700_000
    for text in ("47,000.00元", "34,200.00元", "3,900.00元", "重复救助", "未按待遇就高", "第三类", "<svg", "错误行"):
        assert text in page, text
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert summary.by_outcome[ERROR].count == 4 and summary.by_category["第三类"].count == 5


def test_cli_json_and_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "findings.csv"
    cmd = [sys.executable, "-m", "reasoner.cli", "audit", str(PAYMENTS), "--persons", str(PERSONS), "--json", "--out", str(out),
           "--html", str(tmp_path / "r.html")] + [a for k, v in PARAMS.items() for a in ("--param", f"{k}={v}")]
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 2, done.stderr  # malformed rows: exit 2, the rest still judged
    data = json.loads(done.stdout)
    assert data["schema"] == "yiliao-jiuzhu-reasoner/audit/1"
    assert [f["row"] for f in data["findings"]] == list(EXPECTED)
    assert data["summary"]["by_finding"][OVER_CAP] == {"count": 1, "at_stake_fen": 180_000}
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    assert out.read_text(encoding="utf-8-sig").count("\n") == 1 + len(EXPECTED)
