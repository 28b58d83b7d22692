"""Where instances come from: a folder (recursive), a single file, a list file, or zip/tar archives.

Every input is either yielded (the runner writes or quarantines it) or reported in ``Sources.errors``
(quarantined with its reason): nothing met on the way is silently left out - not a FIFO, socket or device
node, not a folder named ``.veil`` inside an input, not an archive member whose name another member has.

Archives are unpacked into a staging folder in ``$TMPDIR``. For a run that writes an output folder, its name
is derived from the user, the archive (real path, size, mtime) *and the output folder*: a re-run after a
kill finds the same staged files (same paths, so the journal resumes them), and no two runs share one (one
command at a time writes to an output folder: its lock). The folder is made mode 0700, and one that exists
already is reused only when it is this user's, a folder (not a link), private (no group or other bits) and
its completion marker names this archive (size, mtime and a hash of its member list); anything else is
never trusted: it is removed when it is this user's, else a private folder of a random name is used.
Without an output folder (a dry run, an inventory, a release) every run unpacks into a private folder of
its own. Members that would escape the staging folder (absolute paths, '..', links, devices) refuse the
whole archive: extraction is the classic way an untrusted archive writes where it should not.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from veil.errors import InputError, VeilError, scrub
from veil.pipeline import partfiles
from veil.pipeline.pool import DRAIN

STATE_DIR = ".veil"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
LIST_SUFFIXES = (".lst", ".list")
#: Staging folders in $TMPDIR are named ``veil-staging-<key>``.
STAGING_PREFIX = "veil-staging-"
#: Inside a staging folder: the archive's files, and the marker written once all of them are there.
_FILES, _MARKER = "files", "complete"
#: The reason a FIFO, socket or device node is quarantined (the same as the reader's, instance.process_file).
NOT_REGULAR = "not a regular file (FIFO, device, socket or folder)"


class NoRoom(InputError):
    """An archive's files do not fit in the staging file system ($TMPDIR) now (rule ``archive``)."""


def is_archive(path: Path) -> bool:
    """An archive by its name, and a file. One that cannot be looked at (a folder on its way that cannot be
    entered) is not taken for one: the reader quarantines it with its reason, where the stat's error
    stopped the whole run."""
    name = path.name.lower()
    if not name.endswith(ARCHIVE_SUFFIXES):  # the name first: no stat per DICOM file
        return False
    try:
        return path.is_file()
    except OSError:
        return False


def is_list_file(path: Path) -> bool:
    """A list file by its name (``.lst``, ``.list``, ``*.files.txt``); a folder of that name is a folder."""
    name = path.name.lower()
    return (name.endswith(LIST_SUFFIXES) or name.endswith(".files.txt")) and not path.is_dir()


