"""Inline SVG charts: no JavaScript and no download, so a report opens on an air-gapped workstation."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

PALETTE = ("#3b6ea5", "#e07b39", "#5a9e6f", "#c4504f", "#8c6bb1", "#d4a72c", "#4aa3a2", "#7f7f7f")


def bar_chart(title: str, data: Iterable[tuple[str, int]], *, limit: int = 12, width: int = 520,
              colors: dict[str, str] | None = None, sum_rest: bool = True) -> str:
    """Horizontal bar chart of (label, count), largest first; the rest summed into 'other' (or dropped)."""
    items = sorted(data, key=lambda kv: (-kv[1], kv[0]))
    if len(items) > limit and not sum_rest:
        items = items[:limit]
    elif len(items) > limit:
        items = [*items[: limit - 1], ("other", sum(v for _, v in items[limit - 1:]))]
    bar_h, gap, label_w = 18, 6, 200
    height = 30 + len(items) * (bar_h + gap)
    top = max((v for _, v in items), default=1) or 1
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-weight="bold" font-size="13">{escape(title)}</text>']
    for i, (label, value) in enumerate(items):
        y = 28 + i * (bar_h + gap)
        w = max(1, int((width - label_w - 60) * value / top))
        color = (colors or {}).get(label, PALETTE[i % len(PALETTE)])
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(short)}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{color}"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)
