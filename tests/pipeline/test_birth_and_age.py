"""The patient's birth date and age written elsewhere than Patient's Birth Date and Patient's Age get their
treatment (red team B, this session): a shifted birth date beside shifted study dates gives the exact age
that emptying Patient's Birth Date (PS3.15 E.1-1 Z) and the age cap (HIPAA: over 89) hide.

- research-longitudinal shifted 'DOB 15/01/1920' in Image Comments to 'DOB 21/02/1916' (Patient's Age 090Y);
- an SR DATE item named Subject Birth Date (DCM 121031) was kept shifted when the top level had no birth date;
- an SR NUM item named Subject Age (DCM 121033) kept '100' years under both policies.
"""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .test_code_meanings import _run, _sr
from .test_rawpath import _compare, _general
from .test_review_regressions import _code


def test_the_birth_date_in_text_is_replaced_not_shifted(tmp_path, monkeypatch):
    from .test_rawpath import _small_image

    ds = _small_image()
    ds.PatientName, ds.PatientID = "Quixandor^Zebulon", "MRN98765431"
    ds.PatientBirthDate, ds.PatientAge, ds.StudyDate = "19200115", "100Y", "20200304"
    ds.ImageComments = "DOB 15/01/1920, fall at home 2020-03-04"
    ds.StudyDescription = "CT head (born 1920-01-15)"
    out = _run(ds, "research-longitudinal", tmp_path, monkeypatch)
    assert out.ImageComments.startswith("DOB [DATE], fall at home ")
    assert "2020-03-04" not in out.ImageComments and "[DATE]" not in out.ImageComments.split("home")[1]  # shifted
    assert out.StudyDescription == "CT head (born [DATE])"
    assert out.PatientAge == "090Y"



@pytest.mark.parametrize("written", ["DOB Jan 15th 1920", "born 15th of January 1920", "DOB 15 01 1920",
                                     "DOB 15/01/1920 10:30"])
def test_the_birth_date_is_replaced_in_every_form_it_is_matched_in(written, tmp_path, monkeypatch):
    """Red team B: an ordinal ("Jan 15th 1920") was not a form of the birth date and was shifted as any date;
    a birth date matched with other separators or with a time after it was shifted too, as the span was
    compared with the forms as written. Each gave an exact (shifted) birth date beside shifted study dates."""
    from .test_rawpath import _small_image

    ds = _small_image()
    ds.PatientName, ds.PatientID = "Quixandor^Zebulon", "MRN98765431"
    ds.PatientBirthDate, ds.StudyDate = "19200115", "20200304"
    ds.ImageComments = f"{written}; fall at home 2020-03-04"
    out = _run(ds, "research-longitudinal", tmp_path, monkeypatch)
    head, tail = out.ImageComments.split(";")
    assert "[DATE]" in head and not any(c.isdigit() for c in head), head
    assert "[DATE]" not in tail and "2020-03-04" not in tail  # a study date is still shifted


