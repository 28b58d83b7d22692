"""The release register: numbering, states, withdrawal and re-issue, in the project store.

Every release attempt gets the next number, published or not, so a number never means two things and
the register shows refused attempts too. States: ``building`` (a run in progress, or one that crashed),
``published``, ``failed`` (refused by the verification or risk gate), ``withdrawn`` (published, then
taken back, e.g. after a policy bug; the files stay for reproducibility and evidence, recipients are told
to delete them). A re-issue is a new release that names the one it replaces (``reissue_of``).

Rows hold no identifier: tiers, policy names and hashes, a keyed fingerprint of the input set, counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from veil.errors import VeilError
from veil.release.store import Database, IntegrityConflict

STATES = ("building", "published", "failed", "withdrawn")
_COLUMNS = ("number", "state", "tier", "purpose", "created", "created_by", "policy_name", "policy_hash",
            "input_fingerprint", "folder", "manifest_sha256", "reissue_of", "findings", "reason", "files",
            "withdrawn_at", "withdrawn_by", "withdrawn_reason")


class HistoryError(VeilError):
    """A release does not exist or cannot change state that way."""


@dataclass(frozen=True)
class ReleaseRecord:
    number: int
    state: str
    tier: str
    purpose: str
    created: str
    created_by: str
    policy_name: str
    policy_hash: str
    input_fingerprint: str
    folder: str
    manifest_sha256: str
    reissue_of: int | None
    findings: int
    reason: str
    files: int
    withdrawn_at: str | None
    withdrawn_by: str | None
    withdrawn_reason: str | None

    @property
    def id(self) -> str:
        return release_id(self.number)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"id": self.id}


def release_id(number: int) -> str:
    """``R0007``: the identifier printed on terms, manifests and in the audit log."""
    return f"R{number:04d}"


def parse_number(text: str | int) -> int:
    """Accept ``7``, ``0007`` or ``R0007``."""
    s = str(text).strip().upper().removeprefix("R")
    if not s.isdigit() or int(s) < 1:
        raise HistoryError(f"{text!r} is not a release number (expected e.g. 7 or R0007)")
    return int(s)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def allocate(db: Database, *, tier: str, purpose: str, created_by: str, reissue_of: int | None = None,
             input_fingerprint: str = "") -> int:
    """Reserve the next release number (state ``building``); safe between processes and machines."""
    if reissue_of is not None:
        get(db, reissue_of)
    for _ in range(20):
        rows = db.query("SELECT COALESCE(MAX(number), 0) FROM releases")
        number = int(rows[0][0]) + 1
        try:
            db.execute("INSERT INTO releases (number, state, tier, purpose, created, created_by, reissue_of, "
                       "input_fingerprint) VALUES (?, 'building', ?, ?, ?, ?, ?, ?)",
                       (number, tier, purpose, now(), created_by, reissue_of, input_fingerprint))
            return number
        except IntegrityConflict:  # another process took it; try the next one
            continue
    raise HistoryError("could not allocate a release number (store busy)")


def finish(db: Database, number: int, *, state: str, folder: str, policy_name: str, policy_hash: str,
           manifest_sha256: str = "", findings: int = 0, reason: str = "", files: int = 0) -> None:
    if state not in ("published", "failed"):
        raise HistoryError(f"cannot finish a release as {state!r}")
    n = db.execute("UPDATE releases SET state = ?, folder = ?, policy_name = ?, policy_hash = ?, manifest_sha256 = ?, "
                   "findings = ?, reason = ?, files = ? WHERE number = ? AND state = 'building'",
                   (state, folder, policy_name, policy_hash, manifest_sha256, findings, reason, files, number))
    if n != 1:
        raise HistoryError(f"release {release_id(number)} is not being built")


def get(db: Database, number: int) -> ReleaseRecord:
    rows = db.query(f"SELECT {', '.join(_COLUMNS)} FROM releases WHERE number = ?", (number,))
    if not rows:
        raise HistoryError(f"no release {release_id(number)} in this project")
    return ReleaseRecord(*rows[0])


def list_releases(db: Database, *, state: str | None = None, tier: str | None = None) -> list[ReleaseRecord]:
    sql = f"SELECT {', '.join(_COLUMNS)} FROM releases"
    where, params = [], []
    if state:
        where.append("state = ?")
        params.append(state)
    if tier:
        where.append("tier = ?")
        params.append(tier)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [ReleaseRecord(*r) for r in db.query(sql + " ORDER BY number", params)]


def withdraw(db: Database, number: int, *, by: str, reason: str) -> ReleaseRecord:
    """Mark a published release withdrawn. The reason is mandatory: it is what recipients are told."""
    if not reason.strip():
        raise HistoryError("a withdrawal needs a reason (it goes into the register and the audit log)")
    rec = get(db, number)
    if rec.state != "published":
        raise HistoryError(f"release {rec.id} is {rec.state}; only a published release can be withdrawn")
    n = db.execute("UPDATE releases SET state = 'withdrawn', withdrawn_at = ?, withdrawn_by = ?, withdrawn_reason = ? "
                   "WHERE number = ? AND state = 'published'", (now(), by, reason, number))
    if n != 1:
        raise HistoryError(f"release {rec.id} changed state meanwhile; try again")
    return get(db, number)


def reissues(db: Database, number: int) -> list[ReleaseRecord]:
    """Releases that re-issue ``number``."""
    return [ReleaseRecord(*r) for r in db.query(
        f"SELECT {', '.join(_COLUMNS)} FROM releases WHERE reissue_of = ? ORDER BY number", (number,))]
