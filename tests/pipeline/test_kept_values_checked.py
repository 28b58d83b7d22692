"""Values a rule keeps are judged by what the file wrote, not by what the rule expects (red team C, this
session). Each leaked on both paths before the fix: an allow-listed text attribute written with a binary VR
(Manufacturer as OB), a patient characteristic an option keeps written as text or not a number (Patient's
Weight as UT, Patient's Size "MRN98765431"), an Encrypted Attributes Sequence (an earlier de-identifier's
original values), and a surname that is also a word of the institution's name in a local Code Meaning.
Each case runs on the raw path and the general path, which must write the same bytes.
"""

from __future__ import annotations

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from .test_code_meanings import _run
from .test_rawpath import _small_image
from .test_review_regressions import _code

SECRET_BYTES = b"Quixandor^Zebulon MRN98765431"


def _raw_bytes(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "cmp" / "raw").rglob("*.dcm"))


def _patient(ds: Dataset) -> Dataset:
    ds.PatientName, ds.PatientID = "Quixandor^Zebulon", "MRN98765431"
    return ds


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_allow_listed_text_written_with_a_binary_vr_is_removed(policy, tmp_path, monkeypatch):
    """Manufacturer and Software Versions are allow-listed text (kept unless they hold a known identifier);
    written as OB or CS their text was never read and went out as read."""
    ds = _patient(_small_image())
    ds.add_new(0x00080070, "OB", SECRET_BYTES)  # Manufacturer
    ds.add_new(0x00181020, "CS", "QUIXANDOR ZEBULON")  # Software Versions (LO)
    ds.ManufacturerModelName = "Scanner 3000"
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert "Manufacturer" not in out and "SoftwareVersions" not in out
    assert out.ManufacturerModelName == "Scanner 3000"  # the same attribute written as its VR: kept
    assert b"QUIXANDOR" not in _raw_bytes(tmp_path).upper()


def test_kept_patient_characteristics_are_judged_by_their_bytes(tmp_path, monkeypatch):
    """research-longitudinal keeps patient characteristics (PS3.15 E.1-1 option): kept as read, Patient's
    Weight written as UT and Patient's Size holding an ID went out; a real number stays."""
    ds = _patient(_small_image())
    ds.add_new(0x00101030, "UT", "Quixandor 555-0142")  # Patient's Weight (DS)
    size = Tag(0x00101020)  # Patient's Size (DS): raw, as a file holds it (pydicom would not make this DS)
    ds._dict[size] = RawDataElement(size, "DS", 12, b"MRN98765431 ", 0, False, True)
    ds.add_new(0x001021C0, "UT", "12 Elm Street")  # Pregnancy Status (US)
    out = _run(ds, "research-longitudinal", tmp_path, monkeypatch)
    assert "PatientWeight" not in out and "PregnancyStatus" not in out
    assert out.get("PatientSize") in (None, "")
    data = _raw_bytes(tmp_path)
    assert b"98765431" not in data and b"Elm Street" not in data and b"Quixandor" not in data

    good = _patient(_small_image())
    good.PatientSize, good.PatientWeight = "1.75", "70"
    (tmp_path / "good").mkdir()
    out = _run(good, "research-longitudinal", tmp_path / "good", monkeypatch)
    assert (str(out.PatientSize), str(out.PatientWeight)) == ("1.75", "70")


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_an_encrypted_attributes_sequence_is_removed(policy, tmp_path, monkeypatch):
    """(0400,0500) is not in Table E.1-1: the fallback kept it and its OB Encrypted Content, where an earlier
    de-identifier keeps the original identifying attributes for whoever holds its key."""
    ds = _patient(_small_image())
    item = Dataset()
    item.EncryptedContentTransferSyntaxUID = "1.2.840.10008.1.2.1"
    item.EncryptedContent = SECRET_BYTES  # the repro's stand-in for ciphertext: visible when it leaks
    ds.EncryptedAttributesSequence = Sequence([item])
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert "EncryptedAttributesSequence" not in out
    assert b"MRN98765431" not in _raw_bytes(tmp_path)


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_surname_that_is_also_the_institutions_word_is_still_the_patients_name(policy, tmp_path, monkeypatch):
    """Institution Name comes before Patient's Name in tag order, so 'QUIXANDOR' was known as a place, and
    a single word of a place is not looked for in technical text: a local Code Meaning 'Quixandor knee'
    went out under research-longitudinal (basic, which reads only the name and ID, caught it)."""
    ds = _patient(_small_image())
    ds.PatientName = "Quixandor^Mary"
    ds.InstitutionName = "Quixandor Memorial Hospital"
    ds.AnatomicRegionSequence = Sequence([_code("K-1", "99LOCAL", "Quixandor knee")])
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.AnatomicRegionSequence[0].CodeMeaning == "[NAME] knee"


