"""The medical/imaging allow-list and the offline name and place lists, loaded once per process.

PS3.15 E.3.4/E.3.5 want descriptors cleaned so that they keep their meaning: "CT CHEST W/O CONTRAST",
"T1 MPRAGE SAG" and "L knee" must survive even though "Chest", "Sag" or "Knee" can be surnames. The
allow-list (``data/vocabulary.txt``, drug names ``data/drugs.txt``, German/French/Spanish/Italian
descriptor and ECG words ``data/descriptors_intl.txt``), the radiotherapy structure and beam names
(``data/rt_nomenclature.txt``, written from AAPM TG-263) and the eponyms (``data/eponyms.txt``) are Veil's
own; the name lists are derived from public-domain US Census 1990 name files and GeoNames city names (see
:mod:`veil.text._build_lists` for provenance and licences). Everything ships inside the package: nothing
is downloaded at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources


def _lines(name: str) -> list[str]:
    text = resources.files("veil.text").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@dataclass(frozen=True)
class Lexicon:
    """Upper-case word sets used by name/place detection."""

    vocabulary: frozenset[str]  # clinical/imaging words: never a name without a strong cue
    first: frozenset[str]  # first names
    surnames: frozenset[str]
    places: frozenset[str]  # single-word city names
    multi_places: dict[str, tuple[tuple[str, ...], ...]]  # first word -> multi-word city names (as words)
    ambiguous: frozenset[str]  # names that are also ordinary English words ("May", "Brown", "Reading")
    english: frozenset[str]  # other English words: a capitalised word in none of these sets is "unknown"
    eponyms: frozenset[str] = frozenset()  # "GLEASON", "FAZEKAS": every word of data/eponyms.txt
    #: eponyms that are also common surnames ("GLEASON", "PARKINSON"): a name unless the text shows the eponym
    #: (a head noun or a number after it, a clinical descriptor), see :mod:`veil.text.names`
    surname_eponyms: frozenset[str] = frozenset()
    #: foreign descriptor words and drug names that are also surnames ("KIEFER", "TESTA", "HERZ"): clinical
    #: in a short descriptor only ("CT Kiefer"), not in :attr:`vocabulary` ("Herrn Kiefer", "Dott. Testa")
    descriptor_words: frozenset[str] = frozenset()
    foreign: frozenset[str] = frozenset()  # every German/French/Spanish/Italian descriptor word: a name after a title
    contextual: frozenset[str] = frozenset()  # descriptor_words | surname_eponyms: words that need the context
    #: descriptor_words from data/drugs.txt ("TICE"): clinical before another drug or clinical word ("Tice BCG")
    drug_words: frozenset[str] = frozenset()
    #: eponym pairs of the two-word hyphenated eponyms ("GREULICH-PYLE"): also one eponym when written
    #: "Greulich and Pyle", see :mod:`veil.text.names`
    eponym_pairs: frozenset[tuple[str, str]] = frozenset()
    #: radiotherapy words of data/rt_nomenclature.txt that are also people's names ("CARINA", "VENA", "TANG",
    #: "MANTLE", "COUCH", "MASK"): clinical in an RT label only (:func:`rt_lexicon`); the list's other words
    #: ("SPINALCORD", "CHESTWALL", "SUBMAND") are in :attr:`vocabulary`
    rt_words: frozenset[str] = frozenset()

    def unknown(self, word: str) -> bool:
        """True for an alphabetic word in no list (not English, not clinical, not a known name/place)."""
        return not (word in self.english or word in self.vocabulary or word in self.first or word in self.surnames
                    or word in self.places or word in self.ambiguous or word in self.eponyms)

    def eponym(self, word: str) -> bool:
        """An eponym that is not a name on its own ("FAZEKAS", not the surname "GLEASON"), or a hyphenated
        one ("OSGOOD-SCHLATTER", "CHURG-STRAUSS", "POST-WHIPPLE")."""
        if word in self.eponyms:
            return word not in self.surname_eponyms
        parts = [p for p in word.split("-") if p not in _EPONYM_PREFIXES]
        return "-" in word and bool(parts) and all(p in self.eponyms for p in parts)


#: Prefixes of a hyphenated eponym: "post-Whipple anatomy", "pre-Whipple".
_EPONYM_PREFIXES = frozenset(["POST", "PRE"])


@cache
def clinical_vocabulary() -> frozenset[str]:
    """The medical/imaging allow-list alone (a few ms): what the known-identifier terms need, without
    the name, place and English lists (~70 ms) a worker that never detects names need not load."""
    return _own_vocabulary() | _words("drugs.txt") | _words("descriptors_intl.txt")


@cache
def _own_vocabulary() -> frozenset[str]:
    """Medical terms and Veil's imaging allow-list: clinical wherever they are written."""
    return frozenset(_lines("medical_terms.txt")) | _words("vocabulary.txt")


@cache
def code_meanings() -> frozenset[str]:
    """Code meanings of the public coding schemes' concepts that pydicom knows (``code_meanings.txt``, upper
    case): the scheme's own words, not text a site typed."""
    return frozenset(_lines("code_meanings.txt"))


