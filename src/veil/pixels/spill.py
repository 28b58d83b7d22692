"""Decoded frames too big to hold in a worker: kept in an unlinked file on the output's disk instead.

Why: the pixel pass needs every decoded frame of an image (the union of every frame's text boxes is
blanked in every frame, then every frame is read again to verify), and a 1 GB cine held in a worker's
memory made the worker grow by 1.5-3 GB. Eight workers on such cines exhaust a server, and the kernel's
OOM killer then takes a worker (or another program). Frames bigger than :data:`SPILL_ABOVE` are decoded
into a shared mapping of a file in ``OUT/.veil/`` instead: the file's pages live in the page cache, which
the kernel writes back to disk and reclaims under pressure, and the pass drops each page from the
worker's own mapping once it is done with it (:func:`release`), so the worker's resident memory stays
flat whatever the image's size. The file is created unlinked (``O_TMPFILE``): nobody else can open it,
and a killed worker leaves nothing behind. Its space is reserved up front (``posix_fallocate``): a full
disk is then an error at allocation, not a SIGBUS when a page is first written.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

#: Decoded frames larger than this (bytes) go to a spill file; smaller ones are held as before.
SPILL_ABOVE = 32 * 2**20


@dataclass(frozen=True)
class Spill:
    """Where an image's decoded frames go when they are larger than `above` bytes (a folder on a disk)."""

    folder: Path
    above: int = SPILL_ABOVE


def empty(shape: tuple[int, ...], dtype: Any, spill: Spill | None) -> np.ndarray:
    """An uninitialised array: in memory, or in a spill file when `spill` says so (see the module).

    A spill file that cannot be made (the folder is not writable, the disk has no room for it) gives an
    array in memory, as before spilling existed: the policy's ``pixels.max_decoded_mb`` bounds its size.
    """
    dt = np.dtype(dtype)
    nbytes = math.prod(shape) * dt.itemsize
    if spill is None or nbytes <= spill.above or nbytes == 0:
        return np.empty(shape, dt)
    try:
        spill.folder.mkdir(parents=True, exist_ok=True)
        with unlinked_file(spill.folder) as fh:
            os.posix_fallocate(fh.fileno(), 0, nbytes)
            mm = mmap.mmap(fh.fileno(), nbytes)  # MAP_SHARED: writes land in the file's pages
    except OSError:
        return np.empty(shape, dt)
    return np.frombuffer(mm, dt).reshape(shape)


def unlinked_file(folder: Path) -> IO[bytes]:
    """A new file in `folder` that no name points to (O_TMPFILE; where the file system lacks it, named
    and unlinked at once, as a run's leftovers are named: ``.veil-*.part``): gone with its last user."""
    return tempfile.TemporaryFile(prefix=".veil-spill-", suffix=".part", dir=folder)


def spilled(arr: np.ndarray) -> bool:
    """Whether `arr` (or the array it is a view of) lives in a spill file."""
    return _mapping(arr) is not None


def release(arr: np.ndarray) -> None:
    """Drop the pages of `arr`'s bytes from this process's memory (a no-op for an array in memory).
    `arr` must be C-contiguous (a frame, or a run of rows of one).

    Safe whenever: the mapping is shared, so a dropped page keeps its data in the page cache (and on
    disk) and the next access maps it again (madvise(2), MADV_DONTNEED on a shared file mapping). Pages
    are whole: the ones at the range's ends may hold bytes of neighbouring frames, which lose nothing.
    """
    found = _mapping(arr)
    if found is None:
        return
    mm, base = found
    lo = arr.__array_interface__["data"][0] - base
    hi = min(len(mm), lo + arr.nbytes)
    lo -= lo % mmap.PAGESIZE
    if hi > lo:
        with contextlib.suppress(OSError, ValueError):  # advice only: a refusal costs memory, not data
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


def _mapping(arr: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """The spill mapping `arr` is a view of, and the address where the mapping starts."""
    flat: Any = arr
    while isinstance(flat.base, np.ndarray):
        flat = flat.base
    owner = flat.base
    if isinstance(owner, memoryview):
        owner = owner.obj
    if not isinstance(owner, mmap.mmap):
        return None
    return owner, flat.__array_interface__["data"][0]  # made over the whole mapping (see empty)
