"""The release manifest (RELEASE.json), its signature (RELEASE.sig) and ``veil release check``.

RELEASE.json says what a release is — Veil version, policy and its hash, tier and de-identification level,
counts, the verification result, the risk figures, when, by whom and why — and lists *every* other file
of the release folder with its size and SHA-256 (the DICOM files, their de-identification manifest, the
policy, the terms, the risk report, the public key). RELEASE.sig is an Ed25519 signature over the exact
bytes of RELEASE.json. So any change to any file, any added or removed file, and any change to the
manifest itself is detected by :func:`check`; the manifest never holds an original identifier or an input
path.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.pipeline.fingerprint import sha256_file
from veil.release import sign as signing

MANIFEST = "RELEASE.json"
SIGNATURE = "RELEASE.sig"
PUBLIC_KEY = "SIGNING-KEY.pub"
FORMAT = "veil-release/1"
_UNLISTED = (MANIFEST, SIGNATURE)


def canonical(obj: Mapping[str, Any]) -> bytes:
    """Sorted keys, two-space indent, UTF-8, trailing newline: readable and byte-stable."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def list_files(folder: Path) -> list[dict[str, Any]]:
    """Every regular file under ``folder`` except the manifest and signature, sorted, with size and sha256.

    Symbolic links are listed as such (and fail :func:`check`): a release is plain files only.
    """
    rows = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if rel in _UNLISTED:
                continue
            if p.is_symlink():
                rows.append({"path": rel, "size": -1, "sha256": "symlink"})
                continue
            rows.append({"path": rel, "size": p.stat().st_size, "sha256": sha256_file(p)})
    return sorted(rows, key=lambda r: r["path"])


def write_signed(folder: Path, manifest: dict[str, Any], private_key: Path, public_pem: bytes) -> str:
    """Add the file list to ``manifest``, write RELEASE.json and RELEASE.sig; returns the manifest sha256."""
    (folder / PUBLIC_KEY).write_bytes(public_pem)
    manifest = dict(manifest)
    manifest["format"] = FORMAT
    manifest["signing_key"] = signing.fingerprint(public_pem)
    manifest["files"] = list_files(folder)
    data = canonical(manifest)
    (folder / MANIFEST).write_bytes(data)
    sig = {"alg": signing.ALG, "key": manifest["signing_key"], "signature": signing.sign(private_key, data)}
    (folder / SIGNATURE).write_bytes(canonical(sig))
    return hashlib.sha256(data).hexdigest()


@dataclass
class CheckResult:
    """Outcome of :func:`check`. ``problems`` empty means signature and every file verified."""

    folder: str
    signature_ok: bool = False
    key: str = ""
    key_source: str = ""
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "ok": self.ok, "signature_ok": self.signature_ok, "key": self.key,
                "key_source": self.key_source, "files_checked": self.files_checked, "problems": self.problems,
                "release": self.manifest.get("id"), "manifest_sha256": self.manifest_sha256}


def check(folder: Path, public_pem: bytes | None = None, key_source: str = "") -> CheckResult:
    """Verify the signature of RELEASE.json and every file it lists; report extra and missing files.

    ``public_pem`` is the key to trust (the project's, or one the recipient obtained out of band). Without
    it the key shipped in the release is used and the result says so: that proves integrity against
    accidents, not against someone who replaced the whole release — compare the printed fingerprint.
    """
    folder = Path(folder)
    res = CheckResult(str(folder))
    mpath, spath = folder / MANIFEST, folder / SIGNATURE
    if not mpath.is_file():
        res.problems.append(f"{MANIFEST} is missing: not a published release")
        return res
    data = mpath.read_bytes()
    res.manifest_sha256 = hashlib.sha256(data).hexdigest()
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict):
            raise ValueError
        res.manifest = manifest
    except ValueError:
        res.problems.append(f"{MANIFEST} is not valid JSON (edited or damaged)")
        manifest = {}
    if public_pem is None:
        shipped = folder / PUBLIC_KEY
        if not shipped.is_file():
            res.problems.append(f"no public key given and {PUBLIC_KEY} is missing")
            return res
        public_pem = shipped.read_bytes()
        key_source = key_source or f"{PUBLIC_KEY} shipped with the release (compare its fingerprint out of band)"
    res.key_source = key_source
    try:
        res.key = signing.fingerprint(public_pem)
    except signing.SignatureError as exc:
        res.problems.append(f"public key: {exc}")
        return res
    if not spath.is_file():
        res.problems.append(f"{SIGNATURE} is missing")
    else:
        try:
            sig = json.loads(spath.read_bytes())
            res.signature_ok = bool(signing.verify(public_pem, data, str(sig["signature"])))
        except (ValueError, KeyError, TypeError):
            res.signature_ok = False
        if not res.signature_ok:
            res.problems.append(f"signature of {MANIFEST} does not verify with key {res.key} (manifest or "
                                "signature changed, or signed by another key)")
    if manifest and manifest.get("signing_key") not in (None, res.key):
        res.problems.append(f"manifest names signing key {manifest.get('signing_key')}, checked with {res.key}")
    listed = {}
    for row in manifest.get("files", []) if isinstance(manifest.get("files"), list) else []:
        if isinstance(row, dict) and isinstance(row.get("path"), str):
            listed[row["path"]] = row
    if manifest and not listed:
        res.problems.append(f"{MANIFEST} lists no files")
    on_disk = {r["path"]: r for r in list_files(folder)}
    for rel, row in sorted(listed.items()):
        disk = on_disk.get(rel)
        if disk is None:
            res.problems.append(f"{rel}: listed in the manifest but missing")
            continue
        res.files_checked += 1
        if disk["sha256"] == "symlink":
            res.problems.append(f"{rel}: is a symbolic link")
        elif disk["sha256"] != row.get("sha256") or disk["size"] != row.get("size"):
            res.problems.append(f"{rel}: content changed (sha256 {disk['sha256'][:16]}..., manifest "
                                f"{str(row.get('sha256'))[:16]}...)")
    for rel in sorted(set(on_disk) - set(listed)):
        res.problems.append(f"{rel}: not listed in the manifest (added after publication)")
    return res
