"""What Veil writes besides the output DICOM - quarantine reasons, journals, `--json`, the pixel pass's
records, the inventory - never repeats a value of the file (red team, this session). Before the fix:

- pydicom's BytesLengthException quotes the bytes it could not read: a UL element holding the patient's
  name, and a vendor FD whose wrong length swallowed the next element (the patient's name and MRN), went
  into quarantine.jsonl, the journal, the summary table and `--json` through the reason;
- a Photometric Interpretation and a MIME Type of Encapsulated Document were quoted in reasons;
- `veil inventory` printed a private creator as read: in a file whose birth date was edited in place
  (10 bytes under an 8-byte length) a misread "creator" held the address, an other ID and a report line.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from veil.errors import scrub
from veil.inventory import creator_label

from .test_batch import veil

NEEDLES = (b"quixandor", b"98765431", b"19471113", b"elm street", b"44556677")


def _base(i: int) -> pydicom.Dataset:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.remove_private_tags()
    ds.Modality = "OT"  # an image at risk of burned-in text: the pixel pass reads it
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Quixandor^Zebulon", "MRN98765431", "19471113"
    ds.SOPInstanceUID = f"1.2.3.4.5.{i}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _everything_written(out: Path, *texts: str) -> bytes:
    data = b"".join(p.read_bytes() for p in (out / ".veil").rglob("*") if p.is_file() and p.suffix != ".sqlite")
    return (data + "".join(texts).encode()).lower()


def test_reasons_never_quote_what_the_file_holds(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    ds = _base(1)
    ds.add_new(0x00181310, "LO", "Quixandor^Zebulon MRN98765431 19471113")
    ds.save_as(src / "a.dcm")
    raw = (src / "a.dcm").read_bytes()
    (src / "a.dcm").write_bytes(raw.replace(b"\x18\x00\x10\x13LO", b"\x18\x00\x10\x13UL", 1))  # 38 bytes as UL
    ds = _base(2)
    block = ds.private_block(0x0019, "ACME 1.0", create=True)
    block.add_new(0x10, "FD", 1.5)
    block.add_new(0x11, "LO", "QUIXANDOR^ZEBULON MRN98765431")
    ds.save_as(src / "b.dcm")
    raw = (src / "b.dcm").read_bytes()
    key = b"\x19\x00\x10\x10FD\x08\x00"
    (src / "b.dcm").write_bytes(raw.replace(key, b"\x19\x00\x10\x10FD" + struct.pack("<H", 46), 1))  # swallows
    ds = _base(3)
    ds.PhotometricInterpretation = "QUIXANDOR 98765431"
    ds.save_as(src / "c.dcm")
    ds = _base(4)
    del ds.PixelData
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    ds.EncapsulatedDocument = b"%PDF-1.1\n%%EOF\n"
    ds.MIMETypeOfEncapsulatedDocument = "application/Quixandor-MRN98765431"
    ds.save_as(src / "d.dcm")
    policy = tmp_path / "px.yaml"
    policy.write_text('name: px\nversion: "1.0"\nprofile: ps3.15-basic\noptions: [clean_pixel_data]\n')
    out = tmp_path / "out"
    table = veil("deid", str(src), str(out), "--policy", str(policy))
    assert table.returncode == 1, table.stderr
    as_json = veil("deid", str(src), str(tmp_path / "out2"), "--policy", str(policy), "--json")
    quarantined = [json.loads(x) for x in (out / ".veil" / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantined) == 4, quarantined
    reasons = " ".join(q["reason"] for q in quarantined)
    assert "length does not fit its VR" in reasons and "encapsulated document (an unlisted MIME type)" in reasons
    written = _everything_written(out, table.stdout, table.stderr, as_json.stdout, as_json.stderr)
    assert not [n for n in NEEDLES if n in written]


def test_the_inventory_shows_no_value_at_a_creators_place(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    ds = _base(1)
    ds.PatientAddress, ds.OtherPatientIDs = "12 Elm Street, Springfield", "OPID44556677"
    ds.ImageComments = "Patient Zebulon Quixandor MRN98765431"
    ds.save_as(src / "f.dcm")
    raw = (src / "f.dcm").read_bytes()
    (src / "f.dcm").write_bytes(raw.replace(b"19471113", b"1947-11-13", 1))  # 10 bytes under a length of 8
    ds = _base(2)
    ds.private_block(0x0009, "SITE Quixandor", create=True).add_new(0x10, "LO", "x")
    ds.private_block(0x0011, "GEMS_ACQU_01", create=True).add_new(0x10, "LO", "x")
    ds.save_as(src / "g.dcm")
    r = veil("inventory", str(src), "--json", "--html", str(tmp_path / "inv.html"), "--csv", str(tmp_path / "inv.csv"))
    assert r.returncode == 0, r.stderr
    written = (r.stdout + (tmp_path / "inv.html").read_text() + (tmp_path / "inv.csv").read_text()).lower()
    assert not [n for n in NEEDLES if n.decode() in written]
    assert "(0011) GEMS_ACQU_01" in json.loads(r.stdout)["private_creators"]


@pytest.mark.parametrize(("value", "shown"), [
    ("SIEMENS CSA HEADER", True), ("Philips Imaging DD 001", True), ("GEMS_ACQU_01", True),
    ("SITE Quixandor", False), ("MRN 98765431", False), ("x" * 65, False), ("line\nbreak", False),
    (b"bytes", False), (12, False),
])
def test_a_creator_is_shown_only_in_a_creators_form(value, shown):
    from veil.text.known import collect_identifiers

    ds = pydicom.Dataset()
    ds.PatientName = "Quixandor^Zebulon"
    assert (creator_label(value, collect_identifiers(ds)) == value) is shown


@pytest.mark.parametrize(("text", "expected"), [
    ("received b'Quixandor^Z' with length 39 and format 'L'", "received '…' with length 39 and format '…'"),
    ("Unknown (0028,0004) 'Photometric Interpretation' value 'QUIX'", "Unknown (0028,0004) '…' value '…'"),
    ("received b'\\x00\\x11LO\\x1e\\x00QUIX' tail", "received '…' tail"),
    ("an open 'QUIXANDOR never closed", "an open …"),
    ('b"it\'s QUIX" then', "'…' then"),
    ("no quotes at all", "no quotes at all"),
])
def test_scrub_drops_quoted_values(text, expected):
    assert scrub(text) == expected
    assert len(scrub("x" * 1000)) == 240
