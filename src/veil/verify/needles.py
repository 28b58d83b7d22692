"""Identifying values of the input, collected independently of the header engine (DESIGN: verify).

`veil verify --against IN` searches the output for every value that identified someone in the input.
This module reads the input with its own small walk and its own list of identifying attributes, so a bug
in the de-identifier's tables or walk is not shared by the check (PS3.15 E.1-1 lists what identifies;
HIPAA 164.514(b)(2) the 18 identifier kinds: names, geographic units, dates, phone numbers, e-mail
addresses, record and account numbers, device identifiers, ...).

Values that are too short or too common to search for without drowning in false alarms (sex, one- or
two-letter name parts, short numbers) are skipped; a needle is searched on word boundaries.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pydicom
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.pipeline.passthrough import read_head
from veil.text import months
from veil.text.known import (
    HIDDEN,
    LETTERS,
    detransliterated,
    dictionary_pn,
    latinised,
    other_kana,
    plain_ascii,
    transliterated,
)
from veil.text.uids import standard_uid

#: Attributes that carry an identifier (record/account numbers, device and station names).
ID_KEYWORDS = frozenset({
    "PatientID", "IssuerOfPatientID", "AccessionNumber", "StudyID", "RequestedProcedureID",
    "ScheduledProcedureStepID", "PerformedProcedureStepID", "AdmissionID", "ServiceEpisodeID",
    "DeviceSerialNumber", "StationName", "MedicalRecordLocator", "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest", "InsurancePlanIdentification", "PatientInsurancePlanCodeSequence",
    "DetectorID", "GantryID", "PlateID", "CassetteID", "DeviceUID", "ReasonForStudy",
    # PS3.15 E.1-1 rows that were missing (red team F2: Other Patient IDs went out in a comment unseen)
    "OtherPatientIDs", "IssuerOfAdmissionID", "IssuerOfServiceEpisodeID", "StudyIDIssuer", "PlacerOrderNumberProcedure",
    "FillerOrderNumberProcedure", "SpecimenAccessionNumber", "SlideIdentifier", "ContainerIdentifier",
    "SpecimenIdentifier", "ResultsID", "InterpretationID", "GeneratorID", "SourceSerialNumber",
    "UniqueDeviceIdentifier", "ScheduledStationName", "PerformedStationName",
})
#: Places and organisations (geographic units smaller than a state, institutions).
PLACE_KEYWORDS = frozenset({
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "PatientAddress",
    "RegionOfResidence", "CountryOfResidence", "ResponsibleOrganization", "VerifyingOrganization",
    # PS3.15 E.1-1: where the patient is or lives, where the study is done, who ran it (red team F2)
    "CurrentPatientLocation", "PatientInstitutionResidence", "ScheduledPatientInstitutionResidence",
    "ScheduledStudyLocation", "RequestedProcedureLocation", "ScheduledProcedureStepLocation", "PerformedLocation",
    "OrderEntererLocation", "HumanPerformerOrganization", "ClinicalTrialSiteName",
    "ClinicalTrialCoordinatingCenterName", "ReferringPhysicianAddress", "AddressTrial", "DistributionAddress",
})
CONTACT_KEYWORDS = frozenset({"PatientTelephoneNumbers", "PersonTelephoneNumbers", "PatientTelecomInformation",
                              "PersonAddress", "PersonTelecomInformation", "ReferringPhysicianTelephoneNumbers",
                              "OrderCallbackPhoneNumber", "OrderCallbackTelecomInformation", "TelephoneNumberTrial"})
#: Attributes that name the equipment (kept by every profile): their values are collected as what the
#: input's devices call themselves, not searched for (see veil.verify.scan.Scanner._excused_hit).
EQUIPMENT_KEYWORDS = frozenset({"Manufacturer", "ManufacturerModelName"})
DATE_KEYWORDS = frozenset({"PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                           "InstanceCreationDate", "PerformedProcedureStepStartDate"})
#: Words that occur in names but would match ordinary text (titles, suffixes, our own dummies).
STOP = frozenset({"MR", "MRS", "MS", "MISS", "DR", "PROF", "TECH", "MD", "PHD", "JR", "SR", "III", "THE", "AND",
                  "ANONYMIZED", "ANONYMOUS", "UNKNOWN", "NONE", "TEST", "PATIENT", "DOCTOR"})


#: A value of digits with single dots between them (UIDs, numeric IDs, dotted dates): verify looks these up
#: piece by piece along runs of digits and dots (veil.verify.scan.NeedleIndex).
DIGIT_DOT = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def fold(text: str) -> str:
    """Upper case without accents, so 'Zoë' finds 'ZOE' and 'zoë'; letters without a decomposition as ASCII
    writes them ('Søren' finds 'SOREN': :data:`veil.text.known.LETTERS`); what a reader does not see dropped
    ('Zor<U+200B>vath' finds 'ZORVATH', and an escape sequence left in decoded text: :data:`HIDDEN`)."""
    if plain_ascii(text):
        return text.upper()
    text = latinised(HIDDEN.sub("", text))
    if text.isascii():
        return text.upper()
    decomposed = unicodedata.normalize("NFKD", text.translate(LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


@dataclass(frozen=True, slots=True)  # slots: an archive's input gives a million needles (~100 bytes each less)
class Needle:
    value: str  # as found in the input
    category: str  # name, id, place, contact, date, uid


@dataclass
class Needles:
    """Needles of one input file (`dates`: searched only in that file's output) and of the whole input."""

    values: dict[str, Needle] = field(default_factory=dict)  # folded -> needle
    dates: set[str] = field(default_factory=set)  # YYYYMMDD of this file (birth and study dates)
    #: YYYYMMDD of every birth date of the input: searched everywhere in its written forms (birth_forms). Its
    #: forms of digits and dots and its East Asian forms are `values` too; the others (~100 a date) are
    #: checked where a date's shape matches (veil.verify.scan.NeedleIndex), not held as a million needles
    births: set[str] = field(default_factory=set)
    makers: set[str] = field(default_factory=set)  # folded Manufacturer and Model Name values of the input
    #: the 7-digit local part of a 10-digit North American number: a needle only next to a phone cue or
    #: written with its dash ("ext 238-4471"; see veil.verify.scan.NeedleIndex)
    local_phones: set[str] = field(default_factory=set)
    #: digit needles that are never found as a piece of a dotted number (a UID): phone digits, ID cores
    undotted: set[str] = field(default_factory=set)
    #: the input's character sets (Python codecs): its names are searched as raw bytes in them too
    encodings: set[str] = field(default_factory=set)

    def add(self, value: str, category: str) -> None:
        v = value.strip()
        f = fold(v)
        if not f or f in STOP:
            return
        digits = sum(c.isdigit() for c in f)
        if category == "uid":
            if len(f) < 10:
                return
        elif digits == len(f.replace(" ", "").replace("-", "")):
            if digits < 5:  # short numbers are everywhere (instance numbers, sizes)
                return
        elif len(f) < (2 if cjk(f) else 3):  # two ideographs make a family name ("山田")
            return
        self.values.setdefault(f, Needle(v, category))

    def update(self, other: Needles) -> None:
        for k, n in other.values.items():
            self.values.setdefault(k, n)
        self.makers |= other.makers
        self.births |= other.births
        self.local_phones |= other.local_phones
        self.undotted |= other.undotted
        self.encodings |= other.encodings


def _ordinal(day: int) -> str:
    """1ST, 2ND, 3RD, 4TH ... 11TH-13TH, 21ST (folded: needles are upper case)."""
    return f"{day}{'TH' if 10 <= day % 100 <= 20 else {1: 'ST', 2: 'ND', 3: 'RD'}.get(day % 10, 'TH')}"


def date_forms(da: str) -> list[str]:
    """A date in the ways people write it (for free text): 19610304, 1961-03-04, 03/04/1961, 4-Mar-1961 ...

    Day first and month first with '/', '-' or '.', padded or not ("13-05-1947", "13.5.1947", "1947/5/13"),
    month names abbreviated or whole, ordinal days ("May 13th, 1947", "13th of May 1947") and the compact
    form of military and lab records ("13MAY1947"). Why all of them: when the instance says its dates were
    modified, the generic text-date pattern is off and these needles are all that finds a real date (red
    team F3/F4: "2 April 2019", "02-04-2019" and "13-05-1947" passed)."""
    try:
        d = date(int(da[:4]), int(da[4:6]), int(da[6:8]))
    except (ValueError, IndexError):
        return []
    y, mo, dy = d.year, d.month, d.day
    forms = [f"{d:%Y%m%d}", f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}", f"{d:%Y.%m.%d}", f"{y}/{mo}/{dy}", f"{y}-{mo}-{dy}",
             f"{y}.{mo}.{dy}"]
    for sep in "/-.":  # day first and month first, padded and not
        forms += [f"{d:%d}{sep}{d:%m}{sep}{y}", f"{d:%m}{sep}{d:%d}{sep}{y}", f"{dy}{sep}{mo}{sep}{y}",
                  f"{mo}{sep}{dy}{sep}{y}"]
    for m in dict.fromkeys((months.ABBREVIATED[mo - 1], months.ENGLISH[mo - 1])):
        for day in dict.fromkeys((str(dy), f"{dy:02d}", _ordinal(dy))):
            forms += [f"{day}-{m}-{y}", f"{day} {m} {y}", f"{day} {m}, {y}", f"{day} OF {m} {y}", f"{day} OF {m}, {y}",
                      f"{m} {day} {y}", f"{m} {day}, {y}", f"{m}-{day}-{y}"]
            if len(m) == 3:
                forms.append(f"{m}. {day}, {y}")
        forms += [f"{dy:02d}{m}{y}", f"{dy}{m}{y}"]
    return list(dict.fromkeys(forms))


