"""This module defines the typed syntax tree of a policy file.

Each grammar rule in grammar/policy.lark has one dataclass here; every node keeps its
source span so that checks, compiled facts and explanations can point back to the text.
Amounts are integer 分 and rates exact fractions from the moment they are read.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Union

from .diagnostics import Span


@dataclass(frozen=True)
class Name:
    text: str
    span: Span

    def __str__(self) -> str:
        return self.text


# ------------------------------------------------------------------ values and operands
@dataclass(frozen=True)
class Full:
    """全额: the whole individual contribution."""


@dataclass(frozen=True)
class NoValue:
    """无: no deductible, no cap, no subsidy."""


@dataclass(frozen=True)
class Percent:
    rate: Fraction
    text: str


@dataclass(frozen=True)
class Amount:
    fen: int
    text: str


@dataclass(frozen=True)
class Number:
    """A plain quantity (数量), e.g. the 10 of `入院至备案天数 不超过 10`."""

    value: Fraction
    text: str


@dataclass(frozen=True)
class PercentOf:
    """`10% × 上年度居民人均可支配收入`: a rate of a parameter or a fact."""

    rate: Fraction
    of: Name
    text: str


@dataclass(frozen=True)
class ParamValue:
    """`参数 年度救助限额`: a value set outside the text, read from the parameter file."""

    param: Name


SimpleValue = Union[Full, NoValue, Percent, Amount, PercentOf, ParamValue]


@dataclass(frozen=True)
class YearEntry:
    year: int
    onwards: bool  #: `2026年起`: this year and every later one
    value: SimpleValue


@dataclass(frozen=True)
class ByYear:
    entries: tuple[YearEntry, ...]


@dataclass(frozen=True)
class Bounded:
    """`参数 年度救助限额 不低于 上年度居民人均可支配收入`: a value with a floor the text imposes."""

    value: SimpleValue
    floor: "Operand"


Value = Union[SimpleValue, ByYear, Bounded]


@dataclass(frozen=True)
class NameRef:
    name: Name


Operand = Union[NameRef, Amount, Percent, PercentOf, Number]


# ------------------------------------------------------------------ conditions
@dataclass(frozen=True)
class AnyOf:
    parts: tuple["Cond", ...]
    span: Span


@dataclass(frozen=True)
class AllOf:
    parts: tuple["Cond", ...]
    span: Span


@dataclass(frozen=True)
class Not:
    part: "Cond"
    span: Span


@dataclass(frozen=True)
class HasIdentity:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class InCategory:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class NotInCategory:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class ClaimKindIs:
    """`就医类别 住院`: the claim being settled is of one of these kinds."""

    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class Comparison:
    left: Operand
    op: str  #: one of >= > <= < =
    right: Operand
    text: str  #: the comparison as written, for explanations
    span: Span


@dataclass(frozen=True)
class BoolFact:
    name: Name
    span: Span


Cond = Union[AnyOf, AllOf, Not, HasIdentity, InCategory, NotInCategory, ClaimKindIs, Comparison, BoolFact]


# ------------------------------------------------------------------ statements
@dataclass(frozen=True)
class IdentityDecl:
    names: tuple[Name, ...]
    department: Name | None
    span: Span


@dataclass(frozen=True)
class CategoryRule:
    name: Name
    cond: Cond
    group: bool  #: 群体: an auxiliary benefit target, not an assistance category
    span: Span


@dataclass(frozen=True)
class Highest:
    mode: str  #: "item" (按 项目), "category" (按 类别) or "amount" (按 金额: whole categories compared on the bill)
    order: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class StartRule:
    mode: str  #: "next_month" (认定次月) or "same_day" (认定当日)
    span: Span


@dataclass(frozen=True)
class EndRule:
    mode: str  #: "next_month" (失效 终止次月) or "same_day" (失效 终止当日)
    span: Span


@dataclass(frozen=True)
class NoExtension:
    """`下位不得扩大救助范围`: a local policy may not settle claim kinds this policy does not."""

    span: Span


@dataclass(frozen=True)
class Interpretation:
    key: Name
    text: str
    span: Span


@dataclass(frozen=True)
class Delegation:
    targets: tuple[Name, ...]
    document: str
    span: Span


ALL = "所有对象"


@dataclass(frozen=True)
class Entry:
    targets: tuple[Name, ...] | None  #: None means 所有对象
    value: Value
    span: Span


@dataclass(frozen=True)
class Benefit:
    item: str  #: 参保资助 救助起付标准 救助比例 年度救助限额
    scope: Name | None
    entries: tuple[Entry, ...]
    span: Span


@dataclass(frozen=True)
class Segment:
    lower: Amount
    upper: Amount | None
    rate: Percent


@dataclass(frozen=True)
class Tilt:
    targets: tuple[Name, ...] | None
    deductible: Amount | None = None
    deductible_cut: Percent | None = None
    rate_raise: Percent | None = None
    segments: tuple[Segment, ...] = ()
    no_cap: bool = False
    span: Span | None = None


@dataclass(frozen=True)
class Exclusion:
    item: str  #: an item keyword or 全部待遇
    categories: tuple[Name, ...]
    cond: Cond
    span: Span


@dataclass(frozen=True)
class ProjectRule:
    """How a 救助项目 settles claims: which 就医类别 it covers, a claim condition, its
    deductible mode (按年起付 / 按次起付), or that its base is what remains after other
    assistance (救助后)."""

    project: Name
    kind: str  #: covers / condition / annual / per_stay / after / sums (a shared cap over other projects)
    kinds: tuple[Name, ...] = ()
    cond: "Cond | None" = None
    span: Span | None = None


Statement = Union[NoExtension, ProjectRule, IdentityDecl, CategoryRule, Highest, StartRule, EndRule, Interpretation, Delegation, Benefit, Tilt, Exclusion]


@dataclass(frozen=True)
class Clause:
    article: str
    quote: str
    statements: tuple[Statement, ...]
    span: Span


# ------------------------------------------------------------------ declarations and file
@dataclass(frozen=True)
class Decl:
    """参数 / 事实 / 救助项目 declarations."""

    kind: str  #: "param", "fact", "project", "claim_kind" or "claim_fact"
    name: Name
    unit: str | None
    note: str
    span: Span


@dataclass(frozen=True)
class Header:
    name: Name
    title: str = ""
    docno: str = ""
    region: Name | None = None
    parent: Name | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    span: Span | None = None


@dataclass(frozen=True)
class PolicyFile:
    path: str
    source: str
    header: Header
    decls: tuple[Decl, ...]
    clauses: tuple[Clause, ...]
    extra: dict[str, object] = field(default_factory=dict, compare=False)
