"""Which words OCR read are PHI: this patient's header values in the forms burned-in text takes, and patterns.

Burned-in text is rarely the header value verbatim. Scanners truncate ("PATIENTFI…"), reorder
("DOWNTIME,MARY" for DOWNTIME^MARY), write dates their own way (08/29/1951, 29-AUG-1951, 1951.08.29)
and OCR confuses O/0, I/l/1, S/5, B/8. Matching is therefore done on a *skeleton* of each word (upper
case, letters and digits only, confusable glyphs folded together) against skeletons of the header's
names, IDs, institutions and dates, allowing truncation and one or two edits for long tokens. On top,
the ``text`` module's own detectors (:func:`veil.text.clean.clean_text`: known identifiers, date / ID /
phone patterns, person names) run over each OCR line. A match anywhere in a line marks the whole line,
because the rest of a line holding a name is usually more of the same person's data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from veil.pixels.ocr import Word
from veil.text.romanize import edit_distance

_CONFUSE = str.maketrans({"0": "O", "1": "I", "L": "I", "|": "I", "5": "S", "8": "B", "$": "S", "2": "Z"})
_DIGITS = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "|": "1", "S": "5", "B": "8",
                         "Z": "2", "G": "6"})
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DATE_LIKE = re.compile(r"^\D{0,4}\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}\D{0,2}$|^\d{1,2}[-/ ]?[A-Z]{3}[-/ ]?\d{2,4}$")
_NAME_KEYWORDS = {"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
                  "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
                  "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician",
                  "ResponsiblePerson"}
_ID_KEYWORDS = {"PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "MedicalRecordLocator",
                "IssuerOfPatientID", "PatientTelephoneNumbers", "DeviceSerialNumber", "AdmissionID",
                "PerformedProcedureStepID", "RequestedProcedureID", "ScheduledProcedureStepID"}
_PLACE_KEYWORDS = {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
                   "PatientAddress", "ReferringPhysicianAddress", "RegionOfResidence"}
#: Words too common in institution names to identify anything alone (the line rule still catches them).
_GENERIC = {"THE", "OF", "AND", "FOR", "MEDICAL", "CENTER", "CENTRE", "HOSPITAL", "CLINIC", "HEALTH",
            "UNIVERSITY", "DEPT", "DEPARTMENT", "MED", "CTR", "RADIOLOGY", "IMAGING", "SAINT", "ST", "GENERAL"}


def skeleton(text: str) -> str:
    """Upper-case letters and digits only, with OCR-confusable glyphs folded to one form."""
    return "".join(c for c in text.upper().translate(_CONFUSE) if c.isalnum())


def digits(text: str) -> str:
    """The digit reading of a mostly-numeric word (O->0, I->1, S->5 ...), other characters dropped."""
    return "".join(c for c in text.upper().translate(_DIGITS) if c.isdigit())


def date_forms(da: str) -> set[str]:
    """Skeletons of the ways a DA value (YYYYMMDD) is written on screens."""
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", da.strip()[:8])
    if not m:
        return set()
    y, mo, d = m.groups()
    yy, mon = y[2:], _MONTHS[int(mo) - 1] if 1 <= int(mo) <= 12 else "XXX"
    m1, d1 = str(int(mo)), str(int(d))
    nums = {y + mo + d, mo + d + y, d + mo + y, mo + d + yy, d + mo + yy, yy + mo + d,
            m1 + d1 + y, d1 + m1 + y, m1 + d1 + yy, d1 + m1 + yy}
    named = {d + mon + y, d + mon + yy, d1 + mon + y, mon + d + y, mon + d1 + y, y + mon + d}
    return {n for n in nums if len(n) >= 6} | {skeleton(n) for n in named}


@dataclass(frozen=True)
class Identifiers:
    """This instance's identifying values, prepared for matching OCR words (built before de-identification)."""

    names: frozenset[str]  # skeletons of name parts, len >= 2
    ids: frozenset[str]  # digit strings and skeletons of IDs, len >= 3
    places: frozenset[str]  # skeletons of institution / address words, generic words left out
    dates: frozenset[str]  # date_forms() of every DA
    known: object  # veil.text KnownIdentifiers for clean_text (None when unavailable)


