"""Burned-in text the plain readings missed (red-team repro_burned_text_inverted_vertical.py): dark text on
a light label box (a patient banner) in a dark ultrasound image, and text turned 90 or 270 degrees along
the left or right edge.

After the pixel pass, tesseract shown the text's area the way it reads best (cut out, turned upright
both ways, both polarities) no longer reads the name; shown the input the same way, it does. The
anatomy in the middle of the image is bit-identical. The page geometry (turned edge bands mapped back
to frame pixels, standing words blanked in pieces) is checked without OCR.
"""

from __future__ import annotations

import io
import itertools
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from tests.pixels.conftest import needs_tesseract, pixel_policy

from veil.pixels import match, ocr, testset
from veil.pixels.clean import clean_pixels, legible_words

ROWS, COLS = 480, 640
NAME = "QUIMBY HAROLD"
CENTRE = (slice(120, 360), slice(160, 480))  # anatomy: no text is planted here, nothing may change


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The generated set's fonts (DejaVu Sans Bold when installed, else the first there is)."""
    fonts = testset.fonts()
    return testset._font(next((f for f in fonts if f.endswith("DejaVuSans-Bold.ttf")), fonts[0]), size)


def _anatomy(light: bool = False) -> np.ndarray:
    """A smooth organ with mild speckle, dark around it (or the negative: a light image)."""
    yy, xx = np.mgrid[:ROWS, :COLS]
    organ = 140 * np.exp(-(((yy - 240) / 120) ** 2 + ((xx - 320) / 160) ** 2))
    noise = np.random.default_rng(5).normal(0, 5, (ROWS, COLS))
    arr = np.clip(organ + noise, 0, 255).astype(np.uint8)
    return (255 - arr).astype(np.uint8) if light else arr


def _dataset(arr: np.ndarray) -> Dataset:
    """An 8-bit MONOCHROME2 ultrasound image, Burned In Annotation absent (Type 3, commonly missing)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "QUIMBY^HAROLD"
    ds.PatientID = "MRN4471932"
    ds.Modality = "US"
    ds.StudyDate = "20230314"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    ds.set_original_encoding(False, True)
    return ds


def _reads_name(area: np.ndarray, turns: tuple[int, ...]) -> list[str]:
    """Words matching the patient's name that tesseract reads in `area` (8-bit), cut out and shown each
    way in `turns` (np.rot90), dark on light and light on dark, upscaled x2."""
    ids = match.collect(_dataset(np.zeros((2, 2), np.uint8)))
    found = []
    for turn in turns:
        upright = np.ascontiguousarray(np.rot90(area, turn))
        for img in (upright, 255 - upright):
            pil = Image.fromarray(img.astype(np.uint8))
            pil = pil.resize((pil.width * 2, pil.height * 2), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            pil.save(buf, format="PNG")
            done = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "6"], input=buf.getvalue(),
                                  capture_output=True, check=True)
            found += [w for w in done.stdout.decode("utf-8", "replace").split() if match.word_label(w, ids) == "name"]
    return found


def _clean(arr: np.ndarray) -> np.ndarray:
    """The pixel pass on an image of `arr` (PHI only is blanked: the name must be recognised as such);
    the output frame."""
    report, _px, out = clean_pixels(_dataset(arr), pixel_policy(redact="phi"))
    assert report.status == "redacted" and report.verified, (report.status, report.reason)
    assert any(r.source.startswith("ocr:") and "name" in r.source for r in report.regions), report.regions
    assert out is not None
    return np.asarray(out[0])


@needs_tesseract
def test_dark_text_on_a_light_label_box_in_a_dark_image_is_blanked():
    arr = _anatomy()
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 400, 400, 470], fill=230)  # the repro's banner, at the left edge
    draw.text((10, 420), NAME, font=_font(20), fill=20)
    before = np.asarray(img).copy()
    banner = (slice(395, 475), slice(0, 405))
    assert _reads_name(before[banner], (0,)), "the planted name should be legible before the pass"
    after = _clean(before.copy())
    assert _reads_name(after[banner], (0,)) == []
    assert np.array_equal(after[CENTRE], before[CENTRE])


@needs_tesseract
@pytest.mark.parametrize(("angle", "side"), [(90, "left"), (90, "right"), (270, "left"), (270, "right")])
def test_text_turned_along_an_edge_is_blanked(angle, side):
    """PIL's rotate turns counter-clockwise: 90 reads bottom to top, 270 top to bottom."""
    layer = Image.new("L", (300, 26), 0)
    ImageDraw.Draw(layer).text((2, 1), NAME, font=_font(20), fill=255)
    standing = np.asarray(layer.rotate(angle, expand=True))  # 300 rows, 26 columns
    h, w = standing.shape
    x = 8 if side == "left" else COLS - 8 - w
    before = _anatomy()
    before[60:60 + h, x:x + w] = np.maximum(before[60:60 + h, x:x + w], standing)
    band = (slice(40, 380), slice(max(0, x - 10), min(COLS, x + w + 10)))
    assert _reads_name(before[band], (1, -1)), "the planted name should be legible before the pass"
    after = _clean(before.copy())
    assert _reads_name(after[band], (1, -1)) == []
    assert np.array_equal(after[CENTRE], before[CENTRE])
    changed = np.nonzero((after != before).any(axis=0))[0]
    assert changed.min() >= x - 16 and changed.max() < x + w + 16  # blanked along the label, not beside it


