"""Apply a :class:`~veil.policy.plan.Plan` to one pydicom Dataset (PS3.15 Annex E header actions).

The walk visits every element at every sequence depth, resolves private elements through their private
creator (never by raw element number alone), treats the repeating groups 50xx/60xx by mask, fixes the file
meta group so it follows the de-identified dataset, and records which rule fired on which tag - never
the original value. What the table does not know is decided by VR, failing closed: free text is
removed, unknown UIDs are remapped, unknown dates are shifted or removed.
"""

from __future__ import annotations

import codecs
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import PersonName

from veil.errors import InputError
from veil.header import dates
from veil.identity.keyed import Keyed
from veil.policy.plan import TEMPORAL_VRS, TEXT_VRS, Action, Plan
from veil.text.uids import is_uid, standard_uid

if TYPE_CHECKING:  # imported where text is cleaned: its name lists and patterns take a tenth of start-up
    from veil.policy.model import Policy
    from veil.text.clean import KnownIdentifiers

#: Dummy values valid for each VR (PS3.15 E.1-1 action D: "a non-zero length value that may be a dummy
#: value and consistent with the VR").
DUMMY: dict[str, object] = {
    "AE": "VEIL", "AS": "000Y", "CS": "ANON", "DA": "19000101", "DS": "0", "DT": "19000101000000",
    "IS": "0", "LO": "ANONYMIZED", "LT": "ANONYMIZED", "PN": "ANONYMIZED", "SH": "ANONYMIZED",
    "ST": "ANONYMIZED", "TM": "000000", "UC": "ANONYMIZED", "UT": "ANONYMIZED", "UR": "",
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0,
    "OB": b"\x00\x00", "OW": b"\x00\x00", "OD": b"", "OF": b"", "OL": b"", "OV": b"", "UN": b"",
}
_MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64 * 5, "ST": 1024, "LT": 10240, "UC": 2**32 - 2}

#: Keywords of UI attributes that name a class, syntax or scheme, not an instance: kept. Not Context UID: a
#: context group of the standard has its well-known UID (kept by :func:`new_uids`), any other one is a site's
#: or vendor's own group, and its UID is the organisation's (red team: one held the patient's ID and birth date).
_CLASS_UID = re.compile(r"(ClassUID|SyntaxUID|CodingSchemeUID|MappingResourceUID)s?$")

#: De-identification attributes Veil writes itself (PS3.15 E.1 item 5, PS3.3 C.7.1.1).
_DEID_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})


@cache
def _iod_types() -> dict[tuple[str, str], int]:
    text = resources.files("veil.policy").joinpath("data/iod_types.tsv").read_text(encoding="utf-8")
    out: dict[tuple[str, str], int] = {}
    for line in text.splitlines()[1:]:
        if line.startswith("#") or line.startswith("keyword"):
            continue
        kw, fam, typ, _ = line.split("\t")
        out[(kw, fam)] = int(typ)
    return out


def iod_family(sop_class_uid: str) -> tuple[str, ...]:
    """Coarse IOD families of a SOP Class, most specific first, enough to resolve conditional actions."""
    name = UID(sop_class_uid).name if sop_class_uid else ""
    fams: list[str] = []
    if "SR" in name.split() or "Key Object" in name or "Report" in name:
        fams.append("sr")
    if name.startswith("RT "):
        fams.append("rt")
    if "Presentation State" in name:
        fams.append("ps")
    if "Segmentation" in name:
        fams += ["seg", "enhanced"]  # SEG uses Multi-frame Functional Groups + Enhanced General Equipment
    if name.startswith("Enhanced") or "Legacy Converted Enhanced" in name or "Parametric Map" in name:
        fams.append("enhanced")
    if name.startswith("VL ") or "Ophthalmic" in name:
        fams.append("vl")
    if "Waveform" in name:
        fams.append("waveform")
    return (*fams, "*")


@cache
def _required_tags() -> frozenset[int]:
    """Tags that some IOD requires (Type 1 or 2): a plain X on them would break conformance, so they get
    a dummy (Type 1) or an empty value (Type 2) instead, which holds no more information than removal."""
    tags = (tag_for_keyword(kw) for kw, _ in _iod_types())
    return frozenset(int(t) for t in tags if t is not None)


def resolve_conditional(code: str, keyword: str, families: str | tuple[str, ...]) -> str:
    """Z/D, X/Z, X/D, X/Z/D by the attribute's Type in this IOD: 1 -> D, 2 -> Z, else X (safest)."""
    types = _iod_types()
    fams = (families,) if isinstance(families, str) else families
    t = next((types[(keyword, f)] for f in (*fams, "*") if (keyword, f) in types), 3)
    if code == "Z/D":
        return "D" if t == 1 else "Z"
    if code == "X/Z":
        return "Z" if t in (1, 2) else "X"
    if code == "X/D":
        return "D" if t in (1, 2) else "X"
    if code == "X/Z/D":
        return {1: "D", 2: "Z"}.get(t, "X")
    return code


