"""Run records red team (2026-12-07): each case failed before.

* crafted audit entries (a lone surrogate, a number out of range) crashed `audit verify` and deid with a
  traceback; Rich markup in a file name ("a[/x]") crashed the end of a finished run, and "[red]" in a
  purpose or path was styled away;
* in a project, deid checked the project's audit log only after writing every output (outputs with no
  audit entry), and keyed with $VEIL_SECRET while the project's log and releases used its key file;
* the audit log (and its export) carried the command line with a patient-named input folder;
* `verify --against` crashed on a damaged manifest line;
* reading the last line of a log read it block by block, prepending: quadratic in the line's length.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from veil.audit import AuditEntry, append, command_line, read_entries, verify

from .pipeline.test_batch import SECRET, make_corpus

KEY = b"k" * 32


def veil(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("VEIL_SECRET", "VEIL_PROJECT")}
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=base | {"CI": "1", "COLUMNS": "200"} | ({"VEIL_SECRET": SECRET} if env is None
                                                                                else env))


@pytest.mark.parametrize("field,raw", [("purpose", '"IRB \\ud800"'), ("counts", '{"in": 1e400}')])
def test_an_entry_that_cannot_be_hashed_canonically_is_a_problem_not_a_crash(tmp_path, field, raw):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 1)
    assert veil("deid", str(src), str(out)).returncode == 0
    log = out / ".veil" / "audit.jsonl"
    line = json.loads(log.read_text())
    text = json.dumps(line)
    text = text.replace(json.dumps({field: line[field]})[1:-1], f'"{field}": {raw}')
    log.write_text(text + "\n")
    r = veil("audit", "verify", str(out), "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "not canonical JSON" in json.dumps(json.loads(r.stdout))
    r = veil("deid", str(src), str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Nothing was written" in r.stderr


def test_markup_in_file_names_and_purposes_is_shown_as_written(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 1)
    (src / "a[").mkdir()
    (src / "a[" / "x]").mkdir()
    (src / "a[" / "x]" / "bad.dcm").write_bytes(b"not dicom")
    (src / "bad[red]X.dcm").write_bytes(b"junk")
    r = veil("deid", str(src), str(out), "--purpose", "phase [/] two [red]x[/red]")
    assert r.returncode == 1, r.stderr  # some quarantined, the run and its record complete
    assert "bad[red]X.dcm" in r.stdout and "a[/x]/bad.dcm" in r.stdout
    shown = veil("audit", "show", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "phase [/] two [red]x[/red]" in shown.stdout


def test_in_a_project_a_tampered_log_stops_deid_before_any_output(tmp_path):
    assert veil("init-project", str(tmp_path / "proj"), "--no-vault", env={}).returncode == 0
    src = tmp_path / "in"
    make_corpus(src, 2)
    proj = tmp_path / "proj"
    r = veil("deid", str(src), str(tmp_path / "o1"), "--purpose", "first", cwd=proj, env={})
    assert r.returncode == 0, r.stderr
    assert veil("audit", "verify", ".", cwd=proj, env={}).returncode == 0
    log = proj / ".veil" / "audit.jsonl"
    log.write_text(log.read_text().replace('"purpose": "first"', '"purpose": "forged"'))
    r = veil("deid", str(src), str(tmp_path / "o2"), cwd=proj, env={})
    assert r.returncode == 2 and "Nothing was written" in r.stderr, r.stderr
    assert not (tmp_path / "o2").exists() or not list((tmp_path / "o2").rglob("*.dcm"))


def test_in_a_project_a_different_veil_secret_is_refused_not_mixed(tmp_path):
    assert veil("init-project", str(tmp_path / "proj"), "--no-vault", env={}).returncode == 0
    src = tmp_path / "in"
    make_corpus(src, 1)
    r = veil("deid", str(src), str(tmp_path / "o"), cwd=tmp_path / "proj")  # VEIL_SECRET set, another secret
    assert r.returncode == 2 and "differs from the project's secret" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
    r = veil("audit", "verify", ".", cwd=tmp_path / "proj")
    assert r.returncode == 2 and "differs from the project's secret" in r.stderr


def test_the_audit_log_never_names_an_input_folder(tmp_path):
    src, out = tmp_path / "pt_DOE_JOHN_MRN12345", tmp_path / "out"
    make_corpus(src, 1)
    assert veil("deid", str(src), str(out)).returncode == 0
    assert veil("deid", str(src), str(out)).returncode == 0  # the same input: the same token in both entries
    text = (out / ".veil" / "audit.jsonl").read_text()
    assert "DOE_JOHN" not in text and "MRN12345" not in text
    commands = [e["command"] for e in read_entries(out / ".veil" / "audit.jsonl")]
    assert commands[0] == commands[1] and "<path:" in commands[0] and str(out) in commands[0]
    assert command_line(["deid", "--against=" + str(src)], KEY) != command_line(["deid", "--against=" + str(src)],
                                                                                 b"x" * 32)  # keyed
    assert command_line(["deid", "not-a-path", "--purpose", "x"], KEY) == "veil deid not-a-path --purpose x"


def test_verify_against_a_damaged_manifest_says_so(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 2)
    assert veil("deid", str(src), str(out)).returncode == 0
    with open(out / ".veil" / "manifest.jsonl", "a") as fh:
        fh.write("{not json\n")
    r = veil("verify", str(out), "--against", str(src), "--no-ocr")
    assert r.returncode == 2 and "line 3 is not JSON" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_long_last_entry_is_read_back_whole(tmp_path):
    """The last line read backwards over several blocks: the chain continues after a 200 KB entry."""
    log = tmp_path / ".veil" / "audit.jsonl"
    append(log, AuditEntry("veil deid a b", "x" * 200_000, "ab" * 32, {"in": 1}), key=KEY)
    append(log, AuditEntry("veil deid a b", "short", "ab" * 32, {"in": 2}), key=KEY)
    append(log, AuditEntry("veil deid a b", "y" * 50_000, "ab" * 32, {"in": 3}), key=KEY)
    append(log, AuditEntry("veil deid a b", "z", "ab" * 32, {"in": 4}), key=KEY)
    res = verify(log, key=KEY)
    assert res.ok and res.entries == 4, res.problems
    shutil.rmtree(tmp_path / ".veil")


def test_a_project_made_with_veil_secret_set_keeps_that_secret(tmp_path):
    """init-project with $VEIL_SECRET set: the project's key file holds that secret, so commands inside it
    meet one secret and its pseudonyms continue those of runs made with the variable outside it."""
    src = tmp_path / "in"
    make_corpus(src, 1)
    assert veil("deid", str(src), str(tmp_path / "outside")).returncode == 0
    assert veil("init-project", str(tmp_path / "proj"), "--no-vault").returncode == 0
    r = veil("deid", str(src), str(tmp_path / "inside"), cwd=tmp_path / "proj")
    assert r.returncode == 0, r.stderr
    names = [sorted(p.name for p in (tmp_path / d).iterdir() if p.name != ".veil") for d in ("outside", "inside")]
    assert names[0] == names[1]  # the same pseudo-patient folder
    assert veil("audit", "verify", ".", cwd=tmp_path / "proj").returncode == 0


# -- a review of the fixes above (each case failed on them) ----------------------------------------------------

def test_paths_about_to_be_written_and_attached_option_values_are_tokens(tmp_path):
    """`risk --apply --html reports/<patient>.html`: the report does not exist yet when the command is
    recorded, and "-pPATH" is one argument: both went into the log as typed."""
    cmd = command_line(["risk", "out", "--html", "reports/Quixworth_Zebulon.html", "-ppol/Quixworth/p.yaml",
                        "--table=reports/Brannigan.csv", "--k", "5", "-w", "2"], KEY)
    assert "Quixworth" not in cmd and "Brannigan" not in cmd
    assert cmd.startswith("veil risk out --html <path:") and " -p<path:" in cmd and "--table=<path:" in cmd
    assert cmd.endswith("--k 5 -w 2")


def test_in_a_project_verify_and_key_file_refuse_another_secret(tmp_path):
    assert veil("init-project", str(tmp_path / "proj"), "--no-vault", env={}).returncode == 0
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 1)
    proj = tmp_path / "proj"
    assert veil("deid", str(src), str(out), cwd=proj, env={}).returncode == 0
    r = veil("verify", str(out), "--against", str(src), "--no-ocr", cwd=proj)  # VEIL_SECRET: another secret
    assert r.returncode == 2 and "differs from the project's secret" in r.stderr and "Traceback" not in r.stderr
    other = tmp_path / "other.key"
    other.write_text(SECRET + "\n")
    other.chmod(0o600)
    r = veil("deid", str(src), str(tmp_path / "b"), "--key-file", str(other), cwd=proj, env={})
    assert r.returncode == 2 and "is not the secret of project" in r.stderr, r.stderr
    assert not (tmp_path / "b").exists()


def test_verify_and_audit_export_print_plain_text(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_corpus(src, 1)
    assert veil("deid", str(src), str(out)).returncode == 0
    r = veil("verify", str(out), "--no-ocr")
    assert r.returncode == 0 and "no findings" in r.stdout and "[green]" not in r.stdout
    (tmp_path / "m[").mkdir()
    r = veil("audit", "export", str(out), "-o", str(tmp_path / "m[" / "y].csv"))
    assert r.returncode == 0 and "MarkupError" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "m[/y].csv" in r.stderr and (tmp_path / "m[" / "y].csv").exists()
