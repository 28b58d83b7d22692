"""A full or read-only output is one clear, fatal error, not a quarantine line per input.

The output location is a real file system of its own (a small tmpfs, mounted by the test), so the
errors are the kernel's: ENOSPC when it fills, EROFS when it is read-only. Freeing space and running
the same command again must end exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from .test_batch import make_corpus, tree_hashes, veil

EXIT_FATAL = 3


def _mount(point: Path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True, capture_output=True)


@contextlib.contextmanager
def small_fs(point: Path, size: str) -> Iterator[Path]:
    point.mkdir(parents=True, exist_ok=True)
    try:
        _mount(point, f"size={size}")
    except (OSError, subprocess.CalledProcessError) as exc:  # not root, or no mount in this sandbox
        pytest.skip(f"cannot mount a tmpfs for the output here ({exc}); CI runs as root and can")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _inputs_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_a_full_output_stops_the_run_and_the_same_command_resumes(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 60)  # ~40 KB each: the 1 MB output fills after about a third of them
    before = _inputs_hash(src)
    ref = tmp_path / "ref"
    assert veil("deid", str(src), str(ref), "--workers", "2").returncode == 0
    with small_fs(tmp_path / "small", "1m") as fs:
        out = fs / "out"
        full = veil("deid", str(src), str(out), "--workers", "2")
        said = " ".join((full.stdout + full.stderr).split())
        assert full.returncode == EXIT_FATAL, said
        assert "No space left on device" in said and "run the same command again" in said, said
        assert "Traceback" not in said
        # nothing partial, and no input blamed for the output's problem
        assert not [p for p in out.rglob("*.part")]
        assert not (out / ".veil" / "quarantine.jsonl").exists()
        written = len(tree_hashes(out))
        assert 0 < written < 60, written  # it did stop part-way
        subprocess.run(["mount", "-o", "remount,size=64m", str(fs)], check=True)
        again = veil("deid", str(src), str(out), "--workers", "2", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads(again.stdout)["resumed"] > 0  # the files finished before the disk filled
        assert tree_hashes(out) == tree_hashes(ref)
        assert (out / ".veil" / "manifest.jsonl").read_bytes() == (ref / ".veil" / "manifest.jsonl").read_bytes()
        assert not [p for p in out.rglob("*.part")]
    assert _inputs_hash(src) == before


@pytest.mark.slow
def test_a_run_stopped_by_a_full_output_is_in_the_audit_log(tmp_path):
    """A run the output stopped had written files and left no audit entry (signals did leave one). Out of
    inodes with room for data, the log (one line appended to an existing file) can still take the entry:
    it records the stop and the files written, the message says so, and the chain still verifies; the
    run that resumes it is recorded after it."""
    every = tmp_path / "every"
    make_corpus(every, 30)
    src = tmp_path / "in"
    first = sorted(every.iterdir())[0]
    shutil.copytree(first, src / first.name)
    with small_fs(tmp_path / "small", "64m") as fs:
        out = fs / "out"
        assert veil("deid", str(src), str(out), "--workers", "2").returncode == 0
        before = set(out.rglob("*.dcm"))
        st = os.statvfs(fs)
        subprocess.run(["mount", "-o", f"remount,nr_inodes={st.f_files - st.f_ffree + 11}", str(fs)], check=True)
        for p in sorted(every.iterdir())[1:]:
            shutil.copytree(p, src / p.name)
        full = veil("deid", str(src), str(out), "--workers", "2", "--json")
        said = " ".join((full.stdout + full.stderr).split())
        assert full.returncode == EXIT_FATAL, said
        assert "No space left on device" in said and "The stopped run is recorded in the audit log" in said, said
        entries = [json.loads(line) for line in (out / ".veil" / "audit.jsonl").read_text().splitlines()]
        stopped = json.loads(full.stdout)  # the one object --json promises, with the counts so far
        assert stopped["exit_code"] == EXIT_FATAL and stopped["written"] == entries[-1]["counts"]["out"]
        assert len(entries) == 2 and entries[1]["extra"]["interrupted"] == "output-failure"
        written = set(out.rglob("*.dcm")) - before
        assert 0 < len(written) < 24 and entries[1]["counts"]["in"] == 30
        # what it wrote (received or only journaled) and the first run's outputs it reused before the stop:
        # how many of those it reached depends on how the inputs were cut into units
        assert entries[1]["counts"]["out"] == len(written) + stopped["resumed"] and stopped["resumed"] <= len(before)
        assert veil("audit", "verify", str(out)).returncode == 0
        subprocess.run(["mount", "-o", "remount,nr_inodes=10000", str(fs)], check=True)
        again = veil("deid", str(src), str(out), "--workers", "2", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        entries = [json.loads(line) for line in (out / ".veil" / "audit.jsonl").read_text().splitlines()]
        assert len(entries) == 3 and "interrupted" not in entries[2]["extra"]
        assert entries[2]["counts"]["out"] == 30 and veil("audit", "verify", str(out)).returncode == 0


def test_a_read_only_output_is_one_clear_error(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 6)
    with small_fs(tmp_path / "ro", "4m") as fs:
        (fs / "out").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        r = veil("deid", str(src), str(fs / "out"))
        said = " ".join((r.stdout + r.stderr).split())
        assert r.returncode == EXIT_FATAL, said
        assert "Read-only file system" in said and "Traceback" not in said, said
        assert os.listdir(fs / "out") == []


def test_an_archive_too_big_for_the_staging_folder_is_refused_before_anything_is_unpacked(tmp_path):
    """4 MB of files in a zip of a few KB, a 1 MB temporary folder: the archive is reported with the room it
    needs and TMPDIR to set, nothing is written to the temporary folder, and the run says so in its exit
    code. (Unpacking used to fill the folder and end in ENOSPC.) With room, the same archive is processed."""
    import zipfile

    files = make_corpus(tmp_path / "in", 3)
    arc = tmp_path / "study.zip"
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            zf.write(p, p.name)
        zf.writestr("padding.bin", bytes(4 << 20))
    assert arc.stat().st_size < 200_000
    with small_fs(tmp_path / "tmp", "1m") as tmp:
        r = veil("deid", str(arc), str(tmp_path / "out"), "--json", env_extra={"TMPDIR": str(tmp)})
        assert list(tmp.iterdir()) == []
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 1, said
    assert "cannot unpack archive" in said and "MB free" in said and "TMPDIR" in said, said
    assert not list((tmp_path / "out").rglob("*.dcm"))
    ok = veil("deid", str(arc), str(tmp_path / "out2"), env_extra={"TMPDIR": str(tmp_path)})
    assert ok.returncode == 1 and len(list((tmp_path / "out2").rglob("*.dcm"))) == 3  # padding.bin: not DICOM


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_one_file_archives_wait_for_room_instead_of_being_quarantined(tmp_path, workers):
    """Red team A (last session): a folder of study zips holding one or two files each had every archive of
    the units read ahead unpacked at once (8 units of 16 files: up to 128 archives), so six 1-file zips of
    4 MB on a 14 MB TMPDIR quarantined three of them for room. An archive that does not fit now waits for
    the files in flight to finish (their archives' staging goes), and is quarantined only if it still
    does not fit; the output is the same as with room to spare."""
    import zipfile

    import numpy as np

    src = tmp_path / "dicom"
    files = make_corpus(src, 6, patients=2)
    for i, f in enumerate(files):  # 4 MB of pixels each, not compressible: the zip is as large as its file
        ds = pydicom.dcmread(f)
        ds.Rows, ds.Columns = 1024, 2048
        ds.PixelData = np.random.default_rng(i).integers(0, 4096, (1024, 2048), dtype=np.uint16).tobytes()
        ds.save_as(f, enforce_file_format=True)
    zips = tmp_path / "zips"
    zips.mkdir()
    for i, f in enumerate(files):
        with zipfile.ZipFile(zips / f"study{i}.zip", "w", zipfile.ZIP_STORED) as zf:
            zf.write(f, f"DICOM/{f.name}")
    ref = tmp_path / "ref"
    assert veil("deid", str(zips), str(ref), "--workers", workers).returncode == 0
    with small_fs(tmp_path / "tmp", "14m") as tmp:
        out = tmp_path / "out"
        r = veil("deid", str(zips), str(out), "--workers", workers, "--json", env_extra={"TMPDIR": str(tmp)})
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["written"] == 6
        assert tree_hashes(out) == tree_hashes(ref)
        assert list(tmp.iterdir()) == []  # every staging folder released
    with small_fs(tmp_path / "tiny", "3m") as tiny:  # no room even with nothing in flight: quarantined
        r = veil("deid", str(zips), str(tmp_path / "out2"), "--workers", workers, "--json",
                 env_extra={"TMPDIR": str(tiny)})
        said = json.loads(r.stdout)
        assert r.returncode == 1 and said["written"] == 0 and said["quarantined"] == 6
        assert all("TMPDIR" in q["reason"] for q in said["quarantine"])


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is installed by .ci/run")
def test_a_review_record_that_cannot_be_written_stops_the_run_and_blames_no_input(tmp_path):
    """The pixel pass writes a review record after the output; a read-only (or full) record folder is
    the output's problem: the run stops with one clear error. Before, the input was quarantined as an
    'internal' error, and the run went on without a record of what was blanked."""
    from tests.pixels.conftest import pixel_policy
    from tests.pixels.test_decoded_bound import _cine

    from veil.errors import OutputError
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.pixels.hook import RECORD_DIR
    from veil.policy.plan import compile_plan

    src = tmp_path / "in" / "burned.dcm"
    src.parent.mkdir()
    _cine(src, 2)
    out = tmp_path / "out"
    with small_fs(out / RECORD_DIR, "1m") as records:
        subprocess.run(["mount", "-o", "remount,ro", str(records)], check=True)
        with pytest.raises(OutputError, match="Read-only file system"):
            run([src], out, compile_plan(pixel_policy()), Keyed(b"k" * 32))
    assert not (out / ".veil" / "quarantine.jsonl").exists()
    assert not list(out.rglob("*.part"))


def test_a_report_that_fills_the_disk_leaves_the_old_one_and_no_partial_file(tmp_path):
    """The manifest is written last, one line per output: a disk that fills then (the run's very end)
    must leave the previous manifest whole and no ``manifest.jsonl.part`` (hundreds of MB at archive
    scale) behind."""
    import errno

    from veil.pipeline.runner import _write_lines

    with small_fs(tmp_path / "state", "64k") as fs:
        manifest = fs / "manifest.jsonl"
        manifest.write_text('{"earlier": "run"}\n', encoding="utf-8")
        with pytest.raises(OSError) as caught:
            _write_lines(manifest, (json.dumps({"output": f"line {i}" * 4}) for i in range(20_000)))
        assert caught.value.errno == errno.ENOSPC
        assert manifest.read_text(encoding="utf-8") == '{"earlier": "run"}\n'
        assert sorted(p.name for p in fs.iterdir()) == ["manifest.jsonl"]


def test_a_journal_line_the_disk_cuts_short_is_cut_off(tmp_path, monkeypatch):
    """Red team A (this session): a journal line cut short by a full disk stayed in a buffered file and was
    written whole when the worker closed it - after the output it names had been removed - and its rule
    list's number was taken as defined. A failed line is now cut off, and its rule list is defined again
    by the next line."""
    import errno

    from veil.identity.keyed import Keyed
    from veil.pipeline import runner
    from veil.pipeline.instance import FileResult

    out, keyed = tmp_path / "out", Keyed(b"k" * 32)
    fired = (("00100010", "P", "pseudonym", 1),)
    r = FileResult(str(tmp_path / "a.dcm"), "ok", "P/a.dcm", output_sha256="sha", fired=fired)
    real = os.write
    try:
        runner._journal_write(out, r, "run", "1:2:3:4", keyed, 1)
        (path,) = (out / ".veil" / "journal").glob("*.jsonl")
        before = path.read_bytes()

        def half(fd: int, data) -> int:  # type: ignore[no-untyped-def]
            monkeypatch.setattr(os, "write", real)
            real(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")

        other = FileResult(str(tmp_path / "b.dcm"), "ok", "P/b.dcm", output_sha256="sha",
                           fired=(("00100020", "P", "pseudonym", 1),))
        monkeypatch.setattr(os, "write", half)
        with pytest.raises(OSError):
            runner._journal_write(out, other, "run", "1:2:3:4", keyed, 1)
        assert path.read_bytes() == before
        runner._journal_write(out, other, "run", "1:2:3:4", keyed, 1)
        last = json.loads(path.read_text().splitlines()[-1])
        assert last["fired_id"] == 1 and last["fired"]  # defined here, not referred to
        assert [res.output for _key, _stamp, res in runner.journal_records(out, "run")] == ["P/a.dcm", "P/b.dcm"]
    finally:
        while runner._journals:
            os.close(runner._journals.popitem()[1])
        runner._journal_fired.clear()


def test_a_stopped_runs_count_is_the_files_on_disk_when_inputs_share_an_instance(tmp_path):
    """Red team A (this session): two inputs with one SOPInstanceUID are one file on disk, but a stopped run
    (not settled yet) counted both, received or journaled: its audit entry said 1,236 written with 1,220
    on disk. Written is the number of distinct outputs."""
    from veil.identity.keyed import Keyed
    from veil.pipeline import runner
    from veil.pipeline.instance import FileResult

    out, keyed = tmp_path / "out", Keyed(b"k" * 32)
    summary = runner.RunSummary()
    summary.results.put(0, FileResult(str(tmp_path / "a.dcm"), "ok", "P/S/E/x.dcm", output_sha256="s1"))
    summary.results.put(1, FileResult(str(tmp_path / "b.dcm"), "ok", "P/S/E/x.dcm", output_sha256="s2"))
    summary.results.put(2, FileResult(str(tmp_path / "c.dcm"), "ok", "P/S/E/y.dcm", output_sha256="s3"))
    try:  # journaled by a worker, not received: z twice (a duplicate), y again (received too)
        for name, output in (("d", "P/S/E/z.dcm"), ("e", "P/S/E/z.dcm"), ("c", "P/S/E/y.dcm")):
            runner._journal_write(out, FileResult(str(tmp_path / f"{name}.dcm"), "ok", output,
                                                  output_sha256="s"), "run", "1:2:3:4", keyed, 1)
    finally:
        while runner._journals:
            os.close(runner._journals.popitem()[1])
        runner._journal_fired.clear()
    runner._count(summary)
    assert summary.written == 2
    runner._count_journaled(out, {}, summary)
    assert summary.written == 3  # x, y, z
