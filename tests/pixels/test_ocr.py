"""OCR batching: one tesseract run over many pages reads each page exactly as a run of its own would."""

from __future__ import annotations

import numpy as np
import pytest
from tests.pixels.conftest import needs_tesseract

from veil.errors import InputError
from veil.pixels import codec, ocr, testset
from veil.pixels.clean import _display_frames

pytestmark = needs_tesseract


def _grays() -> list[np.ndarray]:
    """Frames of several kinds (grey, RGB, palette, 16-bit, cine), plus an all-black frame (no readings)."""
    out = []
    for idx in (0, 17, 34, 51, 68):
        s = testset.make(idx, True)
        out += [ocr.brightness(d) for d in _display_frames(s.ds, codec.decode(s.ds))]
    out.insert(2, np.zeros((64, 80), np.uint8))
    return out


def test_one_run_reads_every_page_as_its_own_run_does(monkeypatch):
    grays = _grays()
    alone = [ocr.read_many([g])[0] for g in grays]
    assert sum(map(len, alone)) > 20 and alone[2] == []  # the set has text to read; black reads nothing
    assert ocr.read_many(grays) == alone
    monkeypatch.setattr(ocr, "BATCH", 3)  # pages split over runs, a run boundary inside one image's readings
    assert ocr.read_many(iter(grays)) == alone
    assert ocr.read_many([]) == []


def test_an_engine_that_cannot_read_is_an_input_error_naming_the_rule(monkeypatch, tmp_path):
    ocr.engine_version()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # the real tesseract, without its language model
    with pytest.raises(InputError) as err:
        ocr.read_many([np.full((32, 32), 200, np.uint8)])
    assert err.value.rule == "pixels-ocr-failed"
