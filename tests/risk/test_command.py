"""`veil risk`: summary, JSON, HTML with SVG charts, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from veil.risk.command import risk

from .conftest import SECRET

app = typer.Typer()
app.command()(risk)


@app.callback()
def _cb() -> None:
    """Group so that the command is invoked as `risk` (as in `veil risk`)."""


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["risk", *args], env={"COLUMNS": "200", **(env or {})})


def test_not_met_exits_1_and_json_has_the_measures(release):
    r = run(str(release), "--qi", "age", "--qi", "sex", "--qi", "study_date", "--json")
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert d["before"]["k"] < 11 and not d["met"]
    assert d["search"]["node"]["k"] >= 11 and d["search"]["optimal"]


def test_apply_meets_the_target_exits_0_and_writes_html_with_charts(release, registry_csv, sensitive_csv, tmp_path):
    html = tmp_path / "risk.html"
    r = run(str(release), "--k", "11", "--apply", "--html", str(html), "--registry", str(registry_csv),
            "--sensitive-csv", str(sensitive_csv), env={"VEIL_SECRET": SECRET})
    assert r.exit_code == 0, r.output
    assert "targets met" in r.output and "linkage attack" in r.output
    page = html.read_text()
    assert page.count("<svg") >= 6 and "Classes by size" in page and "Loss per attribute" in page
    assert "Re-measured from disk" in page


def test_met_release_exits_0(release):
    r = run(str(release), "--qi", "sex", "--k", "5")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("args", [["--level", "visit"], ["--metric", "x"], ["--suppression", "2"],
                                  ["--l", "2"], ["--qi", "shoe_size"]])
def test_usage_errors_exit_2(release, args):
    r = run(str(release), *args)
    assert r.exit_code == 2, r.output


def test_apply_without_secret_exits_2(release, tmp_path):
    r = run(str(release), "--apply", "--key-file", str(tmp_path / "none.key"))
    assert r.exit_code == 2


def test_table_export(release, tmp_path):
    r = run(str(release), "--qi", "sex", "--k", "2", "--table", str(tmp_path / "t.csv"))
    assert r.exit_code == 0 and (tmp_path / "t.csv").is_file()


def test_max_risk_alone_sets_k_to_its_equivalent(release):
    r = run(str(release), "--qi", "age", "--qi", "sex", "--max-risk", "0.2", "--json")
    d = json.loads(r.output)
    assert d["targets"]["k"] == 5 and d["search"]["node"]["k"] >= 5


def test_unreadable_files_are_noted_not_fatal(release):
    (release / "P00000" / "broken.dcm").write_bytes(b"not dicom")
    r = run(str(release), "--qi", "sex", "--k", "2", "--json")
    d = json.loads(r.output)
    assert r.exit_code == 0 and d["unreadable_files"] == 1 and any("could not be read" in n for n in d["notes"])


def test_ambiguous_registry_dates_exit_2_naming_the_column(release, registry_csv):
    """Red team: US-style registry dates were silently read day first (the linkage risk fell from 0.52 to
    0.09); now the run stops and says which column, which value and which formats are accepted."""
    reg = pl.read_csv(registry_csv)
    us = reg.get_column("study_date").str.to_date("%Y-%m-%d").dt.strftime("%m/%d/%Y")
    reg.with_columns(us.alias("study_date")).write_csv(registry_csv)
    r = run(str(release), "--qi", "age", "--qi", "study_date", "--registry", str(registry_csv))
    assert r.exit_code == 2, r.output
    assert "study_date" in r.output and "YYYY-MM-DD" in r.output and "ambiguous" in r.output


@pytest.mark.parametrize("args", [
    ["--t", "nan"], ["--t", "-0.5"], ["--t", "0"], ["--t", "1.5"],
    ["--l", "0"], ["--l", "nan"], ["--l", "inf"], ["--l", "2.5", "--l-kind", "recursive"],
    ["--l", "2", "--l-kind", "recursive", "--c", "0"], ["--c", "nan"], ["--c", "-1"], ["--c", "inf"],
    ["--population-size", "0"], ["--population-size", "-5"],
    ["--max-risk", "nan"], ["--suppression", "nan"], ["--k", "0"],
])
def test_out_of_range_numbers_are_usage_errors_naming_the_option(release, sensitive_csv, args):
    """Red team: --t nan/-0.5, --l 0, --c 0 were accepted, --l nan crashed in int(), --l 2.5 with
    recursive ℓ-diversity silently ran with ℓ = 2, --population-size 0 was silently dropped."""
    r = run(str(release), "--qi", "age", "--k", "2", "--sensitive-csv", str(sensitive_csv), *args)
    option = next(a for a in reversed(args) if a.startswith("--") and a != "--l-kind")
    assert r.exit_code == 2, r.output
    assert f"{option} must" in r.output


@pytest.mark.parametrize("args", [["--l", "2.0", "--l-kind", "recursive", "--c", "0.5"],
                                  ["--l", "2.5", "--l-kind", "entropy"], ["--t", "1"], ["--population-size", "1000"]])
def test_in_range_numbers_are_accepted(release, sensitive_csv, args):
    r = run(str(release), "--qi", "sex", "--k", "2", "--sensitive-csv", str(sensitive_csv), *args, "--json")
    assert r.exit_code in (0, 1), r.output
    assert json.loads(r.output)["before"]["checks"]
