"""Regressions a reviewer found in the session's own red-team fixes (79a32d2..99bf246), on both paths.

Each case is what the code before those fixes did right and the fixes broke: SR concept codes made
dummies, Specific Character Set removed for Patient ID 100, Siemens' Image Type NORM taken for Norman,
a kept birth date leaving a date unshifted, a newborn's dates emptied, a typed label read only for the
patient's own identifiers under basic, opaque private bytes removed for a 4-digit ID.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.pipeline import rawpath
from veil.policy.model import load_policy, load_policy_text
from veil.policy.plan import compile_plan

from .test_rawpath import KEYED, _compare, _small_image


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _written(tmp: Path) -> pydicom.Dataset:
    return pydicom.dcmread(next((tmp / "cmp" / "raw").rglob("*.dcm")))


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_sr_concept_codes_stay_codes(policy, tmp_path, monkeypatch):
    """Content Sequence is D under basic and C where structured content is cleaned: its concept names,
    codes and units are the report's meaning. They had become 'ANONYMIZED' (basic) or free text cleaned
    to '[ID]' / '[NAME] Started' (research-longitudinal) once the scope came before the allow-list."""
    ds = _small_image()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.Modality, ds.ValueType = "SR", "CONTAINER"
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "CODE"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    item.ConceptCodeSequence = Sequence([_code("39607008", "SCT", "Lung")])
    ds.ContentSequence = Sequence([item])
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    out = _written(tmp_path).ContentSequence[0]
    got = [(c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning)
           for c in (*out.ConceptNameCodeSequence, *out.ConceptCodeSequence)]
    assert got == [("121071", "DCM", "Finding"), ("39607008", "SCT", "Lung")]


def test_a_person_identification_code_is_still_a_dummy(tmp_path, monkeypatch):
    ds = _small_image()
    # fixed UIDs: remapped from random ones, the output's UIDs held "448812" about once in 10,000 runs (CI)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.11"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.12", "1.2.826.0.1.3680043.8.498.13"
    person = Dataset()
    person.PersonIdentificationCodeSequence = Sequence([_code("EMP-448812", "99HOSP", "Dr Harriet Quenby")])
    person.PersonName = "Quenby^Harriet"
    ds.ContentCreatorIdentificationCodeSequence = Sequence([person])
    path = tmp_path / "p.dcm"
    ds.save_as(path, enforce_file_format=True)
    for policy in ("basic", "research-longitudinal"):
        assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
        raw = next((tmp_path / "cmp" / "raw").rglob("*.dcm")).read_bytes()
        assert b"448812" not in raw and b"Quenby" not in raw, policy


@pytest.mark.parametrize(("pid", "charset", "text"), [("100", "ISO_IR 100", "Röntgen Müller"),
                                                      ("192", "ISO_IR 192", "Röntgen 山田"),
                                                      ("2022", ["", "ISO 2022 IR 87"], "Röntgen")])
def test_specific_character_set_is_never_taken_for_an_id(pid, charset, text, tmp_path, monkeypatch):
    ds = _small_image()
    ds.SpecificCharacterSet = charset
    ds.PatientName, ds.PatientID = "Doe^John", pid
    ds.Manufacturer = text
    path = tmp_path / "cs.dcm"
    ds.save_as(path, enforce_file_format=True)
    for policy in ("basic", "research-longitudinal"):
        _compare(path, policy, tmp_path / "cmp", monkeypatch)
        gen = next((tmp_path / "cmp" / "general").rglob("*.dcm"))
        out = pydicom.dcmread(gen)
        assert out.SpecificCharacterSet == charset and out.Manufacturer == text, policy


def test_a_code_string_that_begins_a_name_is_not_the_name(tmp_path, monkeypatch):
    """Siemens writes ORIGINAL\\PRIMARY\\M\\ND\\NORM: 'NORM' is not 'Norman' cut short (the end-of-value
    truncation rule is for text cut at its VR's length, not for codes), and a value that does name the
    patient is replaced in its position, the others kept (a single dummy broke Image Type's VM)."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Norman^Greg", "ZZ123456"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
    path = tmp_path / "it.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "basic", tmp_path / "cmp", monkeypatch)
    assert _written(tmp_path).ImageType == ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
    ds.ImageType = ["DERIVED", "SECONDARY", "ZZ123456"]
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "basic", tmp_path / "cmp2", monkeypatch)
    assert pydicom.dcmread(next((tmp_path / "cmp2" / "raw").rglob("*.dcm"))).ImageType == [
        "DERIVED", "SECONDARY", "ANON"]


def _dates(ds: pydicom.Dataset) -> dict[str, str]:
    return {k: str(ds.get(k, "")) for k in ("StudyDate", "SeriesDate", "ContentDate")}


def test_a_newborns_dates_are_shifted_not_emptied(tmp_path):
    """Study/Series/Content Date equal to the birth date (a newborn) were emptied as if they were the birth
    date: only SR content dates get the birth date's action."""
    ds = _small_image()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Baby", "ZZ123456", "20200102"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20200102"
    ds.PatientAge = "000D"
    path = tmp_path / "nb.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = rawpath.process(path, compile_plan(load_policy("research-longitudinal")), KEYED, tmp_path / "out")
    assert result is not None
    out = pydicom.dcmread(tmp_path / "out" / result.rel)
    got = _dates(out)
    assert len(set(got.values())) == 1 and "" not in got.values() and got["StudyDate"] != "20200102", got


def test_a_kept_birth_date_leaves_no_date_unshifted(tmp_path):
    """With Patient's Birth Date kept by an override, a Study Date equal to it stayed unshifted beside
    shifted dates: the patient's offset, and so every real date, given away."""
    policy = load_policy_text(
        "name: keepdob\nversion: '1'\noptions: [retain_long_modified_dates]\n"
        "overrides:\n  - {keyword: PatientBirthDate, action: keep}\n")
    ds = _small_image()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Baby", "ZZ123456", "20200102"
    ds.StudyDate = ds.ContentDate = "20200102"
    ds.SeriesDate = "20200109"
    path = tmp_path / "kd.dcm"
    ds.save_as(path, enforce_file_format=True)
    from veil.pipeline.instance import process_file

    result = process_file(path, compile_plan(policy), KEYED, tmp_path / "out")
    out = pydicom.dcmread(tmp_path / "out" / str(result.output))
    from datetime import date

    def day(v: str) -> date:
        return date(int(v[:4]), int(v[4:6]), int(v[6:8]))

    assert out.StudyDate != "20200102" and out.ContentDate == out.StudyDate
    assert (day(out.SeriesDate) - day(out.StudyDate)).days == 7  # one shift for every date


def test_a_typed_label_is_read_for_names_under_basic(tmp_path, monkeypatch):
    """Segment Label is kept under basic (an IOD requires it) - as a label: another person's name typed
    into it goes too, not only the patient's own."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Doe^John", "ZZ123456"
    seg = Dataset()
    seg.SegmentNumber, seg.SegmentLabel = 1, "Liver (contoured by Dr Jane Roe)"
    ds.SegmentSequence = Sequence([seg])
    path = tmp_path / "seg.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "basic", tmp_path / "cmp", monkeypatch)
    label = _written(tmp_path).SegmentSequence[0].SegmentLabel
    assert label.startswith("Liver") and "Roe" not in label


def test_opaque_private_numbers_are_not_a_short_id(tmp_path, monkeypatch):
    """Safe private bytes holding parameters ('<FrameRate>12.34') are not Patient ID 1234: a number needs
    6 digits in opaque bytes, and binary bytes do not join digits."""
    plan = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    for value, kept in ((b"<FrameRate>12.34</FrameRate>\x00\x01\x02\x03\x04", True),
                        (b"\x01\x02\x03\x04\x00\x00", True), (b"Patient MRN 00123456 \x00", False)):
        ds = _small_image()
        ds.PatientName, ds.PatientID = "Doe^John", "1234" if kept else "00123456"
        ds.add_new(0x20010010, "LO", "Philips Imaging DD 097")
        ds.add_new(0x2001102F, "OB", value)
        path = tmp_path / f"ob-{kept}-{len(value)}.dcm"
        ds.save_as(path, enforce_file_format=True)
        result = rawpath.process(path, plan, KEYED, tmp_path / f"out-{len(value)}")
        assert result is not None
        out = pydicom.dcmread(tmp_path / f"out-{len(value)}" / result.rel)
        assert (0x2001102F in out) is kept, value


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_coded_text_in_content_is_read_for_names(policy, tmp_path, monkeypatch):
    """Third review: with the allow-list before the content scope, a local code's meaning naming another
    person ('Dr Harriet Quenby') or the patient by a surname that is also a word ('Mrs White') went out
    verbatim. Inside content (D/C scope) coded text keeps its concepts and is read for names."""
    ds = _small_image()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.Modality, ds.ValueType = "SR", "CONTAINER"
    ds.PatientName, ds.PatientID = "White^Amy", "ZZ123456"
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "CODE"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    item.ConceptCodeSequence = Sequence([_code("L-1", "99LOCAL", "Requested by Mrs White"),
                                         _code("L-2", "99LOCAL", "Reviewed by Dr Harriet Quenby"),
                                         _code("39607008", "SCT", "Lung")])
    ds.ContentSequence = Sequence([item])
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    out = _written(tmp_path).ContentSequence[0]
    meanings = [c.CodeMeaning for c in out.ConceptCodeSequence]
    assert meanings[0] == "Requested by Mrs [NAME]" and "Quenby" not in meanings[1] and meanings[2] == "Lung"
    assert out.ConceptNameCodeSequence[0].CodeMeaning == "Finding"


def test_a_label_cut_at_its_length_never_ends_in_half_a_placeholder(tmp_path, monkeypatch):
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Doe^John", "ZZ123456"
    group = Dataset()
    group.MultiplexGroupLabel = "Contoured by Jane Roe"
    ds.WaveformSequence = Sequence([group])
    path = tmp_path / "w.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "basic", tmp_path / "cmp", monkeypatch)
    label = _written(tmp_path).WaveformSequence[0].MultiplexGroupLabel
    assert "Roe" not in label and (label.endswith("]") or "[" not in label) and len(label) <= 16


def test_an_observation_datetime_that_is_the_birth_date_is_not_shifted(tmp_path, monkeypatch):
    """Third review: an SR item's Observation DateTime (0040,A032) equal to the birth date was shifted
    (shifted study date minus it = the exact age in days); it gets the birth date's action like the
    item's Date/DateTime value."""
    ds = _small_image()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.Modality, ds.ValueType = "SR", "CONTAINER"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^John", "ZZ123456", "19671005"
    ds.StudyDate = "20190716"
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    item.TextValue, item.ObservationDateTime = "normal", "19671005000000"
    ds.ContentSequence = Sequence([item])
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "research-longitudinal", tmp_path / "cmp", monkeypatch)
    assert _written(tmp_path).ContentSequence[0].get("ObservationDateTime", "") in ("", "19000101000000")
