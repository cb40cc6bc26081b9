"""The columnar settlement of a roster chunk (reasoner/settle_table.py) settles exactly what the per-row path settles.

A settle partition of flat roster rows (编号, 地区, 日期, 身份, one column per fact, and the
nested 假设参数, 大病保险, 就医 as JSON text) goes, on the exact path, row by row through
person.table_record, parse_person and settle.settle (batch_rows.settle_rows). settle_table
must give the same SETTLE_SCHEMA table cell for cell and row for row: the same totals in 分,
the same claim counts and 结算状态, the same 缺少, the same errors with the same Chinese
messages in the same rows, the same 行号 and 编号 (#N for a row without one). Each test builds
a table, settles it both ways with one shared Reasoner and compares column by column; a
failure names the first differing row (its 行号 and 编号), the column, both values and the
input row.
"""
from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.roster import FACTS, SETTLE_COLUMNS, flat_row
from bench.settle_generate import generate_settle
from reasoner.batch_rows import settle_rows
from reasoner.decide import Reasoner
from reasoner.partition import SETTLE_SCHEMA, ArrowRows
from reasoner.policies import PolicySet
from reasoner.settle_table import settle_table
from reasoner.tables import row_dicts
from table_support import as_dictionaries

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "rules"
CASES = HERE / "settle_cases"
ERROR = "错误"  #: partition.ERROR_STATUS
#: the ordinary 大病保险 parameters of bench.settle_generate and tests/settle_cases/longyan.yaml (元)
ORDINARY = {"起付线": 13000, "分段": [{"起": 13000, "止": 100000, "比例": "60%"}, {"起": 100000, "止": 150000, "比例": "65%"},
                                      {"起": 150000, "比例": "70%"}], "封顶线": 400000}
ASSUMED = {"上年度居民人均可支配收入": 40000, "最低生活保障边缘家庭标准": 12600, "年度救助限额": 40000}


@pytest.fixture(scope="module")
def reasoner() -> Reasoner:
    """One Reasoner for the whole module (its caches are what make the exact path affordable)."""
    return Reasoner(PolicySet.load(RULES))


# ------------------------------------------------------------------ comparison
def expected_table(reasoner: Reasoner, table: pa.Table, first: int, year: int | None) -> pa.Table:
    """The exact per-row path (batch_rows.settle_rows): the chunk's rows as ArrowRows reads them
    (tables.row_dicts), each through table_record, parse_person and settle.settle, errors in place."""
    rows = ArrowRows(first, table).rows()
    return pa.Table.from_pydict(settle_rows(reasoner, rows, True, year), schema=SETTLE_SCHEMA)


def assert_same(reasoner: Reasoner, table: pa.Table, first: int, year: int | None) -> pa.Table:
    """settle_table(reasoner, table, first, year) equals the exact path; returns the (equal) result."""
    expected = expected_table(reasoner, table, first, year)
    got = settle_table(reasoner, table, first, year)
    # a Parquet chunk's few-valued columns come as dictionaries: read once per distinct cell, settled the same
    assert settle_table(reasoner, as_dictionaries(table), first, year).equals(got)
    assert isinstance(got, pa.Table), f"settle_table returned {type(got).__name__}, not a pyarrow.Table"
    assert got.schema == SETTLE_SCHEMA, f"schema differs:\n--- settle_table\n{got.schema}\n--- SETTLE_SCHEMA\n{SETTLE_SCHEMA}"
    assert got.num_rows == expected.num_rows, \
        f"settle_table gave {got.num_rows} rows for {table.num_rows} input rows (first={first}, year={year}); the exact path {expected.num_rows}"
    for name in SETTLE_SCHEMA.names:
        have, want = got.column(name).to_pylist(), expected.column(name).to_pylist()
        if have != want:
            diff = [k for k in range(len(want)) if have[k] != want[k]]
            k = diff[0]
            raw = row_dicts(table.slice(k, 1))[0]
            pytest.fail(
                f"settle_table differs from the exact path (first={first}, year={year}) at 行号 {first + k} "
                f"(chunk row {k}, 编号 {raw.get('编号')!r}), column 「{name}」:\n"
                f"  settle_table: {have[k]!r}\n  exact path:   {want[k]!r}\n"
                f"  ({len(diff)} of {len(want)} rows differ in this column)\n"
                f"  exact row:    {expected.slice(k, 1).to_pylist()[0]}\n"
                f"  input row:    {_shown({c: v for c, v in raw.items() if v is not None})}",
                pytrace=False)
    return expected


