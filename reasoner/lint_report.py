"""This module renders the drafter's checker's findings: Chinese text, and SARIF for editors and CI."""
from __future__ import annotations

from typing import Any

from .diagnostics import Severity
from .lint import Finding
from .version import __version__

SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
EXIT_BY_SEVERITY = {None: 0, Severity.NOTE: 0, Severity.WARNING: 4, Severity.ERROR: 5}


def worst(findings: list[Finding]) -> Severity | None:
    for level in (Severity.ERROR, Severity.WARNING, Severity.NOTE):
        if any(f.severity is level for f in findings):
            return level
    return None


def render_text(policy: str, findings: list[Finding], with_interpretations: bool = True) -> str:
    shown = [f for f in findings if with_interpretations or f.code != "L601"]
    counts = {s.value: sum(f.severity is s for f in findings) for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE)}
    lines = [f"「{policy}」：{len(findings)} 项发现（" + "，".join(f"{k} {v}" for k, v in counts.items()) + "）"]
    for f in shown:
        tag = f"[{f.classification}]" if f.classification else ""
        lines.append(f"{f.severity.value}[{f.code}]{tag} {f.message}")
        lines += [f"    {c.short()}" + (f"“{c.quote}”" if c.quote else "") for c in f.clauses]
        if f.witness:
            command = "reasoner settle" if f.witness.get("就医") else "reasoner decide"
            lines.append(f"    证例：{f.witness.get('编号')}（reasoner lint --json 输出完整记录，可直接用于 {command}）")
        if f.bill:
            lines.append("    账单：" + "；".join(f"{k} {_plain(v)}" for k, v in f.bill.items() if k != "单一类别证例"))
            alone = f.bill.get("单一类别证例") or {}
            if alone:
                lines.append(f"    各类别单独的证例：{'、'.join(r['编号'] for r in alone.values())}（--json 给出完整记录，可直接用于 reasoner settle）")
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "，".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def to_sarif(results: dict[str, list[Finding]]) -> dict[str, Any]:
    """SARIF 2.1.0, so editors and CI show the findings at the clause they concern."""
    codes = sorted({f.code for fs in results.values() for f in fs})
    out = []
    for fs in results.values():
        for f in fs:
            locations = [{"physicalLocation": {"artifactLocation": {"uri": c.file}, "region": {"startLine": c.line}},
                          "message": {"text": f"〔{c.document} {c.article}〕{c.quote}"}} for c in f.clauses]
            entry: dict[str, Any] = {"ruleId": f.code, "level": SARIF_LEVEL[f.severity], "message": {"text": f.message},
                                     "properties": {"classification": f.classification, "witness": f.witness, "bill": f.bill}}
            if locations:
                entry["locations"] = locations[:1]
                entry["relatedLocations"] = [dict(loc, id=i) for i, loc in enumerate(locations[1:], start=1)]
            out.append(entry)
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": {"driver": {"name": "yiliao-jiuzhu-reasoner", "version": __version__,
                                          "rules": [{"id": c, "shortDescription": {"text": RULES.get(c, c)}} for c in codes]}},
                      "results": out}]}


RULES = {
    "L201": "待遇就高不是全序：多重身份时各项待遇的最优类别不一致",
    "L202": "两个类别孰优取决于账单金额（起付标准低者比例也低）",
    "L301": "身份不能使人进入任何救助类别",
    "L302": "待遇交由其他文件规定",
    "L303": "按年取值在施行期间内有空缺年度",
    "L401": "条件永不成立的类别（死条款）",
    "L402": "总被其他类别覆盖、从不生效的待遇",
    "L501": "施行期间超出上位政策",
    "L502": "与同一地区的另一政策施行期间重叠",
    "L506": "结算范围超出上位政策",
    "L503": "待遇比上位政策更宽或更严",
    "L504": "身份与上位政策不一致",
    "L505": "认定部门与上位政策不一致",
    "L601": "规则文件声明的解释",
    "L602": "分项限额之和超过共用限额",
    "L603": "部分类别未规定起付标准",
    "L604": "排序在前的类别缺少排序在后的类别享有的待遇",
    "L701": "参数低于文件要求的下限",
    "L702": "无法核对参数下限（参数未知）",
}