@dataclass
class Outcome:
    """What happened to one instance: rule counts for the manifest, and notes for the log."""

    #: (tag, action, rule) -> count. Elements kept as read by the walk are not listed (keeping is what
    #: happens to whatever no rule changes); a K that is a decision of its own (a kept sequence, a
    #: document kept under keep_if_clean) is.
    fired: dict[tuple[int, str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    patient_pseudonym: str = ""
    patient_key_hash: str = ""

    def fire(self, tag: int, code: str, rule: str) -> None:
        key = (tag, code, rule)
        self.fired[key] = self.fired.get(key, 0) + 1

    def rules(self) -> tuple[tuple[str, str, str, int], ...]:
        """(tag as 8 hex digits, action, rule, count), sorted: what the manifest records."""
        return tuple(sorted((f"{t:08X}", a, r, n) for (t, a, r), n in self.fired.items()))


def peek(ds: Dataset, keyword: str, default: object = None) -> object:
    """``ds.get(keyword, default)`` without storing the decoded element in `ds`.

    Reading a value through pydicom replaces the raw element by a decoded one, which must then be
    re-encoded on write; values Veil only looks at (Rows, SOP Class, patient identity) stay raw and are
    copied as read by ``pipeline.encode``.
    """
    tag = tag_for_keyword(keyword)
    elem = ds._dict.get(BaseTag(tag)) if tag is not None else None
    if elem is None:
        return default
    if type(elem) is RawDataElement:
        elem = convert_raw_data_element(elem, encoding=ds._character_set, ds=ds)
    return elem.value


@dataclass
class _Ctx:
    plan: Plan
    keyed: Keyed
    family: tuple[str, ...]
    offset: timedelta
    pseudonym: str
    known: KnownIdentifiers
    out: Outcome
    #: the patient's own top-level name and IDs (what a Code String is checked against: CS_KNOWN)
    core: KnownIdentifiers
    #: the patient's original top-level Patient's Birth Date, if it is a date (see ``birth_date``)
    birth: date | None = None


#: Reads one attribute's value by keyword (with a default): :func:`peek` on a dataset, or the raw path's
#: reader of plain values.
Getter = Callable[[str, object], object]


def patient_key(ds: Dataset | None, get: Getter | None = None, *, issuer: bool = True) -> str:
    """The original patient identity the keyed functions are derived from.

    Issuer + PatientID when there is an ID (PatientID alone with ``issuer=False``, the policy's
    ``pseudonyms.patient_key: id``); otherwise name + birth date, so files without an ID still group by
    person, and an anonymous input's study.
    """
    if get is None:
        assert ds is not None
        def get(kw: str, default: object) -> object:
            return peek(ds, kw, default)
    pid = str(get("PatientID", "") or "").strip()
    issuer_id = str(get("IssuerOfPatientID", "") or "").strip() if issuer else ""
    if pid:
        return f"id:{issuer_id}\x00{pid}"
    name = str(get("PatientName", "") or "").strip()
    birth = str(get("PatientBirthDate", "") or "").strip()
    if name:
        return f"name:{name.upper()}\x00{birth}"
    study = str(get("StudyInstanceUID", "") or "").strip()
    if study:  # anonymous input: one pseudo-patient per study keeps the study together
        return f"study:{study}"
    return "unknown"


def begin(ds: Dataset | None, plan: Plan, keyed: Keyed, get: Getter | None = None) -> tuple[Outcome, str, timedelta]:
    """The checks and keyed values every instance starts with: (outcome, pseudonym, date offset).

    Reads values with :func:`peek` only (or `get`, the raw path's reader, with `ds` None), so `ds` may
    hold just the few attributes it looks at. Raises :class:`InputError` for burned-in annotation without
    cleaning.
    """
    if get is None:
        assert ds is not None
        def get(kw: str, default: object) -> object:
            return peek(ds, kw, default)
    policy = plan.policy
    out = Outcome()
    # the pixel pass sets NO once verified; any spelling of YES counts (fail closed)
    burned = str(get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    if burned and (policy.burned_in_annotation == "quarantine" or policy.has("clean_pixel_data")):
        raise InputError("BurnedInAnnotation is YES and no pixel cleaning is configured"
                         if not policy.has("clean_pixel_data") else
                         "BurnedInAnnotation is YES and the pixel pass has not cleared it", "burned-in-annotation")
    if policy.has("clean_pixel_data"):  # PS3.15 E.3.1: fail closed when a caller skipped veil.pixels
        from veil.pixels.clean import check_cleaned

        if ds is None:
            raise InputError("Clean Pixel Data needs the dataset the pixel pass marked", "pixels")
        check_cleaned(ds, policy)
    key = patient_key(ds, get, issuer=policy.pseudonyms.patient_key == "issuer_and_id")
    issuer = " ".join(str(get("IssuerOfPatientID", "") or "").upper().split())  # "hosp  a" is "HOSP A"
    # "<patient key>:<issuer>", each keyed: a collision is two keys under one pseudonym, a merge of ID
    # spaces two issuers (runner._check_pseudonym_collisions); never an original value
    out.patient_key_hash = (keyed.hexdigest("patient-key", key)[:16] + ":"
                            + (keyed.hexdigest("patient-issuer", issuer)[:8] if issuer else ""))
    pseudonym = keyed.pseudonym(key, prefix=policy.pseudonyms.prefix, length=policy.pseudonyms.length)
    out.patient_pseudonym = pseudonym
    return out, pseudonym, date_shift(policy, keyed, key)


def date_shift(policy: Policy, keyed: Keyed, key: str) -> timedelta:
    """The patient's date offset as the policy applies it (PS3.15 E.3.6, Modified Dates): the keyed
    offset's whole days, plus its seconds only under ``dates.time_of_day: shift`` (see DateSettings)."""
    lo, hi = policy.dates.offset_days
    offset = keyed.date_offset(key, lo, hi)
    return offset if policy.dates.time_of_day == "shift" else timedelta(days=offset.days)


def deidentify(ds: Dataset, plan: Plan, keyed: Keyed) -> Outcome:
    """De-identify `ds` in place according to `plan`; returns the rules that fired.

    Raises :class:`InputError` when the instance cannot be de-identified safely (it is quarantined).
    """
    out, pseudonym, offset = begin(ds, plan, keyed)
    from veil.text.known import collect_identifiers, core_identifiers

    core = core_identifiers(ds)
    known = collect_identifiers(ds) if _needs_known(plan) or _ENCAPSULATED in ds else core
    ctx = _Ctx(plan, keyed, iod_family(str(peek(ds, "SOPClassUID", "") or "")), offset, pseudonym, known, out,
               core, birth_date(str(peek(ds, "PatientBirthDate", "") or "")))
    document = _encapsulated_document(ds, ctx)
    _walk(ds, ctx, scope="", top=True)
    if document is not None:
        ds[_ENCAPSULATED] = document
    _drop_orphan_overlays(ds, ctx)
    _stamp(ds, plan, ctx)
    _fix_meta(ds, ctx)
    return out


def _graphics_group(g: int) -> bool:
    """An Overlay Plane (60xx, PS3.3 C.9.2) or retired Curve (50xx, PS3.3-2004 C.10.2) repeating group."""
    return (0x6000 <= g <= 0x601E or 0x5000 <= g <= 0x501E) and g % 2 == 0


def embedded_overlay(bits_allocated: int | None, bit_position: int | None) -> bool:
    """Overlay Bits Allocated > 1 or Overlay Bit Position > 0 (60xx,0100/0102): the retired form whose
    overlay bits live in the unused high bits of Pixel Data (PS3.5 8.1.2 of 2004), not in Overlay Data."""
    return (bits_allocated not in (None, 1)) or (bit_position not in (None, 0))


def _drop_orphan_overlays(ds: Dataset, ctx: _Ctx) -> None:
    """An overlay plane (or retired curve) whose data element (60xx,3000 / 50xx,3000) was removed (PS3.15
    E.1-1: X unless Clean Graphics) is removed whole: its Rows/Columns/Type/Origin or labels alone would
    leave a Type 1 attribute missing in the Overlay Plane module (PS3.3 C.9.2), a viewer would draw nothing
    from them, and a label may still name the patient.

    An overlay embedded in Pixel Data has no Overlay Data at all: its bits sit above High Bit of every
    pixel, where the patient's name drawn in it survives a byte copy of Pixel Data once the descriptors
    that reveal it are gone. Fail closed: the instance is refused with its reason."""
    groups: dict[int, list[int]] = {}
    for tag in list(ds.keys()):
        g = tag >> 16
        if _graphics_group(g):
            groups.setdefault(g, []).append(int(tag))
    for g, tags in groups.items():
        if (g << 16) | 0x3000 in tags:
            continue
        if g >= 0x6000:
            bits = ds.get((g << 16) | 0x0100)
            position = ds.get((g << 16) | 0x0102)
            if embedded_overlay(_us(bits), _us(position)):
                raise InputError(f"overlay plane {g:04X} is embedded in the high bits of Pixel Data (Overlay Bit "
                                 f"Position {_us(position)}): the bits would pass through unseen", "overlay-embedded")
        for t in tags:
            del ds[t]
            ctx.out.fire(t, "X", "overlay:plane-without-data")


def _us(elem: DataElement | None) -> int | None:
    value = getattr(elem, "value", None)
    if isinstance(value, bytes):  # not decoded (UN, or raw): little endian US
        return int.from_bytes(value[:2], "little") if len(value) >= 2 else None
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return -1  # not a number: treated as embedded (fail closed)


#: The rule of an allow-listed text attribute: only the patient's own identifiers found in it are
#: replaced (no pattern or name detection: "Alzheimer disease" stays), and nothing is recorded when there
#: is none. All of them where the policy cleans text, the top-level name and ID otherwise (core_identifiers).
ALLOWLIST_KNOWN = "allowlist:standard-text+known"


def known_hit(value: bytes, known: KnownIdentifiers) -> bool | None:
    """Whether an ASCII raw value (backslash-separated values) holds one of the known identifiers; None
    when it is not plain ASCII (decoded by its character set first: ISO 2022 escapes are 7-bit too)."""
    hit = known.hits.get(value)
    if hit is not None:
        return hit
    if not value.isascii() or b"\x1b" in value:
        return None
    if not known.terms:
        return False
    from veil.text.known import camel_pieces, fold, has_known

    def named(text: str) -> bool:  # fold: upper case, and a control character inside a name dropped (HIDDEN)
        return has_known(fold(text), known) or any(has_known(fold(p), known) for _, p in camel_pieces(text))

    if b"\\" not in value:
        hit = named(value.decode("ascii"))
    else:
        hit = any(named(v.decode("ascii")) for v in value.split(b"\\"))
    if len(known.hits) < 4096:
        known.hits[value] = hit
    return hit


#: Specific Character Set: a Code String never checked for identifiers (removing it garbles every
#: kept non-ASCII value, and "ISO_IR 100" is no patient's ID).
_CHARSET = 0x00080005


#: Sequences whose items identify a person by a code (PS3.15 E.1-1: D): Person Identification Code
#: Sequence, Verifying Observer Identification Code Sequence. Their Code Value / Code Meaning are a badge
#: number and a name, not vocabulary: dummies, not the allow-list (fallback_action scope "P").
PERSON_SEQUENCES = frozenset({0x00401101, 0x0040A088})


#: The rule of a kept Code String that holds the patient's own name or ID: removed (emptied or a dummy
#: where the IOD requires it). CS is "not text" to the profile, but its repertoire (capitals, digits,
#: space, underscore; PS3.5 Table 6.2-1) spells a surname or an MRN as well as "HEAD".
CS_KNOWN = "code-string:known-identifier"
#: An allow-listed attribute written as a Code String: kept, unless it holds the patient's name or ID (CS_KNOWN).
ALLOWLIST_CODE = "allowlist:code-string+known"


def code_string_named(value: str, core: KnownIdentifiers) -> bool:
    """Whether one Code String value holds the patient's own name or ID as anything but a term.

    `core` is the top-level name and IDs only: a word of the institution's name ("PRIMARY" of "Primary
    Children's Hospital") is no reason to touch a Code String. A match that is wholly a word of the
    clinical vocabulary or of the DICOM data dictionary's attribute names is a term, not the name: a
    patient called Head keeps Body Part Examined "HEAD_NECK", one called Original keeps Image Type
    "ORIGINAL" and one called Code keeps the SR Value Type "CODE" - such values say the same for anyone.
    """
    if not core.terms:
        return False
    from veil.text.known import find_known, fold

    folded = fold(value)
    # whole terms only (no "cut at the VR's length" prefix: NORM of Siemens' ORIGINAL\PRIMARY\M\ND\NORM is
    # not Norman), and a number needs 5 digits to be an ID here (ID "100" is not ISO_IR 100)
    return any(not _is_term(hit) and not (hit.isdigit() and len(hit) < 5)
               for hit in (folded[s.start:s.end].strip() for s in find_known(folded, core, truncated=False)))


def _is_term(word: str) -> bool:
    """A word of the clinical vocabulary, of the data dictionary's attribute names ("ORIGINAL", "PRIMARY",
    "CODE", "TEXT" ...: the vocabulary DICOM's defined terms are made of) or of everyday English (Collimator
    Type "CONE", Filter Material "LEAD", "SILVER": a Code String of one such word says the same for anyone,
    and patients Cone and Silver lost them once allow-listed Code Strings were checked)."""
    from veil.text.known import dicom_words, everyday_word

    return everyday_word(word) or word in dicom_words()


def _opaque_named(printable: bytes, core: KnownIdentifiers, whole_names: bool = False,
                  contiguous: bool = False) -> bool:
    """Whether the printable runs of an opaque value spell the patient's own name or ID. A number needs 6
    digits here: parameter blobs are full of numbers ("<FrameRate>12.34" is not ID 1234). `whole_names`
    (public bytes: an ICC profile's "Copyright Hewlett-Packard Company" is no patient Hewlett): a name
    counts only written with more than one of its parts. `contiguous` (numbers of a binary VR): an ID's
    digits not one by one between other bytes - a 16-bit ramp's bytes read "0.1.2.3.4.5.6." (red team: a
    LUT removed for ID 123456) - but with the ID's own separators ("PID:2019-004417": red team)."""
    if known_hit(printable, core) is not True:
        return False
    from veil.text.known import find_known

    text = printable.decode("ascii").upper()
    for s in find_known(text, core, truncated=False):
        span = text[s.start:s.end].strip()
        hit = re.sub(r"\W", "", span)
        if hit.isdigit():
            if len(hit) >= 6 and (not contiguous or max(map(len, re.findall(r"\d+", span))) >= 3):
                return True
        elif not whole_names or s.label != "NAME" or re.search(r"[\W_]", span):
            return True
    return False


def code_string_raw_hit(value: bytes, core: KnownIdentifiers) -> bool | None:
    """Whether an ASCII raw Code String has a value :func:`code_string_named` finds (no decode: one
    search when nothing is there); None when it is not ASCII (decoded by its character set first)."""
    hit = known_hit(value, core)
    if not hit:
        return hit
    return any(code_string_named(v, core) for v in value.decode("ascii").rstrip("\x00 ").split("\\"))


def _needs_known(plan: Plan) -> bool:
    """Whether text will be cleaned (PS3.15 E.3.4/E.3.5 or a C action): then header values are collected
    first, so that the patient's own name, IDs and dates are found again inside free text."""
    needs = plan.encoded.get(("needs-known",))
    if needs is None:
        p = plan.policy
        needs = plan.encoded[("needs-known",)] = any(
            p.has(o) for o in ("clean_descriptors", "clean_structured_content", "clean_graphics")) or any(
            a.code == "C" for a in plan.public.values())
    return bool(needs)


_ENCAPSULATED = 0x00420011  # Encapsulated Document (PDF, CDA, STL ...)
_CLEANABLE_PRIVATE_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC"})
_TEXT_PRIVATE_VRS = _CLEANABLE_PRIVATE_VRS | {"PN"}
#: Private text VRs that hold sentences (a vendor's "Return Message", a protocol note): kept by Retain Safe
#: Private, they are cleaned whatever the policy says of public descriptors, which a policy that does not
#: clean them removes (red team: phones, e-mails and other people's names in them went out under basic).
_SENTENCE_VRS = frozenset({"LT", "ST", "UT"})


def _cleans_text(plan: Plan) -> bool:
    return plan.policy.has("clean_descriptors") or plan.policy.has("clean_structured_content")


def _mime_label(mime: str) -> str:
    from veil.text.documents import mime_label

    return mime_label(mime) if mime else "unknown type"


def _encapsulated_document(ds: Dataset, ctx: _Ctx) -> DataElement | None:
    """PS3.15 E.1-1 gives Encapsulated Document action D: a dummy would make the instance useless, so by
    default the instance is quarantined with a reason. Under ``encapsulated_documents: keep_if_clean`` the
    document's extracted text is checked like Clean Structured Content (E.3.5) - known identifiers,
    patterns, names - and the document is kept unchanged only when nothing is found; otherwise, or when
    its text cannot be extracted, the instance is quarantined. Returns the element to put back after the
    walk (which would otherwise replace it by a dummy), or None when there is none."""
    if _ENCAPSULATED not in ds:
        return None
    mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "") or "")
    if ctx.plan.policy.encapsulated_documents != "keep_if_clean":
        raise InputError(f"instance holds an encapsulated document ({_mime_label(mime)}); the policy "
                         "quarantines them (encapsulated_documents: keep_if_clean keeps clean ones)",
                         "encapsulated-document")
    from veil.text.documents import extract_text

    elem = ds[_ENCAPSULATED]
    data = elem.value if isinstance(elem.value, bytes) else b""
    text = extract_text(data, mime)  # raises InputError (quarantine) when it cannot be read with certainty
    from veil.text.clean import detect

    found = [s for line in text.splitlines() for s in detect(line, ctx.known)]
    if not found and ctx.known and _document_bytes_named(data, ctx.known):
        # the extracted text is not all a document holds: a PDF comment, a name object "/Quixandor#5EZebulon",
        # a comment after %%EOF (red team E) - its printable bytes are read for the known identifiers too
        raise InputError(f"encapsulated document ({_mime_label(mime)}) holds one of the patient's identifiers "
                         "outside its text (a comment, a name object)", "encapsulated-document:identifying-text")
    if found:
        kinds = ", ".join(sorted({s.label for s in found}))
        raise InputError(f"encapsulated document ({_mime_label(mime)}) contains identifying text: {len(found)} span(s) "
                         f"of {kinds}", "encapsulated-document:identifying-text")
    del ds[_ENCAPSULATED]
    ctx.out.fire(_ENCAPSULATED, "K", "encapsulated_documents=keep_if_clean")
    return elem


def _document_bytes_named(data: bytes, known: KnownIdentifiers) -> bool:
    """Whether the printable runs of a document's bytes hold one of the patient's identifiers (technical
    identifiers: a lone everyday-word name part, "White", is also a PDF colour's name)."""
    from veil.text.known import fold, has_known, technical_identifiers

    tech = technical_identifiers(known)
    runs = data.translate(_PRINTABLE).split(b"\x00")
    # a PDF name writes a character as #XX ("/Quixandor#5EZebulon", PDF 32000-1 7.3.5)
    return any(len(r) >= 3 and has_known(fold(_PDF_NAME_ESCAPE.sub(lambda m: chr(int(m[1], 16)), r.decode("ascii"))),
                                         tech) for r in runs)


_PDF_NAME_ESCAPE = re.compile(r"#([0-9A-Fa-f]{2})")


def _vr_of(elem: DataElement | RawDataElement, tag: int) -> str:
    """VR without converting the value: the raw element's VR, else the dictionary's (implicit VR files).

    A public attribute the input encoded as UN (PS3.5 6.2.2: its VR was unknown to the writer) takes its
    dictionary VR, as pydicom does when it decodes it, so that e.g. a UN-encoded Modality is judged as
    the CS it is and not removed as unknown.
    """
    vr = elem.VR
    if vr and (vr != "UN" or tag >> 16 & 1):
        return str(vr)
    if tag >> 16 & 1:
        return "UN"
    try:
        return dictionary_VR(tag).split(" ")[0]
    except KeyError:
        return "UN"


def _private_creators(ds: Dataset) -> dict[tuple[int, int], str]:
    """(group, block) -> creator string for the private creator elements (gggg,0010-00FF) of `ds`."""
    out = {}
    raw_elems = ds._dict
    for tag in ds.keys():  # noqa: SIM118 - keys only; iterating ds would decode every value
        if tag >> 16 & 1 and 0x10 <= tag & 0xFFFF <= 0xFF:
            try:  # read, not stored: a kept creator is copied as read
                elem = raw_elems[tag]
                if type(elem) is RawDataElement:
                    elem = convert_raw_data_element(elem, encoding=ds._character_set, ds=ds)
                val = elem.value
            except Exception:  # undecodable creator: its block will be removed
                continue
            if isinstance(val, bytes):
                val = val.decode("latin-1", "replace")
            out[(tag >> 16, tag & 0xFFFF)] = str(val).strip().rstrip("\x00").strip()
    return out


def charset_defined(value: bytes) -> bool:
    """Whether every term of a Specific Character Set is one PS3.3 C.12.1.1.2 defines (pydicom's table; the
    first may be empty: the default repertoire): kept as read then. Any other term was copied as read
    before ("ISO_IR Quixandor": red team)."""
    terms = value.rstrip(b" \x00").split(b"\\")
    return all(t.strip() in _DEFINED_CHARSETS or (i == 0 and not t.strip()) for i, t in enumerate(terms))


_DEFINED_CHARSETS = frozenset(t.encode() for t in python_encoding)
#: Defined terms by their letters and digits alone: "ISOIR100" -> "ISO_IR 100" (one term each: the ISO 2022
#: forms have "2022" in them, so "ISO 2022 IR 100" and "ISO_IR 100" do not meet).
_COMPACT_CHARSETS = {re.sub(r"[^A-Z0-9]", "", t): t for t in python_encoding if t}


def _ascii_compatible(codec: str) -> bool:
    """Whether `codec` reads and writes the printable ASCII characters as ASCII (utf-16, utf-32, EBCDIC don't)."""
    sample = "AZaz09 .,-^=\\"
    try:
        return sample.encode(codec) == sample.encode("ascii") and sample.encode("ascii").decode(codec) == sample
    except (UnicodeError, LookupError, TypeError):
        return False


@cache
def _defined_by_codec() -> dict[str, str]:
    """Python codec name -> the defined term pydicom decodes with it (the first, for a codec several share)."""
    by_codec: dict[str, str] = {}
    for term, codec in python_encoding.items():
        # not the default repertoire (pydicom's "iso8859", which Python reads as Latin-1), nor ISO_IR 13, which
        # pydicom decodes as shift_jis but encodes as JIS X 0201 only (kanji became "????")
        if term not in ("", "ISO_IR 6", "ISO_IR 13", "ISO 2022 IR 13"):
            by_codec.setdefault(codecs.lookup(codec).name, term)
    return by_codec


def _normalise_charset(ds: Dataset, ctx: _Ctx) -> None:
    """A Specific Character Set with a term PS3.3 does not define: each such term replaced by the defined
    term pydicom reads it as ("ISO IR 100" is ISO_IR 100, "UTF-8" is ISO_IR 192), written by Python's own
    name when it is a codec without a defined term ("windows-1251" is cp1251: dropping it re-encoded the text
    as "???", red team), or dropped (pydicom read the text in the default repertoire) - the values were
    decoded that way, and they are written that way. Removed when no term is left; a codec that does not
    read ASCII as ASCII quarantines the file. Never copied: a term is whatever the file put there ("ISO_IR
    Quixandor")."""
    import warnings

    from pydicom.charset import _python_encoding_for_corrected_encoding

    by_codec = _defined_by_codec()
    raw = _number_bytes(ds._dict[BaseTag(_CHARSET)]).decode("latin-1").rstrip(" \x00")
    terms = []
    for i, term in enumerate(raw.split("\\")):
        term = term.strip()
        if term in python_encoding or (i == 0 and not term):
            terms.append(term)
            continue
        compact = _COMPACT_CHARSETS.get(re.sub(r"[^A-Z0-9]", "", term.upper()))
        if compact is not None:  # "ISO_IR100", "iso-ir-192": a defined term with other spacing or case
            if compact not in terms:
                terms.append(compact)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codec = _python_encoding_for_corrected_encoding(term)
        try:
            name = codecs.lookup(term).name if codec == "iso8859" else codecs.lookup(codec).name
        except LookupError:
            continue
        if not _ascii_compatible(name):  # "utf-16" over ASCII bytes: every value read as CJK-looking text,
            raise InputError(  # in which no name or ID is found (red team): the file cannot be checked
                "Specific Character Set names an encoding that does not read ASCII as ASCII (PS3.5 6.1.2.3 "
                "requires it): the file's text cannot be checked", "charset-not-ascii")
        # a codec Python knows and PS3.3 has no term for ("windows-1251", "big5"): pydicom read the text with
        # it, and it is written with it - by Python's own name for it, never as written ("cp1251 ИВАНОВ"
        # is found by Python's lookup as cp1251: red team)
        defined = by_codec.get(name, name)
        if defined not in terms:
            terms.append(defined)
    while terms and not terms[-1]:
        terms.pop()
    if not terms:
        del ds[_CHARSET]
        ctx.out.fire(_CHARSET, "X", "charset:undefined-term")
        return
    ds[_CHARSET].value = terms if len(terms) > 1 else terms[0]
    ctx.out.fire(_CHARSET, "D", "charset:undefined-term")


def fallback_action(tag: int, vr: str, plan: Plan, scope: str = "") -> Action:
    """Action for a public attribute that neither Table E.1-1 nor the policy names (fail closed by VR).

    `scope` is "C" inside content being cleaned (Clean Structured Content), "D" inside content replaced
    by dummies, "P" inside a sequence that identifies a person (PERSON_SEQUENCES), "" elsewhere.
    """
    if tag & 0xFFFF == 0x0000:
        return Action("X", "fallback:group-length")
    if vr == "SQ":
        return Action("K", "fallback:sequence")
    keyword = keyword_for_tag(tag)
    if not keyword or vr == "UN":
        return Action("X", "fallback:unknown-public")
    if vr == "UI":  # before the allow-list of text: a UID is not text (cleaning text leaves it as read)
        if plan.policy.has("retain_uids") or _CLASS_UID.search(keyword):
            return Action("K", UID_CLASS)
        return Action("U", "fallback:uid")
    if vr in TEXT_VRS and scope == "P":
        # a code that names a person (a badge number, "Dr Harriet Quenby" as a Code Meaning): every value
        # gets its dummy, the allow-list of coded text does not apply here
        return Action("D", "fallback:text-in-person-code")
    if tag in plan.safe_text:
        # coded and technical text, kept - but not the patient's own name or ID typed into it (a Code
        # Meaning "CT for <name>"): the known identifiers are looked for. Also inside content that is
        # cleaned or replaced by dummies (an SR's Content Sequence, D under basic): its concept names,
        # codes and units are what the report means (made dummies, a measurement report lost every one)
        return Action("C", ALLOWLIST_KNOWN)
    if vr in TEXT_VRS and scope == "C":
        return Action("D" if vr == "PN" else "C", "fallback:text-in-cleaned-content")
    if vr in TEXT_VRS and scope == "D":
        return Action("D", "fallback:text-in-dummy-content")
    if vr in TEXT_VRS:
        if plan.policy.unknown_text == "keep":
            return Action("K", "policy:unknown_text=keep")
        if plan.policy.has("clean_descriptors"):
            return Action("C", "fallback:unknown-text-cleaned")
        return Action("X/Z/D", "fallback:unknown-text")  # removed, unless the IOD requires it
    if vr in TEMPORAL_VRS:
        if plan.policy.has("retain_long_full_dates"):
            return Action("K", "fallback:date-full")
        if plan.shifts_dates:
            return Action("Y" if plan.policy.dates.mode == "year" else "S", "fallback:date-shift")
        return Action("X/Z/D", "fallback:unknown-date")  # removed, unless the IOD requires it
    return Action("K", FALLBACK_BYTES)


@cache
def _public_vrs(tag: int) -> frozenset[str]:
    """The VRs the data dictionary allows a public attribute ("US or SS" ...); UN always (PS3.5 6.2.2).
    Empty for a tag the dictionary does not know (its fallback removes it before this is asked)."""
    try:
        return frozenset(dictionary_VR(tag).split(" or ")) | {"UN"}
    except KeyError:
        return frozenset()


_NUMBER = re.compile(rb"[0-9+\-.eE \x00\\]*")
#: The Code String repertoire (PS3.5 Table 6.2-1: capitals, digits, space, underscore), backslash-separated.
_CODE_STRING = re.compile(rb"[A-Z0-9 _\\]*\x00?")
#: Bytes per value of the binary VRs (PS3.5 Table 6.2-1): a value of another length is not of that VR.
_BINARY_SIZE = {"AT": 4, "FL": 4, "FD": 8, "OD": 8, "OF": 4, "OL": 4, "OV": 8, "OW": 2, "SL": 4, "SS": 2, "SV": 8,
                "UL": 4, "US": 2, "UV": 8}
#: VRs whose bytes mean nothing to Veil: a private OB or UN value a safe-private dictionary keeps.
_OPAQUE = frozenset({"OB", "UN"})
#: VRs whose kept values ``value_action`` reads: numbers as strings; and, for a private element without a
#: VR of its own judged by its dictionary's VR, binary numbers and Code Strings; opaque private bytes.
CHECKED_VRS = frozenset({"IS", "DS", "CS", "UI", *_BINARY_SIZE, *_OPAQUE})
#: The rule of a class UID the fallback keeps; its value is checked for the patient's numbers (value_action).
UID_CLASS = "fallback:uid-class"


def class_uid_checked(tag: int, vr: str, act: Action) -> bool:
    """Whether a kept UID is a class UID the fallback keeps as the standard's or a vendor's vocabulary (SOP
    Class, Transfer Syntax, Coding Scheme ...), whose value is read for the patient's numbers."""
    return vr == "UI" and act.rule == UID_CLASS and _CLASS_UID.search(keyword_for_tag(tag)) is not None
#: Bytes that are not printable ASCII, as NULs: the ASCII runs of an opaque value, searched as text (a NUL
#: is no separator inside an identifier: digits on either side of binary bytes are not joined into an ID).
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0 for b in range(256))


