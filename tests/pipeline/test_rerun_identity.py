"""A re-run decides what it may reuse by what the files are, not by what their times say.

Red team (round 2): an input replaced by another patient's file of the same size with its mtime restored
(``cp -p``, ``rsync -t``, ``tar x``) got its earlier output back - the other patient's - with exit 0;
earlier outputs with mtimes in the future (a folder restored from a host whose clock ran ahead) were
taken for this run's own duplicates: quarantined, then removed as stale.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time

import pydicom
import pytest

from .test_batch import make_corpus, tree_hashes, veil


@pytest.mark.parametrize("folder", ["in", "veil-staging-export"])
def test_an_input_replaced_with_the_same_size_and_mtime_is_processed_again(folder, tmp_path):
    """(A folder whose name looks like Veil's staging folders is an input folder like any other: third
    review, the staged-member stamp was chosen by a substring of the path.)"""
    files = make_corpus(tmp_path / "corpus", 2, patients=2)
    a, b = (pydicom.dcmread(f) for f in files)
    assert a.PatientID != b.PatientID and files[0].stat().st_size == files[1].stat().st_size
    src = tmp_path / folder
    src.mkdir()
    target = src / "a.dcm"
    target.write_bytes(files[0].read_bytes())
    os.utime(target, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "1").returncode == 0
    first = tree_hashes(out)

    time.sleep(0.01)  # a ctime of its own even on a coarse clock
    target.write_bytes(files[1].read_bytes())  # the corrected export: same size, same path ...
    os.utime(target, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))  # ... same mtime
    r = veil("deid", str(src), str(out), "--workers", "1", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["resumed"] == 0
    fresh = tmp_path / "fresh"
    assert veil("deid", str(src), str(fresh), "--workers", "1").returncode == 0
    assert tree_hashes(out) == tree_hashes(fresh) != first


def test_earlier_outputs_with_future_mtimes_are_replaced_not_taken_for_duplicates(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 10, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "2").returncode == 0
    ahead = time.time_ns() + 3600 * 10**9
    for p in out.rglob("*.dcm"):
        os.utime(p, ns=(ahead, ahead))
    # another policy: every output is rewritten, none can be reused
    r = veil("deid", str(src), str(out), "--workers", "2", "--policy", "research-longitudinal", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert summary["quarantined"] == 0 and summary["written"] == 10
    fresh = tmp_path / "fresh"
    assert veil("deid", str(src), str(fresh), "--workers", "2", "--policy", "research-longitudinal").returncode == 0
    assert tree_hashes(out) == tree_hashes(fresh)
    assert len(tree_hashes(out)) == 10


def test_an_archive_rebuilt_with_the_same_size_times_and_member_list_is_unpacked_again(tmp_path):
    """A tar records no checksum of a member's bytes: a rebuilt archive with the same member names, sizes
    and times, the same size and a restored mtime, was taken for the one already unpacked in $TMPDIR."""
    files = make_corpus(tmp_path / "corpus", 2, patients=2)
    arc = tmp_path / "study.tar"

    def build(data: bytes) -> None:
        with tarfile.open(arc, "w") as tf:
            info = tarfile.TarInfo("a.dcm")
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tf.addfile(info, io.BytesIO(data))
        os.utime(arc, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))

    build(files[0].read_bytes())
    out = tmp_path / "out"
    env = {"TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    r = veil("deid", str(arc), str(out), "--workers", "1", env_extra=env)
    assert r.returncode == 0, r.stderr
    first = tree_hashes(out)
    time.sleep(0.01)
    build(files[1].read_bytes())
    r = veil("deid", str(arc), str(out), "--workers", "1", env_extra=env)
    assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    assert veil("deid", str(arc), str(fresh), "--workers", "1", env_extra=env).returncode == 0
    assert tree_hashes(out) == tree_hashes(fresh) != first


def test_an_archive_run_again_reuses_every_output(tmp_path):
    """Members are unpacked again for each run (the staging folder goes when a run ends), with new inodes
    and ctimes: their stamp is size and mtime, the staging folder's name carries the archive's identity.
    Review of 7bfaf51: a zip of 300 files reused 0 on the same command again (300 before)."""
    import zipfile

    files = make_corpus(tmp_path / "in", 6, patients=2)
    arc = tmp_path / "study.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for f in files:
            zf.write(f, f.name)
    env = {"TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "out"
    assert veil("deid", str(arc), str(out), env_extra=env).returncode == 0
    r = veil("deid", str(arc), str(out), "--json", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed"] == 6
