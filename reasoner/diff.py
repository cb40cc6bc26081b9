"""This module is the drafter's what-if: two versions of the rules over one population.

Each record is decided under the old and the new rules (batch path: one solve per
signature); a person changes when the status, the categories or any item's value does.
Where records carry claims (就医), both versions also settle them and the budget impact is
the change in 医疗救助 paid, by category; otherwise the impact is counted in persons.

A population is read and decided chunk by chunk (reasoner.person.table_records for CSV,
Excel and Parquet), so memory follows the changed persons, not the file: the batch cache
is the reasoner's, so signatures met in one chunk are not solved again in the next.

The chart (render_chart, matplotlib, PNG or SVG by suffix) shows the distribution of
per-person changes — a histogram of the change in 医疗救助 in 元 when claims were settled,
persons whose payment did not change left out and counted in the title — and the changed
persons per item and direction. Histogram bins are computed here (DiffReport.histogram),
in whole 分 with a 1-2-5 width, so the JSON and the chart show the same bins exactly.
render_svg is the dependency-free bar chart of the counts alone.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batch import Summary, decide_batch
from .decide import Reasoner
from .diagnostics import display_width
from .numeric import yuan
from .person import load_records, table_records
from .policies import PolicySet, load_policy
from .settle import settle
from .tables import DEFAULT_CHUNK, is_table

MAX_BINS = 20  #: at most this many histogram bins
MIN_BIN_FEN = 100  #: bins are never narrower than 1元


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
    settled_persons: int = 0  #: persons whose claims were settled under both versions
    chart: str | None = None  #: the chart file written for this report (render_chart), if any
    notes: list[str] = field(default_factory=list)  #: for the user, e.g. no Chinese font for the PNG

    @property
    def total_delta(self) -> int:
        return sum(c.assistance_delta for c in self.changed)

    @property
    def deltas(self) -> list[int]:
        """The non-zero per-person changes in 医疗救助 (分)."""
        return [c.assistance_delta for c in self.changed if c.assistance_delta]

    @property
    def unchanged_money(self) -> int:
        """Settled persons whose 医疗救助 did not change (left out of the histogram, counted in its title)."""
        return self.settled_persons - len(self.deltas)

    def histogram(self) -> list[tuple[int, int, int]]:
        """(from 分, to 分, persons) for the non-zero changes: half-open bins [from, to)."""
        return histogram(self.deltas)

    def to_json(self) -> dict[str, Any]:
        distribution = {"unit": "分", "settled_persons": self.settled_persons, "unchanged_persons": self.unchanged_money,
                        "bins": [{"from_fen": lo, "to_fen": hi, "persons": n} for lo, hi, n in self.histogram()]}
        return {"schema": "yiliao-jiuzhu-reasoner/diff/1", "persons": self.persons, "changed": len(self.changed),
                "settled": self.settled, "total_assistance_delta_fen": self.total_delta if self.settled else None,
                "assistance_delta_distribution": distribution if self.settled else None,
                "chart": self.chart, "notes": self.notes,
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


def diff(old: PolicySet, new: PolicySet, records: Sequence[Any], chunk_size: int = DEFAULT_CHUNK) -> DiffReport:
    """Two versions over records held in memory (rows numbered from 1)."""
    numbered = list(enumerate(records, start=1))
    return diff_chunks(old, new, (numbered[i:i + chunk_size] for i in range(0, len(numbered), chunk_size)))


def diff_file(old: PolicySet, new: PolicySet, path: str | Path, chunk_size: int = DEFAULT_CHUNK) -> DiffReport:
    """Two versions over a population file. Tables (CSV, Excel, Parquet) are streamed chunk by
    chunk with the row numbers a spreadsheet shows; YAML and JSON are read whole (a list)."""
    if is_table(path):
        return diff_chunks(old, new, table_records(path, chunk_size))
    return diff(old, new, load_records(path), chunk_size)


def diff_chunks(old: PolicySet, new: PolicySet, chunks: Iterable[list[tuple[int, Any]]]) -> DiffReport:
    """Two versions over chunks of (row number, record): only the changed persons are kept."""
    old_r, new_r = Reasoner(old), Reasoner(new)
    report = DiffReport(0)
    cats: dict[str, dict[str, int]] = defaultdict(lambda: {"persons": 0, "assistance_delta": 0})
    for chunk in chunks:
        records = [record for _, record in chunk]
        before, after = decide_batch(old_r, records), decide_batch(new_r, records)
        report.persons += len(chunk)
        for i, (row, record) in enumerate(chunk):
            a, b = before.summary(i), after.summary(i)
            if a is None or b is None:
                report.errors.append((row, str(before.error(i) or after.error(i))))
                continue
            _person_change(report, cats, old_r, new_r, row, record, a, b)
    report.by_category = dict(cats)
    return report


def _person_change(report: DiffReport, cats: dict[str, dict[str, int]], old_r: Reasoner, new_r: Reasoner,
                   row: int, record: Any, a: Summary, b: Summary) -> None:
    """Record one person's change (if any) in the report."""
    items = _item_changes(a, b)
    delta = 0
    if isinstance(record, dict) and record.get("就医"):
        report.settled = True
        report.settled_persons += 1
        delta = _paid(new_r, record) - _paid(old_r, record)
    if not items and a.status == b.status and a.categories == b.categories and not delta:
        return
    report.changed.append(PersonChange(row, str(record.get("编号", row)), _headline(a), _headline(b), items, delta))
    for label, _, _ in items:
        report.by_item[(label, _direction(label.split("（")[0], _number(a, label), _number(b, label)))] += 1
    for cat in (b.categories or a.categories or ("无类别",)):
        cats[cat]["persons"] += 1
        cats[cat]["assistance_delta"] += delta


