"""The metadata table of a release: one row per patient, study or series, quasi-identifiers as columns.

Risk is a property of what is *released*, so the table is read from the de-identified output folder
itself (headers only, ``stop_before_pixels``), not from the inputs or the policy: whatever a policy kept
— age, sex, shifted dates, device, body part, size and weight (Retain Patient Characteristics, Retain
Device Identity, Retain Longitudinal Temporal Information) — is what an attacker sees (El Emam 2013,
ch. 3 on quasi-identifiers in health data; Sweeney 2000, "Simple demographics often identify people
uniquely").

Levels. ``series`` and ``study`` rows are what they say; ``study`` rows join the values of their series
(``CT/PT``). A ``patient`` row takes every QI from the patient's *index study*, the one with the lowest
StudyInstanceUID: a choice that generalisation cannot change (UIDs are never generalised), so re-measuring
after :mod:`veil.risk.apply` looks at the same study. Studies other than the index study are not
measured at patient level (use ``--level study`` for them).

Columns: ``patient``, ``study``, ``series`` (pseudonymous keys), ``files`` (relative paths, a list), the
QIs in :data:`QI_COLUMNS` and any sensitive columns joined from a CSV.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from veil.errors import InputError, VeilError

LEVELS = ("patient", "study", "series")
KEY_COLUMNS = ("patient", "study", "series")
QI_COLUMNS = ("age", "birth_year", "sex", "study_date", "modality", "body_part", "manufacturer", "model",
              "institution", "height", "weight", "ethnic_group", "description")
DEFAULT_QIS = tuple(q for q in QI_COLUMNS if q != "description")
"""QIs measured unless the user picks: ``description`` is opt-in because generalising it rewrites the
free-text descriptions (:mod:`veil.risk.apply` writes the category back)."""

SOURCE: dict[str, tuple[str, ...]] = {
    "age": ("PatientAge",), "birth_year": ("PatientBirthDate",), "sex": ("PatientSex",),
    "study_date": ("StudyDate",), "modality": ("Modality",), "body_part": ("BodyPartExamined",),
    "manufacturer": ("Manufacturer",), "model": ("ManufacturerModelName",), "institution": ("InstitutionName",),
    "height": ("PatientSize",), "weight": ("PatientWeight",), "ethnic_group": ("EthnicGroup",),
    "description": ("StudyDescription", "SeriesDescription"),
}
"""The DICOM attributes each QI column is read from (and :mod:`veil.risk.apply` writes back)."""

_SCHEMA: dict[str, Any] = {
    "file": pl.Utf8, "patient": pl.Utf8, "study": pl.Utf8, "series": pl.Utf8,
    "age": pl.Float64, "birth_year": pl.Int64, "sex": pl.Utf8, "study_date": pl.Date, "modality": pl.Utf8,
    "body_part": pl.Utf8, "manufacturer": pl.Utf8, "model": pl.Utf8, "institution": pl.Utf8,
    "height": pl.Float64, "weight": pl.Float64, "ethnic_group": pl.Utf8,
    "study_description": pl.Utf8, "series_description": pl.Utf8,
}
_TAGS = ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "StudyDate", "PatientAge", "PatientBirthDate",
         "PatientSex", "Modality", "BodyPartExamined", "Manufacturer", "ManufacturerModelName", "InstitutionName",
         "PatientSize", "PatientWeight", "EthnicGroup", "StudyDescription", "SeriesDescription"]

# Coarse clinical categories for descriptions: what an analyst needs, not the site's wording.
DESCRIPTION_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("CARDIAC", r"card|heart|coron|cta ?cor|echo"),
    ("BREAST", r"mammo|breast|tomo|\bmg\b"),
    ("NEURO", r"brain|head|neuro|skull|crani|mra|stroke|orbit|sinus|iac|pituit"),
    ("SPINE", r"spine|spinal|cervical|thoracic spine|lumbar|sacr|\bc-?spine|\bl-?spine|\bt-?spine"),
    ("CHEST", r"chest|thora|lung|cxr|pulm|\bpe\b"),
    ("ABDOMEN_PELVIS", r"abd|pelv|liver|renal|kidney|pancrea|prostat|colon|enterog|urogr|hepat"),
    ("MSK", r"knee|shoulder|hip|hand|foot|ankle|wrist|elbow|femur|tibia|extrem|joint|msk"),
    ("WHOLEBODY", r"whole ?body|pet|petct|pet-ct|bone scan|skeletal survey"),
    ("VASCULAR", r"angio|vascul|aort|venous|arter|doppler"),
)
_CATEGORY_RE = [(name, re.compile(rx, re.IGNORECASE)) for name, rx in DESCRIPTION_CATEGORIES]


def describe_category(text: str | None) -> str | None:
    """The category of a study/series description (``OTHER`` when none matches, ``None`` if empty)."""
    if not text or not text.strip():
        return None
    for name, rx in _CATEGORY_RE:
        if rx.search(text):
            return name
    return "OTHER"


def parse_age(value: str | None) -> float | None:
    """PatientAge (AS, PS3.5 6.2: ``nnnD|W|M|Y``) in years, a fraction below a year's units (``006M`` is
    0.5); ``None`` if absent or malformed. Whole years only, infants aged ``001M``..``011M`` were one class
    of age 0 while the files said eleven ages (red team: k = 11 "met", k = 1 in what was written)."""
    if not value:
        return None
    m = re.fullmatch(r"\s*(\d{1,3})\s*([DWMY]?)\s*", str(value).upper())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2) or "Y"
    return {"Y": float(n), "M": n / 12, "W": n * 7 / 365.25, "D": n / 365.25}[unit]


def parse_date(value: str | None) -> date | None:
    """DA value ``YYYYMMDD`` (also ``YYYY.MM.DD``, ACR-NEMA) → date; ``None`` if absent or invalid."""
    if not value:
        return None
    s = str(value).strip().replace(".", "").replace("-", "")
    if len(s) < 8 or not s[:8].isdigit():
        return None
    try:
        return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None


def age_from_dates(birth: date | None, study_date: date | None) -> int | None:
    """Whole years from the birth date to the study date: a file's age when it has no PatientAge. None for
    a birth date after the study date (no age: an AS value cannot be negative, "-10Y" was written)."""
    if birth is None or study_date is None or birth > study_date:
        return None
    return study_date.year - birth.year - ((study_date.month, study_date.day) < (birth.month, birth.day))


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and f > 0 else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def read_instance(path: Path, root: Path) -> dict[str, Any]:
    """One file's row (header only). Raises ``InputError`` for a file pydicom cannot parse."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
    except Exception as exc:  # pydicom raises many types for broken files
        raise InputError(f"{path}: not readable as DICOM ({exc.__class__.__name__})", "risk-table") from exc
    g = ds.get
    birth = parse_date(_text(g("PatientBirthDate")))
    study_date = parse_date(_text(g("StudyDate")))
    age = parse_age(_text(g("PatientAge")))
    if age is None:
        age = age_from_dates(birth, study_date)
    return {
        "file": path.relative_to(root).as_posix(),
        "patient": _text(g("PatientID")) or "", "study": _text(g("StudyInstanceUID")) or "",
        "series": _text(g("SeriesInstanceUID")) or "",
        "age": age, "birth_year": birth.year if birth else None, "sex": _text(g("PatientSex")),
        "study_date": study_date, "modality": _text(g("Modality")),
        "body_part": (_text(g("BodyPartExamined")) or "").upper() or None,
        "manufacturer": _text(g("Manufacturer")), "model": _text(g("ManufacturerModelName")),
        "institution": _text(g("InstitutionName")), "height": _float(g("PatientSize")),
        "weight": _float(g("PatientWeight")), "ethnic_group": _text(g("EthnicGroup")),
        "study_description": describe_category(_text(g("StudyDescription"))),
        "series_description": describe_category(_text(g("SeriesDescription"))),
    }


