"""The web desk in a real browser: headless Debian chromium driven by Playwright, against a real
`reasoner serve` process on loopback (tests/service_server.py).

Screenshots go to tests/artifacts/desk/ (git-ignored; DESK_ARTIFACTS overrides), and the
folder is named at the end of the run. Chromium is Debian's (/usr/bin/chromium, installed by
.ci/run); Playwright's own browser download is never used. Without chromium the tests are
skipped on a developer's machine and fail under CI.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Iterator

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from service_server import TOKEN, Server  # noqa: E402

CHROMIUM = os.environ.get("DESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("DESK_ARTIFACTS", Path(__file__).resolve().parent / "artifacts" / "desk"))
LONGYAN = "龙岩市医疗救助"


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("desk"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"没有 {CHROMIUM}（Debian 的 chromium；.ci/run 会安装）"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n网页工作台截图：{ARTIFACTS}", flush=True)


class Desk:
    """One browser page on the desk, with what went wrong in it collected."""

    def __init__(self, page: object, server: Server):
        self.page, self.server = page, server
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" and not _expected(m.text) else None)
        page.on("request", lambda r: self.requests.append(r.url))

    def open(self, tab: str = "decide", token: str | None = TOKEN) -> "Desk":
        self.page.goto(f"{self.server.url}/desk/#{tab}")
        self.page.wait_for_selector("body[data-ready='1']")
        if token:
            self.page.fill("#token", token)
            self.page.click("#token-form button[type=submit]")
        return self

    def shot(self, name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def example(self, name: str) -> None:
        """Load a bundled example record (GET /api/examples) by its 编号."""
        self.page.select_option("#example-pick", label=name)
        self.page.click("#example-load")
        self.page.wait_for_function(f"document.querySelector('#f-id').value === {json.dumps(name)}")

    def decide_example(self, name: str = "龙岩-低保兼重残") -> None:
        self.example(name)
        self.page.click("#decide")
        self.page.wait_for_selector("#decision-view .decision-head .badge.status")


def _expected(text: str) -> bool:
    """Console errors a test provokes on purpose (an HTTP error the page then shows)."""
    return "status of 401" in text or "status of 422" in text


@pytest.fixture
def desk(browser: object, server: Server) -> Iterator[Desk]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    d = Desk(context.new_page(), server)
    yield d
    context.close()
    assert not d.errors, d.errors


# ------------------------------------------------------------------ the page itself
def test_desk_loads_offline_with_chinese_interface(desk: Desk):
    desk.open(token=None)
    page = desk.page
    assert page.title() == "医疗救助政策推理器 · 工作台"
    assert [t.strip() for t in page.locator("nav.tabs a[data-tab]").all_inner_texts()] == ["决定", "为何不", "起草", "政策", "审核"]
    page.wait_for_function("document.querySelector('#health').textContent.includes('已加载 5 个政策')")
    desk.shot("01-desk")
    # nothing but this server: no CDN, no fonts or scripts from elsewhere
    assert desk.requests and all(u.startswith(desk.server.url) or u.startswith("data:") for u in desk.requests), desk.requests
    assert page.evaluate("sessionStorage.length") == 0


def test_token_is_kept_in_session_storage(desk: Desk):
    desk.open()
    assert desk.page.evaluate("sessionStorage.getItem('reasoner.desk.token')") == TOKEN
    assert "已保存" in desk.page.inner_text("#token-state")


# ------------------------------------------------------------------ 决定
def test_decide_example_shows_items_and_expandable_tree_with_clause_text(desk: Desk):
    desk.open()
    desk.decide_example()
    view = desk.page.locator("#decision-view")
    assert view.locator(".decision-head h2").inner_text() == "龙岩-低保兼重残"
    assert view.locator(".badge.status").inner_text() == "符合救助条件"
    assert view.locator(".categories .badge.cat").all_inner_texts() == ["第二类", "第三类"]
    decision_id = view.locator("#decision-id-shown").inner_text()
    assert re.fullmatch(r"D\d{8}-\d{6}", decision_id)
    rate = view.locator("table.items tbody tr").filter(has=desk.page.get_by_role("cell", name="救助比例", exact=True))
    assert "70%" in rate.inner_text() and "第二类" in rate.inner_text()

    # the tree: closed at first; opening the rate step shows its clause's original sentence
    quote = "第二、三类救助对象按 70% 比例救助"
    tree = view.locator("ul.tree")
    assert tree.locator("blockquote", has_text=quote).count() == 0
    step = tree.locator("details.node > summary", has_text="救助比例（住院及门诊特殊病种）：70%，依「第二类」").first
    step.click()
    cited = tree.locator("details.node[open] > .clause blockquote", has_text=quote).first
    cited.wait_for()
    assert cited.is_visible()
    assert "二（四）2" in tree.locator("details.node[open] > .clause .cite", has_text="二（四）2").first.inner_text()

    # all the way down: the identity's recognising clause and the input fact under it
    step.scroll_into_view_if_needed()
    desk.shot("02-decide-step", full_page=False)
    view.get_by_role("button", name="全部展开").click()
    assert tree.locator("blockquote", has_text="由残联负责认定重度残疾人。").first.is_visible()
    assert tree.locator(".leafline", has_text="个人记录：身份「重度残疾人」，残联认定").first.is_visible()
    assert tree.locator(".interp", has_text="解释「待遇就高逐项」").first.is_visible()
    desk.shot("02-decide-tree-all")

    # the decision was recorded: open it again by its id in a fresh page
    desk.page.reload()
    desk.page.wait_for_selector("body[data-ready='1']")
    desk.page.fill("#decision-id", decision_id)
    desk.page.click("#open-form button")
    desk.page.wait_for_selector("#decision-view #decision-id-shown")
    assert view.locator("#decision-id-shown").inner_text() == decision_id
    assert view.locator(".badge.status").inner_text() == "符合救助条件"
    assert desk.page.input_value("#f-id") == "龙岩-低保兼重残"  # the recorded input is back in the form
    assert "记录于" in view.locator(".ledger").inner_text()


def test_decide_needs_the_token_and_says_so(desk: Desk):
    desk.open(token=None)
    desk.example("龙岩-低保兼重残")
    desk.page.click("#decide")
    box = desk.page.locator("#decision-view .error")
    box.wait_for()
    assert "E_AUTH" in box.inner_text() and "API 令牌" in box.inner_text()


def test_form_edits_reach_the_decision(desk: Desk):
    desk.open()
    page = desk.page
    desk.example("龙岩-当月新认定")  # 特困供养人员 recognised 2023-06-02: not in effect in June
    page.click("#decide")
    page.wait_for_selector("#decision-view .badge.status")
    first = page.inner_text("#decision-view .categories")
    assert "第一类" not in first
    page.fill("#f-date", "2023-07-15")  # the month after recognition: 第一类
    assert '"日期": "2023-07-15"' in page.input_value("#raw")
    page.click("#decide")
    page.wait_for_function("document.querySelector('#decision-view .decision-head .muted').textContent.includes('2023-07-15')")
    assert "第一类" in page.inner_text("#decision-view .categories")


def test_text_from_the_server_is_inserted_as_text(desk: Desk):
    desk.open()
    page = desk.page
    desk.example("龙岩-低保兼重残")
    page.click("#raw-box summary")
    raw = page.input_value("#raw").replace('"龙岩-低保兼重残"', '"<img src=x onerror=window.__pwned=1><b>粗</b>"')
    page.fill("#raw", raw)
    assert page.input_value("#f-id") == "<img src=x onerror=window.__pwned=1><b>粗</b>"
    page.click("#decide")
    page.wait_for_selector("#decision-view .badge.status")
    assert page.inner_text("#decision-view .decision-head h2") == "<img src=x onerror=window.__pwned=1><b>粗</b>"
    assert page.locator("#decision-view img, #decision-view b").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_bad_record_shows_the_field(desk: Desk):
    desk.open()
    page = desk.page
    desk.example("龙岩-低保兼重残")
    page.fill("#identity-rows tbody tr:first-child input[data-field='名称']", "不存在的身份")
    page.click("#decide")
    box = page.locator("#decision-view .error")
    box.wait_for()
    assert "E_INPUT" in box.inner_text() and "不存在的身份" in box.inner_text()


# ------------------------------------------------------------------ 为何不
def test_why_not_and_why_not_more(desk: Desk):
    desk.open()
    page = desk.page
    desk.decide_example()
    page.click("#to-whynot")
    page.wait_for_function("document.querySelector('#whynot-category').options.length > 0")
    options = page.locator("#whynot-category option").all_inner_texts()
    assert "第二类（已属于）" in options and "第一类" in options
    assert page.input_value("#whynot-category") == "第一类"  # the first category the person lacks
    page.click("#whynot-form button[type=submit]")
    text = page.locator("#whynot-view pre.whynot")
    text.wait_for()
    assert "为何不属于「第一类」" in text.inner_text()
    assert "个人记录中没有身份「特困供养人员」" in text.inner_text()
    assert "不属于「第一类」" in page.inner_text("#whynot-view .badge")

    # 为何没有多付 needs claims: the Qinhuangdao example carries three
    page.click("nav a[data-tab='decide']")
    desk.example("秦皇岛-边缘户")
    page.click("nav a[data-tab='whynot']")
    page.wait_for_function("document.querySelector('#whynot-record').textContent.includes('秦皇岛-边缘户')")
    assert page.locator("#whynot-view pre").count() == 0  # the 龙岩 answer is gone with its record
    page.click("#whynotmore")
    year = page.locator("#whynotmore-view section.wnm")
    year.first.wait_for()
    assert "2023 年 · 已付 9,240.00元" in year.first.locator("h3").inner_text()
    limits = year.first.locator("table.limits").inner_text()
    assert "起付标准" in limits and "未予救助" in limits
    alt = year.first.locator("ul.alts > li", has_text="特困人员").first
    assert "多 4,860.00元" in alt.inner_text()
    alt.locator("details > summary", has_text="为何不属于").click()
    assert alt.locator("ul.tree .step", has_text="不属于「特困人员」").first.is_visible()
    desk.shot("03-why-not")


def test_settle_shows_each_claim_and_its_arithmetic(desk: Desk):
    """The Qinhuangdao example's three claims: 9,240.00元 in all (the same total `reasoner settle
    examples/claims.yaml` prints); q3, a cross-province stay filed late, is excluded by 六（五）."""
    desk.open()
    page = desk.page
    desk.example("秦皇岛-边缘户")
    page.click("#settle")
    year = page.locator("#decision-view section.settlement").first
    year.wait_for()
    assert "医疗救助合计 9,240.00元" in year.locator(".decision-head").inner_text()
    assert year.locator("code").inner_text().startswith("S")  # recorded in the ledger
    rows = year.locator("table.settle tbody tr").all_inner_texts()
    assert len(rows) == 3 and "不予救助" in rows[2]
    q3 = year.locator("details.claim-steps", has_text="就医 q3")
    q3.locator("summary").first.click()
    assert "未经备案到省外定点医疗机构" in q3.inner_text()
    q2 = year.locator("details.claim-steps", has_text="就医 q2")
    q2.locator("summary").first.click()
    assert "× 77%" in q2.inner_text()
    desk.shot("08-settlement")


def test_audit_upload_shows_the_summary(desk: Desk):
    """The payments file of tests/test_audit.py, its planted rows hand-worked there clause by clause:
    47,000.00元 at stake, one row of each finding, malformed rows reported."""
    audit = Path(__file__).resolve().parent / "audit"
    desk.open("audit")
    page = desk.page
    page.set_input_files("#audit-payments", str(audit / "payments.csv"))
    page.set_input_files("#audit-persons", str(audit / "persons.yaml"))
    page.fill("#audit-params", "上年度居民人均可支配收入=40000；年度救助限额=45000")
    page.click("#audit-form button[type=submit]")
    result = page.locator("#audit-view section.audit-result")
    result.wait_for()
    assert "涉及金额合计 47,000.00元" in result.inner_text()
    findings = result.locator("table.audit").first.inner_text()
    for outcome in ("重复救助", "未按待遇就高", "超过年度限额支付", "身份尚未生效", "错误行"):
        assert outcome in findings
    with page.expect_download() as got:
        result.locator("button", has_text="逐行结论 CSV").click()
    assert got.value.suggested_filename.endswith(".csv")
    desk.shot("09-audit")


# ------------------------------------------------------------------ 起草
def _load_rules(desk: Desk, policy: str = LONGYAN) -> str:
    page = desk.page
    page.select_option("#draft-source", policy)
    page.click("#draft-load")
    page.wait_for_function("document.querySelector('#rules').value.length > 1000")
    return page.input_value("#rules")


def test_lint_marks_a_planted_error_at_its_line(desk: Desk):
    desk.open("draft")
    page = desk.page
    text = _load_rules(desk)
    lines = text.split("\n")
    n = next(i for i, line in enumerate(lines) if "类别 第一类 若 身份" in line) + 1
    lines[n - 1] = lines[n - 1].replace("若 身份", "若 身分")  # a misspelt keyword
    page.fill("#rules", "\n".join(lines))
    assert page.locator("#gutter .ln").count() == len(lines)
    page.click("#lint")
    page.wait_for_selector("#lint-view .lint-summary")
    assert "错误 1" in page.inner_text("#lint-view .lint-summary")
    diag = page.locator("#lint-view li.finding.err").first
    assert "E003" in diag.inner_text() and f"第 {n} 行" in diag.inner_text()
    # marked in place: the gutter number, the line's backdrop and the note beside it
    assert page.locator("#gutter .ln.err").all_inner_texts() == [str(n)]
    assert "err" in page.get_attribute(f"#backdrop .bl[data-line='{n}']", "class")
    note = page.locator(f"#notes .note-line[data-line='{n}']")
    assert "E003" in note.inner_text() and "此处不应出现" in note.inner_text()
    assert page.locator("#notes .note-line.err").count() == 1
    # the line link selects the line in the editor
    diag.locator("a.lineref").click()
    selected = page.evaluate("(() => { const a = document.querySelector('#rules'); return a.value.slice(a.selectionStart, a.selectionEnd); })()")
    assert selected == lines[n - 1]
    # the marked line is in view beside its note
    box = page.locator(f"#gutter .ln[data-line='{n}']").bounding_box()
    wrap = page.locator("#editor-wrap").bounding_box()
    assert wrap["y"] <= box["y"] <= wrap["y"] + wrap["height"]
    page.locator("#editor-wrap").screenshot(path=str(ARTIFACTS / "04-lint-error-editor.png"))
    desk.shot("04-lint-error")


def test_lint_findings_are_marked_and_a_witness_opens_in_the_decision_view(desk: Desk):
    desk.open("draft")
    page = desk.page
    _load_rules(desk)
    page.click("#lint")
    page.wait_for_selector("#lint-view .lint-summary", timeout=120_000)
    assert "错误 0" in page.inner_text("#lint-view .lint-summary")
    l201 = page.locator("#lint-view li.finding", has_text="L201").first
    assert "待遇就高不是全序" in l201.inner_text()
    # its clauses in this file are marked at their lines (二（二） is rules line 109)
    assert "warn" in page.get_attribute("#gutter .ln[data-line='109']", "class")
    assert "L201" in page.inner_text("#notes .note-line[data-line='109']")
    # the parent's clause is cited by file, not marked here
    assert "rules/fujian.rules:103" in page.inner_text("#lint-view")
    interpretations = page.locator("#lint-view details.interpretations")
    assert "L601" in interpretations.locator("summary").inner_text()
    page.locator("#notes .note-line[data-line='179'] a").click()  # only interpretations there: the group opens
    assert interpretations.get_attribute("open") is not None
    desk.shot("05-lint-findings")
    l201.locator("button[data-witness]").click()
    page.wait_for_selector("#tab-decide:not([hidden]) #decision-view .badge.status")
    head = page.inner_text("#decision-view .decision-head h2")
    assert head.startswith("证例-")
    assert page.inner_text("#decision-view .badge.status") == "符合救助条件"
    cats = page.locator("#decision-view .categories .badge.cat").all_inner_texts()
    assert "第二类" in cats and "第三类" in cats
    desk.shot("06-witness-decided")


# ------------------------------------------------------------------ 政策
def test_policy_browser_highlights_the_clause_in_the_document(desk: Desk):
    desk.open("policies")
    page = desk.page
    assert len(page.locator("#policy-list button.policy").all()) == 5
    page.click(f"#policy-list button.policy[data-name='{LONGYAN}']")
    page.wait_for_selector("#doc-text .seg")
    assert "longyan-2022-14.txt" in page.inner_text("#doc-title")
    item = page.locator("#clause-list li.clause-item", has_text="超过年度救助限额后，医疗救助基金不再支付").first
    quote = item.locator(".quote").inner_text()
    item.click()
    active = page.locator("#doc-text .seg.active")
    assert flat("".join(active.all_inner_texts())) == flat(quote)
    assert "active" in item.get_attribute("class")
    # scrolled into view inside the document pane
    seg, pane = active.first.bounding_box(), page.locator("#doc-text").bounding_box()
    assert pane["y"] <= seg["y"] and seg["y"] + seg["height"] <= pane["y"] + pane["height"]
    desk.shot("07-policy-browser")
    # and the other way: a sentence in the document selects its clause
    other = page.locator("#clause-list li.clause-item", has_text="由残联负责认定重度残疾人").first
    page.locator("#doc-text .seg", has_text="由残联负责认定重度残疾人").first.click()
    assert "active" in other.get_attribute("class")
