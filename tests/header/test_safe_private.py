"""Retain Safe Private (PS3.15 E.3.10): only listed private attributes survive, resolved by creator."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from veil.header.engine import deidentify
from veil.identity.keyed import Keyed
from veil.policy.model import load_policy_text
from veil.policy.plan import compile_plan

TCIA = Path(__file__).resolve().parents[3] / "shared" / "reference" / "tcia-private-tag-kb-2024-02-01.csv"
KEY = Keyed(b"p" * 32)


def _ct():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert ds[0x00190010].value == "GEMS_ACQU_01"
    return ds


def test_standard_safe_list_keeps_table_speed_and_drops_the_rest():
    ds = _ct()
    ds[0x00191023].value  # Table Speed: in Table E.3.10-1  # noqa: B018
    plan = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    deidentify(ds, plan, KEY)
    assert 0x00191023 in ds and ds[0x00190010].value == "GEMS_ACQU_01"
    assert 0x00191002 not in ds  # Number Of Cells In Detector: not in E.3.10-1
    assert 0x00090010 not in ds  # GEMS_IDEN_01 block: nothing kept, creator removed too


def test_site_dictionary_in_tcia_format_extends_the_safe_list(tmp_path):
    assert TCIA.is_file()
    ds = _ct()
    pol = load_policy_text(
        f"name: s\nversion: '1'\noptions: [retain_safe_private]\nprivate_dictionaries: ['{TCIA}']\n")
    deidentify(ds, compile_plan(pol), KEY)
    assert 0x00191002 in ds  # 'k' in the TCIA knowledge base
    assert 0x0019100C not in ds  # 'd' in the TCIA knowledge base (not present in CT_small either way)


def test_moved_block_is_still_resolved_by_creator_not_element_number():
    """The same creator in another block (0019,11xx) is recognised; a different creator at 10xx is not."""
    ds = _ct()
    moved = pydicom.Dataset()
    moved.add_new(0x00190011, "LO", "GEMS_ACQU_01")
    moved.add_new(0x00191123, "DS", "12.5")  # Table Speed in block 11
    moved.add_new(0x00190010, "LO", "EVIL_CREATOR")
    moved.add_new(0x00191023, "LO", "Quixworth")  # element number of Table Speed, wrong creator
    moved.SOPInstanceUID = "1.2.3"
    moved.SOPClassUID = ds.SOPClassUID
    plan = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    deidentify(moved, plan, KEY)
    assert moved[0x00191123].value == "12.5"
    assert 0x00191023 not in moved and 0x00190010 not in moved


def test_kept_private_text_is_cleaned_even_when_the_file_gives_it_no_vr(tmp_path):
    """Implicit VR files (most older archives) give private elements no VR: a safe private text attribute
    (GEMS_ACQU_01 0019,xx9E LO, E.3.10-1) is still cleaned of the patient's name, not passed through."""
    from pydicom.uid import ImplicitVRLittleEndian

    from veil.pipeline.instance import _open

    policy = load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private, clean_descriptors]\n")
    plan = compile_plan(policy)
    for implicit in (True, False):
        ds = _ct()
        ds.PatientName = "Quixley^Ambrose"
        ds.add_new(0x0019109E, "UN" if not implicit else "LO", b"FSE QUIXLEY AMBROSE ")
        path = tmp_path / f"ct-{implicit}.dcm"
        if implicit:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=implicit, little_endian=True)
        inst = _open(path)
        raw = inst.ds.get_item(0x0019109E)
        assert raw.VR in (None, "UN")  # no VR of its own in the input
        deidentify(inst.ds, plan, KEY)
        assert 0x0019109E in inst.ds  # kept (safe private) ...
        value = inst.ds[0x0019109E].value
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        assert "QUIXLEY" not in text.upper() and "AMBROSE" not in text.upper()  # ... and cleaned
        assert "FSE" in text  # the clinical part survives


def _safe_private_file(tmp_path: Path, implicit: bool) -> Path:
    """A PET instance whose safe-listed private elements (PS3.15 E.3.10-1) hold what their entries do not
    describe, next to ones that hold what they do."""
    from pydicom.dataset import Dataset
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    ds = _ct()
    ds.PatientName, ds.PatientID = "Zqleakname^Zqfirst", "ZQ-MRN-99812"
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x0019109E, "LO", "FSE ZQLEAKNAME^ZQFIRST")  # safe LO: the patient's name typed into it
    ds.add_new(0x70530010, "LO", "Philips PET Private Group")
    ds.add_new(0x70531000, "UT", "Patient Zqleakname MRN ZQ-MRN-99812")  # safe DS (SUV factor) as text
    ds.add_new(0x70531009, "DS", "0.000123")  # safe DS holding a number: kept
    ds.add_new(0x00E10010, "LO", "ELSCINT1")
    item = Dataset()
    item.PatientName, item.PatientID = "Zqleakname^Zqfirst", "ZQ-MRN-99812"
    ds.add_new(0x00E11021, "SQ", [item])  # safe DS (DLP) holding a whole data set
    ds.add_new(0x01E10010, "LO", "ELSCINT1")
    ds.add_new(0x01E11026, "CS", "zqleakname lower")  # safe CS: not a Code String's repertoire
    ds.add_new(0x20010010, "LO", "Philips Imaging DD 001")
    ds.add_new(0x20011001, "FL", 1.5)  # safe FL: kept
    ds.add_new(0x20011065, "SQ", [item])  # safe SQ (Overlay Plane Sequence) holding the patient's name
    path = tmp_path / f"safe-private-{implicit}.dcm"
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.save_as(path, implicit_vr=implicit, little_endian=True)
    return path


