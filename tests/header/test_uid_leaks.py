"""UIDs that went out as read (red team 3): safe private UIDs (PS3.15 E.3.10), Context UID and Context Group
Extension Creator UID (allow-listed as text, so never checked), and UIDs quoted in cleaned free text. Each
gets the keyed new UID its public twin gets (E.1-1 action U; E.3.9 without Retain UIDs), standard UIDs stay."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from veil.header.engine import deidentify, new_uid, standard_uid
from veil.identity.keyed import Keyed
from veil.policy.model import load_policy, load_policy_text
from veil.policy.plan import compile_plan

KEY = Keyed(b"u" * 32)
BUILTIN = Path(__file__).resolve().parents[2] / "src/veil/policy/builtin"

SERIES = "1.2.840.113619.2.55.3.604688119.969.1710147015.400"
STUDY = "1.2.840.113619.2.55.3.604688119.969.1710147015.123"
MRN_UID = "1.2.840.99999.9137246.19470513"  # the MRN's digits and the birth date as components
BOOKMARK = "1.2.840.99999.9137246.20240311.1"
CONTEXT_GROUP = "1.2.840.10008.6.1.308"  # a Context Group UID of the standard (PS3.6 Table A-3)


def _policy(name: str, *options: str) -> str:
    """A built-in policy's text with `options` added."""
    text = (BUILTIN / f"{name}.yaml").read_text()
    if not options:
        return text
    if "options: []" in text:
        return text.replace("options: []", f"options: [{', '.join(options)}]")
    return text.replace("options:\n", "options:\n" + "".join(f"  - {o}\n" for o in options), 1)


def _plan(name: str, *options: str):
    return compile_plan(load_policy_text(_policy(name, *options)) if options else load_policy(name))


def _base() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.840.113619.2.55.3.604688119.969.1710147015.400.1"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = SERIES
    ds.PatientName = "Quixandor^Belinda"
    ds.PatientID = "PX9137246"
    ds.PatientBirthDate = "19470513"
    ds.StudyDate = "20240311"
    ds.Modality = "CT"
    return ds


def _with_private_uids(ds: Dataset) -> Dataset:
    nq = ds.private_block(0x0099, "NQHeader", create=True)
    nq.add_new(0x02, "UI", SERIES)  # Analyzed Series UID: the instance's own Series Instance UID
    nq.add_new(0x01, "UI", MRN_UID)
    sc = ds.private_block(0x0129, "SIEMENS Ultrasound SC2000", create=True)
    sc.add_new(0x02, "UI", BOOKMARK)
    return ds


def _reread(ds: Dataset, tmp_path: Path, implicit: bool) -> Dataset:
    """`ds` written and read back: implicit VR gives the private elements no VR of their own."""
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / f"in-{implicit}.dcm"
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit)
    out = pydicom.dcmread(path)
    if implicit and 0x00991002 in out:
        assert out.get_item(0x00991002).VR is None
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00 ")
    return "\\".join(str(v) for v in value) if isinstance(value, (list, pydicom.multival.MultiValue)) else str(value)


# --- finding 1: Retain Safe Private kept private UIDs verbatim


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_safe_private_uids_get_the_new_uid_of_the_public_uid_they_name(policy, implicit, tmp_path):
    """NQHeader's Analyzed Series UID holding the original Series Instance UID is the remapped Series Instance
    UID in the output (the reference still resolves); a UID of the patient's digits and SC2000's Bookmark UID
    are remapped too - with a VR of their own or, implicit VR, by the safe-private dictionary's UI."""
    ds = _reread(_with_private_uids(_base()), tmp_path, implicit)
    deidentify(ds, _plan(policy, "retain_safe_private"), KEY)
    assert ds.SeriesInstanceUID == new_uid(SERIES, KEY) != SERIES
    assert _text(ds[0x00991002].value) == ds.SeriesInstanceUID
    assert _text(ds[0x00991001].value) == new_uid(MRN_UID, KEY)
    assert _text(ds[0x01291002].value) == new_uid(BOOKMARK, KEY)
    assert ds[0x00990010].value == "NQHeader"  # the block is kept: its elements are


def test_safe_private_uids_keep_standard_uids_and_remap_each_value():
    """Multi-valued: a standard UID (pydicom's dictionary, a context group's) stays, each other value gets
    its own new UID."""
    ds = _base()
    ds.private_block(0x0099, "NQHeader", create=True).add_new(
        0x02, "UI", [CTImageStorage, SERIES, CONTEXT_GROUP, MRN_UID])
    deidentify(ds, _plan("basic", "retain_safe_private"), KEY)
    assert list(ds[0x00991002].value) == [CTImageStorage, new_uid(SERIES, KEY), CONTEXT_GROUP, new_uid(MRN_UID, KEY)]


