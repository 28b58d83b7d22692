"""Create a release: de-identify with the tier's policy, gate on verification and risk, sign, publish.

Principle 5 of DESIGN.md ("verify, don't trust") made binding: a release is published only when

1. ``veil verify`` finds nothing identifying in the output, searching for every identifier of the input
   (outputs paired with their inputs so unshifted dates are found too), and
2. the re-identification risk measured on the released headers meets the tier's thresholds (k-anonymity,
   prosecutor risk), or the tier does not enforce any; when the risk check cannot run and the tier
   requires it, the release fails closed, and
3. quarantined inputs are acceptable to the tier, and something was written at all.

Otherwise the attempt is moved to ``failed/NNNN`` (mode 0700, for review) with FINDINGS.json listing
every reason and every finding (evidence masked), and nothing is published. A published release is the
folder ``releases/NNNN`` holding ``data/`` (the DICOM files and their manifest), POLICY.yaml, RISK.json,
TERMS.md/TERMS.pdf, SIGNING-KEY.pub and the signed RELEASE.json/RELEASE.sig; its files are made read-only.
The identity vault is written only for a published release of a tier that allows it. Every attempt —
published or refused — and every reproduction writes a hash-chained audit entry.

Reproducibility: the same input, policy and secret give byte-identical ``data/`` (principle 1), so
:func:`reproduce` can re-run an old release with its own POLICY.yaml and prove that nothing drifted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil import __version__
from veil.errors import VeilError
from veil.pipeline.fingerprint import sha256_file
from veil.pipeline.sources import STATE_DIR, Sources
from veil.project import Project, who
from veil.release import history
from veil.release.manifest import MANIFEST, canonical, write_signed
from veil.release.tiers import RiskRule, Tier, resolve_policy_spec

DATA = "data"
FINDINGS = "FINDINGS.json"
#: Run state left in OUT/.veil that must not be published: the quarantine report names input paths (which
#: can hold names and IDs), the journal is resume state, and a risk generalisation leaves its own audit
#: entry and the withheld (suppressed) records there; the lock file is the writer's.
_PRIVATE_STATE = ("quarantine.jsonl", "journal", "audit.jsonl", "audit.jsonl.head", "withheld", "withheld.jsonl",
                  "lock")


class ReleaseError(VeilError):
    """A release cannot be attempted (bad tier, no vault for a tier that needs one, bad input)."""


@dataclass
class RiskOutcome:
    """The risk gate. ``status``: passed, failed, measured (no threshold), not-available, error."""

    status: str
    enforced: bool
    required: bool
    detail: str = ""
    report: dict[str, Any] | None = None
    failed_checks: list[str] = field(default_factory=list)

    @property
    def blocks(self) -> bool:
        if self.status == "failed":
            return True
        return self.status in ("not-available", "error") and (self.required or self.enforced)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status, "enforced": self.enforced, "required": self.required,
                             "detail": self.detail, "failed_checks": self.failed_checks}
        if self.report is not None:
            keep = ("records", "qis", "classes", "k", "prosecutor_max", "prosecutor_avg", "marketer",
                    "sample_uniques", "checks", "passed")
            d |= {k: self.report[k] for k in keep if k in self.report}
        return d


@dataclass
class ReleaseOutcome:
    number: int
    state: str  # published | failed
    folder: Path
    tier: str
    policy_name: str
    policy_hash: str
    counts: dict[str, int]
    verify: dict[str, Any]
    findings: list[dict[str, str]]
    risk: RiskOutcome
    reasons: list[str]
    vault_entries: int = 0
    manifest_sha256: str = ""
    audit_head: str = ""
    warnings: list[str] = field(default_factory=list)
    generalisation: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return history.release_id(self.number)

    @property
    def published(self) -> bool:
        return self.state == "published"

    def as_dict(self) -> dict[str, Any]:
        return {"release": self.id, "number": self.number, "state": self.state, "folder": str(self.folder),
                "tier": self.tier, "policy": self.policy_name, "policy_hash": self.policy_hash, "counts": self.counts,
                "verify": self.verify, "findings": self.findings, "risk": self.risk.as_dict(), "reasons": self.reasons,
                "vault_entries": self.vault_entries, "manifest_sha256": self.manifest_sha256,
                "audit_head": self.audit_head, "warnings": self.warnings, "generalisation": self.generalisation}


# --- gates -------------------------------------------------------------------------------------------


def risk_gate(data_dir: Path, tier: Tier) -> RiskOutcome:
    """Measure the release's re-identification risk with :mod:`veil.risk` and hold it to the tier.

    The table is read from the de-identified files themselves (what a recipient sees). Without
    ``veil.risk`` installed the outcome is ``not-available``, which blocks tiers that require the check.
    """
    rule = tier.risk
    try:
        from veil.risk.measures import Targets, measure
        from veil.risk.table import build, present_qis
    except ImportError as exc:
        return RiskOutcome("not-available", rule.enforced, rule.required,
                           f"the risk module cannot be loaded ({exc}); no risk figures")
    try:
        table = build(data_dir, level=rule.level)
        qis = list(rule.qis) if rule.qis else present_qis(table)
        missing = [q for q in qis if q not in table.columns]
        if missing:
            return RiskOutcome("error", rule.enforced, rule.required,
                               f"quasi-identifier(s) {', '.join(missing)} are not columns of the risk table")
        targets = Targets(k=rule.k or 1, max_risk=rule.max_risk)
        report = measure(table, qis, targets=targets)
    except Exception as exc:  # fail closed: a check that crashed has not shown the release to be safe
        return RiskOutcome("error", rule.enforced, rule.required, f"risk check failed: {type(exc).__name__}: {exc}")
    d = report.to_dict()
    failed = [f"{c.name} = {c.value:.4g} (threshold {c.threshold:g})" for c in report.checks
              if c.passed is False and c.threshold is not None]
    if not rule.enforced:
        return RiskOutcome("measured", False, rule.required, f"k = {report.k} over {len(qis)} quasi-identifiers; "
                           "no threshold for this tier", d)
    status = "passed" if report.passed else "failed"
    thr = []
    if rule.k is not None:
        thr.append(f"k >= {rule.k}")
    if rule.max_risk is not None:
        thr.append(f"risk <= {rule.max_risk:g}")
    return RiskOutcome(status, True, rule.required,
                       f"k = {report.k}, max prosecutor risk {report.prosecutor_max:.3g} over {report.records} "
                       f"{rule.level}s and {len(qis)} quasi-identifiers ({', '.join(qis) or 'none'}); "
                       f"tier requires {' and '.join(thr)}", d, failed)


def generalise_to_tier(data_dir: Path, rule: RiskRule) -> dict[str, Any]:
    """Generalise and suppress the released headers so the tier's k / max-risk is met with the least
    information loss (:mod:`veil.risk.search`, written back by :mod:`veil.risk.apply`), before the gate
    measures the folder again.

    Suppressed records are withheld (moved out of the release). Nothing time- or run-dependent is written
    (no audit head in the data manifest; the release's own audit entry records the generalisation), so
    the same folder gives the same bytes and releases stay reproducible.
    """
    from veil.risk import apply as apply_mod
    from veil.risk.hierarchy import load_hierarchies
    from veil.risk.measures import Targets, measure
    from veil.risk.search import problem, search
    from veil.risk.table import aggregate, present_qis, read_instances

    instances, _bad = read_instances(data_dir)
    table = aggregate(instances, rule.level)
    qis = list(rule.qis) or present_qis(table)
    targets = Targets(k=rule.k or 1, max_risk=rule.max_risk)
    if table.height == 0 or measure(table, qis, targets=targets).passed:
        return {"applied": False, "met": True, "notes": ["the targets are met as released"]}
    prob = problem(table, qis, load_hierarchies(None), targets=targets, suppression=rule.suppression,
                   max_levels={q: 0 for q in qis if q in apply_mod.UNWRITABLE})
    result = search(prob)
    if result.node is None:
        return {"applied": False, "met": False,
                "notes": ["no generalisation meets the targets within the suppression limit"]}
    gen = apply_mod.plan(table, prob, result, rule.level)
    res = apply_mod.apply(data_dir, gen, audit_key=None, command="veil release create")
    return {"applied": True, "met": True, "rewritten": res.rewritten, "withheld": res.withheld,
            "generalisation": gen.names(), "notes": []}


# --- helpers -----------------------------------------------------------------------------------------


def _load_plan(project: Project, tier: Tier) -> tuple[Any, str]:
    """The compiled plan of the tier's policy, and the exact policy text to ship as POLICY.yaml."""
    from veil.policy.model import builtin_text, load_policy
    from veil.policy.plan import compile_plan

    spec = resolve_policy_spec(tier, project.root)
    policy = load_policy(spec)
    text = builtin_text(str(spec)) if isinstance(spec, str) else Path(spec).read_text(encoding="utf-8")
    return compile_plan(policy), text


def _fingerprint(input_hashes: list[str]) -> str:
    """A keyed fingerprint of the input set (order-free): the same files give the same value."""
    return hashlib.sha256("\n".join(sorted(h for h in input_hashes if h)).encode()).hexdigest()


def _make_read_only(folder: Path) -> None:
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            os.chmod(Path(dirpath) / f, 0o444)


def _move_private_state(data: Path, keep: Path) -> None:
    """Move run state that names inputs out of the release into the project's private run folder."""
    keep.mkdir(parents=True, exist_ok=True)
    os.chmod(keep, 0o700)
    for name in _PRIVATE_STATE:
        p = data / STATE_DIR / name
        if p.exists():
            shutil.move(str(p), str(keep / name))


def _quarantine_summary(results: Iterable[Any]) -> dict[str, int]:
    return dict(sorted(Counter(r.rule or "unknown" for r in results if r.status == "quarantined").items()))


# --- create ------------------------------------------------------------------------------------------


def create_release(project: Project, tier_name: str, inputs: Path, *, purpose: str, workers: int = 1,
                   reissue_of: int | None = None) -> ReleaseOutcome:
    """Run one release attempt end to end; returns the outcome (published or failed), never half-done.

    Raises :class:`ReleaseError` (nothing attempted, no number used) for usage problems: unknown tier,
    missing purpose, a tier that writes the vault in a project without one, missing input.
    """
    from veil.errors import PolicyError, SecretError
    from veil.pipeline.runner import check_paths, run
    from veil.pipeline.sources import collect
    from veil.verify import Pairs, verify_folder

    if not purpose.strip():
        raise ReleaseError("a release needs a purpose (--purpose): it goes on the terms and into the audit log")
    tier = project.tier(tier_name)
    inputs = Path(inputs)
    if not inputs.exists():
        raise ReleaseError(f"input {inputs} does not exist")
    try:
        plan, policy_text = _load_plan(project, tier)
        keyed = project.keyed()
    except (PolicyError, SecretError) as exc:
        raise ReleaseError(f"tier {tier.name}: {exc}") from exc
    db = project.db()
    vault = None
    if tier.vault:
        from veil.identity.vault import Vault, VaultError

        try:
            vault = Vault.open(db, project.secret())
        except VaultError as exc:
            raise ReleaseError(f"tier {tier.name} writes the identity vault, but {exc}") from exc
    if reissue_of is not None:
        old = history.get(db, reissue_of)
        if old.state not in ("published", "withdrawn"):
            raise ReleaseError(f"release {old.id} is {old.state}; only a published or withdrawn release can be "
                               "re-issued")

    number = history.allocate(db, tier=tier.name, purpose=purpose, created_by=who(), reissue_of=reissue_of)
    rid = history.release_id(number)
    staging = project.staging_dir / f"{number:04d}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    os.chmod(staging, 0o700)
    data = staging / DATA
    check_paths(inputs, data)
    sources = collect(inputs)
    warnings: list[str] = []
    try:
        summary = run(_Described(sources), data, plan, keyed, workers=workers, failed_sources=sources.errors)
        reasons: list[str] = []
        generalised: dict[str, Any] | None = None
        if tier.risk.generalise and summary.written:
            try:
                generalised = generalise_to_tier(data, tier.risk)
            except Exception as exc:  # fail closed: the gate below measures whatever is on disk
                generalised = {"applied": False, "error": f"{type(exc).__name__}: {exc}"}
                reasons.append(f"generalisation to the tier's risk targets failed: {exc}")
        # outputs still on disk (generalisation may withhold some), paired with their inputs: on disk, not
        # a list of every result and a dict of every pair in this process (verify.Pairs)
        pairs = Pairs((str(r.output), Path(r.source)) for r in summary.results.select("status = 'ok'")
                      if r.output and (data / r.output).is_file())
        published = len(pairs)
        # the inputs as the run read them (archives in a folder or list too, at the paths pairs name)
        result = verify_folder(data, sources, pairs=pairs, allow_private=tier.allow_private, workers=workers,
                               dates_retained=plan.policy.has("retain_long_full_dates"), require_input=False)
        fingerprint = _fingerprint([r.input_hash for r in summary.results])
        if summary.written and not (result.inputs_read and result.identifiers):  # fail closed: nothing to
            # search the output for
            reasons.append("no input file could be read for the verification, or none held an identifier: the "
                           "output was not searched for the input's identifiers")
        if not result.ok:
            reasons.append(f"veil verify found {len(result.findings)} identifying value(s) in the output")
        if summary.written == 0:
            reasons.append("nothing was written: no input could be de-identified")
        if summary.quarantined and tier.quarantine == "refuse":
            reasons.append(f"{summary.quarantined} input file(s) were quarantined and tier {tier.name} refuses "
                           "incomplete releases")
        risk = risk_gate(data, tier) if summary.written else RiskOutcome("error", tier.risk.enforced,
                                                                          tier.risk.required, "no files to measure")
        if risk.blocks:
            if risk.status == "failed":
                reasons.append(f"re-identification risk above the tier's thresholds: {risk.detail}")
            else:
                reasons.append(f"risk check {risk.status}: {risk.detail}")
        if reissue_of is not None and history.get(db, reissue_of).input_fingerprint not in ("", fingerprint):
            warnings.append(f"the inputs differ from those of {history.release_id(reissue_of)}")
        withheld = summary.written - published
        counts = {"files_in": summary.files_in, "written": summary.written, "quarantined": summary.quarantined,
                  "duplicates": summary.duplicates, "patients": summary.patients, "withheld": withheld,
                  "published": published}
        findings = [f.as_dict() for f in result.findings]
        verify_d = {"ok": result.ok, "files": result.files, "paired": result.paired, "findings": len(result.findings),
                    "unreadable": result.unreadable, "notes": list(result.notes)}
        outcome = ReleaseOutcome(number, "failed", staging, tier.name, plan.policy.name, plan.policy_hash, counts,
                                 verify_d, findings, risk, reasons, warnings=warnings, generalisation=generalised)
        db.execute("UPDATE releases SET input_fingerprint = ? WHERE number = ?", (fingerprint, number))
        common = {"release": rid, "tier": tier.name, "level": tier.level, "policy": plan.policy.name}
        if reasons:
            return _refuse(project, outcome, staging, data, common, quarantine=_quarantine_summary(summary.results))
        if vault is not None:
            from veil.identity.vault import batch_from_outputs

            batch = batch_from_outputs(((src, data / rel) for rel, src in sorted(pairs.items())), keyed=keyed,
                                       policy=plan.policy, release=number)
            batch_id = vault.write(batch)
            outcome.vault_entries = len(batch)
        else:
            batch_id = ""
        return _publish(project, outcome, tier, plan, policy_text, staging, data, common, purpose, fingerprint,
                        reissue_of, batch_id, _quarantine_summary(summary.results))
    finally:
        sources.cleanup()


class _Described:
    """The run's files with their reports' names (an archive's member as ``archive!member``, not the staging
    path that is gone once the run ends: red team), without :meth:`Sources.finished`: the gate reads the same
    files again after the run (verify_folder), so their staging folders stay until its cleanup."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def __iter__(self) -> Iterator[Path]:
        return iter(self._sources)

    def describe(self, source: str) -> str:
        return self._sources.describe(source)


def _refuse(project: Project, outcome: ReleaseOutcome, staging: Path, data: Path, common: dict[str, Any],
            quarantine: dict[str, int]) -> ReleaseOutcome:
    rid = outcome.id
    doc = {"release": rid, "state": "failed", "reasons": outcome.reasons, "tier": outcome.tier,
           "policy": {"name": outcome.policy_name, "hash": outcome.policy_hash}, "counts": outcome.counts,
           "quarantine": quarantine, "verify": outcome.verify, "findings": outcome.findings,
           "risk": outcome.risk.as_dict(), "veil_version": __version__, "created": history.now(),
           "created_by": who(), "warnings": outcome.warnings}
    (staging / FINDINGS).write_bytes(canonical(doc))
    project.failed_dir.mkdir(parents=True, exist_ok=True)
    target = project.failed_dir / staging.name
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    os.chmod(target, 0o700)  # it may hold identifying data: only the project owner may look
    outcome.folder = target
    history.finish(project.db(), outcome.number, state="failed", folder=str(target.relative_to(project.root)),
                   policy_name=outcome.policy_name, policy_hash=outcome.policy_hash,
                   findings=len(outcome.findings), reason="; ".join(outcome.reasons), files=outcome.counts["written"])
    outcome.audit_head = project.audit(
        "release-refused", purpose=f"{rid}: {', '.join(outcome.reasons)}"[:2000], policy_hash=outcome.policy_hash,
        counts={**outcome.counts, "findings": len(outcome.findings)},
        extra={**common, "risk": outcome.risk.status, "verify_ok": bool(outcome.verify["ok"])})
    return outcome


def _publish(project: Project, outcome: ReleaseOutcome, tier: Tier, plan: Any, policy_text: str, staging: Path,
             data: Path, common: dict[str, Any], purpose: str, fingerprint: str, reissue_of: int | None,
             batch_id: str, quarantine: dict[str, int]) -> ReleaseOutcome:
    from veil.release.terms import markdown_to_pdf, render_markdown

    rid = outcome.id
    _move_private_state(data, project.root / STATE_DIR / "runs" / staging.name)
    (staging / "POLICY.yaml").write_text(policy_text, encoding="utf-8")
    if outcome.risk.report is not None:
        (staging / "RISK.json").write_bytes(canonical(outcome.risk.as_dict()))
    created = history.now()
    info = {"id": rid, "project": project.name, "created": created, "purpose": purpose,
            "policy_name": plan.policy.name, "policy_hash": plan.policy_hash, "files": outcome.counts["published"],
            "patients": outcome.counts["patients"]}
    terms_md = render_markdown(tier, info)
    (staging / "TERMS.md").write_text(terms_md, encoding="utf-8")
    (staging / "TERMS.pdf").write_bytes(markdown_to_pdf(terms_md, f"Data-use terms, release {rid}"))
    r = tier.risk
    manifest = {
        "id": rid, "number": outcome.number, "project": project.name, "created": created, "created_by": who(),
        "purpose": purpose, "veil_version": __version__,
        "tier": {"name": tier.name, "description": tier.description, "level": tier.level,
                 "risk": {"k": r.k, "max_risk": r.max_risk, "required": r.required, "level": r.level,
                          "qis": list(r.qis), "generalise": r.generalise, "suppression": r.suppression},
                 "vault": tier.vault, "quarantine": tier.quarantine},
        "deidentification_level": tier.level_text,
        "policy": {"name": plan.policy.name, "version": plan.policy.version, "hash": plan.policy_hash,
                   "options": list(plan.policy.options), "table": plan.edition, "file": "POLICY.yaml"},
        "input": {"files": outcome.counts["files_in"], "fingerprint": fingerprint},
        "counts": outcome.counts, "quarantine": quarantine, "verify": outcome.verify,
        "risk": outcome.risk.as_dict(), "generalisation": outcome.generalisation,
        "vault": {"written": bool(batch_id), "entries": outcome.vault_entries, "batch": batch_id or None},
        "reissue_of": history.release_id(reissue_of) if reissue_of is not None else None,
        "terms": ["TERMS.md", "TERMS.pdf"], "data": DATA, "warnings": outcome.warnings,
    }
    digest = write_signed(staging, manifest, project.signing_key_path, project.signing_pub_path.read_bytes())
    _make_read_only(staging)
    target = project.releases_dir / staging.name
    if target.exists():
        raise ReleaseError(f"{target} already exists; the release register and the folder disagree")
    project.releases_dir.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    os.chmod(target, 0o755)
    outcome.state = "published"
    outcome.folder = target
    outcome.manifest_sha256 = digest
    history.finish(project.db(), outcome.number, state="published", folder=str(target.relative_to(project.root)),
                   policy_name=plan.policy.name, policy_hash=plan.policy_hash, manifest_sha256=digest,
                   files=outcome.counts["published"])
    outcome.audit_head = project.audit(
        "release-published", purpose=purpose, policy_hash=plan.policy_hash,
        counts={**outcome.counts, "vault_entries": outcome.vault_entries},
        extra={**common, "manifest_sha256": digest, "risk": outcome.risk.status,
               "generalisation": outcome.generalisation,
               "reissue_of": history.release_id(reissue_of) if reissue_of is not None else None})
    return outcome


# --- withdraw and reproduce ----------------------------------------------------------------------------


def withdraw_release(project: Project, number: int, *, reason: str) -> history.ReleaseRecord:
    """Mark a published release withdrawn (register + audit log). Its folder stays, read-only, as evidence."""
    rec = history.withdraw(project.db(), number, by=who(), reason=reason)
    project.audit("release-withdrawn", purpose=reason, policy_hash=rec.policy_hash, counts={"files": rec.files},
                  extra={"release": rec.id, "tier": rec.tier, "manifest_sha256": rec.manifest_sha256})
    return rec


@dataclass
class ReproduceResult:
    release: str
    identical: bool
    files_compared: int
    differences: list[str]
    policy_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"release": self.release, "identical": self.identical, "files_compared": self.files_compared,
                "differences": self.differences, "policy_hash": self.policy_hash}


def reproduce(project: Project, number: int, inputs: Path, *, workers: int = 1) -> ReproduceResult:
    """Re-run release ``number`` from ``inputs`` with its own POLICY.yaml and the project secret, and compare
    every file of ``data/`` byte for byte (by SHA-256) with what the signed manifest lists."""
    from veil.pipeline.runner import run
    from veil.pipeline.sources import collect
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    rec = history.get(project.db(), number)
    if rec.state not in ("published", "withdrawn"):
        raise ReleaseError(f"release {rec.id} is {rec.state}: nothing was published to reproduce")
    folder = project.root / rec.folder
    manifest = json.loads((folder / MANIFEST).read_bytes())
    plan = compile_plan(load_policy(folder / "POLICY.yaml"))
    if plan.policy_hash != manifest["policy"]["hash"]:
        raise ReleaseError(f"{folder / 'POLICY.yaml'} does not have the policy hash of {rec.id}")
    expected = {r["path"][len(DATA) + 1:]: r["sha256"] for r in manifest["files"]
                if r["path"].startswith(DATA + "/")}
    project.staging_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"reproduce-{number:04d}-", dir=project.staging_dir))
    sources = collect(Path(inputs))
    try:
        run(_Described(sources), tmp, plan, project.keyed(), workers=workers, failed_sources=sources.errors)
        risk = manifest.get("tier", {}).get("risk", {})
        if risk.get("generalise"):
            generalise_to_tier(tmp, RiskRule(k=risk.get("k"), max_risk=risk.get("max_risk"), level=risk["level"],
                                             qis=tuple(risk.get("qis") or ()), generalise=True,
                                             suppression=float(risk.get("suppression", 0.05))))
        got = {}
        for p in sorted(tmp.rglob("*")):
            rel = p.relative_to(tmp).as_posix()
            if p.is_file() and not any(rel == f"{STATE_DIR}/{n}" or rel.startswith(f"{STATE_DIR}/{n}/")
                                       for n in _PRIVATE_STATE):
                got[rel] = sha256_file(p)
    finally:
        sources.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    diffs = [f"{rel}: missing in the re-run" for rel in sorted(set(expected) - set(got))]
    diffs += [f"{rel}: not in release {rec.id}" for rel in sorted(set(got) - set(expected))]
    diffs += [f"{rel}: different bytes" for rel in sorted(set(got) & set(expected)) if got[rel] != expected[rel]]
    res = ReproduceResult(rec.id, not diffs, len(set(got) & set(expected)), diffs, plan.policy_hash)
    project.audit("release-reproduced", purpose=f"reproduce {rec.id}", policy_hash=plan.policy_hash,
                  counts={"files": res.files_compared, "differences": len(diffs)},
                  extra={"release": rec.id, "identical": res.identical})
    return res
