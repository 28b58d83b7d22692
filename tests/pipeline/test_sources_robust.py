"""Every input is written or quarantined with a reason, whatever the archive or folder holds, and an
archive's staging folder is this run's own.

Before: two runs on one archive shared (and deleted) one staging folder in $TMPDIR, a folder planted there
under the predictable name was processed in place of the archive, an encrypted or corrupt zip member
killed the whole run with a traceback, and FIFOs, sockets, device nodes, a second archive member of the
same name, members under '.veil' and input folders named '.veil' vanished without a report line.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from pathlib import Path

import pytest

from veil.pipeline.sources import Sources, collect, remove_tree, walk

from .test_batch import SECRET, make_corpus, tree_hashes, veil


def _zip(path: Path, members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _quarantine(out: Path) -> list[dict[str, str]]:
    path = out / ".veil" / "quarantine.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _staging_left(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("veil-staging-*"))


# -- 1. each run its own staging folder --------------------------------------------------------------------

def test_two_runs_on_one_archive_never_share_or_remove_each_others_staging(tmp_path):
    """Run A reads half of an archive; run B (another output folder) unpacks, reads and cleans up the same
    archive; A still reads every file (before, B re-unpacked A's folder under it and its cleanup removed
    it: A lost files without a trace and exited 0)."""
    files = make_corpus(tmp_path / "in", 30)
    arc = _zip(tmp_path / "study.zip", [(f.name, f.read_bytes()) for f in files])
    a = collect(arc, tmp_path / "outA")
    b = collect(arc, tmp_path / "outB")
    it = iter(a)
    first = [next(it) for _ in range(15)]
    got_b = list(b)
    assert len(got_b) == 30 and a.staging[0] != b.staging[0]
    b.cleanup()
    assert not b.staging and all(p.exists() for p in first)
    rest = list(it)
    assert len(first) + len(rest) == 30 and all(p.read_bytes() for p in rest)
    a.cleanup()
    assert not first[0].exists()


def test_concurrent_runs_on_one_archive_each_write_every_file(tmp_path):
    files = make_corpus(tmp_path / "in", 300)
    arc = _zip(tmp_path / "study.zip", [(f"s/{f.name}", f.read_bytes()) for f in files], zipfile.ZIP_DEFLATED)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1", "TMPDIR": str(tmp)}
    runs = []
    for name in ("outA", "outB", "outC"):
        runs.append(subprocess.Popen([sys.executable, "-m", "veil.cli", "deid", str(arc), str(tmp_path / name),
                                      "--workers", "1", "--json"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True))
        time.sleep(0.3)
    for p in runs:
        so, se = p.communicate(timeout=600)
        assert p.returncode == 0, se
        doc = json.loads(so)
        assert (doc["files_in"], doc["written"]) == (300, 300)
    assert _staging_left(tmp) == []


# -- 2. a staging folder is trusted only when it is this user's, private and complete for this archive ------

def _planted(tmp: Path, arc: Path, out: Path, uid: int, mode: int) -> Path:
    """A staging folder under the name the run will look for, complete with a marker that names the
    archive as the run would, holding another patient's files instead of the archive's."""
    from veil.pipeline.sources import _members, _staging_dir

    dest = tmp / _staging_dir(arc, out).name
    (dest / "files").mkdir(parents=True)
    make_corpus(dest / "files" / "planted", 3, patients=1)
    st = arc.stat()
    with _members(arc) as (_, _, digest):
        identity = {"archive": os.fsencode(arc.resolve()).hex(), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                    "members": digest}
    (dest / "complete").write_text(json.dumps(identity))
    (dest / ".veil-complete").write_text("")
    for p in [dest, *dest.rglob("*")]:
        os.chown(p, uid, uid)
    os.chmod(dest, mode)
    return dest


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's folder needs root")
@pytest.mark.parametrize(("uid", "mode"), [(65534, 0o777), (65534, 0o700), (0, 0o777)],
                         ids=["other-user-public", "other-user-private", "own-but-public"])
def test_a_staging_folder_this_run_did_not_make_is_never_trusted(tmp_path, uid, mode):
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o1777)
    os.chmod(tmp, 0o1777)
    files = make_corpus(tmp_path / "in", 1)
    arc = _zip(tmp_path / "study.zip", [("real.dcm", files[0].read_bytes())])
    out = tmp_path / "out"
    planted = _planted(tmp, arc, out, uid, mode)
    r = veil("deid", str(arc), str(out), "--json", env_extra={"TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"]) == (1, 1)  # the archive's one member, nothing planted
    assert tree_hashes(out) == tree_hashes(_clean_run(tmp_path, files[0]))
    if uid != 0:  # another user's folder is left alone (not ours to remove), and was not used
        assert len(list((planted / "files").rglob("*.dcm"))) == 3
    assert [p for p in _staging_left(tmp) if p != planted] == []


def _clean_run(tmp_path: Path, f: Path) -> Path:
    single = tmp_path / "single"
    single.mkdir()
    (single / "real.dcm").write_bytes(f.read_bytes())
    assert veil("deid", str(single), str(tmp_path / "ref")).returncode == 0
    return tmp_path / "ref"


def test_staging_is_private_and_reused_only_for_the_same_archive(tmp_path):
    """Made mode 0700; a complete folder is reused (a resume after kill finds its files at the same
    paths); one whose marker does not name the archive (rewritten with the same size and mtime, other
    members) is unpacked again."""
    files = make_corpus(tmp_path / "in", 2)
    one, two = (f.read_bytes() for f in files)
    assert len(one) == len(two)
    arc = _zip(tmp_path / "study.zip", [("a.dcm", one)])
    out = tmp_path / "out"
    s = collect(arc, out)
    staged = list(s)
    dest = staged[0].parent.parent
    st = os.lstat(dest)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    again = collect(arc, out)
    assert list(again) == staged and os.stat(staged[0]).st_ino == os.stat(again.staging[0] / "a.dcm").st_ino
    mtime = arc.stat().st_mtime_ns
    _zip(arc, [("b.dcm", two)])  # same size, other member, same mtime
    os.utime(arc, ns=(mtime, mtime))
    third = collect(arc, out)
    assert [p.name for p in third] == ["b.dcm"]
    assert third.staging[0].joinpath("b.dcm").read_bytes() == two
    for x in (s, again, third):
        x.cleanup()
    assert not dest.exists()


@pytest.mark.slow
def test_kill_minus_9_during_an_archive_run_resumes_from_the_same_staging(tmp_path):
    files = make_corpus(tmp_path / "in", 400)
    arc = _zip(tmp_path / "study.zip", [(f"{f.parent.name}/{f.name}", f.read_bytes()) for f in files])
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1", "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "deid", str(arc), str(out), "--workers", "2",
                             "--policy", "research-longitudinal"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and sum(1 for _ in out.rglob("*.dcm")) < 40:
        time.sleep(0.01)
    assert proc.poll() is None, "the run must be killed part-way"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # its workers see the parent gone and exit
    assert len(_staging_left(tmp)) == 1  # a kill leaves it: the resume finds it
    r = veil("deid", str(arc), str(out), "--workers", "2", "--policy", "research-longitudinal", "--json",
             env_extra={"TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["files_in"] == 400 and doc["resumed"] >= 30  # the same staged paths: journaled files reused
    assert _staging_left(tmp) == []
    clean = veil("deid", str(arc), str(tmp_path / "clean"), "--workers", "2", "--policy", "research-longitudinal")
    assert clean.returncode == 0
    assert tree_hashes(out) == tree_hashes(tmp_path / "clean")
    assert (out / ".veil" / "manifest.jsonl").read_bytes() == (tmp_path / "clean" / ".veil" / "manifest.jsonl"
                                                               ).read_bytes()


# -- 3. a member that cannot be read quarantines its archive; the run goes on -------------------------------

def _patched(path: Path, local: int, central: int, value: bytes) -> None:
    """Overwrite bytes of the (single) member's local header and central directory entry."""
    b = bytearray(path.read_bytes())
    i = b.rfind(b"PK\x03\x04")
    b[i + local:i + local + len(value)] = value
    i = b.rfind(b"PK\x01\x02")
    b[i + central:i + central + len(value)] = value
    path.write_bytes(bytes(b))


