"""Tamper-evident audit log: one hash-chained JSON line per ``veil deid`` run.

A privacy officer must be able to show, long after a release, who ran which policy for what purpose and
that nobody edited, removed, inserted or reordered an entry since (DESIGN.md principle 4). Each line
records who, when, the command, the purpose, the policy hash and the counts, plus ``prev`` (the previous
line's ``hash``, or ``GENESIS`` for the first line) and ``hash`` (SHA-256 of the line's canonical JSON
without ``hash``). Because every hash covers its predecessor, changing any line breaks every link after it.

What the chain can and cannot prove:

- **Edits, removals, insertions and reorderings** anywhere before the last line are detected by
  :func:`verify`: the edited line's hash, or the next line's ``prev`` and ``seq``, no longer match.
- **A rewritten chain.** Whoever can write the file can recompute every plain SHA-256 hash from the first
  line on; a plain chain only proves internal consistency. Pass the project secret as ``key`` to chain
  with HMAC-SHA256 instead: without the secret nobody can produce valid hashes, and verifying a keyed log
  with a missing or wrong key fails rather than passing silently.
- **Truncation, emptying, removal, rollback.** Dropping the last lines, emptying the file or putting an
  older copy back leaves a valid chain; nothing in the file itself can tell. Each append therefore
  replaces a head file beside the log (``audit.jsonl.head``: the last entry's seq and hash), and
  :func:`verify` and appends require that entry to be in the chain - a log removed or emptied while its
  head file says otherwise is refused too. Whoever replaces both files together is not caught by that:
  :func:`anchor` returns the current head hash, which run summaries print so it can be written down
  elsewhere (ticket, e-mail, lab book); ``verify(log, expected_head=...)`` then requires that entry to
  still be in the chain. An anchor also catches a full rewrite of a plain chain up to that point.
- **Damage anywhere** refuses appends (the whole chain is checked first, not only its last line): a new
  entry must not bury an edit under a valid-looking link.

Lines are written in a readable field order; only the canonical form (sorted keys, no spaces,
``ensure_ascii=False``, UTF-8) is hashed, so an independent checker needs nothing but ``json`` and
``hashlib``/``hmac``. Appends take an exclusive ``flock`` on the log file (safe between processes on one
machine, not across NFS clients) and ``fsync`` before returning.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import hmac
import json
import math
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veil.errors import VeilError

GENESIS = "0" * 64
"""``prev`` of the first entry, and the head of an empty log."""

SHA256 = "sha256"
HMAC_SHA256 = "hmac-sha256"

_FIELDS = ("seq", "ts", "user", "host", "command", "purpose", "policy_hash", "counts", "extra", "alg", "prev",
           "hash")
_TAIL_BLOCK = 8192
_REFUSE = ("refusing to append. Run verify, keep the log as evidence and start a new one (move the log and its "
           ".head file aside together)")


class AuditError(VeilError):
    """The audit log cannot be appended to or read safely (corrupt tail, wrong key, bad entry value)."""


@dataclass(frozen=True)
class AuditEntry:
    """What the caller knows about one run; :func:`append` adds who, when, where and the chain fields.

    ``command`` must be the argv with secrets removed: the log is meant to be shown to reviewers.
    """

    command: str
    purpose: str
    policy_hash: str
    counts: Mapping[str, int]
    extra: Mapping[str, object] = field(default_factory=dict)


def command_line(argv: Sequence[str], key: bytes | None, keep: Iterable[Path] = ()) -> str:
    """The command as the log records it: ``veil`` and `argv`, with every argument that names a file or folder
    (one that exists, or holds a '/': a report about to be written; also an option's attached value, "-pX")
    other than `keep` (the output folder a run wrote) replaced by ``<path:HMAC>``, a keyed digest of its
    absolute path. Input folders are named after patients ("pt_DOE_JOHN_MRN12345"), and the log is shown
    to reviewers and exported (red team: the name went out with it). The same path gives the same token in
    every entry, so entries that read one input can still be told; the secret's holder can compute a
    path's token to check it. Without a key (an unkeyed log) the token is a plain SHA-256 prefix."""
    kept = {os.path.realpath(k) for k in keep}
    out = ["veil"]
    for arg in argv:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
        elif arg.startswith("-") and len(arg) > 2 and not arg[1].isdigit():  # "-pPATH": click's attached value
            name, eq, value = arg[:2], "", arg[2:]
        else:
            name, eq, value = "", "", arg
        # a path: what exists, or what is written like one (a report or table a command is about to write)
        looks = os.sep in value or "/" in value or os.path.lexists(value)
        if value and looks and os.path.realpath(value) not in kept:
            where = os.path.abspath(value).encode("utf-8", "surrogateescape")
            mac = (hmac.new(key, b"veil/audit-path\x00" + where, hashlib.sha256) if key is not None
                   else hashlib.sha256(where))
            value = f"<path:{mac.hexdigest()[:12]}>"
        out.append(f"{name}{eq}{value}")
    return " ".join(out)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`. ``entries`` counts lines that parsed as JSON objects; ``head`` is the hash
    of the last line (``GENESIS`` for an empty log), the value to compare with a written-down anchor."""

    ok: bool
    entries: int
    problems: tuple[str, ...]
    head: str = GENESIS


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, no spaces, UTF-8, so any JSON tool can reproduce them."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(record: Mapping[str, Any], key: bytes | None = None) -> str:
    """Hash of ``record`` without its ``hash`` field: SHA-256, or HMAC-SHA256 when ``key`` is given.

    The HMAC message is the canonical JSON itself (it starts with ``{``), so it cannot coincide with the
    ``veil/<domain>\\x00…`` messages the same secret signs for pseudonyms, UIDs and dates (identity.keyed).
    """
    data = canonical({k: v for k, v in record.items() if k != "hash"})
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def append(log_path: Path, entry: AuditEntry, *, user: str | None = None, now: datetime | None = None,
           key: bytes | None = None) -> dict[str, Any]:
    """Append one entry for a run and return it as written (with ``seq``, ``prev`` and ``hash``).

    Refuses (``AuditError``) to extend a log that :func:`verify` would fail (a line edited, removed or
    reordered anywhere, a head file whose entry is gone) or whose chain type differs from ``key`` (keyed
    vs plain): appending would bury the damage under a valid-looking link.
    """
    alg = _alg_for(key)
    body: dict[str, Any] = {
        "ts": _timestamp(now),
        "user": _json_value(user if user is not None else _os_user(), "user"),
        "host": _json_value(socket.gethostname(), "host"),
        "command": _json_value(entry.command, "command"),
        "purpose": _json_value(entry.purpose, "purpose"),
        "policy_hash": _json_value(entry.policy_hash, "policy_hash"),
        "counts": _counts(entry.counts),
        "extra": _json_value(entry.extra, "extra"),
        "alg": alg,
    }
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    created = not log_path.exists()
    with _locked(log_path, write=True) as fd:
        last = _tail(fd, log_path)
        if last is None:
            if _read_head(log_path) is not None:
                raise AuditError(f"{log_path} is empty but its head file records entries: the log was emptied; "
                                 f"{_REFUSE}")
            seq, prev = 1, GENESIS
        else:
            _check_tail(last, log_path, key)
            _refuse_broken(_read_all(fd), log_path, key)
            seq, prev = last["seq"] + 1, last["hash"]
        record = {"seq": seq, **body, "prev": prev}
        record["hash"] = entry_hash(record, key)
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n")
            os.fsync(fd)
        except BaseException:
            # part of the line may be there (a full disk takes what fits in a page): cut it off, or the
            # log is damaged and refuses every later run (red team A: a stopped run's entry on a full disk)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        with contextlib.suppress(OSError):  # best effort: the entry is written; a head left behind only lags
            _write_head(log_path, seq, record["hash"])
    if created:
        _fsync_dir(log_path.parent)
    return record


def _head_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".head")


def _write_head(log_path: Path, seq: int, digest: str) -> None:
    """Beside the log, the seq and hash of its last entry (replaced atomically after each append).

    Why: a chain cannot tell that its newest entries were cut off, that it was emptied, or that an older
    copy was put back - each leaves a valid chain. The head file is an anchor kept without anyone writing
    it down: :func:`verify` requires its entry to be in the chain. Whoever removes or rolls back both
    files together is not caught by it; an anchor written down elsewhere (``expected_head``) is the answer
    to that, and a keyed chain still cannot be extended without the secret.
    """
    path = _head_path(log_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # a writer killed (-9) between open and rename:
        with contextlib.suppress(OSError):  # the log's lock is held, so no other writer's file is in use
            stale.unlink()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, os.stat(log_path).st_mode & 0o777)  # readable by whoever may read the log (auditors)
            _write_all(fd, (json.dumps({"seq": seq, "hash": digest}) + "\n").encode("utf-8"))
            os.fsync(fd)  # a crash leaves the old head or the new one, never an empty file that refuses every run
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # a full disk: no temporary head left beside the log (red team A found them piling up)
        raise
    _fsync_dir(path.parent)


def _read_head(log_path: Path) -> tuple[int, str] | None:
    """(seq, hash) from the log's head file; None without one (a log older than head files)."""
    path = _head_path(log_path)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise AuditError(f"{path}: cannot be read ({exc.strerror})") from None
    if not raw:  # what a crash on a file system without ordered data can leave: as good as no head file
        return None  # (which anyone could also make by removing it: the written-down anchor covers both)
    try:
        rec = json.loads(raw)
        seq, digest = rec["seq"], rec["hash"]
        if type(seq) is not int or not isinstance(digest, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"{path}: not a head file (edited?)") from None
    return seq, digest


def check_appendable(log_path: Path, *, key: bytes | None = None) -> None:
    """Raise the ``AuditError`` that :func:`append` would raise for `log_path` and `key`, without writing.

    Why: a command that does its work first and records it last must ask before it starts - a log made
    with another project secret (or damaged) would otherwise refuse the entry only after the outputs are
    written, leaving work that no entry records.
    """
    log_path = Path(log_path)
    if not log_path.exists():
        if _read_head(log_path) is not None:
            raise AuditError(f"{log_path} is gone but its head file records entries: the log was removed; restore it, "
                             "or write to a new output folder")
        return
    with _locked(log_path, write=False) as fd:
        last = _tail(fd, log_path)
        if last is not None:
            _check_tail(last, log_path, key)
        _refuse_broken(_read_all(fd), log_path, key)


def _refuse_broken(data: bytes, log_path: Path, key: bytes | None) -> None:
    """Refuse to extend a chain with damage anywhere (not only in its last line), or one cut short."""
    res = _check_chain(data, log_path, key, None, _read_head(log_path))
    if not res.ok:
        raise AuditError(f"{log_path}: {res.problems[0]}" + (f" (+{len(res.problems) - 1} more)" if
                                                            len(res.problems) > 1 else "") + f"; {_REFUSE}")


def verify(log_path: Path, *, key: bytes | None = None, expected_head: str | None = None) -> VerifyResult:
    """Check every line's hash, ``seq`` and ``prev`` link; report each problem with its line number.

    With ``key`` every entry must be HMAC-keyed with that key; without it, a keyed log cannot be
    verified and fails. ``expected_head`` (an earlier :func:`anchor`) must still be an entry of the chain,
    which is the only way to detect that trailing entries were cut off. A missing log fails: an absent
    log must not read as a clean one.
    """
    if key is not None:
        _alg_for(key)
    log_path = Path(log_path)
    if not log_path.exists():
        recorded = _read_head(log_path)
        also = f" (its head file records {recorded[0]} entries: the log was removed)" if recorded else ""
        return VerifyResult(False, 0, (f"no audit log at {log_path}{also}",))
    with _locked(log_path, write=False) as fd:  # the head file too, under the lock: an append in between
        data = _read_all(fd)  # would otherwise pass for a log cut short
        head_file: tuple[int, str] | AuditError | None
        try:
            head_file = _read_head(log_path)
        except AuditError as exc:
            head_file = exc
    anchor_hex = expected_head.strip().lower() if expected_head is not None else None  # as typed: "ABC1 " is abc1
    return _check_chain(data, log_path, key, anchor_hex, head_file)


def _check_chain(data: bytes, log_path: Path, key: bytes | None, expected_head: str | None,
                 recorded: tuple[int, str] | AuditError | None) -> VerifyResult:
    """:func:`verify` on the log's bytes, and against `recorded`, the head file :func:`append` keeps beside
    it (read under the same lock)."""
    problems: list[str] = []
    hashes: set[str] = set()
    entries = keyed = hmac_failures = 0
    head = GENESIS
    # What the next line must carry; None after a line we could not read (its successor cannot be linked).
    expected_seq: int | None = 1
    expected_prev: str | None = GENESIS
    lines = _split(data)
    if data and not data.endswith(b"\n"):
        problems.append(f"line {len(lines)}: no newline at end (write interrupted, or edited)")
    for n, raw in enumerate(lines, start=1):
        record, problem = _parse(raw)
        if record is None:
            problems.append(f"line {n}: {problem}")
            expected_seq = expected_prev = None
            continue
        entries += 1
        missing = [f for f in _FIELDS if f not in record]
        if missing:
            problems.append(f"line {n}: missing field(s) {', '.join(missing)}")
            expected_seq = expected_prev = None
            continue
        alg = record["alg"]
        if alg == HMAC_SHA256:
            keyed += 1
            if key is not None and record["hash"] != entry_hash(record, key):
                hmac_failures += 1
                problems.append(f"line {n}: HMAC mismatch (entry edited, or wrong key)")
        elif alg == SHA256:
            if key is not None:
                problems.append(f"line {n}: not keyed (alg sha256) although a key was given "
                                "(entry written or rewritten without the project secret)")
            elif record["hash"] != entry_hash(record):
                problems.append(f"line {n}: hash mismatch (entry edited)")
        else:
            problems.append(f"line {n}: unknown alg {alg!r}")
        seq = record["seq"]
        if type(seq) is not int:
            problems.append(f"line {n}: seq {seq!r} is not an integer")
        elif expected_seq is not None and seq != expected_seq:
            problems.append(f"line {n}: seq {seq}, expected {expected_seq}")
        if expected_prev is not None and record["prev"] != expected_prev:
            problems.append(
                f"line {n}: prev does not match line {n - 1} (entry removed, inserted or reordered)" if n > 1
                else "line 1: prev is not the genesis value (entries removed from the start, or log spliced)"
            )
        head = str(record["hash"])
        hashes.add(head)
        expected_seq = seq + 1 if type(seq) is int else None
        expected_prev = head
    if keyed and key is None:
        problems.insert(0, f"log is keyed ({keyed} hmac-sha256 entries): verify needs the project secret")
    if key is not None and hmac_failures == keyed >= 2:
        problems = [p for p in problems if "HMAC mismatch" not in p]
        problems.insert(0, "every entry fails the HMAC check: wrong key (or the whole log was rewritten "
                           "without it)")
    if expected_head is not None and expected_head != GENESIS and expected_head not in hashes:
        problems.append(f"anchor {expected_head} is not in the chain (entries at or before it were removed, "
                        "or the log was rewritten)")
    if isinstance(recorded, AuditError):
        problems.append(str(recorded))
    elif recorded is not None and recorded[1] not in hashes:
        problems.append(f"entry {recorded[0]} (head {recorded[1][:16]}...), the last one appended according to "
                        f"{_head_path(log_path).name}, is not in the chain: entries removed from the end, or an "
                        "older copy of the log restored")
    return VerifyResult(not problems, entries, tuple(problems), head)


def read_entries(log_path: Path) -> list[dict[str, Any]]:
    """All entries, oldest first, for display; raises ``AuditError`` on an unreadable line.

    Parsing is not trusting: call :func:`verify` before relying on the contents. A missing log has no
    entries.
    """
    log_path = Path(log_path)
    if not log_path.exists():
        return []
    with _locked(log_path, write=False) as fd:
        data = _read_all(fd)
    out = []
    for n, raw in enumerate(_split(data), start=1):
        record, problem = _parse(raw)
        if record is None:
            raise AuditError(f"{log_path}: line {n}: {problem}; run verify and keep the log as evidence")
        out.append(record)
    return out


def anchor(log_path: Path) -> str:
    """The hash of the last entry (``GENESIS`` for a missing or empty log), to be written down elsewhere.

    Pass it later as ``verify(log, expected_head=...)``: a plain chain cannot otherwise tell that trailing
    entries were removed. Raises ``AuditError`` if the last line is unreadable.
    """
    log_path = Path(log_path)
    if not log_path.exists():
        return GENESIS
    with _locked(log_path, write=False) as fd:
        last = _tail(fd, log_path)
    return GENESIS if last is None else str(last["hash"])


# --- helpers -------------------------------------------------------------------------------------------


@contextmanager
def _locked(path: Path, *, write: bool) -> Iterator[int]:
    """Open ``path`` and hold an flock on it: exclusive for appends, shared for readers.

    After locking, the descriptor must still be the file at ``path``: if another process moved the log
    aside meanwhile, retry on the new file so we never append to a log that is no longer the log.
    """
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT if write else os.O_RDONLY
    while True:
        fd = os.open(path, flags | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)  # closing releases the lock


def _tail(fd: int, path: Path) -> dict[str, Any] | None:
    """The last line as a dict, reading backwards from the end; ``None`` for an empty file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    end = size
    blocks: list[bytes] = []  # read backwards, joined once: prepending each block was quadratic (a 20 MB line: 13 s)
    while True:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        blocks.append(block)
        end = start
        cut = block.rfind(b"\n", 0, len(block) - (1 if len(blocks) == 1 else 0))
        if cut >= 0 or start == 0:
            break
    chunk = b"".join(reversed(blocks))
    cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
    if not chunk.endswith(b"\n"):
        raise AuditError(f"{path}: the last line has no newline (a write was interrupted, or the log was "
                         f"edited); {_REFUSE}")
    record, problem = _parse(chunk[cut + 1:-1])
    if record is None:
        raise AuditError(f"{path}: the last line is corrupt ({problem}); {_REFUSE}")
    missing = [f for f in _FIELDS if f not in record]
    if missing or type(record["seq"]) is not int or not isinstance(record["hash"], str):
        raise AuditError(f"{path}: the last line is not an audit entry (bad or missing fields); {_REFUSE}")
    return record


def _check_tail(last: dict[str, Any], path: Path, key: bytes | None) -> None:
    """Refuse to chain onto a last entry that fails its own hash or uses the other chain type."""
    alg = _alg_for(key)
    if last["alg"] != alg:
        if last["alg"] == HMAC_SHA256:
            how = "the log is keyed (hmac-sha256); pass the project secret to append to it"
        elif last["alg"] == SHA256:
            how = "the log is not keyed (sha256); a keyed chain cannot continue it, start a new log"
        else:
            how = f"the last entry has unknown alg {last['alg']!r}"
        raise AuditError(f"{path}: {how}")
    if last["hash"] != entry_hash(last, key):
        raise AuditError(f"{path}: the last entry fails its hash check (edited, or wrong key); {_REFUSE}")


def _split(data: bytes) -> list[bytes]:
    """Lines on ``\n`` only (what append writes), so a stray ``\r`` or U+2028 never splits an entry."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """One line to a dict, or ``None`` and why. Duplicate keys are rejected: a reader could show either."""
    if not raw.strip():
        return None, "empty line"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8"
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        return None, f"duplicate key {exc.args[0]!r}"
    except (ValueError, RecursionError):  # NaN/Infinity are not JSON and cannot be hashed canonically
        return None, "not valid JSON"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    try:  # what cannot be hashed canonically is no entry (red team: a crash, not a finding)
        canonical(value)
    except (ValueError, UnicodeEncodeError):
        return None, "not canonical JSON (a lone surrogate, or a number out of range)"
    return value, ""


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _alg_for(key: bytes | None) -> str:
    if key is None:
        return SHA256
    if not isinstance(key, bytes | bytearray) or not key:
        raise AuditError("the audit key must be the non-empty project secret (bytes)")
    return HMAC_SHA256


def _timestamp(now: datetime | None) -> str:
    """ISO-8601 UTC with microseconds; a naive datetime is refused because its zone would be a guess."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("audit timestamps need a timezone-aware datetime")
    return now.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _os_user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):  # no login name and no passwd entry (containers)
        return "unknown"


def _counts(counts: Mapping[str, int]) -> dict[str, int]:
    out = {}
    for k, v in counts.items():
        if not isinstance(k, str) or type(v) is not int:
            raise AuditError(f"audit counts must map names to integers, got {k!r}: {v!r}")
        out[k] = v
    return out


def _json_value(value: object, where: str) -> Any:
    """A plain-JSON copy of ``value`` so the returned entry equals what a reader parses back.

    Tuples become lists; strings with lone surrogates (undecodable bytes in argv or file names) become
    backslash escapes, since UTF-8 cannot store them; anything JSON cannot hold is an ``AuditError``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError(f"audit {where}: {value!r} is not representable in JSON")
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise AuditError(f"audit {where}: keys must be strings, got {k!r}")
            out[_json_value(k, where)] = _json_value(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_json_value(v, where) for v in value]
    raise AuditError(f"audit {where}: {type(value).__name__} is not JSON-serialisable; pass str, numbers, "
                     "bools, None, lists or dicts")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _fsync_dir(path: Path) -> None:
    """Make a newly created log's directory entry durable, so a crash cannot lose the whole file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
