"""The raw path is an accelerator: for every input it either declines (None, nothing written) or writes
exactly what the general path writes - same bytes, same output path, same rules in the manifest.

The general path is the oracle: every pydicom test file, the generated corpora (explicit and implicit VR,
header-heavy, every modality), policies with options, a large file that streams, and random corruptions.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from veil.identity.keyed import Keyed
from veil.pipeline import instance, rawpath
from veil.pipeline.instance import process_file
from veil.policy.model import load_policy, load_policy_text
from veil.policy.plan import Plan, compile_plan
from veil.samples import generate_corpus

KEYED = Keyed(b"r" * 32)
TEST_FILES = sorted(p for p in Path(get_testdata_file("CT_small.dcm")).parent.rglob("*") if p.is_file())

#: Options that keep the plan on the raw path (no C action, no pixel pass), age cap included.
OPTIONS_POLICY = """
name: raw-options
version: "1"
profile: ps3.15-basic
options: [retain_safe_private, retain_uids, retain_institution_identity]
dates:
  age_cap: 89
"""


def _plans() -> dict[str, Plan]:
    longitudinal = (Path(__file__).parents[2] / "src/veil/policy/builtin/research-longitudinal.yaml").read_text()
    assert "time_of_day: keep" in longitudinal
    basic = (Path(__file__).parents[2] / "src/veil/policy/builtin/basic.yaml").read_text()
    assert "options: []" in basic and "  - clean_graphics\n" in longitudinal
    return {"basic": compile_plan(load_policy("basic")),
            # Retain Safe Private without Retain UIDs: private UIDs are remapped
            "safe-private": compile_plan(load_policy_text(basic.replace("options: []",
                                                                        "options: [retain_safe_private]"))),
            "rl-safe-private": compile_plan(load_policy_text(longitudinal.replace(
                "  - clean_graphics\n", "  - clean_graphics\n  - retain_safe_private\n"))),
            "options": compile_plan(load_policy_text(OPTIONS_POLICY)),
            "research-longitudinal": compile_plan(load_policy("research-longitudinal")),
            "times-shifted": compile_plan(load_policy_text(longitudinal.replace("time_of_day: keep",
                                                                                "time_of_day: shift")))}


def _general(path: Path, policy: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> instance.FileResult:
    with monkeypatch.context() as m:
        m.setattr(rawpath, "eligible", lambda plan: False)
        return process_file(path, _plans()[policy], KEYED, out)


def _compare(path: Path, policy: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """True when the raw path took the file (and then matched the general path exactly)."""
    plan = _plans()[policy]
    assert rawpath.eligible(plan)
    raw_out, gen_out = tmp / "raw", tmp / "general"
    shutil.rmtree(raw_out, ignore_errors=True)
    shutil.rmtree(gen_out, ignore_errors=True)
    fast = rawpath.process(path, plan, KEYED, raw_out)
    if fast is None:
        assert not raw_out.exists() or not any(p.is_file() for p in raw_out.rglob("*")), "declined but wrote"
        return False
    general = _general(path, policy, gen_out, monkeypatch)
    assert general.status == "ok", (path.name, general.reason)
    assert fast.rel == general.output, path.name
    assert (raw_out / fast.rel).read_bytes() == (gen_out / general.output).read_bytes(), path.name
    assert fast.out_sha == general.output_sha256
    assert KEYED.hexdigest("input-file", fast.in_sha)[:32] == general.input_hash
    assert tuple(f for f in fast.outcome.rules() if f[1] != "K") == general.fired, path.name
    return True


@pytest.mark.parametrize("policy", ["basic", "options", "research-longitudinal"])
def test_raw_path_matches_general_path_on_pydicom_files(policy, tmp_path, monkeypatch):
    taken = sum(_compare(p, policy, tmp_path / str(i), monkeypatch) for i, p in enumerate(TEST_FILES))
    # most of pydicom's files are plain little endian Part-10: the raw path must take them, or it is dead
    assert taken >= 120, taken


@pytest.mark.parametrize("policy", ["basic", "options", "research-longitudinal"])
def test_raw_path_matches_general_path_on_generated_corpus(policy, tmp_path, monkeypatch):
    corpus = generate_corpus(tmp_path / "in", patients=2, studies_per_patient=1, header_heavy=True)
    files = list(corpus.files)
    taken = sum(_compare(p, policy, tmp_path / str(i), monkeypatch) for i, p in enumerate(files))
    assert taken == len(files), (taken, len(files))


def test_known_identifiers_on_the_raw_path_are_those_the_general_path_reads(tmp_path, monkeypatch):
    """The raw path builds the datasets it reads the patient's own identifiers from out of its own parse
    (rawpath.known_dataset), sequences included, instead of pydicom's reader: the terms text is cleaned
    against must be exactly those of the file read by pydicom, at every depth and in every character set."""
    import veil.text.known as known

    for implicit in (True, False):  # Latin-1 and UTF-8: items decode in their parent's character set
        item = Dataset()
        item.RequestedProcedureID, item.ScheduledPerformingPhysicianName = "RQ-553311", "Quillon^Ardith"
        deeper = Dataset()
        deeper.PatientName, deeper.AdmissionID = "Zébédée^Lourdes", "ADM99123"
        item.OtherPatientIDsSequence = [deeper]
        ds = _small_image()
        ds.SpecificCharacterSet = "ISO_IR 100" if implicit else "ISO_IR 192"
        ds.PatientName = "Lémieux^Zoë"
        ds.StudyDate, ds.StudyDescription = "20240105", "follow-up for Quillon, ADM99123"  # the engine's C and D
        ds.RequestAttributesSequence = [item]
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        ds.save_as(tmp_path / f"nested-{implicit}.dcm", enforce_file_format=True)
    corpus = generate_corpus(tmp_path / "in", patients=2, studies_per_patient=1, header_heavy=True)
    files = [*sorted(tmp_path.glob("nested-*.dcm")), *list(corpus.files)[:20], *TEST_FILES]
    seen: list[object] = []
    real = known.collect_identifiers
    monkeypatch.setattr(known, "collect_identifiers", lambda ds: seen.append(real(ds)) or seen[-1])
    plan = _plans()["research-longitudinal"]
    compared = 0
    for i, path in enumerate(files):
        seen.clear()
        if rawpath.process(path, plan, KEYED, tmp_path / "out" / str(i)) is None or not seen:
            assert i >= 2, "the raw path declined a plain nested file, or cleaned it without its identifiers"
            continue  # declined, or nothing to clean or shift
        assert len(seen) == 1, path.name
        assert seen[0] == real(pydicom.dcmread(path, force=True)), path.name
        if i < 2:
            terms = {t for t, _ in seen[0].terms}  # type: ignore[attr-defined]
            assert {"RQ-553311", "QUILLON^ARDITH", "ZEBEDEE^LOURDES", "ADM99123", "LEMIEUX^ZOE"} <= terms
        compared += 1
    assert compared >= 120, compared


def _explicit(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    import struct

    value += b" " * (len(value) % 2)
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_file_meta_and_stamp_attributes_inside_the_data_set_are_not_passed_through(policy, tmp_path, monkeypatch):
    """Veil's stamp replaces De-identification Method & co. at the top level only; nested in an item they
    are ordinary attributes (a code item holding a PatientName). Group 0002 elements belong to the file
    meta (PS3.10 7.1): in the data set - nested, or at the top after a command-group element that stops
    the meta reader - they are removed; written back after Veil's meta, readers took them for meta."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.sequence import Sequence

    ds = _small_image()
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.777.9"
    item.DeidentificationMethod = "ZZLEAKDEID1 ZZLEAKNAME"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "x"
    code.PatientName, code.OtherPatientIDs, code.PatientBirthDate = "ZZLEAKDEID2^ZZ", "ZZLEAKDEID3", "19530417"
    item.DeidentificationMethodCodeSequence = Sequence([code])
    item.add_new(0x00020016, "AE", "ZZLEAKAE02")
    item.add_new(0x00020100, "UI", "1.2.826.0.1.3680043.99.777.55")
    ds.ReferencedImageSequence = Sequence([item])
    ds.save_as(tmp_path / "nested.dcm", enforce_file_format=True)
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    del ds.ReferencedImageSequence
    write_dataset(body, ds)
    extra = (_explicit(0x0000, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.2\x00")  # a command element stops the meta
             + _explicit(0x0002, 0x0016, b"AE", b"ZZLKG2AE")
             + _explicit(0x0002, 0x0100, b"UI", b"1.2.826.0.1.3680043.99.777.42\x00"))
    (tmp_path / "body.dcm").write_bytes(b"\x00" * 128 + b"DICM" + meta.getvalue() + extra + body.getvalue())
    needles = [b"ZZLEAK", b"ZZLKG2AE", b"99.777.42", b"99.777.55", b"19530417"]
    for name in ("nested.dcm", "body.dcm"):
        assert _compare(tmp_path / name, policy, tmp_path / "cmp" / name, monkeypatch), name
        out = next((tmp_path / "cmp" / name / "raw").rglob("*.dcm"))
        data = out.read_bytes()
        assert not [n for n in needles if n in data], name
        written = pydicom.dcmread(out)
        assert "SourceApplicationEntityTitle" not in written.file_meta
        assert not any(e.tag.group == 2 for e in written.iterall())


@pytest.mark.parametrize("policy", ["basic", "options", "research-longitudinal"])
def test_values_written_with_a_vr_that_hides_their_text_are_removed(policy, tmp_path, monkeypatch):
    """An attribute the table does not list is judged by its VR: written as OB, a description (LO) or a
    code sequence would pass as "not text", and a name typed into Instance Number (IS) as a number. Fail
    closed: a public attribute in a VR its dictionary entry does not allow, an IS/DS value that is not a
    number, and a safe private text attribute written as bytes are removed (or emptied where required)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import BaseTag

    ds = _small_image()
    ds.add_new(0x00081032, "OB", b"ZZLEAKNAME^ZZGIVEN ZZ123456")  # ProcedureCodeSequence (SQ)
    ds.add_new(0x00700081, "OB", b"Patient ZZLKWVR6")  # ContentDescription (LO)
    ds.SliceThickness = "1.25"  # a real number stays
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x0019109E, "OB", b"ZZLKPRIVNAME ZZGIVEN")  # safe private text (LO) written as bytes
    ds.add_new(0x00191023, "DS", "12.5")  # Table Speed: safe, a number
    for tag, vr, value in ((0x00200013, "IS", b"ZZLKIS1234"),  # Instance Number, Type 2 in General Image
                           (0x00180088, "DS", b"ZZLKDS")):  # Spacing Between Slices (pydicom refuses to make them)
        ds._dict[BaseTag(tag)] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)
    for implicit in (False,):  # implicit VR files carry no VR to lie with
        path = tmp_path / f"wrong-vr-{implicit}.dcm"
        ds.save_as(path, enforce_file_format=True)
        assert _compare(path, policy, tmp_path / f"cmp-{implicit}", monkeypatch)
        out = next((tmp_path / f"cmp-{implicit}" / "raw").rglob("*.dcm"))
        data = out.read_bytes()
        assert not [n for n in (b"ZZLEAK", b"ZZLKWVR6", b"ZZLKIS", b"ZZLKDS", b"ZZLKPRIV") if n in data]
        written = pydicom.dcmread(out)
        assert written.SliceThickness == 1.25
        assert written.get("InstanceNumber") in (None, "")  # removed, or emptied where an IOD requires it
        if policy == "options":  # retain_safe_private keeps the real number
            assert written[0x00191023].value == 12.5


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_an_overlay_embedded_in_pixel_data_is_refused_and_orphan_graphics_go_whole(policy, tmp_path, monkeypatch):
    """The retired embedded overlay (60xx,0100 = 16, 60xx,0102 = 15, no 60xx,3000) keeps its bits above
    High Bit of every pixel: copying Pixel Data byte for byte after dropping the descriptors passed a name
    drawn there (every policy, verify blind to it). It is refused with its reason. A plane or a retired curve
    whose data element is gone is removed whole - its label too - and the instance is written."""
    import numpy as np

    ds = _small_image()
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.Rows, ds.Columns = 16, 12, 11, 8, 8
    pixels = np.full((8, 8), 100, dtype="<u2")
    pixels[2:5, 1:7] |= 1 << 15  # the overlay's "text"
    ds.PixelData = pixels.tobytes()
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 16)
    ds.add_new(0x60000102, "US", 15)
    embedded = tmp_path / "embedded.dcm"
    ds.save_as(embedded, enforce_file_format=True)
    assert rawpath.process(embedded, _plans()[policy], KEYED, tmp_path / "raw") is None
    result = _general(embedded, policy, tmp_path / "general", monkeypatch)
    assert result.status == "quarantined" and result.rule == "overlay-embedded", result.reason
    assert not any(p.is_file() for p in (tmp_path / "general").rglob("*.dcm"))

    ds.PixelData = np.full((8, 8), 100, dtype="<u2").tobytes()
    ds[0x60000100].value, ds[0x60000102].value = 1, 0  # a separate plane whose Overlay Data is absent
    ds.add_new(0x50000005, "US", 2)  # a retired curve: dimensions, label, no Curve Data
    ds.add_new(0x50002500, "LO", "ZZCURVE Quimby")
    plain = tmp_path / "orphans.dcm"
    ds.save_as(plain, enforce_file_format=True)
    assert _compare(plain, policy, tmp_path / "cmp", monkeypatch)
    written = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    assert not [e for e in written if e.tag.group in (0x5000, 0x6000)]


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("charset", [None, "ISO_IR 100", "ISO 2022 IR 87"])
def test_allow_listed_text_keeps_its_meaning_but_not_the_patients_own_identifiers(charset, policy, tmp_path,
                                                                                   monkeypatch):
    """Code Meaning, Window Explanation & co. are kept as coded, technical text - but a name or ID of the
    patient typed into them was kept too, even where every other text was cleaned of it. Only the known
    identifiers are replaced there (no pattern or name detection: a disease named after a person stays):
    all of them under a policy that cleans text, the top-level name and ID under basic - on the raw path
    exactly as on the general path."""
    from pydicom.sequence import Sequence

    ds = _small_image()
    names = {None: "Quimbyzz^Haroldine", "ISO_IR 100": "Müllerzz^Jürgen", "ISO 2022 IR 87": "山田^太郎"}
    if charset:  # ISO 2022: 7-bit escape sequences, ASCII bytes that are not ASCII text (red team, round 2)
        ds.SpecificCharacterSet = charset if "2022" not in charset else ["", charset]
    ds.PatientName, ds.PatientID = names[charset], "ZZ123456"
    family = str(ds.PatientName).split("^")[0]
    ds.WindowCenterWidthExplanation = f"{family} window"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "ZZ123456", "99LOCAL", f"CT for {family}"
    clean = Dataset()
    clean.CodeValue, clean.CodingSchemeDesignator, clean.CodeMeaning = "26929004", "SCT", "Alzheimer disease"
    ds.ProcedureCodeSequence = Sequence([code, clean])
    ds.Manufacturer = "ACME"
    path = tmp_path / "allow.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    written = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    assert written.WindowCenterWidthExplanation == "[NAME] window"
    first, second = written.ProcedureCodeSequence
    assert (first.CodeValue, first.CodeMeaning) == ("[ID]", "CT for [NAME]")
    assert (second.CodeValue, second.CodeMeaning) == ("26929004", "Alzheimer disease")
    assert written.Manufacturer == "ACME"


@pytest.mark.parametrize("policy", ["basic", "options", "research-longitudinal"])
@pytest.mark.parametrize("implicit", [False, True])
def test_a_code_string_that_spells_the_patients_name_or_id_is_not_kept(implicit, policy, tmp_path, monkeypatch):
    """CS is "not text" to the profile and was kept unread - but capitals, digits and underscores spell a
    surname or an MRN as well as a body part. A kept Code String holding the patient's own name or ID is
    removed (a dummy where the IOD requires it: Modality); one whose match is a clinical word stays (a
    patient called Head keeps Body Part Examined HEAD); the raw path writes what the general path writes."""
    from pydicom.dataelem import DataElement

    ds = _small_image()
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.PatientName, ds.PatientID = "Quimbyzz^Head", "ZZ123456"
    ds.Modality = "OT"
    ds.BodyPartExamined = "QUIMBYZZ"
    ds.ImageType = ["DERIVED", "SECONDARY", "ZZ123456"]
    ds.PatientPosition = "HFS"
    ds.ScanOptions = "HEAD_NECK"
    ds.ConversionType = "WSD"
    ds.add(DataElement(0x00091010, "LO", "ZZ SITE"))  # a private CS of a block no dictionary knows: removed
    ds.add(DataElement(0x00091001, "CS", "QUIMBYZZ"))
    path = tmp_path / "cs.dcm"
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    raw = next((tmp_path / "cmp" / "raw").rglob("*.dcm")).read_bytes()
    assert b"QUIMBYZZ" not in raw and b"ZZ123456" not in raw
    written = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    assert "BodyPartExamined" not in written  # Type 3 in this IOD: removed
    assert written.ImageType == ["DERIVED", "SECONDARY", "ANON"]  # the naming value's place keeps a dummy
    assert written.ScanOptions == "HEAD_NECK" and written.PatientPosition == "HFS"
    assert written.ConversionType == "WSD" and written.Modality == "OT"
    fired = rawpath.process(path, _plans()[policy], KEYED, tmp_path / "again").outcome.rules()
    assert {(f[0], f[1], f[2]) for f in fired if f[2] == "code-string:known-identifier"} == {
        ("00180015", "X", "code-string:known-identifier"), ("00080008", "D", "code-string:known-identifier")}


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_code_strings_that_are_terms_stay_whatever_the_patient_or_institution_is_called(policy, tmp_path,
                                                                                        monkeypatch):
    """Defined terms are words: a patient called Original, Code or Axial, an institution called "Primary
    Children's Hospital", keep Image Type ORIGINAL\\PRIMARY\\AXIAL and the SR Value Type CODE (the red team
    found both removed, which broke CT and SR instances). Only the patient's own name and IDs are looked
    for, and a match that is a word of the data dictionary or the clinical vocabulary is a term."""
    from pydicom.sequence import Sequence

    ds = _small_image()
    ds.PatientName, ds.PatientID = "Original^Code^Axial", "ZZ123456"
    ds.InstitutionName = "Primary Children's Hospital"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ConversionType = "WSD"
    item = Dataset()
    item.ValueType, item.RelationshipType = "CODE", "CONTAINS"
    ds.ContentSequence = Sequence([item])
    path = tmp_path / "terms.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    written = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    assert written.ImageType == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert written.ContentSequence[0].ValueType == "CODE"
    assert written.ContentSequence[0].RelationshipType == "CONTAINS"


def test_a_required_code_string_that_names_the_patient_becomes_a_dummy(tmp_path, monkeypatch):
    """Modality is Type 1: a Modality that is the patient's surname gets the CS dummy, not an empty value."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Quimbyzz^Haroldine", "ZZ123456"
    ds.Modality, ds.ConversionType = "QUIMBYZZ", "WSD"
    path = tmp_path / "mod.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, "basic", tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    written = pydicom.dcmread(tmp_path / "out" / result.output)
    assert written.Modality == "ANON"
    assert b"QUIMBYZZ" not in (tmp_path / "out" / result.output).read_bytes()