def _wrong_vr(ds: Dataset, tag: int, vr: str, value: object) -> Dataset:
    if tag in ds:
        del ds[tag]
    ds.add_new(tag, vr, value)
    return ds


def _item(text: str) -> Dataset:
    item = Dataset()
    item.CodeMeaning = text
    return item


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("how", ["SQ", "OB"])
def test_a_replaced_attribute_written_with_another_vr_is_written_as_its_own(policy, how, tmp_path, monkeypatch):
    """Red team C (last session): Patient's Name written as a sequence quarantined the file with rule
    'internal' and a TypeError (the pseudonym could not be set into a sequence). An attribute Veil gives a
    value of its own (P, Z, D) is now written with the dictionary's VR: the pseudonym as PN, an empty
    Referring Physician's Name as PN, and nothing of what the wrong VR held."""
    from .test_rawpath import _general

    ds = _patient(_small_image())
    value = Sequence([_item("Quixandor Zebulon")]) if how == "SQ" else SECRET_BYTES
    _wrong_vr(ds, 0x00100010, how, value)  # Patient's Name: P (pseudonym)
    _wrong_vr(ds, 0x00080090, how, value)  # Referring Physician's Name: Z
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, policy, tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    data = (tmp_path / "out" / str(result.output)).read_bytes()
    assert b"Quixandor" not in data and b"98765431" not in data
    import pydicom

    out = pydicom.dcmread(tmp_path / "out" / str(result.output))
    assert out["PatientName"].VR == "PN" and str(out.PatientName).startswith("VEIL")
    assert out["ReferringPhysicianName"].VR == "PN" and not out.ReferringPhysicianName


def test_a_uid_written_with_another_vr_is_refused_with_its_reason(tmp_path, monkeypatch):
    """A value Veil remaps cannot be read from a sequence: the file is quarantined, and the reason says
    which attribute and why (it said 'internal' and a TypeError before)."""
    from .test_rawpath import _general

    ds = _wrong_vr(_patient(_small_image()), 0x0020000D, "SQ", Sequence([_item("1.2.3")]))  # Study Instance UID
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, "basic", tmp_path / "out", monkeypatch)
    assert result.status == "quarantined" and result.rule == "vr-mismatch"
    assert "StudyInstanceUID is written as SQ, not UI" in result.reason


