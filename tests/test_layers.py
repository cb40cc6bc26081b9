"""The identity layer (reasoner/layers.py): which part of the generic program reads the identity
claims, and through which predicates the rest of it sees them. The batch keys its summaries by
what the layer makes of the claims, so the analysis must never make the interface too narrow."""
from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from bench.roster import SETTLE_COLUMNS, flat_row
from bench.settle_generate import generate_settle
from reasoner import PolicySet, Reasoner
from reasoner import settle_table as st
from reasoner.batch import decide_batch
from reasoner.batch_rows import settle_rows
from reasoner.batch_summary import Summary
from reasoner.layers import claim_layer
from reasoner.partition import SETTLE_SCHEMA, ArrowRows
from reasoner.person import Person
from reasoner.solve import CLAIM_INPUTS, AnswerKey, Signature, generic_program

RELATIONS = ["before_month", "same_month", "after"]


def test_the_rest_of_decide_lp_sees_identity_claims_only_through_holds() -> None:
    layer = claim_layer(generic_program(False), CLAIM_INPUTS)
    assert layer.interface == {("holds", 1)}
    assert {("wrong_dept", 2), ("not_yet", 1), ("expired", 1), ("in_effect", 1), ("lacks", 1), ("claimed", 1)} <= layer.private
    assert ("val", 2) not in layer.depends and ("member", 1) not in layer.depends  # they read 条件 (atom_val) too


def test_explanations_read_the_whole_layer() -> None:
    layer = claim_layer(generic_program(True), CLAIM_INPUTS)  # justify.lp says why an identity does not hold
    assert {("wrong_dept", 2), ("not_yet", 1), ("expired", 1), ("holds", 1)} <= layer.interface


def test_a_rule_outside_the_layer_reading_a_layer_predicate_widens_the_interface() -> None:
    program = generic_program(False) + "\nflag(I) :- not_yet(I), atom_val(I,t).\n"
    assert claim_layer(program, CLAIM_INPUTS).interface == {("holds", 1), ("not_yet", 1)}


def test_a_rule_shape_the_analysis_does_not_follow_keeps_its_head_read() -> None:
    program = "#external claimed(I,D) : identity(I), department(D).\n#external atom_val(A,V) : atom(A), tv(V).\n" \
              "h(I) :- claimed(I,_).\n{ pick(I) } :- h(I).\nout(I) :- pick(I), atom_val(I,t).\n"
    layer = claim_layer(program, frozenset({("claimed", 2)}))
    assert layer.interface == {("pick", 1)} and ("h", 1) in layer.private


def _person(identities: list[dict[str, str]]) -> dict[str, object]:
    return {"地区": "龙岩市", "日期": "2023-06-15", "身份": identities,
            "事实": {"认定前当年已参保": "否", "未按规定缴费参保": "否"},
            "假设参数": {"上年度居民人均可支配收入": 40000, "年度救助限额": 45000}}


def test_claims_the_rest_cannot_tell_apart_share_one_summary() -> None:
    # 龙岩 二（一）: 重度残疾人 is recognised by 残联, so the same claim from 民政 does not hold;
    # 三（二）"相关待遇从认定之日次月起执行": recognised in the decision's month does not hold yet.
    low = {"名称": "最低生活保障对象", "认定部门": "民政", "认定日期": "2023-01-10"}
    records = [
        _person([low]),
        _person([low, {"名称": "重度残疾人", "认定部门": "民政", "认定日期": "2022-03-01"}]),
        _person([{**low, "认定日期": "2023-06-02"}]),
        _person([]),
        _person([low, {"名称": "重度残疾人", "认定部门": "残联", "认定日期": "2022-03-01"}]),
    ]
    reasoner = Reasoner(PolicySet.load())
    result = decide_batch(reasoner, copy.deepcopy(records))
    assert result.stats["new_summaries"] == 3  # {低保}, {} and {低保, 重度残疾人}
    assert result.rows[0] == result.rows[1] and result.rows[2] == result.rows[3]
    assert len({int(r) for r in result.rows}) == 3
    for i, record in enumerate(records):
        assert result.summary(i) == Summary.of(reasoner.decide(record)), i
    assert result.summary(1).categories == ("第三类",) and result.summary(4).categories != ("第三类",)


