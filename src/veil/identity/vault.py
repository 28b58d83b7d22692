"""The identity vault: an encrypted original ↔ pseudonym map that only a custodian can open.

Keyed determinism (DESIGN.md principle 3) means Veil never *needs* a table to stay consistent; the vault
exists for the one lawful case where a pseudonym must be linked back to a person: a clinically relevant
incidental finding, a patient's withdrawal of consent, a data-protection request. GDPR Art. 4(5) calls
data pseudonymised only while "the additional information" needed for attribution is "kept separately
and is subject to technical and organisational measures"; HIPAA 45 CFR 164.514(c) allows a
re-identification code only if it is not derived from the identifiers and its mechanism is not
disclosed. The vault is that additional information, kept separately:

- **Separate key.** Entries are encrypted under the vault's X25519 key pair, not under the project
  secret. Whoever runs releases holds the *public* key only and can add entries; reading them needs the
  *private* key, which is stored wrapped (AES-256-GCM) under a key-encryption key derived from a
  custodian passphrase (scrypt, N=2^17, r=8, p=1 by default) or from a custodian key file held elsewhere.
  Several custodian "slots" can open the same vault (like LUKS key slots), each removable on its own.
- **Per-batch data keys.** Each release writes one batch: a random AES-256-GCM key wrapped to the vault
  public key (ephemeral X25519 + HKDF-SHA256), and every entry encrypted under it with the vault id,
  batch id and lookup hash as associated data, so rows cannot be swapped or moved between batches.
- **Lookup without decryption.** Each entry carries ``HMAC-SHA256(index key, kind + pseudonym)``. The
  index key is derived from the project secret and the vault id, so whoever holds only the database
  (a shared PostgreSQL server's administrator, a backup) can neither decrypt an entry nor tell which
  released pseudonym it belongs to; the custodian finds the rows for one pseudonym without decrypting
  the rest.
- **No plaintext identifier** is ever written to the store: not the original, not the pseudonym, not a
  UID (tests byte-search the SQLite file).

Records are JSON objects: ``patient`` (pseudonym → PatientID, issuer, name, birth date, date offset),
``study`` (pseudo StudyInstanceUID → original UID, accession number, study date), ``series`` and
``instance`` (pseudo UID → original UID).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import stat
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from veil.errors import VeilError
from veil.identity.secret import write_private_file

#: scrypt cost for custodian passphrases (OWASP 2023: N=2^17, r=8, p=1 ≈ 128 MiB, a few hundred ms).
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 12
KEY_FILE_BYTES = 32
KINDS = ("patient", "study", "series", "instance")
_FORMAT = "veil-vault/1"


class VaultError(VeilError):
    """The vault cannot be used: not set up, wrong custodian key, damaged entry."""


class VaultLocked(VaultError):
    """The custodian key is missing or wrong: nothing can be decrypted."""


class SQL(Protocol):
    """What the vault needs from the store (:class:`veil.release.store.Database` provides it)."""

    kind: str

    def execute(self, sql: str, params: Sequence[Any] = ...) -> int: ...

    def query(self, sql: str, params: Sequence[Any] = ...) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> Any: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _hkdf(key: bytes, info: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


# --- custodian credentials --------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """One way for a custodian to prove who they are: a passphrase or a key file (exactly one)."""

    passphrase: str | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.passphrase is None) == (self.key_file is None):
            raise VaultError("give exactly one custodian credential: a passphrase or a key file")

    @property
    def kind(self) -> str:
        return "passphrase" if self.passphrase is not None else "key-file"


def create_custodian_key_file(path: Path, *, force: bool = False) -> Path:
    """Write a new custodian key file (32 random bytes, base64, mode 0600); keep it away from the project.

    Stored next to the project, it would open the vault to everyone who can read the project folder.
    """
    path = Path(path)
    if path.exists() and not force:
        raise VaultError(f"{path} already exists; refusing to overwrite a custodian key")
    write_private_file(path, (base64.b64encode(secrets.token_bytes(KEY_FILE_BYTES)).decode() + "\n").encode())
    return path


def _read_key_file(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise VaultLocked(f"custodian key file {path} does not exist")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultLocked(f"custodian key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        raw = base64.b64decode(path.read_text(encoding="utf-8").strip(), validate=True)
    except ValueError as exc:
        raise VaultLocked(f"custodian key file {path} is not a Veil custodian key") from exc
    if len(raw) != KEY_FILE_BYTES:
        raise VaultLocked(f"custodian key file {path} is not a Veil custodian key")
    return raw


def _kek(cred: Credential, params: Mapping[str, Any]) -> bytes:
    """The key-encryption key of a slot, from the credential and the slot's stored parameters."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt = base64.b64decode(params["salt"])
    if cred.passphrase is not None:
        return Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]), p=int(params["p"])).derive(
            cred.passphrase.encode("utf-8"))
    assert cred.key_file is not None
    return hmac.new(salt, b"veil/vault-key-file\x00" + _read_key_file(cred.key_file), hashlib.sha256).digest()