def test_a_patients_name_written_as_lo_is_still_looked_for_in_text(tmp_path, monkeypatch):
    """Red team B (this session): Patient's Name written with VR LO (or UN) in an explicit VR file was not
    collected as a name under research-longitudinal (the collector went by the VR the file wrote), so
    'Pt quixandor, scanned twice' in Image Comments and 'QUIXANDOR' in Convolution Kernel went out."""
    ds = _small_image()
    value = b"Quixandor^Zebulon "
    ds._dict[Tag(0x00100010)] = RawDataElement(Tag(0x00100010), "LO", len(value), value, 0, False, True)
    ds.PatientID = "MRN98765431"
    ds.ConvolutionKernel = "QUIXANDOR"
    ds.ImageComments = "Pt quixandor, scanned twice"
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", "CT Quixandor")])
    out = _run(ds, "research-longitudinal", tmp_path, monkeypatch)
    assert b"QUIXANDOR" not in _raw_bytes(tmp_path).upper()
    assert out["PatientName"].VR == "PN" and "scanned twice" in out.ImageComments


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_the_patients_other_names_and_ids_are_looked_for_in_kept_values(policy, tmp_path, monkeypatch):
    """Red team B: kept Code Strings and (under basic) allow-listed text were checked against the first name
    and IDs only: Body Part Examined 'OSTROWICZ' (the birth name), a Content Label holding an ID of the
    Other Patient IDs Sequence, a local procedure meaning with an other name went out."""
    ds = _patient(_small_image())
    item = Dataset()
    item.PatientID, item.TypeOfPatientID = "H44556677", "TEXT"
    ds.OtherPatientIDsSequence = Sequence([item])
    ds.OtherPatientNames = "Vrandleby^Zebulina"
    ds.PatientBirthName = "Ostrowicz^Zebulina"
    ds.PatientMotherBirthName = "Kwiatkowsky^Ludmila"
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", "CT H44556677"),
                                         _code("X2", "99LOCAL", "CT chest Vrandleby"),
                                         _code("X3", "99LOCAL", "CT chest Kwiatkowsky")])
    ds.ConvolutionKernel = "H44556677"
    ds.FilterType = "VRANDLEBY"
    ds.BodyPartExamined = "OSTROWICZ"
    ds.ContentLabel = "H44556677"
    _run(ds, policy, tmp_path, monkeypatch)
    data = _raw_bytes(tmp_path).upper()
    for needle in (b"44556677", b"VRANDLEBY", b"OSTROWICZ", b"KWIATKOWSKY"):
        assert needle not in data, needle


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_word_of_the_patients_own_address_is_looked_for_in_kept_code_strings(policy, tmp_path, monkeypatch):
    """Fuzzing red team: Scan Options "ZEPHYRWOOD" went out under basic beside Patient's Address "4471
    Zephyrwood Lane": Code Strings were checked against the patient's name and IDs only. A defined term that
    is also a word of the address ("LANE" is an English word) stays."""
    ds = _patient(_small_image())
    ds.PatientAddress = "4471 Zephyrwood Lane, Quarrington"
    ds.ScanOptions = "ZEPHYRWOOD"
    ds.BodyPartExamined = "QUARRINGTON"
    ds.PatientPosition = "LANE"  # a Code String (CS), not a real defined term: an everyday word stays
    out = _run(ds, policy, tmp_path, monkeypatch)
    data = _raw_bytes(tmp_path).upper()
    for needle in (b"ZEPHYRWOOD", b"QUARRINGTON"):
        assert needle not in data, needle
    assert out.PatientPosition == "LANE"


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_numbers_holding_the_phone_or_the_birth_date_day_first_are_emptied(policy, tmp_path, monkeypatch):
    """Red team (this session): an IS/DS holding the patient's telephone digits ("5552384471") or the birth
    date day or month first ("13051947") went out; the ID and the YYYYMMDD birth date were emptied."""
    ds = _patient(_small_image())
    ds.PatientTelephoneNumbers = "555-238-4471"
    ds.PatientBirthDate = "19470513"
    ds.add_new(0x00200012, "IS", "5552384471")  # Acquisition Number
    ds.add_new(0x00181153, "IS", "13051947")  # Exposure in uAs
    ds.add_new(0x00181150, "IS", "1305")  # Exposure Time: an ordinary number stays
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.get("AcquisitionNumber") in (None, "") and out.get("ExposureInuAs") in (None, "")
    assert out.ExposureTime == 1305


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_number_or_text_holding_the_local_part_of_the_phone_is_cleaned(policy, tmp_path, monkeypatch):
    """Red team 2: the last seven digits of the patient's telephone number ("2384471" of 555-238-4471, the
    number as dialled locally) went out in a number attribute and in a comment."""
    ds = _patient(_small_image())
    ds.PatientTelephoneNumbers = "555-238-4471"
    ds.add_new(0x00200012, "IS", "2384471")  # Acquisition Number
    ds.add_new(0x00181150, "IS", "3844")  # Exposure Time: an ordinary number stays
    ds.ImageComments = "daughter on 238-4471 or 238 4471"
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.get("AcquisitionNumber") in (None, "")
    assert out.ExposureTime == 3844
    assert "4471" not in str(out.get("ImageComments", ""))


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_public_bytes_the_table_does_not_list_are_checked_for_the_patient(policy, tmp_path, monkeypatch):
    """Red team B: public OB attributes Table E.1-1 does not list were kept word for word by the fallback
    ("not text"): an HPGL drawing whose label command writes the patient's name, an ICC profile whose
    description does, a Record Key holding the ID. Their printable runs are now checked for the patient's
    own name and IDs, as a safe-private OB value's are; bytes without them stay (an ordinary ICC profile)."""
    ds = _patient(_small_image())
    ds.add_new(0x0008041B, "OB", b"KEY:MRN98765431\x00")  # (0008,041B) Record Key
    ds.add_new(0x00282000, "OB", b"\x00\x00\x02\x0cacspAPPL" + b"\x00" * 20 + b"desc\x00Quixandor Zebulon's monitor")
    hpgl = Dataset()
    hpgl.add_new(0x00686300, "OB", b"IN;SP1;PU0,0;LBQuixandor^Zebulon MRN98765431\x03;")  # HPGL Document
    ds.add_new(0x006862C0, "SQ", Sequence([hpgl]))
    ds.add_new(0x0040A074, "OB", b"\x01\x02\x03\x04")  # Object Binary Identifier: nothing of the patient's
    out = _run(ds, policy, tmp_path, monkeypatch)
    data = _raw_bytes(tmp_path)
    assert b"Quixandor" not in data and b"98765431" not in data
    assert "ICCProfile" not in out and 0x0008041B not in out
    assert out[0x0040A074].value == b"\x01\x02\x03\x04"


