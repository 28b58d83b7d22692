"""A generated DICOM corpus with planted fake PHI and an answer key (demo, tests, benchmarks).

Real patient data never enters the repository, yet de-identification can only be proven on data that
holds identifiers in the places real archives hide them. In the spirit of the MIDI-B challenge, this
module writes synthetic patients x studies x series x instances with fake PHI planted in standard
attributes, nested sequences, private blocks (a vendor block that E.3.10-1 lists as safe and an unknown
one that is not), descriptors and comments, SR content, overlays, presentation-state text, RT structure
sets, an encapsulated PDF, and the input file names — plus the values research needs that must survive
(geometry, acquisition parameters, pixel bytes, clinical phrases). The :class:`AnswerKey` says which is
which, so end-to-end tests can byte-search the output for every planted value.

Everything is a pure function of the arguments: the same `seed` gives byte-identical files, so tests and
benchmarks are repeatable and CI needs no downloads.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ComprehensiveSRStorage,
    CTImageStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    GrayscaleSoftcopyPresentationStateStorage,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

__all__ = ["AnswerKey", "Patient", "Plant", "SampleCorpus", "generate_corpus"]

#: Modalities the generator knows. The first five are the default; the rest are opt-in because they
#: exercise features a policy must enable (encapsulated documents are quarantined by default).
MODALITIES = ("CT", "MR", "US", "SC", "SR", "RTSTRUCT", "PR", "DOC")
DEFAULT_MODALITIES = ("CT", "MR", "US", "SC", "SR")

_FAMILY = ["Quixworth", "Brannigan", "Oyelaran", "Vasquez-Thorne", "Ångström", "Kowalczyk", "Fairweather",
           "Delacroix", "Nakashima", "Okonkwo", "Pemberton", "Lindqvist", "Abernathy", "Castellano",
           "Whitlock", "Marchetti", "Sutherland", "Ravensworth", "Teodorescu", "Haverford"]
_GIVEN = ["Zebulon", "Marisol", "Thaddeus", "Oluwaseun", "Zoë", "Bartholomew", "Ingrid", "Leopold",
          "Saoirse", "Evander", "Henrietta", "Casimir", "Philippa", "Ignatius", "Rosalind", "Florian"]
_STREETS = ["Larkspur Lane", "Wexford Crescent", "Old Mill Road", "Juniper Court", "Harrow Street"]
_TOWNS = ["Ashbourne", "Millbrook", "Cresthaven", "Dunmore", "Elmstead"]
_HOSPITALS = [("St Bartholomew Infirmary", "STBART"), ("Cresthaven General Hospital", "CRESTGEN"),
              ("Northfield Imaging Centre", "NFIC")]
_DOCTORS = ["Hargreaves^Winifred^^Dr", "Oduya^Barnaby^^Dr", "Lindgren^Octavia^^Dr", "Pryce^Desmond^^Dr"]
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

#: Clinical phrases placed in descriptors; Clean Descriptors must keep them word for word.
CLINICAL = {
    "CT": ("CT CHEST W/O CONTRAST", "AX 5MM SOFT TISSUE"),
    "MR": ("MRI BRAIN WITH AND WITHOUT GAD", "T1 MPRAGE SAG"),
    "US": ("US ABDOMEN COMPLETE", "L knee"),
    "SC": ("OUTSIDE FILM IMPORT", "Dr. visit follow-up"),
    "SR": ("CT CHEST W/O CONTRAST", "RADIOLOGY REPORT"),
    "RTSTRUCT": ("CT CHEST W/O CONTRAST", "GTV PLANNING CONTOURS"),
    "PR": ("CT CHEST W/O CONTRAST", "KEY MEASUREMENTS"),
    "DOC": ("CT CHEST W/O CONTRAST", "SCANNED REQUEST FORM"),
}
_SOP = {
    "CT": CTImageStorage, "MR": MRImageStorage, "US": UltrasoundImageStorage,
    "SC": SecondaryCaptureImageStorage, "SR": ComprehensiveSRStorage, "RTSTRUCT": RTStructureSetStorage,
    "PR": GrayscaleSoftcopyPresentationStateStorage, "DOC": EncapsulatedPDFStorage,
}
_IMAGE = ("CT", "MR", "US", "SC")


@dataclass(frozen=True)
class Plant:
    """One planted identifying value: where it was put and what kind it is (never real data)."""

    value: str
    category: str  # name, id, date, uid, address, phone, email, institution, physician, age, device, text
    where: str  # attribute keyword, "private CREATOR", "SR TEXT", "file name", ...
    patient: str  # the fake PatientID it belongs to
    searchable: bool = True  # False: short or shifted values a byte search would find by chance


@dataclass(frozen=True)
class Patient:
    """A fake patient and the identifiers planted for them."""

    patient_id: str
    name: str  # DICOM PN, Family^Given
    birth_date: str
    sex: str
    age_years: int
    address: str
    phone: str
    email: str
    charset: str
    study_dates: tuple[str, ...]


@dataclass
class AnswerKey:
    """What was planted (must disappear) and what must survive, per SOP Instance UID."""

    plants: list[Plant] = field(default_factory=list)
    keep: dict[str, dict[str, str]] = field(default_factory=dict)  # sop uid -> {keyword: value}
    pixel_sha256: dict[str, str] = field(default_factory=dict)  # sop uid -> sha256 of pixel bytes
    references: dict[str, list[str]] = field(default_factory=dict)  # sop uid -> referenced sop uids
    clinical: set[str] = field(default_factory=set)  # phrases Clean Descriptors must keep

    def plant(self, value: str, category: str, where: str, patient: str, *, searchable: bool = True) -> str:
        self.plants.append(Plant(value, category, where, patient, searchable))
        return value

    def to_json(self) -> str:
        return json.dumps({
            "plants": [asdict(p) for p in self.plants], "keep": self.keep, "pixel_sha256": self.pixel_sha256,
            "references": self.references, "clinical": sorted(self.clinical),
        }, indent=1, ensure_ascii=False)


@dataclass(frozen=True)
class SampleCorpus:
    root: Path
    files: tuple[Path, ...]
    patients: tuple[Patient, ...]
    key: AnswerKey

    @property
    def planted(self) -> frozenset[str]:
        """Planted values long and specific enough that finding their bytes in an output is a leak."""
        return frozenset(p.value for p in self.key.plants if p.searchable)


def _uid(seed: int, *parts: object) -> str:
    """A UID from its parts, one to one: pydicom hashes its entropy sources run together, so ("1", "0000")
    and ("10", "000") made one UID - 160 instances of the 5,000-file benchmark corpus shared their SOP
    Instance UID with another patient's. The parts are joined with a separator no part holds."""
    return str(generate_uid(entropy_srcs=["veil-sample\x1f" + "\x1f".join(map(str, (seed, *parts)))]))


