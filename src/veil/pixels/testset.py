"""A generated, answer-keyed set of burned-in-text images: the pixel pass's acceptance test data.

Made by the project, deterministically from a seed, so no real patient pixels are needed and the right
answer is known exactly: every PHI string (made-up names, IDs, dates, institutions) is rendered onto
its own layer first, and the ink's bounding box becomes the ground-truth box. Kinds, in turn:

* ``us-fan``: 8-bit MONOCHROME2 ultrasound sector with speckle, header lines on black;
* ``sc-rgb``: RGB screenshot, coloured text on a dark UI bar (Secondary Capture);
* ``cr-16``: 16-bit (12 stored) CR with corner labels, Burned In Annotation YES;
* ``us-palette``: PALETTE COLOR ultrasound with a grey+colour lookup table;
* ``us-cine``: 3-frame ultrasound, static text over moving speckle (Ultrasound Multi-frame).

Fonts: DejaVu Sans / Sans Mono / Serif / Sans Bold from Debian's ``fonts-dejavu-core`` when installed,
and Pillow's bundled default font; sizes 11 to 16 px (the issue asks for >= 10 px). Images without text
use the same kinds, so they reach the pixel pass (US, SC, BurnedInAnnotation) and must come out bit-identical.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

Box = tuple[int, int, int, int]
KINDS = ("us-fan", "sc-rgb", "cr-16", "us-palette", "us-cine")
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf")
_GIVEN = ("MARY", "JOHN", "ALICE", "ROBERT", "LINDA", "JAMES", "KAREN", "PETER", "NORA", "WALTER", "EDITH",
          "OSCAR", "HELGA", "MARTIN", "SOFIA", "VICTOR")
_FAMILY = ("QUIXWORTH", "BRAMBLEDON", "FENWICKE", "HALVERSTAM", "ORMSBY", "PELLINGHAM", "TRASKELL",
           "WINTERBOURNE", "ZELLWEGAR", "CALDERHOLT", "MERRIVALE", "ASHGROVE", "DUNMORROW", "KESTELMAN")
_SITES = ("ST BRIDGET HOSPITAL", "NORTHFIELD CLINIC", "LAKESIDE MEDICAL CTR", "RIVERBEND IMAGING")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_TECH = ("TIS 0.4  MI 1.1", "5.0MHz  G66", "DEPTH 12cm", "2D 60%  DR 58", "C5-1  ABD", "FR 24Hz")
SOP = {"us": "1.2.840.10008.5.1.4.1.1.6.1", "us-mf": "1.2.840.10008.5.1.4.1.1.3.1",
       "sc": "1.2.840.10008.5.1.4.1.1.7", "cr": "1.2.840.10008.5.1.4.1.1.1"}


@dataclass
class Sample:
    """One generated instance and its answer key."""

    ds: Dataset
    kind: str
    phi_boxes: list[Box] = field(default_factory=list)  # ink boxes of rendered PHI
    text_boxes: list[Box] = field(default_factory=list)  # every rendered string, PHI or not
    phi_text: list[str] = field(default_factory=list)  # what was rendered (to check OCR finds none after)


@cache
def fonts() -> tuple[str, ...]:
    """Font files available here (DejaVu from fonts-dejavu-core), plus '' for Pillow's bundled font."""
    return (*(str(_FONT_DIR / f) for f in _FONT_FILES if (_FONT_DIR / f).is_file()), "")


