"""The data steward's check: every image whose pixels changed or were quarantined, before and after.

Records written by the pipeline (``OUT/.veil/pixels/<input hash>.json``) hold boxes, reasons and
counts, never text or input paths, so the output folder stays PHI-free. The "after" picture comes from
the output file. The "before" picture needs the input: quarantined inputs are named in
``OUT/.veil/quarantine.jsonl`` (the operator's file); written ones are found with ``--against IN``
and the project secret (the record's keyed input hash is recomputed for each input). The page itself
shows original pixels and is therefore written outside OUT by default: it must not be released.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veil.pixels.hook import RECORD_DIR

THUMB = 360


@dataclass
class ReviewItem:
    record: dict[str, Any]
    before: str | None = None  # PNG data URI
    after: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.record.get("status", ""))


@dataclass
class Review:
    out_dir: Path
    items: list[ReviewItem]
    unreadable: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for it in self.items:
            c[it.status] = c.get(it.status, 0) + 1
        return c


def load_records(out_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    folder = out_dir / RECORD_DIR
    recs, bad = [], []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            recs.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            bad.append(p.name)
    return recs, bad


def quarantined_sources(out_dir: Path) -> dict[str, str]:
    """input hash -> input path, from the operator's quarantine report."""
    path = out_dir / ".veil" / "quarantine.jsonl"
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("input_hash") and row.get("source"):
                out[str(row["input_hash"])] = str(row["source"])
    return out


def thumbnail(path: Path, regions: Iterable[dict[str, Any]], frame: int = 0) -> str:
    """PNG data URI of one frame (display values), boxes outlined: red for rules, orange for OCR."""
    import pydicom
    from PIL import Image, ImageDraw

    from veil.pixels import codec
    from veil.pixels.clean import _display_frames

    ds = pydicom.dcmread(path)
    px = codec.decode(ds)
    frame = min(frame, px.frames.shape[0] - 1)
    disp = _display_frames(ds, codec.Pixels(px.frames[frame:frame + 1], px.photometric, px.transfer_syntax))[0]
    img = Image.fromarray(disp).convert("RGB")
    draw = ImageDraw.Draw(img)
    width = max(1, img.width // 300)
    for r in regions:
        x0, y0, x1, y1 = r["box"]
        color = (220, 40, 40) if str(r.get("source", "")).startswith("rule") else (255, 150, 0)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=color, width=width)
    img.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def build(out_dir: Path, inputs: dict[str, Path] | None = None) -> Review:
    """Collect records and render thumbnails. `inputs`: input hash -> input file (from --against)."""
    records, bad = load_records(out_dir)
    sources = {k: Path(v) for k, v in quarantined_sources(out_dir).items()} | dict(inputs or {})
    items = []
    for rec in sorted(records, key=lambda r: (r.get("status") != "quarantined", str(r.get("output") or ""),
                                              str(r.get("input_hash")))):
        if rec.get("status") not in ("redacted", "quarantined") and not rec.get("overlays"):
            continue
        it = ReviewItem(rec)
        regions = rec.get("regions", [])
        src = sources.get(str(rec.get("input_hash")))
        if src is not None and src.is_file():
            try:
                it.before = thumbnail(src, regions)
            except Exception as exc:
                it.notes.append(f"input not renderable: {type(exc).__name__}")
        else:
            it.notes.append("input not available (pass --against IN with the project secret)")
        if rec.get("output"):
            out_path = out_dir / str(rec["output"])
            if out_path.is_file():
                try:
                    it.after = thumbnail(out_path, regions)
                except Exception as exc:
                    it.notes.append(f"output not renderable: {type(exc).__name__}")
        items.append(it)
    return Review(out_dir, items, bad)


def pair_inputs(in_root: Path, hashes: set[str], hash_of: Callable[[Path], str]) -> dict[str, Path]:
    """input hash -> input file for the records' hashes, by hashing every file under `in_root`."""
    from veil.pipeline.sources import walk

    found: dict[str, Path] = {}
    files = [in_root] if in_root.is_file() else list(walk(in_root))
    for f in files:
        try:
            h = hash_of(f)
        except OSError:
            continue
        if h in hashes:
            found[h] = f
    return found


def summary(review: Review) -> dict[str, Any]:
    """JSON-able summary (no pictures)."""
    recs = [it.record for it in review.items]
    return {
        "output": str(review.out_dir), "images": len(recs), "counts": review.counts(),
        "regions": int(sum(len(r.get("regions", [])) for r in recs)),
        "changed_pixels": int(np.sum([r.get("changed_pixels", 0) for r in recs])) if recs else 0,
        "unreadable_records": review.unreadable,
        "items": [{k: r.get(k) for k in ("input_hash", "output", "status", "reason", "rule", "reasons",
                                         "frames", "changed_pixels", "verified")}
                  | {"regions": len(r.get("regions", []))} for r in recs],
    }