def test_large_file_streams_and_matches(tmp_path, monkeypatch):
    """Over the read-at-once size the pixel bytes stream in chunks; trailing elements still de-identified."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.InstitutionName = "Doe^Jane", "MRN-77", "St Elsewhere"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1024, 1024, 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.NumberOfFrames = 1, 0, 4
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = random.Random(7).randbytes(1024 * 1024 * 2 * 4)
    ds[0xFFFCFFFC] = pydicom.DataElement(0xFFFCFFFC, "OB", b"\x00" * 8)  # trailing padding after the pixels
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert path.stat().st_size > rawpath.SMALL
    assert _compare(path, "basic", tmp_path / "cmp", monkeypatch)


def _small_image() -> Dataset:
    """An 8x8 secondary capture (explicit VR little endian) for a test to add its attributes to."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(128)
    return ds


@pytest.mark.parametrize("policy", ["research-longitudinal", "times-shifted"])
@pytest.mark.parametrize(("charset", "name", "text"), [
    (None, "Doe^Jane", "Follow-up for Jane Doe, MRN-77, seen 03/04/2019"),
    ("ISO_IR 100", "Müller^Jürgen", "Kontrolle Jürgen Müller MRN-77 am 04.03.2019"),
    ("ISO_IR 192", "Ωmega^Zoë", "Zoë Ωmega MRN-77 seen 2019-03-04"),
])
def test_text_cleaning_and_date_shifts_on_the_raw_path_match_the_general_path(charset, name, text, policy, tmp_path,
                                                                                monkeypatch):
    """research-longitudinal on the raw path: dates shifted (with their paired times, across midnight, when
    times of day move too),
    free text cleaned of the patient's own name, ID and dates, in the file's character set - byte for byte
    the general path's output, and the identifiers gone from it."""
    ds = _small_image()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, "MRN-77", "19610304"
    ds.StudyDate, ds.StudyTime = "20190304", "233000"
    ds.SeriesDate, ds.SeriesTime = "20190304", "000500.25"
    ds.StudyDescription = text
    ds.ImageComments = text
    item = Dataset()
    item.AccessionNumber = "ACC-991"
    item.ReferencedStudySequence = []
    ds.RequestAttributesSequence = [item]
    path = tmp_path / "text.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    out = next((tmp_path / "cmp" / "raw").rglob("*.dcm"))
    written = pydicom.dcmread(out)
    family, given = name.split("^")
    data = out.read_bytes()
    for value in (family, given, "MRN-77", "ACC-991"):
        assert value not in str(written.StudyDescription) + str(written.get("ImageComments", ""))
        assert value.encode("utf-8") not in data and value.encode("latin-1", "ignore") not in data
    assert written.StudyDate != "20190304"
    assert (written.StudyTime != "233000") == (policy == "times-shifted")


