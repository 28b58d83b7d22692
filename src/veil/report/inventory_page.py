"""The inventory report: what a corpus holds, per risk class, and what the policy will do to it."""

from __future__ import annotations

from html import escape
from pathlib import Path

from veil.inventory import KEPT, REMOVED, RISK_CLASSES, Inventory
from veil.report.charts import bar_chart

RISK_COLORS = {"direct identifier": "#c4504f", "quasi-identifier": "#e07b39", "sensitive": "#8c6bb1",
               "safe": "#5a9e6f", "unknown": "#7f7f7f"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}
.charts{display:flex;flex-wrap:wrap;gap:24px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6;position:sticky;top:0}
.risk{border-radius:3px;padding:1px 5px;color:#fff;white-space:nowrap}
.removed{color:#888}.kept{font-weight:600}
code{font-size:11px}
"""


def render(inv: Inventory, policy_name: str, source: str) -> str:
    risk = inv.by_risk()
    cards = [("files", inv.files), ("attributes", len(inv.attributes)), ("private creators", len(inv.private_creators)),
             ("unreadable", len(inv.unreadable))] + [(r, risk.get(r, 0)) for r in RISK_CLASSES]
    charts = [
        bar_chart("Attributes by risk class", [(r, risk.get(r, 0)) for r in RISK_CLASSES], colors=RISK_COLORS),
        bar_chart("Modalities", inv.modalities.items()),
        bar_chart("Manufacturers", inv.manufacturers.items()),
        bar_chart("SOP classes", inv.sop_classes.items()),
        bar_chart("Private creators (files)", inv.private_creators.items()),
        bar_chart("Attribute coverage (files containing it)",
                  [(a.keyword or a.path, a.files) for a in inv.rows()], limit=15, sum_rest=False),
    ]
    rows = []
    for a in inv.rows():
        kept = a.action not in REMOVED
        flag = ""
        if a.risk == "unknown" and not kept:
            flag = " (unknown: removed by default)"
        elif a.risk in ("direct identifier", "sensitive", "unknown") and a.action in KEPT:
            flag = " (kept as is by the policy!)"
        shapes = ", ".join(f"<code>{escape(s)}</code>×{n}" for s, n in a.shapes.most_common(3))
        rows.append(
            f"<tr><td><code>{escape(a.path)}</code></td><td>{escape(a.keyword)}</td><td>{escape(a.vr)}</td>"
            f"<td>{a.files}</td><td>{a.occurrences}</td>"
            f'<td><span class="risk" style="background:{RISK_COLORS[a.risk]}">{escape(a.risk)}</span></td>'
            f'<td class="{"kept" if kept else "removed"}">{escape(a.action)}{escape(flag)}</td>'
            f"<td>{escape(a.rule)}</td><td>{shapes}</td></tr>")
    unreadable = "".join(f"<li><code>{escape(p)}</code>: {escape(r)}</li>" for p, r in inv.unreadable[:200])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Veil inventory</title><style>{_CSS}</style></head><body>
<h1>Veil inventory</h1><p class="sub">{escape(source)} · policy <b>{escape(policy_name)}</b> ·
values are never shown, only their shape (A letter, 9 digit)</p>
<div class="cards">{"".join(f'<div class="card"><b>{v}</b>{escape(k)}</div>' for k, v in cards)}</div>
<div class="charts">{"".join(charts)}</div>
<h2>Attributes</h2>
<table id="attributes"><thead><tr><th>tag / path</th><th>keyword</th><th>VR</th><th>files</th><th>count</th>
<th>risk class</th><th>policy action</th><th>rule</th><th>value shapes</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{f"<h2>Unreadable files</h2><ul>{unreadable}</ul>" if unreadable else ""}
</body></html>"""


def write(inv: Inventory, policy_name: str, source: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(inv, policy_name, source), encoding="utf-8")
    return path
