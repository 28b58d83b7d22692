"""Linkage attack against a registry: re-identification before, ≤ 1/k after generalisation."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from veil.risk.assess import Options, assess
from veil.risk.linkage import LinkageError, prepare_registry, simulate, wilson
from veil.risk.measures import Targets, measure

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


def rewrite_dates(csv: Path, fmt: str) -> Path:
    """The registry CSV with its ISO study dates rewritten as ``fmt``."""
    reg = pl.read_csv(csv)
    dates = reg.get_column("study_date").str.to_date("%Y-%m-%d").dt.strftime(fmt)
    reg.with_columns(dates.alias("study_date")).write_csv(csv)
    return csv


def test_dicom_registry_dates_link_like_iso_ones(release, registry_csv):
    """Red team: a DICOM-style 20200105 column (a CSV reader makes it an integer) aborted the run with
    'year 57275 is out of range' (the integer was cast to a date as days since 1970)."""
    iso = assess(release, Options(qis=QIS, targets=Targets(k=1), registry=registry_csv)).linkage_before
    dicom_csv = rewrite_dates(registry_csv, "%Y%m%d")
    assert pl.read_csv(dicom_csv).schema["study_date"].is_integer()
    dicom = assess(release, Options(qis=QIS, targets=Targets(k=1), registry=dicom_csv)).linkage_before
    assert iso is not None and iso.matched == iso.records
    assert dicom == iso


@pytest.mark.parametrize("bad", ["01/02/2020", "2020-02-30", "5 Jan 2020", "2020/01/05", "202001"])
def test_ambiguous_or_unreadable_registry_dates_are_errors_not_guesses(bad):
    """Red team: 01/02/2020 was silently read day first (20 of 60 linked instead of 49); unparsable dates
    became nulls that match nothing. Either way the linkage risk was understated without a word."""
    release = pl.DataFrame({"study_date": [date(2020, 1, 2)]})
    registry = pl.DataFrame({"study_date": ["2020-01-02", bad, "2020-01-03"]})
    with pytest.raises(LinkageError) as err:
        prepare_registry(registry, release, ["study_date"])
    msg = str(err.value)
    assert "'study_date'" in msg and repr(bad) in msg and "YYYY-MM-DD" in msg and "YYYYMMDD" in msg


@pytest.mark.parametrize(("column", "values", "bad"), [
    ("age", ["45", "46Y"], "'46Y'"), ("age", [45.0, 46.5], "46.5"), ("birth_year", ["1970", "n/a"], "'n/a'"),
    ("height", ["1.8", "tall"], "'tall'"),
])
def test_unreadable_registry_numbers_are_errors_not_nulls(column, values, bad):
    """The same silent-null cast read '46Y' as a missing age and truncated 46.5 to 46."""
    release = pl.DataFrame({column: pl.Series([1], dtype=pl.Float64 if column == "height" else pl.Int64)})
    with pytest.raises(LinkageError, match=f"'{column}': {bad}"):
        prepare_registry(pl.DataFrame({column: values}), release, [column])


def test_registry_numbers_and_dates_in_accepted_forms_are_read():
    release = pl.DataFrame({"age": [1], "study_date": [date(2020, 1, 5)]})
    registry = pl.DataFrame({"age": [" 45", None, "46"], "study_date": ["2020-01-05", "20200106", None]})
    got = prepare_registry(registry, release, ["age", "study_date"])
    assert got.get_column("age").to_list() == [45, None, 46]
    assert got.get_column("study_date").to_list() == [date(2020, 1, 5), date(2020, 1, 6), None]


def double(csv: Path) -> Path:
    """The registry CSV with every row listed twice (two source lists merged, one row per list)."""
    reg = pl.read_csv(csv)
    pl.concat([reg, reg]).write_csv(csv)
    return csv


def test_a_person_listed_twice_in_the_registry_is_one_person(release, registry_csv, sensitive_csv):
    """Red team: a registry naming everyone twice halved the linkage rate (0.5 instead of 1.0), hid every
    certain match and halved the journalist risk: M and F counted rows, not people."""
    opts = dict(qis=QIS, targets=Targets(k=1), sensitive_csv=sensitive_csv)
    once = assess(release, Options(registry=registry_csv, **opts))
    twice = assess(release, Options(registry=double(registry_csv), **opts))
    assert once.linkage_before is not None and twice.linkage_before is not None
    assert twice.linkage_before.registry == 2 * once.linkage_before.registry
    assert twice.linkage_before == dataclasses.replace(once.linkage_before, registry=twice.linkage_before.registry)
    assert once.before.journalist_max is not None
    assert (twice.before.journalist_max, twice.before.journalist_avg) == (once.before.journalist_max,
                                                                          once.before.journalist_avg)
    assert twice.attacks_before == once.attacks_before


def test_every_released_person_listed_twice_is_still_a_certain_match():
    """The red team's shape: 20 people, each alone with their QIs, each listed twice."""
    rel = pl.DataFrame({"patient": [f"P{i}" for i in range(20)], "age": [str(30 + i) for i in range(20)]})
    r = simulate(rel, pl.concat([rel, rel]), ["age"], truth="patient")
    assert r.unique_matches == r.correct_unique == r.records and r.expected_rate == 1 and r.max_rate == 1


def test_registry_rows_without_a_known_identity_count_as_people():
    """Without an identity (column or value) a repeat cannot be told from a namesake: each row counts."""
    reg = pl.DataFrame({"patient": ["P1", "P1", None, None], "age": ["40", "40", "50", "50"]})
    rel = pl.DataFrame({"patient": ["P1", "P2"], "age": ["40", "50"]})
    known = simulate(rel, reg, ["age"], truth="patient")
    assert known.unique_matches == known.correct_unique == 1  # the two unnamed 50-year-olds stay two
    assert simulate(rel.drop("patient"), reg, ["age"]).unique_matches == 0


def test_journalist_population_counts_people_not_rows():
    """F of a class is the number of population people with its QIs (El Emam 2013), whoever is listed twice."""
    sample = pl.DataFrame({"patient": ["P1", "P2", "P3"], "age": [40, 50, 50]})
    pop = pl.DataFrame({"patient": ["P1", "P2", "P3", "P4"], "age": [40, 50, 50, 50]})
    doubled = pl.concat([pop, pop])
    once = measure(sample, ["age"], population=pop)
    twice = measure(sample, ["age"], population=doubled)
    assert (twice.journalist_max, twice.journalist_avg) == (once.journalist_max, once.journalist_avg)
    keyless = measure(sample, ["age"], population=doubled.drop("patient"))
    assert keyless.journalist_max is not None and once.journalist_max is not None
    assert keyless.journalist_max < once.journalist_max  # rows count when nothing names the people
