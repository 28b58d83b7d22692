"""Known identifiers: values of this patient's own headers, found again inside free text.

A radiographer types the patient's name into StudyDescription, an SR report repeats the MRN: the most
reliable way to find such leaks is to look for the values the headers already hold. PS3.15 E.3.4
(Clean Descriptors) and E.3.5 (Clean Structured Content) require such text to be cleaned; Veil collects,
before the header actions run, every identifying value of the instance in the forms people write it:

* person names (every PN element) in caret, natural and reversed order, "Last, First", with initials,
  accents folded and case ignored; each name part on its own;
* IDs (patient, other, accession, procedure, device ...) with or without separators and leading zeros;
* dates (birth, study, series ...) in the common written forms (19610304, 1961-03-04, 04/03/1961,
  4-Mar-1961, MAR 04 1961 ...);
* institution, department, station and address values.

Matching is tolerant of case, accents, separators ("MRN 4821-3977") and truncation at the end of a
value (a name cut by the 16-character limit of SH). The terms compile once into one regular expression
per patient, cached, so a value is scanned once whatever the number of terms.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache

from pydicom.datadict import DicomDictionary, keyword_for_tag, private_dictionary_VR
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.values import convert_SQ

from veil.text import months
from veil.text.spans import DATE, ID, NAME, PLACE, Span
from veil.text.vocabulary import clinical_vocabulary, lexicon

#: Attributes whose values identify the patient, or the people, places and devices around the study.
ID_KEYWORDS = (
    "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "AccessionNumber", "StudyID",
    "DeviceSerialNumber", "MedicalRecordLocator", "RequestedProcedureID", "ScheduledProcedureStepID",
    "PerformedProcedureStepID", "AdmissionID", "ServiceEpisodeID", "PatientTelephoneNumbers",
    "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID", "DetectorID", "PatientInsurancePlanCodeSequence",
    # numbers to reach the patient and the people around the study (red team: a 7-digit phone only in
    # Patient's Telecom Information went out in a comment)
    "PatientTelecomInformation", "PersonTelephoneNumbers", "PersonTelecomInformation",
    "ReferringPhysicianTelephoneNumbers", "OrderCallbackTelecomInformation",
)
PLACE_KEYWORDS = (
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "PatientAddress",
    "MilitaryRank", "BranchOfService", "RegionOfResidence", "CountryOfResidence", "PatientBirthName",
    "PatientMotherBirthName", "ResponsibleOrganization", "PerformedLocation", "ScheduledStationName",
    "ScheduledProcedureStepLocation", "ClinicalTrialSiteName",
)
DATE_KEYWORDS = ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                 "InstanceCreationDate", "AdmittingDate", "LastMenstrualDate", "PatientDeathDateInAlternativeCalendar")
_ID_SET = frozenset(ID_KEYWORDS)
_PLACE_SET = frozenset(PLACE_KEYWORDS)
_DATE_SET = frozenset(DATE_KEYWORDS)

#: Words too generic to identify on their own when they are part of an institution name.
_GENERIC = frozenset([
    "HOSPITAL", "HOSP", "CLINIC", "MEDICAL", "CENTER", "CENTRE", "CTR", "HEALTH", "HEALTHCARE", "UNIVERSITY",
    "UNIV", "GENERAL", "GEN", "SAINT", "ST", "STE", "THE", "OF", "AND", "FOR", "DEPARTMENT", "DEPT", "RADIOLOGY",
    "IMAGING", "DIAGNOSTIC", "DIAGNOSTICS", "INSTITUTE", "CHILDRENS", "CHILDREN", "MEMORIAL", "REGIONAL",
    "COMMUNITY", "COUNTY", "CITY", "NATIONAL", "ROYAL", "INFIRMARY", "TRUST", "NHS", "FOUNDATION", "SYSTEM",
    "SERVICES", "NORTH", "SOUTH", "EAST", "WEST", "CENTRAL", "MAIN", "STREET", "ROAD", "AVENUE", "SUITE", "FLOOR",
    "BUILDING", "BLDG", "ROOM", "SCANNER", "STATION", "UNIT", "WARD",
    # a street's type says nothing on its own ("Zephyrwood Lane": the name is the word before it)
    "LANE", "DRIVE", "COURT", "PLACE", "CLOSE", "TERRACE", "CRESCENT", "BOULEVARD", "BLVD", "HIGHWAY", "PARKWAY",
    "SQUARE", "CIRCLE", "APARTMENT", "APT", "FLAT", "HOUSE", "COTTAGE",
])

#: Pseudo-label of a distinctive word of the patient's own address (also a PLACE term): looked for in
#: technical text too, where a single word of the institution's name is not (:func:`technical_identifiers`).
HOME = "PLACE/home"
#: The label of a name part found only after a title or cue (:func:`find_cued`); never a span's label.
CUED = "NAME/cued"
#: Pseudo-label of a written form of the patient's own birth date (also a DATE term): in text a shifting
#: policy moves dates by the patient's offset, but a shifted birth date beside shifted study dates gives the
#: exact age that emptying Patient's Birth Date (E.1-1 Z) and the age cap hide (red team B: "DOB 15/01/1920"
#: became "DOB 21/02/1916" next to a Patient's Age capped at 090Y). It is replaced instead (clean_text).
BIRTH = "DATE/birth"
#: A date written with a 2-digit year, looked for in technical text only right after a birth cue
#: (:data:`BIRTH_CUE`): "DOB 05/05/90" in a Window Explanation, where "5.5.90" alone is a version.
CUED_DATE = "DATE/cued"
#: A year of birth written alone after a birth cue ("born 1926", "YOB 1926"), looked for as the cue's date:
#: the year alone elsewhere is any year ("in 1926", "TR 1926"). Not a year that begins a date ("DOB
#: 1926-05-13": the full date's form is the match).
CUED_YEAR = "DATE/cued-year"
#: Words that say a birth date (or year) follows, in the languages of :mod:`veil.text.months`; for folded text
#: here and for text as written in verify and the pattern detector (case-insensitive there: "né le", "año").
#: "b." only with its dot and only here, where a date or year must follow ("b. 1926", "b. 13/05/1947").
BIRTH_CUE = (r"(?:D\.?\s?O\.?\s?B(?:\s*/\s*AGE)?|Y\.?\s?O\.?\s?B|BIRTH\s*(?:DATE|DAY|YEAR)"
              r"|(?:DATE|YEAR|YR)\s+OF\s+BIRTH|BIRTH|BORN|B(?=\.)|GEB(?:OREN|URTSDATUM|URTSTAG|URTSJAHR|\.?\s*-?\s*DAT(?:UM)?\.?)?|JAHRGANG"
              r"|GEBOORTE(?:DATUM|JAAR)|DDN|N[EÉ]E?(?:\s+LE)?|NACID[OA](?:\s+EL)?|NAT[OA](?:\s+IL)?"
              r"|(?:FECHA|A[NÑ]O)\s+(?:DE\s+)?NAC(?:IMIENTO|\.)?|(?:DATE|ANN[EÉ]E)\s+DE\s+NAISSANCE"
              r"|(?:DATA|ANNO)\s+D[IE]\s+NASCI(?:TA|MENTO))"
              r"\.?[\s:=\-]*(?:(?:ON|AM|IN|EN|NEL|IM(?:\s+JAHRE?)?)\s+)?")
#: A birth cue that ends where a date span begins (:func:`after_birth_cue`), in text as written.
_BIRTH_CUE_BEFORE = re.compile(r"(?<![^\W\d_])(?i:" + BIRTH_CUE + r")$")
#: How far before a date span its cue is looked for: the longest cue and its spaces.
_CUE_REACH = 40


def after_birth_cue(value: str, start: int) -> bool:
    """Whether a birth cue ends right before `value[start:]` ("DOB: 13/05/1947", "born in 1931", "geb. 1926").
    A date there is a date of birth whoever's it is - the header may hold none, or another form of it - and is
    replaced, never shifted: shifted next to the shifted study dates it gives the exact age (:data:`BIRTH`), and
    a year of birth of a patient over 89 is what HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(C)) removes."""
    return _BIRTH_CUE_BEFORE.search(value, max(0, start - _CUE_REACH), start) is not None


_SEP = r"[\s\-_./,#:^']*"  # "13.11.'47" too (a typographic apostrophe folds to "'": LETTERS)
_CJK_SEP = r"[\s\-_./,#:^\u3001\u30fb\uff0c]*"  # also "、", "・", "，"


#: What a reader does not see, dropped by folding (:func:`fold_map`): the ISO 2022 escape sequences DICOM
#: defines (PS3.3 C.12.1.1.2) left in decoded text (pydicom leaves those its codec does not take: IR 58's
#: "ESC $ ) A", an "ESC ( J" inside IR 87); C0 controls but tab and line ends; DEL; the C1 bytes Windows-1252
#: leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D - the others are its dashes and quotes, which a viewer
#: shows and which part words); format characters (zero-width space and joiners, word joiner, BOM, bidi
#: marks, soft hyphen, grapheme joiner, variation selectors, fillers, tag characters). "Zor<U+200B>vath"
#: shows as Zorvath and was not the name; nor was a Chinese name behind IR 58's escape (red team: kept).
_HIDDEN_CHARS = ("\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x81\x8d\x8f\x90\x9d\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5"
                 "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
                 "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef")
HIDDEN = re.compile(f"\x1b(?:\\([BJ]|\\)I|-[A-HLMTb]|\\$[B@]|\\$\\(D|\\$\\)[AC])|[{_HIDDEN_CHARS}]")


def plain_ascii(text: str) -> bool:
    """ASCII with nothing :data:`HIDDEN` in it: folded by ``upper()`` alone (the common case, kept fast)."""
    return text.isascii() and (text.isprintable() or HIDDEN.search(text) is None)


def fold(text: str) -> str:
    """Upper-case, accents and hidden characters (:data:`HIDDEN`) removed: 'Zoë' and 'ZOE' match. The length
    may change ('ß' is 'SS', 'ﬃ' is 'FFI'): :func:`fold_map` also says which characters of `text` each folded
    character comes from."""
    if plain_ascii(text):
        return text.upper()
    return fold_map(text)[0]


#: Kana voicing marks: "だ" is not "た" (nor "だろう" "たろう"), so they are kept, not dropped as accents.
_VOICING = "\u3099\u309a"
#: Letters with no Unicode decomposition, folded as the ASCII text of a record writes them: "KJAERSGAARD
#: SOREN" for Kjærsgaard^Søren, "LUKASZ" for Łukasz (red team: they went out). Also ß ("SS" by upper()).
LETTERS = str.maketrans({"Æ": "AE", "æ": "AE", "Ø": "O", "ø": "O", "Œ": "OE", "œ": "OE", "Ł": "L", "ł": "L",
                         "Đ": "D", "đ": "D", "Ð": "D", "ð": "D", "Þ": "TH", "þ": "TH", "ı": "I", "Ħ": "H", "ħ": "H",
                         "\u2018": "'", "\u2019": "'",
                         # C1 bytes Windows-1252 shows as dashes and quotes (text declared ISO_IR 100): a hyphen,
                         # which a name's terms bridge ("Quix<0x96>worth" went out half: red team)
                         **{chr(c): "-" for c in range(0x80, 0xA0) if c not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}})
#: Other transliterations of letters a name has: German umlauts and Scandinavian letters written with an
#: "e" or doubled ("KROEWNITZER" for Kröwnitzer, "AARSLEV" for Århus-born Årslev, "SOEREN" for Søren).
_TRANSLIT = str.maketrans({"ä": "ae", "Ä": "AE", "ö": "oe", "Ö": "OE", "ü": "ue", "Ü": "UE", "ø": "oe", "Ø": "OE",
                           "å": "aa", "Å": "AA"})


def other_kana(value: str) -> str | None:
    """`value` with hiragana written as katakana and katakana as hiragana (a fixed offset), or None if it has no
    kana: a phonetic name group in one script and the text in the other ("やまだ" in the Patient's Name,
    "ヤマダ" in a description: red team) are the same name. A variant term, not a fold of all text: folded,
    a two-kana given name matched inside ordinary hiragana words ("あきらか" for アキ: red team D)."""
    out = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6"
                  else c for c in value)
    return out if out != value else None


def transliterated(value: str) -> str | None:
    """`value` with umlauts and Scandinavian letters transliterated (:data:`_TRANSLIT`), or None if it has none:
    a name is looked for in both spellings."""
    out = value.translate(_TRANSLIT)
    return out if out != value else None


#: "oe" written for an umlaut after a consonant ("KROEWNITZER", "MUELLER", "SCHROEDER").
_UMLAUT_DIGRAPH = re.compile(r"(?i)(?<=[b-df-hj-np-tv-z])([aou])e")


def detransliterated(value: str) -> str | None:
    """An ASCII name with its umlaut digraphs written as the vowel they stand for, or None if it has none: the
    record says "KROEWNITZER", a report "Kröwnitzer" (folded "KROWNITZER"; red team: kept). Only for name
    parts of 6 letters or more once changed ("MUELLER" -> "MULLER"; not "JOEL", "SAMUEL", "DOE")."""
    def part(m: re.Match[str]) -> str:
        changed = _UMLAUT_DIGRAPH.sub(r"\1", m.group(0))
        return changed if len(changed) >= 6 else m.group(0)

    out = re.sub(r"[A-Za-z]+", part, value)
    return out if out != value else None


@lru_cache(maxsize=8192)
def _fold_char(c: str) -> str:
    """One character folded: compatibility decomposition (ligatures, full-width forms), combining marks
    dropped except kana voicing, upper-cased. A Hangul syllable stays whole: decomposed into jamo, a
    one-syllable name would match inside other syllables."""
    if "\uac00" <= c <= "\ud7a3":
        return c
    kept = "".join(x for x in unicodedata.normalize("NFKD", c.translate(LETTERS))
                   if x in _VOICING or not unicodedata.combining(x))
    if len(kept) > 1 and (_VOICING[0] in kept or _VOICING[1] in kept):
        kept = unicodedata.normalize("NFC", kept)
    return kept.upper()


#: Cyrillic and Greek letters drawn like Latin ones. A word mixing them with Latin letters is a Latin word
#: typed on two keyboard layouts ("Zоrvаth" with Cyrillic о and а: red team), read as the Latin it shows.
_LOOKALIKE = str.maketrans(dict(zip(
    "АВЕКМНОРСТУХаеорсухіјѕІЈЅԁһӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνρ",
    "ABEKMHOPCTYXaeopcyxijsIJSdhlABEZHIKMNOPTYXoikvp", strict=True)))
_LOOKALIKE_CHARS = "".join(chr(c) for c in _LOOKALIKE)
_ANY_LOOKALIKE = re.compile(f"[{_LOOKALIKE_CHARS}]")
#: A word: letters, and the hidden characters a word may hold ("zorv<U+200B>а<U+200B>th" is one word).
_WORD = re.compile(f"(?:[^\\W\\d_]|[{_HIDDEN_CHARS}])+")
_LATIN = re.compile("[A-Za-z]")


def latinised(text: str) -> str:
    """`text` with the look-alike letters of words that mix them with Latin letters written in Latin (the
    same length: offsets hold). Linear: words are found once, and only in text holding a look-alike."""
    if _ANY_LOOKALIKE.search(text) is None:
        return text

    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        return w.translate(_LOOKALIKE) if _LATIN.search(w) and _ANY_LOOKALIKE.search(w) else w

    return _WORD.sub(word, text)


def fold_map(text: str) -> tuple[str, list[int], list[int]]:
    """``(folded, starts, ends)``: :func:`fold` of `text`, folded character by character, and for each folded
    character ``i`` the characters ``text[starts[i]:ends[i]]`` it comes from. A span of the folded text maps
    back to ``text[starts[a]:ends[b - 1]]``: a span that covers part of an expanded character ('ß' -> 'SS')
    covers all of it, and combining marks dropped after a character belong to it. Hidden characters
    (:data:`HIDDEN`) belong to no character: a span keeps those inside it, never one after it (replacing a
    name never eats the escape sequence that ends its run)."""
    out: list[str] = []
    starts: list[int] = []
    text = latinised(text)
    hidden = {m.start(): m.end() for m in HIDDEN.finditer(text)}
    i, n = 0, len(text)
    while i < n:
        skip = hidden.get(i)
        if skip is not None:
            i = skip
            continue
        c = text[i]
        for ch in c.upper() if c < "\x80" else _fold_char(c):
            if ch in _VOICING and out:  # a separate voicing mark ("ｶﾞ", "か\u3099") joins its kana
                composed = unicodedata.normalize("NFC", out[-1] + ch)
                if len(composed) == 1:
                    out[-1] = composed
                    continue
            out.append(ch)
            starts.append(i)
        i += 1
    ends = [0] * len(starts)
    stops = sorted(hidden)
    nxt = n
    for k in range(len(starts) - 1, -1, -1):
        if k + 1 < len(starts) and starts[k + 1] != starts[k]:
            nxt = starts[k + 1]
        after = bisect.bisect_right(stops, starts[k])
        ends[k] = min(nxt, stops[after]) if after < len(stops) else nxt
    return "".join(out), starts, ends


#: Scripts written without spaces between words, where one or two characters make a name: CJK ideographs,
#: kana, Hangul (and the marks and iteration signs used inside names: "々", "ー").
_CJK_RANGES = ((0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3031, 0x3035),
               (0x3038, 0x303C), (0x3040, 0x30FF), (0x3100, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
               (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF), (0xFF66, 0xFFDC), (0x20000, 0x3FFFF))
#: Of those, the characters that are a name on their own: ideographs ("王") and Hangul syllables ("홍");
#: a single kana is a syllable of any word.
_SYLLABLE_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def _in(c: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in ranges)


def _has_cjk(text: str) -> bool:
    return not text.isascii() and any(_in(c, _CJK_RANGES) for c in text)


@dataclass(frozen=True)
class KnownIdentifiers:
    """Identifying strings of one instance, as (folded text, label) pairs, longest first.

    ``label`` is the placeholder type ("NAME", "ID", "DATE", "PLACE"). Legacy labels written as
    "[NAME]" are accepted too.
    """

    terms: tuple[tuple[str, str], ...]
    _key: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    #: name parts matched only where the context says they are a person (:func:`find_cued`), upper-case
    cued: tuple[str, ...] = ()
    #: folded written forms of the patient's birth date (:data:`BIRTH`): never shifted in text
    births: frozenset[str] = frozenset()
    #: folded distinctive words of the patient's own address (:data:`HOME`)
    homes: frozenset[str] = frozenset()
    #: raw ASCII value -> whether it holds a term (engine.known_hit): a study's files repeat their kept
    #: text (Manufacturer, Station Name ...) and share one instance (core_from_ascii is memoised)
    hits: dict[bytes, bool] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __bool__(self) -> bool:
        return bool(self.terms or self.cued)

    @cached_property
    def name_sounds(self) -> tuple[frozenset[str], bool]:
        """Sound keys of the single-word name parts and whether one is Cyrillic or Greek
        (:func:`veil.text.romanize.name_keys`): the name looked for in the other alphabet."""
        from veil.text.romanize import name_keys

        return name_keys(tuple(t for t, label in self.terms if label == NAME and t.replace("-", "").isalpha()))

    @cached_property
    def numbers(self) -> frozenset[bytes]:
        """The patient's IDs of 6+ significant digits and dates as 8 digits (YYYYMMDD, and day or month first:
        an SR NUM "13051947" went out, red team), as ASCII without leading zeros: what a number attribute
        (IS, DS) holding one of them reads as (engine.value_action). Not a date's 6-digit forms: an exposure
        of 131147 uAs is no birth date of 13/11/47 (red team)."""
        out = set()
        for term, label in self.terms:
            if label != ID and label != DATE:
                continue
            digits = _NON_WORD.sub("", term)
            if not digits.isdigit() or len(digits.lstrip("0")) < 6:
                continue
            if label == ID or (label == DATE and term == digits and len(digits) == 8):
                out.add(digits.lstrip("0").encode())
        return frozenset(out)


@lru_cache(maxsize=4096)
def date_forms(da: str) -> frozenset[str]:
    """The written forms of a DICOM DA value people use in free text (memoised: a study's files share dates)."""
    try:
        d = date(int(da[:4]), int(da[4:6]), int(da[6:8]))
    except (ValueError, IndexError):
        return frozenset()
    m, mf = months.ABBREVIATED[d.month - 1], months.ENGLISH[d.month - 1]
    y2 = f"{d.year % 100:02d}"
    forms = {
        f"{d:%Y%m%d}", f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}", f"{d:%Y.%m.%d}", f"{d:%d%m%Y}", f"{d:%m%d%Y}",
        f"{d:%d/%m/%Y}", f"{d:%m/%d/%Y}", f"{d:%d.%m.%Y}", f"{d:%d-%m-%Y}", f"{d:%m-%d-%Y}",
        f"{d.day}/{d.month}/{d.year}", f"{d.month}/{d.day}/{d.year}", f"{d.day}/{d.month}/{y2}",
        f"{d.month}/{d.day}/{y2}", f"{d.day:02d}/{d.month:02d}/{y2}", f"{d.month:02d}/{d.day:02d}/{y2}",
        f"{d.day}.{d.month}.{d.year}", f"{d.day}-{d.month}-{d.year}", f"{d.month}-{d.day}-{d.year}",
        f"{d:%d%m%y}", f"{d:%m%d%y}", f"{d:%y%m%d}",
    }
    for mon in (m, mf):
        forms |= {
            f"{d.day}-{mon}-{d.year}", f"{d.day:02d}-{mon}-{d.year}", f"{d.day}-{mon}-{y2}", f"{d.day:02d}-{mon}-{y2}",
            f"{mon} {d.day:02d} {d.year}", f"{mon} {d.day} {d.year}", f"{mon} {d.day}, {d.year}",
            f"{d.day} {mon} {d.year}", f"{d.day:02d} {mon} {d.year}", f"{d.day}{mon}{d.year}",
            f"{d.day:02d}{mon}{d.year}", f"{d.day:02d}{mon}{y2}",
        }
    return frozenset(forms)


