"""A run stopped from outside - Ctrl-C, a scheduler's or ``timeout``'s SIGTERM, a closed terminal, kill -9
of the main process - stops whole: no worker process outlives it, it says what happened with the shell's
exit code for that signal, and the same command then resumes to the output of an uninterrupted run.

Before: SIGTERM or SIGKILL of the main process left both workers running for ever (blocked on the pool's
queue), holding the output folder's lock, so every resume was refused ("another Veil command is writing").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from veil.pipeline.pool import resilient

from .test_batch import SECRET, make_corpus, tree_hashes, veil

POLICY = ("--policy", "research-longitudinal")  # the general path: slow enough to stop part-way


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Running (a zombie is dead: it only waits for whoever adopted it to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    base = tmp_path_factory.mktemp("interrupt")
    src = base / "in"
    make_corpus(src, 400)
    ref = base / "ref"
    r = veil("deid", str(src), str(ref), "--workers", "2", *POLICY)
    assert r.returncode == 0, r.stderr
    return src, tree_hashes(ref), (ref / ".veil" / "manifest.jsonl").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "target", "code"), [
    pytest.param(signal.SIGTERM, "main", 143, id="SIGTERM"),  # a job scheduler, systemd, `timeout`
    pytest.param(signal.SIGINT, "group", 130, id="ctrl-c"),  # the terminal signals the whole process group
    pytest.param(signal.SIGHUP, "main", 129, id="SIGHUP"),  # the terminal or ssh session closed
    pytest.param(signal.SIGKILL, "main", -9, id="SIGKILL"),  # kill -9 or the OOM killer on the main process
])
def test_a_stopped_run_leaves_no_worker_behind_and_resumes_to_the_clean_output(
        reference: tuple[Path, dict[str, str], str], tmp_path: Path, sig: signal.Signals, target: str,
        code: int) -> None:
    src, expected, manifest = reference
    out = tmp_path / "out"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    log = tmp_path / "stderr.txt"  # a file, not a pipe: an orphaned worker would hold a pipe open
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--workers", "2",
                                 *POLICY], env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            workers = _children(proc.pid)
            if len(workers) >= 2 and sum(1 for _ in out.rglob("*.dcm")) >= 40:
                break
            time.sleep(0.01)
        assert proc.poll() is None and len(workers) >= 2, "the run must be stopped part-way for this to mean anything"
        if target == "group":
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        stderr = log.read_text()
        assert proc.returncode == code, stderr[-2000:]
        if sig != signal.SIGKILL:
            assert f"interrupted: {sig.name}" in stderr
            assert "run the same command again to resume" in stderr
            assert "Traceback" not in stderr

        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "a worker outlived the main process"
    finally:  # whatever failed, leave no process behind
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    partial = sum(1 for _ in out.rglob("*.dcm"))
    assert 0 < partial < 400
    log = out / ".veil" / "audit.jsonl"
    if sig == signal.SIGKILL:
        assert not log.exists()  # nothing can run after kill -9: the journal alone remembers
    else:  # the stopped run is recorded with what it finished: its outputs exist, resumed or not
        (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
        assert entry["extra"]["interrupted"] == sig.name
        # results the command had received (in order: a unit still running holds back those after it)
        assert entry["counts"]["out"] <= partial <= entry["counts"]["in"]

    r = veil("deid", str(src), str(out), "--workers", "2", *POLICY, "--json")
    assert r.returncode == 0, r.stderr  # before the fix: exit 3, the orphaned workers held OUT/.veil/lock
    summary = json.loads(r.stdout)
    assert summary["written"] == 400 and summary["resumed"] > 0
    assert tree_hashes(out) == expected
    assert not list(out.rglob(".veil-*.part"))
    assert (out / ".veil" / "manifest.jsonl").read_text() == manifest
    entries = [json.loads(line) for line in (out / ".veil" / "audit.jsonl").read_text().splitlines()]
    assert len(entries) == (1 if sig == signal.SIGKILL else 2) and "interrupted" not in entries[-1]["extra"]
    assert veil("audit", "verify", str(out)).returncode == 0


def _slow_unit(unit: list[int]) -> list[int]:
    if unit[0] > 0:
        time.sleep(60)  # a big file in flight
    return [os.getpid()]


def test_units_abandoned_by_the_caller_do_not_hold_it_until_they_finish() -> None:
    """A caller that stops reading (an error, a signal) gets control back at once and the pool's
    processes are gone: shutdown alone would wait for the 60 s unit in flight."""
    from veil.pipeline.pool import process_pool

    pools = []

    def make_pool(n: int):  # type: ignore[no-untyped-def]
        pools.append(process_pool(n))
        return pools[-1]

    results = resilient(make_pool, 2, _slow_unit, [[0], [1], [2]], 8, lambda u: u, lambda u, alone: alone(u))
    _, first = next(results)
    pids = [p.pid for p in pools[0]._processes.values()]
    assert pids and first[0] in pids
    t = time.monotonic()
    results.close()
    assert time.monotonic() - t < 10
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]


def _writing_unit(unit: list[str]) -> list[int]:
    """Writes the start of an output the way every output is written, then waits: a big file in flight."""
    from veil.pipeline import partfiles

    if unit[1] == "quick":
        return [os.getpid()]
    fd, _ = partfiles.new(unit[0])
    os.write(fd, b"half an output")
    if unit[1] == "deaf":  # SIGTERM has no effect, as in a native decoder that never returns to Python
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    return [os.getpid()]


def _stop_in_flight(tmp_path: Path, mode: str) -> tuple[list[int], float]:
    from veil.pipeline.pool import process_pool

    pools = []

    def make_pool(n: int):  # type: ignore[no-untyped-def]
        pools.append(process_pool(n))
        return pools[-1]

    units = [[str(tmp_path), "quick"]] + [[str(tmp_path / f"out{i}"), mode] for i in range(2)]
    results = resilient(make_pool, 2, _writing_unit, units, 8, lambda u: u, lambda u, alone: alone(u))
    next(results)  # every unit is submitted by now
    deadline = time.monotonic() + 20
    while len(list(tmp_path.rglob("*.part"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list(tmp_path.rglob(".veil-*.part"))) == 2  # both workers are writing
    pids = [p.pid for p in pools[0]._processes.values()]
    time.sleep(0.2)  # past the writes, into the wait
    t = time.monotonic()
    with pytest.raises(RuntimeError):
        results.throw(RuntimeError("the output is full"))  # how a fatal error ends the caller's loop
    return pids, time.monotonic() - t


def test_workers_stopped_mid_write_remove_their_partial_files(tmp_path: Path) -> None:
    """A run stopped by a fatal error (a full output), Ctrl-C or SIGTERM stops its workers; each removes
    the ``.part`` file it was writing. Before, SIGTERM's default action left them in OUT until a next run
    (CI saw one after a full-disk stop)."""
    pids, took = _stop_in_flight(tmp_path, "listening")
    assert not list(tmp_path.rglob("*.part"))
    assert took < 10
    assert not [p for p in pids if _alive(p)]


def test_a_hold_or_files_of_the_parent_are_not_inherited_by_its_workers(tmp_path: Path) -> None:
    """The suite's flaky stop: a test had called process_file in the test process, whose commit holds stops
    until the caller journals it (partfiles.hold) - nobody released it there, the pool's workers inherited
    the hold by fork and deferred every SIGTERM until they were killed, leaving their ``.part`` files. A
    worker starts with no hold and no files of its parent's (which a stop would otherwise remove)."""
    from veil.pipeline import partfiles

    parents = tmp_path / "parent.tmp"
    parents.write_bytes(b"the main process's own temporary file")
    partfiles.hold()
    partfiles._LIVE.add(str(parents))
    try:
        pids, took = _stop_in_flight(tmp_path, "listening")
    finally:
        partfiles.release()
        partfiles.done(str(parents))
    assert not list(tmp_path.rglob(".veil-*.part")) and parents.exists()
    assert not [p for p in pids if _alive(p)]
    assert took < 10


def test_a_worker_that_does_not_answer_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    """One stuck where no Python handler runs is killed once the grace is over, so the stop still returns."""
    from veil.pipeline.pool import STOP_GRACE

    pids, took = _stop_in_flight(tmp_path, "deaf")
    assert STOP_GRACE * 0.9 <= took < STOP_GRACE + 8
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]
    assert len(list(tmp_path.rglob(".veil-*.part"))) == 2  # a kill -9's leftovers: the next run clears them
