"""A file of millions of tiny data elements is quarantined from its element headers, not parsed.

pydicom spends about 1 KB and 40 us per element as Veil reads it: before this check, a crafted 16 MB file
of 2 million empty elements was de-identified in 85 s and 2.1 GB of memory (and written), and one of
80 MB would have taken the machine's memory. Files larger than what Veil reads whole are counted first,
by walking element headers (values skipped, sequences entered); the walk must count what pydicom parses.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_fragments

from veil.pipeline.passthrough import MAX_ELEMENTS, SMALL, count_elements, dataset_start
from veil.samples import generate_corpus

from .test_batch import veil

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent


def _pydicom_count(ds: pydicom.Dataset, top: bool = True) -> int:
    """Elements, items and (encapsulated Pixel Data) offset table + fragments, as pydicom parses them."""
    n = 0
    for elem in ds:
        n += 1
        if elem.VR == "SQ":
            n += sum(1 + _pydicom_count(item, False) for item in elem.value)
        elif top and elem.tag == 0x7FE00010 and ds.file_meta.TransferSyntaxUID.is_compressed:
            bot = int.from_bytes(elem.value[4:8], "little")
            n += 1 + sum(1 for _ in generate_fragments(elem.value[8 + bot:]))
    return n


def test_the_walk_counts_what_pydicom_parses_in_its_own_test_files():
    verdicts = unsure = 0
    for path in sorted(TEST_FILES.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(path)
            expected = _pydicom_count(ds)
        except Exception:
            continue
        data = path.read_bytes()
        start = dataset_start(io.BytesIO(data))
        if start is None or not start[1].is_transfer_syntax or start[1].is_deflated:
            continue
        got = count_elements(io.BytesIO(data), start[0], len(data), start[1].is_implicit_VR,
                             start[1].is_little_endian, 10**9)
        if got is None:
            unsure += 1  # the walk stops at what it does not follow (a cut file): pydicom reports it
            continue
        assert got == expected, path.name
        verdicts += 1
    assert verdicts >= 60 and unsure <= 3


def _empty_elements(n: int, group: int = 0x0009, implicit: bool = False) -> bytes:
    """`n` empty LO elements (explicit VR unless `implicit`) in ascending private groups (no creator:
    unknown private)."""
    out = bytearray()
    while n > 0:
        for elem in range(0x1000, min(0x10000, 0x1000 + n)):
            out += struct.pack("<HHL", group, elem, 0) if implicit else struct.pack("<HH2sH", group, elem, b"LO", 0)
        n -= 0x10000 - 0x1000
        group += 2
    return bytes(out)


def _bombs(folder: Path) -> list[Path]:
    """Four files of MAX_ELEMENTS + 1000 empty elements: after Pixel Data, inside a defined-length
    sequence item (also behind eight zero bytes), inside an undefined-length sequence item."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # explicit VR little endian
    base = io.BytesIO()
    ds.save_as(base, enforce_file_format=True)
    raw = base.getvalue()
    n = MAX_ELEMENTS + 1000
    folder.mkdir(parents=True)
    tail = folder / "after-pixel-data.dcm"
    tail.write_bytes(raw + _empty_elements(n, 0x7FE1))
    # a private SQ (0029,1001) right before group 0043: its item holds the elements (group 0009 inside)
    at = raw.index(struct.pack("<HH", 0x0043, 0x0010))
    body = _empty_elements(n)
    creator = struct.pack("<HH2sH", 0x0029, 0x0010, b"LO", 4) + b"ACME"
    item = struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
    defined = folder / "in-a-sequence.dcm"
    defined.write_bytes(raw[:at] + creator + struct.pack("<HH2sHL", 0x0029, 0x1001, b"SQ", 0, len(item)) + item
                        + raw[at:])
    undefined = folder / "in-an-undefined-sequence.dcm"
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
    undefined.write_bytes(raw[:at] + creator + struct.pack("<HH2sHL", 0x0029, 0x1001, b"SQ", 0, 0xFFFFFFFF) + item
                          + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0) + raw[at:])
    hidden = folder / "behind-zeros-in-a-sequence.dcm"  # zeros stop no count inside a sequence
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 8 + len(body)) + bytes(8) + body
    hidden.write_bytes(raw[:at] + creator + struct.pack("<HH2sHL", 0x0029, 0x1001, b"SQ", 0, len(item)) + item
                       + raw[at:])
    private_sq = folder / "in-a-private-sequence-implicit-vr.dcm"
    private_sq.write_bytes(_private_sequence(n, implicit=True))
    un_sq = folder / "in-a-private-un-sequence.dcm"
    un_sq.write_bytes(_private_sequence(n, implicit=False))
    bombs = [tail, defined, undefined, hidden, private_sq, un_sq]
    for p in bombs:
        assert p.stat().st_size > SMALL  # read from disk: the files the count protects
        pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])  # well-formed DICOM
    return bombs


