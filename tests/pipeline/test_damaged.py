"""Damaged files that pydicom reads slowly or whole: zero-filled regions and huge values in the header.

A run of zero bytes where an element should start is read by pydicom as one empty (0000,0000) element per
8 bytes: a 50 MB run took 34 s, a 200 MB run minutes of one worker. A private value of hundreds of MB was
read into memory although the policy removes it unread. Both are found from the element headers alone.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ImplicitVRLittleEndian

from veil.identity.keyed import Keyed
from veil.pipeline import passthrough
from veil.pipeline.instance import process_file
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan

KEYED = Keyed(b"d" * 32)
POLICIES = ("basic", "research-longitudinal")  # the raw path (it declines, the general path decides); general only
PATIENT_NAME = b"\x10\x00\x10\x00"


def ct_bytes(implicit: bool = False, pixels: bool = True) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    if not pixels:
        del ds.PixelData
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def run(path: Path, policy: str, out: Path):
    return process_file(path, compile_plan(load_policy(policy)), KEYED, out)


def outputs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.dcm")}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("pad", [8, 64, 1 << 20, 5 << 20])
@pytest.mark.parametrize("pixels", [True, False])
def test_zero_padding_after_the_last_element_is_dropped_and_nothing_else_changes(tmp_path, policy, pad, pixels):
    """Zeros from the last element to the end of the file (a writer's block padding, a pre-allocated file):
    the output is the unpadded file's, byte for byte; the manifest's input hash is the padded file's own.
    Sizes cover the in-memory path and files over SMALL (read from disk, padding never read as elements)."""
    whole = ct_bytes(pixels=pixels)
    plain, padded = tmp_path / "plain.dcm", tmp_path / "padded.dcm"
    plain.write_bytes(whole)
    padded.write_bytes(whole + bytes(pad))
    a, b = run(plain, policy, tmp_path / "a"), run(padded, policy, tmp_path / "b")
    assert a.status == b.status == "ok", (a, b)
    assert outputs(tmp_path / "a") == outputs(tmp_path / "b") != {}
    assert a.input_hash != b.input_hash
    assert padded.read_bytes() == whole + bytes(pad)  # the input is untouched


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("run_length", [8, 4096, 6 << 20])
def test_zero_filled_bytes_with_data_after_them_are_quarantined(tmp_path, policy, implicit, run_length):
    """Zeros where an element should start, with elements after them (a damaged copy): quarantined with the
    offset, never written. 6 MB of zeros (750,000 would-be elements) is answered from the headers alone."""
    whole = ct_bytes(implicit=implicit)
    at = whole.index(PATIENT_NAME, 132)
    path = tmp_path / "damaged.dcm"
    path.write_bytes(whole[:at] + bytes(run_length) + whole[at:])
    r = run(path, policy, tmp_path / "out")
    assert r.status == "quarantined" and r.rule == "parse", r
    assert f"zero-filled bytes where a data element should start (offset {at})" in r.reason
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize("policy", POLICIES)
def test_zeros_to_the_end_inside_an_open_sequence_are_a_truncated_file(tmp_path, policy):
    """A sequence of undefined length whose item is never closed, zeros after it: a cut file, not padding."""
    whole = ct_bytes(pixels=False)
    seq = struct.pack("<HH2sHL", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item = struct.pack("<HH2sH", 0x0008, 0x0050, b"SH", 4) + b"A123"
    path = tmp_path / "cut.dcm"
    path.write_bytes(whole + seq + item + bytes(4096))
    r = run(path, policy, tmp_path / "out")
    assert r.status == "quarantined" and r.rule == "parse", r
    assert "zero-filled from offset" in r.reason and "inside a sequence" in r.reason


def big_private(value_length: int, file_extra: int) -> bytes:
    """CT_small with a private OB element of `value_length` bytes before Patient's Name; the file holds
    `file_extra` bytes more or fewer than that value needs (negative: cut inside the value)."""
    whole = ct_bytes()
    at = whole.index(PATIENT_NAME, 132)
    creator = struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", 4) + b"ACME"
    head = struct.pack("<HH2sHL", 0x0009, 0x1001, b"OB", 0, value_length)
    body = bytes(range(256)) * (value_length // 256)
    if file_extra < 0:
        return whole[:at] + creator + head + body[:value_length + file_extra]
    return whole[:at] + creator + head + body + whole[at:]


def test_a_large_private_value_the_policy_removes_is_never_read(tmp_path):
    """A 48 MB private value (vendor raw data) in a file over SMALL: removed by the basic profile without
    being read (it once cost its size in memory), on the general path too."""
    path = tmp_path / "vendor.dcm"
    path.write_bytes(big_private(48 << 20, 0))
    plan = compile_plan(load_policy("research-longitudinal"))  # the general path
    small = tmp_path / "small.dcm"  # first the once-per-process loads (name lists, patterns), not measured
    small.write_bytes(big_private(4096, 0))
    assert process_file(small, plan, KEYED, tmp_path / "warm").status == "ok"
    tracemalloc.start()
    try:
        r = process_file(path, plan, KEYED, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status == "ok", r
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MB of Python memory for a 48 MB value"
    out = pydicom.dcmread(next((tmp_path / "out").rglob("*.dcm")))
    assert 0x00091001 not in out and out.Rows == 128


@pytest.mark.parametrize("policy", POLICIES)
def test_a_large_value_cut_short_is_quarantined_though_never_read(tmp_path, policy):
    """The value is left on disk, so its bytes are counted against the file: a cut inside it is found."""
    path = tmp_path / "cut.dcm"
    path.write_bytes(big_private(8 << 20, -4096))
    assert path.stat().st_size > passthrough.SMALL
    r = run(path, policy, tmp_path / "out")
    assert r.status == "quarantined" and r.rule == "parse" and "truncated" in r.reason, r
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*.dcm"))


def test_inventory_reads_damaged_and_padded_files_as_deid_does(tmp_path):
    """inventory lists a zero-filled file as unreadable with deid's reason (not minutes of parsing) and
    reads a padded one's elements; verify's needles come from the same reader."""
    from veil.inventory import build
    from veil.verify.needles import read_needles

    whole = ct_bytes()
    at = whole.index(PATIENT_NAME, 132)
    damaged, padded = tmp_path / "damaged.dcm", tmp_path / "padded.dcm"
    damaged.write_bytes(whole[:at] + bytes(6 << 20) + whole[at:])
    padded.write_bytes(whole + bytes(6 << 20))
    inv = build([damaged, padded], compile_plan(load_policy("basic")))
    assert inv.files == 1
    assert [(p, "zero-filled" in why) for p, why in inv.unreadable] == [(str(damaged), True)]
    assert any("COMPRESSEDSAMPLES" in k.upper() for k in read_needles(padded).values)


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"SQ", b"OB", b"UN", b"UT"):
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


@pytest.mark.parametrize("policy", POLICIES)
def test_sequences_nested_too_deep_are_quarantined_not_cut(tmp_path, policy):
    """10,000 nested defined-length sequences: pydicom's decoder hit its recursion limit, the engine took
    that for one undecodable value and wrote the file with the tree cut at ~240 levels."""
    body = _explicit(0x00100010, b"PN", b"Doe^John")
    for _ in range(10_000):
        item = struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
        body = _explicit(0x00081115, b"SQ", item)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    head = io.BytesIO()
    del ds.PixelData
    ds.save_as(head, enforce_file_format=True)
    raw = head.getvalue()
    at = raw.find(b"\x08\x00\x15\x11")  # CT_small has no (0008,1115): insert it in tag order
    assert at == -1
    cut = raw.find(b"\x08\x00\x30\x10")  # Study Description (0008,1030) sorts before (0008,1115)
    end = cut + 8 + struct.unpack_from("<H", raw, cut + 6)[0]
    path = tmp_path / "deep.dcm"
    path.write_bytes(raw[:end] + body + raw[end:])
    result = run(path, policy, tmp_path / "out")
    assert result.status == "quarantined" and result.rule == "parse", (result.status, result.reason)
    assert "nested too deeply" in result.reason
    assert not outputs(tmp_path / "out")


def test_directory_records_in_an_instance_are_removed(tmp_path):
    """File-set ID and Referenced File IDs (group 0004) belong to a DICOMDIR; in an image they name the
    files of a media set ("DOE_JOHN/..."): removed, under every policy."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.add_new(0x00041130, "CS", "ZZLEAKNAME_1953")
    item = pydicom.Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ds.SOPClassUID, "1.2.3.4"
    item.add_new(0x00041500, "CS", ["ZZLEAKNAME", "ZZ123456", "IMG00001"])
    ds.ReferencedImageSequence = [item]
    path = tmp_path / "dir.dcm"
    ds.save_as(path, enforce_file_format=True)
    for policy in POLICIES:
        result = run(path, policy, tmp_path / policy)
        assert result.status == "ok", result.reason
        data = (tmp_path / policy / result.output).read_bytes()
        assert b"ZZLEAKNAME" not in data and b"ZZ123456" not in data, policy


def test_an_unknown_transfer_syntax_is_quarantined_with_a_reason_about_the_file(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"
    path = tmp_path / "ts.dcm"
    ds.save_as(path)
    result = run(path, "basic", tmp_path / "out")
    assert result.status == "quarantined" and result.rule == "read", (result.rule, result.reason)
    assert "Transfer Syntax UID" in result.reason
