"""This module serves the reasoner over HTTP (FastAPI on uvicorn) and hosts the web desk.

Policies are compiled once at start-up (and on /api/reload) and shared by every request.
All reasoning runs on one worker thread per process: the Reasoner's caches are not locked
(see batch.py), and a second uvicorn worker process is how the service uses a second core.
Every request has a deadline; a clingo solve has its own time limit and is cancelled at it,
so a request past its time gets a clear error instead of hanging the worker.

Limits refuse work before it starts: bodies over `max_body` bytes (413), batches over
`max_batch` records (413), requests past `request_timeout` seconds (503). Endpoints that
write (record to the ledger, reload the rules) need the API token (`Authorization: Bearer
…`); reads can be opened or closed by configuration. No request names a file path: policies
are addressed by name, jobs and decisions by id, and the desk's files come from the package.
Errors are JSON: {code, message, field | line/column, errors}.
"""
from __future__ import annotations

import functools
import hmac
import json
import re
import secrets
import threading
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Callable, TypeVar

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .decide import Decision
from .diagnostics import Diagnostic, DiagnosticError
from .diff import diff as run_diff
from .explain import decision_json, explain_json, explain_text, why_not_text
from .explain_svg import explain_svg
from .lint import lint
from .person import RecordError, load_records, parse_person
from .policies import PolicySelectionError, PolicySet, bundled_rules_dir, policy_from_text
from .service_models import (
    ApiError,
    Batch,
    ClauseOut,
    DecisionOut,
    DiffIn,
    Document,
    ErrorBody,
    JobOut,
    LintIn,
    PersonRecord,
    PolicyDetail,
    PolicySummary,
    WhyNotIn,
)
from .service_runtime import ServiceConfig, State, job_id_checked, job_status, run_audit_job
from .settle import Settlement, settle
from .settle_explain import settlement_json
from .solve import SolverTimeout
from .version import __version__
from .why_not_more import why_not_more

T = TypeVar("T")


class BodyLimit:
    """Refuses bodies over the limit before they are read (plain ASGI: no per-request task or copy)."""

    def __init__(self, app: Any, config: ServiceConfig):
        self.app, self.config = app, config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await _error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: dict[str, Any]) -> ApiError | None:
        length = dict(scope["headers"]).get(b"content-length")
        limit = self.config.max_upload if scope["path"] == "/api/audit" else self.config.max_body
        if length is None and scope["method"] in ("POST", "PUT"):
            return ApiError(411, "E_LENGTH", "请求须给出 Content-Length（不接受分块传输的请求体）")
        if length is not None and length.isdigit() and int(length) > limit:
            return ApiError(413, "E_TOO_LARGE", f"请求体 {length.decode()} 字节，超过上限 {limit} 字节")
        return None


# ------------------------------------------------------------------ errors
def _record_error(err: RecordError) -> ApiError:
    return ApiError(422, "E_INPUT", str(err), field=err.field)


def _diagnostics_error(err: DiagnosticError) -> ApiError:
    errors = [{"code": d.code, "message": d.message, "line": d.span.line, "column": d.span.col} for d in err.diagnostics if d.span]
    first = errors[0] if errors else {}
    return ApiError(422, "E_RULES", first.get("message", str(err)), line=first.get("line"), column=first.get("column"), errors=errors)


PYDANTIC_MESSAGES = {"missing": "缺少必填字段", "extra_forbidden": "不认识的字段", "string_type": "应为文本",
                     "int_type": "应为整数", "int_parsing": "应为整数", "list_type": "应为列表", "dict_type": "应为对象",
                     "model_type": "应为对象", "json_invalid": "不是合法的 JSON", "bool_type": "应为是/否"}


def _validation_error(err: RequestValidationError) -> ApiError:
    errors = []
    for e in err.errors():
        path = ".".join(str(x) for x in e["loc"] if x != "body")
        errors.append({"field": path or "（请求体）", "message": PYDANTIC_MESSAGES.get(e["type"], e.get("msg", "格式错误"))})
    first = errors[0] if errors else {"field": None, "message": "请求体格式错误"}
    return ApiError(422, "E_INPUT", f"字段「{first['field']}」：{first['message']}", field=first["field"], errors=errors)


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body.model_dump(exclude_none=True), status_code=err.status)