#: The fallback's rule for a public attribute Table E.1-1 does not list that is neither text, a date nor a
#: UID: kept (numbers, codes, binary data). Kept as bytes (OB, UN: an HPGL drawing's labels, an ICC
#: profile's description, a Record Key), its printable runs are still checked for the patient's own name
#: and IDs (value_action), as a safe-private OB value's are: red team B found them kept word for word.
FALLBACK_BYTES = "fallback:non-text"


def public_bytes_checked(tag: int, vr: str) -> bool:
    """Whether a public value FALLBACK_BYTES keeps is checked as bytes: OB, UN or a binary VR (a palette's
    LUT data, Point Coordinates Data, an Acquisition Matrix of 19 values holding ASCII: red team), not Pixel
    Data (streamed, never read: its text is the pixel pass's; a frame's text segments are markers')."""
    return (vr in _OPAQUE or vr in _BINARY_SIZE) and not 0x7FE00008 <= tag <= 0x7FE00010


def value_action(tag: int, vr: str, act: Action, value: bytes, family: tuple[str, ...],
                 core: KnownIdentifiers | None = None) -> Action | None:
    """For a value kept by a fallback or a private dictionary (a number: by any rule), read as `vr` (see
    ``value_vr``): None when its bytes are what that VR allows (PS3.5 Table 6.2-1) - for IS/DS the digits,
    signs, points, exponents and spaces; for a binary VR a whole number of values; for a Code String its
    repertoire and, with `core`, none of the patient's own name or ID (CS_KNOWN) - else the action that
    removes it (emptied or dummy where an IOD requires the attribute). Kept unread, a name typed into
    Instance Number, or a sentence at a private tag the safe-private dictionary calls a number, would pass
    as "not text"."""
    table = not (act.rule.startswith("fallback:") or act.rule.startswith("private:"))
    if vr not in CHECKED_VRS or (table and vr not in ("IS", "DS")):
        return None
    if vr == "UI" and tag >> 16 & 1 and act.rule.endswith((PRIVATE_UID, PRIVATE_UID_KEPT)):
        return private_uid_action(value, act)
    if vr == "UI":
        # a vendor's class UID holding the patient's ID or birth date as a component ("1.2.826.0.1.3680043.8.
        # 498.98765431" as SOP Class UID: kept as vocabulary, it went out). Remapped like an instance UID
        # (keyed: every file and reference gets the same one); a standard class UID has no such component
        if core is None or not _uid_holds_number(value, core):
            return None
        return Action("U", "fallback:uid-holds-identifier")
    if vr in ("IS", "DS"):  # also kept by Table E.1-1 (an option): "MRN98765431" as Patient's Size
        if not _NUMBER.fullmatch(value):
            rule = "invalid-number" if table else "fallback:invalid-number"
        elif core is None or len(value) < 6 or not _patient_number(value, core):
            return None
        else:
            rule = "number-holds-identifier" if table else "fallback:number-holds-identifier"
    elif vr == "CS":
        if core is None or (_CODE_STRING.fullmatch(value) and code_string_raw_hit(value, core) is False):
            return None
        rule = f"private:not-{vr}"
    elif vr in _OPAQUE:  # kept as bytes (a safe-private entry, the fallback): not the patient's name or ID in them
        if core is None or not _opaque_named(value.translate(_PRINTABLE), core, whole_names=not tag >> 16 & 1):
            return None
        rule = "private:bytes-hold-identifier" if tag >> 16 & 1 else "fallback:bytes-hold-identifier"
    elif len(value) % _BINARY_SIZE[vr]:
        rule = f"private:not-{vr}" if tag >> 16 & 1 else f"fallback:not-{vr}"
    elif core is None or len(value) < 6 or not _opaque_named(value.translate(_PRINTABLE), core,
                                                             whole_names=not tag >> 16 & 1, contiguous=True):
        return None  # (under 6 bytes - Rows, Bits Allocated - no name of two parts nor an ID of 6 digits fits)
    else:  # a whole number of values whose bytes spell the patient's name or ID: text, not numbers
        rule = "private:bytes-hold-identifier" if tag >> 16 & 1 else "fallback:bytes-hold-identifier"
    code = "X"
    if not tag >> 16 & 1 and tag in _required_tags():
        code = resolve_conditional("X/Z/D", keyword_for_tag(tag), family)
    elif not tag >> 16 & 1 and rule.endswith("number-holds-identifier"):
        # emptied, not removed: a number an IOD requires (Acquisition Number, an SR's Numeric Value, Contour
        # Data - Veil's IOD table lists only what Table E.1-1 names) stays present, and empty says no more
        code = "Z"
    return Action(code, rule)


