"""Residual-PHI scanner: re-read every output file and report anything that still identifies someone.

Principle 5 of the design, "verify, don't trust": this module shares no code path with the header engine.
It reads the output with pydicom alone and checks, per file:

* with the input (``against``): every identifying value of the input (:mod:`veil.verify.needles`) in every
  element value at every depth, private elements and file meta included, in the output path, and as a raw
  byte run anywhere in the file (ASCII/UTF-8, Latin-1, UTF-16 and the file's own character set); the
  dates of the paired input file (birth and study dates) as values and in written forms;
* without it: PHI patterns in text values (e-mail, URL, phone, SSN, record numbers, titles with names,
  ages over 89, dates in free text unless the instance says its dates were modified), instance UIDs under
  vendor roots that embed dates and device serials, ages over 89 (AS), private elements not on the
  PS3.15 E.3.10-1 safe list, overlays, curves, icon images, encapsulated documents, burned-in annotation
  that no one cleaned, and instances not marked PatientIdentityRemoved=YES (PS3.15 E.1.1).

Findings carry a masked evidence string (``Q*******h``); the unmasked value stays in memory for tests and
is never printed or written.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pydicom
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from veil.policy.private import PrivateDictionary, load_safe_private
from veil.text import months
from veil.text.known import BIRTH_CUE
from veil.text.romanize import OTHER_SCRIPT, SoundIndex
from veil.verify.literals import WORD, Literals
from veil.verify.needles import DIGIT_DOT, EQUIPMENT_KEYWORDS, Needles, birth_forms, cjk, data_words, date_forms, fold

#: Instance-UID roots of vendors whose UIDs embed acquisition times, serial numbers or station IDs.
VENDOR_ROOTS = {
    "1.2.840.113619": "GE", "1.3.12.2.1107": "Siemens", "1.3.46.670589": "Philips",
    "1.2.392.200036.9116": "Canon/Toshiba", "1.2.392.200036.9125": "Fujifilm", "1.2.124.113532": "Agfa",
    "1.2.840.113681": "Hologic", "1.2.840.113564": "Agfa/Carestream", "1.2.840.113704": "Philips (ADAC)",
    "1.2.840.113745": "Philips (ATL)", "1.2.528.1.1001": "Philips (PMS)", "1.3.51.0.7": "Konica Minolta",
    "1.2.276.0.7230010.3": "OFFIS DCMTK",
}
TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "AE", "CS", "UR"})
FREE_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC"})

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("url", re.compile(r"\b(?:https?://|www\.)\S+", re.I)),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("phone", re.compile(r"(?:\+\d{1,3}[\s.-]?)?\(\d{2,4}\)\s?\d{3,4}[\s.-]?\d{3,4}\b"
                         r"|\b\d{3}[.-]\d{3,4}[.-]\d{4}\b")),
    ("record-number", re.compile(r"\b(?:MRN|MR#|NHS|SSN|ACC|ACCESSION|ID)[\s:#-]*[A-Z]{0,3}\d{5,}\b", re.I)),
    ("long-number", re.compile(r"(?<![\w.])\d{7,}(?![\w.])")),
    # a birth date after its cue is one whoever's it is, and also with a 2-digit year ("DOB 05/05/90")
    ("birth-date", re.compile(r"\b" + BIRTH_CUE + r"\d{1,2}[./-]\d{1,2}[./-]\d{2}(?:\d{2})?\b", re.I)),
    ("titled-name", re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-z]{2,}(?:\s+[A-Z][a-z]+)?\b")),
    # 90 is over 89 (HIPAA 164.514(b)(2)(i)(C)): "90 years old" is an exact age, as the text cleaner
    # takes it ("90+ years old" is its category); AS values are judged by _age_years (red team F12)
    ("age-over-89", re.compile(r"\b(?:9\d|1[0-4]\d)\s*(?:-?\s*years?[\s-]*old|y/?o|yrs?\b)"
                               r"|\b(?:09\d|1[0-4]\d)Y\b|\baged?\s*[:=]?\s*(?:9\d|1[0-4]\d)\b(?!\+)", re.I)),
)
_TEXT_DATES = re.compile(
    r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d{2}\b|\b(?:19|20)\d{2}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}\.?[ -](?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[ -]\d{4}\b"
    r"|\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*\.? \d{1,2},? \d{4}\b"
    # other languages' months and Roman months, day first (veil.text.months)
    r"|\b\d{1,2}\.?\s(?:de\s)?(?:" + months.FOREIGN_PATTERN + r")\s(?:de\s)?\d{4}\b"
    r"|\b\d{1,2}([./-])(?:" + "|".join(sorted(months.ROMAN_DISTINCT, key=len, reverse=True)) + r")\1\d{4}\b"
    # one-letter ones only in capitals between the same "." or "/", as the text cleaner takes them
    # ("13.V.1947"; "5 x 1953 mm" and "Rx 3. I. 2000" are no dates)
    r"|(?-i:\b\d{1,2}([./])[IVX]\2\d{4}\b)", re.I)
_Add = Callable[[str, str, str], None]  # (location, category, value)
#: What the raw scan always searches (NeedleIndex.raw: other charsets add only what encodes otherwise).
_BASE_ENCODINGS = ("utf-8", "latin-1", "utf-16-le")


def _latin1(text: str) -> bytes | None:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


#: Coded values that name an organisation and its address: a patient's town or country in them is vocabulary.
_ORGANISATIONS = frozenset({"CodingSchemeResponsibleOrganization", "CodingSchemeName"})
#: Coded values (defined terms, code meanings): a name-like input value that equals one of them ("Text",
#: "Observer") is vocabulary there, not a leak; their raw bytes are skipped for DICOM dictionary words.
_CODED = frozenset({"CodeMeaning", "CodeValue", "CodingSchemeDesignator", "CodingSchemeName",
                    "CodingSchemeResponsibleOrganization", "ValueType", "ContextIdentifier",
                    "MappingResource", "TemplateIdentifier", "RelationshipType"})
#: Coding schemes whose code values are public vocabulary (PS3.16 Table 8-1): their long numeric codes are
#: not flagged as record numbers. A local scheme ("99...") is not on the list: its codes are checked.
_PUBLIC_SCHEMES = frozenset({"DCM", "SCT", "SRT", "SNM3", "LN", "UCUM", "RADLEX", "FMA", "NCIT", "UMLS", "MDC",
                             "I10", "I10P", "I9C", "ICD10", "C4", "C5", "ACR", "NCDR", "HPC", "PUBCHEM_CID"})
#: The typed placeholders Veil's text cleaner writes ("CT for [NAME]"; veil.text.spans, written down again
#: here: verify shares no code with the de-identifier). "[NAME]" in a file is Veil's own mark, not the
#: patient whose name holds the word "Name" ("Last Name^First Name"): never a finding by itself.
_PLACEHOLDERS = frozenset({"NAME", "PLACE", "DATE", "ID", "PHONE", "EMAIL", "URL", "ADDRESS", "AGE"})
#: Legal-form words of company names ("OFFIS e.V.", "SonoSite, Inc."), dots removed: not a word of the name.
_LEGAL_FORMS = frozenset({"INC", "LTD", "LLC", "LLP", "GMBH", "AG", "KG", "CO", "CORP", "CORPORATION", "COMPANY",
                          "LIMITED", "EV", "SA", "SAS", "SARL", "SPA", "SRL", "BV", "NV", "PLC", "AB", "OY", "AS",
                          "KK", "PTY", "GMBHCOKG"})
_S = TypeVar("_S", str, bytes)
_PATH_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def mask(value: str) -> str:
    """Masked evidence: first and last character, the rest as '*' (digits as '9' stay out of reports)."""
    v = value.strip()
    if len(v) <= 2:
        return "*" * len(v)
    return v[0] + "*" * (len(v) - 2) + v[-1]


@dataclass(frozen=True)
class Finding:
    file: str  # output path relative to the scanned root
    location: str  # e.g. "(0010,0010) PatientName", "ContentSequence[0] > (0040,A160) TextValue", "raw bytes"
    category: str
    evidence: str  # masked
    value: str = field(default="", repr=False, compare=False)  # unmasked, in memory only

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "location": self.location, "category": self.category, "evidence": self.evidence}


@dataclass
class ScanResult:
    files: int = 0
    unreadable: int = 0
    findings: list[Finding] = field(default_factory=list)
    paired: int = 0
    notes: list[str] = field(default_factory=list)
    #: input files whose identifiers were read (--against), and those that could not be read as DICOM
    inputs_read: int = 0
    inputs_unread: int = 0
    #: identifying values read from the input (--against), searched for in every output
    identifiers: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


class NeedleIndex:
    """All needles of the input: UIDs and other digit-dot values as a set, dates by their shape, the rest
    as literals (:class:`veil.verify.literals.Literals`) over folded text and one set per raw encoding.

    Why three matchers: with ``--against`` an archive, most needles are instance UIDs (93 % of them on the
    benchmark corpora), unique per file, so a regex of every needle grew with the number of input
    *instances*: 240,000 needles took ~20 s to compile and ~1 GB in every worker. A digit-dot needle can
    only be found on a run of digits and dots, split where a needle's boundaries allow (a dot, or a
    character that is not a letter or digit), so each run is looked up piece by piece in a set instead:
    the same matches (leftmost, longest first), a few dozen bytes per needle. A birth date's ~100 written
    forms are checked where the one date shape matches (:func:`_date_spans`). The literals are the
    needles that grow with patients (names, places, IDs).
    """

    def __init__(self, needles: Needles) -> None:
        self.needles = needles
        digits = {k for k in needles.values if DIGIT_DOT.fullmatch(k)}
        shape = _date_shape(True)
        dated = {k for k in needles.values if k not in digits and k.isascii() and shape.fullmatch(k)}
        self._keys = sorted((k for k in needles.values if k not in digits and k not in dated), key=len, reverse=True)
        self._digits = frozenset(digits)
        #: needles that have a date's shape, and the birth dates, whose written forms ("13 MAY 1947",
        #: "05/13/47", ~100 a date) are looked up where the one date-shaped pattern matches, not compiled
        #: into the needle matcher nor held one by one (see _date_spans and is_dated)
        self._dated = frozenset(dated)
        self._births = frozenset(needles.births)
        self._dated_longest = max([*map(len, dated), _LONGEST_DATE if self._births else 0])
        #: lengths of the digit needles, longest first (the pieces worth looking up)
        self._digit_lens = tuple(sorted({len(k) for k in digits}, reverse=True))
        self._text: list[Literals | None] = []  # built on first use (see text)
        self._raw: dict[str, Literals | None] = {}
        self._raw_by_parts: dict[tuple[str, ...], Literals | None] = {}
        #: bytes of the longest needle in any encoding asked for so far (windows must overlap by it)
        self.longest_raw = 0
        #: the digits of record numbers and phone numbers (6 digits or more) -> category: found however
        #: their digits are grouped (see _spread_spans)
        self._spread = {re.sub(r"\D", "", k): n.category for k, n in needles.values.items()
                        if n.category in ("id", "contact") and _SPREADABLE.fullmatch(k)
                        and sum(c.isdigit() for c in k) >= 6}
        self._locals = frozenset(needles.local_phones)
        self._undotted = frozenset(needles.undotted & digits)
        self._undotted_bytes = frozenset(k.encode() for k in self._undotted)
        self._spread_longest = max(map(len, [*self._spread, *self._locals]), default=0)

    @property
    def text(self) -> Literals | None:
        """The needles that are not digit-dot values or dates, over folded text, built where first used.

        Why not when the index is built: verify builds it in the main process and its workers unpickle
        it, so the main process built an automaton it never used."""
        if not self._text:
            self._text.append(Literals(self._keys) if self._keys else None)
        return self._text[0]

    @functools.cached_property
    def _sounds(self) -> SoundIndex:
        """The names' sound keys (:mod:`veil.text.romanize`), built where a Cyrillic or Greek word is first met."""
        return SoundIndex(k for k, n in self.needles.values.items()
                          if n.category == "name" and k.replace("-", "").isalpha() and " " not in k)

    def sound_spans(self, folded: str) -> list[tuple[int, int]]:
        """A name needle written in Cyrillic or Greek ("Квиксандор" of QUIXANDOR): deid finds it so
        (romanize.find_other_script), and the release gate must too."""
        return self._sounds.spans(folded) if OTHER_SCRIPT.search(folded) else []

    def find(self, folded: str) -> list[tuple[int, int]]:
        """Spans of every needle in `folded` text, on word boundaries, in order of their start; a name in
        another alphabet too (:meth:`sound_spans`)."""
        spans = self.text.spans(folded, boundary=WORD) if self.text is not None else []
        spans += self.sound_spans(folded)
        if self._digits:
            spans += self._digit_spans(folded, 0, len(folded))
        if self._dated or self._births:
            spans += _date_spans(folded, self.is_dated, _date_shape(True), 0, len(folded))
        spans.sort()
        if self._spread or self._locals:
            more = [(a, b) for a, b in self._spread_spans(folded)
                    if not any(a < y and x < b for x, y in spans)]  # not again what a needle found as written
            spans = sorted(spans + more)
        return spans

    def _spread_spans(self, folded: str) -> Iterator[tuple[int, int]]:
        """Record and phone numbers with their digits grouped otherwise than in the input.

        Red team F6/F7: "555 238 4471", "+1 555 238 4471", "020 7946 0321" (the national form of "+44 20
        7946 0321"), "MRN 0048-2913", "MRN 00 482 913" and "PID00482913" passed: the needles were the
        value and its digits as written. A run of digit groups (joined by a space, dash, dot, slash or
        bracket) is looked up group by group: a needle's digits that are whole groups of it, leftmost and
        longest first. Not found: inside a longer digit run (a group is never cut), as a piece of a
        number written with dots alone (a UID, "555.238.4471" whole), or glued to a word longer than a 4-letter prefix
        ("PID", "MRN"). The local 7 digits of a North American number count with their dash or after a
        phone cue ("ext 238-4471", "call 2384471")."""
        longest = self._spread_longest
        for m in _DIGIT_GROUPS.finditer(folded):
            a0, b0 = m.span()
            if _word_char(folded[b0:b0 + 1]) or (a0 and not _glued_prefix(folded, a0)):
                continue
            run = m.group(0)
            if not re.search(r"[^\d.]", run):  # dots alone: a phone number whole, never a UID's piece
                if re.sub(r"\D", "", run) in self._spread and run.count(".") <= 3:
                    yield a0, b0
                continue
            groups = [(g.start() + a0, g.end() + a0, g.group(0)) for g in re.finditer(r"\d+", run)]
            i = 0
            while i < len(groups):
                digits, hit = "", None
                for j in range(i, len(groups)):
                    digits += groups[j][2]
                    if len(digits) > longest:
                        break
                    if digits in self._spread or (digits in self._locals and self._local_phone(
                            folded, groups[i][0], groups[j][1])):
                        hit = j
                if hit is None or _in_dotted(folded, groups[i][0], groups[hit][1], "."):  # a decimal's part
                    i += 1
                    continue
                yield groups[i][0], groups[hit][1]
                i = hit + 1

    @staticmethod
    def _local_phone(folded: str, a: int, b: int) -> bool:
        """Whether folded[a:b], the local 7 digits of a phone number, reads as one: "238-4471", or after a
        word that says a phone number follows."""
        return bool(re.fullmatch(r"\d{3}-\d{4}", folded[a:b]) or _PHONE_CUE.search(folded[max(0, a - 24):a]))

    def spread_category(self, text: str) -> str | None:
        """The category of a record or phone number found with its digits grouped otherwise, else None."""
        digits = re.sub(r"\D", "", text)
        return self._spread.get(digits) or ("contact" if digits in self._locals else None)

    def _digit_spans(self, s: _S, lo: int, hi: int) -> list[tuple[int, int]]:
        """Digit needles starting in s[lo:hi], leftmost and longest first, not overlapping, where the
        regex would find them: no letter or digit just before or after (a dot is a boundary)."""
        found: list[tuple[int, int]] = []
        if not self._digit_lens:
            return found
        text = isinstance(s, str)
        table: frozenset[Any] = self._digits if text else self._digit_bytes
        undotted: frozenset[Any] = self._undotted if text else self._undotted_bytes
        shortest, longest = self._digit_lens[-1], self._digit_lens[0]
        dot: Any = "." if text else b"."
        n = len(s)
        for m in self._runs(text).finditer(s, lo, min(n, hi + longest)):  # runs too short to hold one: skipped
            rs, rend = m.span()
            if rs >= hi:
                break
            run = m.group(0)
            dots = []
            i = run.find(dot)
            while i != -1:
                dots.append(rs + i)
                i = run.find(dot, i + 1)
            # a needle starts at the run's start after a boundary, or after a dot; it ends before a dot, or
            # at the run's end when a boundary follows
            starts = ([rs] if not _word_char(s[rs - 1:rs]) else []) + [d + 1 for d in dots]
            ends = [d for d in dots if d > rs]
            if not _word_char(s[rend:rend + 1]):
                ends.append(rend)
            at = rs
            for p in starts:
                if p < at or p >= hi or p >= rend or s[p:p + 1] == dot:
                    continue  # inside the last match, past this window, or a dot
                for q in reversed(ends):
                    if q - p < shortest:
                        break
                    if q - p <= longest and s[p:q] in table and not (
                            s[p:q] in undotted and _in_dotted(s, p, q, dot)):
                        found.append((p, q))
                        at = q
                        break
        return found

    def _runs(self, text: bool) -> re.Pattern[Any]:
        """Runs of digits and dots at least as long as the shortest digit needle."""
        key = "_runs_text" if text else "_runs_bytes"
        got: re.Pattern[Any] | None = self.__dict__.get(key)
        if got is None:
            src = f"[0-9.]{{{self._digit_lens[-1]},}}"
            got = self.__dict__[key] = re.compile(src if text else src.encode())
        return got

    @functools.cached_property
    def _digit_bytes(self) -> frozenset[bytes]:
        return frozenset(k.encode("ascii") for k in self._digits)

    def raw_digits(self, buf: bytes, start: int, stop: int, wide: bool) -> list[tuple[int, int, str]]:
        """Digit needles in raw bytes, as (start, end, value): ASCII-compatible encodings (`wide` False,
        on boundaries like the text) or UTF-16-LE (anywhere, like the raw regex of that encoding)."""
        if not self._digits:
            return []
        if not wide:
            return [(p, q, buf[p:q].decode("ascii")) for p, q in self._digit_spans(buf, start, stop)]
        out = []
        for m in _DIGIT_RUN_UTF16.finditer(buf, start):
            if m.start() >= stop:
                break
            text = m.group(0).decode("utf-16-le")
            at = 0
            for i in range(len(text)):
                if i < at or m.start() + 2 * i >= stop:
                    continue
                for length in self._digit_lens:
                    piece = text[i:i + length]
                    if len(piece) == length and piece in self._digits:
                        out.append((m.start() + 2 * i, m.start() + 2 * (i + length), piece))
                        at = i + length
                        break
        return out

    def is_dated(self, folded: str) -> bool:
        """Whether `folded` text with a date's shape is a needle: one as such, or a birth date's written form."""
        return folded in self._dated or any(
            day in self._births and folded in _birth_form_set(day) for day in _shape_days(folded))

    def raw_dates(self, buf: bytes, start: int, stop: int, wide: bool) -> list[tuple[int, int, str]]:
        """Dates in written forms in raw bytes, as (start, end, value): ASCII-compatible encodings (`wide`
        False, on boundaries like the text) or UTF-16-LE (runs of ASCII characters read as text; anywhere,
        like the raw regex of that encoding)."""
        if not self._dated and not self._births:
            return []
        out = []
        if not wide:  # within runs of printable ASCII: the shape is slow to search through binary bytes
            for m in _ASCII_RUN.finditer(buf, start):
                if m.start() >= stop:
                    break
                out += [(p, q, buf[p:q].decode("ascii")) for p, q in _date_spans(
                    buf, self.is_dated, _date_shape(False), m.start(), stop, end=m.end())]
            return out
        for m in _ASCII_RUN_UTF16.finditer(buf, start):
            if m.start() >= stop:
                break
            text = m.group(0).decode("utf-16-le").upper()
            for p, q in _date_spans(text, self.is_dated, _date_shape(True, bounded=False), 0,
                                    (stop - m.start() + 1) // 2):
                out.append((m.start() + 2 * p, m.start() + 2 * q, text[p:q]))
        return out

    def glued(self, text: str) -> list[tuple[int, int]]:
        """Spans in `text` (as written, not folded) of a name glued to digits or another word.

        Red team F8: "quixandor47", "bquixandor" (a login), "QuixandorBelvedere" and a file named
        "QuixandorB.dcm" passed: a needle is found on word boundaries only. A name of 6 letters or more
        that is no English or clinical word is also found with digits on either side, in CamelCase (an
        upper-case letter after it, or it starting upper case after a lower-case letter), or after one
        initial in a word that is no word or name of its own ("bquixandor"; "Sharper" of "Harper" is a
        surname). Shorter names and words are never glued hits: "Lee" in "Sleep", "Head" in "Headneck"."""
        names = self.__dict__.get("_glued_names", False)
        if names is False:
            words = _common_words()
            keys = [k for k, n in self.needles.values.items() if n.category == "name" and len(k) >= 6
                    and k.isascii() and k.isalpha() and k not in words]
            names = self.__dict__["_glued_names"] = Literals(keys) if keys else None
        if names is None:
            return []
        out = []
        for a, b in names.spans(text.translate(_ASCII_UPPER)):  # the names are ASCII capitals
            s, e = a, b
            while s > 0 and _word_char(text[s - 1]):
                s -= 1
            while e < len(text) and _word_char(text[e]):
                e += 1
            if (s, e) == (a, b):
                continue  # the word alone: the needle regex finds it
            before, after = text[s:a], text[b:e]
            camel_before = text[a].isupper() and text[a + 1].islower() and (
                before[-1:].islower() or before[-1:].isdigit())
            camel_after = after[:1].isupper() and text[b - 1].islower()
            initial = re.fullmatch(r"[A-Za-z]\d*", before) is not None and not after.strip("0123456789") and (
                re.sub(r"\d", "", text[s:e]).upper() not in _names_and_words())
            if ((not before or before.isdigit() or camel_before or initial)
                    and (not after or after.isdigit() or camel_after or re.fullmatch(r"\d+[A-Za-z]?", after))):
                out.append((a, b))
        return out

    def __getstate__(self) -> dict[str, Any]:
        """Without compiled patterns: each process compiles what it uses (the sources alone can be MBs)."""
        state = self.__dict__ | {"_text": [], "_raw": {}, "_raw_by_parts": {}, "longest_raw": 0}
        for cached in ("_digit_bytes", "_runs_text", "_runs_bytes", "_glued_names", "_sounds"):
            state.pop(cached, None)
        return state

    def raw(self, encoding: str) -> Literals | None:
        """The needles but digit-dot values and dates, in `encoding`, lower case, as Latin-1 text (one
        character a byte): found in a window's bytes lowered and read as Latin-1, as the case-blind byte
        regex found them (raw_digits and raw_dates find the others)."""
        if encoding not in self._raw:
            parts: list[str] = []
            width = 2 if encoding == "utf-16-le" else 1
            # another charset's pattern holds only what encodes otherwise than in UTF-8 and Latin-1, which
            # _check_raw always searches: with every needle, each input charset compiled and ran the whole
            # pattern again (review: 12.8 s -> 74.5 s to start with 10 input charsets, 3 s -> 10.6 s a file)
            base = encoding in _BASE_ENCODINGS
            for k in self._keys:
                orig = self.needles.values[k].value
                for form in {orig, k}:
                    try:
                        raw = form.encode(encoding)
                    except (UnicodeEncodeError, LookupError):
                        continue
                    if not base and (form.isascii() or raw in (form.encode("utf-8"), _latin1(form))):
                        continue
                    # 3-4 byte runs occur by chance in pixel data (UTF-16 above all); counted in bytes, not
                    # characters: a 2-3 ideograph name is 4-9 bytes, and was never searched (red team F9)
                    if len(raw) // width >= (4 if cjk(form) else 5):
                        parts.append(raw.lower().decode("latin-1"))  # case-blind as re.I: ASCII only
            self.longest_raw = max([self.longest_raw, *map(len, parts), width * max(self._digit_lens, default=0),
                                    width * self._dated_longest])
            key = tuple(sorted(set(parts)))
            if key not in self._raw_by_parts:  # UTF-8 and Latin-1 alike for ASCII needles: built once
                self._raw_by_parts[key] = Literals(key) if key else None
            self._raw[encoding] = self._raw_by_parts[key]
        return self._raw[encoding]

    def is_digit_needle(self, value: str) -> bool:
        """Whether `value` (digits and dots) is one of the needles the digit set holds."""
        return value in self._digits

    def category(self, folded: str) -> str:
        n = self.needles.values.get(folded)
        if n is None and OTHER_SCRIPT.search(folded) and self.sound_spans(folded):
            return "name"
        if n is None and self._births and self.is_dated(folded):
            return "date"
        return n.category if n else self.spread_category(folded) or "identifier"


#: A date run on into its time, as DT values and compact timestamps write it ("19470513101500",
#: "194705131015.5+0100"): the digit needles refuse a digit right after a date (a date inside a longer
#: number is no date), so the date part is looked up alone when what follows it is a time (red team F3).
_DATE_TIME_RUN = re.compile(r"(?<![0-9A-Za-z.])((?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
                            r"(?:[01]\d|2[0-3])[0-5]\d(?:[0-5]\d(?:\.\d{1,6})?)?(?:[+-]\d{4})?(?![0-9A-Za-z])")
#: An ISO 8601 date run on into its time with "T" ("1947-05-13T10:15:00Z", "2019-04-02T"): the needle
#: lookarounds refuse the letter after the date.
_ISO_DATE_TIME = re.compile(r"(?<![0-9A-Za-z.])((?:1[89]|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))T"
                            r"(?:\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
                            r"(?![0-9A-Za-z])", re.I)
#: Digit groups as numbers are written: joined by a space, a dash, dot or slash (spaced or not), brackets.
_DIGIT_GROUPS = re.compile(r"(?<![0-9])[0-9]+(?:(?:\s?[-./]\s?|\s|\)\s?|\s?\()[0-9]+)*")
#: A word before a phone number ("tel", "call", "ext." ...), at the end of the text before it.
_PHONE_CUE = re.compile(r"\b(?:TEL|TELEPHONE|PHONE|PH|CALL|CELL|MOBILE|MOB|FAX|PAGER|BLEEP|EXT|EXTENSION|CONTACT)"
                        r"\b\.?\s*(?:NO\.?|NUMBER|#)?\s*[:#-]?\s*\(?$")
#: An ID or phone needle, grouped any way: digits and separators only.
_SPREADABLE = re.compile(r"[0-9\s().+/-]+")
_DIGIT_RUN_UTF16 = re.compile(rb"(?:[0-9.]\x00)+")
#: ASCII letters to capitals, and the four other letters a case-blind regex takes for them (Kelvin sign,
#: long s, dotted and dotless i: "Kowalczy\u212a47" was found so, review): a length-preserving upper case
#: (str.upper makes "ß" "SS").
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz\u212a\u017f\u0130\u0131", "ABCDEFGHIJKLMNOPQRSTUVWXYZKSII")
#: Printable ASCII, as one byte or as UTF-16-LE, long enough to hold a date ("5/8/47").
_ASCII_RUN = re.compile(rb"[\x20-\x7e]{5,}")
_ASCII_RUN_UTF16 = re.compile(rb"(?:[\x20-\x7e]\x00){6,}")


@functools.cache
def _date_shape(text: bool, bounded: bool = True) -> re.Pattern[Any]:
    """Every shape a date needle is written in (:func:`veil.verify.needles.date_forms` and `birth_forms`,
    but the East Asian one): compact, numeric with '/', '-' or '.', a month's name or Roman numeral before
    or after the day, ordinals, "OF" and "DE" - on the needles' word boundaries.

    Why a shape and a set instead of the forms in the needle regex: a birth date has ~100 written forms, so
    dates were 85 % of the regex of an archive's needles (2,000 patients: 235,511 needles, 29.6 s to
    compile and 513 MB in every worker). The shape matches any date; only a match that is one of the
    needles, as written, is a hit (:func:`_date_spans`). `bounded` False: anywhere, as the raw UTF-16-LE
    search finds every needle."""
    words = sorted({*months.ENGLISH, *months.ABBREVIATED, *(n for names in months.FOREIGN for n in names),
                    *months.ROMAN})
    month = "(?:" + _trie(words) + ")"
    day, year = r"\d{1,2}(?:ST|ND|RD|TH)?", r"(?:\d{4}|'?\d{2})"
    src = (r"(?:\d{8}|\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2" + year
           + "|" + day + r"(?:\.? | OF | DE |[.-])?" + month + r"(?:,? | DE |[.-])?" + year
           + "|" + month + r"\.?[ -]" + day + r",?[ -]" + year + ")")
    if bounded:
        src = r"(?<![A-Z0-9])" + src + r"(?![A-Z0-9])"
    return re.compile(src) if text else re.compile(src.encode(), re.I)


def _date_spans(s: _S, match: Callable[[str], bool], shape: re.Pattern[Any], start: int, stop: int,
                end: int | None = None) -> list[tuple[int, int]]:
    """Spans of `s` that start in [start, stop), match the date `shape` and are needles (`match`, given the
    text in capitals), leftmost first, the longest at a place, none inside another: two patients' dates
    that overlap are both found ("25 APRIL 01 2001" holds 25 April 2001 and April 1st, review).

    A shape match that is no needle may begin one: its longest beginning that is a needle (and ends on a
    boundary, where the shape asks for one) is the hit ("01/01/00" of "01/01/001900" in UTF-16, where
    the shape took "01/01/0019"). Else the search goes on one character on: a needle may start inside
    it ("2019/13/05/1947" holds "13/05/1947"). Bytes are matched case-blind. `end`: where the text to
    search ends (a run of text in bytes)."""
    found: list[tuple[int, int]] = []
    bounded = shape.pattern[:4] in ("(?<!", b"(?<!")
    pos, end = start, len(s) if end is None else end
    while (m := shape.search(s, pos, end)) is not None and m.start() < stop:
        got = m.group(0)
        value = got.decode("latin-1").upper() if isinstance(got, bytes) else got
        a, b = m.span()
        while b > a and not (match(value[:b - a]) and (b == m.end() or not bounded or not _word_char(s[b:b + 1]))):
            b -= 1
        if b > a and (not found or b > found[-1][1]):
            found.append((a, b))
        pos = a + 1
    return found


#: The longest written form of a date (birth_forms): "25TH OF SEPTEMBER, 1933", "25 DE PAZDZIERNIKA DE 1933".
_LONGEST_DATE = 32
#: Month number of each name and Roman numeral the date shape takes.
_MONTH_NUMBER = {name: i + 1 for i, names in enumerate(zip(months.ENGLISH, months.ABBREVIATED, months.ROMAN,
                                                            strict=True)) for name in names} | {
    name: i + 1 for i, names in enumerate(months.FOREIGN) for name in names}


def _shape_days(text: str) -> list[str]:
    """The days (YYYYMMDD) a date-shaped text can mean: day or month first, a two-digit year in either
    century. Which of its written forms the text is, is for the form table to say (see is_dated)."""
    nums = re.findall(r"\d+", text)
    words = [w for w in re.findall(r"[A-Z]+", text) if w not in ("ST", "ND", "RD", "TH", "OF", "DE")]
    if words:
        month = _MONTH_NUMBER.get(words[0])
        if month is None or len(nums) != 2:
            return []
        ymd = [(nums[1], month, nums[0])]
    elif len(nums) == 1 and len(nums[0]) == 8:
        ymd = [(nums[0][:4], int(nums[0][4:6]), nums[0][6:])]
    elif len(nums) == 3:
        ymd = [(nums[0], int(nums[1]), nums[2])] if len(nums[0]) == 4 else [
            (nums[2], int(nums[1]), nums[0]), (nums[2], int(nums[0]), nums[1])]
    else:
        return []
    days = []
    for year, month, day in ymd:
        for y in ((year,) if len(year) == 4 else ("19" + year, "20" + year)):
            days.append(f"{y}{month:02d}{int(day):02d}")
    return days


@functools.lru_cache(maxsize=4096)
def _birth_form_set(day: str) -> frozenset[str]:
    """A birth date's written forms, folded, that are needles (not those too short to search for), but
    its digit-dot forms: the digit set finds those (held twice, "05.04.1917" was reported twice and hid
    an overlapping date, review)."""
    n = Needles()
    for form in birth_forms(day):
        n.add(form, "date")
    return frozenset(k for k in n.values if not DIGIT_DOT.fullmatch(k))


@functools.lru_cache(maxsize=256)
def _file_date_forms(dates: frozenset[str]) -> dict[str, str]:
    """A file's dates in the forms people write them, folded -> YYYYMMDD (the files of a series share them)."""
    return {fold(f): d for d in sorted(dates) for f in date_forms(d)}


def _digit_width(encoding: str) -> bool | None:
    """How digits and dots are written in `encoding`: one ASCII byte each (False), UTF-16-LE (True), or
    otherwise (None: the digit needles are not looked for in it)."""
    try:
        probe = "0123456789.".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return None
    if probe == b"0123456789.":
        return False
    return True if probe == "0123456789.".encode("utf-16-le") else None


def _in_dotted(s: _S, p: int, q: int, dot: Any) -> bool:
    """Whether s[p:q] is a piece of a dotted number (a UID): a dot between it and a digit on either side."""
    return (p >= 2 and s[p - 1:p] == dot and s[p - 2:p - 1].isdigit()) or (
        s[q:q + 1] == dot and s[q + 1:q + 2].isdigit())


def _glued_prefix(text: str, at: int) -> bool:
    """Whether a number at text[at] starts a word or follows a prefix of 1-4 letters that starts one
    ("PID00482913"); not a digit of a longer run, a UID's dot piece, or the tail of a longer word."""
    i = at
    while i > 0 and text[i - 1].isascii() and text[i - 1].isalpha():
        i -= 1
    if i == at:
        return not (text[at - 1] == "." and at >= 2 and text[at - 2].isdigit())
    return at - i <= 4 and not (i and _word_char(text[i - 1]))


def _word_char(c: str | bytes) -> bool:
    """A letter or digit of ASCII: what the needle regex's lookarounds refuse next to a match."""
    return c.isascii() and c.isalnum()


def _trie(words: Iterable[_S]) -> _S:
    """One regex for a set of literal strings, shaped as their prefix tree (the date shape's month names).

    Why: ``re`` tries the alternatives of ``a|b|c...`` one after another at every position; along a prefix
    tree each position follows one path. Matching is the same: a longer word is preferred (each "end here"
    is an optional tail, tried last) and the surrounding lookarounds still backtrack to shorter ones.
    """
    root: dict[_S | None, Any] = {}
    empty: _S | None = None
    for w in words:
        empty = w[:0]
        node = root
        for i in range(len(w)):
            node = node.setdefault(w[i:i + 1], {})
        node[None] = {}
    if empty is None:
        raise ValueError("no words")
    bar, open_, close, opt = (("|", "(?:", ")", "?") if isinstance(empty, str) else (b"|", b"(?:", b")", b"?"))

    def emit(node: dict[_S | None, Any]) -> _S:
        run = []  # a chain of single children is a plain run: recursion only where the tree branches
        while len(node) == 1 and None not in node:
            (k, node), = node.items()
            assert k is not None
            run.append(re.escape(k))
        head = empty.join(run)  # type: ignore[arg-type]
        branches = [re.escape(k) + emit(child) for k, child in sorted(
            ((k, c) for k, c in node.items() if k is not None), key=lambda kc: kc[0])]
        if not branches:
            return head  # type: ignore[no-any-return]
        group = open_ + bar.join(branches) + close  # type: ignore[operator, arg-type]
        return head + (group + opt if None in node else group)  # type: ignore[no-any-return, operator]

    return emit(root)


def _placeholder(text: str, a: int, b: int) -> bool:
    """Whether text[a:b] is one of Veil's placeholders as Veil writes it, brackets and all ("[NAME]";
    "[Name]" is not Veil's)."""
    return a > 0 and text[a:b] in _PLACEHOLDERS and text[a - 1] == "[" and text[b:b + 1] == "]"


def _bracketed(buf: bytes, start: int, end: int, enc: str) -> bool:
    """Whether buf[start:end] stands between "[" and "]" written in `enc`."""
    try:
        left, right = "[".encode(enc), "]".encode(enc)
    except (LookupError, UnicodeEncodeError):
        return False
    return start >= len(left) and buf[start - len(left):start] == left and buf[end:end + len(right)] == right


def _holds(source: bytes | Path | None, at: int, value: bytes) -> bool:
    """Whether `source` holds `value` at `at`: a value's position from pydicom is trusted for the byte
    search only where its bytes are (else the search skips nothing and reports what it finds)."""
    if source is None or not value:
        return False
    if isinstance(source, bytes):
        return source[at:at + len(value)] == value
    with open(source, "rb") as fh:
        fh.seek(at)
        return fh.read(len(value)) == value


def _tag(elem: pydicom.DataElement) -> str:
    t = elem.tag
    name = elem.keyword or ("private" if t.is_private else "unknown")
    return f"({t.group:04X},{t.element:04X}) {name}"


def _text_values(elem: pydicom.DataElement, encodings: list[str]) -> list[str]:
    v = elem.value
    if v is None:
        return []
    if isinstance(v, bytes | bytearray):
        if elem.VR in ("OB", "OW", "UN") and len(v) > 4096:
            return []  # large binary: covered by the raw byte search
        return _decodings(bytes(v), encodings)
    if isinstance(v, list | tuple | pydicom.multival.MultiValue):
        return [str(x) for x in v if x is not None]
    return [str(v)]


def _decodings(value: bytes, encodings: list[str]) -> list[str]:
    """A binary value (UN, OB) as text: UTF-8, else Latin-1, and in the file's own character set (PS3.5
    6.1.2.3: ISO 2022 escapes, GB18030 ...) when that reads it otherwise. Why: "患者山田太郎様" in ISO 2022
    IR 87 is escapes and ASCII bytes, and GB18030 is no UTF-8: a name in a private OB or an unknown UN
    element of such a file was never read as text (red team F9)."""
    try:
        out = [value.decode("utf-8")]
    except UnicodeDecodeError:
        out = [value.decode("latin-1")]
    if value.isascii() and b"\x1b" not in value:
        return out
    with warnings.catch_warnings():  # pydicom warns and replaces what the character set cannot decode
        warnings.simplefilter("ignore")
        try:
            own = decode_bytes(value, encodings, set())
        except Exception:  # an unknown character set: the raw search still reads the bytes
            return out
    return out if own in out else [*out, own]


def _once(add: _Add) -> _Add:
    """`add` that reports each (location, category, value) once."""
    seen: set[tuple[str, str, str]] = set()

    def add_once(location: str, category: str, value: str) -> None:
        if (location, category, value) not in seen:
            seen.add((location, category, value))
            add(location, category, value)

    return add_once


#: Where an element's value bytes are: (offset, the bytes as read), offsets in the bytes the data set was
#: parsed from (the file's, or a deflated file's inflated data set); None when pydicom did not say.
_Where = tuple[int, bytes] | None


def _walk(ds: Dataset, path: str = "", base: int | None = 0
          ) -> Iterator[tuple[str, pydicom.DataElement, Dataset, _Where]]:
    """(location, element, the dataset holding it, where its value bytes are) at every depth.

    `base`: offset of `ds`'s own positions. pydicom gives an item's elements positions from the start of
    their sequence's value, so the sequence's position is added at each level; an element already
    decoded has none (None below it)."""
    for tag in list(ds.keys()):  # by tag: a big binary value is not read
        raw = ds.get_item(tag, keep_deferred=True)
        vr = getattr(raw, "VR", None) or _dictionary_vr(tag)
        length = getattr(raw, "length", 0) or 0
        tell = getattr(raw, "value_tell", None)
        at = base + tell if base is not None and isinstance(tell, int) else None
        where: _Where = (at, bytes(raw.value)) if at is not None and isinstance(
            getattr(raw, "value", None), bytes | bytearray) else None
        if vr in _BINARY_VRS and (getattr(raw, "value", None) is None or length > 4096) and length:
            # its tag, VR and creator are checked; its needles by the raw scan, its text by _large_binary_texts
            elem = pydicom.DataElement(tag, vr, None)
            if where is None and at is not None and length != 0xFFFFFFFF:
                where = (at, b"")  # not read: where it is, for its text
        else:
            elem = ds[tag]
        loc = f"{path}{_tag(elem)}"
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from _walk(item, f"{loc}[{i}] > ", at)
        else:
            yield loc, elem, ds, where


#: Known bulk binary: pixel data (and the retired 7Fxx groups), waveform data, overlay and curve data,
#: LUT and palette data, an encapsulated document (flagged whole). Their bytes are samples, not text.
_BULK = frozenset({0x54001010, 0x54000110, 0x54000112, 0x00283006, 0x00281201, 0x00281202, 0x00281203,
                   0x00281204, 0x00281221, 0x00281222, 0x00281223, 0x00281224, 0x00420011, 0x00660023,
                   0x00660024, 0x00660025, 0x00660026, 0x00660029})
#: Bytes of a large binary value read at a time for its text, and how far chunks overlap (a match that
#: crosses a chunk's end is seen whole in the next).
_CHUNK = 1 << 20
_OVERLAP = 256


def _unknown_text(loc: str, texts: Iterable[str], add: _Add) -> bool:
    """Text in a public attribute no dictionary knows is a finding of its own, once (whether one was made):
    no profile says what it holds, and ``veil deid`` removes every such attribute (red team F14)."""
    for text in texts:
        for run in re.findall(r"[ -~]{6,}", text):
            if re.search(r"[A-Za-z]{2}", run):
                add(loc, "unknown-tag-text", run.strip())
                return True
    return False


def _bulk(tag: int) -> bool:
    group = tag >> 16
    return (tag in _BULK or group & 0xFF00 == 0x7F00 or (0x6000 <= group <= 0x60FF and tag & 0xFFFF == 0x3000)
            or 0x5000 <= group <= 0x50FF)


def _large_binary_texts(source: bytes | Path, where: _Where, raw: Any, encodings: list[str]) -> Iterator[str]:
    """The text of a binary value that verify did not read (over 4096 bytes), chunk by chunk: its bytes
    where the file holds them (`where`), or its value when pydicom read it; each chunk decoded as
    :func:`_decodings` does. Nothing when neither says where the bytes are (the raw search reads them)."""
    value = getattr(raw, "value", None)
    if isinstance(value, bytes | bytearray):
        for lo in range(0, len(value), _CHUNK):
            yield from _decodings(bytes(value[lo:lo + _CHUNK + _OVERLAP]), encodings)
        return
    length = getattr(raw, "length", 0) or 0
    if where is None or length == 0xFFFFFFFF:
        return
    at = where[0]
    fh: io.BufferedIOBase = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with fh:
        for lo in range(0, length, _CHUNK):
            fh.seek(at + lo)
            chunk = fh.read(min(_CHUNK + _OVERLAP, length - lo))
            if not chunk:
                return
            yield from _decodings(chunk, encodings)


def _dictionary_vr(tag: int) -> str:
    """The VR of an implicit VR element: the dictionary's, binary when it may be ("OB or OW"), else UN."""
    try:
        vr = pydicom.datadict.dictionary_VR(tag)
    except KeyError:
        return "UN"
    return "OW" if " or " in vr and ("OB" in vr or "OW" in vr) else vr


def _creators(ds: Dataset) -> dict[tuple[int, int], str]:
    out = {}
    for tag in ds.keys():  # noqa: SIM118 - the creators only: no other value is read
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x10 <= element <= 0xFF:
            out[(group, element)] = str(ds[tag].value or "").strip()
    return out


class Scanner:
    """Scans output files; built once per run (needles and the safe-private list compiled once)."""

    def __init__(self, needles: Needles | None = None, safe_private: PrivateDictionary | None = None,
                 allow_private: Iterable[str] = (), ocr: bool = True, dates_retained: bool = False) -> None:
        self.ocr = ocr
        #: the policy keeps real dates (PS3.15 E.3.6 Full Dates): dates in text are not findings
        self.dates_retained = dates_retained
        self.notes: set[str] = set()
        self.index = NeedleIndex(needles) if needles is not None and needles.values else None
        self.safe = safe_private if safe_private is not None else load_safe_private()
        self.allow_private = {c.strip().upper() for c in allow_private}

    def scan_file(self, path: Path, rel: str, paired_dates: set[str] | None = None,
                  ocr_later: list[tuple[list[Finding], str, list[np.ndarray]]] | None = None) -> list[Finding]:
        """Scan one file in memory that does not follow its size: values over _DEFER bytes stay on disk
        until a check needs them (binary ones never: the raw byte scan covers them), and a file over
        _WHOLE bytes is scanned raw in windows. A 1 GB multi-frame file took 2 GB of RSS.

        With `ocr_later`, the frames of an image at risk are added to it (with this file's findings,
        which :meth:`read_pixels`' findings then extend) so that many files share tesseract runs."""
        size = path.stat().st_size
        source: bytes | Path = path if size > _WHOLE else path.read_bytes()
        read = _read(path, source, size)
        ds = read.ds
        if ds is None:
            return self.scan_unreadable(source, rel, read.problem)
        found = self.scan(ds, source, rel, paired_dates or set(), inflated=read.inflated)
        if self.ocr and _at_risk(ds):
            if ocr_later is None:
                found += self.scan_pixels(ds, rel, path=path)
            else:
                grays, bad = self.pixel_grays(ds, rel, path=path)
                found += bad
                if grays:
                    ocr_later.append((found, rel, grays))
        return found

    def scan_unreadable(self, data: bytes | Path, rel: str, problem: str) -> list[Finding]:
        """A file that is not well-formed DICOM is a finding of its own (what cannot be read cannot be shown
        to be clean), and its bytes are still searched for the input's identifiers and its path checked:
        a forced read used to report a text file as "not-marked" and random bytes as private elements."""
        found = [Finding(rel, "file", "unreadable", problem, "")]
        seen: set[str] = set()

        def add(location: str, category: str, value: str) -> None:
            found.append(Finding(rel, location, category, mask(value), value))
            seen.add(fold(value))

        self._check_raw(data, rel, [], {}, seen, add)
        self._check_path(rel, add)
        return found

    def scan_pixels(self, ds: Dataset, rel: str, max_frames: int = 5, path: Path | None = None) -> list[Finding]:
        """OCR the first frames of an image at risk of burned-in text (US, SC, screen captures ...) and
        look for the input's identifiers and PHI patterns in what it reads. Pixels that cannot be decoded
        are a finding: what cannot be read cannot be shown to be clean."""
        grays, bad = self.pixel_grays(ds, rel, max_frames, path)
        return bad if bad else self.read_pixels([(rel, grays)])[0]

    def pixel_grays(self, ds: Dataset, rel: str, max_frames: int = 5, path: Path | None = None
                    ) -> tuple[list[np.ndarray], list[Finding]]:
        """The frames OCR reads (display grays of `max_frames` spread over the loop), or the finding that they cannot
        be decoded (fail closed)."""
        from veil.errors import InputError
        from veil.pixels import ocr

        try:
            frames = _frames(ds, max_frames, path)
            photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
            return [ocr.brightness(ocr.to_display(frame, photometric)) for frame in frames], []
        except InputError as exc:
            return [], [Finding(rel, "(7FE0,0010) PixelData", "pixels-unreadable", exc.reason[:40], "")]
        except Exception as exc:
            return [], [Finding(rel, "(7FE0,0010) PixelData", "pixels-unreadable", type(exc).__name__, "")]

    def read_pixels(self, jobs: list[tuple[str, list[np.ndarray]]]) -> list[list[Finding]]:
        """OCR findings of many files' frames, from one tesseract run per ocr.BATCH pages (starting
        tesseract costs as much as reading a frame: one run per file doubled verify's time on images at
        risk). A run that fails is redone file by file, so one file's failure stays its own."""
        from veil.errors import InputError
        from veil.pixels import ocr

        try:
            reads = ocr.read_many(g for _, grays in jobs for g in grays)
        except Exception as exc:
            if isinstance(exc, InputError) and exc.rule == "pixels-ocr-unavailable":
                # fail closed: an image at risk whose pixels were not read is not shown to be clean (a gate on
                # a machine without tesseract published every one); --no-ocr is the explicit way to skip
                self.notes.add("OCR unavailable (install tesseract-ocr): pixels of images at risk not read")
                return [[Finding(rel, "(7FE0,0010) PixelData", "pixels-unread", "OCR unavailable", "")]
                        for rel, _ in jobs]
            if len(jobs) > 1:
                return [self.read_pixels([job])[0] for job in jobs]
            why = exc.reason[:40] if isinstance(exc, InputError) else type(exc).__name__
            return [[Finding(jobs[0][0], "(7FE0,0010) PixelData", "pixels-unreadable", why, "")]]
        out: list[list[Finding]] = []
        at = 0
        for rel, grays in jobs:
            out.append(self._ocr_findings(rel, reads[at:at + len(grays)]))
            at += len(grays)
        return out

    def _ocr_findings(self, rel: str, reads: list[list[Any]]) -> list[Finding]:
        found: list[Finding] = []
        lines: dict[tuple[int, tuple[int, int, int, int]], list[str]] = {}
        for i, read in enumerate(reads):
            for w in read:
                lines.setdefault((i, w.line), []).append(w.text)
        for (i, _), words in sorted(lines.items()):
            text = " ".join(words)
            loc = f"(7FE0,0010) PixelData frame {i + 1} (OCR)"
            if self.index is not None:
                folded = fold(text)
                for a, b in self.index.find(folded):
                    if b - a >= 4:
                        hit = folded[a:b]
                        found.append(Finding(rel, loc, f"pixels:{self.index.category(hit)}", mask(hit), hit))
            for cat, pat in _PATTERNS[:5]:
                for m in pat.finditer(text):
                    found.append(Finding(rel, loc, f"pixels:{cat}", mask(m.group(0)), m.group(0)))
            for m in _TEXT_DATES.finditer(text):
                found.append(Finding(rel, loc, "pixels:date", mask(m.group(0)), m.group(0)))
        return found

    def scan(self, ds: Dataset, data: bytes | Path, rel: str, dates: set[str],
             inflated: bytes | None = None) -> list[Finding]:
        """Every check of one file; `data` is its bytes, or its path when it is too big to hold.

        A deflated file (Deflated Explicit VR Little Endian) is searched raw twice: its bytes as they
        are (preamble, file meta, anything after the deflate stream) and its data set inflated
        (`inflated`, else inflated here), where the values' bytes are."""
        found: list[Finding] = []
        seen_values: set[str] = set()
        #: needle hits the walk judged not to be leaks, where their value's bytes are (see _excused_hit):
        #: the raw search skips them there only
        excused: list[tuple[int, int, str]] = []

        def add(location: str, category: str, value: str) -> None:
            found.append(Finding(rel, location, category, mask(value), value))
            seen_values.add(fold(value))

        charsets = ds.get("SpecificCharacterSet", "ISO_IR 6")
        try:
            encodings = convert_encodings(charsets if isinstance(charsets, list | pydicom.multival.MultiValue)
                                          else [charsets])
        except Exception:
            encodings = ["iso8859"]
        modified = self.dates_retained or str(ds.get("LongitudinalTemporalInformationModified", "")).upper() in (
            "MODIFIED", "REMOVED")
        date_forms_here = _file_date_forms(frozenset(dates))
        meta = getattr(ds, "file_meta", None)
        deflated = getattr(meta.get("TransferSyntaxUID") if meta is not None else None, "is_deflated", False)
        if deflated and inflated is None:
            inflated, problem = _inflate(data)
            if inflated is None:  # pydicom read it, so this is not expected: fail closed
                add("file", "unreadable", problem or "deflated data set not inflated")
        # positions of the values: the file's, or those of the inflated data set (file meta: none)
        items: list[tuple[str, pydicom.DataElement, Dataset, _Where]] = list(
            _walk(meta, "file meta ", None) if meta else [])
        pixels = _native_pixels(ds)  # before the walk: a value it reads loses its position
        items += list(_walk(ds))
        creators_cache: dict[int, dict[tuple[int, int], str]] = {}
        for loc, elem, parent, where in items:
            tag = elem.tag
            if tag.is_private:
                self._check_private(loc, elem, parent, creators_cache, add)
            group = tag.group
            if group == 0x0002 and (not loc.startswith("file meta ") or tag not in _META_PLAIN):
                add(loc, "file-meta", "file meta element outside the file meta group" if not loc.startswith(
                    "file meta ") else "file meta element beyond version, SOP, transfer syntax, implementation")
            if 0x6000 <= group <= 0x601E and tag.element == 0x3000:
                add(loc, "overlay", "overlay bitmap")
            if 0x5000 <= group <= 0x501E and group % 2 == 0:
                add(loc, "curve", "curve data")
            if tag == 0x00420011:
                add(loc, "encapsulated-document", "encapsulated document")
            vr = elem.VR
            if vr == "UI":
                for v in _text_values(elem, encodings):
                    self._check_uid(loc, elem, v, add)
            if vr == "AS":
                for v in _text_values(elem, encodings):
                    if _age_years(v) > 90:
                        add(loc, "age-over-89", v)
            if vr in ("DA", "DT") and dates:
                for v in _text_values(elem, encodings):
                    if v[:8] in dates:
                        add(loc, "date-not-shifted", v[:8])
            texts = _text_values(elem, encodings) if (vr in TEXT_VRS or vr in ("UN", "OB", "UI", "DA", "DT", "IS",
                                                                                 "DS", "TM")) else []
            coded = vr == "CS" or elem.keyword in _CODED
            # a code of a public coding scheme ("51185008", SNOMED CT's chest) is vocabulary, not a record number
            public_code = tag == 0x00080100 and str(parent.get("CodingSchemeDesignator", "")).upper() in _PUBLIC_SCHEMES
            add_here = _once(add) if len(texts) > 1 and isinstance(elem.value, bytes | bytearray) else add
            # a public attribute no dictionary knows: veil deid removes every one (fallback:unknown-public)
            unknown = not tag.is_private and not elem.keyword and tag.element != 0 and group > 0x0002
            source = inflated if deflated else data  # where the value's bytes are (None: not inflated)
            # as the element check below: patterns run on UN and private values, not on a public OB/OW of
            # known meaning (an ICC profile's "IEC http://www.iec.ch" was a URL finding, review)
            if elem.value is None and (vr == "UN" or (vr in ("OB", "OW") and (tag.is_private or unknown))) and (
                    source is not None and not _bulk(tag) and not self._safe_private(elem, parent, creators_cache)):
                raw = parent.get_item(tag, keep_deferred=True)
                self._check_large_binary(loc, _large_binary_texts(source, where, raw, encodings), not modified,
                                         unknown, _once(add))
            elif unknown:
                _unknown_text(loc, texts, _once(add))
            for text in texts:  # a binary value's decodings (see _decodings): each hit once
                f = fold(text)
                if self.index is not None and not coded:
                    for a, b in self.index.find(f):
                        if _placeholder(text if len(f) == len(text) else f, a, b):
                            continue
                        if self._excused_hit(elem, f, a, b):
                            if where is not None and _holds(inflated if deflated else data, *where):
                                excused.append((where[0], where[0] + len(where[1]), f[a:b]))
                            continue
                        add_here(loc, f"identifier:{self.index.category(f[a:b])}", text[a:b] if len(f) == len(text)
                            else f[a:b])
                    for a, b in self.index.glued(text):
                        add_here(loc, "identifier:name", text[a:b])
                elif self.index is not None and elem.keyword in _ORGANISATIONS:
                    # a coding scheme's organisation ("Kuratorium OFFIS e.V., ..., Oldenburg, Germany") is
                    # vocabulary the walk skips; the raw scan found a patient's place in it again ("Germany"
                    # of "..., Erlangen, Germany", review). The place the file holds there is excused in its
                    # raw bytes (its value's position is not known once decoded); decoded elements elsewhere
                    # are still checked by the walk
                    excused += [(0, 1 << 62, f[a:b]) for a, b in self.index.find(f)
                                if self.index.category(f[a:b]) == "place"]
                if date_forms_here and vr not in ("DA", "DT"):
                    for a, b in _date_spans(f, date_forms_here.__contains__, _date_shape(True), 0, len(f)):
                        add_here(loc, "date-not-shifted", f[a:b])
                for m in _DATE_TIME_RUN.finditer(f):  # a date with its time: the needles see the date alone
                    day = m.group(1)
                    if self.index is not None and not coded and self.index.is_digit_needle(day):
                        add_here(loc, f"identifier:{self.index.category(day)}", day)
                    elif day in dates and vr not in ("DA", "DT"):  # DA/DT: checked on their value above
                        add_here(loc, "date-not-shifted", day)
                for m in _ISO_DATE_TIME.finditer(f):  # "1947-05-13T10:15:00": the "T" hid the date (review)
                    day = m.group(1)
                    if self.index is not None and not coded and (0, len(day)) in self.index.find(day):
                        add_here(loc, f"identifier:{self.index.category(day)}", day)
                    elif day.replace("-", "") in dates and vr not in ("DA", "DT"):
                        add_here(loc, "date-not-shifted", day)
                if (vr in FREE_TEXT_VRS or vr == "UN" or (vr == "OB" and tag.is_private)) and not public_code:
                    for cat, pat in _PATTERNS:
                        for m in pat.finditer(text):
                            add_here(loc, f"pattern:{cat}", m.group(0))
                    if not modified:
                        for m in _TEXT_DATES.finditer(text):
                            add_here(loc, "pattern:date", m.group(0))
        if "IconImageSequence" in ds and not _icon_derived(ds, data):
            add("(0088,0200) IconImageSequence", "icon", "icon image")
        if not deflated and _frame_text_segments(ds, data):
            add("(7FE0,0010) PixelData", "pixels-text-segment", "JPEG comment or APPn segment in a frame")
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES" and "PixelData" in ds:
            add("(0028,0301) BurnedInAnnotation", "burned-in", "YES")
        if str(ds.get("PatientIdentityRemoved", "")).upper() != "YES":
            add("(0012,0062) PatientIdentityRemoved", "not-marked", str(ds.get("PatientIdentityRemoved", "")) or "-")
        self._check_raw(data, rel, encodings, date_forms_here, seen_values, add,
                        pixels[:2] if pixels is not None else None, excused=() if deflated else excused)
        if pixels is not None:
            self._check_pixel_tail(_pixel_tail(data, pixels[1], pixels[2]), add)
        elif not deflated:
            for i, tail in _frame_tails(ds, data):
                for run in re.findall(r"[ -~]{6,}", tail):
                    if run.strip():
                        add(f"(7FE0,0010) PixelData frame {i} after its end-of-image marker", "pixels-trailing-text",
                            run.strip())
        if inflated is not None:
            self._check_raw(inflated, rel, encodings, date_forms_here, seen_values, add, where="inflated data set",
                            excused=excused)
        if isinstance(data, Path):
            with open(data, "rb") as fh:
                data = fh.read(132)
        self._check_preamble(data, add)
        self._check_path(rel, add)
        return found

    def _safe_private(self, elem: pydicom.DataElement, parent: Dataset,
                      cache: dict[int, dict[tuple[int, int], str]]) -> bool:
        """Whether `elem` is a private attribute of the safe list (PS3.15 E.3.10-1): its binary ones are
        pixels and volumes (Philips' Volume Pixel, Siemens' Volume Payload), never read as text."""
        tag = elem.tag
        if not tag.is_private or tag.element <= 0xFF:
            return False
        creator = cache.setdefault(id(parent), _creators(parent)).get((tag.group, tag.element >> 8), "")
        return bool(creator) and self.safe.lookup(creator, tag.group, tag.element & 0xFF) is not None

    def _check_large_binary(self, loc: str, texts: Iterator[str], dates: bool, unknown: bool, add: _Add) -> None:
        """The free-text PHI patterns on the text of a large binary value, read in chunks (red team F14: a
        5 KB UN value of an unknown public tag holding "SSN 123-45-6789 ... jq@example.org" passed; the
        same text short was found). `unknown`: a public tag no dictionary knows (see _unknown_text)."""
        for text in texts:
            for cat, pat in _PATTERNS:
                for m in pat.finditer(text):
                    add(loc, f"pattern:{cat}", m.group(0))
            if dates:
                for m in _TEXT_DATES.finditer(text):
                    add(loc, "pattern:date", m.group(0))
            if unknown:
                unknown = not _unknown_text(loc, [text], add)

    def _excused_hit(self, elem: pydicom.DataElement, folded: str, a: int, b: int) -> bool:
        """Whether the needle hit folded[a:b] is a word of the device maker's own name, not a leak.

        Manufacturer and Manufacturer's Model Name name the equipment, and every profile keeps them
        (PS3.15 E.1-1 lists neither). A vendor's test site is named like the vendor (InstitutionName
        "TOSHIBA", Manufacturer "TOSHIBA_MEC"), an SR's verifying organisation is the software maker
        ("OFFIS e.V." in "Kuratorium OFFIS e.V."), and a sample's patient is "Last Name^First Name"
        ("Manufacturer name here"): these blocked releases. Excused only when all hold: the value is one
        the input gave for these attributes (the device wrote it; Veil put nothing there), the hit is a
        name or place, it is one word (legal forms aside: "OFFIS e.V."), and the value holds more than
        it. A value that is an institution's name, or a name of two words or more, is still found.
        """
        if elem.keyword not in EQUIPMENT_KEYWORDS or self.index is None:
            return False
        if folded.strip() not in self.index.needles.makers:
            return False
        hit = folded[a:b]
        if self.index.category(hit) not in ("place", "name"):
            return False
        if not re.search(r"[^\W_]", folded[:a] + folded[b:]):
            return False  # the whole value is the needle
        core = [w for w in re.split(r"[\s,]+", hit) if w and w.replace(".", "") not in _LEGAL_FORMS]
        return len(core) == 1

    def _check_private(self, loc: str, elem: pydicom.DataElement, parent: Dataset,
                       cache: dict[int, dict[tuple[int, int], str]], add: _Add) -> None:
        tag = elem.tag
        if tag.element < 0x10:
            add(loc, "private-not-safe", "reserved private element")
            return
        if tag.element <= 0xFF:
            return  # a creator: judged by its elements
        creators = cache.setdefault(id(parent), _creators(parent))
        creator = creators.get((tag.group, tag.element >> 8), "")
        if creator.upper() in self.allow_private:
            return
        if not creator or self.safe.lookup(creator, tag.group, tag.element & 0xFF) is None:
            add(loc, "private-not-safe", f"{creator or 'no creator'} ({tag.group:04X},xx{tag.element & 0xFF:02X})")

    def _check_uid(self, loc: str, elem: pydicom.DataElement, v: str, add: _Add) -> None:
        kw = elem.keyword
        if v in UID_dictionary or kw.endswith(("ClassUID", "SyntaxUID", "SchemeUID")) or kw in (
                "ImplementationClassUID", "CodingSchemeUID", "MappingResourceUID", "ContextGroupExtensionCreatorUID"):
            return
        for root, vendor in VENDOR_ROOTS.items():
            if v.startswith(root + "."):
                add(loc, f"uid-vendor-root:{vendor}", v)
                return
        if not v.startswith("2.25.") and re.search(r"(?:^|\.)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                                                   r"(?:\d{6})?(?:\.|$)", v):
            add(loc, "uid-embeds-date", v)

    def _check_raw(self, data: bytes | Path, rel: str, encodings: list[str], dates: dict[str, str],
                   seen: set[str], add: _Add, skip: tuple[int, int] | None = None, where: str = "raw bytes",
                   excused: Iterable[tuple[int, int, str]] = ()) -> None:
        """Needles and the file's dates as byte runs anywhere in `data` (but `skip`), located as `where`.

        `excused`: (start, end, folded text) of values whose needle hits the element walk judged not to
        be leaks (a word of the device's own manufacturer name): that text is skipped there, and only
        there. A placeholder Veil writes ("[PLACE]") is never a hit."""
        excused = list(excused)
        encs = [*_BASE_ENCODINGS, *[e for e in encodings if e not in ("iso8859", "latin_1")]]
        if self.index is not None:  # the input's own (red team F10: bytes copied out of it keep them)
            encs += sorted(self.index.needles.encodings)
        patterns: list[tuple[str, Literals]] = []
        widths: dict[bool, str] = {}  # digit needles: ASCII-compatible (False) or UTF-16-LE (True) -> encoding
        if self.index is not None:
            for enc in dict.fromkeys(encs):
                pat = self.index.raw(enc)
                width = _digit_width(enc)
                if width is not None:
                    widths.setdefault(width, enc)  # digits encode alike in all ASCII-compatible encodings
                if pat is None or any(p is pat for _, p in patterns):
                    continue  # needles that encode alike (ASCII in UTF-8 and Latin-1): what it finds is seen
                patterns.append((enc, pat))
        digits = [(f, re.compile(re.escape(f.encode()))) for f in dates if f.isdigit()]
        if not patterns and not widths and not digits:
            return
        reach = max([self.index.longest_raw if self.index is not None else 0, *(len(f) for f, _ in digits)]) + 1

        def hit(offset: int, at: int, end: int, enc: str, text: str) -> None:
            folded = fold(text)
            if folded in seen or (" " not in text and folded in _dictionary_words()):
                return
            if any(lo <= offset + at and offset + end <= hi and folded == t for lo, hi, t in excused):
                return
            seen.add(folded)
            add(f"{where} @{offset + at} ({enc})", "identifier:raw", text)

        matched_to: dict[str, int] = {}  # per encoding, where its last match ended (file offset)
        for offset, buf, start, stop in _windows(data, reach, skip):
            lowered = buf.lower().decode("latin-1") if patterns else ""  # what Literals of raw() search
            for enc, pat in patterns:
                for a, b in pat.spans(lowered, start, stop):
                    if offset + a < matched_to.get(enc, 0):
                        continue  # inside a match of the last window (a place part inside its address)
                    matched_to[enc] = offset + b
                    try:
                        text = buf[a:b].decode(enc)
                    except UnicodeDecodeError:
                        text = buf[a:b].decode("latin-1")
                    before = buf[a - 1:a] if a else b""
                    if enc != "utf-16-le" and (_word_char(before) or _word_char(buf[b:b + 1])):
                        continue  # inside a longer word or number
                    if text in _PLACEHOLDERS and _bracketed(buf, a, b, enc):
                        continue  # Veil's own placeholder ("[PLACE]"), not the patient named "Place"
                    hit(offset, a, b, enc, text)
            if self.index is not None:
                for wide, enc in widths.items():
                    for a, b, text in self.index.raw_digits(buf, start, stop, wide):
                        hit(offset, a, b, enc, text)
                    for a, b, text in self.index.raw_dates(buf, start, stop, wide):
                        hit(offset, a, b, enc, text)
            for f, digit_pat in digits:
                for m in digit_pat.finditer(buf, start):
                    if m.start() >= stop:
                        break
                    before, after = buf[m.start() - 1:m.start()] if m.start() else b"", buf[m.end():m.end() + 1]
                    if before.isdigit() or after.isdigit() or f in seen:
                        continue
                    seen.add(f)
                    add(f"{where} @{offset + m.start()}", "date-not-shifted", f)

    def _check_pixel_tail(self, tail: str, add: _Add) -> None:
        """Text after the last frame of native Pixel Data: no viewer shows it and no attribute holds it, so
        it is a finding of its own (as text in the preamble is), and the PHI patterns look at it; the
        input's values there are found by the raw search (red team F11)."""
        loc = "(7FE0,0010) PixelData after the last frame"
        for cat, pat in _PATTERNS:
            for m in pat.finditer(tail):
                add(loc, f"pattern:{cat}", m.group(0))
        for run in re.findall(r"[ -~]{6,}", tail):
            if run.strip():
                add(loc, "pixels-trailing-text", run.strip())

    def _check_preamble(self, data: bytes, add: _Add) -> None:
        """The 128-byte preamble is free for applications (PS3.10 7.1) and dual TIFF/DICOM files put text
        there; it should be zeros. Any printable run in it is looked at with the text patterns."""
        if len(data) < 132 or data[128:132] != b"DICM":
            return
        pre = data[:128]
        if not pre.strip(b"\x00"):
            return
        text = pre.decode("latin-1")
        for cat, pat in _PATTERNS:
            for m in pat.finditer(text):
                add("preamble", f"pattern:{cat}", m.group(0))
        for run in re.findall(r"[ -~]{4,}", text):
            add("preamble", "preamble-text", run)

    def _check_path(self, rel: str, add: _Add) -> None:
        parts = Path(rel).parts
        for part in parts:
            if not _PATH_OK.match(part):
                add(f"path component {part!r}"[:40], "path", part)
        if self.index is not None:
            folded = fold(rel)
            for a, b in self.index.find(folded):
                add("output path", "path", folded[a:b])
            for a, b in self.index.glued(rel):
                add("output path", "path", rel[a:b])
        spaced = re.sub(r"[_/\\]", " ", rel)  # "Smith_MRN123456/..." -> words the patterns can see
        for cat, pat in _PATTERNS[:6]:
            for m in pat.finditer(spaced):
                add("output path", f"path:{cat}", m.group(0))


_AT_RISK_MODALITIES = frozenset({"US", "IVUS", "SC", "OT", "XC", "DOC", "ES", "GM", "OP", "SM"})
_AT_RISK_SOP = ("1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3.", "1.2.840.10008.5.1.4.1.1.7",
                "1.2.840.10008.5.1.4.1.1.77.1.")


_FATAL_WARNINGS = ("End of file reached", "truncat", "delimiter")


@dataclass(frozen=True)
class _Read:
    """An output as verify reads it: the dataset (None: not well-formed DICOM, `problem` says why) and,
    for a Deflated Explicit VR Little Endian file (PS3.5 A.5), its data set inflated."""

    ds: Dataset | None
    problem: str = ""
    inflated: bytes | None = None


def _read(path: Path, data: bytes | Path, size: int) -> _Read:
    """The dataset, or None and why the file is not well-formed DICOM: no DICM prefix (PS3.10 7.1; a bare
    dataset that can be one is read as pydicom reads it), a parse error, or data cut inside an element.

    A deflated file's element positions are those of its inflated data set, not the file's: its lengths
    are checked against the inflated bytes (against the file's size, a valid deflated output written by
    ``veil deid`` was "truncated or corrupt" and blocked its release), which are returned for the byte
    search - the deflated bytes hide text from it."""
    from veil.errors import InputError
    from veil.pipeline.instance import _may_be_bare_dataset
    from veil.pipeline.passthrough import check_lengths

    if isinstance(data, bytes):
        head = data[:132]
    else:
        with open(data, "rb") as fh:
            head = fh.read(132)
    part10 = head[128:132] == b"DICM"
    if not part10 and not _may_be_bare_dataset(path):
        return _Read(None, "not DICOM: no DICM prefix at byte 128 and no dataset at byte 0")
    inflated = None
    if part10:
        inflated, problem = _inflate(data)
        if problem:
            return _Read(None, problem)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=not part10, defer_size=_DEFER)
            if inflated is None:
                check_lengths(ds, size if part10 else None, size)
            else:
                check_lengths(ds, len(inflated), len(inflated))
        except InputError as exc:
            return _Read(None, exc.reason)
        except Exception as exc:
            return _Read(None, f"not readable as DICOM ({type(exc).__name__})")
    if any(k in str(w.message) for w in caught for k in _FATAL_WARNINGS):
        return _Read(None, "truncated or corrupt DICOM (the data end inside an element)")
    return _Read(ds, "", inflated)


def _inflate(data: bytes | Path) -> tuple[bytes | None, str]:
    """(the inflated data set, "") of a Part-10 file whose transfer syntax is deflated (PS3.5 A.5: raw
    deflate after the File Meta Information), (None, "") of any other, or (None, why) when it cannot be
    inflated or is a deflate bomb (more than MAX_INFLATED bytes or MAX_ELEMENTS elements: what cannot be
    read whole cannot be shown to be clean, and ``veil deid`` quarantines such an input)."""
    import io
    import zlib

    from veil.errors import InputError
    from veil.pipeline.passthrough import MAX_INFLATED, check_element_count, dataset_start, inflate_limited

    fh: io.BufferedIOBase = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")  # noqa: SIM115
    try:
        start = dataset_start(fh)
        if start is None or not start[1].is_transfer_syntax or not start[1].is_deflated:
            return None, ""
        inflated = inflate_limited(fh, start[0])
    except InputError:
        return None, f"deflated data set inflates to more than {MAX_INFLATED >> 20} MB"
    except zlib.error as exc:
        return None, f"deflated data set cannot be inflated ({exc})"
    except EOFError:
        return None, "deflated data set ends before its deflate stream does (truncated)"
    finally:
        fh.close()
    try:
        check_element_count(io.BytesIO(inflated), 0, len(inflated), False, True, where=" in the deflated data set")
    except InputError as exc:
        return None, exc.reason
    return inflated, ""


def _at_risk(ds: Dataset) -> bool:
    """Images that carry screen text by nature, or say they do (PS3.3 C.7.6.1.1.7 Burned In Annotation)."""
    if "PixelData" not in ds:
        return False
    return (str(ds.get("Modality", "")).upper() in _AT_RISK_MODALITIES
            or str(ds.get("SOPClassUID", "")).startswith(_AT_RISK_SOP)
            or str(ds.get("BurnedInAnnotation", "")).upper() == "YES")


def frame_sample(count: int, n: int) -> list[int]:
    """`n` frame indices spread over a loop of `count` frames, first and last included: text burned into a
    late frame only was not read when the first `n` were (red team E: frame 36 of 40)."""
    if count <= n:
        return list(range(count))
    return sorted({round(i * (count - 1) / (n - 1)) for i in range(n)})


def _frames(ds: Dataset, n: int, path: Path | None = None) -> list[np.ndarray]:
    """`n` frames spread over the loop (:func:`frame_sample`); from the file when there is one (pydicom then
    reads just those frames, not a cine loop's whole Pixel Data), else from the dataset."""
    from pydicom.pixels import iter_pixels

    try:
        count = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        count = 1
    indices = frame_sample(count, n)
    if path is not None:
        try:
            return list(iter_pixels(path, indices=indices))
        except Exception:  # not a file pydicom's pixel reader takes on its own: decode from the dataset
            pass
    return list(iter_pixels(ds, indices=indices))


#: Values longer than this stay on disk when a file is read (dcmread defer_size); binary ones are never
#: read as values (the raw byte scan covers their bytes).
_DEFER = 64 * 1024
#: Files up to this size are scanned raw in one piece; larger ones in windows of _WINDOW bytes.
_WHOLE = 16 * 2**20
_WINDOW = 8 * 2**20
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


def _windows(source: bytes | Path, reach: int,
             skip: tuple[int, int] | None = None) -> Iterator[tuple[int, bytes, int, int]]:
    """(file offset of buf, buf, start, stop) covering `source` but the `skip` range: a match that starts
    in buf[start:stop] belongs to this window; buf also holds the byte before start and `reach` bytes
    after stop, so a match that crosses into the next window is seen whole, with the bytes around it."""
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    segments = [(0, size)] if skip is None else [(0, skip[0]), (skip[1], size)]
    if isinstance(source, bytes) and skip is None:
        yield 0, source, 0, size
        return
    fh = None if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115 - closed below
    try:
        for seg_lo, seg_hi in segments:
            base = seg_lo
            while base < seg_hi:
                lo, hi = max(0, base - 1), min(base + _WINDOW, seg_hi)
                if fh is None:
                    assert isinstance(source, bytes)
                    buf = source[lo:hi + reach]
                else:
                    fh.seek(lo)
                    buf = fh.read(hi + reach - lo)
                if len(buf) <= base - lo:
                    break
                yield lo, buf, base - lo, min(len(buf), hi - lo)
                base = hi
    finally:
        if fh is not None:
            fh.close()


#: File Meta Information that names nothing (PS3.10 7.1): group length, version, media SOP class/instance,
#: transfer syntax, implementation UID and version. Source/sending/receiving AE titles, presentation
#: addresses and private information (0002,0016-0102) name the site or its network.
_META_PLAIN = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})


