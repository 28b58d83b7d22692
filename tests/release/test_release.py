"""Releases: contents, the gate (verify, risk, quarantine), tamper detection, withdraw/re-issue, reproducibility."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from veil.release import history
from veil.release.create import ReleaseError, create_release, reproduce, risk_gate, withdraw_release
from veil.release.manifest import MANIFEST, SIGNATURE, check
from veil.release.tiers import parse_tier

from .conftest import make_project


@pytest.fixture(scope="module")
def published(tmp_path_factory, corpus):  # type: ignore[no-untyped-def]
    """One published release; tamper tests work on copies of it."""
    root = tmp_path_factory.mktemp("pub")
    proj = make_project(root / "proj")
    out = create_release(proj, "open", corpus.root, purpose="module fixture")
    assert out.published, out.reasons
    yield proj, out
    proj.close()


def _copy(published, tmp_path: Path) -> tuple[Path, bytes]:  # type: ignore[no-untyped-def]
    proj, out = published
    dst = tmp_path / "copy"
    shutil.copytree(out.folder, dst)
    for dirpath, _d, files in os.walk(dst):
        for f in files:
            os.chmod(Path(dirpath) / f, 0o644)
    return dst, proj.signing_pub_path.read_bytes()


def test_published_release_contents(published) -> None:  # type: ignore[no-untyped-def]
    proj, out = published
    folder = out.folder
    names = {p.name for p in folder.iterdir()}
    assert {"data", "POLICY.yaml", "RISK.json", "TERMS.md", "TERMS.pdf", MANIFEST, SIGNATURE,
            "SIGNING-KEY.pub"} <= names
    m = json.loads((folder / MANIFEST).read_bytes())
    for key in ("veil_version", "policy", "tier", "counts", "verify", "risk", "created", "created_by", "purpose"):
        assert key in m
    assert m["policy"]["hash"] == out.policy_hash and m["tier"]["name"] == "open"
    assert m["verify"]["ok"] and m["counts"]["written"] == out.counts["written"]
    assert (folder / "data" / ".veil" / "manifest.jsonl").is_file()
    # run state naming inputs stays in the project, never in the release
    assert not (folder / "data" / ".veil" / "quarantine.jsonl").exists()
    assert not (folder / "data" / ".veil" / "journal").exists()
    assert (proj.root / ".veil" / "runs" / folder.name / "quarantine.jsonl").is_file()
    assert all(not os.access(p, os.W_OK) or os.geteuid() == 0 for p in folder.rglob("*.dcm"))
    assert oct((folder / MANIFEST).stat().st_mode & 0o777) == "0o444"
    # no input path or planted value anywhere in the release's text files
    text = "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.suffix != ".dcm")
    assert "Quixworth" not in text and str(proj.root.parent) not in text


@pytest.mark.parametrize("how", ["edit-dicom", "delete-file", "add-file", "edit-terms", "edit-data-manifest",
                                 "edit-release-manifest", "rehash-manifest", "edit-signature", "swap-key"])
def test_tampering_is_detected(published, tmp_path: Path, how: str) -> None:  # type: ignore[no-untyped-def]
    folder, key = _copy(published, tmp_path)
    assert check(folder, key).ok
    dcm = sorted(folder.joinpath("data").rglob("*.dcm"))[0]
    if how == "edit-dicom":
        data = bytearray(dcm.read_bytes())
        data[200] ^= 0xFF
        dcm.write_bytes(bytes(data))
    elif how == "delete-file":
        dcm.unlink()
    elif how == "add-file":
        (dcm.parent / "extra.dcm").write_bytes(b"x")
    elif how == "edit-terms":
        (folder / "TERMS.md").write_text((folder / "TERMS.md").read_text().replace("Prohibited", "Allowed"))
    elif how == "edit-data-manifest":
        p = folder / "data" / ".veil" / "manifest.jsonl"
        p.write_text(p.read_text().replace('"X"', '"K"', 1) + "\n")
    elif how == "edit-release-manifest":
        p = folder / MANIFEST
        p.write_text(p.read_text().replace('"open"', '"public"'))
    elif how == "rehash-manifest":  # attacker edits a file and updates its hash in RELEASE.json
        (folder / "TERMS.md").write_text("anything goes\n")
        m = json.loads((folder / MANIFEST).read_bytes())
        from veil.release.manifest import canonical, list_files

        m["files"] = list_files(folder)
        (folder / MANIFEST).write_bytes(canonical(m))
    elif how == "edit-signature":
        sig = json.loads((folder / SIGNATURE).read_bytes())
        sig["signature"] = sig["signature"][:-4] + ("AAA=" if not sig["signature"].endswith("AAA=") else "BBB=")
        (folder / SIGNATURE).write_text(json.dumps(sig))
    elif how == "swap-key":  # re-signed with another key: fails against the project's key
        from veil.release.manifest import canonical
        from veil.release.sign import generate_keypair, sign

        generate_keypair(tmp_path / "evil.key", tmp_path / "evil.pub")
        m = json.loads((folder / MANIFEST).read_bytes())
        m["purpose"] = "changed"
        data = canonical(m)
        (folder / MANIFEST).write_bytes(data)
        (folder / SIGNATURE).write_text(json.dumps({"alg": "ed25519", "signature": sign(tmp_path / "evil.key", data)}))
        (folder / "SIGNING-KEY.pub").write_bytes((tmp_path / "evil.pub").read_bytes())
    res = check(folder, key)
    assert not res.ok, how
    assert res.problems


def _policy_tier(proj, name: str, policy_yaml: str) -> None:  # type: ignore[no-untyped-def]
    """A limited-data-set tier `name` whose policy (policies/`name`.yaml) is `policy_yaml`."""
    (proj.root / "policies" / f"{name}.yaml").write_text(policy_yaml)
    tiers = dict(proj.tiers)
    tiers[name] = parse_tier(name, {"policy": f"policies/{name}.yaml", "level": "limited-data-set"})
    proj.tiers = tiers


def test_leak_in_the_input_kept_by_policy_is_refused(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    """The corpus plants names in ImageComments; a policy that keeps the attribute is refused."""
    proj = make_project(tmp_path / "p")
    _policy_tier(proj, "comments",
                 "name: comments\nversion: '1'\noverrides:\n  - {keyword: ImageComments, action: keep}\n")
    out = create_release(proj, "comments", corpus.root, purpose="leak")
    assert out.state == "failed"
    assert any("ImageComments" in f["location"] for f in out.findings)
    findings = json.loads((proj.root / "failed" / "0001" / "FINDINGS.json").read_bytes())
    assert findings["reasons"] and findings["findings"]
    assert oct((proj.root / "failed" / "0001").stat().st_mode & 0o777) == "0o700"
    # evidence is masked in what is written
    assert "Quixworth" not in (proj.root / "failed" / "0001" / "FINDINGS.json").read_text()
    rec = history.get(proj.db(), 1)
    assert rec.state == "failed" and rec.findings == len(out.findings)
    proj.close()


def test_risk_above_tier_threshold_is_refused(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path / "p")
    out = create_release(proj, "strict", corpus.root, purpose="too few patients for k=11")
    assert out.state == "failed"
    assert out.risk.status == "failed" and out.risk.failed_checks
    assert any("risk" in r for r in out.reasons)
    assert out.verify["ok"]
    proj.close()


def test_risk_not_available_fails_closed_only_when_required(tmp_path: Path, corpus, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import builtins

    real_import = builtins.__import__

    def no_risk(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("veil.risk"):
            raise ImportError("veil.risk is not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_risk)
    required = parse_tier("t", {"policy": "basic", "level": "safe-harbor", "risk": {"required": True}})
    optional = parse_tier("t", {"policy": "basic", "level": "limited-data-set"})
    assert risk_gate(tmp_path, required).blocks
    assert risk_gate(tmp_path, required).status == "not-available"
    assert not risk_gate(tmp_path, optional).blocks
    proj = make_project(tmp_path / "p")
    out = create_release(proj, "open", corpus.root, purpose="no risk module")
    assert out.state == "failed" and "not-available" in " ".join(out.reasons)
    proj.close()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quarantine_refused_by_tier(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "in"
    shutil.copytree(corpus.root, bad)
    (bad / "broken.dcm").write_bytes(b"not dicom at all")
    proj = make_project(tmp_path / "p")
    proj.tiers["picky"] = parse_tier("picky", {"policy": "basic", "level": "safe-harbor", "quarantine": "refuse",
                                               "risk": {"k": 1}})
    out = create_release(proj, "picky", bad, purpose="q")
    assert out.state == "failed" and any("quarantined" in r for r in out.reasons)
    ok = create_release(proj, "open", bad, purpose="q allowed")
    assert ok.published and ok.counts["quarantined"] == 1
    m = json.loads((ok.folder / MANIFEST).read_bytes())
    assert sum(m["quarantine"].values()) == 1
    assert "broken.dcm" not in (ok.folder / MANIFEST).read_text()
    proj.close()


def test_withdraw_reissue_and_reproduce(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path / "p")
    first = create_release(proj, "open", corpus.root, purpose="v1")
    with pytest.raises(history.HistoryError):
        withdraw_release(proj, first.number, reason="   ")
    rec = withdraw_release(proj, first.number, reason="policy bug: kept StationName")
    assert rec.state == "withdrawn" and rec.withdrawn_reason.startswith("policy bug")
    with pytest.raises(history.HistoryError):
        withdraw_release(proj, first.number, reason="again")
    # corrected policy: a site override changes the bytes; the old release still reproduces
    (proj.root / "policies" / "fixed.yaml").write_text(
        "name: fixed\nversion: '2'\npseudonyms: {prefix: FIX}\n")
    proj.tiers["open"] = parse_tier("open", {"policy": "policies/fixed.yaml", "level": "expert-determination",
                                             "risk": {"k": 1}, "vault": True})
    second = create_release(proj, "open", corpus.root, purpose="v2", reissue_of=first.number)
    assert second.published and second.policy_hash != first.policy_hash
    assert all(p.name.startswith("FIX") for p in (second.folder / "data").iterdir() if p.name != ".veil")
    assert [r.id for r in history.reissues(proj.db(), first.number)] == [second.id]
    res = reproduce(proj, first.number, corpus.root)
    assert res.identical and res.files_compared == first.counts["written"] + 1
    # a different input does not reproduce
    other = tmp_path / "other"
    shutil.copytree(corpus.root, other)
    next(other.rglob("*.dcm")).unlink()
    assert not reproduce(proj, first.number, other).identical
    proj.close()


def test_reissue_from_different_inputs_warns(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path / "p")
    first = create_release(proj, "open", corpus.root, purpose="v1")
    other = tmp_path / "other"
    shutil.copytree(corpus.root, other)
    next(other.rglob("*.dcm")).unlink()
    second = create_release(proj, "open", other, purpose="v2", reissue_of=first.number)
    assert second.published and any("inputs differ" in w for w in second.warnings)
    proj.close()


def test_usage_errors_use_no_release_number(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path / "p")
    with pytest.raises(ReleaseError, match="purpose"):
        create_release(proj, "open", corpus.root, purpose=" ")
    with pytest.raises(VeilErrorLike):
        create_release(proj, "nope", corpus.root, purpose="x")
    with pytest.raises(ReleaseError, match="does not exist"):
        create_release(proj, "open", tmp_path / "missing", purpose="x")
    (proj.root / "policies" / "leaky.yaml").write_text("name: [broken")
    with pytest.raises(ReleaseError, match="leaky"):
        create_release(proj, "leaky", corpus.root, purpose="x")
    assert history.list_releases(proj.db()) == []
    proj.close()


def test_vault_tier_without_vault_refuses(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    from veil.project import init_project

    from .conftest import TEST_TIERS

    proj = init_project(tmp_path / "novault", tiers=TEST_TIERS)
    with pytest.raises(ReleaseError, match="identity vault"):
        create_release(proj, "open", corpus.root, purpose="x")
    proj.close()


def test_same_input_policy_secret_same_bytes_across_projects_sharing_the_secret(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    """Reproducible bytes do not depend on the project folder, the release number or the time."""
    a = make_project(tmp_path / "a")
    b = make_project(tmp_path / "b")
    (b.root / ".veil" / "secret.key").write_bytes((a.root / ".veil" / "secret.key").read_bytes())
    (b.root / ".veil" / "audit.jsonl").unlink()  # keyed with b's old secret: start a new chain
    (b.root / ".veil" / "audit.jsonl.head").unlink()  # (its head file goes with it)
    create_release(b, "strict", corpus.root, purpose="burn a number")  # b's next release gets another number
    ra = create_release(a, "open", corpus.root, purpose="a")
    rb = create_release(b, "open", corpus.root, purpose="b")
    assert ra.number != rb.number

    def data(out):  # type: ignore[no-untyped-def]
        return {p.relative_to(out.folder).as_posix(): p.read_bytes() for p in (out.folder / "data").rglob("*")
                if p.is_file()}

    assert data(ra) == data(rb)
    a.close()
    b.close()


from veil.errors import VeilError as VeilErrorLike  # noqa: E402


def test_tier_generalises_to_meet_its_risk_target_reproducibly(tmp_path: Path) -> None:
    """A tier with `risk.generalise` rewrites quasi-identifiers (veil.risk) until k is met, then publishes;
    the generalised bytes are reproducible."""
    from veil.project import init_project
    from veil.samples import generate_corpus

    c = generate_corpus(tmp_path / "in", patients=8, studies_per_patient=1, series_per_study=1,
                        instances_per_series=1, modalities=("CT", "MR"))
    tiers = {
        "gen": {"policy": "policies/chars.yaml", "level": "expert-determination",
                "risk": {"k": 2, "generalise": True, "suppression": 0.3}},
        "plain": {"policy": "policies/chars.yaml", "level": "expert-determination", "risk": {"k": 2}},
    }
    proj = init_project(tmp_path / "p", tiers=tiers)
    (proj.root / "policies" / "chars.yaml").write_text(
        "name: chars\nversion: '1'\noptions: [retain_patient_characteristics]\n")
    refused = create_release(proj, "plain", c.root, purpose="as released")
    assert refused.state == "failed" and refused.risk.status == "failed"
    out = create_release(proj, "gen", c.root, purpose="generalised")
    assert out.published, out.reasons
    assert out.generalisation and out.generalisation["applied"]
    assert out.risk.status == "passed" and out.risk.report and out.risk.report["k"] >= 2
    assert sorted(p.name for p in (out.folder / "data" / ".veil").iterdir()) == ["manifest.jsonl"]
    assert check(out.folder, proj.signing_pub_path.read_bytes()).ok
    assert reproduce(proj, out.number, c.root).identical
    m = json.loads((out.folder / MANIFEST).read_bytes())
    assert m["generalisation"]["generalisation"] and m["tier"]["risk"]["generalise"]
    proj.close()


@pytest.mark.parametrize("form", ["list", "zip-in-folder", "list-of-zip"])
def test_the_gate_reads_inputs_as_deid_reads_them(tmp_path: Path, corpus, form: str) -> None:  # type: ignore[no-untyped-def]
    """Red team: given a list file, or a folder holding a zip, the gate read the list (or the zip) as one
    DICOM file, found no identifier to look for and published a name a policy kept. It reads the inputs as
    deid does: the leak is found, whatever form the inputs take."""
    import zipfile

    import pydicom

    proj = make_project(tmp_path / "p")
    _policy_tier(proj, "site", "name: site\nversion: '1'\noverrides:\n  - {keyword: InstitutionName, action: keep}\n")
    files = tmp_path / "files"
    files.mkdir()
    for i, f in enumerate(corpus.files):  # the patient's surname as the institution: only its needle finds it
        ds = pydicom.dcmread(f)
        ds.InstitutionName = str(ds.PatientName).split("^")[0]
        ds.save_as(files / f"{i}.dcm")
    holder = tmp_path / "inputs"
    holder.mkdir()
    if form == "list":
        spec = tmp_path / "inputs.lst"
        spec.write_text("\n".join(str(f) for f in sorted(files.iterdir())) + "\n")
    else:
        with zipfile.ZipFile(holder / "study.zip", "w") as zf:
            for f in sorted(files.iterdir()):
                zf.write(f, f.name)
        spec = holder
        if form == "list-of-zip":
            spec = tmp_path / "zips.lst"
            spec.write_text(f"{holder / 'study.zip'}\n")
    out = create_release(proj, "site", spec, purpose="gate")
    assert out.state == "failed", out.reasons
    assert any("InstitutionName" in f["location"] for f in out.findings), out.findings[:3]
    proj.close()


def test_release_notes_name_no_input_path(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    """Red team: a FIFO in an input folder named after the patient put that folder's path into the signed
    RELEASE.json's verify notes. Notes count what was not read and say why, by rule only."""
    inputs = tmp_path / "Quixworth_Zebulon_MRN98765431"
    shutil.copytree(corpus.root, inputs)
    os.mkfifo(inputs / "Quixworth_fifo")
    proj = make_project(tmp_path / "p")
    out = create_release(proj, "open", inputs, purpose="notes")
    assert out.published, out.reasons
    text = (out.folder / MANIFEST).read_text()
    assert "not read" in text and "Quixworth" not in text and "98765431" not in text
    proj.close()


