"""The project secret: one key from which every pseudonym, UID and date offset is derived.

Keyed determinism (DESIGN.md principle 3) means the secret *is* the re-identification risk of the
mapping: it lives in a key file with mode 0600 created by ``veil init`` or in ``VEIL_SECRET``, and is
never written into outputs, logs or manifests.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from pathlib import Path

from veil.errors import SecretError

ENV_VAR = "VEIL_SECRET"
DEFAULT_KEY_FILE = Path(".veil") / "secret.key"
MIN_BYTES = 16


def create_key_file(path: Path, *, force: bool = False) -> Path:
    """Write 32 random bytes (base64) to `path` with mode 0600, atomically; refuse to overwrite."""
    if path.exists() and not force:
        raise SecretError(f"{path} already exists; a new secret would change every pseudonym (use --force)")
    write_private_file(path, (base64.b64encode(secrets.token_bytes(32)).decode() + "\n").encode())
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """`data` to `path`, mode 0600, atomically and synced: for keys (the project secret, the custodian
    key, the signing key). A failure (a full disk, Ctrl-C) leaves `path` as it was and no temporary file
    holding part of a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a stale temporary file keeps its own mode through O_CREAT
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.chmod(path, 0o600)


def _decode(text: str, where: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = text.encode()
    if len(raw) < MIN_BYTES:
        raise SecretError(f"{where}: the secret is shorter than {MIN_BYTES} bytes; run `veil init` for a new one")
    return raw


def load_secret(key_file: Path | None = None) -> bytes:
    """Find the secret: explicit key file, else ``VEIL_SECRET``, else ``./.veil/secret.key``."""
    if key_file is None and os.environ.get(ENV_VAR):
        return _decode(os.environ[ENV_VAR], ENV_VAR)
    path = key_file or DEFAULT_KEY_FILE
    if not path.is_file():
        raise SecretError(
            f"no project secret: {path} does not exist and {ENV_VAR} is not set; run `veil init` first"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    return _decode(path.read_text(encoding="utf-8"), str(path))
