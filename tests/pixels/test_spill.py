"""Decoded frames too big to hold go to an unlinked spill file (veil.pixels.spill): the worker's resident
memory stays flat whatever the image's size, nothing is ever visible in the output folder, and what is
written is byte for byte what the in-memory pass writes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless
from tests.pixels.conftest import needs_tesseract, pixel_policy
from tests.pixels.test_decoded_bound import _cine

from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.pixels import spill
from veil.pixels.hook import decoded_size
from veil.policy.plan import compile_plan


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS")) / 1024


def test_spilled_frames_leave_memory_and_keep_their_values(tmp_path):
    frames, rows, cols = 48, 512, 512  # 24 MB of 16-bit frames
    arr = spill.empty((frames, rows, cols), np.uint16, spill.Spill(tmp_path, above=0))
    assert spill.spilled(arr) and spill.spilled(arr[3]) and arr.flags.writeable
    assert list(tmp_path.iterdir()) == []  # unlinked: nothing to find, nothing left by a kill
    start = _rss_mb()
    grew = 0.0
    for i in range(frames):
        arr[i] = i + 1
        spill.release(arr[i])
        grew = max(grew, _rss_mb() - start)
    assert grew < 6, f"resident memory grew {grew:.1f} MB while 24 MB of frames were written"
    for i in (0, 17, frames - 1):  # a dropped page comes back from the file with its values
        assert (arr[i] == i + 1).all()
    spill.release(arr[0, 1:3])  # rows inside a frame: the pages around them lose nothing either
    assert (arr[0] == 1).all()

    held = spill.empty((frames, rows, cols), np.uint16, None)
    assert not spill.spilled(held)
    spill.release(held)  # a no-op on memory the process owns
    small = spill.empty((2, 8, 8), np.uint8, spill.Spill(tmp_path))  # under SPILL_ABOVE: held
    assert not spill.spilled(small)


def test_a_spill_file_that_cannot_be_made_is_memory(tmp_path):
    missing = tmp_path / "file-not-folder"
    missing.write_text("x")
    arr = spill.empty((4, 16, 16), np.uint8, spill.Spill(missing, above=0))
    assert not spill.spilled(arr) and arr.shape == (4, 16, 16)


def _compress(path, uid=RLELossless):
    ds = pydicom.dcmread(path)
    ds.compress(uid, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


@needs_tesseract
@pytest.mark.parametrize(("idx", "uid"), [(1, None), (2, None), (1, RLELossless), (2, JPEGLSLossless),
                                         (1, JPEG2000Lossless)],
                         ids=["rgb-8-bit", "mono-16-bit", "rgb-rle", "mono-jpeg-ls", "rgb-j2k"])
def test_a_spilled_cine_is_written_as_the_held_one_is(tmp_path, monkeypatch, idx, uid):
    """Uncompressed stays uncompressed, lossless-compressed is re-encoded in its own syntax (a frame at a
    time into a spill file when spilled): the same bytes either way."""
    src = tmp_path / "in" / "cine.dcm"
    src.parent.mkdir()
    sample = _cine(src, 12, idx)
    if uid is not None:
        _compress(src, uid)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    plan, keyed = compile_plan(pixel_policy()), Keyed(b"k" * 32)
    held = run([src], tmp_path / "held", plan, keyed)

    made: list[bool] = []
    real_empty, real_spill = spill.empty, spill.Spill

    def recording_empty(shape, dtype, where):
        arr = real_empty(shape, dtype, where)
        made.append(spill.spilled(arr))
        return arr

    monkeypatch.setattr(spill, "empty", recording_empty)
    monkeypatch.setattr(spill, "Spill", lambda folder: real_spill(folder, above=0))
    spilled = run([src], tmp_path / "spilled", plan, keyed)
    assert made == [True, True]  # the frames, then the blanked area's input values, went to spill files

    (a,), (b,) = held.results, spilled.results
    assert a.status == b.status == "ok", (a.reason, b.reason)
    assert a.output == b.output and a.output_sha256 == b.output_sha256
    out = tmp_path / "spilled" / str(b.output)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == b.output_sha256
    dst = pydicom.dcmread(out)
    assert dst.file_meta.TransferSyntaxUID == (uid or ExplicitVRLittleEndian)
    frames = dst.pixel_array
    for x0, y0, x1, y1 in sample.phi_boxes:  # cleaned in every frame
        assert (frames[:, y0:y1, x0:x1] == frames[0, y0, x0]).all()
    assert not [p for p in (tmp_path / "spilled").rglob("*") if "spill" in p.name]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


_WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.policy.model import policy_from_mapping
    from veil.policy.plan import compile_plan

    def hwm():
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) * 1024

    warm, cine, out = (Path(a) for a in sys.argv[1:4])
    plan = compile_plan(policy_from_mapping({"name": "p", "version": "1",
                                             "options": ["clean_pixel_data", "clean_graphics"]}))
    run([warm], out / "warm", plan, Keyed(b"k" * 32))
    base = hwm()
    s = run([cine], out / "cine", plan, Keyed(b"k" * 32))
    r = next(iter(s.results))
    print(json.dumps({"grew": hwm() - base, "status": r.status, "reason": r.reason}))
""")


