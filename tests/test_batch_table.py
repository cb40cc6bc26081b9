"""The columnar front of the batch (reasoner/batch_table.py) decides exactly what the per-row path decides.

A Parquet partition is decided column by column in Arrow; a list of row dicts (CSV, Excel,
JSON Lines) goes through parse_person row by row. For the same rows the two must give the
same result table, byte for byte: the same summaries, the same errors with the same Chinese
messages in the same rows, the same 编号/地区/日期 cells. Each test builds a table, runs
run_partition on it both ways, and compares; hand-picked rows cover every kind of cell the
columnar path either reads itself or must hand to the exact path.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.roster import DECIDE_COLUMNS, flat_row, records
from reasoner.batch_table import decide_table
from reasoner.codes import first_seen
from reasoner.partition import ArrowRows, Job, reasoner_for, run_partition
from reasoner.policies import bundled_rules_dir
from table_support import as_dictionaries

RULES = str(bundled_rules_dir())
JOB = Job("decide", RULES, flat=True)
OOP, INCOME = "申请前12个月政策范围内医疗费用个人自付", "扣除医疗费用后家庭人均收入"
PROPERTY, INSURED = "家庭财产符合低保边缘家庭条件", "认定前当年已参保"
ASSUMED = json.dumps({"上年度居民人均可支配收入": 45000, "最低生活保障边缘家庭标准": 12600, "年度救助限额": 47000},
                     ensure_ascii=False)


def _both(table: pa.Table, first: int = 1) -> tuple[pa.Table, pa.Table]:
    """(columnar, per-row) result tables of one partition."""
    arrow = ArrowRows(first, table)
    return run_partition(JOB, arrow), run_partition(JOB, arrow.rows())


def _assert_same(table: pa.Table, first: int = 1) -> pa.Table:
    columnar, per_row = _both(table, first)
    by_distinct_cell = run_partition(JOB, ArrowRows(first, as_dictionaries(table)))
    for got_table in (columnar, by_distinct_cell):
        for name in per_row.column_names:
            got, want = got_table.column(name).to_pylist(), per_row.column(name).to_pylist()
            diff = [(i, got[i], want[i]) for i in range(len(want)) if got[i] != want[i]]
            assert not diff, f"{name}: {diff[:3]}"
        assert got_table.equals(per_row)
    return columnar


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> pa.Table:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})


def _row(**cells: Any) -> dict[str, Any]:
    """A Longyan roster row: a 第四类 person (低保边缘) with every fact, overridden by cells."""
    row = {"编号": "P1", "地区": "龙岩市", "日期": "2024-06-02", "身份": "最低生活保障边缘家庭成员|民政|2018-01-20",
           OOP: "1891.54", INCOME: "18871.67", PROPERTY: "是", INSURED: "否", "未按规定缴费参保": "否", "假设参数": ASSUMED}
    row.update(cells)
    return row


def test_a_generated_roster_with_malformed_rows_is_decided_identically() -> None:
    rows = [flat_row(r, DECIDE_COLUMNS) for r in records("decide", 3000, seed=11, bad=0.02)]
    out = _assert_same(_table(rows, DECIDE_COLUMNS), first=2)
    assert out.column("行号").to_pylist() == list(range(2, 3002))
    statuses = set(out.column("状态").to_pylist())
    assert {"符合救助条件", "不符合救助条件", "错误"} <= statuses


def test_the_columnar_path_reads_the_common_rows_itself() -> None:
    """Not a speed test: on a clean roster no row may fall back to parse_person."""
    rows = [flat_row(r, DECIDE_COLUMNS) for r in records("decide", 500, seed=5)]
    decided = decide_table(reasoner_for(RULES), _table(rows, DECIDE_COLUMNS), 1)
    assert decided.result.stats["exact_rows"] == 0
    assert decided.result.stats["rows"] == 500


ODD_ROWS = [
    _row(),
    _row(编号=None),  # no 编号: the row number becomes the id (#N)
    _row(编号="  P 2  "),  # trimmed
    _row(**{OOP: "1.2万元"}),  # valid, not canonical: parse_money reads it
    _row(**{OOP: "12,000.50"}),
    _row(**{OOP: "100.001"}),  # below 1 分: an error
    _row(**{OOP: "-5"}),
    _row(**{OOP: "abc"}),
    _row(**{OOP: None}),  # a missing fact
    _row(**{INCOME: "12600"}, 假设参数=ASSUMED),  # exactly on the 低保边缘 standard
    _row(**{PROPERTY: "TRUE"}),
    _row(**{PROPERTY: "true"}),
    _row(**{PROPERTY: "1"}),
    _row(**{PROPERTY: "也许"}),
    _row(**{PROPERTY: None}),
    _row(日期="2023-02-30"),  # rolled over by strptime: must stay an error
    _row(日期="0000-01-01"),
    _row(日期="2024-6-2"),
    _row(日期="20240602"),  # fromisoformat reads it
    _row(日期=None),
    _row(地区=None),
    _row(地区="火星市"),  # no policy: a selection error
    _row(日期="1990-01-01"),  # before any Longyan policy is in force
    _row(身份=None),
    _row(身份="最低生活保障边缘家庭成员|民政|2024-06-15"),  # recognised in the decision month
    _row(身份="最低生活保障边缘家庭成员|民政|2024-07-15"),  # after the decision date
    _row(身份="最低生活保障边缘家庭成员|民政|2018-01-20|2024-05-31"),  # ended
    _row(身份="最低生活保障边缘家庭成员|民政|2018-01-20|"),  # empty 终止日期
    _row(身份="最低生活保障边缘家庭成员|残联|2018-01-20"),  # wrong department
    _row(身份="特困供养人员|民政|2019-03-01；重度残疾人|残联|2020-01-01"),
    _row(身份="特困供养人员|民政|2019-03-01;重度残疾人|残联|2020-01-01；"),  # ASCII ; and a trailing separator
    _row(身份="特困供养人员|民政|2019-03-01；重度残疾人|残联|2020-01-01；脱贫人员|乡村振兴|2021-01-01；孤儿|民政|2015-01-01"),
    _row(身份="外星人|民政|2019-03-01"),  # unknown identity
    _row(身份="特困供养人员|民政"),  # too few parts
    _row(身份="特困供养人员|民政|2019-02-30"),
    _row(身份="|民政|2019-03-01"),
    _row(身份="特困供养人员|民政|2019-03-01|2018-13-01"),
    _row(假设参数=None),  # parameters unknown: items undecided
    _row(假设参数="{}"),
    _row(假设参数="null"),
    _row(假设参数="not json"),
    _row(假设参数=json.dumps({"年度救助限额": "4.7万"}, ensure_ascii=False)),
    _row(假设参数=json.dumps({"年度救助限额": "abc"}, ensure_ascii=False)),
    _row(待遇年度="2023"),
    _row(待遇年度="1900"),
    _row(待遇年度="２０２３"),
    _row(待遇年度="2023.0"),
    _row(就医=json.dumps([{"日期": "2024-06-10", "类别": "住院", "政策范围内费用": 1000, "基本医保支付": 500}], ensure_ascii=False)),
    _row(就医="[{"),
    _row(大病保险="{}"),
    _row(外来事实="1"),  # a fact Longyan does not use
    _row(外来事实=None),
]


def test_odd_rows_are_decided_identically_and_every_row_is_accounted_for() -> None:
    out = _assert_same(_table(ODD_ROWS))
    assert out.num_rows == len(ODD_ROWS)
    errors = dict(zip(out.column("行号").to_pylist(), out.column("错误字段").to_pylist()))
    assert errors[16] == "日期"  # 2023-02-30
    assert errors[33] == "身份[0].名称"  # 外来事实 aside, an unknown identity is named
    assert errors[51] == "事实.外来事实"
    assert errors[22] == "地区" and errors[23] == "日期"  # no policy for the region; none in force on the date
    assert errors[43] == "假设参数.年度救助限额"
    assert out.column("编号").to_pylist()[1] == "#2"


def test_typed_parquet_columns_are_read_as_their_text() -> None:
    """A Parquet export may type its columns (dates, numbers, booleans): the cells are what cell_text shows."""
    table = pa.table({
        "编号": pa.array([1, 2, None], pa.int64()),
        "地区": pa.array(["龙岩市"] * 3),
        "日期": pa.array([dt.date(2024, 6, 2), dt.date(2025, 1, 31), None], pa.date32()),
        "身份": pa.array(["最低生活保障边缘家庭成员|民政|2018-01-20", None, "脱贫人员|乡村振兴|2024-01-25"]),
        OOP: pa.array([1891.54, 20000.0, None], pa.float64()),
        INCOME: pa.array([18871.67, 9000.5, 1.0], pa.float64()),
        PROPERTY: pa.array([True, False, None], pa.bool_()),
        "假设参数": pa.array([ASSUMED] * 3),
    })
    _assert_same(table)


def test_headers_the_columnar_path_does_not_take_fall_back_to_rows() -> None:
    rows = [_row(), _row(编号="P2")]
    table = _table(rows).rename_columns([*list(_row())[:-1], ""])  # an unnamed last column
    _assert_same(table)


CELLS = {
    "日期": st.sampled_from(["2023-01-31", "2023-02-01", "2024-02-29", "2025-12-31", "2023-02-29", "2024-6-1", " 2024-03-05 ", "  ", None]),
    "身份": st.lists(st.tuples(
        st.sampled_from(["特困供养人员", "最低生活保障对象", "最低生活保障边缘家庭成员", "脱贫人员", "重度残疾人", "外星人", ""]),
        st.sampled_from(["民政", "乡村振兴", "残联", ""]),
        st.sampled_from(["2018-01-20", "2023-01-15", "2023-02-10", "2024-02-29", "2026-01-01", "bad"]),
        st.sampled_from([None, "", "2023-02-28", "2024-12-31"])), max_size=4).map(
        lambda ids: "；".join("|".join(p for p in (n, d, r, e) if p is not None) for n, d, r, e in ids) or None),
    OOP: st.sampled_from(["0", "0.01", "1891.54", "50000", "1.5万", "7,000", "-1", "x", None]),
    INCOME: st.sampled_from(["12600", "12599.99", "12600.01", "45000", "9000", None, "1e3"]),
    PROPERTY: st.sampled_from(["是", "否", "yes", "0", " 是 ", "Y", " ", None]),
    INSURED: st.sampled_from(["是", "否", None]),
    "假设参数": st.sampled_from([ASSUMED, None, "{}", json.dumps({"年度救助限额": 30000}), "[1]"]),
    "待遇年度": st.sampled_from([None, "2023", "2024", "1800"]),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries(CELLS), min_size=1, max_size=40))
def test_random_rows_are_decided_identically(rows: list[dict[str, Any]]) -> None:
    for k, row in enumerate(rows):
        row.update({"编号": f"R{k}", "地区": "龙岩市"})
    _assert_same(_table(rows))


@pytest.mark.parametrize("first", [1, 10_001])
def test_ids_of_rows_without_one_are_their_row_numbers(first: int) -> None:
    out = _assert_same(_table([_row(编号=None), _row(编号=None, 日期="bad")]), first=first)
    assert out.column("编号").to_pylist() == [f"#{first}", None]  # an unreadable row is found by its 行号
    assert out.column("行号").to_pylist() == [first, first + 1]


@given(st.lists(st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1) | st.integers(min_value=0, max_value=5), max_size=200))
@settings(max_examples=200, deadline=None)
def test_first_seen_numbers_values_in_order_of_first_appearance(values: list[int]) -> None:
    """codes.first_seen, which replaced np.unique on the keys of every chunk: each distinct value once,
    at its first position, in that order, and every row's index back to its value."""
    keys = np.array(values, dtype=np.int64)
    first, inverse = first_seen(keys)
    expected = list(dict.fromkeys(values))
    assert keys[first].tolist() == expected
    assert first.tolist() == [values.index(v) for v in expected]
    assert keys[first][inverse].tolist() == values