def _corrupt_data(path: Path) -> None:
    b = bytearray(path.read_bytes())
    i = b.rfind(b"PK\x03\x04")
    start = i + 30 + int.from_bytes(b[i + 26:i + 28], "little") + int.from_bytes(b[i + 28:i + 30], "little")
    b[start:start + 64] = b"\xff" * 64  # deflate block type 3: invalid
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("damage", ["encrypted", "unsupported-method", "corrupt-deflate"])
def test_an_unreadable_zip_member_quarantines_the_archive_and_the_run_goes_on(tmp_path, damage):
    src = tmp_path / "in"
    files = make_corpus(src, 4)
    arc = src / "m.zip"
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first.dcm", files[0].read_bytes())
        zf.writestr("second.dcm", files[1].read_bytes())
    if damage == "encrypted":
        b = bytearray(arc.read_bytes())
        i = b.rfind(b"PK\x03\x04")
        b[i + 6] |= 1
        i = b.rfind(b"PK\x01\x02")
        b[i + 8] |= 1
        arc.write_bytes(bytes(b))
    elif damage == "unsupported-method":
        _patched(arc, 8, 10, (99).to_bytes(2, "little"))
    else:
        _corrupt_data(arc)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = veil("deid", str(src), str(tmp_path / "out"), "--json", env_extra={"TMPDIR": str(tmp)})
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"], doc["quarantined"]) == (5, 4, 1)
    (q,) = _quarantine(tmp_path / "out")
    assert q["source"] == str(arc) and q["rule"] == "archive"
    assert "cannot unpack archive" in q["reason"] and "second.dcm" in q["reason"], q
    assert not (tmp_path / "out" / ".veil" / "run-in-progress").exists()
    assert _staging_left(tmp) == []  # nothing half unpacked (patient data) left behind


