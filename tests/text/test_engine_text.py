"""End to end through the header engine: descriptors, SR content, safe private text, encapsulated documents."""

from __future__ import annotations

import zlib
from io import BytesIO

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ComprehensiveSRStorage, EncapsulatedPDFStorage, ExplicitVRLittleEndian

from veil.errors import InputError
from veil.header.engine import deidentify
from veil.identity.keyed import Keyed
from veil.policy.model import load_policy, load_policy_text
from veil.policy.plan import compile_plan

KEY = Keyed(b"t" * 32)
PLANTED = ["Quixworth", "QUIXWORTH", "Zebulon", "0048213977", "48213977", "ACC99812", "Okafor", "617-555-0123",
           "zq@example.org", "St Mary", "Mercy General", "1961", "03/04/1961", "Ramanathan", "Vexford"]
CLINICAL = ["CT CHEST W/O CONTRAST", "T1 MPRAGE SAG", "L knee", "Dr. visit follow-up", "No acute abnormality"]


def _base(sop_class: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = "1.2.3.4.5.6.7"
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = "1.2.3.4.5.6"
    ds.PatientName = "Quixworth^Zebulon"
    ds.PatientID = "0048213977"
    ds.PatientBirthDate = "19610304"
    ds.StudyDate = "20190314"
    ds.AccessionNumber = "ACC99812"
    ds.InstitutionName = "Vexford Infirmary"
    return ds


def _text_item(name: str, value: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121071", "DCM", name
    item.ConceptNameCodeSequence = Sequence([code])
    item.TextValue = value
    return item


def sr() -> Dataset:
    ds = _base(ComprehensiveSRStorage)
    ds.StudyDescription = "CT CHEST W/O CONTRAST QUIXWORTH"
    ds.SeriesDescription = "T1 MPRAGE SAG"
    ds.ImageComments = "L knee - call Dr Okafor 617-555-0123"
    ds.PatientComments = "Dr. visit follow-up"
    ds.ValueType = "CONTAINER"
    items = [
        _text_item("Finding", "Mr Quixworth, DOB 03/04/1961, seen at St Mary's. No acute abnormality."),
        _text_item("Comment", "Referred by Priya Ramanathan (zq@example.org), MRN 0048-213-977."),
        _text_item("Impression", "Compared with 2019-03-10 at Mercy General Hospital: stable."),
    ]
    pn = Dataset()
    pn.RelationshipType, pn.ValueType, pn.PersonName = "HAS OBS CONTEXT", "PNAME", "Okafor^Ngozi"
    dt = Dataset()
    dt.RelationshipType, dt.ValueType, dt.DateTime = "HAS OBS CONTEXT", "DATETIME", "20190314101500"
    uid = Dataset()
    uid.RelationshipType, uid.ValueType, uid.UID = "HAS OBS CONTEXT", "UIDREF", "1.2.3.4.5"
    ds.ContentSequence = Sequence([*items, pn, dt, uid])
    return ds


def _bytes_of(ds: Dataset) -> bytes:
    buf = BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def test_planted_phi_in_descriptors_and_sr_content_is_gone_and_clinical_phrases_remain():
    ds = sr()
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    raw = _bytes_of(ds)
    for secret in PLANTED:
        assert secret.encode() not in raw, secret
    for phrase in CLINICAL:
        assert phrase.encode() in raw, phrase
    texts = [item.TextValue for item in ds.ContentSequence if "TextValue" in item]
    assert texts[0].startswith("Mr [NAME], DOB [DATE], seen at [PLACE].")
    assert "[NAME]" in texts[1] and "[EMAIL]" in texts[1] and "0048" not in texts[1]
    assert texts[0].endswith("No acute abnormality.")
    assert ds.ContentSequence[3].PersonName != "Okafor^Ngozi"
    assert ds.ContentSequence[5].UID != "1.2.3.4.5"


def test_dates_in_text_move_with_the_header_dates():
    ds = sr()
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    impression = ds.ContentSequence[2].TextValue
    from datetime import date

    shifted_study = date.fromisoformat(f"{ds.StudyDate[:4]}-{ds.StudyDate[4:6]}-{ds.StudyDate[6:]}")
    in_text = date.fromisoformat(impression.split("Compared with ")[1][:10])
    assert (shifted_study - in_text).days == 4  # 2019-03-14 vs 2019-03-10 in the original


def test_cleaning_is_deterministic():
    a, b = sr(), sr()
    plan = compile_plan(load_policy("research-longitudinal"))
    deidentify(a, plan, KEY)
    deidentify(b, plan, KEY)
    assert _bytes_of(a) == _bytes_of(b)


def test_safe_private_text_is_cleaned_when_a_cleaning_option_is_on():
    def ct(text: str) -> Dataset:
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientName = "Quixworth^Zebulon"
        ds.add_new(0x0019109E, "LO", text)  # GEMS_ACQU_01 Internal Pulse Sequence Name: E.3.10-1
        return ds

    cleaning = compile_plan(load_policy_text(
        "name: s\nversion: '1'\noptions: [retain_safe_private, clean_descriptors]\n"))
    safe_only = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    ds = ct("FSE for Quixworth")
    deidentify(ds, cleaning, KEY)
    assert ds[0x0019109E].value == "FSE for [NAME]"
    # without a cleaning option, a safe private label is read like a local code's meaning: the patient's
    # own name goes (red team, round 2: it was kept), and so do a titled name and a phone (red team this
    # session: "Harriet Okonkwo 555-201-0142" went out); a sequence name stays
    ds = ct("FSE for Quixworth")
    deidentify(ds, safe_only, KEY)
    assert ds[0x0019109E].value == "FSE for [NAME]"
    ds = ct("FSE for Dr Zebbington")
    deidentify(ds, safe_only, KEY)
    assert ds[0x0019109E].value == "FSE for Dr [NAME]"
    ds = ct("Dr Harriet Okonkwo 555-201-0142")
    deidentify(ds, safe_only, KEY)
    assert ds[0x0019109E].value == "Dr [NAME] [PHONE]"
    # untitled listed names are not looked for: fonts and filters are named after people (red team D)
    for label in ("fse_t2_tra 3.0T", "Lucida Grande", "Gill Sans", "Mitchell"):
        ds = ct(label)
        deidentify(ds, safe_only, KEY)
        assert ds[0x0019109E].value == label
    # the patient's own surname, an everyday word, is still found (red team D: "pt white fse" went out)
    ds = ct("pt white fse")
    ds.PatientName = "White^Rose"
    deidentify(ds, safe_only, KEY)
    assert ds[0x0019109E].value == "pt [NAME] fse"
    # a sentence VR (LT) kept by the dictionary is cleaned like a descriptor under any policy
    ds = ct("x")
    ds.add_new(0x00990010, "LO", "NQHeader")
    ds.add_new(0x00991005, "LT", "Sent to Dr Harriet Okonkwo, call 555-201-0142 on 2019-03-04")
    deidentify(ds, safe_only, KEY)
    left = ds[0x00991005].value
    assert "Okonkwo" not in left and "0142" not in left and "2019-03-04" not in left and left.startswith("Sent to")


def _pdf(text: bytes, *, compress: bool = True) -> bytes:
    content = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    body = zlib.compress(content) if compress else content
    filt = b" /Filter /FlateDecode" if compress else b""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
            b"<< /Length %d%s >>\nstream\n" % (len(body), filt) + body + b"\nendstream"]
    out = b"%PDF-1.4\n"
    for i, o in enumerate(objs, 1):
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    return out + b"trailer << /Root 1 0 R >>\n%%EOF\n"


def pdf_instance(text: bytes) -> Dataset:
    ds = _base(EncapsulatedPDFStorage)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    doc = _pdf(text)
    ds.EncapsulatedDocument = doc + (b"\x00" if len(doc) % 2 else b"")
    return ds


KEEP = "name: k\nversion: '1'\noptions: [clean_structured_content]\nencapsulated_documents: keep_if_clean\n"


def test_encapsulated_documents_are_quarantined_by_default():
    with pytest.raises(InputError) as exc:
        deidentify(pdf_instance(b"Normal chest radiograph."), compile_plan(load_policy("research-longitudinal")), KEY)
    assert exc.value.rule == "encapsulated-document" and "encapsulated document" in exc.value.reason


def test_keep_if_clean_keeps_a_clean_pdf_unchanged():
    ds = pdf_instance(b"CT CHEST W/O CONTRAST. No acute abnormality.")
    doc = ds.EncapsulatedDocument
    out = deidentify(ds, compile_plan(load_policy_text(KEEP)), KEY)
    assert ds.EncapsulatedDocument == doc
    assert any(rule == "encapsulated_documents=keep_if_clean" for _t, _a, rule, _n in out.rules())


@pytest.mark.parametrize("text", [b"Report for Quixworth", b"Seen by Dr Okafor", b"DOB 03/04/1961", b"MRN 0048213977"])
def test_keep_if_clean_quarantines_a_pdf_with_identifying_text(text):
    with pytest.raises(InputError) as exc:
        deidentify(pdf_instance(text), compile_plan(load_policy_text(KEEP)), KEY)
    assert exc.value.rule == "encapsulated-document:identifying-text"


def test_keep_if_clean_quarantines_what_it_cannot_read():
    ds = pdf_instance(b"x")
    ds.EncapsulatedDocument = _pdf(b"x", compress=False).replace(b"(x) Tj", b"<0012> Tj") + b"\x00"
    with pytest.raises(InputError) as exc:
        deidentify(ds, compile_plan(load_policy_text(KEEP)), KEY)
    assert exc.value.rule == "encapsulated-document:unreadable"


def test_policy_rejects_an_unknown_encapsulated_documents_value():
    from veil.errors import PolicyError

    with pytest.raises(PolicyError, match="encapsulated_documents"):
        load_policy_text("name: k\nversion: '1'\nencapsulated_documents: keep\n")


@pytest.mark.parametrize(("charset", "pn", "description", "cleaned", "secrets"), [
    (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう", "山田太郎さん CT 頭部", "[NAME]さん CT 頭部",
     ["山田", "太郎", "やまだ", "たろう"]),
    ("GB18030", "Wang^XiaoDong=王^小东=", "王小东 头部CT", "[NAME] 头部CT", ["王", "小东"]),
    ("ISO_IR 192", "Hong^Gildong=洪^吉洞=홍^길동", "홍길동 환자 頭部 洪吉洞", "[NAME] 환자 頭部 [NAME]",
     ["홍", "길동", "洪", "吉洞"]),
    ("ISO_IR 192", "Yamada^Tarou=山田^太郎=やまだ^たろう", "CT山田", "CT[NAME]", ["山田"]),
])
def test_cjk_names_in_descriptions_are_removed_in_the_files_own_character_set(charset, pn, description, cleaned,
                                                                              secrets):
    ds = _base(ComprehensiveSRStorage)
    ds.SpecificCharacterSet = charset
    ds.PatientName = pn
    ds.StudyDescription = description
    ds.SeriesDescription = secrets[0]  # a family name of one or two characters on its own
    read = pydicom.dcmread(BytesIO(_bytes_of(ds)))  # as read from disk: raw elements in the file's encoding
    deidentify(read, compile_plan(load_policy("research-longitudinal")), KEY)
    out = pydicom.dcmread(BytesIO(_bytes_of(read)))
    assert out.StudyDescription == cleaned
    assert out.SeriesDescription == "[NAME]"
    for secret in secrets:
        assert secret not in out.StudyDescription and secret not in str(out.get("PatientName", ""))


def test_a_patients_name_after_ligatures_and_sharp_s_is_removed_whole():
    ds = _base(ComprehensiveSRStorage)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Straußberger^Jürgen"
    ds.StudyDescription = "ﬃﬃﬃﬃﬃ straußberger ok"  # lower case: only the known-identifier matcher finds it
    ds.SeriesDescription = "maße straße größe, fuß: straussberger"
    read = pydicom.dcmread(BytesIO(_bytes_of(ds)))
    deidentify(read, compile_plan(load_policy("research-longitudinal")), KEY)
    out = pydicom.dcmread(BytesIO(_bytes_of(read)))
    assert out.StudyDescription == "ﬃﬃﬃﬃﬃ [NAME] ok"
    assert out.SeriesDescription == "maße straße größe, fuß: [NAME]"


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_allow_listed_technical_text_keeps_institution_words_and_dicom_terms(policy):
    """Manufacturer, Code Meaning, Beam Name ... are checked for the patient's names and IDs, not for one
    word of the institution's name, a name part that is a DICOM term, or an ID's digits cut to one."""
    ds = _base(ComprehensiveSRStorage)
    ds.InstitutionName = "Sutter Health Systems"
    ds.PatientID = "id00001"
    ds.OperatorsName = "Name^Text"
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.ManufacturerModelName = "Field 1"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121008", "DCM", "Recording Observer's Name"
    named = Dataset()
    named.CodeValue, named.CodingSchemeDesignator, named.CodeMeaning = "X1", "L", "CT Quixworth"
    ds.ProcedureCodeSequence = Sequence([code, named])
    deidentify(ds, compile_plan(load_policy(policy)), KEY)
    assert ds.Manufacturer == "GE MEDICAL SYSTEMS"
    assert ds.ManufacturerModelName == "Field 1"
    assert ds.ProcedureCodeSequence[0].CodeMeaning == "Recording Observer's Name"
    assert ds.ProcedureCodeSequence[1].CodeMeaning == "CT [NAME]"  # the patient's own name still goes


@pytest.mark.parametrize("where", ["comment", "name-object", "after-eof"])
def test_keep_if_clean_reads_a_pdfs_bytes_beyond_its_text(where):
    """Red team E: a PDF comment, a name object "/Quixworth#5EZebulon" and a comment after %%EOF are not
    text a reader extracts, and the document went out with the patient's name in them."""
    ds = pdf_instance(b"CT CHEST W/O CONTRAST. No acute abnormality.")
    doc = _pdf(b"CT CHEST W/O CONTRAST. No acute abnormality.")
    if where == "comment":
        doc = doc.replace(b"%PDF-1.4\n", b"%PDF-1.4\n% prepared for Quixworth Zebulon\n")
    elif where == "name-object":
        doc = doc.replace(b"/Type /Catalog", b"/Type /Catalog /Quixworth#5EZebulon true")
    else:
        doc += b"% Quixworth^Zebulon\n"
    ds.EncapsulatedDocument = doc + (b"\x00" if len(doc) % 2 else b"")
    with pytest.raises(InputError) as exc:
        deidentify(ds, compile_plan(load_policy_text(KEEP)), KEY)
    assert exc.value.rule == "encapsulated-document:identifying-text"


def test_a_utf16_cda_is_read_to_its_last_character():
    """Red team E: DICOM's NUL padding was stripped from a UTF-16LE document, whose last character ends in a NUL
    byte of its own: a clean CDA was quarantined as XML that does not parse."""
    from veil.text.documents import extract_text

    xml = '<?xml version="1.0" encoding="UTF-16"?><ClinicalDocument><title>CT report</title></ClinicalDocument>'
    data = b"\xff\xfe" + xml.encode("utf-16-le")
    assert "CT report" in extract_text(data, "text/xml")


def _years_and_ages() -> Dataset:
    ds = _base(ComprehensiveSRStorage)
    ds.PatientBirthDate = "19260513"
    ds.PatientAge = "092Y"
    ds.ImageComments = "acq 2019-03-14, prior scan in 2018, follow-up spring 2019"
    ds.ValueType = "CONTAINER"
    ds.ContentSequence = Sequence([_text_item("Finding", "92 J., patiente de 92 ans, ninety-two year old woman. "
                                                         "Since 2017-2018 stable. YOB 1926, born 1926.")])
    return ds


def test_bare_years_move_with_the_header_dates_and_birth_years_and_ages_go():
    """Red team (this session), research-longitudinal: "prior scan in 2018" kept the true year beside the shifted
    acquisition date (the offset given away), "born 1926" the year of birth of a 92-year-old, "ninety-two year
    old", "92 J." and "92 ans" the age. Years move by the patient's offset in whole years; the year of birth is
    replaced; the ages become 90+."""
    from datetime import date

    ds = _years_and_ages()
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    study = date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]), int(ds.StudyDate[6:]))
    years = round((study - date(2019, 3, 14)).days / 365.2425)
    assert years != 0
    assert ds.ImageComments == (f"acq {study.isoformat()}, prior scan in {2018 + years}, "
                                f"follow-up spring {2019 + years}")
    text = ds.ContentSequence[0].TextValue
    assert text == (f"90+ J., patiente de 90+ ans, 90+ year old woman. Since {2017 + years}-{2018 + years} stable. "
                    "YOB [DATE], born [DATE].")


def test_bare_years_birth_years_and_ages_without_date_shifting():
    """Without date shifting a year written as a date is a date like any other, [DATE]; under basic a local code's
    meaning is cleaned of them too (descriptors and SR text are removed there)."""
    cleaning = compile_plan(load_policy_text(
        "name: s\nversion: '1'\noptions: [clean_descriptors, clean_structured_content]\n"))
    ds = _years_and_ages()
    deidentify(ds, cleaning, KEY)
    assert ds.ImageComments == "acq [DATE], prior scan in [DATE], follow-up spring [DATE]"
    assert ds.ContentSequence[0].TextValue == ("90+ J., patiente de 90+ ans, 90+ year old woman. Since [DATE] stable. "
                                               "YOB [DATE], born [DATE].")
    ds = _years_and_ages()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "X1", "99LOCAL"
    code.CodeMeaning = "CT chest ninety-two y/o b. 1926 f/u since 2018"
    ds.ProcedureCodeSequence = Sequence([code])
    deidentify(ds, compile_plan(load_policy("basic")), KEY)
    assert ds.ProcedureCodeSequence[0].CodeMeaning == "CT chest 90+ y/o b. [DATE] f/u since [DATE]"
