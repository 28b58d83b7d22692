"""Conformance: dciodvfy (David Clunie's dicom3tools, the real binary) reports no error in Veil's output
that it did not already report for the input, on CT, MR, US, SC, SR, RT and SEG samples."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan

pytestmark = pytest.mark.integration

SAMPLES = ["CT_small.dcm", "MR_small.dcm", "examples_rgb_color.dcm", "examples_palette.dcm", "SC_rgb_small_odd.dcm",
           "test-SR.dcm", "reportsi.dcm", "rtplan.dcm", "rtdose.dcm", "rtstruct.dcm", "liver_1frame.dcm"]


def dciodvfy_errors(path: Path) -> set[str]:
    """Error lines, with values and UIDs stripped so the same problem compares equal before and after."""
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    errors = set()
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("Error"):
            line = re.sub(r"(=|UID) .*$", r"\1", line)
            line = re.sub(r'"[^"]*"', '""', line)
            errors.add(line.strip())
    return errors


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
@pytest.mark.parametrize("name", SAMPLES)
def test_no_new_dciodvfy_errors(tmp_path, name, policy):
    src = Path(get_testdata_file(name))
    summary = run([src], tmp_path / "out", compile_plan(load_policy(policy)), Keyed(b"c" * 32))
    assert summary.written == 1, summary.results
    out = tmp_path / "out" / summary.results[0].output
    new = dciodvfy_errors(out) - dciodvfy_errors(src)
    assert new == set()


def test_the_check_itself_can_fail(tmp_path):
    """Guard against a vacuous comparison: a file broken on purpose must show new errors."""
    import pydicom

    src = Path(get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(src)
    del ds.Rows  # Type 1 in Image Pixel
    broken = tmp_path / "broken.dcm"
    ds.save_as(broken)
    assert dciodvfy_errors(broken) - dciodvfy_errors(src)


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_generated_corpus_gains_no_dciodvfy_errors(tmp_path, policy):
    """Every kind of object the sample generator writes (CT, MR, US, SC, SR, RTSTRUCT, PR) stays as valid."""
    from veil.samples import generate_corpus

    c = generate_corpus(tmp_path / "in", patients=2, studies_per_patient=2, series_per_study=1,
                        instances_per_series=1, modalities=("CT", "MR", "US", "SC", "SR", "RTSTRUCT", "PR"))
    summary = run(list(c.files), tmp_path / "out", compile_plan(load_policy(policy)), Keyed(b"c" * 32))
    assert summary.written == len(c.files)
    by_sop = {Keyed(b"c" * 32).uid(__import__("pydicom").dcmread(f, stop_before_pixels=True).SOPInstanceUID): f
              for f in c.files}
    for r in summary.results:
        out = tmp_path / "out" / r.output
        src = by_sop[out.stem]
        new = dciodvfy_errors(out) - dciodvfy_errors(src)
        assert new == set(), (src.name, new)


def _ecg(path: Path) -> Path:
    """A 12-lead ECG (Waveform IODs: Waveform Identification makes Content Date/Time and Acquisition
    DateTime Type 1, Waveform Annotation's Unformatted Text Value Type 1C)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.9.1.1", generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "QUIMBY^HAROLD", "MRN4471932", "19610304", "M"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = generate_uid(), generate_uid(), "ECG"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = (
        "20230314", "101500", "ACC1", "1", "")
    ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = 1, 1, "ACME"
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = "20230314", "101900", "20230314101500"
    group = Dataset()
    group.WaveformOriginality, group.NumberOfWaveformChannels, group.NumberOfWaveformSamples = "ORIGINAL", 1, 4
    group.SamplingFrequency, group.MultiplexGroupLabel = 500, "RHYTHM"
    channel = Dataset()
    channel.ChannelLabel, channel.WaveformBitsStored, channel.ChannelSensitivity = "Lead II", 16, 1
    source = Dataset()
    source.CodeValue, source.CodingSchemeDesignator, source.CodeMeaning = "2:2", "MDC", "Lead II"
    channel.ChannelSourceSequence = Sequence([source])
    group.ChannelDefinitionSequence = Sequence([channel])
    group.WaveformBitsAllocated, group.WaveformSampleInterpretation = 16, "SS"
    group.WaveformData = b"\x01\x00\x02\x00\x03\x00\x04\x00"
    ds.WaveformSequence = Sequence([group])
    note = Dataset()
    note.UnformattedTextValue, note.ReferencedWaveformChannels, note.AnnotationGroupNumber = "ST elevation", [1, 1], 1
    ds.WaveformAnnotationSequence = Sequence([note])
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_no_new_dciodvfy_errors_on_a_waveform(tmp_path, policy):
    """basic emptied the Type 1 Content Date/Time and removed Acquisition DateTime and the annotation
    text of an ECG: the waveform family of IODs now gets dummies there."""
    src = _ecg(tmp_path / "ecg.dcm")
    summary = run([src], tmp_path / "out", compile_plan(load_policy(policy)), Keyed(b"c" * 32))
    assert summary.written == 1, summary.results
    out = tmp_path / "out" / summary.results[0].output
    assert dciodvfy_errors(out) - dciodvfy_errors(src) == set()
