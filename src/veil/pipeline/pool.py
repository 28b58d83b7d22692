"""Ordered work over a local process pool, with a bounded number of units in flight.

Why not ``Executor.map``: it submits every unit before it returns the first result, so an archive of a
million files would hold a million futures in the main process. A window of a few units per worker keeps
the workers busy and the main process's memory flat, and results still come back in submission order,
so whatever is built from them (reports, findings) does not depend on which worker finished first.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, TypeVar

from veil.errors import VeilError
from veil.pipeline import partfiles

U = TypeVar("U")
A = TypeVar("A")
R = TypeVar("R")


def resolve_workers(requested: int) -> int:
    """`requested` worker processes, or for 0 (the default: all cores) one per usable core."""
    return requested if requested > 0 else usable_cores()


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity (``taskset``, cpusets), capped by a cgroup CPU quota
    (``docker --cpus``, Kubernetes CPU limits, systemd ``CPUQuota``) rounded up.

    Why: ``os.cpu_count()`` is the host's count. In a container limited to 2 CPUs on a 64-core host,
    "all cores" started 64 workers: 64 times a worker's memory, time-sliced on 2 CPUs.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)


def cgroup_cpu_quota(proc: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs this process's cgroup quota allows (the smallest along its cgroup's path), or None without one.

    cgroup v2: ``cpu.max`` ("max 100000", or "200000 100000" for 2 CPUs). v1: ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us`` (-1: none) in the ``cpu`` hierarchy. Inside a container the path
    ``/proc/self/cgroup`` names may be the host's; the container's own cgroup is then the mount's root,
    which is read too.
    """
    try:
        lines = proc.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    found: list[float] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2 (unified)
            base, read = root, _v2_quota
        elif "cpu" in controllers.split(","):
            base = next((root / name for name in (controllers, "cpu", "cpu,cpuacct") if (root / name).is_dir()),
                        root / "cpu")
            read = _v1_quota
        else:
            continue
        here = base / path.lstrip("/")
        for folder in (here, *here.parents):
            if folder == base.parent:
                break
            q = read(folder)
            if q is not None:
                found.append(q)
    return min(found) if found else None


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text(encoding="ascii").split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="ascii"))
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def batches(items: Iterable[U], size: int, mark: Any = None) -> Iterator[list[U]]:
    """Runs of `size` items (the last one shorter), made while `items` is read: one run in memory. An item
    that is `mark` (:data:`DRAIN`) ends the run being made and is passed on alone, as it is."""
    run: list[U] = []
    for item in items:
        if mark is not None and item is mark:
            if run:
                yield run
                run = []
            yield item
            continue
        run.append(item)
        if len(run) == size:
            yield run
            run = []
    if run:
        yield run


def windowed(pool: ProcessPoolExecutor, fn: Callable[[A], R], units: Iterable[U], window: int,
             arg: Callable[[U], A]) -> Iterator[tuple[U, R]]:
    """(unit, fn(arg(unit))) in submission order, with at most `window` units submitted and not yet read."""
    pending: deque[tuple[U, Future[R]]] = deque()
    for unit in units:
        pending.append((unit, pool.submit(fn, arg(unit))))
        if len(pending) >= window:
            done, fut = pending.popleft()
            yield done, fut.result()
    while pending:
        done, fut = pending.popleft()
        yield done, fut.result()


