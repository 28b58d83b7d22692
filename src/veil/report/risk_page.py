"""The risk report: what an attacker could do with a release, before and after generalisation.

Offline HTML with inline SVG (:mod:`veil.report.charts`), so it opens on an air-gapped workstation. Shows
the class-size histogram, the distribution of per-record (prosecutor) risk, which QIs drive uniqueness,
the loss per attribute of the chosen generalisation, the checks against their thresholds, and the
linkage/WP29 attack results. Never shows record values, only class sizes and generalisation levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from veil.report.charts import bar_chart
from veil.report.inventory_page import _CSS

_BINS = ((1, 1, "1 (unique)"), (2, 2, "2"), (3, 4, "3–4"), (5, 10, "5–10"), (11, 20, "11–20"), (21, 50, "21–50"),
         (51, 100, "51–100"), (101, 10**12, ">100"))
_RISK_BINS = ((0.5, 1.0, "> 0.5"), (0.2, 0.5, "0.2–0.5"), (0.09, 0.2, "0.09–0.2"), (0.05, 0.09, "0.05–0.09"),
              (0.0, 0.05, "≤ 0.05"))


def size_bins(hist: dict[int, int]) -> list[tuple[str, int]]:
    """Classes per size band (records, not classes, are what matter for risk: see record bins)."""
    return [(label, sum(c for s, c in hist.items() if lo <= s <= hi)) for lo, hi, label in _BINS]


def risk_bins(record_sizes: np.ndarray) -> list[tuple[str, int]]:
    r = 1 / np.maximum(record_sizes, 1)
    return [(label, int(np.sum((r > lo) & (r <= hi)) if lo > 0 else np.sum(r <= hi))) for lo, hi, label in _RISK_BINS]


def _ordered_chart(title: str, data: Iterable[tuple[str, int | float]], color: str) -> str:
    """A bar chart that keeps the given order (bins) — bar_chart sorts by value, so pass scaled ints."""
    items = list(data)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="520" '
             f'height="{30 + 24 * len(items)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-weight="bold" font-size="13">{escape(title)}</text>']
    top = max((v for _, v in items), default=1) or 1
    for i, (label, value) in enumerate(items):
        y = 28 + i * 24
        w = max(1, int(260 * value / top)) if value else 0
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(label)}</text>'
                     f'<rect class="bar" x="200" y="{y}" width="{w}" height="18" fill="{color}"/>'
                     f'<text x="{204 + w}" y="{y + 13}" font-size="12">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _checks(report: Any, title: str) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.name)}</td><td>{'' if c.threshold is None else f'{c.threshold:.4g}'}</td>"
        f"<td>{c.value:.4g}</td><td>{'-' if c.passed is None else ('✓' if c.passed else '✗')}</td>"
        f"<td>{escape(c.note)}</td></tr>" for c in report.checks)
    return (f"<h3>{escape(title)}</h3><table class='checks'><thead><tr><th>measure</th><th>threshold</th>"
            f"<th>value</th><th>passes</th><th>note</th></tr></thead><tbody>{rows}</tbody></table>")


def render(a: Any) -> str:
    """HTML for an :class:`~veil.risk.assess.Assessment`."""
    b = a.before
    cards = [("records", a.records), ("classes", b.classes), ("k", b.k), ("sample uniques", b.sample_uniques),
             ("max risk", f"{b.prosecutor_max:.3f}"), ("avg risk", f"{b.prosecutor_avg:.3f}"),
             ("targets on disk", "met" if a.met else "NOT met")]
    charts = [
        _ordered_chart("Classes by size (as released)", size_bins(b.size_histogram), "#3b6ea5"),
        _ordered_chart("Records by re-identification risk (as released)", risk_bins(a.record_sizes_before),
                       "#c4504f"),
        bar_chart("Which QIs drive uniqueness (% of uniques resolved without it)",
                  [(q, round(100 * v)) for q, v in b.qi_uniqueness.items()], sum_rest=False),
        bar_chart("Distinction per QI (% distinct values per record, ARX)",
                  [(q, round(100 * v)) for q, v in b.qi_distinction.items()], sum_rest=False),
    ]
    after_html = ""
    if a.after is not None and a.search is not None and a.search.node is not None:
        s = a.search
        charts += [
            _ordered_chart("Classes by size (generalised)", size_bins(a.after.size_histogram), "#5a9e6f"),
            _ordered_chart("Records by re-identification risk (generalised)", risk_bins(a.record_sizes_after),
                           "#e07b39"),
            _ordered_chart("Loss per attribute after generalisation (0 = exact, 1 = removed)",
                           list(zip(s.attributes, s.node.loss_per_attribute, strict=True)), "#8c6bb1"),
        ]
        levels = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in s.describe().items())
        after_html = (f"<h2>Optimal generalisation</h2><p>{'Proven optimal' if s.optimal else 'Heuristic'} "
                      f"({escape(s.metric)}), {s.evaluated} of {s.lattice_size} lattice nodes evaluated in "
                      f"{s.seconds:.2f} s; {s.node.suppressed} of {s.records} records withheld; loss "
                      f"{s.node.loss:.4f}, non-uniform entropy {s.node.entropy:.1f} bits, discernibility "
                      f"{s.node.discernibility:.0f}.</p><table><thead><tr><th>attribute</th><th>level</th></tr>"
                      f"</thead><tbody>{levels}</tbody></table>" + _checks(a.after, "Measures after generalisation"))
    elif a.search is not None:
        after_html = "<h2>Optimal generalisation</h2><p>No node meets the targets within the suppression limit.</p>"
    link = ""
    if a.linkage_before is not None:
        rows = "".join(
            f"<tr><td>{name}</td><td>{r.records}</td><td>{r.matched}</td><td>{r.unique_matches}</td>"
            f"<td>{'-' if r.correct_unique is None else r.correct_unique}</td>"
            f"<td>{'-' if r.expected_rate is None else f'{r.expected_rate:.4f}'}</td></tr>"
            for name, r in (("as released", a.linkage_before), ("generalised", a.linkage_after)) if r is not None)
        attacks = "".join(
            f"<tr><td>{escape(x.name)}</td><td>{x.success_rate:.3f}</td><td>{x.reference_rate:.3f} "
            f"({escape(x.reference)})</td><td>{x.risk:.3f} [{x.ci[0]:.3f}, {x.ci[1]:.3f}]</td><td>{when}</td></tr>"
            for when, xs in (("as released", a.attacks_before), ("generalised", a.attacks_after)) for x in xs)
        link = ("<h2>Linkage attack</h2><table><thead><tr><th></th><th>records</th><th>matched</th><th>unique "
                "matches</th><th>correct unique</th><th>expected re-identification rate</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")
        if attacks:
            link += ("<h3>WP29 tests</h3><table><thead><tr><th>attack</th><th>success</th><th>reference</th>"
                     f"<th>risk [95% CI]</th><th>release</th></tr></thead><tbody>{attacks}</tbody></table>")
    applied = ""
    if a.applied is not None:
        applied = (f"<h2>Applied</h2><p>{a.applied.rewritten} files rewritten, {a.applied.withheld} withheld "
                   f"(moved to <code>.veil/withheld/</code>); audit entry <code>{escape(str(a.applied.audit_head))}"
                   "</code>.</p>" + (_checks(a.remeasured, "Re-measured from disk") if a.remeasured else ""))
    sens = "".join(
        f"<tr><td>{escape(s.attribute)}</td><td>{s.distinct_l}</td><td>{s.entropy_l:.3f}</td>"
        f"<td>{s.recursive_c:.3f}</td><td>{s.t_equal:.3f}</td><td>{s.t_ordered:.3f}</td></tr>" for s in b.sensitive)
    sens_html = ("<h3>Sensitive attributes (as released)</h3><table><thead><tr><th>attribute</th><th>distinct ℓ</th>"
                 "<th>entropy ℓ</th><th>recursive r₁/tail</th><th>t (equal)</th><th>t (ordered)</th></tr></thead>"
                 f"<tbody>{sens}</tbody></table>") if sens else ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in a.notes)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Veil risk report</title><style>{_CSS}</style></head><body>
<h1>Veil risk report</h1><p class="sub">{escape(a.folder)} · level <b>{escape(a.options.level)}</b> ·
quasi-identifiers <b>{escape(", ".join(a.qis))}</b> · values are never shown, only class sizes and levels</p>
<div class="cards">{"".join(f'<div class="card"><b>{escape(str(v))}</b>{escape(k)}</div>' for k, v in cards)}</div>
<div class="charts">{"".join(charts)}</div>
{_checks(b, "Measures as released")}
{sens_html}
{after_html}
{link}
{applied}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</body></html>"""


def write(a: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(a), encoding="utf-8")
    return path