@lru_cache(maxsize=4096)
def birth_forms(da: str) -> frozenset[str]:
    """:func:`date_forms` and the rarer forms of the patient's birth date: other languages' and Roman months,
    the East Asian form, YY-MM-DD. Only the birth date's: a study date in such a form is one pattern detection
    replaces anyway ("13. März 2019"), and each date's forms made the identifier regex compile longer."""
    forms = set(date_forms(da))
    if not forms:
        return frozenset()
    d = date(int(da[:4]), int(da[4:6]), int(da[6:8]))
    y2 = f"{d.year % 100:02d}"
    forms.add(f"{y2}-{d:%m-%d}")
    # other languages and Roman months, day first as they write it ("13. Marz 1947", "13.XI.1947"); the
    # 2-digit year only with a full name or a Roman month of two letters or more ("13 out 47" is no date)
    for mon in months.FOREIGN[d.month - 1]:
        forms |= {f"{d.day} {mon} {d.year}", f"{d.day:02d} {mon} {d.year}", f"{d.day} {mon} {y2}"}
    for mon in months.FOREIGN_ABBREVIATED[d.month - 1]:
        forms |= {f"{d.day} {mon} {d.year}", f"{d.day:02d} {mon} {d.year}"}
    # Roman months, separators required (_compiled): "5x1953" is no date; a one-letter month only between
    # punctuation ("13.V.1947", "3-I-47" went out as written; "5 x 1953 mm" and "12 v 1950" are no dates)
    roman = months.ROMAN[d.month - 1]
    forms |= {f"{d.day} {roman} {d.year}", f"{d.day:02d} {roman} {d.year}", f"{d.day}.{roman}.{y2}",
              f"{d.day:02d}.{roman}.{y2}"}
    # East Asian: "1947年11月13日", "1947년 11월 13일"
    for m_, d_ in ((d.month, d.day), (f"{d.month:02d}", f"{d.day:02d}")):
        forms |= {f"{d.year}年{m_}月{d_}日", f"{d.year}년 {m_}월 {d_}일"}
    return frozenset(forms)


