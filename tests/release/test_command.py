"""The release, init-project and reidentify commands: output, --json and exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from veil.release.command import init_project_command, reidentify, release_app

from .conftest import PASSPHRASE, make_project

app = typer.Typer()
app.add_typer(release_app, name="release")
app.command("reidentify")(reidentify)
app.command("init-project")(init_project_command)
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env or {})


def test_init_project_command(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("veil.identity.vault.SCRYPT_N", 2**12)
    res = run("init-project", str(tmp_path / "p"))
    assert res.exit_code == 2 and "custodian" in res.stderr
    res = run("init-project", str(tmp_path / "p"), "--custodian-key-file", str(tmp_path / "p" / "k.key"))
    assert res.exit_code == 2 and "must not be inside the project" in res.stderr
    res = run("init-project", str(tmp_path / "p"), "--passphrase-env", "NOPE_NOT_SET")
    assert res.exit_code == 2
    res = run("init-project", str(tmp_path / "p"), "--passphrase-env", "PW", "--custodian-key-file",
              str(tmp_path / "custody" / "k.key"), "--json", env={"PW": PASSPHRASE})
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["vault_custodians"] == 2 and info["signing_key"].startswith("SHA256:")
    assert stat.S_IMODE((tmp_path / "custody" / "k.key").stat().st_mode) == 0o600
    res = run("init-project", str(tmp_path / "q"), "--no-vault")
    assert res.exit_code == 0 and "publish with" in res.stdout
    res = run("init-project", str(tmp_path / "q"), "--no-vault")
    assert res.exit_code == 2 and "already" in res.stderr


@pytest.fixture
def proj(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = make_project(tmp_path / "proj", key_file=tmp_path / "custodian.key")
    p.close()
    return p


def test_create_list_show_human_output(proj, corpus) -> None:  # type: ignore[no-untyped-def]
    root = str(proj.root)
    res = run("release", "create", str(corpus.root), "--tier", "open", "--purpose", "human", "-P", root)
    assert res.exit_code == 0, res.output
    assert "published" in res.stdout and "R0001" in res.stdout
    res = run("release", "create", str(corpus.root), "--tier", "leaky", "--purpose", "human", "-P", root)
    assert res.exit_code == 1
    assert "refused" in res.stdout and "PatientName" in res.stdout and "evidence masked" in res.stdout
    res = run("release", "list", "-P", root)
    assert res.exit_code == 0 and "R0001" in res.stdout and "R0002" in res.stdout and "failed" in res.stdout
    res = run("release", "list", "-P", root, "--state", "failed", "--json")
    assert [r["id"] for r in json.loads(res.stdout)] == ["R0002"]
    assert run("release", "list", "-P", root, "--state", "bogus").exit_code == 2
    res = run("release", "show", "R0001", "-P", root)
    assert res.exit_code == 0 and "published" in res.stdout and "human" in res.stdout
    res = run("release", "show", "2", "-P", root)
    assert res.exit_code == 0 and "refused because" in res.stdout and "PatientName" in res.stdout
    assert run("release", "show", "9", "-P", root).exit_code == 2
    assert run("release", "show", "abc", "-P", root).exit_code == 2
    res = run("release", "check", "1", "-P", root)
    assert res.exit_code == 0 and "intact" in res.stdout
    assert run("release", "check", "2", "-P", root).exit_code == 1  # never published
    res = run("release", "check", str(proj.root / "releases" / "0001"), "-P", root, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["key_source"] == "the project's signing key"
    res = run("release", "withdraw", "2", "--reason", "x", "-P", root)
    assert res.exit_code == 1
    res = run("release", "withdraw", "1", "--reason", "policy bug", "-P", root)
    assert res.exit_code == 0 and "reissue-of 1" in res.stdout
    res = run("release", "check", "1", "-P", root)
    assert "WITHDRAWN" in res.stdout and res.exit_code == 4  # intact, but not to be used
    res = run("release", "check", "1", "-P", root, "--json")
    assert res.exit_code == 4 and json.loads(res.stdout)["state"] == "withdrawn"
    res = run("release", "reproduce", "1", str(corpus.root), "-P", root)
    assert res.exit_code == 0 and "identical" in res.stdout


def test_usage_errors(proj, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = str(proj.root)
    res = run("release", "create", str(corpus.root), "--tier", "nope", "--purpose", "x", "-P", root)
    assert res.exit_code == 2 and "no tier" in res.stderr
    res = run("release", "create", str(corpus.root), "--tier", "open", "--purpose", "x", "-P", str(tmp_path))
    assert res.exit_code == 2 and "not a Veil project" in res.stderr
    assert run("release", "create", str(corpus.root), "--tier", "open", "-P", root).exit_code == 2  # no purpose
    res = run("reidentify", "--pseudonym", "VEILX", "--reason", " ", "-P", root)
    assert res.exit_code == 2
    res = run("reidentify", "--pseudonym", "VEILX", "--reason", "why", "-P", root, "--passphrase-env", "UNSET_VAR")
    assert res.exit_code == 1 and "not set" in res.stderr


def test_reidentify_unknown_pseudonym_is_logged(proj) -> None:  # type: ignore[no-untyped-def]
    root = str(proj.root)
    res = run("reidentify", "--pseudonym", "VEILNOSUCH", "--reason", "check", "-P", root,
              env={"VEIL_CUSTODIAN_PASSPHRASE": PASSPHRASE})
    assert res.exit_code == 1 and "no vault entry" in res.stdout
    assert "requested by" in res.stderr and "check" in res.stderr
    from veil.audit import read_entries

    last = read_entries(proj.root / ".veil" / "audit.jsonl")[-1]
    assert last["extra"]["action"] == "reidentify" and last["counts"] == {"matches": 0}


def test_help_has_examples() -> None:
    for cmd in (["release", "create"], ["release", "list"], ["release", "show"], ["release", "withdraw"],
                ["release", "check"], ["release", "reproduce"], ["reidentify"], ["init-project"]):
        res = run(*cmd, "--help")
        assert res.exit_code == 0 and "Example" in res.stdout, cmd


def test_audit_export(proj, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import csv

    from veil.release.command import audit_export

    a = typer.Typer()
    a.command()(audit_export)
    res = runner.invoke(a, ["-P", str(proj.root)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(res.stdout.splitlines()))
    assert rows[0]["action"] == "project-init" and rows[0]["verified"] == "yes"
    res = runner.invoke(a, ["-P", str(proj.root), "--format", "json", "-o", str(tmp_path / "a.json")])
    assert res.exit_code == 0 and json.loads((tmp_path / "a.json").read_text())["verified"]
    log = proj.root / ".veil" / "audit.jsonl"
    log.write_text(log.read_text().replace("create project", "edited"))
    res = runner.invoke(a, ["-P", str(proj.root)])
    assert res.exit_code == 1 and not res.stdout
    res = runner.invoke(a, ["-P", str(proj.root), "--force"])
    assert res.exit_code == 1 and "NO" in res.stdout
