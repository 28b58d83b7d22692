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
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from veil.errors import InputError
from veil.pixels import codec, match, ocr, redact, spill
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
    changed_outside: int = 0  # kept for old records: the fill writes inside its boxes only (redact.Blanking)
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


def _display_iter(ds: Dataset, frames: np.ndarray, photometric: str) -> Iterator[np.ndarray]:
    """8-bit display values of each frame, one at a time (a cine's display copies are never all held; a
    spilled frame's pages leave memory once its display copy is taken)."""
    for f in frames:
        lut = None
        if photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            lut = apply_color_lut(f, ds)
        shown = ocr.to_display(f, photometric, lut)
        spill.release(f)
        yield shown


def _display_frames(ds: Dataset, px: codec.Pixels) -> list[np.ndarray]:
    return list(_display_iter(ds, px.frames, px.photometric))


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


#: A frame's OCR words, each with whether it is legible text (:func:`legible_words`).
Reading = list[tuple[ocr.Word, bool]]

#: Distinct frames read per tesseract run: two readings each fill one batch of pages.
FLUSH = max(1, ocr.BATCH // 2)


def _ocr_frames(displays: Iterable[np.ndarray], min_conf: float, only: np.ndarray | None = None) -> list[Reading]:
    """The words of each display frame, each with whether it is legible text.

    Identical frames are read once, and a later frame of a multi-frame image is read only where it differs
    from the first (plus a neighbourhood): what is the same reads the same. `only` limits every reading to
    a region (the verification pass re-reads the blanked boxes' surroundings; the rest is unchanged).
    Everything outside the region is set to black, which tesseract skips quickly.

    Frames are taken one at a time and read :data:`FLUSH` distinct frames per tesseract run; a frame's
    brightness image is dropped once its words are judged (:func:`legible_words`), so a cine holds the
    first frame and one run's frames, never a copy of every frame.
    """
    keys: list[bytes] = []
    seen: dict[bytes, Reading] = {}
    pending: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = {}  # distinct reading: (brightness, region)

    def flush() -> None:
        todo = list(pending.items())
        pending.clear()
        masked = (gray if region is None else np.where(region, gray, 0).astype(np.uint8)
                  for _, (gray, region) in todo)
        for (key, (gray, _)), words in zip(todo, ocr.read_many(masked, min_conf), strict=True):
            seen[key] = legible_words(gray, words)

    first: np.ndarray | None = None
    for display in displays:
        gray = ocr.brightness(display)
        region = only
        if first is not None:
            diff = near(gray != first)
            region = diff if region is None else (region & diff)
        key = hashlib.sha256(gray.tobytes() + (region.tobytes() if region is not None else b"")).digest()
        if key not in seen and key not in pending and (region is None or region.any()):
            pending[key] = (gray, region)
            if len(pending) >= FLUSH:
                flush()
        keys.append(key)
        if first is None:
            first = gray
    if pending:
        flush()
    return [seen.get(key, []) for key in keys]


#: A word that matches no PHI is blanked (redact: all-text) only when it is read with this confidence and
#: its box looks like glyphs on a flat background; speckle that tesseract reads as "Ss" or "wad" does not.
TEXT_CONFIDENCE = 55.0
#: A word read turned (standing text along an edge, :func:`veil.pixels.ocr.pages`) is taken for text only
#: when read this surely and at least this long: the turned edge bands also hold upright text read
#: sideways and speckle where the image reaches the edge, which tesseract reads as short words ("al",
#: "-NE", "oat") with up to ~90 confidence. A turned word that matches PHI is blanked whatever it reads.
TURNED_CONFIDENCE = 80.0
TURNED_MIN_CHARS = 3
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


def legible_words(gray: np.ndarray, words: list[ocr.Word]) -> Reading:
    """`words` each with whether it is legible text: read with :data:`TEXT_CONFIDENCE` and glyph-like on
    `gray` (:func:`looks_like_text`); a word read turned needs more (:data:`TURNED_CONFIDENCE`). Judged
    when read, so the frame need not be kept for later."""
    return [(w, w.conf >= TEXT_CONFIDENCE and looks_like_text(gray, w.box)
             and (not w.turned or (w.conf >= TURNED_CONFIDENCE
                                   and sum(c.isalnum() for c in w.text) >= TURNED_MIN_CHARS))) for w in words]


def _phi_regions(read: Iterable[Reading], ids: match.Identifiers, redact_all: bool,
                 prefix: str) -> tuple[list[Region], dict[str, int], int, int]:
    regions: list[Region] = []
    labels: dict[str, int] = {}
    n_words = n_phi = 0
    done: set[tuple[ocr.Box, str]] = set()
    for reading in read:
        phi = match.phi_lines([w for w, _ in reading], ids)
        n_words += len(reading)
        for i, (w, legible) in enumerate(reading):
            lab = phi.get(i)
            if lab is not None and lab.split(":")[-1] == "text" and not legible:
                lab = None  # only the free-text detectors fired, on something that does not look like text
            if lab is not None:
                n_phi += not lab.startswith("line:")
                key = lab.split(":")[-1]
                labels[key] = labels.get(key, 0) + 1
            elif not (redact_all and legible):
                continue
            src = f"{prefix}:{lab.split(':')[-1] if lab else 'text'}"
            for box in ocr.pieces(w):  # a standing word in pieces: see ocr.pieces
                if (box, src) not in done:
                    done.add((box, src))
                    regions.append(Region(box, src))
    return regions, labels, n_words, n_phi


def clean_pixels(ds: Dataset, policy: Policy, decision: Decision | None = None,
                 ids: match.Identifiers | None = None, px: codec.Pixels | None = None,
                 spill_to: spill.Spill | None = None) -> tuple[PixelReport, codec.Pixels | None, np.ndarray | None]:
    """Run the pass on `ds` (header + Pixel Data, not yet de-identified).

    Returns the report, the decoded pixels and the redacted frames (None when nothing changed). The
    frames are redacted in place: when something changed, the returned frames *are* ``px.frames``, and
    the input's values live on only in the file (decode it again to compare). Why: memory. A copy of the
    frames, and display and brightness copies of every frame, made the pass hold about 7 times the
    decoded size; it now holds the decoded frames, the blanked area's input values and one OCR run's
    frames. `px`: the frames already decoded (the pipeline decodes them from the file, frame by frame).
    `spill_to`: where the blanked area's input values go when they are too many to hold.

    Raises :class:`InputError` for undecodable pixels or a missing OCR engine; a failed verification is
    reported as status ``quarantined`` (with reason) so the caller can still record the attempt.
    """
    decision = decision or decide(ds, policy)
    settings = policy.pixels
    report = PixelReport(reasons=decision.reasons)
    px = px or codec.decode(ds)
    frames = px.frames
    n, rows, cols = frames.shape[:3]
    report.frames, report.rows, report.columns = n, rows, cols
    report.photometric = px.photometric
    report.transfer_syntax_in = report.transfer_syntax_out = str(px.transfer_syntax)
    ids = ids or match.collect(ds)
    regions = [Region(b, f"rule:{r.name}") for r in decision.rules for b in r.boxes(rows, cols)]
    run_ocr = wants_ocr(decision, policy)
    if run_ocr or settings.verify:
        report.engine = f"tesseract {ocr.engine_version()}"
    words: list[Reading] = []
    if run_ocr:
        words = _ocr_frames(_display_iter(ds, frames, px.photometric), settings.min_confidence)
        found, labels, report.words, report.phi_words = _phi_regions(
            words, ids, settings.redact == "all-text", "ocr")
        regions += found
        report.labels = labels
    burned = str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES"
    legible = run_ocr and any(ok for reading in words for _, ok in reading)
    if burned and not regions and run_ocr and not legible:
        report.status, report.rule = "quarantined", "burned-in-unconfirmed"
        report.reason = "BurnedInAnnotation is YES but OCR read no text and no rule region applies"
        return report, px, None
    fill = codec.fill_value(ds, px)
    blank: redact.Blanking | None = None
    boxes: list[ocr.Box] = []
    for round_ in (1, 2, 3):
        boxes = redact.merge(redact.grow(r.box, settings.margin, rows, cols) for r in regions)
        if blank is not None:
            blank.undo()  # each round blanks the input afresh: its boxes are not always a superset
        blank = redact.Blanking(frames, boxes, fill, spill_to) if boxes else None
        if not settings.verify:
            break
        if blank is None:  # nothing blanked: the detection reading (if any) is the verification reading
            report.verified = run_ocr
            break
        # a file that said YES will say NO (hook.pixel_pass): its whole frame is read again, not only around
        # the boxes (red team E: rotated text elsewhere stayed legible under a NO)
        around = None if burned else near(blank.area)
        after = _ocr_frames(_display_iter(ds, frames, px.photometric), settings.min_confidence, around)
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
            return report, px, frames
        regions += residual
    report.regions = [Region(b, _source_of(b, regions, settings.margin, rows, cols)) for b in boxes]
    if blank is None:
        return report, px, None
    # outside the boxes nothing is written (Blanking); the acceptance tests check it on a fresh decode
    report.changed_pixels = blank.changed()
    if not report.changed_pixels:
        return report, px, None
    report.status = "redacted"
    return report, px, frames


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