def process_pool(workers: int, initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of `workers` processes that do not outlive this one, each set up by ``initializer(*initargs)``.

    Why: a worker blocks on the pool's queue for ever when the main process is gone - it holds the
    queue's write end itself, so it never reads end-of-file. A main process stopped by SIGTERM (a job
    scheduler, ``timeout``) or SIGKILL (``kill -9``, the OOM killer) left its workers running, and they
    held the output folder's lock (inherited), so the resume was refused until someone killed them by hand.
    """
    return _SignalSafePool(max_workers=workers, initializer=_worker_start,
                           initargs=(os.getpid(), initializer, initargs))


class _SignalSafePool(ProcessPoolExecutor):
    """Workers are forked with the stop signals blocked (each worker unblocks them once its own handlers
    are in place). A Ctrl-C that landed inside a fork hook was reported as "Exception ignored" and lost
    (the run went on and exited 0), and a worker that got the main process's handler raised Interrupted
    in its start-up; blocked, the signal waits and is handled right after the fork."""

    def _spawn_process(self) -> None:  # each fork (the pool's _launch_processes and _adjust_process_count)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            super()._spawn_process()  # type: ignore[misc]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


#: prctl(2) option: the signal a process receives when the thread that forked it exits (Linux).
_PR_SET_PDEATHSIG = 1


def _worker_start(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """First thing in every worker: die with the main process, leave stopping to it, then set up.

    SIGINT is ignored (Ctrl-C reaches the whole process group: the main process alone decides how the
    run stops, and stops its workers); SIGHUP gets its default action back (the main process's handlers
    were inherited by fork); SIGTERM removes what the worker is writing, then exits (:func:`_stop`).
    PR_SET_PDEATHSIG has the kernel send SIGKILL when the main process dies, however it dies. Under a
    start method that does not fork from the main process (forkserver, spawn) the parent is another
    process and none of this applies.
    """
    partfiles.forget_inherited()  # before SIGTERM is handled: the parent's files and hold are not this worker's
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)  # blocked by the main process around the fork
    if os.getppid() == parent:
        die_with_parent(parent)
    _send_results_whole()
    if initializer is not None:
        initializer(*initargs)


#: The signals that stop a run: blocked in the main process while it starts a worker (:func:`process_pool`).
_STOPS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def _send_results_whole() -> None:
    """A SIGTERM that comes while this worker sends a result takes effect once it is sent.

    A result over 16 KiB goes down the pool's pipe as two writes (its length, then its body); a worker
    that exited between them left half a message, and the pool's reader waited for the rest for ever -
    the main process then hung in shutdown, holding OUT's lock (red team: 1 in 126 stops by a scheduler's
    SIGTERM). The stop is deferred as during an output's commit (:func:`partfiles.hold`)."""
    import concurrent.futures.process as cfp

    send = getattr(cfp, "_sendback_result", None)
    if send is None or getattr(send, "_veil_whole", False):
        return

    def whole(*args: Any, **kwargs: Any) -> None:
        partfiles.hold()
        try:
            send(*args, **kwargs)
        finally:
            partfiles.release()

    whole._veil_whole = True  # type: ignore[attr-defined]
    cfp._sendback_result = whole


def _stop(signum: int, frame: object) -> None:
    """A worker's SIGTERM: remove the ``.part`` files it is writing, then exit as SIGTERM's default would.

    Why: the main process stops its workers when the output fills up, on Ctrl-C, on a scheduler's
    SIGTERM and at a file's time limit; a worker killed outright left the file it was writing as a
    ``.veil-*.part`` in OUT until the next run. ``os._exit``: nothing of the interrupted unit may run on
    (its result is not wanted, and its half-written journal buffer must not be flushed).
    """
    if partfiles.defer(lambda: _exit_stopped(signum)):
        return  # an output is being committed: the stop comes once its journal line is written
    _exit_stopped(signum)


def _exit_stopped(signum: int) -> None:
    partfiles.remove_live()
    os._exit(128 + signum)


def die_with_parent(parent: int | None = None) -> None:
    """Have the kernel SIGKILL this process when the thread that forked it exits (PR_SET_PDEATHSIG).

    For the pool's workers, and for the programs they start (see `children_die_with_this_process`).
    `parent`: exit at once when the process that forked this one is already gone (it died before the
    prctl took effect).
    """
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def children_die_with_this_process() -> Callable[[], None]:
    """A `preexec_fn` for subprocess: the child (tesseract) is killed when this process dies.

    Why: a worker that is stopped (a file timeout, a scheduler's SIGTERM, an out-of-memory kill) would
    otherwise leave its tesseract reading pages for minutes, holding a core the next worker needs. The
    libc handle is looked up here, before the fork: the child only calls it (no import, no lock).
    """
    _prctl()
    return die_with_parent


@functools.cache
def _prctl() -> Callable[..., int] | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not Linux: no parent-death signal
        return None


#: Seconds a stopped worker has to remove its ``.part`` files before it is killed outright.
STOP_GRACE = 2.0


