"""Units of one series each (the hook series-level operations such as defacing ask for): the same units
whatever the number of workers, series in order of first appearance, and the grouping held on disk, not
as every path of the archive in the main process."""

from __future__ import annotations

import tracemalloc

from tests.pipeline.test_batch import make_corpus

from veil.pipeline.instance import FileResult
from veil.pipeline.runner import series_units, units


def test_series_are_read_over_workers_and_grouped_the_same(tmp_path):
    files = [str(f) for f in make_corpus(tmp_path / "in", 20, patients=4)]
    files = files[::2] + files[1::2]  # series interleaved in the input order
    junk = tmp_path / "in" / "not-dicom.dcm"
    junk.write_bytes(b"not DICOM at all")
    files.insert(3, str(junk))
    one, two = units(files, by_series=True, workers=1), units(files, by_series=True, workers=2)
    assert one == two
    assert [junk.as_posix()] in [[p for p in u] for u in one]  # an unreadable header is a unit of its own
    assert sorted(p for u in one for p in u) == sorted(files)
    firsts = [files.index(u[0]) for u in one]
    assert firsts == sorted(firsts)  # series in order of their first input
    for u in one:  # inputs in input order within a series
        assert [files.index(p) for p in u] == sorted(files.index(p) for p in u)
    assert len(one) == 5 and sorted(len(u) for u in one) == [1, 5, 5, 5, 5]


def _series_of(path: str) -> str:
    return path.split("/")[0]


def test_the_grouping_is_not_held_in_memory():
    """200,000 inputs in 2,000 series: the main process holds one series at a time (a dict of every
    input held 34 MB of Python objects here)."""
    n = 200_000
    todo = ((i, f"s{i % 2000:04d}/f{i:06d}.dcm", None) for i in range(n))
    tracemalloc.start()
    try:
        count = 0
        first_seen: list[str] = []
        for unit in series_units(todo, 1, _series_of):
            count += len(unit)
            first_seen.append(_series_of(unit[0][1]))
            assert len({_series_of(p) for _, p, _ in unit}) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n and first_seen == [f"s{i:04d}" for i in range(2000)]
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB of Python objects"


def test_what_a_killed_run_journaled_travels_with_its_input():
    earlier = ("123:456", FileResult("a/1.dcm", "ok", "P/1.dcm", input_hash="h", output_sha256="s"))
    todo = [(0, "a/1.dcm", earlier), (1, "b/1.dcm", None), (2, "a/2.dcm", None)]
    got = list(series_units(iter(todo), 1, _series_of))
    assert got == [[todo[0], todo[2]], [todo[1]]]
