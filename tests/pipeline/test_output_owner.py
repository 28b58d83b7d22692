"""An output folder belongs to the project secret that made it.

Before: a second `veil deid` into the same folder with another secret wrote its outputs beside the first
run's (a second, unrelated pseudonym/UID space: one patient under two pseudonyms) and then died with an
AuditError traceback when the folder's keyed audit log refused its entry - work done, nothing recorded.
Now the run is refused before anything is written (exit 2), whether the audit log or only a journal
(an interrupted first run) says who owns the folder. Another policy with the same secret is allowed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .test_batch import make_corpus, veil

OTHER = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci0xMjM0"


def _state(out: Path) -> dict[str, str]:
    """Every file under `out` (outputs and .veil state) by sha256, except the lock (empty, always there)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "lock"}


def _first_run(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    src = tmp_path / "in"
    make_corpus(src, 6, patients=2)
    out = tmp_path / "out"
    r = veil("deid", str(src), str(out), "--workers", "1")
    assert r.returncode == 0, r.stderr
    return src, out, _state(out)


def test_another_secret_is_refused_before_anything_is_written(tmp_path):
    src, out, before = _first_run(tmp_path)
    r = veil("deid", str(src), str(out), "--workers", "1", env_extra={"VEIL_SECRET": OTHER})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "another project secret" in r.stderr
    assert "new output folder" in r.stderr
    assert _state(out) == before  # not one output, journal line or audit entry more


def test_the_journal_tells_the_owner_when_the_audit_log_is_gone(tmp_path):
    """A first run that was interrupted has journals but no audit entry: the journal alone refuses."""
    src, out, _ = _first_run(tmp_path)
    (out / ".veil" / "audit.jsonl").unlink()
    before = _state(out)
    r = veil("deid", str(src), str(out), "--workers", "2", "--json", env_extra={"VEIL_SECRET": OTHER})
    assert r.returncode == 2, r.stderr
    assert "another project secret" in r.stderr and "Traceback" not in r.stderr
    assert _state(out) == before
    dry = veil("deid", str(src), str(out), "--dry-run", env_extra={"VEIL_SECRET": OTHER})
    assert dry.returncode == 2  # a dry run says what the real one would do


def test_a_damaged_audit_log_is_reported_before_the_run_not_after(tmp_path):
    src, out, _ = _first_run(tmp_path)
    log = out / ".veil" / "audit.jsonl"
    entry = json.loads(log.read_text())
    entry["counts"]["out"] += 1  # an edited last entry: appending would hide the edit under a valid link
    log.write_text(json.dumps(entry) + "\n")
    before = _state(out)
    r = veil("deid", str(src), str(out), "--workers", "1")
    assert r.returncode == 2, r.stderr
    assert "fails its hash check" in r.stderr and "Nothing was written" in r.stderr
    assert _state(out) == before


def test_another_policy_with_the_same_secret_replaces_the_outputs(tmp_path):
    src, out, before = _first_run(tmp_path)
    r = veil("deid", str(src), str(out), "--workers", "1", "--policy", "research-longitudinal", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 6
    log = [json.loads(line) for line in (out / ".veil" / "audit.jsonl").read_text().splitlines()]
    assert len(log) == 2 and log[0]["policy_hash"] != log[1]["policy_hash"]
    assert veil("audit", "verify", str(out)).returncode == 0
    outputs = sorted(p.relative_to(out) for p in out.rglob("*.dcm"))
    assert outputs == sorted(Path(k) for k in before if k.endswith(".dcm"))  # same paths, new bytes
