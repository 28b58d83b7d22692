"""Linkage attack against a registry: re-identification before, ≤ 1/k after generalisation."""

from __future__ import annotations

import polars as pl
import pytest

from veil.risk.assess import Options, assess
from veil.risk.linkage import simulate, wilson
from veil.risk.measures import Targets

QIS = ["age", "sex", "study_date", "body_part", "manufacturer"]


@pytest.mark.parametrize("k", [5, 11])
def test_linkage_rate_drops_to_at_most_one_over_k(release, registry_csv, sensitive_csv, k):
    a = assess(release, Options(qis=QIS, targets=Targets(k=k), registry=registry_csv, sensitive_csv=sensitive_csv))
    before, after = a.linkage_before, a.linkage_after
    assert before is not None and after is not None
    assert before.expected_rate > 0.9 and before.correct_unique > 0.9 * before.records
    assert after.expected_rate <= 1 / k + 1e-12
    assert after.correct_unique == 0 and after.unique_matches == 0
    assert after.max_rate <= 1 / k + 1e-12


def test_wp29_scores_fall_after_generalisation(release, registry_csv, sensitive_csv):
    a = assess(release, Options(qis=QIS, targets=Targets(k=11), registry=registry_csv, sensitive_csv=sensitive_csv))
    before = {x.name: x for x in a.attacks_before}
    after = {x.name: x for x in a.attacks_after}
    assert set(before) == {"singling out", "linkability", "inference"}
    assert before["singling out"].risk > 0.5 and after["singling out"].risk == 0
    assert after["linkability"].risk < before["linkability"].risk
    assert after["inference"].risk < before["inference"].risk


def test_without_truth_only_claimed_matches_are_reported():
    rel = pl.DataFrame({"age": ["40", "40", "50"]})
    reg = pl.DataFrame({"age": ["40", "50", "60"]})
    r = simulate(rel, reg, ["age"])
    assert r.unique_matches == 3 and r.correct_unique is None and r.expected_rate is None


def test_wilson_interval_matches_anonymeters_formula():
    rate, err = wilson(50, 100)
    assert rate == pytest.approx(0.5) and err == pytest.approx(0.0961, abs=1e-3)