def _da(d: date) -> str:
    return d.strftime("%Y%m%d")


def _written_forms(d: date) -> list[str]:
    return [f"{d:%m/%d/%Y}", f"{d.day}-{_MONTHS[d.month - 1].title()}-{d.year}", f"{d:%Y-%m-%d}"]


def _make_patients(rng: random.Random, n: int, key: AnswerKey, studies: int) -> list[Patient]:
    out = []
    for i in range(n):
        fam = _FAMILY[i % len(_FAMILY)] + ("" if i < len(_FAMILY) else f"{_FAMILY[(i * 7) % len(_FAMILY)]}")
        giv = _GIVEN[(i * 3) % len(_GIVEN)]
        pid = f"MRN{48213977 + i * 7919:08d}"
        older = i == 1  # one patient over 89: age must be capped (PS3.15 E.1-1 note, HIPAA 164.514)
        birth = date(1925 if older else 1950 + (i * 7) % 40, 1 + (i * 5) % 12, 1 + (i * 11) % 28)
        first = date(2019, 1, 15) + timedelta(days=rng.randint(0, 700))
        sdates = [first]
        for _ in range(studies - 1):
            sdates.append(sdates[-1] + timedelta(days=rng.randint(30, 400)))
        age = (sdates[0] - birth).days // 365
        charset = "ISO_IR 100" if any(ord(c) > 127 for c in fam + giv) else ""
        p = Patient(
            patient_id=pid, name=f"{fam}^{giv}", birth_date=_da(birth), sex="MF"[i % 2], age_years=age,
            address=f"{10 + i * 13} {_STREETS[i % len(_STREETS)]}, {_TOWNS[i % len(_TOWNS)]} {40000 + i * 137}",
            phone=f"(555) 01{i % 10}{(i * 3) % 10}-{4000 + i * 17:04d}",
            email=f"{giv.lower().replace('ë', 'e')}.{fam.lower().replace('å', 'a').replace('ö', 'o')}@mailbox.example",
            charset=charset, study_dates=tuple(_da(d) for d in sdates),
        )
        key.plant(fam, "name", "PatientName", pid)
        key.plant(giv, "name", "PatientName", pid)
        key.plant(pid, "id", "PatientID", pid)
        key.plant(pid[3:], "id", "PatientID digits (in text)", pid)
        key.plant(p.birth_date, "date", "PatientBirthDate", pid)
        key.plant(p.address, "address", "PatientAddress", pid)
        key.plant(p.phone, "phone", "PatientTelephoneNumbers", pid)
        key.plant(p.email, "email", "PatientComments", pid)
        for d in sdates:
            key.plant(_da(d), "date", "StudyDate", pid, searchable=False)  # shifted dates can collide
        out.append(p)
    return out