@needs_tesseract
@pytest.mark.slow
@pytest.mark.parametrize("rle", [False, True], ids=["native", "rle"])
def test_a_worker_stays_flat_on_a_cine_bigger_than_the_spill_size(tmp_path, rle):
    """A 16-bit cine of 37 MB decoded, over SPILL_ABOVE: the worker's peak RSS grows by a fraction of it.
    Held in memory the pass grew by 1.5-3x the decoded size (benchmarks/pixels_memory.py)."""
    src = tmp_path / "in" / "cine.dcm"
    src.parent.mkdir()
    _cine(src, 200, 2)
    if rle:
        _compress(src)
    decoded = decoded_size(pydicom.dcmread(src, stop_before_pixels=True))
    assert decoded is not None and decoded > spill.SPILL_ABOVE
    warm = tmp_path / "warm" / "one.dcm"
    warm.parent.mkdir()
    _cine(warm, 1, 2)
    if rle:
        _compress(warm)
    done = subprocess.run([sys.executable, "-c", _WORKER, str(warm), str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["status"] == "ok", got["reason"]
    assert got["grew"] < 0.4 * decoded, f"peak RSS grew {got['grew'] / 1e6:.0f} MB for {decoded / 1e6:.0f} MB decoded"


@needs_tesseract
def test_a_dry_run_spills_outside_the_output_folder(tmp_path, monkeypatch):
    src = tmp_path / "in" / "cine.dcm"
    src.parent.mkdir()
    _cine(src, 6, 1)
    folders: list[str] = []
    real_spill = spill.Spill

    def recording_spill(folder):
        folders.append(str(folder))
        return real_spill(folder, above=0)

    monkeypatch.setattr(spill, "Spill", recording_spill)
    summary = run([src], tmp_path / "out", compile_plan(pixel_policy()), Keyed(b"k" * 32), dry_run=True)
    (r,) = summary.results
    assert r.status == "dry-run", r.reason
    assert folders and not any(f.startswith(str(tmp_path / "out")) for f in folders)
    assert not (tmp_path / "out").exists()  # a dry run writes nothing there


def test_every_bundled_image_is_written_the_same_spilled_or_held(tmp_path, monkeypatch):
    """pydicom's own test files (every transfer syntax, bit depth and colour space it ships), each given a
    pass by a rule region that matches any image (no OCR): held and spilled runs write the same bytes and
    quarantine the same files."""
    from pydicom.data import get_testdata_file

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: any-image\n    match:\n      SOPClassUID: '.*'\n"
                     "    regions:\n      - [0, 0, 6, 3]\n", encoding="utf-8")
    plan = compile_plan(pixel_policy(ocr="off", verify=False, rules=[str(rules)], builtin_rules=False))
    keyed = Keyed(b"k" * 32)
    files = sorted(Path(get_testdata_file("CT_small.dcm")).parent.glob("*.dcm"))  # installed ones only
    held = run(files, tmp_path / "held", plan, keyed)
    real_spill, real_empty = spill.Spill, spill.empty
    made: list[bool] = []

    def recording_empty(shape, dtype, where):
        arr = real_empty(shape, dtype, where)
        made.append(spill.spilled(arr))
        return arr

    monkeypatch.setattr(spill, "Spill", lambda folder: real_spill(folder, above=0))
    monkeypatch.setattr(spill, "empty", recording_empty)
    spilled = run(files, tmp_path / "spilled", plan, keyed)
    assert made.count(True) > 40  # frames and kept values of most images went to spill files
    a = {r.source: (r.status, r.output, r.output_sha256, r.rule) for r in held.results}
    b = {r.source: (r.status, r.output, r.output_sha256, r.rule) for r in spilled.results}
    assert a == b
    redacted = [p.name for p in (tmp_path / "spilled" / ".veil" / "pixels").glob("*.json")]
    assert held.written > 40 and len(redacted) > 30  # the pass did run and write on most of them