_TYPED = st.one_of(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                       st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False).map(float)), max_size=30)
    .map(lambda v: pa.array(v, pa.float64())),
    st.lists(st.one_of(st.none(), st.floats(width=32)), max_size=30).map(lambda v: pa.array(v, pa.float32())),
    st.lists(st.one_of(st.none(), st.booleans()), max_size=30).map(lambda v: pa.array(v, pa.bool_())),
    st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), max_size=30).map(lambda v: pa.array(v, pa.int64())),
    st.lists(st.one_of(st.none(), st.dates()), max_size=30).map(lambda v: pa.array(v, pa.date32())),
    st.lists(st.one_of(st.none(), st.decimals(min_value=-10**12, max_value=10**12, places=2, allow_nan=False)), max_size=30)
    .map(lambda v: pa.array(v, pa.decimal128(16, 2))),
    st.lists(st.one_of(st.none(), st.datetimes()), max_size=30).map(lambda v: pa.array(v, pa.timestamp("us"))),
)


@settings(max_examples=400, deadline=None)
@given(_TYPED)
def test_typed_cells_read_in_arrow_are_what_cell_text_writes(column: pa.Array) -> None:
    """tables.column_text, which turns a typed column (a database's Parquet export: dates, decimals,
    floats, booleans) into text in Arrow, gives every cell exactly tables.cell_text's text — the
    text the per-row path reads — including NaN and ±0.0, floats too large or small for plain
    notation, year-1 dates and timestamps."""
    from reasoner.tables import cell_text, column_text

    assert column_text(column).to_pylist() == [cell_text(v) for v in column.to_pylist()]


