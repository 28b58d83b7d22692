"""The fast paths (raw-byte edits in the engine, raw-element encoder) change speed, never output.

Each de-identified dataset is encoded twice, by Veil's encoder and by pydicom's own writer, and the bytes
must be identical; and the engine's raw edits must give the same values as the general path gives on a
dataset whose every element was decoded first.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset, write_file_meta_info

from veil.header.engine import deidentify
from veil.identity.keyed import Keyed
from veil.pipeline.encode import encode_dataset, encode_file_meta
from veil.pipeline.instance import _open
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.samples import generate_corpus

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent
KEYED = Keyed(b"e" * 32)


def _inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    corpus = generate_corpus(tmp_path_factory.mktemp("enc"), patients=2, studies_per_patient=1,
                             modalities=("CT", "MR", "US", "SC", "SR", "RTSTRUCT", "PR"), header_heavy=True)
    return sorted(TEST_FILES.glob("*.dcm")) + list(corpus.files)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _inputs(tmp_path_factory)


def _deidentified(path: Path, policy: str):
    try:
        inst = _open(path)
        ts = inst.ds.file_meta.TransferSyntaxUID
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            deidentify(inst.ds, compile_plan(load_policy(policy)), KEYED)
    except Exception:  # quarantined inputs are covered by the batch tests
        return None
    inst.ds.file_meta.TransferSyntaxUID = ts
    return inst.ds


def _buf(ts):
    b = DicomBytesIO()
    b.is_little_endian = ts.is_little_endian
    b.is_implicit_VR = ts.is_implicit_VR
    return b


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_encoder_writes_what_pydicom_writes(inputs, policy):
    compared = raw_seen = implicit = 0
    for path in inputs:
        ds = _deidentified(path, policy)
        if ds is None:
            continue
        ts = ds.file_meta.TransferSyntaxUID
        ours, theirs = _buf(ts), _buf(ts)
        raw = sum(type(e) is RawDataElement for e in ds._dict.values())
        try:  # ours first: pydicom's writer may decode raw elements in place
            encode_dataset(ours, ds)
            write_dataset(theirs, ds)
        except Exception:  # pydicom cannot write it as it stands (write_split decodes such datasets first)
            continue
        assert ours.getvalue() == theirs.getvalue(), path.name
        meta_ours, meta_theirs = DicomBytesIO(), DicomBytesIO()
        encode_file_meta(meta_ours, ds.file_meta)
        write_file_meta_info(meta_theirs, ds.file_meta, enforce_standard=True)
        assert meta_ours.getvalue() == meta_theirs.getvalue(), path.name
        compared += 1
        raw_seen += raw
        implicit += bool(raw) and ts.is_implicit_VR
    assert compared >= 80
    assert raw_seen > 1000  # the raw path was really exercised
    if policy == "basic":  # (text cleaning reads every element of implicit VR files: nothing stays raw)
        assert implicit >= 5  # ... in implicit VR files too


def _decode_everything(ds) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _decode_everything(item)


def _reread(ds) -> dict[int, object]:
    """Write with pydicom, read back, decode: values as any reader of the output file will see them."""
    ts = ds.file_meta.TransferSyntaxUID
    if not ts.is_implicit_VR and any(ds.get_item(t, keep_deferred=True).VR is None for t in ds.keys()):  # noqa: SIM118
        _decode_everything(ds)  # implicit-VR elements in an explicit file: as write_split does
    buf = _buf(ts)
    write_dataset(buf, ds)
    back = read_dataset(io.BytesIO(buf.getvalue()), ts.is_implicit_VR, ts.is_little_endian)
    return _values(back)


def _values(ds) -> dict[int, object]:
    return {int(e.tag): [_values(i) for i in e.value] if e.VR == "SQ" else e.value for e in ds}


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_raw_edits_equal_decoded_edits(inputs, policy):
    """Z/D/P/U applied to raw bytes give the values they give applied to decoded elements."""
    plan = compile_plan(load_policy(policy))
    checked = 0
    for path in inputs:
        try:
            raw_inst = _open(path)
            dec_inst = _open(path)
        except Exception:
            continue
        _decode_everything(dec_inst.ds)
        assert not any(type(e) is RawDataElement for e in dec_inst.ds._dict.values())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                a = deidentify(raw_inst.ds, plan, KEYED)
            except Exception:
                continue
            b = deidentify(dec_inst.ds, plan, KEYED)
        assert _reread(raw_inst.ds) == _reread(dec_inst.ds), path.name
        assert a.rules() == b.rules(), path.name
        checked += 1
    assert checked >= 80


def test_memoised_decisions_do_not_leak_between_plans(inputs):
    """The decision memo lives on the plan: two policies never share an answer."""
    basic = compile_plan(load_policy("basic"))
    longi = compile_plan(load_policy("research-longitudinal"))
    path = next(p for p in inputs if p.name == "CT_small.dcm")
    ds1, ds2 = _open(path).ds, _open(path).ds
    deidentify(ds1, basic, KEYED)
    deidentify(ds2, longi, KEYED)
    assert basic.decisions and longi.decisions
    assert basic.decisions is not longi.decisions
    assert "StudyDate" in ds2 and ds2.StudyDate  # shifted, kept
    assert not ds1.get("StudyDate")  # basic: emptied
    assert copy.deepcopy(basic) == basic  # the memo is not part of the plan's identity


def test_raw_uid_remap_keeps_every_value(tmp_path):
    """A multi-valued UI read raw: every value is remapped, consistently with the single-valued path."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.PatientID = "P1"
    ds.FailedSOPInstanceUIDList = ["1.2.3.4.6", "1.2.3.4.7", "1.2.840.10008.1.2"]
    path = tmp_path / "multi.dcm"
    ds.save_as(path, enforce_file_format=True)
    inst = _open(path)
    assert type(inst.ds.get_item(0x00080058)) is RawDataElement
    deidentify(inst.ds, compile_plan(load_policy("basic")), KEYED)
    assert type(inst.ds.get_item(0x00080058)) is RawDataElement  # done on the raw bytes
    assert list(inst.ds.FailedSOPInstanceUIDList) == [KEYED.uid("1.2.3.4.6"), KEYED.uid("1.2.3.4.7"),
                                                      "1.2.840.10008.1.2"]  # a standard UID is not an instance
    assert inst.ds.SOPInstanceUID == KEYED.uid("1.2.3.4.5")