def test_claims_of_persons_whose_identities_decide_alike_share_one_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # 龙岩 一: 孤儿 and 特困供养人员 are both 第一类 (民政 recognises both, 二（一）1), so a claim of
    # either decides alike outside the identity layer; 最低生活保障对象 is 第三类.
    base = generate_settle(2, seed=1)[1]
    records = []
    for k, name in enumerate(["孤儿", "特困供养人员", "最低生活保障对象"]):
        records.append({**copy.deepcopy(base), "编号": f"p{k}", "身份": [{"名称": name, "认定部门": "民政", "认定日期": "2019-08-18"}]})
    table = pa.Table.from_pylist([flat_row(r, SETTLE_COLUMNS) for r in records])
    decided = []
    original = st._Planner._decided
    monkeypatch.setattr(st._Planner, "_decided", lambda self, c, expected, *answer: decided.append(expected) or original(self, c, expected, *answer))
    reasoner = Reasoner(PolicySet.load())
    got = st.settle_table(reasoner, table, 1, None)
    want = pa.Table.from_pydict(settle_rows(Reasoner(PolicySet.load()), ArrowRows(1, table).rows(), True, None), schema=SETTLE_SCHEMA)
    assert got.to_pylist() == want.to_pylist()
    kinds = {c["类别"] for c in base["就医"]}  # the claims meet every condition (按规定转诊: 是)
    made = sorted((e.layer[0][1][0], e.claim_kind) for e in decided)
    assert made == sorted((name, kind) for name in ("孤儿", "最低生活保障对象") for kind in kinds)  # none for 特困供养人员
    aid = got.column("医疗救助（分）").to_pylist()
    assert aid[0] == aid[1] and aid[0] > 0


def test_signatures_with_one_key_have_one_answer_outside_the_layer_in_every_policy() -> None:
    """The splitting set theorem as the batch uses it, checked on the real program: random identity
    claims, conditions and 就医类别 for each of the five policies; signatures that GroundPolicy.key
    puts together must have the same answer set once the layer is left out."""
    rng = random.Random(7)
    for reasoner, policy, ground in _groundings(justify=False):
        kinds = ["", *sorted(reasoner._layout(policy).claim_kinds)]
        by_key: dict[Any, tuple[Signature, Any]] = {}
        merged = 0
        for _ in range(400):
            claims = _random_claims(rng, policy)
            atoms = tuple(sorted((aid, rng.random() < 0.5) for aid in policy.atoms if rng.random() < 0.8))
            sig = Signature(claims, atoms, rng.choice(kinds))
            content = ground.solve(sig).without(ground.layer.names).content()
            key = ground.key(sig)
            seen = by_key.setdefault(key, (sig, content))
            assert seen[1] == content, (policy.name, seen[0], sig)
            merged += seen[0].claims != sig.claims
        assert merged > 20, policy.name  # the key does put different claims together


def test_conditions_below_no_open_root_do_not_change_the_answer_in_every_policy() -> None:
    """relevance.lp as the batch uses it (batch._Batch._solved): for random identity claims, known
    conditions and 就医类别 in each of the five policies, a signature's answer set is that of its
    layer's first claims with only the conditions GroundPolicy.relevant names for its layer and kind."""
    rng = random.Random(13)
    reduced: dict[str, int] = {}
    for reasoner, policy, ground in _groundings(justify=False):
        kinds = ["", *sorted(reasoner._layout(policy).claim_kinds)]  # a settlement's claims: project conditions read
        reduced[policy.name] = 0
        for _ in range(300):
            claims = _random_claims(rng, policy)
            atoms = tuple(sorted((aid, rng.random() < 0.5) for aid in policy.atoms if rng.random() < 0.8))
            sig = Signature(claims, atoms, rng.choice(kinds))
            key = ground.key(sig)
            relevant = ground.relevant(key)
            shared = ground.shared(key)
            assert relevant is not None and shared is not None and set(shared.atoms) == {a for a in atoms if a[0] in relevant}
            assert ground.solve(shared).content() == ground.solve(sig).content(), (policy.name, sig, sorted(relevant))
            reduced[policy.name] += len(shared.atoms) < len(atoms)
        assert ground.shared(AnswerKey((("holds", ("无此身份",)),), (), "")) is None  # a layer no claims gave: solved as it is
    # conditions are left out in most policies: the comparisons are not of equal signatures
    assert sum(n >= 30 for n in reduced.values()) >= 3 and sum(reduced.values()) >= 300, reduced


