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


def _resumed(r) -> int:
    assert r.returncode == 0, r.stdout + r.stderr
    return int(json.loads(r.stdout)["resumed"])


@pytest.mark.parametrize("change", ["chmod", "touch", "copy"])
def test_inputs_whose_stamp_changed_but_not_their_bytes_are_reused(change, tmp_path):
    """The stamp holds the inode and its ctime (7bfaf51): a ``chmod -R`` of the archive, a ``touch`` or a
    copy to another disk made the next run redo every file. At the same size the bytes decide (keyed hash)."""
    src = tmp_path / "in"
    files = make_corpus(src, 6, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "2").returncode == 0
    first = tree_hashes(out)
    time.sleep(0.01)
    if change == "chmod":
        for f in files:
            f.chmod(0o640)
    elif change == "touch":
        for f in files:
            os.utime(f)
    else:  # moved aside and copied back: new inodes, ctimes and mtimes
        for f in files:
            f.rename(f.with_suffix(".bak"))
            f.write_bytes(f.with_suffix(".bak").read_bytes())
            f.with_suffix(".bak").unlink()
    assert _resumed(veil("deid", str(src), str(out), "--workers", "2", "--json")) == 6
    assert tree_hashes(out) == first
    # the reuse was journaled under the new stamp: the next run reuses without reading an input ...
    assert _resumed(veil("deid", str(src), str(out), "--workers", "2", "--json")) == 6
    # ... and a file whose bytes did change at the same size is still redone
    a, b = files[0], files[1]
    same_size = [f for f in files[1:] if f.stat().st_size == a.stat().st_size and f.read_bytes() != a.read_bytes()]
    if same_size:
        b = same_size[0]
        a.write_bytes(b.read_bytes())
        r = veil("deid", str(src), str(out), "--workers", "2", "--json")
        assert r.returncode in (0, 1), r.stderr  # the copy is a duplicate instance: quarantined
        assert json.loads(r.stdout)["resumed"] == 5
    assert veil("audit", "verify", str(out)).returncode == 0


def test_a_stamp_of_an_older_veil_is_judged_by_the_bytes(tmp_path):
    """Journals written before stamps had inode and ctime ("size:mtime") matched nothing after an upgrade."""
    src = tmp_path / "in"
    make_corpus(src, 4, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "1").returncode == 0
    first = tree_hashes(out)
    for journal in (out / ".veil" / "journal").glob("*.jsonl"):
        lines = []
        for line in journal.read_text().splitlines():
            rec = json.loads(line)
            if "stamp" in rec:
                rec["stamp"] = ":".join(rec["stamp"].split(":")[:2])
                rec.pop("t", None)
            lines.append(json.dumps(rec))
        journal.write_text("\n".join(lines) + "\n")
    assert _resumed(veil("deid", str(src), str(out), "--workers", "1", "--json")) == 4
    assert tree_hashes(out) == first


def test_the_later_runs_journal_line_counts_whatever_the_file_order(tmp_path):
    """Journal files are per process and read in name order; the line of an older run in a file whose
    name sorts later stood for an input a later run had redone, so every run after redid it again."""
    src = tmp_path / "in"
    files = make_corpus(src, 2, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "1").returncode == 0
    journal = out / ".veil" / "journal"
    (old,) = journal.glob("*.jsonl")
    old.rename(journal / "99999999.jsonl")  # the first run's file now sorts last
    time.sleep(0.01)
    ds = pydicom.dcmread(files[0])
    ds.StudyDescription = "CHANGED AFTER THE FIRST RUN"  # a changed input, the same instance
    ds.save_as(files[0])
    r = veil("deid", str(src), str(out), "--workers", "1", "--json")
    assert _resumed(r) == 1
    assert sorted(journal.glob("*.jsonl"))[-1].name == "99999999.jsonl"
    assert _resumed(veil("deid", str(src), str(out), "--workers", "1", "--json")) == 2


