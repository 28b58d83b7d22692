"""End to end on the generated PHI-planted corpus: nothing planted survives, what research needs does.

The corpus (veil.samples) plants fake identifiers in standard attributes, sequences, private blocks,
descriptors, SR content, overlays, presentation states, RT structure sets and the input paths; its answer
key drives these tests. Each privacy claim is tested by searching the output bytes for the planted values.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from datetime import date
from pathlib import Path

import pydicom
import pytest

from veil.identity.keyed import Keyed
from veil.pipeline.runner import iter_files, run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.samples import MODALITIES, generate_corpus

KEY = Keyed(b"k" * 32)
OTHER = Keyed(b"o" * 32)
ALL = tuple(m for m in MODALITIES if m != "DOC")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_corpus(tmp_path_factory.mktemp("planted") / "in", patients=4, modalities=ALL)


def _deid(corpus, out: Path, policy: str, keyed: Keyed = KEY):
    plan = compile_plan(load_policy(policy))
    return run(list(iter_files(corpus.root)), out, plan, keyed)


def _encodings(value: str) -> list[bytes]:
    forms = {value.encode("utf-8"), value.encode("utf-16-le")}
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(value.encode("latin-1"))
    return sorted(forms)


@pytest.fixture(scope="module", params=["basic", "research-longitudinal"])
def deidentified(request, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"out-{request.param}")
    summary = _deid(corpus, out, request.param)
    return request.param, out, summary


def test_corpus_is_deterministic_and_covers_every_kind(tmp_path, corpus):
    again = generate_corpus(tmp_path / "in", patients=4, modalities=ALL)
    assert [p.relative_to(again.root) for p in again.files] == [p.relative_to(corpus.root) for p in corpus.files]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again.files, corpus.files, strict=True))
    mods = {pydicom.dcmread(f, stop_before_pixels=True).Modality for f in corpus.files}
    assert mods == {"CT", "MR", "US", "SC", "SR", "RTSTRUCT", "PR"}
    cats = {p.category for p in corpus.key.plants}
    assert {"name", "id", "date", "uid", "address", "phone", "email", "institution", "physician", "age",
            "device", "path"} <= cats
    # every searchable plant is really in the input bytes or paths (else the leak test proves nothing)
    blob = b"".join(f.read_bytes() for f in corpus.files) + "".join(map(str, corpus.files)).encode()
    missing = [v for v in corpus.planted if not any(e in blob for e in _encodings(v))]
    assert not missing


def test_no_planted_value_survives(deidentified, corpus):
    policy, out, summary = deidentified
    assert summary.quarantined == 0, [r.reason for r in summary.results if r.status != "ok"]
    assert summary.written == len(corpus.files)
    leaks = []
    for f in out.rglob("*.dcm"):
        data = f.read_bytes()
        rel = str(f.relative_to(out))
        for v in corpus.planted:
            if any(e in data for e in _encodings(v)) or v in rel:
                leaks.append((rel, v))
    assert not leaks, f"{policy}: {leaks[:10]}"
    for f in (out / ".veil").rglob("*.json*"):  # manifest, audit, journal: never original values
        text = f.read_text(encoding="utf-8")
        assert not [v for v in corpus.planted if v in text], f.name


def test_references_resolve_after_uid_remapping(deidentified, corpus):
    _, out, _ = deidentified
    sops, refs = set(), set()
    for f in out.rglob("*.dcm"):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        sops.add(ds.SOPInstanceUID)
        for elem in ds.iterall():
            if elem.keyword == "ReferencedSOPInstanceUID":
                refs.add(str(elem.value))
    for_refs = {KEY.uid(u) for src in corpus.key.references.values() for u in src}
    assert for_refs <= sops
    rt_study = {KEY.uid(u.value) for u in corpus.key.plants if u.where == "StudyInstanceUID"}
    assert refs - rt_study <= sops and refs


def test_pixels_and_geometry_survive(deidentified, corpus):
    policy, out, _ = deidentified
    seen = 0
    for f in out.rglob("*.dcm"):
        ds = pydicom.dcmread(f)
        if "PixelData" not in ds:
            continue
        originals = [s for s in corpus.key.pixel_sha256 if KEY.uid(s) == ds.SOPInstanceUID]
        assert len(originals) == 1
        src = originals[0]
        assert hashlib.sha256(ds.PixelData).hexdigest() == corpus.key.pixel_sha256[src]
        for kw, value in corpus.key.keep[src].items():
            if kw == "PatientSex" and policy == "basic":  # Z unless Retain Patient Characteristics
                assert ds.PatientSex == ""
                continue
            got = ds[kw].value
            text = "\\".join(str(x) for x in got) if isinstance(got, list | pydicom.multival.MultiValue) else str(got)
            if kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
                assert [float(x) for x in text.split("\\")] == [float(x) for x in value.split("\\")], kw
            else:
                assert text == value, kw
        seen += 1
    assert seen == len(corpus.key.pixel_sha256)


def test_intervals_survive_and_every_date_moves(tmp_path, corpus):
    _deid(corpus, tmp_path / "out", "research-longitudinal")
    by_patient: dict[str, set[str]] = {}
    for f in (tmp_path / "out").rglob("*.dcm"):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        by_patient.setdefault(str(ds.PatientID), set()).add(ds.StudyDate)
    assert len(by_patient) == len(corpus.patients)
    originals = {d for p in corpus.patients for d in p.study_dates}

    def days(d: str) -> int:
        return date(int(d[:4]), int(d[4:6]), int(d[6:])).toordinal()

    want = sorted(tuple(b - a for a, b in itertools.pairwise(ds_))
                  for ds_ in ([days(d) for d in p.study_dates] for p in corpus.patients))
    got = sorted(tuple(b - a for a, b in itertools.pairwise(ds_))
                 for ds_ in (sorted(days(d) for d in v) for v in by_patient.values()))
    assert got == want
    shifted = {d for v in by_patient.values() for d in v}
    assert not shifted & originals


def test_same_input_same_bytes_other_secret_other_output(tmp_path, corpus):
    _deid(corpus, tmp_path / "a", "research-longitudinal")
    _deid(corpus, tmp_path / "b", "research-longitudinal")
    _deid(corpus, tmp_path / "c", "research-longitudinal", OTHER)

    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.dcm")}

    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    assert not set(a) & set(c)
    ids_a = {pydicom.dcmread(tmp_path / "a" / p, stop_before_pixels=True).PatientID for p in a}
    ids_c = {pydicom.dcmread(tmp_path / "c" / p, stop_before_pixels=True).PatientID for p in c}
    assert len(ids_a) == len(corpus.patients) and not ids_a & ids_c


def test_encapsulated_document_is_quarantined_by_default(tmp_path):
    c = generate_corpus(tmp_path / "in", patients=1, studies_per_patient=1, series_per_study=1,
                        instances_per_series=1, modalities=("CT", "DOC"))
    summary = run(list(iter_files(c.root)), tmp_path / "out", compile_plan(load_policy("basic")), KEY)
    assert summary.written == 1 and summary.quarantined == 1
    assert all(b"Quixworth" not in p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize("deflate", [False, True])
def test_the_input_preamble_never_reaches_the_output(tmp_path, deflate):
    """The 128-byte preamble is free for applications (dual TIFF/DICOM files): PHI can hide there."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    c = generate_corpus(tmp_path / "in", patients=1, studies_per_patient=1, series_per_study=1,
                        instances_per_series=1, modalities=("CT",))
    src = c.files[0]
    if deflate:
        ds = pydicom.dcmread(src)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(src, enforce_file_format=True)
    data = bytearray(src.read_bytes())
    data[:32] = b"II*\x00 Quixworth Zebulon MRN4821 "[:32].ljust(32, b" ")
    src.write_bytes(bytes(data))
    s = run([src], tmp_path / "out", compile_plan(load_policy("basic")), KEY)
    assert s.written == 1, s.results
    (out,) = (tmp_path / "out").rglob("*.dcm")
    head = out.read_bytes()[:132]
    assert head == b"\x00" * 128 + b"DICM"
