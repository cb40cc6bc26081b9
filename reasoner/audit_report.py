"""This module writes an audit's findings: a CSV/Excel table, JSON, an offline HTML report and a text summary.

Each writer reads the findings back in input-row order, chunk by chunk, from the audit's
scratch database, so writing a 10⁵-row report keeps memory flat. The summary (counts and
amounts at stake by finding type and by category, the largest findings) is small and is
computed in one pass. The HTML report needs no network and no JavaScript: tables plus
inline SVG bar charts.
"""
from __future__ import annotations

import datetime as dt
import heapq
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .audit import ALL_OUTCOMES, CORRECT, ERROR, OUTCOMES, UNDECIDED, Audit, AuditFinding
from .numeric import ROUNDING, yuan
from .tables import TableWriter
from .version import __version__

SCHEMA = "yiliao-jiuzhu-reasoner/audit/1"
TOP = 50  #: the largest findings listed in the HTML report
NO_CATEGORY = "（未填救助类别）"

#: the findings table: column → how a finding fills it
TABLE_COLUMNS = ("行号", "结算单号", "人员编号", "就医日期", "就医类别", "救助类别", "应属类别",
                 "实付金额（元）", "应付金额（元）", "涉及金额（元）", "涉及金额（分）", "结论", "原因", "依据")


def plain_yuan(fen: int | None) -> str | None:
    """12345 分 → '123.45' (no separators: what a spreadsheet reads as a number)."""
    if fen is None:
        return None
    sign, (y, f) = ("-" if fen < 0 else ""), divmod(abs(fen), 100)
    return f"{sign}{y}.{f:02d}"


def table_row(f: AuditFinding) -> dict[str, Any]:
    basis = "；".join(f"{c['document']} {c['article']}（{c['file']}:{c['line']}）" for c in f.clauses)
    return {"行号": f.row, "结算单号": f.payment_id, "人员编号": f.person, "就医日期": f.date, "就医类别": f.kind,
            "救助类别": f.applied, "应属类别": f.due_category, "实付金额（元）": plain_yuan(f.paid),
            "应付金额（元）": plain_yuan(f.due), "涉及金额（元）": plain_yuan(f.at_stake), "涉及金额（分）": f.at_stake,
            "结论": f.outcome, "原因": f.reason, "依据": basis}


@dataclass
class Tally:
    count: int = 0
    at_stake: int = 0  #: 分


@dataclass
class Summary:
    """What the report's tables and charts show; amounts in 分."""

    source: str
    rows: int = 0
    paid: int = 0  #: sum of 医疗救助支付 over rows whose amount could be read
    due: int = 0  #: sum of what the engine says was due, over rows it could settle
    by_outcome: dict[str, Tally] = field(default_factory=lambda: {o: Tally() for o in ALL_OUTCOMES})
    by_category: dict[str, Tally] = field(default_factory=dict)  #: problems only, by the 救助类别 the payer applied
    top: list[AuditFinding] = field(default_factory=list)  #: the largest amounts at stake, largest first
    unused_columns: list[str] = field(default_factory=list)

    @property
    def at_stake(self) -> int:
        return sum(t.at_stake for o, t in self.by_outcome.items() if o in OUTCOMES)

    def to_json(self) -> dict[str, Any]:
        def tally(d: dict[str, Tally]) -> dict[str, Any]:
            return {k: {"count": t.count, "at_stake_fen": t.at_stake} for k, t in d.items()}

        return {"rows": self.rows, "paid_fen": self.paid, "due_fen": self.due, "at_stake_fen": self.at_stake,
                "by_finding": tally(self.by_outcome), "by_category": tally(self.by_category),
                "unused_columns": self.unused_columns}


def summarise(audit: Audit) -> Summary:
    """One pass over the findings: tallies, and the TOP largest amounts at stake (a bounded heap)."""
    s = Summary(str(audit.payments), unused_columns=sorted(audit.unused_columns))
    heap: list[tuple[int, int, AuditFinding]] = []
    for chunk in audit.findings():
        for f in chunk:
            s.rows += 1
            s.by_outcome[f.outcome].count += 1
            s.by_outcome[f.outcome].at_stake += f.at_stake
            s.paid += f.paid or 0
            s.due += f.due or 0
            if f.outcome in (CORRECT, ERROR, UNDECIDED):
                continue
            cat = s.by_category.setdefault(f.applied or NO_CATEGORY, Tally())
            cat.count, cat.at_stake = cat.count + 1, cat.at_stake + f.at_stake
            item = (f.at_stake, -f.row, f)
            heapq.heappush(heap, item) if len(heap) < TOP else heapq.heappushpop(heap, item)
    s.top = [f for _, _, f in sorted(heap, key=lambda t: (-t[0], -t[1]))]
    return s


# ------------------------------------------------------------------ table and JSON
def write_table(audit: Audit, path: str | Path) -> None:
    """Findings as CSV, Excel or Parquet (by the file's suffix), one row per input row, in input order."""
    with TableWriter(path, TABLE_COLUMNS) as out:
        for chunk in audit.findings():
            out.write([table_row(f) for f in chunk])


