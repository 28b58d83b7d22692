"""Blank boxes in every frame, keeping everything else bit for bit.

Boxes get a margin (the policy's ``pixels.margin``) because OCR boxes hug the glyphs and anti-aliased
edges fall just outside. The union of every frame's boxes is applied to every frame: burned-in text of a
cine loop is static, and a word OCR missed in one noisy frame is still blanked there. The fill is the
darkest displayable value of the stored colour space (see :func:`veil.pixels.codec.fill_value`), so the
photometric interpretation, bit depth and value range of the image do not change.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from veil.pixels import spill
from veil.pixels.ocr import Box


def grow(box: Box, margin: int, rows: int, cols: int) -> Box:
    """`margin` pixels around, plus a third of the box height left and right: OCR boxes of the first and
    last glyph of a word are often a few pixels short of the ink (serifs, italics, anti-aliasing)."""
    x0, y0, x1, y1 = box
    side = margin + (y1 - y0) // 3
    return (max(0, x0 - side), max(0, y0 - margin), min(cols, x1 + side), min(rows, y1 + margin))


def merge(boxes: Iterable[Box]) -> list[Box]:
    """Boxes of one text line joined (overlapping or touching, same height band); boxes inside another
    dropped. Boxes of different lines are kept apart, so the blanked area never grows into a block."""
    out: list[Box] = []
    for b in sorted(set(boxes)):
        cur = b
        changed = True
        while changed:
            changed = False
            for i, o in enumerate(out):
                if _same_line(cur, o) or _inside(cur, o) or _inside(o, cur):
                    cur = (min(cur[0], o[0]), min(cur[1], o[1]), max(cur[2], o[2]), max(cur[3], o[3]))
                    out.pop(i)
                    changed = True
                    break
        out.append(cur)
    return sorted(out)


def _inside(a: Box, b: Box) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def _same_line(a: Box, b: Box) -> bool:
    """Same text line and at most a word space apart (one box height): one phrase, blanked as one."""
    overlap_y = min(a[3], b[3]) - max(a[1], b[1])
    height = min(a[3] - a[1], b[3] - b[1])
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return gap <= height and overlap_y >= 0.6 * height


def apply(frames: np.ndarray, boxes: Iterable[Box], fill: int | tuple[int, ...]) -> np.ndarray:
    """A copy of `frames` (frames, rows, cols[, samples]) with every box filled in every frame."""
    out = frames.copy()
    fill_in_place(out, boxes, fill)
    return out


def fill_in_place(frames: np.ndarray, boxes: Iterable[Box], fill: int | tuple[int, ...]) -> None:
    """Every box of every frame of `frames` (frames, rows, cols[, samples]) set to `fill`."""
    value = np.asarray(fill, dtype=frames.dtype) if isinstance(fill, tuple) else fill
    for x0, y0, x1, y1 in boxes:
        frames[:, y0:y1, x0:x1, ...] = value


def mask(shape: tuple[int, int], boxes: Iterable[Box]) -> np.ndarray:
    m = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        m[y0:y1, x0:x1] = True
    return m


class Blanking:
    """The boxes of one redaction round filled into `frames` in place, with the input's values kept
    for the filled area only: undone before the next round, and compared to count changed pixels.

    Why in place: a copy of the frames (what :func:`apply` makes) doubles the pass's memory on a cine,
    where the blanked area is a few percent of each frame. Pixels outside the boxes are never written.
    `spill_to`: where the kept values go when they are too many to hold (:mod:`veil.pixels.spill`).
    """

    def __init__(self, frames: np.ndarray, boxes: list[Box], fill: int | tuple[int, ...],
                 spill_to: spill.Spill | None = None) -> None:
        self.frames = frames
        self.area = mask((frames.shape[1], frames.shape[2]), boxes)
        self.kept = spill.empty((frames.shape[0], int(self.area.sum()), *frames.shape[3:]), frames.dtype, spill_to)
        for i, (frame, kept) in enumerate(zip(frames, self.kept, strict=True)):  # a frame at a time: see spill
            kept[...] = frame[self.area]  # (pixels[, samples]) of the input
            fill_in_place(frames[i:i + 1], boxes, fill)
            spill.release(frame)
            spill.release(kept)

    def undo(self) -> None:
        for frame, kept in zip(self.frames, self.kept, strict=True):
            frame[self.area] = kept
            spill.release(frame)
            spill.release(kept)

    def changed(self) -> int:
        """Pixels (all samples counted once) whose value the fill changed, over every frame (compared a
        frame at a time: the area of every frame at once is another copy of the kept values)."""
        n = 0
        for frame, kept in zip(self.frames, self.kept, strict=True):
            diff = frame[self.area] != kept
            n += int((diff.any(axis=-1) if diff.ndim == 2 else diff).sum())
            spill.release(frame)
            spill.release(kept)
        return n
