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
from fractions import Fraction
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import yaml

from .numeric import parse_money, parse_rate
from .tables import DEFAULT_CHUNK, is_table, read_rows

FIELDS = {"编号", "地区", "日期", "待遇年度", "身份", "事实", "假设参数", "说明", "就医", "大病保险"}
IDENTITY_FIELDS = {"名称", "认定部门", "认定日期", "终止日期"}
CLAIM_FIELDS = {"编号", "日期", "类别", "政策范围内费用", "基本医保支付", "大病保险支付", "备案日期", "事实", "说明"}
CATASTROPHIC_FIELDS = {"起付线", "分段", "封顶线"}


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
class Claim:
    """One 就医记录: amounts in 分; kind and facts in the policy's own vocabulary."""

    id: str
    date: dt.date
    kind: str  #: 就医类别
    scope_cost: int  #: 政策范围内费用
    basic_paid: int  #: 基本医保支付
    catastrophic_paid: int | None = None  #: 大病保险支付 when the record gives it
    filed: dt.date | None = None  #: 备案日期
    facts: dict[str, Any] = field(default_factory=dict)

    def builtin_facts(self) -> dict[str, Any]:
        """Claim quantities every claim has; a policy uses them by declaring 就医事实 of these names."""
        out: dict[str, Any] = {"政策范围内费用": self.scope_cost, "基本医保支付": self.basic_paid}
        if self.catastrophic_paid is not None:
            out["大病保险支付"] = self.catastrophic_paid
        if self.filed is not None:
            out["入院至备案天数"] = (self.filed - self.date).days
        return out


@dataclass(frozen=True)
class Segment:
    lower: int  #: 分
    upper: int | None
    rate: Fraction


@dataclass(frozen=True)
class Catastrophic:
    """The ordinary catastrophic-insurance (大病保险) parameters the person is insured under."""

    deductible: int
    segments: tuple[Segment, ...]
    cap: int | None  #: None: no cap


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
    claims: tuple[Claim, ...] = ()
    catastrophic: Catastrophic | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def year(self) -> int:
        return self.benefit_year or self.date.year


def _fields(item: Any, where: str, allowed: set[str], required: tuple[str, ...], rid: str, shape: str) -> dict[str, Any]:
    """A sub-object of a record: a mapping, with only known fields and every required one."""
    if not isinstance(item, dict):
        raise RecordError(where, f"应为含 {shape} 的对象", rid)
    bad = sorted(set(item) - allowed)
    if bad:
        raise RecordError(f"{where}.{bad[0]}", f"未知字段；可用字段：{'、'.join(sorted(allowed))}", rid)
    for name in required:
        if item.get(name) in (None, ""):
            raise RecordError(f"{where}.{name}", "缺少必填字段", rid)
    return item


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
        _fields(item, where, IDENTITY_FIELDS, ("名称", "认定部门", "认定日期"), rid, "名称、认定部门、认定日期")
        ended = _date(item["终止日期"], f"{where}.终止日期", rid) if item.get("终止日期") else None
        identities.append(IdentityClaim(str(item["名称"]), str(item["认定部门"]),
                                        _date(item["认定日期"], f"{where}.认定日期", rid), ended))
    facts = data.get("事实") or {}
    if not isinstance(facts, dict):
        raise RecordError("事实", "应为 名称: 值 的对象", rid)
    assumed = data.get("假设参数") or {}
    if not isinstance(assumed, dict):
        raise RecordError("假设参数", "应为 参数名: 金额 的对象", rid)
    for name, value in assumed.items():
        _money(value, f"假设参数.{name}", rid)
    listed = data.get("就医") or []
    if not isinstance(listed, list):
        raise RecordError("就医", "应为就医记录的列表", rid)
    claims = tuple(_claim(item, i, rid) for i, item in enumerate(listed))
    catastrophic = None if data.get("大病保险") in (None, "") else _catastrophic(data["大病保险"], rid)  # 0 or {}: an error, not absent
    year = data.get("待遇年度")
    if year is not None and (not isinstance(year, int) or not 1949 < year < 2200):
        raise RecordError("待遇年度", f"应为四位年份，而非「{year}」", rid)
    return Person(rid, str(data["地区"]), _date(data["日期"], "日期", rid), tuple(identities), dict(facts), dict(assumed),
                  year, claims, catastrophic, data)


