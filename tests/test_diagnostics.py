"""Golden and direct tests of the diagnostics a rules file gets (parse errors and static checks).

Each tests/diagnostics/bad/<name>.rules is a small policy with one kind of mistake (its first
line says which); <name>.expected holds the rendered diagnostics, paths relative to the
repository root. Regenerate the goldens after an intended change and review them in
`git diff` (the caret must sit under the right characters; CJK characters are two columns):

    UPDATE_GOLDEN=1 python3 -m pytest tests/test_diagnostics.py

Every tests/diagnostics/good/<name>.rules must parse and check without any diagnostic.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reasoner.check import check
from reasoner.diagnostics import Diagnostic, DiagnosticError, Severity, display_width, has_errors, render_all
from reasoner.parse import parse_text

REPO = Path(__file__).resolve().parent.parent
BAD = REPO / "tests" / "diagnostics" / "bad"
GOOD = REPO / "tests" / "diagnostics" / "good"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

HEADER = """政策 测试政策 {
  名称 "诊断测试"
  文号 "测试〔2024〕1号"
  地区 测试市
  施行 2024-01-01
}
"""


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def diagnose_text(source: str, path: str) -> tuple[list[Diagnostic], str]:
    """Parse errors if the text does not parse, else the checker's diagnostics; with their rendering."""
    try:
        policy = parse_text(source, path)
    except DiagnosticError as err:
        return err.diagnostics, render_all(err.diagnostics, err.sources)
    diags = check(policy)
    return diags, render_all(diags, {path: source})


def diagnose(path: Path) -> tuple[list[Diagnostic], str]:
    return diagnose_text(path.read_text(encoding="utf-8"), rel(path))


def snippet(body: str) -> tuple[list[Diagnostic], str]:
    """Diagnostics of the standard header followed by body (header is lines 1-6)."""
    return diagnose_text(HEADER + body, "snippet.rules")


BAD_FILES = sorted(BAD.glob("*.rules"))
GOOD_FILES = sorted(GOOD.glob("*.rules"))


# ---------------------------------------------------------------- goldens
@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    _, rendered = diagnose(path)
    expected = path.with_suffix(".expected")
    if UPDATE:
        expected.write_text(rendered + "\n", encoding="utf-8")
        return
    assert expected.exists(), f"{rel(expected)} 不存在；用 UPDATE_GOLDEN=1 生成后逐行核对"
    assert rendered + "\n" == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_file_has_errors(path: Path) -> None:
    diags, _ = diagnose(path)
    assert has_errors(diags), f"{rel(path)} 应报告错误"
    assert all(d.span is not None and d.span.file == rel(path) for d in diags)


def test_no_orphan_goldens() -> None:
    orphans = [rel(p) for p in BAD.glob("*.expected") if not p.with_suffix(".rules").exists()]
    assert not orphans


def test_golden_corpus_is_present() -> None:
    assert len(BAD_FILES) >= 20 and len(GOOD_FILES) >= 3


@pytest.mark.parametrize("path", GOOD_FILES, ids=lambda p: p.stem)
def test_good_file_is_clean(path: Path) -> None:
    diags, rendered = diagnose(path)
    assert diags == [], rendered


# ---------------------------------------------------------------- positions, messages, carets
def codes(path: str) -> list[str]:
    return [d.code for d in diagnose(BAD / path)[0]]


def test_unknown_identity_position_message_and_suggestion() -> None:
    diags, _ = diagnose(BAD / "unknown_identity.rules")
    assert len(diags) == 1
    (d,) = diags
    assert (d.code, d.severity) == ("E201", Severity.ERROR)
    assert str(d.span) == "tests/diagnostics/bad/unknown_identity.rules:12:15"
    assert d.message == "未定义的身份「特困供养人」"
    assert d.suggestion == "您是否想写「特困供养人员」？"


