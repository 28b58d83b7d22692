"""`veil verify`: sees every planted identifier in the input, nothing in a correct output, and catches
identifiers re-inserted anywhere in a correct output (mutation test)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.identity.keyed import Keyed
from veil.pipeline.instance import keyed_file_hash
from veil.pipeline.runner import iter_files, run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.samples import MODALITIES, generate_corpus
from veil.verify import pair_by_manifest, verify_folder
from veil.verify.needles import Needles, read_needles
from veil.verify.scan import Scanner

KEY = Keyed(b"v" * 32)
SECRET = "dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnY="  # base64 of 32 x 'v'


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_corpus(tmp_path_factory.mktemp("v") / "in", patients=3,
                           modalities=tuple(m for m in MODALITIES if m != "DOC"))


@pytest.fixture(scope="module", params=["basic", "research-longitudinal"])
def output(request, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"vout-{request.param}")
    s = run(list(iter_files(corpus.root)), out, compile_plan(load_policy(request.param)), KEY)
    assert s.written == len(corpus.files)
    return out


def _pairs(out: Path, corpus) -> dict[str, Path]:
    return pair_by_manifest(out, list(corpus.files), lambda p: keyed_file_hash(p, KEY))


def _covered(plant, findings) -> bool:
    v = plant.value.lower()
    return any(f.value and (f.value.lower() in v or v in f.value.lower()) for f in findings)


def test_every_planted_value_is_reported_on_the_input(corpus):
    pairs = {str(f.relative_to(corpus.root)): f for f in corpus.files}
    result = verify_folder(corpus.root, corpus.root, pairs=pairs, ocr=False)  # no text in these pixels
    missed = [p for p in corpus.key.plants if not _covered(p, result.findings)]
    assert not missed, missed[:5]
    assert not result.ok


def test_without_the_input_patterns_and_structure_still_flag_the_input(corpus):
    result = verify_folder(corpus.root, ocr=False)
    cats = {f.category for f in result.findings}
    assert {"pattern:email", "pattern:phone", "private-not-safe", "overlay", "age-over-89", "not-marked",
            "path:record-number"} <= cats


def test_a_correct_output_has_no_findings(output, corpus):
    pairs = _pairs(output, corpus)
    assert len(pairs) == len(corpus.files)  # the manifest pairs every output with its input
    result = verify_folder(output, corpus.root, pairs=pairs)
    assert result.paired == len(corpus.files)
    assert result.findings == [], [(f.file, f.location, f.category, f.evidence) for f in result.findings[:10]]


def test_workers_find_the_same_findings_in_the_same_order(tmp_path, corpus, output):
    """Inputs read, inputs hashed and outputs scanned over worker processes: the same result as one
    process, finding for finding, including files that are not whole DICOM (flagged in a worker too)."""
    import shutil
    from functools import partial

    scanned = tmp_path / "scanned"
    shutil.copytree(corpus.root, scanned)
    (scanned / "zz-cut.dcm").write_bytes((corpus.files[0]).read_bytes()[:300])  # cut inside the header
    (scanned / "zz-not-dicom.txt").write_bytes(b"Patient: Jane Q Public, MRN 12345678")
    pairs = {str(f.relative_to(corpus.root)): f for f in corpus.files}
    one = verify_folder(scanned, corpus.root, pairs=pairs, ocr=False, workers=1)
    ticks = {"in": 0, "out": 0}

    def tick(kind: str) -> None:
        ticks[kind] += 1

    two = verify_folder(scanned, corpus.root, pairs=pairs, ocr=False, workers=2,
                        on_input=lambda: tick("in"), on_file=lambda _rel: tick("out"))
    assert ticks == {"in": len(corpus.files), "out": two.files}  # what the progress bars count
    assert {"zz-cut.dcm", "zz-not-dicom.txt"} <= {f.file for f in one.findings}
    assert (two.files, two.unreadable, two.paired, two.notes) == (one.files, one.unreadable, one.paired, one.notes)
    assert two.findings == one.findings
    missed = [p for p in corpus.key.plants if not _covered(p, two.findings)]
    assert not missed, missed[:5]
    # pairing through the manifest: the same pairs when the inputs are hashed over workers
    file_hash = partial(keyed_file_hash, keyed=KEY)
    hashed = []
    assert pair_by_manifest(output, list(corpus.files), file_hash, 2, on_file=lambda: hashed.append(1)) == \
        _pairs(output, corpus)
    assert len(hashed) == len(corpus.files)


def _text_elements(ds: Dataset, depth: int = 0, path=()):
    for elem in ds:
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                yield from _text_elements(item, depth + 1, (*path, (elem.tag, i)))
        elif elem.VR in ("LO", "LT", "ST", "UT", "SH") and not elem.tag.is_private:
            yield path, elem


def _mutate(ds: Dataset, data_path: Path, value: str, rng: random.Random) -> str:
    """Put `value` somewhere in `ds` (or the file bytes); return where."""
    kind = rng.choice(["text", "deep", "private", "new-public", "raw", "meta"])
    if kind == "text":
        cands = list(_text_elements(ds))
        cands = [c for c in cands if c[1].VR != "SH" or len(value) <= 16]
        if cands:
            _, elem = rng.choice(cands)
            elem.value = f"{elem.value} {value}"[:60] if elem.VR in ("SH",) and len(value) < 12 else \
                f"note {value} end"
            if elem.VR == "SH":
                elem.value = value[:16]
                return "text:SH"
            return "text"
        kind = "deep"
    if kind == "deep":
        item = Dataset()
        inner = Dataset()
        inner.add_new(0x00081030, "LO", f"{value}"[:64])
        item.ReferencedStudySequence = Sequence([inner])
        ds.add_new(0x00400275, "SQ", Sequence([item]))
        return "deep"
    if kind == "private":
        group = rng.choice([0x0009, 0x0011, 0x0029, 0x0041])
        ds.add_new((group << 16) | 0x0010, "LO", "MUTANT_CREATOR")
        ds.add_new((group << 16) | 0x1001, "LO", value[:64])
        return "private"
    if kind == "new-public":
        ds.add_new(0x00324000, "LT", f"Comment about {value}")
        return "new-public"
    if kind == "meta" and len(value) <= 16:
        ds.file_meta.SourceApplicationEntityTitle = value[:16]
        return "meta"
    return "raw"


def test_mutations_of_a_correct_output_are_all_caught(tmp_path, corpus):
    """>= 200 random re-insertions of planted values into a correct output: every one is reported."""
    out = tmp_path / "out"
    run(list(iter_files(corpus.root)), out, compile_plan(load_policy("research-longitudinal")), KEY)
    pairs = _pairs(out, corpus)
    needles = Needles()
    dates: dict[Path, set[str]] = {}
    for f in corpus.files:
        n = read_needles(f)
        needles.update(n)
        dates[f] = n.dates
    scanner = Scanner(needles)
    rng = random.Random(7)
    outputs = sorted(pairs)
    plants = [p for p in corpus.key.plants if p.searchable and p.category != "path"]
    missed = []
    for i in range(220):
        rel = rng.choice(outputs)
        plant = rng.choice(plants)
        value = plant.value
        if plant.category == "date":  # dates are judged against the paired input (same patient)
            value = rng.choice(sorted(dates[pairs[rel]]))
        ds = pydicom.dcmread(out / rel)
        where = _mutate(ds, out / rel, value, rng)
        mutated = tmp_path / f"m{i}.dcm"
        ds.save_as(mutated, enforce_file_format=True)
        data = mutated.read_bytes()
        if where == "raw":  # a raw byte run spliced into the preamble, outside any element
            data = data[:10] + value.encode("utf-8")[:100] + data[10 + len(value.encode("utf-8")[:100]):]
            mutated.write_bytes(data)
        findings = scanner.scan(pydicom.dcmread(mutated, force=True), data, rel, dates[pairs[rel]])
        hit = [f for f in findings if f.value and (f.value.lower() in value.lower() or value.lower()
                                                   in f.value.lower())]
        if not hit:
            missed.append((where, plant.category, plant.where))
        mutated.unlink()
    assert not missed, missed


def test_cli_exit_codes_and_json(tmp_path, corpus):
    out = tmp_path / "out"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    cmd = [sys.executable, "-m", "veil.cli"]
    r = subprocess.run([*cmd, "deid", str(corpus.root), str(out), "--policy", "basic"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ok = subprocess.run([*cmd, "verify", str(out), "--against", str(corpus.root), "--json"], env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["findings"] == [] and doc["paired"] == len(corpus.files)
    # reading the identifiable input is recorded in the keyed, hash-chained audit log
    entries = [json.loads(x) for x in (out / ".veil" / "audit.jsonl").read_text().splitlines()]
    assert [e.get("extra", {}).get("action") for e in entries][-1] == "verify"
    chk = subprocess.run([*cmd, "audit", "verify", str(out), "--json"], env=env, capture_output=True, text=True)
    assert chk.returncode == 0 and json.loads(chk.stdout)["entries"] == 2
    bad = subprocess.run([*cmd, "verify", str(corpus.root), "--json"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    findings = json.loads(bad.stdout)["findings"]
    assert findings
    # evidence is masked: no planted value appears in the report
    evidence = " ".join(f["evidence"] + " " + f["location"] for f in findings)
    assert not [p.value for p in corpus.key.plants if p.searchable and len(p.value) > 4 and p.value in evidence]


@pytest.mark.slow
def test_burned_in_text_is_read_by_ocr(tmp_path):
    """An ultrasound image with the patient's name and ID burned into the pixels: verify's OCR pass reports
    it against the input, and reports nothing on the same image without text."""
    from veil.pixels.testset import make
    from veil.verify.needles import collect
    from veil.verify.scan import Scanner

    hits = 0
    for idx in range(4):
        sample = make(idx, with_text=True)
        if not sample.kind.startswith("us") and not sample.kind.startswith("sc"):
            continue
        needles = collect(sample.ds)
        found = Scanner(needles).scan_pixels(sample.ds, "x.dcm")
        assert any(f.category.startswith("pixels:") for f in found), sample.kind
        hits += 1
        clean = make(idx, with_text=False)
        assert not Scanner(collect(clean.ds)).scan_pixels(clean.ds, "y.dcm")
    assert hits >= 2


def test_an_image_at_risk_is_a_finding_when_no_ocr_engine_can_read_it(tmp_path, monkeypatch):
    """Fail closed: on a machine where tesseract is not installed (here: not on PATH), an ultrasound image
    whose pixels verify cannot read is a finding, not a note - the release gate published every such image.
    An image not at risk (no OCR needed) is unaffected."""
    from veil.pixels import ocr
    from veil.pixels.testset import make
    from veil.verify.needles import collect

    sample = make(1, with_text=False)
    assert sample.kind.startswith(("us", "sc"))
    path = tmp_path / "us.dcm"
    sample.ds.save_as(path, enforce_file_format=True)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct.save_as(tmp_path / "ct.dcm")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    ocr.engine_version.cache_clear()
    try:
        scanner = Scanner(collect(sample.ds))
        found = scanner.scan_file(path, "us.dcm", set())
        assert [f.category for f in found if f.location.startswith("(7FE0,0010)")] == ["pixels-unread"]
        assert any("OCR unavailable" in n for n in scanner.notes)
        assert not [f for f in scanner.scan_file(tmp_path / "ct.dcm", "ct.dcm", set()) if "pixels" in f.category]
    finally:
        monkeypatch.undo()
        ocr.engine_version.cache_clear()


def test_a_public_code_is_not_a_record_number_but_a_local_one_is(tmp_path):
    """SNOMED CT's chest (51185008) in Anatomic Region Sequence is vocabulary: a CT series carries it in every
    file, and flagging it as a long number made every clean CT a finding. The same digits under a local
    coding scheme (99...) could be anything and are still reported."""
    from io import BytesIO

    def scanned(scheme: str) -> set[str]:
        ds = Dataset()
        ds.PatientIdentityRemoved = "YES"
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "51185008", scheme, "Chest"
        ds.AnatomicRegionSequence = Sequence([item])
        buf = BytesIO()
        ds.save_as(buf, implicit_vr=True, little_endian=True)
        return {f.category for f in Scanner().scan(ds, buf.getvalue(), "a.dcm", set())}

    assert "pattern:long-number" not in scanned("SCT")
    assert "pattern:long-number" in scanned("99LOCALSITE")


def test_raw_scan_in_windows_finds_what_the_whole_file_scan_finds(tmp_path, corpus, monkeypatch):
    """Files over verify's in-memory size are scanned raw in windows that overlap by the longest needle:
    with windows of 257 bytes (needles cross their edges everywhere) the findings are the whole scan's.
    Each file also hides another patient's name in a long private binary value, which only the raw scan reads."""
    from veil.verify import scan as scan_module
    from veil.verify.needles import fold

    needles = Needles()
    names = sorted({str(pydicom.dcmread(f).PatientName) for f in corpus.files})
    files = []
    for i, f in enumerate(corpus.files):
        needles.update(read_needles(f))
        ds = pydicom.dcmread(f)
        other = next(n for n in names if n != str(ds.PatientName))  # found nowhere else in this file
        ds.add_new(0x00110010, "LO", "RAWTEST")
        ds.add_new(0x00111001, "OB", bytes(40 + i) + other.encode() + bytes(6000))
        files.append(tmp_path / f"{i}.dcm")
        ds.save_as(files[-1], enforce_file_format=True)
    scanner = Scanner(needles, ocr=False)

    def findings(path: Path) -> list[tuple[str, str]]:
        return sorted((f.category, fold(f.value)) for f in scanner.scan_file(path, path.name, read_needles(path).dates))

    whole = {p: findings(p) for p in files}
    assert sum(cat == "identifier:raw" for fs in whole.values() for cat, _ in fs) >= len(files)
    monkeypatch.setattr(scan_module, "_WHOLE", 0)
    monkeypatch.setattr(scan_module, "_WINDOW", 257)
    assert {p: findings(p) for p in files} == whole


