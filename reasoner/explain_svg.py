"""This module draws a decision's justification graph as SVG, for pages and reports.

The graph is drawn as the tree an auditor reads (conclusion above its premises, indented),
one box per step, coloured by kind, with the clause it cites under the text. A step that
appears again (a shared premise) is drawn once more without its premises, marked 同上, as
in the text explanation. Plain SVG, no script, no external font: it opens offline.
"""
from __future__ import annotations

from html import escape

from .decide import Decision
from .diagnostics import display_width
from .explain import Step, roots

ROW, INDENT, CHAR, PAD = 22, 26, 7.2, 8
COLOURS = {"结论": "#e8f0fe", "输入事实": "#e6f4ea", "数值": "#fef7e0", "政策选择": "#f3e8fd"}


def _rows(steps: list[Step]) -> list[tuple[int, str, str, str, bool]]:
    """(depth, text, clause line, kind, repeated) in reading order."""
    out: list[tuple[int, str, str, str, bool]] = []
    seen: set[str] = set()

    def walk(step: Step, depth: int) -> None:
        again = step.key in seen and bool(step.premises)
        cite = "；".join(f"{c.document} {c.article}" for c in step.citations)
        out.append((depth, step.text + ("（同上）" if again else ""), cite, step.kind, again))
        if again:
            return
        seen.add(step.key)
        for p in step.premises:
            walk(p, depth + 1)

    for s in steps:
        walk(s, 0)
    return out


def explain_svg(decision: Decision) -> str:
    rows = _rows(roots(decision))
    y, parts, stack = 10.0, [], []  # stack: (depth, x, y of box bottom) for connector lines
    width = 0.0
    for depth, text, cite, kind, _ in rows:
        x = 10 + depth * INDENT
        lines = [text] + ([f"〔{cite}〕"] if cite else [])
        w = max(display_width(t) for t in lines) * CHAR + 2 * PAD
        h = ROW * len(lines)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            px, py = stack[-1][1] + INDENT / 2, stack[-1][2]
            parts.append(f'<path d="M{px:.0f},{py:.0f} V{y + h / 2:.0f} H{x:.0f}" fill="none" stroke="#9aa0a6"/>')
        parts.append(f'<rect x="{x}" y="{y:.0f}" width="{w:.0f}" height="{h}" rx="4" fill="{COLOURS.get(kind, "#f1f3f4")}" stroke="#5f6368"/>')
        for i, t in enumerate(lines):
            size, colour = (13, "#202124") if i == 0 else (11, "#5f6368")
            parts.append(f'<text x="{x + PAD}" y="{y + 15 + i * ROW:.0f}" font-size="{size}" fill="{colour}">{escape(t)}</text>')
        stack.append((depth, x, y + h))
        width = max(width, x + w + 10)
        y += h + 8
    title = f"{decision.person.id}（{decision.person.region}，{decision.person.date}）：{decision.status}"
    head = f'<text x="10" y="18" font-size="15" font-weight="bold">{escape(title)}</text>'
    body = "\n".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width, 400):.0f}" height="{y + 30:.0f}" '
            f'font-family="Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif">\n{head}\n<g transform="translate(0,24)">\n{body}\n</g>\n</svg>\n')
