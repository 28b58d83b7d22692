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