def test_an_element_the_engine_removes_before_an_unused_private_block(tmp_path, monkeypatch):
    """A date that cannot be shifted is removed by the engine (shift:unparseable) at the end of its level,
    and a private block later in the level loses its last element: the creator goes, nothing else."""
    ds = _small_image()
    ds.StudyDate = "2019X304"  # not a date: removed, never passed through
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "operator Jane Doe")
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-77"
    ds.Modality = "OT"
    path = tmp_path / "unparseable.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "research-longitudinal", tmp_path / "cmp", monkeypatch)
    written = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    assert "StudyDate" not in written and 0x00090010 not in written and "PatientName" in written


def test_file_meta_keeps_only_what_it_needs(tmp_path, monkeypatch):
    """Presentation addresses (0002,0026-0028), AE titles and private meta name the sending site: gone,
    on both paths, each removal in the manifest's rules."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.SourceApplicationEntityTitle = "ST_ELSEWHERE_CT"
    ds.file_meta.SourcePresentationAddress = "dicom://ct1.st-elsewhere.example:104"
    ds.file_meta.SendingPresentationAddress = "dicom://router.st-elsewhere.example:11112"
    ds.file_meta.PrivateInformationCreatorUID = "1.2.3.4"
    ds.file_meta.PrivateInformation = b"ELSEWHERE"
    path = tmp_path / "meta.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _compare(path, "basic", tmp_path / "cmp", monkeypatch)
    written = next(p for p in (tmp_path / "cmp" / "general").rglob("*.dcm"))
    meta = pydicom.dcmread(written).file_meta
    assert sorted(int(e.tag) for e in meta) == [0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010,
                                                  0x00020012, 0x00020013]
    data = written.read_bytes()
    assert b"elsewhere" not in data.lower() and b"ELSEWHERE" not in data


def test_corrupted_inputs_are_declined_or_identical(tmp_path, monkeypatch):
    """Truncations and byte flips anywhere: the raw path never writes what the general path would not."""
    rng = random.Random(11)
    sources = [Path(get_testdata_file(n)) for n in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm",
                                                     "rtplan.dcm", "SC_rgb_small_odd.dcm")]
    tried = 0
    for n in range(60):
        src = rng.choice(sources)
        data = bytearray(src.read_bytes())
        if n % 2:
            data = data[: rng.randrange(140, len(data))]
        else:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(132, len(data))] = rng.randrange(256)
        bad = tmp_path / f"bad{n}.dcm"
        bad.write_bytes(bytes(data))
        plan = _plans()["basic"]
        out = tmp_path / f"raw{n}"
        fast = rawpath.process(bad, plan, KEYED, out)
        general = _general(bad, "basic", tmp_path / f"gen{n}", monkeypatch)
        if fast is None:
            continue
        tried += 1
        assert general.status == "ok", (n, general.reason)  # never a file the general path quarantines
        assert fast.out_sha == general.output_sha256, n
    assert tried > 0  # flips in values leave well-formed files: those must still match


def test_declines_when_policy_cleans_pixels_or_overlays():
    """Text cleaning and date shifts are the engine's own _apply on the raw path; a pixel or overlay pass
    needs the decoded image: the general path."""
    for text in ('options: [clean_pixel_data]\n', 'options: [clean_graphics]\npixels: {overlays: clean}\n'):
        plan = compile_plan(load_policy_text(f'name: px\nversion: "1"\nprofile: ps3.15-basic\n{text}'))
        assert not rawpath.eligible(plan) and not rawpath.eligible(plan)  # memoised per plan: never flips
    for name in ("basic", "research-longitudinal"):
        plan = compile_plan(load_policy(name))
        assert rawpath.eligible(plan) and rawpath.eligible(plan)


@pytest.mark.parametrize("value", ["YES", "yes", " YES", "Yes "])
def test_burned_in_annotation_is_never_passed_by_either_path(value, tmp_path):
    """BurnedInAnnotation YES in any spelling quarantines under a policy without pixel cleaning."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = value
    path = tmp_path / "burned.dcm"
    ds.save_as(path, enforce_file_format=True)
    r = process_file(path, _plans()["basic"], KEYED, tmp_path / "out")
    assert r.status == "quarantined" and r.rule == "burned-in-annotation", (value, r)
    assert not list((tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize("where", ["_parse", "_encode_meta"])
def test_an_unforeseen_error_in_the_raw_path_hands_the_file_to_the_general_path(where, tmp_path, monkeypatch):
    """An exception the accelerator did not foresee (before its output is committed) is not a lost file:
    the general path writes it, byte for byte what it writes for it anyway, and nothing else is left."""
    path = Path(get_testdata_file("CT_small.dcm"))
    expected = _general(path, "basic", tmp_path / "general", monkeypatch)

    def broken(*args, **kwargs):
        raise IndexError("a case the raw path did not foresee")

    monkeypatch.setattr(rawpath, where, broken)
    out = tmp_path / "out"
    r = process_file(path, _plans()["basic"], KEYED, out)
    assert r.status == "ok", (r.reason, r.rule)
    assert (r.output, r.output_sha256, r.fired) == (expected.output, expected.output_sha256, expected.fired)
    assert (out / r.output).read_bytes() == (tmp_path / "general" / expected.output).read_bytes()
    assert [p.name for p in out.rglob("*") if p.is_file()] == [Path(r.output).name]  # no temporary left


def _red_team_round_two(implicit: bool) -> Dataset:
    """One instance holding what the second red team found kept: safe-listed private values that are not
    what their entries describe, a nested age over 89, the birth date in an SR DATE item, a person's
    badge in Person Identification Code Sequence, and a Timezone Offset From UTC."""
    ds = _small_image()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Zqleakname^Zqfirst", "ZQ-MRN-99812", "19470312"
    ds.StudyDate, ds.PatientAge, ds.TimezoneOffsetFromUTC = "20210405", "074Y", "+0100"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3"
    ref.PatientAge = "095Y"
    ds.ReferencedImageSequence = [ref]
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "EMP-448812", "L", "Dr Zqquenby (badge 448812)"
    ds.PersonIdentificationCodeSequence = [code]
    born, later = Dataset(), Dataset()
    born.ValueType, born.Date = "DATE", "19470312"
    later.ValueType, later.Date = "DATE", "20200101"
    ds.ContentSequence = [born, later]
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x0019109E, "LO", "FSE ZQLEAKNAME^ZQFIRST")  # safe text holding the patient's name
    ds.add_new(0x70530010, "LO", "Philips PET Private Group")
    ds.add_new(0x70531000, "UT", "Patient Zqleakname born 1947-03-12")  # safe DS written as text
    ds.add_new(0x70531009, "DS", "0.000123")  # safe DS: a number
    ds.add_new(0x20010010, "LO", "Philips Imaging DD 001")
    ds.add_new(0x20011001, "FL", 1.5)  # safe FL: kept
    ds.add_new(0x20011004, "CS", "ZQLEAKNAME")  # safe CS holding the name
    return ds


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("policy", ["basic", "options", "research-longitudinal"])
def test_second_red_team_findings_are_fixed_alike_on_both_paths(implicit, policy, tmp_path, monkeypatch):
    """Both paths remove safe private values that are not what their E.3.10-1 entries describe (judged by
    their bytes when an implicit VR file gives them no VR), replace the patient's name in safe private
    text, cap a nested age, give a date that is the birth date the birth date's action, replace Person
    Identification Code Sequence's content by dummies, and keep a valid Timezone Offset - byte for byte."""
    path = tmp_path / f"rt2-{implicit}.dcm"
    _red_team_round_two(implicit).save_as(path, enforce_file_format=True)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    data = next((tmp_path / "cmp" / "raw").rglob("*.dcm")).read_bytes()
    assert not [n for n in (b"ZQLEAKNAME", b"Zqleakname", b"ZQ-MRN", b"448812", b"Zqquenby", b"19470312", b"095Y")
                if n in data], policy
    out = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    if policy == "research-longitudinal":
        assert out.TimezoneOffsetFromUTC == "+0100"
        assert out.ReferencedImageSequence[0].PatientAge == "090Y"
        assert not out.ContentSequence[0].get("Date")  # the birth date: emptied (Type 3 here), not shifted
        assert out.ContentSequence[1].Date not in ("", "20200101")  # other dates move
    if policy == "options":  # retain_safe_private
        kept = out[0x70531009].value
        assert (kept.decode() if isinstance(kept, bytes) else str(kept)).strip("\x00 ") == "0.000123"
        assert 0x70531000 not in out and 0x20011004 not in out and 0x20011001 in out


@pytest.mark.parametrize("implicit", [False, True])
def test_safe_private_bytes_holding_the_patients_id_go_on_both_paths(implicit, tmp_path, monkeypatch):
    """Retain Safe Private: an opaque safe entry (OB) spelling the patient's own name or ID is removed by
    the raw path exactly as by the general path; one that does not is kept as read."""
    ds = _small_image()
    ds.PatientName, ds.PatientID = "Quimbyzz^Haroldine", "ZZ123456"
    ds.add_new(0x20010010, "LO", "Philips Imaging DD 097")
    ds.add_new(0x2001102F, "OB", b"\x00\x01ZZ123456\x80\x81")
    ds.add_new(0x20011030, "OB", b"\x00\x01\x02\x03")
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "ob.dcm"
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit)
    assert _compare(path, "options", tmp_path / "cmp", monkeypatch)
    raw = next((tmp_path / "cmp" / "raw").rglob("*.dcm")).read_bytes()
    assert b"ZZ123456" not in raw