def _marked_image(rows: int, cols: int, frames: int, pixels: bytes | None = None) -> Dataset:
    """A de-identified-looking 16-bit image (PatientIdentityRemoved YES), native Pixel Data."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientIdentityRemoved = "YES"
    ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = rows, cols, frames, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = pixels if pixels is not None else bytes(rows * cols * 2 * frames)
    return ds


def test_a_big_file_is_verified_in_bounded_memory(tmp_path):
    """A 48 MB multi-frame image with an identifier after its pixels: found, without holding the file
    (a 1 GB file took 2 GB of RSS: its bytes and pydicom's copy of Pixel Data)."""
    import tracemalloc

    ds = _marked_image(512, 512, 96)
    ds.add_new(0x7FE10010, "LO", "RAWTEST")  # a private block after Pixel Data, its value binary and long:
    ds.add_new(0x7FE11001, "OB", bytes(5000) + b"Quixworth^Zebulon" + bytes(5000))  # only the raw scan reads it
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    del ds
    needles = Needles()
    needles.add("Quixworth^Zebulon", "name")
    scanner = Scanner(needles, ocr=False)
    tracemalloc.start()
    try:
        found = scanner.scan_file(path, "big.dcm")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any(f.category == "identifier:raw" for f in found), found
    assert peak < 32 << 20, peak  # windows of 8 MB; the file is 48 MB


def test_native_pixel_samples_are_not_searched_for_text_but_every_other_byte_is(tmp_path):
    """Native Pixel Data holds sample values: a needle's bytes there are chance (and scanning them was
    95% of verifying CT/MR). The same bytes in a private binary value or after the pixels are reported."""
    name = b"Quixworth^Zebulon"
    needles = Needles()
    needles.add(name.decode(), "name")
    scanner = Scanner(needles, ocr=False)

    def scanned(private: bool) -> list:
        ds = _marked_image(256, 256, 1, (bytes(1000) + name + bytes(256 * 256 * 2))[:256 * 256 * 2])
        if private:
            ds.add_new(0x7FE10010, "LO", "RAWTEST")
            ds.add_new(0x7FE11001, "OB", bytes(5000) + name + bytes(5001))
        path = tmp_path / f"{private}.dcm"
        ds.save_as(path, enforce_file_format=True)
        return [f for f in scanner.scan_file(path, path.name) if f.category.startswith("identifier")]

    assert scanned(private=False) == []
    found = scanned(private=True)
    assert len(found) == 1 and found[0].category == "identifier:raw", found


def test_files_that_are_not_well_formed_dicom_are_unreadable_and_still_searched(tmp_path, corpus, output):
    """A cut output, a text file and random bytes in the output folder: each is reported "unreadable" with
    its reason (a forced read called the text file "not-marked" and random bytes private elements), the
    text file's copy of a patient's name is still found, and the well-formed outputs stay clean."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(output, out)
    first = sorted(p for p in out.rglob("*.dcm") if ".veil" not in p.parts)[0]
    name = str(pydicom.dcmread(sorted(corpus.files)[0]).PatientName).replace("^", " ")
    (first.parent / "cut.dcm").write_bytes(first.read_bytes()[:-100])
    (first.parent / "notes.dcm").write_text(f"called {name} back about the scan\n")
    (out / "noise.bin").write_bytes(random.Random(7).randbytes(4096))
    result = verify_folder(out, corpus.root, pairs=_pairs(out, corpus), ocr=False)
    by_file: dict[str, list] = {}
    for f in result.findings:
        by_file.setdefault(Path(f.file).name, []).append(f)
    assert set(by_file) == {"cut.dcm", "notes.dcm", "noise.bin"}, sorted(by_file)
    assert result.unreadable == 3 and not result.ok
    assert [(f.category, f.evidence) for f in by_file["noise.bin"]] == [
        ("unreadable", "not DICOM: no DICM prefix at byte 128 and no dataset at byte 0")]
    assert by_file["cut.dcm"][0].category == "unreadable" and "truncated" in by_file["cut.dcm"][0].evidence
    assert {f.category for f in by_file["notes.dcm"]} == {"unreadable", "identifier:raw"}


@pytest.mark.slow
def test_images_at_risk_share_tesseract_runs_and_give_each_file_its_own_findings(tmp_path):
    """verify OCRs the images at risk of a unit of files in shared tesseract runs: each file's findings
    are exactly those of scanning it alone (frames are not mixed up between files), with text and
    text-free images interleaved and a file whose pixels cannot be decoded among them."""
    from veil.pixels.testset import make
    from veil.verify import _init_scanner, _scan_chunk
    from veil.verify.needles import collect

    needles = Needles()
    jobs = []
    for idx in range(8):
        sample = make(idx, with_text=idx % 2 == 0)
        if not sample.kind.startswith(("us", "sc")):
            continue
        needles.update(collect(sample.ds))
        path = tmp_path / f"{idx}.dcm"
        sample.ds.save_as(path, enforce_file_format=True)
        jobs.append((path, path.name, frozenset()))
    broken = tmp_path / "broken.dcm"
    ds = pydicom.dcmread(jobs[0][0])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]  # too short for its rows x columns
    ds.save_as(broken, enforce_file_format=True)
    jobs.insert(1, (broken, broken.name, frozenset()))
    assert len(jobs) >= 4
    scanner = Scanner(needles)
    alone = [scanner.scan_file(p, rel, set(d)) for p, rel, d in jobs]
    _init_scanner(Scanner(needles))
    together, _ = _scan_chunk(jobs)
    assert [found for found, _ in together] == alone
    assert sum(1 for found in alone if any(f.category.startswith("pixels:") for f in found)) >= 2
    assert any(f.category == "pixels-unreadable" for f in alone[1])


def test_a_folder_the_walk_does_not_enter_is_a_finding_not_a_silent_gap(tmp_path, output, corpus):
    """verify walks outputs as deid walks inputs (lazily: never every path in memory). A link to a folder
    is not followed (it could point outside or loop), so what it holds was not scanned: that is reported
    "unreadable" and the output is not called clean, and a link to a file is scanned as a file."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(output, out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "note.txt").write_text("called the patient back\n")
    (out / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    one = sorted(p for p in out.rglob("*.dcm") if ".veil" not in p.parts)[0]
    (out / "linked-file.dcm").symlink_to(one)
    result = verify_folder(out, ocr=False)
    unread = [f for f in result.findings if f.category == "unreadable"]
    assert [(f.file, f.location) for f in unread] == [("linked-folder", "file")]
    assert "symbolic link to a folder" in unread[0].evidence and not result.ok
    clean = verify_folder(output, ocr=False)
    assert result.files == clean.files + 2  # the linked file scanned, the linked folder counted as unread
    assert [f for f in result.findings if f.file == "linked-file.dcm"] == [
        replace(f, file="linked-file.dcm") for f in clean.findings if f.file == str(one.relative_to(out))]
    inputs = tmp_path / "inputs"  # on the input side, identifiers not read are said, not silently missing
    inputs.mkdir()
    (inputs / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    shutil.copy(corpus.files[0], inputs / "in.dcm")  # something to search for (none: an error, see F1)
    against = verify_folder(output, inputs, ocr=False)
    # counted, named by rule only: a folder named after a patient reached a signed release's notes (red team)
    lead = "1 input folder(s), link(s), archive(s) or special file(s) not read"
    assert any(n.startswith(lead) for n in against.notes)
    assert not any("linked-folder" in n for n in against.notes)


@pytest.mark.parametrize("charset", ["ISO_IR 192", "\\ISO 2022 IR 87"])
def test_ideographic_names_left_in_the_output_are_found(tmp_path, charset):
    """Japanese and Chinese names are one to three characters and run into the text around them
    ("山田太郎さん"): verify's name needles took only parts of three letters or more, so it saw nothing."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def image(description: str) -> Dataset:
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
        ds.SpecificCharacterSet = charset
        ds.StudyDescription = description
        return ds

    src = image("CT")
    src.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    src.save_as(tmp_path / "in.dcm", enforce_file_format=True)
    scanner = Scanner(read_needles(tmp_path / "in.dcm"))
    for text, leaks in (("山田太郎さん CT 頭部", True), ("[NAME]さん CT 頭部", False), ("CT 太郎", True)):
        out = image(text)
        out.save_as(tmp_path / "out.dcm", enforce_file_format=True)
        data = (tmp_path / "out.dcm").read_bytes()
        findings = scanner.scan(pydicom.dcmread(tmp_path / "out.dcm"), data, "out.dcm", set())
        names = [f for f in findings if f.category == "identifier:name"]
        assert bool(names) == leaks, (text, findings)


def test_file_meta_beyond_the_plain_elements_is_reported(tmp_path):
    """A Source AE title or private information in the file meta, or any group 0002 element inside the
    data set, names the site: reported whether or not the input's values are at hand."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    ds.PatientIdentityRemoved = "YES"
    ds.save_as(tmp_path / "plain.dcm", enforce_file_format=True)
    ds.file_meta.SourceApplicationEntityTitle = "PACS_STMARYS"
    ds.save_as(tmp_path / "meta.dcm", enforce_file_format=True)
    scanner = Scanner(Needles())
    for name, expected in (("plain.dcm", False), ("meta.dcm", True)):
        data = (tmp_path / name).read_bytes()
        findings = scanner.scan(pydicom.dcmread(tmp_path / name), data, name, set())
        assert any(f.category == "file-meta" for f in findings) == expected, (name, findings)


@pytest.mark.parametrize("name,kind", [("SC_rgb_jpeg_dcmtk.dcm", "jpeg"), ("JPEG2000.dcm", "j2k")])
def test_a_text_segment_in_a_compressed_frame_is_a_finding_without_the_input(tmp_path, name, kind):
    """A JPEG COM or EXIF segment (or a JPEG 2000 COM) holding the patient's name is no attribute: plain
    `veil verify` (no --against, so no list of the input's values) did not see it. It is a finding now,
    in the file as read and in a file too big to hold (scanned from disk); `veil deid`'s output of the
    same file, and an encoder's own signature comment, are not."""
    from tests.pixels.test_markers import PLANTED, _planted_j2k, _planted_jpeg, _write_planted

    src = tmp_path / "in" / "planted.dcm"
    src.parent.mkdir()
    _write_planted(name, _planted_jpeg if kind == "jpeg" else _planted_j2k, src)
    scanner = Scanner(ocr=False)
    ds = pydicom.dcmread(src, defer_size=1024)
    for data in (src.read_bytes(), src):
        cats = {f.category for f in scanner.scan(ds, data, "planted.dcm", set())}
        assert "pixels-text-segment" in cats, cats
    plain = pydicom.dcmread(get_testdata_file(name), defer_size=1024)  # as written: JFIF/Kakadu only
    assert "pixels-text-segment" not in {f.category for f in scanner.scan(
        plain, Path(get_testdata_file(name)).read_bytes(), "plain.dcm", set())}
    out = tmp_path / "out"
    run(iter_files(src.parent), out, compile_plan(load_policy("basic")), Keyed(b"k" * 32))
    (written,) = out.rglob("*.dcm")
    assert PLANTED not in written.read_bytes()
    assert "pixels-text-segment" not in {f.category for f in verify_folder(out, ocr=False).findings}


@pytest.mark.parametrize("name", ["693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"])
def test_an_encoders_signature_comment_is_no_finding(name):
    """Red team C: GDCM's ("Created by GDCM/OpenJPEG version 2.3.0") and JasPer's ("Creator: JasPer Version
    1.701.0") JPEG 2000 comments in pydicom's own files were flagged as text segments."""
    path = Path(get_testdata_file(name))
    ds = pydicom.dcmread(path, defer_size=1024)
    found = Scanner(ocr=False).scan(ds, path.read_bytes(), name, set())
    assert "pixels-text-segment" not in {f.category for f in found}


def test_a_birth_date_after_its_cue_or_in_another_language_is_a_finding(tmp_path):
    """Red team (noted last session): "DOB 05/05/90" in a Window Explanation was not flagged (2-digit year);
    nor were a birth date in another language or with a Roman month. A version "5.5.90" is no finding.
    One-letter Roman months ("3.I.2000") were no date to the generic needle (noted, session 30)."""
    from io import BytesIO

    source = Dataset()
    source.PatientName, source.PatientBirthDate = "Quixworth^Zebulon", "19471113"
    source.save_as(tmp_path / "in.dcm", implicit_vr=True, little_endian=True)
    scanner = Scanner(read_needles(tmp_path / "in.dcm"), ocr=False)

    def categories(**values: str) -> set[str]:
        ds = Dataset()
        ds.PatientIdentityRemoved = "YES"
        for k, v in values.items():
            setattr(ds, k, v)
        buf = BytesIO()
        ds.save_as(buf, implicit_vr=True, little_endian=True)
        return {f.category for f in scanner.scan(ds, buf.getvalue(), "a.dcm", {"19471113"})}

    assert "pattern:birth-date" in categories(WindowCenterWidthExplanation="DOB 05/05/90")
    assert not categories(WindowCenterWidthExplanation="Version 5.5.90")
    for text in ("nacido el 13 de noviembre de 1947", "geb. 13. November 1947", "13.XI.1947 CT"):
        assert categories(ImageComments=text) & {"identifier:date", "date-not-shifted", "pattern:date"}, text
    # a date with a one-letter Roman month is a date whoever's it is, as the text cleaner reads it
    for text in ("seen 3.I.2000", "CT 13/X/2019", "op 14.V.1999"):
        assert "pattern:date" in categories(ImageComments=text), text
    for text in ("5 x 1953 mm", "12 v 1950", "Rx 3. I. 2000", "3.i.2000"):
        assert "pattern:date" not in categories(ImageComments=text), text


def test_cli_reads_a_zip_in_a_folder_and_pairs_its_members(tmp_path, corpus):
    """Red team: `verify --against` a folder holding a zip (or the zip, or a list of it) read the zip as one
    DICOM file: no identifier was looked for and nothing was paired. It reads the input as deid does, once,
    and pairs the outputs with the archive's members."""
    import zipfile

    holder = tmp_path / "in"
    holder.mkdir()
    with zipfile.ZipFile(holder / "study.zip", "w") as zf:
        for f in corpus.files:
            zf.write(f, f.relative_to(corpus.root))
    out = tmp_path / "out"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    cmd = [sys.executable, "-m", "veil.cli"]
    r = subprocess.run([*cmd, "deid", str(holder), str(out), "--policy", "basic"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    ok = subprocess.run([*cmd, "verify", str(out), "--against", str(holder), "--json"], env=env,
                        capture_output=True, text=True)
    doc = json.loads(ok.stdout)
    assert ok.returncode == 0 and doc["paired"] == len(corpus.files), ok.stdout[-2000:]
    # the output of the input itself: every planted identifier is found through the zip's members
    bad = subprocess.run([*cmd, "verify", str(corpus.root), "--against", str(holder), "--json"], env=env,
                         capture_output=True, text=True)
    found = json.loads(bad.stdout)["findings"]
    assert bad.returncode == 1 and any(f["category"].startswith("identifier:") for f in found)