def test_a_safe_private_standard_uid_is_kept_as_read():
    ds = _base()
    ds.private_block(0x0099, "NQHeader", create=True).add_new(0x01, "UI", CTImageStorage)
    deidentify(ds, _plan("basic", "retain_safe_private"), KEY)
    assert ds[0x00991001].value == CTImageStorage


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("value", ["QUIXANDOR BELINDA", "PX9137246", "1.2.840.099999.9137246", "1.2..3.4",
                                   "1.2.840.99999." + "1" * 60, "1.2.840 99999"])
def test_a_safe_private_uid_that_is_not_a_uid_is_removed(value, implicit, tmp_path):
    """PS3.5 9.1: digits and dots, no leading zero, 64 characters. Anything else written at a UI tag is not
    what the dictionary vouches for: removed, not kept, and not hashed into something that looks like a UID."""
    ds = _base()
    ds.private_block(0x0099, "NQHeader", create=True).add_new(0x02, "UI", value)
    ds = _reread(ds, tmp_path, implicit)
    out = deidentify(ds, _plan("basic", "retain_safe_private"), KEY)
    assert 0x00991002 not in ds
    assert 0x00990010 not in ds  # nothing left in the block: its creator goes too
    assert any(t == "00991002" and a == "X" and r == "private:not-UI" for t, a, r, _ in out.rules())


def test_one_bad_value_removes_a_multi_valued_safe_private_uid():
    ds = _base()
    ds.private_block(0x0099, "NQHeader", create=True).add_new(0x02, "UI", [SERIES, "QUIXANDOR"])
    deidentify(ds, _plan("basic", "retain_safe_private"), KEY)
    assert 0x00991002 not in ds


def test_safe_private_uids_in_nested_sequences_are_remapped():
    """A safe private block three sequences deep gets the same treatment as at the top level."""
    ds = _base()
    inner = Dataset()
    _with_private_uids(inner)
    mid, outer = Dataset(), Dataset()
    mid.SourceImageSequence = Sequence([inner])
    outer.ReferencedInstanceSequence = Sequence([mid])
    ds.ReferencedSeriesSequence = Sequence([outer])
    deidentify(ds, _plan("research-longitudinal", "retain_safe_private"), KEY)
    got = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].SourceImageSequence[0]
    assert got[0x00991002].value == ds.SeriesInstanceUID == new_uid(SERIES, KEY)
    assert got[0x00991001].value == new_uid(MRN_UID, KEY)
    assert got[0x01291002].value == new_uid(BOOKMARK, KEY)


def test_retain_uids_keeps_safe_private_uids_as_it_keeps_public_ones():
    """E.3.9 Retain UIDs: public and private UIDs stay as read; a value that is no UID still goes."""
    ds = _with_private_uids(_base())
    ds.private_block(0x0129, "SIEMENS Ultrasound SC2000", create=False).add_new(0x07, "UI", "QUIXANDOR")
    deidentify(ds, _plan("basic", "retain_safe_private", "retain_uids"), KEY)
    assert ds.SeriesInstanceUID == SERIES
    assert ds[0x00991002].value == SERIES and ds[0x00991001].value == MRN_UID
    assert 0x01291007 not in ds


# --- finding 2: Context UID and Context Group Extension Creator UID were allow-listed as text


