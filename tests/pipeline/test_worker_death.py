"""A worker process that dies (a crash in a native decoder, the OOM killer's SIGKILL) does not end the run.

Python cannot catch a segmentation fault, and a dead worker breaks the whole pool: before, the run ended
in a BrokenProcessPool traceback with exit code 1 - the code that means "some files quarantined" - and a
file that crashes its worker would have crashed every resumed run too.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from veil.pipeline.pool import WorkerDied, resilient

from .test_batch import SECRET, make_corpus, tree_hashes, veil


def _unit_work(items: list[int]) -> list[int]:
    """Squares; item 13 kills its process the way a native decoder's crash does."""
    if 13 in items:
        faulthandler.disable()  # pytest's handler would print this process's stack: the death is the point
        os.kill(os.getpid(), signal.SIGSEGV)
    return [i * i for i in items]


def _rescue(unit: list[int], alone) -> list[int]:
    out = []
    for i in unit:
        try:
            out += alone([i])
        except WorkerDied:
            out.append(-1)
    return out


def test_the_unit_whose_item_kills_its_worker_is_retried_item_by_item_and_the_pool_goes_on():
    units = [list(range(i, i + 4)) for i in range(0, 40, 4)]  # 13 is in the fourth unit
    got = list(resilient(lambda n: ProcessPoolExecutor(max_workers=n), 2, _unit_work, units, 8, lambda u: u,
                         _rescue))
    assert [u for u, _ in got] == units  # every unit, in order
    flat = [r for _, rs in got for r in rs]
    assert flat == [-1 if i == 13 else i * i for i in range(40)]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_nothing_in_the_output(tmp_path):
    """SIGKILL one of two workers part-way (as the OOM killer would): the run finishes with exit 0, its
    output is byte-identical to a clean run's, and no temporary file of the dead worker is left."""
    src = tmp_path / "in"
    make_corpus(src, 1200)
    ref = tmp_path / "ref"
    assert veil("deid", str(src), str(ref), "--workers", "2").returncode == 0
    out = tmp_path / "out"
    env = os.environ | {"VEIL_SECRET": SECRET, "CI": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "deid", str(src), str(out), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        workers = _children(proc.pid)
        if len(workers) >= 2 and sum(1 for _ in out.rglob("*.dcm")) >= 100:
            killed = workers[-1]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    _, stderr = proc.communicate(timeout=600)
    assert killed is not None, "the run ended before a worker could be killed"
    assert proc.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert tree_hashes(out) == tree_hashes(ref)
    assert not list(out.rglob(".veil-*.part"))


def _hangs_on_7(items: list[int]) -> list[int]:
    if 7 in items:
        time.sleep(120)  # a decoder looping on a crafted file
    return [i * i for i in items]


def test_a_unit_that_hangs_is_stopped_at_its_limit_and_only_the_hanging_item_is_lost():
    from veil.pipeline.pool import WorkerTimedOut, each_alone, process_pool

    def rescue(unit: list[int], alone) -> list[int]:
        parts = each_alone(unit, alone, lambda i: [-1], lambda i, exc: [-int(exc.seconds)])
        return [r for part in parts for r in part]

    units = [list(range(i, i + 4)) for i in range(0, 24, 4)]  # 7 is in the second unit
    t = time.monotonic()
    got = list(resilient(process_pool, 2, _hangs_on_7, units, 8, lambda u: u, rescue, lambda a: 1.5 * len(a)))
    assert time.monotonic() - t < 60  # not the 120 s of the hang
    assert [u for u, _ in got] == units
    assert [r for _, rs in got for r in rs] == [-1 if i == 7 else i * i for i in range(24)]  # -int(1.5) == -1
    assert issubclass(WorkerTimedOut, Exception)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])  # one worker too: the limit needs a process to stop
def test_deid_quarantines_a_file_that_hangs_and_writes_the_rest(tmp_path, monkeypatch, workers):
    """No real file hangs Veil reproducibly, so the hang is made: process_file sleeps on one input (the
    pool's workers are forked and inherit it). The pool, the stop, the rescue and the report are real."""
    from veil.identity.keyed import Keyed
    from veil.pipeline import runner
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    src = tmp_path / "in"
    files = make_corpus(src, 40)
    hang = files[21]
    plan, keyed = compile_plan(load_policy("basic")), Keyed(SECRET.encode())
    ref = tmp_path / "ref"
    runner.run([f for f in files if f != hang], ref, plan, keyed, workers=2)
    real = runner.process_file

    def process_file(path, *args, **kw):  # type: ignore[no-untyped-def]
        if path == hang:
            time.sleep(300)
        return real(path, *args, **kw)

    monkeypatch.setattr(runner, "process_file", process_file)
    out = tmp_path / "out"
    t = time.monotonic()
    summary = runner.run(files, out, plan, keyed, workers=workers, file_timeout=0.5)  # a unit of 16: 8 s
    assert time.monotonic() - t < 120
    assert summary.written == 39 and summary.quarantined == 1
    (bad,) = list(summary.results.select("status = 'quarantined'"))
    assert bad.source == str(hang) and bad.rule == "timeout" and "after 0.5 s" in bad.reason
    assert tree_hashes(out) == tree_hashes(ref)
    assert not list(out.rglob(".veil-*.part"))
