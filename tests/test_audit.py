"""Audit log: every edit, removal, insertion or reordering is detected; keyed chains resist rewriting."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from veil.audit import GENESIS, AuditEntry, AuditError, anchor, append, check_appendable, read_entries, verify

KEY = b"k" * 32


def _entry(i: int = 0, **extra: object) -> AuditEntry:
    return AuditEntry(
        command=f"veil deid in{i} out --policy basic",
        purpose="IRB-2026-114",
        policy_hash="ab" * 32,
        counts={"in": 10 + i, "out": 9 + i, "quarantined": 1},
        extra={"veil_version": "0.1.0", "policy": "basic", **extra},
    )


def _log(tmp_path: Path, n: int, key: bytes | None = None) -> Path:
    log = tmp_path / "out" / ".veil" / "audit.jsonl"
    for i in range(n):
        append(log, _entry(i), key=key)
    return log


def _lines(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines()


def _write(log: Path, lines: list[str]) -> None:
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _digest(record: dict, key: bytes | None = None) -> str:
    """The documented hash, written independently of veil.audit: what an outside checker would compute."""
    data = json.dumps({k: v for k, v in record.items() if k != "hash"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()


def _rechain(records: list[dict], key: bytes | None = None) -> list[str]:
    """What an attacker with write access does: renumber, relink and rehash every entry from the start."""
    prev, out = GENESIS, []
    for seq, rec in enumerate(records, start=1):
        rec = {**rec, "seq": seq, "prev": prev, "alg": "hmac-sha256" if key else "sha256"}
        rec["hash"] = prev = _digest(rec, key)
        out.append(json.dumps(rec, ensure_ascii=False))
    return out


def test_fresh_log_records_the_run_and_verifies(tmp_path):
    log = tmp_path / "out" / ".veil" / "audit.jsonl"  # parent folders do not exist yet
    now = datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    e = append(log, _entry(), user="alice", now=now)
    assert read_entries(log) == [e]
    assert e["seq"] == 1 and e["prev"] == GENESIS and e["alg"] == "sha256"
    assert e["ts"] == "2026-03-01T12:30:00.000000Z"
    assert e["user"] == "alice" and e["host"]
    assert e["counts"] == {"in": 10, "out": 9, "quarantined": 1}
    assert e["purpose"] == "IRB-2026-114" and e["extra"]["policy"] == "basic"
    assert e["hash"] == _digest(e)  # an independent checker reproduces it from the documented recipe
    res = verify(log)
    assert res.ok and res.entries == 1 and res.problems == ()
    assert res.head == anchor(log) == e["hash"]


def test_user_defaults_to_the_os_user_and_time_to_now(tmp_path):
    e = append(tmp_path / "a.jsonl", _entry())
    assert isinstance(e["user"], str) and e["user"]
    ts = datetime.fromisoformat(e["ts"])
    assert ts.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - ts) < timedelta(minutes=1)


def _head(log: Path) -> Path:
    return log.with_name(log.name + ".head")


def test_empty_log_verifies_and_a_missing_log_does_not(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert verify(empty).ok and verify(empty).entries == 0
    assert anchor(empty) == anchor(tmp_path / "missing.jsonl") == GENESIS
    res = verify(tmp_path / "missing.jsonl")
    assert not res.ok and "no audit log" in res.problems[0]


def test_three_appends_form_a_chain(tmp_path):
    log = _log(tmp_path, 3)
    res = verify(log)
    assert res.ok and res.entries == 3 and res.problems == ()
    recs = read_entries(log)
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert [r["prev"] for r in recs] == [GENESIS, recs[0]["hash"], recs[1]["hash"]]
    assert res.head == anchor(log) == recs[2]["hash"]


def test_edited_count_is_detected(tmp_path):
    log = _log(tmp_path, 3)
    lines = _lines(log)
    rec = json.loads(lines[1])
    rec["counts"]["quarantined"] = 0
    lines[1] = json.dumps(rec)
    _write(log, lines)
    res = verify(log)
    assert not res.ok
    assert res.problems == ("line 2: hash mismatch (entry edited)",)


def test_whitespace_only_change_is_not_an_edit(tmp_path):
    """Only the canonical form is hashed, so re-serialising a line with other spacing is harmless."""
    log = _log(tmp_path, 2)
    _write(log, [json.dumps(json.loads(line), indent=None, separators=(", ", " : ")) for line in _lines(log)])
    assert verify(log).ok


def test_deleted_entry_is_detected(tmp_path):
    log = _log(tmp_path, 4)
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    res = verify(log)
    assert not res.ok and res.entries == 3
    assert res.problems == (
        "line 2: seq 3, expected 2",
        "line 2: prev does not match line 1 (entry removed, inserted or reordered)",
    )


def test_deleted_first_entry_is_detected(tmp_path):
    log = _log(tmp_path, 3)
    _write(log, _lines(log)[1:])
    res = verify(log)
    assert not res.ok
    assert "line 1: seq 2, expected 1" in res.problems
    assert any(p.startswith("line 1: prev is not the genesis value") for p in res.problems)


def test_swapped_entries_are_detected(tmp_path):
    log = _log(tmp_path, 3)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    res = verify(log)
    assert not res.ok
    assert "line 2: seq 3, expected 2" in res.problems
    assert "line 3: seq 2, expected 4" in res.problems
    assert {p for p in res.problems if "prev does not match" in p} == {
        "line 2: prev does not match line 1 (entry removed, inserted or reordered)",
        "line 3: prev does not match line 2 (entry removed, inserted or reordered)",
    }


@pytest.mark.parametrize("links_back", [False, True], ids=["wrong-prev", "prev-of-line-1"])
def test_inserted_self_consistent_entry_is_detected(tmp_path, links_back):
    """A forged line with a correct own hash still breaks the chain: either its prev or its successor's."""
    log = _log(tmp_path, 3)
    lines = _lines(log)
    first = json.loads(lines[0])
    forged = {**json.loads(lines[1]), "counts": {"in": 1, "out": 1, "quarantined": 0}, "seq": 2,
              "prev": first["hash"] if links_back else "f" * 64}
    forged["hash"] = _digest(forged)
    lines.insert(1, json.dumps(forged))
    _write(log, lines)
    res = verify(log)
    assert not res.ok and res.entries == 4
    assert not any("hash mismatch" in p for p in res.problems)  # the forgery is self-consistent
    if not links_back:
        assert "line 2: prev does not match line 1 (entry removed, inserted or reordered)" in res.problems
    assert "line 3: seq 2, expected 3" in res.problems
    assert "line 3: prev does not match line 2 (entry removed, inserted or reordered)" in res.problems


