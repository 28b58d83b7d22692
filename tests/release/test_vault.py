"""The identity vault: custodian-only decryption, keyed lookups, tamper detection, custodian slots."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from veil.identity.vault import (
    Credential,
    Vault,
    VaultBatch,
    VaultError,
    VaultLocked,
    create_custodian_key_file,
)
from veil.release.store import connect

SECRET = b"s" * 32
PASS = "a long custodian passphrase"
N = 2**12


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = connect(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield d
    d.close()


def _vault(db, tmp_path: Path) -> tuple[Vault, Path]:  # type: ignore[no-untyped-def]
    kf = create_custodian_key_file(tmp_path / "k" / "custodian.key")
    return Vault.create(db, SECRET, [Credential(passphrase=PASS), Credential(key_file=kf)], scrypt_n=N), kf


def _batch(release: int = 1) -> VaultBatch:
    b = VaultBatch(release)
    b.add("patient", "VEILAAAA", {"patient_id": "MRN-123456", "patient_name": "Doe^Jane"})
    b.add("patient", "VEILBBBB", {"patient_id": "MRN-654321", "patient_name": "Roe^Richard"})
    b.add("study", "2.25.111", {"study_instance_uid": "1.2.3.4.5", "accession_number": "ACC998877"})
    return b


def test_write_without_custodian_read_with_one(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vault, kf = _vault(db, tmp_path)
    writer = Vault.open(db, SECRET)  # what a release does: no custodian key involved
    writer.write(_batch())
    assert writer.count() == 3
    for cred in (Credential(passphrase=PASS), Credential(key_file=kf)):
        recs = vault.unlock(cred).lookup("VEILAAAA")
        assert [r.original["patient_id"] for r in recs] == ["MRN-123456"]
        assert recs[0].kind == "patient" and recs[0].release == 1
    assert vault.unlock(Credential(passphrase=PASS)).lookup("2.25.111")[0].original["accession_number"] == "ACC998877"
    assert vault.unlock(Credential(passphrase=PASS)).lookup("VEILZZZZ") == []


def test_wrong_or_missing_custodian_key_is_refused(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vault, kf = _vault(db, tmp_path)
    with pytest.raises(VaultLocked):
        vault.unlock(Credential(passphrase="not the right passphrase"))
    other = create_custodian_key_file(tmp_path / "other.key")
    with pytest.raises(VaultLocked):
        vault.unlock(Credential(key_file=other))
    with pytest.raises(VaultLocked):
        vault.unlock(Credential(key_file=tmp_path / "missing.key"))
    os.chmod(kf, 0o644)
    with pytest.raises(VaultLocked, match="readable by others"):
        vault.unlock(Credential(key_file=kf))
    with pytest.raises(VaultError):
        Credential()
    with pytest.raises(VaultError):
        Credential(passphrase="x", key_file=kf)


def test_index_key_needs_the_project_secret(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Whoever holds only the database (and even the custodian key) cannot find a pseudonym's rows
    without the project secret: the lookup hash is keyed."""
    vault, _ = _vault(db, tmp_path)
    vault.write(_batch())
    stranger = Vault.open(db, b"x" * 32)
    assert stranger.unlock(Credential(passphrase=PASS)).lookup("VEILAAAA") == []