def _context_item(context_uid: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-D3000", "SRT", "Chest"
    code.ContextIdentifier = "4"
    code.ContextUID = context_uid
    code.MappingResource = "DCMR"
    code.ContextGroupExtensionFlag = "Y"
    code.ContextGroupExtensionCreatorUID = MRN_UID
    return code


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_context_uids_are_remapped_unless_the_standards(policy, implicit, tmp_path):
    """A Context UID that is not the standard's is the organisation's own context group: remapped like any
    instance UID, at the top level and three sequences deep; Context Group Extension Creator UID names the
    organisation that extended the group: remapped. A Context Group UID of the standard stays."""
    ds = _base()
    top = _context_item(MRN_UID)
    ds.AnatomicRegionSequence = Sequence([top])
    deep = Dataset()
    deep.ReferencedInstanceSequence = Sequence([Dataset()])
    deep.ReferencedInstanceSequence[0].AnatomicRegionSequence = Sequence(
        [_context_item(MRN_UID), _context_item(CONTEXT_GROUP)])
    ds.ReferencedSeriesSequence = Sequence([deep])
    ds.ContextUID = MRN_UID  # at the top level itself
    ds = _reread(ds, tmp_path, implicit) if implicit else ds
    deidentify(ds, _plan(policy), KEY)
    new = new_uid(MRN_UID, KEY)
    assert ds.ContextUID == new
    assert ds.AnatomicRegionSequence[0].ContextUID == new
    assert ds.AnatomicRegionSequence[0].ContextGroupExtensionCreatorUID == new
    items = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    remapped, standard = items.AnatomicRegionSequence
    assert remapped.ContextUID == new and remapped.ContextGroupExtensionCreatorUID == new
    assert standard.ContextUID == CONTEXT_GROUP
    assert standard.CodeMeaning == "Chest" and standard.ContextIdentifier == "4"  # the code itself is kept


def test_a_policy_can_remove_context_uid():
    """The policy's table decides first: an override that removes Context UID removes it."""
    text = _policy("basic") + "overrides:\n  - keyword: ContextUID\n    action: remove\n"
    ds = _base()
    ds.AnatomicRegionSequence = Sequence([_context_item(MRN_UID)])
    deidentify(ds, compile_plan(load_policy_text(text)), KEY)
    assert "ContextUID" not in ds.AnatomicRegionSequence[0]


def test_standard_uids():
    """pydicom's dictionary, and the context groups of PS3.6 Table A-3 it does not list; not an instance UID a
    generator made by appending to the DICOM root, nor a context group number with the patient's digits."""
    assert standard_uid(CTImageStorage) and standard_uid("1.2.840.10008.1.2.1")
    assert standard_uid("1.2.840.10008.6.1.1") and standard_uid("1.2.840.10008.6.1.1491")
    assert not standard_uid("1.2.840.10008.5.1.4.1.1.2.9137246")
    assert not standard_uid("1.2.840.10008.6.1.9137246")
    assert not standard_uid("1.2.840.10008.6.1.0308")
    assert not standard_uid("1.2.840.10008.6.1")
    assert not standard_uid(MRN_UID)


# --- finding 3: UIDs quoted in cleaned free text


def test_uids_quoted_in_text_get_the_new_uid_the_header_gets():
    """research-longitudinal cleans Image Comments: a quoted UID becomes the keyed new UID - the study's own is
    the output's Study Instance UID, the prior study's the one its files get - before the date and ID patterns
    read its components (GE UIDs hold Unix times, Siemens ones the acquisition's date and time)."""
    prior = "1.2.840.113619.2.55.3.604688119.969.1678886400.77"
    siemens = "1.3.12.2.1107.5.1.4.73105.30000024031107382115600000012"
    ds = _base()
    ds.ImageComments = f"Compare with prior study {prior}. Current {STUDY}. Recon from {siemens}"
    ds.DerivationDescription = f"derived from SOP {siemens}, class {CTImageStorage}"
    deidentify(ds, _plan("research-longitudinal"), KEY)
    assert ds.ImageComments == (f"Compare with prior study {new_uid(prior, KEY)}. Current {ds.StudyInstanceUID}. "
                                f"Recon from {new_uid(siemens, KEY)}")
    assert ds.StudyInstanceUID == new_uid(STUDY, KEY)
    assert ds.DerivationDescription == f"derived from SOP {new_uid(siemens, KEY)}, class {CTImageStorage}"


def test_text_around_a_quoted_uid_is_still_cleaned():
    ds = _base()
    ds.ImageComments = f"Quixandor PX9137246 {SERIES} on 2024-03-11 call 555-238-4471"
    deidentify(ds, _plan("research-longitudinal"), KEY)
    value = ds.ImageComments
    assert new_uid(SERIES, KEY) in value
    for needle in ("Quixandor", "9137246", "2024-03-11", "555-238-4471", "604688119"):
        assert needle not in value, value


@pytest.mark.parametrize("text", ["Software 5.5.90 rev 10.0.19041.1234", "PACS at 10.0.0.1 and 192.168.100.200",
                                  "Kontrolle am 11.03.2024", "kernel 1.2.3.4 dose 0.5"])
def test_dotted_numbers_that_are_not_uids_are_left_to_the_cleaner(text):
    ds = _base()
    ds.ImageComments = text
    deidentify(ds, _plan("research-longitudinal"), KEY)
    assert "2.25." not in ds.ImageComments


def test_a_uid_inside_a_web_address_goes_with_the_address():
    ds = _base()
    ds.ImageComments = f"see https://pacs.example/wado-rs/studies/{STUDY}?patientID=PX9137246 today"
    deidentify(ds, _plan("research-longitudinal"), KEY)
    assert ds.ImageComments == "see [URL] today"


def test_verify_takes_no_standard_context_uid_for_a_leaked_identifier(tmp_path):
    """The engine keeps a Context Group UID of the standard; verify's needles are the input's UIDs but the
    standard's (the same rule: standard_uid), so it does not report the kept one as a leaked identifier."""
    from veil.verify.needles import fold, read_needles

    ds = _base()
    ds.AnatomicRegionSequence = Sequence([_context_item(CONTEXT_GROUP)])
    ds.AnatomicRegionSequence[0].ContextGroupExtensionCreatorUID = MRN_UID
    ds.save_as(tmp_path / "in.dcm", enforce_file_format=True)
    needles = read_needles(tmp_path / "in.dcm").values
    assert fold(CONTEXT_GROUP) not in needles
    assert fold(MRN_UID) in needles and fold(SERIES) in needles
