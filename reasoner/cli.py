"""This module is the command line: thin wrappers over the library facade.

Exit codes: 0 done; 1 a rules file has errors; 2 bad input (a record, a file, no policy
for the region/date); 3 done, but at least one decision could not be made (facts or
parameters missing); 4/5 lint warnings/errors; 6 replay differs from the record; 7 the
decision ledger was altered (see reasoner.ledger_cli).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .check import check, iter_statements
from .compile import compile_policy
from .decide import STATUS_UNDECIDED, Decision, Reasoner
from .diagnostics import DiagnosticError, has_errors, render_all
from .explain import decision_json, explain_json, explain_text, why_not_text
from .why_not_more import why_not_more
from .parse import parse_file
from .person import RecordError, load_records, parse_person
from .policies import PolicySelectionError, PolicySet, bundled_rules_dir, load_policy
from .diff import diff_file, render_chart, rules_set
from .diff import render_text as render_diff_text
from .lint import lint
from .lint_report import EXIT_BY_SEVERITY, render_text, to_sarif, worst
from .population import generate as generate_population
from .settle import CLAIM_UNDECIDED, settle
from .settle_explain import settlement_json, settlement_text
from . import ast
from .ledger_cli import add_parsers as add_ledger_parsers
from .ledger_cli import add_record_options, decision_ids, record_ids
from .ledger_paths import LedgerError

EXIT_OK, EXIT_RULES, EXIT_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def cmd_check(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    report = []
    for path in args.files:
        try:
            parsed = parse_file(path)
        except DiagnosticError as err:
            report.append({"file": path, "diagnostics": [d.to_json() for d in err.diagnostics], "interpretations": []})
            if not args.json:
                print(str(err), file=sys.stderr)
            worst = EXIT_RULES
            continue
        diags = check(parsed)
        interps = [(clause.article, s) for clause, s in iter_statements(parsed) if isinstance(s, ast.Interpretation)]
        report.append({"file": path, "diagnostics": [d.to_json() for d in diags],
                       "interpretations": [{"article": a, "key": s.key.text, "text": s.text, "line": s.span.line} for a, s in interps]})
        if has_errors(diags):
            worst = EXIT_RULES
        if not args.json:
            if diags:
                print(render_all(diags, {parsed.path: parsed.source}), file=sys.stderr)
            status = "有错误" if has_errors(diags) else "通过"
            print(f"{path}：{parsed.header.name.text}，{len(parsed.clauses)} 个条款，检查{status}")
            print(f"  解释（{len(interps)} 条）：")
            for article, s in interps:
                print(f"    〔{article}〕{s.key.text}（第{s.span.line}行）：{s.text}")
    if args.json:
        _print_json(report)
    return worst


def cmd_compile(args: argparse.Namespace) -> int:
    try:
        parsed = parse_file(args.file)
    except DiagnosticError as err:
        print(str(err), file=sys.stderr)
        return EXIT_RULES
    diags = check(parsed)
    if has_errors(diags):
        print(render_all(diags, {parsed.path: parsed.source}), file=sys.stderr)
        return EXIT_RULES
    compiled = compile_policy(parsed)
    if args.json:
        _print_json({"policy": compiled.name, "content_sha256": compiled.content_hash, "facts": [f for f in compiled.facts if not f.startswith("%")]})
    else:
        print(compiled.text(), end="")
    return EXIT_OK


def _reasoner(args: argparse.Namespace) -> Reasoner:
    """One reasoner per command: --record stores the texts of exactly the policies it decided under."""
    if getattr(args, "reasoner", None) is None:
        args.reasoner = Reasoner(PolicySet.load(args.rules))
    return args.reasoner


def _records(args: argparse.Namespace) -> list[Any]:
    records: list[Any] = []
    for path in args.persons:
        records += load_records(path)
    assumed = dict(kv.split("=", 1) for kv in args.param or [])
    if assumed:
        for rec in records:
            if isinstance(rec, dict):
                rec.setdefault("假设参数", {}).update(assumed)
    return records


def _ledger_tag(ids: dict[int, str], i: int) -> dict[str, str]:
    """The decision id a --record run gave a result, for its JSON."""
    return {"decision_id": ids[i]} if i in ids else {}


def _summary_line(d: Decision) -> str:
    parts = [f"{d.person.id}（{d.person.region}，{d.person.date}）：{d.status}；类别：{'、'.join(d.categories) or '无'}"]
    for it in d.items:
        if it.status == "已决定":
            parts.append(f"  {it.label}：{it.value}（{it.category}）{it.citation.short() if it.citation else ''}")
        elif it.status != "不适用":
            parts.append(f"  {it.label}：{it.status}" + (f"（缺少：{'、'.join(it.missing)}）" if it.missing else ""))
    if d.missing:
        parts.append(f"  缺少：{'、'.join(d.missing)}")
    return "\n".join(parts)


def _decide_all(args: argparse.Namespace) -> tuple[list[tuple[int, Decision | Exception]], int]:
    reasoner = _reasoner(args)
    out: list[tuple[int, Decision | Exception]] = []
    code = EXIT_OK
    for i, record in enumerate(_records(args)):
        try:
            decision = reasoner.decide(parse_person(record, i))
            out.append((i, decision))
            undecided = decision.status == STATUS_UNDECIDED or any(it.status == STATUS_UNDECIDED for it in decision.items)
            if undecided and code == EXIT_OK:
                code = EXIT_UNDECIDED
        except (RecordError, PolicySelectionError, KeyError) as err:
            out.append((i, err))
            code = EXIT_INPUT
    return out, code


def cmd_decide(args: argparse.Namespace) -> int:
    results, code = _decide_all(args)
    ids = decision_ids(args, _reasoner(args), results)
    if args.json:
        _print_json([decision_json(r) | {"id": r.person.id, "policy": r.policy.name} | _ledger_tag(ids, i) if isinstance(r, Decision)
                     else {"row": i + 1, "error": str(r), "field": getattr(r, "field", None)} for i, r in results])
        return code
    for i, r in results:
        if isinstance(r, Decision):
            print(_summary_line(r) + (f"\n  账本编号：{ids[i]}" if i in ids else ""))
        else:
            print(f"第{i + 1}条记录：错误：{r}", file=sys.stderr)
    return code


def cmd_why_not_more(args: argparse.Namespace) -> int:
    reasoner, code, reports = _reasoner(args), EXIT_OK, []
    for i, record in enumerate(_records(args)):
        try:
            answers = why_not_more(reasoner, parse_person(record, i))
        except (RecordError, PolicySelectionError) as err:
            print(f"第{i + 1}条记录：错误：{err}", file=sys.stderr)
            reports.append({"row": i + 1, "error": str(err), "field": getattr(err, "field", None)})
            code = EXIT_INPUT
            continue
        for w in answers:
            reports.append(w.to_json()) if args.json else print(w.text())
    if args.json:
        _print_json(reports)
    return code


def cmd_explain(args: argparse.Namespace) -> int:
    if args.why_not_more:
        return cmd_why_not_more(args)
    results, code = _decide_all(args)
    ids = decision_ids(args, _reasoner(args), results)
    for i, r in results:
        if not isinstance(r, Decision):
            print(f"第{i + 1}条记录：错误：{r}", file=sys.stderr)
            continue
        if i in ids and not args.json:
            print(f"账本编号：{ids[i]}")
        if args.why_not:
            try:
                print(why_not_text(r, args.why_not))
            except KeyError as err:
                print(f"错误：{err.args[0]}", file=sys.stderr)
                return EXIT_INPUT
        elif args.json:
            _print_json(explain_json(r) | _ledger_tag(ids, i))
        else:
            print(explain_text(r))
    return code


def cmd_settle(args: argparse.Namespace) -> int:
    reasoner = _reasoner(args)
    code = EXIT_OK
    reports: list[Any] = []
    for i, record in enumerate(_records(args)):
        try:
            settlements = settle(reasoner, parse_person(record, i), args.year)
        except (RecordError, PolicySelectionError) as err:
            print(f"第{i + 1}条记录：错误：{err}", file=sys.stderr)
            reports.append({"row": i + 1, "error": str(err), "field": getattr(err, "field", None)})
            code = EXIT_INPUT
            continue
        ids = dict(enumerate(record_ids(args, reasoner, [(i, s) for s in settlements])))
        for k, s in enumerate(settlements):
            if any(c.status == CLAIM_UNDECIDED for c in s.claims) and code == EXIT_OK:
                code = EXIT_UNDECIDED
            if args.json:
                reports.append(settlement_json(s) | _ledger_tag(ids, k))
            else:
                print(settlement_text(s, explain=args.explain) + (f"账本编号：{ids[k]}\n" if k in ids else ""))
    if args.json:
        _print_json(reports)
    return code


def cmd_lint(args: argparse.Namespace) -> int:
    policies = PolicySet.load(args.rules or Path(args.file).parent)
    target, parent = load_policy(args.file), load_policy(args.parent) if args.parent else None
    policies.policies[target.name] = target  # the file as given, even if the folder holds another version
    if parent is not None:
        policies.policies[parent.name] = parent
    findings = lint(policies, target.name, parent.name if parent else None)
    if args.sarif:
        _print_json(to_sarif({target.name: findings}))
    elif args.json:
        _print_json({"policy": target.name, "findings": [f.to_json() for f in findings]})
    else:
        print(render_text(target.name, findings, with_interpretations=not args.brief), end="")
    return EXIT_BY_SEVERITY[worst(findings)]


def cmd_diff(args: argparse.Namespace) -> int:
    report = diff_file(rules_set(args.old), rules_set(args.new), args.population)
    for chart in filter(None, (args.chart, args.svg)):
        for note in render_chart(report, chart):
            print(f"注意：{note}", file=sys.stderr)
    if args.json:
        _print_json(report.to_json())
    else:
        print(render_diff_text(report), end="")
    return EXIT_INPUT if report.errors else EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    reasoner = Reasoner(PolicySet.load(args.rules))
    record = load_records(args.person)[0]
    columns = []
    for region in (args.a, args.b):
        try:
            columns.append(reasoner.decide(dict(record, 地区=region)))
        except (RecordError, PolicySelectionError) as err:
            print(f"{region}：错误：{err}", file=sys.stderr)
            return EXIT_INPUT
    labels = list(dict.fromkeys(it.label for d in columns for it in d.items))
    rows = [["", *(f"{d.person.region}（{d.policy.name}）" for d in columns)],
            ["状态", *(f"{d.status}；{'、'.join(d.categories) or '无类别'}" for d in columns)]]
    for label in labels:
        cells = []
        for d in columns:
            it = next((i for i in d.items if i.label == label), None)
            cells.append(f"{it.value}（{it.category}）{it.citation.short() if it.citation else ''}" if it and it.value else (it.status if it else "—"))
        rows.append([label, *cells])
    if args.json:
        _print_json([decision_json(d) | {"region": d.person.region, "policy": d.policy.name} for d in columns])
    else:
        for row in rows:
            print(" | ".join(row))
    return EXIT_OK


def cmd_population(args: argparse.Namespace) -> int:
    policies = PolicySet.load(args.rules)
    policy = next((p for p in policies.policies.values() if p.source.header.region and p.source.header.region.text == args.region), None)
    if policy is None:
        print(f"错误：没有地区「{args.region}」的政策", file=sys.stderr)
        return EXIT_INPUT
    records = generate_population(policy, policies.params, args.n, args.seed, args.year)
    _print_json(records)
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    """Batch audit of a payment ledger (reasoner.audit); exit 2 when a row could not be read, 3 when one could not be judged."""
    from .audit import ERROR, UNDECIDED, AuditOptions, run_audit
    from .audit_report import summary_text, write_outputs

    params = dict(kv.split("=", 1) for kv in args.param or [])
    options = AuditOptions(persons=args.persons, columns=args.columns, params=params)
    with run_audit(_reasoner(args), args.payments, options) as audit:
        summary = write_outputs(audit, args.out, sys.stdout if args.json else None, args.html, args.rules)
    if not args.json:
        print(summary_text(summary), end="")
    if summary.by_outcome[ERROR].count:
        return EXIT_INPUT
    return EXIT_UNDECIDED if summary.by_outcome[UNDECIDED].count else EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Settings travel to the uvicorn workers as REASONER_* variables (each worker builds its own app)."""
    import secrets

    import uvicorn

    settings = {"REASONER_RULES": args.rules, "REASONER_DATA": args.data, "REASONER_DB": args.db,
                "REASONER_API_TOKEN": args.token or os.environ.get("REASONER_API_TOKEN"),
                "REASONER_RECORD": "0" if args.no_record else None, "REASONER_OPEN_READS": "0" if args.closed_reads else None,
                "REASONER_MAX_BODY": args.max_body, "REASONER_MAX_UPLOAD": args.max_upload, "REASONER_MAX_BATCH": args.max_batch,
                "REASONER_REQUEST_TIMEOUT": args.request_timeout, "REASONER_SOLVE_TIMEOUT": args.solve_timeout}
    if not settings["REASONER_API_TOKEN"]:
        settings["REASONER_API_TOKEN"] = secrets.token_urlsafe(24)
        print(f"API 令牌（本次生成）：{settings['REASONER_API_TOKEN']}", file=sys.stderr, flush=True)
    os.environ.update({k: str(v) for k, v in settings.items() if v is not None})
    uvicorn.run("reasoner.service:create_app", factory=True, host=args.host, port=args.port, workers=args.workers, log_level="warning")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reasoner", description="医疗救助政策推理器：检查规则、编译为ASP事实、按日期决定并解释")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="检查规则文件（语法、名称、单位、矛盾），并列出全部解释")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("compile", help="打印规则文件编译出的ASP事实")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compile)
    for name, func, text in (("decide", cmd_decide, "按日期决定救助类别与各项待遇"),
                             ("explain", cmd_explain, "给出决定的完整依据链（中文或JSON）")):
        p = sub.add_parser(name, help=text)
        p.add_argument("persons", nargs="+", help="个人记录文件（YAML或JSON，一条或多条）")
        p.add_argument("--rules", default=str(bundled_rules_dir()), help="规则目录（默认：随包附带的五个政策）")
        p.add_argument("--param", action="append", metavar="名=值", help="假设参数值（元），在解释中注明为假设")
        p.add_argument("--json", action="store_true")
        if name == "explain":
            p.add_argument("--why-not", metavar="类别", help="列出不属于该类别的原因（未满足的条件）及其待遇")
            p.add_argument("--why-not-more", action="store_true",
                           help="为何没有多付：逐笔列出起付标准、救助比例、限额、排除的影响，以及更优类别可得多少、为何不属于")
        add_record_options(p)
        p.set_defaults(func=func)
    p = sub.add_parser("diff", help="两版规则在同一人群上的差异：谁的类别或待遇变了、变化多少、按类别的预算影响")
    p.add_argument("old", help="原规则：文件（与其所在目录的其他规则一起读取）或目录")
    p.add_argument("new", help="新规则：文件或目录")
    p.add_argument("--population", required=True, help="人群记录（YAML、JSON、CSV、Excel .xlsx 或 Parquet；表格逐块读取）")
    p.add_argument("--chart", metavar="文件.png|文件.svg", help="把变化分布图写入此文件（按扩展名选 PNG 或 SVG）")
    p.add_argument("--svg", help="同 --chart（旧写法）")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser("compare", help="同一人在两个地区政策下的决定并排对照")
    p.add_argument("a", help="地区甲（规则文件「地区」所写的名称）")
    p.add_argument("b", help="地区乙")
    p.add_argument("--person", required=True, help="个人记录文件（取第一条）")
    p.add_argument("--rules", default=str(bundled_rules_dir()))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("population", help="为某地区政策生成可复现的合成人群（JSON），供 diff 等使用")
    p.add_argument("region")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--year", type=int)
    p.add_argument("--rules", default=str(bundled_rules_dir()))
    p.set_defaults(func=cmd_population)
    p = sub.add_parser("lint", help="起草人检查：矛盾、非全序的待遇就高、空缺、死条款、与上位政策的差异，每项附证例")
    p.add_argument("file", help="要检查的规则文件")
    p.add_argument("--parent", help="上位政策的规则文件（默认：按文件声明的「上位」在同一目录中查找）")
    p.add_argument("--rules", help="规则目录（默认：该文件所在目录，其中的参数文件与上位政策一并读取）")
    p.add_argument("--brief", action="store_true", help="不列出各条「解释」")
    p.add_argument("--json", action="store_true")
    p.add_argument("--sarif", action="store_true", help="输出 SARIF 2.1.0，供编辑器与CI在条款处显示")
    p.set_defaults(func=cmd_lint)
    p = sub.add_parser("settle", help="逐笔结算一年的就医记录：大病保险（含倾斜）与医疗救助，列出每步算式")
    p.add_argument("persons", nargs="+", help="含「就医」记录的个人记录文件（YAML或JSON）")
    p.add_argument("--year", type=int, help="只结算这一年（默认：记录中出现的每一年）")
    p.add_argument("--rules", default=str(bundled_rules_dir()), help="规则目录（默认：随包附带的五个政策）")
    p.add_argument("--param", action="append", metavar="名=值", help="假设参数值（元），在解释中注明为假设")
    p.add_argument("--explain", action="store_true", help="在表格后给出每笔就医的完整算式与条款")
    p.add_argument("--json", action="store_true")
    add_record_options(p)
    p.set_defaults(func=cmd_settle)
    p = sub.add_parser("audit", help="批量审核医疗救助支付：逐行重算应付，分类为正确、多付、少付、不符合条件等，附条款")
    p.add_argument("payments", help="支付明细（CSV、Excel 或 Parquet），列名见 README「批量审核」")
    p.add_argument("--rules", default=str(bundled_rules_dir()), help="规则目录（默认：随包附带的五个政策）")
    p.add_argument("--persons", help="人员文件（YAML、JSON、CSV 或 Excel），以「编号」对应支付明细的「人员编号」")
    p.add_argument("--columns", help="列名对照（YAML：导出列名: 本程序列名）")
    p.add_argument("--param", action="append", metavar="名=值", help="假设参数值（元），对每个人适用")
    p.add_argument("--out", help="把逐行结论写入此 CSV 或 Excel 文件")
    p.add_argument("--html", help="把审核报告（汇总表与图）写入此 HTML 文件")
    p.add_argument("--json", action="store_true", help="在标准输出打印 JSON（汇总与逐行结论）")
    p.set_defaults(func=cmd_audit)
    add_ledger_parsers(sub)
    p = sub.add_parser("serve", help="启动 HTTP 服务与网页工作台（uvicorn）")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="工作进程数（每个进程各自编译政策）")
    p.add_argument("--rules", default=str(bundled_rules_dir()), help="规则目录")
    p.add_argument("--data", help="审计上传与结果的目录（默认：临时目录下 reasoner-service）")
    p.add_argument("--db", help="台账数据库 URL（默认：台账的默认 SQLite 文件）")
    p.add_argument("--token", help="API 令牌（也可用环境变量 REASONER_API_TOKEN；未给出时启动时生成并打印）")
    p.add_argument("--no-record", action="store_true", help="不把决定记入台账")
    p.add_argument("--closed-reads", action="store_true", help="读接口也需要令牌")
    p.add_argument("--max-body", type=int, help="JSON 请求体上限（字节）")
    p.add_argument("--max-upload", type=int, help="审计上传文件上限（字节）")
    p.add_argument("--max-batch", type=int, help="每次请求的记录条数上限")
    p.add_argument("--request-timeout", type=float, help="每个请求的时限（秒）")
    p.add_argument("--solve-timeout", type=float, help="每次求解的时限（秒）")
    p.set_defaults(func=cmd_serve)
    from .batch_cli import add_batch_parser  # reasoner batch decide|settle|explain (reasoner/batch_cli.py)

    add_batch_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into `head`: stop quietly
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except DiagnosticError as err:
        print(str(err), file=sys.stderr)
        return EXIT_RULES
    except (OSError, ValueError, LedgerError) as err:
        print(f"错误：{err}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
