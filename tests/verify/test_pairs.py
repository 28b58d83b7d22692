"""Pairing outputs with inputs through the manifest, at archive scale: the inputs' hashes, the pairs and
each input's dates live in a temporary SQLite file, not in dicts of the main process."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

from veil.pipeline.sources import STATE_DIR
from veil.verify import Pairs, pair_by_manifest


def _fake_hash(p: Path) -> str:
    """Stands in for the keyed file hash: two inputs named 'same-*' share one hash (identical files)."""
    name = "same" if p.name.startswith("same-") else p.name
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _manifest(out: Path, rows: list[dict[str, str]]) -> None:
    (out / STATE_DIR).mkdir(parents=True)
    (out / STATE_DIR / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_pairs_follow_the_manifest_and_the_first_input_with_a_hash(tmp_path):
    out = tmp_path / "out"
    inputs = [Path("/in/a.dcm"), Path("/in/same-1.dcm"), Path("/in/same-2.dcm"), Path("/in/orphan.dcm")]
    _manifest(out, [{"input_hash": _fake_hash(Path("a.dcm")), "output": "P/1.dcm"},
                    {"input_hash": _fake_hash(Path("same-x")), "output": "P/2.dcm"},
                    {"input_hash": "0" * 32, "output": "P/3.dcm"},  # its input is not among these
                    {"input_hash": _fake_hash(Path("a.dcm"))}])  # no output: not a pair
    pairs = pair_by_manifest(out, iter(inputs), _fake_hash)
    assert dict(pairs) == {"P/1.dcm": Path("/in/a.dcm"), "P/2.dcm": Path("/in/same-1.dcm")}
    assert len(pairs) == 2 and pairs and "P/3.dcm" not in pairs
    pairs.put_dates([(Path("/in/a.dcm"), frozenset({"20240101"}))])
    assert pairs.dates_of("P/1.dcm") == {"20240101"}
    assert pairs.dates_of("P/2.dcm") == frozenset()  # paired, its input gave no dates
    assert pairs.dates_of("P/3.dcm") is None  # not paired
    assert not pair_by_manifest(tmp_path / "no-manifest", iter(inputs), _fake_hash)
    assert not Pairs()


def test_pairing_a_large_archive_holds_little_in_memory(tmp_path):
    """100,000 inputs and manifest lines: the dicts (and the manifest read whole) held 63 MB of Python
    objects; SQLite's pages are its own, on disk."""
    n = 100_000
    out = tmp_path / "out"
    _manifest(out, [{"input_hash": _fake_hash(Path(f"f{i}.dcm")), "output": f"P/{i}.dcm"} for i in range(n)])
    tracemalloc.start()
    try:
        pairs = pair_by_manifest(out, (Path(f"/in/f{i}.dcm") for i in range(n)), _fake_hash)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pairs) == n and pairs["P/77.dcm"] == Path("/in/f77.dcm")
    assert peak < 10_000_000, f"peak {peak / 1e6:.1f} MB of Python objects"
