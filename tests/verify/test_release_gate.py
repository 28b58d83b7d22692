"""`veil verify` as the release gate: it reads every valid output Veil writes (deflated ones too) and
does not block a release on what is not a leak - Veil's own placeholders, a word of the device maker's
own name - while what is a leak in the same places is still found."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian
from tests.verify.test_verify import KEY

from veil.pipeline.instance import keyed_file_hash
from veil.pipeline.runner import iter_files, run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.verify import pair_by_manifest, verify_folder
from veil.verify.needles import Needles, read_needles
from veil.verify.scan import Scanner

from .conftest import image as _image


def _save(ds: Dataset, path: Path, deflated: bool = False) -> Path:
    if deflated:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def _needles(*inputs: Path) -> Needles:
    n = Needles()
    for p in inputs:
        n.update(read_needles(p))
    return n


def _identifiers(scanner: Scanner, path: Path) -> list[tuple[str, str, str]]:
    return [(f.location, f.category, f.value) for f in scanner.scan_file(path, path.name)
            if f.category.startswith("identifier") or f.category == "unreadable"]


# --- deflated outputs ---------------------------------------------------------------------------------


def test_a_deflated_output_written_by_deid_passes_verify(tmp_path):
    """Checked against the file's size, the positions of a deflated data set (its inflated bytes') said
    "truncated or corrupt DICOM: N bytes after the last whole element": every deflated release failed."""
    src = tmp_path / "in"
    src.mkdir()
    _save(_image(PatientName="Zqwerty^Ann", PatientID="ZZ-MRN-99812", PatientBirthDate="19470312",
                 StudyDate="20200102", InstitutionName="Quenby Royal Infirmary", PatientIdentityRemoved="NO"),
          src / "a.dcm", deflated=True)
    out = tmp_path / "out"
    s = run(list(iter_files(src)), out, compile_plan(load_policy("basic")), KEY)
    assert s.written == 1
    written = next(p for p in out.rglob("*.dcm"))
    assert pydicom.dcmread(written).file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    pairs = pair_by_manifest(out, [src / "a.dcm"], lambda p: keyed_file_hash(p, KEY))
    result = verify_folder(out, src, pairs=pairs, ocr=False)
    assert result.paired == 1
    assert result.unreadable == 0
    assert result.findings == [], [(f.location, f.category, f.evidence) for f in result.findings]


def test_the_inflated_data_set_of_a_deflated_output_is_searched_raw(tmp_path):
    """Deflate hides text from a byte search: the input's name in a binary value (which the element walk
    leaves to the byte search) must be found in the inflated data set, not missed in the deflated one."""
    inp = _save(_image(PatientName="Zqwerty^Annabel", PatientID="ZZ-MRN-99812"), tmp_path / "in.dcm")
    scanner = Scanner(_needles(inp))
    blob = b"\x00" * 5000 + b"report for ZQWERTY ANNABEL, ZZ-MRN-99812" + b"\x00" * 5000
    out = _image(EncapsulatedDocument=blob, MIMETypeOfEncapsulatedDocument="application/octet-stream")
    path = _save(out, tmp_path / "out.dcm", deflated=True)
    assert b"ZQWERTY" not in path.read_bytes()  # deflated: not in the file's bytes as they are
    found = _identifiers(scanner, path)
    assert not [f for f in found if f[1] == "unreadable"], found
    raw = {v.upper() for loc, cat, v in found if cat == "identifier:raw" and loc.startswith("inflated data set @")}
    assert {"ZZ-MRN-99812", "ZQWERTY ANNABEL"} <= raw, found


def test_a_deflated_output_cut_short_or_not_inflatable_is_unreadable(tmp_path):
    """Fail closed: what cannot be inflated whole cannot be shown to be clean."""
    path = _save(_image(ImageComments="fine " * 200), tmp_path / "ok.dcm", deflated=True)
    data = path.read_bytes()
    scanner = Scanner(Needles())
    assert not [f for f in scanner.scan_file(path, "ok.dcm") if f.category == "unreadable"]
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:-40])
    assert [f for f in scanner.scan_file(cut, "cut.dcm") if f.category == "unreadable"]
    start = data.index(b"1.2.840.10008.1.2.1.99") + 22
    start += (len(data) - start) // 2
    garbled = tmp_path / "garbled.dcm"
    garbled.write_bytes(data[:start] + b"\xff" * 16 + data[start + 16:])
    assert [f for f in scanner.scan_file(garbled, "garbled.dcm") if f.category == "unreadable"]


# --- Veil's placeholders ------------------------------------------------------------------------------


def test_veils_placeholders_are_not_findings_but_the_same_words_are(tmp_path):
    """A sample patient "Last Name^First Name" made the word NAME a needle, and "[NAME]" that Veil
    wrote in another patient's file failed the release. The bare word is still found, and so is a
    longer needle (PLACE is searched raw too)."""
    inp = _save(_image(PatientName="Last Name^First Name", InstitutionName="Place"), tmp_path / "in.dcm")
    scanner = Scanner(_needles(inp))
    cases = (("CT for [NAME] at [PLACE], [DATE]", False), ("OB_[NAME]_GENERAL", False),
             ("CT for Name", True), ("seen at Place", True), ("[NAME] [PLACE] Place", True),
             ("[Place]", True), ("(PLACE)", True))
    for i, (text, leaks) in enumerate(cases):
        path = _save(_image(ImageComments=text, ProcessingFunction=text[:16]), tmp_path / f"out{i}.dcm")
        found = _identifiers(scanner, path)
        assert bool(found) == leaks, (text, found)


# --- the device maker's own name ------------------------------------------------------------------------


def test_a_word_of_the_makers_own_name_in_manufacturer_is_not_a_finding(tmp_path):
    """A vendor's test site is named like the vendor (InstitutionName "TOSHIBA", Manufacturer
    "TOSHIBA_MEC"), an SR's verifying organisation made the software ("OFFIS e.V." and Manufacturer
    "Kuratorium OFFIS e.V."): verify flagged the Manufacturer Veil keeps (every profile keeps it) as
    the institution, in the byte search too."""
    ins = [
        _save(_image(InstitutionName="TOSHIBA", Manufacturer="TOSHIBA_MEC", ManufacturerModelName="MRT50H1"),
              tmp_path / "toshiba.dcm"),
        _save(_image(Manufacturer="Kuratorium OFFIS e.V."), tmp_path / "offis.dcm"),
        _save(_image(VerifyingObserverSequence=Sequence([Dataset()])), tmp_path / "sr.dcm"),
        _save(_image(PatientName="Last Name^First Name", Manufacturer="Manufacturer name here",
                     ManufacturerModelName="Treatment Planning System name here"), tmp_path / "rt.dcm"),
    ]
    sr = pydicom.dcmread(ins[2])
    sr.VerifyingObserverSequence[0].VerifyingOrganization = "OFFIS e.V."
    sr.VerifyingObserverSequence[0].VerifyingObserverName = "Riesmeier^Joerg"
    sr.save_as(ins[2])
    scanner = Scanner(_needles(*ins))
    clean = (
        _image(Manufacturer="TOSHIBA_MEC", ManufacturerModelName="MRT50H1"),
        _image(Manufacturer="Kuratorium OFFIS e.V."),
        _image(Manufacturer="Manufacturer name here", ManufacturerModelName="Treatment Planning System name here"),
        _image(ReferencedImageSequence=Sequence([_image(Manufacturer="TOSHIBA_MEC")])),  # nested: the same
    )
    for i, ds in enumerate(clean):
        for deflated in (False, True):
            path = _save(ds, tmp_path / f"clean{i}{deflated}.dcm", deflated)
            assert _identifiers(scanner, path) == [], (i, deflated)


def test_the_institution_is_still_found_in_manufacturer_and_everywhere_else(tmp_path):
    """What the maker-name rule does not cover: a value that is the institution's name, a name of two
    words or more, a value no input device wrote, another attribute, and the same word in a binary value
    of the same file (the byte search skips the word in the Manufacturer value's own bytes only)."""
    ins = [
        _save(_image(InstitutionName="TOSHIBA", Manufacturer="TOSHIBA_MEC"), tmp_path / "a.dcm"),
        _save(_image(Manufacturer="TOSHIBA"), tmp_path / "b.dcm"),
        _save(_image(InstitutionName="Sutter Health Systems", Manufacturer="Sutter Health Systems PACS",
                     PatientName="Quenby^Harriet", ManufacturerModelName="Quenby Harriet Viewer"),
              tmp_path / "c.dcm"),
    ]
    scanner = Scanner(_needles(*ins))
    blob = b"\x00" * 5000 + b" TOSHIBA " + b"\x00" * 5000
    leaks = {
        "whole value": _image(Manufacturer="TOSHIBA"),
        "two words": _image(Manufacturer="Sutter Health Systems PACS"),
        "full name": _image(ManufacturerModelName="Quenby Harriet Viewer"),
        "not an input maker": _image(Manufacturer="TOSHIBA_XYZ"),
        "other attribute": _image(Manufacturer="TOSHIBA_MEC", StationName="TOSHIBA_MEC"),
        "comment": _image(Manufacturer="TOSHIBA_MEC", ImageComments="scanned at TOSHIBA"),
        "binary value": _image(Manufacturer="TOSHIBA_MEC", EncapsulatedDocument=blob),
    }
    for what, ds in leaks.items():
        for deflated in (False, True):
            path = _save(ds, tmp_path / f"{what.replace(' ', '_')}{deflated}.dcm", deflated)
            found = _identifiers(scanner, path)
            assert found and not [f for f in found if f[1] == "unreadable"], (what, deflated, found)