def test_an_ordinary_icc_profile_is_kept(tmp_path, monkeypatch):
    ds = _patient(_small_image())
    profile = b"\x00\x00\x02\x0cacspAPPL" + b"\x00" * 20 + b"desc\x00sRGB IEC61966-2.1\x00"
    ds.add_new(0x00282000, "OB", profile)
    out = _run(ds, "basic", tmp_path, monkeypatch)
    assert out.ICCProfile.rstrip(b"\x00") == profile.rstrip(b"\x00")



def test_text_an_option_keeps_is_read_for_the_patients_identifiers(tmp_path, monkeypatch):
    """Red team (this session): Retain Patient Characteristics keeps Ethnic Group (SH), the one text attribute
    a Table E.1-1 option keeps under a built-in policy, and it went out unread ("QUIXANDOR 98765431", also in
    an Other Patient item's). It is read like allow-listed text now; an ordinary value stays."""
    ds = _patient(_small_image())
    ds.EthnicGroup = "QUIXANDOR 98765431"
    other = Dataset()
    other.EthnicGroup = "ZEBULON 98765431"
    other.PatientID = "X1"
    ds.SourcePatientGroupIdentificationSequence = Sequence([other])
    out = _run(ds, "research-longitudinal", tmp_path, monkeypatch)
    data = _raw_bytes(tmp_path).upper()
    assert b"QUIXANDOR" not in data and b"ZEBULON" not in data and b"98765431" not in data
    assert "QUIXANDOR" not in out.get("EthnicGroup", "")
    ds.EthnicGroup = "Hispanic"
    (tmp_path / "plain").mkdir()
    assert _run(ds, "research-longitudinal", tmp_path / "plain", monkeypatch).EthnicGroup == "Hispanic"


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("written", ["MR98765431", "98765431A", "K98765431", "ACC5550123B", "X5550123",
                                     "19471113T"])
def test_the_patients_long_numbers_are_found_joined_to_letters(policy, written, tmp_path, monkeypatch):
    """Red team B: the patient's ID, accession number or birth date joined to letters ("MR98765431",
    "98765431A") went out in allow-listed technical text and local meanings: identifiers were matched only
    between non-alphanumerics. A number of 6 or more digits (an ID's; a date's 8) is found without letter
    boundaries, never inside a longer number: '1987654312' and a kernel 'B30f' stay."""
    ds = _patient(_small_image())
    ds.AccessionNumber, ds.PatientBirthDate = "ACC5550123", "19471113"
    ds.ConvolutionKernel = written
    ds.FilterType = "1987654312"
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", f"CT {written}"), _code("X2", "99LOCAL", "B30f")])
    out = _run(ds, policy, tmp_path, monkeypatch)
    digits = "".join(c for c in written if c.isdigit()).encode()
    assert digits not in _raw_bytes(tmp_path).replace(b"1987654312", b"")
    assert out.FilterType == "1987654312" and out.ProcedureCodeSequence[1].CodeMeaning == "B30f"


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("written", ["Quixandor2", "2QUIXANDOR", "QUIXANDOR_3"])
def test_the_patients_name_is_found_joined_to_digits(policy, written, tmp_path, monkeypatch):
    """Red team B: 'Quixandor2' in a local meaning and a kernel went out (a name was matched only between
    non-alphanumerics). A name of 5 or more letters is found beside digits, never inside a longer word."""
    ds = _patient(_small_image())
    ds.ConvolutionKernel = written
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", f"CT {written}"),
                                         _code("X2", "99LOCAL", "QUIXANDORIUM phantom")])
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert b"QUIXANDOR2" not in _raw_bytes(tmp_path).upper().replace(b"_", b"")
    assert "QUIXANDOR" not in str(out.get("ConvolutionKernel", "")).upper()
    assert out.ProcedureCodeSequence[1].CodeMeaning == "QUIXANDORIUM phantom"



