"""Clean free text: find identifying spans, replace them with typed placeholders, keep clinical words.

PS3.15 E.3.4 (Clean Descriptors Option) and E.3.5 (Clean Structured Content Option) ask that
descriptions, comments and SR text be "replaced with values of similar meaning that contain no
identifying information" - most tools leave this to the user; Veil does it here. Three detectors run
over each value and their spans are merged:

1. :mod:`veil.text.known` - values of this patient's own headers in every written form;
2. :mod:`veil.text.patterns` - dates (with their times), phones, e-mail, URLs, IPs, addresses/ZIP,
   SSN-/MRN-like numbers, ages over 89;
3. :mod:`veil.text.names` - person and place names never seen in the headers.

Each merged span becomes ``[NAME]``, ``[DATE]``, ``[ID]`` ... so "CT CHEST for Quixworth" keeps its
meaning as "CT CHEST for [NAME]". Dates are shifted instead when the caller gives the patient's offset
(``shift_days``; the header engine passes the same keyed offset it applies to DA/DT values), so
intervals written in a report survive; a year written as a date ("in 2018", "spring 2019") moves by the same
offset in whole years. A date or year of birth is never shifted. Ages over 89 become "90+" (HIPAA Safe
Harbor), in digits, words and other languages. Cleaning is a
pure function of its inputs: deterministic, and safe to run in any worker.
"""

from __future__ import annotations

from veil.text.known import (
    KnownIdentifiers,
    after_birth_cue,
    camel_pieces,
    collect_identifiers,
    everyday_word,
    find_cued,
    find_known,
    fold,
    fold_map,
    is_birth,
    plain_ascii,
)
from veil.text.names import TITLES, find_names
from veil.text.patterns import find_patterns, shift_date_text
from veil.text.romanize import find_other_script
from veil.text.spans import AGE, DATE, NAME, Span, merge

__all__ = ["KnownIdentifiers", "clean_label", "clean_text", "collect_identifiers", "detect", "fold", "fold_map"]


def detect(value: str, known: KnownIdentifiers | None = None, *, names: bool | str = True,
           patterns: bool = True, rt: bool = False) -> list[Span]:
    """Merged identifying spans of `value`, in order. `names=False` skips header-free name detection
    (and the patient's own name parts found by their context, :func:`find_cued`); `names="listed"` does not
    take a word in no list for a name on its own (:func:`find_names` `unknown_words`), for the meaning of a
    local procedure code; `patterns=False` skips the patterns (dates, IDs, phones ...); `rt`: the value is an
    RT label (ROI Name, Beam Name ...) whose TG-263 words are anatomy (:func:`find_names` `rt`)."""
    spans: list[Span] = []
    if known is not None and known.terms:
        spans += _phrase_says_word(value, _case_says_word(value, _find_known(value, known)))
        spans += find_other_script(value, *known.name_sounds)
    if patterns:
        spans += find_patterns(value)
    if names:
        spans += find_names(value, unknown_words=names != "listed", rt=rt)
        if known is not None and known.cued:
            spans += find_cued(value, known)
    return merge(spans)


def _case_says_word(value: str, spans: list[Span]) -> list[Span]:
    """The known-identifier spans without those that case says are words: in text written in mixed case, a
    name part that is an everyday word written all in lower case ("findings may represent", "bladder wall"
    for patients May and Wall: red team) is the word. Names in such text are capitalised."""
    if not any(s.label == NAME for s in spans) or value.upper() == value or value.lower() == value:
        return spans
    return [s for s in spans if not (s.label == NAME and value[s.start:s.end].islower()
                                     and everyday_word(fold(value[s.start:s.end])) and not _cued(value, s.start))]


