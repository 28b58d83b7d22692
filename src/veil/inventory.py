"""Inventory: what a corpus holds, how risky each attribute is, and what a policy will do to it.

The first step of a de-identification programme is knowing the data. The inventory reads headers only
(never pixels), lists every attribute present - standard, private by creator + element, and nested
attributes with their sequence path - with counts, VR, masked value shapes (``Aaaa^Aaaa``, ``99999999``),
a risk class and the action the chosen policy's plan takes. Values themselves are never stored.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import secrets
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.errors import scrub
from veil.header.engine import decide
from veil.pipeline.passthrough import read_head
from veil.pipeline.pool import batches, each_alone, ordered
from veil.policy.plan import TEMPORAL_VRS, Plan
from veil.text.known import KnownIdentifiers, core_identifiers, fold, has_known

RISK_CLASSES = ("direct identifier", "quasi-identifier", "sensitive", "safe", "unknown")
#: How an action treats the value: kept as is, transformed (cleaned, shifted, remapped, dummy), removed.
KEPT, TRANSFORMED, REMOVED = frozenset({"K"}), frozenset({"C", "S", "Y", "U", "U*", "P", "R", "H", "D"}), \
    frozenset({"X", "Z"})

#: Attributes that name or contact the patient, or are record numbers (HIPAA 164.514(b)(2)(i)).
DIRECT = frozenset({
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientBirthName", "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "IssuerOfPatientID", "MedicalRecordLocator", "AccessionNumber",
    "AdmissionID", "PersonName", "PersonAddress", "PersonTelephoneNumbers", "ResponsiblePerson",
    "InsurancePlanIdentification", "MilitaryRank", "BranchOfService", "StudyID", "RequestedProcedureID",
    "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest", "PatientAlternativeCalendar",
})
#: Clinical facts about the patient that research wants but an adversary must not link.
SENSITIVE = frozenset({
    "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "AdditionalPatientHistory",
    "MedicalAlerts", "Allergies", "PregnancyStatus", "SmokingStatus", "Occupation", "PatientComments",
    "SpecialNeeds", "PatientState", "PatientReligiousPreference", "EthnicGroup", "ReasonForStudy",
    "ReasonForTheRequestedProcedure", "RequestedProcedureComments", "ImageComments", "StudyComments",
    "ResultsComments", "InterpretationText", "ImpressionText",
})
#: Quasi-identifiers: linkable in combination (Sweeney: 5-digit ZIP + birth date + sex).
QUASI = frozenset({
    "PatientBirthDate", "PatientBirthTime", "PatientAge", "PatientSex", "PatientSize", "PatientWeight",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "Manufacturer", "ManufacturerModelName", "CountryOfResidence", "RegionOfResidence",
    "BodyPartExamined", "StudyDescription", "SeriesDescription", "ProtocolName",
})
_TEXTISH = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "AE", "UR"})
#: Coded and numeric VRs keep at most this many distinct shapes (UIDs alone would have one per length).
_CAPPED, _SHAPES_CAP = frozenset({"AS", "IS", "DS", "CS", "UI"}), 50


class _Shapes(dict[int, str]):
    """str.translate table: ASCII letters -> A/a, digits -> 9, other printable ASCII kept, the rest '?'."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        out = "9" if "0" <= c <= "9" else "a" if "a" <= c <= "z" else "A" if "A" <= c <= "Z" else \
            c if 0x20 <= code <= 0x7E else "?"
        self[code] = out
        return out


_SHAPES = _Shapes()


def mask(value: str, limit: int = 24) -> str:
    """Shape of a value without the value: letters -> A/a, digits -> 9, other characters kept."""
    out = value.translate(_SHAPES)
    return out[:limit] + ("…" if len(out) > limit else "")


@dataclass
class AttributeStat:
    path: str  # e.g. "(0008,1030)", "(0040,0275)>(0040,1001)", "(0019,xx23)[GEMS_ACQU_01]"
    keyword: str
    vr: str
    files: int = 0
    occurrences: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    risk: str = "unknown"
    action: str = ""
    rule: str = ""
    private_creator: str = ""


