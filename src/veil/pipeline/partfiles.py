"""Temporary files: how an output becomes atomic, and what a stopped worker removes.

Every output a run writes into OUT is first written to a file with no name (O_TMPFILE,
:func:`new_anonymous`) in its final folder and linked onto its name once whole (DESIGN.md: atomic
writes), so a reader never sees half a file and a killed writer leaves nothing. Where the file system
cannot make such a file (NFS), and for the run's own records, the file is a ``.veil-<random>.part``
beside its final name, renamed onto it. While a named one exists its path is listed in this process
(:func:`new` adds it, :func:`done` drops it), and a worker
told to stop - SIGTERM from the main process, which stops its pool when the output fills up, on Ctrl-C,
on a scheduler's SIGTERM, or when a file outlasts its time limit - removes what it was writing before it
exits (:func:`remove_live`, from ``pool``'s handler). Only a SIGKILL leaves one behind; the next run, or
the run itself after a worker's death, clears it (``runner.clean_partials``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

#: This process's ``.part`` files that exist now (or are being created). Per process, never shared:
#: what a signal handler needs to clean up after a stop, nothing more.
_LIVE: set[str] = set()


#: A stop that arrived while an output was being committed: run once the commit is recorded (see hold).
_HELD: list[Callable[[], None] | None] = []


def forget_inherited() -> None:
    """In a new worker process: the temporary files and a commit's hold listed here are its parent's, copied
    by fork. Kept, a stop would remove the parent's files, and an inherited hold (the parent committed an
    output and had not journaled it yet) deferred every SIGTERM the worker got, until it was killed with
    its ``.part`` left in OUT (the suite's flaky stop test: a test had run process_file in the parent)."""
    _LIVE.clear()
    _HELD.clear()


def hold() -> None:
    """From here until :func:`release`, a stop waits: an output is being renamed into place and its journal
    line is not written yet. A worker stopped in between (SIGTERM: a file's time limit, Ctrl-C, a full
    disk, a scheduler) left an output in OUT that no journal line or manifest lists - the red team found 2
    of 60 after one stop, and a run that then lost the input never removed them."""
    if not _HELD:  # a stop already deferred by an outer hold stays deferred
        _HELD.append(None)


def defer(stop: Callable[[], None]) -> bool:
    """For a stop signal's handler: True when `stop` is kept for :func:`release` (a commit is under way)."""
    if not _HELD:
        return False
    _HELD[0] = stop
    return True


def release() -> None:
    """The commit is recorded: a stop that came meanwhile happens now."""
    pending = _HELD.pop() if _HELD else None  # one step: a signal after it finds no hold and stops at once
    if pending is not None:
        pending()


def new(folder: Path | str) -> tuple[int, str]:
    """A new private file ``.veil-<random>.part`` in `folder` (made when missing): (fd, path).

    The folder is created only when the open finds it missing: one system call per file where
    ``mkdir(exist_ok) + mkstemp`` took two, and file creation is the costliest call of a small output.
    The path is listed before the file exists, so a stop between the two cannot leave it unlisted.
    """
    for _ in range(100):
        tmp = _temporary_name(folder)
        _LIVE.add(tmp)
        try:
            return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600), tmp
        except FileNotFoundError:
            _LIVE.discard(tmp)
            os.makedirs(folder, exist_ok=True)
        except FileExistsError:
            _LIVE.discard(tmp)  # another process's: not ours to remove
            continue
        except BaseException:  # a stop (Interrupted) may come after the file was made, before it is returned:
            with contextlib.suppress(OSError):  # the random name is ours if it exists (red team A: 22 of 40)
                os.unlink(tmp)
            _LIVE.discard(tmp)
            raise
    raise FileExistsError(f"no free temporary name in {folder}")


#: Devices whose file system refused O_TMPFILE (NFS, some FUSE): named ``.part`` files there.
_NO_TMPFILE: set[int] = set()


