"""The data-use terms that travel with every release, in Markdown and PDF.

De-identification lowers the risk; the terms bind the people who receive the data. HIPAA requires a data
use agreement for a limited data set (45 CFR 164.514(e)(4)) and expert determinations assume one for
anything but public data; GDPR Art. 32 asks for appropriate security measures for pseudonymised data. The
document names the release, the tier and its de-identification level, the permitted uses, the
prohibition of any attempt to re-identify, the required security measures and whom to contact.

The PDF is written by a small built-in writer (PDF 1.4, the standard Helvetica fonts, no compression,
no dependencies) so the same terms always give the same bytes: a release stays reproducible and its
signed manifest can list the PDF's hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from veil.release.tiers import Tier

# Advance widths (1/1000 em) of the standard Helvetica and Helvetica-Bold fonts for ASCII 32..126 (AFM).
_HELV = [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556,
         556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278,
         500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
         556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
         278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584]
_HELV_BOLD = [278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
              556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722,
              278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278,
              333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611,
              389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584]


def render_markdown(tier: Tier, release: Mapping[str, Any], contact: str = "") -> str:
    """The terms as Markdown. ``release`` holds id, project, created, purpose, policy name/hash, counts."""
    rid = release["id"]
    lines = [
        f"# Data-use terms for release {rid}",
        "",
        f"- Release: {rid} of project {release['project']}",
        f"- Access tier: {tier.name}" + (f" ({tier.description})" if tier.description else ""),
        f"- De-identification level: {tier.level}",
        f"- Issued: {release['created']}",
        f"- Purpose of the release: {release['purpose']}",
        f"- Policy: {release['policy_name']} (sha256 {release['policy_hash']})",
        f"- Content: {release['files']} files of {release['patients']} pseudonymous patients",
        "",
        "## De-identification",
        "",
        tier.level_text,
        "",
        _risk_sentence(tier),
        "",
        "## Who may receive the data",
        "",
        tier.recipients or "Only the recipients named in the accompanying agreement.",
        "",
        "## Permitted uses",
        "",
        *[f"- {u}" for u in (tier.permitted_uses or ("The purpose stated above.",))],
        "- Any other use requires the written consent of the data custodian.",
        "",
        "## Prohibited",
        "",
        "- Any attempt to re-identify an individual, or to link the data with other data in order to do so.",
        "- Contacting any individual who might be the subject of the data.",
        "- Passing the data on to anyone not covered by these terms.",
        "",
        "If an individual is recognised by chance, stop using the record, do not record or disclose who it is, "
        "and inform the data custodian.",
        "",
        "## Required security measures",
        "",
        *[f"- {s}" for s in (tier.security or ("Keep the data on access-controlled systems.",))],
    ]
    if tier.retention_days:
        lines.append(f"- Delete the data within {tier.retention_days} days of receipt, or when the purpose is "
                     "fulfilled, whichever comes first.")
    lines += [
        "",
        "## Withdrawal",
        "",
        f"The project may withdraw release {rid} (for example after a policy error). Recipients of a withdrawn "
        "release must delete it and use the re-issued release instead.",
        "",
        "## Integrity",
        "",
        "The file RELEASE.json lists every file of this release with its SHA-256 and is signed with the "
        "project's Ed25519 key (RELEASE.sig, SIGNING-KEY.pub); `veil release check` verifies both.",
    ]
    if contact:
        lines += ["", "## Contact", "", contact]
    return "\n".join(lines) + "\n"


def _risk_sentence(tier: Tier) -> str:
    r = tier.risk
    parts = []
    if r.k is not None:
        parts.append(f"every combination of quasi-identifiers is shared by at least {r.k} records at {r.level} level "
                     "(k-anonymity)")
    if r.max_risk is not None:
        parts.append(f"the highest prosecutor re-identification risk is at most {r.max_risk:g}")
    if not parts:
        return "Re-identification risk was measured and is reported in RELEASE.json; no threshold applies."
    return "Before publication the release was checked: " + " and ".join(parts) + "."


# --- PDF --------------------------------------------------------------------------------------------


def _width(text: str, size: float, bold: bool) -> float:
    table = _HELV_BOLD if bold else _HELV
    return sum(table[ord(c) - 32] if 32 <= ord(c) <= 126 else 556 for c in text) * size / 1000


def _wrap(text: str, size: float, bold: bool, max_width: float) -> list[str]:
    words = text.split(" ")
    lines: list[str] = []
    cur = ""
    for w in words:
        cand = f"{cur} {w}" if cur else w
        if _width(cand, size, bold) <= max_width or not cur:
            cur = cand
        else:
            lines.append(cur)
            cur = w
    lines.append(cur)
    return lines


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def markdown_to_pdf(markdown: str, title: str) -> bytes:
    """A4 PDF of the simple Markdown :func:`render_markdown` writes (headings, bullets, paragraphs).

    Deterministic: no timestamps or random IDs, so the same text always gives the same bytes.
    """
    page_w, page_h, margin = 595.0, 842.0, 56.0
    usable = page_w - 2 * margin
    pages: list[list[bytes]] = [[]]
    y = page_h - margin

    def emit(text: str, size: float, bold: bool, indent: float = 0.0, gap: float = 0.0) -> None:
        nonlocal y
        leading = size * 1.35
        y -= gap
        for i, line in enumerate(_wrap(text, size, bold, usable - indent)):
            if y - leading < margin:
                pages.append([])
                y = page_h - margin
            y -= leading
            x = margin + indent + (0 if i == 0 or not text.startswith("\u2022") else 10)
            font = b"/F2" if bold else b"/F1"
            pages[-1].append(b"BT " + font + b" %.1f Tf %.2f %.2f Td " % (size, x, y) + _pdf_string(line) + b" Tj ET")

    for raw in markdown.splitlines():
        line = raw.rstrip()
        if not line:
            y -= 4
        elif line.startswith("# "):
            emit(line[2:], 16, True, gap=4)
        elif line.startswith("## "):
            emit(line[3:], 12.5, True, gap=8)
        elif line.startswith("- "):
            emit("\u2022 " + line[2:].replace("`", ""), 10, False, indent=8)
        else:
            emit(line.replace("`", ""), 10, False)

    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled below
    pages_obj = add(b"")
    f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    f2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    kids = []
    for n, ops in enumerate(pages, start=1):
        footer = b"BT /F1 8.0 Tf %.2f %.2f Td " % (margin, margin / 2) + _pdf_string(f"{title} - page {n} of "
                                                                                      f"{len(pages)}") + b" Tj ET"
        stream = b"\n".join([*ops, footer])
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 %d 0 R "
                        b"/F2 %d 0 R >> >> /Contents %d 0 R >>" % (pages_obj, page_w, page_h, f1, f2, content)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids)
                              + b"] /Count %d >>" % len(kids))
    info = add(b"<< /Title " + _pdf_string(title) + b" /Producer (Veil) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, info, xref)
    return bytes(out)