def test_rewritten_plain_chain_passes_plain_verify_but_not_keyed_verify(tmp_path):
    """The documented limit of a plain chain, and why the CLI should chain with the project secret."""
    log = _log(tmp_path, 3)
    recs = read_entries(log)
    recs[1]["counts"]["quarantined"] = 0
    _write(log, _rechain(recs))
    assert not verify(log).ok  # the head file beside the log names a hash the rewrite changed ...
    _head(log).unlink()
    assert verify(log).ok  # ... rewritten (or removed) with it: a plain chain only proves internal consistency
    res = verify(log, key=KEY)
    assert not res.ok
    assert all("not keyed (alg sha256) although a key was given" in p for p in res.problems)
    assert len(res.problems) == 3


@pytest.mark.parametrize("attacker_key", [None, b"guess" * 8], ids=["downgrade-to-sha256", "guessed-key"])
def test_rewritten_keyed_chain_fails_keyed_verify(tmp_path, attacker_key):
    log = _log(tmp_path, 3, key=KEY)
    assert verify(log, key=KEY).ok
    recs = read_entries(log)
    assert all(r["alg"] == "hmac-sha256" and r["hash"] == _digest(r, KEY) for r in recs)
    recs[1]["counts"]["quarantined"] = 0
    _write(log, _rechain(recs, attacker_key))
    _head(log).unlink()  # the attacker removes the head file too
    assert verify(log).ok is (attacker_key is None)  # without the key, a downgraded rewrite still looks fine
    res = verify(log, key=KEY)
    assert not res.ok and res.entries == 3


def test_keyed_log_edit_is_detected_and_named(tmp_path):
    log = _log(tmp_path, 3, key=KEY)
    lines = _lines(log)
    rec = json.loads(lines[2])
    rec["purpose"] = "something else"
    lines[2] = json.dumps(rec)
    _write(log, lines)
    assert verify(log, key=KEY).problems == ("line 3: HMAC mismatch (entry edited, or wrong key)",)


