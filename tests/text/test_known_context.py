"""The patient's own identifiers where the header and the text were decoded wrongly, written short, or
meet allow-listed technical text (red-team round 2: header F1, F5; utility F6, F8)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from veil.text.clean import clean_text
from veil.text.known import KnownIdentifiers, collect_identifiers, fold, technical_identifiers


def _known(name: str, **values: str) -> KnownIdentifiers:
    ds = Dataset()
    ds.PatientName = name
    for kw, v in values.items():
        setattr(ds, kw, v)
    return collect_identifiers(ds)


@pytest.mark.parametrize("decode", [
    lambda b: b.decode("utf-8", "replace"),  # ISO_IR 192 declared, Latin-1 bytes: 'Zq\ufffdxw\ufffdrth'
    lambda b: b.decode("latin-1"),  # ISO_IR 100 declared (or none), UTF-8 bytes: 'ZqÃ¼xwÃ¶rth'
], ids=["utf8-declared-latin1-bytes", "latin1-declared-utf8-bytes"])
def test_a_name_decoded_with_the_wrong_character_set_is_found_as_the_header_holds_it(decode):
    """The header and the text decode to the same wrong characters (U+FFFD, '¼', '¶'): found as written."""
    enc = "latin-1" if decode(b"\xfc") == "\ufffd" else "utf-8"
    known = _known(decode("Zqüxwörth^Jürgen".encode(enc)))
    for text in ("CT für Zqüxwörth", "Pat. Zqüxwörth, Jürgen - Kontrolle", "CT Zqüxwörth"):
        cleaned, n = clean_text(decode(text.encode(enc)), known, names=False, patterns=False)
        assert n >= 1 and "ZQ" not in fold(cleaned) and "RTH" not in fold(cleaned), cleaned
        assert "RGEN" not in fold(cleaned) or "Kontrolle" not in text, cleaned


def test_a_term_with_symbols_still_needs_its_own_letters():
    known = _known("Zq\ufffdxw\ufffdrth^Jo")
    assert clean_text("Zq\ufffdxw\ufffdabc and \ufffd\ufffd", known, names=False, patterns=False)[1] == 0
    cjk = _known("Yamada^Tarou=山田^太郎")
    assert clean_text("CT 山田太郎", cjk, names=False, patterns=False)[0] == "CT [NAME]"


def test_an_id_keeps_four_characters_when_its_leading_zeros_go():
    """PatientID 'id00001': its digits '00001' are no reason to touch 'Field 1' (zero-stripped: '1')."""
    known = _known("Quixworth^Zebulon", PatientID="id00001")
    assert clean_text("Field 1", known, names=False, patterns=False) == ("Field 1", 0)
    assert clean_text("ref 00001", known, names=False, patterns=False)[0] == "ref [ID]"
    long = _known("Quixworth^Zebulon", PatientID="0048213977")
    assert clean_text("id 48213977", long, names=False, patterns=False)[0] == "id [ID]"


@pytest.mark.parametrize("name,surname", [
    ("Head^Susan", "Head"), ("Hand^Tom", "Hand"), ("Bone^Alice", "Bone"), ("Mass^Ida", "Mass"), ("Ng^Kim Hoa", "Ng"),
    ("Do^An", "Do"),
])
def test_a_short_or_clinical_surname_is_found_after_a_title_or_cue(name, surname):
    known = _known(name)
    for text in (f"Mrs {surname} called re results", f"Pt {surname} reports pain", f"Dear {surname},",
                 f"Dear Mrs. {surname}", f"MRS {surname.upper()} CALLED"):
        cleaned, _ = clean_text(text, known)
        assert surname not in cleaned.replace("[NAME]", "").split(), (text, cleaned)
        assert "[NAME]" in cleaned


def test_the_given_name_next_to_a_short_surname_finds_it():
    known = _known("Ng^Kim Hoa")
    assert clean_text("seen with Kim Ng today", known, names=False)[0] == "seen with [NAME] today"
    assert clean_text("Ng, Kim", known, names=False)[0] == "[NAME]"


@pytest.mark.parametrize("name,text", [
    ("Head^Susan", "CT chest head"), ("Head^Susan", "MR HEAD W/O"), ("Head^Susan", "Patient Head First Supine"),
    ("Hand^Tom", "DR HAND 2 VIEWS"), ("Hand^Tom", "pt hand pain"), ("Ng^Kim Hoa", "NG tube in situ"),
    ("Do^An", "do not resuscitate"), ("Mass^Ida", "TR 500 ms Mass effect"),
])
def test_a_short_or_clinical_surname_without_such_context_stays(name, text):
    assert clean_text(text, _known(name)) == (text, 0)


def test_allow_listed_technical_text_ignores_single_institution_words_and_name_parts_that_are_terms():
    known = _known("Name^Text^Quixworth", InstitutionName="Sutter Health Systems", PatientID="id00001")
    tech = technical_identifiers(known)
    for value in ("GE MEDICAL SYSTEMS", "Recording Observer's Name", "Report Text", "Field 1"):
        assert clean_text(value, tech, names=False, patterns=False) == (value, 0), value
        if value != "Field 1":
            assert clean_text(value, known, names=False, patterns=False)[1] == 1  # the full set still would
    for value, cleaned in (("Philips at Sutter Health Systems", "Philips at [PLACE]"), ("QA Name Text", "QA [NAME]"),
                           ("CT Quixworth", "CT [NAME]"), ("ref ID00001", "ref [ID]")):
        assert clean_text(value, tech, names=False, patterns=False)[0] == cleaned


def test_technical_identifiers_is_the_same_object_when_nothing_is_dropped():
    known = _known("Quixworth^Zebulon", PatientID="ACC99812")
    assert technical_identifiers(known) is known


@pytest.mark.parametrize("text,cleaned", [
    ("Mrs Q. presented with cough", "Mrs [NAME] presented with cough"),
    ("Dear Mrs. Q., results", "Dear Mrs. [NAME], results"),
    ("Dr V. to review", "Dr [NAME] to review"),  # the referring physician's initial
    ("Pt B.Q., left lung nodule", "Pt [NAME], left lung nodule"),
])
def test_initials_after_a_title_or_cue_are_the_persons(text, cleaned):
    """Red team 2: "Mrs Q." and "Dr V." went out: an initial is part of the name (45 CFR
    164.514(b)(2)(i)(A)). Only after a title or cue, and with its full stop."""
    known = _known("Quixandor^Belinda", ReferringPhysicianName="Vrandleby^Zebulon")
    assert clean_text(text, known)[0] == cleaned


@pytest.mark.parametrize("text", ["Pt A dose 7 Gy", "MR QB sequence", "CT BQ", "Pt QC report", "Mrs Q presented",
                                  "Q. 2 view", "BQ level"])
def test_letters_that_are_not_initials_after_a_cue_stay(text):
    known = _known("Quixandor^Belinda", ReferringPhysicianName="Vrandleby^Zebulon")
    assert clean_text(text, known) == (text, 0)


@pytest.mark.parametrize("name,text", [("Fisher^Alice", "Pt AF on warfarin"), ("Smith^Mary", "Patient MS relapse"),
                                       ("Miller^David", "Pt DM type 2"), ("O'Brien^Nora", "Pt NO known allergies"),
                                       ("Rossi^Carla", "MRS Cr peak")])
def test_two_letters_after_a_cue_are_no_initials(name, text):
    """Review: two letters without stops after "Pt" or "Patient" are the clinical abbreviation far more
    often than the patient's initials (atrial fibrillation, multiple sclerosis, diabetes)."""
    assert clean_text(text, _known(name)) == (text, 0)