@dataclass
class Inventory:
    files: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    attributes: dict[str, AttributeStat] = field(default_factory=dict)
    modalities: Counter[str] = field(default_factory=Counter)
    manufacturers: Counter[str] = field(default_factory=Counter)
    sop_classes: Counter[str] = field(default_factory=Counter)
    private_creators: Counter[str] = field(default_factory=Counter)
    patients: set[str] = field(default_factory=set)

    def rows(self) -> list[AttributeStat]:
        return sorted(self.attributes.values(), key=lambda a: a.path)

    def by_risk(self) -> Counter[str]:
        return Counter(a.risk for a in self.attributes.values())

    def merge(self, part: Inventory) -> None:
        """Add the inventory of the next files. An attribute keeps what its first occurrence decided
        (VR, risk, action); merged in input order, the result does not depend on how work was split."""
        self.files += part.files
        self.unreadable += part.unreadable
        for mine, theirs in ((self.modalities, part.modalities), (self.manufacturers, part.manufacturers),
                             (self.sop_classes, part.sop_classes), (self.private_creators, part.private_creators)):
            mine.update(theirs)
        self.patients |= part.patients
        for key, stat in part.attributes.items():
            have = self.attributes.get(key)
            if have is None:
                self.attributes[key] = stat
                continue
            have.files += stat.files
            have.occurrences += stat.occurrences
            for shape, n in stat.shapes.items():
                if have.vr not in _CAPPED or shape in have.shapes or len(have.shapes) < _SHAPES_CAP:
                    have.shapes[shape] += n


def risk_class(keyword: str, vr: str, private: bool, safe_private: bool, in_table: bool,
               allow_listed: bool = False) -> str:
    """Risk class of one attribute: direct identifier, quasi-identifier, sensitive, safe or unknown."""
    if allow_listed:
        return "quasi-identifier" if keyword in QUASI else "safe"
    if private:
        return "safe" if safe_private else "unknown"
    if not keyword:
        return "unknown"
    if keyword in DIRECT or vr == "PN":
        return "direct identifier"
    if keyword in SENSITIVE:
        return "sensitive"
    if keyword in QUASI or vr in TEMPORAL_VRS or (vr == "UI" and in_table):
        return "quasi-identifier"
    if in_table:
        return "quasi-identifier" if vr not in _TEXTISH else "direct identifier"
    if vr in _TEXTISH:
        return "unknown"
    return "safe"


def _vr(ds: Dataset, tag: int) -> str:
    elem = ds.get_item(tag, keep_deferred=True)
    vr = getattr(elem, "VR", None)
    if vr:
        return str(vr)
    if tag >> 16 & 1:
        return "UN"
    try:
        return dictionary_VR(tag).split(" ")[0]
    except KeyError:
        return "UN"


#: What a private creator usually looks like (PS3.5 7.8.1: an LO naming the implementer, "SIEMENS CSA HEADER",
#: "GEMS_ACQU_01", "Philips Imaging DD 001"): shown as written only in that form.
_CREATOR_FORM = re.compile(r"[A-Za-z0-9 _.,:;/()&+'\-]{1,64}")
_NOT_SHOWN = "? (not shown: not a private creator's usual form)"


def creator_label(value: object, core: KnownIdentifiers | None) -> str:
    """A private creator as the inventory shows it (keys, tables, CSV, JSON): as written when it is text in a
    creator's usual form without 6 digits in a row or the file's own patient identifiers, else a placeholder.
    The inventory promises values are never printed; a creator is printed because it names a vendor's
    block, and a damaged file puts anything at a creator's place (red team: a misread length made one
    creator hold the next 300 bytes: address, MRN, a report line)."""
    if not isinstance(value, str):
        return _NOT_SHOWN
    text = value.strip().rstrip("\x00").strip()
    if not text:
        return ""
    if not _CREATOR_FORM.fullmatch(text) or re.search(r"\d{6}", text):
        return _NOT_SHOWN
    if core is not None and has_known(fold(text), core):
        return _NOT_SHOWN
    return text


_Blocks = dict[tuple[int, int], str]