def birth_year(da: str) -> tuple[tuple[str, str], ...]:
    """The year of a birth date as a term found only after a birth cue (:data:`CUED_YEAR`): "born 1926", "YOB
    1926", "geb. 1926" gave the true year of birth beside a capped age and shifted dates (red team). Text the
    pattern detector reads finds a year after a cue whoever's it is; technical text is read for the patient's
    own identifiers only, so the birth year is one of them."""
    return ((da[:4], CUED_YEAR),) if birth_forms(da) else ()


def _values(elem: object) -> list[str]:
    v = getattr(elem, "value", None)
    if v is None or v == "":
        return []
    if isinstance(v, bytes):
        v = v.decode("latin-1", "replace").rstrip("\x00 ")
        return [s for s in v.split("\\") if s]
    if isinstance(v, (list, tuple)) or getattr(elem, "VM", 1) > 1:
        return [str(x) for x in v]  # type: ignore[union-attr]
    return [str(v)]


def _wanted(vr: str, kw: str) -> bool:
    """Whether _walk collects anything from an element of this VR and keyword (see below)."""
    return (vr == "PN" or kw in _ID_SET or kw in _PLACE_SET or kw in _DATE_SET
            or (vr == "DA" and kw.startswith("Patient")))


@lru_cache(maxsize=8192)
def dictionary_pn(tag: int) -> bool:
    """Whether the data dictionary says a public attribute is a person's name (whatever VR a file wrote it
    with: a name written as LO or UN is still a name, for the identifiers and for verify's needles)."""
    entry = DicomDictionary.get(tag)
    return entry is not None and entry[0] == "PN"


@lru_cache(maxsize=8192)
def _keyword(tag: int) -> str:
    """pydicom's keyword of a public tag, memoised (pydicom's lookup costs a few microseconds)."""
    return keyword_for_tag(tag)


@lru_cache(maxsize=4096)
def _private_dict_vr(tag: int, creator: str) -> str:
    try:
        return private_dictionary_VR(tag, creator)
    except KeyError:
        return "UN"


def _implicit_private_vr(ds: Dataset, tag: int) -> str | None:
    """The VR pydicom gives a private element read without one (implicit VR), from its block's private
    creator and pydicom's private dictionary - without converting the element, which costs a creator
    lookup per element (archives carry hundreds of private elements per file). None: let pydicom decide
    (a creator that is not plain ASCII)."""
    low = tag & 0xFFFF
    if low == 0:
        return "UL"  # group length
    if 0x10 <= low <= 0xFF:
        return "LO"  # a private creator
    if low < 0x1000:
        return "UN"
    held = ds._dict.get(BaseTag((tag & 0xFFFF0000) | (low >> 8)))
    value = getattr(held, "value", None)
    if isinstance(value, bytes) and value.isascii():
        value = value.decode("ascii")
    if not isinstance(value, str) or not value.isascii():
        return None if held is not None else "UN"
    return _private_dict_vr(tag, value.strip(" \x00"))


#: VRs whose raw bytes, when plain ASCII in a single-byte or UTF-8 character set, decode the same by hand as
#: by pydicom (checked against pydicom in tests/text/test_known.py); how pydicom splits and strips each.
_SPLIT_VRS = frozenset({"LO", "SH", "UC"})  # each value stripped
_STRIP_SPLIT_VRS = frozenset({"PN", "CS", "DA"})  # the whole value stripped, then split
_WHOLE_VRS = frozenset({"ST", "LT"})
_ASCII_SAFE = frozenset({"iso8859", "latin_1", "UTF8", "utf_8", "iso8859_2", "iso8859_3", "iso8859_4",
                         "iso_ir_126", "iso_ir_127", "iso_ir_138", "iso_ir_144", "iso_ir_148", "iso_ir_166"})


def ascii_values(raw: bytes, vr: str, encodings: str | list[str]) -> list[str] | None:
    """The values pydicom would decode from `raw` (as :func:`_values` lists them), without pydicom's
    converter and its per-element hooks and validation: most identifying values are short ASCII strings
    and a header-heavy file has dozens. None when the bytes need pydicom (non-ASCII, ISO 2022 escapes,
    a multi-byte or several character sets, another VR). `encodings` as pydicom's ``_character_set``
    gives it: a list, or an item's inherited default as one name."""
    if isinstance(encodings, str):
        encodings = [encodings]
    if len(encodings) != 1 or encodings[0] not in _ASCII_SAFE or not raw.isascii() or b"\x1b" in raw:
        return None
    if vr in _STRIP_SPLIT_VRS:
        text = raw.rstrip(b"\x00 ").decode("ascii")
        return text.split("\\") if text else []
    if vr in _SPLIT_VRS:
        values = [v.rstrip("\x00 ") for v in raw.decode("ascii").split("\\")]
        return [] if values == [""] else values
    if vr in _WHOLE_VRS:
        text = raw.decode("ascii").rstrip("\x00 ")
        return [text] if text else []
    return None


