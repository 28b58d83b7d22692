"""Text-carrying segments inside compressed frames (JPEG COM, EXIF/XMP APP1, JPEG 2000 COM) are removed
losslessly (red team C, this session: a COM segment holding the patient's name, ID and birth date went out
byte for byte on both paths, and only `verify --against` saw it).

Each case plants the segments into one of pydicom's real compressed files and checks that the planted text
is gone from every output byte, that every frame decodes to exactly the pixels it had before anything was
planted, and that the Basic Offset Table still points at each frame.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

from veil.errors import InputError
from veil.pixels.markers import header_strips

SECRET = "YmVuY2htYXJrLXNlY3JldC1iZW5jaG1hcmstc2VjcmV0IQ=="
PLANTED = b"Quixandor^Zebulon MRN98765431 19471113"


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">HH", marker, len(body) + 2) + body


def _planted_jpeg(frame: bytes) -> bytes:
    """SOI, then a COM, an EXIF APP1 and a vendor APP12 holding the planted text, then the frame's own."""
    assert frame[:2] == b"\xff\xd8"
    extra = (_segment(0xFFFE, PLANTED) + _segment(0xFFE1, b"Exif\x00\x00" + PLANTED)
             + _segment(0xFFEC, b"Ducky" + PLANTED))
    return frame[:2] + extra + frame[2:]


def _planted_j2k(frame: bytes) -> bytes:
    """A COM marker segment (Rcom 1: Latin text) right after SIZ, in the main header."""
    assert frame[:4] == b"\xff\x4f\xff\x51"
    siz_end = 4 + struct.unpack(">H", frame[4:6])[0]
    return frame[:siz_end] + _segment(0xFF64, b"\x00\x01" + PLANTED) + frame[siz_end:]


