"""Ordered work over a local process pool, with a bounded number of units in flight.

Why not ``Executor.map``: it submits every unit before it returns the first result, so an archive of a
million files would hold a million futures in the main process. A window of a few units per worker keeps
the workers busy and the main process's memory flat, and results still come back in submission order,
so whatever is built from them (reports, findings) does not depend on which worker finished first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

U = TypeVar("U")
A = TypeVar("A")
R = TypeVar("R")


def batches(items: Iterable[U], size: int) -> Iterator[list[U]]:
    """Runs of `size` items (the last one shorter), made while `items` is read: one run in memory."""
    run: list[U] = []
    for item in items:
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


def ordered(fn: Callable[[U], R], units: Iterable[U], workers: int,
            initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()) -> Iterator[tuple[U, R]]:
    """(unit, fn(unit)) for every unit in order: in this process for one worker, else over a pool.

    `initializer(*initargs)` runs once per process (in this one too, for one worker): what every unit
    needs (a compiled index, a plan, keys) travels once per worker, not once per unit. `fn` and the
    units must be picklable when `workers` > 1.
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for unit in units:
            yield unit, fn(unit)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=initializer, initargs=initargs) as pool:
        try:
            yield from windowed(pool, fn, units, workers * 4, lambda u: u)
        finally:
            pool.shutdown(cancel_futures=True)
