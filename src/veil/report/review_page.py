"""The redaction review page: before/after thumbnails with boxes, offline (inline PNG data URIs, no script)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from veil.pixels.review import Review, ReviewItem
from veil.report.charts import bar_chart

STATUS_COLORS = {"redacted": "#5a9e6f", "quarantined": "#c4504f", "unchanged": "#7f7f7f"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}.warn{background:#fff3cd;border:1px solid #e0c36b;
padding:8px 12px;border-radius:6px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}
.item{border:1px solid #ddd;border-radius:6px;padding:10px;margin:12px 0}
.pics{display:flex;gap:12px;flex-wrap:wrap}.pics figure{margin:0}.pics img{border:1px solid #ccc;
image-rendering:pixelated;background:#000}
figcaption{font-size:12px;color:#555}.status{border-radius:3px;padding:1px 6px;color:#fff}
table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #eee;padding:2px 6px;text-align:left}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px -2px 10px;border:2px solid}
code{font-size:11px}
"""


def _item(it: ReviewItem) -> str:
    r = it.record
    color = STATUS_COLORS.get(it.status, "#7f7f7f")
    pics = []
    for label, uri in (("before", it.before), ("after", it.after)):
        if uri:
            pics.append(f'<figure><img alt="{label}" src="{uri}"><figcaption>{label}</figcaption></figure>')
        else:
            pics.append(f"<figure><figcaption>{label}: not available</figcaption></figure>")
    regions = "".join(f"<tr><td><code>{escape(str(g['box']))}</code></td><td>{escape(str(g['source']))}</td></tr>"
                      for g in r.get("regions", [])[:40])
    more = len(r.get("regions", [])) - 40
    overlays = "".join(f"<li>overlay {escape(str(o.get('group')))}: {escape(str(o.get('status')))}, "
                       f"{len(o.get('regions', []))} region(s)</li>" for o in r.get("overlays", []))
    facts = (f"{r.get('frames', 0)} frame(s), {r.get('columns', 0)}×{r.get('rows', 0)}, "
             f"{escape(str(r.get('photometric', '')))}; {r.get('changed_pixels', 0)} pixels changed"
             f" ({r.get('changed_outside', 0)} outside boxes); OCR words {r.get('words', 0)}, PHI words "
             f"{r.get('phi_words', 0)}; verified: {'yes' if r.get('verified') else 'no'}; transfer syntax "
             f"<code>{escape(str(r.get('transfer_syntax_in', '')))}</code> → "
             f"<code>{escape(str(r.get('transfer_syntax_out', '')))}</code>")
    why = ", ".join(escape(x) for x in r.get("reasons", []))
    reason = f"<p><b>quarantined</b> ({escape(str(r.get('rule', '')))}): {escape(str(r.get('reason', '')))}</p>" if (
        it.status == "quarantined") else ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in it.notes)
    return f"""<div class="item"><h3><span class="status" style="background:{color}">{escape(it.status)}</span>
<code>{escape(str(r.get('output') or '(not written)'))}</code>
<small>input {escape(str(r.get('input_hash')))}</small></h3>
{reason}<p>why a pixel pass: {why}</p><p>{facts}</p><div class="pics">{"".join(pics)}</div>
<details><summary>{len(r.get("regions", []))} region(s)</summary>
<table><tr><th>box (x0, y0, x1, y1)</th><th>source</th></tr>
{regions}{f"<tr><td colspan=2>… {more} more</td></tr>" if more > 0 else ""}</table></details>
{f"<ul>{overlays}</ul>" if overlays else ""}{f"<ul>{notes}</ul>" if notes else ""}</div>"""


def render(review: Review) -> str:
    counts = review.counts()
    cards = [("images to review", len(review.items)), *sorted(counts.items())]
    sources: dict[str, int] = {}
    for it in review.items:
        for g in it.record.get("regions", []):
            for s in str(g.get("source", "")).split(","):
                key = s.split(":")[0] + (":" + s.split(":")[1] if s.startswith("ocr") and ":" in s else "")
                sources[key] = sources.get(key, 0) + 1
    chart = bar_chart("Regions by source", sources.items()) if sources else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Veil pixel review</title><style>{_CSS}</style></head><body>
<h1>Veil pixel review</h1><p class="sub">{escape(str(review.out_dir))} · images whose pixels changed or were
quarantined · <span class="legend"><span style="border-color:#dc2828"></span>rule region
<span style="border-color:#ff9600"></span>OCR region</span></p>
<p class="warn">The "before" pictures show original pixels, with any burned-in PHI: keep this page with the
input, never in a release.</p>
<div class="cards">{"".join(f'<div class="card"><b>{v}</b>{escape(k)}</div>' for k, v in cards)}</div>
{chart}
{"".join(_item(it) for it in review.items) or "<p>Nothing to review: no image was redacted or quarantined.</p>"}
</body></html>"""


def write(review: Review, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(review), encoding="utf-8")
    return path
