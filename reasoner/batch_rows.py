"""This module is the exact per-row side of a batch: the output schemas, records parsed one by
one, error cells, and settlement row by row with Settler.

The partition function (partition.py) and the columnar settlement (settle_table.py) both
send here every row they do not handle column-wise, so an odd row ends in exactly the cells
(or the error) that parse_person and Settler give it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from .batch import ROW_ERRORS
from .decide import Reasoner
from .person import Person, RecordError, parse_person, table_record
from .settle import settle

ERROR_STATUS = "错误"

DECIDE_SCHEMA = pa.schema([
    ("行号", pa.int64()), ("编号", pa.string()), ("地区", pa.string()), ("日期", pa.string()),
    ("政策", pa.string()), ("状态", pa.string()), ("类别", pa.string()), ("缺少", pa.string()),
    ("待遇", pa.string()), ("错误字段", pa.string()), ("错误", pa.string()),
])
SETTLE_SCHEMA = pa.schema([
    ("行号", pa.int64()), ("编号", pa.string()), ("地区", pa.string()), ("状态", pa.string()),
    ("年度", pa.string()), ("就医笔数", pa.int64()), ("大病保险支付（分）", pa.int64()),
    ("医疗救助（分）", pa.int64()), ("医保后自付（分）", pa.int64()), ("结算状态", pa.string()),
    ("缺少", pa.string()), ("错误字段", pa.string()), ("错误", pa.string()),
])


def parse_rows(rows: Sequence[tuple[int, Any]], flat: bool) -> tuple[list[Person | None], dict[int, Exception]]:
    """Parse every row; an unreadable row keeps its error at its position."""
    persons: list[Person | None] = []
    errors: dict[int, Exception] = {}
    for pos, (number, raw) in enumerate(rows):
        try:
            record = table_record(raw) if flat else raw
            persons.append(parse_person(record, number - 1))
        except RecordError as err:
            persons.append(None)
            errors[pos] = err
    return persons, errors


def error_cells(err: Exception) -> tuple[str | None, str]:
    return getattr(err, "field", None), str(err) or type(err).__name__


def raw_id(raw: Any) -> str | None:
    """The 编号 an unreadable row states, if it states one (so an error row can still be found)."""
    value = raw.get("编号") if isinstance(raw, dict) else None
    return None if value is None else str(value)


def settle_rows(reasoner: Reasoner, rows: Sequence[tuple[int, Any]], flat: bool, year: int | None) -> dict[str, list[Any]]:
    """SETTLE_SCHEMA's columns for rows settled one by one (Settler), errors in place."""
    persons, errors = parse_rows(rows, flat)
    out: dict[str, list[Any]] = {name: [] for name in SETTLE_SCHEMA.names}
    for pos, (number, raw) in enumerate(rows):
        p = persons[pos]
        cells: dict[str, Any] = {"行号": number, "编号": p.id if p else raw_id(raw), "地区": p.region if p else None}
        if p is not None and pos not in errors:
            try:
                cells |= _storable(settlement_cells(settle(reasoner, p, year)), p.id)
            except ROW_ERRORS as err:
                errors[pos] = err
        if pos in errors:
            field, error = error_cells(errors[pos])
            cells |= {"状态": ERROR_STATUS, "错误字段": field, "错误": error}
        for name in SETTLE_SCHEMA.names:
            out[name].append(cells.get(name))
    return out


INT64_MAX = 2 ** 63 - 1


def _storable(cells: dict[str, Any], person_id: str) -> dict[str, Any]:
    """The totals as SETTLE_SCHEMA's int64 columns can hold them, or the row's error: thousands of
    claims near the largest amount would otherwise fail the whole chunk when its table is built."""
    if any(type(v) is int and abs(v) > INT64_MAX for v in cells.values()):
        raise RecordError("就医", f"各笔就医的合计超过 {INT64_MAX:,} 分，超出结果表可记录的范围", person_id)
    return cells


def settlement_cells(settlements: list[Any]) -> dict[str, Any]:
    """One person's settlements (one per year) as totals in 分 and counts by claim status."""
    claims = [c for s in settlements for c in s.claims]
    counts: dict[str, int] = {}
    for c in claims:
        counts[c.status] = counts.get(c.status, 0) + 1
    missing = list(dict.fromkeys(m for c in claims for m in c.missing))
    return {"状态": "已结算" if claims else "无就医记录", "年度": "、".join(str(s.year) for s in settlements) or None,
            "就医笔数": len(claims), "大病保险支付（分）": sum(c.catastrophic for c in claims),
            "医疗救助（分）": sum(c.assistance for c in claims), "医保后自付（分）": sum(c.self_pay for c in claims),
            "结算状态": "；".join(f"{k} {v}" for k, v in counts.items()) or None, "缺少": "、".join(missing) or None}


__all__ = ["DECIDE_SCHEMA", "ERROR_STATUS", "SETTLE_SCHEMA", "error_cells", "parse_rows", "raw_id", "settle_rows", "settlement_cells"]
