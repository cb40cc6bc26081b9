"""Reuse in settlement changes nothing (reasoner/decide.py: PersonParts, Reasoner._decision).

A Settler works out its person's part of the decisions (typed facts, date context,
person-level conditions) once per policy and year, and the Reasoner keeps decided cores
(status, categories, items, answer set) LRU under everything they are computed from. These
tests settle the same records with that Reasoner and with FromScratch — Reasoner.decide as it
was before reuse: every claim re-types the person's facts, evaluates every condition with the
claim's facts and units, solves (answer sets are cached per signature, as before) and
assembles its own Decision — and require every Settlement to be equal: every ClaimResult
field, its Decision (person, policy, note, status, categories, items with citations, answer
set, atom results, values, facts, warnings, claim) and the rendered text and JSON; errors
must be the same error. Both reasoners are shared by all examples, so a core made for one
person is offered to the next: a key that leaves out anything the core depends on shows here.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.settle_generate import ORDINARY, generate_settle
from reasoner import PolicySet
from reasoner.decide import Decision, Reasoner
from reasoner.numeric import evaluate_atom
from reasoner.params import parse_assumed
from reasoner.person import Claim, Person, parse_person
from reasoner.settle import Settlement, Settler, settle
from reasoner.settle_explain import settlement_json, settlement_text
from reasoner.why_not_more import why_not_more, why_not_more_json

decide_module = importlib.import_module("reasoner.decide")  # (reasoner.decide is also the facade function)

POLICIES = PolicySet.load(Path(__file__).resolve().parent.parent / "rules")


class FromScratch(Reasoner):
    """Reasoner.decide before reuse (commit 8f13a91), verbatim: nothing kept between claims or persons
    but the date contexts, groundings and answer sets. `parts` is accepted and ignored."""

    def decide(self, record: Person | dict[str, Any], claim: Claim | None = None, parts: Any = None) -> Decision:
        person = record if isinstance(record, Person) else parse_person(record)
        if claim is not None:
            person = replace(person, date=claim.date)
        selection = self.policies.select(person.region, person.date)
        policy = selection.policy
        self._check_identities(policy, person)
        facts = self._typed_facts(policy, person)
        fact_units = {d.name.text: d.unit or "" for d in policy.source.decls if d.kind == "fact"}
        assumed = parse_assumed(person.assumed)
        values = self._context(policy, person, set(fact_units), assumed)
        if claim is not None:
            facts |= self._claim_facts(policy, person, claim)
            fact_units |= {d.name.text: d.unit or "" for d in policy.source.decls if d.kind == "claim_fact"}
        lookup = lambda name: self.policies.params.lookup(name, person.region, person.year, assumed)  # noqa: E731
        atoms = {aid: evaluate_atom(cond, facts, fact_units, lookup) for aid, cond in policy.atoms.items()}
        signature = self.signature(policy, person, atoms, claim.kind if claim else "")
        answer = self._ground(policy, values).solve(signature)
        decision = self._assemble(person, selection, answer, atoms, values, facts)
        decision.claim = claim
        return decision


REUSE = Reasoner(POLICIES)
SCRATCH = FromScratch(POLICIES)


# ---------------------------------------------------------------- comparing
def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two results first differ (dataclass fields, dict keys in order, list items), or None."""
    if a is b:
        return None
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} ≠ {type(b).__name__}"
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a).__name__ == "CompiledPolicy":
            return None if a is b else f"{path}: another policy object"
        for f in dataclasses.fields(a):
            found = first_difference(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
            if found:
                return found
        return None
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} ≠ {list(b)}"
        for k in a:
            found = first_difference(a[k], b[k], f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} ≠ {len(b)} elements"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} ≠ {b!r}"


