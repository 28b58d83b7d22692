"""Measures agree with pycanon (the independent reference) on random tables, and with brute force."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.risk import measures as M

pycanon = pytest.importorskip("pycanon")
from pycanon import anonymity as A  # noqa: E402
from pycanon.metrics import _reidentification_metrics as R  # noqa: E402


@st.composite
def tables(draw):
    n = draw(st.integers(2, 60))
    qa = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    qb = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n))
    num = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    cat = draw(st.lists(st.sampled_from(["flu", "hiv", "none", "cancer"]), min_size=n, max_size=n))
    return {"a": qa, "b": qb, "num": num, "cat": cat}


def _both(d):
    return pl.DataFrame(d), pd.DataFrame(d)


@settings(max_examples=60, deadline=None)
@given(tables())
def test_k_distinct_entropy_l_and_t_equal_pycanon(d):
    df, pdf = _both(d)
    qi = ["a", "b"]
    cl = M.equivalence_classes(df, qi)
    assert cl.k == A.k_anonymity(pdf, qi)
    for s in ("num", "cat"):
        cv = M.sensitive_values(df, cl, s)
        assert int(M.distinct_l(cv).min()) == A.l_diversity(pdf, qi, [s])
        # pycanon floors e^H of the least diverse class; compare the same quantity.
        assert int(np.exp(1) ** M.entropy(cv).min()) == A.entropy_l_diversity(pdf, qi, [s])
        # pycanon: ordered distance for numbers, equal distance for strings (Li et al. 2007).
        mine = M.emd_ordered(cv).max() if s == "num" else M.emd_equal(cv).max()
        if len(set(d[s])) == 1:  # pycanon divides by m - 1 = 0; one value is trivially 0-close
            assert mine == 0
        else:
            assert mine == pytest.approx(A.t_closeness(pdf, qi, [s]), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(tables())
def test_risk_figures_equal_pycanon(d):
    df, pdf = _both(d)
    qi = ["a", "b"]
    rep = M.measure(df, qi)
    assert rep.prosecutor_max == pytest.approx(R.max_rir(pdf, qi))
    assert rep.class_risk_avg == pytest.approx(R.average_rir(pdf, qi))
    # El Emam's record-averaged prosecutor risk: mean over records of 1/|class| = classes/records.
    sizes = Counter(zip(d["a"], d["b"], strict=True))
    assert rep.prosecutor_avg == pytest.approx(np.mean([1 / sizes[k] for k in zip(d["a"], d["b"], strict=True)]))
    assert rep.sample_uniques == sum(1 for v in sizes.values() if v == 1)


def _pycanon_c(counts_desc: list[int], ell: int) -> float:
    """pycanon 1.3.6's per-class c: it sorts counts *ascending* before applying r1 < c(r_l + ... + r_m)."""
    r = sorted(counts_desc)
    return math.floor(r[0] / sum(r[ell - 1:]) + 1)


@settings(max_examples=60, deadline=None)
@given(tables())
def test_recursive_diversity_matches_pycanon_grouping_and_the_textbook_definition(d):
    df, pdf = _both(d)
    qi = ["a", "b"]
    cl = M.equivalence_classes(df, qi)
    cv = M.sensitive_values(df, cl, "cat")
    ell = int(M.distinct_l(cv).min())
    c_py, l_py = A.recursive_c_l_diversity(pdf, qi, ["cat"])
    assert ell == l_py
    cls, cnt, _ = M.sorted_counts(cv)
    per_class = [list(cnt[cls == j]) for j in range(cl.count)]
    if ell > 1:
        assert max(_pycanon_c(c, ell) for c in per_class) == c_py
    # Textbook (Machanavajjhala et al. 2007): r1 / (r_l + ... + r_m), counts descending.
    ratio = M.recursive_ratio(cv, max(ell, 2))
    for j, c in enumerate(per_class):
        tail = sum(c[max(ell, 2) - 1:])
        assert ratio[j] == (pytest.approx(c[0] / tail) if tail else math.inf)


def test_recursive_ratio_uses_largest_count_first():
    df = pl.DataFrame({"q": [0] * 12, "s": ["a"] * 10 + ["b", "c"]})
    cv = M.sensitive_values(df, M.equivalence_classes(df, ["q"]), "s")
    assert M.recursive_ratio(cv, 2)[0] == pytest.approx(10 / 2)  # not satisfied for c = 3