def _walk(ds: Dataset, out: list[tuple[str, str]]) -> None:
    encodings: str | list[str] | None = None
    for tag in list(ds.keys()):
        held = ds._dict.get(tag)
        vr = getattr(held, "VR", None)
        private = tag >> 16 & 1
        if vr is None and not private and tag in DicomDictionary:  # implicit VR: as pydicom decodes it
            vr = DicomDictionary[tag][0]
        elif vr is None and private:
            vr = _implicit_private_vr(ds, tag)
        kw = "" if private else _keyword(int(tag))
        if not private and vr not in (None, "PN", "SQ") and dictionary_pn(int(tag)):
            vr = "PN"  # a name written as UN or LO is still a name (the engine writes it back as PN)
            if type(held) is RawDataElement and isinstance(held.value, bytes):
                values = ascii_values(held.value, "PN", ds._character_set) if held.value.isascii() else None
                if values is None:  # decoded in the data set's character set, not as Latin-1 (red team: a
                    try:  # Cyrillic or CJK name written as LO was not found in the text)
                        values = _values(convert_raw_data_element(held._replace(VR="PN"),
                                                                  encoding=ds._character_set, ds=ds))
                    except Exception:
                        values = None
                _collect("PN", kw, values if values is not None else _values(held), out)
                continue
        if vr is not None and vr != "SQ" and not _wanted(vr, kw):
            continue  # VR known from the file and nothing to collect: leave the value undecoded
        if type(held) is RawDataElement and vr is not None and vr != "SQ" and isinstance(held.value, bytes):
            if encodings is None:
                encodings = ds._character_set
            values = ascii_values(held.value, vr, encodings)
            if values is not None:
                _collect(vr, kw, values, out)
                continue
        if type(held) is RawDataElement and vr != "SQ":
            try:  # read, not stored: the dataset stays as read (the raw path re-encodes nothing it did not change)
                elem = convert_raw_data_element(held, encoding=ds._character_set, ds=ds)
            except Exception:
                elem = ds[tag]  # as the engine's own read: pydicom raises or fixes it there
        elif private:
            try:  # a private element pydicom's dictionary calls a sequence may hold anything (implicit VR)
                elem = ds[tag]
            except Exception:
                continue  # not read: the engine decides on it (an unreadable private value is removed)
        else:
            elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value or []:
                _walk(item, out)
            continue
        _collect(elem.VR, elem.keyword, _values(elem), out)


def _collect(vr: str, kw: str, values: list[str], out: list[tuple[str, str]]) -> None:
    if vr == "PN":
        for v in values:
            out.extend(_name_terms(v))
    elif kw in _ID_SET:
        for v in values:
            out.extend(_id_terms(v, kw in _PHONE_KEYWORDS))
    elif kw in _PLACE_SET:
        for v in values:
            out.extend(_place_terms(v, home=kw == "PatientAddress"))
    elif kw in _DATE_SET or (vr == "DA" and kw.startswith("Patient")):
        for v in values:
            birth = kw == "PatientBirthDate"
            for form in (birth_forms if birth else date_forms)(v.strip()):
                out.append((form, DATE))
                if birth:
                    out.append((form, BIRTH))
            if birth:
                out.extend(birth_year(v.strip()))