def _date_item(concept: Dataset, value: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "HAS OBS CONTEXT", "DATE"
    item.ConceptNameCodeSequence = Sequence([concept])
    item.Date = value
    return item


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_content_date_named_subject_birth_date_is_the_birth_date(policy, tmp_path, monkeypatch):
    ds = _sr([_date_item(_code("121031", "DCM", "Subject Birth Date"), "19200115"),
              _date_item(_code("111060", "DCM", "Study Date"), "20200304")])
    ds.StudyDate = "20200304"
    out = _run(ds, policy, tmp_path, monkeypatch)
    birth, study = (item.Date for item in out.ContentSequence)
    assert birth in ("", "19000101"), birth  # emptied, or the dummy where the item needs a value
    if policy == "research-longitudinal":  # an ordinary content date is shifted there (basic: a dummy)
        assert study != "20200304" and study not in ("", "19000101")


def _age_item(value: str, unit: str, concept: tuple[str, str, str] = ("121033", "DCM", "Subject Age")) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "HAS OBS CONTEXT", "NUM"
    item.ConceptNameCodeSequence = Sequence([_code(*concept)])
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = Sequence([_code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = Sequence([mv])
    return item


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_content_number_named_subject_age_is_the_patients_age(policy, tmp_path, monkeypatch):
    """Removed where Patient's Age is (basic: its Measured Value Sequence emptied), capped at 90 years in
    its own unit where the policy keeps the age capped; an age under the cap and any other number stay."""
    ds = _sr([_age_item("100", "a"), _age_item("1212", "mo"), _age_item("45", "a")])
    other = _age_item("100", "mm")
    other.ConceptNameCodeSequence = Sequence([_code("410668003", "SCT", "Length")])
    ds.ContentSequence.append(other)
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert not _compare(path, policy, tmp_path / "cmp", monkeypatch)  # the raw path leaves it to the engine
    result = _general(path, policy, tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    out = pydicom.dcmread(tmp_path / "out" / str(result.output))
    values = [[mv.NumericValue for mv in item.MeasuredValueSequence] for item in out.ContentSequence]
    assert values[3] == ["100"]  # a length, not an age
    if policy == "basic":
        assert values[:3] == [[], [], []]
    else:
        assert values[:3] == [["90"], ["1080"], ["45"]]


def test_a_capped_subject_age_is_capped_in_every_form_it_is_written(tmp_path, monkeypatch):
    """Red team C: Floating Point Value and the Rational Numerator/Denominator hold the same number as
    Numeric Value; 95.0 and 95/1 stayed beside a Numeric Value capped at 90."""
    item = _age_item("95", "a")
    mv = item.MeasuredValueSequence[0]
    mv.FloatingPointValue = 95.0
    mv.RationalNumeratorValue, mv.RationalDenominatorValue = 95, 1
    ds = _sr([item])
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, "research-longitudinal", tmp_path / "out", monkeypatch)
    out = pydicom.dcmread(tmp_path / "out" / str(result.output)).ContentSequence[0].MeasuredValueSequence[0]
    assert (out.NumericValue, out.FloatingPointValue, out.RationalNumeratorValue,
            out.RationalDenominatorValue) == ("90", 90.0, 90, 1)


def test_a_subject_age_whose_units_cannot_be_read_is_removed_not_quarantined(tmp_path, monkeypatch):
    """Units written as bytes, not a code sequence: the value cannot be judged, so it goes (fail closed),
    and the file is written, not quarantined."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    item = _age_item("95", "a")
    mv = item.MeasuredValueSequence[0]
    del mv.MeasurementUnitsCodeSequence
    mv._dict[Tag(0x004008EA)] = RawDataElement(Tag(0x004008EA), "UN", 8, b"garbage!", 0, False, True)
    ds = _sr([item])
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, "research-longitudinal", tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    out = pydicom.dcmread(tmp_path / "out" / str(result.output))
    assert not out.ContentSequence[0].MeasuredValueSequence


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_an_age_under_snomeds_concept_or_a_local_code_meaning_age_is_the_patients_age(policy, tmp_path, monkeypatch):
    """Red team (this session): "92" went out under SNOMED CT's Age (397669002) and a 99LOCAL "Patient age";
    a local "Age of lesion" is no age of the patient's."""
    ds = _sr([_age_item("92", "a", ("397669002", "SCT", "Age")),
              _age_item("92", "a", ("AGE", "99LOCAL", "Patient age")),
              _age_item("92", "a", ("LA1", "99LOCAL", "Age of lesion"))])
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, policy, tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    out = pydicom.dcmread(tmp_path / "out" / str(result.output))
    values = [[mv.NumericValue for mv in item.MeasuredValueSequence] for item in out.ContentSequence]
    assert values == ([[], [], ["92"]] if policy == "basic" else [["90"], ["90"], ["92"]])