def _creators(ds: Dataset, core: KnownIdentifiers | None) -> tuple[_Blocks, _Blocks]:
    """(group, block) -> (creator as read, for the engine's decision), and -> its label (creator_label)."""
    creators: dict[tuple[int, int], str] = {}
    labels: dict[tuple[int, int], str] = {}
    for tag in ds.keys():  # noqa: SIM118 - keys only, decode lazily
        if tag >> 16 & 1 and 0x10 <= tag & 0xFFFF <= 0xFF:
            block = (tag >> 16, tag & 0xFFFF)
            try:
                value = ds[tag].value
            except Exception:
                creators[block], labels[block] = "?", _NOT_SHOWN
                continue
            creators[block] = str(value).strip()
            labels[block] = creator_label(value, core)
    return creators, labels


def _scan(ds: Dataset, inv: Inventory, plan: Plan, prefix: str, seen: set[str], family: tuple[str, ...],
          core: KnownIdentifiers | None = None, blocks: tuple[_Blocks, _Blocks] | None = None) -> None:
    creators, labels = blocks if blocks is not None else _creators(ds, core)
    for tag in ds.keys():  # noqa: SIM118
        group, elem = tag >> 16, tag & 0xFFFF
        private = bool(group & 1)
        vr = _vr(ds, tag)
        creator = label = ""
        if private and elem > 0xFF:
            creator = creators.get((group, elem >> 8), "")
            label = labels.get((group, elem >> 8), "")
            key = f"{prefix}({group:04X},xx{elem & 0xFF:02X})[{label or 'no creator'}]"
            keyword = ""
        elif private:
            continue  # creators are reported through their blocks
        else:
            key = f"{prefix}({group:04X},{elem:04X})"
            keyword = keyword_for_tag(tag) or ""
        act = decide(tag, vr, creator or None, "", family, plan)  # what the engine does with it
        code = act.code
        stat = inv.attributes.get(key)
        if stat is None:
            stat = AttributeStat(key, keyword, vr, private_creator=label, action=code, rule=act.rule)
            stat.risk = risk_class(keyword, vr, private, private and code != "X", plan.lookup(tag) is not None,
                                   tag in plan.safe_text)
            inv.attributes[key] = stat
        stat.occurrences += 1
        if key not in seen:
            seen.add(key)
            stat.files += 1
        if vr == "SQ":
            try:
                items = ds[tag].value or []
            except Exception:
                continue
            for item in items:
                _scan(item, inv, plan, key + ">", seen, family, core)
            continue
        if vr in _TEXTISH or vr in TEMPORAL_VRS or (vr in _CAPPED and len(stat.shapes) < _SHAPES_CAP):
            text = _shape_text(ds, tag, vr)
            if isinstance(text, bytes):
                stat.shapes["<bytes>"] += 1
            elif text:
                stat.shapes[mask(text)] += 1


def _shape_text(ds: Dataset, tag: int, vr: str) -> str | bytes | None:
    """The value as text for its shape, multiple values joined by a backslash (as encoded); b"" for a
    value that is bytes, None when there is none. Coded, numeric and date VRs are ASCII by definition
    (PS3.5 6.2: default repertoire): they are read from the raw bytes, without pydicom's conversion to
    numbers and dates, which took a third of the inventory's time."""
    elem = ds.get_item(tag, keep_deferred=True)
    raw = getattr(elem, "value", None)
    if isinstance(elem, RawDataElement) and (vr in _CAPPED or vr in TEMPORAL_VRS) and isinstance(raw, bytes):
        text = "\\".join(v.strip(" \x00") for v in raw.decode("latin-1").split("\\"))
        return text if text.strip("\\") else None
    try:
        v = ds[tag].value
    except Exception:
        return None
    if isinstance(v, bytes):
        return b""
    if isinstance(v, list | MultiValue):
        return "\\".join(str(x) for x in v) or None
    return str(v) if v is not None and str(v) != "" else None


#: Files per unit of work. Units are merged in input order, so the report is the same for any --workers.
UNIT_FILES = 32