def _icon_derived(ds: Dataset, data: bytes | Path) -> bool:
    """An icon Veil regenerated from this image's own first frame (graphics.icon_is_derived) is no finding:
    the image it shrinks is what the rest of verify reads."""
    from veil.pixels.graphics import icon_is_derived

    return icon_is_derived(ds, data if isinstance(data, Path) else io.BytesIO(data))


def _native_pixels(ds: Dataset) -> tuple[int, int, int] | None:
    """File offsets of a native (uncompressed) Pixel Data value: (start, end of its frames, end of the value).
    The raw byte scan leaves out the frames, never what follows them.

    Why: frame bytes are sample values, where text needles only match by chance (the scan already ignores
    needles under 5 bytes for that reason), and running the needle automaton over them was 95% of the
    time of verifying CT/MR (290 ms per 530 KB slice). The frames are Rows x Columns x Samples per Pixel x
    Bits Allocated x Number of Frames bits (PS3.5 8.1.1); bytes after them are no image and were never
    scanned ("Quixandor^Belvedere 00482913" after the last frame passed: red team F11). Without those
    attributes nothing is left out. Encapsulated pixel data (a JPEG comment can hold text) and every other
    byte of the file are still scanned; a deflated file's offsets are not the file's, so it is scanned whole.
    """
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts is not None and getattr(ts, "is_deflated", False):
        return None
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        raw = ds.get_item(tag, keep_deferred=True) if tag in ds else None
        if raw is None:
            continue
        at, length = getattr(raw, "value_tell", None), getattr(raw, "length", 0)
        if at is None or not length or length == 0xFFFFFFFF:
            return None
        frames = _frames_size(ds, tag)
        if frames is None:
            return None
        return int(at), int(at) + min(int(length), frames), int(at) + int(length)
    return None