#: Words after which a word is the person, whatever its case: titles (names.TITLES) and "pt white",
#: "Patient: white", "by white", "Dear rose" (red team D: the lower-case rule let them through).
_PERSON_CUES = TITLES | {"PT", "PTS", "PATIENT", "PATIENTS", "BY", "DEAR", "FOR", "TO", "FROM", "WITH", "PER", "CC",
                         "ATTN", "NAME", "HI", "HELLO", "SIGNED", "CALLED", "TOLD", "INFORMED", "CONTACTED",
                         "CONTACT", "PATIENT'S", "PT'S"}
#: Characters around a span its neighbouring words are looked for in (not the whole value, once per span).
_NEAR = 48


def _word_before(value: str, start: int) -> str:
    """The word right before `start` (spaces, a colon or a comma between), upper case without punctuation."""
    before = value[max(0, start - _NEAR):start].rstrip(" :,-").split()
    return fold(before[-1].strip(".:,;()-_")) if before else ""


def _cued(value: str, start: int) -> bool:
    """Whether the word before `start` names a person next."""
    return _word_before(value, start) in _PERSON_CUES


#: Imaging phrases whose words are also surnames (Long, White, Field, Black, Wall, Flair, Dixon ...): in
#: one of them the word is the phrase's, not the patient's name (red team: "CINE [NAME] AXIS" for patient
#: Long, "B0 [NAME] MAP" for Field, "AX T2 [NAME]" for Flair, "[NAME] BLOOD T1" for Black).
TECHNICAL_PHRASES = frozenset({
    ("LONG", "AXIS"), ("SHORT", "AXIS"), ("WHITE", "MATTER"), ("GRAY", "MATTER"), ("GREY", "MATTER"),
    ("BLACK", "BLOOD"), ("BRIGHT", "BLOOD"), ("WHITE", "BLOOD"), ("DARK", "BLOOD"), ("FIELD", "MAP"),
    ("FIELD", "MAPPING"), ("FIELD", "STRENGTH"), ("B0", "FIELD"), ("B1", "FIELD"),
    ("FIELD", "ECHO"), ("CROSS", "SECTION"), ("CROSS", "SECTIONAL"), ("CROSS", "TABLE"), ("WALL", "MOTION"),
    ("WALL", "THICKENING"), ("WALL", "THICKNESS"), ("BLADDER", "WALL"), ("CHEST", "WALL"), ("ABDOMINAL", "WALL"),
    ("VESSEL", "WALL"), ("SWAN", "NECK"), ("SWAN", "GANZ"), ("LITTLE", "FINGER"), ("LITTLE", "TOE"),
    ("T2", "FLAIR"), ("T1", "FLAIR"), ("AX", "FLAIR"), ("SAG", "FLAIR"), ("COR", "FLAIR"), ("FLAIR", "AX"),
    ("FLAIR", "SAG"), ("FLAIR", "COR"), ("3D", "FLAIR"), ("VIBE", "DIXON"), ("DIXON", "WATER"), ("DIXON", "FAT"),
    ("DIXON", "OPP"), ("T1", "DIXON"), ("T2", "DIXON"),
    ("YOUNG", "MODULUS"), ("BELL", "PALSY"), ("BELLS", "PALSY"), ("SKIN", "MARK"),
    ("BONE", "MARROW"), ("HIGH", "FIELD"), ("LOW", "FIELD"), ("FULL", "FIELD"), ("SMALL", "FIELD"),
})


def _phrase_says_word(value: str, spans: list[Span]) -> list[Span]:
    """The known-identifier spans without a lone name word that makes an imaging phrase with the word before
    or after it (:data:`TECHNICAL_PHRASES`). The patient's full name forms are never a lone word."""
    if not spans:
        return spans
    out = []
    for s in spans:
        word = fold(value[s.start:s.end])
        if s.label == NAME and word.isalnum():
            prev = _word_before(value, s.start) if value[s.start - 1:s.start].isspace() else ""
            after = value[s.end:s.end + _NEAR].split()
            nxt = fold(after[0].strip(".,:;()-_")) if after and value[s.end:s.end + 1].isspace() else ""
            if ((prev, word) in TECHNICAL_PHRASES or (word, nxt) in TECHNICAL_PHRASES) and prev not in _PERSON_CUES:
                continue
        out.append(s)
    return out


