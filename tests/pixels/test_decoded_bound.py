"""The pixel pass's memory bound (pixels.max_decoded_mb): an image whose decoded frames exceed it is
quarantined with the figures before anything is decoded, never decoded into a worker that the kernel
would kill; under the bound the same image is cleaned as before."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from tests.pixels.conftest import needs_tesseract, pixel_policy

from veil.errors import PolicyError
from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.pixels import testset
from veil.pixels.hook import decoded_size
from veil.policy.model import policy_from_mapping
from veil.policy.plan import compile_plan


def _cine(path, frames: int):
    """A generated ultrasound with burned-in PHI, repeated as a multi-frame cine (uncompressed)."""
    s = testset.make(4)
    ds = s.ds
    one = ds.pixel_array
    one = one[0] if one.ndim == 3 else one
    ds.NumberOfFrames = frames
    ds.PixelData = np.repeat(one[np.newaxis], frames, axis=0).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return s


def test_decoded_size_from_the_header():
    ds = pydicom.Dataset()
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel, ds.NumberOfFrames = 480, 640, 8, 3, 100
    assert decoded_size(ds) == 480 * 640 * 3 * 100
    ds.BitsAllocated = 12  # allocated in whole bytes
    assert decoded_size(ds) == 480 * 640 * 3 * 100 * 2
    del ds.NumberOfFrames
    assert decoded_size(ds) == 480 * 640 * 3 * 2
    del ds.Rows  # the header does not say: decoding reports the problem itself
    assert decoded_size(ds) is None


def test_policy_bound_is_validated_and_the_default_keeps_the_hash():
    with pytest.raises(PolicyError, match=r"pixels\.max_decoded_mb"):
        policy_from_mapping({"name": "p", "version": "1", "pixels": {"max_decoded_mb": 0}})
    with pytest.raises(PolicyError, match=r"pixels\.max_decoded_mb"):
        policy_from_mapping({"name": "p", "version": "1", "pixels": {"max_decoded_mb": "lots"}})
    plain = policy_from_mapping({"name": "p", "version": "1", "pixels": {"redact": "phi"}})
    same = policy_from_mapping({"name": "p", "version": "1", "pixels": {"redact": "phi", "max_decoded_mb": 1024}})
    lower = policy_from_mapping({"name": "p", "version": "1", "pixels": {"redact": "phi", "max_decoded_mb": 64}})
    assert plain.content_hash() == same.content_hash() != lower.content_hash()
    assert lower.pixels.max_decoded_mb == 64


@needs_tesseract
def test_over_the_bound_is_quarantined_with_the_figures_and_under_it_is_cleaned(tmp_path):
    src = tmp_path / "in" / "cine.dcm"
    src.parent.mkdir()
    sample = _cine(src, 60)  # 60 frames of 256x320, 8 bits: 4.9 MB decoded
    before = hashlib.sha256(src.read_bytes()).hexdigest()

    out = tmp_path / "small"
    summary = run([src], out, compile_plan(pixel_policy(max_decoded_mb=4)), Keyed(b"k" * 32))
    assert summary.quarantined == 1 and summary.written == 0
    (r,) = summary.results
    assert r.rule == "pixels-too-large"
    assert "5 MB decoded (60 frame(s) of 256x320)" in r.reason and "4 MB (pixels.max_decoded_mb)" in r.reason
    assert not [p for p in out.rglob("*.dcm")]  # nothing written: the pixels still hold the PHI
    lines = [json.loads(x) for x in (out / ".veil" / "quarantine.jsonl").read_text().splitlines()]
    assert [x["rule"] for x in lines] == ["pixels-too-large"]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before

    out = tmp_path / "big"
    summary = run([src], out, compile_plan(pixel_policy(max_decoded_mb=5)), Keyed(b"k" * 32))
    assert summary.quarantined == 0, [(x.rule, x.reason) for x in summary.results]
    (r,) = summary.results
    dst = pydicom.dcmread(out / str(r.output))
    assert dst.PixelData != src.read_bytes()[-len(dst.PixelData):]
    frames = dst.pixel_array
    for x0, y0, x1, y1 in sample.phi_boxes:  # every frame blanked over the burned-in PHI
        assert (frames[:, y0:y1, x0:x1] == frames[0, y0, x0]).all()
