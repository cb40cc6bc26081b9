"""Collects the data-driven cases in tests/cases/*.yaml (one pytest item per case).

A case: name (a sentence), clause (what it rests on), input (a person record), output
(what must hold; only the keys given are compared), or error (a RecordError/selection
message fragment that must be raised).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reasoner import PolicySet, Reasoner
from reasoner.policies import PolicySelectionError
from reasoner.person import RecordError

RULES = Path(__file__).resolve().parent.parent / "rules"
_REASONER: Reasoner | None = None


def shared_reasoner() -> Reasoner:
    global _REASONER
    if _REASONER is None:
        _REASONER = Reasoner(PolicySet.load(RULES))
    return _REASONER


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent.name == "cases":
        return CaseFile.from_parent(parent, path=file_path)
    if file_path.suffix == ".yaml" and file_path.parent.name == "settle_cases":
        return SettleFile.from_parent(parent, path=file_path)
    return None


class SettleFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        for case in yaml.safe_load(self.path.read_text(encoding="utf-8")) or []:
            yield SettleItem.from_parent(self, name=case["name"], case=case)


class _Case(pytest.Item):
    """A case named by a sentence, citing the clause it rests on; failures print both."""

    def __init__(self, *, case: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        assert case.get("clause"), f"case「{case['name']}」must say which clause it rests on"

    def reportinfo(self):  # type: ignore[no-untyped-def]
        return self.path, 0, f"{self.case['name']}〔{self.case['clause']}〕"

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        return f"{self.case['name']}〔{self.case['clause']}〕\n{excinfo.value}"


class SettleItem(_Case):
    """A worked settlement example: per claim, each layer to the 分, computed by hand in the case."""

    def __init__(self, *, case: dict[str, Any], **kwargs: Any):
        super().__init__(case=case, **kwargs)
        assert case.get("output"), f"case「{case['name']}」needs an output"

    def runtest(self) -> None:
        from reasoner.settle import settle

        settlements = settle(shared_reasoner(), self.case["input"], self.case.get("year"))
        actual = {"年度": {s.year: summarize_settlement(s) for s in settlements}}
        expected = self.case["output"]
        expected = expected if "年度" in expected else {"年度": {settlements[0].year if settlements else 0: expected}}
        problems = compare(expected, actual)
        assert not problems, "\n".join(problems)


def summarize_settlement(s: Any) -> dict[str, Any]:
    """A settlement in the vocabulary of the case files: amounts as the explanation prints them."""
    from reasoner.numeric import yuan

    claims = {}
    for c in s.claims:
        claims[c.claim.id] = {
            "结果": c.status, "大病保险": yuan(c.catastrophic), "医保后自付": yuan(c.self_pay),
            "医疗救助": yuan(c.assistance), "个人负担": yuan(c.self_pay - c.assistance),
            "救助": {p.project: yuan(p.paid) for p in c.payments}, "限额已用": {k: yuan(v) for k, v in c.cap_use.items()},
            "类别": c.decision.categories, "原因": c.reasons, "缺少": c.missing,
            "算式": [c.catastrophic_text] + [p.text for p in c.payments],
        }
    return {"就医": claims, "医疗救助合计": yuan(s.total_assistance)}


class CaseFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        cases = yaml.safe_load(self.path.read_text(encoding="utf-8")) or []
        for case in cases:
            yield CaseItem.from_parent(self, name=case["name"], case=case)


class CaseItem(_Case):
    def __init__(self, *, case: dict[str, Any], **kwargs: Any):
        super().__init__(case=case, **kwargs)
        assert ("output" in case) != ("error" in case), f"case「{case['name']}」needs exactly one of output/error"

    def runtest(self) -> None:
        reasoner = shared_reasoner()
        if "error" in self.case:
            with pytest.raises((RecordError, PolicySelectionError)) as info:
                reasoner.decide(self.case["input"])
            assert self.case["error"] in str(info.value), str(info.value)
            return
        decision = reasoner.decide(self.case["input"])
        actual = summarize(decision)
        expected = self.case["output"]
        problems = compare(expected, actual)
        assert not problems, "\n".join(problems)


def summarize(decision: Any) -> dict[str, Any]:
    """The decision in the vocabulary of the case files."""
    items = {}
    for it in decision.items:
        entry: dict[str, Any] = {"状态": it.status}
        if it.category:
            entry["类别"] = it.category
        if it.value is not None:
            entry["值"] = it.value
        if it.lost:
            entry["落选"] = {a.category: a.value for a in it.lost}
        if it.missing:
            entry["缺少"] = list(it.missing)
        if it.detail:
            entry["倾斜"] = it.detail
        if it.citation:
            entry["条款"] = it.citation.article
        items[it.label] = entry
    return {"状态": decision.status, "类别": decision.categories, "群体": decision.groups,
            "待定类别": decision.undetermined, "缺少": decision.missing, "政策": decision.policy.name,
            "待遇": items, "选择说明": decision.selection_note}


def compare(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: 期望对象，实际为 {actual!r}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}/{key}: 实际结果中没有此项（有：{list(actual)}）")
            else:
                out += compare(value, actual[key], f"{path}/{key}")
        return out
    if isinstance(expected, str) and isinstance(actual, str) and expected.startswith("~"):
        return [] if expected[1:] in actual else [f"{path}: 期望包含「{expected[1:]}」，实际为「{actual}」"]
    return [] if expected == actual else [f"{path}: 期望 {expected!r}，实际 {actual!r}"]


# ------------------------------------------------------------------ decision ledger (tests/ledger_support.py)
@pytest.fixture(scope="session")
def postgres() -> Any:
    """A real PostgreSQL server for this test session (fails, never skips, without the binaries)."""
    from ledger_support import postgres_server

    yield from postgres_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty ledger database on each backend: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    return str(request.getfixturevalue("postgres").new_database())