def collect(ds: Dataset) -> Identifiers:
    """Identifiers of `ds`, at every depth; call it on the original header."""
    names: set[str] = set()
    ids: set[str] = set()
    places: set[str] = set()
    dates: set[str] = set()
    for elem in ds.iterall():
        kw = elem.keyword
        vr = elem.VR
        if vr == "SQ" or elem.value in (None, "", b""):
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        for v in values:
            text = str(v)
            if vr == "PN" or kw in _NAME_KEYWORDS:
                names.update(s for s in (skeleton(p) for p in re.split(r"[\^=,\s]+", text)) if len(s) >= 2)
            elif vr == "DA" or (vr == "DT" and len(text) >= 8):
                dates.update(date_forms(text))
            elif kw in _ID_KEYWORDS:
                s = skeleton(text)
                if len(s) >= 3:
                    ids.add(s)
                dg = digits(text)
                if len(dg) >= 4:
                    ids.add(dg)
            elif kw in _PLACE_KEYWORDS:
                places.update(s for s in (skeleton(p) for p in re.split(r"[\s,.;:/\-^]+", text))
                              if len(s) >= 3 and s not in {skeleton(g) for g in _GENERIC})
    known: object = None
    try:
        from veil.text.clean import collect_identifiers

        known = collect_identifiers(ds)
    except Exception:  # the text module cannot read this header: the skeleton matching above still runs
        known = None
    return Identifiers(frozenset(names), frozenset(ids), frozenset(places), frozenset(dates), known)


def _near(a: str, b: str) -> bool:
    """a is b with OCR damage: truncated, or one (two for long tokens) edits away."""
    if a == b:
        return True
    if len(a) >= 4 and len(b) >= 5 and b.startswith(a) and len(a) >= 0.5 * len(b):
        return True  # truncated on screen ("PATIENTFI..")
    if min(len(a), len(b)) >= 5 and abs(len(a) - len(b)) <= 2:
        limit = 1 if len(b) < 8 else 2
        return edit_distance(a, b, limit) <= limit
    return False


def word_label(text: str, ids: Identifiers) -> str | None:
    """'name', 'id', 'date', 'place' when the word carries this patient's data or a date, else None."""
    sk = skeleton(text)
    if not sk:
        return None
    dg = digits(text)
    if len(dg) >= 6 and (dg in ids.dates or any(len(f) >= 6 and f in dg for f in ids.dates)):
        return "date"
    if sk in ids.dates:
        return "date"
    if _DATE_LIKE.match(text.upper().strip()):
        return "date"
    for n in ids.names:
        if _near(sk, n) or (len(n) >= 4 and n in sk):
            return "name"
    for p in ids.places:
        if _near(sk, p) or (len(p) >= 4 and p in sk):
            return "place"
    if len(dg) >= 4 and any(len(i) >= 4 and (i in dg or (len(dg) >= 6 and dg in i)) for i in ids.ids if i.isdigit()):
        return "id"
    if any(len(i) >= 3 and (_near(sk, i) or (len(i) >= 5 and i in sk)) for i in ids.ids):
        return "id"
    return None


def line_label(tokens: list[str], ids: Identifiers) -> str | None:
    """A date, ID or name that OCR split into pieces ("08 APR 195 2"): matched on the joined line."""
    if len(tokens) < 2:
        return None
    sk = skeleton("".join(tokens))
    dg = "".join(digits(t) for t in tokens if sum(c.isdigit() for c in t) * 2 >= len(t))
    if any(len(f) >= 6 and (f in sk or (f.isdigit() and f in dg)) for f in ids.dates):
        return "date"
    if any(len(i) >= 5 and i.isdigit() and i in dg for i in ids.ids):
        return "id"
    if any(len(n) >= 4 and n in sk for n in ids.names):
        return "name"
    return None


def phi_lines(words: Sequence[Word], ids: Identifiers) -> dict[int, str]:
    """Index of every PHI word -> label; a PHI word marks every word of its OCR line."""
    labels: dict[int, str] = {}
    for i, w in enumerate(words):
        lab = word_label(w.text, ids)
        if lab:
            labels[i] = lab
    lines: dict[tuple[int, int, int, int], list[int]] = {}
    for i, w in enumerate(words):
        lines.setdefault(w.line, []).append(i)
    for members in lines.values():
        lab = line_label([words[i].text for i in members], ids)
        if lab is not None:
            labels.setdefault(members[0], lab)
        strong = [labels[i] for i in members if i in labels]
        if strong:  # this patient's data in the line: the whole line goes
            for i in members:
                labels.setdefault(i, f"line:{strong[0]}")
            continue
        for j in _text_module_hits([words[i].text for i in members], ids):
            labels.setdefault(members[j], "text")
    return labels


def _text_module_hits(tokens: list[str], ids: Identifiers) -> set[int]:
    """Positions of tokens that veil.text's detectors replace when the line is cleaned as free text."""
    line = " ".join(tokens)
    try:
        from veil.text.clean import clean_text

        cleaned, n = clean_text(line, ids.known)  # type: ignore[arg-type]
    except Exception:
        return set()
    if not n:
        return set()
    starts, pos = [], 0
    for t in tokens:
        starts.append((pos, pos + len(t)))
        pos += len(t) + 1
    hit: set[int] = set()
    for op, a0, a1, _b0, _b1 in difflib.SequenceMatcher(None, line, cleaned, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for k, (s, e) in enumerate(starts):
            if s < max(a1, a0 + 1) and a0 < e:
                hit.add(k)
    return hit
