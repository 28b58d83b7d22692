"""A dataset without preamble and File Meta Information (ACR-NEMA-era exports, some archives' own files):
read split like a Part-10 file, so its pixel bytes stream and a large one needs no more memory than its
header. Before, pydicom read it whole: a 1 GB bare file needed 1 GB+ of RAM in the worker.

The oracle is the same dataset written as Part 10: both must give the same output bytes.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from veil.identity.keyed import Keyed
from veil.pipeline.instance import _open
from veil.pipeline.passthrough import SMALL
from veil.pipeline.runner import run
from veil.policy.model import builtin_text, load_policy_text
from veil.policy.plan import compile_plan


def _dataset(frames: int) -> pydicom.Dataset:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Quixworth^Zebulon"
    ds.NumberOfFrames = frames
    rng = np.random.default_rng(7)
    ds.PixelData = rng.integers(0, 4096, (frames, ds.Rows, ds.Columns), dtype=np.uint16).tobytes()
    return ds


def _save(ds: pydicom.Dataset, path: Path, ts: str, *, bare: bool) -> Path:
    ds = ds.copy()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    if bare:  # the dataset alone, in the transfer syntax's encoding: no preamble, no group 0002
        buf = DicomBytesIO()
        buf.is_little_endian, buf.is_implicit_VR = True, ts == ImplicitVRLittleEndian
        write_dataset(buf, ds)
        data = buf.getvalue()
        assert data[128:132] != b"DICM" and data[:2] == b"\x08\x00"
        path.write_bytes(data)
    else:
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("ts", [ImplicitVRLittleEndian, ExplicitVRLittleEndian], ids=["implicit", "explicit"])
@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_bare_dataset_streams_its_pixels_and_gives_its_part10_twin_s_output(tmp_path, ts, policy):
    ds = _dataset(160)  # 160 x 128 x 128 x 2 bytes: over SMALL, so streamed from disk
    bare = _save(ds, tmp_path / "bare.dcm", ts, bare=True)
    twin = _save(ds, tmp_path / "twin.dcm", ts, bare=False)
    assert bare.stat().st_size > SMALL
    inst = _open(bare)
    assert not inst.whole and inst.pixels is not None and inst.data is None
    assert inst.pixels.value_length == len(ds.PixelData)
    plan = compile_plan(load_policy_text(builtin_text(policy)))
    a = next(iter(run([bare], tmp_path / "out-bare", plan, Keyed(b"k" * 32)).results))
    b = next(iter(run([twin], tmp_path / "out-twin", plan, Keyed(b"k" * 32)).results))
    assert a.status == b.status == "ok", (a.reason, b.reason)
    assert a.output == b.output and a.output_sha256 == b.output_sha256
    out = pydicom.dcmread(tmp_path / "out-bare" / str(a.output))
    assert out.file_meta.TransferSyntaxUID == ts and out.PixelData == ds.PixelData
    assert "Quixworth" not in str(out.PatientName)


def test_pydicom_s_small_bare_files_are_split_read_too():
    for name in ("rtstruct.dcm", "ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"):
        inst = _open(Path(get_testdata_file(name)))
        assert not inst.whole, name
        assert inst.ds.file_meta.TransferSyntaxUID.is_transfer_syntax


_WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.policy.model import builtin_text, load_policy_text
    from veil.policy.plan import compile_plan

    def hwm():
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) * 1024

    warm, big, out = (Path(a) for a in sys.argv[1:4])
    plan = compile_plan(load_policy_text(builtin_text("basic")))
    run([warm], out / "warm", plan, Keyed(b"k" * 32))
    base = hwm()
    r = next(iter(run([big], out / "big", plan, Keyed(b"k" * 32)).results))
    print(json.dumps({"grew": hwm() - base, "status": r.status, "reason": r.reason}))
""")