def build(files: Iterable[Path], plan: Plan, *, workers: int = 1,
          on_file: Callable[[], None] | None = None) -> Inventory:
    """Scan headers of `files` (no pixel data read) into an :class:`Inventory`, over `workers` processes.

    Patients are counted by a keyed hash whose key lives only as long as this call (not Python's
    ``hash``, which differs from process to process): nothing in the result links back to an ID.
    """
    key = secrets.token_bytes(16)
    inv = Inventory()
    for unit, part in ordered(_build_unit, batches(files, UNIT_FILES), workers, _init_unit, (plan, key), _rescue):
        inv.merge(part)
        if on_file is not None:
            for _ in unit:
                on_file()
    return inv


def _rescue(paths: list[Path], alone: Callable[[list[Path]], Inventory]) -> Inventory:
    """A unit in flight when a worker died: each file alone; one that kills its worker is unreadable."""
    inv = Inventory()
    for part in each_alone(paths, alone, lambda p: Inventory(unreadable=[(str(p), _DIED)])):
        inv.merge(part)
    return inv


_DIED = "the process reading this file died (a crash in a native library, or killed: out of memory?)"


_unit_context: list[tuple[Plan, bytes]] = []  # set once per process by _init_unit


def _init_unit(plan: Plan, key: bytes) -> None:
    _unit_context[:] = [(plan, key)]


def _build_unit(paths: list[Path]) -> Inventory:
    from veil.header.engine import iod_family

    plan, key = _unit_context[0]
    inv = Inventory()
    for path in paths:
        try:
            if not S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read, /dev/zero never end
                inv.unreadable.append((str(path), "not a regular file (FIFO, device, socket or folder)"))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = read_head(path)
        except Exception as exc:
            inv.unreadable.append((str(path), f"{type(exc).__name__}: {scrub(str(exc))}"[:200]))
            continue
        inv.files += 1
        inv.modalities[str(ds.get("Modality", "") or "?")] += 1
        inv.manufacturers[str(ds.get("Manufacturer", "") or "?")] += 1
        sop = str(ds.get("SOPClassUID", "") or "")
        inv.sop_classes[pydicom.uid.UID(sop).name if sop else "?"] += 1
        core = core_identifiers(ds)
        blocks = _creators(ds, core)
        for (group, _block), label in blocks[1].items():
            inv.private_creators[f"({group:04X}) {label}"] += 1
        pid = str(ds.get("PatientID", "") or "")
        if pid:
            inv.patients.add(hashlib.blake2b(pid.encode("utf-8", "surrogatepass"), key=key, digest_size=16).hexdigest())
        try:
            _scan(ds, inv, plan, "", set(), iod_family(sop), core, blocks)
        except Exception as exc:
            inv.unreadable.append((str(path), f"{type(exc).__name__}: {scrub(str(exc))}"[:200]))
    return inv


def write_parquet(inv: Inventory, path: Path) -> None:
    """Same rows as the CSV, typed, for data stewards who load inventories into polars/pandas/DuckDB."""
    import polars as pl

    rows = list(inv.rows())
    pl.DataFrame({
        "path": [a.path for a in rows], "keyword": [a.keyword for a in rows], "vr": [a.vr for a in rows],
        "private_creator": [a.private_creator for a in rows], "files": [a.files for a in rows],
        "occurrences": [a.occurrences for a in rows], "risk": [a.risk for a in rows],
        "action": [a.action for a in rows], "rule": [a.rule for a in rows],
        "shapes": [" | ".join(s for s, _ in a.shapes.most_common(3)) for a in rows],
    }, schema={"path": pl.String, "keyword": pl.String, "vr": pl.String, "private_creator": pl.String,
               "files": pl.Int64, "occurrences": pl.Int64, "risk": pl.String, "action": pl.String,
               "rule": pl.String, "shapes": pl.String}).write_parquet(path)


def write_csv(inv: Inventory, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "keyword", "vr", "private_creator", "files", "occurrences", "risk", "action", "rule",
                    "shapes"])
        for a in inv.rows():
            w.writerow([a.path, a.keyword, a.vr, a.private_creator, a.files, a.occurrences, a.risk, a.action,
                        a.rule, " | ".join(s for s, _ in a.shapes.most_common(3))])