def birth_forms(da: str) -> list[str]:
    """:func:`date_forms` and the birth date's rarer forms: other languages, day first ("13. NOVEMBER 1947",
    "13 DE NOVIEMBRE DE 1947"), Roman months ("13.XI.1947") and the East Asian form (the text matcher's
    :func:`veil.text.known.birth_forms`) and the year in two digits ("13/05/47", "13MAY47", red team F3).
    Only the birth date's: they are needles everywhere, and a study's two-digit year is no identifier. Forms
    cost no regex to add: they are looked up where a date's shape matches (veil.verify.scan._date_shape)."""
    forms = date_forms(da)
    if not forms:
        return forms
    d = date(int(da[:4]), int(da[4:6]), int(da[6:8]))
    for mon in (months.ENGLISH[d.month - 1], *months.FOREIGN[d.month - 1]):
        forms += [f"{d.day} {mon} {d.year}", f"{d.day}. {mon} {d.year}", f"{d.day} DE {mon} DE {d.year}"]
    yy = f"{d:%y}"
    for sep in "/-":
        forms += [f"{d:%d}{sep}{d:%m}{sep}{yy}", f"{d:%m}{sep}{d:%d}{sep}{yy}", f"{d.day}{sep}{d.month}{sep}{yy}",
                  f"{d.month}{sep}{d.day}{sep}{yy}"]
    forms += [f"{d:%d}.{d:%m}.{yy}"]  # dotted and unpadded reads as a version number ("13.5.47"): padded only
    for m in dict.fromkeys((months.ABBREVIATED[d.month - 1], months.ENGLISH[d.month - 1])):
        forms += [f"{d:%d}{m}{yy}", f"{d:%d}-{m}-{yy}", f"{d.day}-{m}-{yy}"]
        # the month's name with a two-digit year as letters write it ("born May 13, 47", "13 May '47")
        for day in dict.fromkeys((str(d.day), f"{d:%d}")):
            for y in (yy, f"'{yy}"):
                forms += [f"{m} {day}, {y}", f"{m} {day} {y}", f"{day} {m} {y}", f"{day} {m}, {y}"]
    # not the month with its year ("MAY 1947", "05/1947"): these needles are searched in every output, and
    # another patient's shifted "05/08/2010" or "7 March 2011" held a birth's "08/2010", "March 2011"
    # (review: 23 of 367 correct research-longitudinal files blocked)
    roman = months.ROMAN[d.month - 1]
    forms += [f"{d.day}.{roman}.{d.year}", f"{d:%d}.{roman}.{d.year}", f"{d.day}.{roman}.{yy}", f"{d:%d}.{roman}.{yy}",
              f"{d.year}年{d.month}月{d.day}日",
              f"{d.year}年{d.month:02d}月{d.day:02d}日"]
    return list(dict.fromkeys(forms))