@pytest.mark.parametrize("justify", [False, True])
def test_the_layer_solved_on_its_own_gives_the_whole_programs_interface_atoms(justify: bool) -> None:
    """GroundPolicy.key solves the identity layer on its own program (Layer.program: its rules, the
    facts, the claims' #external declarations): for random claims in each of the five policies, the
    interface atoms must be those of a solve of the whole program with no condition known."""
    rng = random.Random(11)
    for _, policy, ground in _groundings(justify):
        assert ground.layer.separable, policy.name  # claims of several identities: composed, not solved
        names = sorted({name for name, _ in ground.layer.interface})
        held = composed = 0
        for _ in range(300):
            claims = _random_claims(rng, policy)
            whole = ground.solve(Signature(claims, ()))
            expected = tuple((name, args) for name in names for args in sorted(whole.get(name), key=repr))
            assert ground.key(Signature(claims, ())).layer == expected, (policy.name, claims)
            held += bool(expected)
            composed += len({c[0] for c in claims}) > 1 and bool(expected)
        assert held >= 5, policy.name  # identities do hold: the comparison is not between empty layers
        assert composed >= 5, policy.name  # claims of several identities, some holding: composed from each one's


@pytest.mark.parametrize("rule", ["holds(I) :- claimed(J), identity(I), I != J.",  # one identity's claims decide another's
                                  ':- holds(I), holds(J), I != J, I = "无此身份".',  # a constraint across identities (never violated)
                                  "holds(I) :- identity(I), #count{ J : claimed(J) } >= 2."])  # an aggregate over the claims
def test_a_layer_that_mixes_identities_is_not_separable_and_is_solved_whole(rule: str) -> None:
    """Layer.separable holds only when every rule of the layer keeps to one identity (its head's
    first argument); otherwise GroundPolicy.key solves every combination of claims as a whole."""
    from reasoner.solve import GroundPolicy

    reasoner, policy, plain = next(_groundings(justify=False))
    facts = plain._context_facts
    assert plain.layer.separable
    mixed = copy.copy(policy)
    mixed.text = lambda: policy.text() + "\n" + rule + "\n"  # type: ignore[method-assign]
    ground = GroundPolicy(mixed, facts, justify=False)
    assert not ground.layer.separable
    rng = random.Random(5)
    names = sorted({name for name, _ in ground.layer.interface})
    for _ in range(60):
        claims = _random_claims(rng, policy)
        whole = ground.solve(Signature(claims, ()))
        assert ground.key(Signature(claims, ())).layer == tuple((n, a) for n in names for a in sorted(whole.get(n), key=repr))


def _groundings(justify: bool) -> Iterator[tuple[Reasoner, Any, Any]]:
    """Each of the five bundled policies with its grounding at its start date (no fact known)."""
    reasoner = Reasoner(PolicySet.load())
    for policy in reasoner.policies.policies.values():
        header = policy.source.header
        person = Person("p", header.region.text, header.start or dt.date(2024, 1, 1), ())
        yield reasoner, policy, reasoner._ground(policy, reasoner._context(policy, person, set()), justify=justify)


def _random_claims(rng: random.Random, policy: Any) -> tuple[tuple[str, str, str, str], ...]:
    """Up to three identity claims of the policy's names and departments, as a signature holds them."""
    return tuple(sorted({(rng.choice(sorted(policy.identities)), rng.choice(sorted(policy.departments)),
                          rng.choice(RELATIONS), rng.choice(["", "before_month", "same_month"])) for _ in range(rng.randint(0, 3))}))