def test_a_typed_roster_is_decided_as_its_text():
    """The same rows as a typed Parquet table (日期 a date, the amounts decimals or floats, the 是/否
    facts booleans) and as text: the same result, and the columnar path agrees with the per-row one."""
    rows = [flat_row(r, DECIDE_COLUMNS) for r in records("decide", 300, seed=5)]
    text = _table(rows, DECIDE_COLUMNS)
    typed = {c: text[c] for c in DECIDE_COLUMNS}
    typed["日期"] = pa.array([None if r["日期"] is None else dt.date.fromisoformat(r["日期"]) for r in rows], pa.date32())
    typed[OOP] = pa.array([None if r[OOP] is None else float(r[OOP]) for r in rows], pa.float64())
    typed[INCOME] = pa.array([None if r[INCOME] is None else r[INCOME] for r in rows], pa.string()).cast(pa.decimal128(16, 2))
    typed[PROPERTY] = pa.array([None if r[PROPERTY] is None else r[PROPERTY] == "是" for r in rows], pa.bool_())
    typed_table = pa.table(typed)
    assert typed_table.schema != text.schema
    assert _assert_same(typed_table).equals(run_partition(JOB, ArrowRows(1, text)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1) | st.integers(0, 9), max_size=30), max_size=5))
def test_an_int_index_answers_as_a_dict(batches: list[list[int]]) -> None:
    """codes.IntIndex, the batch caches' column lookup: each batch is looked up, then its new keys added."""
    from reasoner.codes import IntIndex

    index, reference = IntIndex(), {}
    for batch in batches:
        keys = np.array(batch, dtype=np.int64)
        values, found = index.get(keys)
        assert found.tolist() == [k in reference for k in batch]
        assert values.tolist() == [reference.get(k, 0) for k in batch]
        new, base = sorted(set(batch) - reference.keys()), len(reference)
        index.add(np.array(new, dtype=np.int64), np.arange(base, base + len(new), dtype=np.int64))
        reference.update((k, base + n) for n, k in enumerate(new))
    assert len(index) == len(reference)