def test_keyed_log_needs_the_right_key(tmp_path):
    log = _log(tmp_path, 3, key=KEY)
    no_key = verify(log)
    assert not no_key.ok and no_key.entries == 3
    assert no_key.problems == ("log is keyed (3 hmac-sha256 entries): verify needs the project secret",)
    wrong = verify(log, key=b"w" * 32)
    assert not wrong.ok
    assert wrong.problems == ("every entry fails the HMAC check: wrong key (or the whole log was rewritten "
                              "without it)",)


def test_truncated_tail_is_detected_only_with_an_anchor(tmp_path):
    log = _log(tmp_path, 3)
    head = anchor(log)
    append(log, _entry(9))  # later runs do not invalidate an older anchor
    assert verify(log, expected_head=head).ok
    _write(log, _lines(log)[:2])  # drop the anchored entry and everything after it
    assert not verify(log).ok  # the head file beside the log still names the last entry ...
    _head(log).unlink()
    assert verify(log).ok  # ... removed with it, a shorter chain is still a valid chain: the documented limit
    res = verify(log, expected_head=head)
    assert not res.ok and res.entries == 2
    assert res.problems == (f"anchor {head} is not in the chain (entries at or before it were removed, "
                            "or the log was rewritten)",)


def test_an_anchor_is_read_as_typed(tmp_path):
    """The head written down in upper case or with a space is the same anchor (red team: it was reported as
    "not in the chain", a false alarm of removed entries)."""
    log = _log(tmp_path, 3, key=KEY)
    head = anchor(log)
    assert verify(log, key=KEY, expected_head=f" {head.upper()}\n").ok
    assert not verify(log, key=KEY, expected_head=head[:-1] + ("0" if head[-1] != "0" else "1")).ok


def test_anchor_catches_a_rewritten_plain_chain(tmp_path):
    log = _log(tmp_path, 2)
    head = anchor(log)
    first, second = read_entries(log)
    _write(log, _rechain([first, {**second, "purpose": "forged"}]))
    _head(log).unlink()
    assert verify(log).ok and not verify(log, expected_head=head).ok


def _corrupt_garbage(lines: list[str]) -> str:
    return "".join(line + "\n" for line in [*lines[:-1], '{"seq": 3, "trunc'])


def _corrupt_no_newline(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)[:-1]


def _corrupt_edited(lines: list[str]) -> str:
    rec = json.loads(lines[-1])
    rec["command"] = "veil deid in out --policy none"
    return "".join(line + "\n" for line in [*lines[:-1], json.dumps(rec)])


def _corrupt_blank(lines: list[str]) -> str:
    return "".join(line + "\n" for line in [*lines, ""])


def _corrupt_not_entry(lines: list[str]) -> str:
    return "".join(line + "\n" for line in [*lines, '{"hello": "world"}'])


@pytest.mark.parametrize(("corrupt", "why"), [
    (_corrupt_garbage, r"last line is corrupt \(not valid JSON\)"),
    (_corrupt_no_newline, "last line has no newline"),
    (_corrupt_edited, "last entry fails its hash check"),
    (_corrupt_blank, r"last line is corrupt \(empty line\)"),
    (_corrupt_not_entry, "last line is not an audit entry"),
])
def test_append_refuses_a_corrupt_tail_and_leaves_the_log_alone(tmp_path, corrupt, why):
    log = _log(tmp_path, 3)
    log.write_text(corrupt(_lines(log)), encoding="utf-8")
    before = log.read_bytes()
    assert not verify(log).ok
    with pytest.raises(AuditError, match=f"{why}.*refusing to append"):
        append(log, _entry())
    assert log.read_bytes() == before


def test_append_refuses_to_mix_keyed_and_plain(tmp_path):
    plain, keyed = _log(tmp_path / "p", 1), _log(tmp_path / "k", 1, key=KEY)
    with pytest.raises(AuditError, match="not keyed"):
        append(plain, _entry(), key=KEY)
    with pytest.raises(AuditError, match="pass the project secret"):
        append(keyed, _entry())
    with pytest.raises(AuditError, match="wrong key"):
        append(keyed, _entry(), key=b"w" * 32)
    assert len(_lines(plain)) == len(_lines(keyed)) == 1


