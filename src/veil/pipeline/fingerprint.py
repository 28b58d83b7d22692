"""Fingerprints of files: the output's sha256 and the input's digest behind the keyed input hash.

The manifest carries, per output, ``output_sha256`` (plain SHA-256, so anyone can check a release with
``sha256sum``) and ``input_hash`` (the input file's digest, keyed with the project secret, so a data
steward can find which output came from a file while nobody without the secret can link them).

Why two functions: every input byte must be hashed once and every output byte once, and on pixel-heavy
archives the two passes over the pixel data were a third of the per-file time. The input side is not
something anyone recomputes with a shell tool (it is keyed anyway), so it uses BLAKE3 (a 256-bit
cryptographic hash, about 3x SHA-256's speed here, SIMD in one thread); its digest is then keyed with
HMAC-SHA256 by :meth:`veil.identity.keyed.Keyed.hexdigest` ("input-file" domain), as before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import blake3

#: Read size when hashing a file: memory stays flat whatever the file size.
CHUNK = 1 << 20


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def input_hasher() -> Hasher:
    """A fresh hasher for an input file's bytes (BLAKE3, one thread: workers already fill the cores)."""
    return blake3.blake3(max_threads=1)


def output_hasher() -> Hasher:
    """A fresh hasher for an output file's bytes (SHA-256, what ``sha256sum`` prints)."""
    return hashlib.sha256()


def _file_digest(path: Path, h: Hasher) -> str:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of an output file (resume and duplicate checks compare it with the manifest's)."""
    return _file_digest(path, output_hasher())


def input_file_digest(path: Path) -> str:
    """The digest :func:`input_hasher` gives for the whole of `path` (quarantine, dry runs, pairing)."""
    return _file_digest(path, input_hasher())