def dicom_files(folder: Path) -> list[Path]:
    """Output files under ``folder`` (``.dcm``, Veil's layout), skipping Veil's state folder ``.veil``."""
    from veil.pipeline.sources import walk

    return [p for p in walk(folder) if p.suffix.lower() == ".dcm" and not p.name.startswith(".veil-")]


def read_instances(folder: Path, files: Iterable[Path] | None = None) -> tuple[pl.DataFrame, list[str]]:
    """One row per readable instance and the list of unreadable files (reported, never fatal)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VeilError(f"{folder} is not a folder: give the output folder of `veil deid`")
    rows, bad = [], []
    for p in files if files is not None else dicom_files(folder):
        try:
            rows.append(read_instance(p, folder))
        except InputError as exc:
            bad.append(exc.reason)
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row"), bad


def _joined(col: str) -> pl.Expr:
    """Distinct non-null values of a group, sorted and joined with ``/`` (null when there are none)."""
    e = pl.col(col).drop_nulls().unique().sort().str.join("/")
    return pl.when(e == "").then(None).otherwise(e).alias(col)


def aggregate(instances: pl.DataFrame, level: str) -> pl.DataFrame:
    """Rows at ``level`` from instance rows (see the module docstring for what each level takes)."""
    if level not in LEVELS:
        raise VeilError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    inst = instances.sort("file")
    first = [pl.col(c).first() for c in ("patient", "study", "age", "birth_year", "sex", "study_date",
                                          "height", "weight", "ethnic_group")]
    if level == "series":
        return inst.group_by("series", maintain_order=True).agg(
            *first, *(pl.col(c).drop_nulls().first() for c in ("modality", "body_part", "manufacturer", "model",
                                                                "institution")),
            pl.col("series_description").drop_nulls().first().alias("description"),
            pl.col("file").alias("files"),
        ).select(_order())
    study = inst.group_by("study", maintain_order=True).agg(
        *(f for f in first if f.meta.output_name() != "study"),
        pl.col("series").first(),
        *(_joined(c) for c in ("modality", "body_part", "manufacturer", "model", "institution")),
        pl.col("study_description").drop_nulls().first().alias("description"),
        pl.col("file").alias("files"),
    ).select(_order())
    if level == "study":
        return study
    index = study.sort(["patient", "study"]).group_by("patient", maintain_order=True).first()
    files = inst.group_by("patient").agg(pl.col("file").alias("all_files"))
    return index.join(files, on="patient").drop("files").rename({"all_files": "files"}).select(_order())


def _order() -> list[str]:
    return [*KEY_COLUMNS, *QI_COLUMNS, "files"]


def build(folder: Path, level: str = "patient", *, sensitive_csv: Path | None = None) -> pl.DataFrame:
    """The table of ``folder`` at ``level``, with sensitive columns joined from ``sensitive_csv``."""
    inst, _ = read_instances(folder)
    table = aggregate(inst, level)
    if sensitive_csv is not None:
        table = join_sensitive(table, sensitive_csv, level)
    return table


def join_sensitive(table: pl.DataFrame, csv: Path, level: str) -> pl.DataFrame:
    """Left-join a CSV keyed by the level's key column (``patient`` = the pseudonymous PatientID,
    ``study``/``series`` = the output UIDs). Its other columns become sensitive attributes; a row the CSV
    does not list has no value there (unknown, not one more value: measures.class_values)."""
    try:
        extra = pl.read_csv(csv, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise VeilError(f"cannot read sensitive-attribute CSV {csv}: {exc}") from exc
    if level not in extra.columns:
        raise VeilError(f"{csv}: needs a '{level}' column with the released {level} keys to join on")
    clash = [c for c in extra.columns if c != level and c in table.columns]
    if clash:
        raise VeilError(f"{csv}: column(s) {', '.join(clash)} clash with table columns; rename them")
    extra = extra.with_columns(pl.col(level).cast(pl.Utf8))
    twice = extra.filter(pl.col(level).is_duplicated()).get_column(level)
    if twice.len():  # which row holds the truth is not ours to guess (it was the first, silently)
        raise VeilError(f"{csv}: {twice.n_unique()} {level} key(s) listed more than once (first: {twice[0]!r}); "
                        "give one row per key")
    matched = table.get_column(level).is_in(extra.get_column(level).implode()).sum()
    if table.height and not matched:
        raise VeilError(f"{csv}: none of its {level} keys is in the release (give the released, pseudonymous "
                        f"{level} keys)")
    return table.join(extra, on=level, how="left")


def present_qis(table: pl.DataFrame, candidates: Sequence[str] = DEFAULT_QIS) -> list[str]:
    """The candidate QIs that hold at least one value (absent attributes cannot identify anyone)."""
    return [q for q in candidates if q in table.columns and table.get_column(q).null_count() < table.height]


def export(table: pl.DataFrame, path: Path) -> Path:
    """Write the table as Parquet (``.parquet``) or CSV (anything else; the file list becomes a count)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        table.write_parquet(path)
    else:
        flat = table.with_columns(pl.col("files").list.len().alias("files")) if "files" in table.columns else table
        flat.write_csv(path)
    return path
