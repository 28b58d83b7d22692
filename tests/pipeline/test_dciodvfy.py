"""Conformance: dciodvfy (David Clunie's dicom3tools, the real binary) reports no error in Veil's output
that it did not already report for the input, on CT, MR, US, SC, SR, RT and SEG samples."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan

pytestmark = pytest.mark.integration

SAMPLES = ["CT_small.dcm", "MR_small.dcm", "examples_rgb_color.dcm", "examples_palette.dcm", "SC_rgb_small_odd.dcm",
           "test-SR.dcm", "reportsi.dcm", "rtplan.dcm", "rtdose.dcm", "rtstruct.dcm", "liver_1frame.dcm"]


def dciodvfy_errors(path: Path) -> set[str]:
    """Error lines, with values and UIDs stripped so the same problem compares equal before and after."""
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    errors = set()
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("Error"):
            line = re.sub(r"(=|UID) .*$", r"\1", line)
            line = re.sub(r'"[^"]*"', '""', line)
            errors.add(line.strip())
    return errors


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("name", SAMPLES)
def test_no_new_dciodvfy_errors(tmp_path, name, policy):
    src = Path(get_testdata_file(name))
    summary = run([src], tmp_path / "out", compile_plan(load_policy(policy)), Keyed(b"c" * 32))
    assert summary.written == 1, summary.results
    out = tmp_path / "out" / summary.results[0].output
    new = dciodvfy_errors(out) - dciodvfy_errors(src)
    assert new == set()


def test_the_check_itself_can_fail(tmp_path):
    """Guard against a vacuous comparison: a file broken on purpose must show new errors."""
    import pydicom

    src = Path(get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(src)
    del ds.Rows  # Type 1 in Image Pixel
    broken = tmp_path / "broken.dcm"
    ds.save_as(broken)
    assert dciodvfy_errors(broken) - dciodvfy_errors(src)


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_generated_corpus_gains_no_dciodvfy_errors(tmp_path, policy):
    """Every kind of object the sample generator writes (CT, MR, US, SC, SR, RTSTRUCT, PR) stays as valid."""
    from veil.samples import generate_corpus

    c = generate_corpus(tmp_path / "in", patients=2, studies_per_patient=2, series_per_study=1,
                        instances_per_series=1, modalities=("CT", "MR", "US", "SC", "SR", "RTSTRUCT", "PR"))
    summary = run(list(c.files), tmp_path / "out", compile_plan(load_policy(policy)), Keyed(b"c" * 32))
    assert summary.written == len(c.files)
    by_sop = {Keyed(b"c" * 32).uid(__import__("pydicom").dcmread(f, stop_before_pixels=True).SOPInstanceUID): f
              for f in c.files}
    for r in summary.results:
        out = tmp_path / "out" / r.output
        src = by_sop[out.stem]
        new = dciodvfy_errors(out) - dciodvfy_errors(src)
        assert new == set(), (src.name, new)
