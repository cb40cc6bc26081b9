"""The HTTP service, against a real server process on loopback (tests/service_server.py).

Amounts rest on 龙政办规〔2022〕14号 二（四）1–2 (see tests/test_why_not_more.py for the
arithmetic): a 第四类 person with 30,000.00 self-pay after insurance and an assumed
上年度居民人均可支配收入 of 40,000 gets (30,000 − 4,000) × 60% = 15,600.00.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from service_server import Server

LONGYAN_FOURTH = {
    "编号": "边缘户", "地区": "龙岩市", "日期": "2023-12-31", "事实": {"认定前当年已参保": "否"},
    "身份": [{"名称": "最低生活保障边缘家庭成员", "认定部门": "民政", "认定日期": "2022-03-10"}],
    "假设参数": {"上年度居民人均可支配收入": 40000, "年度救助限额": 45000},
    "就医": [{"编号": "c1", "日期": "2023-05-01", "类别": "住院", "政策范围内费用": 60000, "基本医保支付": 30000,
              "大病保险支付": 0, "事实": {"按规定转诊": "是"}}],
}
SPECIAL = {"编号": "特困", "地区": "龙岩市", "日期": "2023-06-01", "事实": {"认定前当年已参保": "否"},
           "身份": [{"名称": "特困供养人员", "认定部门": "民政", "认定日期": "2021-01-01"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("service"), "--max-body", "200000", "--max-batch", "5")
    yield s
    s.stop()


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"]
    return body


# ------------------------------------------------------------------ reads
def test_health_and_policies(server: Server):
    with server.client(None) as c:
        assert c.get("/api/health").json()["policies"] == 5
        names = {p["name"]: p for p in c.get("/api/policies").json()}
        assert names["龙岩市医疗救助"]["document"] == "龙政办规〔2022〕14号"
        assert names["龙岩市医疗救助"]["parent"] == "福建省医疗救助"
        detail = c.get("/api/policies/龙岩市医疗救助").json()
        rate = next(cl for cl in detail["clauses"] if cl["article"] == "二（四）2")
        assert "第四类救助对象按 60% 比例救助" in rate["quote"]
        assert any(p["名称"] == "上年度居民人均可支配收入" for p in detail["parameters"])


def test_examples_are_the_bundled_records(server: Server):
    from reasoner.person import load_records

    with server.client(None) as c:
        served = {e["file"]: e["records"] for e in c.get("/api/examples").json()}
    examples = Path(__file__).resolve().parent.parent / "examples"
    assert served == {p.name: load_records(p) for p in sorted(examples.glob("*.yaml"))}


def test_document_locates_each_clause(server: Server):
    with server.client(None) as c:
        doc = c.get("/api/policies/龙岩市医疗救助/document").json()
    assert doc["file"] == "longyan-2022-14.txt"
    located = [cl for cl in doc["clauses"] if cl["span"]]
    assert len(located) == len(doc["clauses"])
    start, end = located[0]["span"]
    assert "".join(doc["text"][start:end].split()) == "".join(located[0]["quote"].split())


def test_unknown_policy_is_404(server: Server):
    with server.client(None) as c:
        body = error(c.get("/api/policies/不存在的政策"), 404, "E_NOT_FOUND")
    assert "已加载" in body["message"]


# ------------------------------------------------------------------ decisions, recorded
def test_decide_records_and_replays(server: Server):
    with server.client() as c:
        out = c.post("/api/decide", json=SPECIAL).json()
        assert out["status"] == "符合救助条件" and out["categories"] == ["第一类"]
        rate = next(it for it in out["items"] if it["item"] == "救助比例")
        assert rate["value"] == "90%" and rate["clause"]["article"] == "二（四）2"
        entry = c.get(f"/api/decisions/{out['decision_id']}").json()
        assert entry["entry"]["decision_id"] == out["decision_id"]
        assert "第一类" in entry["text"]
        replay = c.post(f"/api/decisions/{out['decision_id']}/replay").json()
        assert replay["identical"] is True


def test_concurrent_decisions_share_ledger_transactions(server: Server):
    """40 requests at once: each gets its own ledger entry, the chain stays valid."""
    from concurrent.futures import ThreadPoolExecutor

    from reasoner.ledger import Ledger

    def one(n: int) -> str:
        with server.client() as c:
            return c.post("/api/decide", json=SPECIAL | {"编号": f"并发{n}"}).json()["decision_id"]
    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(one, range(40)))
    assert len(set(ids)) == 40
    with Ledger(f"sqlite:///{server.db}") as ledger:
        assert {ledger.get(i).person_id for i in ids} == {f"并发{n}" for n in range(40)}
        assert ledger.verify().ok


def test_settle_exact(server: Server):
    with server.client() as c:
        [year] = c.post("/api/settle", json=LONGYAN_FOURTH).json()
    assert year["schema"] == "yiliao-jiuzhu-reasoner/settlement/1"
    assert year["total_assistance_fen"] == 1_560_000
    assert year["decision_id"]


def test_explain_formats(server: Server):
    with server.client() as c:
        doc = c.post("/api/explain", json=SPECIAL).json()
        assert doc["schema"] == "yiliao-jiuzhu-reasoner/explanation/1" and doc["decision_id"]
        text = c.post("/api/explain?format=text", json=SPECIAL)
        assert text.headers["content-type"].startswith("text/plain") and "第一类" in text.text
        svg = c.post("/api/explain?format=svg", json=SPECIAL)
        assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text.startswith("<svg")
        assert "二（四）2" in svg.text


def test_why_not_and_why_not_more(server: Server):
    with server.client() as c:
        out = c.post("/api/why-not", json={"记录": LONGYAN_FOURTH, "类别": "第一类"}).json()
        assert out["member"] is False and "个人记录中没有身份「特困供养人员」" in out["text"]
        [more] = c.post("/api/why-not-more", json=LONGYAN_FOURTH).json()
        assert more["paid_fen"] == 1_560_000
        assert [(a["category"], a["gain_fen"]) for a in more["alternatives"]][0] == ("第二类", 540_000)


def test_batch_reports_bad_rows_in_place(server: Server):
    bad = SPECIAL | {"身份": [{"名称": "特困供养人员", "认定部门": "民政", "认定日期": "2021-13-01"}]}
    with server.client() as c:
        out = c.post("/api/decide/batch", json={"记录": [SPECIAL, bad, SPECIAL]}).json()["results"]
    assert [("error" in r) for r in out] == [False, True, False]
    assert out[1]["row"] == 2 and out[1]["error"]["field"] == "身份[0].认定日期"


# ------------------------------------------------------------------ bad input
def test_malformed_json(server: Server):
    with server.client() as c:
        body = error(c.post("/api/decide", content="{\"地区\": ".encode(), headers={"content-type": "application/json"}), 422, "E_INPUT")
    assert "JSON" in body["message"]


def test_missing_and_unknown_fields(server: Server):
    with server.client() as c:
        body = error(c.post("/api/decide", json={"日期": "2023-01-01"}), 422, "E_INPUT")
        assert body["field"] == "地区" and "缺少" in body["message"]
        body = error(c.post("/api/decide", json=SPECIAL | {"住址": "x"}), 422, "E_INPUT")
        assert body["field"] == "住址" and "不认识" in body["message"]


def test_unknown_identity(server: Server):
    record = SPECIAL | {"身份": [{"名称": "五保户", "认定部门": "民政", "认定日期": "2021-01-01"}]}
    with server.client() as c:
        body = error(c.post("/api/decide", json=record), 422, "E_INPUT")
    assert "五保户" in body["message"]


def test_unknown_region(server: Server):
    with server.client() as c:
        body = error(c.post("/api/decide", json=SPECIAL | {"地区": "火星"}), 422, "E_POLICY")
    assert "火星" in body["message"]


def test_oversized_body_and_batch(server: Server):
    with server.client() as c:
        huge = SPECIAL | {"说明": "很" * 100_000}
        body = error(c.post("/api/decide", content=json.dumps(huge).encode(), headers={"content-type": "application/json"}), 413, "E_TOO_LARGE")
        assert "200000" in body["message"]
        error(c.post("/api/decide/batch", json={"记录": [SPECIAL] * 6}), 413, "E_TOO_MANY")


def test_token_required_for_writes(server: Server):
    with server.client(None) as c:
        error(c.post("/api/decide", json=SPECIAL), 401, "E_AUTH")
        error(c.post("/api/reload"), 401, "E_AUTH")
    with server.client("wrong-token") as c:
        error(c.post("/api/settle", json=LONGYAN_FOURTH), 401, "E_AUTH")
    with server.client() as c:
        assert c.post("/api/reload").json()["status"] == "ok"


def test_no_path_reaches_outside(server: Server):
    with server.client() as c:
        for path in ("/desk/../../etc/passwd", "/desk/%2e%2e/%2e%2e/etc/passwd", "/api/jobs/..%2F..%2Fetc%2Fpasswd/result",
                     "/api/jobs/../../etc/passwd"):
            r = c.get(path)
            assert r.status_code == 404 and "root:" not in r.text, path
        lint = c.post("/api/lint", json={"规则文本": "政策 {", "文件名": "../../etc/passwd"}).json()
        assert lint["diagnostics"] and "root:" not in json.dumps(lint, ensure_ascii=False)


# ------------------------------------------------------------------ drafters
def test_lint_marks_the_line(server: Server):
    text = (Path(__file__).resolve().parent.parent / "rules" / "changzhi.rules").read_text(encoding="utf-8")
    lines = text.splitlines()
    target = next(i for i, line in enumerate(lines) if line.strip().startswith("原文"))
    lines[target] = lines[target].replace("原文", "原问", 1)  # planted: an unknown keyword
    with server.client() as c:
        out = c.post("/api/lint", json={"规则文本": "\n".join(lines)}).json()
    [first, *_] = out["diagnostics"]
    assert first["line"] == target + 1 and first["severity"] == "错误"
    with server.client() as c:
        clean = c.post("/api/lint", json={"规则文本": text}).json()
    assert clean["diagnostics"] == [] and clean["findings"]
    assert all(f["code"].startswith("L") for f in clean["findings"])


def test_diff_of_a_changed_rate(server: Server):
    text = (Path(__file__).resolve().parent.parent / "rules" / "longyan.rules").read_text(encoding="utf-8")
    changed = text.replace("第二类、第三类 70%；第四类 60%", "第二类、第三类 70%；第四类 65%")
    assert changed != text, "规则文件中找不到第四类救助比例的写法"
    with server.client() as c:
        out = c.post("/api/diff", json={"规则文本": changed, "文件名": "longyan.rules", "人群": [LONGYAN_FOURTH, SPECIAL]}).json()
    assert out["changed"] == 1
    [person] = out["persons_changed"]
    assert person["id"] == "边缘户"
    assert person["items"] == [{"item": "救助比例（住院及门诊特殊病种）", "before": "60%（第四类）", "after": "65%（第四类）"}], person["items"]
    # (30,000 − 4,000) × (65% − 60%) = 1,300.00 (二（四）1–2)
    assert person["assistance_delta_fen"] == 130_000


# ------------------------------------------------------------------ the spec
def test_openapi_is_complete(server: Server):
    with server.client(None) as c:
        spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/decide", "/api/decide/batch", "/api/settle", "/api/explain", "/api/why-not", "/api/why-not-more",
                 "/api/lint", "/api/diff", "/api/audit", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result",
                 "/api/decisions/{decision_id}", "/api/decisions/{decision_id}/replay", "/api/policies",
                 "/api/policies/{name}", "/api/policies/{name}/document", "/api/reload"):
        assert path in paths, path
    person = spec["components"]["schemas"]["PersonRecord"]["properties"]
    assert "认定" not in person and person["地区"]["description"]


# ------------------------------------------------------------------ audit jobs
def test_audit_job_accounts_for_every_row(server: Server):
    import csv
    import io
    import time

    folder = Path(__file__).resolve().parent / "audit"
    payments = (folder / "payments.csv").read_bytes()
    rows_in = len([r for r in csv.reader(io.StringIO(payments.decode("utf-8-sig"))) if any(r)]) - 1
    with server.client() as c:
        job = c.post("/api/audit", files={"file": ("payments.csv", payments, "text/csv"),
                                          "persons": ("persons.yaml", (folder / "persons.yaml").read_bytes(), "application/yaml")},
                     data={"params": json.dumps({"上年度居民人均可支配收入": 40000, "年度救助限额": 45000})})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        for _ in range(300):
            info = c.get(f"/api/jobs/{job_id}").json()
            if info["status"] in ("完成", "失败"):
                break
            time.sleep(0.2)
        assert info["status"] == "完成", info
        assert info["rows"] == rows_in
        assert info["summary"]["rows"] == rows_in
        assert sum(t["count"] for t in info["summary"]["by_finding"].values()) == rows_in
        # the planted rows of tests/test_audit.py (hand-worked there, clause by clause): 47,000.00元 at stake
        assert info["summary"]["at_stake_fen"] == 4_700_000
        out = c.get(info["result"]).text
        assert len(list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))) == rows_in
        assert "<svg" in c.get(info["result"] + "?format=html").text
        assert c.post("/api/audit", files={"file": ("payments.txt", b"x", "text/plain")}).json()["code"] == "E_INPUT"
        bad = c.post("/api/audit", files={"file": ("payments.csv", payments, "text/csv")}, data={"params": "[1]"}).json()
        assert bad["code"] == "E_INPUT" and bad["field"] == "params"
        error(c.get("/api/jobs/0123456789abcdef0123456789abcdef"), 404, "E_NOT_FOUND")


# ------------------------------------------------------------------ rules that change under a running server
def test_reload_and_replay_with_current_rules(tmp_path: Path):
    """A decision recorded under 第一类 90% (龙政办规〔2022〕14号 二（四）2) replays identically from the
    ledger after the rules folder changes to 95% and is reloaded; with the current rules it differs."""
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rules", rules)
    server = Server(tmp_path, "--rules", str(rules))
    try:
        with server.client() as c:
            recorded = c.post("/api/decide", json=SPECIAL).json()
            path = rules / "longyan.rules"
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("救助比例（住院及门诊特殊病种） 第一类 90%", "救助比例（住院及门诊特殊病种） 第一类 95%"), encoding="utf-8")
            assert c.post("/api/reload").json()["status"] == "ok"
            now = c.post("/api/decide", json=SPECIAL).json()
            assert next(it for it in now["items"] if it["item"] == "救助比例")["value"] == "95%"
            same = c.post(f"/api/decisions/{recorded['decision_id']}/replay").json()
            assert same["identical"] is True
            changed = c.post(f"/api/decisions/{recorded['decision_id']}/replay?current=true").json()
            assert changed["identical"] is False
            assert "90% → 95%" in changed["text"]
            rules_text = c.get("/api/policies/龙岩市医疗救助/rules").json()
            assert "第一类 95%" in rules_text["text"]
    finally:
        server.stop()


def test_request_deadline(tmp_path: Path):
    """A request past its deadline gets 503 E_TIMEOUT (lint of a policy takes far longer than 1 ms)."""
    server = Server(tmp_path, "--request-timeout", "0.001")
    try:
        text = (Path(__file__).resolve().parent.parent / "rules" / "longyan.rules").read_text(encoding="utf-8")
        with server.client() as c:
            error(c.post("/api/lint", json={"规则文本": text}), 503, "E_TIMEOUT")
            assert c.get("/api/health").status_code == 200  # the worker is not hung
    finally:
        server.stop()
