"""The metadata table from DICOM headers at patient, study and series level."""

from __future__ import annotations

import polars as pl
import pytest

from veil.errors import VeilError
from veil.risk.table import build, export, parse_age, present_qis


def test_patient_level_reads_the_qis_from_headers(release, cohort):
    t = build(release, "patient")
    assert t.height == len(cohort)
    row = t.filter(pl.col("patient") == cohort[0]["patient"]).row(0, named=True)
    assert row["age"] == cohort[0]["age"] and row["sex"] == cohort[0]["sex"]
    assert row["study_date"] == cohort[0]["study_date"] and row["manufacturer"] == cohort[0]["manufacturer"]
    assert row["modality"] == "CT" and len(row["files"]) == 1
    assert {"age", "sex", "study_date", "body_part", "manufacturer"} <= set(present_qis(t))


@pytest.mark.parametrize("level", ["study", "series"])
def test_study_and_series_levels(release, cohort, level):
    t = build(release, level)
    assert t.height == len(cohort) and t.get_column(level).n_unique() == len(cohort)


def test_sensitive_csv_is_joined_on_the_level_key(release, sensitive_csv):
    t = build(release, "patient", sensitive_csv=sensitive_csv)
    assert t.get_column("diagnosis").null_count() == 0


def test_export_csv_and_parquet(release, tmp_path):
    t = build(release, "patient")
    csv = export(t, tmp_path / "t.csv")
    pq = export(t, tmp_path / "t.parquet")
    assert pl.read_csv(csv).height == t.height
    assert pl.read_parquet(pq).get_column("files").to_list() == t.get_column("files").to_list()


def test_age_strings_in_all_units():
    assert [parse_age(x) for x in ("047Y", "018M", "006M", "", "abc")] == [47, 1.5, 0.5, None, None]
    assert parse_age("010W") == pytest.approx(70 / 365.25) and parse_age("200D") == pytest.approx(200 / 365.25)
    # each written age its own value: eleven infants' months were one age 0 (review)
    assert len({parse_age(f"{m:03d}M") for m in range(1, 12)}) == 11


def test_not_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(VeilError, match="not a folder"):
        build(tmp_path / "missing")


def test_a_sensitive_csv_naming_a_key_twice_or_no_released_key_is_an_error(release, cohort, tmp_path):
    """A key listed twice was reduced to its first row, silently (red team)."""
    twice = tmp_path / "twice.csv"
    twice.write_text("patient,dx\n" + "".join(f"{r['patient']},a\n" for r in cohort) + f"{cohort[3]['patient']},b\n")
    with pytest.raises(VeilError, match="more than once"):
        build(release, "patient", sensitive_csv=twice)
    none = tmp_path / "none.csv"
    none.write_text("patient,dx\nNOT-RELEASED,a\n")
    with pytest.raises(VeilError, match="none of its patient keys"):
        build(release, "patient", sensitive_csv=none)


def test_records_the_sensitive_csv_does_not_list_add_no_diversity(release, cohort, tmp_path):
    """Red team: 15 of 30 patients missing from the CSV, the other 15 all "HIV": the missing value counted
    as a second diagnosis, so distinct ℓ = 2 "met". Over the known values ℓ = 1; a note says how many
    records have none."""
    from veil.risk.assess import Options, assess
    from veil.risk.measures import Targets, measure

    half = tmp_path / "half.csv"
    half.write_text("patient,dx\n" + "".join(f"{r['patient']},HIV\n" for r in cohort[::2]))
    t = build(release, "patient", sensitive_csv=half)
    assert t.get_column("dx").null_count() == len(cohort) // 2
    rep = measure(t, ["sex"], sensitive=["dx"], targets=Targets(k=2, ell=2))
    assert rep.sensitive[0].distinct_l == 1 and rep.sensitive[0].values == 1 and not rep.passed
    a = assess(release, Options(qis=["sex"], targets=Targets(k=2, ell=2), sensitive_csv=half))
    assert not a.met and any("have no dx" in n for n in a.notes)
    # a class whose records have no value discloses nothing: it neither fails ℓ nor is suppressed for it
    t2 = t.with_columns(pl.when(pl.col("sex") == "F").then(None).otherwise(pl.lit("x")).alias("dx2"))
    t2 = t2.with_columns(pl.when(pl.col("patient").str.ends_with("1")).then(pl.lit("y"))
                         .otherwise(pl.col("dx2")).alias("dx2"))
    rep2 = measure(t2, ["sex"], sensitive=["dx2"], targets=Targets(k=1, ell=2))
    by_sex = t2.group_by("sex").agg(pl.col("dx2").drop_nulls().n_unique().alias("l"))
    assert rep2.sensitive[0].distinct_l == by_sex.filter(pl.col("l") > 0).get_column("l").min()


def test_patient_level_says_what_studies_it_does_not_measure(tmp_path, cohort):
    """Red team: each patient's second study had a one-of-a-kind manufacturer; the patient level (index
    study only, by design) reported k = 30 and "met" without a word. The note says how many studies are
    left out and k over every study."""
    from veil.risk.assess import Options, assess
    from veil.risk.measures import Targets

    from .conftest import write_release

    first = [dict(r, manufacturer="SIEMENS", age=50, sex="F", body_part="HEAD") for r in cohort[:30]]
    second = [dict(r, manufacturer=f"ONE-OFF {i}") for i, r in enumerate(first)]
    out = write_release(tmp_path / "out", first + second)
    a = assess(out, Options(qis=["age", "sex", "manufacturer"], targets=Targets(k=5)))
    assert a.before.k == 30
    note = [n for n in a.notes if "index study" in n]
    assert note and note[0].startswith("30 studies") and "k = 1 " in note[0], a.notes
    single = assess(write_release(tmp_path / "one", first), Options(qis=["age", "sex"], targets=Targets(k=5)))
    assert not [n for n in single.notes if "index study" in n]