def _guard(fn: Callable[..., T]) -> Callable[..., T]:
    """Engine errors as API errors (one place that knows which exception means what)."""
    @functools.wraps(fn)
    def inner(*args: Any) -> T:
        try:
            return fn(*args)
        except RecordError as err:
            raise _record_error(err) from None
        except PolicySelectionError as err:
            raise ApiError(422, "E_POLICY", str(err), field=err.field) from None
        except DiagnosticError as err:
            raise _diagnostics_error(err) from None
        except SolverTimeout as err:
            raise ApiError(503, "E_TIMEOUT", str(err)) from None
        except KeyError as err:
            raise ApiError(422, "E_INPUT", str(err.args[0] if err.args else err)) from None
    return inner


# ------------------------------------------------------------------ the app
def create_app(config: ServiceConfig | None = None) -> FastAPI:
    config = config or ServiceConfig.from_env()
    if config.token is None:
        config.token = secrets.token_urlsafe(24)
        print(f"reasoner serve：未配置 API 令牌，本次生成：{config.token}", flush=True)
    state = State(config)
    app = FastAPI(title="医疗救助政策推理器", version=__version__,
                  description="决定、结算、解释、起草检查、差异比较、台账与审计的 HTTP 接口。错误统一为 JSON：code、中文 message，"
                              "规则文本错误另给 line、column。写操作（记入台账、重新加载规则）需要 API 令牌（Authorization: Bearer …）。",
                  responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
    app.state.reasoner_state = state

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> JSONResponse:
        return _error_response(err)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        return _error_response(_validation_error(err))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        messages = {404: "没有这个地址", 405: "不支持此请求方法"}
        return _error_response(ApiError(err.status_code, f"E_HTTP_{err.status_code}", messages.get(err.status_code, str(err.detail))))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, err: Exception) -> JSONResponse:
        return _error_response(ApiError(500, "E_INTERNAL", f"内部错误：{type(err).__name__}"))

    app.add_middleware(BodyLimit, config=config)

    def bearer(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        return bool(given) and hmac.compare_digest(given.encode(), (config.token or "").encode())

    def can_write(request: Request) -> None:
        if not bearer(request):
            raise ApiError(401, "E_AUTH", "此操作需要有效的 API 令牌（Authorization: Bearer …）")

    def can_read(request: Request) -> None:
        if not config.open_reads:
            can_write(request)

    def records_writer(request: Request) -> None:
        """Decisions are recorded when recording is on: then computing one is a write."""
        (can_write if config.record else can_read)(request)

    # ---------------------------------------------------------------- reads
    @app.get("/api/health", summary="服务状态")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "policies": len(state.policies.policies), "recording": config.record}

    @app.get("/api/policies", response_model=list[PolicySummary], summary="已加载的政策", dependencies=[Depends(can_read)])
    def policies() -> list[PolicySummary]:
        return [_summary(p) for p in state.policies.policies.values()]

    @app.get("/api/policies/{name}", response_model=PolicyDetail, summary="政策的条款（含原文）与参数", dependencies=[Depends(can_read)])
    def policy(name: str) -> PolicyDetail:
        p = _policy(state, name)
        clauses = [ClauseOut(id=c.cid, article=c.article, quote=c.quote, line=c.span.line,
                             interpretations=[{"key": i.key.text, "text": i.text} for i in c.interpretations]) for c in p.clauses.values()]
        return PolicyDetail(**_summary(p).model_dump(), clauses=clauses, parameters=_parameters(state.policies, p),
                            categories=[n for n, group in p.categories.items() if not group])

    @app.get("/api/policies/{name}/document", summary="政策原文（文件全文）及各条款原文在其中的位置", dependencies=[Depends(can_read)])
    def document(name: str) -> dict[str, Any]:
        p = _policy(state, name)
        text, file = _document_text(p)
        return {"policy": p.name, "file": file, "text": text,
                "clauses": [{"id": c.cid, "article": c.article, "quote": c.quote, "span": _locate(text, c.quote)} for c in p.clauses.values()]}

    @app.get("/api/policies/{name}/rules", summary="政策的规则文本（供起草时载入）", dependencies=[Depends(can_read)])
    def rules_text(name: str) -> dict[str, Any]:
        p = _policy(state, name)
        return {"policy": p.name, "file": Path(p.source.path).name, "text": p.source.source}

    @app.get("/api/examples", summary="随包附带的示例记录（按文件）", dependencies=[Depends(can_read)])
    def examples() -> list[dict[str, Any]]:
        return [{"file": path.name, "records": load_records(path)} for path in sorted(_examples_dir().glob("*.yaml"))]

    # ---------------------------------------------------------------- decisions
    def _decide(record: PersonRecord) -> Decision:
        return state.reasoner.decide(parse_person(record.record()))

    def _decision_out(decision: Decision, decision_id: str | None) -> dict[str, Any]:
        return decision_json(decision) | {"id": decision.person.id, "policy": decision.policy.name, "decision_id": decision_id}

    @app.post("/api/decide", response_model=DecisionOut, summary="决定一人的救助类别与各项待遇", dependencies=[Depends(records_writer)])
    async def decide(record: PersonRecord) -> Response:
        decision = await state.run(_guard(lambda: _decide(record)))
        [decision_id] = await state.record([(0, decision)])
        return JSONResponse(_decision_out(decision, decision_id))  # already the documented shape: no second validation

    @app.post("/api/decide/batch", summary="决定多人（条数受限）；坏记录逐条报告，不影响其余", dependencies=[Depends(records_writer)])
    async def decide_batch(batch: Batch) -> Response:
        _check_batch(config, len(batch.记录))

        def work() -> list[Decision | dict[str, Any]]:
            out: list[Decision | dict[str, Any]] = []
            for i, record in enumerate(batch.记录):
                try:
                    out.append(_guard(lambda: _decide(record))())
                except ApiError as err:
                    out.append({"row": i + 1, "error": err.body.model_dump(exclude_none=True)})
            return out
        results = await state.run(work)
        decisions = [(i, r) for i, r in enumerate(results) if isinstance(r, Decision)]
        ids = await state.record(decisions)
        by_row = dict(zip((i for i, _ in decisions), ids))
        return JSONResponse({"results": [_decision_out(r, by_row[i]) if isinstance(r, Decision) else r for i, r in enumerate(results)]})

    @app.post("/api/settle", response_model=list[Document], summary="逐笔结算一人的就医记录（每年一份）", dependencies=[Depends(records_writer)])
    async def settle_one(record: PersonRecord) -> Response:
        def work() -> list[tuple[Settlement, dict[str, Any]]]:
            return [(s, settlement_json(s)) for s in settle(state.reasoner, parse_person(record.record()))]
        settled = await state.run(_guard(work))
        ids = await state.record([(i, s) for i, (s, _) in enumerate(settled)])
        return JSONResponse([doc | {"decision_id": i} for (_, doc), i in zip(settled, ids)])

    @app.post("/api/explain", summary="决定的完整依据链：JSON、中文文本或 SVG 图", dependencies=[Depends(records_writer)],
              responses={200: {"content": {"application/json": {}, "text/plain": {}, "image/svg+xml": {}}}})
    async def explain(record: PersonRecord, format: str = Query("json", pattern="^(json|text|svg)$", description="json / text / svg")) -> Response:
        def work() -> tuple[Decision, Any]:
            decision = _decide(record)
            render = {"text": explain_text, "svg": explain_svg, "json": explain_json}[format]
            return decision, render(decision)
        decision, body = await state.run(_guard(work))
        [decision_id] = await state.record([(0, decision)])
        headers = {"X-Decision-Id": decision_id} if decision_id else {}
        if format == "text":
            return PlainTextResponse(body, headers=headers)
        if format == "svg":
            return Response(body, media_type="image/svg+xml", headers=headers)
        return JSONResponse(body | {"decision_id": decision_id}, headers=headers)

    @app.post("/api/why-not", summary="为何不属于某类别：未满足的条件及该类别的待遇", dependencies=[Depends(can_read)])
    async def why_not(body: WhyNotIn) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            decision = _decide(body.记录)
            return {"category": body.类别, "member": body.类别 in decision.categories, "text": why_not_text(decision, body.类别)}
        return await state.run(_guard(work))

    @app.post("/api/why-not-more", response_model=list[Document], summary="为何没有多付：限制因素与更优类别", dependencies=[Depends(can_read)])
    async def why_more(record: PersonRecord) -> list[dict[str, Any]]:
        return await state.run(_guard(lambda: [w.to_json() | {"text": w.text()} for w in why_not_more(state.reasoner, record.record())]))

    # ---------------------------------------------------------------- drafters
    @app.post("/api/lint", response_model=Document, summary="检查一段规则文本：诊断（行列）与起草检查结果（含证例）", dependencies=[Depends(can_read)])
    async def lint_text(body: LintIn) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            name = _safe_name(body.文件名)
            try:
                policy = policy_from_text(body.规则文本, name)
            except DiagnosticError as err:
                return {"schema": "yiliao-jiuzhu-reasoner/lint/1", "diagnostics": _diag_json(err.diagnostics), "findings": []}
            merged = _with(state.policies, policy)
            parent = body.上位 or (policy.source.header.parent.text if policy.source.header.parent else None)
            findings = lint(merged, policy.name, parent if parent in merged.policies else None)
            return {"schema": "yiliao-jiuzhu-reasoner/lint/1", "policy": policy.name, "diagnostics": [],
                    "findings": [f.to_json() for f in findings]}
        return await state.run(_guard(work))

    @app.post("/api/diff", response_model=Document, summary="新版规则与已加载版本在同一人群上的差异", dependencies=[Depends(can_read)])
    async def diff_text(body: DiffIn) -> dict[str, Any]:
        _check_batch(config, len(body.人群))

        def work() -> dict[str, Any]:
            policy = policy_from_text(body.规则文本, _safe_name(body.文件名))
            if policy.name not in state.policies.policies:
                raise ApiError(422, "E_POLICY", f"已加载的规则中没有政策「{policy.name}」，无从比较")
            return run_diff(state.policies, _with(state.policies, policy), [r.record() for r in body.人群]).to_json()
        return await state.run(_guard(work))

    # ---------------------------------------------------------------- ledger
    @app.get("/api/decisions/{decision_id}", summary="查阅台账中的一条决定（含完整依据）", dependencies=[Depends(can_read)])
    async def recorded(decision_id: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            from .ledger import LedgerError
            from .ledger_view import why_json, why_text
            try:
                entry = state.open_ledger().get(decision_id)
            except LedgerError as err:
                raise ApiError(404, "E_NOT_FOUND", str(err)) from None
            return {"entry": entry.to_json(), "why": why_json(entry), "text": why_text(entry)}
        return await state.run(work)

    @app.post("/api/decisions/{decision_id}/replay", summary="以记录的输入与政策版本重算；可选以现行规则重算并说明差异",
              dependencies=[Depends(can_read)])
    async def replay(decision_id: str, current: bool = Query(False, description="以现行规则重算")) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            from .ledger import LedgerError
            from .ledger_replay import replay as run_replay
            from .ledger_view import replay_json, replay_text
            try:
                report = run_replay(state.open_ledger(), decision_id, config.rules if current else None, current)
            except LedgerError as err:
                raise ApiError(404, "E_NOT_FOUND", str(err)) from None
            return replay_json(report) | {"text": replay_text(report)}
        return await state.run(_guard(work))

    @app.post("/api/reload", summary="重新加载规则目录（需要令牌）", dependencies=[Depends(can_write)])
    async def reload() -> dict[str, Any]:
        await state.run(_guard(state.load))
        return {"status": "ok", "policies": sorted(state.policies.policies)}

    # ---------------------------------------------------------------- audit jobs
    @app.post("/api/audit", response_model=JobOut, status_code=202, summary="上传支付台账（CSV/Excel）发起审计任务", dependencies=[Depends(can_read)])
    async def audit_upload(file: UploadFile = File(description="支付台账 CSV 或 Excel（列名见 README「批量审核」）"),
                           persons: UploadFile | None = File(None, description="人员文件 CSV、Excel、YAML 或 JSON（可选；也可在支付台账中给出身份列）"),
                           params: str | None = Form(None, description="假设参数（JSON 对象，名 → 元），对每个人适用，如 {\"年度救助限额\": 45000}")) -> JobOut:
        assumed = _assumed_params(params)
        job_id = uuid.uuid4().hex
        folder = config.data / "jobs" / job_id
        folder.mkdir(parents=True)
        upload = await _save_upload(file, folder / "payments")
        people = await _save_upload(persons, folder / "persons", (".csv", ".xlsx", ".yaml", ".json")) if persons is not None else None
        with state.jobs_lock:
            state.jobs[job_id] = {"status": "排队", "rows": 0}
        threading.Thread(target=run_audit_job, args=(state, job_id, upload, people, assumed), daemon=True).start()
        return job_status(state, job_id)

    @app.get("/api/jobs/{job_id}", response_model=JobOut, summary="审计任务的进度", dependencies=[Depends(can_read)])
    def job(job_id: str) -> JobOut:
        return job_status(state, job_id)

    @app.get("/api/jobs/{job_id}/result", summary="下载审计结果（CSV）", dependencies=[Depends(can_read)])
    def job_result(job_id: str, format: str = Query("csv", pattern="^(csv|json|html)$")) -> FileResponse:
        info = job_status(state, job_id)
        if info.status != "完成":
            raise ApiError(409, "E_NOT_READY", f"任务尚未完成（{info.status}）")
        path = config.data / "jobs" / job_id_checked(job_id) / f"findings.{format}"
        return FileResponse(path, filename=f"审计结果-{job_id[:8]}.{format}")

    # ---------------------------------------------------------------- the desk
    desk = resources.files("reasoner") / "desk"
    app.mount("/desk", StaticFiles(directory=str(desk), html=True), name="desk")

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return Response(status_code=307, headers={"location": "/desk/"})

    return app


# ------------------------------------------------------------------ helpers
async def _save_upload(file: UploadFile, stem: Path, accepted: tuple[str, ...] = (".csv", ".xlsx")) -> Path:
    """An upload saved under a name of ours (the client's file name only gives the format)."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in accepted:
        raise ApiError(422, "E_INPUT", f"「{Path(file.filename or '').name}」：只接受 {'、'.join(accepted)} 文件")
    path = stem.with_suffix(suffix)
    path.write_bytes(await file.read())
    return path


def _examples_dir() -> Path:
    """The example records: reasoner/examples when installed, else the repository's examples/."""
    installed = Path(str(resources.files("reasoner"))) / "examples"
    return installed if installed.is_dir() else bundled_rules_dir().parent / "examples"


def _assumed_params(text: str | None) -> dict[str, str]:
    """The audit form's 假设参数: a JSON object of names to amounts in 元 (checked again per person)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in data.values()):
        raise ApiError(422, "E_INPUT", "假设参数应为 JSON 对象：名 → 金额（元），如 {\"年度救助限额\": 45000}", field="params")
    return {str(k): str(v) for k, v in data.items()}


def _check_batch(config: ServiceConfig, n: int) -> None:
    if n > config.max_batch:
        raise ApiError(413, "E_TOO_MANY", f"一次 {n} 条记录，超过上限 {config.max_batch} 条")


def _policy(state: State, name: str) -> Any:
    p = state.policies.policies.get(name)
    if p is None:
        raise ApiError(404, "E_NOT_FOUND", f"没有政策「{name}」；已加载：{'、'.join(state.policies.policies)}")
    return p


def _summary(p: Any) -> PolicySummary:
    h = p.source.header
    return PolicySummary(name=p.name, region=h.region.text if h.region else None, document=h.docno or None,
                         start=str(h.start) if h.start else None, end=str(h.end) if h.end else None,
                         parent=h.parent.text if h.parent else None, file=p.source.path, content_sha256=p.content_hash)


def _parameters(policies: PolicySet, p: Any) -> list[dict[str, Any]]:
    region = p.source.header.region.text if p.source.header.region else ""
    out = []
    for reg in policies.params.chain(region):
        for name, by_year in policies.params.regions[reg].values.items():
            for year, (fen, source) in sorted(by_year.items()):
                out.append({"名称": name, "地区": reg, "年度": year, "值（分）": fen, "来源": source})
    return out


def _document_text(p: Any) -> tuple[str, str]:
    """The document a policy encodes: the shipped text that contains its first clause's 原文."""
    sources = resources.files("reasoner") / "rules" / "sources"
    folder = Path(str(sources)) if Path(str(sources)).is_dir() else bundled_rules_dir() / "sources"
    quotes = [re.sub(r"\s+", "", c.quote) for c in p.clauses.values()]
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        flat = re.sub(r"\s+", "", text)
        if quotes and sum(q in flat for q in quotes) * 2 >= len(quotes):
            return text, path.name
    raise ApiError(404, "E_NOT_FOUND", f"没有收录「{p.name}」的原文")


def _locate(text: str, quote: str) -> list[int] | None:
    """Where a quote sits in the document, ignoring whitespace (OCR line breaks): [start, end) or None."""
    chars = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    flat = "".join(ch for _, ch in chars)
    start = flat.find(re.sub(r"\s+", "", quote))
    if start < 0:
        return None
    return [chars[start][0], chars[start + len(re.sub(r"\s+", "", quote)) - 1][0] + 1]


def _safe_name(name: str) -> str:
    """A display name only: never a path to read."""
    return Path(name).name or "草稿.rules"


def _with(policies: PolicySet, policy: Any) -> PolicySet:
    return PolicySet({**policies.policies, policy.name: policy}, policies.params)


def _diag_json(diags: list[Diagnostic]) -> list[dict[str, Any]]:
    return [{"code": d.code, "severity": d.severity.value, "message": d.message,
             "line": d.span.line if d.span else None, "column": d.span.col if d.span else None} for d in diags]