#: Words of addresses and institution names that name no place by themselves: a part of an address is a
#: needle only with a word that is not one of these ("17 Harrowgate Lane" by HARROWGATE; "Lane", "UK" never).
PLACE_WORDS = frozenset({
    "LANE", "STREET", "ROAD", "AVENUE", "AVE", "DRIVE", "WAY", "CLOSE", "COURT", "PLACE", "SQUARE", "CRESCENT",
    "BOULEVARD", "BLVD", "TERRACE", "GARDENS", "PARK", "HILL", "GREEN", "NORTH", "SOUTH", "EAST", "WEST", "UPPER",
    "LOWER", "CITY", "TOWN", "COUNTY", "STATE", "SUITE", "FLOOR", "LEVEL", "BUILDING", "BLOCK", "WING", "ROOM",
    "UNIT", "WARD", "APARTMENT", "FLAT", "BOX", "HOSPITAL", "INFIRMARY", "CLINIC", "CENTER", "CENTRE", "MEDICAL",
    "HEALTH", "UNIVERSITY", "GENERAL", "SAINT", "THE", "AND", "DEPARTMENT", "DEPT", "RADIOLOGY", "IMAGING",
    "INSTITUTE", "SCHOOL", "COLLEGE", "MEMORIAL", "REGIONAL", "NATIONAL", "CHILDREN", "CHILDRENS", "TRUST",
    "FOUNDATION", "SERVICES", "SERVICE", "UNITED", "KINGDOM", "STATES", "AMERICA", "USA",
})
_SAINT = re.compile(r"^(?:SAINT|ST\.?)\s+")