#: An eponym among this many most frequent surnames is a name unless the text shows the eponym.
COMMON_SURNAMES = 5000


@cache
def _words(name: str) -> frozenset[str]:
    """Upper-case words of a word-list file (several words a line, '#' comments)."""
    return frozenset(w.upper() for line in _lines(name) for w in line.split("#", 1)[0].split())


#: A word of an RT name as :mod:`veil.text.names` reads it: a letter run ("Glnd_Submand_L" is GLND, SUBMAND, L;
#: "SpinalCord" one word), or two single letters joined by "&" ("H&N").
_RT_WORD = re.compile(r"(?<![^\W\d_])[^\W\d_]&[^\W\d_](?![^\W\d_])|[^\W\d_]+")


@cache
def rt_nomenclature() -> frozenset[str]:
    """Upper-case words of the radiotherapy structure and beam names (``data/rt_nomenclature.txt``: AAPM
    TG-263 structure names, beam and technique words), read as text is read for names. One-letter words
    ("L", "R", "I" of "V_Venacava_I") are left out: in text they are initials."""
    return frozenset(w.upper() for line in _lines("rt_nomenclature.txt") for entry in line.split("#", 1)[0].split()
                     for w in _RT_WORD.findall(entry) if len(w) > 1)


@cache
def lexicon() -> Lexicon:
    ranked = _lines("surnames.txt")
    surnames = frozenset(ranked)
    first = frozenset(_lines("first_names.txt"))
    # a drug or foreign descriptor word that is also a person's name ("Kiefer", "Testa", "Tice") is clinical
    # only in a descriptor; a word Veil's own lists also hold ("COLON", "MAIN") stays clinical
    descriptor_words = (clinical_vocabulary() - _own_vocabulary()) & (surnames | first)
    eponyms = _words("eponyms.txt")
    surname_eponyms = eponyms & frozenset(ranked[:COMMON_SURNAMES])
    # nor is an eponym that is a common surname ("PARKINSON", "CUSHING" of medical_terms.txt): names.py decides
    vocab = clinical_vocabulary() - descriptor_words - surname_eponyms
    # TG-263 and beam words that are no one's name ("SPINALCORD", "CHESTWALL") are clinical in any text; the
    # others ("CARINA", "TANG") in an RT label only. Not in clinical_vocabulary(): the known-identifier
    # matcher leaves a name part that is a clinical English word alone ("Mask" of a patient Mask)
    rt = rt_nomenclature() - vocab
    rt_words = rt & (surnames | first | eponyms)
    vocab |= rt - rt_words
    places: set[str] = set()
    multi: dict[str, set[tuple[str, ...]]] = {}
    for p in _lines("places.txt"):
        words = tuple(p.replace("-", " ").split())
        if len(words) == 1:
            places.add(words[0])
        else:
            multi.setdefault(words[0], set()).add(words)
    return Lexicon(
        vocabulary=vocab,
        first=first,
        surnames=surnames,
        places=frozenset(places),
        multi_places={k: tuple(sorted(v, key=len, reverse=True)) for k, v in multi.items()},
        ambiguous=frozenset(_lines("ambiguous.txt")),
        english=frozenset(_lines("english.txt")),
        eponyms=eponyms,
        surname_eponyms=surname_eponyms,
        descriptor_words=descriptor_words,
        foreign=_words("descriptors_intl.txt"),
        contextual=descriptor_words | surname_eponyms,
        drug_words=descriptor_words & _words("drugs.txt"),
        eponym_pairs=frozenset(
            (a, b) for a, b in (tuple(e.split("-")) for e in eponyms if e.count("-") == 1) if a and b
        ),
        rt_words=rt_words,
    )


@cache
def descriptor_lexicon() -> Lexicon:
    """:func:`lexicon` for a short clinical descriptor: its foreign descriptor words are vocabulary."""
    lex = lexicon()
    return replace(lex, vocabulary=lex.vocabulary | lex.descriptor_words)


@cache
def rt_lexicon(descriptor: bool) -> Lexicon:
    """:func:`lexicon` for an RT label (ROI Name, Beam Name, Structure Set Label ...: the names of AAPM TG-263
    and the beam words of a plan), where "Carina", "Vena_Cava", "Med Tang", "Mantle" are anatomy and fields.

    `descriptor` (the label reads as one: :func:`veil.text.names.find_names`): every RT word and foreign
    descriptor word is clinical. Otherwise only the RT words that are also English words ("MASK", "RING",
    "SURFACE") are: they are no name on their own anywhere, and here they no longer join a name next to them
    ("QUIXANDOR MASK" keeps MASK); "TANG" and "CARINA" beside a person's name stay names ("Carina Smith")."""
    lex = lexicon()
    extra = lex.rt_words | lex.descriptor_words if descriptor else lex.rt_words & lex.ambiguous
    return replace(lex, vocabulary=lex.vocabulary | extra)


def is_clinical(word: str) -> bool:
    """True when `word` (any case) is on the medical/imaging allow-list."""
    return word.upper() in lexicon().vocabulary
