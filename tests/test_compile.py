"""Lowering tests: clause snippets → the exact ASP facts reasoner.compile emits, and the
generated programs checked by clingo itself.

Facts are compared as sorted lists (comment lines, which carry the quoted text for a human
reader, are left out). Clingo does not fail on a misspelt predicate, it only logs
AtomUndefined and answers with less, so every generated program is ground here with a
logger and must produce no such message; a deliberately broken program must be caught.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import clingo
import clingo.ast
import pytest

from reasoner import ast
from reasoner.compile import CompiledPolicy, compile_policy
from reasoner.parse import parse_file, parse_text
from reasoner.policies import PolicySet
from reasoner.solve import GroundPolicy, SolverError, generic_program

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
GOOD = REPO / "tests" / "diagnostics" / "good"

HEADER = '政策 甲 {\n  文号 "甲〔2024〕1号"\n  地区 甲市\n  施行 2024-01-01\n}\n'
#: facts every snippet produces
BASE = ['clause(c1,"一").', 'department("其他部门").', 'policy("甲").']


def compiled(body: str) -> CompiledPolicy:
    return compile_policy(parse_text(HEADER + body, "snippet.rules"))


def lower(body: str) -> list[str]:
    return sorted(f for f in compiled(body).facts if not f.startswith("%"))


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return PolicySet.load(RULES)


POLICY_FILES = sorted(RULES.glob("*.rules"))


def compile_file(path: Path) -> CompiledPolicy:
    return compile_policy(parse_file(path.relative_to(REPO).as_posix()))


# ---------------------------------------------------------------- lowering snippets
def test_identities_with_and_without_department() -> None:
    assert lower('条款 "一" {\n  原文 "x"\n  身份 甲、乙 由 民政 认定\n  身份 丙\n}\n') == sorted(BASE + [
        'department("民政").',
        'identity("丙").', 'identity("乙").', 'identity("甲").',
        'open_recognizer("丙",c1).',
        'recognizer("乙","民政",c1).', 'recognizer("甲","民政",c1).',
    ])


def test_identity_list_is_an_any_node_and_rules_of_one_category_are_separate() -> None:
    body = '条款 "一" {\n  原文 "x"\n  身份 甲、乙 由 民政 认定\n  类别 第一类 若 身份 甲、乙\n  类别 第一类 若 身份 乙\n}\n'
    assert lower(body) == sorted(BASE + [
        'department("民政").', 'identity("乙").', 'identity("甲").',
        'recognizer("乙","民政",c1).', 'recognizer("甲","民政",c1).',
        'category("第一类").', 'cat_order("第一类",1).',
        # rule 1 (statement 2): any of two identities
        'defines("第一类",c1_2,c1).', 'root(c1_2,n3).',
        'node(n1,ident("甲")).', 'node(n2,ident("乙")).', 'node(n3,any).', 'sub(n3,n1).', 'sub(n3,n2).',
        # rule 2 (statement 3): a single identity is the root itself
        'defines("第一类",c1_3,c1).', 'root(c1_3,n4).', 'node(n4,ident("乙")).',
    ])


def test_conditions_and_shared_atoms() -> None:
    body = ('事实 自付 金额 "x"\n参数 收入 金额 "y"\n事实 困难 布尔 "z"\n条款 "一" {\n  原文 "x"\n'
            '  类别 第一类 若 困难\n'
            '  类别 第五类 若 不属于 第一类 且 自付 达到或超过 收入 且 非 （困难 或 自付 达到或超过 收入）\n'
            '  待遇就高 按 项目\n}\n')
    out = compiled(body)
    assert sorted(f for f in out.facts if not f.startswith("%")) == sorted(BASE + [
        'category("第一类").', 'category("第五类").', 'cat_order("第一类",1).', 'cat_order("第五类",2).',
        'highest(item,c1).',
        'atom(a1).', 'atom(a2).',  # the same comparison (or bool fact) written twice is one atom
        'defines("第一类",c1_1,c1).', 'root(c1_1,n1).', 'node(n1,atom(a1)).',
        'defines("第五类",c1_2,c1).', 'root(c1_2,n9).',
        'node(n2,incat("第一类")).', 'node(n3,none).', 'sub(n3,n2).',  # 不属于 第一类
        'node(n4,atom(a2)).',  # 自付 达到或超过 收入
        'node(n5,atom(a1)).', 'node(n6,atom(a2)).', 'node(n7,any).', 'sub(n7,n5).', 'sub(n7,n6).',
        'node(n8,none).', 'sub(n8,n7).',  # 非 （…）
        'node(n9,all).', 'sub(n9,n3).', 'sub(n9,n4).', 'sub(n9,n8).',
    ])
    assert isinstance(out.atoms["a1"], ast.BoolFact) and out.atoms["a1"].name.text == "困难"
    assert isinstance(out.atoms["a2"], ast.Comparison) and out.atoms["a2"].op == ">="


def test_groups_order_start_interpretation_delegation() -> None:
    body = ('条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  群体 倾斜 若 属于 第二类\n  类别 第二类 若 身份 甲\n'
            '  类别 第一类 若 属于 第二类、倾斜\n  待遇就高 按 类别 顺序 第一类、第二类\n  生效 认定次月\n'
            '  解释 口径 "说明"\n  另行规定 甲 "乙〔2024〕2号"\n}\n')
    out = compiled(body)
    assert sorted(f for f in out.facts if not f.startswith("%")) == sorted(BASE + [
        'department("民政").', 'identity("甲").', 'recognizer("甲","民政",c1).',
        # order of first definition, groups included; groups are not categories
        'group("倾斜").', 'category("第二类").', 'category("第一类").',
        'cat_order("倾斜",1).', 'cat_order("第二类",2).', 'cat_order("第一类",3).',
        'defines("倾斜",c1_2,c1).', 'root(c1_2,n1).', 'node(n1,incat("第二类")).',
        'defines("第二类",c1_3,c1).', 'root(c1_3,n2).', 'node(n2,ident("甲")).',
        'defines("第一类",c1_4,c1).', 'root(c1_4,n5).',
        'node(n3,incat("第二类")).', 'node(n4,incat("倾斜")).', 'node(n5,any).', 'sub(n5,n3).', 'sub(n5,n4).',
        'highest(category,c1).', 'preferred("第一类",1).', 'preferred("第二类",2).',
        'start_rule(next_month,c1).',
        'interpretation(c1,"口径").',
        'delegated("甲","乙〔2024〕2号",c1).',
    ])
    assert out.categories == {"倾斜": True, "第二类": False, "第一类": False}
    assert [i.key.text for i in out.clauses["c1"].interpretations] == ["口径"]


def test_benefit_tables_and_tilt() -> None:
    body = ('救助项目 住院 "x"\n参数 收入 金额 "y"\n条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n}\n'
            '条款 "二" {\n  原文 "y"\n  参保资助 第一类 全额\n  救助起付标准（住院） 第一类 无\n  救助比例（住院） 第一类 90%\n'
            '  年度救助限额（住院） 所有对象 参数 收入\n  大病保险倾斜 第一类 { 起付线 6500元 封顶 无 }\n}\n')
    out = compiled(body)
    assert sorted(f for f in out.facts if not f.startswith("%")) == sorted(BASE + [
        'clause(c2,"二").', 'department("民政").', 'identity("甲").', 'recognizer("甲","民政",c1).',
        'category("第一类").', 'cat_order("第一类",1).', 'defines("第一类",c1_2,c1).', 'root(c1_2,n1).', 'node(n1,ident("甲")).',
        'scope(subsidy,"").', 'benefit(subsidy,"","第一类",v1,c2).',
        'scope(deductible,"住院").', 'benefit(deductible,"住院","第一类",v2,c2).',
        'scope(rate,"住院").', 'benefit(rate,"住院","第一类",v3,c2).',
        'scope(cap,"住院").', 'benefit(cap,"住院",all,v4,c2).',  # 所有对象
        'scope(tilt,"").', 'benefit(tilt,"","第一类",v5,c2).',
    ])
    # the numbers stay in Python, keyed by value id
    values = {vid: v.value for vid, v in out.values.items()}
    assert values["v1"] == ast.Full() and values["v2"] == ast.NoValue()
    assert isinstance(values["v3"], ast.Percent) and values["v3"].rate == Fraction(9, 10)
    assert isinstance(values["v4"], ast.ParamValue) and values["v4"].param.text == "收入"
    assert isinstance(values["v5"], ast.Tilt) and values["v5"].deductible == ast.Amount(650000, "6500元") and values["v5"].no_cap
    assert {v.cid for v in out.values.values()} == {"c2"}


def test_benefit_entries_share_a_value_per_entry() -> None:
    body = ('条款 "一" {\n  原文 "x"\n  身份 甲、乙 由 民政 认定\n  类别 第一类 若 身份 甲\n  类别 第二类 若 身份 乙\n'
            '  待遇就高 按 项目\n  参保资助 第一类、第二类 全额；第三类 90%\n}\n')
    facts = [f for f in lower(body) if f.startswith("benefit(")]
    # 第三类 is not defined (a checker error), but lowering is purely syntactic
    assert facts == sorted(['benefit(subsidy,"","第一类",v1,c1).', 'benefit(subsidy,"","第二类",v1,c1).',
                            'benefit(subsidy,"","第三类",v2,c1).'])


def test_exclusions() -> None:
    body = ('事实 已参保 布尔 "x"\n条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n'
            '  排除 参保资助 若 已参保\n  排除 全部待遇 对 第一类 若 已参保 且 非 身份 甲\n}\n')
    assert lower(body) == sorted(BASE + [
        'department("民政").', 'identity("甲").', 'recognizer("甲","民政",c1).',
        'category("第一类").', 'cat_order("第一类",1).', 'defines("第一类",c1_2,c1).', 'root(c1_2,n1).', 'node(n1,ident("甲")).',
        'atom(a1).',
        'exclusion(c1_3,subsidy,c1).', 'excl_root(c1_3,n2).', 'node(n2,atom(a1)).',
        'exclusion(c1_4,all,c1).', 'excl_for(c1_4,"第一类").', 'excl_root(c1_4,n6).',
        'node(n3,atom(a1)).', 'node(n4,ident("甲")).', 'node(n5,none).', 'sub(n5,n4).',
        'node(n6,all).', 'sub(n6,n3).', 'sub(n6,n5).',
    ])


def test_names_with_punctuation_are_quoted_strings() -> None:
    facts = lower('条款 "一" {\n  原文 "x"\n  身份 「革命“五老”人员」 由 民政 认定\n  类别 第二类 若 身份 「革命“五老”人员」\n}\n')
    assert 'identity("革命“五老”人员").' in facts and 'node(n1,ident("革命“五老”人员")).' in facts
    for fact in facts:
        clingo.parse_term(fact.rstrip("."))  # every fact is a well-formed term


def test_compilation_is_deterministic() -> None:
    for path in POLICY_FILES:
        assert compile_file(path).facts == compile_file(path).facts


# ---------------------------------------------------------------- the five policies under clingo
def numbers(sym: clingo.Symbol) -> Iterator[int]:
    if sym.type == clingo.SymbolType.Number:
        yield sym.number
    elif sym.type == clingo.SymbolType.Function:
        for arg in sym.arguments:
            yield from numbers(arg)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.stem)
def test_policy_grounds_without_undefined_atoms(path: Path) -> None:
    ground = GroundPolicy(compile_file(path), [])
    undefined = [m for code, m in ground.messages.items if code == clingo.MessageCode.AtomUndefined]
    assert not undefined, "\n".join(undefined)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.stem)
def test_money_never_enters_asp(path: Path) -> None:
    big = []
    for fact in compile_file(path).facts:
        if fact.startswith("%"):
            continue
        sym = clingo.parse_term(fact.rstrip("."))
        big += [(fact, n) for n in numbers(sym) if abs(n) > 1000]
    assert not big, big


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.rules")), ids=lambda p: p.stem)
def test_good_diagnostics_files_ground(path: Path) -> None:
    ground = GroundPolicy(compile_file(path), [])
    assert not [m for code, m in ground.messages.items if code == clingo.MessageCode.AtomUndefined]


def test_decision_context_facts_are_small(policy_set: PolicySet) -> None:
    from reasoner.decide import Reasoner

    reasoner = Reasoner(policy_set)
    decision = reasoner.decide({
        "地区": "龙岩市", "日期": "2024-06-15",
        "身份": [{"名称": "最低生活保障边缘家庭成员", "认定部门": "民政", "认定日期": "2023-01-10"}],
        "事实": {"认定前当年已参保": "否", "未按规定缴费参保": "否"},
        "假设参数": {"上年度居民人均可支配收入": 45000, "最低生活保障边缘家庭标准": 15000, "年度救助限额": 8000000},
    })
    # an 8,000,000元 cap (8×10⁸ 分) is decided without the amount ever reaching clingo
    assert decision.item("年度救助限额", "住院及门诊特殊病种").number == "800000000"
    # ranks and orders are small (order_of adds 1000 to unlisted categories); any amount in 分 would be far larger
    assert max(abs(n) for n in _ints(decision.answer.atoms)) < 10_000


def _ints(term: object) -> Iterator[int]:
    if isinstance(term, int):
        yield term
    elif isinstance(term, dict):
        for value in term.values():
            yield from _ints(value)
    elif isinstance(term, (tuple, set, list)):
        for value in term:
            yield from _ints(value)


def test_broken_program_is_caught(policy_set: PolicySet) -> None:
    policy = next(iter(policy_set.policies.values()))
    broken = dataclasses.replace(policy, facts=policy.facts + ["broken(C) :- category(C), undefined_predicate_xyz(C)."])
    try:
        ground = GroundPolicy(broken, [])
    except SolverError as err:
        assert "undefined_predicate_xyz" in str(err)
        return
    messages = [m for code, m in ground.messages.items if code == clingo.MessageCode.AtomUndefined]
    assert any("undefined_predicate_xyz" in m for m in messages), ground.messages.items


# ---------------------------------------------------------------- emitted vocabulary
#: emitted for people and for the Python side (explanations read them from the compiled policy), not read by the .lp programs
INFORMATIONAL = {("policy", 1), ("clause", 2), ("interpretation", 2), ("delegated", 3)}


def _body_predicates(program: str) -> set[tuple[str, int]]:
    """Predicates the generic programs read: rule bodies, conditions, and #external conditions."""
    found: set[tuple[str, int]] = set()

    def walk(node: object) -> None:
        if isinstance(node, clingo.ast.AST):
            if node.ast_type == clingo.ast.ASTType.SymbolicAtom and node.symbol.ast_type == clingo.ast.ASTType.Function:
                found.add((node.symbol.name, len(node.symbol.arguments)))
            for key in node.child_keys:
                walk(getattr(node, key))
        elif not isinstance(node, (str, int)) and hasattr(node, "__iter__"):
            for child in node:
                walk(child)

    def statement(stm: clingo.ast.AST) -> None:
        if stm.ast_type == clingo.ast.ASTType.Rule:
            walk(stm.body)
            if stm.head.ast_type != clingo.ast.ASTType.Literal:  # conditions inside aggregate/disjunctive heads
                walk(stm.head)
        elif stm.ast_type == clingo.ast.ASTType.External:
            walk(stm.body)

    clingo.ast.parse_string(program, statement)
    return found


def test_every_emitted_predicate_is_read_by_the_generic_programs(policy_set: PolicySet) -> None:
    """#defined hides a misspelt fact predicate from clingo's AtomUndefined check; this does not."""
    read = _body_predicates(generic_program())
    emitted = set()
    for policy in policy_set.policies.values():
        for fact in policy.facts:
            if not fact.startswith("%"):
                sym = clingo.parse_term(fact.rstrip("."))
                emitted.add((sym.name, len(sym.arguments)))
    assert emitted - read - INFORMATIONAL == set()