def _uid_holds_number(value: bytes, core: KnownIdentifiers) -> bool:
    """Whether a UID value has a component that is the patient's ID or birth date digits (6+)."""
    for n in core.numbers:
        if n in value:
            break
    else:
        return False
    return any(c.lstrip(b"0") in core.numbers for v in value.split(b"\\") for c in v.strip(b" \x00").split(b"."))


def _patient_number(value: bytes, core: KnownIdentifiers) -> bool:
    """Whether an IS/DS value is the patient's ID or birth date as a number ("98765431" as Series Number,
    "19471113" as Acquisition Number or a safe-private DS: red team): 6+ digits, "+", zeros and ".0" aside."""
    for n in core.numbers:  # most values hold none of them: one substring test each
        if n in value:
            break
    else:
        return False
    for v in value.split(b"\\"):
        v = v.strip(b" \x00").lstrip(b"+")
        if b"." in v:
            whole, _, frac = v.partition(b".")
            if frac.strip(b"0"):
                continue
            v = whole
        if v.isdigit() and v.lstrip(b"0") in core.numbers:
            return True
    return False


def _number_bytes(elem: DataElement | RawDataElement, vr: str = "") -> bytes:
    """The bytes value_action reads: as read for a raw element; a value pydicom already decoded as written
    back (numbers of a binary VR packed little endian, as the raw path reads them; strings as text)."""
    value = elem.value
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    fmt = _PACK.get(vr)
    if fmt is not None:
        values = value if hasattr(value, "__len__") else [value]
        try:
            if vr == "AT":
                return b"".join(struct.pack("<HH", int(v) >> 16, int(v) & 0xFFFF) for v in values)
            return struct.pack(f"<{len(values)}{fmt}", *values)
        except (struct.error, TypeError, ValueError):
            return b"\x00"  # not numbers of that VR: not a whole number of values (removed)
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return str(value).encode("latin-1", "replace")
    return "\\".join(str(v) for v in value).encode("latin-1", "replace")


#: struct formats of the binary VRs whose values pydicom decodes to numbers (AT: tags, packed apart).
_PACK = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "UV": "Q", "SV": "q", "AT": "HH"}


def _dictionary_vr(tag: int, creator: str | None, plan: Plan) -> str | None:
    """The VR the safe-private dictionary in force gives a private element, if it knows it."""
    if creator is None or plan.private is None:
        return None
    rule = plan.private.lookup(creator, tag >> 16, tag & 0xFF)
    return rule.vr if rule is not None else None


def private_action(tag: int, creator: str | None, plan: Plan) -> Action:
    """Action for a private element, resolved through its block's private creator (PS3.5 7.8.1)."""
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x10:
        return Action("X", "private:reserved")
    if element <= 0xFF:
        return Action("K", "private:creator")  # decided after the block (kept only if anything is)
    if creator is None:
        return Action("X", "private:no-creator")
    low = element & 0xFF
    ov = plan.private_overrides.get((creator, group, low))
    if ov is not None:
        return ov
    if plan.private is not None:
        rule = plan.private.lookup(creator, group, low)
        if rule is not None:
            src = f"private:{rule.source}"
            if rule.disposition == "keep":
                return Action("K", src)
            if rule.disposition == "hash_uid":
                return Action("U", src)
            if rule.disposition == "shift_date" and plan.shifts_dates:
                return Action("S", src)
            return Action("X", src)
    return Action("X", "E.1-1 basic:private")


#: VRs of the same kind: a safe private attribute written with another VR of its kind is read the same way
#: (numbers as numbers, text checked as text); with any other VR its value is not what the dictionary
#: vouches for.
_VR_KINDS: tuple[frozenset[str], ...] = (
    frozenset({"IS", "DS"}),
    frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN"}),
    frozenset({"FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"}),
)


#: VRs whose value may hold what no safe-private dictionary entry of another VR vouches for: text, dates,
#: a whole data set. Numbers and codes written with another VR are read as what they are (value_action, the
#: Code String check); a binary value is not text (third-party dictionaries' VRs are often wrong there).
_HIDING_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "AE", "UR", "AS", "DA", "DT", "TM", "SQ"})


def _vr_fits(vr: str, known_vr: str) -> bool:
    """Whether a value written as `vr` is what a dictionary entry of `known_vr` ("OW/OB" ...) holds."""
    allowed = known_vr.split("/")
    return vr in allowed or any(vr in kind and not kind.isdisjoint(allowed) for kind in _VR_KINDS)


#: The rule suffix of a safe private number (IS/DS entry) written with a text VR: judged as the number.
NUMBER_AS_TEXT = ":number-as-text"
#: The rule suffixes of a safe private UID (private_uid_action): remapped; kept under Retain UIDs (E.3.9).
PRIVATE_UID = ":uid"
PRIVATE_UID_KEPT = ":uid+retain_uids"


def private_checked(vr: str, act: Action) -> bool:
    """Whether a private element kept by a safe-private dictionary has its value read (``value_action``)
    before it is written: opaque bytes, a number written as text, a UID."""
    return vr in _OPAQUE or act.rule.endswith((NUMBER_AS_TEXT, PRIVATE_UID, PRIVATE_UID_KEPT))


def private_uid_action(value: bytes, act: Action) -> Action | None:
    """A UID kept by Retain Safe Private (PS3.15 E.3.10), as ``value_action`` judges it: the dictionary vouches
    for a UID, not for what a device wrote there, and a UID is an instance's like a public one.

    - a value that is not one or more UIDs (PS3.5 9.1, :func:`veil.text.uids.is_uid`; not ASCII): removed - a
      name or a sentence can be written at a UI tag, and a keyed hash of it would pass as a UID;
    - without Retain UIDs (E.3.9), remapped by the engine's own rule (E.1-1 action U, :func:`new_uids`): an
      "Analyzed Series UID" holding the original Series Instance UID gets the same new UID as the public
      attribute and still points at it, and the original no longer sits beside its replacement; the
      standard's UIDs (:func:`standard_uid`) stay as read;
    - with Retain UIDs, kept as read, as public UIDs are.
    """
    values = _raw_strings(value)
    if values is None or not all(is_uid(v) for v in values if v):
        return Action("X", "private:not-UI")
    if act.rule.endswith(PRIVATE_UID_KEPT) or all(standard_uid(v) for v in values if v):
        return None
    return Action("U", act.rule)


def _safe_private_action(act: Action, vr: str, known_vr: str | None, plan: Plan) -> Action:
    """A private element a safe-private dictionary keeps (PS3.15 E.3.10), checked against what it vouches for.

    The dictionary makes an attribute safe for the value it describes - a number, a code, a label - not for
    whatever a device wrote at that tag. So: written as text, a date or a sequence where the dictionary says
    otherwise (an SUV factor, DS, written as UT holding a sentence; a whole data set written as a sequence at
    a DS tag), or such a value written as anything else (text as OB, which cannot be cleaned), it is
    removed. Without a VR of its own (implicit VR, or UN: PS3.5 6.2.2) it is judged as the dictionary's VR:
    a number or code by its bytes (``value_action``: removed when they are not of that VR), a sequence,
    whose items cannot be walked in bytes, removed. Text is cleaned where the policy cleans text
    (E.3.4/E.3.5) and always where it is sentences (LT/ST/UT: :data:`_SENTENCE_VRS`), and otherwise checked
    for the patient's own identifiers like allow-listed public text
    (ALLOWLIST_KNOWN): safe to retain as a label, not as the patient's name typed into it.
    """
    if known_vr is not None and known_vr[:2].isalpha():
        if vr == "UN" and known_vr == "SQ":
            return Action("X", f"{act.rule}:sequence-without-vr")
        if known_vr in ("IS", "DS") and vr in _CLEANABLE_PRIVATE_VRS:
            # a number written as text (Philips' Flip Angle as LO "90"): kept if its bytes are a number
            # (value_action), removed otherwise - a sentence at a DS tag is still not a number
            return Action("K", f"{act.rule}{NUMBER_AS_TEXT}")
        hiding = vr in _HIDING_VRS or not _HIDING_VRS.isdisjoint(known_vr.split("/"))
        if vr != "UN" and hiding and not _vr_fits(vr, known_vr):
            return Action("X", f"{act.rule}:vr-mismatch")
    text_vr = known_vr if vr == "UN" else vr
    if text_vr == "UI":  # a UID, by its own VR or (implicit VR, UN) the dictionary's: private_uid_action
        return Action("K", act.rule + (PRIVATE_UID_KEPT if plan.policy.has("retain_uids") else PRIVATE_UID))
    if text_vr in _SENTENCE_VRS or (text_vr in _CLEANABLE_PRIVATE_VRS and _cleans_text(plan)):
        # Retain Safe Private keeps the element; its free text is still cleaned (E.3.4/E.3.5), also
        # when an implicit VR file gives it no VR of its own (the private dictionary says it is text)
        return Action("C", f"{act.rule}+clean")
    if text_vr in _TEXT_PRIVATE_VRS:
        return Action("C", ALLOWLIST_KNOWN)
    return act


