"""Ed25519 signing of release manifests.

A recipient, an auditor or the project itself must be able to tell, years later, that a release is
exactly what the project published: the release manifest lists every file with its SHA-256, and the
manifest is signed with the project's Ed25519 key (RFC 8032; deterministic signatures, so signing the same
bytes twice gives the same signature). The private key stays in the project (mode 0600); the public key
travels with every release and its fingerprint is printed so it can be compared out of band.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from veil.errors import VeilError
from veil.identity.secret import write_private_file

ALG = "ed25519"


class SignatureError(VeilError):
    """A signing key is missing or unreadable, or a signature does not verify."""


def generate_keypair(private_path: Path, public_path: Path, *, force: bool = False) -> str:
    """Write a new Ed25519 key pair (private PEM mode 0600, public PEM); returns the key fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if private_path.exists() and not force:
        raise SignatureError(f"{private_path} already exists; refusing to replace the project's signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_private_file(private_path, pem)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_path.write_bytes(pub)
    return fingerprint(pub)


def _raw_public(public_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(public_pem)
    except ValueError as exc:
        raise SignatureError("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("the public key is not an Ed25519 key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_pem: bytes) -> str:
    """``SHA256:`` + hex of the raw 32-byte public key, grouped for reading aloud."""
    h = hashlib.sha256(_raw_public(public_pem)).hexdigest()[:32]
    return "SHA256:" + ":".join(h[i:i + 4] for i in range(0, 32, 4))


def sign(private_path: Path, data: bytes) -> str:
    """Base64 Ed25519 signature of ``data`` with the key at ``private_path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not private_path.is_file():
        raise SignatureError(f"no signing key at {private_path}; was the project created with `veil init-project`?")
    try:
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    except ValueError as exc:
        raise SignatureError(f"{private_path}: not a readable private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{private_path}: not an Ed25519 key")
    return base64.b64encode(key.sign(data)).decode()


def verify(public_pem: bytes, data: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid Ed25519 signature of ``data`` by ``public_pem``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(_raw_public(public_pem)).verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True