def _font(path: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


def _fmt_date(d: date, style: int) -> str:
    return (f"{d.month:02d}/{d.day:02d}/{d.year}", f"{d.day:02d}-{_MONTHS[d.month - 1]}-{d.year}",
            f"{d.year}-{d.month:02d}-{d.day:02d}", f"{d.day:02d}.{d.month:02d}.{d.year}")[style % 4]


def _ink_box(layer: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(layer)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class _Canvas:
    """A text layer (0..255 coverage) the kinds composite onto their pixels; records ink boxes."""

    def __init__(self, rows: int, cols: int, rng: random.Random) -> None:
        self.rows, self.cols, self.rng = rows, cols, rng
        self.layer = np.zeros((rows, cols), np.uint8)
        self.phi: list[Box] = []
        self.all: list[Box] = []
        self.phi_text: list[str] = []

    def text(self, xy: tuple[int, int], s: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
             phi: bool) -> int:
        img = Image.new("L", (self.cols, self.rows), 0)
        ImageDraw.Draw(img).text(xy, s, fill=255, font=font)
        arr = np.asarray(img)
        box = _ink_box(arr)
        if box is None:
            return xy[1]
        self.layer = np.maximum(self.layer, arr)
        self.all.append(box)
        if phi:
            self.phi.append(box)
            self.phi_text.append(s)
        return box[3]

    def right(self, y: int, s: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, phi: bool) -> int:
        """Right-aligned at the right edge (4 px in)."""
        x0, _y0, x1, _y1 = font.getbbox(s)
        return self.text((max(0, self.cols - 4 - int(x1 - x0) - int(x0)), y), s, font, phi)


def _header(ds: Dataset, rng: random.Random, idx: int) -> dict[str, str]:
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    birth = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 80 * 365))
    study = date(2015, 1, 1) + timedelta(days=rng.randrange(0, 9 * 365))
    pid = str(rng.randrange(10**6, 10**9))
    site = rng.choice(_SITES)
    ds.PatientName = f"{family}^{given}"
    ds.PatientID = pid
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.PatientSex = rng.choice("MF")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.strftime("%Y%m%d")
    ds.StudyTime = "101500"
    ds.InstitutionName = site
    ds.AccessionNumber = f"A{rng.randrange(10**5, 10**6)}"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"veil-testset-study-{idx}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"veil-testset-series-{idx}"])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[f"veil-testset-instance-{idx}"])
    ds.Manufacturer = "VEIL TESTSET"
    style = rng.randrange(4)
    names = (f"{family}, {given}", f"{family}^{given}", f"{given} {family}", f"{family} {given[0]}")
    return {"name": rng.choice(names),
            "id": rng.choice((pid, f"ID {pid}", f"MRN {pid}")),
            "dob": f"DOB {_fmt_date(birth, style)}", "date": _fmt_date(study, style + 1), "site": site}


def _speckle(rng: np.random.Generator, rows: int, cols: int, top: int = 200) -> np.ndarray:
    base = rng.gamma(1.2, 30.0, (rows, cols))
    return np.clip(base, 0, top).astype(np.float64)


def _fan(rows: int, cols: int) -> np.ndarray:
    yy, xx = np.mgrid[0:rows, 0:cols]
    cx, cy = cols / 2, rows * 0.12
    ang = np.degrees(np.arctan2(xx - cx, yy - cy + 1e-9))
    rad = np.hypot(xx - cx, yy - cy)
    return (np.abs(ang) < 38) & (rad > rows * 0.08) & (rad < rows * 0.85)


