"""`veil deid --json` gives a script one JSON object on stdout whatever happens, and a time limit never
costs earlier outputs.

Red team (round 2): with --json, nothing reached stdout on exit 2, 3, 130 or 143; `--file-timeout -5` and
`nan` were accepted (every file quarantined, tracebacks on stderr); and one run with a limit too short for
any file (or a loaded machine) removed every earlier output as stale - the check that reuses an unchanged
input's output runs inside the timed unit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from .test_batch import SECRET, make_corpus, tree_hashes, veil


def run_patched(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`script` (which patches Veil, then runs its CLI on sys.argv[1:]) run with `args`, as the tests' CLI."""
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "-0.001"])
def test_a_time_limit_that_is_not_a_positive_number_is_a_usage_error(value, tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 2)
    r = veil("deid", str(src), str(tmp_path / "out"), "--file-timeout", value, "--json")
    assert r.returncode == 2, r.stderr
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 2 and "--file-timeout" in doc["error"]
    assert not (tmp_path / "out").exists()


def test_errors_are_one_json_object_on_stdout(tmp_path):
    r = veil("deid", str(tmp_path / "missing"), str(tmp_path / "out"), "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 2 and doc["error"]
    (tmp_path / "in").mkdir()
    r = veil("deid", str(tmp_path / "in"), str(tmp_path / "out"), "--json", "--policy", "no-such-policy")
    assert r.returncode == 2 and json.loads(r.stdout)["exit_code"] == 2


def test_a_stopped_run_says_so_in_json_with_what_it_finished(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 5)
    script = textwrap.dedent("""
        import os, signal, sys
        import veil.pipeline.runner as runner
        real = runner.write_reports
        def stopped(*a, **k):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(*a, **k)
        runner.write_reports = stopped
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    r = run_patched(script, "deid", str(src), str(tmp_path / "out"), "--workers", "1", "--json")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 143 and "SIGTERM" in doc["error"]
    assert doc["written"] == 5


@pytest.mark.slow
def test_files_stopped_by_their_time_limit_keep_their_earlier_outputs(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 4, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "2").returncode == 0
    before = tree_hashes(out)
    r = veil("deid", str(src), str(out), "--workers", "2", "--file-timeout", "0.000001", "--json")
    doc = json.loads(r.stdout)
    assert (doc["stale_removed"], doc["resumed"], doc["quarantined"]) == (0, 4, 0), doc
    assert r.returncode == 0, r.stderr
    assert tree_hashes(out) == before
    assert veil("audit", "verify", str(out)).returncode == 0


def test_an_audit_entry_that_cannot_be_written_is_named_and_the_rerun_records_the_run(tmp_path):
    """A full disk at the audit append ended in "unexpected error: OSError" (red team): the run's outputs
    stand, so the message says so and how to get the entry (the same command again)."""
    src = tmp_path / "in"
    make_corpus(src, 3)
    out = tmp_path / "out"
    script = textwrap.dedent("""
        import errno, os, sys
        import veil.audit as audit
        def full(*a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        audit.append = full
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    r = run_patched(script, "deid", str(src), str(out), "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert "audit entry could not be written" in doc["error"] and "No space left" in doc["error"]
    assert "unexpected" not in doc["error"]
    again = veil("deid", str(src), str(out), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["resumed"] == 3
    assert veil("audit", "verify", str(out)).returncode == 0


@pytest.mark.parametrize("args", [["--workers", "many"], ["--no-such-option"], []])
def test_click_usage_errors_are_one_json_object_too(args, tmp_path):
    """Click reports its own usage errors (a bad value, an unknown option, a missing argument) on stderr and
    exits 2 before any command code runs: under --json stdout stayed empty (red team, round 2)."""
    (tmp_path / "in").mkdir()
    outdir = [] if not args else [str(tmp_path / "out")]
    r = veil("deid", str(tmp_path / "in"), *outdir, *args, "--json")
    assert r.returncode == 2, r.stderr
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 2 and doc["error"]
    assert "Usage:" in r.stderr  # the usual help for a person reading stderr
    assert not (tmp_path / "out").exists()
    # and a successful --json run still exits with its own code
    r = veil("audit", "verify", str(tmp_path / "nothing-here"), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False


def test_a_stop_after_the_summary_prints_no_second_object(tmp_path):
    """A stop that came after --json's summary was printed added a second object: stdout did not parse."""
    src = tmp_path / "in"
    make_corpus(src, 3)
    script = textwrap.dedent("""
        import os, signal, sys
        import veil.cli as cli
        real = cli.out.print_json
        def then_stop(*a, **k):
            real(*a, **k)
            os.kill(os.getpid(), signal.SIGTERM)
        cli.out.print_json = then_stop
        sys.argv = ["veil", *sys.argv[1:]]
        cli.app()
    """)
    r = run_patched(script, "deid", str(src), str(tmp_path / "out"), "--workers", "1", "--json")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    doc = json.loads(r.stdout)  # exactly one object
    assert doc["written"] == 3 and "error" not in doc


def test_a_stop_while_the_audit_entry_is_written_says_the_run_is_complete(tmp_path):
    """The stop waits for the entry (signals held), then ended with "run the same command again to resume"
    and no counts, although the run was whole and recorded (review of 8fdf0cf, an older gap)."""
    src = tmp_path / "in"
    make_corpus(src, 3)
    script = textwrap.dedent("""
        import os, signal, sys
        import veil.cli as cli
        real = cli._audit_run
        def stopped(*a, **k):
            os.kill(os.getpid(), signal.SIGTERM)  # held until the entry is written
            return real(*a, **k)
        cli._audit_run = stopped
        sys.argv = ["veil", *sys.argv[1:]]
        cli.app()
    """)
    r = run_patched(script, "deid", str(src), str(tmp_path / "out"), "--workers", "1", "--json")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    doc = json.loads(r.stdout)
    assert doc["written"] == 3 and "finished" in doc["error"] and "resume" not in doc["error"]
    assert veil("audit", "verify", str(tmp_path / "out")).returncode == 0


def test_a_stop_while_the_audit_entry_fails_does_not_say_it_is_recorded(tmp_path):
    """Review: a stop held during an audit append that failed (disk full) said 'recorded in the audit log'."""
    src = tmp_path / "in"
    make_corpus(src, 2)
    script = textwrap.dedent("""
        import os, signal, sys
        import veil.cli as cli
        def failing(*a, **k):
            os.kill(os.getpid(), signal.SIGTERM)
            raise OSError(28, "No space left on device")
        cli._audit_run = failing
        sys.argv = ["veil", *sys.argv[1:]]
        cli.app()
    """)
    r = run_patched(script, "deid", str(src), str(tmp_path / "out"), "--workers", "1", "--json")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    doc = json.loads(r.stdout)
    assert "recorded" not in doc["error"] and "resume" in doc["error"]
