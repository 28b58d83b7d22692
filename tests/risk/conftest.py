"""Generated cohorts for the risk tests: small synthetic DICOM releases and random tables (nothing stored)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

SECRET = "c2VjcmV0LWZvci12ZWlsLXJpc2stdGVzdHMtMDEyMzQ1Njc4OQ=="  # 32+ bytes, base64

MANUFACTURERS = ["SIEMENS", "GE MEDICAL SYSTEMS", "PHILIPS", "CANON", "AGFA", "HITACHI"]
BODY_PARTS = ["HEAD", "BRAIN", "CHEST", "ABDOMEN", "KNEE", "PELVIS"]


def cohort_rows(n: int, seed: int = 7) -> list[dict]:
    """Patients with realistic-ish QIs; every one with a distinct identity (for the registry)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        age = int(np.clip(rng.normal(55, 18), 1, 97))
        d = date(2018, 1, 1) + timedelta(days=int(rng.integers(0, 3 * 365)))
        rows.append({
            "identity": f"person-{i:04d}", "patient": f"P{i:05d}", "age": age,
            "sex": str(rng.choice(["F", "M"])), "study_date": d,
            "manufacturer": str(rng.choice(MANUFACTURERS, p=[0.35, 0.3, 0.2, 0.1, 0.03, 0.02])),
            "body_part": str(rng.choice(BODY_PARTS)),
            "diagnosis": str(rng.choice(["healthy", "nodule", "fracture", "stroke", "tumour"])),
        })
    return rows


def write_release(out: Path, rows: list[dict]) -> Path:
    """A `veil deid`-shaped output folder: OUT/<patient>/<study>/<series>/<instance>.dcm + manifest."""
    import pydicom
    from pydicom.data import get_testdata_file

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    manifest = []
    for i, r in enumerate(rows):
        ds = template.copy()
        ds.PatientID = r["patient"]
        ds.PatientName = r["patient"]
        ds.PatientAge = f"{r['age']:03d}Y"
        ds.PatientSex = r["sex"]
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = r["study_date"].strftime("%Y%m%d")
        ds.Manufacturer = r["manufacturer"]
        ds.BodyPartExamined = r["body_part"]
        ds.StudyInstanceUID = f"2.25.{1000 + i}"
        ds.SeriesInstanceUID = f"2.25.{500000 + i}"
        ds.SOPInstanceUID = f"2.25.{900000 + i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        rel = Path(r["patient"]) / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        manifest.append({"output": rel.as_posix(), "input_hash": f"h{i}", "policy_hash": "p" * 64, "rules": [],
                         "output_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "veil_version": "test"})
    (out / ".veil").mkdir(parents=True, exist_ok=True)
    (out / ".veil" / "manifest.jsonl").write_text("".join(json.dumps(m, sort_keys=True) + "\n" for m in manifest))
    return out


@pytest.fixture(scope="module")
def cohort() -> list[dict]:
    return cohort_rows(160)


@pytest.fixture
def release(tmp_path: Path, cohort: list[dict]) -> Path:
    return write_release(tmp_path / "out", cohort)


@pytest.fixture
def registry_csv(tmp_path: Path, cohort: list[dict]) -> Path:
    """Everyone in the release plus 240 people who are not, with the QIs an attacker could know."""
    others = cohort_rows(240, seed=99)
    for i, o in enumerate(others):
        o["identity"], o["patient"] = f"other-{i:04d}", f"X{i:05d}"
    rows = [{k: r[k] for k in ("identity", "patient", "age", "sex", "study_date", "manufacturer", "body_part")}
            for r in cohort + others]
    path = tmp_path / "registry.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.fixture
def sensitive_csv(tmp_path: Path, cohort: list[dict]) -> Path:
    path = tmp_path / "dx.csv"
    pl.DataFrame([{"patient": r["patient"], "diagnosis": r["diagnosis"]} for r in cohort]).write_csv(path)
    return path