def place_parts(value: str) -> list[str]:
    """The parts of an address or institution name that name a place on their own: its comma-, semicolon- and
    line-separated parts (the street line, the town, the postcode line) and an institution's name without a
    leading "Saint"/"St"/"The" and with "Saint" written "St" (red team F5: "lives in Plimsworth", "17
    Harrowgate Lane" and "St Wolmsley Infirmary" passed: only the whole value was a needle). A part is kept
    only with a word of 4 letters or more that is not an address or institution word (:data:`PLACE_WORDS`),
    so "Lane", "UK" or "Radiology Wing" never become needles."""
    out: list[str] = []
    parts = [" ".join(raw.split()) for raw in re.split(r"[,;\n\r^\\]+", value)]
    for part in (p for p in parts if p):
        up = fold(part)
        forms = [part]
        # without its house number or postcode: "Harrowgate Lane" of "17 Harrowgate Lane", "Erlangen" of
        # "91054 Erlangen" (review: the street or town named alone passed)
        bare_words = " ".join(w for w in part.split() if not re.search(r"\d", w))
        if bare_words and bare_words != part:
            forms.append(bare_words)
        bare = _SAINT.sub("", up)
        if bare != up:
            forms += [bare, "ST " + bare, "ST. " + bare, "SAINT " + bare]
        elif up.startswith("THE "):
            forms.append(up[4:])
        out += [f for f in forms if _names_a_place(f)]
    whole = " ".join(value.split())
    return [p for p in dict.fromkeys(out) if fold(p) != fold(whole)]


def _names_a_place(part: str) -> bool:
    """A part with a word of its own, and not a month or an ordinary word alone: the town "March" matched
    another patient's shifted "7 March 2011" (review); "Reading" or "Battle" alone would match prose."""
    words = re.findall(r"[^\W\d_]+", fold(part))
    if len(words) == 1 and (words[0] in _MONTH_WORDS or words[0] in _ordinary_words()):
        return False
    return any(len(w) >= 4 and w not in PLACE_WORDS and w not in STOP for w in words) and (
        len(words) >= 2 or len(fold(part)) >= 5)


_MONTH_WORDS = frozenset(m.upper() for m in (*months.ENGLISH, *months.ABBREVIATED))


def data_words(*names: str) -> frozenset[str]:
    """Upper-case words of word lists shipped in veil/text/data (read as data: verify shares no code with
    the de-identifier's text matcher); '#' starts a comment."""
    from importlib import resources

    root = resources.files("veil.text").joinpath("data")
    out: set[str] = set()
    for name in names:
        for line in root.joinpath(name).read_text(encoding="utf-8").splitlines():
            out.update(w.upper() for w in line.split("#", 1)[0].split())
    return frozenset(out)


@functools.cache
def _ordinary_words() -> frozenset[str]:
    """English words (Veil's shipped list): a one-word place part that is one is no needle."""
    return data_words("english.txt")


#: Country codes of two digits (ITU-T E.164); 1 and 7 are one digit, the rest three.
_CC2 = frozenset({"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
                  "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
                  "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"})
_PHONE = re.compile(r"(?:TEL:)?\s*(\+|00)?[\d\s().-]{6,}", re.I)