def value_vr(tag: int, vr: str, creator: str | None, plan: Plan, rule: str = "") -> str:
    """The VR a kept element's bytes are judged by: its own, or for a private element without one (implicit
    VR, UN) or a number written as text (`rule` NUMBER_AS_TEXT) the VR of the safe-private dictionary entry
    that keeps it."""
    if rule.endswith(NUMBER_AS_TEXT):
        return _dictionary_vr(tag, creator, plan) or vr
    if vr != "UN" or not tag >> 16 & 1:
        return vr
    known = _dictionary_vr(tag, creator, plan)
    return known if known is not None and len(known) == 2 and known.isalpha() else vr


#: Encrypted Attributes Sequence and its Encrypted Content (PS3.3 C.12.1.1.4.1; PS3.15 E.1.1 item 3): where an
#: earlier de-identifier kept the original identifying attributes, encrypted for whoever holds its key. Not
#: in Table E.1-1, so the fallback kept the sequence and its OB content as "not text".
_ENCRYPTED = frozenset({0x04000500, 0x04000520})


def decide(tag: int, vr: str, creator: str | None, scope: str, family: tuple[str, ...], plan: Plan) -> Action:
    """The action for one element, from its tag, VR, private creator, scope and IOD family alone.

    Pure in its arguments and the plan, so the pipeline memoises it per plan (``Plan.decisions``): a
    series of one scanner repeats the same few hundred (tag, VR, creator) combinations in every file.
    Conditional codes come back resolved, and a plain X on an attribute some IOD requires becomes D or Z.
    """
    private = bool(tag >> 16 & 1)
    if private:
        act = private_action(tag, creator, plan)
        if act.code == "K" and act.rule.startswith("private:") and act.rule != "private:creator":
            act = _safe_private_action(act, vr, _dictionary_vr(tag, creator, plan), plan)
    elif tag >> 16 == 0x0000:
        act = Action("X", "command-group")
    elif tag >> 16 == 0x0004:  # directory records (PS3.3 F.3): a File-set ID or Referenced File ID names files
        act = Action("X", "directory-in-instance")  # ("DOE_JOHN/IMG1"); no composite IOD holds them
    elif tag in _ENCRYPTED:
        act = Action("X", "encrypted-attributes")
    else:
        act = plan.lookup(tag) or fallback_action(tag, vr, plan, scope)
        if act.code == "K" and vr in TEXT_VRS and act.rule.startswith("E.1-1 "):
            # an option keeps the attribute (Retain Patient Characteristics: Ethnic Group) for what it
            # describes, not for the patient's name or ID typed into it (red team: "QUIXANDOR 98765431")
            act = Action("C", ALLOWLIST_KNOWN)
        if act.code in ("K", "C") and vr not in _public_vrs(tag):
            # judged by the VR the file wrote (PS3.5 6.2: a public attribute has its dictionary's VRs):
            # a description written as OB would be kept as "not text", a Manufacturer written as OB or a
            # Patient's Weight as UT (kept by an option) as read - the text cleaning reads text VRs only
            act = Action("X", "fallback:vr-mismatch" if act.rule.startswith("fallback:") else "vr-mismatch")
    if act.rule == ALLOWLIST_KNOWN and vr == "CS":
        # an allow-listed Code String (Collimator Type, Grid, Anode Target Material) is kept as a code and
        # read like every kept one (CS_KNOWN): as text it was never read, and "QUORVATH" went out (fuzzing)
        act = Action("K", ALLOWLIST_CODE)
    code = act.code
    if "/" in code and code != "X/Z/U*":
        code = resolve_conditional(code, keyword_for_tag(tag), family)
        act = Action(code, act.rule, act.value)
    if code == "X" and not private and tag in _required_tags():
        code = resolve_conditional("X/Z/D", keyword_for_tag(tag), family)
        act = Action(code, act.rule if code == "X" else f"{act.rule}:iod-required", act.value)
    return act


def _walk(ds: Dataset, ctx: _Ctx, scope: str, top: bool = False) -> None:
    """Decide every element from its tag and VR first; convert a value only when it must be read.

    Veil's stamp (PS3.15 E.3: Patient Identity Removed, De-identification Method and its codes,
    Longitudinal Temporal Information Modified) replaces those attributes at the top level only; inside an
    item they are ordinary attributes and decided like any other. File Meta Information (group 0002,
    PS3.10 7.1) has no place in a data set: met there, at any depth, it is removed - written back after
    the new file meta, a reader would take it for part of the meta."""
    creators = _private_creators(ds)
    kept_blocks: set[tuple[int, int]] = set()
    creator_tags: list[BaseTag] = []
    handled_times: set[int] = set()
    raw_elems = ds._dict
    fire = ctx.out.fire
    memo = ctx.plan.decisions
    family = ctx.family
    for tag in list(raw_elems):
        # keys are BaseTag (an int): deleting by BaseTag skips pydicom's tag normalisation
        group = tag >> 16
        if (top and tag in _DEID_TAGS) or tag in handled_times:
            continue
        if group == 0x0002:
            del raw_elems[tag]
            fire(tag, "X", "meta-in-dataset")
            continue
        private = bool(group & 1)
        vr = _vr_of(raw_elems[tag], tag)
        creator = None
        if private:
            if 0x10 <= tag & 0xFFFF <= 0xFF:
                creator_tags.append(tag)
                continue
            creator = creators.get((group, (tag & 0xFFFF) >> 8))
        key = (tag, vr, creator, scope, family)
        act = memo.get(key)
        if act is None:
            act = memo[key] = decide(tag, vr, creator, scope, family, ctx.plan)
        code = act.code
        if code == "X":
            if 0x7FE00008 <= tag <= 0x7FE00010:
                del ds[tag]  # pydicom drops its cached pixel array with it
            else:
                del raw_elems[tag]  # not a private creator (skipped above): nothing else to invalidate
            fire(tag, "X", act.rule)
            continue
        if code == "K" and (vr in ("IS", "DS") or (private and private_checked(vr, act))
                            or (act.rule == FALLBACK_BYTES and public_bytes_checked(tag, vr))
                            or class_uid_checked(tag, vr, act)):
            checked = value_vr(tag, vr, creator, ctx.plan, act.rule)
            bad = value_action(tag, checked, act, _number_bytes(raw_elems[tag], checked), family, ctx.core)
            if bad is not None:
                act, code = bad, bad.code
                if code == "X":
                    del raw_elems[tag]
                    fire(tag, "X", act.rule)
                    continue
        if code == "K" and tag == _CHARSET and not charset_defined(_number_bytes(raw_elems[tag])):
            _normalise_charset(ds, ctx)
            continue
        if code == "K" and vr == "CS" and tag != _CHARSET:
            held = raw_elems[tag]
            value = held.value if type(held) is RawDataElement else None
            if isinstance(value, bytes):
                hit = code_string_raw_hit(value, ctx.core)
            else:  # decoded already: its values as they are
                hit = any(code_string_named(v, ctx.core) for v in _values(held))  # type: ignore[arg-type]
            if hit is not False:
                apply_element(ds, tag, act, ctx, scope, handled_times)  # read, and removed if it names
                if private and tag in ds:
                    kept_blocks.add((group, (tag & 0xFFFF) >> 8))
                continue
        if code == "K" and tag == _PATIENT_AGE and not top and ctx.plan.policy.dates.age_cap is not None:
            apply_element(ds, tag, act, ctx, scope, handled_times)  # capped as at the top level (_apply)
            continue
        if code == "K" and vr != "SQ":  # kept as read: no need to decode it (and not listed)
            if private:
                kept_blocks.add((group, (tag & 0xFFFF) >> 8))
            continue
        raw = raw_elems.get(tag)
        if type(raw) is RawDataElement and _apply_raw(ds, raw, vr, act, ctx):
            if private:
                kept_blocks.add((group, (tag & 0xFFFF) >> 8))
            continue
        apply_element(ds, tag, act, ctx, scope, handled_times)
        if private and tag in ds:
            kept_blocks.add((group, (tag & 0xFFFF) >> 8))
    for ctag in creator_tags:  # every creator, also one that could not be read (red team: a UL creator
        block = (ctag >> 16, ctag & 0xFFFF)  # of 39 bytes holding a name was copied as read)
        if block not in kept_blocks:
            del raw_elems[ctag]
            fire(ctag, "X", "private:creator-unused" if block in creators else "private:creator-unreadable")
    if not top and _MEASURED_VALUES in raw_elems and _names_concept(ds, AGE_CONCEPTS):
        _subject_age(ds, ctx)


#: Concepts of an SR NUM item whose value is the patient's age (PS3.16: DCM 121033 Subject Age; LOINC 30525-0
#: Age, 21612-7 Age Reported; SNOMED CT 397669002 Age, as SCT and as the retired SRT): red team B found "100"
#: years kept in content beside a Patient's Age removed (basic) or capped at 090Y (research-longitudinal), and
#: this session's red team "92" under SNOMED's Age.
AGE_CONCEPTS = frozenset({("121033", "DCM"), ("30525-0", "LN"), ("21612-7", "LN"), ("397669002", "SCT"),
                          ("397669002", "SRT")})
_MEASURED_VALUES = 0x0040A300
#: UCUM units of an age, in years each.
_AGE_UNITS = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25, "h": 1 / 8766, "min": 1 / 525960}


def _subject_age(item: Dataset, ctx: _Ctx) -> None:
    """An SR NUM item that is the patient's age gets Patient's Age's treatment: removed where the policy
    removes Patient's Age (its Measured Value Sequence emptied: Type 2), capped at the policy's age cap
    where it keeps it (the value written in the item's own unit), removed when its unit is not a time."""
    seq = item[_MEASURED_VALUES]
    if seq.VR != "SQ" or not seq.value:
        return
    act = ctx.plan.lookup(_PATIENT_AGE)
    cap = ctx.plan.policy.dates.age_cap
    if act is None or act.code != "K":
        seq.value = Sequence([])
        ctx.out.fire(_MEASURED_VALUES, "Z", "subject-age")
        return
    if cap is None:
        return
    for mv in seq.value:
        try:
            units = mv.get(0x004008EA)  # Measurement Units Code Sequence
            unit = str(units.value[0].get("CodeValue", "")).strip() if units is not None and units.value else ""
            value: float | None = float(str(mv.get("NumericValue", "")).strip())
        except Exception:  # not a number, units not a code sequence: removed below (fail closed)
            unit, value = "", None
        per = _AGE_UNITS.get(unit)
        if per is None or value is None:
            seq.value = Sequence([])
            ctx.out.fire(_MEASURED_VALUES, "Z", "subject-age:unreadable")
            return
        if value * per > cap:
            capped = cap / per
            mv.NumericValue = f"{capped:.6g}"
            if "FloatingPointValue" in mv:  # the same value again, in binary (red team C: 95.0 stayed)
                mv.FloatingPointValue = capped
            if "RationalNumeratorValue" in mv:
                mv.RationalNumeratorValue, mv.RationalDenominatorValue = round(capped), 1
            ctx.out.fire(_MEASURED_VALUES, "C", "subject-age:capped")


def _names_concept(item: Dataset, concepts: frozenset[tuple[str, str]]) -> bool:
    """Whether a content item's Concept Name Code Sequence names one of `concepts` (code value, scheme), or,
    for the age concepts, a local code whose meaning says it is the age ("Patient age", "Age at exam": red
    team, a 99LOCAL "Patient age" of 92 went out under both policies)."""
    names = item.get(0x0040A043)
    try:
        codes = names.value if names is not None else []
        return any((str(c.get("CodeValue", "")).strip(), str(c.get("CodingSchemeDesignator", "")).strip().upper())
                   in concepts or (concepts is AGE_CONCEPTS and _AGE_MEANING.fullmatch(str(c.get("CodeMeaning", ""))))
                   for c in codes or [])
    except Exception:
        return False


#: A concept meaning that is the subject's age, as sites name a local code.
_AGE_MEANING = re.compile(r"\s*(?:(?:patient|subject)(?:'?s)?\s+)?age(?:\s+(?:at|of)\s+(?:the\s+)?(?:exam|examination|"
                          r"study|scan|acquisition|visit|imaging))?(?:\s*\((?:years?|y|yrs?)\))?\s*", re.I)


#: VRs whose new value Veil writes as ASCII (UIDs, dummies, pseudonyms): every character set DICOM allows
#: has ASCII as its default repertoire (PS3.5 6.1.2.3), so these bytes need no Specific Character Set.
_ASCII_VRS = frozenset({"UI", "AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "SH", "LO", "PN", "LT", "ST", "UT",
                        "UC"})