def outcome(reasoner: Reasoner, record: dict[str, Any]) -> tuple[Any, ...]:
    """A record's settlements with their text and JSON, or the error it ends in."""
    try:
        settlements = settle(reasoner, record)
    except Exception as err:  # noqa: BLE001 — the same error must come out of both
        return ("error", type(err).__name__, str(err))
    texts = [settlement_text(s) for s in settlements]
    jsons = [json.dumps(settlement_json(s), ensure_ascii=False, sort_keys=True) for s in settlements]
    return ("settled", settlements, texts, jsons)


def assert_same(record: dict[str, Any], reasoner: Reasoner = REUSE) -> list[Settlement]:
    got, want = outcome(reasoner, record), outcome(SCRATCH, record)
    where = first_difference(got, want, "settlements")
    assert where is None, f"{record.get('编号')}: {where}"
    assert got == want  # dataclass equality as well (every field, the answer sets included)
    return got[1] if got[0] == "settled" else []


# ---------------------------------------------------------------- the benchmark's population
def test_reuse_matches_from_scratch_on_the_bench_population():
    """bench/settle_generate.py persons (Longyan, 1–5 claims each, identities starting and ending within
    the year), then gravely ill ones whose caps bind: every settlement equal, why-not-more too."""
    records = generate_settle(400, seed=11) + generate_settle(100, seed=12, severe=1.0, cost_max=1_000_000_00)
    settled = 0
    for i, record in enumerate(records):
        settled += len(assert_same(record))
        if i % 25 == 0:  # why-not-more settles the year again under each category the person lacked
            mine = [why_not_more_json(w) for w in why_not_more(REUSE, record)]
            assert mine == [why_not_more_json(w) for w in why_not_more(SCRATCH, record)]
    assert settled == len(records)
    assert len(REUSE._decided) > 0


def test_person_swapped_between_claims_as_the_audit_does():
    """audit.py sets Settler.person before each payment row (the row's identities and facts): the kept
    person part must follow the person, not stay with the first one."""
    persons = [parse_person(r) for r in generate_settle(60, seed=13)]
    mine, theirs = Settler(REUSE, persons[0], persons[0].date.year), Settler(SCRATCH, persons[0], persons[0].date.year)
    for k, person in enumerate(persons):
        for settler in (mine, theirs):
            settler.person = person  # the same year (settle_generate's records all fall in one)
        for claim in person.claims[: 1 + k % 2]:
            got, want = mine.claim(claim), theirs.claim(claim)
            assert first_difference(got, want, "claim") is None
            assert got == want
    assert mine.state == theirs.state


# ---------------------------------------------------------------- what the key must hold, one part at a time
def longyan_without_identity(facts: dict[str, Any]) -> dict[str, Any]:
    """No identity, so only the condition-based category could apply; its parameters are not known for
    2023 (rules/parameters/龙岩市.yaml), so the decision is 无法决定 and lists what is missing."""
    return {"编号": "k", "地区": "龙岩市", "日期": "2023-12-31", "身份": [],
            "事实": {"认定前当年已参保": False, "未按规定缴费参保": False, "家庭财产符合低保边缘家庭条件": True, **facts},
            "假设参数": {"年度救助限额": 50000}, "大病保险": ORDINARY,
            "就医": [{"编号": "c1", "日期": "2023-05-01", "类别": "住院", "政策范围内费用": "20000", "基本医保支付": "12000",
                    "事实": {"按规定转诊": True}}]}


def test_what_unknown_conditions_lack_is_part_of_the_key():
    """Same signature (the condition is unknown either way: its parameter is missing), but one person also
    lacks the fact: the missing lists differ, so the two must not share a core."""
    r = Reasoner(POLICIES)
    without = longyan_without_identity({})
    with_fact = longyan_without_identity({"申请前12个月政策范围内医疗费用个人自付": 90000})
    first, second = assert_same(without, r), assert_same(with_fact, r)
    assert first[0].claims[0].decision.missing != second[0].claims[0].decision.missing
    assert "事实「申请前12个月政策范围内医疗费用个人自付」" in first[0].claims[0].decision.missing