def _shown(row: dict[str, Any], limit: int = 1500) -> str:
    text = json.dumps(row, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"…（共 {len(text)} 字符）"


# ------------------------------------------------------------------ building tables
def string_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> pa.Table:
    """Rows as an Arrow table with every column pa.string() (None for an empty cell); the columns
    are the given ones, or the union of the rows' keys in first-seen order."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})


def _iso(value: Any) -> Any:
    """YAML loads dates as datetime.date: as ISO text, recursively, so that json.dumps can write them."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value


def record_row(record: dict[str, Any]) -> dict[str, str | None]:
    """Any person record as a roster row: bench.roster.flat_row (身份 as 名称|认定部门|认定日期[|终止日期]
    joined by ；, the nested fields as JSON text), plus a column for every fact of the record that
    is not one of the Longyan FACTS flat_row writes (flat_row's text of a value: str)."""
    record = _iso(record)
    row = flat_row(record, SETTLE_COLUMNS)
    row.update({k: None if v is None else str(v) for k, v in (record.get("事实") or {}).items() if k not in FACTS})
    return row


def generated_rows(n: int, seed: int) -> list[dict[str, str | None]]:
    return [flat_row(r, SETTLE_COLUMNS) for r in generate_settle(n, seed=seed)]


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    """(file stem, case) of every settlement case in tests/settle_cases, file by file in name order."""
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        out += [(path.stem, case) for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []]
    return out


@pytest.fixture(scope="module")
def roster() -> pa.Table:
    """3000 generated Longyan persons with claims (bench.settle_generate, seed 11), as a string table."""
    return string_table(generated_rows(3000, seed=11), SETTLE_COLUMNS)


# ------------------------------------------------------------------ (a) a generated roster
def test_a_generated_roster_is_settled_identically(reasoner: Reasoner, roster: pa.Table) -> None:
    """All years of 3000 generated persons (1–5 claims each, in their decision year; categories
    changing within the year, the tilt for 第一类/第三类, caps and the upper catastrophic segments
    reached by the grave cases): the bulk case settle_table exists for."""
    out = assert_same(reasoner, roster, 1, None)
    assert out.column("行号").to_pylist() == list(range(1, 3001))
    assert set(out.column("状态").to_pylist()) == {"已结算"}  # every generated person has a claim
    assert set(out.column("年度").to_pylist()) == {"2023", "2024", "2025"}
    outcomes = "；".join(out.column("结算状态").to_pylist())
    assert "已结算" in outcomes and "不予救助" in outcomes
    assert sum(1 for v in out.column("大病保险支付（分）").to_pylist() if v) > 1000


@pytest.mark.parametrize("year", [2024, 2023])
def test_a_generated_roster_settled_for_one_year(reasoner: Reasoner, roster: pa.Table, year: int) -> None:
    """Only one calendar year: the persons whose claims are all in another year become 无就医记录
    with 年度 the year asked (settle() then returns one empty settlement, not none)."""
    out = assert_same(reasoner, roster, 1, year)
    assert set(out.column("年度").to_pylist()) == {str(year)}
    assert {"已结算", "无就医记录"} <= set(out.column("状态").to_pylist())


def test_a_stress_roster_where_the_caps_bind_is_settled_identically(reasoner: Reasoner) -> None:
    """bench/settle_run's stress population: everyone gravely ill, claims up to 1,000,000元, so the
    annual assistance caps, the catastrophic cap and the top segments bind claim after claim."""
    rows = [flat_row(r, SETTLE_COLUMNS) for r in generate_settle(800, seed=12, severe=1.0, cost_max=1_000_000_00)]
    out = assert_same(reasoner, string_table(rows, SETTLE_COLUMNS), 1, None)
    assert max(out.column("大病保险支付（分）").to_pylist()) > 100_000_00


# ------------------------------------------------------------------ (b) the hand-computed cases
def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """A case's person with claims of the form a columnar reader takes: claim fact values as text
    (医院等级 3 → "3"), no 大病保险支付 or 备案日期 (so the catastrophic layer is computed), and the
    ordinary 大病保险 parameters where the record has none. Not the case any more, but a person all
    the same: what it is settled to must still be what the exact path settles it to."""
    record = _iso(record)
    for claim in record.get("就医") or []:
        claim.pop("大病保险支付", None)
        claim.pop("备案日期", None)
        if isinstance(claim.get("事实"), dict):
            claim["事实"] = {k: str(v) for k, v in claim["事实"].items()}
    record.setdefault("大病保险", ORDINARY)
    return record


@pytest.mark.parametrize("variant", ["as written", "canonical"])
def test_every_settlement_case_of_the_five_regions_is_settled_identically(reasoner: Reasoner, variant: str) -> None:
    """Every worked case of tests/settle_cases (five regions: 龙岩市, 福建省, 秦皇岛市, 巴南区, 长治市)
    as one roster: other policies, their own facts (columns a Longyan row leaves empty) and claim
    facts, given 大病保险支付, 备案日期, shared and per-project caps, 救助后 projects, 待遇就高 by the
    bill, and claims the cases settle by hand. "as written" sends many rows (given 大病保险支付,
    numeric claim facts) the exact way; "canonical" (see canonical()) makes nearly all of them
    columnar rows, so the other four policies' arithmetic is checked column-wise too."""
    cases = load_cases()
    convert = (lambda r: r) if variant == "as written" else canonical
    table = string_table([record_row(convert(case["input"])) for _, case in cases])
    out = assert_same(reasoner, table, 1, None)
    assert {stem for stem, _ in cases} >= {"banan", "changzhi", "fujian", "longyan", "qinhuangdao"}
    assert ERROR not in out.column("状态").to_pylist(), "record_row must carry the cases over faithfully"
    assert len(set(out.column("地区").to_pylist())) == 5


# ------------------------------------------------------------------ (c) odd rows
EDGE = "最低生活保障边缘家庭成员|民政|2022-05-01"  #: Longyan 第四类: deductible 10% × 40,000, rate 60%
POOR = "特困供养人员|民政|2019-03-01"  #: Longyan 第一类: the catastrophic tilt, rate 100%


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _claim(**fields: Any) -> dict[str, Any]:
    """A Longyan 住院 claim of 2024 (12,000 − 7,000 basic, referred); a field given as ... is left out."""
    claim = {"编号": "c1", "日期": "2024-04-10", "类别": "住院", "政策范围内费用": 12000, "基本医保支付": 7000,
             "事实": {"按规定转诊": "是"}}
    claim.update(fields)
    return {k: v for k, v in claim.items() if v is not ...}


def _odd(claims: list[dict[str, Any]] | None = None, **cells: Any) -> dict[str, Any]:
    """A Longyan 低保边缘 roster row with every fact and parameter and one ordinary claim, overridden by cells."""
    row = {"编号": "ODD", "地区": "龙岩市", "日期": "2024-12-31", "身份": EDGE, "认定前当年已参保": "否", "未按规定缴费参保": "否",
           "假设参数": _j(ASSUMED), "大病保险": _j(ORDINARY), "就医": _j([_claim()] if claims is None else claims)}
    row.update(cells)
    return row


ODD_ROWS: list[dict[str, Any]] = [
    _odd(),  # the plain row the others vary
    _odd(就医="not json"),  # 就医 not JSON: an error naming 就医
    _odd(就医=_j(_claim())),  # 就医 a JSON object instead of a list: an error naming 就医
    _odd(就医='"abc"'),  # 就医 a JSON string instead of a list: an error naming 就医
    _odd([_claim(基本医保支付=...)]),  # a claim without 基本医保支付: a required field
    _odd([_claim(备注="急诊")]),  # a claim with an unknown key
    _odd([_claim(政策范围内费用="1,200.50", 基本医保支付=500)]),  # thousands separator in a text amount
    _odd([_claim(政策范围内费用="1.2万元")]),  # an amount in 万元
    _odd([_claim(政策范围内费用=10.005, 基本医保支付=5)]),  # three decimals: below 1 分, an error
    _odd([_claim(政策范围内费用="7404.000", 基本医保支付=3452)]),  # three decimals that are zero: valid
    _odd([_claim(基本医保支付=-5)]),  # a negative amount
    _odd([_claim(基本医保支付=13000)]),  # 基本医保支付 greater than 政策范围内费用
    _odd([_claim(日期="2024-02-30")]),  # a date that does not exist
    _odd([_claim(日期="2024/3/1")]),  # a date in another format
    _odd([_claim(类别="牙科")]),  # an unknown 就医类别: the decision rejects it
    _odd([_claim(事实={"按规定转诊": "是", "外来事实": "1"})]),  # an unknown claim fact
    _odd([_claim(事实={"按规定转诊": "也许"})]),  # a claim fact value that is neither 是 nor 否
    _odd([_claim(事实={})]),  # the claim fact missing: the claim cannot be settled (缺少)
    _odd([_claim(事实={"按规定转诊": True})]),  # a JSON boolean for 是
    _odd([_claim(大病保险支付=1000)]),  # 大病保险支付 given: the catastrophic layer is not computed
    _odd([_claim(政策范围内费用=150000, 基本医保支付=60000, 大病保险支付=0)]),  # given as 0 (not "missing")
    _odd([_claim(备案日期="2024-04-20")]),  # a claim with 备案日期
    _odd([_claim(编号="c1", 日期="2024-08-01"), _claim(编号="c2", 日期="2024-03-01", 政策范围内费用=30000),
          _claim(编号="c3", 日期="2024-03-01", 类别="门诊特殊病种", 政策范围内费用=9000, 基本医保支付=2000)]),  # out of date order; two on one date
    _odd([_claim(编号="c1", 日期="2023-08-01"), _claim(编号="c2", 日期="2024-03-01")]),  # claims in two calendar years
    _odd([_claim(编号=...), _claim(编号=..., 日期="2024-05-01")]),  # claims without 编号 (ids derived)
    _odd([]),  # an empty 就医 list: 无就医记录
    _odd(就医=None),  # no 就医 cell at all
    _odd(就医="  "),  # a 就医 cell of blanks: trimmed to empty
    _odd(大病保险=None),  # no 大病保险: the ordinary catastrophic layer is missing, the claim 无法结算
    _odd(大病保险="{bad"),  # 大病保险 not JSON
    _odd(大病保险=_j({"起付线": 13000, "分段": [{"起": 13000}]})),  # a segment without 比例
    _odd(大病保险="0"),  # 0 is not a 大病保险 object: the row's error, not absent
    _odd(大病保险="{}"),  # an empty object lacks 起付线 and 分段: the row's error
    _odd([_claim(政策范围内费用=120000, 基本医保支付=7000)], 大病保险=_j({**ORDINARY, "分段": [{"起": 13000, "比例": "160%"}]})),  # a rate above 100% the exact path accepts
    _odd(身份="外星人|民政|2020-01-01"),  # an unknown identity (the decision rejects it)
    _odd(身份="外星人|民政|2020-01-01", 就医="[]"),  # the same without claims: still the row's error (checked as its decision would be)
    _odd(身份="特困供养人员|民政"),  # an identity with too few parts
    _odd(身份=f"{POOR};重度残疾人|残联|2020-01-01；"),  # ASCII ; and a trailing separator
    _odd(身份=None),  # no identity at all
    _odd(日期="2024-13-01"),  # a bad person 日期
    _odd(日期=" 2024-12-31 "),  # blanks around a date cell: trimmed
    _odd(假设参数=_j({**ASSUMED, "年度救助限额": "abc"})),  # a bad 假设参数 amount
    _odd(假设参数=None),  # no parameters: deductible and cap undecided
    _odd(假设参数="[1]"),  # 假设参数 not an object
    _odd(身份="最低生活保障边缘家庭成员|民政|2024-06-01"),  # the claim falls before the identity's recognition
    _odd(身份="最低生活保障边缘家庭成员|民政|2022-05-01|2024-01-31"),  # the identity ended before the claim
    _odd(地区="火星市"),  # a region with no policy
    _odd(地区="火星市", 就医="[]"),  # the same without claims: no policy is looked for
    _odd(编号=None),  # no 编号: the id becomes #N, N the row number
    _odd(编号="  P 2  "),  # 编号 trimmed
    _odd([_claim(事实={"按规定转诊": "否"})]),  # not referred: excluded, 不予救助
    _odd([_claim(政策范围内费用=12000, 基本医保支付=7000)]),  # JSON ints
    _odd([_claim(政策范围内费用=12000.5, 基本医保支付=7000.2)]),  # floats with one decimal
    _odd([_claim(政策范围内费用=12000.55, 基本医保支付=7000.25)]),  # floats with two decimals
    _odd([_claim(政策范围内费用=299999.99, 基本医保支付=100000.5)]),  # very large: upper catastrophic segments, the cap
    _odd([_claim(编号="c1", 政策范围内费用=299999.99, 基本医保支付=100000),
          _claim(编号="c2", 日期="2024-09-01", 政策范围内费用=80000, 基本医保支付=30000)]),  # the second claim meets an exhausted cap
    _odd([_claim(政策范围内费用=299999.99, 基本医保支付=100000.5)], 身份=POOR),  # 第一类: the tilted catastrophic layer
    _odd([_claim(政策范围内费用=" 12000 ", 基本医保支付="7000元")]),  # blanks and 元 inside a text amount
    _odd([_claim(政策范围内费用=10**16, 基本医保支付=0)]),  # an absurd but valid JSON int (10¹⁸ 分 still fits int64)
    _odd([_claim(政策范围内费用=999999999999.99, 基本医保支付=0.01)]),  # a float just below 10¹² 元
    _odd([_claim(政策范围内费用=7000, 基本医保支付=7000)]),  # basic pays everything: nothing left
    _odd([_claim(政策范围内费用=0, 基本医保支付=0)]),  # a claim of 0
    _odd([_claim(政策范围内费用=-0.0, 基本医保支付=-0.0)]),  # negative zero reads as 0
    _odd([_claim(日期="２０２４-０４-１０")]),  # full-width digits: \d matches them, fromisoformat does not
    _odd([_claim(日期="2019-01-01")]),  # a claim before any Longyan policy is in force: a selection error
    _odd([_claim(日期="2099-01-01")]),  # after the Longyan policy: its parent (福建省) is selected
    _odd([_claim(类别=" 住院 ")]),  # blanks inside a JSON 类别 are not trimmed: unknown kind
    _odd([_claim(事实={"按规定转诊": " 是 "})]),  # blanks inside a claim fact value
    _odd([_claim(事实={"按规定转诊": "yes"})]),  # other spellings parse_bool reads
    _odd([_claim(事实={"按规定转诊": "1"})]),
    _odd([_claim(事实={"按规定转诊": ""})]),  # an empty claim fact value: an error, not missing
    _odd([_claim(编号=5)]),  # a numeric claim 编号
    _odd([_claim(编号=None)]),  # a null claim 编号
    _odd([_claim(), _claim(日期="2024-05-01")]),  # two claims with the same 编号
    _odd(编号="007"),  # a 编号 that looks like a number stays text
    _odd(日期="1990-01-01"),  # a person 日期 long before the claims: the claims' dates decide
    _odd(日期="2099-01-01"),
    _odd(待遇年度="2023"),  # 待遇年度: the parameters of another year
    _odd(待遇年度="1900"),  # an impossible 待遇年度: an error
    _odd(待遇年度="２０２３"),  # full-width digits: isdigit() is true, int() reads them
]

#: persons of the other four regions, from their worked cases (the first two cases of each file)
OTHER_REGIONS = ("banan", "changzhi", "fujian", "qinhuangdao")


def odd_roster() -> tuple[list[dict[str, Any]], int]:
    """200 generated persons with the odd rows and the other regions' rows interleaved
    (one after every third generated row); returns the rows and the position of the odd row without 编号."""
    others = []
    for stem in OTHER_REGIONS:
        others += [record_row(case["input"]) for s, case in load_cases() if s == stem][:2]
    named = [{**r, "编号": f"ODD{k:02d}"} if r.get("编号") == "ODD" else r for k, r in enumerate(ODD_ROWS)]  # ODDkk: ODD_ROWS[kk]
    odd = [*named[:len(named) // 2], *others, *named[len(named) // 2:]]
    rows = []
    for k, row in enumerate(generated_rows(200, seed=5)):
        rows.append(row)
        if k % 3 == 2 and odd:
            rows.append(odd.pop(0))
    rows += odd
    no_id = next(k for k, r in enumerate(rows) if r.get("地区") == "龙岩市" and r.get("编号") is None)
    return rows, no_id


@pytest.mark.parametrize("first", [1, 1001])
@pytest.mark.parametrize("year", [None, 2024, 2023])
def test_odd_rows_in_a_generated_roster_are_settled_identically(reasoner: Reasoner, year: int | None, first: int) -> None:
    """≈ 80 deliberately odd rows (each commented in ODD_ROWS: malformed JSON cells, bad or unusual
    amounts and dates, unknown kinds, facts, identities and regions, missing parameters, given
    catastrophic payments, claims out of order or over two years, caps reached) and rows of the
    other four regions, interleaved with generated Longyan persons: every error row keeps its
    Chinese message in place, row numbers follow `first`, and a row without 编号 is #N."""
    rows, no_id = odd_roster()
    columns = list(dict.fromkeys([*SETTLE_COLUMNS, *(k for r in rows for k in r)]))
    out = assert_same(reasoner, string_table(rows, columns), first, year)
    assert out.column("行号").to_pylist() == list(range(first, first + len(rows)))
    assert out.column("编号").to_pylist()[no_id] == f"#{first + no_id}"
    statuses = set(out.column("状态").to_pylist())
    assert {"已结算", "无就医记录", ERROR} <= statuses


def test_a_row_with_nothing_to_settle_is_still_checked(reasoner: Reasoner) -> None:
    """No claim (of the year) is 无就医记录 — but only for a record its decision on 日期 would read:
    地区 火星市 is the row's error on 地区 whatever its claims, and so is an identity the policy in
    force does not know, or a 日期 on which no policy of the region is in force."""
    rows = [_odd(地区="火星市", 就医="[]"), _odd(就医="[]"), _odd(地区="火星市"), _odd(身份="外星人|民政|2020-01-01", 就医="[]"),
            _odd(日期="2019-01-01", 就医="[]")]
    out = assert_same(reasoner, string_table(rows, list(dict.fromkeys(k for r in rows for k in r))), 1, None)
    assert out.column("状态").to_pylist() == [ERROR, "无就医记录", ERROR, ERROR, ERROR]
    assert out.column("错误字段").to_pylist() == ["地区", None, "地区", "身份[0].名称", "日期"]
    for year in (2023, 2024):  # settled for one year: the claims of the other year are not settled
        out = assert_same(reasoner, string_table([_odd([_claim(日期="2024-05-01")], 身份="外星人|民政|2020-01-01")], SETTLE_COLUMNS), 1, year)
        assert out.column("错误字段").to_pylist() == ["身份[0].名称"]


LARGEST = "9999999999999.99"  #: the largest amount numeric.parse_money takes (|amount| < 10 万亿元)


def test_the_largest_amounts_settle_identically_and_larger_ones_are_errors(reasoner: Reasoner) -> None:
    """Amounts at numeric.MAX_FEN: a 第一类 person (the Longyan tilt: no catastrophic cap) with ten
    claims of the largest amount a record may give. The year's running catastrophic base (10¹⁶
    分) times a segment rate's numerator would leave int64 in a column-wise sum, so the row must
    settle exactly as Settler settles it in Python integers (settle_table sends it the exact way).
    One 分 more is the claim's own error, naming the field, and the chunk goes on."""
    claims = [_claim(编号=f"c{k + 1}", 日期=f"2024-{k + 1:02d}-10", 政策范围内费用=float(LARGEST), 基本医保支付=0) for k in range(10)]
    too_big = [_claim(编号="c1", 日期="2024-01-10", 政策范围内费用=10**13, 基本医保支付=0)]
    rows = [_odd(编号="P1"), _odd(claims, 编号="BIG", 身份=POOR), _odd(too_big, 编号="HUGE", 身份=POOR), _odd(编号="P4")]
    out = assert_same(reasoner, string_table(rows), 1, None)
    assert out.column("状态").to_pylist() == ["已结算", "已结算", ERROR, "已结算"]
    assert out.column("错误字段").to_pylist()[2] == "就医[0].政策范围内费用"


def test_totals_beyond_int64_are_the_rows_error_and_the_chunk_goes_on(reasoner: Reasoner) -> None:
    """9,300 claims of the largest amount (10¹⁵ 分 less one each) make totals above 2⁶³ − 1 分, which
    no int64 output column holds: that row is an error on 就医 (it failed the whole chunk before),
    the row after it is settled as usual, on both paths."""
    claims = [_claim(编号=f"c{k}", 政策范围内费用=float(LARGEST), 基本医保支付=0) for k in range(9300)]
    out = assert_same(reasoner, string_table([_odd(claims, 编号="MANY"), _odd(编号="P2")]), 1, None)
    assert out.column("状态").to_pylist() == [ERROR, "已结算"]
    assert out.column("错误字段").to_pylist() == ["就医", None]
    assert out.column("医疗救助（分）").to_pylist()[0] is None


# ------------------------------------------------------------------ (d) random mutations
#: the persons hypothesis draws from (copied before each mutation): generated Longyan persons and
#: the canonical() persons of the other four regions' cases
POOL = generate_settle(30, seed=3) + [canonical(case["input"]) for stem, case in load_cases() if stem in ("banan", "changzhi", "fujian", "qinhuangdao")]
#: how a claim's two amounts are rewritten; all valid but "negative" (an error) and "cents" (valid unless basic > cost)
AMOUNT_FORMATS = ["keep", "text", "comma", "wan", "float", "three", "blanks", "yuan", "negative", "cents"]
#: each list mostly valid values, so that most persons are settled and not only rejected
SCALES = [1, 1, 2, 5, 20]  #: both amounts multiplied: caps and the upper catastrophic segments are reached
BASIC = ["keep", "keep", "zero", "all", "half", "over"]  #: 基本医保支付 as 0, = cost, cost/2 (maybe 0.5 分), cost + 1
BAD_AMOUNTS = ["abc", "1e3", 10.005, None, True, "", "1.5万"]
DATES = ["2023-01-01", "2023-12-31", "2024-02-29", "2024-07-01", "2024-12-31", "2025-06-30", "2023-02-29", "2024/3/1", "20240301", None]
KINDS = ["住院", "门诊特殊病种", "住院", "门诊特殊病种", "门诊", "牙科", ""]
CLAIM_FACTS = [{"按规定转诊": "是"}, {"按规定转诊": "否"}, {"按规定转诊": " 是 "}, {}, None, {"按规定转诊": "也许"},
               {"外来": "是"}, {"按规定转诊": True}]
GIVEN_CATASTROPHIC = [0, 100, 1000.5, "2,000", "abc"]


def _reformat(amount: Any, how: str) -> Any:
    """An amount (int 元, or a float with at most two decimals) written another way."""
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or how == "keep":
        return amount
    exact = Decimal(str(amount))
    return {
        "text": str(exact), "comma": f"{exact:,.2f}", "wan": f"{format(exact / 10000, 'f')}万元",
        "float": float(amount), "three": f"{exact:.3f}", "blanks": f"  {exact} ", "yuan": f"{exact}元",
        "negative": -amount, "cents": float(exact + Decimal("0.01")),
    }[how]


KEEP = "keep"  #: an edit that leaves the field as generated


def _mostly_kept(values: list[Any], kept: int = 4) -> st.SearchStrategy[Any]:
    """One of values, or (kept times as likely as each of them) KEEP."""
    return st.sampled_from([KEEP] * kept + values)


CLAIM_EDIT = st.fixed_dictionaries({
    "format": st.sampled_from(AMOUNT_FORMATS), "scale": st.sampled_from(SCALES), "basic": st.sampled_from(BASIC),
    "政策范围内费用": _mostly_kept(BAD_AMOUNTS, 10),
    "大病保险支付": _mostly_kept(GIVEN_CATASTROPHIC, 6),
    "日期": _mostly_kept(DATES, 6),
    "类别": _mostly_kept(KINDS),
    "事实": _mostly_kept(CLAIM_FACTS),
    "备案日期": _mostly_kept(["2024-01-05", "bad", None], 12),
})
PERSON = st.tuples(
    st.integers(0, len(POOL) - 1),  # which generated person
    st.lists(CLAIM_EDIT, max_size=3),  # edits, applied to claim k mod the number of claims
    st.sampled_from(["keep", "keep", "keep", "drop", "duplicate", "reverse", "none", "empty", "no 大病保险", "火星市", "福建省",
                     "numeric facts"]),
)


def _edit_claim(claim: dict[str, Any], original: dict[str, Any], drawn: dict[str, Any]) -> None:
    """Apply one drawn edit to a claim; the amounts are computed from the generated (numeric) ones,
    so a second edit of the same claim starts again from them."""
    edit = dict(drawn)  # the drawn dict stays as hypothesis made it
    how, scale, basic = edit.pop("format"), edit.pop("scale"), edit.pop("basic")
    cost = Decimal(str(original["政策范围内费用"])) * scale
    paid = {"keep": Decimal(str(original["基本医保支付"])) * scale, "zero": Decimal(0), "all": cost,
            "half": cost / 2, "over": cost + 1}[basic]
    for name, value in (("政策范围内费用", cost), ("基本医保支付", paid)):
        number = int(value) if value == value.to_integral_value() else float(value)
        claim[name] = _reformat(number, how)
    claim.update({k: v for k, v in edit.items() if v != KEEP})


def _mutated(index: int, edits: list[dict[str, Any]], change: str) -> dict[str, str | None]:
    record = copy.deepcopy(POOL[index])
    claims = record["就医"]
    for k, drawn in enumerate(edits):
        if claims:
            _edit_claim(claims[k % len(claims)], POOL[index]["就医"][k % len(claims)], drawn)
    if change == "drop" and claims:
        claims.pop()
    elif change == "duplicate" and claims:
        claims.append(dict(claims[0]))  # the same 编号 twice
    elif change == "reverse":
        claims.reverse()
    elif change == "no 大病保险":
        record["大病保险"] = None
    elif change in ("火星市", "福建省"):
        record["地区"] = change
    elif change == "numeric facts":  # 是 as true, digits as numbers: the exact way
        for claim in claims:
            facts = claim.get("事实")
            if isinstance(facts, dict):
                claim["事实"] = {k: True if v == "是" else int(v) if isinstance(v, str) and v.isdigit() else v for k, v in facts.items()}
    row = flat_row(record, SETTLE_COLUMNS)
    if change == "none":
        row["就医"] = None
    elif change == "empty":
        row["就医"] = "[]"
    return row


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(persons=st.lists(PERSON, min_size=1, max_size=8), year=st.sampled_from([None, None, 2023, 2024, 2025]),
       first=st.integers(1, 1_000_000))
def test_random_claim_mutations_are_settled_identically(reasoner: Reasoner, persons: list[Any], year: int | None, first: int) -> None:
    """Generated persons whose claim cells hypothesis rewrites (amounts scaled up to the caps, as
    text, with separators, in 万元, with 元, as floats, with three decimals, negative, invalid;
    基本医保支付 0, all, half or over the cost; other dates, kinds and claim facts; given catastrophic
    payments and 备案日期; claims dropped, duplicated, reversed; no 就医, no 大病保险, another
    region), settled with a random year and first row number."""
    rows = [_mutated(*person) for person in persons]
    assert_same(reasoner, string_table(rows, SETTLE_COLUMNS), first, year)


# ------------------------------------------------------------------ (e) chunks
def test_a_roster_settled_in_slices_equals_the_roster_settled_whole(reasoner: Reasoner, roster: pa.Table) -> None:
    """Chunk independence: the roster of (a) settled whole and as three uneven slices (each with
    its own `first`) gives the same rows, so where a run cuts its chunks cannot change a result.
    The slices are settled last first by a fresh Reasoner (cold caches, another order of first
    sight), the whole by the module's. An empty slice and a table of several Arrow chunks settle
    like the exact path too."""
    whole = settle_table(reasoner, roster, 1, None)
    cuts = [0, 1000, 1777, roster.num_rows]
    fresh = Reasoner(PolicySet.load(RULES))
    parts = [settle_table(fresh, roster.slice(a, b - a), a + 1, None) for a, b in reversed(list(itertools.pairwise(cuts)))]
    joined = pa.concat_tables(parts[::-1])
    assert joined.schema == whole.schema == SETTLE_SCHEMA
    for name in SETTLE_SCHEMA.names:
        one, sliced = whole.column(name).to_pylist(), joined.column(name).to_pylist()
        k = next((k for k in range(max(len(one), len(sliced))) if k >= len(one) or k >= len(sliced) or one[k] != sliced[k]), None)
        assert k is None, (f"column 「{name}」 differs at 行号 {k + 1}: whole {one[k] if k < len(one) else '(none)'!r}, "
                           f"sliced {sliced[k] if k < len(sliced) else '(none)'!r}")
    assert_same(reasoner, roster.slice(0, 0), 1, None)
    assert_same(reasoner, pa.concat_tables([roster.slice(0, 150), roster.slice(150, 250), roster.slice(400, 200)]), 1, 2023)


# ------------------------------------------------------------------ other layouts of the same rows
def test_columns_in_another_order_and_absent_columns(reasoner: Reasoner) -> None:
    """A roster is found by its header, not by column positions: the columns of (a) reversed, a
    roster without 大病保险 and 假设参数 columns, and one without a 就医 column."""
    rows = generated_rows(60, seed=7)
    assert_same(reasoner, string_table(rows, SETTLE_COLUMNS[::-1]), 1, None)
    assert_same(reasoner, string_table(rows, [c for c in SETTLE_COLUMNS if c not in ("大病保险", "假设参数")]), 1, None)
    assert_same(reasoner, string_table(rows, [c for c in SETTLE_COLUMNS if c != "就医"]), 1, None)


def test_typed_parquet_columns_are_read_as_their_text(reasoner: Reasoner) -> None:
    """A Parquet export may type its columns (an int 编号, a date 日期, float facts, a bool fact):
    the exact path reads each cell as tables.cell_text shows it."""
    rows = generated_rows(4, seed=9)
    table = string_table(rows, SETTLE_COLUMNS)
    typed = {
        "编号": pa.array([1, 2, None, 4], pa.int64()),
        "日期": pa.array([dt.date.fromisoformat(str(r["日期"])) for r in rows], pa.date32()),
        FACTS[0]: pa.array([1891.54, 20000.0, None, 0.5], pa.float64()),
        FACTS[2]: pa.array([True, False, None, True], pa.bool_()),
    }
    for name, column in typed.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    assert_same(reasoner, table, 1, None)


def test_odd_rows_in_a_chunk_arrow_reads_are_settled_identically(reasoner: Reasoner) -> None:
    """A clean chunk's 就医 cells are parsed by Arrow's JSON reader (claim_columns._arrow_claims) and
    checked column-wise; a chunk Arrow cannot read the same way as json.loads falls back to reading
    cell by cell, which the other odd-row tests mostly exercise. Here the odd rows are kept as long
    as Arrow still reads the chunk, so that the column-wise checks meet the oddities Arrow does
    parse — 2024-02-30, negative, three-decimal, NaN or huge amounts, 基本医保支付 above the cost,
    an unknown 类别 or 事实 value, null anywhere, years other than the one settled — and each of them
    must still send exactly its own row the exact way."""
    from reasoner.batch_table import _text_columns
    from reasoner.claim_columns import _arrow_claims, claim_fact_names

    names = claim_fact_names(reasoner)
    rows, _ = odd_roster()
    columns = list(dict.fromkeys([*SETTLE_COLUMNS, *(k for r in rows for k in r)]))

    def arrow_reads(table: pa.Table) -> bool:
        return _arrow_claims(_text_columns(table)["就医"], names) is not None

    kept: list[dict[str, Any]] = []
    for row in rows:
        if arrow_reads(string_table([*kept, row], columns)):
            kept.append(row)
    assert len(kept) > len(rows) * 3 // 4
    table = string_table(kept, columns)
    assert arrow_reads(table)
    for year in (None, 2024):
        out = assert_same(reasoner, table, 1, year)
        assert {"已结算", ERROR} <= set(out.column("状态").to_pylist())
