"""`veil deid`'s exit code says what happened, and OUT holds what its reports account for.

0 every file written, 1 some quarantined, 2 usage or configuration error, 3 fatal, 128+N stopped. Before:
any exception nothing caught (OUT an existing file, OUT/.veil a file) ended in a traceback and exit 1, which
scripts read as "some files quarantined"; a list file could name the folder holding OUT; a re-run left
the outputs of inputs since removed or quarantined in OUT, listed nowhere; and a stop after the last result
(while duplicates were settled or reports written) left outputs with no audit entry.
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

from .test_batch import SECRET, make_corpus, tree_hashes, veil


def _one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    said = r.stderr.strip()
    assert "Traceback" not in said and said.startswith("error:"), said
    return " ".join(said.split())


def _manifest_outputs(out: Path) -> set[str]:
    return {json.loads(x)["output"] for x in (out / ".veil" / "manifest.jsonl").read_text().splitlines()}


def _dcm(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*.dcm") if ".veil" not in p.relative_to(out).parts}


# -- 6. usage and unexpected errors -------------------------------------------------------------------------

def test_an_output_that_is_a_file_is_a_usage_error(tmp_path):
    make_corpus(tmp_path / "in", 1)
    target = tmp_path / "out"
    target.write_text("precious")
    for out in (target, target / "sub"):
        r = veil("deid", str(tmp_path / "in"), str(out))
        assert r.returncode == 2, r.stderr
        assert "is not a folder" in _one_line_error(r)
    assert target.read_text() == "precious"


def test_an_unexpected_error_is_fatal_with_one_line_not_exit_1(tmp_path):
    """Nothing Veil foresees (here a bug planted in the report writer): exit 3, one line, no traceback
    (VEIL_DEBUG=1 prints it). OUT/.veil being a file is foreseen: the output error with its cause."""
    make_corpus(tmp_path / "in", 2)
    out = tmp_path / "out"
    planted = textwrap.dedent(f"""
        import sys
        import veil.pipeline.runner as runner
        def boom(*args, **kwargs):
            raise RuntimeError("planted")
        runner.write_reports = boom
        from veil.cli import app
        sys.argv = ["veil", "deid", {str(tmp_path / "in")!r}, {str(out)!r}]
        app()
    """)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    r = subprocess.run([sys.executable, "-c", planted], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 3, r.stderr
    said = _one_line_error(r)
    assert "unexpected error" in said and "RuntimeError" in said, said
    debug = subprocess.run([sys.executable, "-c", planted], capture_output=True, text=True, timeout=300,
                           env=env | {"VEIL_DEBUG": "1"})
    assert debug.returncode == 3 and "Traceback" in debug.stderr
    other = tmp_path / "out2"
    other.mkdir()
    (other / ".veil").write_text("not a folder")
    r = veil("deid", str(tmp_path / "in"), str(other))
    assert r.returncode == 3, r.stderr
    assert "cannot write the output" in _one_line_error(r)


def test_a_list_file_with_a_line_that_is_not_utf8_is_read(tmp_path):
    files = make_corpus(tmp_path / "in", 2)
    listing = tmp_path / "inputs.lst"
    listing.write_bytes(b"".join(bytes(f) + b"\n" for f in files) + bytes(tmp_path) + b"/bad\xff.dcm\n")
    r = veil("deid", str(listing), str(tmp_path / "out"), "--json")
    assert r.returncode == 1, r.stderr  # the missing file is quarantined, the others written
    doc = json.loads(r.stdout)
    assert (doc["files_in"], doc["written"], doc["quarantined"]) == (3, 2, 1)


# -- 7. a list file's inputs are checked against the output like a folder input -----------------------------

@pytest.mark.parametrize("layout", ["out-in-listed-folder", "listed-folder-in-out", "listed-file-in-out"])
def test_a_list_file_naming_a_folder_that_holds_the_output_is_refused(tmp_path, layout):
    data = tmp_path / "data"
    files = make_corpus(data, 3)
    out = tmp_path / "out"
    if layout == "out-in-listed-folder":
        out = data / "zout"
        listed = str(data)
    elif layout == "listed-folder-in-out":
        out = tmp_path
        listed = str(data)
    else:
        out = files[0].parent.parent
        listed = str(files[0])
    listing = tmp_path.parent / f"{tmp_path.name}-inputs.lst"
    listing.write_text(f"# inputs\n{listed}\n")
    before = tree_hashes(data)
    r = veil("deid", str(listing), str(out))
    assert r.returncode == 2, r.stderr
    assert "must not be inside" in _one_line_error(r)
    assert tree_hashes(data) == before and not (data / "zout").exists()
    assert not (out / ".veil").exists()


def test_a_list_file_may_still_name_folders_beside_the_output(tmp_path):
    data = tmp_path / "data"
    make_corpus(data, 3)
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{data}\n")
    r = veil("deid", str(listing), str(tmp_path / "data-out"))  # a name that starts like the input's
    assert r.returncode == 0, r.stderr


# -- 8. OUT holds what the manifest lists ------------------------------------------------------------------

def test_outputs_of_inputs_removed_or_now_quarantined_are_removed_on_a_rerun(tmp_path):
    src = tmp_path / "in"
    _a, b, c = make_corpus(src, 3)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out)).returncode == 0
    assert len(_dcm(out)) == 3
    mine = out / "notes.txt"
    mine.write_text("the operator's own file")
    b.write_bytes(b.read_bytes()[:-100])  # truncated: quarantined now
    c.unlink()
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["written"], doc["quarantined"], doc["stale_removed"], doc["stale_kept"]) == (1, 1, 2, [])
    assert _dcm(out) == _manifest_outputs(out) and len(_dcm(out)) == 1
    assert json.loads((out / ".veil" / "audit.jsonl").read_text().splitlines()[-1])["counts"]["stale_removed"] == 2
    assert mine.read_text() == "the operator's own file"
    left = {p.relative_to(out) for p in out.rglob("*") if p.is_dir() and ".veil" not in p.relative_to(out).parts}
    assert all(any(q.is_file() for q in (out / d).rglob("*")) for d in left)  # no empty folders left


def test_an_earlier_output_that_was_edited_is_kept_and_reported(tmp_path):
    src = tmp_path / "in"
    a, b = make_corpus(src, 2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out)).returncode == 0
    before = _manifest_outputs(out)
    b.unlink()
    r0 = veil("deid", str(src), str(out), "--dry-run", "--json")  # a dry run removes nothing
    assert r0.returncode == 0 and _dcm(out) == before
    outputs = sorted(before)
    # which output was b's: the one that is not a's (a is written again by the re-run)
    edited = next(o for o in outputs if o not in _manifest_of_single(tmp_path, a))
    (out / edited).write_bytes((out / edited).read_bytes() + b"edited")
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["quarantined"], doc["stale_removed"], doc["stale_kept"]) == (0, 0, [edited])
    assert (out / edited).exists()
    assert "not what Veil wrote" in " ".join(r.stderr.split())


def _manifest_of_single(tmp_path: Path, f: Path) -> set[str]:
    solo = tmp_path / "solo"
    solo.mkdir()
    (solo / f.name).write_bytes(f.read_bytes())
    assert veil("deid", str(solo), str(tmp_path / "solo-out")).returncode == 0
    return _manifest_outputs(tmp_path / "solo-out")


def test_outputs_of_a_killed_run_whose_input_is_gone_are_removed(tmp_path):
    """A killed run's outputs are in its journal only (no manifest): they are Veil's too."""
    src = tmp_path / "in"
    _a, b = make_corpus(src, 2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out)).returncode == 0
    (out / ".veil" / "manifest.jsonl").unlink()  # as if the run had been killed before its reports
    b.unlink()
    r = veil("deid", str(src), str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stale_removed"] == 1
    assert _dcm(out) == _manifest_outputs(out) and len(_dcm(out)) == 1


# -- 10. a stop after the last result is recorded like any stop ---------------------------------------------

def test_a_stop_after_the_last_result_is_recorded_and_resumed(tmp_path):
    """SIGINT while the reports are written (after every output): exit 130, the run is in the audit log
    as interrupted with its counts, and the same command resumes to a complete run."""
    src = tmp_path / "in"
    make_corpus(src, 5)
    out = tmp_path / "out"
    script = textwrap.dedent("""
        import os, signal, sys
        import veil.pipeline.runner as runner
        real = runner.write_reports
        def stopped(*a, **k):
            os.kill(os.getpid(), signal.SIGINT)  # the handler raises at the next bytecode, inside the reports
            return real(*a, **k)
        runner.write_reports = stopped
        from veil.cli import app
        sys.argv = ["veil", *sys.argv[1:]]
        app()
    """)
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    r = subprocess.run([sys.executable, "-c", script, "deid", str(src), str(out), "--workers", "1"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 128 + signal.SIGINT, r.stderr
    audit = [json.loads(x) for x in (out / ".veil" / "audit.jsonl").read_text().splitlines()]
    assert len(audit) == 1 and audit[0]["extra"]["interrupted"] == "SIGINT", audit
    assert audit[0]["counts"]["out"] == 5
    assert (out / ".veil" / "run-in-progress").exists() and not (out / ".veil" / "manifest.jsonl").exists()
    again = veil("deid", str(src), str(out), "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["written"], doc["resumed"]) == (5, 5)
    assert veil("audit", "verify", str(out)).returncode == 0


def test_the_runner_attaches_what_it_did_to_a_stop_after_its_loop(tmp_path):
    """The same in the library: a stop raised while the failed sources are added (after the loop) carries
    the run's summary, as one raised in the loop does."""
    from veil.errors import Interrupted
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import run
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    files = make_corpus(tmp_path / "in", 3)

    def failed():
        raise Interrupted(signal.SIGTERM)
        yield  # a generator

    with pytest.raises(Interrupted) as caught:
        run(files, tmp_path / "out", compile_plan(load_policy("basic")), Keyed(b"k" * 32), failed_sources=failed())
    summary = caught.value.summary
    assert summary is not None and summary.written == 3


def test_a_file_where_an_output_folder_must_go_stops_the_run_with_its_cause(tmp_path):
    """A file standing where a pseudo-patient's folder is made (ENOTDIR/EEXIST) is about the output, not
    the input: the run stops with the output error and its cause (exit 3), nothing is quarantined, and
    the same command resumes once the file is moved away."""
    import shutil

    make_corpus(tmp_path / "in", 2, patients=1)
    out = tmp_path / "out"
    assert veil("deid", str(tmp_path / "in"), str(out)).returncode == 0
    patient = next(p for p in out.iterdir() if p.name != ".veil")
    shutil.rmtree(patient)
    patient.write_text("someone's file")
    r = veil("deid", str(tmp_path / "in"), str(out))
    assert r.returncode == 3, r.stderr
    assert "cannot write the output" in _one_line_error(r)
    assert not (out / ".veil" / "quarantine.jsonl").exists() or not (out / ".veil" / "quarantine.jsonl").read_text()
    assert patient.read_text() == "someone's file"
    patient.unlink()
    assert veil("deid", str(tmp_path / "in"), str(out)).returncode == 0
    assert len(_dcm(out)) == 2
