"""Bytes in Pixel Data that belong to no image (red team: " QUIXANDOR^BELINDA PX9137246 " after native
pixels, after a JPEG 2000 EOC, after the EOI of a split JPEG frame, in an extra fragment, after RLE data)
were copied out unchanged under every policy. Now quarantined (rule pixels-trailing-bytes) on the raw path
(the CLI) and the general path (instance._open); padding still passes (PS3.5 8.1.1, A.4, Annex G).

Review of that fix: FFD9 <text> FFD9, a frame without FFD9 (now said so), text in the Basic Offset Table, in
an RLE header's unused offsets, before its first segment or in a literal run past the image, after Float /
Double Float Pixel Data (PS3.5 8.2), and a frame more than declared went out; an EXIF thumbnail's
FFD8..FFD9 before the scan does not end the image."""

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


def _rebuild(ds: pydicom.Dataset, frags: list[bytes], bot: bytes = b"") -> None:
    items = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(bot)) + bot
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


def _eoi_text_eoi(ds: pydicom.Dataset, fr: list[bytes]) -> None:
    """A split JPEG frame ending FFD9 <text> FFD9: the image ends at the first (review)."""
    _rebuild(ds, [fr[0], fr[1].rstrip(b"\x00\xff") + TEXT + b"\xff\xd9"])


def _no_eoi(ds: pydicom.Dataset, fr: list[bytes]) -> None:
    """A split JPEG frame without FFD9: quarantined, saying so (where the image ends is unknown)."""
    last = fr[1].rstrip(b"\x00\xff")
    assert last.endswith(b"\xff\xd9")
    _rebuild(ds, [fr[0], last[:-2]])


def _exif_thumbnail(ds: pydicom.Dataset, fr: list[bytes]) -> None:
    """An APP1 (EXIF) segment holding a thumbnail's FFD8 .. FFDA .. FFD9 before the scan: not the image's end."""
    body = b"Exif\x00\x00" + b"\xff\xd8\xff\xda\x00\x02\x01\xff\xd9" + TEXT.replace(b"QUIXANDOR", b"THUMBNAIL")
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    _rebuild(ds, [fr[0][:2] + app1 + fr[0][2:], fr[1]])


def _rle_header_text(ds: pydicom.Dataset, fr: list[bytes]) -> None:
    """Text in the RLE header's unused segment offsets (PS3.5 G.5: they are 0)."""
    assert struct.unpack("<L", fr[0][:4])[0] == 3
    _rebuild(ds, [fr[0][:16] + TEXT + fr[0][16 + len(TEXT):]])


def _rle_gap_text(ds: pydicom.Dataset, fr: list[bytes]) -> None:
    """Text between the RLE header and the first segment, the offsets moved past it."""
    count, *offsets = struct.unpack("<16L", fr[0][:64])
    gap = TEXT + b" "
    head = struct.pack("<16L", count, *(o + len(gap) if o else 0 for o in offsets))
    _rebuild(ds, [head + gap + fr[0][64:]])


def _rle_literal(ds: pydicom.Dataset, tail: bytes) -> None:
    """SC_rgb_rle re-encoded in literal runs of 128 bytes; `tail` extends segment 1's last run past the image."""
    arr = ds.pixel_array
    segs = []
    for k in range(3):
        plane, out = arr[..., k].tobytes(), bytearray()
        for i in range(0, len(plane), 128):
            run = plane[i:i + 128] + (tail if k == 0 and i + 128 >= len(plane) else b"")
            out += bytes([len(run) - 1]) + run
        segs.append(bytes(out) + b"\x00" * (len(out) % 2))
    offsets = [64, 64 + len(segs[0]), 64 + len(segs[0]) + len(segs[1])]
    _rebuild(ds, [struct.pack("<16L", 3, *offsets, *[0] * 12) + b"".join(segs)])


