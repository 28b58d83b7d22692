"""Decode Pixel Data of any transfer syntax pydicom's plugins can read, and write redacted pixels back.

What is written follows from what was read (the issue's rule, and PS3.5 8 / PS3.3 C.7.6.1.1.5):

* uncompressed stays uncompressed in the same transfer syntax (Explicit VR Big Endian, retired in
  PS3.5, becomes Explicit VR Little Endian; deflated stays deflated);
* lossless-compressed input is re-encoded losslessly: RLE as RLE, JPEG-LS lossless as JPEG-LS,
  JPEG 2000 lossless as JPEG 2000 lossless, and JPEG Lossless (Process 14), for which no encoder installs
  from PyPI, as JPEG-LS lossless; each falls back to the next lossless encoder that works here and finally
  to uncompressed - never to a lossy one;
* lossy input (JPEG baseline/extended, JPEG-LS near-lossless, JPEG 2000, HTJ2K) is written uncompressed or
  with the lossless encoder the policy chooses, so no second loss happens; Lossy Image Compression stays
  "01" (PS3.3 C.7.6.1.1.5: once lossy, always flagged) and its method is recorded when it was missing.

Photometric Interpretation, Bits Allocated/Stored, Pixel Representation and Planar Configuration are kept,
except where the input's photometric cannot exist in the output (YBR_FULL_422 / YBR_ICT of a decoded lossy
stream become RGB, the colour space the decoder produced). Anything that cannot be decoded raises
:class:`~veil.errors.InputError` (rule ``pixels-undecodable``): the instance is quarantined, never passed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from veil.errors import InputError

#: Transfer syntaxes whose pixels have been through a lossy step, and the method code (CID 7013) to record.
LOSSY_METHOD = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",  # JPEG extended
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",  # JPEG 2000 (lossy allowed)
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",  # HTJ2K
    "1.2.840.10008.1.2.4.110": "ISO_18181_1",  # JPEG XL
    "1.2.840.10008.1.2.4.112": "ISO_18181_1",
}
NATIVE = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)
_LOSSLESS_CHAIN = {
    RLELossless: (RLELossless,),
    JPEGLSLossless: (JPEGLSLossless, JPEG2000Lossless, RLELossless),
    JPEG2000Lossless: (JPEG2000Lossless, JPEGLSLossless, RLELossless),
    "1.2.840.10008.1.2.4.201": (JPEG2000Lossless, JPEGLSLossless, RLELossless),  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": (JPEG2000Lossless, JPEGLSLossless, RLELossless),  # HTJ2K lossless RPCL
    JPEGLosslessSV1: (JPEGLSLossless, JPEG2000Lossless, RLELossless),
    JPEGLossless: (JPEGLSLossless, JPEG2000Lossless, RLELossless),
}
#: What compressed outputs Veil may produce: lossless only (PS3.5 A.4; no second lossy step).
LOSSLESS_OUTPUTS = (RLELossless, JPEGLSLossless, JPEG2000Lossless)
_LOSSY_CHOICE = {"uncompressed": (), "jpeg-ls-lossless": (JPEGLSLossless, RLELossless),
                 "jpeg2000-lossless": (JPEG2000Lossless, RLELossless)}


@dataclass
class Pixels:
    """Decoded frames, always frames-first: (frames, rows, columns[, samples])."""

    frames: np.ndarray
    photometric: str  # colour space of `frames` (may differ from the dataset's for decoded YBR)
    transfer_syntax: UID

    @property
    def lossy(self) -> bool:
        return str(self.transfer_syntax) in LOSSY_METHOD


def transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    return ExplicitVRLittleEndian


def decode(ds: Dataset, source: str | os.PathLike[str] | BinaryIO | None = None) -> Pixels:
    """All frames of `ds` as one array, in the stored colour space when the output can keep it.

    `source`: the file `ds` was read from without its Pixel Data. pydicom then decodes it frame by frame
    into one array made for all of them, where decoding from a dataset (or a file at once) holds the
    whole encoded value beside the decoded frames (twice the memory for uncompressed data).
    """
    ts = transfer_syntax(ds)
    if source is None and "PixelData" not in ds:
        raise InputError("no Pixel Data to clean (Float/Double Float Pixel Data are not supported)",
                         "pixels-undecodable")
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    keep_space = ts in NATIVE or ts == RLELossless
    as_rgb = not keep_space or pi == "YBR_FULL_422"
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        from pydicom.pixels import pixel_array

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = None if source is None else _from_file(source, as_rgb, frames)
            if arr is None:
                arr = pixel_array(ds if source is None else _read_whole(source), as_rgb=as_rgb, raw=False)
                if frames == 1:
                    arr = arr[np.newaxis, ...]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"pixel data cannot be decoded ({ts.name}): {type(exc).__name__}: {exc}",
                         "pixels-undecodable") from exc
    if arr.ndim != (4 if spp > 1 else 3):
        raise InputError(f"unexpected decoded shape {arr.shape} for {frames} frame(s), {spp} sample(s)",
                         "pixels-undecodable")
    if spp == 3 and pi.startswith("YBR") and as_rgb:
        pi = "RGB"
    return Pixels(arr, pi, ts)


def _from_file(source: str | os.PathLike[str] | BinaryIO, as_rgb: bool, frames: int) -> np.ndarray | None:
    """The frames decoded one by one from the file, or None when pydicom's reader of a file's pixel element
    fails where its dataset reader does not (pydicom's own SC_rgb_jpeg.dcm): the caller reads it whole."""
    from pydicom.pixels import iter_pixels

    each = cast("Generator[np.ndarray, None, None]", iter_pixels(source, as_rgb=as_rgb, raw=False))
    try:
        with contextlib.closing(each):  # closed when _stack stops early: its clean-up seeks in `source`
            return _stack(each, frames)
    except InputError:
        raise
    except Exception:
        return None


def _read_whole(source: str | os.PathLike[str] | BinaryIO) -> Dataset:
    from pydicom import dcmread

    if hasattr(source, "seek"):
        source.seek(0)
    return dcmread(source)


def _stack(each: Iterator[np.ndarray], frames: int) -> np.ndarray:
    """The `frames` frames of `each` in one array (frames first), made once the first frame shows its
    shape and type; more or fewer frames than the header says is an error."""
    arr: np.ndarray | None = None
    n = 0
    for frame in each:
        if arr is None:
            arr = np.empty((frames, *frame.shape), frame.dtype)
        if n == frames:
            raise InputError(f"more frames in Pixel Data than Number of Frames ({frames})", "pixels-undecodable")
        arr[n] = frame
        n += 1
    if arr is None or n != frames:
        raise InputError(f"{n} frame(s) decoded, Number of Frames says {frames}", "pixels-undecodable")
    return arr


def fill_value(ds: Dataset, px: Pixels) -> int | tuple[int, ...]:
    """The darkest displayable value in the stored colour space: what a blanked box is filled with."""
    arr = px.frames
    pi = px.photometric
    if pi == "MONOCHROME1":
        return int(arr.max())
    if pi == "MONOCHROME2":
        return int(arr.min())
    if pi == "PALETTE COLOR":
        try:
            from pydicom.pixels import apply_color_lut

            idx = np.unique(arr)
            rgb = apply_color_lut(idx, ds).reshape(-1, 3).astype(np.int64).sum(axis=1)
            return int(idx[int(np.argmin(rgb))])
        except Exception:
            return int(arr.min())
    if pi == "YBR_FULL":
        mid = 1 << (int(ds.get("BitsStored", 8)) - 1)
        return (0, mid, mid)
    return (0, 0, 0)


def _native_value(ds: Dataset, frames: np.ndarray) -> bytes | io.BufferedReader:
    """Native Pixel Data of `frames`: a file-like view of the array (pydicom writes a buffered value
    straight to the output), or bytes for 1-bit data (packed)."""
    bits = int(ds.BitsAllocated)
    arr = frames
    if int(ds.get("SamplesPerPixel", 1) or 1) > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        arr = np.ascontiguousarray(np.moveaxis(arr, -1, 1))  # (frames, samples, rows, cols): colour-by-plane
    if bits == 1:
        from pydicom.pixels.utils import pack_bits

        data = pack_bits(arr.astype(np.uint8).ravel(), pad=False)
        return data + b"\x00" if len(data) % 2 else data
    kind = "i" if int(ds.get("PixelRepresentation", 0) or 0) == 1 else "u"
    if arr.dtype.kind == "f":
        kind = "f"
    dtype = np.dtype(f"<{kind}{bits // 8}")
    return io.BufferedReader(_ArrayFile(np.ascontiguousarray(arr).astype(dtype, copy=False)))


class _ArrayFile(io.RawIOBase):
    """The bytes of a C-contiguous array as a readable, seekable file, zero-padded to even length (PS3.5
    7.1.1): the value pydicom writes Pixel Data from, chunk by chunk.

    Why: a bytes copy of the frames doubled the memory of re-encoding a cine, and pydicom's writer copies
    a bytes value once more (into its element buffer) before writing it; a buffered value it streams.
    """

    def __init__(self, arr: np.ndarray) -> None:
        self._view = memoryview(arr.data).cast("B")  # type: ignore[arg-type]
        self._size = len(self._view) + len(self._view) % 2
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        n = max(0, min(len(out), self._size - self._pos))
        have = max(0, min(n, len(self._view) - self._pos))
        out[:have] = self._view[self._pos:self._pos + have]
        out[have:n] = bytes(n - have)  # the padding byte
        self._pos += n
        return n


def encode(ds: Dataset, px: Pixels, frames: np.ndarray, lossy_choice: str = "uncompressed") -> UID:
    """Write `frames` into `ds` (PixelData + file meta transfer syntax) following the module's rules.

    Returns the output transfer syntax. `ds` keeps its UIDs (the header engine remaps them later).
    """
    ts = px.transfer_syntax
    if px.photometric != str(ds.get("PhotometricInterpretation", px.photometric)):
        ds.PhotometricInterpretation = px.photometric
        if int(ds.get("SamplesPerPixel", 1) or 1) == 3:
            ds.PlanarConfiguration = 0
    if px.lossy:
        ds.LossyImageCompression = "01"
        if "LossyImageCompressionMethod" not in ds:
            ds.LossyImageCompressionMethod = LOSSY_METHOD[str(ts)]
        chain: tuple[str, ...] = _LOSSY_CHOICE[lossy_choice]
    elif ts in NATIVE:
        chain = ()
    else:
        chain = _LOSSLESS_CHAIN.get(str(ts), (JPEGLSLossless, JPEG2000Lossless, RLELossless))
    frames_out = frames[0] if frames.shape[0] == 1 else frames
    for target in chain:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = Dataset()
                trial.update(ds)
                trial.file_meta = copy.deepcopy(ds.file_meta)
                trial.compress(UID(target), frames_out, generate_instance_uid=False)
            ds.PixelData = trial.PixelData
            ds["PixelData"].VR = "OB"
            ds["PixelData"].is_undefined_length = True
            ds.PhotometricInterpretation = trial.PhotometricInterpretation
            if "PlanarConfiguration" in trial:
                ds.PlanarConfiguration = trial.PlanarConfiguration
            ds.file_meta.TransferSyntaxUID = UID(target)
            return UID(target)
        except Exception:  # this encoder cannot take these pixels here: try the next lossless one
            continue
    out_ts = ts if ts in (ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian) else (
        ExplicitVRLittleEndian)
    _set_native(ds, frames, out_ts)
    return out_ts


def _set_native(ds: Dataset, frames: np.ndarray, ts: UID) -> None:
    if ts not in NATIVE:
        ts = ExplicitVRLittleEndian
    ds.PixelData = _native_value(ds, frames)
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    ds.file_meta.TransferSyntaxUID = ts
    ds.set_original_encoding(ts.is_implicit_VR, True, ds.original_character_set)
