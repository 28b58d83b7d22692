"""The pixel pass over one full dataset: decode, find text (rules + OCR), redact, verify, re-encode.

PS3.15 E.3.1 (Clean Pixel Data Option) asks that identifying information burned into Pixel Data be
removed, and that Burned In Annotation (0028,0301; PS3.3 C.7.6.1.1.7) tell the truth afterwards. Veil
sets it to NO only once a verification pass - OCR again, on the redacted frames - finds no PHI left; a
second round blanks what the first missed, and anything still readable after that quarantines the
instance with a reason (fail closed). Images the pass leaves unchanged are not re-encoded at all.

Call :func:`clean_pixels` on the *original* header (before the header engine runs): matching OCR text
against the patient's names, IDs and dates needs the values the engine is about to remove.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from veil.errors import InputError
from veil.pixels import codec, match, ocr, redact
from veil.pixels.decide import Decision, decide, wants_ocr
from veil.policy.model import Policy


@dataclass(frozen=True)
class Region:
    """A blanked rectangle and why: ``rule:<name>``, ``ocr:<label>`` or ``verify:<label>`` (never the text)."""

    box: ocr.Box
    source: str


@dataclass
class PixelReport:
    """What the pass did to one instance; holds no original value (safe for OUT/.veil)."""

    status: str = "unchanged"  # unchanged | redacted | quarantined
    reasons: tuple[str, ...] = ()
    regions: list[Region] = field(default_factory=list)
    frames: int = 0
    rows: int = 0
    columns: int = 0
    photometric: str = ""
    changed_pixels: int = 0
    changed_outside: int = 0
    words: int = 0
    phi_words: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    verified: bool = False
    residual_phi: int = 0
    transfer_syntax_in: str = ""
    transfer_syntax_out: str = ""
    engine: str = ""
    overlays: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    rule: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["regions"] = [{"box": list(r.box), "source": r.source} for r in self.regions]
        return d


def _display_frames(ds: Dataset, px: codec.Pixels) -> list[np.ndarray]:
    out = []
    for f in px.frames:
        lut = None
        if px.photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            lut = apply_color_lut(f, ds)
        out.append(ocr.to_display(f, px.photometric, lut))
    return out


TILE = 16


def near(mask: np.ndarray, tiles: int = 2) -> np.ndarray:
    """`mask` grown by whole 16-px tiles: the neighbourhood a word crossing the mask's edge lies in."""
    rows, cols = mask.shape
    th, tw = -(-rows // TILE), -(-cols // TILE)
    pad = np.zeros((th * TILE, tw * TILE), bool)
    pad[:rows, :cols] = mask
    t: np.ndarray = np.asarray(pad.reshape(th, TILE, tw, TILE).any(axis=(1, 3)))
    for _ in range(tiles):
        g = t.copy()
        g[1:] |= t[:-1]
        g[:-1] |= t[1:]
        g[:, 1:] |= t[:, :-1]
        g[:, :-1] |= t[:, 1:]
        t = g
    return np.repeat(np.repeat(t, TILE, axis=0), TILE, axis=1)[:rows, :cols]


def _ocr_frames(frames: list[np.ndarray], min_conf: float,
                only: np.ndarray | None = None) -> list[tuple[np.ndarray, list[ocr.Word]]]:
    """(brightness image, words) of each frame.

    Identical frames are read once, and a later frame of a multi-frame image is read only where it differs
    from the first (plus a neighbourhood): what is the same reads the same. `only` limits every reading to
    a region (the verification pass re-reads the blanked boxes' surroundings; the rest is unchanged).
    Everything outside the region is set to black, which tesseract skips quickly.
    """
    keys: list[bytes] = []
    grays: list[np.ndarray] = []
    todo: dict[bytes, tuple[int, np.ndarray | None]] = {}  # distinct reading: (frame, region)
    first: np.ndarray | None = None
    for f in frames:
        gray = ocr.brightness(f)
        region = only
        if first is not None:
            diff = near(gray != first)
            region = diff if region is None else (region & diff)
        key = hashlib.sha256(gray.tobytes() + (region.tobytes() if region is not None else b"")).digest()
        if key not in todo and (region is None or region.any()):
            todo[key] = (len(grays), region)
        keys.append(key)
        grays.append(gray)
        if first is None:
            first = gray
    masked = (grays[i] if region is None else np.where(region, grays[i], 0).astype(np.uint8)
              for i, region in todo.values())
    seen = dict(zip(todo, ocr.read_many(masked, min_conf), strict=True))
    return [(gray, seen.get(key, [])) for gray, key in zip(grays, keys, strict=True)]


#: A word that matches no PHI is blanked (redact: all-text) only when it is read with this confidence and
#: its box looks like glyphs on a flat background; speckle that tesseract reads as "Ss" or "wad" does not.
TEXT_CONFIDENCE = 55.0
TEXT_MIDTONES = 0.3
TEXT_STROKES = 0.45


def looks_like_text(gray: np.ndarray, box: ocr.Box) -> bool:
    """Glyphs on a flat background: bimodal (few pixels between background and stroke brightness) and
    made of strokes (most bright pixels have two bright 4-neighbours), where speckle is scattered dots."""
    x0, y0, x1, y1 = box
    if y1 - y0 < 6 or x1 - x0 < 3:  # smaller than any glyph of a >= 10 px font
        return False
    r = gray[y0:y1, x0:x1].astype(np.float64)
    lo, hi = float(r.min()), float(r.max())
    if hi - lo < 64:
        return False
    n = (r - lo) / (hi - lo)
    if float(((n > 0.25) & (n < 0.6)).mean()) > TEXT_MIDTONES:
        return False
    bright = n >= 0.55
    p = np.pad(bright, 1)
    neighbours = p[:-2, 1:-1].astype(np.int8) + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]
    return float((bright & (neighbours >= 2)).sum()) >= TEXT_STROKES * max(1, int(bright.sum()))


