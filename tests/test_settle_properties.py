"""Properties of settlements (就医结算) over generated Qinhuangdao and Longyan persons (hypothesis, derandomized).

Each person holds identities recognised in 2022 (in effect for all of 2023, incl. 生效 认定次月) and
1–5 claims in 2023, amounts in 元 with two decimals, 基本医保支付 ≤ 政策范围内费用. Qinhuangdao
claims give 大病保险支付 (≤ the rest); Longyan persons give ordinary 大病保险 parameters (so the
catastrophic layer, and the tilt for 第一类/第三类, is computed) and 假设参数 for the parameters the
policy references. Every fact a claim condition needs is given, so no claim may end 无法结算.

(1) a claim's assistance is never negative and never exceeds its 医保后自付;
(2) for every cap holder (a 救助项目 with a 年度救助限额, own or shared), the year's total paid under it
    never exceeds that cap as decided from the rules (decision.item("年度救助限额", holder)); the
    running totals (ClaimResult.cap_use) agree with the payments; for Qinhuangdao the decided caps
    are also the document's numbers (二（三）1、2、3);
(3) raising one claim's 政策范围内费用 (nothing else) never lowers that claim's payout nor the year's
    total (a later claim's payout may drop: caps are shared across the year). For Longyan, where 大病保险
    is computed on the year's cumulative self-pay and every amount is rounded to the 分 per claim, the
    year's total may fall by rounding only (at most two 分 per claim; see the test);
(4) permuting the dates among the claims (so the year is split differently) keeps (1) and (2), and the
    year's total stays ≤ the sum of the caps that bound it.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import reasoner
from reasoner.numeric import parse_money
from reasoner.settle import CLAIM_UNDECIDED, Settlement, settle

REASONER = reasoner.Reasoner(reasoner.PolicySet.load(Path(__file__).parent.parent / "rules"))
YEAR = 2023

PROPERTY = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: 秦皇岛 二（三）1、2、2 第二段、3: the annual caps the document states, in 分
QHD_CAPS = {"门诊慢性病": 500000, "门诊特殊疾病": 2000000, "住院": 2000000, "门诊慢特病及住院合计": 2000000, "倾斜救助": 2000000}

QHD_IDENTITIES = [("特困人员", "民政"), ("低保对象", "民政"), ("低保边缘家庭成员", "民政"),
                  ("农村易返贫致贫人口", "乡村振兴"), ("因病致贫重病患者", "民政")]
LONGYAN_IDENTITIES = [("特困供养人员", "民政"), ("重度残疾人", "残联"), ("最低生活保障对象", "民政"),
                      ("最低生活保障边缘家庭成员", "民政")]


# ---------------------------------------------------------------- generators
def money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


#: 政策范围内费用 in 分: mostly everyday amounts, sometimes large ones that reach the caps
COST = st.one_of(st.integers(1, 2_000_000), st.integers(2_000_000, 30_000_000))
DATES = st.dates(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))


@st.composite
def identities(draw: st.DrawFn, pool: list[tuple[str, str]]) -> list[dict[str, str]]:
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    return [{"名称": name, "认定部门": dept, "认定日期": draw(st.dates(dt.date(2021, 1, 1), dt.date(2022, 11, 30))).isoformat()}
            for name, dept in chosen]


@st.composite
def qhd_claim(draw: st.DrawFn, index: int) -> dict[str, Any]:
    cost = draw(COST)
    basic = draw(st.integers(0, cost))
    catastrophic = draw(st.integers(0, cost - basic))
    kind = draw(st.sampled_from(["门诊慢性病", "门诊特殊疾病", "住院"]))
    day = draw(DATES)
    claim: dict[str, Any] = {"编号": f"c{index + 1}", "日期": day.isoformat(), "类别": kind, "政策范围内费用": money(cost),
                             "基本医保支付": money(basic), "大病保险支付": money(catastrophic)}
    if kind == "住院":
        out_of_province = draw(st.sampled_from([False, False, True]))
        facts: dict[str, Any] = {"跨省异地住院": out_of_province}
        if out_of_province:
            filed = draw(st.booleans())
            facts["已备案"] = filed
            if filed:
                claim["备案日期"] = (day + dt.timedelta(days=draw(st.integers(-5, 15)))).isoformat()
        claim["事实"] = facts
    return claim


@st.composite
def qhd_person(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    return {"编号": "q", "地区": "秦皇岛市", "日期": f"{YEAR}-12-31", "身份": draw(identities(QHD_IDENTITIES)),
            "就医": [draw(qhd_claim(i)) for i in range(n)]}


@st.composite
def longyan_claim(draw: st.DrawFn, index: int) -> dict[str, Any]:
    cost = draw(COST)
    basic = draw(st.integers(0, cost))
    return {"编号": f"c{index + 1}", "日期": draw(DATES).isoformat(), "类别": draw(st.sampled_from(["住院", "门诊特殊病种"])),
            "政策范围内费用": money(cost), "基本医保支付": money(basic),
            "事实": {"按规定转诊": draw(st.sampled_from([True, True, True, False]))}}


@st.composite
def longyan_person(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    income = draw(st.sampled_from([38000, 45213]))
    deductible = draw(st.sampled_from([10000, 13000, 15000]))
    return {
        "编号": "l", "地区": "龙岩市", "日期": f"{YEAR}-12-31", "身份": draw(identities(LONGYAN_IDENTITIES)),
        "事实": {"认定前当年已参保": False, "未按规定缴费参保": False},
        "假设参数": {"上年度居民人均可支配收入": income, "最低生活保障边缘家庭标准": 15600,
                 "年度救助限额": draw(st.sampled_from([income, 60000, 100000]))},
        "大病保险": {"起付线": deductible,
                 "分段": [{"起": deductible, "止": 100000, "比例": "60%"}, {"起": 100000, "止": 150000, "比例": "65%"},
                        {"起": 150000, "比例": "70%"}],
                 "封顶线": draw(st.sampled_from([400000, "无"]))},
        "就医": [draw(longyan_claim(i)) for i in range(n)],
    }


PERSONS = st.one_of(qhd_person(), longyan_person())


# ---------------------------------------------------------------- helpers
def settle_year(record: dict[str, Any]) -> Settlement:
    (settlement,) = settle(REASONER, record, YEAR)
    assert len(settlement.claims) == len(record["就医"])
    return settlement


def decided_caps(s: Settlement) -> dict[str, int]:
    """Per cap holder: the 年度救助限额 the rules give it (in 分), from the decisions of the claims that used it."""
    caps: dict[str, int] = {}
    for c in s.claims:
        for holder in c.cap_use:
            item = c.decision.item("年度救助限额", holder)
            assert item.status == "已决定" and item.number not in (None, "inf"), (holder, item)
            value = int(item.number)
            assert caps.setdefault(holder, value) == value, f"「{holder}」的年度救助限额在一年内变了：{caps[holder]} → {value}"
    return caps


def check_claims(s: Settlement) -> None:
    """(1), and that every claim could be settled."""
    for c in s.claims:
        assert c.status != CLAIM_UNDECIDED, (c.claim.id, c.missing)
        assert c.self_pay == c.claim.scope_cost - c.claim.basic_paid - c.catastrophic
        assert c.self_pay >= 0
        assert all(p.paid >= 0 for p in c.payments), [(p.project, p.paid) for p in c.payments]
        assert 0 <= c.assistance <= c.self_pay, (c.claim.id, c.assistance, c.self_pay)


def check_caps(s: Settlement) -> dict[str, int]:
    """(2): returns the caps."""
    caps = decided_caps(s)
    paid: dict[str, int] = {}
    for c in s.claims:
        for p in c.payments:
            for holder in p.caps:
                paid[holder] = paid.get(holder, 0) + p.paid
        for holder, running in c.cap_use.items():
            assert running == paid.get(holder, 0), (c.claim.id, holder, running, paid.get(holder))
    for holder, total in paid.items():
        assert holder in caps
        assert total <= caps[holder], f"「{holder}」本年已付 {total} 分，超过年度救助限额 {caps[holder]} 分"
    if s.person.region == "秦皇岛市":
        for holder, cap in caps.items():
            assert cap == QHD_CAPS[holder], (holder, cap)
    else:
        for holder, cap in caps.items():
            assert cap == s.person.assumed["年度救助限额"] * 100, (holder, cap)
    return caps


def cap_bound(s: Settlement, caps: dict[str, int]) -> int:
    """A bound on the year's total from the caps: each payment is charged to one of its cap holders (the one that
    the most projects share, then the smallest), and each holder's charge is at most its cap."""
    sharing: dict[str, set[str]] = {}
    for c in s.claims:
        for p in c.payments:
            for holder in p.caps:
                sharing.setdefault(holder, set()).add(p.project)
    charged: set[str] = set()
    for c in s.claims:
        for p in c.payments:
            assert p.caps or p.paid == 0, f"「{p.project}」付了 {p.paid} 分，却不受任何年度限额约束"
            if p.caps:
                charged.add(max(p.caps, key=lambda h: (len(sharing[h]), -caps[h])))
    return sum(caps[h] for h in charged)