def _raw_strings(data: bytes) -> list[str] | None:
    """Values of a raw UI element (backslash-separated ASCII), or None when they are not plain ASCII."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.rstrip("\x00 ")
    return [v.strip().rstrip("\x00") for v in text.split("\\")] if text else []


def raw_value(code: str, vr: str, encoded_vr: str | None, value: bytes, pseudonym: str, keyed: Keyed,
              tag: int) -> bytes | None:
    """The new value bytes of Z, D, P or U done on the raw value (no decode, no re-encode), padded to even
    length; None when this cannot be done exactly on the bytes and the element must be decoded.

    Only where the new value is ASCII (valid in every character set) and never for sequences; UIDs are
    remapped only when the old value is plain ASCII; not for a public attribute written with a VR its
    dictionary does not allow (``_apply`` writes it with its own: _retyped). Shared by the engine's walk
    and the raw path.
    """
    if vr not in _ASCII_VRS or encoded_vr not in (vr, None) or (not tag >> 16 & 1 and vr not in _public_vrs(tag)):
        return None
    if code == "Z":
        data, pad = b"", b" "
    elif code == "D":
        dummy = DUMMY.get(vr)
        if not isinstance(dummy, str) or vr in ("UI", "UR"):
            return None
        data, pad = dummy.encode("ascii"), b" "
    elif code == "P" and vr in ("LO", "PN", "SH"):
        data, pad = pseudonym.encode("ascii"), b" "
    elif code in ("U", "U*", "X/Z/U*") and vr == "UI":
        values = _raw_strings(value)
        if values is None:
            return None
        data, pad = "\\".join(new_uids(values, keyed)).encode("ascii"), b"\x00"
    else:
        return None
    return data + pad if len(data) % 2 else data


def _apply_raw(ds: Dataset, raw: RawDataElement, vr: str, act: Action, ctx: _Ctx) -> bool:
    """:func:`raw_value` on a pydicom raw element in place; False leaves the element to _apply."""
    if raw.length == 0xFFFFFFFF:
        return False
    data = raw_value(act.code, vr, raw.VR, raw.value or b"", ctx.pseudonym, ctx.keyed, int(raw.tag))
    if data is None:
        return False
    ds._dict[raw.tag] = raw._replace(value=data, length=len(data))
    ctx.out.fire(raw.tag, "U*" if act.code == "X/Z/U*" else act.code, act.rule)
    return True


def apply_element(ds: Dataset, tag: int, act: Action, ctx: _Ctx, scope: str, handled: set[int]) -> None:
    """Decode the element `tag` of `ds` and carry out `act` on it; a value pydicom cannot decode is removed
    (fail closed). The walk's step for every element no raw edit can do, here and in the raw path."""
    raw = ds._dict.get(BaseTag(tag))
    try:
        elem = ds[tag]
    except RecursionError as exc:  # not one bad value: cutting the tree there would write part of it
        raise InputError("sequences nested too deeply to de-identify", "parse") from exc
    except Exception as exc:  # undecodable value: remove (fail closed)
        del ds[tag]
        ctx.out.fire(tag, "X", f"undecodable:{type(exc).__name__}")
        return
    if act.code in ("K", "C") and _garbled(elem, raw, ds):
        _withdraw(ds, elem, ctx, scope, handled, "undecodable:invalid-bytes")
        return
    if act.code in ("K", "C") and ctx.known and _known_in_utf8(elem, ds, ctx.known):
        _withdraw(ds, elem, ctx, scope, handled, "text:identifier-in-another-encoding")
        return
    _apply(ds, elem, act, ctx, scope, handled)


#: The Code Sequence Macro's Type 1 attributes (PS3.3 Table 8.8-1): a code item without them is invalid.
_CODE_TYPE1 = frozenset({0x00080100, 0x00080102, 0x00080104})
#: An SR content item's value for its Value Type (PS3.3 C.17.3, Type 1C): Text Value, Person Name. Removed,
#: the item is invalid (red team, dciodvfy: DocumentContentMacro).
_CONTENT_VALUES = frozenset({0x0040A160, 0x0040A123})


#: Code Strings other attributes refer to by their text: Graphic Layer (0070,0002), Type 1 in the Graphic
#: Layer Sequence and in each Graphic Annotation that draws on it (PS3.3 C.10.7, C.10.5). Removed when it
#: named the patient ("QUIXANDOR_LAYER"), the presentation state lost its layers and was invalid (red team 3).
_CS_KEYS = frozenset({0x00700002})


def _withdraw(ds: Dataset, elem: DataElement, ctx: _Ctx, scope: str, handled: set[int], rule: str) -> None:
    """Take a value out that cannot be kept: text that cannot be read or cleaned, a Code String naming the
    patient (CS_KNOWN). Removed, or a dummy (Type 1) or empty (Type 2) where the IOD requires the attribute,
    as X/Z/D resolves it; a code item's value, meaning and scheme and an SR item's value are dummies (a code
    or content item without them is invalid: red team, dciodvfy)."""
    code = resolve_conditional("X/Z/D", elem.keyword, ctx.family)
    if code == "X" and (int(elem.tag) in _CODE_TYPE1 or (int(elem.tag) in _CONTENT_VALUES and "ValueType" in ds)):
        code = "D"
    if code == "X":
        del ds[elem.tag]
        ctx.out.fire(int(elem.tag), "X", rule)
        return
    _apply(ds, elem, Action(code, rule), ctx, scope, handled)


def _garbled(elem: DataElement, raw: object, ds: Dataset) -> bool:
    """Whether a text value pydicom decoded with replacement characters: bytes invalid in the declared
    character set (pydicom warns and goes on). Such text cannot be read for the patient's identifiers
    ("Z\ufffdrvath" is not the name) and would be written back changed: taken out (:func:`_withdraw`), not
    kept or cleaned (red team). A U+FFFD the file itself holds (bytes that decode without error) is text."""
    value = elem.value
    if isinstance(value, (list, tuple)):
        texts = [str(v) for v in value if isinstance(v, (str, PersonName))]
    else:
        texts = [str(value)] if isinstance(value, (str, PersonName)) else []
    if not any("\ufffd" in t for t in texts):
        return False
    data = getattr(raw, "value", None)
    encodings = _encodings(ds)
    if isinstance(data, bytes) and len(encodings) == 1:
        try:
            data.decode(encodings[0])
        except (UnicodeDecodeError, LookupError):
            return True
        return False  # decodes as declared: the replacement character is the file's own
    return True


def _encodings(ds: Dataset) -> list[str]:
    """Python codec names of the data set's character set (pydicom's; one name when none is declared)."""
    encodings = getattr(ds, "_character_set", None) or []
    return [encodings] if isinstance(encodings, str) else list(encodings)


#: Codecs of one byte per character (ISO 8859, ASCII): text written in UTF-8 under them decodes as mojibake.
_SINGLE_BYTE = re.compile(r"iso8859|iso_ir_1[0-9][0-9]|latin|ascii|cp125|tis_620", re.IGNORECASE)


def _known_in_utf8(elem: DataElement, ds: Dataset, known: KnownIdentifiers) -> bool:
    """Whether a text value decoded in a single-byte character set holds, read as UTF-8, one of the patient's
    own identifiers that it does not hold as declared: a device that writes UTF-8 and declares ISO_IR 100
    (or nothing, or ISO 2022 IR 6 and IR 100) stores "Zörvath" as bytes that decode to "ZÃ¶rvath", which
    matches no name, and the bytes went out as they were (red team). Read leniently: one Latin-1 byte beside
    the UTF-8 ones did not hide it. Such a value is taken out (:func:`_withdraw`), not cleaned: its spans
    cannot be mapped between the two readings."""
    if elem.VR not in TEXT_VRS:
        return False
    value = elem.value
    texts = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    texts = [t for t in texts if not t.isascii()]
    if not texts:
        return False
    encodings = _encodings(ds)
    if not encodings or not all(_SINGLE_BYTE.search(e) for e in encodings):
        return False  # UTF-8 itself, or a multi-byte set (its own codec decides)
    from veil.text.known import fold, has_known

    for text in texts:
        try:
            other = text.encode(encodings[0]).decode("utf-8", "replace")
        except (UnicodeError, LookupError):
            continue
        if other != text and has_known(fold(other), known) and not has_known(fold(text), known):
            return True
    return False


#: Coding schemes whose concepts and their meanings are defined outside the site (PS3.16 Table 8-1); any
#: other designator ("99ACME", "L", "LOCAL", none) is a local scheme: its meanings are text a site typed.
PUBLIC_SCHEMES = frozenset({"DCM", "SCT", "SRT", "SNM3", "LN", "UCUM", "RADLEX", "FMA", "NCIT", "UMLS", "MDC",
                            "I10", "I10P", "I9C", "ICD10", "C4", "C5", "ACR", "NCDR", "HPC", "PUBCHEM_CID",
                            "NEU", "NICIP", "SNM",
                            # more of PS3.16 Table 8-1 (red team: SCPECG's "Lead III" became "[NAME] III")
                            "SCPECG", "BARI", "ACRIN", "CD2", "DC", "DCMUID", "HGNC", "I11", "I9", "IBSI",
                            "ISO3166_1", "ISO639_1", "ISO639_2", "ISBT", "ITIS_TSN", "MA", "MDNS", "MEDDRA",
                            "MGI", "MSH", "NDC", "NYUMCCG", "RADELEMENT", "RFC3066", "RFC5646", "RO", "RXNORM",
                            "UBERON", "UNS", "UPC", "UPN", "CTV3", "ASTM-SIGPURPOSE"})
_CODE_MEANING = 0x00080104


def local_scheme(designator: str) -> bool:
    """Whether a Coding Scheme Designator names a local (site-made) scheme (PS3.16 8.2: "99..." and others)."""
    return designator.strip(" \x00").upper() not in PUBLIC_SCHEMES


def meaning_named(value: bytes, known: KnownIdentifiers | None, designator: str) -> bool:
    """Whether :func:`_clean_known` would change a Code Meaning outside content, given as its bytes and its
    item's Coding Scheme Designator (the raw path keeps the bytes when it would not). Not ASCII (another
    character set, escapes): True, the engine decides."""
    if not value.isascii():
        return True
    vals = value.decode("ascii").rstrip(" \x00").split("\\")
    if _kind(designator, vals) == "standard":
        return False  # a public scheme's own text: the caller has found no known identifier in it
    return _clean_meaning(vals, known) != vals


def _meaning_kind(ds: Dataset | None, vals: list[str]) -> str:
    """:func:`_kind` of a Code Meaning by the designator its item `ds` holds now: rewritten because it named
    the patient (a patient called Neu and the NeuroNames designator NEU), the scheme is not public."""
    elem = ds.get(0x00080102) if ds is not None else None
    return _kind(str(elem.value or "") if elem is not None and not isinstance(elem.value, bytes) else "", vals)


def _kind(designator: str, vals: list[str]) -> str:
    """A Code Meaning's source: "standard" (a public scheme's concept text that pydicom's dictionaries hold,
    not a lone first name or surname: 'Taylor', 'Lewis' are concepts there), "public" (a public scheme, text
    not known), "local" (a local scheme: site-typed)."""
    if local_scheme(designator):
        return "local"
    return "standard" if all(standard_meaning(v) for v in vals) else "public"


def _clean_meaning(vals: list[str], known: KnownIdentifiers | None) -> list[str]:
    """A Code Meaning outside content that is not a public scheme's own text, cleaned: the patient's
    identifiers as in technical text and every single word of the institution's name (a site's own text:
    technical_identifiers `places`), listed and announced names, and patterns (a meaning is text: "MRN
    12345678 CT", a phone). One function for both paths: the raw path keeps the bytes only where it leaves
    them as they are."""
    from veil.text.clean import clean_text
    from veil.text.known import technical_identifiers

    tech = technical_identifiers(known, places=True) if known else None
    return [clean_text(v, tech, names="listed")[0] for v in vals]


def standard_meaning(value: str) -> bool:
    """Whether `value` is the text of a public scheme's concept that pydicom's dictionaries hold, and not a
    lone first name or surname ('Taylor' and 'Lewis' are concepts there too)."""
    from veil.text.vocabulary import code_meanings, lexicon

    word = value.strip().upper()
    if word not in code_meanings():
        return False
    lex = lexicon()
    return " " in word or (word not in lex.first and word not in lex.surnames)


