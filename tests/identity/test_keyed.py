"""Keyed identity: deterministic, secret-dependent, valid, collision-resistant."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import UID

from veil.errors import SecretError
from veil.identity.keyed import Keyed
from veil.identity.secret import create_key_file, load_secret

K1, K2 = Keyed(b"a" * 32), Keyed(b"b" * 32)


@given(st.text(min_size=1, max_size=64))
def test_uids_are_valid_and_deterministic(orig):
    u = K1.uid(orig)
    assert u == K1.uid(orig) != K2.uid(orig)
    assert len(u) <= 64 and u.startswith("2.25.")
    assert UID(u).is_valid
    assert not u.split(".")[-1].startswith("0")


def test_distinct_patients_get_distinct_pseudonyms():
    codes = {K1.pseudonym(f"id:\x00MRN{i:07d}", prefix="VEIL", length=10) for i in range(20000)}
    assert len(codes) == 20000
    assert all(c.startswith("VEIL") and len(c) == 14 for c in codes)


def test_secret_file_is_private_and_refuses_overwrite(tmp_path, monkeypatch):
    monkeypatch.delenv("VEIL_SECRET", raising=False)
    p = create_key_file(tmp_path / "k" / "secret.key")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert len(load_secret(p)) == 32
    with pytest.raises(SecretError, match="already exists"):
        create_key_file(p)
    os.chmod(p, 0o644)
    with pytest.raises(SecretError, match="readable by others"):
        load_secret(p)


def test_env_secret_and_missing_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("VEIL_SECRET", "too-short")
    with pytest.raises(SecretError, match="shorter"):
        load_secret()
    monkeypatch.delenv("VEIL_SECRET")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SecretError, match="veil init"):
        load_secret()


@given(st.binary(min_size=0, max_size=200), st.text(max_size=30), st.text(max_size=200))
def test_digest_is_hmac_sha256_for_any_secret_length(secret, domain, value):
    """Keyed keeps HMAC's two keyed states between calls: it must still be RFC 2104 HMAC-SHA256 for
    secrets shorter than, equal to and longer than the SHA-256 block (hashed first), and survive pickling
    (workers receive it pickled)."""
    import hmac
    import pickle

    expected = hmac.digest(secret, f"veil/{domain}\x00{value}".encode(), "sha256")
    keyed = Keyed(secret)
    assert keyed.digest(domain, value) == expected
    assert keyed.digest(domain, value) == expected  # the kept states are copied, never consumed
    clone = pickle.loads(pickle.dumps(keyed))
    assert clone == keyed and clone.digest(domain, value) == expected


def test_a_key_file_that_cannot_be_written_whole_leaves_no_part_of_a_key(tmp_path):
    """A full disk while a new key is written (project secret, custodian key): the old key file stays
    as it was, and no temporary file holds part of a key. Real ENOSPC, on a tmpfs mounted full."""
    import errno
    import os

    from tests.pipeline.test_output_full import small_fs

    from veil.identity.secret import create_key_file
    from veil.identity.vault import create_custodian_key_file

    for make in (create_key_file, create_custodian_key_file):
        with small_fs(tmp_path / make.__name__, "8k") as fs:
            key = make(fs / "the.key")
            before = key.read_bytes()
            assert os.stat(key).st_mode & 0o777 == 0o600
            (fs / "filler").write_bytes(b"\x01" * (4 << 10))  # the last page: no room for another key
            with pytest.raises(OSError) as caught:
                make(key, force=True)
            assert caught.value.errno == errno.ENOSPC
            assert key.read_bytes() == before
            assert sorted(p.name for p in fs.iterdir()) == ["filler", "the.key"]