def _float(ds: pydicom.Dataset, size: int, extra: bytes) -> None:
    """CT_small's image as Float (size 4) or Double Float (8) Pixel Data, `extra` after it (PS3.5 8.2)."""
    import numpy as np
    arr = ds.pixel_array.astype("<f4" if size == 4 else "<f8")
    del ds.PixelData
    for kw in ("BitsStored", "HighBit", "PixelRepresentation", "SmallestImagePixelValue", "LargestImagePixelValue",
               "RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
        if kw in ds:
            delattr(ds, kw)
    ds.BitsAllocated = 8 * size
    setattr(ds, "FloatPixelData" if size == 4 else "DoubleFloatPixelData", np.ascontiguousarray(arr).tobytes() + extra)


LEAKS: dict[str, tuple[str, Build]] = {
    # review: bypasses of the first version
    "jpeg_eoi_text_eoi": ("JPEG-LL.dcm", _eoi_text_eoi),
    "j2k_eoc_text_eoc": ("JPEG2000.dcm", lambda ds, fr: _rebuild(ds, [fr[0].rstrip(b"\x00") + TEXT + b"\xff\xd9"])),
    "jpeg_no_eoi": ("JPEG-LL.dcm", _no_eoi),
    "bot_text": ("JPEG-LL.dcm", lambda ds, fr: _rebuild(ds, fr, bot=TEXT + b"\x00" * (-len(TEXT) % 4))),
    "rle_header_text": ("SC_rgb_rle.dcm", _rle_header_text),
    "rle_gap_text": ("SC_rgb_rle.dcm", _rle_gap_text),
    "rle_literal_past_image": ("SC_rgb_rle.dcm", lambda ds, fr: _rle_literal(ds, TEXT)),
    "frame_beyond_declared": ("examples_ybr_color.dcm",
                              lambda ds, fr: _rebuild(ds, [*fr, b"\xff\xd8" + TEXT + b"\xff\xd9"])),
    "float_longer": ("CT_small.dcm", lambda ds, fr: _float(ds, 4, TEXT + b" ")),
    "double_float_longer": ("CT_small.dcm", lambda ds, fr: _float(ds, 8, TEXT + b" " * 3)),
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
    "jpeg_exif_thumbnail": ("JPEG-LL.dcm", _exif_thumbnail),
    "bot_one_frame": ("JPEG-LL.dcm", lambda ds, fr: _rebuild(ds, fr, bot=b"\x00" * 4)),
    "rle_literal_zeros_past_image": ("SC_rgb_rle.dcm", lambda ds, fr: _rle_literal(ds, b"\x00" * 7)),
    "float_zero_pad": ("CT_small.dcm", lambda ds, fr: _float(ds, 4, b"\x00" * 8)),
}


def _deid(src: Path, out: Path) -> tuple[int, dict]:
    env = dict(os.environ, CI="1", VEIL_SECRET=SECRET)
    r = subprocess.run([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--policy", "basic",
                        "-w", "1", "--json"], capture_output=True, env=env, check=False)
    return r.returncode, json.loads(r.stdout)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, dict | None]]:
    """Each case deidentified on its own (a leak or a refusal is then that case's alone): name -> (input,
    output folder, its quarantine record or None)."""
    root = tmp_path_factory.mktemp("trailing")
    out: dict[str, tuple[Path, Path, dict | None]] = {}
    for name, (file, build) in {**LEAKS, **PADDED}.items():
        src, dst = root / name / "in", root / name / "out"
        src.mkdir(parents=True)
        _make(src / f"{name}.dcm", file, build)
        _deid(src, dst)
        lines = (dst / ".veil" / "quarantine.jsonl").read_text().splitlines()
        out[name] = (src / f"{name}.dcm", dst, json.loads(lines[0]) if lines else None)
    return out


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_bytes_after_the_image_are_quarantined(run, name: str) -> None:
    src, out, quarantined = run[name]
    assert quarantined is not None and quarantined["rule"] == "pixels-trailing-bytes"
    assert "QUIXANDOR" not in quarantined["reason"]
    if name == "jpeg_no_eoi":  # an honest reason, not "bytes after its end-of-image marker"
        assert "has no end-of-image marker" in quarantined["reason"]
    for f in out.rglob("*.dcm"):
        assert b"QUIXANDOR" not in f.read_bytes()
    with pytest.raises(InputError) as err:  # the general path refuses it too
        instance._open(src)
    assert err.value.rule == "pixels-trailing-bytes"


@pytest.mark.parametrize("name", sorted(PADDED))
def test_padding_after_the_image_is_written(run, name: str) -> None:
    src, out, quarantined = run[name]
    assert quarantined is None
    instance._open(src)  # no error
    written = (out / ".veil" / "manifest.jsonl").read_text().splitlines()
    assert len(written) == 1
