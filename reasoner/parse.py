"""This module parses a policy file into the typed syntax tree (reasoner.ast).

Lark's exceptions are translated here, once, into Chinese diagnostics with positions;
syntax errors are collected (the LALR parser resumes after each) rather than stopping at
the first.
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .diagnostics import Diagnostic, DiagnosticError, Severity, Span
from .disk_cache import cache_root

# What a person calls each terminal when the parser expected it.
EXPECTED_NAMES = {
    "NAME": "名称", "QUOTED_NAME": "「名称」", "STRING": "带引号的文字", "DATE": "日期（如 2023-01-01）",
    "AMOUNT": "金额（如 6500元、2万元）", "PERCENT": "比例（如 90%）", "POINTS": "百分点（如 5个百分点）",
    "YEAR": "年度（如 2023年）", "NUMBER": "数量（如 10）", "YEAR_FROM": "起始年度（如 2026年起）", "LBRACE": "「{」", "RBRACE": "「}」",
    "_SEMI": "「；」", "_COMMA": "「、」", "_LPAR": "「（」", "_RPAR": "「）」", "$END": "文件结尾",
    "SYM_GE": "「>=」", "SYM_GT": "「>」", "SYM_LE": "「<=」", "SYM_LT": "「<」", "SYM_EQ": "「=」",
    "KW_TIMES": "「×」",
}


@lru_cache(maxsize=1)
def grammar_text() -> str:
    """The grammar shipped in the package (reasoner.grammar), or the repository copy."""
    try:
        return resources.files("reasoner.grammar").joinpath("policy.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parent.parent / "grammar" / "policy.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The policy parser, its LALR tables cached on disk: building them is most of a process's first
    parse (≈ 0.08 s against 0.01 s loaded), paid by every batch worker before its first chunk."""
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False, cache=_parser_cache() or False)


def _parser_cache() -> str | None:
    """The user's cache file for the parser tables ($XDG_CACHE_HOME/reasoner, else ~/.cache/reasoner), or
    None where it cannot be made. Lark keys the file by a hash of the grammar, its options and its own
    version, and builds the tables again (and rewrites the file) when that does not match or the file
    is unreadable."""
    root = cache_root()
    return None if root is None else str(root / f"policy-parser-py{sys.version_info[0]}{sys.version_info[1]}.lark")


#: Keywords that may also name a parameter (e.g. `参数 年度救助限额`): the benefit items.
NAMEABLE_KEYWORDS = ("KW_SUBSIDY", "KW_DEDUCTIBLE_STD", "KW_RATE_STD", "KW_CAP_STD", "KW_TILT")


@lru_cache(maxsize=1)
def keyword_table() -> dict[str, str]:
    """Keyword text → terminal name, read from the grammar's one keyword table."""
    table = {}
    for term in parser().terminals:
        if term.name.startswith(("KW_", "SYM_")) and term.pattern.type == "str":
            table[term.pattern.value] = term.name
    return table


def describe_expected(names: set[str]) -> str:
    """The tokens the parser would accept, in Chinese: punctuation first, then the shortest words."""
    keywords = {v: k for k, v in keyword_table().items()}
    shown = {EXPECTED_NAMES.get(n) or (f"「{keywords[n]}」" if n in keywords else n) for n in names}
    ordered = sorted(shown, key=lambda s: (not (s.startswith("「") and len(s) == 3 and not s[1].isalnum()), len(s), s))
    return "、".join(ordered[:8]) + ("等" if len(ordered) > 8 else "")


# ------------------------------------------------------------------ literals
def parse_amount(text: str) -> int:
    """'2万元' → 2000000 分; '6500元' → 650000 分."""
    number = text.rstrip("元")
    factor = Decimal(10000) if number.endswith("万") else Decimal(1)
    fen = Decimal(number.rstrip("万")) * factor * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"金额「{text}」精确到分以下")
    return int(fen)