def phone_forms(value: str) -> tuple[list[str], str | None]:
    """The other digit strings a telephone number is written as, and its 7-digit local part (or None).

    Red team F6: "(555) 238-4471" passed as "+1 555 238 4471", and "+44 20 7946 0321" as the UK national
    "020 7946 0321": only the value and all its digits were needles. An international number is also
    written without its country code, with the trunk 0 most countries dial (+44, +49, +33, +31 ...; an
    Italian number keeps its 0; North America, +1, has none), and with "(0)" between them; a 10-digit
    North American number is also written with its 1 in front, and as its local 7 digits. The country code
    follows "+" or "00" either way."""
    m = _PHONE.fullmatch(value.strip())
    if not m:
        return [], None
    digits = re.sub(r"\D", "", value)
    if m.group(1):  # international: the country code is the first group, or by its length
        if m.group(1) == "00":
            digits = digits[2:]
        groups = re.findall(r"\d+", value.strip()[2:] if m.group(1) == "00" else value)
        if len(groups) > 1 and len(groups[0]) <= 3:
            cc = groups[0]
        else:
            cc = digits[:1] if digits[:1] in ("1", "7") else digits[:2] if digits[:2] in _CC2 else digits[:3]
        rest = digits[len(cc):]
        # the country code after "+" or after the "00" most countries dial out with ("0044 20 ...", review)
        dialled = [cc + rest, "00" + cc + rest]
        if cc == "1":
            return [rest, *dialled], rest[3:] if len(rest) == 10 else None
        national = rest if rest.startswith("0") else "0" + rest
        return [national, cc + national, *dialled], None
    if len(digits) == 10:
        return ["1" + digits], digits[3:]
    if len(digits) == 11 and digits.startswith("1"):
        return [digits[1:]], digits[4:]
    return [], None


def id_cores(value: str) -> list[str]:
    """The digit runs of 6 or more digits of an alphanumeric ID, with and without leading zeros (6 or more
    still). Red team F7: "MRN-5512907" went out as "5512907" in a PN, "ACC7731946" as "7731946" in a CS.
    A run that is a date (YYYYMMDD) is left to the date checks: an accession holding its study date
    would make a kept date a finding."""
    if not re.search(r"[^\W\d_]", value):
        return []
    out = []
    for run in re.findall(r"\d{6,}", value):
        if re.fullmatch(r"(?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])", run):
            continue
        out.append(run)
        if len(run.lstrip("0")) >= 6 and run.lstrip("0") != run:
            out.append(run.lstrip("0"))
    return out


def _values(elem: pydicom.DataElement) -> list[str]:
    v = elem.value
    if v is None or isinstance(v, bytes | bytearray):
        return []
    if isinstance(v, list | tuple | pydicom.multival.MultiValue):
        return [str(x) for x in v if x is not None and str(x)]
    return [str(v)] if str(v) else []


def cjk(text: str) -> bool:
    """Ideographs, kana or Hangul: scripts written without spaces, where names are one to three characters."""
    return any(0x3040 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7A3 or 0xF900 <= ord(c) <= 0xFAFF for c in text)


def _add_name(n: Needles, pn: str, variants: bool = True) -> None:
    other = (transliterated(pn) if not pn.isascii() else detransliterated(pn)) if variants else None  # both ways
    if other is not None:
        _add_name(n, other, variants=False)
    kana = other_kana(pn) if variants and not pn.isascii() else None  # "ヤマダ" for やまだ (3 kana or more)
    if kana is not None:
        extra = Needles()
        _add_name(extra, kana, variants=False)
        for k, v in extra.values.items():
            if len(k.replace(" ", "")) >= 3:
                n.values.setdefault(k, v)
    for group in pn.split("="):
        parts = [p.strip() for p in group.split("^") if p.strip()]
        if cjk(group):  # "山田^太郎": each part, and the two run together as text writes them
            for p in parts:
                n.add(p, "name")
            if len(parts) >= 2:
                n.add(parts[0] + parts[1], "name")
            continue
        for p in parts:
            for w in re.split(r"[\s,]+", p):
                if len(w) >= 3:
                    n.add(w, "name")
        if len(parts) >= 2:
            n.add(f"{parts[1]} {parts[0]}", "name")
            n.add(f"{parts[0]} {parts[1]}", "name")
            if min(len(parts[0]), len(parts[1])) >= 3:  # run together, as a login or a file name writes it
                n.add(parts[1] + parts[0], "name")
                n.add(parts[0] + parts[1], "name")