def _money(value: Any, where: str, rid: str) -> int:
    try:
        return parse_money(value)
    except ValueError as err:
        raise RecordError(where, str(err), rid) from None


def _claim(item: Any, index: int, rid: str) -> Claim:
    where = f"就医[{index}]"
    required = ("日期", "类别", "政策范围内费用", "基本医保支付")
    _fields(item, where, CLAIM_FIELDS, required, rid, "、".join(required))
    cost = _money(item["政策范围内费用"], f"{where}.政策范围内费用", rid)
    basic = _money(item["基本医保支付"], f"{where}.基本医保支付", rid)
    cat = _money(item["大病保险支付"], f"{where}.大病保险支付", rid) if item.get("大病保险支付") is not None else None
    if min(cost, basic, cat or 0) < 0 or basic + (cat or 0) > cost:
        raise RecordError(where, "金额不能为负，且基本医保与大病保险支付之和不能超过政策范围内费用", rid)
    filed = _date(item["备案日期"], f"{where}.备案日期", rid) if item.get("备案日期") else None
    facts = item.get("事实") or {}
    if not isinstance(facts, dict):
        raise RecordError(f"{where}.事实", "应为 名称: 值 的对象", rid)
    return Claim(str(item.get("编号", f"{rid}-{index + 1}")), _date(item["日期"], f"{where}.日期", rid), str(item["类别"]),
                 cost, basic, cat, filed, dict(facts))


_PLAIN = frozenset((str, int, float, bool, type(None)))
_CATASTROPHIC: dict[Any, Catastrophic] = {}  #: parsed 大病保险 objects by content (bounded; Catastrophic is frozen)
_CATASTROPHIC_KEPT = 256


class _NotPlain(Exception):
    pass


def _content_key(value: Any) -> Any:
    """A hashable key equal exactly when two JSON-like values have the same content and types
    (dicts in their key order; 1, 1.0, True and "1" differ); raises _NotPlain for anything else."""
    kind = type(value)
    if kind in _PLAIN:
        return kind, value
    if kind is dict:
        return dict, tuple((k, _content_key(v)) if type(k) is str else _not_plain() for k, v in value.items())
    if kind is list or kind is tuple:
        return kind, tuple(_content_key(v) for v in value)
    raise _NotPlain


def _not_plain() -> Any:
    raise _NotPlain


def _catastrophic(data: Any, rid: str) -> Catastrophic:
    """The record's 大病保险 object, parsed once per distinct content: a batch gives every
    person the same ordinary parameters. An object that does not parse raises each time."""
    try:
        key = _content_key(data)
    except _NotPlain:
        return _parse_catastrophic(data, rid)
    params = _CATASTROPHIC.get(key)
    if params is None:
        params = _parse_catastrophic(data, rid)
        if len(_CATASTROPHIC) >= _CATASTROPHIC_KEPT:
            _CATASTROPHIC.clear()
        _CATASTROPHIC[key] = params
    return params


