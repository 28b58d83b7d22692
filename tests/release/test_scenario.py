"""The acceptance scenario of issue 8, end to end through the commands, on SQLite and on PostgreSQL.

Create a project with a custodian key; publish a release; check it; refuse a release with a planted
leak (listing the finding); re-identify without and with the custodian key (audit entries both times);
byte-search the store for every original identifier; withdraw, re-issue and reproduce.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pydicom
import typer
from typer.testing import CliRunner

from veil.audit import read_entries, verify
from veil.release.command import init_project_command, reidentify, release_app
from veil.release.manifest import check
from veil.samples import SampleCorpus

from .conftest import LEAKY_POLICY, PASSPHRASE, TEST_TIERS, identifiers

app = typer.Typer()
app.add_typer(release_app, name="release")
app.command("reidentify")(reidentify)
app.command("init-project")(init_project_command)
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = runner.invoke(app, list(args), env=env or {})
    return res.exit_code, res.stdout


def _store_bytes(proj_root: Path, backend: str, pg_server) -> bytes:  # type: ignore[no-untyped-def]
    """Everything the store has on disk: the SQLite files, or the whole PostgreSQL data directory."""
    if backend == "sqlite":
        files = sorted((proj_root / ".veil").glob("store.sqlite*"))
        assert files, "no SQLite store"
        return b"".join(p.read_bytes() for p in files)
    import psycopg

    with psycopg.connect(pg_server.admin_url(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # flush shared buffers to the heap files we are about to read
    out = bytearray()
    for p in sorted(pg_server.data.rglob("*")):
        if p.is_file():
            try:
                out += p.read_bytes()
            except PermissionError:  # pragma: no cover - root reads everything
                continue
    return bytes(out)


def test_governance_scenario(tmp_path: Path, corpus: SampleCorpus, backend, request) -> None:  # type: ignore[no-untyped-def]
    kind, url = backend
    root = tmp_path / "proj"
    key_file = tmp_path / "custodian" / "vault.key"
    # init-project through the command, with a key file outside the project and a passphrase
    import veil.identity.vault as vault_mod
    from veil.identity.vault import Credential, create_custodian_key_file
    from veil.project import init_project

    from .conftest import FAST_SCRYPT

    create_custodian_key_file(key_file)
    proj = init_project(root, store_url=url, custodians=[Credential(passphrase=PASSPHRASE),
                                                         Credential(key_file=key_file)],
                        scrypt_n=FAST_SCRYPT, tiers=TEST_TIERS)
    assert vault_mod.Vault.exists(proj.db())
    proj.close()
    (root / "policies" / "leaky.yaml").write_text(LEAKY_POLICY, encoding="utf-8")
    if kind == "postgresql":
        assert "postgresql://" in (root / "veil-project.yaml").read_text()

    # 1. a clean release is published and checks out
    code, out = invoke("release", "create", str(corpus.root), "--tier", "open", "--purpose", "scenario",
                       "--project", str(root), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["state"] == "published" and first["release"] == "R0001"
    assert first["verify"]["ok"] and first["risk"]["status"] == "passed"
    assert first["vault_entries"] > 0
    rel1 = Path(first["folder"])
    code, out = invoke("release", "check", "1", "--project", str(root), "--json")
    assert code == 0, out
    assert json.loads(out)["ok"]

    # 2. tampering with a DICOM file is detected
    victim = sorted(rel1.joinpath("data").rglob("*.dcm"))[0]
    victim.chmod(0o644)
    original = victim.read_bytes()
    victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    code, out = invoke("release", "check", "1", "--project", str(root), "--json")
    assert code == 1
    assert any("content changed" in p for p in json.loads(out)["problems"])
    victim.write_bytes(original)

    # 3. a release with a planted leak (policy keeps PatientName) is refused, with the finding listed
    code, out = invoke("release", "create", str(corpus.root), "--tier", "leaky", "--purpose", "leak",
                       "--project", str(root), "--json")
    assert code == 1, out
    refused = json.loads(out)
    assert refused["state"] == "failed"
    assert any("PatientName" in f["location"] and f["category"].startswith("identifier:name")
               for f in refused["findings"])
    assert not (root / "releases" / "0002").exists() and (root / "failed" / "0002" / "FINDINGS.json").is_file()
    code, out = invoke("release", "show", "2", "--project", str(root), "--json")
    assert json.loads(out)["state"] == "failed" and json.loads(out)["document"]["findings"]

    # 4. re-identification: denied without the key, denied with a wrong one, granted with the right one
    ds = pydicom.dcmread(sorted(rel1.joinpath("data").rglob("*.dcm"))[0], stop_before_pixels=True)
    pseudonym = str(ds.PatientID)
    code, out = invoke("reidentify", "--pseudonym", pseudonym, "--reason", "incidental finding",
                       "--project", str(root), "--json")
    assert code == 1 and "PatientName" not in out
    code, _ = invoke("reidentify", "--pseudonym", pseudonym, "--reason", "incidental finding", "--project", str(root),
                     "--json", env={"VEIL_CUSTODIAN_PASSPHRASE": "not the passphrase at all"})
    assert code == 1
    code, out = invoke("reidentify", "--pseudonym", pseudonym, "--reason", "incidental finding",
                       "--requested-by", "Dr Test", "--project", str(root), "--json",
                       env={"VEIL_CUSTODIAN_PASSPHRASE": PASSPHRASE})
    assert code == 0, out
    got = json.loads(out)
    patient = next(r for r in got["records"] if r["kind"] == "patient")
    src_patients = {p.patient_id: p for p in corpus.patients}
    assert patient["original"]["patient_id"] in src_patients
    assert patient["original"]["patient_name"] == src_patients[patient["original"]["patient_id"]].name
    # ... and by key file, and by pseudo UID
    code, out = invoke("reidentify", "--pseudonym", str(ds.StudyInstanceUID), "--reason", "audit query",
                       "--custodian-key-file", str(key_file), "--project", str(root), "--json")
    assert code == 0, out
    study = json.loads(out)["records"][0]
    assert study["kind"] == "study" and study["original"]["accession_number"]
    entries = read_entries(root / ".veil" / "audit.jsonl")
    actions = [e["extra"]["action"] for e in entries]
    assert actions.count("reidentify-denied") == 2 and actions.count("reidentify") == 2
    granted = next(e for e in entries if e["extra"]["action"] == "reidentify")
    assert granted["purpose"] == "incidental finding" and granted["extra"]["requested_by"] == "Dr Test"
    log_text = (root / ".veil" / "audit.jsonl").read_text()
    assert patient["original"]["patient_id"] not in log_text and patient["original"]["patient_name"] not in log_text

    # 5. the store holds no plaintext identifier (and not even the pseudonyms)
    blob = _store_bytes(root, kind, request.getfixturevalue("pg_server") if kind == "postgresql" else None)
    needles = identifiers(corpus) | {pseudonym, str(ds.StudyInstanceUID)}
    leaked = sorted(n for n in needles if n.encode() in blob)
    assert not leaked, leaked

    # 6. withdraw, re-issue from the same input, reproduce the old release byte for byte
    code, out = invoke("release", "withdraw", "1", "--reason", "policy review", "--project", str(root), "--json")
    assert code == 0 and json.loads(out)["state"] == "withdrawn"
    code, out = invoke("release", "create", str(corpus.root), "--tier", "open", "--purpose", "re-issue",
                       "--reissue-of", "1", "--project", str(root), "--json")
    assert code == 0, out
    third = json.loads(out)
    assert third["release"] == "R0003" and not third["warnings"]
    m1 = json.loads((rel1 / "RELEASE.json").read_bytes())
    m3 = json.loads((Path(third["folder"]) / "RELEASE.json").read_bytes())
    data1 = {r["path"]: r["sha256"] for r in m1["files"] if r["path"].startswith("data/")}
    data3 = {r["path"]: r["sha256"] for r in m3["files"] if r["path"].startswith("data/")}
    assert data1 == data3  # same input + policy + secret => same bytes
    assert m3["reissue_of"] == "R0001"
    code, out = invoke("release", "reproduce", "1", str(corpus.root), "--project", str(root), "--json")
    assert code == 0 and json.loads(out)["identical"], out
    code, out = invoke("release", "list", "--project", str(root), "--json")
    states = {r["id"]: r["state"] for r in json.loads(out)}
    assert states == {"R0001": "withdrawn", "R0002": "failed", "R0003": "published"}
    code, out = invoke("release", "check", "1", "--project", str(root), "--json")
    assert code == 4 and json.loads(out)["state"] == "withdrawn"  # intact, but withdrawn: not usable

    # the audit chain holds every step and verifies with the project secret
    from veil.project import load_project

    proj = load_project(root)
    res = verify(root / ".veil" / "audit.jsonl", key=proj.audit_key())
    assert res.ok, res.problems
    actions = [e["extra"]["action"] for e in read_entries(root / ".veil" / "audit.jsonl")]
    for a in ("project-init", "release-published", "release-refused", "release-withdrawn", "release-reproduced"):
        assert a in actions
    proj.close()


def test_store_url_from_environment(tmp_path: Path, pg_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """VEIL_STORE_URL points an existing project at a shared PostgreSQL store without editing its config."""
    from veil.project import load_project

    from .conftest import fresh_pg_database, make_project

    url = fresh_pg_database(pg_server)
    make_project(tmp_path / "p").close()
    monkeypatch.setenv("VEIL_STORE_URL", url)
    proj = load_project(tmp_path / "p")
    assert proj.store_url == url
    assert proj.db().kind == "postgresql"
    proj.close()


def test_postgres_binaries_are_from_debian() -> None:
    """The PostgreSQL scenario runs against the distribution's server, not a mock."""
    from .conftest import _pg_bindir

    out = subprocess.run([str(_pg_bindir() / "postgres"), "--version"], capture_output=True, text=True, check=True)
    assert "PostgreSQL" in out.stdout


def test_check_reports_key_shipped_with_release(project, corpus, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A recipient without the project can still check integrity with the shipped key (and is told so)."""
    import shutil

    from veil.release.create import create_release

    out = create_release(project, "open", corpus.root, purpose="copy")
    copy = tmp_path / "received"
    shutil.copytree(out.folder, copy)
    res = check(copy)
    assert res.ok and "shipped" in res.key_source