# --- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultRecord:
    """One decrypted entry: what a pseudonym or pseudo-UID stood for, and which release wrote it."""

    kind: str
    pseudonym: str
    original: dict[str, Any]
    release: int | None
    batch: str
    written: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pseudonym": self.pseudonym, "original": self.original, "release": self.release,
                "batch": self.batch, "written": self.written}


@dataclass
class VaultBatch:
    """Entries collected for one release, written in one transaction by :meth:`Vault.write`."""

    release: int | None
    entries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def add(self, kind: str, pseudonym: str, original: Mapping[str, Any]) -> None:
        if kind not in KINDS:
            raise VaultError(f"unknown vault record kind {kind!r}; expected one of {', '.join(KINDS)}")
        if not pseudonym:
            return
        prev = self.entries.get((kind, pseudonym))
        rec = {k: v for k, v in original.items() if v not in (None, "")}
        if prev is not None and prev != rec:
            merged = dict(prev)
            for k, v in rec.items():  # e.g. a patient seen with and without a birth date
                if k == "conflicts":
                    continue
                old = merged.setdefault(k, v)
                if old != v:  # one pseudonym, two values (patient_key: id over two issuers: maybe two people):
                    # both kept, never the first alone - a custodian must see that the files disagree
                    seen = merged.setdefault("conflicts", {}).setdefault(k, [old])
                    if v not in seen:
                        seen.append(v)
            rec = merged
        self.entries[(kind, pseudonym)] = rec

    def __len__(self) -> int:
        return len(self.entries)


# --- the vault -------------------------------------------------------------------------------------