def histogram(deltas: Sequence[int]) -> list[tuple[int, int, int]]:
    """Half-open bins [from, to) in 分 over the values, at most MAX_BINS, of a 1-2-5 width ≥ 1元,
    starting on a multiple of the width (so edges read as round amounts)."""
    if not deltas:
        return []
    lo, hi = min(deltas), max(deltas)
    width = _nice_width(max(hi - lo, MIN_BIN_FEN))
    start = (lo // width) * width
    count = (hi - start) // width + 1
    while count > MAX_BINS:  # the floor of lo can add one bin: widen
        width = _nice_width(width + 1)
        start = (lo // width) * width
        count = (hi - start) // width + 1
    persons = Counter((d - start) // width for d in deltas)
    return [(start + k * width, start + (k + 1) * width, persons.get(k, 0)) for k in range(count)]


def _nice_width(span: int) -> int:
    """The smallest 1, 2 or 5 × 10^k 分 (≥ MIN_BIN_FEN) with span / width ≤ MAX_BINS."""
    scale = MIN_BIN_FEN
    while True:
        for step in (1, 2, 5):
            if step * scale * MAX_BINS >= span:
                return step * scale
        scale *= 10


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


# ------------------------------------------------------------------ chart (matplotlib)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Droid Sans Fallback", "AR PL UMing CN")
NO_CJK_FONT = ("未找到中文字体（fc-list :lang=zh 为空）：PNG 中的中文将显示为方框。"
               "可安装 fonts-noto-cjk 或 fonts-wqy-microhei，或改用 --chart 文件.svg（文字保留为文本，由查看器的字体显示）")


def cjk_font() -> str | None:
    """A font family that has Chinese glyphs: one matplotlib knows, else one fontconfig lists
    (added to matplotlib, whose font cache may predate the font's installation); None if none."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    import subprocess

    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(listed.splitlines()):
        path = line.split(":")[0].strip()
        if not path:
            continue
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def render_chart(report: DiffReport, path: str | Path, font: str | None = "auto") -> list[str]:
    """Write the chart (PNG, or SVG with the text kept as text) and return notes for the user.

    Settled: the histogram of per-person changes in 医疗救助 (元) above the counts per item and
    direction; otherwise the counts alone. A missing CJK font never fails the chart: the PNG
    is still written and the note says what to install.
    """
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, notes = Path(path), []
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"{out}：图表只支持 .png 或 .svg")
    family = cjk_font() if font == "auto" else font
    if family is None and fmt == "png":
        notes.append(NO_CJK_FONT)
    style = {"font.family": "sans-serif", "font.sans-serif": [*([family] if family else []), *CJK_FAMILIES, "DejaVu Sans"],
             "svg.fonttype": "none", "axes.unicode_minus": False}
    panels = 2 if report.settled else 1
    with plt.rc_context(style), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(Glyph|findfont).*")
        counts_h = 1.2 + 0.35 * max(1, len(report.by_item))  # inches: the bars stay bars however few the rows
        heights = [4.0, counts_h] if report.settled else [counts_h]
        fig, axes = plt.subplots(panels, 1, figsize=(9, sum(heights) + 0.4), squeeze=False,
                                 gridspec_kw={"height_ratios": heights})
        if report.settled:
            _plot_histogram(axes[0][0], report)
        _plot_counts(axes[-1][0], report)
        fig.tight_layout()
        fig.savefig(out, format=fmt, dpi=120)
        plt.close(fig)
    report.chart, report.notes = str(out), report.notes + [n for n in notes if n not in report.notes]
    return notes


def _plot_histogram(ax: Any, report: DiffReport) -> None:
    bins = report.histogram()
    ax.set_title(f"每人医疗救助变化的分布（{len(report.deltas)} 人有变化；"
                 f"{report.unchanged_money} 人金额不变，未画出；合计 {yuan(report.total_delta)}）", fontsize=11)
    ax.set_xlabel("每人医疗救助变化（元）")
    ax.set_ylabel("人数")
    if not bins:
        ax.text(0.5, 0.5, "无金额变化", ha="center", va="center", transform=ax.transAxes)
        return
    left = [lo / 100 for lo, _, _ in bins]
    width = (bins[0][1] - bins[0][0]) / 100
    colours = ["#3a7" if lo >= 0 else "#c44" for lo, _, _ in bins]
    ax.bar(left, [n for _, _, n in bins], width=width, align="edge", color=colours, edgecolor="white")
    ax.set_xlim(left[0], left[-1] + width)


def _plot_counts(ax: Any, report: DiffReport) -> None:
    rows = sorted(report.by_item.items(), key=lambda kv: (-kv[1], kv[0]))
    ax.set_title(f"按待遇项目与方向的变化人数（共 {report.persons} 人，{len(report.changed)} 人变化）", fontsize=11)
    if not rows:
        ax.text(0.5, 0.5, "无待遇项目变化", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    labels = [f"{item} {direction}" for (item, direction), _ in rows]
    counts = [n for _, n in rows]
    colours = [{"增加": "#3a7", "新增": "#3a7", "减少": "#c44", "取消": "#c44"}.get(d, "#888") for (_, d), _ in rows]
    bars = ax.barh(range(len(rows)), counts, color=colours)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.bar_label(bars, padding=3)
    ax.set_xlabel("人数")