def test_journalist_risk_counts_population_matches():
    sample = pl.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "y"]})
    pop = pl.DataFrame({"a": [1] * 5 + [2] * 2 + [3] * 9, "b": ["x"] * 5 + ["y"] * 2 + ["z"] * 9})
    rep = M.measure(sample, ["a", "b"], population=pop)
    assert rep.journalist_max == pytest.approx(1 / 2)
    assert rep.journalist_avg == pytest.approx((2 / 5 + 1 / 2) / 3)
    assert rep.marketer == rep.journalist_avg
    assert rep.prosecutor_max == 1.0


def test_thresholds_read_as_k_equivalents():
    assert M.k_for_risk(0.09) == 11 and M.k_for_risk(0.2) == 5
    assert M.meets(1 / 11, 0.09) and not M.meets(1 / 10, 0.09)
    df = pl.DataFrame({"a": [0] * 11 + [1] * 11})
    rep = M.measure(df, ["a"], targets=M.Targets(k=11))
    assert rep.passed and rep.k == 11


@pytest.mark.parametrize(("size", "max_risk"), [(1, 0.7), (2, 0.4), (3, 0.3), (2, 0.45), (10, 0.095)])
def test_a_risk_above_the_threshold_never_meets_it(size, max_risk):
    """Red team: ``round(1/t)`` read 0.7 as k = 1 and 0.4 as k = 2 (round half to even), so every record
    unique "met" a maximum risk of 0.7, and classes of 2 met 0.4."""
    df = pl.DataFrame({"a": [i // size for i in range(size * 6)]})
    rep = M.measure(df, ["a"], targets=M.Targets(k=1, max_risk=max_risk))
    assert rep.prosecutor_max == pytest.approx(1 / size) and 1 / size > max_risk * 1.02
    assert not rep.passed
    assert M.Targets(k=1, max_risk=max_risk).k_effective > size
    ok = pl.DataFrame({"a": [i // M.k_for_risk(max_risk) for i in range(M.k_for_risk(max_risk) * 6)]})
    assert M.measure(ok, ["a"], targets=M.Targets(k=1, max_risk=max_risk)).passed


def test_k_equivalents_of_thresholds():
    for k in range(1, 2000):
        assert M.k_for_risk(1 / k) == k
    assert [M.k_for_risk(t) for t in (0.09, 0.2, 0.33, 0.7, 0.4, 0.3)] == [11, 5, 3, 2, 3, 4]
    assert M.meets(0.6, 0.7) and not M.meets(0.75, 0.7)  # an average risk against the threshold itself


def test_zayatz_is_exact_when_the_sample_is_the_population():
    hist = {1: 7, 2: 3, 5: 1}
    n = 7 + 6 + 5
    assert M.zayatz_uniques(hist, n, n) == pytest.approx(7)


def test_pitman_estimates_population_uniques_from_a_sample():
    rng = np.random.default_rng(3)
    pop = rng.zipf(1.6, 200_000)
    sample = rng.choice(pop, 20_000, replace=False)
    _, cnt = np.unique(sample, return_counts=True)
    hist = Counter(cnt.tolist())
    est = M.pitman_uniques(hist, len(sample), len(pop))
    _, pc = np.unique(pop, return_counts=True)
    true = int(np.sum(pc == 1))
    assert 0.5 * true < est < 2 * true


def test_population_uniqueness_is_reported_against_the_threshold():
    df = pl.DataFrame({"a": list(range(50)) + [0] * 50})
    rep = M.measure(df, ["a"], population_size=10_000)
    assert rep.zayatz_uniqueness is not None and rep.zayatz_uniqueness >= 0
    assert any(c.name.startswith("population uniqueness") for c in rep.checks) or rep.pitman_uniqueness is None


def test_measures_on_a_million_rows_are_vectorised():
    rng = np.random.default_rng(0)
    n = 200_000
    df = pl.DataFrame({"a": rng.integers(0, 100, n), "b": rng.choice(["F", "M"], n), "s": rng.integers(0, 20, n)})
    rep = M.measure(df, ["a", "b"], sensitive=["s"], targets=M.Targets(k=5, ell=2))
    assert rep.records == n and rep.k >= 1 and rep.sensitive[0].distinct_l >= 1
