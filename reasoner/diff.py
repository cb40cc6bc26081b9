"""This module is the drafter's what-if: two versions of the rules over one population.

Each record is decided under the old and the new rules (batch path: one solve per
signature); a person changes when the status, the categories or any item's value does.
Where records carry claims (就医), both versions also settle them and the budget impact is
the change in 医疗救助 paid, by category; otherwise the impact is counted in persons. The
chart is a plain SVG (no plotting dependency): changed persons per item and direction.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .batch import Summary, decide_batch
from .decide import Reasoner
from .diagnostics import display_width
from .numeric import yuan
from .policies import PolicySet, load_policy
from .settle import settle


@dataclass
class PersonChange:
    row: int
    id: str
    before: str  #: status and categories before
    after: str
    items: list[tuple[str, str, str]]  #: (item label, before, after)
    assistance_delta: int = 0  #: 分, when claims were settled


@dataclass
class DiffReport:
    persons: int
    changed: list[PersonChange] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)  #: category → {persons, assistance_delta}
    by_item: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (item, 增加/减少/变化) → persons
    settled: bool = False

    @property
    def total_delta(self) -> int:
        return sum(c.assistance_delta for c in self.changed)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "yiliao-jiuzhu-reasoner/diff/1", "persons": self.persons, "changed": len(self.changed),
                "settled": self.settled, "total_assistance_delta_fen": self.total_delta if self.settled else None,
                "by_category": self.by_category, "by_item": [{"item": k[0], "direction": k[1], "persons": v} for k, v in sorted(self.by_item.items())],
                "errors": [{"row": r, "error": e} for r, e in self.errors],
                "persons_changed": [{"row": c.row, "id": c.id, "before": c.before, "after": c.after,
                                     "items": [{"item": i, "before": b, "after": a} for i, b, a in c.items],
                                     "assistance_delta_fen": c.assistance_delta} for c in self.changed]}


def rules_set(path: str | Path, base: PolicySet | None = None) -> PolicySet:
    """A policy set from a rules folder, or from one file laid over the folder it sits in."""
    p = Path(path)
    if p.is_dir():
        return PolicySet.load(p)
    policies = PolicySet.load(p.parent)
    policy = load_policy(p)
    policies.policies[policy.name] = policy
    return policies


def _headline(s: Summary) -> str:
    return f"{s.status}（{'、'.join(s.categories) or '无类别'}）"


def _direction(item: str, before: str | None, after: str | None) -> str:
    from fractions import Fraction

    if before is None or after is None:
        return "新增" if before is None else "取消"
    if "inf" in (before, after):
        return "变化"
    a, b = Fraction(before), Fraction(after)
    gain = b > a if item != "救助起付标准" else b < a
    return "增加" if gain else "减少"


def diff(old: PolicySet, new: PolicySet, records: Sequence[Any]) -> DiffReport:
    before, after = decide_batch(Reasoner(old), records), decide_batch(Reasoner(new), records)
    report = DiffReport(len(records))
    settled = any(isinstance(r, dict) and r.get("就医") for r in records)
    report.settled = settled
    cats: dict[str, dict[str, int]] = defaultdict(lambda: {"persons": 0, "assistance_delta": 0})
    old_r, new_r = (Reasoner(old), Reasoner(new)) if settled else (None, None)
    for i, record in enumerate(records):
        a, b = before.summary(i), after.summary(i)
        if a is None or b is None:
            report.errors.append((i + 1, str(before.error(i) or after.error(i))))
            continue
        items = _item_changes(a, b)
        delta = 0
        if settled and old_r and new_r and record.get("就医"):
            delta = _paid(new_r, record) - _paid(old_r, record)
        if not items and a.status == b.status and a.categories == b.categories and not delta:
            continue
        change = PersonChange(i + 1, str(record.get("编号", i + 1)), _headline(a), _headline(b), items, delta)
        report.changed.append(change)
        for label, _, _ in items:
            report.by_item[(label, _direction(label.split("（")[0], _number(a, label), _number(b, label)))] += 1
        for cat in (b.categories or a.categories or ("无类别",)):
            cats[cat]["persons"] += 1
            cats[cat]["assistance_delta"] += delta
    report.by_category = dict(cats)
    return report


def _number(s: Summary, label: str) -> str | None:
    it = next((x for x in s.items if x.label == label), None)
    return it.number if it and it.status == "已决定" else None


def _item_changes(a: Summary, b: Summary) -> list[tuple[str, str, str]]:
    labels = list(dict.fromkeys([x.label for x in a.items] + [x.label for x in b.items]))
    out = []
    for label in labels:
        x = next((i for i in a.items if i.label == label), None)
        y = next((i for i in b.items if i.label == label), None)
        shown = [f"{i.value}（{i.category}）" if i and i.status == "已决定" else (i.status if i else "无") for i in (x, y)]
        if shown[0] != shown[1]:
            out.append((label, shown[0], shown[1]))
    return out


def _paid(reasoner: Reasoner, record: dict[str, Any]) -> int:
    return sum(s.total_assistance for s in settle(reasoner, record))


# ------------------------------------------------------------------ output
def render_text(report: DiffReport, limit: int = 20) -> str:
    lines = [f"人群 {report.persons} 人：{len(report.changed)} 人的决定有变化，{len(report.errors)} 条记录有错误"]
    if report.settled:
        lines.append(f"医疗救助支出变化合计：{yuan(report.total_delta)}")
    lines.append("按类别：")
    for cat, v in sorted(report.by_category.items()):
        money = f"，救助支出变化 {yuan(v['assistance_delta'])}" if report.settled else ""
        lines.append(f"  {cat}：{v['persons']} 人{money}")
    lines.append("按待遇项目：")
    for (item, direction), n in sorted(report.by_item.items()):
        lines.append(f"  {item} {direction}：{n} 人")
    for c in report.changed[:limit]:
        lines.append(f"第{c.row}条 {c.id}：{c.before} → {c.after}" + (f"，救助 {yuan(c.assistance_delta)}" if c.assistance_delta else ""))
        lines += [f"    {i}：{b} → {a}" for i, b, a in c.items]
    if len(report.changed) > limit:
        lines.append(f"……另有 {len(report.changed) - limit} 人（--json 给出全部）")
    for row, err in report.errors:
        lines.append(f"第{row}条记录：错误：{err}")
    return "\n".join(lines) + "\n"


def render_svg(report: DiffReport) -> str:
    """A horizontal bar chart of changed persons per item and direction."""
    rows = sorted(report.by_item.items(), key=lambda kv: -kv[1]) or [(("无变化", ""), 0)]
    top = max(n for _, n in rows) or 1
    label_w = max(display_width(f"{i} {d}") for (i, d), _ in rows) * 8 + 20
    height = 40 + 28 * len(rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + 420}" height="{height}" font-family="sans-serif" font-size="13">',
             f'<text x="10" y="22" font-size="15">规则变化影响人数（共 {report.persons} 人，{len(report.changed)} 人变化）</text>']
    for k, ((item, direction), n) in enumerate(rows):
        y = 40 + 28 * k
        width = int(360 * n / top)
        colour = {"增加": "#3a7", "新增": "#3a7", "减少": "#c44", "取消": "#c44"}.get(direction, "#888")
        parts.append(f'<text x="10" y="{y + 15}">{item} {direction}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{width}" height="20" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + width + 6}" y="{y + 15}">{n}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