def parse_percent(text: str) -> Fraction:
    """'90%' → 9/10; '5个百分点' → 1/20."""
    number = re.match(r"\d+(\.\d+)?", text)
    assert number
    return Fraction(Decimal(number.group(0))) / 100


def _span(path: str, meta: Any) -> Span:
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(path: str, tok: Token) -> Span:
    return Span(path, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


OPS = {"KW_GE": ">=", "SYM_GE": ">=", "KW_NOT_BELOW": ">=", "KW_GT": ">", "SYM_GT": ">", "KW_LE": "<=",
       "SYM_LE": "<=", "KW_LT": "<", "SYM_LT": "<", "KW_EQ": "=", "SYM_EQ": "="}


@v_args(meta=True)
class _ToAst(Transformer):  # type: ignore[type-arg]
    """Builds reasoner.ast nodes; rule names map 1:1 to methods."""

    def __init__(self, path: str, source: str):
        super().__init__()
        self.path, self.source = path, source
        self.errors: list[Diagnostic] = []

    def _money(self, tok: Token) -> int:
        try:
            return parse_amount(str(tok))
        except ValueError as err:
            self.errors.append(Diagnostic("E004", Severity.ERROR, str(err), _tok_span(self.path, tok), "金额最多精确到分（两位小数）"))
            return 0

    def _s(self, meta: Any) -> Span:
        return _span(self.path, meta)

    def _text(self, meta: Any) -> str:
        return self.source[meta.start_pos : meta.end_pos]

    @staticmethod
    def _kw(items: list[Any]) -> list[Any]:
        return [i for i in items if not (isinstance(i, Token) and i.type.startswith(("KW_", "SYM_")))]

    # names
    def name(self, meta: Any, items: list[Token]) -> ast.Name:
        tok = items[0]
        text = str(tok)[1:-1] if tok.type == "QUOTED_NAME" else str(tok)
        if tok.type == "NAME" and keyword_table().get(text) not in (None, *NAMEABLE_KEYWORDS):
            self.errors.append(Diagnostic("E005", Severity.ERROR, f"「{text}」是关键字，不能用作名称", _tok_span(self.path, tok),
                                          f"如确需以此为名，请写作 「{text}」"))
        return ast.Name(text, _tok_span(self.path, tok))

    def names(self, meta: Any, items: list[ast.Name]) -> tuple[ast.Name, ...]:
        return tuple(items)

    def targets(self, meta: Any, items: list[Any]) -> tuple[ast.Name, ...] | None:
        return None if isinstance(items[0], Token) else items[0]

    # header and declarations
    def start(self, meta: Any, items: list[Any]) -> ast.PolicyFile:
        header, rest = items[0], []
        for i in items[1:]:
            rest += i if isinstance(i, list) else [i]
        decls = tuple(i for i in rest if isinstance(i, ast.Decl))
        clauses = tuple(i for i in rest if isinstance(i, ast.Clause))
        return ast.PolicyFile(self.path, self.source, header, decls, clauses)

    def header(self, meta: Any, items: list[Any]) -> ast.Header:
        fields: dict[str, Any] = {}
        for key, value in self._kw(items)[1:]:
            if key == "period":
                fields["start"], fields["end"] = value
            else:
                fields[key] = value
        return ast.Header(name=self._kw(items)[0], span=self._s(meta), **fields)

    def title(self, meta: Any, items: list[Any]) -> tuple[str, str]:
        return "title", str(items[1])[1:-1]

    def docno(self, meta: Any, items: list[Any]) -> tuple[str, str]:
        return "docno", str(items[1])[1:-1]

    def region(self, meta: Any, items: list[Any]) -> tuple[str, ast.Name]:
        return "region", items[1]

    def parent(self, meta: Any, items: list[Any]) -> tuple[str, ast.Name]:
        return "parent", items[1]

    def period(self, meta: Any, items: list[Any]) -> tuple[str, tuple[dt.date, dt.date | None]]:
        dates = [dt.date.fromisoformat(str(t)) for t in items if isinstance(t, Token) and t.type == "DATE"]
        return "period", (dates[0], dates[1] if len(dates) > 1 else None)

    def _decl(self, kind: str, meta: Any, items: list[Any]) -> ast.Decl:
        rest = self._kw(items)
        unit = next((i for i in rest if isinstance(i, str) and not isinstance(i, Token)), None)
        note = next((str(i)[1:-1] for i in rest if isinstance(i, Token) and i.type == "STRING"), "")
        return ast.Decl(kind, rest[0], unit, note, self._s(meta))

    def param_decl(self, meta: Any, items: list[Any]) -> ast.Decl:
        return self._decl("param", meta, items)

    def fact_decl(self, meta: Any, items: list[Any]) -> ast.Decl:
        return self._decl("fact", meta, items)

    def project_decl(self, meta: Any, items: list[Any]) -> ast.Decl:
        return self._decl("project", meta, items)

    def kind_decl(self, meta: Any, items: list[Any]) -> list[ast.Decl]:
        rest = self._kw(items)
        note = str(rest[1])[1:-1] if len(rest) > 1 else ""
        return [ast.Decl("claim_kind", name, None, note, self._s(meta)) for name in rest[0]]

    def claim_fact_decl(self, meta: Any, items: list[Any]) -> ast.Decl:
        return self._decl("claim_fact", meta, items)

    def _project_rule(self, kind: str, meta: Any, items: list[Any]) -> ast.ProjectRule:
        rest = self._kw(items)
        extra = rest[1] if len(rest) > 1 else None
        return ast.ProjectRule(rest[0], kind, extra if isinstance(extra, tuple) else (),
                               None if isinstance(extra, tuple) else extra, self._s(meta))

    def project_covers(self, meta: Any, items: list[Any]) -> ast.ProjectRule:
        return self._project_rule("covers", meta, items)

    def project_condition(self, meta: Any, items: list[Any]) -> ast.ProjectRule:
        return self._project_rule("condition", meta, items)

    def project_annual(self, meta: Any, items: list[Any]) -> ast.ProjectRule:
        return self._project_rule("annual", meta, items)

    def project_per_stay(self, meta: Any, items: list[Any]) -> ast.ProjectRule:
        return self._project_rule("per_stay", meta, items)

    def project_after(self, meta: Any, items: list[Any]) -> ast.ProjectRule:
        return self._project_rule("after", meta, items)

    def project_sums(self, meta: Any, items: list[Any]) -> ast.ProjectRule:
        return self._project_rule("sums", meta, items)

    def unit(self, meta: Any, items: list[Token]) -> str:
        return {"比例": "比例"}.get(str(items[0]), str(items[0]))

    # clauses and statements
    def clause(self, meta: Any, items: list[Any]) -> ast.Clause:
        article = str(items[1])[1:-1]
        return ast.Clause(article, items[2], tuple(items[3:]), self._s(meta))

    def quote(self, meta: Any, items: list[Any]) -> str:
        return str(items[1])[1:-1]

    def identity_decl(self, meta: Any, items: list[Any]) -> ast.IdentityDecl:
        rest = self._kw(items)
        return ast.IdentityDecl(rest[0], rest[1] if len(rest) > 1 else None, self._s(meta))

    def category_rule(self, meta: Any, items: list[Any]) -> ast.CategoryRule:
        rest = self._kw(items)
        return ast.CategoryRule(rest[0], rest[1], False, self._s(meta))

    def group_rule(self, meta: Any, items: list[Any]) -> ast.CategoryRule:
        rest = self._kw(items)
        return ast.CategoryRule(rest[0], rest[1], True, self._s(meta))

    def highest_per_item(self, meta: Any, items: list[Any]) -> ast.Highest:
        return ast.Highest("item", (), self._s(meta))

    def highest_per_category(self, meta: Any, items: list[Any]) -> ast.Highest:
        rest = self._kw(items)
        return ast.Highest("category", rest[0] if rest else (), self._s(meta))

    def highest_per_amount(self, meta: Any, items: list[Any]) -> ast.Highest:
        return ast.Highest("amount", (), self._s(meta))

    def start_next_month(self, meta: Any, items: list[Any]) -> ast.StartRule:
        return ast.StartRule("next_month", self._s(meta))

    def start_same_day(self, meta: Any, items: list[Any]) -> ast.StartRule:
        return ast.StartRule("same_day", self._s(meta))

    def end_next_month(self, meta: Any, items: list[Any]) -> ast.EndRule:
        return ast.EndRule("next_month", self._s(meta))

    def end_same_day(self, meta: Any, items: list[Any]) -> ast.EndRule:
        return ast.EndRule("same_day", self._s(meta))

    def no_extension(self, meta: Any, items: list[Any]) -> ast.NoExtension:
        return ast.NoExtension(self._s(meta))

    def interpretation(self, meta: Any, items: list[Any]) -> ast.Interpretation:
        return ast.Interpretation(items[1], str(items[2])[1:-1], self._s(meta))

    def delegation(self, meta: Any, items: list[Any]) -> ast.Delegation:
        return ast.Delegation(items[1] or (), str(items[2])[1:-1], self._s(meta))

    def item_kind(self, meta: Any, items: list[Token]) -> str:
        return str(items[0])

    def scope(self, meta: Any, items: list[Any]) -> ast.Name:
        return items[0]

    def benefit(self, meta: Any, items: list[Any]) -> ast.Benefit:
        scope = next((i for i in items[1:2] if isinstance(i, ast.Name)), None)
        entries = tuple(i for i in items if isinstance(i, ast.Entry))
        return ast.Benefit(items[0], scope, entries, self._s(meta))

    def entry(self, meta: Any, items: list[Any]) -> ast.Entry:
        return ast.Entry(items[0], items[1], self._s(meta))

    # values
    def full(self, meta: Any, items: list[Any]) -> ast.Full:
        return ast.Full()

    def none(self, meta: Any, items: list[Any]) -> ast.NoValue:
        return ast.NoValue()

    def percent(self, meta: Any, items: list[Token]) -> ast.Percent:
        return ast.Percent(parse_percent(str(items[0])), str(items[0]))

    def amount(self, meta: Any, items: list[Token]) -> ast.Amount:
        return ast.Amount(self._money(items[0]), str(items[0]))

    def percent_of(self, meta: Any, items: list[Any]) -> ast.PercentOf:
        return ast.PercentOf(parse_percent(str(items[0])), items[2], self._text(meta))

    def param_value(self, meta: Any, items: list[Any]) -> ast.ParamValue:
        return ast.ParamValue(items[1])

    def bounded(self, meta: Any, items: list[Any]) -> ast.Bounded:
        return ast.Bounded(items[0], items[2])

    def by_year(self, meta: Any, items: list[Any]) -> ast.ByYear:
        return ast.ByYear(tuple(items[1:]))

    def year_entry(self, meta: Any, items: list[Any]) -> ast.YearEntry:
        return ast.YearEntry(int(str(items[0])[:4]), False, items[1])

    def year_from_entry(self, meta: Any, items: list[Any]) -> ast.YearEntry:
        return ast.YearEntry(int(str(items[0])[:4]), True, items[1])

    # tilt
    def tilt(self, meta: Any, items: list[Any]) -> ast.Tilt:
        fields: dict[str, Any] = {}
        for key, value in items[2:]:
            fields[key] = value
        return ast.Tilt(targets=items[1], span=self._s(meta), **fields)

    def tilt_deductible(self, meta: Any, items: list[Any]) -> tuple[str, ast.Amount]:
        return "deductible", ast.Amount(self._money(items[1]), str(items[1]))

    def tilt_deductible_cut(self, meta: Any, items: list[Any]) -> tuple[str, ast.Percent]:
        return "deductible_cut", ast.Percent(parse_percent(str(items[2])), str(items[2]))

    def tilt_rate_raise(self, meta: Any, items: list[Any]) -> tuple[str, ast.Percent]:
        return "rate_raise", ast.Percent(parse_percent(str(items[2])), str(items[2]))

    def tilt_segments(self, meta: Any, items: list[Any]) -> tuple[str, tuple[ast.Segment, ...]]:
        return "segments", tuple(items[1:])

    def tilt_no_cap(self, meta: Any, items: list[Any]) -> tuple[str, bool]:
        return "no_cap", True

    def segment_between(self, meta: Any, items: list[Token]) -> ast.Segment:
        lo, hi, rate = str(items[0]), str(items[2]), str(items[3])
        return ast.Segment(ast.Amount(self._money(items[0]), lo), ast.Amount(self._money(items[2]), hi),
                           ast.Percent(parse_percent(rate), rate))

    def segment_above(self, meta: Any, items: list[Token]) -> ast.Segment:
        lo, rate = str(items[0]), str(items[2])
        return ast.Segment(ast.Amount(self._money(items[0]), lo), None, ast.Percent(parse_percent(rate), rate))

    # exclusions
    def exclusion(self, meta: Any, items: list[Any]) -> ast.Exclusion:
        rest = self._kw(items)
        cats = rest[1] if len(rest) == 3 else ()
        return ast.Exclusion(rest[0], cats, rest[-1], self._s(meta))

    def excluded(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    # conditions
    def any_of(self, meta: Any, items: list[Any]) -> ast.Cond:
        parts = tuple(self._kw(items))
        return parts[0] if len(parts) == 1 else ast.AnyOf(parts, self._s(meta))

    def all_of(self, meta: Any, items: list[Any]) -> ast.Cond:
        parts = tuple(self._kw(items))
        return parts[0] if len(parts) == 1 else ast.AllOf(parts, self._s(meta))

    def negation(self, meta: Any, items: list[Any]) -> ast.Not:
        return ast.Not(items[1], self._s(meta))

    def has_identity(self, meta: Any, items: list[Any]) -> ast.HasIdentity:
        return ast.HasIdentity(items[1], self._s(meta))

    def in_category(self, meta: Any, items: list[Any]) -> ast.InCategory:
        return ast.InCategory(items[1], self._s(meta))

    def not_in_category(self, meta: Any, items: list[Any]) -> ast.NotInCategory:
        return ast.NotInCategory(items[1], self._s(meta))

    def claim_kind_is(self, meta: Any, items: list[Any]) -> ast.ClaimKindIs:
        return ast.ClaimKindIs(items[1], self._s(meta))

    def comparison(self, meta: Any, items: list[Any]) -> ast.Comparison:
        return ast.Comparison(items[0], items[1], items[2], self._text(meta), self._s(meta))

    def cmp(self, meta: Any, items: list[Token]) -> str:
        return OPS[items[0].type]

    def bool_fact(self, meta: Any, items: list[Any]) -> ast.BoolFact:
        return ast.BoolFact(items[0], self._s(meta))

    def operand(self, meta: Any, items: list[Any]) -> ast.Operand:
        first = items[0]
        if isinstance(first, ast.Name):
            return ast.NameRef(first)
        text = str(first)
        if first.type == "AMOUNT":
            return ast.Amount(self._money(first), text)
        if first.type == "NUMBER":
            return ast.Number(Fraction(Decimal(text)), text)
        if len(items) == 1:
            return ast.Percent(parse_percent(text), text)
        return ast.PercentOf(parse_percent(text), items[2], self._text(meta))


# ------------------------------------------------------------------ entry points
KEYWORD_HINT = re.compile("|".join(sorted(("或", "且", "非", "若", "属于", "不属于", "达到或超过", "低于", "超过", "不超过", "由", "认定"),
                                           key=len, reverse=True)))


def spacing_hint(word: str) -> str | None:
    """'特困供养人员或孤儿' → a suggestion to write '特困供养人员 或 孤儿' (a keyword glued inside a name)."""
    if not KEYWORD_HINT.search(word[1:-1] if len(word) > 2 else ""):
        if not (len(word) > 1 and KEYWORD_HINT.search(word[1:])):
            return None
    spaced = re.sub(r"\s+", " ", KEYWORD_HINT.sub(lambda m: f" {m.group(0)} ", word)).strip()
    return f"关键字与名称之间需用空格分隔，您是否想写：{spaced}"


def _end_position(source: str) -> tuple[int, int]:
    """Just after the last non-blank character: where a missing closing token belongs."""
    body = source.rstrip()
    line = body.count("\n") + 1
    return line, len(body) - (body.rfind("\n") + 1) + 1


def _expected(err: UnexpectedToken) -> set[str]:
    """What the parser would accept here (keywords included, which the lexer folds into NAME)."""
    try:
        return set(err.interactive_parser.accepts()) - {"$END"} | ({"$END"} & set(err.expected))
    except Exception:  # noqa: BLE001 - fall back to Lark's own list
        return set(err.expected)


def _syntax_diag(path: str, err: UnexpectedInput, source: str) -> Diagnostic:
    line, col = err.line or 1, err.column or 1
    if isinstance(err, UnexpectedCharacters):
        ch = err.char
        return Diagnostic("E001", Severity.ERROR, f"无法识别的字符「{ch}」", Span(path, line, col, line, col + 1),
                          "名称中含标点时请写在「」中，如 「革命“五老”人员」")
    if isinstance(err, UnexpectedEOF):
        line, col = _end_position(source)
        return Diagnostic("E002", Severity.ERROR, f"文件意外结束，缺少：{describe_expected(set(err.expected))}",
                          Span(path, line, col, line, col + 1))
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    expected = describe_expected(_expected(err))
    if tok.type == "$END":
        line, col = _end_position(source)
        return Diagnostic("E002", Severity.ERROR, f"文件意外结束，缺少：{expected}", Span(path, line, col, line, col + 1))
    text = str(tok)
    suggestion = spacing_hint(text) if tok.type == "NAME" else None
    if suggestion is None:  # the keyword may have been swallowed by the name before this token
        before = source.splitlines()[line - 1][: col - 1].split() if line <= len(source.splitlines()) else []
        suggestion = spacing_hint(before[-1]) if before else None
    return Diagnostic("E003", Severity.ERROR, f"此处不应出现「{text}」，应为：{expected}",
                      Span(path, line, col, tok.end_line or line, col + max(1, len(text))), suggestion)


def parse_text(source: str, path: str = "<规则>") -> ast.PolicyFile:
    """Parse a policy text; raises DiagnosticError listing every syntax error found."""
    errors: list[Diagnostic] = []

    def on_error(err: UnexpectedInput) -> bool:
        errors.append(_syntax_diag(path, err, source))
        return len(errors) < 20

    try:
        tree = parser().parse(source, on_error=on_error)
    except UnexpectedInput as err:
        if not errors or not isinstance(err, UnexpectedToken):
            errors.append(_syntax_diag(path, err, source))
        raise DiagnosticError(_dedupe(errors), {path: source}) from None
    if errors:
        raise DiagnosticError(_dedupe(errors), {path: source})
    builder = _ToAst(path, source)
    try:
        result: ast.PolicyFile = builder.transform(tree)
    except VisitError as err:
        raise err.orig_exc from err
    if builder.errors:
        raise DiagnosticError(builder.errors, {path: source})
    return result


def _dedupe(errors: list[Diagnostic]) -> list[Diagnostic]:
    """One error per line: after a bad token the resumed parser often trips again nearby."""
    seen, out = set(), []
    for d in errors:
        key = d.span.line if d.span else 0
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def parse_file(path: str | Path) -> ast.PolicyFile:
    p = Path(path)
    return parse_text(p.read_text(encoding="utf-8"), str(path))
