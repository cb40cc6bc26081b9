"""Properties of decisions over generated Longyan persons (hypothesis, derandomized).

Persons hold identities of the Longyan policy recognised by the right department before the
decision month (so every identity is in effect, 生效 认定次月), facts for 第五类 drawn
around its thresholds, and assumed values (假设参数) for the three parameters the policy
references, so every benefit item can be decided.

(a) adding an identity never lowers a benefit item (per-item 待遇就高, 龙政办规〔2022〕14号 二（一）1);
(b) the decision does not depend on the order of identities or of facts;
(c) compile → decide is deterministic: a freshly compiled policy set and a fresh reasoner give
    the same decision and the same answer set (justification atoms) as a warm one.
"""
from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasoner import Decision, ItemDecision, PolicySet, Reasoner
from reasoner.decide import ITEM_DECIDED, ITEM_EXCLUDED, ITEM_UNDECIDED, STATUS_ELIGIBLE

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"

POLICY_SET = PolicySet.load(RULES)
REASONER = Reasoner(POLICY_SET)
#: compiled separately, for (c)
POLICY_SET_AGAIN = PolicySet.load(RULES)

REGION = "龙岩市"
LONGYAN = POLICY_SET.select(REGION, dt.date(2024, 1, 1)).policy
IDENTITIES: list[tuple[str, str]] = sorted((name, dept) for name, dept in LONGYAN.identities.items() if dept)
assert len(IDENTITIES) == len(LONGYAN.identities) >= 10, "every Longyan identity names its recognising department"

PROPERTY = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DEDUCTIBLE = "救助起付标准"


# ---------------------------------------------------------------- generators
def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@st.composite
def decision_dates(draw: st.DrawFn) -> dt.date:
    # in force 2023-01-01 至 2025-12-31; from February on, so an identity can be recognised in an earlier month
    return draw(st.dates(dt.date(2023, 2, 1), dt.date(2025, 12, 31)))


@st.composite
def claim(draw: st.DrawFn, identity: tuple[str, str], on: dt.date) -> dict[str, str]:
    last = on.replace(day=1) - dt.timedelta(days=1)  # before the decision month
    recognised = draw(st.dates(dt.date(2015, 1, 1), last))
    return {"名称": identity[0], "认定部门": identity[1], "认定日期": recognised.isoformat()}


@st.composite
def assumed(draw: st.DrawFn) -> dict[str, int]:
    return {
        "上年度居民人均可支配收入": draw(st.sampled_from([38000, 45213])),
        "最低生活保障边缘家庭标准": draw(st.sampled_from([12000, 15600])),
        "年度救助限额": draw(st.sampled_from([60000, 100000])),
    }


@st.composite
def facts(draw: st.DrawFn, params: dict[str, int], complete: bool, non_payment: bool) -> dict[str, Any]:
    """Facts for 第五类 around its thresholds (exactly at, one 分 either side, or further away)."""
    near = st.sampled_from([-500000, -1, 0, 1, 2000000])
    self_pay = max(0, params["上年度居民人均可支配收入"] * 100 + draw(near))
    income = max(0, params["最低生活保障边缘家庭标准"] * 100 + draw(near))
    out: dict[str, Any] = {
        "申请前12个月政策范围内医疗费用个人自付": yuan(self_pay),
        "扣除医疗费用后家庭人均收入": yuan(income),
        "家庭财产符合低保边缘家庭条件": draw(st.sampled_from(["是", "否"])),
        "认定前当年已参保": draw(st.sampled_from(["是", "否"])),
        "未按规定缴费参保": draw(st.sampled_from(["是", "否"])) if non_payment else "否",
    }
    if not complete:  # some facts missing: conditions become unknown, items possibly undecidable
        out = {k: v for k, v in out.items() if draw(st.booleans())}
    return out


@st.composite
def persons(draw: st.DrawFn, complete: bool = True, non_payment: bool = True, max_identities: int = 4) -> dict[str, Any]:
    on = draw(decision_dates())
    held = draw(st.lists(st.sampled_from(IDENTITIES), unique=True, max_size=max_identities))
    params = draw(assumed())
    return {
        "地区": REGION,
        "日期": on.isoformat(),
        "身份": [draw(claim(i, on)) for i in held],
        "事实": draw(facts(params, complete, non_payment)),
        "假设参数": params,
    }


# ---------------------------------------------------------------- comparing decisions
def summary(d: Decision) -> tuple[Any, ...]:
    items = tuple(
        (it.label, it.status, it.category, it.value, it.number, it.missing, repr(sorted(it.detail.items())),
         it.citation.clause_id if it.citation else None,
         tuple((a.category, a.value, a.citation.clause_id) for a in it.lost))
        for it in d.items)
    return (d.policy.name, d.status, tuple(d.categories), tuple(d.groups), tuple(d.undetermined), tuple(d.missing),
            tuple(d.warnings), items)


