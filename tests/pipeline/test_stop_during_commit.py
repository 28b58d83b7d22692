"""A stop between an output's rename and its journal line waits for the line.

Red team (round 2): a worker stopped there (SIGTERM from a time limit, Ctrl-C, a scheduler) left an output
in OUT that no journal line lists; when its input was then removed (a withdrawn consent), the next run
kept the output, unlisted in any manifest, with exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .test_batch import SECRET, make_corpus, veil


def _dcm(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*.dcm") if ".veil" not in p.relative_to(out).parts}


@pytest.mark.parametrize(("workers", "timeout"), [("1", "0"), ("2", "1800")])
def test_a_stop_just_after_an_output_is_renamed_still_journals_it(workers, timeout, tmp_path):
    src = tmp_path / "in"
    files = make_corpus(src, 6, patients=3)
    out = tmp_path / "out"
    marker = tmp_path / "stopped-once"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import veil.pipeline.runner as runner
        real = runner._journal_append
        def stop_first(*a, **k):
            if not os.path.exists({str(marker)!r}):
                open({str(marker)!r}, "w").close()
                os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at the next bytecode: here
            return real(*a, **k)
        runner._journal_append = stop_first
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    r = subprocess.run([sys.executable, "-c", script, "deid", str(src), str(out), "--workers", workers,
                        "--file-timeout", timeout], env=env, capture_output=True, text=True, timeout=300)
    assert marker.exists()
    if workers == "1":
        assert r.returncode == 128 + signal.SIGTERM, r.stderr
    journal = [json.loads(x) for p in (out / ".veil" / "journal").glob("*.jsonl") for x in p.read_text().splitlines()]
    journaled = {j["output"] for j in journal if j.get("output")}
    assert _dcm(out) <= journaled, "an output on disk that no journal line lists"
    # the stopped file's patient withdraws: its input goes, and the re-run must take its outputs with it
    stopped_patient = files[0].parent
    for f in stopped_patient.iterdir():
        f.unlink()
    stopped_patient.rmdir()
    again = veil("deid", str(src), str(out), "--workers", workers, "--json")
    assert again.returncode == 0, again.stderr
    manifest = {json.loads(x)["output"] for x in (out / ".veil" / "manifest.jsonl").read_text().splitlines()}
    assert _dcm(out) == manifest and len(manifest) == 4


def test_a_stopped_runs_audit_entry_counts_what_its_workers_wrote(tmp_path):
    """Results come back in input order: with the first unit held up, the other worker's finished files
    are on disk and journaled but never reached the main process, and the audit entry of a stop said
    fewer written than OUT holds (red team: 'out: 32' with 60 on disk, 'out: 0' with 30)."""
    src = tmp_path / "in"
    make_corpus(src, 64, patients=4)
    out = tmp_path / "out"
    script = textwrap.dedent("""
        import os, signal, sys, threading, time
        import veil.pipeline.runner as runner
        real = runner.process_file
        def slow_first(path, *a, **k):
            if path.name == "img00000.dcm":
                time.sleep(6)  # holds unit 0: nothing after it is received in order
            return real(path, *a, **k)
        runner.process_file = slow_first
        threading.Timer(4, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    r = subprocess.run([sys.executable, "-c", script, "deid", str(src), str(out), "--workers", "2"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    on_disk = len(_dcm(out))
    assert on_disk >= 16, "the other worker had finished whole units"
    entry = json.loads((out / ".veil" / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["extra"]["interrupted"] == "SIGTERM"
    assert entry["counts"]["out"] == on_disk


def test_an_output_a_killed_run_never_journaled_goes_when_its_input_does(tmp_path):
    """kill -9 between an output's rename and its journal line (no handler runs): the output is in no
    record. When its input is then withdrawn, the next run finds it (OUT is walked after a run that did not
    finish) and removes it; a file at an output path that Veil did not write stays."""
    src = tmp_path / "in"
    files = make_corpus(src, 6, patients=2)
    out = tmp_path / "out"
    script = textwrap.dedent("""
        import os, signal, sys
        import veil.pipeline.runner as runner
        real, calls = runner._journal_append, [0]
        def die_third(*a, **k):
            calls[0] += 1
            if calls[0] == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # the third output is in place, its line never written
            return real(*a, **k)
        runner._journal_append = die_third
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    r = subprocess.run([sys.executable, "-c", script, "deid", str(src), str(out), "--workers", "1",
                        "--file-timeout", "0"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL
    assert len(_dcm(out)) == 3
    # which patient's output is the unjournaled one: withdraw that patient
    journal = [json.loads(x) for p in (out / ".veil" / "journal").glob("*.jsonl") for x in p.read_text().splitlines()]
    orphan = (_dcm(out) - {j["output"] for j in journal if j.get("output")}).pop()
    foreign = out / orphan.split("/")[0] / "1.2.3" / "4.5.6" / "7.8.9.dcm"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"\0" * 128 + b"DICM" + b"not Veil's")
    patient = files[0].parent
    for f in list(src.rglob("*.dcm")):
        if f.parent.name == patient.name:
            f.unlink()
    again = veil("deid", str(src), str(out), "--workers", "1", "--json")
    assert again.returncode == 0, again.stderr
    manifest = {json.loads(x)["output"] for x in (out / ".veil" / "manifest.jsonl").read_text().splitlines()}
    assert _dcm(out) - {str(foreign.relative_to(out))} == manifest
    assert foreign.exists()