def collect(ds: Dataset) -> Needles:
    """Every identifying value in `ds` at every depth, its dates and its character sets.

    The character sets: a value copied out of the input as bytes keeps the input's encoding whatever the
    output declares, so the raw search also tries them (red team F10: "Иванова Светлана" as ISO 8859-5
    bytes passed in an output declaring no character set, ISO_IR 100 or ISO_IR 192)."""
    n = Needles()
    _collect(ds, n)
    charsets = ds.get("SpecificCharacterSet")
    if charsets:
        try:
            encodings = convert_encodings(list(charsets) if isinstance(charsets, list | MultiValue) else [charsets])
        except Exception:  # an unknown character set: its values were read as pydicom could
            encodings = []
        n.encodings.update(e for e in encodings if e not in ("iso8859", "latin_1", "utf_8", "UTF8"))
    return n


@functools.cache
def _wanted(tag: int, raw_vr: str | None) -> bool:
    """Whether an element can give a needle (or holds items that can): its value is only decoded then.
    Decoding every value of a header-heavy input was two thirds of verify's time on its inputs."""
    vr = raw_vr
    if vr is None or (vr == "UN" and not tag >> 16 & 1):  # implicit VR, or UN read as its real VR
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return False
    if vr in ("SQ", "PN", "UI") or dictionary_pn(tag):
        return True
    kw = keyword_for_tag(tag)
    return (kw in DATE_KEYWORDS or kw in ID_KEYWORDS or kw in PLACE_KEYWORDS or kw in CONTACT_KEYWORDS
            or kw in EQUIPMENT_KEYWORDS)


def _collect(ds: Dataset, n: Needles) -> None:
    for tag in sorted(ds.keys()):  # raw elements in tag order (as iterating ds): only the wanted are decoded
        if not _wanted(tag, ds.get_item(tag, keep_deferred=True).VR):
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value or []:
                _collect(item, n)
            continue
        kw = elem.keyword
        vals = _values(elem)
        if not vals:
            continue
        if elem.VR == "PN" or dictionary_pn(tag):
            for v in vals:
                _add_name(n, v)
        elif elem.VR == "UI":
            for v in vals:
                # a UID of the standard (a context group's too) is no needle: the engine keeps it (new_uids)
                if not standard_uid(v) and not kw.endswith(("ClassUID", "SyntaxUID", "SchemeUID")):
                    n.add(v, "uid")
        elif kw in DATE_KEYWORDS:
            for v in vals:
                if re.fullmatch(r"\d{8}", v):
                    n.dates.add(v)
                    if kw == "PatientBirthDate":  # never kept by any option: searched everywhere
                        n.births.add(v)
                        for form in birth_forms(v):
                            if not form.isascii() or DIGIT_DOT.fullmatch(form):
                                n.add(form, "date")
        elif kw in ID_KEYWORDS:
            for v in vals:
                n.add(v, "id")
                stripped = v.strip().lstrip("0")
                if stripped != v.strip():
                    n.add(stripped, "id")
                for core in id_cores(v):
                    n.add(core, "id")
                    n.undotted.add(core)
        elif kw in PLACE_KEYWORDS:
            for v in vals:
                n.add(v, "place")
                for part in place_parts(v):
                    n.add(part, "place")
        elif kw in EQUIPMENT_KEYWORDS:
            n.makers.update(fold(v).strip() for v in vals)
        elif kw in CONTACT_KEYWORDS:
            for v in vals:
                n.add(v, "contact")
                digits = re.sub(r"\D", "", v)
                if len(digits) >= 7:
                    n.add(digits, "contact")
                    n.undotted.add(digits)
                if "phone" in kw.lower() or "Telecom" in kw:
                    forms, local = phone_forms(v)
                    for form in forms:
                        n.add(form, "contact")
                        n.undotted.add(form)
                    if local is not None:
                        n.local_phones.add(local)
        elif elem.tag.is_private and elem.VR in ("LO", "SH", "PN", "LT", "ST", "UT") and elem.tag.element > 0xFF:
            continue  # private text is searched for patterns, not used as needles (unknown meaning)


def read_needles(path: Path) -> Needles:
    ds = read_head(path, force=True)
    n = collect(ds)
    if getattr(ds, "file_meta", None) is not None:
        for elem in ds.file_meta:
            if elem.keyword == "MediaStorageSOPInstanceUID":
                n.add(str(elem.value), "uid")
    return n
