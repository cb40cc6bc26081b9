"""This module loads a folder of rules files and picks the policy for a region and date.

A decision is made under the policy of the person's region that is in force on the
decision date. Outside its period, the policy's parent (上位) is used when that is in
force, and the decision says so; otherwise it is an error naming the periods.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .check import check
from .compile import CompiledPolicy, compile_policy
from .diagnostics import DiagnosticError, has_errors
from .disk_cache import remembered
from .params import ParameterStore
from .parse import grammar_text, parse_text


class PolicySelectionError(LookupError):
    """No policy applies to a region on a date; the message says why, in Chinese, and .field
    names the record field to correct (地区 for an unknown region, 日期 for a date out of force)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Selection:
    policy: CompiledPolicy
    note: str  #: how the policy was chosen, for the explanation


def bundled_rules_dir() -> Path:
    """The rules shipped in the package (reasoner/rules when installed), or the repository's rules/."""
    here = Path(__file__).resolve().parent
    installed = here / "rules"
    return installed if any(installed.glob("*.rules")) else here.parent / "rules"


def load_policy(path: str | Path) -> CompiledPolicy:
    """Parse, check and compile one rules file; DiagnosticError lists every error."""
    return policy_from_text(Path(path).read_text(encoding="utf-8"), display_path(Path(path)))


def policy_from_text(text: str, path: str) -> CompiledPolicy:
    """Parse, check and compile a rules text shown as `path` in citations (a ledger replays from stored
    texts); what an earlier process compiled from the same text, path, grammar and engine is read
    back from the disk cache (disk_cache.remembered)."""
    return remembered("policies", (path, text, grammar_text()), lambda: _compiled(text, path))


def _compiled(text: str, path: str) -> CompiledPolicy:
    parsed = parse_text(text, path)
    diags = check(parsed)
    if has_errors(diags):
        raise DiagnosticError(diags, {parsed.path: parsed.source})
    return compile_policy(parsed)


def display_path(path: Path) -> str:
    """A stable path for citations: relative to the working directory, else folder/file."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return f"{path.parent.name}/{path.name}"


def _docno(policy: CompiledPolicy) -> str:
    return f"{policy.source.header.docno}，" if policy.source.header.docno else "无文号，"


def _period(policy: CompiledPolicy) -> str:
    header = policy.source.header
    return f"{header.start} 至 {header.end or '（未定终止日期）'}"


def in_force(policy: CompiledPolicy, on: dt.date) -> bool:
    header = policy.source.header
    return bool(header.start and header.start <= on and (header.end is None or on <= header.end))


@dataclass
class PolicySet:
    """Every policy of a rules folder, with its parameters."""

    policies: dict[str, CompiledPolicy] = field(default_factory=dict)
    params: ParameterStore = field(default_factory=ParameterStore)

    @classmethod
    def load(cls, folder: str | Path | None = None, files: list[str | Path] | None = None) -> "PolicySet":
        root = Path(folder) if folder else bundled_rules_dir()
        paths = [Path(f) for f in files] if files else sorted(root.glob("*.rules"))
        policies = {}
        for path in paths:
            policy = load_policy(path)
            policies[policy.name] = policy
        params_dir = (Path(files[0]).parent if files else root) / "parameters"
        return cls(policies, ParameterStore.load(params_dir) if params_dir.exists() else ParameterStore())

    @classmethod
    def from_texts(cls, rules: dict[str, str], parameters: dict[str, str]) -> "PolicySet":
        """A policy set rebuilt from texts: rules (display path → text) and parameter files (file name → YAML)."""
        policies = [policy_from_text(text, path) for path, text in sorted(rules.items())]
        return cls({p.name: p for p in policies}, ParameterStore.from_texts(parameters))

    def local(self, region: str) -> list[CompiledPolicy]:
        """The policies of a region; a region without any is an error (whatever the date)."""
        local = [p for p in self.policies.values() if p.source.header.region and p.source.header.region.text == region]
        if not local:
            known = "、".join(sorted({p.source.header.region.text for p in self.policies.values() if p.source.header.region}))
            raise PolicySelectionError(f"没有地区「{region}」的政策；已收录的地区：{known}", "地区")
        return local

    def select(self, region: str, on: dt.date) -> Selection:
        local = self.local(region)
        current = [p for p in local if in_force(p, on)]
        if current:
            chosen = max(current, key=lambda p: p.source.header.start or dt.date.min)
            return Selection(chosen, f"{region}在 {on} 施行的政策为「{chosen.name}」（{_docno(chosen)}施行期间 {_period(chosen)}）")
        for policy in local:
            parent = policy.source.header.parent
            if parent and parent.text in self.policies and in_force(self.policies[parent.text], on):
                up = self.policies[parent.text]
                return Selection(up, f"「{policy.name}」的施行期间为 {_period(policy)}，{on} 不在其内；"
                                     f"按其上位政策「{up.name}」（{_docno(up)}施行期间 {_period(up)}）决定")
        periods = "；".join(f"「{p.name}」{_period(p)}" for p in local)
        raise PolicySelectionError(f"{on} 不在{region}任何政策的施行期间内（{periods}），且没有施行中的上位政策", "日期")