class Vault:
    """The vault of one project in one store. Writing needs only the project; reading needs a custodian."""

    def __init__(self, db: SQL, vault_id: str, public_key: bytes, index_key: bytes) -> None:
        self.db = db
        self.vault_id = vault_id
        self.public_key = public_key
        self._index_key = index_key

    # creation and opening

    @staticmethod
    def exists(db: SQL) -> bool:
        return bool(db.query("SELECT vault_id FROM vault_meta"))

    @classmethod
    def create(cls, db: SQL, project_secret: bytes, credentials: Iterable[Credential], *,
               scrypt_n: int = SCRYPT_N) -> Vault:
        """Create the vault key pair and wrap its private key under each custodian credential.

        Refuses when the store already has a vault (a second one would split the map) or when no
        credential is given (a private key nobody can unwrap would make the vault write-only forever).
        """
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        creds = list(credentials)
        if not creds:
            raise VaultError("the vault needs at least one custodian credential (passphrase or key file)")
        if cls.exists(db):
            raise VaultError("this store already has an identity vault")
        private = X25519PrivateKey.generate()
        raw_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        vault_id = uuid.uuid4().hex
        with db.transaction():
            db.execute("INSERT INTO vault_meta (vault_id, public_key, created) VALUES (?, ?, ?)",
                       (vault_id, public, _now()))
            vault = cls(db, vault_id, public, _index_key(project_secret, vault_id))
            for i, cred in enumerate(creds):
                vault._add_slot(raw_private, cred, label=f"custodian-{i + 1}", scrypt_n=scrypt_n)
        return vault

    @classmethod
    def open(cls, db: SQL, project_secret: bytes) -> Vault:
        rows = db.query("SELECT vault_id, public_key FROM vault_meta")
        if not rows:
            raise VaultError("this project has no identity vault (create the project with a custodian key)")
        if len(rows) > 1:
            raise VaultError("the store holds more than one vault; refusing to guess")
        vault_id, public = rows[0]
        return cls(db, str(vault_id), bytes(public), _index_key(project_secret, str(vault_id)))

    def slots(self) -> list[tuple[str, str, str, str]]:
        """(slot id, kind, label, created) of every custodian slot."""
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in self.db.query(
            "SELECT slot_id, kind, label, created FROM vault_slots WHERE vault_id = ? ORDER BY created, slot_id",
            (self.vault_id,))]

    def add_custodian(self, unlocked: Custodian, cred: Credential, *, label: str = "",
                      scrypt_n: int = SCRYPT_N) -> str:
        """Add a slot for another custodian; needs an already unlocked custodian (no self-service)."""
        return self._add_slot(unlocked._private_raw, cred, label=label or f"custodian-{len(self.slots()) + 1}",
                              scrypt_n=scrypt_n)

    def _add_slot(self, raw_private: bytes, cred: Credential, *, label: str, scrypt_n: int) -> str:
        if cred.passphrase is not None and len(cred.passphrase) < MIN_PASSPHRASE:
            raise VaultError(f"a custodian passphrase needs at least {MIN_PASSPHRASE} characters")
        params: dict[str, Any] = {"salt": base64.b64encode(secrets.token_bytes(16)).decode()}
        if cred.passphrase is not None:
            params |= {"kdf": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P}
        else:
            params |= {"kdf": "hmac-sha256-keyfile"}
        slot_id = uuid.uuid4().hex
        nonce = secrets.token_bytes(12)
        wrapped = _aead(_kek(cred, params)).encrypt(nonce, raw_private, self._slot_aad(slot_id))
        self.db.execute("INSERT INTO vault_slots (slot_id, vault_id, kind, label, params, nonce, wrapped, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (slot_id, self.vault_id, cred.kind, label, json.dumps(params, sort_keys=True), nonce, wrapped,
                         _now()))
        return slot_id

    def _slot_aad(self, slot_id: str) -> bytes:
        return f"{_FORMAT}\x00slot\x00{self.vault_id}\x00{slot_id}".encode()

    def unlock(self, cred: Credential) -> Custodian:
        """Unwrap the private key with a custodian credential; raises :class:`VaultLocked` if none fits."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        rows = self.db.query("SELECT slot_id, params, nonce, wrapped FROM vault_slots WHERE vault_id = ? AND kind = ?",
                             (self.vault_id, cred.kind))
        if not rows:
            raise VaultLocked(f"the vault has no {cred.kind} custodian slot")
        for slot_id, params, nonce, wrapped in rows:
            try:
                raw = _aead(_kek(cred, json.loads(params))).decrypt(bytes(nonce), bytes(wrapped),
                                                                    self._slot_aad(str(slot_id)))
            except InvalidTag:
                continue
            private = X25519PrivateKey.from_private_bytes(raw)
            from cryptography.hazmat.primitives import serialization

            pub = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            if pub != self.public_key:
                raise VaultError("a custodian slot holds a key that does not match the vault (store damaged)")
            return Custodian(self, raw, str(slot_id))
        raise VaultLocked(f"wrong custodian {cred.kind}: no slot of this vault opens with it")

    # writing

    def lookup_hash(self, kind: str, pseudonym: str) -> bytes:
        """The keyed index of one entry: HMAC-SHA256(index key, kind ‖ pseudonym)."""
        return hmac.new(self._index_key, f"{kind}\x00{pseudonym.strip()}".encode(), hashlib.sha256).digest()

    def write(self, batch: VaultBatch) -> str:
        """Encrypt and store a batch (one transaction); returns its batch id. Needs no custodian key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

        batch_id = uuid.uuid4().hex
        data_key = secrets.token_bytes(32)
        eph = X25519PrivateKey.generate()
        eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        shared = eph.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        wrap_key = _hkdf(shared + eph_pub + self.public_key, self._batch_info(batch_id))
        wrap_nonce = secrets.token_bytes(12)
        wrapped = _aead(wrap_key).encrypt(wrap_nonce, data_key, self._batch_info(batch_id))
        enc = _aead(data_key)
        written = _now()
        rows = []
        for (kind, pseudonym), original in sorted(batch.entries.items()):
            lookup = self.lookup_hash(kind, pseudonym)
            plain = json.dumps({"kind": kind, "pseudonym": pseudonym, "original": original, "release": batch.release,
                                "written": written}, sort_keys=True, ensure_ascii=False).encode("utf-8")
            nonce = secrets.token_bytes(12)
            rows.append((batch_id, lookup, nonce, enc.encrypt(nonce, plain, self._entry_aad(batch_id, lookup))))
        with self.db.transaction():
            self.db.execute("INSERT INTO vault_batches (batch_id, vault_id, release_number, ephemeral_public, nonce, "
                            "wrapped_key, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (batch_id, self.vault_id, batch.release, eph_pub, wrap_nonce, wrapped, written))
            for r in rows:
                self.db.execute("INSERT INTO vault_entries (batch_id, lookup, nonce, ciphertext) "
                                "VALUES (?, ?, ?, ?)", r)
        return batch_id

    def _batch_info(self, batch_id: str) -> bytes:
        return f"{_FORMAT}\x00batch\x00{self.vault_id}\x00{batch_id}".encode()

    def _entry_aad(self, batch_id: str, lookup: bytes) -> bytes:
        return f"{_FORMAT}\x00entry\x00{self.vault_id}\x00{batch_id}\x00".encode() + lookup

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM vault_entries e JOIN vault_batches b ON e.batch_id = b.batch_id "
                                 "WHERE b.vault_id = ?", (self.vault_id,))[0][0])


