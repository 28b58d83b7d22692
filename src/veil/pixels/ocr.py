"""Read burned-in text with tesseract, after preprocessing that makes medical overlays legible to it.

Tesseract is trained on dark print on light paper; burned-in annotations are light (white, grey, yellow,
green) text on a dark, noisy image. Each frame is therefore (1) brought to 8-bit display values - a
window from the 0.5th percentile to the maximum for monochrome (MONOCHROME1 inverted, PS3.3 C.7.6.3.1.2),
the palette applied for PALETTE COLOR, the brightest channel for colour so coloured text is as bright as
white text - (2) upscaled so 10 px glyphs reach the ~20 px tesseract reads best, and (3) read as several
pages: thresholded at 55 % of the maximum (annotation is the brightest thing in the frame, speckle
mostly is not); as an inverted grey image (tesseract's own Otsu binarisation, for grey text on grey
bars); when the frame has any, its label boxes of the other polarity alone, text dark on white
(:func:`label_boxes`: a light patient banner with dark text in a dark image, a dark bar with light text
in a light one) - tesseract reads dark glyphs on a light page, and such a box is a dark blob with glyph
holes in the thresholded reading and a dark blob in a white page in the inverted one, read in neither
(nor in the grey image as it is: the dark frame around the box is then the blob); and (4) the outer
:data:`EDGE` of the columns on each side again, turned upright both ways (90 and 270 degrees), for
labels written standing along the left and right edges (tesseract reads upright lines only).
Words from every page are pooled; boxes are returned in the frame's own pixel coordinates.

Page segmentation mode 11 (sparse text) suits overlays: short words scattered over the frame, no
paragraphs. Nothing is downloaded: the engine and its English model come from Debian's
``tesseract-ocr`` and ``tesseract-ocr-eng`` packages.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from PIL import Image

from veil.errors import InputError, scrub

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (end-exclusive), in frame pixels

#: Tesseract settings: LSTM engine, sparse text. OMP_THREAD_LIMIT=1: Veil parallelises by process already.
TESSERACT_CONFIG = "--oem 1 --psm 11 -c tessedit_do_invert=0"  # Veil inverts itself (see readings())
_THRESHOLD = 0.55
#: Words are kept down to this confidence: a doubtful word next to a name is blanked with its line.
FLOOR = 0.0


@dataclass(frozen=True)
class Word:
    """One word OCR read: its text, confidence (0-100), box, the line it belongs to, and whether it was
    read turned (standing text, read from an edge band turned upright: :func:`pages`)."""

    text: str
    conf: float
    box: Box
    line: tuple[int, int, int, int]  # (page, block, paragraph, line): words of one line share it
    turned: bool = False


def pieces(word: Word) -> list[Box]:
    """The boxes that blank `word`: its box, or for a word read turned, that box cut into pieces about as
    tall as it is wide.

    Why: the redaction (:func:`veil.pixels.redact.grow` and ``merge``) is made for upright text. It widens
    a box by a third of its height (the ink of a word's first and last glyph) and joins boxes that share
    a height band: a standing word's box is its length tall, so it was widened by a third of its length
    (blanking image far beside a narrow edge label) and joined every line it stood beside into a block.
    Square pieces are widened by a third of a glyph; the word's ends got that allowance when it was read.
    """
    x0, y0, x1, y1 = word.box
    side = max(1, x1 - x0)
    if not word.turned or y1 - y0 <= side:
        return [word.box]
    n = round((y1 - y0) / side)
    cuts = [y0 + (y1 - y0) * i // n for i in range(n + 1)]
    return [(x0, a, x1, b) for a, b in itertools.pairwise(cuts) if b > a]


@cache
def engine_version() -> str:
    """Tesseract's version ("5.3.0"); raises InputError (the instance is quarantined) when it is not installed."""
    try:
        done = subprocess.run(["tesseract", "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=True)
        first = done.stdout.decode("utf-8", "replace").split()  # "tesseract 5.3.0\n leptonica-1.82.0 ..."
        version = first[1].partition("-")[0]
        if first[0] != "tesseract" or not version[:1].isdigit():
            raise ValueError(f"unexpected version line {first[:2]}")
        return version
    except (OSError, ValueError, IndexError, subprocess.CalledProcessError) as exc:
        raise InputError("OCR engine (tesseract) is not available: install tesseract-ocr and tesseract-ocr-eng",
                         "pixels-ocr-unavailable") from exc


def to_display(frame: np.ndarray, photometric: str, lut_rgb: np.ndarray | None = None) -> np.ndarray:
    """One frame as 8-bit display values: (rows, cols) grey or (rows, cols, 3) RGB."""
    arr = frame
    if photometric == "PALETTE COLOR" and lut_rgb is not None:
        arr = lut_rgb
    if arr.ndim == 3 and photometric.startswith("YBR"):
        from pydicom.pixels import convert_color_space

        arr = convert_color_space(arr, "YBR_FULL", "RGB")
    arr = arr.astype(np.float64)
    lo = float(np.percentile(arr, 0.5)) if arr.ndim == 2 else float(arr.min())
    hi = float(arr.max())
    out = np.zeros(arr.shape, np.uint8) if hi <= lo else ((np.clip(arr, lo, hi) - lo) * (255.0 / (hi - lo)))
    out = out.astype(np.uint8)
    if photometric == "MONOCHROME1":
        out = np.subtract(255, out, dtype=np.uint8)
    return out


def brightness(display: np.ndarray) -> np.ndarray:
    """Grey image where coloured text is as bright as white text: the brightest channel - unless the frame's
    colours, not their brightness, tell text from background (red on green, blue on yellow: the brightest
    channel is 255 for both, and the text was invisible to OCR: red team E). Then the distance of each
    pixel's colour from the frame's median colour (its background), which shows text of any colour."""
    if display.ndim != 3:
        return display
    bright = display.max(axis=2)
    sample = display.reshape(-1, display.shape[2])[::31]
    median = np.median(sample, axis=0).astype(np.float32)
    dist = np.sqrt(((display.astype(np.float32) - median) ** 2).sum(axis=2))
    if float(dist.std()) <= 1.5 * float(bright.std()) + 1.0:
        return bright
    top = float(dist.max())
    return (dist * (255.0 / top)).astype(np.uint8) if top > 0 else bright


def readings(gray: np.ndarray) -> list[np.ndarray]:
    """The images tesseract reads: dark text on white, thresholded (without lone speckle dots) and plain,
    and the frame's label boxes of the other polarity (:func:`label_boxes`) when it has any."""
    top = int(gray.max())
    if top == 0:
        return []
    bright = gray >= _THRESHOLD * top
    p = np.pad(bright, 1)
    alone = ~(p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:])
    binary = np.where(bright & ~alone, 0, 255).astype(np.uint8)  # isolated bright dots (speckle) dropped
    dark = gray.mean() < 128
    inverted = (255 - gray) if dark else gray
    out = [binary, inverted.astype(np.uint8)]
    boxes = label_boxes(gray, dark_text=dark)
    if boxes is not None:
        out.append(boxes)
    return out


#: Label boxes (:func:`label_boxes`): a box is filled with one value, give or take _FLAT (lossy codecs,
#: resampling); its text differs from the fill by _CONTRAST at least; of the fill levels the histogram
#: shows as peaks, the _LEVELS largest are examined.
_FLAT = 3
_CONTRAST = 40
_LEVELS = 4
#: A box is mostly its fill (the text on it a minority), and holds some text.
_BOX_FILL = 0.55
_BOX_INK = (0.004, 0.4)
_BOX_MIN_AREA = 240  # px: the smallest box a line of 10 px text fits in


def _spread(mask: np.ndarray, r: int) -> np.ndarray:
    """`mask` dilated by a (2r+1)-square (outside the frame counts as False): rows, then columns."""
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        a, b = (out, src) if axis == 0 else (out.T, src.T)
        for d in range(1, r + 1):
            a[d:] |= b[:-d]
            a[:-d] |= b[d:]
    return out


def _close(mask: np.ndarray, r: int) -> np.ndarray:
    """Morphological closing (holes and gaps narrower than 2r+1 filled); the frame's edge does not erode."""
    return ~_spread(~_spread(mask, r), r)


def _open(mask: np.ndarray, r: int) -> np.ndarray:
    """Morphological opening: parts thinner than 2r+1 removed."""
    return _spread(~_spread(~mask, r), r)


def _components(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a small boolean grid: labels 1..n (0 outside), and n."""
    rows, cols = grid.shape
    cells = grid.tolist()
    lab = [[0] * cols for _ in range(rows)]
    n = 0
    for y0, x0 in zip(*np.nonzero(grid), strict=True):
        if lab[y0][x0]:
            continue
        n += 1
        lab[y0][x0] = n
        stack = [(int(y0), int(x0))]
        while stack:
            y, x = stack.pop()
            for ny in range(max(0, y - 1), min(rows, y + 2)):
                row, out = cells[ny], lab[ny]
                for nx in range(max(0, x - 1), min(cols, x + 2)):
                    if row[nx] and not out[nx]:
                        out[nx] = n
                        stack.append((ny, nx))
    return np.array(lab, np.int32).reshape(rows, cols), n


def _fill_levels(gray: np.ndarray, dark_text: bool) -> list[int]:
    """Grey levels the histogram shows as peaks (flat fills), largest first, with room for text of the
    wanted polarity (darker than the fill for `dark_text`, lighter otherwise)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.int64)
    band = np.convolve(hist, np.ones(2 * _FLAT + 1, np.int64), "same")  # pixels within _FLAT of each level
    side = np.pad(band, 2 * _FLAT + 4)
    around = np.maximum(side[:256], side[-256:])  # the bands 2 * _FLAT + 4 levels below and above
    least = max(_BOX_MIN_AREA, gray.size // 1000)
    levels = [v for v in np.argsort(-band, kind="stable").tolist()
              if band[v] >= least and band[v] >= 3 * around[v]
              and band[v] == band[max(0, v - _FLAT):v + _FLAT + 1].max()
              and (v >= 2 * _CONTRAST if dark_text else v <= 255 - 2 * _CONTRAST)]
    out: list[int] = []
    for v in levels:
        v = max(0, v - _FLAT) + int(hist[max(0, v - _FLAT):v + _FLAT + 1].argmax())  # the peak itself
        if all(abs(v - o) > 2 * _FLAT for o in out):
            out.append(v)
        if len(out) == _LEVELS:
            break
    return out


def label_boxes(gray: np.ndarray, dark_text: bool) -> np.ndarray | None:
    """A page of the frame's label boxes alone, their text dark on white, white around; None without any.

    A label box (a patient banner, a caption bar) is a rectangle filled with one grey level, mostly fill
    with some text of another level on it. Only boxes whose text has the polarity the inverted reading
    does not read are kept: `dark_text` (the frame is dark, so it is read inverted) keeps dark text on a
    lighter fill, otherwise light text on a darker one. Tesseract reads such a box only with the frame
    around it blank: inside a dark frame a light box is read as a dark blob (or, inverted, a hole) and
    its text not at all.

    Found as: the pixels of a histogram peak (a fill, :func:`_fill_levels`), closed (the glyphs become part
    of the region) and opened (thin lines and text strokes of that level dropped), split into connected
    parts; the bounding rectangle of a part is a box when it is mostly fill (:data:`_BOX_FILL`) and
    :data:`_BOX_INK` of it is text of the wanted polarity. The whole rectangle is shown, so glyphs that
    closing did not fill (wide ones, ringing of a lossy codec around them) are read too.
    """
    rows, cols = gray.shape
    r = 3  # closes glyph strokes (and gaps between glyphs) up to 7 px wide
    f = max(4, -(-max(rows, cols) // 256))  # grid cell for the connected parts
    th, tw = -(-rows // f), -(-cols // f)
    page = np.full(gray.shape, 255, np.uint8)
    found = False
    g = gray.astype(np.int32)
    for level in _fill_levels(gray, dark_text):
        fill = np.abs(g - level) <= _FLAT
        pad = np.zeros((th * f, tw * f), bool)
        pad[:rows, :cols] = fill
        if not (pad.reshape(th, f, tw, f).mean(axis=(1, 3)) >= _BOX_FILL).any():
            continue  # nowhere mostly this level: no box of it
        body = _open(_close(fill, r), 2)
        pad[:rows, :cols] = body
        grid, n = _components(pad.reshape(th, f, tw, f).any(axis=(1, 3)))
        if not n:
            continue
        ys, xs = np.nonzero(grid)
        ids = grid[ys, xs]
        lo_y, lo_x = np.full(n + 1, th), np.full(n + 1, tw)
        hi_y, hi_x = np.zeros(n + 1, np.int64), np.zeros(n + 1, np.int64)
        np.minimum.at(lo_y, ids, ys)
        np.minimum.at(lo_x, ids, xs)
        np.maximum.at(hi_y, ids, ys)
        np.maximum.at(hi_x, ids, xs)
        for c in np.nonzero(np.bincount(ids, minlength=n + 1) * f * f >= _BOX_MIN_AREA)[0].tolist():
            cy, cx = slice(int(lo_y[c]), int(hi_y[c]) + 1), slice(int(lo_x[c]), int(hi_x[c]) + 1)
            mine = np.repeat(np.repeat(grid[cy, cx] == c, f, axis=0), f, axis=1)
            y0, x0 = cy.start * f, cx.start * f
            sub = body[y0:y0 + mine.shape[0], x0:x0 + mine.shape[1]]
            sub = sub & mine[:sub.shape[0], :sub.shape[1]]
            rr, cc = np.nonzero(sub.any(axis=1))[0], np.nonzero(sub.any(axis=0))[0]
            box = (slice(y0 + int(rr[0]), y0 + int(rr[-1]) + 1), slice(x0 + int(cc[0]), x0 + int(cc[-1]) + 1))
            v = g[box]
            area = v.size
            ink = (v <= level - _CONTRAST) if dark_text else (v >= level + _CONTRAST)
            n_ink = int(ink.sum())
            if (area < _BOX_MIN_AREA or int(fill[box].sum()) < _BOX_FILL * area
                    or not max(12, _BOX_INK[0] * area) <= n_ink <= _BOX_INK[1] * area):
                continue
            found = True
            if dark_text:  # the fill -> 255, the darkest text -> 0
                lo = int(v[ink].min())
                page[box] = np.clip((v - lo) * 255 // max(1, level - lo), 0, 255).astype(np.uint8)
            else:
                hi = int(v[ink].max())
                page[box] = np.clip((hi - v) * 255 // max(1, hi - level), 0, 255).astype(np.uint8)
    return page if found else None


#: Text turned 90 degrees (vertical labels along the left and right edges) is read from the outer EDGE of
#: the columns on each side, turned upright both ways; bands narrower than _EDGE_MIN px are not read.
EDGE = 0.15
_EDGE_MIN = 8


@dataclass(frozen=True)
class Page:
    """One image tesseract reads for a frame, and where it lies in that frame: columns x0.. x0 + width of
    the frame (the whole frame: x0 0 and width cols), turned by ``np.rot90(cut, turn)`` (turn 1: counter-
    clockwise, -1: clockwise, 0: upright), then upscaled by `scale`."""

    image: np.ndarray  # before upscaling
    smooth: bool  # upscaled by LANCZOS (grey readings), or NEAREST (the binary reading)
    x0: int
    turn: int
    scale: int
    #: degrees the whole frame (`frame`: its rows, cols) was rotated counter-clockwise, expanded (PIL), so
    #: that skewed text lines read level (:func:`skew`)
    angle: float = 0.0
    frame: tuple[int, int] = (0, 0)

    def to_frame(self, x: int, y: int, w: int, h: int) -> Box:
        """A box tesseract gave on the upscaled page (left, top, width, height) in frame pixels."""
        s = self.scale
        ph, pw = self.image.shape
        x0, y0, x1, y1 = x // s, y // s, min(pw, -(-(x + w) // s)), min(ph, -(-(y + h) // s))
        if self.angle:  # the box's corners turned back about the centres: their bounding box in the frame
            t = math.radians(self.angle)
            c, n = math.cos(t), math.sin(t)
            rows, cols = self.frame
            xs, ys = [], []
            for px, py in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
                dx, dy = px - pw / 2, py - ph / 2
                xs.append(cols / 2 + dx * c - dy * n)
                ys.append(rows / 2 + dx * n + dy * c)
            return (max(0, math.floor(min(xs))), max(0, math.floor(min(ys))), min(cols, math.ceil(max(xs))),
                    min(rows, math.ceil(max(ys))))
        if self.turn == 1:  # page row i is cut column (width - 1 - i), page column j is frame row j
            x0, y0, x1, y1 = ph - y1, x0, ph - y0, x1
        elif self.turn == -1:  # page row i is cut column i, page column j is frame row (rows - 1 - j)
            x0, y0, x1, y1 = y0, pw - x1, y1, pw - x0
        elif self.turn == 2:  # upside down
            x0, y0, x1, y1 = pw - x1, ph - y1, pw - x0, ph - y0
        return x0 + self.x0, y0, x1 + self.x0, y1

    def word_box(self, x: int, y: int, w: int, h: int) -> Box:
        """:meth:`to_frame`; a word read turned gets a third of its width (a glyph height) added at both
        ends, the allowance :func:`veil.pixels.redact.grow` gives an upright word's first and last glyph
        at its sides (it widens a box by a third of its height, across a standing word instead)."""
        x0, y0, x1, y1 = self.to_frame(x, y, w, h)
        if self.turn in (1, -1):
            side = (x1 - x0) // 3
            y0, y1 = max(0, y0 - side), min(self.image.shape[1], y1 + side)
        return x0, y0, x1, y1


def pages(gray: np.ndarray) -> list[Page]:
    """Every page tesseract reads for `gray`: the :func:`readings` of the whole frame, the thresholded one also
    upside down, turned both ways, and turned level when its text lines are skewed (:func:`skew`; red team
    E: text at 15-45, 90 and 180 degrees stayed legible), then the left and right :data:`EDGE` bands of the
    other readings turned upright both ways (a band of one value is not read)."""
    rows, cols = gray.shape
    s = scale_for(rows, cols)
    full = readings(gray)
    out = [Page(img, k > 0, 0, 0, s) for k, img in enumerate(full)]
    if full:  # the thresholded frame upside down and turned both ways: text written at 90 or 180 degrees
        out += [Page(np.ascontiguousarray(np.rot90(full[0], turn)), False, 0, turn, s) for turn in (2, -1, 1)]
        angle = skew(full[0])
        if angle:  # and turned level when its text lines are skewed (15, 30, 45 degrees)
            level = Image.fromarray(full[0]).rotate(angle, expand=True, fillcolor=255,
                                                    resample=Image.Resampling.NEAREST)
            out.append(Page(np.asarray(level), False, 0, 0, s, angle, (rows, cols)))
    w = round(cols * EDGE)
    if w < _EDGE_MIN:
        return out
    for k, img in enumerate(full):
        if k == 0:
            continue  # its edge bands are read in the turned whole frame
        for x0 in dict.fromkeys((0, max(0, cols - w))):
            cut = img[:, x0:x0 + w]
            if cut.min() == cut.max():
                continue
            out += [Page(np.ascontiguousarray(np.rot90(cut, turn)), k > 0, x0, turn, s) for turn in (-1, 1)]
    return out


#: Skew search: angles tried (degrees) and how much better than level the best must score.
_SKEWS = tuple(a for a in range(-45, 46, 3) if abs(a) >= 6)
_SKEW_GAIN = 1.3
_SKEW_SAMPLE = 20000


def skew(binary: np.ndarray) -> float:
    """The angle (degrees, counter-clockwise) that turns the text lines of a thresholded frame (ink 0)
    level, or 0 when they are level or there is none: the projection profile of the ink is sharpest across
    its lines (the classic deskew). Red team E: text at 15-45 degrees stayed legible and OCR read none of it."""
    ys, xs = np.nonzero(binary == 0)
    if len(xs) < 50:
        return 0.0
    if len(xs) > _SKEW_SAMPLE:
        pick = np.linspace(0, len(xs) - 1, _SKEW_SAMPLE).astype(np.intp)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float64)
    ys = ys.astype(np.float64)

    def score(deg: float) -> float:
        t = math.radians(deg)
        level = -xs * math.sin(t) + ys * math.cos(t)  # the row each ink pixel falls on, turned by deg
        counts = np.bincount(((level - level.min()) // 2).astype(np.intp))
        return float((counts.astype(np.float64) ** 2).sum())

    base = score(0.0)
    best, angle = max((score(a), a) for a in _SKEWS)  # turned by the best, the lines are level
    return float(angle) if best > _SKEW_GAIN * base else 0.0


def scale_for(rows: int, cols: int) -> int:
    """Upscale small frames so 10 px text becomes ~20 px; large frames are read as they are."""
    return 2 if max(rows, cols) <= 1400 else 1


def read_words(gray: np.ndarray, min_conf: float = 40.0) -> list[Word]:
    """Every word tesseract reads in `gray` (8-bit, light text on dark or the reverse), pooled over readings."""
    return read_many([gray], min_conf)[0]


#: Pages per tesseract run: bounds the temporary images on disk for long cine loops.
BATCH = 64


def read_many(grays: Iterable[np.ndarray], min_conf: float = 40.0) -> list[list[Word]]:
    """:func:`read_words` of each image in `grays`, from one tesseract run per :data:`BATCH` pages.

    Why: starting tesseract and loading its LSTM model costs ~0.15 s, as much as reading a 512x640 frame,
    and every frame is read as several pages (:func:`pages`). Tesseract reads a list file of images as
    the pages of one document, each page on its own (the LSTM engine keeps nothing from one page to the
    next; the tests check the words are the same as from one run per image), so one run reads every page
    of many frames. `grays` is consumed lazily: at most one batch of upscaled pages is in memory.
    """
    engine_version()
    out: list[list[Word]] = []

    def each() -> Iterator[tuple[int, int, Page, Image.Image]]:
        for i, gray in enumerate(grays):
            out.append([])
            for k, page in enumerate(pages(gray)):
                pil = Image.fromarray(page.image)
                if page.scale > 1:
                    ph, pw = page.image.shape
                    pil = pil.resize((pw * page.scale, ph * page.scale),
                                     Image.Resampling.LANCZOS if page.smooth else Image.Resampling.NEAREST)
                yield i, k, page, pil

    stream = each()
    while batch := list(itertools.islice(stream, BATCH)):
        data = _run(pil for *_, pil in batch)
        for n, text_, conf_, *geom in zip(data["page_num"], data["text"], data["conf"], data["left"], data["top"],
                                          data["width"], data["height"], data["block_num"], data["par_num"],
                                          data["line_num"], strict=True):
            i, k, page, _ = batch[int(n) - 1]
            text = str(text_).strip()
            conf = float(conf_)
            if not text or conf < min(min_conf, FLOOR) or not any(c.isalnum() for c in text):
                continue
            x, y, w, h, block, par, line = (int(v) for v in geom)
            out[i].append(Word(text, conf, page.word_box(x, y, w, h), (k, block, par, line),
                               page.turn != 0 or page.angle != 0))
    return out


def _run(pictures: Iterable[Image.Image]) -> dict[str, list[Any]]:
    """One tesseract run over `pictures` (as pages of a list file); its TSV as columns.

    Tesseract is run directly, not through pytesseract: importing pytesseract imports pandas when it is
    installed (the risk module's pycanon needs it), ~0.6 s and ~50 MB in every process that reads text.

    The pages and the list are unlinked files (``O_TMPFILE``) that tesseract opens as
    ``/proc/self/fd/N`` (inherited), and the words come back on its stdout. Why: the pages are the
    frames with their burned-in names, and the words are that text. In a named temporary folder they
    were left in ``$TMPDIR`` whenever a worker was killed mid-run (``--file-timeout``, the OOM killer, a
    crash): identifiable data outside the output, never cleaned. An unlinked file goes with its last
    descriptor, however the process ends.
    """
    from veil.pipeline.pool import children_die_with_this_process

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    with contextlib.ExitStack() as files:
        fds = []
        for pil in pictures:
            page = files.enter_context(tempfile.TemporaryFile(prefix="veil-ocr-", suffix=".png"))
            pil.save(page, format="PNG", compress_level=1)  # written and read once: speed over size
            page.flush()
            fds.append(page.fileno())
        listing = files.enter_context(tempfile.TemporaryFile(prefix="veil-ocr-", suffix=".txt"))
        listing.write("".join(f"/proc/self/fd/{fd}\n" for fd in fds).encode())
        listing.flush()
        fds.append(listing.fileno())
        cmd = ["tesseract", f"/proc/self/fd/{listing.fileno()}", "stdout", "-c", "tessedit_create_tsv=1",
               "-c", "tessedit_create_txt=0", *shlex.split(TESSERACT_CONFIG)]
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False, pass_fds=fds,
                                  preexec_fn=children_die_with_this_process())
        except OSError as exc:
            raise InputError(f"OCR failed: {type(exc).__name__}: {scrub(str(exc))}", "pixels-ocr-failed") from exc
        if done.returncode:
            said = " ".join(done.stderr.decode("utf-8", "replace").split())
            raise InputError(f"OCR failed: tesseract exited {done.returncode}: {said[:300]}", "pixels-ocr-failed")
        return tsv_columns(done.stdout.decode("utf-8", "replace"))


def tsv_columns(tsv: str) -> dict[str, list[Any]]:
    """Tesseract's TSV (level, page_num, ..., conf, text) as columns: numbers as int (conf truncated, as
    pytesseract's DICT output has it), the last column (text) as read; a last row cut before an empty
    text gets its empty cell."""
    rows = [r.split("\t") for r in tsv.strip("\n").split("\n")] if tsv.strip() else []
    if len(rows) < 2:
        return {}
    header, body = rows[0], rows[1:]
    if len(body[-1]) < len(header):
        body[-1].append("")
    out: dict[str, list[Any]] = {}
    last = len(header) - 1
    for i, name in enumerate(header):
        col: list[Any] = []
        for row in body:
            if len(row) <= i:
                continue
            if i == last:
                col.append(row[i])
            else:
                try:
                    col.append(int(float(row[i])))
                except ValueError:
                    col.append(row[i])
        out[name] = col
    return out
