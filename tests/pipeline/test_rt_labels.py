"""RT Structure Set and RT Plan labels through the pipeline: TG-263 structure names and beam names are kept
where descriptors are cleaned (research-longitudinal, PS3.15 E.3.4), the patient's and other people's names in
them are not; under basic the labels go (E.1-1). Red team rt3: "SpinalCord", "Carina", "Vena_Cava", "Med Tang",
"Mantle" became [NAME], "BELINDA Q H&N" "[NAME]&N", "QUIXANDOR MASK" "[NAME]"."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .test_rawpath import _compare, _general

ROIS = ["SpinalCord", "Carina", "Chestwall", "SeminalVes", "Couch Surface", "OpticNerve_R", "BrachialPlex_L",
        "Cauda_Equina", "Vena_Cava", "Temporal_Lobe_L", "Glnd_Submand_L", "Lung_L", "PTV_6000", "Femur_Head_R",
        "Bowel_Bag", "z_ring", "PRV5_Cord", "GTVn_Level2"]
#: ROI names holding a person's name, and what is left of them
NAMED = {"QUIXANDOR tumour": "[NAME] tumour", "Liver (contoured by Dr Jane Roe)": "Liver (contoured by Dr [NAME])"}
BEAMS = ["Med Tang", "Lat Tang", "Mantle", "LAO 30", "VMAT CW", "Arc1 CCW", "Setup AP", "Field 1"]
NEEDLES = ["QUIXANDOR", "BELINDA", "PX9137246", "Jane", "Roe"]


def _base(sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.Modality = modality
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "QUIXANDOR^BELINDA", "PX9137246", "19470513"
    ds.StudyDate, ds.StudyTime = "20240311", "093015"
    return ds


def _rtstruct() -> Dataset:
    ds = _base("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT")
    ds.StructureSetLabel, ds.StructureSetName = "H&N Plan", "BELINDA Q H&N"
    ds.StructureSetDate, ds.StructureSetTime = "20240311", "101500"
    frame = generate_uid()
    rois, obs = [], []
    for i, name in enumerate([*ROIS, *NAMED], 1):
        r = Dataset()
        r.ROINumber, r.ReferencedFrameOfReferenceUID, r.ROIName, r.ROIGenerationAlgorithm = i, frame, name, "MANUAL"
        rois.append(r)
        o = Dataset()
        o.ObservationNumber, o.ReferencedROINumber, o.ROIObservationLabel = i, i, name[:16]
        o.RTROIInterpretedType, o.ROIInterpreter = "ORGAN", ""
        obs.append(o)
    ds.StructureSetROISequence, ds.RTROIObservationsSequence = Sequence(rois), Sequence(obs)
    return ds


def _rtplan() -> Dataset:
    ds = _base("1.2.840.10008.5.1.4.1.1.481.5", "RTPLAN")
    ds.RTPlanLabel, ds.RTPlanGeometry = "Breast R", "PATIENT"
    beams = []
    for i, name in enumerate(BEAMS, 1):
        b = Dataset()
        b.BeamNumber, b.BeamName, b.BeamType, b.RadiationType = i, name, "STATIC", "PHOTON"
        b.TreatmentDeliveryType, b.NumberOfWedges, b.NumberOfCompensators = "TREATMENT", 0, 0
        b.NumberOfBoli, b.NumberOfBlocks, b.NumberOfControlPoints = 0, 0, 0
        beams.append(b)
    ds.BeamSequence = Sequence(beams)
    setup = Dataset()
    setup.PatientSetupNumber, setup.PatientPosition = 1, "HFS"
    fix = Dataset()
    fix.FixationDeviceType, fix.FixationDeviceLabel = "MASK", "QUIXANDOR MASK"
    setup.FixationDeviceSequence = Sequence([fix])
    ds.PatientSetupSequence = Sequence([setup])
    return ds


def _run(ds: Dataset, policy: str, tmp_path, monkeypatch) -> pydicom.Dataset:
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    _compare(path, policy, tmp_path / "cmp", monkeypatch)  # the raw path, if it takes the file, writes the same
    result = _general(path, policy, tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
    out = tmp_path / "out" / result.output
    data = out.read_bytes().lower()
    assert not [n for n in NEEDLES if n.lower().encode() in data]
    return pydicom.dcmread(out)


def test_rt_structure_names_survive_cleaning_and_names_in_them_do_not(tmp_path, monkeypatch):
    out = _run(_rtstruct(), "research-longitudinal", tmp_path, monkeypatch)
    want = ROIS + list(NAMED.values())
    assert [r.ROIName for r in out.StructureSetROISequence] == want
    assert [o.ROIObservationLabel for o in out.RTROIObservationsSequence][:len(ROIS)] == [n[:16] for n in ROIS]
    assert out.StructureSetLabel == "H&N Plan"
    assert out.StructureSetName == "[NAME] H&N"


def test_beam_names_and_the_fixation_device_survive_cleaning(tmp_path, monkeypatch):
    out = _run(_rtplan(), "research-longitudinal", tmp_path, monkeypatch)
    assert [b.BeamName for b in out.BeamSequence] == BEAMS
    assert out.RTPlanLabel == "Breast R"
    assert out.PatientSetupSequence[0].FixationDeviceSequence[0].FixationDeviceLabel == "[NAME] MASK"


@pytest.mark.parametrize("build", [_rtstruct, _rtplan])
def test_under_basic_the_rt_labels_still_go(build, tmp_path, monkeypatch):
    """ROI Name (E.1-1 Z) and the plan's labels go under basic; a Beam Name is an allow-listed label there
    (red team 3: "LAO 30" was removed), kept as written unless it holds the patient's identifiers."""
    out = _run(build(), "basic", tmp_path, monkeypatch)
    assert not [r.ROIName for r in out.get("StructureSetROISequence", []) if r.ROIName]
    assert [b.BeamName for b in out.get("BeamSequence", [])] == (BEAMS if "BeamSequence" in out else [])
    assert not out.get("StructureSetName") and out.get("RTPlanLabel", "") in ("", "ANONYMIZED")
