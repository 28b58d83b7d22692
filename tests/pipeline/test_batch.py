"""Batch behaviour at archive scale: kill -9 and resume, 1 vs N workers, quarantine of bad input,
inputs never modified, CLI exit codes and JSON summary."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="


def make_corpus(root: Path, n: int, patients: int = 5) -> list[Path]:
    """`n` CT instances of `patients` patients, each a distinct instance (UIDs derived from the index)."""
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    out = []
    for i in range(n):
        ds = base.copy()
        p = i % patients
        ds.PatientName = f"Quixworth{p}^Zebulon"
        ds.PatientID = f"MRN{48213900 + p}"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.99.{p}"
        ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.99.{p}.1"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.99.{p}.1.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = root / f"Quixworth{p}_MRN{48213900 + p}" / f"img{i:05d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.dcm"))
    }


def veil(*args: str, env_extra: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"} | (env_extra or {})
    kw.setdefault("timeout", 600)
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True, text=True, env=env, **kw)


@pytest.mark.slow
def test_kill_minus_9_then_resume_gives_the_same_output_as_a_clean_run(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 400)
    clean = tmp_path / "clean"
    r = veil("deid", str(src), str(clean), "--workers", "2")
    assert r.returncode == 0, r.stderr
    expected = tree_hashes(clean)
    assert len(expected) == 400

    out = tmp_path / "killed"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.rglob("*.dcm"))) < 60:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list(out.rglob("*.dcm")))
    assert 0 < partial < 400, "the kill must land mid-run for this test to mean anything"
    assert (out / ".veil" / "run-in-progress").exists()  # the next run will look for partial files
    leftover = next(out.rglob("*.dcm")).parent / ".veil-0123456789abcdef.part"
    leftover.write_bytes(b"half a file")  # what a kill between open and rename leaves

    r = veil("deid", str(src), str(out), "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["written"] == 400 and summary["resumed"] > 0
    assert tree_hashes(out) == expected
    assert not list(out.rglob("*.part"))
    assert not (out / ".veil" / "run-in-progress").exists()
    # results read back from the journals (rule lists shared by reference) give the same manifest
    journal = "".join(p.read_text() for p in (out / ".veil" / "journal").glob("*.jsonl"))
    assert '"fired_ref"' in journal and '"fired_id"' in journal
    assert (out / ".veil" / "manifest.jsonl").read_text() == (clean / ".veil" / "manifest.jsonl").read_text()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_rerun_redoes_exactly_the_outputs_that_are_damaged_or_gone(tmp_path, workers):
    """A re-run reuses a journaled output only if its bytes still hash to the journaled sha256 (checked in
    the workers): an output overwritten with other bytes of the same size and mtime, one cut short and one
    deleted are written again, the other 37 are reused untouched, and the tree equals a clean run's."""
    src = tmp_path / "in"
    make_corpus(src, 40)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", workers).returncode == 0
    expected = tree_hashes(out)
    files = sorted(out.rglob("*.dcm"))
    st = files[3].stat()
    data = bytearray(files[3].read_bytes())
    data[-1] ^= 0xFF  # a flipped pixel byte: same size, same mtime
    files[3].write_bytes(bytes(data))
    os.utime(files[3], ns=(st.st_atime_ns, st.st_mtime_ns))
    files[11].write_bytes(files[11].read_bytes()[:1000])
    files[20].unlink()
    untouched = {f: f.stat().st_mtime_ns for i, f in enumerate(files) if i not in (3, 11, 20)}
    r = veil("deid", str(src), str(out), "--workers", workers, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["resumed"] == 37 and summary["written"] == 40
    assert tree_hashes(out) == expected
    assert all(f.stat().st_mtime_ns == m for f, m in untouched.items())  # reused, not rewritten


def test_a_resumed_run_keeps_the_same_one_of_two_conflicting_duplicates(tmp_path):
    """Two inputs with one SOPInstanceUID and different content: a clean run keeps the output with the
    smaller sha256 and quarantines the other. A run that resumes after only the kept one was done (its
    output older than the run, then met by the other input) must end the same way, not keep the newer."""
    src = tmp_path / "in"
    a, b = make_corpus(src, 2, patients=1)
    ds = pydicom.dcmread(b)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.dcmread(a).SOPInstanceUID
    pixels = bytearray(ds.PixelData)
    pixels[0] ^= 0xFF  # other content: the pixel data is kept by the profile
    ds.PixelData = bytes(pixels)
    ds.save_as(b, enforce_file_format=True)
    clean = tmp_path / "clean"
    r = veil("deid", str(src), str(clean), "--json")
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    (lost,) = [q["source"] for q in summary["quarantine"] if q["rule"] == "duplicate-instance"]
    kept = str(a) if lost == str(b) else str(b)
    expected = tree_hashes(clean)
    out = tmp_path / "out"
    listing = tmp_path / "kept.lst"
    listing.write_text(kept + "\n")
    assert veil("deid", str(listing), str(out)).returncode == 0  # the run that was cut short after `kept`
    time.sleep(0.05)  # the next run starts later on the file system's clock
    both = tmp_path / "both.lst"
    both.write_text(f"{kept}\n{lost}\n")  # `kept` is found reused before `lost` is written over it
    r = veil("deid", str(both), str(out), "--json")
    assert r.returncode == 1, r.stderr
    again = json.loads(r.stdout)
    assert again["resumed"] == 1  # `kept` was reused: the case this test is about
    assert [q["source"] for q in again["quarantine"] if q["rule"] == "duplicate-instance"] == [lost]
    assert tree_hashes(out) == expected


def test_one_worker_and_many_workers_give_byte_identical_output(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 60)
    a, b = tmp_path / "a", tmp_path / "b"
    assert veil("deid", str(src), str(a), "--workers", "1").returncode == 0
    assert veil("deid", str(src), str(b), "--workers", "3").returncode == 0
    ha, hb = tree_hashes(a), tree_hashes(b)
    assert len(ha) == 60 and ha == hb
    ma = (a / ".veil" / "manifest.jsonl").read_text()
    assert ma == (b / ".veil" / "manifest.jsonl").read_text()
    lines = ma.splitlines()
    assert len(lines) == 60
    for line in lines:  # written by hand for speed: must be exactly json.dumps(row, sort_keys=True)
        row = json.loads(line)
        assert line == json.dumps(row, sort_keys=True)
        assert row["rules"] and all(r["action"] != "K" for r in row["rules"])


def test_bad_inputs_are_quarantined_with_reasons_and_inputs_untouched(tmp_path):
    src = tmp_path / "in"
    good = make_corpus(src, 5)
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (src / "zero.dcm").write_bytes(b"")
    (src / "notes.txt").write_text("Quixworth called about the scan\n")
    (src / "truncated.dcm").write_bytes(ct[: len(ct) // 3])
    corrupt = bytearray(ct)
    corrupt[200:260] = b"\xff" * 60
    (src / "corrupt.dcm").write_bytes(bytes(corrupt))
    (src / "burned.dcm").write_bytes(ct)
    ds = pydicom.dcmread(src / "burned.dcm")
    ds.BurnedInAnnotation = "YES"
    ds.SOPInstanceUID = "1.2.3.999"
    ds.save_as(src / "burned.dcm")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 1, r.stderr  # some files quarantined, the rest written
    summary = json.loads(r.stdout)
    assert summary["written"] == len(good)
    q = {Path(x["source"]).name: x for x in summary["quarantine"]}
    assert {"zero.dcm", "notes.txt", "truncated.dcm", "burned.dcm"} <= set(q)
    assert all(x["reason"] and x["rule"] for x in q.values())
    assert q["burned.dcm"]["rule"] == "burned-in-annotation"
    lines = (out / ".veil" / "quarantine.jsonl").read_text().splitlines()
    assert len(lines) == summary["quarantined"]
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
    # The quarantine report is the operator's (it names input paths); everything else is PHI-free.
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != "quarantine.jsonl")
    assert b"Quixworth" not in everything and b"MRN482139" not in everything


def test_permission_denied_is_quarantined(tmp_path):
    """Root reads any file, so as root the run drops CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (util-linux setpriv)."""
    src = tmp_path / "in"
    make_corpus(src, 2)
    locked = src / "locked.dcm"
    shutil.copy(get_testdata_file("MR_small.dcm"), locked)
    os.chmod(locked, 0o000)
    hidden = src / "zz-locked-folder"
    hidden.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), hidden / "inside.dcm")
    os.chmod(hidden, 0o000)  # its files must not silently drop out of the run
    out = tmp_path / "out"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    cmd = [sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--json"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    finally:
        os.chmod(locked, 0o644)
        os.chmod(hidden, 0o755)
    assert r.returncode == 1, r.stderr
    q = json.loads(r.stdout)["quarantine"]
    assert [Path(x["source"]).name for x in q] == ["locked.dcm", "zz-locked-folder"]
    assert all("ermission" in x["reason"] for x in q) and q[1]["rule"] == "read"
    assert json.loads(r.stdout)["written"] == 2 and json.loads(r.stdout)["files_in"] == 4


def test_output_inside_input_is_refused(tmp_path):
    make_corpus(tmp_path / "in", 1)
    r = veil("deid", str(tmp_path / "in"), str(tmp_path / "in" / "out"))
    assert r.returncode == 2 and "must not be inside" in r.stderr
    assert not (tmp_path / "in" / "out").exists()


def test_dry_run_writes_nothing(tmp_path):
    make_corpus(tmp_path / "in", 3)
    r = veil("deid", str(tmp_path / "in"), str(tmp_path / "out"), "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dry_run"] == 3
    assert not (tmp_path / "out").exists()


def test_output_paths_hold_no_input_names_or_values(tmp_path):
    make_corpus(tmp_path / "in", 4)
    assert veil("deid", str(tmp_path / "in"), str(tmp_path / "out")).returncode == 0
    for p in (tmp_path / "out").rglob("*.dcm"):
        rel = str(p.relative_to(tmp_path / "out"))
        assert "Quixworth" not in rel and "MRN" not in rel and "img" not in rel and "1.2.826" not in rel


def test_zip_tar_and_list_sources_give_the_same_output_as_the_folder(tmp_path):
    import tarfile
    import zipfile

    src = tmp_path / "in"
    files = make_corpus(src, 6)
    assert veil("deid", str(src), str(tmp_path / "from-folder")).returncode == 0
    expected = tree_hashes(tmp_path / "from-folder")
    zpath = tmp_path / "study.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in files:
            zf.write(f, f.relative_to(src))
    tpath = tmp_path / "study.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        tf.add(src, arcname="study")
    lst = tmp_path / "inputs.lst"
    lst.write_text("\n".join(str(f) for f in files) + "\n")
    for spec in (zpath, tpath, lst):
        out = tmp_path / f"from-{spec.name}"
        r = veil("deid", str(spec), str(out))
        assert r.returncode == 0, r.stderr
        assert tree_hashes(out) == expected
    assert not list(Path(tempfile.gettempdir()).glob("veil-staging-*")) or all(
        not (d / ".veil-complete").exists() or d.stat().st_mtime < time.time() - 600
        for d in Path(tempfile.gettempdir()).glob("veil-staging-*"))


def test_archive_that_escapes_its_folder_is_refused(tmp_path):
    import zipfile

    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../escaped.dcm", b"DICM")
    r = veil("deid", str(zpath), str(tmp_path / "out"), "--json")
    assert r.returncode == 1
    q = json.loads(r.stdout)["quarantine"]
    assert q[0]["rule"] == "archive" and "escapes" in q[0]["reason"]
    assert not (tmp_path.parent / "escaped.dcm").exists()


def test_series_units_group_files_and_change_nothing_in_the_output(tmp_path):
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run, units
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    files = make_corpus(tmp_path / "in", 12, patients=3)
    groups = units([str(f) for f in files], by_series=True)
    assert len(groups) == 3 and sorted(len(g) for g in groups) == [4, 4, 4]
    assert all(len({Path(p).parent for p in g}) == 1 for g in groups)  # one series per patient folder
    plan, key = compile_plan(load_policy("basic")), Keyed(b"q" * 32)
    run(files, tmp_path / "a", plan, key, workers=2, by_series=True)
    run(files, tmp_path / "b", plan, key, workers=1)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")


@pytest.mark.slow
def test_peak_memory_does_not_follow_file_size(tmp_path):
    """A 600 MB multi-frame instance is de-identified with a worker that stays far below its size."""
    import struct

    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    frame = base.Rows * base.Columns * 2
    frames = 600_000_000 // frame
    base.NumberOfFrames = frames
    del base.PixelData
    src = tmp_path / "in" / "big.dcm"
    src.parent.mkdir()
    base.save_as(src, enforce_file_format=True)
    chunk = bytes(range(256)) * (frame // 256)
    with open(src, "ab") as fh:
        fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, frames * frame))
        for _ in range(frames):
            fh.write(chunk)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    # VmHWM is per address space and starts afresh at exec; ru_maxrss from wait4 would also count the
    # pytest worker that forked the child (Linux keeps the pre-exec high-water mark), which made it flaky.
    launcher = (
        "import atexit, re, sys\n"
        "def hwm():\n"
        "    kb = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "    sys.stderr.write(f'VMHWM_KB {kb}\\n')\n"
        "atexit.register(hwm)\n"
        "from veil.cli import app\n"
        "sys.argv = ['veil', 'deid', sys.argv[1], sys.argv[2]]\n"
        "app()\n"
    )
    proc = subprocess.run([sys.executable, "-c", launcher, str(src.parent), str(tmp_path / "out")],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    peak_mb = int(re.search(r"VMHWM_KB (\d+)", proc.stderr).group(1)) / 1024
    print(f"peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB for a {src.stat().st_size / 1e6:.0f} MB file"
    (out,) = (tmp_path / "out").rglob("*.dcm")
    assert out.stat().st_size > 590_000_000
    with open(out, "rb") as fh:  # pixel bytes identical at the end of the file
        fh.seek(-frame, os.SEEK_END)
        assert fh.read() == chunk
    # the same command again resumes: the journaled output is re-hashed to be trusted, in chunks
    again = subprocess.run([sys.executable, "-c", launcher, str(src.parent), str(tmp_path / "out")],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert again.returncode == 0, again.stderr
    resume_mb = int(re.search(r"VMHWM_KB (\d+)", again.stderr).group(1)) / 1024
    assert resume_mb < 200, f"resume peak RSS {resume_mb:.0f} MB"
    assert json.loads((tmp_path / "out" / ".veil" / "audit.jsonl").read_text().splitlines()[-1])["counts"][
        "resumed"] == 1


def test_every_run_is_audited_and_tampering_is_detected(tmp_path):
    make_corpus(tmp_path / "in", 3)
    out = tmp_path / "out"
    r1 = veil("deid", str(tmp_path / "in"), str(out), "--purpose", "IRB-2026-114 export", "--json")
    r2 = veil("deid", str(tmp_path / "in"), str(out), "--purpose", "re-run", "--json")
    assert r1.returncode == r2.returncode == 0, r1.stderr + r2.stderr
    head = json.loads(r2.stdout)["audit_head"]
    log = out / ".veil" / "audit.jsonl"
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["purpose"] for e in entries] == ["IRB-2026-114 export", "re-run"]
    assert entries[0]["counts"]["out"] == 3 and entries[1]["counts"]["resumed"] == 3
    assert entries[0]["policy_hash"] == json.loads(r1.stdout)["policy_hash"]
    assert SECRET not in log.read_text()
    ok = veil("audit", "verify", str(out), "--expected-head", head, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["entries"] == 2
    lines = log.read_text().splitlines()
    edited = lines[0].replace('"out": 3', '"out": 2')
    assert edited != lines[0]
    log.write_text(edited + "\n" + lines[1] + "\n")  # edit a count
    bad = veil("audit", "verify", str(out), "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["problems"]
    log.write_text(lines[0] + "\n")  # drop the newest entry: the head file beside the log reveals it ...
    assert veil("audit", "verify", str(out)).returncode == 1
    (out / ".veil" / "audit.jsonl.head").unlink()  # ... dropped with it, only the written-down head does
    assert veil("audit", "verify", str(out)).returncode == 0
    assert veil("audit", "verify", str(out), "--expected-head", head).returncode == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_the_runner_holds_nothing_per_file(tmp_path, workers):
    """Sources are read as a walk and results go to disk: what the runner holds after 1,200 more files is
    what it holds after 300 (it was ~1.9 KB per file with a results list, and a path list, a unit list and
    one future per unit of the whole run on top)."""
    import gc
    import tracemalloc

    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.pipeline.sources import collect
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    make_corpus(tmp_path / "in", 1500)
    src = tmp_path / "in" / "all.lst"
    plan = compile_plan(load_policy("basic"))
    keyed = Keyed(b"m" * 32)
    files = list(collect(tmp_path / "in"))
    # caches of the plan filled, and the per-patient ones (the matcher of each patient's name and ID,
    # bounded LRU caches): the files are in patient order, the 1,500 add four patients to the 300's
    run(files[:40] + files[::300], tmp_path / "warm", plan, keyed, workers=workers)
    held = []
    for n in (300, 1500):
        src.write_text("".join(f"{f}\n" for f in files[:n]))
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        summary = run(collect(src), tmp_path / f"out{n}", plan, keyed, workers=workers)
        gc.collect()  # a full collection also empties the interpreter's free lists (tuples of rows read)
        held.append(tracemalloc.get_traced_memory()[0] - before)
        tracemalloc.stop()
        assert summary.written == n and summary.files_in == n and len(summary.results) == n
        assert [r.source for r in summary.results][-1] == str(files[n - 1])  # input order, read back
        summary.results.close()
    assert held[1] - held[0] < 40_000, held  # 1,200 files x 40 bytes


def test_manifest_fingerprints_are_the_files_own(tmp_path):
    """output_sha256 is what sha256sum prints for the output; input_hash is the input's BLAKE3 keyed with
    HMAC-SHA256 (recomputed here from the standard functions, not Veil's): a steward with the secret finds
    the output of a file, without the secret the hash links nothing. Raw path, general path (big endian),
    quarantine and dry run all agree on it."""
    import hmac

    import blake3

    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    src = tmp_path / "in"
    files = make_corpus(src, 4)
    big_endian = src / "be.dcm"
    shutil.copy(get_testdata_file("MR_small_bigendian.dcm"), big_endian)
    bad = src / "bad.dcm"
    bad.write_bytes(files[0].read_bytes()[:700])
    inputs = [*files, big_endian, bad]
    secret = b"f" * 32

    def expected(p: Path, key: bytes = secret) -> str:
        digest = blake3.blake3(p.read_bytes()).hexdigest()
        return hmac.digest(key, f"veil/input-file\x00{digest}".encode(), "sha256").hex()[:32]

    plan = compile_plan(load_policy("basic"))
    summary = run(inputs, tmp_path / "out", plan, Keyed(secret))
    by_source = {r.source: r for r in summary.results}
    assert by_source[str(bad)].status == "quarantined"
    for p in inputs:
        assert by_source[str(p)].input_hash == expected(p), p
    lines = [json.loads(x) for x in (tmp_path / "out" / ".veil" / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    assert {x["input_hash"] for x in lines} == {expected(p) for p in inputs[:5]}
    for x in lines:
        assert x["output_sha256"] == hashlib.sha256((tmp_path / "out" / x["output"]).read_bytes()).hexdigest()
    quarantine = [json.loads(x) for x in (tmp_path / "out" / ".veil" / "quarantine.jsonl").read_text().splitlines()]
    assert [q["input_hash"] for q in quarantine] == [expected(bad)]
    dry = run(inputs, tmp_path / "dry", plan, Keyed(secret), dry_run=True)
    assert {r.input_hash for r in dry.results} == {expected(p) for p in inputs}
    other = run(inputs[:1], tmp_path / "other", plan, Keyed(b"g" * 32))
    assert next(iter(other.results)).input_hash not in {expected(p) for p in inputs}


def test_a_file_cut_inside_any_element_is_quarantined(tmp_path):
    """Cut a file at offsets that fall inside an element (header or value), on the raw and on the general
    path: every one is quarantined as a parse error, never written, whatever the policy does with the
    element that was cut (a removed element used to hide a cut inside its value)."""
    from pydicom.filereader import data_element_generator

    from veil.identity.keyed import Keyed
    from veil.pipeline.instance import process_file
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    whole = make_corpus(tmp_path / "in", 1)[0].read_bytes()
    boundaries = set()
    with open(tmp_path / "probe.dcm", "wb") as fh:
        fh.write(whole)
    with open(tmp_path / "probe.dcm", "rb") as fh:
        fh.seek(132)
        for explicit_le in (True,):
            for el in data_element_generator(fh, not explicit_le, True, defer_size=None):
                boundaries.add(el.value_tell + el.length)
    plans = [compile_plan(load_policy("basic")), compile_plan(load_policy("research-longitudinal"))]
    cuts = [c for c in range(140, len(whole) - 1, 37) if c not in boundaries]
    assert len(cuts) > 100
    for cut in cuts:
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(whole[:cut])
        for i, plan in enumerate(plans):
            r = process_file(path, plan, Keyed(b"t" * 32), tmp_path / f"out{i}")
            assert r.status == "quarantined" and r.output is None, (cut, plan.policy.name, r)
            assert r.rule in ("parse", "read"), (cut, r)
    assert not any(p.is_file() for i in range(2) for p in (tmp_path / f"out{i}").rglob("*"))


@pytest.mark.parametrize("uid", ["../../../../escaped", "..", "1.2.3/../../x", "1.2.abc", "1.2." + "3" * 70])
def test_a_retained_uid_never_names_a_path_outside_the_output(tmp_path, uid):
    """Under Retain UIDs the output path is made of input UIDs: one that is not digits and dots (PS3.5 9.1)
    is quarantined, on both paths, and nothing is written outside OUT (it once wrote to ../..)."""
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.policy.model import load_policy_text
    from veil.policy.plan import compile_plan

    text = (Path(__file__).parents[2] / "src/veil/policy/builtin/basic.yaml").read_text()
    plan = compile_plan(load_policy_text(text.replace("options: []", "options: [retain_uids]")))
    root = tmp_path / "a" / "b" / "c" / "d"
    src = root / "in"
    good, bad, bad2 = make_corpus(src, 3)
    for path, kw in ((bad, "StudyInstanceUID"), (bad2, "SOPInstanceUID")):
        ds = pydicom.dcmread(path)
        setattr(ds, kw, uid)
        ds.save_as(path)
    before = {p for p in tmp_path.rglob("*")}
    summary = run([good, bad, bad2], root / "out", plan, Keyed(b"u" * 32))
    by = {r.source: r for r in summary.results}
    assert by[str(good)].status == "ok"
    for p in (bad, bad2):
        assert by[str(p)].status == "quarantined" and by[str(p)].rule == "invalid-uid", by[str(p)]
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_relative_to(root / "out") for p in new), sorted(new)


def test_file_names_that_are_not_utf8_are_processed_and_reported(tmp_path):
    """Old archives name files in Latin-1 ("M\\xfcller"): Python sees them with surrogate escapes, which
    the keyed hashes, the result store and the reports must take (this crashed the run with a traceback)."""
    src = tmp_path / "in"
    files = make_corpus(src, 4)
    good = os.path.join(os.fsencode(src), b"Patient_M\xfcller_\xff.dcm")
    os.rename(files[0], good)
    bad = os.path.join(os.fsencode(src), b"Corrupt_M\xfcller.dcm")
    with open(bad, "wb") as fh:
        fh.write(b"\0" * 128 + b"DICM" + b"not a data set" * 8)
    out = tmp_path / "out"
    first = veil("deid", str(src), str(out), "--workers", "2", "--json")
    assert first.returncode == 1, first.stdout + first.stderr  # the corrupt one is quarantined, nothing crashes
    doc = json.loads(first.stdout)
    assert (doc["files_in"], doc["written"], doc["quarantined"]) == (5, 4, 1)
    rows = [json.loads(x) for x in (out / ".veil" / "quarantine.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == [os.fsdecode(bad)]
    again = veil("deid", str(src), str(out), "--workers", "2", "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["resumed"] == 4  # the journal keys them too


def test_a_big_file_that_is_not_dicom_is_quarantined_without_reading_it(tmp_path):
    """A video or an archive among the inputs: no preamble and no DICOM element at its start. pydicom's
    forced read held all of it in memory (a 300 MB file: 354 MB of RSS); it is now refused from its
    first bytes, with the reason, and the memory of the run does not follow its size."""
    import struct
    import tracemalloc

    from veil.identity.keyed import Keyed
    from veil.pipeline.instance import process_file
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    junk = tmp_path / "in" / "clip.mp4"
    junk.parent.mkdir()
    with open(junk, "wb") as fh:
        fh.write(struct.pack("<HHL", 0x1234, 0x0010, 0x7FFFFFFF) + os.urandom(1 << 16))
        fh.truncate(64 << 20)  # 64 MB, mostly a hole
    plan = compile_plan(load_policy("basic"))
    tracemalloc.start()
    try:
        r = process_file(junk, plan, Keyed(b"k" * 32), tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (r.status, r.rule) == ("quarantined", "read") and "not a DICOM file" in r.reason
    assert peak < 8 << 20, peak
    assert not (tmp_path / "out").exists() or not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_one_command_at_a_time_writes_to_an_output_folder(tmp_path):
    """While a run holds OUT's lock, a second deid on OUT is refused at once (exit 3, the reason), before it
    touches anything; a dry run is not refused; once the lock is free the same command runs."""
    import fcntl

    src = tmp_path / "in"
    make_corpus(src, 6)
    out = tmp_path / "out"
    (out / ".veil").mkdir(parents=True)
    part = out / "VEILX" / ".veil-0123456789abcdef.part"  # a running writer's temporary file
    part.parent.mkdir()
    part.write_bytes(b"in flight")
    (out / ".veil" / "run-in-progress").write_text("other\n")
    fd = os.open(out / ".veil" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = veil("deid", str(src), str(out))
        said = " ".join((busy.stdout + busy.stderr).split())
        assert busy.returncode == 3 and "another Veil command is writing to" in said, said
        assert part.read_bytes() == b"in flight"  # the other writer's file was left alone
        assert veil("deid", str(src), str(out), "--dry-run").returncode == 0
    finally:
        os.close(fd)
    assert veil("deid", str(src), str(out)).returncode == 0
    assert not part.exists() and len(tree_hashes(out)) == 6  # now a killed run's leftovers, cleaned


def test_a_list_naming_a_fifo_or_a_device_quarantines_them_instead_of_hanging(tmp_path):
    """A list file can name anything: a FIFO blocked its reader for ever and /dev/zero never ended.
    Neither is opened; both are quarantined with the reason, and the real file is written."""
    src = tmp_path / "in"
    good = make_corpus(src, 1)[0]
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{fifo}\n/dev/zero\n{good}\n")
    r = veil("deid", str(listing), str(tmp_path / "out"), "--json", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert (doc["written"], doc["quarantined"]) == (1, 2)
    rows = [json.loads(x) for x in (tmp_path / "out" / ".veil" / "quarantine.jsonl").read_text().splitlines()]
    assert {r["source"]: r["reason"].startswith("not a regular file") for r in rows} == {str(fifo): True,
                                                                                         "/dev/zero": True}
    inv = veil("inventory", str(listing), "--json", timeout=120)
    assert inv.returncode == 0 and json.loads(inv.stdout)["unreadable"] == 2


def test_symbolic_links_to_files_are_inputs_and_other_links_are_reported(tmp_path):
    """A DataLad/git-annex dataset is symbolic links into the annex: each link to a file is processed like
    the file (same output bytes); a link to a folder (here one back to the root: a loop if followed) and a
    link whose annexed content is missing are quarantined with their reason, never silently left out."""
    annex = tmp_path / "annex"
    targets = make_corpus(annex, 3)
    data = tmp_path / "dataset"
    (data / "sub-01").mkdir(parents=True)
    for i, t in enumerate(targets):
        (data / "sub-01" / f"img{i}.dcm").symlink_to(t)
    (data / "sub-01" / "missing.dcm").symlink_to(tmp_path / "annex" / "not-fetched.dcm")
    (data / "sub-01" / "loop").symlink_to(data)
    r = veil("deid", str(data), str(tmp_path / "out"), "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert (report["files_in"], report["written"], report["quarantined"]) == (5, 3, 2)
    reasons = {Path(q["source"]).name: q["reason"] for q in report["quarantine"]}
    assert "target is missing" in reasons["missing.dcm"] and "not followed" in reasons["loop"]
    assert veil("deid", str(annex), str(tmp_path / "ref")).returncode == 0
    assert tree_hashes(tmp_path / "out") == tree_hashes(tmp_path / "ref")
    assert all(p.is_symlink() for p in (data / "sub-01").iterdir())  # inputs untouched


def test_a_list_file_reads_files_and_folders_relative_to_the_current_folder(tmp_path):
    """README: one file or folder per line, relative entries from the current folder (as `tar -T` and
    `rsync --files-from` read theirs), blank lines and '#' comments skipped; a missing entry is quarantined."""
    files = make_corpus(tmp_path / "in", 6, patients=2)
    work = tmp_path / "work"
    work.mkdir()
    listing = tmp_path / "lists" / "inputs.lst"
    listing.parent.mkdir()
    folder = files[0].parent  # three files of patient 0 as a folder entry
    listing.write_text(f"# export of 2026-12-06\n\n{os.path.relpath(files[1], work)}\n"
                       f"{os.path.relpath(folder, work)}\n   \nmissing.dcm\n")
    r = veil("deid", str(listing), str(tmp_path / "out"), "--json", cwd=work)
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert summary["written"] == 4 and summary["files_in"] == 5  # files[1] + the folder's 3, and the missing one
    (q,) = summary["quarantine"]
    assert q["source"] == "missing.dcm" and "No such file" in q["reason"]


def test_a_study_split_across_pseudo_patients_is_reported(tmp_path):
    """The modality fills Issuer of Patient ID, the PACS-made files of the same study do not. Keyed on the
    issuer (patient_key: issuer_and_id, the default: pseudonyms stay what earlier versions made) they
    become two pseudo-patients with two date shifts, and the run says so (JSON and a warning);
    patient_key: id keeps them one patient."""
    files = make_corpus(tmp_path / "in", 4, patients=2)
    for path in files[:2]:  # one file of each patient with the issuer, one without
        ds = pydicom.dcmread(path)
        ds.IssuerOfPatientID = "SPRINGFIELD"
        ds.save_as(path, enforce_file_format=True)
    (tmp_path / "id.yaml").write_text("name: id\nversion: '1'\noptions: [retain_long_modified_dates]\n"
                                      "pseudonyms: {patient_key: id}\n")
    for policy, split in (("research-longitudinal", 2), (str(tmp_path / "id.yaml"), 0)):
        out = tmp_path / f"out-{split}"
        r = veil("deid", str(tmp_path / "in"), str(out), "--policy", policy, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["studies_split"] == split and doc["issuers_merged"] == 0
        assert ("pseudo-patient" in r.stderr) == bool(split), r.stderr
        studies = {p.parent.parent.name: set() for p in out.rglob("*.dcm")}
        for p in out.rglob("*.dcm"):
            studies[p.parent.parent.name].add(p.parent.parent.parent.name)
        assert sum(len(v) > 1 for v in studies.values()) == split
        dates = {pydicom.dcmread(p).StudyDate for p in out.rglob("*.dcm")}
        assert len(dates) == 2 + split  # two studies; a split study has a second date shift


def test_one_pseudo_patient_with_two_issuers_is_reported(tmp_path):
    """Under patient_key: id the same Patient ID from two ID spaces becomes one pseudo-patient: the run
    names it (it may be two people) without any original value; spellings of one issuer are one issuer."""
    files = make_corpus(tmp_path / "in", 4, patients=2)
    policy = tmp_path / "id.yaml"
    policy.write_text("name: id\nversion: '1'\npseudonyms: {patient_key: id}\n")
    for path, issuer in zip(files, ["HOSP_A", "HOSP_B", "hosp_a ", ""], strict=True):
        ds = pydicom.dcmread(path)
        if issuer:
            ds.IssuerOfPatientID = issuer
        ds.save_as(path, enforce_file_format=True)
    r = veil("deid", str(tmp_path / "in"), str(tmp_path / "out"), "--json", "--policy", str(policy))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    # patient 0 (files 0, 2): HOSP_A twice; patient 1 (files 1, 3): HOSP_B and none - neither is two issuers
    assert doc["issuers_merged"] == 0
    ds = pydicom.dcmread(files[2])
    ds.IssuerOfPatientID = "HOSP_C"
    ds.save_as(files[2], enforce_file_format=True)
    r = veil("deid", str(tmp_path / "in"), str(tmp_path / "out2"), "--json", "--policy", str(policy))
    doc = json.loads(r.stdout)
    assert doc["issuers_merged"] == 1 and "two different Issuers" in r.stderr
    assert "HOSP" not in r.stdout + r.stderr