def make(idx: int, with_text: bool = True, seed: int = 7) -> Sample:
    """The idx-th sample (deterministic). Kind cycles through KINDS."""
    kind = KINDS[idx % len(KINDS)]
    rng = random.Random(seed * 100003 + idx * 2 + int(with_text))
    nrng = np.random.default_rng(seed * 100003 + idx * 2 + int(with_text))
    rows, cols = (256, 320) if kind != "cr-16" else (320, 288)
    ds = Dataset()
    values = _header(ds, rng, idx * 2 + int(with_text))
    canvas = _Canvas(rows, cols, rng)
    fpath = fonts()[rng.randrange(len(fonts()))]
    size = rng.choice((11, 12, 13, 14, 16))
    font = _font(fpath, size)
    if with_text:
        _lay_out(kind, canvas, values, font, rng)
    frames = 3 if kind == "us-cine" else 1
    layer = canvas.layer.astype(np.float64) / 255.0
    if kind in ("us-fan", "us-palette", "us-cine"):
        fan = _fan(rows, cols)
        imgs = []
        for _ in range(frames):
            img = np.where(fan, _speckle(nrng, rows, cols), 0.0)
            imgs.append(np.maximum(img, layer * 255))
        arr = np.stack(imgs).round().astype(np.uint8)
        if kind == "us-palette":
            _set_palette(ds)
            arr = (arr // 2).astype(np.uint8)  # indices 0..127 grey; text (255 // 2 = 127) is white
            ds.PhotometricInterpretation = "PALETTE COLOR"
        else:
            ds.PhotometricInterpretation = "MONOCHROME2"
        _common(ds, "US", SOP["us-mf" if frames > 1 else "us"], 8, 8, 1)
    elif kind == "sc-rgb":
        bg = np.zeros((rows, cols, 3), np.float64)
        bg[:, :] = (28, 30, 36)
        bg[40:rows - 30, 20:cols - 20] = np.stack([_speckle(nrng, rows - 70, cols - 40, 160)] * 3, axis=-1)
        color = np.array(rng.choice(((255, 255, 255), (255, 230, 60), (90, 255, 120), (120, 200, 255))), np.float64)
        img = bg * (1 - layer[..., None]) + color * layer[..., None]
        arr = img.round().astype(np.uint8)[np.newaxis]
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.ConversionType = "WSD"
        _common(ds, "SC", SOP["sc"], 8, 8, 3)
    else:  # cr-16
        yy, xx = np.mgrid[0:rows, 0:cols]
        body = 1500 + 1200 * np.exp(-(((xx - cols / 2) / (cols / 3)) ** 2 + ((yy - rows / 2) / (rows / 2.2)) ** 2))
        img = body + nrng.normal(0, 60, (rows, cols))
        img = np.where(layer > 0, img * (1 - layer) + 4095 * layer, img)
        arr = np.clip(img, 0, 4095).round().astype(np.uint16)[np.newaxis]
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BurnedInAnnotation = "YES" if with_text else "NO"
        _common(ds, "CR", SOP["cr"], 16, 12, 1)
        if not with_text:
            ds.Modality = "CR"
    ds.Rows, ds.Columns = rows, cols
    if frames > 1:
        ds.NumberOfFrames = frames
    data = arr.tobytes() if frames > 1 else arr[0].tobytes()
    ds.PixelData = data + (b"\x00" if len(data) % 2 else b"")
    ds["PixelData"].VR = "OW" if ds.BitsAllocated == 16 else "OB"
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta = meta
    ds.set_original_encoding(False, True)
    return Sample(ds, kind, canvas.phi, canvas.all, canvas.phi_text)


def _lay_out(kind: str, c: _Canvas, v: dict[str, str], font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
             rng: random.Random) -> None:
    gap = 4
    if kind == "cr-16":
        y = c.text((6, 4), v["name"], font, True) + gap
        y = c.text((6, y), v["id"], font, True) + gap
        c.text((6, y), v["dob"], font, True)
        c.text((6, c.rows - 24), v["date"], font, True)
        c.text((6, c.rows - 48), v["site"], font, True)
        c.right(c.rows - 24, "L  PA", font, False)
        return
    y = c.text((4, 3), v["name"], font, True) + gap
    right = c.right(3, v["date"], font, True) + gap
    y = c.text((4, y), v["id"], font, True) + gap
    if rng.random() < 0.6:
        c.right(right, v["dob"], font, True)
    if kind == "sc-rgb":
        c.text((4, c.rows - 22), v["site"], font, True)
    else:
        c.right(c.rows - 22, rng.choice(_TECH), font, False)


def _set_palette(ds: Dataset) -> None:
    """8-bit palette: 0..127 grey ramp, 128..255 a red-yellow colour-flow ramp (PS3.3 C.7.6.3.1.5)."""
    grey = np.linspace(0, 65535, 128).astype(np.uint16)
    warm = np.linspace(0, 65535, 128).astype(np.uint16)
    red = np.concatenate([grey, np.full(128, 65535, np.uint16)])
    green = np.concatenate([grey, warm])
    blue = np.concatenate([grey, np.zeros(128, np.uint16)])
    for color, lut in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{color}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{color}PaletteColorLookupTableData", lut.astype("<u2").tobytes())


def _common(ds: Dataset, modality: str, sop: str, bits: int, stored: int, spp: int) -> None:
    ds.Modality = modality
    ds.SOPClassUID = sop
    ds.SamplesPerPixel = spp
    ds.BitsAllocated = bits
    ds.BitsStored = stored
    ds.HighBit = stored - 1
    ds.PixelRepresentation = 0


def generate(n_text: int = 200, n_plain: int = 50, seed: int = 7) -> list[Sample]:
    """`n_text` images with PHI text and `n_plain` without, in a fixed order."""
    return [make(i, True, seed) for i in range(n_text)] + [make(i, False, seed) for i in range(n_plain)]


def write(folder: Path, n_text: int = 200, n_plain: int = 50, seed: int = 7) -> list[tuple[Path, Sample]]:
    """Write the set as DICOM files (``text-0000.dcm``, ``plain-0000.dcm``); returns (path, sample)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s_idx, s in enumerate(generate(n_text, n_plain, seed)):
        name = f"text-{s_idx:04d}.dcm" if s_idx < n_text else f"plain-{s_idx - n_text:04d}.dcm"
        path = folder / name
        s.ds.save_as(path, enforce_file_format=True)
        out.append((path, s))
    return out
