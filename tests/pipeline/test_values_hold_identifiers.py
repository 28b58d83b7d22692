"""Values kept as numbers or bytes are read for the patient's own identifiers, and a private creator that
cannot be read is removed (red team, this session). Each leaked on both paths before the fix:

- a private creator written as UL with 39 bytes (not a whole number of values: pydicom cannot decode it)
  was left out of the creator map and the walk never touched creators, so its bytes - the patient's name,
  ID and birth date - were copied as read;
- public binary attributes Table E.1-1 does not list (a palette's LUT data as OW, Point Coordinates Data
  as OF, an Acquisition Matrix of 19 US values) were kept as "not text" unread;
- a number attribute (IS, DS) holding the patient's ID or birth date digits (Series Number 98765431,
  Acquisition Number 19471113, a Referenced Frame Number in an item, Patient's Weight kept by an option).

Raw path and general path write the same bytes (``_run`` compares them) where the raw path takes the file.
"""

from __future__ import annotations

import struct

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from .test_code_meanings import _run
from .test_rawpath import _general, _small_image

PHI = b"Quixandor^Zebulon MRN98765431 19471113"


def _patient(ds: Dataset) -> Dataset:
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Quixandor^Zebulon", "MRN98765431", "19471113"
    return ds


def _out_bytes(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.rglob("*.dcm") if p.name != "in.dcm")


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("vr", ["UL", "US", "FD"])
def test_a_private_creator_that_cannot_be_read_is_removed(policy, vr, tmp_path, monkeypatch):
    ds = _patient(_small_image())
    ds.add_new(0x00090010, "LO", "PLACEHOLDER")
    ds.add_new(0x00091001, "LO", "x")
    item = Dataset()
    item.add_new(0x00090010, "LO", "PLACEHOLDER")
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.is_undefined_length_sequence_item = True  # the item may grow as its creator is swapped
    ds.ReferencedImageSequence = Sequence([item])
    ds["ReferencedImageSequence"].is_undefined_length = True
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    value = PHI + b"x"  # 39 bytes: no whole number of values of any binary VR
    placeholder = struct.pack("<HH2sH", 9, 0x10, b"LO", 12) + b"PLACEHOLDER "
    creator = struct.pack("<HH2sH", 9, 0x10, vr.encode(), len(value)) + value
    data = path.read_bytes()
    assert data.count(placeholder) == 2
    top, nested = data.index(placeholder), data.rindex(placeholder)
    data = data[:top] + creator + data[top + len(placeholder):nested] + creator + data[nested + len(placeholder):]
    path.write_bytes(data)
    assert pydicom.dcmread(path).ReferencedImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.4"
    result = _general(path, policy, tmp_path / "out", monkeypatch)  # the raw path leaves such a file to it
    assert result.status == "ok", result.reason
    data = (tmp_path / "out" / result.output).read_bytes()
    assert b"Quixandor" not in data and b"98765431" not in data and b"19471113" not in data
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    assert Tag(0x00090010) not in out and Tag(0x00091001) not in out
    assert any(f[1:3] == ("X", "private:creator-unreadable") for f in result.fired), result.fired


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_public_binary_values_holding_the_patients_name_are_removed(policy, tmp_path, monkeypatch):
    ds = _patient(_small_image())
    ds.add(DataElement(0x00181310, "US", list(struct.unpack("<19H", PHI))))  # Acquisition Matrix
    ds.add(DataElement(0x00281201, "OW", PHI))  # Red Palette Color Lookup Table Data
    ds.add(DataElement(0x00660016, "OF", PHI[:36]))  # Point Coordinates Data
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.add(DataElement(0x00281202, "OW", b"nested " + PHI[:29]))  # Green Palette, in an item
    ds.ReferencedImageSequence = Sequence([item])
    lut = bytes(range(256)) * 2  # an ordinary LUT: every byte value, printable runs of 95 characters
    ds.add(DataElement(0x00281203, "OW", lut))  # Blue Palette
    out = _run(ds, policy, tmp_path, monkeypatch)
    data = _out_bytes(tmp_path)
    assert b"Quixandor" not in data and b"98765431" not in data and b"19471113" not in data
    assert Tag(0x00181310) not in out and Tag(0x00281201) not in out and Tag(0x00660016) not in out
    assert out[0x00281203].value == lut
    assert (out.Rows, out.Columns, out.BitsAllocated, out.PixelRepresentation) == (8, 8, 16, 0)  # numbers kept


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_numbers_that_are_the_patients_id_or_birth_date_are_removed(policy, tmp_path, monkeypatch):
    ds = _patient(_small_image())
    ds.PatientID = "98765431"
    ds.SeriesNumber = "98765431"
    ds.AcquisitionNumber = "19471113"
    ds.InstanceNumber = "987654"  # six digits, not the patient's
    ds.PatientWeight = "19471113.0"
    ds.SliceLocation = "98765431.5"  # a fraction: a measurement, not the ID
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.ReferencedFrameNumber = "+098765431"
    ds.ReferencedImageSequence = Sequence([item])
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.get("SeriesNumber") in (None, "") and out.get("AcquisitionNumber") in (None, "")
    assert "AcquisitionNumber" in out  # emptied, not removed: an IOD may require it (review: Type 2 in CT)
    assert out.get("PatientWeight") in (None, "")
    assert out.ReferencedImageSequence[0].get("ReferencedFrameNumber") in (None, "")
    assert out.InstanceNumber == 987654 and float(out.SliceLocation) == 98765431.5
    data = _out_bytes(tmp_path)
    assert b"19471113" not in data and b"98765431\x00" not in data and b"98765431 " not in data


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize(("written", "expected"), [
    ("ISO_IR Quixandor", None), ("ISO IR 100", "ISO_IR 100"), ("UTF-8", "ISO_IR 192"),
    (["ISO 2022 IR 6", "ISO_IR Quixandor"], "ISO 2022 IR 6"), ("windows-1251", "cp1251"), ("ISO_IR100", "ISO_IR 100"),
])
def test_a_character_set_term_the_standard_does_not_define_is_not_copied(policy, written, expected, tmp_path,
                                                                         monkeypatch):
    """Red team (this session): Specific Character Set is never checked, and "ISO_IR Quixandor" went out as
    read. A term PS3.3 C.12.1.1.2 does not define becomes the defined term pydicom read the text as, or goes."""
    ds = _patient(_small_image())
    ds.SpecificCharacterSet = written
    ds.StudyDescription = "CT HEAD"
    if written == "windows-1251":  # a codec name Python knows: the text is read and written with it (red team)
        ds.Manufacturer = "Медицинская техника"
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, policy, tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    assert out.get("SpecificCharacterSet") == expected
    assert b"QUIXANDOR" not in (tmp_path / "out" / result.output).read_bytes().upper()
    if written == "windows-1251":
        assert out.Manufacturer == "Медицинская техника"