def _frames_size(ds: Dataset, tag: int) -> int | None:
    """Bytes the frames of native pixel data take (PS3.5 8.1.1, PS3.3 C.7.6.3), or None when the attributes
    that say it are missing or not numbers. Float and Double Float Pixel Data: 32 and 64 bits a sample."""
    try:
        bits = {0x7FE00008: 32, 0x7FE00009: 64}.get(tag) or int(ds.get("BitsAllocated"))
        count = int(ds.get("Rows")) * int(ds.get("Columns")) * int(ds.get("SamplesPerPixel", 1) or 1)
        count *= max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return None
    return (count * bits + 7) // 8 if count > 0 and bits > 0 else None


def _pixel_tail(data: bytes | Path, lo: int, hi: int) -> str:
    """The bytes of a Pixel Data value after its frames, as Latin-1: none when there is one, the pad byte of
    frames of an odd length (PS3.5 7.1.1)."""
    if hi - lo <= 1:
        return ""
    if isinstance(data, bytes):
        return data[lo:hi].decode("latin-1")
    with open(data, "rb") as fh:
        fh.seek(lo)
        return fh.read(min(hi - lo, _TAIL_READ)).decode("latin-1")


#: Bytes of a pixel value's tail read for its text (the needle search reads all of it).
_TAIL_READ = 1 << 20