def _phi_regions(read: list[tuple[np.ndarray, list[ocr.Word]]], ids: match.Identifiers, redact_all: bool,
                 prefix: str) -> tuple[list[Region], dict[str, int], int, int]:
    regions: list[Region] = []
    labels: dict[str, int] = {}
    n_words = n_phi = 0
    done: set[tuple[ocr.Box, str]] = set()
    for gray, words in read:
        phi = match.phi_lines(words, ids)
        n_words += len(words)
        for i, w in enumerate(words):
            lab = phi.get(i)
            if lab is not None and lab.split(":")[-1] == "text" and not (
                    w.conf >= TEXT_CONFIDENCE and looks_like_text(gray, w.box)):
                lab = None  # only the free-text detectors fired, on something that does not look like text
            if lab is not None:
                n_phi += not lab.startswith("line:")
                key = lab.split(":")[-1]
                labels[key] = labels.get(key, 0) + 1
            elif not (redact_all and w.conf >= TEXT_CONFIDENCE and looks_like_text(gray, w.box)):
                continue
            src = f"{prefix}:{lab.split(':')[-1] if lab else 'text'}"
            if (w.box, src) not in done:
                done.add((w.box, src))
                regions.append(Region(w.box, src))
    return regions, labels, n_words, n_phi


def clean_pixels(ds: Dataset, policy: Policy, decision: Decision | None = None,
                 ids: match.Identifiers | None = None) -> tuple[PixelReport, codec.Pixels | None, np.ndarray | None]:
    """Run the pass on `ds` (header + Pixel Data, not yet de-identified).

    Returns the report, the decoded input and the redacted frames (None when nothing changed). Raises
    :class:`InputError` for undecodable pixels or a missing OCR engine; a failed verification is
    reported as status ``quarantined`` (with reason) so the caller can still record the attempt.
    """
    decision = decision or decide(ds, policy)
    settings = policy.pixels
    report = PixelReport(reasons=decision.reasons)
    px = codec.decode(ds)
    n, rows, cols = px.frames.shape[:3]
    report.frames, report.rows, report.columns = n, rows, cols
    report.photometric = px.photometric
    report.transfer_syntax_in = report.transfer_syntax_out = str(px.transfer_syntax)
    ids = ids or match.collect(ds)
    regions = [Region(b, f"rule:{r.name}") for r in decision.rules for b in r.boxes(rows, cols)]
    run_ocr = wants_ocr(decision, policy)
    display = _display_frames(ds, px) if (run_ocr or settings.verify) else []
    if run_ocr or settings.verify:
        report.engine = f"tesseract {ocr.engine_version()}"
    words: list[tuple[np.ndarray, list[ocr.Word]]] = []
    if run_ocr:
        words = _ocr_frames(display, settings.min_confidence)
        found, labels, report.words, report.phi_words = _phi_regions(
            words, ids, settings.redact == "all-text", "ocr")
        regions += found
        report.labels = labels
    burned = str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES"
    legible = run_ocr and any(w.conf >= TEXT_CONFIDENCE and looks_like_text(g, w.box) for g, ws in words for w in ws)
    if burned and not regions and run_ocr and not legible:
        report.status, report.rule = "quarantined", "burned-in-unconfirmed"
        report.reason = "BurnedInAnnotation is YES but OCR read no text and no rule region applies"
        return report, px, None
    fill = codec.fill_value(ds, px)
    new: np.ndarray | None = None
    boxes: list[ocr.Box] = []
    for round_ in (1, 2, 3):
        boxes = redact.merge(redact.grow(r.box, settings.margin, rows, cols) for r in regions)
        new = redact.apply(px.frames, boxes, fill) if boxes else None
        if not settings.verify:
            break
        if new is None:  # nothing blanked: the detection reading (if any) is the verification reading
            report.verified = run_ocr
            break
        around = near(redact.mask((rows, cols), boxes))
        after = _ocr_frames(_display_frames(ds, codec.Pixels(new, px.photometric, px.transfer_syntax)),
                            settings.min_confidence, around)
        residual, _l, _w, n_phi = _phi_regions(after, ids, False, "verify")
        report.residual_phi = n_phi
        if not residual:
            report.verified = True
            break
        if round_ == 3:
            report.status, report.rule = "quarantined", "burned-in-residual"
            kinds = sorted({r.source for r in residual})
            report.reason = f"PHI still readable after redaction ({n_phi} word(s): {kinds})"
            report.regions = regions
            return report, px, new
        regions += residual
    report.regions = [Region(b, _source_of(b, regions, settings.margin, rows, cols)) for b in boxes]
    if new is not None:
        changed = new != px.frames
        if changed.ndim == 4:
            changed = changed.any(axis=-1)
        report.changed_pixels = int(changed.sum())
        outside = ~redact.mask((rows, cols), boxes)
        report.changed_outside = int(changed[:, outside].sum())
        if report.changed_pixels:
            report.status = "redacted"
        else:
            new = None
    return report, px, new


def _source_of(box: ocr.Box, regions: list[Region], margin: int, rows: int, cols: int) -> str:
    """The reasons of the regions merged into `box`, joined (rule names first)."""
    inside = sorted({r.source for r in regions if _inside(redact.grow(r.box, margin, rows, cols), box)},
                    key=lambda s: (not s.startswith("rule"), s))
    return ",".join(inside) or "merged"


def _inside(a: ocr.Box, b: ocr.Box) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def check_cleaned(ds: Dataset, policy: Policy) -> None:
    """Fail closed for callers of the header engine that skipped the pixel pass (library use).

    Raises when the policy asks for Clean Pixel Data, the dataset holds Pixel Data that needs the pass,
    and :func:`veil.pixels.hook.pixel_pass` has not marked it as examined.
    """
    if getattr(ds, "_veil_pixels_examined", False):
        return
    if "PixelData" in ds and decide(ds, policy).needed:
        raise InputError("policy asks for clean_pixel_data and this image needs a pixel pass that has not run "
                         "(use veil.pipeline or veil.pixels.hook.pixel_pass before deidentify)", "clean-pixel-data")