# -- 4. FIFOs, sockets and devices in a folder are quarantined ----------------------------------------------

def test_fifos_sockets_and_devices_in_a_folder_are_quarantined_not_skipped(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 1)
    os.mkfifo(src / "fifo.dcm")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.dcm"))
    special = {"fifo.dcm", "sock.dcm"}
    try:
        os.mknod(src / "zero.dcm", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        special.add("zero.dcm")
    except PermissionError:
        pass
    try:
        r = veil("deid", str(src), str(tmp_path / "out"), "--json", timeout=120)
    finally:
        sock.close()
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"], doc["quarantined"]) == (1 + len(special), 1, len(special))
    rows = _quarantine(tmp_path / "out")
    assert {Path(q["source"]).name: (q["rule"], q["reason"]) for q in rows} == {
        n: ("read", "not a regular file (FIFO, device, socket or folder)") for n in special}


# -- 5. nothing is left out for its name ---------------------------------------------------------------------

def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archive_members_of_one_name_are_all_staged(tmp_path, kind):
    """A zip appended to, or a tar of two folders, can hold two members of one name: the second was
    unpacked over the first (one input lost, exit 0). Each is now staged at a path of its own; a member
    that needs a folder where another is a file is staged too."""
    files = make_corpus(tmp_path / "in", 4)
    data = [f.read_bytes() for f in files]
    members = [("x.dcm", data[0]), ("x.dcm", data[1]), ("./x.dcm", data[2]), ("x.dcm/y.dcm", data[3])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile: "Duplicate name"
        arc = (_zip if kind == "zip" else _tar)(tmp_path / f"dup.{kind}", members)
    s = collect(arc, tmp_path / "o")
    staged = list(s)
    assert sorted(p.read_bytes() for p in staged) == sorted(data)
    s.cleanup()
    r = veil("deid", str(arc), str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"]) == (4, 4)


def test_members_and_folders_named_like_veils_state_are_inputs(tmp_path):
    """'.veil' is skipped only as an output's own state folder: an archive member under '.veil/', one named
    '.veil-complete' and an input sub-folder named '.veil' (an earlier export copied in) are inputs."""
    files = make_corpus(tmp_path / "in", 3)
    data = [f.read_bytes() for f in files]
    arc = _zip(tmp_path / "a.zip", [("a.dcm", data[0]), (".veil/b.dcm", data[1]), ("sub/.veil-complete", data[2])])
    r = veil("deid", str(arc), str(tmp_path / "out-zip"), "--json")
    assert r.returncode == 0, r.stderr
    assert (json.loads(r.stdout)["files_in"], json.loads(r.stdout)["written"]) == (3, 3)
    folder = tmp_path / "folder"
    for rel, d in (("a.dcm", data[0]), ("p1/.veil/b.dcm", data[1]), (".veil/c.dcm", data[2])):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(d)
    r = veil("deid", str(folder), str(tmp_path / "out-folder"), "--json")
    assert r.returncode == 0, r.stderr
    assert (json.loads(r.stdout)["files_in"], json.loads(r.stdout)["written"]) == (3, 3)
    # an output folder's own state (what verify and risk walk) is still not part of it
    out = tmp_path / "out-folder"
    walked = list(walk(out))
    assert walked and all(".veil" not in p.relative_to(out).parts for p in walked)
    assert (folder / "p1" / ".veil" / "b.dcm") in list(walk(folder))


def test_a_list_file_may_name_files_that_are_not_utf8(tmp_path):
    src = tmp_path / "in"
    good = make_corpus(src, 1)[0]
    latin = os.fsdecode(bytes(tmp_path / "in") + b"/M\xfcller.dcm")
    os.rename(good, latin)
    listing = tmp_path / "inputs.lst"
    listing.write_bytes(b"\xef\xbb\xbf# inputs\n" + os.fsencode(latin) + b"\n" + bytes(tmp_path) + b"/gone\xff.dcm\n")
    assert [os.fsencode(p) for p in Sources(listing)] == [os.fsencode(latin), bytes(tmp_path) + b"/gone\xff.dcm"]
    r = veil("deid", str(listing), str(tmp_path / "out"), "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"], doc["quarantined"]) == (2, 1, 1)
    assert "Traceback" not in r.stderr


def test_a_quarantined_archive_member_is_named_by_its_archive_and_member_path(tmp_path):
    """Red team (round 2): quarantine lines named members by the staging folder they were read from
    ($TMPDIR/veil-staging-.../files/a/corrupt.dcm), which is removed when the run ends: nobody could tell
    which archive or member it was."""
    files = make_corpus(tmp_path / "in", 2)
    arc = _zip(tmp_path / "study.zip", [("a/good.dcm", files[0].read_bytes()), ("a/corrupt.dcm", b"DICM" * 10)])
    out = tmp_path / "out"
    r = veil("deid", str(arc), str(out), "--json")
    assert r.returncode == 1, r.stderr
    want = f"{arc}!a/corrupt.dcm"
    assert [q["source"] for q in _quarantine(out)] == [want]
    assert [q["source"] for q in json.loads(r.stdout)["quarantine"]] == [want]
    assert "veil-staging-" not in (out / ".veil" / "quarantine.jsonl").read_text()


def test_a_link_to_a_file_in_the_output_folder_is_reported_not_read_again(tmp_path):
    """Red team (round 2): a symbolic link inside IN to an output in OUT was read as an input, and its
    output de-identified again into OUT. Now it is reported with its reason; other links are inputs."""
    src = tmp_path / "in"
    make_corpus(src, 2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out)).returncode == 0
    written = next(out.rglob("*.dcm"))
    (src / "loop.dcm").symlink_to(written)
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["written"] == 2 and doc["quarantined"] == 1
    assert "output folder" in _quarantine(out)[0]["reason"]
    assert len(list(out.rglob("*.dcm"))) == 2


def test_a_killed_runs_staging_is_removed_once_its_archive_changed(tmp_path):
    """Red team (round 2): after a kill -9 the staging folder (the archive's files, identifiable) stays for
    the resume; once the archive changed (renamed, rebuilt, chmod'ed) its name matched nothing and it stayed
    in $TMPDIR for good. Each run on OUT now removes what earlier runs on OUT wrote down and left."""
    files = make_corpus(tmp_path / "in", 3)
    arc = _zip(tmp_path / "study.zip", [(f.name, f.read_bytes()) for f in files])
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    script = ("import sys; from pathlib import Path; from veil.pipeline.sources import collect; "
              "s = collect(Path(sys.argv[1]), Path(sys.argv[2])); print(len(list(s)))")  # unpacked, never cleaned
    r = subprocess.run([sys.executable, "-c", script, str(arc), str(out)], env=os.environ | env,
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "3", r.stderr
    (left,) = _staging_left(tmp)
    precious = tmp_path / "veil-staging-not-ours"  # lines naming folders Veil did not make are not followed
    precious.mkdir(mode=0o755)
    (out / ".veil").mkdir(parents=True, exist_ok=True)
    with open(out / ".veil" / "staging", "ab") as fh:
        fh.write(os.fsencode(precious).hex().encode() + b"\n" + os.fsencode(tmp_path / "in").hex().encode() + b"\n")
    time.sleep(0.01)
    arc.chmod(0o640)  # the archive's identity (its ctime) changed: another staging folder
    r = veil("deid", str(arc), str(out), "--json", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 3
    assert _staging_left(tmp) == [] and not left.exists()
    assert (tmp_path / "in").is_dir() and len(list((tmp_path / "in").rglob("*.dcm"))) == 3 and precious.is_dir()
    assert not (out / ".veil" / "staging").exists()


def _staged_for(arc: Path, out: Path, tmp: Path) -> Path:
    """An archive unpacked for OUT by a process that never cleans up (a killed run, or one still running)."""
    script = ("import sys; from pathlib import Path; from veil.pipeline.sources import collect; "
              "s = collect(Path(sys.argv[1]), Path(sys.argv[2])); print(len(list(s)))")
    r = subprocess.run([sys.executable, "-c", script, str(arc), str(out)], env=os.environ | {"TMPDIR": str(tmp)},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (staged,) = _staging_left(tmp)
    return staged


def test_a_run_refused_by_the_lock_or_on_a_copy_of_out_removes_no_staging_in_use(tmp_path):
    """Review of 1697163: a second run refused by OUT's lock swept the running run's staging folder (the
    running run then quarantined half its members as unreadable), and so did any run on a copy of OUT (the
    record was copied with it); a hand-written line removed a private folder of Veil's name anywhere."""
    import fcntl

    files = make_corpus(tmp_path / "in", 3)
    arc = _zip(tmp_path / "study.zip", [(f.name, f.read_bytes()) for f in files])
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    staged = _staged_for(arc, out, tmp)
    env = {"TMPDIR": str(tmp)}
    # 1. OUT is held by a running command: the refused run touches nothing
    fd = os.open(out / ".veil" / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = veil("deid", str(tmp_path / "in"), str(out), env_extra=env)
        assert r.returncode == 3 and "another Veil command" in r.stderr
    finally:
        os.close(fd)
    assert staged.is_dir() and (out / ".veil" / "staging").exists()
    # 2. a copy of OUT: its record names the original's folders, which are not its own
    import shutil as sh

    sh.copytree(out, tmp_path / "copy")
    assert veil("deid", str(tmp_path / "in"), str(tmp_path / "copy"), env_extra=env).returncode == 0
    assert staged.is_dir()
    # 3. hand-written lines: a private folder of Veil's name outside $TMPDIR, or inside without OUT's mark
    home = tmp_path / "home" / "veil-staging-thesis"
    home.mkdir(parents=True, mode=0o700)
    (home / "notes.txt").write_text("mine")
    planted = tmp / "veil-staging-planted"
    planted.mkdir(mode=0o700)
    with open(out / ".veil" / "staging", "ab") as fh:
        for p in (home, planted):
            fh.write(os.fsencode(p).hex().encode() + b"\n")
    assert veil("deid", str(tmp_path / "in"), str(out), env_extra=env).returncode == 0
    assert (home / "notes.txt").read_text() == "mine" and planted.is_dir()
    assert not staged.exists()  # the run holding the lock removed what the killed run left for OUT


# -- 5. red team A (sources and archives): damage, depth, permissions, staging that grows -------------------

def _tar(path: Path, members: list[tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _run_json(src: Path, out: Path, tmp: Path, *extra: str) -> tuple[int, dict]:
    tmp.mkdir(exist_ok=True)
    r = veil("deid", str(src), str(out), "--json", *extra, env_extra={"TMPDIR": str(tmp)})
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_a_damaged_tar_header_quarantines_the_archive_not_drops_its_rest(tmp_path):
    """tarfile takes a damaged header after the first for the end of the archive: one flipped byte in
    member 4's header of 10 gave 'files_in 3, written 3', exit 0, and 7 files gone without a word."""
    files = make_corpus(tmp_path / "c", 10)
    arc = _tar(tmp_path / "a.tar", [(f"f{i}.dcm", f.read_bytes()) for i, f in enumerate(files)])
    b = bytearray(arc.read_bytes())
    with tarfile.open(arc) as tf:
        b[tf.getmembers()[3].offset + 150] ^= 0x5A
    arc.write_bytes(bytes(b))
    code, doc = _run_json(arc, tmp_path / "out", tmp_path / "tmp")
    assert code == 1 and (doc["written"], doc["quarantined"]) == (0, 1)
    (q,) = doc["quarantine"]
    assert q["rule"] == "archive" and "damaged archive" in q["reason"] and "after 3 members" in q["reason"]
    assert _staging_left(tmp_path / "tmp") == []


def test_a_corrupted_tar_gz_is_quarantined(tmp_path):
    """tarfile stops at the end-of-archive blocks and never reaches the gzip trailer, so its checksum was
    never checked: a flipped byte in stored (incompressible) member data was de-identified and written."""
    files = make_corpus(tmp_path / "c", 3)
    arc = tmp_path / "a.tar.gz"
    with tarfile.open(arc, "w:gz", compresslevel=0) as tf:
        for i, f in enumerate(files):
            tf.add(f, f"f{i}.dcm")
    b = bytearray(arc.read_bytes())
    b[len(b) // 2] ^= 0x01
    arc.write_bytes(bytes(b))
    code, doc = _run_json(arc, tmp_path / "out", tmp_path / "tmp")
    assert code == 1 and doc["written"] == 0 and doc["quarantine"][0]["rule"] == "archive"
    assert "CRC" in doc["quarantine"][0]["reason"] or "corrupt" in doc["quarantine"][0]["reason"], doc


def test_a_zip_folder_entry_holding_data_is_reported(tmp_path):
    files = make_corpus(tmp_path / "c", 2)
    arc = _zip(tmp_path / "a.zip", [("a.dcm", files[0].read_bytes())])
    with zipfile.ZipFile(arc, "a") as zf:
        zf.writestr(zipfile.ZipInfo("hidden.dcm/"), files[1].read_bytes())
    code, doc = _run_json(arc, tmp_path / "out", tmp_path / "tmp")
    assert code == 1 and "folder entry that holds" in doc["quarantine"][0]["reason"]


def test_a_tree_a_thousand_folders_deep_is_walked_and_its_staging_removed(tmp_path):
    """walk and shutil.rmtree recursed: 1,000 levels raised RecursionError (exit 3), which rmtree's
    ignore_errors does not cover, so the unpacked members stayed in $TMPDIR after every run."""
    f, g = make_corpus(tmp_path / "c", 2)
    deep = "/".join(["d"] * 1000)
    arc = _tar(tmp_path / "deep.tar", [("ok.dcm", f.read_bytes()), (f"{deep}/x.dcm", g.read_bytes())])
    code, doc = _run_json(arc, tmp_path / "out", tmp_path / "tmp")
    assert code == 0 and doc["written"] == 2, doc
    assert _staging_left(tmp_path / "tmp") == []
    folder = here = tmp_path / "in"
    for _ in range(1001):  # one level at a time (Path.mkdir(parents=True) recurses too)
        here.mkdir()
        here = here / "d"
    (here.parent / "x.dcm").write_bytes(f.read_bytes())
    try:
        assert [p.name for p in walk(folder)] == ["x.dcm"]
    finally:
        remove_tree(folder)  # pytest's own clean-up of old runs uses shutil.rmtree, which recurses
    assert not folder.exists()


def test_a_zero_filled_file_is_refused_at_once(tmp_path):
    """pydicom's forced read took 20 MB of zeros (a 20 KB zip) for millions of (0000,0000) elements: 10 s,
    and a 2 GB one would take about 25 minutes."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "zeros.dcm").write_bytes(bytes(20 << 20))
    t = time.monotonic()
    code, doc = _run_json(src, tmp_path / "out", tmp_path / "tmp", "--workers", "1")
    assert code == 1 and "does not begin with a DICOM element" in doc["quarantine"][0]["reason"]
    assert time.monotonic() - t < 8, "zeros are read as elements again"


def test_tmpdir_inside_the_input_is_refused(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 1)
    tmp = src / "tmp"
    tmp.mkdir()
    r = veil("deid", str(src), str(tmp_path / "out"), env_extra={"TMPDIR": str(tmp)})
    assert r.returncode == 2 and "TMPDIR" in r.stderr
    lst = tmp_path / "in.lst"
    lst.write_text(f"{src}\n")
    r = veil("deid", str(lst), str(tmp_path / "out"), env_extra={"TMPDIR": str(tmp)})
    assert r.returncode == 2 and "TMPDIR" in r.stderr


def test_a_list_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "in.lst"
    os.mkfifo(fifo)
    r = veil("deid", str(fifo), str(tmp_path / "out"), timeout=60)
    assert r.returncode == 2 and "not a regular file" in r.stderr


def test_paths_under_a_folder_that_cannot_be_entered_are_quarantined_not_fatal(tmp_path):
    """Path.is_dir()/is_file() raise on EACCES: a list naming a file under such a folder, and a zip in a
    folder that can be listed but not entered, ended the run (exit 3) every time."""
    src = tmp_path / "in"
    files = make_corpus(src, 2)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s.dcm").write_bytes(files[0].read_bytes())
    noenter = src / "noenter"
    noenter.mkdir()
    _zip(noenter / "z.zip", [("a.dcm", files[1].read_bytes())])
    lst = tmp_path / "in.lst"
    lst.write_text(f"{secret / 's.dcm'}\n{files[1]}\n")
    os.chmod(secret, 0o000)
    os.chmod(noenter, 0o444)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1", "TMPDIR": str(tmp_path)}
    try:
        for source in (lst, src):
            out = tmp_path / f"out-{source.name}"
            cmd = [sys.executable, "-m", "veil.cli", "deid", str(source), str(out), "--json"]
            if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it (util-linux setpriv)
                cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
            assert r.returncode == 1, r.stderr
            doc = json.loads(r.stdout)
            assert doc["written"] >= 1 and any("ermission" in q["reason"] for q in doc["quarantine"]), doc
    finally:
        os.chmod(secret, 0o755)
        os.chmod(noenter, 0o755)


def test_an_archives_staging_goes_once_its_files_have_results(tmp_path):
    """Kept to the end of the run, a folder of study zips needed $TMPDIR to hold all of them unpacked (the
    red team's archives past its free space were quarantined). Released, a later duplicate can still be
    read again (reopen)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    files = make_corpus(tmp_path / "c", 6)
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        _zip(src / f"s{k}.zip", [(f"f{i}.dcm", f.read_bytes()) for i, f in enumerate(files[2 * k:2 * k + 2])])
    os.environ["TMPDIR"], old = str(tmp), os.environ.get("TMPDIR")
    import tempfile
    tempfile.tempdir = None
    try:
        sources = collect(src, tmp_path / "out")
        seen, staged = [], []
        for f in sources:
            seen.append(str(f))
            staged.append(len(_staging_left(tmp)))
            sources.finished(str(f))
        assert len(seen) == 6 and max(staged) == 1  # never two archives unpacked at once
        assert _staging_left(tmp) == []
        again = sources.reopen(seen[0])
        assert Path(again).read_bytes() == files[0].read_bytes()
        sources.cleanup()
        assert _staging_left(tmp) == []
    finally:
        if old is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old
        tempfile.tempdir = None


def test_a_killed_dry_runs_staging_is_swept_by_a_later_run(tmp_path):
    """A dry run's staging is recorded nowhere (it writes no output folder): after a kill -9 its unpacked
    members stayed in $TMPDIR for good. Its folder names its process; a later run removes it once that
    process is gone, and never one whose process lives."""
    from veil.pipeline import sources as src_mod

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp / f"{src_mod._process_prefix(dead.pid)}abc"
    alive = tmp / f"{src_mod._process_prefix(os.getppid())}def"
    for d in (orphan, alive):
        (d / "files").mkdir(parents=True)
        (d / "files" / "x.dcm").write_bytes(b"patient data")
        os.chmod(d, 0o700)
    (f,) = make_corpus(tmp_path / "c", 1)
    code, _doc = _run_json(_zip(tmp_path / "a.zip", [("a.dcm", f.read_bytes())]), tmp_path / "out", tmp,
                           "--dry-run")
    assert code == 0
    assert not orphan.exists() and alive.exists()


def test_the_staging_record_keeps_folders_of_another_tmpdir(tmp_path):
    """A run resumed with another $TMPDIR skipped the killed run's folder (not its $TMPDIR) but deleted the
    record line: the folder, with its members, was then never removed."""
    from veil.pipeline.sources import STAGING_PREFIX, _mark_owner, _note_staged, sweep_staged

    out = tmp_path / "out"
    elsewhere = tmp_path / "A"
    elsewhere.mkdir()
    folder = elsewhere / f"{STAGING_PREFIX}0123"
    folder.mkdir(mode=0o700)
    _mark_owner(folder, out.resolve() if out.exists() else out)
    _note_staged(out, folder)
    sweep_staged(out)  # this process's $TMPDIR is not A
    assert folder.exists() and (out / ".veil" / "staging").exists()


def test_a_looping_link_is_reported_as_one(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    os.symlink(src / "loop", src / "loop")
    errors: list[tuple[str, str, str]] = []
    assert list(walk(src, errors)) == []
    assert errors and "loops" in errors[0][1]