@pytest.mark.parametrize("written", ["ISO_IR 100", ["", "ISO 2022 IR 87"], "ISO_IR 192"])
def test_a_defined_character_set_is_kept_as_read(written, tmp_path, monkeypatch):
    ds = _patient(_small_image())
    ds.SpecificCharacterSet = written
    assert _run(ds, "basic", tmp_path, monkeypatch).SpecificCharacterSet == written


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_numbers_that_only_look_like_a_short_birth_date_or_a_ramp_are_kept(policy, tmp_path, monkeypatch):
    """Red team (this session): an exposure of 131147 uAs was removed for a patient born 1947-11-13 (a birth
    date's 6-digit forms were numbers of the patient's), and an identity 16-bit LUT for ID 123456 (its bytes
    read "0.1.2.3.4.5.6."). Only an ID's digits and the birth date as YYYYMMDD count; in numbers of a binary
    VR an ID's digits count only as one run."""
    ds = _patient(_small_image())
    ds.PatientID = "123456"
    ds.ExposureInuAs = "131147"
    ds.XRayTubeCurrentInuA = "111347.0"
    ds.add(DataElement(0x00283006, "US", [0x2E30 + i for i in range(10)]))  # LUT Data
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.ExposureInuAs == 131147 and float(out.XRayTubeCurrentInuA) == 111347.0
    assert list(out[0x00283006].value) == [0x2E30 + i for i in range(10)]


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_character_set_python_knows_is_written_by_pythons_name_and_must_read_ascii(policy, tmp_path, monkeypatch):
    """Red team (this session), after codec names were kept: Python's lookup finds "cp1251 ИВАНОВ" as cp1251,
    and the term went out as written; "utf-16" over ASCII bytes made every value read as CJK-looking text
    in which no name was found, and the bytes went out. A codec's own name is written; an encoding that does
    not read ASCII as ASCII quarantines the file."""
    ds = _patient(_small_image())
    ds.ImageComments = "PT QUIXANDOR ZEBULON MRN98765431"
    ds.SpecificCharacterSet = "ISO_IR 100"  # a placeholder the terms replace, as a device would write them
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    placeholder = struct.pack("<HH2sH", 8, 5, b"CS", 10) + b"ISO_IR 100"
    assert data.count(placeholder) == 1
    for term, expect in ((b"cp1251 \xc8\xc2\xc0\xcd\xce\xc2", "cp1251"), (b"utf-16", None)):
        head = struct.pack("<HH2sH", 8, 5, b"CS", len(term) + len(term) % 2) + term + b" " * (len(term) % 2)
        (tmp_path / "c.dcm").write_bytes(data.replace(placeholder, head))
        result = _general(tmp_path / "c.dcm", policy, tmp_path / "out", monkeypatch)
        if expect is None:
            assert result.status == "quarantined" and result.rule == "charset-not-ascii"
            continue
        assert result.status == "ok", result.reason
        written = (tmp_path / "out" / result.output).read_bytes()
        assert pydicom.dcmread(tmp_path / "out" / result.output).SpecificCharacterSet == expect
        assert b"\xc8\xc2\xc0\xcd\xce\xc2" not in written and b"QUIXANDOR" not in written


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_an_id_with_its_own_separator_in_binary_numbers_is_found(policy, tmp_path, monkeypatch):
    """Red team (this session): once an ID in binary numbers had to be one run of digits (a LUT ramp read
    "0.1.2.3.4.5.6."), "PID:2019-004417" in a palette's LUT data went out for ID 2019-004417."""
    ds = _patient(_small_image())
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.21"  # fixed: a
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.22", "1.2.826.0.1.3680043.8.498.23"
    ds.PatientID = "2019-004417"  # ^ remapped random UID may hold any 6 digits
    ds.add(DataElement(0x00281201, "OW", b"PID:2019-004417 "))
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert 0x00281201 not in out and b"004417" not in _out_bytes(tmp_path)
