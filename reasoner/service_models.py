"""This module declares the HTTP bodies: validated models whose fields carry Chinese names and docs.

Request fields are the record's own Chinese keys (the same as the YAML records the CLI
reads), so one record works everywhere. Types here are deliberately loose where the record
needs exact parsing (money as text or number, dates as text): person.parse_person does that
once, with Chinese errors naming the field. Response bodies are the versioned JSON
documents of docs/explanation-schema.md, wrapped in models that name their schema.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentityIn(Strict):
    名称: str = Field(description="身份名称，须为政策声明的身份，如「最低生活保障对象」")
    认定部门: str = Field(description="认定该身份的部门，如「民政」")
    认定日期: str = Field(description="认定日期，YYYY-MM-DD")
    终止日期: str | None = Field(None, description="身份终止日期（如有）")


class ClaimIn(Strict):
    编号: str = Field(description="就医记录编号")
    日期: str = Field(description="就医（结算）日期，YYYY-MM-DD")
    类别: str = Field(description="就医类别，如「住院」「门诊慢性病」，须为政策声明的就医类别")
    政策范围内费用: Scalar = Field(description="政策范围内费用（元）")
    基本医保支付: Scalar = Field(description="基本医保支付（元）")
    大病保险支付: Scalar | None = Field(None, description="大病保险支付（元）；不给出时按参数计算")
    备案日期: str | None = Field(None, description="异地就医备案日期")
    事实: dict[str, Scalar] = Field(default_factory=dict, description="就医事实，如「按规定转诊」：是")
    说明: str | None = None


class PersonRecord(Strict):
    """One person record, exactly the shape of the YAML records (see examples/)."""

    编号: str | None = Field(None, description="记录编号")
    地区: str = Field(description="地区：某个规则文件「地区」所写的名称（见 GET /api/policies）")
    日期: str = Field(description="决定日期，YYYY-MM-DD")
    待遇年度: int | None = Field(None, description="待遇年度（默认取决定日期的年份）")
    身份: list[IdentityIn] = Field(default_factory=list, description="身份及其认定")
    事实: dict[str, Scalar] = Field(default_factory=dict, description="条件需要的事实；缺少的事实不视为否")
    假设参数: dict[str, Scalar] = Field(default_factory=dict, description="文件未给出的参数的假设值（在解释中注明为假设）")
    说明: str | None = None
    就医: list[ClaimIn] = Field(default_factory=list, description="就医记录（结算时用）")
    大病保险: dict[str, Any] | None = Field(None, description="普通参保人大病保险参数：起付线、分段、封顶线")

    def record(self) -> dict[str, Any]:
        """The record as the engine reads it (absent optional fields left out, not set to null)."""
        return self.model_dump(exclude_none=True, exclude_defaults=False)


class Batch(Strict):
    记录: list[PersonRecord] = Field(description="多条个人记录（条数受服务配置限制）")


class WhyNotIn(Strict):
    记录: PersonRecord
    类别: str = Field(description="要问「为何不属于」的类别")


class LintIn(Strict):
    规则文本: str = Field(description="规则文件全文")
    文件名: str = Field("草稿.rules", description="诊断与引用中显示的文件名（只作显示，不读取文件）")
    上位: str | None = Field(None, description="与之比较的上位政策名称（默认取规则文本的「上位」）")


class DiffIn(Strict):
    规则文本: str = Field(description="新版规则文件全文：与已加载的同名政策比较")
    文件名: str = Field("草稿.rules", description="显示用文件名")
    人群: list[PersonRecord] = Field(description="在两版规则下评估的人群")


class ErrorBody(BaseModel):
    code: str = Field(description="错误代码，如 E_INPUT、E_RULES、E_AUTH、E_TOO_LARGE、E_TIMEOUT")
    message: str = Field(description="中文错误信息")
    field: str | None = Field(None, description="出错的字段（记录错误）")
    line: int | None = Field(None, description="规则文本的行（规则错误）")
    column: int | None = Field(None, description="规则文本的列（规则错误）")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="全部错误（规则文本可能有多处）")


class Document(BaseModel):
    """A versioned JSON document of docs/explanation-schema.md (decision, settlement, lint, diff …)."""

    model_config = ConfigDict(extra="allow")
    schema_: str | None = Field(None, alias="schema", description="文档的模式名与版本")


class DecisionOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = Field(None, description="记录编号")
    policy: str = Field(description="适用的政策")
    status: str = Field(description="符合救助条件 / 不符合救助条件 / 无法决定")
    categories: list[str] = Field(description="所属类别")
    decision_id: str | None = Field(None, description="台账中的决定编号（记录开启时）")


class PolicySummary(BaseModel):
    name: str = Field(description="政策名称")
    region: str | None = Field(None, description="地区")
    document: str | None = Field(None, description="文号")
    start: str | None = Field(None, description="施行日期")
    end: str | None = Field(None, description="终止日期")
    parent: str | None = Field(None, description="上位政策")
    file: str = Field(description="规则文件")
    content_sha256: str = Field(description="规则文本的哈希")


class ClauseOut(BaseModel):
    id: str = Field(description="条款编号（稳定）")
    article: str = Field(description="条款（文件中的条目号）")
    quote: str = Field(description="原文")
    line: int = Field(description="规则文件中的行")
    interpretations: list[dict[str, str]] = Field(default_factory=list, description="解释：key、text")


class PolicyDetail(PolicySummary):
    clauses: list[ClauseOut]
    categories: list[str] = Field(default_factory=list, description="救助类别（按文件中的排序，不含辅助分组）")
    parameters: list[dict[str, Any]] = Field(description="参数：名称、年度、值、来源")


class JobOut(BaseModel):
    id: str = Field(description="任务编号")
    status: str = Field(description="排队 / 运行中 / 完成 / 失败")
    rows: int = Field(0, description="已处理的行数")
    message: str | None = Field(None, description="失败原因")
    result: str | None = Field(None, description="结果下载地址（完成时；?format=csv|json|html）")
    summary: dict[str, Any] | None = Field(None, description="审核汇总（完成时）：行数、实付、应付、涉及金额，按结论与按类别的行数和金额（分）")


class ApiError(Exception):
    """An error the API answers with: HTTP status and the JSON body (code, Chinese message, where)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        self.status, self.body = status, ErrorBody(code=code, message=message, **extra)
