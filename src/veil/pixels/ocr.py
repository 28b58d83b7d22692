"""Read burned-in text with tesseract, after preprocessing that makes medical overlays legible to it.

Tesseract is trained on dark print on light paper; burned-in annotations are light (white, grey, yellow,
green) text on a dark, noisy image. Each frame is therefore (1) brought to 8-bit display values - a
window from the 0.5th percentile to the maximum for monochrome (MONOCHROME1 inverted, PS3.3 C.7.6.3.1.2),
the palette applied for PALETTE COLOR, the brightest channel for colour so coloured text is as bright as
white text - (2) upscaled so 10 px glyphs reach the ~20 px tesseract reads best, and (3) read twice:
thresholded at 55 % of the maximum (annotation is the brightest thing in the frame, speckle mostly is
not) and as an inverted grey image (tesseract's own Otsu binarisation, for grey text on grey bars).
Words from both readings are pooled; boxes are returned in the frame's own pixel coordinates.

Page segmentation mode 11 (sparse text) suits overlays: short words scattered over the frame, no
paragraphs. Nothing is downloaded: the engine and its English model come from Debian's
``tesseract-ocr`` and ``tesseract-ocr-eng`` packages.
"""

from __future__ import annotations

import contextlib
import itertools
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

from veil.errors import InputError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (end-exclusive), in frame pixels

#: Tesseract settings: LSTM engine, sparse text. OMP_THREAD_LIMIT=1: Veil parallelises by process already.
TESSERACT_CONFIG = "--oem 1 --psm 11 -c tessedit_do_invert=0"  # Veil inverts itself (see readings())
_THRESHOLD = 0.55
#: Words are kept down to this confidence: a doubtful word next to a name is blanked with its line.
FLOOR = 0.0


@dataclass(frozen=True)
class Word:
    """One word OCR read: its text, confidence (0-100), box, and the line it belongs to."""

    text: str
    conf: float
    box: Box
    line: tuple[int, int, int, int]  # (reading, block, paragraph, line): words of one line share it


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
    """Grey image where coloured text is as bright as white text: the brightest channel."""
    return display.max(axis=2) if display.ndim == 3 else display


def readings(gray: np.ndarray) -> list[np.ndarray]:
    """The images tesseract reads: dark text on white, thresholded (without lone speckle dots) and plain."""
    top = int(gray.max())
    if top == 0:
        return []
    bright = gray >= _THRESHOLD * top
    p = np.pad(bright, 1)
    alone = ~(p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:])
    binary = np.where(bright & ~alone, 0, 255).astype(np.uint8)  # isolated bright dots (speckle) dropped
    inverted = (255 - gray) if gray.mean() < 128 else gray
    return [binary, inverted.astype(np.uint8)]


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
    and every frame is read twice. Tesseract reads a list file of images as the pages of one document,
    each page on its own (the LSTM engine keeps nothing from one page to the next; the tests check the
    words are the same as from one run per image), so one run reads every reading of many frames.
    `grays` is consumed lazily: at most one batch of upscaled readings is in memory.
    """
    engine_version()
    out: list[list[Word]] = []

    def pages() -> Iterator[tuple[int, int, int, tuple[int, int], Image.Image]]:
        for i, gray in enumerate(grays):
            out.append([])
            rows, cols = gray.shape
            s = scale_for(rows, cols)
            for k, img in enumerate(readings(gray)):
                pil = Image.fromarray(img)
                if s > 1:
                    pil = pil.resize((cols * s, rows * s),
                                     Image.Resampling.LANCZOS if k else Image.Resampling.NEAREST)
                yield i, k, s, (rows, cols), pil

    stream = pages()
    while batch := list(itertools.islice(stream, BATCH)):
        data = _run(pil for *_, pil in batch)
        for n, text_, conf_, *geom in zip(data["page_num"], data["text"], data["conf"], data["left"], data["top"],
                                          data["width"], data["height"], data["block_num"], data["par_num"],
                                          data["line_num"], strict=True):
            i, k, s, (rows, cols), _ = batch[int(n) - 1]
            text = str(text_).strip()
            conf = float(conf_)
            if not text or conf < min(min_conf, FLOOR) or not any(c.isalnum() for c in text):
                continue
            x, y, w, h, block, par, line = (int(v) for v in geom)
            box = (x // s, y // s, min(cols, -(-(x + w) // s)), min(rows, -(-(y + h) // s)))
            out[i].append(Word(text, conf, box, (k, block, par, line)))
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
            raise InputError(f"OCR failed: {type(exc).__name__}: {exc}", "pixels-ocr-failed") from exc
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
