"""The medical/imaging allow-list and the offline name and place lists, loaded once per process.

PS3.15 E.3.4/E.3.5 want descriptors cleaned so that they keep their meaning: "CT CHEST W/O CONTRAST",
"T1 MPRAGE SAG" and "L knee" must survive even though "Chest", "Sag" or "Knee" can be surnames. The
allow-list (``data/vocabulary.txt``, drug names ``data/drugs.txt``, German/French/Spanish/Italian
descriptor and ECG words ``data/descriptors_intl.txt``) and the eponyms (``data/eponyms.txt``) are Veil's
own; the name lists are derived from public-domain US Census 1990 name files and GeoNames city names (see
:mod:`veil.text._build_lists` for provenance and licences). Everything ships inside the package: nothing
is downloaded at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    eponyms: frozenset[str] = frozenset()  # "GLEASON", "FAZEKAS": not a name on their own, still after a title

    def unknown(self, word: str) -> bool:
        """True for an alphabetic word in no list (not English, not clinical, not a known name/place)."""
        return not (word in self.english or word in self.vocabulary or word in self.first or word in self.surnames
                    or word in self.places or word in self.ambiguous or word in self.eponyms)

    def eponym(self, word: str) -> bool:
        """An eponym ("GLEASON"), or a hyphenated one ("OSGOOD-SCHLATTER")."""
        return word in self.eponyms or ("-" in word and all(p in self.eponyms for p in word.split("-")))


@cache
def clinical_vocabulary() -> frozenset[str]:
    """The medical/imaging allow-list alone (a few ms): what the known-identifier terms need, without
    the name, place and English lists (~70 ms) a worker that never detects names need not load."""
    vocab: set[str] = set(_lines("medical_terms.txt"))
    for name in ("vocabulary.txt", "drugs.txt", "descriptors_intl.txt"):
        vocab |= _words(name)
    return frozenset(vocab)


def _words(name: str) -> set[str]:
    """Upper-case words of a word-list file (several words a line, '#' comments)."""
    return {w.upper() for line in _lines(name) for w in line.split("#", 1)[0].split()}


@cache
def lexicon() -> Lexicon:
    vocab = clinical_vocabulary()
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
        first=frozenset(_lines("first_names.txt")),
        surnames=frozenset(_lines("surnames.txt")),
        places=frozenset(places),
        multi_places={k: tuple(sorted(v, key=len, reverse=True)) for k, v in multi.items()},
        ambiguous=frozenset(_lines("ambiguous.txt")),
        english=frozenset(_lines("english.txt")),
        eponyms=frozenset(_words("eponyms.txt")),
    )


def is_clinical(word: str) -> bool:
    """True when `word` (any case) is on the medical/imaging allow-list."""
    return word.upper() in lexicon().vocabulary