def _parse_catastrophic(data: Any, rid: str) -> Catastrophic:
    _fields(data, "大病保险", CATASTROPHIC_FIELDS, (), rid, "起付线、分段、封顶线")
    if "起付线" not in data or not data.get("分段"):
        raise RecordError("大病保险", "须给出 起付线 和 分段", rid)
    if not isinstance(data["分段"], list):
        raise RecordError("大病保险.分段", "应为分段的列表（每段 起、止、比例）", rid)
    segments = []
    for i, seg in enumerate(data["分段"]):
        where = f"大病保险.分段[{i}]"
        if not isinstance(seg, dict) or "起" not in seg or "比例" not in seg:
            raise RecordError(where, "每段须给出 起、比例（止 可省略，表示以上）", rid)
        try:
            rate = parse_rate(seg["比例"])
        except ValueError as err:
            raise RecordError(f"{where}.比例", str(err), rid) from None
        if not 0 <= rate <= 1:
            raise RecordError(f"{where}.比例", f"支付比例应在 0 与 100% 之间，而非「{seg['比例']}」", rid)
        lower = _money(seg["起"], f"{where}.起", rid)
        upper = _money(seg["止"], f"{where}.止", rid) if seg.get("止") is not None else None
        if lower < 0 or (upper is not None and upper <= lower):
            raise RecordError(where, "分段的 起 不能为负，止 应大于 起", rid)
        segments.append(Segment(lower, upper, rate))
    deductible = _money(data["起付线"], "大病保险.起付线", rid)
    cap = data.get("封顶线")
    cap_fen = None if cap in (None, "无") else _money(cap, "大病保险.封顶线", rid)
    if deductible < 0 or (cap_fen is not None and cap_fen < 0):
        raise RecordError("大病保险", "起付线和封顶线不能为负", rid)
    return Catastrophic(deductible, tuple(segments), cap_fen)




class _RecordLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: a bad date like 2023-13-01 must fail in its own
    record's 日期 field with a Chinese message, not abort the whole file while loading."""


_RecordLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_records(path: str | Path) -> list[Any]:
    """The raw records of a YAML, JSON, CSV, Excel or Parquet file: one record or a list of them."""
    if is_table(path):
        return [record for chunk in table_records(path) for _, record in chunk]
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.load(text, Loader=_RecordLoader)
    return data if isinstance(data, list) else [data]


FLAT_COLUMNS = ("编号", "地区", "日期")
CSV_IDENTITIES = "身份"  #: one column: 名称|认定部门|认定日期[|终止日期] entries separated by ；


def flat_record(row: dict[str, str | None]) -> dict[str, Any]:
    """One row of a flat export: columns 编号, 地区, 日期, 身份 (see CSV_IDENTITIES), one column per fact.

    Empty cells are missing facts (not zero or 否). A malformed identity cell is kept as
    text so that parse_person reports it in its own row.
    """
    record: dict[str, Any] = {k: row[k] for k in FLAT_COLUMNS if row.get(k)}
    identities: list[Any] = []
    for entry in filter(None, (row.get(CSV_IDENTITIES) or "").replace(";", "；").split("；")):
        parts = entry.split("|")
        keys = ("名称", "认定部门", "认定日期", "终止日期")
        identities.append(dict(zip(keys, parts)) if 3 <= len(parts) <= 4 else entry)
    record["身份"] = identities
    record["事实"] = {k: v for k, v in row.items() if k not in (*FLAT_COLUMNS, CSV_IDENTITIES) and v is not None}
    return record


#: Table columns that hold JSON (a table cell cannot hold a list of claims or an object)
JSON_COLUMNS = ("就医", "大病保险", "假设参数")


def table_record(row: dict[str, str | None]) -> dict[str, Any]:
    """A flat table row as a person record; JSON columns (就医, 大病保险, 假设参数) are decoded.

    A cell that is not valid JSON raises RecordError naming its column, so the row becomes an
    error row in place instead of a guess.
    """
    row = dict(row)
    rid = row.get("编号") or ""
    extra = row.pop("__extra__", None)
    if extra is not None:
        raise RecordError("表头", f"本行比表头多出单元格：{extra}", rid)
    nested: dict[str, Any] = {}
    for name in JSON_COLUMNS:
        text = row.pop(name, None)
        if text is None:
            continue
        try:
            nested[name] = json.loads(text)
        except ValueError:
            raise RecordError(name, "应为 JSON 文本（表格中的嵌套字段以 JSON 书写）", rid) from None
    year = row.pop("待遇年度", None)
    record = flat_record(row)
    record.update(nested)
    if year is not None:
        record["待遇年度"] = int(year) if year.isdigit() else year
    return record


def table_records(path: str | Path, chunk_size: int = DEFAULT_CHUNK) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Flat person records of a CSV, Excel or Parquet file, chunk by chunk, with their row numbers."""
    for chunk in read_rows(path, chunk_size):
        yield [(number, flat_record(row)) for number, row in chunk]