def test_a_tier_that_keeps_full_dates_can_publish(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    """Red team: a tier whose policy keeps real dates (Retain Longitudinal Temporal Information Full Dates)
    was always refused: the gate's paired check called every kept study date a date not shifted."""
    proj = make_project(tmp_path / "p")
    _policy_tier(proj, "dated", "name: dated\nversion: '1'\nprofile: ps3.15-basic\noptions: [retain_long_full_dates]\n")
    out = create_release(proj, "dated", corpus.root, purpose="dates kept")
    assert not any(f["category"] == "date-not-shifted" for f in out.findings), out.findings[:3]
    assert out.published, out.reasons
    proj.close()


def test_a_quarantined_archive_member_is_named_as_archive_member(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    """Red team: a release's quarantine report named an archive member by its staging path (gone once the
    run ends) instead of ``archive!member``, as `veil deid` names it."""
    import zipfile

    holder = tmp_path / "inputs"
    holder.mkdir()
    with zipfile.ZipFile(holder / "study.zip", "w") as zf:
        for f in corpus.files:
            zf.write(f, f.relative_to(corpus.root))
        zf.writestr("broken/cut.dcm", corpus.files[0].read_bytes()[:300])
    proj = make_project(tmp_path / "p")
    create_release(proj, "open", holder, purpose="members")
    reports = list(proj.root.rglob("quarantine.jsonl"))
    assert reports
    lines = [json.loads(x) for r in reports for x in r.read_text().splitlines() if x.strip()]
    assert [x["source"].endswith("study.zip!broken/cut.dcm") for x in lines] == [True]
    proj.close()
