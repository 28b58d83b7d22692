"""Values of the patient's own headers, found again in text in the forms people write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.text.clean import clean_text
from veil.text.known import collect_identifiers, date_forms, fold


def headers() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Quixworth^Zebulon^Ames"
    ds.PatientID = "0048213977"
    ds.AccessionNumber = "ACC99812"
    ds.PatientBirthDate = "19610304"
    ds.InstitutionName = "Northgate Vexford Hospital"
    ds.ReferringPhysicianName = "Okonkwo-Bell^Adaeze"
    item = Dataset()
    item.RequestedProcedureID = "RP77812"
    ds.RequestAttributesSequence = Sequence([item])
    return ds


KNOWN = collect_identifiers(headers())


@pytest.mark.parametrize("text", [
    "CT for QUIXWORTH", "zebulon quixworth", "Quixworth, Zebulon", "Z. Quixworth", "Zebulon A. Quixworth",
    "QUIXWORTH ZEBULON", "Quïxworth", "PT ID 0048-213-977", "id 48213977", "acc 99812", "ACC 998-12",
    "DOB 03/04/1961", "DOB 4-Mar-1961", "MAR 04 1961", "born 04031961", "ref Okonkwo-Bell", "Dr Adaeze Okonkwo-Bell",
    "outside films Vexford", "proc RP77812", "CT ABD QUIXWOR",
])
def test_known_identifier_variants_are_removed(text):
    cleaned, n = clean_text(text, KNOWN)
    assert n >= 1
    for secret in ("QUIXWOR", "ZEBULON", "48213977", "99812", "998-12", "1961", "OKONKWO", "VEXFORD", "77812"):
        assert secret not in fold(cleaned), cleaned


def test_date_forms_cover_common_writings():
    forms = date_forms("19610304")
    assert {"19610304", "1961-03-04", "04/03/1961", "03/04/1961", "4-MAR-1961", "MAR 04 1961", "4 MARCH 1961"} <= forms
    assert date_forms("1961") == set()


def test_a_clinical_word_that_is_the_patients_name_keeps_the_descriptor_readable():
    ds = Dataset()
    ds.PatientName = "Head^Quentin"
    known = collect_identifiers(ds)
    assert clean_text("CT HEAD", known)[0] == "CT HEAD"
    assert clean_text("CT HEAD for Quentin Head", known)[0] == "CT HEAD for [NAME]"
    assert clean_text("Quentin Head knee", known)[0] == "[NAME] knee"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_cleaning_is_total_and_deterministic(text):
    a = clean_text(text, KNOWN)
    assert a == clean_text(text, KNOWN)
    assert isinstance(a[0], str) and a[1] >= 0


@settings(max_examples=100, deadline=None)
@given(prefix=st.sampled_from(["CT HEAD ", "Seen by ", "", "re: "]),
       variant=st.sampled_from(["Quixworth", "QUIXWORTH", "quixworth", "Zebulon Quixworth", "0048213977",
                                "48213977", "ACC99812"]),
       suffix=st.sampled_from(["", " follow-up", ", repeat", "."]))
def test_planted_known_values_never_survive(prefix, variant, suffix):
    cleaned, _ = clean_text(prefix + variant + suffix, KNOWN)
    assert "QUIXWORTH" not in fold(cleaned) and "48213977" not in cleaned and "99812" not in cleaned
