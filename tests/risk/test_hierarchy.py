"""Generalisation ladders: the shipped defaults, YAML overrides and the functional check."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from veil.risk.hierarchy import Hierarchy, HierarchyError, default_hierarchies, encode, label_column, load_hierarchies


def test_age_bands_nest_and_top_code_at_90():
    h = default_hierarchies()["age"]
    assert h.level_names == ("exact", "5-band", "10-band", "20-band", "*")
    assert [h.label(47, lv) for lv in range(5)] == ["47", "45-49", "40-49", "40-59", "*"]
    assert h.label(93, 1) == "90+" and h.label(93, 3) == "90+"
    assert h.lower_bound(47, 2) == 40 and h.lower_bound(95, 1) == 90


def test_dates_go_month_quarter_year():
    h = default_hierarchies()["study_date"]
    d = date(2021, 8, 17)
    assert [h.label(d, lv) for lv in range(5)] == ["2021-08-17", "2021-08", "2021-Q3", "2021", "*"]
    assert h.lower_bound(d, 2) == date(2021, 7, 1)


def test_body_parts_group_and_rare_devices_become_other():
    hs = default_hierarchies()
    assert hs["body_part"].label("BRAIN", 1) == "HEAD_NECK"
    assert hs["body_part"].label("KNEE", 2) == "APPENDICULAR"
    assert hs["body_part"].label("CHEST/KNEE", 1) == "CHEST/EXTREMITY"
    col = pl.Series("manufacturer", ["GE"] * 20 + ["ACME"] * 2)
    enc = encode(hs["manufacturer"], col)
    assert enc.rare == frozenset({"ACME"})
    assert set(enc.labels[1]) == {"GE", "OTHER"}


def test_weight_and_height_bins():
    hs = default_hierarchies()
    assert hs["weight"].label(72.4, 1) == "70-75" and hs["height"].label(1.734, 1) == "1.7-1.75"


def test_encoding_loss_is_share_of_leaves_merged():
    enc = encode(default_hierarchies()["sex"], pl.Series(["F", "M", "F"]))
    assert list(enc.leaf_loss[0]) == [0, 0] and list(enc.leaf_loss[1]) == [1, 1]


def test_yaml_overrides_one_attribute(tmp_path):
    p = tmp_path / "h.yaml"
    p.write_text("hierarchies:\n  age: {kind: bands, widths: [10, 30], top: 80}\n"
                 "  body_part:\n    kind: groups\n    levels:\n      - {TRUNK: [CHEST, ABDOMEN]}\n")
    hs = load_hierarchies(p)
    assert hs["age"].label(85, 1) == "80+" and hs["age"].label(44, 2) == "30-59"
    assert hs["body_part"].label("CHEST", 1) == "TRUNK" and hs["body_part"].label("HEAD", 1) == "OTHER"
    assert hs["sex"] == default_hierarchies()["sex"]


@pytest.mark.parametrize("spec", ["hierarchies:\n  age: {widths: [5]}\n", "hierarchies:\n  age: {kind: nope}\n",
                                  "hierarchies:\n  age: {kind: bands, widths: [5, 7]}\n"])
def test_bad_yaml_says_what_is_expected(tmp_path, spec):
    p = tmp_path / "h.yaml"
    p.write_text(spec)
    with pytest.raises(HierarchyError):
        load_hierarchies(p)


def test_non_functional_ladder_is_refused():
    h = Hierarchy("x", "groups", {"levels": [{"A": ["a", "b"]}, {"P": ["a"], "Q": ["b"]}]})
    with pytest.raises(HierarchyError, match="not functional"):
        encode(h, pl.Series(["a", "b"]))


def test_label_column_generalises_any_table_the_same_way():
    h = default_hierarchies()["age"]
    out = label_column(pl.Series("age", [47, None, 91]), h, 2)
    assert out.to_list() == ["40-49", None, "90+"]
