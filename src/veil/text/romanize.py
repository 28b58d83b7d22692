"""The patient's name written in another alphabet: Cyrillic or Greek in text, Latin in the header (or the reverse).

Why: a site whose reports are in Russian, Ukrainian, Bulgarian, Serbian or Greek often stores the Patient's
Name romanised (ISO_IR 100 archives, foreign PACS) while the comments and reports say "Пациентка
Квиксандор Белинда" (red team 2: kept under both policies, because every matcher compared letters of one
script). A name is a Safe Harbor identifier in any alphabet (45 CFR 164.514(b)(2)(i)(A)) and PS3.15 E.3.4/E.3.5
ask that descriptors and structured content be cleaned of it.

How: words of the other script are romanised (Cyrillic after BGN/PCGN, Greek after ELOT 743, both
simplified to what a clerk would type), then both sides are reduced to a coarse sound key (:func:`sound_key`:
"QUIXANDOR" and "Квиксандор" -> "KVIKSANDOR") and compared with a small edit distance that grows with the
name's length (romanisations differ by a letter or two: Greek writes "Κουιξάντορ"). Only words of at least
four letters count, and only against the patient's own name parts, so ordinary Cyrillic or Greek words do
not become [NAME] on their own (names written in no list are :mod:`veil.text.names`' business).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from veil.text.spans import NAME, Span

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
    # Ukrainian, Belarusian, Serbian, Macedonian
    "є": "ye", "і": "i", "ї": "yi", "ґ": "g", "ў": "u", "ђ": "dj", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c",
    "џ": "dz", "ѓ": "gj", "ќ": "kj", "ѕ": "dz",
}

#: Greek digraphs first (ELOT 743): "ου" is u, "μπ"/"ντ"/"γκ" are b/d/g at the start of a word, mb/nd/ng inside.
_GREEK_PAIRS = {"ου": "ou", "αι": "e", "ει": "i", "οι": "i", "αυ": "av", "ευ": "ev", "γγ": "ng"}
_GREEK_STOPS = {"μπ": ("b", "mb"), "ντ": ("d", "nd"), "γκ": ("g", "ng")}
_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i", "κ": "k", "λ": "l",
    "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f",
    "χ": "ch", "ψ": "ps", "ω": "o",
}

#: A word with at least one Cyrillic or Greek letter (accented Greek included).
OTHER_WORD = re.compile(r"[\w\u0300-\u036f]*[\u0370-\u03ff\u1f00-\u1fff\u0400-\u04ff][\w\u0300-\u036f]*")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{4,}")
_OTHER = OTHER_SCRIPT = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff\u0400-\u04ff]")

#: The sound key's rewrites, in order: spellings of one sound made one letter.
_KEY_RULES = tuple((re.compile(a), b) for a, b in (
    (r"SHCH|SCH", "S"), (r"QU", "KV"), (r"Q", "K"), (r"W", "V"), (r"X", "KS"), (r"PH", "F"), (r"TH", "T"),
    (r"CK", "K"), (r"KH", "H"), (r"ZH", "Z"), (r"SH", "S"), (r"TS|TZ", "C"), (r"CH", "C"), (r"C(?=[AOUKLR]|$)", "K"),
    (r"OU", "U"), (r"[YJ]", "I"), (r"(.)\1+", r"\1"),
))


def romanised(word: str) -> str:
    """`word` with its Cyrillic and Greek letters written in Latin letters (lower case), accents dropped."""
    w = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))
    out: list[str] = []
    i = 0
    while i < len(w):
        pair = w[i:i + 2]
        if pair in _GREEK_STOPS:
            out.append(_GREEK_STOPS[pair][0 if i == 0 else 1])
            i += 2
            continue
        if pair in _GREEK_PAIRS:
            out.append(_GREEK_PAIRS[pair])
            i += 2
            continue
        c = w[i]
        out.append(_CYRILLIC.get(c, _GREEK.get(c, c)))
        i += 1
    return "".join(out)


@lru_cache(maxsize=65536)
def sound_key(word: str) -> str:
    """A coarse key of how `word` sounds, the same for its common romanisations ("QUIXANDOR", "Kviksandor")."""
    latin = romanised(word) if _OTHER.search(word) else word
    key = "".join(c for c in unicodedata.normalize("NFKD", latin) if c.isascii() and c.isalpha()).upper()
    for rx, repl in _KEY_RULES:
        key = rx.sub(repl, key)
    return key


def _allowed(n: int) -> int:
    """Edits allowed between two keys whose shorter has `n` letters: none up to seven ("Кости" is no Costa,
    "киста" no Krista, "Корень" no Karen: review), one up to ten ("Κουιξάντορ"), then two."""
    return 0 if n <= 7 else 1 if n <= 10 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of `a` and `b`, or `limit` + 1 once it is known to exceed `limit` (here and for
    OCR'd words, :mod:`veil.pixels.match`)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def matches(key: str, keys: frozenset[str]) -> bool:
    """Whether a word's sound key is one of the name keys, within the edits its length allows (same first
    letter: romanisations differ inside a name, and "VOMAN" of "woman" is no "ROMAN")."""
    if key in keys:
        return True
    for k in keys:
        limit = _allowed(min(len(k), len(key)))
        if limit and k[0] == key[:1] and edit_distance(key, k, limit) <= limit:
            return True
    return False


def name_keys(parts: tuple[str, ...]) -> tuple[frozenset[str], bool]:
    """(sound keys of the name parts of at least four letters, whether any part is written in Cyrillic or Greek)."""
    keys = {sound_key(p) for p in parts if sum(c.isalpha() for c in p) >= 4}
    return frozenset(k for k in keys if len(k) >= 4), any(_OTHER.search(p) for p in parts)


def find_other_script(value: str, keys: frozenset[str], other_in_header: bool) -> list[Span]:
    """NAME spans of `value`'s words that are one of the name keys written in the other alphabet: Cyrillic
    or Greek words always (rare in text, each romanised); Latin words only when the header's name is itself
    written in Cyrillic or Greek, and not an everyday word. A word written in lower case is no name in
    these languages ("μήτρα", the uterus, of a patient Mitra; "above the carina" of Карина: review)."""
    if not keys:
        return []
    out = []
    if _OTHER.search(value):
        out += [Span(m.start(), m.end(), NAME) for m in OTHER_WORD.finditer(value)
                if m.group()[0].isupper() and sum(c.isalpha() for c in m.group()) >= 4
                and matches(sound_key(m.group()), keys)]
    if other_in_header:
        from veil.text.known import everyday_word

        out += [Span(m.start(), m.end(), NAME) for m in _LATIN_WORD.finditer(value)
                if m.group()[0].isupper() and not everyday_word(m.group().upper())
                and matches(sound_key(m.group()), keys)]
    return out


class SoundIndex:
    """Sound keys of many names, looked up within one edit in constant time (symmetric deletions: a key
    and every key with one letter deleted), for `veil verify`, whose needles are the names of every patient
    of an archive: comparing each Cyrillic or Greek word with each of them would grow with the archive."""

    def __init__(self, names: Iterable[str]) -> None:
        keys = {sound_key(n) for n in names if sum(c.isalpha() for c in n) >= 4}
        self.keys = frozenset(k for k in keys if len(k) >= 4)
        self.deleted = frozenset(_deletions(self.keys))

    def __bool__(self) -> bool:
        return bool(self.keys)

    def near(self, key: str) -> bool:
        """Whether `key` is a name key, or (eight letters or more, as :func:`_allowed`) one edit from one."""
        if key in self.keys:
            return True
        if len(key) < 8:
            return False
        return key in self.deleted or any(d in self.keys or d in self.deleted for d in _deletions((key,)))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of `text`'s Cyrillic or Greek words of four letters or more that are near a name key."""
        if not self.keys or not _OTHER.search(text):
            return []
        return [m.span() for m in OTHER_WORD.finditer(text)
                if sum(c.isalpha() for c in m.group()) >= 4 and self.near(sound_key(m.group()))]


def _deletions(keys: Iterable[str]) -> Iterator[str]:
    for k in keys:
        if len(k) >= 8:
            yield from (k[:i] + k[i + 1:] for i in range(len(k)))