@pytest.mark.slow
def test_a_stopped_run_counts_the_outputs_it_reused_by_their_bytes(tmp_path):
    """Review of e4c3eb8: files reused under a new stamp are journaled again ("reused"); a stopped run's
    audit entry counted neither those lines nor the results that had not reached the main process (out 87
    of 208 journaled). The main process is slowed so the workers run ahead, then SIGTERM."""
    import signal
    import textwrap

    from .test_json_and_limits import run_patched

    src = tmp_path / "in"
    files = make_corpus(src, 400, patients=5)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "2").returncode == 0
    time.sleep(0.02)
    for f in files:
        os.utime(f)
    script = textwrap.dedent("""
        import os, signal, sys, threading, time
        import veil.cli as cli
        from veil.pipeline import results
        real = results.ResultStore.put
        n = [0]
        def slow(self, seq, r):
            n[0] += 1
            if n[0] == 40:
                threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
            time.sleep(0.01)
            return real(self, seq, r)
        results.ResultStore.put = slow
        sys.argv = ["veil", *sys.argv[1:]]
        cli.app()
    """)
    r = run_patched(script, "deid", str(src), str(out), "--workers", "2", "--json")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    doc = json.loads(r.stdout)
    journaled = set()
    for p in (out / ".veil" / "journal").glob("*.jsonl"):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("reused"):
                journaled.add(rec["key"])
    assert doc["resumed"] < len(journaled), "the workers must have run ahead of the main process"
    assert doc["written"] == len(journaled), doc
    entry = json.loads((out / ".veil" / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["counts"]["out"] == len(journaled)


_COUNT_HASHES = """
import os, sys
import veil.pipeline.runner as runner
real = runner.sha256_file
def counted(path):  # the workers are forked processes: each call is a line in a file
    with open(os.environ["HASH_LOG"], "a") as fh:
        fh.write(str(path) + "\\n")
    return real(path)
runner.sha256_file = counted
import veil.cli as cli
sys.argv = ["veil", *sys.argv[1:]]
cli.app()
"""


def _rerun_hashes(src, out) -> tuple[dict, int]:
    import subprocess
    import sys

    from .test_batch import SECRET

    log = out.parent / "hashed.log"
    log.unlink(missing_ok=True)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1", "HASH_LOG": str(log)}
    r = subprocess.run([sys.executable, "-c", _COUNT_HASHES, "deid", str(src), str(out), "--workers", "1",
                        "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), len(log.read_text().splitlines()) if log.exists() else 0


def test_a_rerun_trusts_an_untouched_output_of_this_boot_without_reading_it(tmp_path):
    """Every re-run read and hashed every earlier output (after a crash a journaled name can hold other
    bytes): at archive scale, terabytes re-read each night. An output whose inode, size and times are those
    journaled during this boot of the machine is reused from its stat; one changed since (bytes rewritten,
    mtime put back: the ctime moved), or journaled in another boot, is hashed as before."""
    src = tmp_path / "in"
    make_corpus(src, 5, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "1").returncode == 0
    first = tree_hashes(out)
    doc, hashed = _rerun_hashes(src, out)
    assert (doc["resumed"], hashed) == (5, 0)
    # an output rewritten with other bytes of the same size, its mtime put back
    victim = sorted(out.rglob("*.dcm"))[0]
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    time.sleep(0.01)
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    doc, hashed = _rerun_hashes(src, out)
    assert hashed == 1 and doc["resumed"] == 4 and doc["written"] == 5
    assert tree_hashes(out) == first
    # lines journaled in another boot of the machine: every output is hashed again
    for journal in (out / ".veil" / "journal").glob("*.jsonl"):
        lines = []
        for line in journal.read_text().splitlines():
            rec = json.loads(line)
            if "seal" in rec:
                rec["seal"] = "0" * 16 + rec["seal"][16:]
            lines.append(json.dumps(rec))
        journal.write_text("\n".join(lines) + "\n")
    doc, hashed = _rerun_hashes(src, out)
    assert (doc["resumed"], hashed) == (5, 5)


def test_a_duplicate_renamed_over_an_output_before_its_journal_line_is_not_sealed(tmp_path):
    """Review of c44f199: the seal was the stat of whatever file stood at the output path when the line was
    written; a duplicate instance renamed over it in between (smaller sha256 wins) was sealed under the
    first file's sha256, and the next run kept it unread (manifest and disk disagreed)."""
    from veil.pipeline import instance, partfiles, runner
    from veil.pipeline.instance import FileResult

    from .test_rawpath import KEYED

    out = tmp_path / "out"
    target = out / "P" / "a.dcm"
    target.parent.mkdir(parents=True)

    def write(data: bytes) -> None:
        fd, tmp = partfiles.new(str(target.parent))
        os.write(fd, data)
        try:
            instance.commit_atomic(fd, tmp, target, "sha-of-" + data[:1].decode())
        finally:
            partfiles.release()
            partfiles.done(tmp)

    def journal(name: str) -> dict:
        r = FileResult(str(tmp_path / name), "ok", "P/a.dcm", output_sha256="sha")
        runner._journal_write(out, r, "run", "1:2:3:4", KEYED, 1)  # unbuffered: on disk at once
        (path,) = (out / ".veil" / "journal").glob("*.jsonl")
        return json.loads(path.read_text().splitlines()[-1])

    try:
        write(b"A" * 100)
        other = target.with_name("other")
        other.write_bytes(b"B" * 100)
        os.replace(other, target)  # another worker's duplicate, renamed over it
        assert "seal" not in journal("a")
        target.unlink()
        write(b"C" * 100)  # untouched: sealed with the inode it wrote
        line = journal("c")
        assert line["seal"] == runner.output_seal(str(target)) and line["seal"]
    finally:
        while runner._journals:
            os.close(runner._journals.popitem()[1])
        runner._journal_fired.clear()