def _frame_tails(ds: Dataset, data: bytes | Path) -> list[tuple[int, str]]:
    """(frame number, the bytes after its last FFD9 as Latin-1) of each encapsulated JPEG / JPEG-LS / JPEG
    2000 frame (PS3.5 A.4: a frame's codestream ends in EOI / EOC, FFD9; encoders pad after it with 0x00 or
    0xFF). Text there is in no image (red team: a name after EOC went out); only each frame's last 64 KiB is
    searched. Its own reading, not deid's (verify checks deid)."""
    from pydicom.encaps import generate_frames

    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts.startswith("1.2.840.10008.1.2.4.") or 0x7FE00010 not in ds:
        return []
    raw = ds.get_item(0x7FE00010, keep_deferred=True)
    at = getattr(raw, "value_tell", None)
    if at is None or getattr(raw, "length", 0) != 0xFFFFFFFF:
        return []
    try:
        if isinstance(data, Path):
            with open(data, "rb") as fh:
                fh.seek(at)
                value = fh.read()
        else:
            value = data[at:]
        n = int(ds.get("NumberOfFrames", 1) or 1)
        out = []
        for i, frame in enumerate(generate_frames(value, number_of_frames=n), 1):
            end = frame[-(1 << 16):]
            eoi = end.rfind(b"\xff\xd9")
            tail = end[eoi + 2:] if eoi >= 0 else b""  # no end marker: deid refuses it; entropy data is no text
            if tail.strip(b"\x00\xff"):
                out.append((i, tail.decode("latin-1")))
        return out
    except Exception:  # not well-formed: decoding the pixels says so (pixels-unreadable)
        return []