def test_amounts_a_value_reads_are_part_of_the_key():
    """秦皇岛 二（二）2: 参保资助 of 特困人员 insured as flexible workers is 2.2% × 缴费基数, the person's own
    amount: persons alike in everything else must each see their own."""
    r = Reasoner(POLICIES)
    def person(base: str | None) -> dict[str, Any]:
        return {"编号": f"q{base}", "地区": "秦皇岛市", "日期": "2023-12-31",
                "身份": [{"名称": "特困人员", "认定部门": "民政", "认定日期": "2022-03-01"}],
                "事实": {"缴费基数": base} if base else {},
                "就医": [{"编号": "c1", "日期": "2023-04-01", "类别": "门诊慢性病", "政策范围内费用": "3000",
                        "基本医保支付": "1500", "大病保险支付": "0"}]}
    shown = set()
    for base in ("40000", "52000", None, "40000"):
        (s,) = assert_same(person(base), r)
        shown.add(s.claims[0].decision.item("参保资助", "灵活就业人员医保").value)
    assert len(shown) == 3, shown


# ---------------------------------------------------------------- generated records under every policy
REGIONAL = sorted((p for p in POLICIES.policies.values() if p.source.header.region), key=lambda p: p.name)
BUILTIN_CLAIM_FACTS = {"政策范围内费用", "基本医保支付", "大病保险支付", "入院至备案天数"}
DEPARTMENTS = ["民政", "乡村振兴", "残联", "卫生健康", "退役军人事务", "其他"]
AMOUNTS = ["3000", "20000.5", "60000"]  #: 元: few, so that persons share signatures and cores


def money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws; False is the simple case hypothesis tends to."""
    return draw(st.integers(1, one_in)) == one_in


def fact_value(draw: st.DrawFn, unit: str | None) -> Any:
    if unit == "布尔":
        return draw(st.sampled_from([True, False, "是", "否"]))
    if unit == "金额":
        return draw(st.sampled_from(AMOUNTS))
    if unit == "比例":
        return draw(st.sampled_from(["50%", "0.9"]))
    if unit == "日期":
        return draw(st.dates(dt.date(2022, 1, 1), dt.date(2024, 12, 31))).isoformat()
    return draw(st.integers(0, 3))


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A person under any bundled policy, from its declarations only: identities (departments right or
    wrong, recognised before or within the year, some ended), facts and 假设参数 given or missing,
    1–4 claims of its kinds (rarely one it lacks, or before the policy is in force) with claim facts
    given or missing; years from the policy's first whole year to the one after it ends (a parent's)."""
    policy = draw(st.sampled_from(REGIONAL))
    header = policy.source.header
    assert header.start is not None and header.region is not None
    first = header.start.year + (header.start > dt.date(header.start.year, 1, 1) and not rarely(draw, 8))
    year = draw(st.integers(first, (header.end or header.start).year + 1))
    day = st.dates(dt.date(year, 1, 1), dt.date(year, 12, 31))
    identities = []
    for name in draw(st.lists(st.sampled_from(sorted(policy.identities)), max_size=2, unique=True)):
        dept = policy.identities[name]
        item = {"名称": name, "认定部门": dept if dept and not rarely(draw, 6) else draw(st.sampled_from(DEPARTMENTS)),
                "认定日期": draw(st.dates(dt.date(year - 1, 1, 1), dt.date(year, 12, 31))).isoformat()}
        if rarely(draw, 4):
            item["终止日期"] = draw(day).isoformat()
        identities.append(item)
    decls = policy.source.decls
    facts = {d.name.text: fact_value(draw, d.unit) for d in decls if d.kind == "fact" and not rarely(draw, 3)}
    assumed = {d.name.text: draw(st.sampled_from([38000, 60000])) for d in decls
               if d.kind == "param" and d.unit == "金额" and not rarely(draw, 3)}
    kinds = [d.name.text for d in decls if d.kind == "claim_kind"]
    claim_facts = [d for d in decls if d.kind == "claim_fact" and d.name.text not in BUILTIN_CLAIM_FACTS]
    claims = []
    for i in range(draw(st.integers(1, 4))):
        cost = draw(st.one_of(st.integers(1, 2_000_000), st.integers(2_000_000, 40_000_000)))
        basic = draw(st.integers(0, cost))
        date = draw(day)
        claim: dict[str, Any] = {"编号": f"c{i + 1}", "日期": date.isoformat(),
                                 "类别": "急诊" if rarely(draw, 40) else draw(st.sampled_from(kinds)),
                                 "政策范围内费用": money(cost), "基本医保支付": money(basic)}
        if rarely(draw, 3):
            claim["大病保险支付"] = money(draw(st.integers(0, cost - basic)))
        if rarely(draw, 4):
            claim["备案日期"] = (date + dt.timedelta(days=draw(st.integers(-5, 20)))).isoformat()
        cf = {d.name.text: fact_value(draw, d.unit) for d in claim_facts if not rarely(draw, 5)}
        if cf:
            claim["事实"] = cf
        claims.append(claim)
    record: dict[str, Any] = {"编号": f"g{draw(st.integers(0, 10**6))}", "地区": header.region.text,
                              "日期": f"{year}-12-31", "身份": identities, "事实": facts, "假设参数": assumed, "就医": claims}
    if not rarely(draw, 4):
        record["大病保险"] = ORDINARY
    if rarely(draw, 10):
        record["待遇年度"] = year - 1
    return record


