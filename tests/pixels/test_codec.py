"""Every transfer syntax of pydicom's bundled test files: decoded, redacted and re-encoded by the rules in
veil.pixels.codec, or quarantined with a reason; the batch never crashes (issue 5 acceptance)."""

from __future__ import annotations

import io
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import UID
from tests.pixels.conftest import needs_tesseract, pixel_policy

from veil.errors import InputError
from veil.identity.keyed import Keyed
from veil.pipeline.runner import iter_files, run
from veil.pixels import codec, redact
from veil.policy.plan import compile_plan

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent


def _by_syntax() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = defaultdict(list)
    for p in iter_files(TEST_FILES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        if "Rows" in ds:
            out[str(ds.file_meta.get("TransferSyntaxUID", "none"))].append(p)
    return out


SYNTAXES = _by_syntax()


def test_the_bundled_files_cover_many_syntaxes():
    assert len(SYNTAXES) >= 12, sorted(SYNTAXES)


@pytest.mark.parametrize("ts", sorted(SYNTAXES))
def test_redact_reencode_roundtrip_per_syntax(ts):
    """Every decodable file of the syntax: blank a box, write back, read again: the box is filled, the rest
    is unchanged (exactly for lossless outputs), and the output syntax follows the module's rules."""
    done = 0
    for path in SYNTAXES[ts][:4]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
        try:
            px = codec.decode(ds)
        except InputError as exc:
            assert exc.rule == "pixels-undecodable" and exc.reason
            continue
        rows, cols = px.frames.shape[1:3]
        box = (cols // 4, rows // 4, cols // 2, rows // 2)
        fill = codec.fill_value(ds, px)
        new = redact.apply(px.frames, [box], fill)
        out_ts = codec.encode(ds, px, new, "uncompressed")
        assert not out_ts.is_compressed or out_ts in codec.LOSSLESS_OUTPUTS
        if UID(ts) in codec.NATIVE and UID(ts) != pydicom.uid.ExplicitVRBigEndian:
            assert out_ts == UID(ts)
        if px.lossy:
            assert ds.LossyImageCompression == "01" and ds.LossyImageCompressionMethod
        written = io.BytesIO()  # as the pipeline writes it (native Pixel Data streams from the frames)
        ds.save_as(written, enforce_file_format=True)
        back = pydicom.dcmread(io.BytesIO(written.getvalue()))
        again = codec.decode(back).frames
        if again.shape != new.shape:  # e.g. YBR stored, RGB decoded: compare in one space
            continue
        assert np.array_equal(again, new), f"{path.name}: {ts} -> {out_ts} not lossless"
        done += 1
    assert done or all(_undecodable(p) for p in SYNTAXES[ts][:4])


def _undecodable(path: Path) -> bool:
    try:
        codec.decode(pydicom.dcmread(path))
        return False
    except Exception:
        return True


@needs_tesseract
@pytest.mark.slow
def test_pipeline_over_one_file_per_syntax_with_ocr_on_everything(tmp_path):
    files = [paths[0] for paths in SYNTAXES.values()]
    summary = run(files, tmp_path / "out", compile_plan(pixel_policy(ocr="all")), Keyed(b"s" * 32))
    assert summary.files_in == len(files)
    for r in summary.results:
        assert r.status in ("ok", "quarantined", "duplicate")
        assert r.rule != "internal", (r.source, r.reason)
        if r.status == "quarantined":
            assert r.reason and r.rule
        elif r.status == "ok":
            pydicom.dcmread(tmp_path / "out" / str(r.output)).pixel_array  # noqa: B018 - decodes
    assert summary.written >= len(files) // 2


@pytest.mark.parametrize("shape, bits", [((1, 3, 3), 8), ((2, 3, 5), 16)], ids=["odd-8-bit", "16-bit"])
def test_native_pixel_data_streams_from_the_frames_padded_to_even_length(shape, bits):
    """Native output is a file-like view of the redacted frames (no bytes copy of a cine), written by
    pydicom chunk by chunk: the written value is the frames' bytes, padded with one zero to even length,
    and its length field says so (PS3.5 7.1.1)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = np.arange(int(np.prod(shape)), dtype=np.uint8 if bits == 8 else np.uint16).reshape(shape) * 7
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = shape[1], shape[2], shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    px = codec.Pixels(frames, "MONOCHROME2", ExplicitVRLittleEndian)
    assert codec.encode(ds, px, frames) == ExplicitVRLittleEndian
    assert ds["PixelData"].is_buffered  # not a bytes copy
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    raw = out.getvalue()
    value = frames.astype(f"<u{bits // 8}").tobytes()
    padded = value + b"\x00" * (len(value) % 2)
    at = raw.index(b"\xe0\x7f\x10\x00")
    assert raw[at + 8:at + 12] == len(padded).to_bytes(4, "little") and raw[at + 12:] == padded
    back = pydicom.dcmread(io.BytesIO(raw))
    assert np.array_equal(back.pixel_array.reshape(shape), frames)


@pytest.mark.parametrize("ts", sorted(SYNTAXES))
def test_decoding_from_the_file_frame_by_frame_equals_decoding_the_dataset(ts):
    """The pipeline decodes a split read (header in memory, Pixel Data left in the file) frame by frame from
    the file: the same frames, type and colour space as pydicom's whole-dataset decode, and what one
    cannot decode the other refuses too. A deflated file is read whole: decoded from its dataset. Where
    pydicom's reader of a file's pixel element fails and its dataset reader does not (SC_rgb_jpeg.dcm),
    the file is read whole: the pass must not refuse what it decoded before."""
    if UID(ts).is_deflated:
        from veil.pipeline.instance import _open

        assert all(_open(path).whole for path in SYNTAXES[ts][:4])
        return
    for path in SYNTAXES[ts]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = pydicom.dcmread(path)
            head = pydicom.dcmread(path, stop_before_pixels=True)
        try:
            want = codec.decode(whole)
        except InputError:
            with pytest.raises(InputError):
                codec.decode(head, path)
            continue
        got = codec.decode(head, path)
        assert got.frames.dtype == want.frames.dtype and got.photometric == want.photometric, path.name
        assert np.array_equal(got.frames, want.frames), path.name


@pytest.mark.parametrize("name", ["emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"], ids=["native", "j2k"])
def test_frames_beyond_the_declared_count_are_quarantined_not_left_unexamined(tmp_path, name):
    """Ten frames stored, nine declared: the pass decodes by the header's count, so the tenth would never be
    read for text - and an image left unchanged is written with its Pixel Data as read. Both quarantine."""
    import hashlib

    ds = pydicom.dcmread(get_testdata_file(name))
    ds.NumberOfFrames = 9
    src = tmp_path / "in" / "cine.dcm"
    src.parent.mkdir()
    ds.save_as(src, enforce_file_format=True)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    summary = run([src], tmp_path / "out", compile_plan(pixel_policy(ocr="all")), Keyed(b"s" * 32))
    (r,) = summary.results
    if name == "emri_small.dcm":  # native: bytes after the declared image, refused when the file is opened
        assert (r.status, r.rule) == ("quarantined", "pixels-trailing-bytes"), r.reason
        assert "bytes after its" in r.reason
    else:  # encapsulated: refused when the file is opened too (it leaked under a policy without the pass)
        assert (r.status, r.rule) == ("quarantined", "pixels-trailing-bytes"), r.reason
        assert "10 frames, the header declares 9" in r.reason
    assert not list((tmp_path / "out").rglob("*.dcm"))
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_float_pixel_data_is_refused_with_its_reason_not_decoded_from_the_file(tmp_path):
    """Float Pixel Data (7FE0,0008) is not what the pass cleans or writes back: the split read leaves it in
    the file, and decoding from there would have run the pass on it and written it back as Pixel Data."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.30", generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality, ds.BurnedInAnnotation = "Doe^Jane", "123", "OT", "YES"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated = 1, "MONOCHROME2", 32
    ds.FloatPixelData = np.arange(256, dtype="<f4").tobytes()
    src = tmp_path / "in" / "float.dcm"
    src.parent.mkdir()
    ds.save_as(src, enforce_file_format=True)
    summary = run([src], tmp_path / "out", compile_plan(pixel_policy()), Keyed(b"s" * 32))
    (r,) = summary.results
    assert (r.status, r.rule) == ("quarantined", "pixels-undecodable")
    assert "Float/Double Float Pixel Data are not supported" in r.reason