def test_caret_counts_cjk_as_two_columns() -> None:
    _, rendered = diagnose(BAD / "unknown_identity.rules")
    lines = rendered.splitlines()
    assert lines[1] == "  12 |   类别 第一类 若 身份 特困供养人 或 身份 孤儿"
    # gutter (7) + "  类别 第一类 若 身份 " (22 columns); 特困供养人 is 5 wide characters = 10 carets
    assert lines[2] == " " * 29 + "^" * 10
    assert display_width("  类别 第一类 若 身份 ") == 22


def test_caret_after_ambiguous_width_punctuation() -> None:
    # “ is East Asian ambiguous width: one column, like the terminal renders it
    _, rendered = diagnose(BAD / "unquoted_punctuation.rules")
    lines = rendered.splitlines()
    assert lines[0] == "tests/diagnostics/bad/unquoted_punctuation.rules:11:8: 错误[E001]: 无法识别的字符「“」"
    assert lines[1] == "  11 |   身份 革命“五老”人员 由 民政 认定"
    assert lines[2] == " " * (7 + 11) + "^"
    assert lines[3] == "  提示：名称中含标点时请写在「」中，如 「革命“五老”人员」"


def test_lexer_errors_are_all_collected() -> None:
    diags, _ = diagnose(BAD / "unquoted_punctuation.rules")
    assert [(d.code, d.span.line, d.span.col) for d in diags if d.span] == [("E001", 11, 8), ("E001", 12, 17)]


def test_keyword_where_name_expected() -> None:
    diags, _ = diagnose(BAD / "keyword_as_name.rules")
    first = diags[0]
    assert first.code == "E003"
    assert str(first.span) == "tests/diagnostics/bad/keyword_as_name.rules:12:8"
    assert first.message == "此处不应出现「身份」，应为：「若」"


def test_unspaced_keyword_inside_unexpected_name_gets_spacing_hint() -> None:
    diags, _ = diagnose(BAD / "unspaced_names.rules")
    (d,) = diags
    assert d.code == "E003"
    assert str(d.span) == "tests/diagnostics/bad/unspaced_names.rules:12:22"
    assert d.suggestion == "关键字与名称之间需用空格分隔，您是否想写：孤儿 或 事实无人抚养儿童"


def test_duplicate_points_at_first_definition() -> None:
    diags, _ = diagnose(BAD / "duplicate.rules")
    assert [d.code for d in diags] == ["E101", "E101"]
    fact, ident = diags
    assert fact.message == "重复定义「个人自付」" and str(fact.span).endswith(":10:4")
    assert [(str(s), label) for s, label in fact.related] == [("tests/diagnostics/bad/duplicate.rules:9:1", "首次定义于此")]
    assert ident.message == "重复定义「特困供养人员」" and str(ident.span).endswith(":20:6")
    assert [(str(s), label) for s, label in ident.related] == [("tests/diagnostics/bad/duplicate.rules:14:3", "首次定义于此")]


def test_contradiction_names_both_values_and_both_places() -> None:
    (d,) = diagnose(BAD / "contradiction.rules")[0]
    assert d.code == "E401"
    assert d.message == "「第一类」的救助比例（住院）有两个不同的值：90% 与 80%"
    assert str(d.span).endswith(":24:12")
    assert [(str(s), label) for s, label in d.related] == [("tests/diagnostics/bad/contradiction.rules:19:12", "另一处定义为 90%")]


def test_unit_mismatch_both_forms() -> None:
    diags, _ = diagnose(BAD / "unit_mismatch.rules")
    assert [(d.code, d.message, d.span.line) for d in diags if d.span] == [
        ("E301", "单位不一致：不能比较金额与比例", 14),
        ("E301", "单位不一致：不能比较金额与比例", 15),
    ]


def test_bool_fact_compared_and_amount_fact_as_condition() -> None:
    assert codes("bool_compared.rules") == ["E301", "E303", "E303"]


def test_cycle_reports_each_category_in_the_cycle() -> None:
    diags, _ = diagnose(BAD / "cycle.rules")
    assert [(d.code, d.message) for d in diags] == [
        ("E402", "类别「第一类」的定义循环依赖于自身"),
        ("E402", "类别「第二类」的定义循环依赖于自身"),
    ]


