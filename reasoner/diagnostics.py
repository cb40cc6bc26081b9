"""This module holds diagnostics as data, and renders them for people.

Rendering is separate from detection so the CLI, JSON and (later) HTTP share one shape.
The caret under an excerpt is measured in display columns: CJK characters take two.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file; lines and columns are 1-based, columns in characters."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(str, Enum):
    ERROR = "错误"
    WARNING = "警告"
    NOTE = "提示"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a rules file or an input record."""

    code: str  #: stable code, e.g. E201
    severity: Severity
    message: str  #: Chinese message
    span: Span | None = None
    suggestion: str | None = None  #: "您是否想写：…"
    related: tuple[tuple[Span, str], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "severity": self.severity.value, "message": self.message}
        if self.span:
            out["file"], out["line"], out["col"] = self.span.file, self.span.line, self.span.col
        if self.suggestion:
            out["suggestion"] = self.suggestion
        if self.related:
            out["related"] = [{"file": s.file, "line": s.line, "col": s.col, "label": lab} for s, lab in self.related]
        return out


class DiagnosticError(Exception):
    """Raised when diagnostics with severity ERROR stop a pipeline stage."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        super().__init__(render_all(diagnostics, self.sources))


def display_width(text: str) -> int:
    """Terminal columns taken by text: wide and fullwidth characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _excerpt(span: Span, source: str) -> list[str]:
    lines = source.splitlines()
    if not 1 <= span.line <= len(lines):
        return []
    text = lines[span.line - 1].expandtabs(4)
    gutter = f"{span.line:>4} | "
    start = display_width(text[: span.col - 1])
    end_col = span.end_col if span.end_line == span.line and span.end_col > span.col else span.col + 1
    width = max(1, display_width(text[span.col - 1 : end_col - 1]))
    return [gutter + text, " " * (len(gutter) + start) + "^" * width]


def render(diag: Diagnostic, sources: dict[str, str]) -> str:
    """Human form: `file:line:col: 错误[E201]: message`, the line, a caret, the suggestion."""
    where = f"{diag.span}: " if diag.span else ""
    out = [f"{where}{diag.severity.value}[{diag.code}]: {diag.message}"]
    if diag.span and diag.span.file in sources:
        out += _excerpt(diag.span, sources[diag.span.file])
    for span, label in diag.related:
        out.append(f"  {span}: {label}")
        if span.file in sources:
            out += ["  " + line for line in _excerpt(span, sources[span.file])]
    if diag.suggestion:
        out.append(f"  提示：{diag.suggestion}")
    return "\n".join(out)


def render_all(diags: list[Diagnostic], sources: dict[str, str]) -> str:
    return "\n\n".join(render(d, sources) for d in diags)


def has_errors(diags: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)
