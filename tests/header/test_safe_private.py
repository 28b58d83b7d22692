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