@dataclass
class Sources:
    """The files of one run, found while they are read: a walk, never a list, so the runner's memory does
    not follow the number of files. Archives are unpacked when the walk meets them; their staging folders
    (to remove once the run has finished: :meth:`cleanup`) and what could not be read are collected on the
    way. `out_dir`: the output folder of the run, which names its staging folders so that a re-run resumes
    (None: each archive in a private folder of its own, for commands that write no output folder)."""

    spec: Path
    out_dir: Path | None = None
    #: the folders the archives' files were unpacked to
    staging: list[Path] = field(default_factory=list)
    #: (source, reason, rule) for archives that could not be unpacked, folders that could not be listed and
    #: entries that are not files (FIFOs, sockets, devices)
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    #: staging folders this run made or took over: removed by cleanup() (also one that is half unpacked)
    owned: list[Path] = field(default_factory=list, repr=False)
    #: the archive each staging folder's files came from
    origins: dict[str, str] = field(default_factory=dict, repr=False)
    #: per staging folder of files: files yielded whose result the runner has not reported (:meth:`finished`)
    _pending: dict[str, int] = field(default_factory=dict, repr=False)
    #: per staging folder of files: walks of it under way (an archive listed twice is walked twice)
    _walking: dict[str, int] = field(default_factory=dict, repr=False)
    #: yield :data:`DRAIN` before trying again an archive that did not fit while other archives' files were
    #: in flight (the runner sets it when it reports every result as it comes: :meth:`finished`)
    drains: bool = False
    #: a whole walk has been made (:meth:`again`)
    _walked: bool = field(default=False, repr=False)

    @property
    def files(self) -> Iterator[Path]:
        return iter(self)

    def __iter__(self) -> Iterator[Path]:
        into = None if self.out_dir is None else os.path.realpath(self.out_dir)
        for p in _entries(self.spec, self.errors, into):
            if not is_archive(p):
                yield p
                continue
            try:
                try:
                    staged = unpack(p, self.out_dir, self.owned)
                except NoRoom:
                    if not (self.drains and self._pending):
                        raise
                    yield DRAIN  # pool.DRAIN: the files in flight finish and their archives' staging goes: room again?
                    staged = unpack(p, self.out_dir, self.owned)
            except InputError as exc:
                if (str(p), exc.reason, "archive") not in self.errors:
                    self.errors.append((str(p), exc.reason, "archive"))
                continue
            if staged not in self.staging:
                self.staging.append(staged)
            root = str(staged)
            self.origins[root] = str(p)
            self._walking[root] = self._walking.get(root, 0) + 1
            self._pending.setdefault(root, 0)
            try:
                for f in walk(staged, self.errors, state_dir=False):  # a member named .veil is a member
                    self._pending[root] += 1
                    yield f
            finally:
                self._walking[root] -= 1
            self._release_if_done(root)
        self._walked = True

    def finished(self, source: str) -> None:
        """The runner has the result of `source`: once every file of an archive has one, its staging folder
        is removed. Kept to the end of the run, a folder of study zips needed $TMPDIR to hold all of them
        unpacked at once (archives past its size were quarantined for want of room)."""
        for root in self._pending:
            if source.startswith(root + os.sep):
                self._pending[root] -= 1
                self._release_if_done(root)
                return

    def _release_if_done(self, root: str) -> None:
        if self._pending.get(root, 1) > 0 or self._walking.get(root, 0) > 0:
            return
        del self._pending[root]
        self._walking.pop(root, None)
        staged = Path(root)
        with contextlib.suppress(ValueError):
            self.staging.remove(staged)
        if staged.parent in self.owned:
            self.owned.remove(staged.parent)
            remove_tree(staged.parent)

    def reopen(self, source: str) -> str:
        """The path of `source` to read again after the loop (a duplicate settled at the end): a file of an
        archive whose staging folder was released is unpacked again (the same folder for a run with an
        output folder)."""
        if os.path.exists(source):
            return source
        for root, archive in self.origins.items():
            if source.startswith(root + os.sep):
                with contextlib.suppress(InputError):
                    again = unpack(Path(archive), self.out_dir, self.owned)
                    if again not in self.staging:
                        self.staging.append(again)
                    return str(again) + source[len(root):]
        return source

    def describe(self, source: str) -> str:
        """`source` as a report names it: a file unpacked from an archive as ``archive!member/path`` (its
        staging folder is removed when the run ends: a quarantine line naming it could not be followed
        up); any other path as it is."""
        for staged, archive in self.origins.items():
            if source.startswith(staged + os.sep):
                return f"{archive}!{source[len(staged) + 1:]}"
        return source

    def again(self) -> Iterator[Path]:
        """The files once more, for a second pass over the same input (verify pairs outputs with inputs, then
        reads their identifiers; the release gate reads those of its run): before a whole walk, a walk
        (unpacking archives); after one, the staging folders already unpacked, so a file has the same path
        in every pass (an output is paired with the path its dates are kept under). An archive that could
        not be unpacked, or whose folder was released (:meth:`finished`), yields nothing."""
        if not self._walked:
            yield from self
            return
        roots: dict[str, list[str]] = {}
        for root, archive in self.origins.items():
            roots.setdefault(archive, []).append(root)
        for p in _entries(self.spec):
            if not is_archive(p):
                yield p
                continue
            for root in roots.get(str(p), []):
                if os.path.isdir(root):
                    yield from walk(Path(root), state_dir=False)

    def count(self) -> int:
        """How many entries a walk meets, without unpacking (an archive counts once): for progress bars."""
        return sum(1 for _ in _entries(self.spec))

    def cleanup(self, sweep: bool = False) -> None:
        """Remove the staging folders of this run (idempotent). `sweep`: also those of earlier runs on the
        same output folder that were killed (kill -9, a power cut) before they could (:func:`sweep_staged`);
        only the runner asks, while it holds OUT's lock (a run refused by the lock must not touch the
        folders of the run that holds it)."""
        while self.owned:
            remove_tree(self.owned.pop())
        self.staging.clear()
        if sweep and self.out_dir is not None:
            sweep_staged(self.out_dir)
        sweep_orphans()

    def cleanup_and_sweep(self) -> None:
        """:meth:`cleanup` with the sweep: the runner's end-of-run callback, called under OUT's lock."""
        self.cleanup(sweep=True)