def test_self_reference_is_a_cycle() -> None:
    diags, _ = snippet('条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲 或 属于 第一类\n}\n')
    assert [d.code for d in diags] == ["E402"]


def test_missing_highest_points_at_header() -> None:
    (d,) = diagnose(BAD / "missing_highest.rules")[0]
    assert d.code == "E403" and str(d.span).endswith(":2:1") and d.suggestion


def test_one_category_needs_no_highest_rule() -> None:
    diags, _ = snippet('条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n  群体 倾斜 若 属于 第一类\n}\n')
    assert diags == []


def test_several_errors_in_one_file_are_all_reported() -> None:
    diags, _ = diagnose(BAD / "many_errors.rules")
    assert len(diags) == 7
    assert sorted(d.code for d in diags) == ["E201", "E202", "E202", "E204", "E205", "E301", "E403"]
    # sorted by position
    spans = [d.span for d in diags]
    assert spans == sorted(spans)  # type: ignore[type-var]


def test_syntax_errors_are_collected_not_stopped_at_first() -> None:
    diags, _ = diagnose(BAD / "missing_brace_mid.rules")
    assert len(diags) >= 2 and all(d.code == "E003" for d in diags)
    assert str(diags[0].span).endswith(":14:1") and diags[0].message.startswith("此处不应出现「条款」")


def test_render_without_source_has_no_excerpt() -> None:
    diags, _ = diagnose(BAD / "unknown_identity.rules")
    text = render_all(diags, {})
    assert text == ("tests/diagnostics/bad/unknown_identity.rules:12:15: 错误[E201]: 未定义的身份「特困供养人」\n"
                    "  提示：您是否想写「特困供养人员」？")


def test_json_shape() -> None:
    (d,) = diagnose(BAD / "contradiction.rules")[0]
    out = d.to_json()
    assert out["code"] == "E401" and out["severity"] == "错误"
    assert (out["file"], out["line"], out["col"]) == ("tests/diagnostics/bad/contradiction.rules", 24, 12)
    assert out["related"] == [{"file": "tests/diagnostics/bad/contradiction.rules", "line": 19, "col": 12, "label": "另一处定义为 90%"}]