def new_anonymous(folder: Path | str) -> tuple[int, str]:
    """A new file in `folder` with no name yet (O_TMPFILE, made when missing): (fd, ""); where the file
    system cannot make one, a named file as :func:`new` makes (fd, its path).

    Why: a named temporary costs two more operations on the folder (create, then unlink after the link),
    each under the folder's lock, and a file system allocates the inode while holding it; two workers
    writing one series' folder spent 15% of their time spinning on that lock (perf, large-pixel corpus).
    An unnamed file's inode is allocated outside the lock, and a killed worker leaves nothing behind (the
    kernel frees it): only the link that names it touches the folder. :func:`name_anonymous` names it.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        for _ in range(2):
            try:
                st_dev = os.stat(folder).st_dev
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                continue
            if st_dev in _NO_TMPFILE or (st_dev not in _TMPFILE_OK and not _links(folder, st_dev, flag)):
                break
            return os.open(folder, flag | os.O_WRONLY | os.O_CLOEXEC, 0o600), ""
    return new(folder)


#: Devices where an unnamed file was made and linked to a name (:func:`_links`), in this process.
_TMPFILE_OK: set[int] = set()
#: Errors of the output itself while probing: the run's failure to report, not a reason to fall back.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _links(folder: Path | str, st_dev: int, flag: int) -> bool:
    """Whether the file system of `folder` makes an unnamed file and links it to a name (once per device and
    process): some refuse O_TMPFILE (EOPNOTSUPP, EISDIR), a container without /proc cannot link one
    (ENOENT), a FUSE file system may refuse the link. Then named files are used there, for the whole run."""
    try:
        fd = os.open(folder, flag | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno in _FULL:
            raise
        _NO_TMPFILE.add(st_dev)
        return False
    probe = _temporary_name(folder)
    _LIVE.add(probe)
    try:
        name_anonymous(fd, probe)
    except OSError as exc:
        if exc.errno in _FULL:
            raise
        _NO_TMPFILE.add(st_dev)
        return False
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)
        _LIVE.discard(probe)
    _TMPFILE_OK.add(st_dev)
    return True


def name_anonymous(fd: int, path: Path | str) -> None:
    """Give the unnamed file `fd` the name `path` (linkat through /proc/self/fd, as open(2) describes for
    O_TMPFILE); FileExistsError when `path` exists (the link is atomic: never half a file, never replaced)."""
    # src_dir_fd makes CPython call linkat(2) with AT_SYMLINK_FOLLOW (plain link(2) does not follow the
    # /proc link: EXDEV); the kernel ignores it for an absolute path
    os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd, follow_symlinks=True)


def done(tmp: str) -> None:
    """`tmp` was renamed into place or removed: no longer this process's to clean up."""
    _LIVE.discard(tmp)


def _temporary_name(folder: Path | str) -> str:
    """A random ``.veil-<16 hex>.part`` path in `folder`: if it exists, this process made it."""
    return os.path.join(folder, f".veil-{secrets.token_hex(8)}.part")


def name_temporarily(fd: int, folder: str) -> str:
    """An unnamed file given a temporary name in `folder` (listed for a stop's clean-up), then closed: what
    the locked path of a duplicate instance renames, as it does a named output."""
    try:
        for _ in range(100):
            tmp = _temporary_name(folder)
            _LIVE.add(tmp)
            try:
                name_anonymous(fd, tmp)
            except FileExistsError:
                _LIVE.discard(tmp)
                continue
            except BaseException:  # a stop may come after the link: the random name is ours if it exists
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                _LIVE.discard(tmp)
                raise
            return tmp
        raise FileExistsError(f"no free temporary name in {folder}")
    finally:
        os.close(fd)


def discard(fd: int | None, tmp: str) -> None:
    """Close (unless None: closed already) and remove a temporary file whose write failed (errors here
    would hide the first one); an unnamed one (`tmp` "") goes with its descriptor."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    if tmp:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _LIVE.discard(tmp)


def remove_live() -> int:
    """Remove every temporary file this process is writing; how many there were. For a stopping worker."""
    n = 0
    for tmp in list(_LIVE):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
            n += 1
        _LIVE.discard(tmp)
    return n


def replace_with(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: a whole new file or none (a full disk leaves no ``.part``)."""
    fd, tmp = new(path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        done(tmp)


def replace_synced(path: Path, chunks: Iterable[bytes], *, private: bool = False) -> None:
    """`path` replaced by `chunks`, synced before the rename, or left as it was: a failure (a full disk,
    Ctrl-C) removes the temporary ``<name>.part``. For what must survive a crash whole: the manifest and
    reports (the umask's mode, as ``open`` creates) and keys (`private`: mode 0600, also when a stale
    temporary file had another)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
