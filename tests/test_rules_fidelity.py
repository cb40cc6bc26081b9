"""Fidelity of rules/*.rules to the documents they encode.

Every clause's 原文 must be copied verbatim from its document (whitespace may differ), so a
reviewer can hold the rules file against the text line by line. The documents ship in
rules/sources/ (the policy browser shows them beside the clauses); they must be the very
texts of ../shared/policies/, which a missing folder makes a failure, not a skip.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from reasoner import ast
from reasoner.check import check
from reasoner.diagnostics import Severity, render_all
from reasoner.parse import parse_file

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
DOCUMENTS = RULES / "sources"
SHARED = REPO.parent / "shared" / "policies"
RULES_FILES = sorted(RULES.glob("*.rules"))

#: rules file stem → document file name, as they are named today; a new rules file is found by
#: its stem (<stem>-*.txt) or by its 文号.
KNOWN = {
    "longyan": "longyan-2022-14.txt",
    "fujian": "fujian-2022-39.txt",
    "qinhuangdao": "qinhuangdao-2022.txt",
    "banan": "banan-2023-30.txt",
    "changzhi": "changzhi-2017-142.txt",
}


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def parse(path: Path) -> ast.PolicyFile:
    return parse_file(path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path)


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    """Document file name → text with all whitespace removed."""
    if not DOCUMENTS.is_dir():
        pytest.fail(f"政策原文目录不存在：{DOCUMENTS}（应为仓库旁的 ../shared/policies/）；"
                    "原文逐字核对无法进行，不能跳过", pytrace=False)
    docs = {p.name: squash(p.read_text(encoding="utf-8")) for p in sorted(DOCUMENTS.glob("*.txt"))}
    if not docs:
        pytest.fail(f"{DOCUMENTS} 中没有任何 .txt 原文", pytrace=False)
    return docs


def document_for(path: Path, policy: ast.PolicyFile, docs: dict[str, str]) -> str:
    """The document a rules file encodes: by file name, else by 文号."""
    if path.stem in KNOWN:
        name = KNOWN[path.stem]
        assert name in docs, f"{path.name} 对应的原文 {name} 不在 {DOCUMENTS}"
        return name
    by_stem = [n for n in docs if n == f"{path.stem}.txt" or n.startswith(f"{path.stem}-")]
    by_docno = [n for n, text in docs.items() if policy.header.docno and squash(policy.header.docno) in text]
    found = sorted(set(by_stem) or set(by_docno))
    assert len(found) == 1, f"{path.name}：无法唯一确定原文（按文件名：{by_stem}，按文号：{by_docno}）"
    return found[0]


def test_every_known_document_has_a_rules_file() -> None:
    assert sorted(KNOWN) == sorted(p.stem for p in RULES_FILES if p.stem in KNOWN)


@pytest.mark.parametrize("path", RULES_FILES, ids=lambda p: p.stem)
def test_quotes_are_verbatim(path: Path, documents: dict[str, str]) -> None:
    policy = parse(path)
    doc = documents[document_for(path, policy, documents)]
    wrong = [f"{c.span.file}:{c.span.line} 〔{c.article}〕 {c.quote[:40]}…" for c in policy.clauses if squash(c.quote) not in doc]
    assert not wrong, "以下原文不是原件的逐字摘录（已忽略空白）：\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", RULES_FILES, ids=lambda p: p.stem)
def test_document_number_is_in_the_document(path: Path, documents: dict[str, str]) -> None:
    policy = parse(path)
    doc = documents[document_for(path, policy, documents)]
    if policy.header.docno:
        assert squash(policy.header.docno) in doc, f"文号「{policy.header.docno}」不在原文中"


@pytest.mark.parametrize("path", RULES_FILES, ids=lambda p: p.stem)
def test_checks_clean(path: Path) -> None:
    policy = parse(path)
    diags = check(policy)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    assert not errors, render_all(errors, {policy.path: policy.source})


@pytest.mark.parametrize("path", RULES_FILES, ids=lambda p: p.stem)
def test_has_an_interpretation(path: Path) -> None:
    policy = parse(path)
    interps = [s for c in policy.clauses for s in c.statements if isinstance(s, ast.Interpretation)]
    assert interps, f"{path.name} 没有任何「解释」：文本有歧义处须写明所采取的读法"
    assert all(i.text.strip() for i in interps)


@pytest.mark.parametrize("path", RULES_FILES, ids=lambda p: p.stem)
def test_every_clause_has_a_quote(path: Path) -> None:
    policy = parse(path)
    assert policy.clauses, f"{path.name} 没有条款"
    empty = [f"{c.span.file}:{c.span.line} 〔{c.article}〕" for c in policy.clauses if not squash(c.quote)]
    assert not empty, "以下条款的原文为空：\n" + "\n".join(empty)


def test_shipped_documents_are_the_shared_texts():
    shared = {p.name: p.read_bytes() for p in SHARED.glob("*.txt")}
    assert shared, f"{SHARED} 不存在或为空"
    assert {p.name: p.read_bytes() for p in DOCUMENTS.glob("*.txt")} == shared