@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("written", ["QUIXANDORS", "Quixandores", "Quix-andor", "Quixan- dor", "Q u i x a n d o r",
                                     "Q.U.I.X.A.N.D.O.R."])
def test_the_patients_name_is_found_as_text_varies_it(policy, written, tmp_path, monkeypatch):
    """Red team B: a plural without apostrophe, a hyphen inside the name (also a line-end hyphenation) and
    the name spaced out letter by letter went out in technical text, local meanings and comments. Found now
    in each; a longer word that starts with the name, and words split elsewhere, stay."""
    ds = _patient(_small_image())
    ds.ManufacturerModelName = f"Scanner {written}"
    ds.ImageComments = f"seen by {written} team"
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", f"CT {written}"),
                                         _code("X2", "99LOCAL", "QUIXANDORIUM phantom")])
    out = _run(ds, policy, tmp_path, monkeypatch)
    letters = bytes(c for c in _raw_bytes(tmp_path).upper() if 65 <= c <= 90)
    assert letters.count(b"QUIXANDOR") == 1  # QUIXANDORIUM only
    assert out.ProcedureCodeSequence[1].CodeMeaning == "QUIXANDORIUM phantom"


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_surname_with_a_particle_is_found_written_apart(policy, tmp_path, monkeypatch):
    """A surname registered as one word (DeLuca, OBrien, Vanderberg) is written with a space or apostrophe
    after its particle in text ("De Luca", "O'Brien", "Van der Berg"); everyday words split elsewhere
    ("for man" of a patient Forman) are not looked for."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Vanderberg^Maria", "MRN98765431"
    ds.OtherPatientNames = ["DeLuca^Maria", "OBrien^Maria", "Forman^Maria"]
    ds.ImageComments = "Van der Berg, De Luca and O'Brien; suitable for man"
    ds.ConvolutionKernel = "Van der Berg"
    out = _run(ds, policy, tmp_path, monkeypatch)
    comments = out.get("ImageComments", "")
    assert "Berg" not in comments and "Luca" not in comments and "Brien" not in comments
    assert b"VAN DER BERG" not in _raw_bytes(tmp_path).upper()
    if comments:
        assert comments.endswith("suitable for man")


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_ordinary_technical_numbers_are_not_the_patients(policy, tmp_path, monkeypatch):
    """Red team C (this session), over-redaction from today's additions: a birth date's short forms joined
    with no separator matched any 4 digits ('1/8/31' as '1831' in a version 'R03_1831.b', a model 'SIGNA
    1831'); a 3-digit accession blanked 'Discovery 690'; a zero-padded ID '001234' matched 4 digits glued
    to letters ('HD1234'); an ICC profile went for a patient named Hewlett ('Hewlett-Packard'). They stay;
    the patient's own values in the same places still go."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Hewlett^Anne", "001234"
    ds.PatientBirthDate, ds.AccessionNumber = "19310801", "690"
    ds.SoftwareVersions = "DV26.0_R03_1831.b"
    ds.ManufacturerModelName = "Discovery 690 SIGNA 1831"
    ds.ConvolutionKernel = "HD1234"
    profile = b"\x00\x00\x02\x0cacspAPPL" + b"\x00" * 20 + b"cprt\x00Copyright (c) 1998 Hewlett-Packard Company\x00"
    ds.add_new(0x00282000, "OB", profile)
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", "CT born 1/8/31 for Anne Hewlett")])
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.SoftwareVersions == "DV26.0_R03_1831.b"
    assert out.ManufacturerModelName == "Discovery 690 SIGNA 1831"
    assert out.ConvolutionKernel == "HD1234"
    assert out.ICCProfile.rstrip(b"\x00") == profile.rstrip(b"\x00")
    meaning = out.ProcedureCodeSequence[0].CodeMeaning
    assert "1/8/31" not in meaning and "Hewlett" not in meaning and "Anne" not in meaning


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_technical_value_that_reads_as_a_short_birth_date_is_kept(policy, tmp_path, monkeypatch):
    """Red team C (last session): a software version '5.5.90' was blanked for a patient born 1990-05-05 (a
    birth date's 2-digit-year forms matched technical values). Technical text is checked for the birth
    date with a 4-digit year or a month's name; free text still for every form."""
    ds = _patient(_small_image())
    ds.PatientBirthDate = "19900505"
    ds.SoftwareVersions = "VE 5.5.90"
    ds.ManufacturerModelName = "Scanner 050590"
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99LOCAL", "CT born 5/5/1990")])
    ds.ImageComments = "DOB 5.5.90"
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert out.SoftwareVersions == "VE 5.5.90" and out.ManufacturerModelName == "Scanner 050590"
    assert "1990" not in out.ProcedureCodeSequence[0].CodeMeaning
    assert "5.5.90" not in str(out.get("ImageComments", ""))


@pytest.mark.parametrize(("name", "group"), [("Black^Ann", "Black Caribbean"), ("Irish^Tom", "White Irish"),
                                             ("Brown^Ann", "BROWN"), ("English^Mary", "ENGLISH")])
def test_an_ethnic_group_that_shares_a_word_with_the_patients_name_is_kept(name, group, tmp_path, monkeypatch):
    """Red team (this session): once Ethnic Group was read for the patient's name, a surname that is also an
    ethnic category blanked the covariate the option keeps ("Black Caribbean" -> "[NAME] Caribbean"). A single
    name part that is an everyday word or a people's name is not looked for in technical text."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = name, "MRN98765431"
    ds.EthnicGroup = group
    assert _run(ds, "research-longitudinal", tmp_path, monkeypatch).EthnicGroup == group


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_an_everyday_word_surname_is_still_found_in_technical_text(policy, tmp_path, monkeypatch):
    """Red team (this session): exempting every everyday-word name part from technical text let "CT HEAD KING"
    (a local meaning) and a Window Explanation "KING" go out for patient King. Only people's names (Ethnic
    Group words) are exempt."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "King^Robert", "MRN98765431"
    ds.ProcedureCodeSequence = Sequence([_code("X1", "99RIS", "CT HEAD KING")])
    ds.WindowCenterWidthExplanation = "KING"
    out = _run(ds, policy, tmp_path, monkeypatch)
    assert "KING" not in out.ProcedureCodeSequence[0].CodeMeaning
    assert "KING" not in str(out.get("WindowCenterWidthExplanation", ""))


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_a_class_uid_holding_the_patients_number_is_remapped(policy, tmp_path, monkeypatch):
    """Noticed in earlier sessions: class UIDs were kept whatever they held. A vendor's SOP Class UID with the
    patient's ID as a component ("...498.98765431"), or a referenced one with the birth date, went out. Such
    a class UID is remapped like an instance UID (the file meta follows; the raw path hands the file to the
    engine); a standard class UID, and the transfer syntax, are kept."""
    import pydicom

    from .test_rawpath import _compare, _general

    ds = _patient(_small_image())
    ds.PatientBirthDate = "19471113"
    ds.SOPClassUID = "1.2.826.0.1.3680043.8.498.98765431"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.19471113", "1.2.3.4"
    std = Dataset()
    std.ReferencedSOPClassUID, std.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.5"
    ds.ReferencedImageSequence = Sequence([ref, std])
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert not _compare(path, policy, tmp_path / "cmp", monkeypatch)  # the raw path declines it
    result = _general(path, policy, tmp_path / "gen", monkeypatch)
    assert result.status == "ok", result.reason
    written = tmp_path / "gen" / result.output
    data = written.read_bytes()
    assert b"98765431" not in data and b"19471113" not in data
    out = pydicom.dcmread(written)
    assert out.SOPClassUID == out.file_meta.MediaStorageSOPClassUID != ds.SOPClassUID
    assert out.ReferencedImageSequence[1].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert out.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