def write_json(audit: Audit, summary: Summary, handle: IO[str]) -> None:
    """The versioned JSON (docs/explanation-schema.md, «audit»), findings streamed one per line."""
    head = {"schema": SCHEMA, "reasoner_version": __version__, "rounding": ROUNDING, "source": summary.source,
            "summary": summary.to_json()}
    handle.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "findings": [')
    first = True
    for chunk in audit.findings():
        for f in chunk:
            handle.write(("\n  " if first else ",\n  ") + json.dumps(finding_json(f), ensure_ascii=False))
            first = False
    handle.write("\n ]\n}\n")


def finding_json(f: AuditFinding) -> dict[str, Any]:
    d = asdict(f)
    return {"row": d["row"], "finding": d["outcome"], "reason": d["reason"], "payment_id": d["payment_id"],
            "person": d["person"], "date": d["date"], "kind": d["kind"], "applied_category": d["applied"],
            "due_category": d["due_category"], "paid_fen": d["paid"], "due_fen": d["due"],
            "at_stake_fen": d["at_stake"], "clauses": d["clauses"]}


# ------------------------------------------------------------------ text
def summary_text(summary: Summary) -> str:
    lines = [f"审核：{summary.source}，{summary.rows} 行；实付合计 {yuan(summary.paid)}，应付合计 {yuan(summary.due)}，"
             f"涉及金额合计 {yuan(summary.at_stake)}", "", "按结论："]
    lines += [f"  {o}：{t.count} 行，涉及 {yuan(t.at_stake)}" for o, t in summary.by_outcome.items() if t.count]
    if summary.by_category:
        lines += ["", "按救助类别（有问题的行）："]
        lines += [f"  {c}：{t.count} 行，涉及 {yuan(t.at_stake)}" for c, t in sorted(summary.by_category.items())]
    if summary.unused_columns:
        lines += ["", f"未使用的列（不是本政策的事实或就医事实）：{'、'.join(summary.unused_columns)}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ HTML
def bar_chart(title: str, data: list[tuple[str, int]]) -> str:
    """A horizontal bar chart as inline SVG: one bar per label, amounts in 分 shown in 元."""
    if not data:
        return f"<p>{html.escape(title)}：无</p>"
    label_w, bar_w, row_h = 170, 420, 26
    top = max(v for _, v in data) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(title)}" '
             f'width="{label_w + bar_w + 160}" height="{row_h * len(data) + 34}" font-family="sans-serif" font-size="13">',
             f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(data):
        y = 28 + i * row_h
        width = round(bar_w * value / top)
        parts += [f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>',
                  f'<rect x="{label_w}" y="{y + 2}" width="{width}" height="{row_h - 8}" fill="#b03a2e"/>',
                  f'<text x="{label_w + width + 6}" y="{y + 15}">{html.escape(yuan(value))}</text>']
    return "\n".join(parts + ["</svg>"])


def _tally_table(head: str, rows: list[tuple[str, Tally]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td class=n>{t.count}</td><td class=n>{html.escape(yuan(t.at_stake))}</td></tr>"
                   for k, t in rows)
    return f"<table><tr><th>{head}</th><th>行数</th><th>涉及金额</th></tr>{body}</table>"


def render_html(summary: Summary, rules: str = "") -> str:
    """The auditor's report: summary numbers, tables by finding and category, charts, the largest findings."""
    outcomes = [(o, t) for o, t in summary.by_outcome.items() if t.count]
    problems = [(o, t.at_stake) for o, t in summary.by_outcome.items() if o in OUTCOMES and o != CORRECT and t.count]
    cats = sorted(summary.by_category.items())
    top = "".join(f"<tr><td class=n>{f.row}</td><td class=k>{html.escape(f.payment_id)}</td><td class=k>{html.escape(f.person)}</td>"
                  f"<td class=k>{html.escape(f.outcome)}</td><td class=n>{html.escape(yuan(f.at_stake))}</td><td>{html.escape(f.reason)}</td></tr>"
                  for f in summary.top)
    unused = (f"<p>未使用的列（不是本政策的事实或就医事实）：{html.escape('、'.join(summary.unused_columns))}</p>"
              if summary.unused_columns else "")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>医疗救助支付审核报告</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.25em .6em;vertical-align:top}} td.n{{text-align:right;white-space:nowrap}}
th,td.k{{white-space:nowrap}} th{{background:#eee}}</style></head>
<body><h1>医疗救助支付审核报告</h1>
<p>支付文件：{html.escape(summary.source)}；规则：{html.escape(rules or "随包附带的政策")}；
生成于 {dt.datetime.now().strftime("%Y-%m-%d %H:%M")}；推理器版本 {html.escape(__version__)}</p>
<table><tr><th>行数</th><th>实付合计</th><th>应付合计</th><th>涉及金额合计</th></tr>
<tr><td class=n>{summary.rows}</td><td class=n>{yuan(summary.paid)}</td><td class=n>{yuan(summary.due)}</td><td class=n>{yuan(summary.at_stake)}</td></tr></table>
<h2>按结论</h2>{_tally_table("结论", outcomes)}
{bar_chart("涉及金额（按结论）", problems)}
<h2>按救助类别（经办所用，仅有问题的行）</h2>{_tally_table("救助类别", cats)}
{bar_chart("涉及金额（按救助类别）", [(c, t.at_stake) for c, t in cats])}
{unused}
<h2>涉及金额最大的 {len(summary.top)} 行</h2>
<table><tr><th>行号</th><th>结算单号</th><th>人员编号</th><th>结论</th><th>涉及金额</th><th>原因</th></tr>{top}</table>
<p>{html.escape(ROUNDING)}。同一行符合多种结论时，依次取：重复救助、无法核查、身份尚未生效、当日不符合救助条件、对排除的就医支付、未按待遇就高、超过年度限额支付、多付或少付。</p>
</body></html>
"""


def write_outputs(audit: Audit, out: str | Path | None = None, json_out: IO[str] | None = None,
                  html_out: str | Path | None = None, rules: str = "") -> Summary:
    """Every output asked for, each in its own pass over the findings; returns the summary."""
    summary = summarise(audit)
    if out is not None:
        write_table(audit, out)
    if json_out is not None:
        write_json(audit, summary, json_out)
    if html_out is not None:
        Path(html_out).write_text(render_html(summary, rules), encoding="utf-8")
    return summary