# A study's files repeat the same names, IDs and places: their terms are built once per value.
@lru_cache(maxsize=8192)
def _name_terms(value: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    add_name(value, out)
    if value.isascii():
        other = detransliterated(value)
        if other is not None:
            add_name(other, out)
        return tuple(out)
    other = transliterated(value)
    if other is not None:
        add_name(other, out)
    kana = other_kana(value)
    if kana is not None:  # the other script's forms of 3 kana or more: 2 match inside ordinary words
        extra: list[tuple[str, str]] = []
        add_name(kana, extra)
        out += [(t, label) for t, label in extra if len(_NON_WORD.sub("", t)) >= 3]
    return tuple(out)


@lru_cache(maxsize=8192)
def _id_terms(value: str, phone: bool = False) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    add_id(value, out, phone)
    return tuple(out)


@lru_cache(maxsize=8192)
def _place_terms(value: str, home: bool = False) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    add_place(value, out, home)
    return tuple(out)


#: A telephone number inside a value: digits, spaces, dots, dashes, slashes, brackets, a leading "+".
_PHONE_SHAPE = re.compile(r"\+?\(?\d[\d\s()./-]{8,}\d")
#: Attributes that hold telephone numbers (their numbers' local parts are identifiers too).
_PHONE_KEYWORDS = frozenset({"PatientTelephoneNumbers", "PatientTelecomInformation", "PersonTelephoneNumbers",
                             "PersonTelecomInformation", "ReferringPhysicianTelephoneNumbers",
                             "OrderCallbackTelecomInformation"})


def add_id(value: str, out: list[tuple[str, str]], phone: bool = False) -> None:
    """An identifier, plus its digits-only and zero-stripped forms (matching ignores separators). A telephone
    attribute's (`phone`) numbers of 10 to 15 digits also give their last seven, the local number as dialled
    and written ("238-4471" of "555-238-4471" in an SR NUM or a comment went out: red team 2), also when the
    value says more ("Home: 555-238-4471 x123"). Not any ID's: an accession's last digits are no number of
    anyone's (review)."""
    s = value.strip()
    if len(s) < 3:
        return
    label = ID if any(ch.isdigit() for ch in s) else PLACE
    out.append((s, label))
    digits = re.sub(r"\D", "", s)
    if len(digits) >= 5 and digits != s:
        out.append((digits, ID))
    for m in _PHONE_SHAPE.finditer(s) if phone else ():
        number = re.sub(r"\D", "", m.group())
        if 10 <= len(number) <= 15:
            local = number[-7:]
            out += [(local, ID), (f"{local[:3]}-{local[3:]}", ID)]
    stripped = s.lstrip("0")
    if stripped != s and len(stripped) >= 4:
        out.append((stripped, ID))


def add_place(value: str, out: list[tuple[str, str]], home: bool = False) -> None:
    """An institution/address value, and its distinctive words (not "Hospital", "General", "Lane" ...).
    `home`: the patient's own address, whose words are also marked :data:`HOME`."""
    s = value.strip()
    if len(s) < 3:
        return
    out.append((s, PLACE))
    vocab = clinical_vocabulary()
    for w in re.split(r"[\s,;^/()-]+", s):
        w = w.strip(".'")
        up = fold(w)
        if len(w) >= 4 and up not in _GENERIC and up not in vocab and not w.isdigit():
            word = w.removesuffix("'s").removesuffix("'S")
            out.append((word, PLACE))
            if home:
                out.append((word, HOME))


def _clinical_word(word: str) -> bool:
    """A name part that is also an ordinary clinical English word ("Head", "Hand") is not matched on its
    own: "CT HEAD" of patient Head stays readable (the full name forms are still matched). A clinical
    term that is not English ("Bravo", a sequence name) is matched: it is more likely the name."""
    up = fold(word)
    if up not in clinical_vocabulary():
        return False
    lex = lexicon()
    return up in lex.english or up in lex.ambiguous


def add_name(pn: str, out: list[tuple[str, str]]) -> None:
    """A DICOM person name in the forms it is written in text."""
    for group in pn.split("="):  # alphabetic, ideographic, phonetic representations
        comps = [c.strip() for c in group.split("^")]
        parts = [c for c in comps if c]
        if not parts:
            continue
        out.append((group.strip("^ "), NAME))
        if _has_cjk(group):
            _add_cjk_name(comps, parts, out)
            continue
        words: list[str] = []
        for p in parts[:3]:  # family, given, middle (prefix/suffix like "Dr", "Jr" are not names)
            words += [w for w in re.split(r"[\s,]+", p) if w]
            if " " in p or "-" in p:
                out.append((p, NAME))  # "de Man", "Young-Hill" as a whole
        for w in words:
            bare = w.strip(".")
            if len(bare) >= 3 and not _clinical_word(bare):
                out.append((bare, NAME))
            elif len(bare) >= 2 and bare.isalpha():
                out.append((bare, CUED))  # "Ng", "Do", "Head": only as "Mrs Ng", "Pt Head", "Dear Do"
            if "-" in bare or "'" in bare:
                for piece in re.split(r"[-']", bare):
                    if len(piece) >= 3 and not _clinical_word(piece):
                        out.append((piece, NAME))
        if len(parts) >= 2:
            family, given = comps[0], comps[1]
            if family and given:
                gi = given[0]
                out += [(f"{given} {family}", NAME), (f"{family} {given}", NAME), (f"{family}, {given}", NAME),
                        (f"{gi}. {family}", NAME), (f"{gi} {family}", NAME), (f"{family}, {gi}.", NAME),
                        (f"{family} {gi}", NAME)]
                first = given.split()[0]
                if first != given:  # "Ng^Kim Hoa" is written "Kim Ng" too
                    out += [(f"{first} {family}", NAME), (f"{family} {first}", NAME), (f"{family}, {first}", NAME)]
                if len(comps) > 2 and comps[2]:
                    out.append((f"{given} {comps[2]} {family}", NAME))
                    out.append((f"{given} {comps[2][0]}. {family}", NAME))
                    out.append((f"{gi}.{comps[2][0]}. {family}", NAME))
                    out.append((f"{gi}.{comps[2][0]}.", NAME))
                out.append((f"{gi}.{family[0]}.", NAME))
                fi = family[0].upper()
                if fi.isalpha():  # the family initial after a title or cue: "Mrs Q.", "Dr V." (red team 2). Not
                    # two letters without stops: "Pt AF", "Patient MS" are atrial fibrillation and sclerosis (review)
                    out.append((f"{fi}.", CUED))


def _add_cjk_name(comps: list[str], parts: list[str], out: list[tuple[str, str]]) -> None:
    """An ideographic or phonetic name group ("山田^太郎", "王^小东", "홍^길동"). One or two characters make a
    family or given name there, and text runs the parts together ("山田太郎さん"): each part is a term
    whatever its length (Latin words in the group keep the 3-letter minimum), and family and given run
    together, with or without a space, in either order. No initials: a first character is not one."""
    for p in parts[:3]:
        words = [w for w in re.split(r"[\s,\u3000\u3001\u30fb]+", p) if w]
        for w in ([p] if len(words) > 1 else []) + words:
            if _has_cjk(w) or (len(w.strip(".")) >= 3 and not _clinical_word(w.strip("."))):
                out.append((w, NAME))
    family, given = comps[0], comps[1] if len(comps) > 1 else ""
    if family and given:
        out += [(family + given, NAME), (f"{family} {given}", NAME), (given + family, NAME),
                (f"{given} {family}", NAME)]


#: The top-level attributes core_identifiers reads, with the VR each is written with, in tag order:
#: Accession Number, Patient's Name, Patient ID, Patient's Birth Date, Other Patient IDs, Other Patient
#: Names, Other Patient IDs Sequence (each item's Patient ID), Patient's Birth Name, Patient's Mother's Birth
#: Name, Patient's Address. The accession number and birth date are what a site types into a local code's
#: meaning besides the name ("Order ACC5550123 dob 19471113" in an SR's content, kept with its structure under
#: the Basic Profile's D); the other names and IDs are the patient's as much as the first ones (red team: a
#: Body Part Examined "OSTROWICZ", the birth name, and a Content Label holding an ID of the sequence went
#: out); so is the patient's own address, not the institution's (fuzzing: a Scan Options "ZEPHYRWOOD" of
#: "4471 Zephyrwood Lane" went out under basic).
#: The physicians and operators of the study (Referring, Physicians of Record, Performing, Reading, Operators,
#: Requesting) and the patient's telephone numbers are as much the study's people and numbers: a site-typed
#: code meaning "CT chest - ref VRANDLEBY" went out under basic, and an SR NUM holding the phone's digits
#: under both policies (red team, this session).
#: The institution's name and address too: a site-typed code meaning "Harrowgate protocol" at Harrowgate
#: General named the site that Institution Name (E.1-1: X) is removed for (red team 2).
#: Every public person-name attribute that can stand at the top level is a person of the study too: a
#: Content Creator's, Reviewer or Consulting Physician's name typed into Software Versions ("Eclipse 16
#: Zaphriel build") or a Segment Algorithm Name went out under basic (red team 3).
_CORE_VR = {0x00080050: "SH", 0x00080080: "LO", 0x00080081: "ST", 0x00101000: "LO", 0x00101002: "SQ",
            0x00100020: "LO", 0x00100030: "DA", 0x00101040: "LO", 0x00102154: "SH"}
_CORE_VR.update((tag, "PN") for tag in (
    0x00080090, 0x0008009C, 0x00081048, 0x00081050, 0x00081060, 0x00081070, 0x00100010, 0x00101001, 0x00101005,
    0x00101060, 0x00102297, 0x00140104, 0x00142006, 0x00321032, 0x00400006, 0x00401010, 0x00402008, 0x00404037,
    0x0040A075, 0x0040A123, 0x00700084, 0x300600A6, 0x300E0008, 0x40080102, 0x4008010A, 0x4008010C, 0x40080114,
    0x40080119))
CORE_TAGS = tuple(sorted(_CORE_VR))
#: The person names that the basic check looked for first: the patient's and the study's physicians' and
#: operators'. The others (content creators, observers, reviewers ...) count when written as a person's name,
#: family^given: a Content Creator's Name "RayStation" or "Eclipse" is the software, and "RayStation" in the
#: Model Name went (review).
_FIRST_PEOPLE = frozenset({0x00080090, 0x00081048, 0x00081050, 0x00081060, 0x00081070, 0x00100010, 0x00101001,
                           0x00101005, 0x00101060, 0x00321032})
#: CORE_TAGS for membership tests (the raw path asks it of every top-level element before the last of them).
CORE_TAG_SET = frozenset(CORE_TAGS)
_OTHER_IDS = 0x00101002
_INSTITUTION = (0x00080080, 0x00080081)  # Institution Name, Institution Address
_OTHER_IDS_IMPLICIT = _OTHER_IDS | 1 << 32  # its raw value as read without VRs (core_from_ascii's key)


def core_identifiers(ds: Dataset) -> KnownIdentifiers:
    """The patient's own names, IDs, birth date, address and telephone, the accession number, the institution
    and every person named at the top level (CORE_TAGS), in the forms they are written: what allow-listed
    coded text is checked against under a policy that does not clean text (collecting every identifier of
    the instance would cost such a policy more than the rest of its work)."""
    items: list[tuple[int, bytes]] = []
    for tag in CORE_TAGS:
        held = ds._dict.get(BaseTag(tag))
        if held is None:
            continue
        value = held.value if type(held) is RawDataElement else None
        if tag == _OTHER_IDS and type(held) is RawDataElement and isinstance(value, bytes) and held.is_little_endian \
                and held.VR in (None, "SQ") and b"\x1b" not in value:
            items.append((_OTHER_IDS_IMPLICIT if held.is_implicit_VR else tag, value))  # parsed once per value
            continue
        if not isinstance(value, bytes) or not value.isascii() or b"\x1b" in value or (
                held.VR not in (None, _CORE_VR[tag])):
            return _core_decoded_memo(ds)
        items.append((tag, value))
    return core_from_ascii(tuple(items))


#: _core_decoded by what it reads (the character set's codecs and each core element's raw value, VR and
#: encoding), for the files of a study whose name is not plain ASCII ("Zoë"): a tenth of a ms per file.
_decoded_memo: dict[tuple[object, ...], KnownIdentifiers] = {}


def _core_decoded_memo(ds: Dataset) -> KnownIdentifiers:
    key: list[object] = [tuple(ds._character_set)]
    for tag in CORE_TAGS:
        held = ds._dict.get(BaseTag(tag))
        if held is None:
            continue
        if type(held) is not RawDataElement or not isinstance(held.value, bytes):
            return _core_decoded(ds)  # already converted: nothing that names it cheaply
        key.append((tag, held.VR, held.is_implicit_VR, held.is_little_endian, held.value))
    k = tuple(key)
    known = _decoded_memo.get(k)
    if known is None:
        if len(_decoded_memo) >= 4096:
            _decoded_memo.clear()
        known = _decoded_memo[k] = _core_decoded(ds)
    return known


@lru_cache(maxsize=4096)
def core_from_ascii(items: tuple[tuple[int, bytes], ...]) -> KnownIdentifiers:
    """core_identifiers of (tag, raw ASCII value) pairs (memoised: a study's files repeat them). Plain
    ASCII decodes the same in every character set pydicom knows (no escape sequences)."""
    raw: list[tuple[str, str]] = []
    for tag, value in items:
        if tag in (_OTHER_IDS, _OTHER_IDS_IMPLICIT):  # the items' Patient IDs (LO: latin-1, as the walk reads bytes)
            try:
                seq = convert_SQ(value, tag == _OTHER_IDS_IMPLICIT, True, ["iso8859"])
            except Exception:
                continue  # not parseable: the header rules decide on the sequence; nothing to look for
            _core_terms(0x00100020, [v for item in seq for v in _values(item.get(0x00100020))], raw)
            continue
        _core_terms(tag, ascii_values(value, _CORE_VR[tag], "iso8859") or [], raw)
    return known_from_terms(raw)


def _core_decoded(ds: Dataset) -> KnownIdentifiers:
    raw: list[tuple[str, str]] = []
    for tag in CORE_TAGS:
        held = ds._dict.get(BaseTag(tag))
        if held is None:
            continue
        try:
            if tag == _OTHER_IDS:
                items = ds[tag].value if ds[tag].VR == "SQ" else []
                _core_terms(0x00100020, [str(v) for item in items or [] for v in _values(item.get(0x00100020))], raw)
                continue
            elem = convert_raw_data_element(held, encoding=ds._character_set, ds=ds) if type(
                held) is RawDataElement else held
        except Exception:
            continue  # not decodable: the header rules remove it; nothing to look for
        _core_terms(tag, _values(elem), raw)
    return known_from_terms(raw)


def _core_terms(tag: int, values: list[str], out: list[tuple[str, str]]) -> None:
    for v in values:
        if _CORE_VR[tag] == "PN":
            if tag in _FIRST_PEOPLE or "^" in v.split("=")[0].strip("^ "):
                out.extend(_name_terms(v))
        elif tag == 0x00100030:
            for form in birth_forms(v.strip()):
                out += [(form, DATE), (form, BIRTH)]
            out.extend(birth_year(v.strip()))
        elif tag == 0x00101040:  # Patient's Address: the value and its distinctive words
            out.extend(_place_terms(v, home=True))
        elif tag in _INSTITUTION:  # whole in technical text, its words in a site's own code meanings
            out.extend(_place_terms(v))
        else:
            out.extend(_id_terms(v, tag == 0x00102154))  # Patient's Telephone Numbers


def collect_identifiers(ds: Dataset) -> KnownIdentifiers:
    """Every identifying value in `ds` (names, IDs, places, dates in many written forms), for text cleaning."""
    raw: list[tuple[str, str]] = []
    _walk(ds, raw)
    return known_from_terms(raw)


@lru_cache(maxsize=65536)
def _term_key(text: str) -> str | None:
    """A term as matched (folded, stripped); None when it has fewer than two word characters (one
    ideograph or Hangul syllable is enough: "王")."""
    key = fold(text).strip()
    word = _NON_WORD.sub("", key)
    return key if len(word) >= 2 or (len(word) == 1 and _in(word, _SYLLABLE_RANGES)) else None


_NON_WORD = re.compile(r"\W")


def known_from_terms(raw: list[tuple[str, str]]) -> KnownIdentifiers:
    """Build :class:`KnownIdentifiers` from (text, label) pairs (labels NAME/ID/DATE/PLACE).

    A term met under two labels keeps the first, except that any other label wins over PLACE: a patient
    named Quixandor at "Quixandor Memorial Hospital" met the institution first (tag order), and a single
    word labelled PLACE is not looked for in technical text (:func:`technical_identifiers`)."""
    seen: dict[str, str] = {}
    cued: set[str] = set()
    births: set[str] = set()
    homes: set[str] = set()
    for text, label in raw:
        if label == CUED:
            cued.add(text.upper())
            continue
        if label == BIRTH:
            births.add(fold(text).strip())
            continue
        if label == HOME:
            homes.add(fold(text).strip())
            continue
        key = _term_key(text)
        bare = label.strip("[]")
        if key is not None and (key not in seen or (seen[key] == PLACE and bare != PLACE)):
            seen[key] = bare
    terms = tuple(sorted(seen.items(), key=lambda kv: (-len(kv[0]), kv[0])))
    return KnownIdentifiers(terms, cued=tuple(sorted(c for c in cued if fold(c) not in seen)),
                            births=frozenset(births), homes=frozenset(h for h in homes if seen.get(h) == PLACE))


#: Characters of a term that are neither word characters, spaces nor ASCII punctuation: U+FFFD, '¶', the
#: '⁄' of a folded '¼' ... what a declared character set that does not match the bytes decodes a name to
#: ("Zq\ufffdxw\ufffdrth", "ZqÃ¼xwÃ¶rth"). The header value and the text decode to the same characters.
_SYMBOL = re.compile(r"[^\x00-\x7F\w\s]")


def _term_regex(term: str, label: str) -> str:
    """Regex for one folded term: any separators between its characters' runs, optional leading zeros.
    The term's own symbols (:data:`_SYMBOL`) count as separators for it: "ZQA1⁄4XWA¶RTH" is found
    as written, as the runs ZQA, 1, 4, XWA, RTH are not otherwise joined by a separator."""
    runs = re.findall(r"[A-Z]+|\d+|[^\W_]+", term)
    if not runs:
        return re.escape(term)
    if label == ID:
        # IDs: separators may appear anywhere ("4821-3977", "48 21 39 77", "9876 - 5431", "9876-\r\n5431":
        # red team), leading zeros may go - but
        # only while 4 characters remain (as add_id's zero-stripped form): "00001" is not "1"
        chars = "".join(runs)
        stripped = chars.lstrip("0")
        body = r"[\s\-_./()#:]{0,3}".join(re.escape(c) for c in (stripped if len(stripped) >= 4 else chars))
        return r"0*" + body if chars[:1].isdigit() else body
    if _has_cjk(term):  # "山田 太郎", "山田・太郎", "山田太郎": one-character runs are not initials
        return _CJK_SEP.join(re.escape(r) for r in runs)
    symbols = "".join(sorted(set(_SYMBOL.findall(term)))) if not term.isascii() else ""
    if symbols:
        return f"[\\s\\-_./,#:^{re.escape(symbols)}]*".join(re.escape(r) for r in runs)
    if all(len(r) == 1 for r in runs):  # initials "Z.Q.": the periods are required ("NO" is not "N.O.")
        return r"\.\s*".join(re.escape(r) for r in runs) + r"\."
    if label == DATE:  # between two numbers a separator is required: "1/8/31" is no "1831" (red team C:
        out = _day(runs, 0)  # a version "R03_1831" and a model "SIGNA 1831" became [DATE])
        for i, (prev, run) in enumerate(itertools.pairwise(runs), 1):
            out += (_SEP_REQUIRED if prev.isdigit() and run.isdigit() else _SEP) + _day(runs, i)
        return out
    return _SEP.join(re.escape(r) for r in runs)


_SEP_REQUIRED = r"[\s\-_./,#:^']+"  # ASCII only: a non-Latin-1 member doubled the compile time
#: A Romance language's word between a day, its month and the year ("13 de noviembre de 1947").
_CONNECTOR = r"(?:[\s.,]+(?:" + "|".join(months.CONNECTORS) + r"))?"


def _day(runs: list[str], i: int) -> str:
    """A date's run as a regex; a day of the month beside its month's name may be an ordinal: "Nov 13th 1947",
    "13th of November 1947" (red team B found them going out)."""
    run = runs[i]
    if not (run.isdigit() and len(run) <= 2 and i + 1 < len(runs) and any(r.isalpha() for r in runs)):
        return re.escape(run)
    return re.escape(run) + r"(?:ST|ND|RD|TH)?" + (r"(?:\s+(?:OF|DE))?" if runs[i + 1].isalpha() else "")


_Matchers = tuple[re.Pattern[str] | None, re.Pattern[str] | None, dict[str, str]]

#: Digits a number of the patient's needs, by label, to be found joined to letters (see _compiled): an ID's
#: digits from 6 (a shorter one is some device's counter), a date written as 8 digits.
_GLUED_DIGITS = {ID: 6, DATE: 8}


#: Name particles a surname is written with or without a space or apostrophe after: "De Luca" for DeLuca,
#: "Mc Donald", "Van der Berg" for Vanderberg, "O'Brien" for OBrien, "D'Souza" for DSouza. Longest first.
_PARTICLES = ("DELLA", "MAC", "VAN", "VON", "DER", "DEN", "DEL", "MC", "DE", "DI", "DA", "DU", "LA", "LE", "ST",
              "O", "D")
#: Hyphens as text writes them: ASCII, soft (a word processor's line-end hyphenation), Unicode hyphens, en dash.
_HYPHEN = "[-\u00ad\u2010-\u2013]"
_APOSTROPHE = "['\u2019]"


def everyday_word(word: str) -> bool:
    """An English, clinical or name-and-English word ("HIGH", "FIELD", "LIVER", "OVER"): what a name's pieces
    must not both be for a split form to be looked for ("HIGH-FIELD" of Highfield, "r/o liver" of Oliver)."""
    lex = lexicon()
    return word in lex.english or word in lex.ambiguous or word in clinical_vocabulary()


def _particle_cuts(term: str) -> list[int]:
    """Where the term may be cut after leading particles, each cut leaving 3+ letters that are not an everyday
    word: DELUCA after DE and DEL, VANDERBERG after VAN and VANDER; not DELONG ("de long axis"), OLIVER
    ("r/o liver"), STOVER ("1st over")."""
    cuts: set[int] = set()
    todo = [0]
    while todo:
        at = todo.pop()
        for p in _PARTICLES:
            end = at + len(p)
            if term.startswith(p, at) and len(term) - end >= 3 and end not in cuts and not everyday_word(term[end:]):
                cuts.add(end)
                todo.append(end)
    return sorted(cuts)


def _name_variants(term: str) -> list[str]:
    """Regexes for a name of 5+ letters (folded, letters only) as text also writes it, matched between
    non-letters (digits may touch it): joined to digits ("Quixandor2", "2QUIXANDOR"); hyphenated, also at a
    line end or with a soft hyphen ("Quix-andor", "Quixan-\\ndor"), not where both pieces are everyday words
    ("HIGH-FIELD" of Highfield, "FOR-MAN" of Forman); spaced out letter by letter ("Q u i x a n d o r",
    "Q.U.I.X.A.N.D.O.R"); split after a particle ("De Luca" for DeLuca; a one-letter one only with an
    apostrophe: "O'Brien", "D’Souza"); and, for a name in no list, with a plural or possessive ending without
    apostrophe ("QUIXANDORS") - a listed one's plural is a word or another name ("CHANGES" of Chang,
    "Philips" of Philip, "fields" of Field). Red team B found these going out in technical text and local
    Code Meanings; red team (this session) found the first version blanking "changes", "Philips", "r/o liver".
    A name split at a space elsewhere is not looked for: "FOR MAN", "HIGH FIELD" are everyday words."""
    hyphenated = re.escape(term[0])
    for i in range(1, len(term)):
        joint = "" if everyday_word(term[:i]) and everyday_word(term[i:]) else f"(?:{_HYPHEN}\\s*)?"
        hyphenated += joint + re.escape(term[i])
    lex = lexicon()
    if lex.unknown(term) and lex.unknown(term + "S") and lex.unknown(term + "ES"):
        hyphenated += "(?:E?S)?"
    out = [hyphenated]
    if term not in clinical_vocabulary() and term not in dicom_words():  # "F.L.A.I.R." is the sequence
        out.append(r"[\s.\-_]{1,2}".join(term) + r"\.?")
    cuts = _particle_cuts(term)
    if cuts:
        split = ""
        for a, b in itertools.pairwise([0, *cuts, len(term)]):
            if a == 1:  # after a one-letter particle only an apostrophe: "O'BRIEN", not "r/o liver"
                split += f"{_APOSTROPHE}?"
            elif a:
                split += f"(?:[\\s.]{{1,2}}|{_APOSTROPHE})?"
            split += re.escape(term[a:b])
        out.append(r"(?<!\d)" + split)
    return out


@lru_cache(maxsize=512)
def _compiled(terms: tuple[tuple[str, str], ...]) -> _Matchers:
    """(full-term matcher, end-of-value truncation matcher, group name -> label)."""
    if not terms:
        return None, None, {}
    by_label: dict[str, list[str]] = {}
    cjk: dict[str, list[tuple[int, str]]] = {}
    trunc: dict[str, list[str]] = {}
    glued: dict[str, list[str]] = {}
    named: list[str] = []
    cued_dates: list[str] = []
    month_dates: dict[tuple[bool, bool, str, str], list[str]] = {}
    for term, label in terms:
        if label == CUED_DATE:
            cued_dates.append(_term_regex(term, DATE))
            continue
        if label == CUED_YEAR:  # the year alone, not the start of a date ("DOB 1926-05-13", "1926年")
            cued_dates.append(re.escape(term) + r"(?!\s*[\-./]?\s*\d|\s*[年년])")
            continue
        if label == DATE:
            runs = re.findall(r"[A-Z]+|\d+|[^\W_]+", term)
            if len(runs) == 3 and runs[2].isdigit() and runs[0].isdigit() != runs[1].isdigit():
                # a date with a month's name: one alternative per day and year, its month names grouped
                # ("13 NOV|NOVEMBER|NOVEMBRE|XI ... 1947"), not one per language: the compile took twice as long
                day_first = runs[0].isdigit()
                name = runs[1] if day_first else runs[0]
                key = (day_first and name in months.ROMAN, day_first, runs[0] if day_first else runs[1], runs[2])
                month_dates.setdefault(key, []).append(name)
                continue
        digits = _NON_WORD.sub("", term)
        if digits.isdigit() and len(digits.lstrip("0")) >= _GLUED_DIGITS.get(label, 99):  # 0*1234: 4 digits
            # a long number of the patient's is found joined to letters too ("MR98765431", "98765431A",
            # "19471113T": red team B), only not inside a longer number
            glued.setdefault(label, []).append(_term_regex(term, label))
        elif label == NAME and term.isascii() and term.isalpha() and len(term) >= 5:
            named += _name_variants(term)  # joined to digits, plural, split, spaced out (red team B)
        if _has_cjk(term):
            # CJK text has no spaces between words: no word boundary around a CJK end of the term
            letters = [c for c in term if not _NON_WORD.match(c)] or [term[0]]
            before = "" if _has_cjk(letters[0]) else r"(?<![A-Z0-9])"
            after = "" if _has_cjk(letters[-1]) else r"(?![A-Z0-9])"
            cjk.setdefault(label, []).append((-len(letters), before + _term_regex(term, label) + after))
        else:
            by_label.setdefault(label, []).append(_term_regex(term, label))
        compact = re.sub(r"\W", "", term)
        if label in (NAME, ID, PLACE) and len(compact) >= 6:
            # a value cut at its VR's maximum length keeps a prefix of the identifier at its very end;
            # at least half of it, and never a clinical or DICOM word or a people's ("HEAD" of "HEADLEY", "NAME"
            # of "NAME TEXT", "BROWN" of "BROWN, ANN" in an Ethnic Group "BROWN")
            vocab = clinical_vocabulary()
            words = dicom_words()
            for n in range(max(4, (len(compact) + 1) // 2), len(compact)):
                prefix = compact[:n]
                if not (prefix in vocab or prefix in words or prefix in _DEMONYMS):
                    trunc.setdefault(label, []).append(re.escape(prefix))
    for (roman, day_first, day, year), names in month_dates.items():
        month = "(?:" + "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True)) + ")"
        if roman:  # "13.XI.1947", "13-XI-47": separators required; with a 2-digit year or a one-letter month
            # punctuation ("2 IV 90", "12 v 1950")
            sep = _SEP_REQUIRED if len(year) == 4 and all(len(n) > 1 for n in names) else r"[\-./]"
            rx = re.escape(day) + sep + month + sep + re.escape(year)
        elif day_first:  # "13th of November, 1947", "13 de noviembre de 1947"
            rx = _day([day, "M"], 0) + _SEP + month + _CONNECTOR + _SEP + re.escape(year)
        else:  # "Nov 13th, 1947", "March the 13th, 1947"
            rx = month + _SEP + r"(?:THE\s+)?" + _day(["M", day, year], 1) + _SEP_REQUIRED + re.escape(year)
        by_label.setdefault(DATE, []).append(rx)
    groups = {}
    parts = []
    for i, (label, alts) in enumerate(sorted(by_label.items())):
        g = f"k{i}"
        groups[g] = label
        parts.append(f"(?P<{g}>{'|'.join(dict.fromkeys(alts))})")  # forms of one date often give one regex
    alternatives = [r"(?<![A-Z0-9])(?:" + "|".join(parts) + r")(?![A-Z0-9])"] if parts else []
    for i, (label, alts) in enumerate(sorted(glued.items())):
        g = f"g{i}"
        groups[g] = label
        alternatives.append(r"(?<!\d)(?P<" + g + ">" + "|".join(dict.fromkeys(alts)) + r")(?!\d)")
    if cued_dates:  # the span is the date alone (group q0d), the cue stays
        groups["q0"] = DATE
        alternatives.append(r"(?<![A-Z0-9])(?P<q0>" + BIRTH_CUE + "(?P<q0d>" + "|".join(dict.fromkeys(cued_dates))
                            + r"))(?![A-Z0-9])")
    if named:
        groups["n0"] = NAME
        alternatives.append(r"(?<![A-Z])(?P<n0>" + "|".join(dict.fromkeys(named)) + r")(?![A-Z])")
    for i, (label, calts) in enumerate(sorted(cjk.items())):
        g = f"c{i}"
        groups[g] = label
        # longest first: without boundaries the first alternative that matches is taken ("山田" of "山田太郎")
        alternatives.append(f"(?P<{g}>{'|'.join(rx for _n, rx in sorted(calts, key=lambda a: a[0]))})")
    full = re.compile("|".join(alternatives))
    tparts = []
    for i, (label, alts) in enumerate(sorted(trunc.items())):
        g = f"t{i}"
        groups[g] = label
        uniq = sorted(set(alts), key=len, reverse=True)
        tparts.append(f"(?P<{g}>{'|'.join(uniq)})")
    tail = re.compile(r"(?<![A-Z0-9])(?:" + "|".join(tparts) + r")\s*$") if tparts else None
    return full, tail, groups


_ORDINAL_RUNS = frozenset({"ST", "ND", "RD", "TH", "OF", *months.CONNECTORS})


@lru_cache(maxsize=4096)
def _date_key(text: str) -> tuple[str, ...]:
    """A written date as its runs of digits (leading zeros gone) and month letters, without ordinal endings
    or "of": "13th of Nov, 1947", "13 NOV 1947" and "13-Nov-1947" are one key."""
    runs = re.findall(r"[A-Z]+|\d+", fold(text))
    return tuple(r.lstrip("0") or "0" if r.isdigit() else r for r in runs if r not in _ORDINAL_RUNS)


@lru_cache(maxsize=512)
def _birth_keys(births: frozenset[str]) -> frozenset[tuple[str, ...]]:
    return frozenset(_date_key(b) for b in births)


def is_birth(text: str, known: KnownIdentifiers) -> bool:
    """Whether a DATE span's text is the patient's birth date in any form the matcher accepts (other
    separators "13 11 1947", an ordinal "Nov 13th 1947", a time after it): such a span is replaced, never
    shifted (:data:`BIRTH`). The span was matched with any separators between a form's runs, so comparing
    it to the forms as written let "DOB 13 11 1947" be shifted into a new, exact birth date. The span must
    begin with it: a study date and time "2011-01-05 13:11:47" holds the runs of a birth on 13/11/47."""
    if not known.births:
        return False
    key = _date_key(_WEEKDAY.sub("", text, count=1))  # "born Tuesday 13 May 1947" (review: it was shifted)
    if any(key[:len(b)] == b for b in _birth_keys(known.births)):
        return True
    # a date and time written as one number, "194705131200" (DT's YYYYMMDDHHMM): its first run is an 8-digit
    # form of the birth date (7 digits once a leading zero is gone) and a time, HH, HHMM or HHMMSS (red team:
    # shifted, it gave the exact age beside shifted study dates; review: "2022010" of 02/02/2010 began the
    # study date 20220105, so what follows must read as a time)
    first = key[0] if key else ""
    return first.isdigit() and any(len(b) == 1 and len(b[0]) in (7, 8) and first.startswith(b[0])
                                   and _is_time(first[len(b[0]):]) for b in _birth_keys(known.births))


#: A weekday before a date, as the pattern detector takes it into a DATE span (months.WEEKDAY, as patterns._WD).
_WEEKDAY = re.compile(rf"^\s*{months.WEEKDAY}\.?,?\s+")


def _is_time(digits: str) -> bool:
    """HH, HHMM or HHMMSS of a valid time (a leap second allowed)."""
    if len(digits) not in (2, 4, 6):
        return False
    parts = [int(digits[i:i + 2]) for i in range(0, len(digits), 2)]
    return parts[0] < 24 and all(p < 60 for p in parts[1:2]) and all(p <= 60 for p in parts[2:])


@lru_cache(maxsize=512)
def _matchers(terms: tuple[tuple[str, str], ...]) -> tuple[tuple[_Matchers, ...], ...]:
    """The compiled matchers of a term set: its technical part (:func:`_technical`) and the rest, compiled
    apart. Allow-listed technical text is checked for the technical part alone and free text for both, so
    the large regex is compiled once per identifier set, not twice: with today's name and date forms a
    compile took ~13 ms, and the header-heavy corpus compiled 200 (2.6 s of 5,000 files' 10). Each part is
    its regexes by lifetime (:func:`_by_lifetime`), scanned as one (:func:`_scan`)."""
    base = _technical(terms)
    kept = set(base)
    parts = (base,) if base == terms else (base, tuple(t for t in terms if t not in kept))
    return tuple(tuple(_compiled(group) for group in _by_lifetime(part)) for part in parts)


def _by_lifetime(terms: tuple[tuple[str, str], ...]) -> tuple[tuple[tuple[str, str], ...], ...]:
    """A term set as its patient-long part (names, dates: nearly all of the compile) and its IDs, compiled
    apart: a patient's studies differ in their accession numbers, and one big regex per term set compiled the
    names and birth-date forms again for every study (the header-heavy corpus: 100 compiles of ~7 ms for 50
    patients). The two are scanned as the one regex they replace (:func:`_scan`)."""
    ids = tuple(t for t in terms if t[1] == ID)
    if not ids or len(ids) == len(terms):
        return (terms,)
    return tuple(t for t in terms if t[1] != ID), ids


#: The blocks of a :func:`_compiled` regex in their order, by their groups' first letter: known terms (k),
#: long numbers joined to letters (g), cued dates (q), name variants (n), CJK terms (c).
_BLOCKS = "kgqnc"


def _scan(patterns: list[tuple[re.Pattern[str], dict[str, str]]],
          folded: str) -> list[tuple[re.Match[str], dict[str, str]]]:
    """Matches of several :func:`_compiled` regexes as the one regex of all their terms finds them: the
    leftmost next, of those starting there the one whose alternative comes first in that regex (its blocks
    in :data:`_BLOCKS` order, each block's groups by label), and the scan goes on after its end. Run apart,
    a match of one could start inside another's and run past the start of the next identifier ("ID 01-05-16
    2001년 05월 16일": a birth-date form "05-16 2001" inside the ID ate the Korean birth date's start, which
    stayed in clear), and overlapping spans merged into one DATE span shifted only its first date (red team
    on the split)."""
    if len(patterns) == 1:
        rx, groups = patterns[0]
        return [(m, groups) for m in rx.finditer(folded)]
    out: list[tuple[re.Match[str], dict[str, str]]] = []
    ahead = [rx.search(folded) for rx, _g in patterns]
    while True:
        nxt = [(m.start(), _BLOCKS.index((m.lastgroup or "k")[0]), patterns[i][1][m.lastgroup or ""], i)
               for i, m in enumerate(ahead) if m is not None]
        if not nxt:
            return out
        best = min(nxt)[3]
        m = ahead[best]
        assert m is not None
        out.append((m, patterns[best][1]))
        pos = m.end() if m.end() > m.start() else m.end() + 1
        for i, other in enumerate(ahead):
            if other is not None and other.start() < pos:
                ahead[i] = patterns[i][0].search(folded, pos)


def has_known(folded: str, known: KnownIdentifiers) -> bool:
    """Whether :func:`find_known` would find anything in `folded` (one search, no spans built)."""
    if not known.terms:
        return False
    return any((full is not None and full.search(folded)) or (tail is not None and tail.search(folded))
               for part in _matchers(known.terms) for full, tail, _groups in part)


#: A CamelCase join: a lower-case letter then a capital ("QuixandorNet", "xQuixandor"), or the last capital of
#: an acronym before a capitalised word ("CNNQuixandor", "QUIXANDORNet": review). The same joins as
#: veil.text.names reads a CamelCase word's parts by.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def camel_pieces(value: str) -> list[tuple[int, str]]:
    """The pieces of `value` between CamelCase joins with their offsets, or [] when it has none. A name
    glued into a model or algorithm name ("QuixandorNet", "VrandlebySeg v1" in Software Versions) went out:
    a term must not run on into letters ("Head" is no name in "Headache"), and here the case says where
    the name ends (red team 3)."""
    cuts = [m.start() for m in _CAMEL.finditer(value) if not _PARTICLE.search(value, 0, m.start())]
    if not cuts:
        return []
    bounds = [0, *cuts, len(value)]
    return [(a, value[a:b]) for a, b in itertools.pairwise(bounds)]


#: A name's particle right before a CamelCase join: "McDonald", "DiGeorge", "LeFort", "MacLeod" are one word.
_PARTICLE = re.compile(r"(?<![A-Za-z])(?:Mc|Mac|Di|De|Le|La|Da|Du|Van|Von|Fitz|O|D)$")


def find_known(folded: str, known: KnownIdentifiers, *, truncated: bool = True) -> list[Span]:
    """Spans of the folded value where a known identifier (or, with `truncated`, its truncated form at the
    end: a value cut at its VR's maximum length) occurs."""
    if not known.terms:
        return []
    out: list[Span] = []
    for part in _matchers(known.terms):
        for m, groups in _scan([(full, groups) for full, _tail, groups in part if full is not None], folded):
            g = m.lastgroup or ""
            out.append(Span(m.start("q0d") if g == "q0" else m.start(), m.end(), groups[g]))
        if not truncated:
            continue
        tails = [(tm, groups) for _full, tail, groups in part if tail is not None
                 for tm in [tail.search(folded)] if tm is not None]
        if tails:  # the leftmost, as one tail regex of the part finds it
            tm, groups = min(tails, key=lambda t: (t[0].start(), t[1][t[0].lastgroup or ""]))
            end = tm.end()
            while end > tm.start() and folded[end - 1].isspace():
                end -= 1
            out.append(Span(tm.start(), end, groups[tm.lastgroup or ""]))
    return out


#: Words before a name part that say it is the person: titles and salutations in any case, and the
#: ones that are also imaging words ("MR HEAD", "DR HAND", "PT" for prothrombin time) only as written in
#: running text ("Mr", "Dr", "Pt", "patient").
_CUE_WORD = (r"(?:(?i:MRS|MISS|MX|DEAR|MME|MADAME|HERR|FRAU|SRA|SENORA)"
             r"|Mr|Dr|Ms|Prof|Pt|pt|Patient|patient)")


@lru_cache(maxsize=512)
def _cued_regex(cued: tuple[str, ...]) -> re.Pattern[str]:
    # the part starts with a capital as written ("Pt Head reports", not "pt head CT"); not "Patient Head First"
    alts = "|".join(re.escape(p[0]) + "(?i:" + re.escape(p[1:]) + ")" for p in sorted(cued, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?<!\d\s){_CUE_WORD}(?:[.:]\s*|\s+)(?:{_CUE_WORD}\.?\s+)?"
                      rf"(?P<n>{alts})(?!\w)(?!\s+(?i:first|feet)\b)")


def find_cued(value: str, known: KnownIdentifiers) -> list[Span]:
    """NAME spans of the patient's own short or clinical-word name parts ("Ng", "Do", "Head") where a
    title or cue right before says they are the person: "Mrs Head called", "Pt Ng reports", "Dear Do,".
    On their own such parts are not looked for ("CT chest head", "NG tube", "do not"). Run on the
    value as written (case says "Mr Head" from "MR HEAD"), as name detection, not in allow-listed text."""
    if not known.cued:
        return []
    return [Span(m.start("n"), m.end("n"), NAME) for m in _cued_regex(known.cued).finditer(value)]


#: Single words that are DICOM's own vocabulary: the words of the data dictionary's attribute names.
@lru_cache(maxsize=1)
def dicom_words() -> frozenset[str]:
    """Upper-case words of the data dictionary's attribute names ("NAME", "TEXT", "CODE", "IMAGE" ...)."""
    return frozenset(w.upper() for entry in DicomDictionary.values() for w in re.findall(r"[A-Za-z]{2,}", entry[2]))


#: Peoples and ethnic groups, as Ethnic Group and other coded text name them; several are common surnames.
_DEMONYMS = frozenset([
    "AFRICAN", "ALASKA", "AMERICAN", "ARAB", "ASIAN", "BANGLADESHI", "BLACK", "BRITISH", "BROWN", "CARIBBEAN",
    "CHINESE", "CUBAN", "DANISH", "DUTCH", "ENGLISH", "FILIPINO", "FINNISH", "FRENCH", "GERMAN", "GREEK", "HAWAIIAN",
    "HISPANIC", "INDIAN", "IRISH", "ISLANDER", "ITALIAN", "JAPANESE", "JEWISH", "KOREAN", "LATINA", "LATINO",
    "MAORI", "MEXICAN", "MIXED", "NATIVE", "NIGERIAN", "NORWEGIAN", "PACIFIC", "PAKISTANI", "PERSIAN", "POLISH",
    "PORTUGUESE", "ROMA", "RUSSIAN", "SCOTS", "SCOTTISH", "SOMALI", "SPANISH", "SWEDISH", "THAI", "TURKISH",
    "VIETNAMESE", "WELSH", "WHITE",
])


def _place_word_counts(word: str, home: bool, places: bool) -> bool:
    """Whether a single word of a place value is looked for in technical text. Never an everyday or
    clinical word ("Nuclear Medicine" of Penn Medicine, "MAJOR" of a Military Rank, "CREST" of Crest Drive:
    review). In a site's own code meanings (`places`) any other word; elsewhere a word of the patient's own
    address that names no town of the gazetteer - a street's name - ("Boston Scientific", "Aurora",
    "Mobile DaRt" for patients living there: review)."""
    if everyday_word(word):
        return False
    return places or (home and word not in lexicon().places)


@lru_cache(maxsize=512)
def _technical(terms: tuple[tuple[str, str], ...], homes: frozenset[str] = frozenset(),
               places: bool = False) -> tuple[tuple[str, str], ...]:
    vocab = clinical_vocabulary()
    words = dicom_words()
    out = []
    for term, label in terms:
        single = re.search(r"[\s\-_./,#:^]", term) is None
        if single and label == PLACE and not _place_word_counts(term, term in homes, places):
            continue  # a word of the institution's name ("SYSTEMS", "TOSHIBA")
        if single and label == NAME and (term in vocab or term in words or term in _DEMONYMS):
            # a name part that is a term ("NAME", "TEXT", "OB") or a people's name ("IRISH", "BLACK": Ethnic
            # Group "White Irish", "Black Caribbean" of patients Irish and Black, red team): its full-name
            # forms still count. Not every everyday word: "CT HEAD KING" in a local meaning is patient King
            continue
        digits = _NON_WORD.sub("", term)
        if label == ID and digits.isdigit() and len(digits.lstrip("0")) < 5:
            continue  # a short number (an accession "690", "1024"): model numbers and versions have them too
        runs = re.findall(r"\d+", term)
        if label == DATE and digits.isdigit() and (len(digits) < 8 if len(runs) == 1 else max(map(len, runs)) < 4):
            # a date with a 2-digit year ("5.5.90", "050590"): versions and serials read alike - only
            # after a birth cue ("DOB 05/05/90", red team)
            out.append((term, CUED_DATE))
            continue
        out.append((term, label))
    return tuple(out)


def technical_identifiers(known: KnownIdentifiers, *, places: bool = False,
                          homes: bool = True) -> KnownIdentifiers:
    """The identifiers allow-listed technical text (Manufacturer, Code Meaning, Beam Name ...) is checked
    for: names, IDs, dates, whole multi-word place values and the distinctive words of the patient's own
    address (:data:`HOME`: "Zephyrwood" of "4471 Zephyrwood Lane" in a local code meaning "from
    Zephyrwood Lane" went out, red team). `places`: every single place word too, for a site's own text (a
    local code's meaning "Harrowgate protocol" at Harrowgate General names the site, which PS3.15 E.1-1
    removes with Institution Name, X). `homes` False: not the address's words either, for what names the
    equipment (Manufacturer, Model Name, Software Versions: a vendor's or product's word is a town's or
    street's too). Never an everyday word (:func:`_place_word_counts`). Not otherwise a single word of the
    institution's name ("Sutter Health Systems" is no reason to touch "GE MEDICAL SYSTEMS") nor a name part that is
    a clinical or DICOM word on its own (a person called Name does not make "Recording Observer's Name"
    a name), nor one that is a people's name ("Black Caribbean", "White Irish" in the Ethnic Group of
    patients Black and Irish): such words in coded text say the same thing for every patient. Nor a date
    written with a 2-digit year: a software version "5.5.90" or a kernel "1-1-10" is no birth date (red
    team C)."""
    tech = _technical_known(known.terms, known.homes, homes, places)
    return known if tech.terms == known.terms else tech


@lru_cache(maxsize=512)
def _technical_known(terms: tuple[tuple[str, str], ...], homes: frozenset[str], use_homes: bool,
                     places: bool) -> KnownIdentifiers:
    """technical_identifiers' set, one object per term set: its caches (the raw values' hits, the names'
    sound keys) last across the values and files of a study instead of being built again for each value."""
    return KnownIdentifiers(_technical(terms, homes if use_homes else frozenset(), places), homes=homes)
