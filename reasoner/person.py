"""This module reads person records (YAML or JSON) into typed, validated objects.

A record names its region, the decision date, the identities with the recognising
department and dates, and the facts conditions need. Every problem names the field.
Unknown identity or fact names are rejected by decide() with the accepted names, since
only the policy knows them.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FIELDS = {"编号", "地区", "日期", "待遇年度", "身份", "事实", "假设参数", "说明"}
IDENTITY_FIELDS = {"名称", "认定部门", "认定日期", "终止日期"}


class RecordError(ValueError):
    """A malformed person record; .field names where, .message says what (Chinese)."""

    def __init__(self, field_path: str, message: str, record_id: str = ""):
        self.field = field_path
        self.message = message
        self.record_id = record_id
        super().__init__(f"{('记录 ' + record_id + ' ') if record_id else ''}字段「{field_path}」：{message}")


@dataclass(frozen=True)
class IdentityClaim:
    name: str
    department: str
    recognised: dt.date
    ended: dt.date | None = None


@dataclass(frozen=True)
class Person:
    """A person record. The year of 按年 tables and of parameters is benefit_year when the
    record gives one (e.g. a 2023 decision about 2022 coverage), else the decision date's year."""

    id: str
    region: str
    date: dt.date
    identities: tuple[IdentityClaim, ...]
    facts: dict[str, Any] = field(default_factory=dict)  #: raw values; typed by the policy's declarations
    assumed: dict[str, Any] = field(default_factory=dict)  #: assumed parameter values (元)
    benefit_year: int | None = None  #: 待遇年度 (参保年度) when it differs from the decision date's year
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def year(self) -> int:
        return self.benefit_year or self.date.year


def _date(value: Any, where: str, rid: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RecordError(where, f"无法识别的日期「{value}」，应写作 YYYY-MM-DD", rid) from None


def parse_person(data: Any, index: int = 0) -> Person:
    if not isinstance(data, dict):
        raise RecordError(f"[{index}]", "每条记录应为键值对象")
    rid = str(data.get("编号", f"#{index + 1}"))
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise RecordError(unknown[0], f"未知字段；可用字段：{'、'.join(sorted(FIELDS))}", rid)
    for required in ("地区", "日期"):
        if data.get(required) in (None, ""):
            raise RecordError(required, "缺少必填字段", rid)
    identities = []
    for i, item in enumerate(data.get("身份") or []):
        where = f"身份[{i}]"
        if not isinstance(item, dict):
            raise RecordError(where, "应为含 名称、认定部门、认定日期 的对象", rid)
        bad = sorted(set(item) - IDENTITY_FIELDS)
        if bad:
            raise RecordError(f"{where}.{bad[0]}", f"未知字段；可用字段：{'、'.join(sorted(IDENTITY_FIELDS))}", rid)
        for required in ("名称", "认定部门", "认定日期"):
            if item.get(required) in (None, ""):
                raise RecordError(f"{where}.{required}", "缺少必填字段", rid)
        ended = _date(item["终止日期"], f"{where}.终止日期", rid) if item.get("终止日期") else None
        identities.append(IdentityClaim(str(item["名称"]), str(item["认定部门"]),
                                        _date(item["认定日期"], f"{where}.认定日期", rid), ended))
    facts = data.get("事实") or {}
    if not isinstance(facts, dict):
        raise RecordError("事实", "应为 名称: 值 的对象", rid)
    assumed = data.get("假设参数") or {}
    if not isinstance(assumed, dict):
        raise RecordError("假设参数", "应为 参数名: 金额 的对象", rid)
    year = data.get("待遇年度")
    if year is not None and (not isinstance(year, int) or not 1949 < year < 2200):
        raise RecordError("待遇年度", f"应为四位年份，而非「{year}」", rid)
    return Person(rid, str(data["地区"]), _date(data["日期"], "日期", rid), tuple(identities), dict(facts), dict(assumed),
                  year, data)




class _RecordLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: a bad date like 2023-13-01 must fail in its own
    record's 日期 field with a Chinese message, not abort the whole file while loading."""


_RecordLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_records(path: str | Path) -> list[Any]:
    """The raw records of a YAML or JSON file: one record or a list of them."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.load(text, Loader=_RecordLoader)
    return data if isinstance(data, list) else [data]