@pytest.mark.parametrize("implicit", [False, True])
def test_a_safe_private_number_written_as_text_is_kept_when_it_is_a_number(implicit, tmp_path, monkeypatch):
    """Philips writes its MR Series Flip Angle (2001,xx23; dictionary DS) as LO "90": a number, kept (it was
    removed as a VR mismatch); a sentence at the same tag is not a number and goes, on both paths."""
    for value, kept in (("90", True), ("Patient Quimbyzz MRN ZZ123456", False)):
        ds = _small_image()
        ds.PatientName, ds.PatientID = "Quimbyzz^Haroldine", "ZZ123456"
        ds.add_new(0x20010010, "LO", "Philips Imaging DD 001")
        ds.add_new(0x20011023, "LO", value)
        if implicit:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        path = tmp_path / f"flip-{kept}.dcm"
        ds.save_as(path, enforce_file_format=True, implicit_vr=implicit)
        assert _compare(path, "options", tmp_path / f"cmp-{kept}", monkeypatch)
        out = pydicom.dcmread(next((tmp_path / f"cmp-{kept}" / "raw").rglob("*.dcm")))
        assert (0x20011023 in out) is kept, value


_SERIES = "1.2.840.113619.2.55.3.604688119.969.1710147015.400"
_MRN_UID = "1.2.840.99999.9137246.19470513"