def stop_workers(pool: ProcessPoolExecutor, grace: float = STOP_GRACE) -> None:
    """Stop the pool's workers now: their units are abandoned (an interrupted or failed run, a hang).

    Waiting for their units, as ``shutdown`` does, would hold a Ctrl-C or a scheduler's SIGTERM for as
    long as the biggest file in flight takes. Each worker gets SIGTERM and removes the temporary file it
    is writing (:func:`_stop`); one that has not exited within `grace` seconds (stuck in a native
    decoder, where no Python handler runs) is killed, and what it leaves (a ``.part`` file, half a
    journal line) is what a kill -9 leaves: the run after a death, or the next run, clears it.
    """
    running: dict[Any, Any] = {}  # by sentinel: readable once it has exited, whoever reaps it
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # already gone
            proc.terminate()
            running[proc.sentinel] = proc
    deadline = time.monotonic() + grace
    while running and (left := deadline - time.monotonic()) > 0:
        for gone in wait(list(running), left):
            running.pop(gone)
    for proc in running.values():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            proc.kill()


def _dead_worker(pool: ProcessPoolExecutor) -> bool:
    return any(p.exitcode is not None for p in list((getattr(pool, "_processes", None) or {}).values()))


def abandon(pool: ProcessPoolExecutor) -> None:
    """Shut a pool down whose workers were stopped or died, without waiting on a result that cannot come.

    A worker killed while it sent a result (SIGKILL cannot be deferred: the OOM killer, kill -9) left half
    a message in the result pipe, and the pool's manager thread waited for its rest for ever - shutdown
    joins that thread, so the run never ended and kept OUT locked. Once every worker is gone, closing
    this process's copy of the pipe's write end leaves none open: the reader gets end-of-file, takes the
    pool for broken, and ends."""
    stop_workers(pool, grace=0.5)
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
            proc.join(5)
    with contextlib.suppress(Exception):
        pool._result_queue._writer.close()  # type: ignore[attr-defined]
    pool.shutdown(wait=True, cancel_futures=True)


#: Seconds a dead worker may go unnoticed by the pool before the run takes the pool for broken itself.
DEATH_GRACE = 3.0


def _await(pool: ProcessPoolExecutor, fut: Future[R], timeout: float | None) -> R:
    """``fut.result(timeout)``, watching the workers: a dead worker whose death the pool has not reported
    within DEATH_GRACE (it is waiting for the rest of a half-sent result) raises BrokenProcessPool, where
    the wait went on until the unit's time limit (16 files x 30 minutes) or for ever."""
    deadline = None if timeout is None else time.monotonic() + timeout
    dead_since: float | None = None
    while True:
        step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        try:
            return fut.result(timeout=step)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        if dead_since is None:
            if _dead_worker(pool):
                dead_since = time.monotonic()
        elif time.monotonic() - dead_since > DEATH_GRACE:
            raise BrokenProcessPool("a worker died while it sent its result")


class WorkerDied(VeilError):
    """A worker process died (a signal: a crash in a native decoder, the OOM killer) while running a unit."""

    def __init__(self) -> None:
        super().__init__("a worker process died (a crash in a native decoder, or killed: out of memory?)")


class WorkerTimedOut(WorkerDied):
    """A unit ran longer than its time limit; its worker was stopped (a file that hangs a decoder)."""

    def __init__(self, seconds: float) -> None:
        VeilError.__init__(self, f"still running after {seconds:g} s: stopped")
        self.seconds = seconds


T = TypeVar("T")


def each_alone(unit: list[T], alone: Callable[[list[T]], R], on_death: Callable[[T], R],
               on_timeout: Callable[[T, WorkerTimedOut], R] | None = None) -> list[R]:
    """A rescued unit's items run one by one (see :func:`resilient`): ``alone([item])`` for each,
    ``on_death(item)`` for an item whose worker dies even when it runs alone, and ``on_timeout(item,
    exc)`` (when given; else ``on_death``) for one stopped at its time limit."""
    out: list[R] = []
    for item in unit:
        try:
            out.append(alone([item]))
        except WorkerTimedOut as exc:
            out.append(on_timeout(item, exc) if on_timeout is not None else on_death(item))
        except WorkerDied:
            out.append(on_death(item))
    return out


