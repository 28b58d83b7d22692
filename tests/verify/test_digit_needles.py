"""verify's digit-dot needles (UIDs, numeric IDs) are looked up in a set, piece by piece along runs of
digits and dots, instead of compiled into the needle regex. They must be found exactly where the regex
found them: in text on the same boundaries, in raw bytes (ASCII-compatible and UTF-16-LE), and in a real
output where an input UID was put back."""

from __future__ import annotations

import re

import pydicom
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.verify.test_trie import _flat
from tests.verify.test_verify import KEY

from veil.pipeline.runner import iter_files, run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.samples import generate_corpus
from veil.verify.needles import DIGIT_DOT, Needle, Needles, read_needles
from veil.verify.scan import NeedleIndex, Scanner

DIGIT_NEEDLES = st.lists(st.from_regex(r"[0-9]{1,3}(?:\.[0-9]{1,3}){0,3}", fullmatch=True), min_size=1, max_size=12)
TEXT = st.text("120.AX -", max_size=80)  # folded text: upper case
MIXED_NEEDLES = st.lists(st.text("12.A -", min_size=1, max_size=7).map(str.strip).filter(bool), min_size=1,
                         max_size=12)


def _index(keys: list[str]) -> NeedleIndex:
    n = Needles()
    for k in keys:
        n.values.setdefault(k, Needle(k, "uid"))
    return NeedleIndex(n)


@settings(max_examples=500, deadline=None)
@given(DIGIT_NEEDLES, TEXT)
def test_digit_needles_in_text_match_as_the_regex_did(keys, text):
    index = _index(keys)
    assert index.text is None  # every needle went to the set: nothing to compile
    assert index.find(text) == [m.span() for m in _flat(keys).finditer(text)]


@settings(max_examples=500, deadline=None)
@given(MIXED_NEEDLES, TEXT)
def test_mixed_needles_find_at_least_what_one_regex_found(keys, text):
    """Digit needles and the others are matched apart: a match of one no longer hides an overlapping
    match of the other, so a value found before is still found (never fewer)."""
    found = {text[a:b] for a, b in _index(keys).find(text)}
    assert {m.group(0) for m in _flat(keys).finditer(text)} <= found


@settings(max_examples=500, deadline=None)
@given(DIGIT_NEEDLES, TEXT)
def test_digit_needles_in_ascii_bytes_match_on_the_same_boundaries(keys, text):
    data = text.encode()
    flat = re.compile(_flat(keys).pattern.replace("A-Z", "A-Za-z").encode())
    got = [(a, b) for a, b, _ in _index(keys).raw_digits(data, 0, len(data), wide=False)]
    assert got == [m.span() for m in flat.finditer(data)]


@settings(max_examples=500, deadline=None)
@given(DIGIT_NEEDLES, TEXT, st.integers(0, 1))
def test_digit_needles_in_utf16_match_anywhere_as_the_raw_regex(keys, text, shift):
    data = b"\x07" * shift + text.encode("utf-16-le")  # also at an odd byte offset
    raw = [k.encode("utf-16-le") for k in keys]
    flat = re.compile(b"|".join(re.escape(k) for k in sorted(set(raw), key=len, reverse=True)))
    got = [(a, b) for a, b, _ in _index(keys).raw_digits(data, 0, len(data), wide=True)]
    assert got == [m.span() for m in flat.finditer(data)]


def test_only_digit_dot_values_leave_the_regex():
    assert DIGIT_DOT.fullmatch("1.2.840.113619.2.55") and DIGIT_DOT.fullmatch("00012345")
    for other in ("1..2", ".12", "12.", "1961-03-04", "12 34", "A123"):
        assert not DIGIT_DOT.fullmatch(other)


def test_an_archive_of_uids_compiles_only_the_patient_needles():
    """100,000 instance UIDs and a few names: the regex holds the names alone, the UIDs are still found."""
    n = Needles()
    for i in range(100_000):
        n.add(f"1.2.826.0.1.3680043.9.{i}.{i * 7 % 1000}", "uid")
    n.add("Quixote", "name")
    n.add("Sancho Panza", "name")
    index = NeedleIndex(n)
    assert index.text is not None and index.text.words == 2  # the names alone, not a UID
    text = "SEE 1.2.826.0.1.3680043.9.4242.694, SANCHO PANZA AND 1.2.826.0.1.3680043.9.4242.6940"
    assert [text[a:b] for a, b in index.find(text)] == ["1.2.826.0.1.3680043.9.4242.694", "SANCHO PANZA"]


def test_an_input_uid_put_back_into_an_output_is_reported_everywhere(tmp_path):
    corpus = generate_corpus(tmp_path / "in", patients=1, studies_per_patient=1, series_per_study=1,
                             instances_per_series=2, modalities=("CT",))
    out = tmp_path / "out"
    run(list(iter_files(corpus.root)), out, compile_plan(load_policy("basic")), KEY)
    needles = Needles()
    for f in corpus.files:
        needles.update(read_needles(f))
    scanner = Scanner(needles, ocr=False)
    src = pydicom.dcmread(corpus.files[0])
    uid = str(src.SOPInstanceUID)
    target = next(p for p in out.rglob("*.dcm"))
    clean = scanner.scan(pydicom.dcmread(target), target.read_bytes(), "x.dcm", set())
    assert not [f for f in clean if uid in f.value]

    def scan(name: str, **private: bytes) -> list:
        ds = pydicom.dcmread(target)
        ds.add_new(0x00290010, "LO", "VEILTEST")
        for i, value in enumerate(private.values()):
            ds.add_new(0x00291001 + i, "OB", value)
        for keyword, value in texts.items():
            setattr(ds, keyword, value)
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        return scanner.scan(pydicom.dcmread(path), path.read_bytes(), name, set())

    texts = {"ImageComments": f"see prior {uid}."}  # a dot after it is a boundary
    found = scan("text.dcm", other=b"X" + uid[::-1].encode() + b"Y")  # the digits reversed: not the UID
    assert [(f.location, f.category) for f in found if f.value == uid] == [
        ("(0020,4000) ImageComments", "identifier:uid")]
    assert not [f for f in found if f.value == uid[::-1]]

    texts = {}
    big = bytes(5000)  # a large binary value: only the raw byte scan reads it
    found = scan("ascii.dcm", blob=big + b"\x01\x02" + uid.encode() + b"\x00")
    assert [f.category for f in found if f.value == uid] == ["identifier:raw"]
    found = scan("utf16.dcm", blob=big + b"\x01" + uid.encode("utf-16-le") + b"\x00")  # at an odd offset
    assert [(f.category, f.location.endswith("(utf-16-le)")) for f in found if f.value == uid] == [
        ("identifier:raw", True)]

    texts = {"PatientComments": f"A{uid}", "ImageComments": f"{uid}7"}  # a longer word, a longer number
    found = scan("glued.dcm", blob=big + b"Z" + uid.encode() + b"0")
    assert not [f for f in found if f.value == uid]