def test_warning_alone_is_not_an_error() -> None:
    source = '政策 测试政策 {\n  名称 "无文号"\n  地区 测试市\n  施行 2024-01-01\n}\n'
    diags, _ = diagnose_text(source, "snippet.rules")
    assert [d.code for d in diags] == ["W102"] and not has_errors(diags)


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_unknown_name_span_covers_exactly_the_name(path: Path) -> None:
    """The span of an unknown-name error (E201-E204) is the name the message quotes, so the caret underlines it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for d in diagnose(path)[0]:
        if d.code in ("E201", "E202", "E203", "E204") and d.span:
            quoted = re.search(r"「(.+)」", d.message)
            assert quoted and d.span.line == d.span.end_line
            assert lines[d.span.line - 1][d.span.col - 1 : d.span.end_col - 1] == quoted.group(1), d


# ---------------------------------------------------------------- diagnostics found wanting in review, now fixed

def test_unspaced_or_suggests_spaces() -> None:
    diags, _ = diagnose(BAD / "unspaced_or.rules")
    assert any(d.suggestion and "特困供养人员 或 孤儿" in d.suggestion for d in diags), [d.suggestion for d in diags]


def test_unspaced_if_suggests_spaces() -> None:
    diags, _ = diagnose(BAD / "unspaced_if.rules")
    assert diags[0].suggestion and "第一类 若" in diags[0].suggestion, diags[0]


def test_keyword_cannot_be_declared_as_a_name() -> None:
    diags, _ = snippet('条款 "一" {\n  原文 "x"\n  身份 或 由 民政 认定\n  类别 若 若 身份 或\n}\n')
    assert has_errors(diags)


def test_end_of_file_error_points_after_last_token() -> None:
    (d, *_) = diagnose(BAD / "missing_brace.rules")[0]
    # last line: `  类别 第一类 若 身份 特困供养人员` — 特困供养人员 spans columns 15-20
    assert d.span is not None and (d.span.line, d.span.col) >= (12, 21), str(d.span)
    assert "「}」" in d.message


def test_expected_list_after_or_names_condition_keywords() -> None:
    diags, _ = snippet('条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲 或\n}\n')
    assert diags[0].code == "E003"
    for keyword in ("「身份」", "「属于」", "「不属于」", "「非」"):
        assert keyword in diags[0].message, diags[0].message


def test_by_year_order_error_has_a_position() -> None:
    diags, _ = snippet('条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n'
                       '  参保资助 第一类 按年 2023年 90%、2022年 80%\n}\n')
    (d,) = diags
    assert d.code == "E206" and d.span is not None and d.span.line == 11


def test_rate_as_amount_error_has_a_position() -> None:
    diags, _ = snippet('救助项目 住院 "x"\n条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n'
                       '  救助比例（住院） 第一类 6500元\n}\n')
    (d,) = diags
    assert d.code == "E302" and d.span is not None and d.span.line == 12


def test_inexact_amount_points_at_the_literal() -> None:
    diags, _ = snippet('条款 "一" {\n  原文 "x"\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n  参保资助 第一类 0.001元\n}\n')
    (d,) = diags
    assert d.code == "E004" and d.span is not None and (d.span.line, d.span.col) == (11, 12)


def test_empty_quote_reported_once_per_clause() -> None:
    three, _ = snippet('条款 "一" {\n  原文 ""\n  身份 甲 由 民政 认定\n  类别 第一类 若 身份 甲\n  生效 认定次月\n}\n')
    none, _ = snippet('条款 "一" {\n  原文 " "\n}\n')
    assert [d.code for d in three] == ["E104"]
    assert [d.code for d in none] == ["E104"]


def test_expected_list_has_no_internal_terminal_names() -> None:
    (d,) = diagnose(BAD / "unspaced_names.rules")[0]
    assert not re.search(r"[A-Z]{2,}_[A-Z_]+", d.message), d.message


# ---------------------------------------------------------------- command line
def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("reasoner.cli") is None:
        pytest.skip("reasoner/cli.py does not exist yet")
    return subprocess.run([sys.executable, "-m", "reasoner.cli", *args], check=False, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, code", [("unknown_identity", "E201"), ("missing_brace", "E002"), ("many_errors", "E403")])
def test_cli_check_exits_non_zero_on_bad_file(name: str, code: str) -> None:
    result = run_cli("check", f"tests/diagnostics/bad/{name}.rules")
    assert result.returncode != 0, result.stdout + result.stderr
    assert code in result.stdout + result.stderr


def test_cli_check_accepts_good_file() -> None:
    result = run_cli("check", "tests/diagnostics/good/full.rules")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("cached", ["", "not a pickle", None])
def test_the_parser_tables_cache_is_used_rebuilt_or_skipped(tmp_path: Path, cached: str | None) -> None:
    """parse.parser caches its LALR tables under $XDG_CACHE_HOME/reasoner: a missing or unreadable
    file is built again and written, and a cache directory that cannot be made means no cache — a
    policy parses, with its diagnostics, in every case (a fresh interpreter each)."""
    home = tmp_path / "cache"
    if cached is None:
        home.write_text("a file where the directory should be")
    elif cached:
        (home / "reasoner").mkdir(parents=True)
        (home / "reasoner" / f"policy-parser-py{sys.version_info[0]}{sys.version_info[1]}.lark").write_text(cached)
    code = ("from reasoner.parse import parse_text, _parser_cache\n"
            "from reasoner.diagnostics import DiagnosticError\n"
            "try:\n    parse_text('政策 「x」 {', 'x.rules')\nexcept DiagnosticError as e:\n    print(len(e.diagnostics), _parser_cache())\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    count, path = done.stdout.split()
    assert int(count) >= 1
    if cached is None:
        assert path == "None"
    else:
        assert Path(path).stat().st_size > 1000  # the tables, written over what was there