@pytest.mark.parametrize("turn", [1, -1])
def test_a_turned_edge_band_maps_back_to_frame_pixels(turn):
    """A box on a turned, upscaled edge band comes back as the same pixels of the frame."""
    rows, cols, x0, width, s = 50, 90, 70, 20, 2
    frame = np.zeros((rows, cols), np.uint8)
    frame[7:31, 74:83] = 255  # a mark in the right band
    page = ocr.Page(np.ascontiguousarray(np.rot90(frame[:, x0:x0 + width], turn)), False, x0, turn, s)
    big = np.repeat(np.repeat(page.image, s, axis=0), s, axis=1)
    ys, xs = np.nonzero(big)
    box = page.to_frame(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    assert box == (74, 7, 83, 31)
    assert ocr.Page(frame, False, 0, 0, 1).to_frame(74, 7, 9, 24) == (74, 7, 83, 31)  # upright: as it is


def test_a_standing_word_is_blanked_in_square_pieces_and_gets_its_end_allowance():
    """redact.grow widens a box by a third of its height: a standing word's box in one piece was widened by
    a third of its length. In pieces as tall as the word is wide, the blanked area hugs the label."""
    page = ocr.Page(np.zeros((24, 200), np.uint8), True, 600, -1, 1)  # the right band of a 200-row frame
    box = page.word_box(40, 2, 90, 18)  # a 90 px word, glyphs 18 px high
    assert box == (602, 64, 620, 166)  # 18 // 3 = 6 px more at both ends
    word = ocr.Word("QUIMBY", 96.0, box, (3, 1, 1, 1), turned=True)
    parts = ocr.pieces(word)
    assert len(parts) == 6 and all(p[0] == 602 and p[2] == 620 for p in parts)
    assert parts[0][1] == 64 and parts[-1][3] == 166
    assert all(a[3] == b[1] for a, b in itertools.pairwise(parts))  # contiguous, no gap
    assert ocr.pieces(ocr.Word("DOE", 90.0, (5, 5, 60, 20), (0, 1, 1, 1))) == [(5, 5, 60, 20)]  # upright: whole


def test_label_boxes_page_holds_the_box_alone_dark_on_white():
    """The box page: the box of the polarity the inverted reading misses, alone, its text dark on white."""
    arr = _anatomy()
    arr[400:470, 0:400] = 230
    arr[420:440, 20:200:4] = 20  # glyph-like dark strokes on the box
    page = ocr.label_boxes(arr, dark_text=True)
    assert page is not None
    assert (page[:390] == 255).all() and (page[:, 410:] == 255).all()  # the image around it blank
    assert page[410, 300] == 255 and page[430, 20] == 0  # the fill white, the text black
    assert ocr.label_boxes(arr, dark_text=False) is None  # no light text on a dark fill here
    assert len(ocr.readings(arr)) == 3
    light = _anatomy(light=True)  # a light image: a dark box with light text is the one to show
    light[20:60, 20:300] = 10
    light[30:50, 30:200:4] = 250
    page = ocr.label_boxes(light, dark_text=False)
    assert page is not None and page[25, 250] == 255 and page[40, 30] == 0 and (page[70:] == 255).all()
    assert ocr.label_boxes(_anatomy(), dark_text=True) is None  # no box: no page
    assert len(ocr.readings(_anatomy())) == 2


def test_a_turned_word_is_taken_for_text_only_when_read_surely():
    """Turned edge bands hold upright text read sideways and speckle, read as short words with fair
    confidence: under redact all-text they blanked image at the edges. A turned word is legible text only
    read with TURNED_CONFIDENCE and TURNED_MIN_CHARS letters; PHI is blanked whatever it reads."""
    layer = Image.new("L", (120, 26), 0)
    ImageDraw.Draw(layer).text((2, 1), "HAROLD", font=_font(20), fill=255)
    gray = np.zeros((200, 60), np.uint8)
    gray[40:160, 20:46] = np.asarray(layer.rotate(90, expand=True))
    box = (20, 40, 46, 160)
    words = [ocr.Word("HAROLD", 96.0, box, (2, 1, 1, 1), turned=True),
             ocr.Word("al", 88.0, box, (2, 1, 1, 2), turned=True),
             ocr.Word("oat", 75.0, box, (2, 1, 1, 3), turned=True),
             ocr.Word("oat", 75.0, box, (0, 1, 1, 3))]  # upright: the plain rule
    assert [ok for _w, ok in legible_words(gray, words)] == [True, False, False, True]


@needs_tesseract
@pytest.mark.parametrize("angle", [30, 90, 180, -20])
def test_rotated_text_is_read_and_blanked(angle):
    """Red team E: the name written at 15-45 degrees, at 90 mid-image or upside down stayed legible (OCR read
    only upright text and standing text in the edge bands). The thresholded frame is now also read turned
    both ways, upside down, and turned level when its text lines are skewed (ocr.skew)."""
    arr = _anatomy()
    layer = Image.new("L", (300, 40), 0)
    ImageDraw.Draw(layer).text((4, 4), NAME, font=_font(24), fill=255)
    turned = layer.rotate(angle, expand=True, fillcolor=0)
    y, x = 60, 40
    h, w = turned.height, turned.width
    area = arr[y:y + h, x:x + w]
    arr[y:y + h, x:x + w] = np.maximum(area, np.asarray(turned))
    out = _clean(arr)
    left = np.asarray(turned) > 128
    kept = (out[y:y + h, x:x + w] > 200) & left
    assert kept.sum() < 0.05 * left.sum(), (angle, int(kept.sum()), int(left.sum()))


@needs_tesseract
@pytest.mark.parametrize(("text", "ground"), [((255, 0, 0), (0, 200, 0)), ((0, 0, 255), (255, 255, 0))])
def test_coloured_text_on_a_coloured_ground_is_read(text, ground):
    """Red team E: red on green and blue on yellow were invisible to OCR (the brightest channel is the same
    for text and ground). ocr.brightness shows such frames by colour distance from the ground."""
    rgb = np.zeros((ROWS, COLS, 3), np.uint8)
    rgb[:] = ground
    img = Image.fromarray(rgb)
    ImageDraw.Draw(img).text((40, 40), NAME, font=_font(24), fill=text)
    gray = ocr.brightness(np.asarray(img))
    ids = match.collect(_dataset(np.zeros((2, 2), np.uint8)))
    words = ocr.read_words(gray)
    assert any(match.word_label(w.text, ids) == "name" for w in words), [w.text for w in words]
    # a grey image with white text keeps its brightest channel
    grey = np.repeat(_anatomy()[:, :, None], 3, axis=2)
    assert np.array_equal(ocr.brightness(grey), grey.max(axis=2))
