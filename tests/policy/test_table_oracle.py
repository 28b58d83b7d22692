"""The project's Table E.1-1 must state exactly what the standard states (shared oracle, 621 rows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veil.policy.table import OPTIONS, load_table

ORACLE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ps3.15-table-e1-1.json"
COLUMNS = dict(zip(
    ["rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt", "rtnPatCharsOpt", "rtnLongFullDatesOpt",
     "rtnLongModifDatesOpt", "cleanDescOpt", "cleanStructContOpt", "cleanGraphOpt"], OPTIONS, strict=True))


def _key(tag: str) -> str:
    return "private" if "ODD" in tag.upper() else (tag[1:5] + tag[6:10]).lower()


@pytest.fixture(scope="module")
def oracle() -> list[dict[str, str]]:
    if not ORACLE.is_file():
        pytest.fail(f"shared oracle missing at {ORACLE}")
    return json.loads(ORACLE.read_text())


def test_every_oracle_row_is_in_the_project_table_with_identical_actions(oracle):
    table = load_table().by_tag()
    assert len(oracle) == 621
    mismatches = []
    for row in oracle:
        ours = table.get(_key(row["tag"]))
        if ours is None:
            mismatches.append(f"{row['tag']} {row['name']}: missing")
            continue
        if ours.basic != row["basicProfile"]:
            mismatches.append(f"{row['tag']}: basic {ours.basic} != {row['basicProfile']}")
        for col, opt in COLUMNS.items():
            if ours.option_action(opt) != row.get(col):
                mismatches.append(f"{row['tag']}: {opt} {ours.option_action(opt)} != {row.get(col)}")
    assert mismatches == []


def test_project_table_has_no_rows_the_standard_lacks(oracle):
    keys = {_key(r["tag"]) for r in oracle}
    extra = [r.tag for r in load_table().rows if r.tag not in keys]
    assert extra == []
    assert len(load_table().rows) == len(keys)


def test_table_names_its_edition():
    assert "2025" in load_table().edition and "PS3.15" in load_table().edition
