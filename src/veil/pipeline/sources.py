"""Where instances come from: a folder (recursive), a single file, a list file, or zip/tar archives.

Archives are unpacked into a staging folder outside the output whose name is derived from the archive
(path, size, mtime), so a re-run after an interruption finds the same staged files and resumes. Members
that would escape the staging folder (absolute paths, '..', links) are refused: extraction is the
classic way an untrusted archive writes where it should not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from veil.errors import InputError, VeilError

STATE_DIR = ".veil"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(ARCHIVE_SUFFIXES) and path.is_file()  # the name first: no stat per DICOM file


@dataclass
class Sources:
    """The files of one run, found while they are read: a walk, never a list, so the runner's memory does
    not follow the number of files. Archives are unpacked when the walk meets them; their staging folders
    (to remove once the run has finished) and the archives that failed are collected on the way."""

    spec: Path
    staging: list[Path] = field(default_factory=list)
    #: (source, reason, rule) for archives that could not be unpacked and folders that could not be listed
    errors: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def files(self) -> Iterator[Path]:
        return iter(self)

    def __iter__(self) -> Iterator[Path]:
        for p in _entries(self.spec, self.errors):
            if not is_archive(p):
                yield p
                continue
            try:
                staged = unpack(p)
            except InputError as exc:
                if (str(p), exc.reason, "archive") not in self.errors:
                    self.errors.append((str(p), exc.reason, "archive"))
                continue
            if staged not in self.staging:
                self.staging.append(staged)
            yield from (f for f in walk(staged, self.errors) if f.name != ".veil-complete")

    def count(self) -> int:
        """How many entries a walk meets, without unpacking (an archive counts once): for progress bars."""
        return sum(1 for _ in _entries(self.spec))

    def cleanup(self) -> None:
        for d in self.staging:
            shutil.rmtree(d, ignore_errors=True)


def walk(folder: Path, errors: list[tuple[str, str, str]] | None = None) -> Iterator[Path]:
    """Every regular file under `folder` in a stable order: a folder's files (sorted by name), then its
    sub-folders (sorted). Veil's state folders are skipped.

    A symbolic link to a file is listed under its own name (DataLad/git-annex datasets and symlink farms
    are links to the archive's files: before, such a dataset gave zero files, silently). Links to folders
    are not followed (a link to '..' or '/' would walk for ever or leave the input) and a link whose
    target is missing (annexed content not fetched) is not a file: both are added to `errors` as
    (path, reason, "read"), like a folder that cannot be listed, so nothing is silently left out.
    File types come from the directory entries (scandir): a stat only for links.
    """
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        if errors is not None:
            errors.append((str(folder), f"cannot list folder: {exc.strerror or exc}", "read"))
        return
    for e in entries:
        if e.is_file(follow_symlinks=False):
            yield folder / e.name
        elif e.is_symlink():
            try:
                target = os.stat(e.path)
            except OSError:
                if errors is not None:
                    errors.append((e.path, "symbolic link whose target is missing (annexed content not fetched?)",
                                   "read"))
                continue
            if stat.S_ISDIR(target.st_mode):
                if errors is not None:
                    errors.append((e.path, "symbolic link to a folder: not followed (give the folder itself as an "
                                           "input)", "read"))
                continue
            yield folder / e.name  # a file, or something the reader refuses with its reason (FIFO, device)
    for e in entries:
        if e.is_dir(follow_symlinks=False) and e.name != STATE_DIR:
            yield from walk(folder / e.name, errors)


def _staging_dir(archive: Path) -> Path:
    st = archive.stat()
    ident = f"{archive.resolve()}\x00{st.st_size}\x00{st.st_mtime_ns}".encode("utf-8", "surrogatepass")
    key = hashlib.sha256(ident).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"veil-staging-{key}"


def _safe_member(name: str) -> bool:
    p = Path(name)
    return not p.is_absolute() and ".." not in p.parts and name.strip() != ""


def unpack(archive: Path) -> Path:
    """Unpack `archive` (once; a complete staging folder is reused) and return the staging folder."""
    dest = _staging_dir(archive)
    marker = dest / ".veil-complete"
    if marker.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(mode=0o700, parents=True)
    try:
        _check_room(archive, dest)
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    if not _safe_member(info.filename):
                        raise InputError(f"archive member escapes the archive: {info.filename!r}", "archive")
                    zf.extract(info, dest)
        else:
            with tarfile.open(archive) as tf:
                for m in tf.getmembers():
                    if not (m.isfile() or m.isdir()) or not _safe_member(m.name):
                        raise InputError(f"archive member refused (link, device or unsafe path): {m.name!r}",
                                         "archive")
                tf.extractall(dest, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise InputError(f"cannot unpack archive: {exc}", "archive") from exc
    except InputError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    marker.touch()
    return dest


def unpacked_size(archive: Path) -> int:
    """Bytes the archive's files take once unpacked, from its own index: zip's central directory
    (extraction never writes more than a member's declared size) or the tar headers."""
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return sum(i.file_size for i in zf.infolist() if not i.is_dir())
    with tarfile.open(archive) as tf:
        return sum(m.size for m in tf.getmembers() if m.isfile())


def _check_room(archive: Path, dest: Path) -> None:
    """Refuse before writing anything when the staging file system cannot hold the unpacked archive:
    filling it part-way would only end in ENOSPC, with the reason less clear (and, for a zip bomb,
    with the temporary folder full for every other program)."""
    need = unpacked_size(archive)
    free = shutil.disk_usage(dest).free
    if need > free:
        raise InputError(f"cannot unpack archive: its files take {need / 1e6:,.1f} MB and {dest.parent} has "
                         f"{free / 1e6:,.1f} MB free (set TMPDIR to a larger file system)", "archive")


def _entries(spec: Path, errors: list[tuple[str, str, str]] | None = None) -> Iterator[Path]:
    if spec.is_dir():
        yield from walk(spec, errors)
    elif spec.suffix.lower() in (".lst", ".list") or spec.name.lower().endswith(".files.txt"):
        with open(spec, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    p = Path(line)
                    if p.is_dir():
                        yield from walk(p, errors)
                    else:
                        yield p
    else:
        yield spec


def collect(spec: Path) -> Sources:
    """Resolve an input argument into files: folder, archive, list file (`.lst`/`.txt` of paths) or file.

    Nothing is listed here: iterate the result (once per run) to walk it."""
    if not spec.exists():
        raise VeilError(f"input {spec} does not exist")
    return Sources(spec)