def _find_known(value: str, known: KnownIdentifiers) -> list[Span]:
    """Known identifiers, matched on the folded text and reported in offsets of `value`. Folding may change
    the length ('ß' is 'SS', 'ﬃ' is 'FFI', a decomposed accent goes): each folded span is mapped back to
    the original characters it comes from, a partly covered character wholly included."""
    if plain_ascii(value):
        found = find_known(value.upper(), known)
    else:
        folded, starts, ends = fold_map(value)
        found = [Span(starts[s.start], ends[s.end - 1], s.label) for s in find_known(folded, known) if s.end > s.start]
    for at, piece in camel_pieces(value):  # "QuixandorNet": the name ends where the case changes
        found += [Span(at + s.start, at + s.end, s.label) for s in _find_known(piece, known)
                  if _glued_name(piece[s.start:s.end])]
    return found


def _glued_name(text: str) -> bool:
    """Whether a known term found in a CamelCase piece reads as a name there: four letters or more and no
    everyday word ("BrightSpeed", "SunCHECK", "GoldSeal", "IsoVue" of patients Bright, Sun, Gold, Vue: review)."""
    return sum(c.isalpha() for c in text) >= 4 and not everyday_word(text.upper())


def clean_text(value: str, known: KnownIdentifiers | None = None, *, shift_days: int | None = None,
               names: bool | str = True, patterns: bool = True, rt: bool = False) -> tuple[str, int]:
    """Return `value` with identifying spans replaced, and how many spans were replaced.

    ``shift_days``: move unambiguous dates by this many days (years written as dates by as many whole years)
    instead of replacing them by ``[DATE]`` - not the patient's birth date (``known.births``) nor a date after a
    birth cue, which are replaced.
    ``names``/``patterns``/``rt``: as :func:`detect`.
    """
    return _replaced(value, detect(value, known, names=names, patterns=patterns, rt=rt), known, shift_days)


def clean_label(value: str, known: KnownIdentifiers | None) -> tuple[str, int]:
    """A vendor's label kept by a safe-private dictionary (Retain Safe Private, PS3.15 E.3.10): the patient's
    own identifiers, patterns (a phone, a date), and a listed name only after a title. Read for every listed
    name, fonts and filters became people ("Lucida Grande", "Gill Sans", interpolation "Mitchell": red team
    D); read for the technical identifiers only, "pt white fse" kept the patient's surname."""
    spans = detect(value, known, names=False)
    spans += [s for s in find_names(value, unknown_words=False) if _word_before(value, s.start) in TITLES]
    return _replaced(value, merge(spans), known, None)


def _replaced(value: str, spans: list[Span], known: KnownIdentifiers | None,
              shift_days: int | None) -> tuple[str, int]:
    if not spans:
        return value, 0
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(value[pos:s.start])
        text = value[s.start:s.end]
        birth = shift_days is not None and s.label == DATE and _birth(value, s.start, text, known)
        parts.append(_replacement(text, s.label, None if birth else shift_days))
        pos = s.end
    parts.append(value[pos:])
    return "".join(parts), len(spans)


def _birth(value: str, start: int, text: str, known: KnownIdentifiers | None) -> bool:
    """Whether the DATE span `text` at `start` is a date or year of birth, replaced and never shifted: the
    patient's own birth date in any form (:func:`is_birth`), or any date a birth cue comes right before ("born
    1931", "DOB: 13/05/1947" with no birth date in the header; :func:`after_birth_cue`)."""
    return (known is not None and is_birth(text, known)) or after_birth_cue(value, start)


def _replacement(text: str, label: str, shift_days: int | None) -> str:
    if label == AGE:
        return "90+"
    if label == DATE and shift_days is not None:
        shifted = shift_date_text(text, shift_days)
        if shifted is not None:
            return shifted
    return f"[{label}]"
