"""A DICOMDIR (every CD/DVD export has one) is refused as what it is, never written.

It indexes the files beside it by patient - names, IDs and dates in its directory records, and the media's
own file IDs (Referenced File ID is CS, a coded value the profile keeps, and media paths often carry
names). Before, it was quarantined only by accident ("no SOPInstanceUID"), and one that had a
SOPInstanceUID took the raw path and was written with its file IDs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from .test_batch import veil


def _media(tmp_path: Path) -> Path:
    src = tmp_path / "cd"
    shutil.copytree(Path(get_testdata_file("DICOMDIR")).parent, src)
    return src


def test_a_cd_export_is_de_identified_and_its_dicomdirs_are_refused_by_name(tmp_path):
    src = _media(tmp_path)
    dicomdirs = {str(p) for p in src.rglob("DICOMDIR*")}
    r = veil("deid", str(src), str(tmp_path / "out"), "--workers", "2", "--json")
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    by_rule = {q["source"]: q["rule"] for q in summary["quarantine"]}
    assert {n for n, rule in by_rule.items() if rule == "media-directory"} == dicomdirs
    assert all("DICOMDIR" in q["reason"] for q in summary["quarantine"] if q["rule"] == "media-directory")
    assert summary["written"] == summary["files_in"] - len(by_rule) > 50


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])  # the raw path, the general path
def test_a_dicomdir_with_a_sop_instance_uid_is_still_refused(tmp_path, policy):
    ds = pydicom.dcmread(get_testdata_file("DICOMDIR"))
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.99.77.1"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.DirectoryRecordSequence[0].ReferencedFileID = ["PATIENTS", "QUIXWORTH_ZEBULON", "IMG1"]
    src = tmp_path / "in"
    src.mkdir()
    ds.save_as(src / "DICOMDIR", enforce_file_format=True)
    out = tmp_path / "out"
    r = veil("deid", str(src), str(out), "--policy", policy, "--json")
    assert r.returncode == 1, r.stderr
    (q,) = json.loads(r.stdout)["quarantine"]
    assert q["rule"] == "media-directory"
    assert not [p for p in out.rglob("*") if p.is_file() and b"QUIXWORTH" in p.read_bytes()]
