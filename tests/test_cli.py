"""The front door: help with examples, policy commands, init, exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def veil(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    e = os.environ | {"CI": "1", "COLUMNS": "200"} | (env or {})
    e.pop("VEIL_SECRET", None) if env is None else None
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=e, timeout=120)


@pytest.mark.parametrize("cmd", [[], ["deid"], ["policy"], ["policy", "show"], ["policy", "validate"], ["init"],
                                 ["demo"]])
def test_every_command_has_help_with_an_example(cmd):
    r = veil(*cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout
    assert "veil " in r.stdout.split("Usage", 1)[1]  # an example invocation


def test_policy_show_json_lists_every_table_row():
    r = veil("policy", "show", "basic", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["name"] == "basic" and len(d["policy_hash"]) == 64
    assert len(d["actions"]) >= 620
    assert {"tag": "(0010,0020)", "keyword": "PatientID", "action": "P", "rule": "pseudonym"} in d["actions"]


def test_policy_validate_reports_line_and_exit_code(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("name: g\nversion: '1'\noptions: [retain_uids]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nversion: '1'\noptions:\n  - retain_everything\n")
    assert veil("policy", "validate", str(good)).returncode == 0
    r = veil("policy", "validate", str(good), str(bad))
    assert r.returncode == 2
    assert "bad.yaml:4: options.0: unknown option 'retain_everything'" in r.stderr


def test_init_then_deid_without_secret_fails_clearly(tmp_path):
    r = veil("deid", str(tmp_path), str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2 and "veil init" in r.stderr
    r = veil("init", cwd=tmp_path)
    assert r.returncode == 0
    key = tmp_path / ".veil" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert veil("init", cwd=tmp_path).returncode == 2  # refuses to replace the secret


def test_demo_runs_end_to_end_without_leaks(tmp_path):
    r = veil("demo", str(tmp_path / "demo"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "found in output: 0" in r.stdout
    assert ", 0 findings" in r.stdout  # the independent verify pass agrees
    assert list((tmp_path / "demo" / "deidentified").rglob("*.dcm"))


def test_summary_lists_the_first_quarantined_files_and_counts_the_rest(tmp_path):
    """The end-of-run table names 20 quarantined files (rule and reason) and points at the report for the
    rest; exit code 1 (some files quarantined)."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(23):
        (src / f"junk{i:02d}.txt").write_text(f"not dicom {i}")
    r = veil("deid", str(src), str(tmp_path / "out"), env={"VEIL_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"})
    assert r.returncode == 1, r.stderr
    assert "quarantined (not written)" in r.stdout
    assert sum(f"junk{i:02d}.txt" in r.stdout for i in range(23)) == 20
    assert "... and 3 more in" in r.stdout
    lines = (tmp_path / "out" / ".veil" / "quarantine.jsonl").read_text().splitlines()
    assert len(lines) == 23


def test_summary_counts_add_up_and_say_how_long_the_run_took(tmp_path):
    """Every input is written, a duplicate of a written instance, or quarantined; the table and --json
    say so, with the run's time and rate."""
    import shutil

    from pydicom.data import get_testdata_file

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "a.dcm")
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "copy-of-a.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "b.dcm")
    (src / "junk.txt").write_text("not dicom")
    env = {"VEIL_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
    r = veil("deid", str(src), str(tmp_path / "out"), "--json", env=env)
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert (d["files_in"], d["written"], d["duplicates"], d["quarantined"]) == (4, 2, 1, 1)
    assert d["files_in"] == d["written"] + d["duplicates"] + d["quarantined"]
    assert d["seconds"] > 0 and d["files_per_second"] == pytest.approx(4 / d["seconds"], rel=0.05)
    r = veil("deid", str(src), str(tmp_path / "out2"), env=env)
    for row in ("files in", "written", "duplicates", "quarantined", "resumed", "patients", "seconds", "files/s"):
        assert row in r.stdout, row


def test_the_progress_total_is_counted_beside_the_run():
    """The bar's total comes from a walk in a thread (the run does not wait for it); a count below what
    is already done (an archive counts once) never lowers the total."""
    from rich.progress import Progress

    from veil.cli import _count_in_background

    with Progress(disable=True) as prog:
        prog.add_task("another bar", total=None)  # the bar is found by its id, not its place
        task = prog.add_task("deid", total=None)
        prog.advance(task, 5)
        _count_in_background(prog, [task], lambda: 12).join(5)
        assert prog.tasks[1].total == 12
        prog.update(task, total=None)
        _count_in_background(prog, [task], lambda: 3).join(5)  # 5 already done
        assert prog.tasks[1].total == 5

        def broken() -> int:
            raise OSError("gone")

        _count_in_background(prog, [task], broken).join(5)  # no total, no exception
        assert prog.tasks[1].total == 5