@settings(max_examples=500, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records())
def test_reuse_matches_from_scratch_on_generated_records(record: dict[str, Any]):
    assert_same(record)
    try:  # a plain decision (no claim) goes through the same cores
        mine: Any = REUSE.decide(record)
    except Exception as err:  # noqa: BLE001
        mine = (type(err).__name__, str(err))
    try:
        theirs: Any = SCRATCH.decide(record)
    except Exception as err:  # noqa: BLE001
        theirs = (type(err).__name__, str(err))
    assert first_difference(mine, theirs, "decision") is None
    assert mine == theirs


# ---------------------------------------------------------------- reuse happens, and stays bounded
class Counting(Reasoner):
    def __init__(self, policies: PolicySet):
        super().__init__(policies)
        self.person_parts = self.assembled = 0

    def person_part(self, policy, person):  # type: ignore[no-untyped-def]
        self.person_parts += 1
        return super().person_part(policy, person)

    def _assemble(self, *args):  # type: ignore[no-untyped-def]
        self.assembled += 1
        return super()._assemble(*args)


def test_person_part_once_per_settlement_and_cores_reused():
    records = generate_settle(80, seed=14)
    r = Counting(POLICIES)
    first = [settle(r, rec) for rec in records]
    claims = sum(len(rec["就医"]) for rec in records)
    assert claims > len(records)
    assert r.person_parts == len(records)  # one policy and one year each: once per person, not per claim
    assert 0 < r.assembled < claims  # a person's claims, and persons alike, share decided cores
    r.person_parts = r.assembled = 0
    again = [settle(r, rec) for rec in records]
    assert r.assembled == 0  # every core kept: nothing assembled, nothing solved
    assert again == first
    shared = [c.decision.items for s in again for c in s[0].claims]
    assert any(a[0] is b[0] for a, b in zip(shared, shared[1:]) if a and b)  # items are shared, not rebuilt


def test_decided_cores_stay_bounded(monkeypatch: pytest.MonkeyPatch):
    """DECISIONS_KEPT bounds the cores a Reasoner keeps (a long-running service meets persons without
    end); evicted cores are rebuilt to the same settlements."""
    monkeypatch.setattr(decide_module, "DECISIONS_KEPT", 12)
    r = Reasoner(POLICIES)
    largest = 0
    for record in generate_settle(150, seed=15):
        assert_same(record, r)
        largest = max(largest, len(r._decided))
        assert len(r._decided) <= 12
    assert largest == 12  # it filled up, so cores were evicted and later made again