def _pixels(modality: str, rows: int, cols: int, seed: int, sop: str) -> tuple[bytes, dict[str, object]]:
    rng = np.random.default_rng(int(hashlib.sha256(f"{seed}/{sop}".encode()).hexdigest()[:8], 16))
    if modality in ("US", "SC"):
        arr = rng.integers(0, 256, size=(rows, cols, 3), dtype=np.uint8)
        return arr.tobytes(), {"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB", "PlanarConfiguration": 0,
                               "BitsAllocated": 8, "BitsStored": 8, "HighBit": 7, "PixelRepresentation": 0}
    yy, xx = np.mgrid[0:rows, 0:cols]
    arr = (((yy - rows / 2) ** 2 + (xx - cols / 2) ** 2) < (min(rows, cols) / 3) ** 2) * 1000
    arr = (arr + rng.integers(0, 64, size=(rows, cols))).astype(np.uint16)
    return arr.tobytes(), {"SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2", "BitsAllocated": 16,
                           "BitsStored": 12, "HighBit": 11, "PixelRepresentation": 0}


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _header_heavy(ds: Dataset, n: int) -> None:
    """Extra attributes the way a vendor CT/MR header carries them (about 200 elements, 8-10 KB): three
    private groups of dozens of elements each, a few short reference sequences (benchmark: header-bound)."""
    # made-up creators: a real vendor's (e.g. GEMS_PARM_01) would clash with the VRs in readers' private
    # dictionaries when the file is implicit VR
    per = max(1, n // 3)
    for g, creator in ((0x0009, "ACME_IDEN_01"), (0x0019, "ACME_ACQU_01"), (0x0043, "ACME_PARM_01")):
        ds.add_new((g << 16) | 0x0010, "LO", creator)
        for i in range(min(per, 0xEF)):
            if i % 4 == 0:
                ds.add_new((g << 16) | 0x1010 + i, "LO", f"param {i}")
            else:
                ds.add_new((g << 16) | 0x1010 + i, "DS", f"{i * 0.5:.1f}")
    seq = []
    for i in range(3):
        item = Dataset()
        item.ReferencedSOPClassUID = CTImageStorage
        item.ReferencedSOPInstanceUID = _uid(0, ds.SOPInstanceUID, "source", i)
        seq.append(item)
    ds.SourceImageSequence = Sequence(seq)
    item = Dataset()
    item.Manufacturer = "ACME Medical"
    item.InstitutionName = ds.InstitutionName
    item.StationName = ds.StationName
    item.PurposeOfReferenceCodeSequence = Sequence([_code("109101", "DCM", "Acquisition Equipment")])
    ds.ContributingEquipmentSequence = Sequence([item])
    ds.ProcedureCodeSequence = Sequence([_code("CTCHEST", "ACME", "CT chest")])
    ds.AnatomicRegionSequence = Sequence([_code("51185008", "SCT", "Chest")])


def generate_corpus(
    root: Path,
    patients: int = 4,
    studies_per_patient: int = 2,
    series_per_study: int = 2,
    instances_per_series: int = 3,
    modalities: tuple[str, ...] = DEFAULT_MODALITIES,
    rows: int = 64,
    columns: int = 64,
    seed: int = 0,
    header_heavy: bool = False,
) -> SampleCorpus:
    """Write a PHI-planted corpus under `root` (folder names carry PHI on purpose) and return its answer key.

    Each study gets one modality (cycling through `modalities`, image modalities first); non-image
    objects (SR, RTSTRUCT, PR, DOC) are added to the first image study of each patient and reference its
    images, so tests can check that references still resolve after UID remapping.
    """
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown sample modalities {sorted(unknown)}; known: {', '.join(MODALITIES)}")
    rng = random.Random(seed)
    key = AnswerKey()
    pats = _make_patients(rng, patients, key, studies_per_patient)
    image_mods = [m for m in modalities if m in _IMAGE] or ["CT"]
    extra_mods = [m for m in modalities if m not in _IMAGE]
    files: list[Path] = []
    root = Path(root)
    for pi, p in enumerate(pats):
        hosp, station = _HOSPITALS[pi % len(_HOSPITALS)]
        key.plant(hosp, "institution", "InstitutionName", p.patient_id)
        key.plant(f"{station}_CT{pi}", "device", "StationName", p.patient_id)
        doctor = _DOCTORS[pi % len(_DOCTORS)]
        key.plant(doctor.split("^")[0], "physician", "ReferringPhysicianName", p.patient_id)
        folder = root / f"{p.name.replace('^', '_')}_{p.patient_id}"
        key.plant(folder.name, "path", "file name", p.patient_id)
        for si in range(studies_per_patient):
            mod = image_mods[(pi + si) % len(image_mods)]
            ctx = _Study(seed, p, pi, si, mod, hosp, station, doctor, key, rows, columns, header_heavy)
            images: list[Dataset] = []
            for se in range(series_per_study):
                for inst in range(instances_per_series):
                    ds = ctx.image(se, inst)
                    images.append(ds)
                    files.append(_save(ds, folder / f"{p.patient_id}_{ctx.accession}" / f"IMG{se:02d}{inst:04d}.dcm",
                                       implicit=(pi + se) % 3 == 2))
            if si == 0:
                for j, extra in enumerate(extra_mods):
                    ds = ctx.derived(extra, images, j)
                    files.append(_save(ds, folder / f"{p.patient_id}_{ctx.accession}" / f"{extra}{j:02d}.dcm",
                                       implicit=False))
    return SampleCorpus(root, tuple(files), tuple(pats), key)


def _save(ds: Dataset, path: Path, implicit: bool) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.8.498.1")
    meta.SourceApplicationEntityTitle = "STBART_PACS"
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    return path


class _Study:
    """Builds the instances of one study; every identifying value goes through the answer key."""

    def __init__(self, seed: int, p: Patient, pi: int, si: int, mod: str, hosp: str, station: str, doctor: str,
                 key: AnswerKey, rows: int, cols: int, heavy: bool) -> None:
        self.seed, self.p, self.pi, self.si, self.mod = seed, p, pi, si, mod
        self.hosp, self.station, self.doctor, self.key = hosp, station, doctor, key
        self.rows, self.cols, self.heavy = rows, cols, heavy
        self.study_uid = key.plant(_uid(seed, pi, si, "study"), "uid", "StudyInstanceUID", p.patient_id)
        self.for_uid = key.plant(_uid(seed, pi, si, "for"), "uid", "FrameOfReferenceUID", p.patient_id)
        self.accession = key.plant(f"ACC{700112 + pi * 101 + si:07d}", "id", "AccessionNumber", p.patient_id)
        self.date = p.study_dates[si]
        self.time = "235930" if (pi, si) == (0, 0) else f"{8 + (pi + si) % 10:02d}{(pi * 7) % 60:02d}00"
        self.d = date(int(self.date[:4]), int(self.date[4:6]), int(self.date[6:]))

    def common(self, modality: str, sop_class: str, sop_uid: str, series_uid: str, number: int) -> Dataset:
        p, key, pid = self.p, self.key, self.p.patient_id
        ds = Dataset()
        if p.charset:
            ds.SpecificCharacterSet = p.charset
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = key.plant(sop_uid, "uid", "SOPInstanceUID", pid)
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = self.date
        ds.StudyTime = self.time
        ds.SeriesTime = ds.ContentTime = self.time
        ds.AccessionNumber = self.accession
        ds.Modality = modality
        ds.Manufacturer = "ACME Medical"
        ds.InstitutionName = self.hosp
        ds.InstitutionAddress = key.plant(f"1 Infirmary Square, {_TOWNS[(self.pi + 2) % 5]}", "address",
                                          "InstitutionAddress", pid)
        ds.ReferringPhysicianName = self.doctor
        ds.StationName = f"{self.station}_CT{self.pi}"
        ds.StudyDescription = CLINICAL[self.mod][0]
        ds.PatientName = p.name
        ds.PatientID = p.patient_id
        ds.IssuerOfPatientID = "STBART"
        ds.PatientBirthDate = p.birth_date
        ds.PatientSex = p.sex
        ds.PatientAge = f"{p.age_years:03d}Y"
        if p.age_years > 89:
            key.plant(ds.PatientAge, "age", "PatientAge", pid)
        ds.PatientAddress = p.address
        ds.PatientTelephoneNumbers = p.phone
        ds.OtherPatientIDsSequence = Sequence([Dataset()])
        other = ds.OtherPatientIDsSequence[0]
        other.PatientID = key.plant(f"NHS{9434765919 + self.pi * 37}", "id", "OtherPatientIDsSequence", pid)
        other.TypeOfPatientID = "TEXT"
        ds.PatientComments = f"Contact {p.email} re results"
        ds.StudyInstanceUID = self.study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = key.plant(f"S{80000 + self.pi * 10 + self.si}", "id", "StudyID", pid)
        ds.SeriesNumber = number
        ds.InstanceNumber = 1
        ds.DeviceSerialNumber = key.plant(f"SN-{77120 + self.pi}-QX", "device", "DeviceSerialNumber", pid)
        ds.PerformingPhysicianName = self.doctor
        tech = f"Tech^{_GIVEN[(self.pi + 5) % len(_GIVEN)]}mund"
        key.plant(tech.split("^")[1], "name", "OperatorsName", pid)
        ds.OperatorsName = tech
        req = Dataset()
        req.RequestedProcedureID = key.plant(f"RP{55120 + self.pi * 10 + self.si}", "id", "RequestedProcedureID",
                                             pid)
        req.ScheduledProcedureStepID = f"SPS{55120 + self.pi * 10 + self.si}"
        req.AccessionNumber = self.accession
        ds.RequestAttributesSequence = Sequence([req])
        ds.add_new(0x00290010, "LO", "ACME_SECRET_01")  # unknown private block holding PHI
        ds.add_new(0x00291001, "LO", p.name.replace("^", " "))
        ds.add_new(0x00291002, "LO", f"{p.patient_id}/{self.accession}")
        key.plant(p.name.replace("^", " "), "name", "private ACME_SECRET_01", pid)
        return ds

    def image(self, se: int, inst: int) -> Dataset:
        p, key, pid = self.p, self.key, self.p.patient_id
        sop = _uid(self.seed, self.pi, self.si, se, inst)
        series = key.plant(_uid(self.seed, self.pi, self.si, se, "series"), "uid", "SeriesInstanceUID", pid)
        ds = self.common(self.mod, _SOP[self.mod], sop, series, se + 1)
        ds.InstanceNumber = inst + 1
        ds.SeriesDescription = f"{CLINICAL[self.mod][1]} {p.name.split('^')[0].upper()}" if se == 0 else \
            CLINICAL[self.mod][1]
        born = date(int(p.birth_date[:4]), int(p.birth_date[4:6]), int(p.birth_date[6:]))
        ds.ImageComments = (f"Pt {p.name.split('^')[1]} {p.name.split('^')[0]} MRN {pid[3:]} DOB "
                            f"{_written_forms(born)[0]} call {p.phone}")
        ds.AcquisitionDate = self.date
        ds.AcquisitionTime = self.time
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BurnedInAnnotation = "NO"
        ds.FrameOfReferenceUID = self.for_uid
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [-120.0, -120.0, float(-50 + inst * 2.5)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = "2.5"
        ds.Rows, ds.Columns = self.rows, self.cols
        px, attrs = _pixels(self.mod, self.rows, self.cols, self.seed, sop)
        for k, v in attrs.items():
            setattr(ds, k, v)
        ds.PatientPosition = "HFS"
        ds.BodyPartExamined = "CHEST" if self.mod == "CT" else ("HEAD" if self.mod == "MR" else "ABDOMEN")
        if self.mod == "CT":
            ds.KVP = "120"
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
            ds.ConvolutionKernel = "STANDARD"
        elif self.mod == "MR":
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "GR", "SP", ""
            ds.MRAcquisitionType = "3D"
            ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "2300", "2.98", "1"
            ds.MagneticFieldStrength = "3"
        elif self.mod == "SC":
            ds.ConversionType = "DF"
        if self.mod in ("US", "SC"):
            ds.PatientOrientation = ["L", "P"]
        ds.AcquisitionNumber = 1
        ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")  # E.3.10-1 lists some of these as safe
        ds.add_new(0x0019100C, "SS", 3)  # route of acquisition (safe)
        ds.add_new(0x00191023, "DS", "1.375")  # table speed (safe)
        if inst == 0 and se == 0:  # overlay plane with a label naming the patient (PS3.3 C.9.2)
            ds.add_new(0x60000010, "US", self.rows)
            ds.add_new(0x60000011, "US", self.cols)
            ds.add_new(0x60000040, "CS", "G")
            ds.add_new(0x60000050, "SS", [1, 1])
            ds.add_new(0x60000100, "US", 1)
            ds.add_new(0x60000102, "US", 0)
            ds.add_new(0x60000022, "LO", f"marker {p.name.split('^')[0]}")
            ds.add_new(0x60001500, "LO", f"ROI {pid}")
            bits = np.zeros(self.rows * self.cols, dtype=np.uint8)
            bits[: self.cols * 4] = 1
            ds.add_new(0x60003000, "OW", np.packbits(bits, bitorder="little").tobytes())
        if self.heavy:
            _header_heavy(ds, 200)
        ds.PixelData = px
        key.pixel_sha256[sop] = hashlib.sha256(px).hexdigest()
        key.keep[sop] = {
            "Modality": self.mod, "Rows": str(self.rows), "Columns": str(self.cols),
            "PixelSpacing": "0.7\\0.7", "SliceThickness": "2.5", "ImageOrientationPatient": "1\\0\\0\\0\\1\\0",
            "ImagePositionPatient": f"-120.0\\-120.0\\{-50 + inst * 2.5}", "BodyPartExamined": ds.BodyPartExamined,
            "PatientSex": p.sex,
        }
        key.clinical.update(CLINICAL[self.mod])
        return ds

    def derived(self, kind: str, images: list[Dataset], j: int) -> Dataset:
        _p, key, pid = self.p, self.key, self.p.patient_id
        sop = _uid(self.seed, self.pi, self.si, kind, j)
        series = key.plant(_uid(self.seed, self.pi, self.si, kind, "series"), "uid", "SeriesInstanceUID", pid)
        ds = self.common(kind if kind != "DOC" else "DOC", _SOP[kind], sop, series, 90 + j)
        ds.SeriesDescription = CLINICAL[kind][1]
        refs = [im.SOPInstanceUID for im in images]
        key.references[sop] = refs
        key.clinical.update(CLINICAL[kind])
        evidence = Dataset()
        evidence.StudyInstanceUID = self.study_uid
        ser: dict[str, list[Dataset]] = {}
        for im in images:
            r = Dataset()
            r.ReferencedSOPClassUID = im.SOPClassUID
            r.ReferencedSOPInstanceUID = im.SOPInstanceUID
            ser.setdefault(im.SeriesInstanceUID, []).append(r)
        ref_series = []
        for s_uid, items in ser.items():
            rs = Dataset()
            rs.SeriesInstanceUID = s_uid
            rs.ReferencedSOPSequence = Sequence(items)
            ref_series.append(rs)
        evidence.ReferencedSeriesSequence = Sequence(ref_series)
        if kind == "SR":
            self._sr(ds, evidence, images)
        elif kind == "RTSTRUCT":
            self._rtstruct(ds, images)
        elif kind == "PR":
            self._pr(ds, images)
        elif kind == "DOC":
            self._doc(ds)
        del pid
        return ds

    def _sr(self, ds: Dataset, evidence: Dataset, images: list[Dataset]) -> None:
        p, key, pid = self.p, self.key, self.p.patient_id
        fam, _giv = p.name.split("^")
        ds.Manufacturer = "ACME Medical"
        ds.ReferencedPerformedProcedureStepSequence = Sequence([])
        ds.PerformedProcedureCodeSequence = Sequence([])
        ds.CompletionFlag = "COMPLETE"
        ds.VerificationFlag = "VERIFIED"
        ds.InstanceNumber = 1
        obs = Dataset()
        obs.VerifyingObserverName = self.doctor
        obs.VerifyingOrganization = self.hosp
        obs.VerificationDateTime = self.date + "120000"
        obs.VerifyingObserverIdentificationCodeSequence = Sequence([])
        ds.VerifyingObserverSequence = Sequence([obs])
        ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
        ds.ValueType = "CONTAINER"
        ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
        ds.ContinuityOfContent = "SEPARATE"
        bd = date(int(p.birth_date[:4]), int(p.birth_date[4:6]), int(p.birth_date[6:]))
        text = key.plant(
            f"Mr {fam}, DOB {_written_forms(bd)[1]}, seen at {self.hosp}. MRN {p.patient_id}. "
            f"Findings: 6 mm nodule right upper lobe, unchanged. Phone {p.phone}.",
            "text", "SR TEXT", pid, searchable=False)
        key.plant(_written_forms(bd)[1], "date", "SR TEXT (birth date)", pid)
        items = []
        t = Dataset()
        t.RelationshipType, t.ValueType = "CONTAINS", "TEXT"
        t.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
        t.TextValue = text
        items.append(t)
        n = Dataset()
        n.RelationshipType, n.ValueType = "HAS OBS CONTEXT", "PNAME"
        n.ConceptNameCodeSequence = Sequence([_code("121008", "DCM", "Person Observer Name")])
        n.PersonName = self.doctor
        items.insert(0, n)
        dt = Dataset()
        dt.RelationshipType, dt.ValueType = "CONTAINS", "DATETIME"
        dt.ConceptNameCodeSequence = Sequence([_code("111526", "DCM", "DateTime Started")])
        dt.DateTime = self.date + self.time
        items.append(dt)
        img = Dataset()
        img.RelationshipType, img.ValueType = "CONTAINS", "IMAGE"
        img.ConceptNameCodeSequence = Sequence([_code("121112", "DCM", "Source of Measurement")])
        ref = Dataset()
        ref.ReferencedSOPClassUID = images[0].SOPClassUID
        ref.ReferencedSOPInstanceUID = images[0].SOPInstanceUID
        img.ReferencedSOPSequence = Sequence([ref])
        items.append(img)
        ds.ContentSequence = Sequence(items)
        ds.ContentTemplateSequence = Sequence([Dataset()])
        ds.ContentTemplateSequence[0].MappingResource = "DCMR"
        ds.ContentTemplateSequence[0].TemplateIdentifier = "2000"

    def _rtstruct(self, ds: Dataset, images: list[Dataset]) -> None:
        p, key, pid = self.p, self.key, self.p.patient_id
        ds.FrameOfReferenceUID = self.for_uid
        ds.PositionReferenceIndicator = ""
        ds.StructureSetLabel = "GTV PLAN"
        ds.StructureSetName = key.plant(f"{p.name.split('^')[0]} plan", "name", "StructureSetName", pid,
                                        searchable=False)
        ds.StructureSetDate, ds.StructureSetTime = self.date, self.time
        ds.InstanceNumber = 1
        ds.OperatorsName = self.doctor
        contour_images = []
        for im in images:
            c = Dataset()
            c.ReferencedSOPClassUID = im.SOPClassUID
            c.ReferencedSOPInstanceUID = im.SOPInstanceUID
            contour_images.append(c)
        rser = Dataset()
        rser.SeriesInstanceUID = images[0].SeriesInstanceUID
        rser.ContourImageSequence = Sequence(contour_images)
        rstudy = Dataset()
        rstudy.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired)
        rstudy.ReferencedSOPInstanceUID = self.study_uid
        rstudy.RTReferencedSeriesSequence = Sequence([rser])
        rfor = Dataset()
        rfor.FrameOfReferenceUID = self.for_uid
        rfor.RTReferencedStudySequence = Sequence([rstudy])
        ds.ReferencedFrameOfReferenceSequence = Sequence([rfor])
        roi = Dataset()
        roi.ROINumber = 1
        roi.ReferencedFrameOfReferenceUID = self.for_uid
        roi.ROIName = "GTV"
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence = Sequence([roi])
        contour = Dataset()
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = 4
        contour.ContourData = [-10.0, -10.0, -50.0, 10.0, -10.0, -50.0, 10.0, 10.0, -50.0, -10.0, 10.0, -50.0]
        ci = Dataset()
        ci.ReferencedSOPClassUID = images[0].SOPClassUID
        ci.ReferencedSOPInstanceUID = images[0].SOPInstanceUID
        contour.ContourImageSequence = Sequence([ci])
        rc = Dataset()
        rc.ReferencedROINumber = 1
        rc.ROIDisplayColor = [255, 0, 0]
        rc.ContourSequence = Sequence([contour])
        ds.ROIContourSequence = Sequence([rc])
        ob = Dataset()
        ob.ObservationNumber = 1
        ob.ReferencedROINumber = 1
        ob.RTROIInterpretedType = "GTV"
        ob.ROIInterpreter = self.doctor
        ds.RTROIObservationsSequence = Sequence([ob])
        ds.ApprovalStatus = "UNAPPROVED"

    def _pr(self, ds: Dataset, images: list[Dataset]) -> None:
        p, key, pid = self.p, self.key, self.p.patient_id
        ds.InstanceNumber = 1
        ds.Laterality = ""
        ds.ContentLabel = "KEYMEAS"
        ds.ContentDescription = f"Measurements for {p.name.split('^')[0]}"
        ds.PresentationCreationDate, ds.PresentationCreationTime = self.date, self.time
        ds.ContentCreatorName = self.doctor
        rser = Dataset()
        rser.SeriesInstanceUID = images[0].SeriesInstanceUID
        rimgs = []
        for im in images[:2]:
            r = Dataset()
            r.ReferencedSOPClassUID = im.SOPClassUID
            r.ReferencedSOPInstanceUID = im.SOPInstanceUID
            rimgs.append(r)
        rser.ReferencedImageSequence = Sequence(rimgs)
        ds.ReferencedSeriesSequence = Sequence([rser])
        area = Dataset()
        area.DisplayedAreaTopLeftHandCorner = [1, 1]
        area.DisplayedAreaBottomRightHandCorner = [self.cols, self.rows]
        area.PresentationSizeMode = "SCALE TO FIT"
        area.PresentationPixelSpacing = [0.7, 0.7]
        ds.DisplayedAreaSelectionSequence = Sequence([area])
        txt = Dataset()
        txt.UnformattedTextValue = key.plant(f"{p.name.split('^')[0]} nodule 6mm", "text",
                                             "PR UnformattedTextValue", pid, searchable=False)
        txt.AnchorPointAnnotationUnits = "PIXEL"
        txt.AnchorPoint = [10.0, 10.0]
        txt.AnchorPointVisibility = "Y"
        ga = Dataset()
        ga.GraphicLayer = "LAYER1"
        ga.TextObjectSequence = Sequence([txt])
        ds.GraphicAnnotationSequence = Sequence([ga])
        layer = Dataset()
        layer.GraphicLayer = "LAYER1"
        layer.GraphicLayerOrder = 1
        ds.GraphicLayerSequence = Sequence([layer])
        ds.PresentationLUTShape = "IDENTITY"

    def _doc(self, ds: Dataset) -> None:
        p, key, pid = self.p, self.key, self.p.patient_id
        ds.Modality = "DOC"
        ds.ConversionType = "SD"
        ds.InstanceNumber = 1
        ds.BurnedInAnnotation = "YES"
        ds.DocumentTitle = key.plant(f"Request form {p.name.split('^')[0]}", "text", "DocumentTitle", pid,
                                     searchable=False)
        ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
        ds.ConceptNameCodeSequence = Sequence([])
        ds.AcquisitionDateTime = self.date + self.time
        body = (f"BT /F1 12 Tf 72 720 Td (Patient: {p.name.replace('^', ', ')} MRN {p.patient_id} "
                f"DOB {p.birth_date}) Tj ET").encode("latin-1")
        pdf = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
               b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
               b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
               b"4 0 obj<</Length " + str(len(body)).encode() + b">>stream\n" + body + b"\nendstream endobj\n"
               b"trailer<</Root 1 0 R>>\n%%EOF\n")
        if len(pdf) % 2:
            pdf += b"\n"
        ds.EncapsulatedDocument = pdf