def walk(folder: Path, errors: list[tuple[str, str, str]] | None = None, *, state_dir: bool = True,
         into: str | None = None) -> Iterator[Path]:
    """Every regular file under `folder` in a stable order: a folder's files (sorted by name), then its
    sub-folders (sorted).

    `state_dir`: `folder` is an output folder, whose own state folder (``folder/.veil``) is not walked. A
    folder named ``.veil`` anywhere else is walked like any other (an input's: ``veil deid`` walks its
    inputs with ``state_dir=False``).

    A symbolic link to a file is listed under its own name (DataLad/git-annex datasets and symlink farms
    are links to the archive's files: before, such a dataset gave zero files, silently). Links to folders
    are not followed (a link to '..' or '/' would walk for ever or leave the input), a link whose target is
    missing (annexed content not fetched) is not a file, and neither is a FIFO, a socket or a device node
    (reading one blocks or never ends): all are added to `errors` as (path, reason, "read"), like a folder
    that cannot be listed, so nothing is silently left out. `into`: the run's output folder (resolved); a
    link to a file in it is reported, not read (an output would be de-identified again, into OUT itself).
    File types come from the directory entries (scandir): a stat only for links.
    """
    pending = [folder]  # folders still to list, the next one last (a stack: depth first, without recursion:
    while pending:  # a member 1,000 folders deep ended the run with a RecursionError)
        here = pending.pop()
        subfolders = []
        for e in _listed(here, errors):
            if e.is_file(follow_symlinks=False):
                yield here / e.name
            elif e.is_symlink():
                if _link_to_file(e, errors, into):
                    yield here / e.name  # a file, or something the reader refuses with its reason (FIFO, device)
            elif e.is_dir(follow_symlinks=False):
                if not (state_dir and here == folder and e.name == STATE_DIR):
                    subfolders.append(here / e.name)
            elif errors is not None:  # a FIFO, socket or device node (or an entry gone since it was listed)
                errors.append((e.path, NOT_REGULAR, "read"))
        pending.extend(reversed(subfolders))


def _listed(folder: Path, errors: list[tuple[str, str, str]] | None) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        if errors is not None:
            errors.append((str(folder), f"cannot list folder: {exc.strerror or exc}", "read"))
        return []


def _link_to_file(e: os.DirEntry[str], errors: list[tuple[str, str, str]] | None, into: str | None) -> bool:
    """Whether the symbolic link `e` is to be read as a file; else why not is added to `errors`."""
    reason = None
    try:
        target = os.stat(e.path)
    except OSError as exc:
        reason = ("symbolic link whose target is missing (annexed content not fetched?)"
                  if exc.errno in (errno.ENOENT, errno.ENOTDIR) else
                  "symbolic link that loops" if exc.errno == errno.ELOOP else
                  f"symbolic link whose target cannot be read: {exc.strerror or exc}")
    else:
        if stat.S_ISDIR(target.st_mode):
            reason = "symbolic link to a folder: not followed (give the folder itself as an input)"
        elif into is not None and os.path.realpath(e.path).startswith(into + os.sep):
            reason = "symbolic link to a file in the output folder: not read (an output would be de-identified again)"
    if reason is not None and errors is not None:
        errors.append((e.path, reason, "read"))
    return reason is None


def remove_tree(path: Path | str) -> None:
    """Remove a folder and everything in it, ignoring errors, without recursion (shutil.rmtree recurses:
    a staging folder 1,000 levels deep raised RecursionError, which ignore_errors does not cover, and the
    unpacked members - identifiable - stayed in $TMPDIR). Links are removed, never followed."""
    top = os.fspath(path)
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            os.unlink(top)
            return
    except OSError:
        return
    stack = [(top, False)]
    while stack:
        here, listed = stack.pop()
        if listed:
            with contextlib.suppress(OSError):
                os.rmdir(here)
            continue
        stack.append((here, True))
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append((e.path, False))
            else:
                with contextlib.suppress(OSError):
                    os.unlink(e.path)