#: RT labels: structure, observation, beam, plan and device names that a planning system's users type and
#: dose-to-organ research reads (PS3.3 C.8.8.5 Structure Set, C.8.8.8 RT ROI Observations, C.8.8.9/C.8.8.14
#: RT Plan; Segment Label C.8.20.4, often the same AAPM TG-263 names). Cleaned (E.3.4) with those names'
#: words as anatomy and fields: "Carina", "Vena_Cava", "Med Tang" (veil.text.names.find_names `rt`).
_RT_LABELS = frozenset(tag_for_keyword(k) for k in (
    "StructureSetLabel", "StructureSetName", "ROIName", "ROIObservationLabel", "RTPlanLabel", "RTPlanName",
    "BeamName", "FixationDeviceLabel", "ShieldingDeviceLabel", "BlockName", "SegmentLabel",
))


def _clean_known(elem: DataElement, ctx: _Ctx, scope: str = "", ds: Dataset | None = None) -> bool:
    """ALLOWLIST_KNOWN: the known identifiers in a text value replaced; False when there were none.
    Technical text is checked for names, IDs, dates and whole place values only, not for single words of
    the institution's name or name parts that are terms (technical_identifiers): "GE MEDICAL SYSTEMS"
    stays at "Sutter Health Systems".

    Also read for other people's names:
    - coded text inside content Table E.1-1 replaces or cleans (`scope` D or C: an SR's Content Sequence),
      against every known identifier, a meaning also for patterns (a phone, a date: a code value
      "39607008" is no phone number): a local code's meaning can be "Requested by Mrs White" or "Dr
      Harriet Quenby". Not a public scheme's meaning that pydicom's concept dictionaries hold: read for
      names, "AC, Hadlock 1984" and "Aortic valve Vmax" lost a word to [NAME] (1,970 of pydicom's 18,495
      concept meanings);
    - a Code Meaning outside content (`ds`: its item) of a local coding scheme, or of a public one whose
      text pydicom's dictionaries do not hold (CPT codes with a site's own text): "Ordered by Dr Zbigniew
      Wojciechowski" in a Requested Procedure Code Sequence, and for patterns ("MRN 12345678 CT", a phone,
      a date). A word in no list is no name there on its own (procedure names are abbreviations: "FL VCUG",
      "MR KNIE LI"; 21 of 193 lost one, 7 now; patterns: none of them)."""
    from veil.policy.plan import typed_text
    from veil.text.clean import clean_text
    from veil.text.known import technical_identifiers

    if elem.VR not in TEXT_VRS:
        return False
    vals = _values(elem)
    kind = _meaning_kind(ds, vals) if int(elem.tag) == _CODE_MEANING else ""
    if int(elem.tag) in typed_text():  # a label people type ("Liver (contoured by Dr Jane Roe)"): free text
        cleaned = [clean_text(v, ctx.known, rt=int(elem.tag) in _RT_LABELS)[0] for v in vals]
    elif scope in ("C", "D") and kind != "standard" and int(elem.tag) == _CODE_MEANING:
        # patterns too (red team: "Contact daughter 555-201-0142" and "Seen 2019-03-04" in SR content went out)
        cleaned = [clean_text(v, ctx.known)[0] for v in vals]
    elif scope in ("C", "D") and int(elem.tag) != _CODE_MEANING:
        # a code in content (value, designator, version, units): against the known identifiers only. Read
        # for names, UCUM and RADLEX became [NAME] in every measurement's units, "LA6576-8" "[NAME]6576-8"
        cleaned = [clean_text(v, ctx.known, names=False, patterns=False)[0] for v in vals]
    elif kind in ("local", "public"):
        cleaned = _clean_meaning(vals, ctx.known)
    elif elem.tag.is_private and ctx.known is not None:
        # a safe private label (Retain Safe Private: a sequence name, a coil): patterns and titled names too
        # (red team: "Dr Harriet Okonkwo 555-201-0142" went out under basic)
        from veil.text.clean import clean_label

        cleaned = [clean_label(v, ctx.known)[0] for v in vals]
    elif not ctx.known:
        return False
    else:
        known = technical_identifiers(ctx.known, homes=int(elem.tag) not in _EQUIPMENT)
        cleaned = [clean_text(v, known, names=False, patterns=False)[0] for v in vals]
    if cleaned == vals:
        return False
    limit = _MAX_LEN.get(elem.VR)
    _put(elem, [_cut(c, limit) if limit else c for c in cleaned], b" ")
    return True


#: What names the equipment: a vendor's or product's word may be a town's or a street's too ("Boston
#: Scientific", "Marconi", "GENESIS_SIGNA"), so the words of the patient's address are not looked for there.
_EQUIPMENT = frozenset({0x00080070, 0x00081090, 0x00181020, 0x00181016, 0x00181018, 0x00181019})


def _cut(value: str, limit: int) -> str:
    """`value` within its VR's length, never ending in half a placeholder ("Contoured by [NA")."""
    if len(value) <= limit:
        return value
    cut = value[:limit]
    if cut.rfind("[") > cut.rfind("]"):
        cut = cut[:cut.rfind("[")].rstrip()
    return cut


def _names_known(ds: Dataset, elem: DataElement, ctx: _Ctx) -> bool:
    """Whether a value held as bytes, decoded by the data set's character set, holds a known identifier."""
    from pydicom.charset import decode_bytes

    from veil.text.known import fold, has_known

    value = elem.value
    if not isinstance(value, bytes):
        return any(has_known(fold(v), ctx.known) for v in _values(elem))
    text = decode_bytes(value, ds._character_set, {0x5C})
    return any(has_known(fold(v.strip(" \x00")), ctx.known) for v in text.split("\\"))


def _apply(ds: Dataset, elem: DataElement, act: Action, ctx: _Ctx, scope: str, handled: set[int]) -> None:
    tag = int(elem.tag)
    code = act.code
    if "/" in code:
        code = "U*" if code == "X/Z/U*" else resolve_conditional(code, elem.keyword, ctx.family)
    vr = elem.VR
    if act.rule == ALLOWLIST_KNOWN:
        if vr not in TEXT_VRS and tag >> 16 & 1:  # safe private text without a VR of its own (implicit VR,
            if _names_known(ds, elem, ctx):  # UN) cannot be rewritten as text: it goes when it names
                del ds[tag]
                ctx.out.fire(tag, "X", f"{act.rule}:untyped")
            return
        if _clean_known(elem, ctx, scope, ds):
            ctx.out.fire(tag, code, act.rule)
        return
    if code == "K" and vr == "CS":
        vals = _values(elem)
        named = [code_string_named(v, ctx.core) for v in vals]
        if not any(named):
            return  # kept as read, and not listed (as the walk keeps it when its bytes say so)
        if tag in _CS_KEYS:  # referred to by its text elsewhere: the same keyed code for the same value
            _put(elem, ["L" + ctx.keyed.hash_value(v, 15) if n else v for v, n in zip(vals, named, strict=True)],
                 b" ")
            ctx.out.fire(tag, "D", CS_KNOWN)
            return
        if len(vals) > 1:  # each value means something by its position (Image Type): only that one is a dummy
            _put(elem, [str(DUMMY["CS"]) if n else v for v, n in zip(vals, named, strict=True)], b" ")
            ctx.out.fire(tag, "D", CS_KNOWN)
            return
        _withdraw(ds, elem, ctx, scope, handled, CS_KNOWN)
        return
    if code not in ("K", "X", "C") and not tag >> 16 & 1 and vr not in _public_vrs(tag) and _public_vrs(tag):
        old, elem = elem, _retyped(ds, elem, code)
        vr = elem.VR
        if code == "H":
            ctx.out.fire(tag, code, act.rule)
            _set(elem, ctx.keyed.hash_value(str(old.value)))
            return
    ctx.out.fire(tag, code, act.rule)
    if code == "K":
        if vr == "SQ":
            _recurse(elem, ctx, scope)
        elif tag == _PATIENT_AGE:
            cap_age(ds, ctx.plan, ctx.out)  # in an item (Referenced Patient, Source Patient ...) as at the top
        return
    if code == "X":
        del ds[tag]
        return
    if code == "Z":
        if vr == "SQ":
            elem.value = Sequence([])
        else:
            elem.value = b"" if isinstance(elem.value, bytes) else None
        return
    if code == "D":
        if vr == "SQ":
            _recurse(elem, ctx, "P" if tag in PERSON_SEQUENCES else "D")
        else:
            _set(elem, DUMMY.get(vr, ""))
        return
    if code == "R":
        _set(elem, act.value or "")
        return
    if code == "H":
        _set(elem, ctx.keyed.hash_value(str(elem.value)))
        return
    if code == "P":
        elem.value = ctx.pseudonym
        return
    if code in ("U", "U*"):
        if vr == "SQ":
            _recurse(elem, ctx, scope)
        else:
            _remap_uid(elem, ctx)
        return
    if code in ("S", "Y"):
        _temporal(ds, elem, code, ctx, handled)
        return
    if code == "C":
        _clean(ds, elem, ctx, handled)
        return
    raise AssertionError(f"unknown action {code!r}")


def _retyped(ds: Dataset, elem: DataElement, code: str) -> DataElement:
    """A public attribute written with a VR its dictionary does not allow (PS3.5 6.2: Patient's Name as a
    sequence), about to get a value of Veil's own (Z, D, R, H, P): an empty element of the dictionary's VR
    takes its place, so the value can be written and the output holds the attribute as the standard types
    it. A value Veil derives from the old one (U remapped, S/Y shifted) cannot be read from another VR: the
    instance is refused with its reason."""
    tag = int(elem.tag)
    if code in ("U", "U*", "S", "Y"):
        raise InputError(f"{elem.keyword or f'({tag >> 16:04X},{tag & 0xFFFF:04X})'} is written as {elem.VR}, "
                         f"not {dictionary_VR(tag)}: its value cannot be {'remapped' if code[0] == 'U' else 'shifted'}",
                         "vr-mismatch")
    vr = dictionary_VR(tag).split(" or ")[0]
    fresh = DataElement(tag, vr, Sequence([]) if vr == "SQ" else None)
    ds[tag] = fresh
    return fresh


def _recurse(elem: DataElement, ctx: _Ctx, scope: str) -> None:
    for item in elem.value or []:
        _walk(item, ctx, scope)


def _set(elem: DataElement, value: object) -> None:
    if elem.VR == "UN":
        elem.value = value if isinstance(value, bytes) else str(value).encode()
        return
    elem.value = value


def _values(elem: DataElement) -> list[str]:
    v = elem.value
    if v is None or v == "":
        return []
    if isinstance(v, bytes):
        v = v.decode("latin-1").rstrip("\x00 ")
        return [s.strip() for s in v.split("\\")]
    if elem.VM > 1:
        return [str(x) for x in v]
    return [str(v)]


def _put(elem: DataElement, values: list[str], pad: bytes = b"\x00") -> None:
    if elem.VR == "UN" or isinstance(elem.value, bytes):  # bytes were read as latin-1 by _values
        raw = "\\".join(values).encode("latin-1", "replace")
        if len(raw) % 2:
            raw += pad
        elem.value = raw
    elif len(values) == 1:
        elem.value = values[0]
    else:
        elem.value = values


def new_uids(values: list[str], keyed: Keyed) -> list[str]:
    """PS3.15 U: a new UID, the same for the same original everywhere (keyed, no table needed); UIDs of
    the standard (:func:`standard_uid`) name no instance and are kept. The one rule of every UID Veil
    replaces: public and private attributes, and UIDs quoted in text (E.3.9 without Retain UIDs: replaced
    consistently, so a private or written reference still finds the public UID it named)."""
    out = []
    for v in values:
        v = v.strip().rstrip("\x00")
        out.append(v if not v or standard_uid(v) else keyed.uid(v))
    return out


def new_uid(value: str, keyed: Keyed) -> str:
    """:func:`new_uids` of one UID."""
    return new_uids([value], keyed)[0]


def _remap_uid(elem: DataElement, ctx: _Ctx) -> None:
    _put(elem, new_uids(_values(elem), ctx.keyed))


_TIME_PARTNER = re.compile(r"Date(?!.*Date)")
_BIRTH_DATE = 0x00100030


def birth_date(value: str) -> date | None:
    """The patient's birth date as read from Patient's Birth Date, or None when it is not one date."""
    try:
        return dates.parse_da(value.strip(" \x00"))
    except dates.DateError:
        return None