def _frame_text_segments(ds: Dataset, data: bytes | Path) -> bool:
    """Whether a compressed frame carries a text segment `veil deid` removes (JPEG COM, EXIF/XMP or vendor
    APPn, a JPEG 2000 COM that is not an encoder's signature: veil.pixels.markers). Their text is no
    attribute: only the raw search for the input's own values (``--against``) could meet it, and a comment
    an encoder or photo tool wrote ("Quixandor^Zebulon MRN98765431") was not a finding without it."""
    from veil.errors import InputError
    from veil.pixels import markers

    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if markers.kind_of(ts) is None or 0x7FE00010 not in ds:
        return False
    raw = ds.get_item(0x7FE00010, keep_deferred=True)
    at = getattr(raw, "value_tell", None)
    if at is None or getattr(raw, "length", 0) != 0xFFFFFFFF:
        return False
    try:
        with open(data, "rb") if isinstance(data, Path) else io.BytesIO(data) as fh:  # as the raw path reads it
            return markers.needs_scrub(markers.file_reader(fh, at), fh.seek(0, io.SEEK_END) - at, ts)
    except (InputError, OSError, struct.error):
        return False  # not well-formed: decoding the pixels says so (pixels-unreadable)


@functools.cache
def _dictionary_words() -> frozenset[str]:
    """Words of the DICOM data dictionary's attribute names ("TEXT", "OBSERVER", "VALUE" ...)."""
    from pydicom.datadict import DicomDictionary

    return frozenset(w.upper() for entry in DicomDictionary.values() for w in re.findall(r"[A-Za-z]{3,}", entry[2]))