# -- archives ----------------------------------------------------------------------------------------------

#: One member to stage: its path in the archive (normalised parts), mtime (s, or None) and a reader.
_Member = tuple[tuple[str, ...], float | None, Callable[[], IO[bytes]]]


def _member_parts(name: str) -> tuple[str, ...] | None:
    """The path of a member as folder names (``.``, empty parts dropped), or None when it would escape
    the staging folder (absolute, '..') or names nothing (blank)."""
    if name.startswith("/") or "\x00" in name or not name.strip():
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if not parts or ".." in parts or Path(name).is_absolute():
        return None
    return parts


def _zip_time(info: zipfile.ZipInfo) -> float | None:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


@contextlib.contextmanager
def _members(archive: Path) -> Iterator[tuple[list[_Member], int, str]]:
    """The archive's file members (refusing any that would escape, or a link, device or FIFO), the bytes
    they take once unpacked (from the archive's own index: zip's central directory, where extraction
    never writes more than a member's declared size, or the tar headers) and a hash of the member list."""
    h = hashlib.sha256()
    out: list[_Member] = []
    need = 0
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                h.update(json.dumps([info.filename, info.file_size, info.CRC, info.compress_type, info.flag_bits,
                                     info.date_time]).encode() + b"\n")
                if info.is_dir():
                    if info.file_size:  # a name ending in '/' that holds bytes: unpacked as nothing, silently
                        raise InputError(f"archive member is a folder entry that holds {info.file_size} bytes: "
                                         f"{info.filename!r}", "archive")
                    continue
                parts = _member_parts(info.filename)
                if parts is None:
                    raise InputError(f"archive member escapes the archive: {info.filename!r}", "archive")
                need += info.file_size

                def open_member(info: zipfile.ZipInfo = info) -> IO[bytes]:
                    return zf.open(info)  # an encrypted member, or one of an unknown method, raises here

                out.append((parts, _zip_time(info), open_member))
            yield out, need, h.hexdigest()
        return
    with tarfile.open(archive) as tf:
        for m in tf.getmembers():
            h.update(json.dumps([m.name, m.size, m.type.decode("latin-1"), m.mtime, m.mode],
                                ensure_ascii=True).encode() + b"\n")
            if m.isdir():  # a folder entry unpacks as nothing (as zip's): "./" of `tar -C DIR .` is not refused
                continue
            parts = _member_parts(m.name)
            if not m.isfile() or parts is None:
                raise InputError(f"archive member refused (link, device or unsafe path): {m.name!r}", "archive")
            need += m.size

            def reader(m: tarfile.TarInfo = m) -> IO[bytes]:
                fh = tf.extractfile(m)
                if fh is None:  # not a file after all
                    raise InputError(f"archive member refused (not a file): {m.name!r}", "archive")
                return fh

            out.append((parts, float(m.mtime), reader))
        _check_tar_end(tf)
        yield out, need, h.hexdigest()


def _check_tar_end(tf: tarfile.TarFile) -> None:
    """Nothing but zeros after the last member tarfile listed, read to the end of the (decompressed) stream.

    tarfile takes a damaged header after the first for the end of the archive: one flipped byte in member
    4's header of 10 dropped members 4-10 without a word (GNU tar reports it). Reading on to the end also
    makes gzip, bzip2 and xz check their stream's checksum, which tarfile never reaches (it stops at the
    end-of-archive blocks): a corrupted .tar.gz was de-identified and written."""
    fo = tf.fileobj
    assert fo is not None
    fo.seek(tf.offset)
    at = tf.offset
    while chunk := fo.read(1 << 20):
        if chunk.strip(b"\0"):
            where = at + len(chunk) - len(chunk.lstrip(b"\0"))
            raise InputError(f"damaged archive: unreadable tar header at byte {where} after {len(tf.getmembers())} "
                             "members (the members after it would be lost)", "archive")
        at += len(chunk)