def test_unreadable_middle_line_is_reported_and_its_successor_not_blamed(tmp_path):
    log = _log(tmp_path, 3)
    lines = _lines(log)
    lines[1] = "\udcff not json"
    log.write_bytes("".join(x + "\n" for x in lines).encode("utf-8", "surrogateescape"))
    res = verify(log)
    assert res.problems == ("line 2: not valid UTF-8",) and res.entries == 2
    lines[1] = '{"seq": 2, "seq": 2}'
    _write(log, lines)
    assert verify(log).problems == ("line 2: duplicate key 'seq'",)
    lines[1] = '{"seq": NaN}'
    _write(log, lines)
    assert verify(log).problems == ("line 2: not valid JSON",)
    with pytest.raises(AuditError, match="line 2: not valid JSON"):
        read_entries(log)


def test_returned_entry_is_what_a_reader_parses_back(tmp_path):
    log = tmp_path / "a.jsonl"
    e = append(log, AuditEntry("veil deid caf\udce9/ out", "", "", {"in": 0},
                               {"tags": ("a", "b"), "nested": {"x": 1.5, "y": None}}))
    assert e["command"] == "veil deid caf\\xe9/ out"  # undecodable argv bytes stay visible, not dropped
    assert e["extra"] == {"tags": ["a", "b"], "nested": {"x": 1.5, "y": None}}
    assert read_entries(log) == [e] and verify(log).ok


@pytest.mark.parametrize("bad", [{"when": datetime(2026, 1, 1)}, {"x": float("nan")}, {"s": {1, 2}}])
def test_unserialisable_extra_is_refused_before_writing(tmp_path, bad):
    log = tmp_path / "a.jsonl"
    with pytest.raises(AuditError, match="audit extra"):
        append(log, _entry(**bad))
    assert not log.exists() or log.read_bytes() == b""


def test_naive_timestamp_is_refused(tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        append(tmp_path / "a.jsonl", _entry(), now=datetime(2026, 1, 1))


def test_long_entries_span_tail_read_blocks(tmp_path):
    log = tmp_path / "a.jsonl"
    for i in range(3):
        append(log, _entry(i, note="é" * 10_000 * (i + 1)), key=KEY)
    assert verify(log, key=KEY).ok and verify(log, key=KEY).entries == 3
    assert anchor(log) == read_entries(log)[-1]["hash"]


def _append_many(log: Path, worker: int, n: int, barrier) -> None:
    barrier.wait()
    for i in range(n):
        append(log, _entry(worker * 1000 + i), key=KEY)


def test_concurrent_appenders_keep_one_valid_chain(tmp_path):
    log = tmp_path / "out" / ".veil" / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_append_many, args=(log, w, 25, barrier)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    res = verify(log, key=KEY)
    assert res.ok, res.problems
    assert res.entries == 100
    recs = read_entries(log)
    assert [r["seq"] for r in recs] == list(range(1, 101))
    expected = sorted(10 + w * 1000 + i for w in range(4) for i in range(25))
    assert sorted(r["counts"]["in"] for r in recs) == expected  # no run lost or written twice


# -- the head file: resets and rollbacks without an anchor written down (red team, round 2) ---------------

@pytest.mark.parametrize("how", ["emptied", "removed", "older-copy", "last-line-dropped"])
def test_a_reset_or_rolled_back_log_fails_verify_and_refuses_appends(tmp_path, how):
    """Before: an emptied log verified ("0 entries"), a removed one was started again by the next run (a
    fresh chain that verified), and an older copy put back or a cut-off last line passed too."""
    log = _log(tmp_path, 2, key=KEY)
    older = log.read_bytes()
    append(log, _entry(5), key=KEY)
    if how == "emptied":
        log.write_bytes(b"")
    elif how == "removed":
        log.unlink()
    elif how == "older-copy":
        log.write_bytes(older)
    else:
        _write(log, _lines(log)[:-1])
    res = verify(log, key=KEY)
    assert not res.ok
    assert "removed" in res.problems[0] or "not in the chain" in res.problems[0], res.problems
    with pytest.raises(AuditError):
        check_appendable(log, key=KEY)
    with pytest.raises(AuditError):
        append(log, _entry(6), key=KEY)


def test_damage_in_the_middle_refuses_appends_not_only_damage_at_the_end(tmp_path):
    log = _log(tmp_path, 3, key=KEY)
    lines = _lines(log)
    rec = json.loads(lines[1])
    rec["purpose"] = "edited"
    lines[1] = json.dumps(rec)
    _write(log, lines)
    with pytest.raises(AuditError, match="HMAC mismatch"):
        check_appendable(log, key=KEY)
    with pytest.raises(AuditError, match="HMAC mismatch"):
        append(log, _entry(6), key=KEY)
    assert len(_lines(log)) == 3


def test_a_log_and_head_file_moved_aside_together_start_a_new_chain(tmp_path):
    log = _log(tmp_path, 2, key=KEY)
    log.rename(log.with_name("old.jsonl"))
    _head(log).rename(log.with_name("old.jsonl.head"))
    rec = append(log, _entry(7), key=KEY)
    assert rec["seq"] == 1 and verify(log, key=KEY).ok
    assert verify(log.with_name("old.jsonl"), key=KEY).ok  # the evidence still verifies on its own


def test_the_head_file_is_readable_by_whoever_may_read_the_log(tmp_path):
    """Red team review: the head file was re-created with the writer's umask (0600), so an auditor given
    read access to the log could no longer verify it."""
    log = _log(tmp_path, 1, key=KEY)
    os.chmod(log, 0o644)
    append(log, _entry(2), key=KEY)
    assert _head(log).stat().st_mode & 0o777 == 0o644


def test_a_head_file_that_cannot_be_written_does_not_fail_the_append(tmp_path, monkeypatch):
    """The entry is in the log once it is written; a head file that cannot be replaced (a full disk) only
    lags behind, which verify accepts (its entry is still in the chain). Before, the command reported the
    entry as not written and advised a re-run, which recorded the run twice."""
    import veil.audit as audit

    log = _log(tmp_path, 1, key=KEY)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit, "_write_head", full)
    rec = append(log, _entry(2), key=KEY)
    assert rec["seq"] == 2 and len(_lines(log)) == 2
    assert verify(log, key=KEY).ok