@pytest.mark.slow
def test_a_large_bare_dataset_does_not_need_its_size_in_memory(tmp_path):
    """200 MB of Pixel Data in a bare implicit-VR file: the worker's peak RSS grows by far less (read
    whole, it grew by more than the file)."""
    head = _dataset(1)
    del head.PixelData
    head.NumberOfFrames = 6400
    size = 6400 * head.Rows * head.Columns * 2  # 210 MB
    warm = _save(_dataset(1), tmp_path / "warm.dcm", ImplicitVRLittleEndian, bare=True)
    big = _save(head, tmp_path / "big.dcm", ImplicitVRLittleEndian, bare=True)
    with open(big, "ab") as fh:  # (7FE0,0010), implicit VR: tag, 4-byte length, value
        fh.write(struct.pack("<HHL", 0x7FE0, 0x0010, size))
        chunk = bytes(range(256)) * 4096
        for _ in range(size // len(chunk)):
            fh.write(chunk)
    done = subprocess.run([sys.executable, "-c", _WORKER, str(warm), str(big), str(tmp_path / "out")],
                          capture_output=True, text=True, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["status"] == "ok", got["reason"]
    assert got["grew"] < 0.25 * size, f"peak RSS grew {got['grew'] / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is installed by .ci/run")
@pytest.mark.parametrize("ts", [ImplicitVRLittleEndian, ExplicitVRLittleEndian], ids=["implicit", "explicit"])
def test_burned_in_text_is_cleaned_from_a_bare_dataset_as_from_its_part10_twin(tmp_path, ts):
    """The pixel pass decodes a bare dataset's frames from the file (pydicom is told its transfer syntax,
    which no File Meta Information states). Before, a bare dataset with Pixel Data was quarantined."""
    from tests.pixels.conftest import pixel_policy
    from tests.pixels.test_decoded_bound import _cine

    sample = _cine(tmp_path / "cine.dcm", 3)
    ds = pydicom.dcmread(tmp_path / "cine.dcm")
    bare = _save(ds, tmp_path / "bare.dcm", ts, bare=True)
    twin = _save(ds, tmp_path / "twin.dcm", ts, bare=False)
    plan = compile_plan(pixel_policy())
    a = next(iter(run([bare], tmp_path / "out-bare", plan, Keyed(b"k" * 32)).results))
    b = next(iter(run([twin], tmp_path / "out-twin", plan, Keyed(b"k" * 32)).results))
    assert a.status == b.status == "ok", (a.reason, b.reason)
    assert a.output_sha256 == b.output_sha256
    frames = pydicom.dcmread(tmp_path / "out-bare" / str(a.output)).pixel_array
    for x0, y0, x1, y1 in sample.phi_boxes:
        assert (frames[:, y0:y1, x0:x1] == frames[0, y0, x0]).all()


@pytest.mark.parametrize("ts", [ImplicitVRLittleEndian, ExplicitVRLittleEndian], ids=["implicit", "explicit"])
def test_file_meta_without_a_transfer_syntax_is_read_in_the_syntax_it_is_written_in(tmp_path, ts):
    """PS3.10 7.1 makes (0002,0010) Type 1, and writers omit it. Fuzzing: such a file (pydicom reads it)
    was quarantined with rule 'internal' and an AttributeError as its reason."""
    ds = _dataset(2)
    twin = _save(ds, tmp_path / "twin.dcm", ts, bare=False)
    raw = ds.copy()
    raw.preamble = b"\0" * 128
    raw.file_meta = FileMetaDataset()
    raw.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    raw.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    raw.save_as(tmp_path / "nots.dcm", enforce_file_format=False, implicit_vr=ts == ImplicitVRLittleEndian,
                little_endian=True)
    assert "TransferSyntaxUID" not in pydicom.dcmread(tmp_path / "nots.dcm").file_meta
    plan = compile_plan(load_policy_text(builtin_text("basic")))
    a = next(iter(run([tmp_path / "nots.dcm"], tmp_path / "out-a", plan, Keyed(b"k" * 32)).results))
    b = next(iter(run([twin], tmp_path / "out-b", plan, Keyed(b"k" * 32)).results))
    assert a.status == b.status == "ok", (a.reason, b.reason)
    out = pydicom.dcmread(tmp_path / "out-a" / str(a.output))
    assert out.file_meta.TransferSyntaxUID == ts and out.PixelData == ds.PixelData
    assert out.SOPInstanceUID == pydicom.dcmread(tmp_path / "out-b" / str(b.output)).SOPInstanceUID
