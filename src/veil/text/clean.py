"""Clean free text: replace identifying spans with typed placeholders, keep clinical words.

PS3.15 E.3.5/E.3.4 ask to "replace with values of similar meaning that contain no identifying
information". Two detectors run here: values already known to identify this patient (collected from the
same instance's headers, in every common written form) and patterns (dates, phone numbers, e-mail
addresses, URLs, long digit runs that look like record numbers). Placeholders are typed so the text keeps
its meaning for research ("CT CHEST for [NAME]").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from pydicom.dataset import Dataset

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

#: Attributes whose values identify the patient or the people/places around the study.
_ID_KEYWORDS = (
    "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "AccessionNumber", "StudyID",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "PatientAddress", "PatientTelephoneNumbers", "MedicalRecordLocator",
    "RequestedProcedureID", "ScheduledProcedureStepID", "PerformedProcedureStepID", "AdmissionID",
    "MilitaryRank", "BranchOfService", "RegionOfResidence", "CountryOfResidence",
)
_DATE_KEYWORDS = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")


def fold(text: str) -> str:
    """Upper-case, accents removed: 'Zoë' and 'ZOE' match."""
    nfkd = unicodedata.normalize("NFKD", text)
    return "".join(c for c in nfkd if not unicodedata.combining(c)).upper()


@dataclass(frozen=True)
class KnownIdentifiers:
    """Identifying strings of one instance, as (folded text, placeholder) pairs, longest first."""

    terms: tuple[tuple[str, str], ...]

    def __bool__(self) -> bool:
        return bool(self.terms)


def _date_forms(da: str) -> set[str]:
    try:
        d = date(int(da[:4]), int(da[4:6]), int(da[6:8]))
    except (ValueError, IndexError):
        return set()
    m = _MONTHS[d.month - 1]
    y2 = f"{d.year % 100:02d}"
    return {
        f"{d:%Y%m%d}", f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}", f"{d:%Y.%m.%d}",
        f"{d:%d/%m/%Y}", f"{d:%m/%d/%Y}", f"{d:%d.%m.%Y}", f"{d:%d-%m-%Y}", f"{d:%m-%d-%Y}",
        f"{d.day}/{d.month}/{d.year}", f"{d.month}/{d.day}/{d.year}", f"{d.day}/{d.month}/{y2}",
        f"{d.month}/{d.day}/{y2}", f"{d.day}-{m}-{d.year}", f"{d.day:02d}-{m}-{d.year}",
        f"{m} {d.day:02d} {d.year}", f"{m} {d.day} {d.year}", f"{d.day} {m} {d.year}",
        f"{d.day:02d} {m} {d.year}", f"{d.day}{m}{d.year}", f"{d.day:02d}{m}{d.year}",
    }


def _walk_values(ds: Dataset, out: list[tuple[str, str]]) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                _walk_values(item, out)
        elif elem.VR == "PN" and elem.value:
            for v in elem.value if elem.VM > 1 else [elem.value]:
                _add_name(str(v), out)
        elif elem.keyword in _ID_KEYWORDS and elem.value:
            for v in elem.value if elem.VM > 1 else [elem.value]:
                s = str(v).strip()
                if len(s) >= 3:
                    out.append((s, "[ID]" if any(ch.isdigit() for ch in s) else "[NAME]"))
                    stripped = s.lstrip("0")
                    if stripped != s and len(stripped) >= 4:
                        out.append((stripped, "[ID]"))
                    compact = re.sub(r"[\s\-_./]", "", s)
                    if compact != s and len(compact) >= 4:
                        out.append((compact, "[ID]"))
        elif elem.keyword in _DATE_KEYWORDS and elem.value:
            for form in _date_forms(str(elem.value)):
                out.append((form, "[DATE]"))


def _add_name(pn: str, out: list[tuple[str, str]]) -> None:
    for group in pn.split("="):  # alphabetic, ideographic, phonetic representations
        parts = [p.strip() for p in group.split("^") if p.strip()]
        for p in parts:
            for w in re.split(r"[\s,]+", p):
                if len(w) >= 3:
                    out.append((w, "[NAME]"))
        if len(parts) >= 2:
            family, given = parts[0], parts[1]
            out += [(f"{given} {family}", "[NAME]"), (f"{family}, {given}", "[NAME]"),
                    (f"{family} {given}", "[NAME]"), (f"{given[0]}. {family}", "[NAME]"),
                    (f"{given[0]} {family}", "[NAME]")]


def collect_identifiers(ds: Dataset) -> KnownIdentifiers:
    """Every identifying value in `ds` (names, IDs, dates in many written forms), for text cleaning."""
    raw: list[tuple[str, str]] = []
    _walk_values(ds, raw)
    seen: dict[str, str] = {}
    for text, label in raw:
        key = fold(text)
        if key and key not in seen:
            seen[key] = label
    terms = tuple(sorted(seen.items(), key=lambda kv: -len(kv[0])))
    return KnownIdentifiers(terms)


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[EMAIL]"),
    (re.compile(r"\b(https?://|www\.)\S+", re.I), "[URL]"),
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](\d{4}|\d{2})\b"), "[DATE]"),
    (re.compile(r"\b(19|20)\d{2}[-/.](0?[1-9]|1[0-2])[-/.](0?[1-9]|[12]\d|3[01])\b"), "[DATE]"),
    (re.compile(r"\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b"), "[DATE]"),
    (re.compile(r"\b\d{1,2}[ -](JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[ -,]*\d{2,4}\b", re.I),
     "[DATE]"),
    (re.compile(r"\b(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*\.? \d{1,2},? \d{4}\b", re.I),
     "[DATE]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[ID]"),  # SSN-like
    (re.compile(r"(\+\d{1,3}[\s.-]?)?\(?\d{2,4}\)?[\s.-]\d{3,4}[\s.-]\d{3,4}\b"), "[PHONE]"),
    (re.compile(r"\b[A-Z]{0,4}\d{5,}\b", re.I), "[ID]"),  # record-number-like digit runs
)


def clean_text(value: str, known: KnownIdentifiers) -> tuple[str, int]:
    """Return `value` with identifying spans replaced, and how many spans were replaced.

    Known identifiers are matched case- and accent-insensitively on word boundaries; patterns then catch
    what was never in the headers. Folding keeps string length for Latin text, so spans map back.
    """
    text = value
    count = 0
    folded = fold(text)
    if len(folded) == len(text):
        for term, label in known.terms:
            start = 0
            while True:
                i = folded.find(term, start)
                if i < 0:
                    break
                j = i + len(term)
                left_ok = i == 0 or not folded[i - 1].isalnum()
                right_ok = j == len(folded) or not folded[j].isalnum()
                if left_ok and right_ok:
                    text = text[:i] + label + text[j:]
                    folded = folded[:i] + label + folded[j:]
                    count += 1
                    start = i + len(label)
                else:
                    start = i + 1
    else:  # folding changed length (ligatures): match on the folded text alone
        for term, label in known.terms:
            pat = re.compile(r"(?<![0-9A-Z])" + re.escape(term) + r"(?![0-9A-Z])")
            folded, n = pat.subn(label, folded)
            count += n
        if count:
            text = folded
    for pat, label in _PATTERNS:
        text, n = pat.subn(label, text)
        count += n
    return text, count