def _is_birth_date(value: str, vr: str, birth: date) -> bool:
    """Whether a DA value, or the date of a DT value, is the patient's birth date."""
    try:
        return dates.parse_da(value if vr == "DA" else value.strip()[:8]) == birth
    except dates.DateError:
        return False


#: The values of SR content items (PS3.3 C.17.3: DATE, DATETIME) and an item's Observation DateTime: where
#: a birth date is written as content.
_CONTENT_DATES = frozenset({0x0040A121, 0x0040A120, 0x0040A032})


#: Concepts whose content item's date is a birth date whatever it is (PS3.16: DCM 121031 Subject Birth Date;
#: LOINC 21112-8 Birth date): red team B's SR held one while the top-level Patient's Birth Date was empty.
_BIRTH_CONCEPTS = frozenset({("121031", "DCM"), ("21112-8", "LN")})


def _birth_date_action(ds: Dataset, elem: DataElement, vals: list[str], ctx: _Ctx) -> bool:
    """An SR content date (DATE/DATETIME item) that is the patient's birth date (equal to it, or named so by
    its concept: _BIRTH_CONCEPTS) gets Patient's Birth Date's own action under the policy instead of a
    shift: shifted, shifted study date minus shifted birth date is the exact age in days, which emptying
    Patient's Birth Date (E.1-1 Z) was to hide. Z or X become a dummy where the IOD requires a value. True
    when it was done here.

    Only content dates: a newborn's Study, Series and Acquisition Dates equal the birth date too, and
    emptying them hid nothing (Patient's Age 000D stays) while a neonatal cohort lost every date. A
    birth date the policy keeps or shifts leaves such a date to its own action."""
    birth = ctx.birth
    if int(elem.tag) not in _CONTENT_DATES or elem.VR not in ("DA", "DT"):
        return False
    if not _names_concept(ds, _BIRTH_CONCEPTS) and (
            birth is None or not any(_is_birth_date(v, elem.VR, birth) for v in vals)):
        return False
    act = ctx.plan.lookup(_BIRTH_DATE)
    code = act.code if act is not None else "X"
    if code in ("S", "Y", "K"):  # the policy moves the birth date too, or keeps it: like any date (kept
        return False  # unshifted beside shifted dates, it would give the patient's offset away)
    if code != "D":
        code = resolve_conditional("Z/D" if code == "Z" else "X/Z/D", elem.keyword, ctx.family)
    tag = int(elem.tag)
    ctx.out.fire(tag, code, "birth-date")
    if code == "X":
        del ds[tag]
    elif code == "Z":
        elem.value = None
    elif code == "D":
        _set(elem, DUMMY[elem.VR])
    return True


def _temporal(ds: Dataset, elem: DataElement, code: str, ctx: _Ctx, handled: set[int]) -> None:
    """S (shift) / Y (year): DA with its paired TM as one instant, DT with zone, lone TM modulo 24 h."""
    vr = elem.VR
    tag = int(elem.tag)
    try:
        vals = _values(elem)
        if not vals or _birth_date_action(ds, elem, vals, ctx):
            return
        if code == "Y":
            if vr != "TM":
                _put(elem, [dates.year_only(v, vr) for v in vals])
            elif resolve_conditional("Z/D", elem.keyword, ctx.family) == "D":
                # a time of day without its day once dates are years: emptied - but a Type 1 time (Content
                # Time of an enhanced image, SEG, SR or waveform, an SR TIME item's Time) must have a value
                # (PS3.3 C.7.6.16, C.17.2, C.17.3, C.10.8): the dummy, which says nothing either
                _set(elem, DUMMY["TM"])
            else:
                elem.value = None
            return
        off = ctx.offset
        if vr == "DA":
            partner = _partner_time(ds, elem)
            if partner is not None and len(vals) == 1 and partner.value:
                pact = ctx.plan.lookup(int(partner.tag))
                if pact is None or pact.code in ("S", "C") or partner.tag.is_private:
                    new_d, new_t = dates.shift_pair(vals[0], str(partner.value), off)
                    _put(elem, [new_d])
                    partner.value = new_t
                    handled.add(int(partner.tag))
                    ctx.out.fire(int(partner.tag), "S", "paired-with-date")
                    return
            _put(elem, [dates.shift_da(v, off) for v in vals])
        elif vr == "DT":
            _put(elem, [dates.shift_dt(v, off) for v in vals])
        elif vr == "TM":
            if ctx.plan.policy.dates.lone_time == "remove":
                del ds[tag]
                ctx.out.fire(tag, "X", "dates.lone_time=remove")
            else:
                _put(elem, [dates.shift_tm(v, off) for v in vals])
        else:  # a private element the dictionary says holds a date but with a non-temporal VR
            del ds[tag]
            ctx.out.fire(tag, "X", "shift:not-temporal-vr")
    except (dates.DateError, UnicodeDecodeError, ValueError):
        del ds[tag]  # unparseable date: remove, never pass through
        ctx.out.fire(tag, "X", "shift:unparseable")


def _partner_time(ds: Dataset, elem: DataElement) -> DataElement | None:
    kw = elem.keyword
    if not kw or "Date" not in kw:
        return None
    tkw = _TIME_PARTNER.sub("Time", kw)
    if tkw == kw or tkw not in ds:
        return None
    partner = ds[tkw]
    return partner if partner.VR == "TM" else None


_TIMEZONE_OFFSET = 0x00080201
#: Timezone Offset From UTC: "&ZZXX", & = + or -, -1200 to +1400 (PS3.3 C.12.1.1.8).
_UTC_OFFSET = re.compile(r"[+-](?:0\d|1[0-4])[0-5]\d")


def _clean(ds: Dataset, elem: DataElement, ctx: _Ctx, handled: set[int]) -> None:
    """PS3.15 C: keep the meaning, remove what identifies."""
    from veil.text.clean import clean_text

    vr = elem.VR
    tag = int(elem.tag)
    if tag == _TIMEZONE_OFFSET:
        # a technical value ("+0100", PS3.3 C.12.1.1.8), not text: the free-text cleaner would read its
        # digits as a phone number. Kept when it is an offset; anything else goes.
        if not _UTC_OFFSET.fullmatch("\\".join(_values(elem))):
            del ds[tag]
            ctx.out.fire(tag, "X", "clean:not-a-utc-offset")
        return
    if vr == "SQ":
        _recurse(elem, ctx, "C")
    elif vr in TEMPORAL_VRS:
        if ctx.plan.shifts_dates:
            _temporal(ds, elem, "S", ctx, handled)
        elif ctx.plan.policy.has("retain_long_full_dates"):
            pass
        else:
            del ds[tag]
            ctx.out.fire(tag, "X", "clean:date-without-shift")
    elif vr == "PN":
        _set(elem, DUMMY["PN"] if elem.value else "")
    elif vr == "AE":  # an AE title identifies a device or site: keyed, consistent replacement
        vals = _values(elem)
        _put(elem, [ctx.keyed.hash_value(v, 16) for v in vals])
    elif vr in TEXT_VRS or (vr == "UN" and elem.tag.is_private):  # UN: text by the private dictionary
        vals = _values(elem)
        cleaned = []
        limit = _MAX_LEN.get(vr)
        # dates in text move by the patient's keyed offset, like the header dates (intervals survive)
        shift = ctx.offset.days if ctx.plan.shifts_dates else None
        rt = tag in _RT_LABELS
        for v in vals:
            new = clean_with_uids(v, lambda t: clean_text(t, ctx.known, shift_days=shift, rt=rt)[0],
                                  lambda uid: new_uid(uid, ctx.keyed))
            cleaned.append(new[:limit] if limit else new)
        _put(elem, cleaned, b" ")
    else:  # e.g. Overlay Data or Curve Data: cleaning their pixels needs the pixels module
        del ds[tag]
        ctx.out.fire(tag, "X", f"clean:unavailable-for-{vr}")


def clean_with_uids(value: str, clean: Callable[[str], str], remap: Callable[[str], str]) -> str:
    """Free text with each UID quoted in it (:func:`veil.text.uids.uid_spans`) replaced by `remap` - the keyed
    new UID the header gets (E.1-1 U: "Compare with prior study <UID>" still names the prior study in the
    release, and the standard's UIDs stay) - and the text around them cleaned by `clean`. The UIDs are taken
    out first: read as text, a UID's components were dates and IDs, and what the patterns left of it ("[DATE]
    .2.1107.5.1.4.73105.300000240311...") still named the device and the acquisition's date and time."""
    from veil.text.uids import uid_spans

    spans = uid_spans(value)
    if not spans:
        return clean(value)
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        if value[pos:start].strip():
            parts.append(clean(value[pos:start]))
        else:
            parts.append(value[pos:start])
        parts.append(remap(value[start:end]))
        pos = end
    parts.append(clean(value[pos:]) if value[pos:].strip() else value[pos:])
    return "".join(parts)


def stamp_elements(plan: Plan) -> Dataset:
    """PatientIdentityRemoved, DeidentificationMethod (+ code sequence, CID 7050), LTIM (PS3.3 C.7.1.1):
    the same for every instance of a plan."""
    ds = Dataset()
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = plan.description()
    seq = Sequence()
    for value, meaning in plan.method_codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        seq.append(item)
    ds.DeidentificationMethodCodeSequence = seq
    p = plan.policy
    if p.has("retain_long_full_dates"):
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif p.has("retain_long_modified_dates"):
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    return ds


_PATIENT_AGE = 0x00101010


def cap_age(ds: Dataset, plan: Plan, out: Outcome) -> None:
    """Patient's Age above the policy's cap becomes the cap (e.g. 90Y+, HIPAA Safe Harbor); unparseable: X.

    At every depth: a kept age in a sequence item (an item copied from another instance, a Referenced
    Image's attributes) says as much as the top-level one (HIPAA 164.514(b)(2)(i)(C): all ages over 89)."""
    p = plan.policy
    if "PatientAge" in ds and p.dates.age_cap is not None and ds.PatientAge:
        try:
            ds.PatientAge = dates.cap_age(str(ds.PatientAge), p.dates.age_cap)
        except dates.DateError:
            del ds.PatientAge
            out.fire(0x00101010, "X", "age:unparseable")


def _stamp(ds: Dataset, plan: Plan, ctx: _Ctx) -> None:
    for elem in stamp_elements(plan):
        ds[elem.tag] = elem
    cap_age(ds, plan, ctx.out)


#: Veil's Implementation Class UID: 2.25 + the UUID5 of "veil.dev" (PS3.5 B.2), fixed forever.
VEIL_IMPLEMENTATION_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_DNS, 'veil.dev').int}"
VEIL_IMPLEMENTATION_VERSION = "VEIL_1"

#: File meta attributes removed (PS3.10 7.1; PS3.15 E.1-1 lists Source/Sending/Receiving AE titles).
_META_DROP = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
#: The file meta attributes written (group length, version, SOP class/instance, transfer syntax, Veil's
#: implementation): anything else in the group - presentation addresses (0002,0026-0028) naming the
#: sending site's network, future additions - is removed, failing closed.
META_KEEP = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})


def _fix_meta(ds: Dataset, ctx: _Ctx) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    fix_meta(meta, peek(ds, "SOPInstanceUID"), peek(ds, "SOPClassUID"), ctx.out)


def fix_meta(meta: FileMetaDataset, sop_instance: object, sop_class: object, out: Outcome) -> None:
    """The file meta group follows the de-identified dataset (PS3.10 7.1): source/sending/receiving AE
    titles and private meta removed, Veil as the writer, Media Storage UIDs = the new SOP UIDs."""
    for t in [int(t) for t in meta.keys()]:  # noqa: SIM118 - keys only
        if t in _META_DROP or t not in META_KEEP:
            del meta[t]
            out.fire(t, "X", "E.1-1 basic:file-meta" if t in _META_DROP else "fallback:file-meta")
    # The writer is Veil now; the input's implementation identifies the source system (PS3.7 D.3.3.2).
    meta.ImplementationClassUID = UID(VEIL_IMPLEMENTATION_UID)
    meta.ImplementationVersionName = VEIL_IMPLEMENTATION_VERSION
    if sop_instance is not None:
        meta.MediaStorageSOPInstanceUID = UID(str(sop_instance))
    if sop_class is not None:
        meta.MediaStorageSOPClassUID = UID(str(sop_class))
