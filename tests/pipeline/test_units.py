"""Work units of the runner: runs of a folder's files (runner.folder_units)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from veil.pipeline.runner import DRAIN_UNIT, UNIT_FILES, UNIT_MAX_FILES, folder_units


def _todo(sizes: list[int]) -> list[tuple[int, str, None]]:
    out = []
    for f, n in enumerate(sizes):
        out += [(len(out), f"/in/folder{f}/{i}.dcm", None) for i in range(n)]
    return out


def test_a_folder_is_one_unit_and_small_folders_share_one() -> None:
    units = list(folder_units(_todo([50, 50, 3, 4, 20])))
    assert [len(u) for u in units] == [50, 50, 27]
    assert {p.split("/")[2] for _, p, _ in units[0]} == {"folder0"}


def test_a_large_folder_is_split_at_the_maximum() -> None:
    units = list(folder_units(_todo([UNIT_MAX_FILES * 2 + 5])))
    assert [len(u) for u in units] == [UNIT_MAX_FILES, UNIT_MAX_FILES, 5]


def test_a_drain_ends_the_unit_and_passes_alone() -> None:
    todo: list[object] = [*_todo([10]), DRAIN_UNIT]
    todo += [(10 + i, f"/in/other/{i}.dcm", None) for i in range(3)]
    units = list(folder_units(todo))  # type: ignore[arg-type]
    assert [u if u is DRAIN_UNIT else len(u) for u in units] == [10, DRAIN_UNIT, 3]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=150), max_size=30))
def test_every_input_once_in_order_and_units_bounded(sizes: list[int]) -> None:
    todo = _todo(sizes)
    units = list(folder_units(todo))
    assert [t for u in units for t in u] == todo
    assert all(1 <= len(u) <= UNIT_MAX_FILES for u in units)
    for u, nxt in itertools.pairwise(units):
        assert len(u) >= UNIT_FILES  # only the last unit may be short
        if len(u) < UNIT_MAX_FILES:  # ended at a folder change, not cut at the maximum
            assert nxt[0][1].rsplit("/", 1)[0] != u[-1][1].rsplit("/", 1)[0]