def test_swapped_or_edited_rows_fail_authentication(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vault, _ = _vault(db, tmp_path)
    vault.write(_batch())
    rows = db.query("SELECT entry_id, lookup, ciphertext FROM vault_entries ORDER BY entry_id")
    a, b = rows[0], rows[1]
    # move row a's ciphertext under row b's lookup: the AAD binds ciphertext to its lookup hash
    db.execute("UPDATE vault_entries SET lookup = ? WHERE entry_id = ?", (b[1], a[0]))
    db.execute("UPDATE vault_entries SET lookup = ? WHERE entry_id = ?", (a[1], b[0]))
    cust = vault.unlock(Credential(passphrase=PASS))
    with pytest.raises(VaultError, match="authentication"):
        cust.lookup("VEILAAAA")


def test_slots_and_a_second_custodian(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vault, _ = _vault(db, tmp_path)
    vault.write(_batch())
    assert sorted(s[1] for s in vault.slots()) == ["key-file", "passphrase"]
    with pytest.raises(VaultError, match="at least"):
        vault.add_custodian(vault.unlock(Credential(passphrase=PASS)), Credential(passphrase="short"))
    vault.add_custodian(vault.unlock(Credential(passphrase=PASS)), Credential(passphrase="second custodian pass"),
                        label="deputy", scrypt_n=N)
    assert vault.unlock(Credential(passphrase="second custodian pass")).lookup("VEILBBBB")[0].original[
        "patient_name"] == "Roe^Richard"


def test_create_needs_a_credential_and_only_once(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VaultError, match="at least one"):
        Vault.create(db, SECRET, [])
    with pytest.raises(VaultError, match="no identity vault"):
        Vault.open(db, SECRET)
    _vault(db, tmp_path)
    with pytest.raises(VaultError, match="already"):
        Vault.create(db, SECRET, [Credential(passphrase=PASS)], scrypt_n=N)


def test_no_plaintext_in_the_store_file(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vault, _ = _vault(db, tmp_path)
    for r in range(1, 4):
        vault.write(_batch(r))
    db.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite*"))
    for needle in ("MRN-123456", "Doe^Jane", "Jane", "ACC998877", "1.2.3.4.5", "VEILAAAA", "2.25.111", PASS):
        assert needle.encode() not in blob, needle


def test_duplicate_entries_across_releases_are_merged(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vault, _ = _vault(db, tmp_path)
    vault.write(_batch(1))
    vault.write(_batch(2))
    recs = vault.unlock(Credential(passphrase=PASS)).lookup("VEILAAAA")
    assert sorted(r.release for r in recs) == [1, 2]  # one per release (which releases hold the patient)
    b = VaultBatch(3)
    b.add("patient", "VEILCCCC", {"patient_id": "X1"})
    b.add("patient", "VEILCCCC", {"patient_id": "X1", "patient_birth_date": "19700101"})
    assert b.entries[("patient", "VEILCCCC")] == {"patient_id": "X1", "patient_birth_date": "19700101"}
    with pytest.raises(VaultError):
        b.add("nonsense", "x", {})


def test_batch_from_release_records_offsets_and_uids(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    """Filled from a research-longitudinal run: patient (with date offset), study, series, instance."""
    import pydicom

    from veil.header.engine import patient_key
    from veil.identity.keyed import Keyed
    from veil.identity.vault import batch_from_outputs
    from veil.pipeline.runner import run
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    keyed = Keyed(SECRET)
    plan = compile_plan(load_policy("research-longitudinal"))
    summary = run(list(corpus.files), tmp_path / "out", plan, keyed)
    pairs = [(Path(r.source), tmp_path / "out" / r.output) for r in summary.results if r.status == "ok" and r.output]
    batch = batch_from_outputs(pairs, keyed=keyed, policy=plan.policy, release=7)
    kinds = {k for k, _ in batch.entries}
    assert kinds == {"patient", "study", "series", "instance"}
    src, out = pairs[0]
    ids = pydicom.dcmread(src, stop_before_pixels=True)
    ods = pydicom.dcmread(out, stop_before_pixels=True)
    pat = batch.entries[("patient", str(ods.PatientID))]
    off = keyed.date_offset(patient_key(ids), *plan.policy.dates.offset_days)
    # the offset the output was shifted by (whole days under time_of_day: keep), not the keyed function's raw one
    assert pat["patient_id"] == ids.PatientID and pat["date_offset"] == {"days": off.days, "seconds": 0}
    moved = datetime.strptime(str(ods.StudyDate), "%Y%m%d") - datetime.strptime(str(ids.StudyDate), "%Y%m%d")
    assert moved.days == off.days and ods.StudyTime == ids.StudyTime
    assert batch.entries[("instance", str(ods.SOPInstanceUID))]["sop_instance_uid"] == ids.SOPInstanceUID
    # basic policy: no date shift recorded
    basic = compile_plan(load_policy("basic"))
    b2 = batch_from_outputs(pairs[:1], keyed=keyed, policy=basic.policy, release=8)
    assert "date_offset" not in next(v for (k, _), v in b2.entries.items() if k == "patient")


def test_one_pseudonym_with_two_issuers_keeps_both_in_the_vault():
    """Under patient_key: id one Patient ID of two hospitals is one pseudonym; the vault kept the first
    file's issuer and name only (review), so a custodian re-identifying the second hospital's files would
    name the wrong person without a warning. Conflicting values are all kept, under 'conflicts'."""
    b = VaultBatch(1)
    b.add("patient", "VEILAAAA", {"patient_id": "123456", "issuer": "HOSP_A", "patient_name": "Doe^Jane"})
    b.add("patient", "VEILAAAA", {"patient_id": "123456", "issuer": "HOSP_B", "patient_name": "Roe^Rita",
                                  "birth_date": "19700101"})
    b.add("patient", "VEILAAAA", {"patient_id": "123456", "issuer": "HOSP_A", "patient_name": "Doe^Jane"})
    rec = b.entries[("patient", "VEILAAAA")]
    assert rec["patient_id"] == "123456" and rec["birth_date"] == "19700101"
    assert rec["conflicts"] == {"issuer": ["HOSP_A", "HOSP_B"], "patient_name": ["Doe^Jane", "Roe^Rita"]}