def _placed(members: list[_Member]) -> list[_Member]:
    """Each member at a path of its own. Archives may hold two members of one name (a zip appended to, a
    tar of two folders): unpacking the second over the first lost it, silently. A member whose path is
    taken (by a file, or by a folder another member needs, or one that needs a folder where a file is) is
    staged under ``duplicate-<n>/`` (a top-level name no member has) with its own path below it."""
    tops = {parts[0] for parts, _, _ in members}
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()

    def taken(p: tuple[str, ...]) -> bool:
        return p in files or p in folders or any(p[:i] in files for i in range(1, len(p)))

    out: list[_Member] = []
    for parts, mtime, read in members:
        p, n = parts, 1
        while taken(p):
            n += 1
            top = f"duplicate-{n}"
            while top in tops:
                top += "~"
            p = (top, *parts)
        files.add(p)
        folders.update(p[:i] for i in range(1, len(p)))
        out.append((p, mtime, read))
    return out


def _staging_dir(archive: Path, out_dir: Path) -> Path:
    """The staging folder of `archive` for a run writing `out_dir` by this user: the same for the same
    command (a re-run resumes), another for another output folder or another user."""
    st = archive.stat()
    ident = "\x00".join((str(os.getuid()), str(archive.resolve()), str(st.st_size), str(st.st_mtime_ns),
                         str(st.st_ctime_ns), str(st.st_ino), str(out_dir.resolve())))
    key = hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"{STAGING_PREFIX}{key}"


#: OUT/.veil/staging: the staging folders runs writing OUT made, one path per line (see sweep_staged).
STAGING_RECORD = "staging"


#: Inside a staging folder made for a run with an output folder: that folder's real path (see sweep_staged).
_OWNER = "out"


def _note_staged(out_dir: Path, dest: Path) -> None:
    """Write down `dest` before anything is unpacked into it. A killed run's staging folder was named after
    the archive's identity; once the archive changed (renamed, rebuilt, its permissions fixed) no run
    looked for it again, and the unpacked files - identifiable - stayed in $TMPDIR for good."""
    record = out_dir / STATE_DIR / STAGING_RECORD
    os.makedirs(record.parent, exist_ok=True)
    with open(record, "ab") as fh:
        fh.write(os.fsencode(dest).hex().encode("ascii") + b"\n")


def _mark_owner(dest: Path, out_dir: Path) -> None:
    """Name the output folder in `dest` (made private just now, before anything is unpacked into it)."""
    fd = os.open(dest / _OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.fsencode(os.path.realpath(out_dir)))