class Custodian:
    """An unlocked vault: the private key is in memory only for as long as this object lives."""

    def __init__(self, vault: Vault, private_raw: bytes, slot_id: str) -> None:
        self.vault = vault
        self._private_raw = private_raw
        self.slot_id = slot_id
        self._batch_keys: dict[str, bytes] = {}

    def _batch_key(self, batch_id: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

        if batch_id not in self._batch_keys:
            rows = self.vault.db.query("SELECT ephemeral_public, nonce, wrapped_key FROM vault_batches "
                                       "WHERE batch_id = ? AND vault_id = ?", (batch_id, self.vault.vault_id))
            if not rows:
                raise VaultError(f"vault batch {batch_id} is missing (store damaged)")
            eph_pub, nonce, wrapped = (bytes(x) for x in rows[0])
            shared = X25519PrivateKey.from_private_bytes(self._private_raw).exchange(
                X25519PublicKey.from_public_bytes(eph_pub))
            info = self.vault._batch_info(batch_id)
            try:
                self._batch_keys[batch_id] = _aead(_hkdf(shared + eph_pub + self.vault.public_key, info)).decrypt(
                    nonce, wrapped, info)
            except InvalidTag as exc:
                raise VaultError(f"vault batch {batch_id} does not decrypt (store damaged or tampered)") from exc
        return self._batch_keys[batch_id]

    def lookup(self, pseudonym: str, kinds: Iterable[str] = KINDS) -> list[VaultRecord]:
        """Every record for ``pseudonym`` (a patient pseudonym or a pseudo-UID), oldest first.

        Only the matching rows are decrypted. A row that fails authentication raises: a vault that has
        been tampered with must not answer silently.
        """
        from cryptography.exceptions import InvalidTag

        out: list[VaultRecord] = []
        seen: set[str] = set()
        for kind in kinds:
            lookup = self.vault.lookup_hash(kind, pseudonym)
            rows = self.vault.db.query(
                "SELECT e.batch_id, e.nonce, e.ciphertext FROM vault_entries e JOIN vault_batches b "
                "ON e.batch_id = b.batch_id WHERE e.lookup = ? AND b.vault_id = ? ORDER BY e.entry_id",
                (lookup, self.vault.vault_id))
            for batch_id, nonce, ct in rows:
                key = self._batch_key(str(batch_id))
                try:
                    plain = _aead(key).decrypt(bytes(nonce), bytes(ct), self.vault._entry_aad(str(batch_id), lookup))
                except InvalidTag as exc:
                    raise VaultError("a vault entry fails authentication (store tampered with)") from exc
                d = json.loads(plain)
                sig = json.dumps([d["kind"], d["original"], d.get("release")], sort_keys=True)
                if sig in seen:
                    continue
                seen.add(sig)
                out.append(VaultRecord(d["kind"], d["pseudonym"], d["original"], d.get("release"), str(batch_id),
                                       d.get("written", "")))
        return out


def _index_key(project_secret: bytes, vault_id: str) -> bytes:
    return hmac.new(project_secret, f"veil/vault-index\x00{vault_id}".encode(), hashlib.sha256).digest()


# --- filling the vault from a de-identification run ------------------------------------------------


def batch_from_outputs(pairs: Iterable[tuple[Path, Path]], *, keyed: Any, policy: Any,
                       release: int | None) -> VaultBatch:
    """Build the batch for one run from (input file, its output file) pairs, headers only.

    Nothing is recomputed where the output can say it: the pseudonym and the new UIDs are read from the
    output, the originals from the input, so the vault records exactly what was released. Only the date
    offset is recomputed (it is not in the output) with the same keyed function the engine used
    (:func:`veil.header.engine.date_shift` of :func:`veil.header.engine.patient_key`), and only
    when the policy shifts dates. Values a policy kept unchanged (UIDs under Retain UIDs) are no
    pseudonyms and are not recorded.
    """
    import pydicom

    from veil.header.engine import date_shift, patient_key

    batch = VaultBatch(release)
    shifts = bool(policy.has("retain_long_modified_dates") and policy.dates.mode == "shift")
    for src, out in pairs:
        ids = pydicom.dcmread(src, stop_before_pixels=True, force=True)
        ods = pydicom.dcmread(out, stop_before_pixels=True, force=True)

        def val(ds: Any, kw: str) -> str:
            return str(ds.get(kw, "") or "").strip()

        pseudonym = val(ods, "PatientID")
        if pseudonym and pseudonym != val(ids, "PatientID"):
            patient: dict[str, Any] = {
                "patient_id": val(ids, "PatientID"), "issuer_of_patient_id": val(ids, "IssuerOfPatientID"),
                "patient_name": val(ids, "PatientName"), "patient_birth_date": val(ids, "PatientBirthDate"),
                "other_patient_ids": val(ids, "OtherPatientIDs"),
            }
            if shifts:
                key = patient_key(ids, issuer=policy.pseudonyms.patient_key == "issuer_and_id")
                off = date_shift(policy, keyed, key)
                patient["date_offset"] = {"days": off.days, "seconds": off.seconds}
            batch.add("patient", pseudonym, patient)
        for kind, kw, field_name in (("study", "StudyInstanceUID", "study_instance_uid"),
                                     ("series", "SeriesInstanceUID", "series_instance_uid"),
                                     ("instance", "SOPInstanceUID", "sop_instance_uid")):
            new, old = val(ods, kw), val(ids, kw)
            if not new or new == old:
                continue
            rec: dict[str, Any] = {field_name: old, "patient_pseudonym": pseudonym}
            if kind == "study":
                rec |= {"accession_number": val(ids, "AccessionNumber"), "study_id": val(ids, "StudyID"),
                        "study_date": val(ids, "StudyDate"), "study_time": val(ids, "StudyTime")}
            elif kind == "series":
                rec |= {"pseudo_study_uid": val(ods, "StudyInstanceUID")}
            else:
                rec |= {"pseudo_series_uid": val(ods, "SeriesInstanceUID"),
                        "pseudo_study_uid": val(ods, "StudyInstanceUID")}
            batch.add(kind, new, rec)
    return batch