def _frames(ds: pydicom.Dataset) -> list[bytes]:
    n = int(ds.get("NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=n))


def _write_planted(name: str, plant, path: Path) -> np.ndarray:
    ds = pydicom.dcmread(get_testdata_file(name))
    before = ds.pixel_array.copy()
    ds.PatientName, ds.PatientID = "Quixandor^Zebulon", "MRN98765431"
    ds.PixelData = encapsulate([plant(f) for f in _frames(ds)], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path, enforce_file_format=True)
    assert PLANTED in path.read_bytes()
    return before


@pytest.mark.parametrize("name,plant", [
    ("SC_rgb_jpeg_dcmtk.dcm", _planted_jpeg),  # baseline
    ("JPEGLSNearLossless_16.dcm", _planted_jpeg),  # JPEG-LS: the same marker syntax
    ("JPEG2000.dcm", _planted_j2k),
    ("emri_small_jpeg_2k_lossless.dcm", _planted_j2k),  # 10 frames: the offset table must follow
])
@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_text_segments_in_compressed_frames_are_removed_losslessly(name, plant, policy, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    before = _write_planted(name, plant, src / "a.dcm")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--policy", policy, "--json"],
                       capture_output=True, text=True, env=os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr
    (written,) = out.rglob("*.dcm")
    data = written.read_bytes()
    for needle in (b"Quixandor", b"98765431", b"19471113"):
        assert needle not in data
    ds = pydicom.dcmread(written)
    assert np.array_equal(ds.pixel_array, before)  # the image data untouched
    frames = _frames(ds)
    bot = list(pydicom.encaps.parse_basic_offsets(pydicom.filebase.DicomBytesIO(ds.PixelData)))
    at, offsets = 0, []
    for f in frames:
        offsets.append(at)
        at += 8 + len(f) + len(f) % 2
    assert bot == offsets
    manifest = [json.loads(x) for x in (out / ".veil" / "manifest.jsonl").read_text().splitlines()]
    assert any(rule["rule"].startswith("pixels:jpeg-segments-removed:") for rule in manifest[0]["rules"]), manifest


def test_segments_a_decoder_needs_are_kept():
    """JFIF (APP0), ICC profile (APP2) and Adobe (APP14) stay; COM, EXIF (APP1) and a vendor's APP12 go;
    in JPEG-LS HP's colour transform (APP8) stays too."""
    frame = (b"\xff\xd8" + _segment(0xFFE0, b"JFIF\x00" + bytes(9)) + _segment(0xFFE1, b"Exif\x00\x00x")
             + _segment(0xFFE2, b"ICC_PROFILE\x00") + _segment(0xFFFE, b"name") + _segment(0xFFE8, b"mrfx")
             + _segment(0xFFEC, b"Ducky") + _segment(0xFFEE, b"Adobe" + bytes(7)) + b"\xff\xda" + bytes(10)
             + b"\xff\xd9")

    def read(at: int, n: int) -> bytes:
        return frame[at:at + n]

    def kept(kind: str) -> list[int]:
        strips = header_strips(read, 0, len(frame), kind)
        return [frame[pos + 1] for pos, _ in strips]

    assert kept("jpeg") == [0xE1, 0xFE, 0xE8, 0xEC]
    assert kept("jpegls") == [0xE1, 0xFE, 0xEC]
    assert header_strips(read, 2, len(frame) - 2, "jpeg") == []  # not the start of a frame


@pytest.mark.parametrize("text,kept", [(b"Kakadu-2.2", True), (b"Created by OpenJPEG version 2.5.0", True),
                                       (b"Kakadu-2.2 Quixandor", False), (b"Quixandor^Zebulon", False)])
def test_an_encoder_naming_itself_is_kept_anything_else_goes(text, kept):
    """Most JPEG 2000 files carry 'Kakadu-2.2' (pydicom's JPEG2000.dcm too): removing it rewrote every such
    file for nothing. Only an encoder's name and version pass; one character more and the comment goes."""
    j2k = b"\xff\x4f" + _segment(0xFF51, bytes(38)) + _segment(0xFF64, b"\x00\x01" + text) + b"\xff\x90" + bytes(10)
    jpeg = b"\xff\xd8" + _segment(0xFFFE, text) + b"\xff\xda" + bytes(10)
    for frame, kind in ((j2k, "j2k"), (jpeg, "jpeg")):
        strips = header_strips(lambda at, n, f=frame: f[at:at + n], 0, len(frame), kind)
        assert (strips == []) is kept, (kind, text)


def test_segments_anywhere_in_the_first_fragment_are_removed():
    """Red team E: an APPn was kept by its number alone (a JFXX thumbnail, text in APP2 or APP14), and nothing
    after the first scan was looked at (a COM between progressive scans, bytes after EOI, a COM in a JPEG 2000
    tile-part header), nor a frame padded before its SOI."""
    scan = _segment(0xFFDA, bytes(8)) + b"\x12\xff\x00\x34\xff\xd0\x56"  # entropy data: stuffed 0xFF00, RST0
    frame = (b"\xff\xd8" + _segment(0xFFE0, b"JFXX\x00\x10" + b"Quixandor") + _segment(0xFFE2, b"Quixandor")
             + _segment(0xFFEE, b"Adobe Quixandor^Zebulon") + scan + _segment(0xFFFE, b"Quixandor") + scan
             + b"\xff\xd9" + b"Quixandor MRN98765431\x00")

    def strips(data: bytes, kind: str = "jpeg") -> list[bytes]:
        return [data[pos:pos + size] for pos, size in header_strips(lambda at, n: data[at:at + n], 0, len(data), kind)]

    got = strips(frame)
    assert [g[:2] for g in got[:4]] == [b"\xff\xe0", b"\xff\xe2", b"\xff\xee", b"\xff\xfe"]
    assert got[4] == b"Quixandor MRN98765431\x00"
    assert b"\x12\xff\x00" not in b"".join(got)  # the scans' data stay
    assert strips(b"\x00\x00" + _segment(0xFFD8, b"")[:2] + _segment(0xFFFE, b"Quixandor") + b"\xff\xd9")[1][:2] == \
        b"\xff\xfe"
    # JPEG 2000: a COM in a tile-part header (T.800 A.4.2)
    sot = b"\xff\x90" + struct.pack(">HHLBB", 10, 0, 0, 0, 1)
    j2k = (b"\xff\x4f" + _segment(0xFF51, bytes(36)) + sot + _segment(0xFF64, b"\x00\x01Quixandor") + b"\xff\x93"
           + bytes(8))
    assert [g[:2] for g in strips(j2k, "j2k")] == [b"\xff\x64"]  # the last tile-part (Psot 0): cut out
    sized = j2k.replace(sot, b"\xff\x90" + struct.pack(">HHLBB", 10, 0, len(j2k) - 51, 0, 1))
    with pytest.raises(InputError):  # a tile-part with a length: it cannot be shortened, refused
        strips(sized, "j2k")
    # a comment running past the fragment's end cannot be cut: refused, not released
    with pytest.raises(InputError):
        strips(b"\xff\xd8" + b"\xff\xfe\x00\x40Quixandor")
