"""`veil verify` reports printable text after an encapsulated frame's end-of-image marker (FFD9, PS3.5 A.4):
a name planted after a JPEG 2000 EOC was in no image and no attribute, and verify did not see it."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_fragments

TEXT = b" QUIXANDOR^BELINDA PX9137246 "


def _j2k(path: Path, tail: bytes) -> None:
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    frag = list(generate_fragments(ds.PixelData))[1] + tail
    frag += b"\x00" * (len(frag) % 2)
    ds.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00\xfe\xff\x00\xe0" + struct.pack("<I", len(frag)) + frag
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path)


def _findings(folder: Path) -> list[dict]:
    env = dict(os.environ, CI="1", VEIL_SECRET="YmVuY2htYXJrLXNlY3JldC1iZW5jaG1hcmstc2VjcmV0IQ==")
    r = subprocess.run([sys.executable, "-m", "veil.cli", "verify", str(folder), "--json"], capture_output=True,
                       env=env, check=False)
    found: list[dict] = []

    def walk(o: object) -> None:
        if isinstance(o, dict):
            if o.get("category") == "pixels-trailing-text":
                found.append(o)
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.loads(r.stdout))
    return found


def test_text_after_a_frames_end_marker_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _j2k(tmp_path / "a" / "x.dcm", TEXT)
    _j2k(tmp_path / "b" / "x.dcm", b"\xff\x00\xff\x00")  # padding: no finding
    found = _findings(tmp_path / "a")
    assert found and "end-of-image" in found[0]["location"]
    assert _findings(tmp_path / "b") == []