def resilient(make_pool: Callable[[int], ProcessPoolExecutor], workers: int, fn: Callable[[A], R],
              units: Iterable[U], window: int, arg: Callable[[U], A],
              rescue: Callable[[U, Callable[[A], R]], R],
              limit: Callable[[A], float] | None = None) -> Iterator[tuple[U, R]]:
    """:func:`windowed` over ``make_pool(workers)``, going on when a worker process dies.

    Python cannot catch a segmentation fault in a native decoder, and the OOM killer sends SIGKILL: the
    pool is then broken and every unit in flight fails with it. Units that had finished keep their
    results; each unfinished one goes to ``rescue(unit, alone)``, where ``alone(a)`` runs ``fn(a)`` in a
    fresh one-worker pool and raises :class:`WorkerDied` if that worker dies too - so the caller can try
    a unit's items one by one and tell the one that kills a worker from the ones a passing kill took
    with it. Then a new pool takes the remaining units, in the same order.

    A unit that is :data:`DRAIN` is not run: the units in flight are all read before the next is taken.

    `limit(a)`: seconds a unit may run. A hang cannot be caught inside the worker (a native decoder
    looping, a parser on a pathological file), so the main process watches: the oldest unit in flight
    is running by the time it is waited for (units are taken in order), and when it outlasts its limit
    from then, the pool's workers are stopped and every unit in flight is rescued as after a death;
    ``alone`` then raises :class:`WorkerTimedOut` for the item that hangs on its own.
    """
    isolated: list[ProcessPoolExecutor] = []

    def alone(a: A) -> R:
        if not isolated:
            isolated.append(make_pool(1))
        seconds = None if limit is None else limit(a)
        try:
            return _await(isolated[0], isolated[0].submit(fn, a), seconds)
        except BrokenProcessPool:
            abandon(isolated.pop())
            raise WorkerDied from None
        except TimeoutError:
            abandon(isolated.pop())
            raise WorkerTimedOut(seconds or 0) from None

    pool = make_pool(workers)
    pending: deque[tuple[U, Future[R]]] = deque()
    source = iter(units)
    finished = False
    draining = False
    try:
        while True:
            while len(pending) < window and not draining:
                unit = next(source, _END)
                if unit is _END:
                    break
                if unit is DRAIN:  # every unit in flight is read before the next is taken
                    draining = True
                    break
                try:
                    pending.append((unit, pool.submit(fn, arg(unit))))
                except BrokenProcessPool:  # broke before this unit was taken: it is in flight too
                    pending.append((unit, _broken()))
            if not pending:
                if draining:
                    draining = False
                    continue
                finished = True
                return
            unit, fut = pending.popleft()
            try:
                result = _await(pool, fut, None if limit is None else limit(arg(unit)))
            except (BrokenProcessPool, TimeoutError):  # a hang is stopped like a death, then rescued alike
                abandon(pool)
                for u, f in [(unit, fut), *pending]:
                    yield u, (f.result() if f.done() and not f.cancelled() and f.exception() is None
                              else rescue(u, alone))
                pending.clear()
                pool = make_pool(workers)
                continue
            yield unit, result
    finally:
        if not finished:  # interrupted, failed, or the caller stopped reading: nothing in flight is wanted
            stop_workers(pool)
            for p in isolated:
                stop_workers(p)
            abandon(pool)
            for p in isolated:
                abandon(p)
        pool.shutdown(cancel_futures=True)
        for p in isolated:
            p.shutdown(cancel_futures=True)


_END: Any = object()


class _DrainMark:
    def __repr__(self) -> str:
        return "DRAIN"


#: A unit :func:`resilient` does not run: it reads the result of every unit in flight before it takes the
#: next one (the caller frees something as results come: an archive's staging folder). A Sources walk
#: yields it before it tries again an archive that did not fit in TMPDIR.
DRAIN: Any = _DrainMark()


def _broken() -> Future[Any]:
    fut: Future[Any] = Future()
    fut.set_exception(BrokenProcessPool("the pool broke before this unit was submitted"))
    return fut


def ordered(fn: Callable[[U], R], units: Iterable[U], workers: int,
            initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
            rescue: Callable[[U, Callable[[U], R]], R] | None = None) -> Iterator[tuple[U, R]]:
    """(unit, fn(unit)) for every unit in order: in this process for one worker, else over a pool.

    `initializer(*initargs)` runs once per process (in this one too, for one worker): what every unit
    needs (a compiled index, a plan, keys) travels once per worker, not once per unit. `fn` and the
    units must be picklable when `workers` > 1. A worker that dies is survived (see :func:`resilient`):
    `rescue` gives the result of a unit that was in flight; without it, its unit is run again alone and
    a second death raises :class:`WorkerDied`.
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for unit in units:
            yield unit, fn(unit)
        return

    def make_pool(n: int) -> ProcessPoolExecutor:
        return process_pool(n, initializer, initargs)

    yield from resilient(make_pool, workers, fn, units, workers * 4, lambda u: u,
                         rescue or (lambda u, alone: alone(u)))