# ---------------------------------------------------------------- properties
@PROPERTY
@given(PERSONS)
def test_assistance_within_self_pay_and_caps(record: dict[str, Any]) -> None:
    s = settle_year(record)
    check_claims(s)
    caps = check_caps(s)
    assert s.total_assistance <= cap_bound(s, caps)


@st.composite
def raised(draw: st.DrawFn) -> tuple[dict[str, Any], int, int]:
    record = draw(PERSONS)
    claims = record["就医"]
    if record["地区"] == "龙岩市":
        # An excluded claim (未按规定转诊) pays nothing, but raising it pushes the year's cumulative self-pay into
        # the 大病保险 segments earlier, so later claims get more 大病保险 and less 医疗救助: the year's total may
        # rightly fall. The property is about raising a claim that assistance covers.
        candidates = [i for i, c in enumerate(claims) if c["事实"]["按规定转诊"]]
    else:
        candidates = list(range(len(claims)))
    assume(candidates)
    index = draw(st.sampled_from(candidates))
    delta = draw(st.one_of(st.integers(1, 100), st.integers(1, 5_000_000)))
    return record, index, delta


@PROPERTY
@given(raised())
def test_raising_a_claims_cost_never_lowers_its_payout_nor_the_years_total(case: tuple[dict[str, Any], int, int]) -> None:
    record, index, delta = case
    before = settle_year(record)
    bigger = {**record, "就医": [dict(c) for c in record["就医"]]}
    claim = bigger["就医"][index]
    claim["政策范围内费用"] = money(parse_money(claim["政策范围内费用"]) + delta)
    after = settle_year(bigger)
    for s in (before, after):
        check_claims(s)
        check_caps(s)
    cid = claim["编号"]
    own_before = next(c.assistance for c in before.claims if c.claim.id == cid)
    own_after = next(c.assistance for c in after.claims if c.claim.id == cid)
    assert own_after >= own_before, f"{cid} 的政策范围内费用提高 {delta} 分后，本笔救助由 {own_before} 降为 {own_after}"
    # Qinhuangdao claims carry their 大病保险支付, so raising one claim changes no other claim's 医保后自付: the year's
    # total is exactly monotone. Longyan computes 大病保险 on the year's cumulative self-pay: raising a claim gives
    # later claims a little more 大病保险 and less 医保后自付, and with 大病保险 and 医疗救助 each rounded to the 分 per
    # claim the year's total may fall by a 分 or so (found: +0.01元 on c1 → c2 大病保险 +0.01元, 救助 −0.01元, year −0.01元).
    # In exact arithmetic it cannot fall; the rounding allowance is one 分 per rounded amount (two per claim).
    allowance = 0 if record["地区"] == "秦皇岛市" else 2 * len(record["就医"])
    assert after.total_assistance >= before.total_assistance - allowance, (
        f"{cid} 的政策范围内费用提高 {delta} 分后，本年救助合计由 {before.total_assistance} 降为 {after.total_assistance}")


@st.composite
def permuted(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    record = draw(PERSONS)
    dates = [c["日期"] for c in record["就医"]]
    order = draw(st.permutations(dates))
    other = {**record, "就医": [{**c, "日期": d} for c, d in zip(record["就医"], order)]}
    for c in other["就医"]:
        if "备案日期" in c:  # keep the filing delay of each stay
            old = next(o for o in record["就医"] if o["编号"] == c["编号"])
            shift = dt.date.fromisoformat(c["日期"]) - dt.date.fromisoformat(old["日期"])
            c["备案日期"] = (dt.date.fromisoformat(old["备案日期"]) + shift).isoformat()
    return record, other


@PROPERTY
@given(permuted())
def test_splitting_the_year_differently_keeps_every_cap(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    for record in case:
        s = settle_year(record)
        check_claims(s)
        caps = check_caps(s)
        assert s.total_assistance <= cap_bound(s, caps)
