"""The issue's acceptance on the generated set (veil.pixels.testset): >= 99 % of PHI boxes fully covered,
< 1 % of pixels changed outside the recorded boxes, images without text bit-identical.

The fast test reads a fixed subsample; the slow one reads all 200 text + 50 plain images (two processes).
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
from tests.pixels.conftest import needs_tesseract, pixel_policy

from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.pixels import codec, redact, testset
from veil.pixels.clean import clean_pixels
from veil.policy.plan import compile_plan

pytestmark = needs_tesseract


def evaluate(item: tuple[int, bool]) -> dict[str, object]:
    """Run the pass on one generated sample and score it against its answer key."""
    idx, with_text = item
    s = testset.make(idx, with_text)
    before = codec.decode(s.ds).frames  # a decode of its own: the pass redacts its frames in place
    report, px, new = clean_pixels(s.ds, pixel_policy(ocr="all"))
    assert px is not None
    n, rows, cols = px.frames.shape[:3]
    m = redact.mask((rows, cols), [r.box for r in report.regions])
    covered = [bool(m[y0:y1, x0:x1].all()) for x0, y0, x1, y1 in s.phi_boxes]
    out = new if new is not None else px.frames
    changed = out != before
    if changed.ndim == 4:
        changed = changed.any(axis=-1)
    return {"idx": idx, "text": with_text, "kind": s.kind, "status": report.status, "covered": covered,
            "missed": [t for t, c in zip(s.phi_text, covered, strict=True) if not c],
            "outside": int(changed[:, ~m].sum()), "outside_total": int((~m).sum()) * n,
            "changed": int(changed.sum()), "verified": report.verified}


def _check(results: list[dict[str, object]], min_coverage: float) -> dict[str, float]:
    covered = [c for r in results for c in r["covered"]]  # type: ignore[attr-defined]
    coverage = sum(covered) / len(covered)
    outside = sum(int(r["outside"]) for r in results) / sum(int(r["outside_total"]) for r in results)  # type: ignore[call-overload]
    plain = [r for r in results if not r["text"]]
    misses = [(r["idx"], r["missed"]) for r in results if r["missed"]]
    assert coverage >= min_coverage, f"PHI boxes covered {coverage:.3%}; missed {misses}"
    assert outside < 0.01, f"{outside:.3%} of pixels changed outside the recorded boxes"
    assert all(r["status"] == "unchanged" and r["changed"] == 0 for r in plain), [
        (r["idx"], r["kind"]) for r in plain if r["status"] != "unchanged"]
    assert all(r["status"] == "redacted" and r["verified"] for r in results if r["text"])
    return {"coverage": coverage, "outside": outside}


def test_subsample_every_kind():
    items = [(i, True) for i in range(0, 200, 9)] + [(i, False) for i in range(0, 50, 7)]
    results = [evaluate(it) for it in items]
    assert {r["kind"] for r in results} == set(testset.KINDS)
    _check(results, 0.97)


@pytest.mark.slow
def test_whole_generated_set(tmp_path):
    items = [(i, True) for i in range(200)] + [(i, False) for i in range(50)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(evaluate, items, chunksize=8))
    figures = _check(results, 0.99)
    (tmp_path / "figures.json").write_text(json.dumps(figures))


def test_set_shape():
    samples = testset.generate(200, 50)
    assert len(samples) == 250
    text = samples[:200]
    assert all(s.phi_boxes for s in text) and not any(s.phi_boxes for s in samples[200:])
    kinds = {s.kind for s in text}
    assert kinds == set(testset.KINDS)
    shapes = {(str(s.ds.PhotometricInterpretation), int(s.ds.BitsAllocated), int(s.ds.get("NumberOfFrames", 1)))
              for s in text}
    assert {("MONOCHROME2", 8, 1), ("RGB", 8, 1), ("MONOCHROME2", 16, 1), ("PALETTE COLOR", 8, 1),
            ("MONOCHROME2", 8, 3)} <= shapes
    heights = [b[3] - b[1] for s in text for b in s.phi_boxes]
    assert min(heights) >= 7  # glyph ink of >= 10 px fonts
    assert len(testset.fonts()) >= 2


def test_pipeline_keeps_plain_images_bit_identical_and_redacts_text(tmp_path):
    written = testset.write(tmp_path / "in", n_text=5, n_plain=5)
    out = tmp_path / "out"
    summary = run([p for p, _ in written], out, compile_plan(pixel_policy()), Keyed(b"k" * 32))
    assert summary.quarantined == 0, [(r.source, r.reason) for r in summary.results if r.status != "ok"]
    by_src = {r.source: r for r in summary.results}
    for path, sample in written:
        res = by_src[str(path)]
        src = pydicom.dcmread(path)
        dst = pydicom.dcmread(out / str(res.output))
        assert dst.file_meta.TransferSyntaxUID == src.file_meta.TransferSyntaxUID
        if not sample.phi_boxes:
            assert dst.PixelData == src.PixelData  # no text: the bytes are streamed, never decoded
            continue
        assert dst.PixelData != src.PixelData
        a, b = codec.decode(src).frames, codec.decode(dst).frames  # frames-first, any photometric
        for x0, y0, x1, y1 in sample.phi_boxes:
            assert (b[:, y0:y1, x0:x1] == b[0, y0, x0]).all()  # one fill value over the whole PHI box
        assert np.mean(a != b) < 0.25
        if "BurnedInAnnotation" in src:
            assert dst.BurnedInAnnotation == "NO"  # set only after the verification pass
        assert ("7FE00010", "C") in {(t, act) for t, act, _r, _n in res.fired}
    records = list((out / ".veil" / "pixels").glob("*.json"))
    assert len(records) == 5
    everything = b"".join(p.read_bytes() for p in records)
    for _path, sample in written:
        for text in sample.phi_text:  # records hold boxes and reasons, never what was read
            assert text.encode() not in everything
        assert str(sample.ds.PatientName).encode() not in everything


def test_rendered_phi_is_gone_from_output_pixels(tmp_path):
    """After Veil, OCR of the output finds none of the rendered PHI (the verification, independently)."""
    from veil.pixels import codec, match, ocr
    from veil.pixels.clean import _display_frames

    written = testset.write(tmp_path / "in", n_text=5, n_plain=0, seed=11)
    out = tmp_path / "out"
    summary = run([p for p, _ in written], out, compile_plan(pixel_policy(redact="phi")), Keyed(b"k" * 32))
    for (path, _sample), res in zip(written, summary.results, strict=True):
        assert res.status == "ok", res.reason
        ids = match.collect(pydicom.dcmread(path))
        ds = pydicom.dcmread(out / str(res.output))
        px = codec.decode(ds)
        for words in ocr.read_many((ocr.brightness(frame) for frame in _display_frames(ds, px)), 40):
            assert not [w.text for w in words if match.word_label(w.text, ids)], path.name


def test_figures_file_is_json_serialisable(tmp_path):
    r = evaluate((0, True))
    json.dumps(r)
    assert r["status"] == "redacted" and all(r["covered"])  # type: ignore[arg-type]
    Path(tmp_path / "r.json").write_text(json.dumps(r))
