"""Bytes in Pixel Data that belong to no image (red team: " QUIXANDOR^BELINDA PX9137246 " after native
pixels, after a JPEG 2000 EOC, after the EOI of a split JPEG frame, in an extra fragment, after RLE data)
were copied out unchanged under every policy. Now quarantined (rule pixels-trailing-bytes) on the raw path
(the CLI) and the general path (instance._open); padding still passes (PS3.5 8.1.1, A.4, Annex G)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_fragments
from pydicom.uid import generate_uid

from veil.errors import InputError
from veil.pipeline import instance

SECRET = "YmVuY2htYXJrLXNlY3JldC1iZW5jaG1hcmstc2VjcmV0IQ=="
TEXT = b" QUIXANDOR^BELINDA PX9137246 "
Build = Callable[[pydicom.Dataset, list[bytes]], None]


def _rebuild(ds: pydicom.Dataset, frags: list[bytes]) -> None:
    items = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    for f in frags:
        f += b"\x00" * (len(f) % 2)
        items += b"\xfe\xff\x00\xe0" + struct.pack("<I", len(f)) + f
    ds.PixelData = items
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"


def _split(ds: pydicom.Dataset, frags: list[bytes]) -> list[bytes]:
    """A frame over two fragments (JPEG-LL.dcm's is already: 65,536 + 50,516 bytes)."""
    assert len(frags) == 2
    return frags


def _make(path: Path, name: str, build: Build) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.PatientName, ds.PatientID = "DOE^JOHN", "A1"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    frags = list(generate_fragments(ds.PixelData))[1:] if ds.file_meta.TransferSyntaxUID.is_compressed else []
    build(ds, frags)
    ds.save_as(path)


LEAKS: dict[str, tuple[str, Build]] = {
    "native_longer": ("CT_small.dcm", lambda ds, fr: setattr(ds, "PixelData", ds.PixelData + TEXT + b" ")),
    "j2k_after_eoc": ("JPEG2000.dcm", lambda ds, fr: _rebuild(ds, [fr[0] + TEXT])),
    "jpeg_after_eoi_last_fragment": ("JPEG-LL.dcm", lambda ds, fr: _rebuild(ds, [*_split(ds, fr)[:-1],
                                                                                   _split(ds, fr)[-1] + TEXT])),
    "jpeg_extra_fragment": ("JPEG-LL.dcm", lambda ds, fr: _rebuild(ds, [*fr, TEXT])),
    "rle_trailing": ("SC_rgb_rle.dcm", lambda ds, fr: _rebuild(ds, [fr[0] + TEXT])),
}
PADDED: dict[str, tuple[str, Build]] = {
    "native_zero_pad": ("CT_small.dcm", lambda ds, fr: setattr(ds, "PixelData", ds.PixelData + b"\x00" * 6)),
    "j2k_ff_pad": ("JPEG2000.dcm", lambda ds, fr: _rebuild(ds, [fr[0] + b"\xff\x00\xff\x00"])),
    "jpeg_split_zero_pad": ("JPEG-LL.dcm", lambda ds, fr: _rebuild(ds, [*_split(ds, fr)[:-1],
                                                                          _split(ds, fr)[-1] + b"\x00" * 4])),
    "rle_zero_pad": ("SC_rgb_rle.dcm", lambda ds, fr: _rebuild(ds, [fr[0] + b"\x00" * 4])),
}


def _deid(src: Path, out: Path) -> tuple[int, dict]:
    env = dict(os.environ, CI="1", VEIL_SECRET=SECRET)
    r = subprocess.run([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--policy", "basic",
                        "-w", "1", "--json"], capture_output=True, env=env, check=False)
    return r.returncode, json.loads(r.stdout)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict]]:
    root = tmp_path_factory.mktemp("trailing")
    src, out = root / "in", root / "out"
    src.mkdir()
    for name, (file, build) in {**LEAKS, **PADDED}.items():
        _make(src / f"{name}.dcm", file, build)
    _deid(src, out)
    lines = (out / ".veil" / "quarantine.jsonl").read_text().splitlines()
    quarantined = {Path(m["source"]).stem: m for m in map(json.loads, lines)}
    return src, out, quarantined


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_bytes_after_the_image_are_quarantined(run, name: str) -> None:
    src, out, quarantined = run
    assert quarantined[name]["rule"] == "pixels-trailing-bytes"
    assert "QUIXANDOR" not in quarantined[name]["reason"]
    for f in out.rglob("*.dcm"):
        assert b"QUIXANDOR" not in f.read_bytes()
    with pytest.raises(InputError) as err:  # the general path refuses it too
        instance._open(src / f"{name}.dcm")
    assert err.value.rule == "pixels-trailing-bytes"


@pytest.mark.parametrize("name", sorted(PADDED))
def test_padding_after_the_image_is_written(run, name: str) -> None:
    src, out, quarantined = run
    assert name not in quarantined
    instance._open(src / f"{name}.dcm")  # no error
    written = [json.loads(line) for line in (out / ".veil" / "manifest.jsonl").read_text().splitlines()]
    assert len(written) == len(PADDED)
