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
    assert [parse_age(x) for x in ("047Y", "018M", "010W", "200D", "", "abc")] == [47, 1, 0, 0, None, None]


def test_not_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(VeilError, match="not a folder"):
        build(tmp_path / "missing")
