"""Inputs red team (2026-12-07): each case failed before.

* TMPDIR inside OUT: archive members (the identifiable originals) were unpacked into the output folder,
  and a killed run left them there;
* an input folder in $TMPDIR named like Veil's staging ("veil-staging-export") gave its files the weaker
  stamp of archive members: a file replaced with `cp -p` kept another patient's earlier output;
* a tar made the usual way (`tar -C DIR -czf X .`) starts with a member "./" and was refused whole;
* one line in a journal that is not UTF-8 made every later run on that output fail (exit 3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pydicom
import pytest

from veil.errors import VeilError
from veil.pipeline import runner
from veil.pipeline.runner import check_paths

from .test_batch import make_corpus, tree_hashes, veil


def test_a_temporary_folder_inside_the_output_is_refused(tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 2)
    (out / "tmp").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(out / "tmp"))
    with pytest.raises(VeilError, match="must not be inside the output"):
        check_paths(src, out)
    monkeypatch.setattr(tempfile, "tempdir", str(out))
    with pytest.raises(VeilError, match="must not be inside the output"):
        check_paths(src, out)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # beside the output: fine
    check_paths(src, out)
    r = veil("deid", str(src), str(out), env_extra={"TMPDIR": str(out / "tmp")})
    assert r.returncode == 2 and "TMPDIR" in r.stderr
    assert not list(out.rglob("*.dcm"))


def test_only_veils_own_staging_folders_give_the_archive_members_stamp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    runner._staging_root.cache_clear()
    try:
        root = str(tmp_path / "veil-staging-")
        assert runner._staged_member(root + "0123456789abcdef01234567" + "/files/a/b.dcm")
        assert runner._staged_member(root + "pid4026531836-4242-k2j4h1/files/x.dcm")
        assert not runner._staged_member(root + "export/x0.dcm")
        assert not runner._staged_member(root + "export/files/x0.dcm")
        assert not runner._staged_member(root + "0123456789abcdef01234567/x.dcm")
    finally:
        runner._staging_root.cache_clear()


def test_an_input_folder_named_like_staging_is_checked_as_an_input(tmp_path):
    """The red team's case, whole: a folder in $TMPDIR named veil-staging-export, a file in it replaced by
    another patient's with size and mtime kept (cp -p + mv); the re-run must equal a fresh run."""
    tmp = tmp_path / "tmp"
    src = tmp / "veil-staging-export"
    files = make_corpus(src, 2, patients=2)
    assert files[0].stat().st_size == files[1].stat().st_size
    env = {"TMPDIR": str(tmp)}
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), env_extra=env).returncode == 0
    replacement = tmp_path / "swap.dcm"
    shutil.copy2(files[1], replacement)
    st = files[0].stat()
    os.replace(replacement, files[0])
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns))
    r = veil("deid", str(src), str(out), "--json", env_extra=env)
    assert r.returncode in (0, 1), r.stderr
    fresh = tmp_path / "fresh"
    veil("deid", str(src), str(fresh), env_extra=env)
    assert tree_hashes(out) == tree_hashes(fresh)


def test_a_tar_made_with_dot_as_its_first_member_is_read(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 2)
    arc = tmp_path / "study.tar.gz"
    subprocess.run(["tar", "-C", str(src), "-czf", str(arc), "."], check=True)
    names = subprocess.run(["tar", "-tzf", str(arc)], check=True, capture_output=True, text=True).stdout.split()
    assert names[0] == "./"
    r = veil("deid", str(arc), str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"]) == (2, 2)


def test_a_journal_line_that_is_not_utf8_is_skipped_not_fatal(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 3)
    assert veil("deid", str(src), str(out)).returncode == 0
    before = tree_hashes(out)
    (journal,) = (out / ".veil" / "journal").glob("*.jsonl")
    with open(journal, "ab") as fh:
        fh.write(b"\xff\xfe not json\n")
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 3
    assert tree_hashes(out) == before


@pytest.mark.parametrize("where", ["patient", "series"])
def test_one_sop_instance_uid_at_two_output_paths_is_written_once(tmp_path, where):
    """Two different instances sharing a SOP Instance UID, of two patients (or two series): each went out
    under its own folder with the same new UID, exit 0 (a PACS keeps one of them). One is kept - the same
    one with 1 and 2 workers and on a re-run - and the other is quarantined as a duplicate instance."""
    src = tmp_path / "in"
    a, b = make_corpus(src, 2, patients=2)
    other = pydicom.dcmread(b)
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = pydicom.dcmread(a).SOPInstanceUID
    if where == "series":  # the same patient, another series
        first = pydicom.dcmread(a)
        other.PatientName, other.PatientID = first.PatientName, first.PatientID
        other.StudyInstanceUID = first.StudyInstanceUID
    other.save_as(b)
    trees = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        r = veil("deid", str(src), str(out), "--json", "--workers", workers)
        assert r.returncode == 1, r.stderr
        doc = json.loads(r.stdout)
        assert (doc["written"], doc["quarantined"]) == (1, 1)
        (line,) = (out / ".veil" / "quarantine.jsonl").read_text().splitlines()
        assert json.loads(line)["rule"] == "duplicate-instance"
        assert len(list(out.rglob("*.dcm"))) == 1
        assert len((out / ".veil" / "manifest.jsonl").read_text().splitlines()) == 1
        trees.append(tree_hashes(out))
    assert trees[0] == trees[1]
    r = veil("deid", str(src), str(tmp_path / "out1"), "--json")
    assert r.returncode == 1 and tree_hashes(tmp_path / "out1") == trees[0]


def test_a_journal_line_that_is_json_but_no_object_is_skipped(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 2)
    assert veil("deid", str(src), str(out)).returncode == 0
    (journal,) = (out / ".veil" / "journal").glob("*.jsonl")
    with open(journal, "a") as fh:
        fh.write('"torn"\n[1, 2]\n')
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 2


def test_the_sample_corpus_gives_every_instance_its_own_uid(tmp_path):
    """pydicom hashes entropy sources run together: the sample generator's ("1", "0000") and ("10", "000")
    made one SOP Instance UID, and 160 of the benchmark's 5,000 files shared theirs with another patient's
    (found by the duplicate check above)."""
    from veil.samples import _uid

    assert _uid(1, 1, 0, 0, 0, 0) != _uid(1, 10, 0, 0, 0) != _uid(1, 100, 0, 0)
    from veil.samples import generate_corpus

    corpus = generate_corpus(tmp_path / "in", patients=12, studies_per_patient=1, series_per_study=1,
                             instances_per_series=11, modalities=("CT",), rows=8, columns=8, seed=1)
    uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in corpus.files]
    assert len(uids) == len(set(uids)) >= 120