def _values_text(ds) -> str:
    out = []
    for elem in ds.iterall():
        value = elem.value
        out.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(out).upper()


def test_safe_private_elements_holding_what_their_entry_does_not_describe_are_removed(tmp_path):
    """Retain Safe Private keeps an attribute for the value its E.3.10-1 entry describes (a number, a code,
    a label). Written as text (a DS as UT), as a sequence (a DS holding a data set), or - in an implicit VR
    file, where the element has no VR of its own - as bytes that are not of the entry's VR, it is removed;
    and safe text is checked for the patient's own name under a policy that cleans no text (it was kept
    verbatim). Values that are what their entries say stay."""
    from veil.pipeline.instance import _open

    plan = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    for implicit in (False, True):
        inst = _open(_safe_private_file(tmp_path, implicit))
        untyped_sequence = inst.ds.get_item(0x20011065).VR is None  # defined length, no VR
        deidentify(inst.ds, plan, KEY)
        ds = inst.ds
        text = _values_text(ds)
        assert "ZQLEAKNAME" not in text and "ZQ-MRN-99812" not in text, implicit
        for tag in (0x70531000, 0x00E11021, 0x01E11026):
            assert tag not in ds, (implicit, hex(tag))
        # a safe sequence is walked like any other; without a VR its items cannot be, so it goes
        assert (0x20011065 in ds) is not untyped_sequence
        assert untyped_sequence is implicit
        kept = ds[0x70531009].value
        assert (kept.decode() if isinstance(kept, bytes) else str(kept)).strip() in ("0.000123", "0.000123\x00")
        assert 0x20011001 in ds, implicit
        assert 0x0019109E not in ds or "ZQLEAKNAME" not in str(ds[0x0019109E].value)  # removed (no VR) or cleaned


def test_safe_private_numbers_without_a_vr_are_judged_by_their_length(tmp_path):
    """In an implicit VR file a safe FL entry is kept only when its value is a whole number of 4-byte
    floats (PS3.5 Table 6.2-1): 6 bytes are not what the dictionary describes."""
    from pydicom.uid import ImplicitVRLittleEndian

    from veil.pipeline.instance import _open

    plan = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    for value, kept in ((b"\x00\x00\xc0\x3f", True), (b"ZQNAME", False)):
        ds = _ct()
        ds.add_new(0x20010010, "LO", "Philips Imaging DD 001")
        ds.add_new(0x20011001, "OB", value)  # written by its bytes; implicit VR: no VR in the file
        path = tmp_path / f"fl-{kept}.dcm"
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True)
        inst = _open(path)
        assert inst.ds.get_item(0x20011001).VR is None
        deidentify(inst.ds, plan, KEY)
        assert (0x20011001 in inst.ds) is kept
        assert (0x20010010 in inst.ds) is kept  # an emptied block loses its creator


def test_safe_private_bytes_that_hold_the_patients_own_name_or_id_are_removed(tmp_path):
    """A safe OB entry (Philips Imaging DD 097 (2001,xx2F) Volume Mask Data) keeps bytes Veil cannot read -
    but the patient's own name or ID written into them as ASCII went out verbatim (red team, round 2),
    explicit and implicit VR. Binary that does not spell them stays."""
    from pydicom.uid import ImplicitVRLittleEndian

    from veil.pipeline.instance import _open

    plan = compile_plan(load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private]\n"))
    for implicit in (False, True):
        for value, kept in ((b"ZQLEAKNAME^ZQFIRST ZQ-MRN-99812\x00", False), (b"\x01\x02\xff\x00" * 8, True),
                            (b"\x00\x00ZQ-MRN-99812\x80\x81", False)):
            ds = _ct()
            ds.PatientName, ds.PatientID = "Zqleakname^Zqfirst", "ZQ-MRN-99812"
            ds.add_new(0x20010010, "LO", "Philips Imaging DD 097")
            ds.add_new(0x2001102F, "OB", value)
            path = tmp_path / f"ob-{implicit}-{kept}.dcm"
            if implicit:
                ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            ds.save_as(path, implicit_vr=implicit, little_endian=True)
            inst = _open(path)
            deidentify(inst.ds, plan, KEY)
            assert (0x2001102F in inst.ds) is kept, (implicit, value)
