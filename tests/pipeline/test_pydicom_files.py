"""Every file pydicom ships (implicit/explicit/big endian, deflated, no meta, JPEG/J2K/RLE, SR, RT,
overlays, private sequences, truncated, not DICOM at all) either de-identifies into a file pydicom
re-reads, or is quarantined with a reason. The batch never aborts and inputs are untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from veil.identity.keyed import Keyed
from veil.pipeline.runner import iter_files, run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent


def _digest(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_whole_pydicom_test_folder(tmp_path, policy):
    files = list(iter_files(TEST_FILES))
    assert len(files) >= 85
    before = _digest(files)
    summary = run(files, tmp_path / "out", compile_plan(load_policy(policy)), Keyed(b"s" * 32))
    assert summary.files_in == len(files) == summary.written + summary.quarantined + summary.duplicates
    assert summary.written >= 60
    for r in summary.results:
        if r.status == "ok":
            out = tmp_path / "out" / r.output
            ds = pydicom.dcmread(out)
            assert ds.PatientIdentityRemoved == "YES"
            assert hashlib.sha256(out.read_bytes()).hexdigest() == r.output_sha256
        else:
            assert r.status in ("quarantined", "duplicate") and r.reason and r.rule
    assert _digest(files) == before  # inputs byte-identical
    names = {r.source for r in summary.results if r.status == "quarantined"}
    assert str(TEST_FILES / "MR_truncated.dcm") in names or any(
        "MR_truncated" in r.source and r.status == "ok" for r in summary.results)
    assert str(TEST_FILES / "README.txt") in names


def test_transfer_syntax_and_pixel_bytes_pass_through(tmp_path):
    plan = compile_plan(load_policy("basic"))
    for name in ["JPEG2000.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm", "SC_rgb_jpeg.dcm",
                 "SC_ybr_full_422_uncompressed.dcm"]:  # native 4:2:2, two values per pixel: not "truncated"
        src = Path(get_testdata_file(name))
        summary = run([src], tmp_path / name, plan, Keyed(b"s" * 32))
        assert summary.written == 1, summary.results
        out = pydicom.dcmread(tmp_path / name / summary.results[0].output)
        ref = pydicom.dcmread(src)
        assert out.file_meta.TransferSyntaxUID == ref.file_meta.TransferSyntaxUID
        assert out.PixelData == ref.PixelData


def test_native_422_pixel_data_shorter_than_its_header_is_still_truncated(tmp_path):
    """Two values per pixel for YBR_FULL_422 is the rule, not a pass for any length: one row more in the
    header than the Pixel Data holds is quarantined as truncated."""
    ds = pydicom.dcmread(get_testdata_file("SC_ybr_full_422_uncompressed.dcm"))
    ds.Rows += 1
    src = tmp_path / "in" / "ybr.dcm"
    src.parent.mkdir()
    ds.save_as(src, enforce_file_format=True)
    summary = run([src], tmp_path / "out", compile_plan(load_policy("basic")), Keyed(b"s" * 32))
    (r,) = summary.results
    assert (r.status, r.rule) == ("quarantined", "parse")
    assert "truncated Pixel Data: 20000 bytes, expected 20200" in r.reason