def test_an_empty_head_file_is_no_head_file(tmp_path):
    """A crash can leave a replaced file empty on some file systems: that must not refuse every later run
    (an empty head says no more than a missing one; the written-down anchor covers both)."""
    log = _log(tmp_path, 2, key=KEY)
    _head(log).write_bytes(b"")
    assert verify(log, key=KEY).ok
    assert append(log, _entry(3), key=KEY)["seq"] == 3


def test_an_append_the_disk_cuts_short_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    """Red team A (this session): on a full tmpfs an entry crossing a page boundary was written in part
    ("no space" for the rest); the log then had a line without newline and refused every later run as if
    it belonged to another secret. A failed append is cut off; the log verifies and takes the next entry.
    The head file's temporary file does not stay behind when it cannot be written either."""
    import errno

    import veil.audit as audit

    log = tmp_path / "audit.jsonl"
    key = b"k" * 32
    append(log, _entry(), key=key)
    before = log.read_bytes()
    real = audit._write_all

    def half_then_full(fd: int, data: bytes) -> None:
        real(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit, "_write_all", half_then_full)
    with pytest.raises(OSError):
        append(log, _entry(), key=key)
    assert log.read_bytes() == before
    monkeypatch.setattr(audit, "_write_all", real)
    assert verify(log, key=key).ok
    check_appendable(log, key=key)
    append(log, _entry(), key=key)
    assert verify(log, key=key).entries == 2

    def head_fails(fd: int, data: bytes) -> None:
        if b'"seq"' in data and b'"hash"' in data and b"user" not in data:  # the head file's one line
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(audit, "_write_all", head_fails)
    append(log, _entry(), key=key)  # the entry is written; the head lags (best effort)
    assert not list(tmp_path.glob(".audit.jsonl.head.*.tmp"))


def test_a_temporary_head_file_left_by_a_killed_writer_is_swept_by_the_next_append(tmp_path):
    """A writer killed (-9) between making its temporary head file and renaming it left
    `.audit.jsonl.head.<pid>.tmp` in OUT/.veil for good (red team A, last session). The next append, which
    holds the log's lock, removes such files; the log and its head are as before."""
    log = _log(tmp_path, 1, key=KEY)
    stale = [_head(log).with_name(f".{_head(log).name}.{pid}.tmp") for pid in (4242, 99999)]
    for p in stale:
        p.write_text('{"seq": 1, "hash": "x"}\n')
    other = _head(log).with_name("notes.tmp")
    other.write_text("kept")
    append(log, _entry(2), key=KEY)
    assert not any(p.exists() for p in stale) and other.read_text() == "kept"
    assert verify(log, key=KEY).ok and json.loads(_head(log).read_text())["seq"] == 2
