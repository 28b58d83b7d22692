"""The manifest at archive scale: one line per output, rules grouped, read back cheaply.

One object per fired tag made a header-heavy instance's line 19 KB (5,000 files: 97 MB, written and
fsynced at the end of every run, parsed whole at the start of every re-run, a third of its time).
"""

from __future__ import annotations

import json

from veil.pipeline.runner import _MANIFEST_HEAD, manifest_rules

from .test_batch import make_corpus, veil


def test_rules_are_grouped_by_rule_and_action_with_counts_per_tag():
    fired = (("00100010", "Z", "E.1-1 basic", 1), ("00081155", "U", "E.1-1 basic", 3),
             ("00080018", "U", "E.1-1 basic", 1), ("00081030", "K", "allowlist", 1),
             ("00100020", "Z", "site override", 1), ("00081155", "U", "E.1-1 basic", 2))
    assert manifest_rules(fired) == [
        {"rule": "E.1-1 basic", "action": "U", "tags": {"00080018": 1, "00081155": 5}},
        {"rule": "E.1-1 basic", "action": "Z", "tags": {"00100010": 1}},
        {"rule": "site override", "action": "Z", "tags": {"00100020": 1}},
    ]  # kept-as-read (K) is the default: not listed


def test_manifest_lines_are_small_and_their_head_reads_like_the_json(tmp_path):
    src = tmp_path / "in"
    make_corpus(src, 20, patients=2)
    out = tmp_path / "out"
    assert veil("deid", str(src), str(out), "--workers", "2").returncode == 0
    lines = (out / ".veil" / "manifest.jsonl").read_bytes().splitlines()
    assert len(lines) == 20
    for line in lines:
        row = json.loads(line)
        assert line.decode() == json.dumps(row, sort_keys=True)
        assert len(line) < 8000, len(line)
        m = _MANIFEST_HEAD.match(line)
        assert m is not None and (m.group(1).decode(), m.group(2).decode()) == (row["output"], row["output_sha256"])
        assert all(set(r) == {"rule", "action", "tags"} and r["tags"] for r in row["rules"])
        assert sum(n for r in row["rules"] for n in r["tags"].values()) >= len(row["rules"])
