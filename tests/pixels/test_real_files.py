"""Real files: pydicom's examples_overlay.dcm, and the burned-in ultrasound of the deid-data and
pydicom-data packages (where they install). After Veil, OCR finds no patient name, ID, date or
institution in them."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from tests.pixels.conftest import needs_tesseract, pixel_policy

from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.pixels import codec, match, ocr
from veil.pixels.clean import _display_frames
from veil.policy.plan import compile_plan

pytestmark = needs_tesseract


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


DEID = _package_dir("deid_data")
STORE = _package_dir("data_store")
REAL = [("deid", "ultrasounds/GREYSCALE_IMAGE.dcm"), ("deid", "ultrasounds/RGB_IMAGE.dcm"),
        ("store", "US1_UNCR.dcm"), ("store", "US1_J2KR.dcm"), ("store", "US1_J2KI.dcm"),
        ("store", "gdcm-US-ALOKA-16.dcm")]


def _real(where: str, rel: str) -> Path:
    base = DEID if where == "deid" else STORE
    if base is None or not (base / rel).is_file():
        pytest.skip(f"{'deid-data' if where == 'deid' else 'pydicom-data'} is not installed")
    return base / rel


def _phi_left(src: Path, out: Path, frames: int | None = None) -> list[tuple[str, str]]:
    """(label, word) of every word OCR reads in `out` that matches the patient data of `src`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = match.collect(pydicom.dcmread(src))
        ds = pydicom.dcmread(out)
    px = codec.decode(ds)
    if frames is not None:
        px = codec.Pixels(px.frames[:frames], px.photometric, px.transfer_syntax)
    found = []
    for words in ocr.read_many((ocr.brightness(frame) for frame in _display_frames(ds, px)), 40):
        for w in words:
            lab = match.word_label(w.text, ids)
            if lab:
                found.append((lab, w.text))
    return found


@pytest.mark.parametrize(("where", "rel"), REAL, ids=[r for _w, r in REAL])
def test_burned_in_ultrasound_is_clean_after_veil(tmp_path, where, rel):
    src = _real(where, rel)
    if "ALOKA" not in rel:  # ALOKA's header bar (grey on grey) is the starter rule's job, OCR reads little
        assert _phi_left(src, src), "the test file should show PHI before Veil"
    summary = run([src], tmp_path / "out", compile_plan(pixel_policy()), Keyed(b"r" * 32))
    (res,) = summary.results
    assert res.status == "ok", res.reason
    out = tmp_path / "out" / str(res.output)
    assert _phi_left(src, out) == []
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID in (*codec.NATIVE, *codec.LOSSLESS_OUTPUTS)
    if "BurnedInAnnotation" in ds:
        assert ds.BurnedInAnnotation == "NO"
    if "ALOKA" in rel:  # rule aloka-ssd-us-640x480-header blanks the institution/name/date bar
        assert (ds.pixel_array[:26] == ds.pixel_array[0, 0]).all()


@pytest.mark.slow
def test_multiframe_ultrasound_every_frame_is_read(tmp_path):
    src = _real("deid", "ultrasounds/ultrasound-multiframe.dcm")
    summary = run([src], tmp_path / "out", compile_plan(pixel_policy()), Keyed(b"r" * 32))
    (res,) = summary.results
    assert res.status == "ok", res.reason
    out = tmp_path / "out" / str(res.output)
    ds = pydicom.dcmread(out)
    assert int(ds.NumberOfFrames) == 30 and ds.BurnedInAnnotation == "NO"
    assert _phi_left(src, out, frames=3) == []


def test_examples_overlay_default_removes_and_clean_keeps_a_cleaned_plane(tmp_path):
    src = Path(get_testdata_file("examples_overlay.dcm"))
    removed = run([src], tmp_path / "a", compile_plan(pixel_policy()), Keyed(b"r" * 32)).results[0]
    ds = pydicom.dcmread(tmp_path / "a" / str(removed.output))
    assert not [t for t in ds.keys() if t >> 16 == 0x6000]  # noqa: SIM118
    assert pydicom.dcmread(src).PixelData == ds.PixelData  # MR: no pixel pass, bytes streamed
    kept = run([src], tmp_path / "b", compile_plan(pixel_policy(overlays="clean")), Keyed(b"r" * 32)).results[0]
    assert kept.status == "ok", kept.reason
    ds = pydicom.dcmread(tmp_path / "b" / str(kept.output))
    orig = pydicom.dcmread(src).overlay_array(0x6000)
    cleaned = ds.overlay_array(0x6000)
    assert cleaned.shape == orig.shape and 0 < cleaned.sum() < orig.sum()  # ROI outline kept, the text blanked
    words = ocr.read_words((cleaned * 255).astype("uint8"), 60)
    assert not [w.text for w in words if len(w.text) >= 3], words
    assert ("60003000", "C", "pixels:overlay-cleaned", 1) in kept.fired
