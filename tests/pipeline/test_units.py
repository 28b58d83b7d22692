"""Work units of the runner: runs of a folder's files, shrinking at the end (runner.folder_units)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from veil.pipeline.runner import (
    DRAIN_UNIT,
    UNIT_FILES,
    UNIT_LEAST_FILES,
    UNIT_MAX_FILES,
    folder_units,
    unit_time_limit,
)


def _todo(sizes: list[int], start: int = 0, tag: str = "") -> list[tuple[int, str, None]]:
    out: list[tuple[int, str, None]] = []
    for f, n in enumerate(sizes):
        out += [(start + len(out), f"/in/{tag}folder{f}/{i}.dcm", None) for i in range(n)]
    return out


def _folder(item: tuple[int, str, None]) -> str:
    return item[1].rsplit("/", 1)[0]


def test_a_folder_is_one_unit_in_a_long_run() -> None:
    units = list(folder_units(_todo([50] * 40), workers=2))
    assert [len(u) for u in units[:20]] == [50] * 20
    assert all(len({_folder(t) for t in u}) == 1 for u in units[:20])


def test_small_folders_share_a_unit() -> None:
    units = list(folder_units(_todo([3] * 400), workers=2))
    assert all(len(u) >= UNIT_FILES for u in units[:30])


def test_one_folder_is_spread_over_the_workers() -> None:
    """A single series of 64 files was one unit: one worker busy, whatever --workers said (red team)."""
    units = list(folder_units(_todo([64]), workers=2))
    assert len(units) >= 4 and max(len(u) for u in units) <= 16
    assert list(folder_units(_todo([64]), workers=1)) == [_todo([64])]  # one worker: nothing to spread


def test_the_last_units_shrink() -> None:
    sizes = [len(u) for u in folder_units(_todo([50] * 100), workers=2)]
    tail = sizes[-8:]
    assert tail == sorted(tail, reverse=True) and tail[0] < 50 and tail[-1] <= UNIT_LEAST_FILES


def test_a_drain_passes_alone_after_every_input_before_it() -> None:
    todo: list[object] = [*_todo([10]), DRAIN_UNIT, *_todo([3], start=10, tag="x")]
    seen: list[object] = []

    def source():  # type: ignore[no-untyped-def]
        for item in todo:
            seen.append(item)
            yield item

    units = []
    for u in folder_units(source(), workers=2):  # type: ignore[arg-type]
        units.append(u)
        if u is DRAIN_UNIT:
            assert seen[-1] is DRAIN_UNIT  # nothing after the drain read before it was passed on
    flat = [u if u is DRAIN_UNIT else len(u) for u in units]
    assert flat.index(DRAIN_UNIT) == len(flat) - 2 and sum(x for x in flat if x is not DRAIN_UNIT) == 13


def test_a_unit_is_given_the_time_of_all_its_files() -> None:
    """Not less: 16 files' time stopped a folder of 64 legitimately slow files and re-ran every unit in
    flight one file at a time (review: three times slower)."""
    assert unit_time_limit(0.5, [("a", None)] * UNIT_MAX_FILES) == 0.5 * UNIT_MAX_FILES
    assert unit_time_limit(2.0, [("a", None)] * 3) == 6.0


def test_inputs_are_read_only_a_little_ahead() -> None:
    """An archive's members are staged in $TMPDIR as the source yields them: reading 512 inputs ahead
    staged 40 small archives at once (review). At most 4 x workers x UNIT_FILES are read before a unit."""
    pulled = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for item in _todo([10] * 200):
            pulled += 1
            yield item

    first = next(iter(folder_units(source(), workers=2)))
    assert len(first) >= UNIT_FILES and pulled <= 4 * 2 * UNIT_FILES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=150), max_size=30), st.integers(min_value=1, max_value=4),
       st.lists(st.integers(min_value=0, max_value=400), max_size=3))
def test_every_input_once_in_order_and_units_bounded(sizes: list[int], workers: int, drains: list[int]) -> None:
    todo: list[object] = list(_todo(sizes))
    for at in sorted((min(d, len(todo)) for d in drains), reverse=True):
        todo.insert(at, DRAIN_UNIT)
    units = list(folder_units(todo, workers))  # type: ignore[arg-type]
    assert [t for u in units for t in ([u] if u is DRAIN_UNIT else u)] == todo  # drains keep their places
    assert all(u is DRAIN_UNIT or 1 <= len(u) <= UNIT_MAX_FILES for u in units)
    for u, nxt in itertools.pairwise(units):
        if u is not DRAIN_UNIT and nxt is not DRAIN_UNIT:
            # a unit ends where the folder changes, or where the size limit cut it: the next is no longer
            assert _folder(nxt[0]) != _folder(u[-1]) or len(nxt) <= len(u)


def test_units_are_sized_by_the_pace_of_the_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Review: a folder of 64 files of 0.5 s was one unit on one worker (32 s) while the other finished the
    rest. Units hold about UNIT_SECONDS of work: many fast files, few slow ones; UNIT_FILES before any pace."""
    from veil.pipeline import runner

    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    slow = runner.Pace(workers=2)
    assert slow.cap() == UNIT_FILES
    slow.add(16)  # the first results: the pace is measured from here
    now[0] += 8.0
    slow.add(32)  # 32 files in 8 s on two workers: 0.5 s of a worker per file
    assert slow.cap() == UNIT_LEAST_FILES
    units = list(folder_units(_todo([64] + [10] * 100), workers=2, cap=slow.cap))
    assert max(len(u) for u in units) == UNIT_LEAST_FILES
    fast = runner.Pace(workers=2)
    fast.add(16)
    now[0] += 0.016
    fast.add(32)  # 1 ms of a worker per file
    assert fast.cap() == UNIT_MAX_FILES