def _uid_red_team(implicit: bool) -> Dataset:
    """Red team 3's UIDs: safe private UIDs (one the instance's own Series Instance UID, one of the MRN's
    digits, multi-valued with a standard UID, one that is no UID, one in a sequence item), Context UID and
    Context Group Extension Creator UID at the top level and in nested code items, and UIDs quoted in text."""
    ds = _small_image()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Quixandor^Belinda", "PX9137246", "19470513"
    ds.SeriesInstanceUID = _SERIES
    nq = ds.private_block(0x0099, "NQHeader", create=True)
    nq.add_new(0x01, "UI", [_MRN_UID, "1.2.840.10008.5.1.4.1.1.7"])
    nq.add_new(0x02, "UI", _SERIES)
    sc = ds.private_block(0x0129, "SIEMENS Ultrasound SC2000", create=True)
    sc.add_new(0x02, "UI", "1.2.840.99999.9137246.20240311.1")
    sc.add_new(0x07, "UI", "QUIXANDOR 9137246")  # no UID: removed
    ds.ContextUID = _MRN_UID
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-D3000", "SRT", "Chest"
    code.ContextIdentifier, code.ContextUID = "4", _MRN_UID
    code.ContextGroupExtensionCreatorUID = _MRN_UID
    standard = Dataset()
    standard.CodeValue, standard.CodingSchemeDesignator, standard.CodeMeaning = "T-D3000", "SRT", "Chest"
    standard.ContextIdentifier, standard.ContextUID = "4", "1.2.840.10008.6.1.308"
    inner = Dataset()
    inner.AnatomicRegionSequence = [code, standard]
    inner.private_block(0x0099, "NQHeader", create=True).add_new(0x02, "UI", _SERIES)
    item = Dataset()
    item.ReferencedInstanceSequence = [inner]
    ds.ReferencedSeriesSequence = [item]
    ds.ImageComments = f"Compare with prior study 1.2.840.113619.2.55.3.604688119.969.1678886400.77. Current {_SERIES}."
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _uid_text(v: object) -> str:
    """A UI value as text, read with its VR or (implicit VR, a private creator pydicom does not know) as bytes."""
    if isinstance(v, bytes):
        return v.decode().rstrip("\x00")
    return "\\".join(map(str, v)) if isinstance(v, (list, pydicom.multival.MultiValue)) else str(v)


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("policy", ["basic", "research-longitudinal", "safe-private", "rl-safe-private", "options"])
def test_uids_of_the_third_red_team_are_remapped_alike_on_both_paths(policy, implicit, tmp_path, monkeypatch):
    """Safe private UIDs get the new UID their public twins get (a value that is no UID goes), Context UID and
    Context Group Extension Creator UID are remapped unless standard, and UIDs in cleaned text get the header's
    new UID - on the raw path byte for byte as on the general path, which the raw path does not decline to."""
    path = tmp_path / f"uids-{implicit}.dcm"
    _uid_red_team(implicit).save_as(path, enforce_file_format=True, implicit_vr=implicit)
    assert _compare(path, policy, tmp_path / "cmp", monkeypatch)
    data = next((tmp_path / "cmp" / "raw").rglob("*.dcm")).read_bytes()
    out = pydicom.dcmread(next((tmp_path / "cmp" / "raw").rglob("*.dcm")))
    if policy == "options":  # Retain UIDs (E.3.9): UIDs, safe private ones too, stay; a value that is no UID goes
        assert out.SeriesInstanceUID == _uid_text(out[0x00991002].value) == _SERIES and out.ContextUID == _MRN_UID
        assert 0x01291007 not in out and b"QUIXANDOR" not in data
        return
    assert b"9137246" not in data and b"604688119" not in data, policy
    new = KEYED.uid(_MRN_UID)
    assert out.ContextUID == new
    code, standard = out.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].AnatomicRegionSequence
    assert code.ContextUID == code.ContextGroupExtensionCreatorUID == new
    assert standard.ContextUID == "1.2.840.10008.6.1.308"
    if "safe-private" in policy:
        text = _uid_text
        assert text(out[0x00991002].value) == out.SeriesInstanceUID == KEYED.uid(_SERIES)
        assert text(out[0x00991001].value) == f"{new}\\1.2.840.10008.5.1.4.1.1.7"
        assert 0x01291007 not in out and 0x01291002 in out
        nested = out.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
        assert text(nested[0x00991002].value) == out.SeriesInstanceUID
    if policy.startswith("r"):
        prior = KEYED.uid("1.2.840.113619.2.55.3.604688119.969.1678886400.77")
        assert out.ImageComments == f"Compare with prior study {prior}. Current {out.SeriesInstanceUID}."
