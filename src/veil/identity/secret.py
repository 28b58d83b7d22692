"""The project secret: one key from which every pseudonym, UID and date offset is derived.

Keyed determinism (DESIGN.md principle 3) means the secret *is* the re-identification risk of the
mapping: it lives in a key file with mode 0600 created by ``veil init`` or in ``VEIL_SECRET``, and is
never written into outputs, logs or manifests.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from veil.errors import SecretError
from veil.pipeline.partfiles import replace_synced

ENV_VAR = "VEIL_SECRET"
DEFAULT_KEY_FILE = Path(".veil") / "secret.key"
MIN_BYTES = 16


def create_key_file(path: Path, *, force: bool = False, value: bytes | None = None) -> Path:
    """Write 32 random bytes (or `value`) base64 to `path` with mode 0600, atomically; refuse to overwrite."""
    if path.exists() and not force:
        raise SecretError(f"{path} already exists; a new secret would change every pseudonym (use --force)")
    write_private_file(path, (base64.b64encode(value or secrets.token_bytes(32)).decode() + "\n").encode())
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """`data` to `path`, mode 0600, atomically and synced: for keys (the project secret, the custodian
    key, the signing key). A failure (a full disk, Ctrl-C) leaves `path` as it was and no temporary file
    holding part of a key."""
    replace_synced(path, [data], private=True)


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
