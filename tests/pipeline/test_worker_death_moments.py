"""A worker that dies at the worst moment neither hangs the run nor leaves outputs no report lists (red
team B, this session).

- A result over 16 KiB goes down the pool's pipe in two writes; a worker killed between them left half a
  message, the pool's reader waited for the rest for ever, and the run never ended, holding OUT's lock
  (1 in 126 stops by a scheduler's SIGTERM; every time with the window widened, as here).
- A file whose worker died after writing it was run again alone; lost again, it was quarantined while its
  output stayed in OUT, in no manifest and no count (9 of 15 runs with workers killed at random).
- A resume from another folder, or with the input named another way, redid every file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .test_batch import SECRET, make_corpus, tree_hashes, veil
from .test_json_and_limits import run_patched


def _listed(out: Path) -> set[str]:
    return {json.loads(x)["output"] for x in (out / ".veil" / "manifest.jsonl").read_text().splitlines()}


def _on_disk(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*.dcm") if ".veil" not in p.parts}


@pytest.mark.slow
def test_a_worker_killed_while_it_sends_its_result_does_not_hang_the_run(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 48)
    widen = tmp_path / "widen"
    widen.mkdir()
    (widen / "sitecustomize.py").write_text(textwrap.dedent("""
        # test only: in workers, send every message as its 4-byte length and then its body (as
        # multiprocessing does for one over 16 KiB), with a pause between them, so that a kill lands there
        import os, struct, time
        from multiprocessing import connection
        MAIN = os.getpid()
        real = connection.Connection._send_bytes
        def send_bytes(self, buf):
            if os.getpid() == MAIN:
                return real(self, buf)
            data = bytes(buf)
            self._send(struct.pack("!i", len(data)))
            time.sleep(0.3)
            self._send(data)
        connection.Connection._send_bytes = send_bytes
    """))
    out = tmp_path / "out"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1", "PYTHONPATH": os.pathsep.join(
        [str(widen), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_on_disk(out) if out.exists() else ()) < 16:
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert workers, "the run must be killed part-way"
    os.kill(int(workers[0]), signal.SIGKILL)
    try:
        code = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the run hung after its worker was killed")
    assert code in (0, 1)
    again = veil("deid", str(src), str(out), "--json")  # not refused by a lock a hung run holds
    assert again.returncode == 0, again.stderr
    assert _on_disk(out) == _listed(out) and len(_listed(out)) == 48


@pytest.mark.parametrize("when", ["after-journal", "before-journal"])
def test_a_file_lost_twice_leaves_no_output_outside_the_manifest(when, tmp_path):
    """The worker writing img00003 dies each time, once its output is renamed into place: after its journal
    line (the output is this run's: counted as written) or before it (no record: the output goes, the
    input is quarantined as a crash). Either way OUT holds exactly what the manifest lists."""
    src = tmp_path / "in"
    make_corpus(src, 20)
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import veil.pipeline.runner as runner
        real = runner._journal_append
        def dying(out_dir, r, *a, **k):
            if r.source.endswith("img00003.dcm") and {when == "before-journal"!r}:
                os.kill(os.getpid(), signal.SIGKILL)
            real(out_dir, r, *a, **k)
            if r.source.endswith("img00003.dcm"):
                os.kill(os.getpid(), signal.SIGKILL)
        runner._journal_append = dying
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    r = run_patched(script, "deid", str(src), str(out), "--workers", "2", "--json")
    doc = json.loads(r.stdout)
    assert _on_disk(out) == _listed(out)
    if when == "after-journal":
        assert r.returncode == 0 and (doc["written"], doc["quarantined"]) == (20, 0), doc
    else:
        assert r.returncode == 1 and (doc["written"], doc["quarantined"]) == (19, 1), doc
        assert doc["quarantine"][0]["rule"] == "crash" and doc["quarantine"][0]["source"].endswith("img00003.dcm")


def test_a_resume_finds_the_killed_runs_work_however_the_input_is_named(tmp_path, monkeypatch):
    src = tmp_path / "in"
    make_corpus(src, 6)
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    assert veil("deid", "in", str(out)).returncode == 0
    before = tree_hashes(out)
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["resumed"] == 6  # named by its absolute path now: the same files
    r = veil("deid", "./in/../in", str(out), "--json")
    assert json.loads(r.stdout)["resumed"] == 6
    assert tree_hashes(out) == before