@functools.cache
def _common_words() -> frozenset[str]:
    """English and clinical words (and eponyms, DICOM's own words): a name that is one is never a glued hit."""
    return data_words("english.txt", "ambiguous.txt", "medical_terms.txt", "vocabulary.txt", "eponyms.txt",
                       "drugs.txt") | _dictionary_words()


@functools.cache
def _names_and_words() -> frozenset[str]:
    """Words, names and places: an initial and a name that make one of them ("Sharper") are no login."""
    return _common_words() | data_words("surnames.txt", "first_names.txt", "places.txt")


def _age_years(v: str) -> float:
    """An AS value in years (0 when it is not one). A Patient's Age over 90 is a finding; "090Y" is not:
    it is the single "90 or older" category HIPAA 164.514(b)(2)(i)(C) allows, which ``veil deid`` writes for
    every age of 90 or more (research-longitudinal's age cap), so flagging it blocked every release with an
    elderly patient. In free text an age of 90 is a finding (the "age-over-89" pattern): there the cleaner
    writes the category as "90+"."""
    m = re.fullmatch(r"(\d{3})([DWMY])", v.strip())
    if not m:
        return 0.0
    n = int(m.group(1))
    return {"D": n / 365.25, "W": n / 52.18, "M": n / 12, "Y": float(n)}[m.group(2)]