#: A private attribute whose creator's pydicom private dictionary entry says SQ.
_PRIVATE_SQ_CREATOR, _PRIVATE_SQ = b"AGFA-AG_HPState ", 0x00711018


def _private_sequence(n: int, implicit: bool) -> bytes:
    """CT_small with a private sequence of defined length holding one item of `n` empty elements: in
    implicit VR (pydicom knows it is a sequence from its private dictionary only), or in explicit VR as
    UN (its items in implicit VR, PS3.5 6.2.2)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    if implicit:
        from pydicom.uid import ImplicitVRLittleEndian

        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    base = io.BytesIO()
    ds.save_as(base, enforce_file_format=True)
    raw = base.getvalue()
    at = raw.index(struct.pack("<HH", 0x7FE0, 0x0010))
    body = _empty_elements(n, 0x0073, implicit=True)
    item = struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
    if implicit:
        creator = struct.pack("<HHL", 0x0071, 0x0010, len(_PRIVATE_SQ_CREATOR)) + _PRIVATE_SQ_CREATOR
        element = struct.pack("<HHL", 0x0071, 0x1018, len(item))
    else:
        creator = struct.pack("<HH2sH", 0x0071, 0x0010, b"LO", len(_PRIVATE_SQ_CREATOR)) + _PRIVATE_SQ_CREATOR
        element = struct.pack("<HH2sHL", 0x0071, 0x1018, b"UN", 0, len(item))
    return raw[:at] + creator + element + item + raw[at:]


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit-vr", "explicit-vr-un"])
def test_a_private_sequence_of_defined_length_is_counted_as_pydicom_parses_it(implicit):
    """pydicom parses it as a sequence (its creator's private dictionary says SQ): the walk counted one
    element, so a file of millions of elements inside one passed the count."""
    data = _private_sequence(5, implicit)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds[_PRIVATE_SQ].VR == "SQ" and len(ds[_PRIVATE_SQ].value[0]) == 5
    start = dataset_start(io.BytesIO(data))
    assert start is not None
    assert count_elements(io.BytesIO(data), start[0], len(data), implicit, True, 10**9) == _pydicom_count(ds)
    # a creator pydicom does not know: the value stays bytes, one element in both counts
    unknown = data.replace(_PRIVATE_SQ_CREATOR, b"ACME-NOT-KNOWN  ", 1)
    ds = pydicom.dcmread(io.BytesIO(unknown))
    assert ds[_PRIVATE_SQ].VR == "UN" and isinstance(ds[_PRIVATE_SQ].value, bytes)
    assert count_elements(io.BytesIO(unknown), start[0], len(unknown), implicit, True, 10**9) == _pydicom_count(ds)


@pytest.mark.slow
def test_element_bombs_are_quarantined_and_a_big_real_file_is_not(tmp_path):
    src = tmp_path / "in"
    bombs = _bombs(src / "bombs")
    big = generate_corpus(src / "big", patients=1, studies_per_patient=1, series_per_study=1, instances_per_series=1,
                          modalities=("CT",), rows=1536, columns=1536, seed=5).files[0]
    assert Path(big).stat().st_size > SMALL
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    r = veil("deid", str(src), str(tmp_path / "out"), "--workers", "2", "--json")
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert summary["written"] == 1  # the big real file
    reasons = {Path(q["source"]).name: q["reason"] for q in summary["quarantine"]}
    assert set(reasons) == {p.name for p in bombs}
    assert all(f"more than {MAX_ELEMENTS:,} data elements" in why for why in reasons.values())
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before


def _deflated(body_extra: bytes) -> bytes:
    """CT_small as Deflated Explicit VR Little Endian (PS3.5 A.5), `body_extra` appended to the dataset
    before it is deflated (the appended elements' tags must follow Pixel Data's)."""
    import zlib

    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    raw = bio.getvalue()
    start = dataset_start(io.BytesIO(raw))
    assert start is not None
    body = zlib.decompress(raw[start[0]:], -zlib.MAX_WBITS) + body_extra
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return raw[:start[0]] + deflate.compress(body) + deflate.flush()


def test_deflate_bombs_are_quarantined_before_pydicom_inflates_them(tmp_path):
    """A deflated dataset is read whole: one that inflates past MAX_INFLATED (80 MB of zeros in a 0.1 MB
    file) or to more than MAX_ELEMENTS elements is quarantined; an ordinary deflated file is written."""
    from veil.pipeline.passthrough import MAX_INFLATED

    src = tmp_path / "in"
    src.mkdir()
    zeros = MAX_INFLATED + (16 << 20)
    (src / "inflates.dcm").write_bytes(_deflated(struct.pack("<HH2sHL", 0x7FE1, 0x1000, b"OB", 0, zeros)
                                                 + bytes(zeros)))
    (src / "elements.dcm").write_bytes(_deflated(_empty_elements(MAX_ELEMENTS + 1000, 0x7FE1)))
    (src / "ordinary.dcm").write_bytes(_deflated(b""))
    assert all(p.stat().st_size < SMALL for p in src.iterdir())
    r = veil("deid", str(src), str(tmp_path / "out"), "--workers", "1", "--json")
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert summary["written"] == 1
    reasons = {Path(q["source"]).name: q["reason"] for q in summary["quarantine"]}
    assert f"inflates to more than {MAX_INFLATED >> 20} MB" in reasons["inflates.dcm"]
    assert f"more than {MAX_ELEMENTS:,} data elements in the deflated dataset" in reasons["elements.dcm"]


def test_element_bombs_without_preamble_and_meta_are_counted_too(tmp_path):
    """The same bombs as bare datasets (no preamble, no File Meta Information), which are now read split
    like Part-10 files: counted from their element headers in the encoding pydicom's forced read guesses,
    and quarantined without being parsed."""
    from veil.identity.keyed import Keyed
    from veil.pipeline.passthrough import bare_encoding
    from veil.pipeline.runner import run
    from veil.policy.model import builtin_text, load_policy_text
    from veil.policy.plan import compile_plan

    bare = []
    for p in _bombs(tmp_path / "part10")[:3]:  # explicit VR little endian
        data = p.read_bytes()
        start = dataset_start(io.BytesIO(data))
        assert start is not None
        q = tmp_path / "bare" / p.name
        q.parent.mkdir(exist_ok=True)
        q.write_bytes(data[start[0]:])
        assert bare_encoding(io.BytesIO(q.read_bytes())) == (False, True)
        bare.append(q)
    summary = run(bare, tmp_path / "out", compile_plan(load_policy_text(builtin_text("basic"))), Keyed(b"k" * 32))
    reasons = {Path(r.source).name: r.reason for r in summary.results}
    assert len(reasons) == 3
    assert all(f"more than {MAX_ELEMENTS:,} data elements" in why for why in reasons.values()), reasons