def _owned_by(path: str, out_dir: Path) -> bool:
    try:
        fd = os.open(os.path.join(path, _OWNER), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            return fh.read(1 << 16) == os.fsencode(os.path.realpath(out_dir))
    except OSError:
        return False


def sweep_staged(out_dir: Path) -> None:
    """Remove every staging folder written down for `out_dir` (:func:`_note_staged`) that is still there.
    Called by the runner at the end of a run, while it holds OUT's lock, after the run's own are gone: what
    is left is a killed run's. A line is followed only to a folder Veil made for this very output folder:
    in this $TMPDIR, of Veil's name, this user's, private, not a link, naming OUT's real path inside (a copy
    of OUT, whose record lists the original's folders, or a hand-written line, removes nothing)."""
    record = out_dir / STATE_DIR / STAGING_RECORD
    try:
        lines = record.read_bytes().splitlines()
    except OSError:
        return
    tmp = os.path.realpath(tempfile.gettempdir())
    kept: list[bytes] = []  # folders in another $TMPDIR (a run resumed elsewhere): still to remove, later
    for line in lines:
        try:
            path = os.fsdecode(bytes.fromhex(line.decode("ascii")))
        except ValueError:
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue  # gone
        if not (os.path.basename(path).startswith(STAGING_PREFIX) and _is_private(st) and _owned_by(path, out_dir)):
            continue  # not a folder Veil made for this output folder: nothing to do with it, ever
        if os.path.realpath(os.path.dirname(path)) == tmp:
            remove_tree(path)
        elif line not in kept:
            kept.append(line)
    with contextlib.suppress(OSError):
        if kept:
            partfiles.replace_with(record, b"".join(k + b"\n" for k in kept))
        else:
            record.unlink()


def _is_private(st: os.stat_result) -> bool:
    """A folder (not a link) of this user's that no one else may enter or write."""
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _complete(dest: Path, identity: dict[str, object]) -> bool:
    """`dest` holds this archive, unpacked whole by this user: it is this user's and private (so only this
    user wrote in it), and its marker, written after the last member, names this archive."""
    try:
        if not (_is_private(os.lstat(dest)) and _is_private(os.lstat(dest / _FILES))):
            return False
        fd = os.open(dest / _MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            return bool(json.loads(fh.read(1 << 16)) == identity)
    except (OSError, ValueError):
        return False


def _new_staging(dest: Path | None) -> Path:
    """An empty private folder for unpacking: `dest` (what was there removed when it is this user's; a
    folder or link of another user's is never used), else one of a random name."""
    if dest is not None:
        with contextlib.suppress(OSError):
            st = os.lstat(dest)
            if st.st_uid == os.getuid():  # an unpack that was cut short, a changed archive, a folder made public
                if stat.S_ISDIR(st.st_mode):
                    remove_tree(dest)
                else:
                    os.unlink(dest)
        try:
            os.mkdir(dest, 0o700)
            os.chmod(dest, 0o700)
            return dest
        except OSError:  # another user's folder (or what could not be removed): not ours to trust
            pass
    return Path(tempfile.mkdtemp(prefix=_process_prefix()))


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "0"


def _process_prefix(pid: int | None = None) -> str:
    """The name of a staging folder no output folder records (a dry run's, an inventory's): it carries the
    process that made it, so a later run can tell one whose process was killed (:func:`sweep_orphans`)."""
    return f"{STAGING_PREFIX}pid{_pid_namespace()}-{os.getpid() if pid is None else pid}-"


def sweep_orphans() -> None:
    """Remove the staging folders of killed runs that wrote no output folder (kill -9 of a dry run left
    its unpacked members, identifiable, in $TMPDIR for good): in this $TMPDIR, of this user's, private, made
    by a process of this PID namespace that no longer exists. A process that exists (or a PID namespace
    other than this one: another container sharing $TMPDIR) keeps its folder."""
    head = f"{STAGING_PREFIX}pid{_pid_namespace()}-"
    tmp = tempfile.gettempdir()
    try:
        with os.scandir(tmp) as it:
            names = [e.name for e in it if e.name.startswith(head)]
    except OSError:
        return
    for name in names:
        pid = name[len(head):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except OSError:
            continue  # alive, another user's
        path = os.path.join(tmp, name)
        with contextlib.suppress(OSError):
            if _is_private(os.lstat(path)):
                remove_tree(path)


def unpack(archive: Path, out_dir: Path | None = None, owned: list[Path] | None = None) -> Path:
    """Unpack `archive` and return the folder of its files.

    With `out_dir` (the run's output folder) the staging folder is named after the archive, the output
    folder and the user, and a complete one is reused (a re-run after a kill); without, it is a new
    private folder. The staging folder (the parent of the returned one) is added to `owned` as soon as it
    exists, so that the caller removes it even when the unpack is cut short (Ctrl-C). Any failure - a
    corrupt, truncated, encrypted or unsupported member, a full temporary folder - raises InputError
    (rule ``archive``) with nothing left unpacked.
    """
    try:
        return _unpack(archive, out_dir, owned if owned is not None else [])
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot unpack archive: {_describe(exc)}", "archive") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    text = scrub(str(exc)) or type(exc).__name__
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return "encrypted (password protected): not read"
    if isinstance(exc, NotImplementedError):
        return f"compression method not supported ({text})"
    if isinstance(exc, (zlib.error, lzma.LZMAError)):
        return f"corrupt compressed data ({text})"
    if isinstance(exc, (zipfile.BadZipFile, tarfile.TarError, EOFError)):
        return text
    return f"{type(exc).__name__}: {text}"


def _unpack(archive: Path, out_dir: Path | None, owned: list[Path]) -> Path:
    st = archive.stat()
    with _members(archive) as (members, need, digest):
        identity: dict[str, object] = {"archive": os.fsencode(archive.resolve()).hex(), "size": st.st_size,
                                       "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino,
                                       "members": digest}
        dest = None if out_dir is None else _staging_dir(archive, out_dir)
        if dest is not None and _complete(dest, identity):
            if dest not in owned:
                owned.append(dest)
            return dest / _FILES
        _check_room(need, Path(tempfile.gettempdir()))
        planned = dest
        if out_dir is not None and planned is not None:
            _note_staged(out_dir, planned)
        dest = _new_staging(planned)
        if out_dir is not None and dest != planned:
            _note_staged(out_dir, dest)  # a random name: another user's folder had the usual one
        owned.append(dest)
        try:
            if out_dir is not None:
                _mark_owner(dest, out_dir)
            root = dest / _FILES
            os.mkdir(root, 0o700)
            for parts, mtime, read in _placed(members):
                try:
                    _extract(root, parts, mtime, read)
                except Exception as exc:
                    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise NoRoom(f"cannot unpack archive: {_describe(exc)} (set TMPDIR to a larger file "
                                     "system)", "archive") from exc  # filled meanwhile by another program
                    if isinstance(exc, InputError) or (isinstance(exc, OSError) and exc.filename):
                        raise
                    raise InputError(f"cannot unpack archive: member {'/'.join(parts)!r}: {_describe(exc)}",
                                     "archive") from exc
            with open(dest / _MARKER, "w", encoding="utf-8") as fh:
                json.dump(identity, fh)
        except BaseException:
            remove_tree(dest)
            raise
        return root


def _extract(root: Path, parts: tuple[str, ...], mtime: float | None, read: Callable[[], IO[bytes]]) -> None:
    """One member, as a new private file (never over another: O_EXCL, no link followed)."""
    target = root.joinpath(*parts)
    here = root
    for part in parts[:-1]:  # one level at a time: os.makedirs recurses (a member 1,000 folders deep)
        here = here / part
        with contextlib.suppress(FileExistsError):  # a file there: the open below says so
            os.mkdir(here, 0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh, read() as src:
        shutil.copyfileobj(src, fh, 1 << 20)
    if mtime is not None:  # the archive's own time: a re-unpack gives the same stamps, so a resume reuses
        with contextlib.suppress(OSError, OverflowError, ValueError):
            os.utime(target, (mtime, mtime))


def _check_room(need: int, folder: Path) -> None:
    """Refuse before writing anything when the staging file system cannot hold the unpacked archive:
    filling it part-way would only end in ENOSPC, with the reason less clear (and, for a zip bomb,
    with the temporary folder full for every other program)."""
    free = shutil.disk_usage(folder).free
    if need > free:
        raise NoRoom(f"cannot unpack archive: its files take {need / 1e6:,.1f} MB and {folder} has "
                     f"{free / 1e6:,.1f} MB free (set TMPDIR to a larger file system)", "archive")


# -- list files ----------------------------------------------------------------------------------------------

def list_entries(spec: Path) -> Iterator[Path]:
    """The paths a list file names: one per line, relative ones from the current folder, blank lines and
    ``#`` comments skipped. Lines are bytes decoded as the OS decodes file names (os.fsdecode): a name
    that is not UTF-8 (an old Latin-1 archive) names its file, byte for byte. A list that is not a regular
    file (a FIFO: read twice, the second open waited for a writer for ever) is refused."""
    fd = os.open(spec, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise VeilError(f"list file {spec} is not a regular file (a FIFO or device is read once, not twice)")
    with os.fdopen(fd, "rb") as fh:
        for n, raw in enumerate(fh):
            if n == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            line = raw.strip()
            if line and not line.startswith(b"#"):
                yield Path(os.fsdecode(line))


def _entries(spec: Path, errors: list[tuple[str, str, str]] | None = None, into: str | None = None) -> Iterator[Path]:
    if spec.is_dir():
        yield from walk(spec, errors, state_dir=False, into=into)
    elif is_list_file(spec):
        for p in list_entries(spec):
            try:
                folder = p.is_dir()
            except OSError:  # under a folder that cannot be entered: the reader reports it, for this file only
                folder = False
            if folder:
                yield from walk(p, errors, state_dir=False, into=into)
            else:
                yield p
    else:
        yield spec


def collect(spec: Path, out_dir: Path | None = None) -> Sources:
    """Resolve an input argument into files: folder, archive, list file (`.lst`/`.txt` of paths) or file.

    `out_dir`: the folder the run writes (names the archives' staging folders, so that a re-run resumes);
    None for a command that writes none, or a dry run. Nothing is listed here: iterate the result (once
    per run) to walk it."""
    if not spec.exists():
        raise VeilError(f"input {spec} does not exist")
    return Sources(spec, out_dir)