def magnitude(number: str | None) -> Fraction:
    assert number is not None
    return Fraction(10**18) if number == "inf" else Fraction(number)


def not_worse(after: ItemDecision, before: ItemDecision) -> bool:
    """after is at least as favourable as before: a decided item stays decided, with a value no worse."""
    if before.status != ITEM_DECIDED:
        return True
    if after.status != ITEM_DECIDED:
        return False
    if after.item == DEDUCTIBLE:
        return magnitude(after.number) <= magnitude(before.number)
    return magnitude(after.number) >= magnitude(before.number)


# ---------------------------------------------------------------- (a) monotonicity
@st.composite
def person_and_extra(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    # 未按规定缴费参保 is 否 here: with it, 二（二） makes adding a 第三类 identity lose everything (see below)
    person = draw(persons(complete=True, non_payment=False, max_identities=3))
    held = {c["名称"] for c in person["身份"]}
    extra = draw(st.sampled_from([i for i in IDENTITIES if i[0] not in held]))
    return person, draw(claim(extra, dt.date.fromisoformat(person["日期"])))


@PROPERTY
@given(person_and_extra())
def test_adding_an_identity_never_lowers_a_benefit(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    person, extra = case
    before = REASONER.decide(person)
    after = REASONER.decide({**person, "身份": person["身份"] + [extra]})
    assert ITEM_UNDECIDED not in {it.status for it in before.items + after.items}, "complete facts: every item decidable"
    assert [it.label for it in after.items] == [it.label for it in before.items]
    if before.status == STATUS_ELIGIBLE:
        assert after.status == STATUS_ELIGIBLE
    worse = [(b.label, b.status, b.value, a.status, a.value) for b, a in zip(before.items, after.items) if not not_worse(a, b)]
    assert not worse, f"adding {extra['名称']} lowered: {worse}"


def test_non_payment_is_the_documented_exception_to_monotonicity() -> None:
    """二（二）: a 第三类 person who does not pay the premium gives up the year's benefits. A 第五类
    patient who becomes 第三类 (最低生活保障对象) therefore loses the 第五类 items: by the text, not a bug."""
    person = {
        "地区": REGION, "日期": "2024-05-20", "身份": [],
        "事实": {"申请前12个月政策范围内医疗费用个人自付": 50000, "扣除医疗费用后家庭人均收入": 10000,
               "家庭财产符合低保边缘家庭条件": "是", "认定前当年已参保": "否", "未按规定缴费参保": "是"},
        "假设参数": {"上年度居民人均可支配收入": 40000, "最低生活保障边缘家庭标准": 12000, "年度救助限额": 60000},
    }
    before = REASONER.decide(person)
    after = REASONER.decide({**person, "身份": [{"名称": "最低生活保障对象", "认定部门": "民政", "认定日期": "2023-03-01"}]})
    assert before.categories == ["第五类"] and after.categories == ["第三类"]
    assert before.item("救助比例", "住院及门诊特殊病种").number == "1/2"
    assert after.item("救助比例", "住院及门诊特殊病种").status == ITEM_EXCLUDED


# ---------------------------------------------------------------- (b) order independence
@st.composite
def person_and_reordering(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    person = draw(persons(complete=False))
    claims = draw(st.permutations(person["身份"]))
    keys = draw(st.permutations(list(person["事实"])))
    return person, {**person, "身份": list(claims), "事实": {k: person["事实"][k] for k in keys}}


@PROPERTY
@given(person_and_reordering())
def test_decision_does_not_depend_on_order(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    person, reordered = case
    first, second = REASONER.decide(person), REASONER.decide(reordered)
    assert summary(first) == summary(second)
    assert first.answer.atoms == second.answer.atoms


# ---------------------------------------------------------------- (c) determinism
@settings(PROPERTY, max_examples=80)
@given(persons(complete=False))
def test_compile_and_decide_are_deterministic(person: dict[str, Any]) -> None:
    fresh = Reasoner(POLICY_SET_AGAIN)  # separately compiled policies, nothing ground or cached yet
    warm, cold = REASONER.decide(person), fresh.decide(person)
    assert summary(warm) == summary(cold)
    assert warm.answer.atoms == cold.answer.atoms


def test_separately_compiled_policy_sets_are_identical() -> None:
    assert sorted(POLICY_SET.policies) == sorted(POLICY_SET_AGAIN.policies)
    for name, policy in POLICY_SET.policies.items():
        again = POLICY_SET_AGAIN.policies[name]
        assert policy.facts == again.facts
        assert policy.content_hash == again.content_hash
