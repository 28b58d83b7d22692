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
import functools
import io
import os
import struct
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

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

from veil.errors import InputError, scrub
from veil.pixels import spill as spilling
from veil.pixels.spill import Spill

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


def decode(ds: Dataset, source: str | os.PathLike[str] | BinaryIO | None = None,
           spill: Spill | None = None) -> Pixels:
    """All frames of `ds` as one array, in the stored colour space when the output can keep it.

    `source`: the file `ds` was read from without its Pixel Data. pydicom then decodes it frame by frame
    into one array made for all of them, where decoding from a dataset (or a file at once) holds the
    whole encoded value beside the decoded frames (twice the memory for uncompressed data). `spill`:
    where that array goes when it is too big to hold (:mod:`veil.pixels.spill`).
    """
    ts = transfer_syntax(ds)
    if source is None and "PixelData" not in ds:
        raise InputError("no Pixel Data to clean (Float/Double Float Pixel Data are not supported)",
                         "pixels-undecodable")
    pi, as_rgb = _colour_space(ds, ts)
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        from pydicom.pixels import pixel_array

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = None if source is None else _from_file(source, ts, as_rgb, frames, spill)
            if arr is None:
                arr = pixel_array(ds if source is None else _read_whole(source, ts), as_rgb=as_rgb, raw=False)
                if frames == 1:
                    arr = arr[np.newaxis, ...]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"pixel data cannot be decoded ({ts.name}): {type(exc).__name__}: {scrub(str(exc))}",
                         "pixels-undecodable") from exc
    if arr.ndim != (4 if spp > 1 else 3):
        raise InputError(f"unexpected decoded shape {arr.shape} for {frames} frame(s), {spp} sample(s)",
                         "pixels-undecodable")
    return Pixels(arr, pi, ts)


def _colour_space(ds: Dataset, ts: UID) -> tuple[str, bool]:
    """(colour space of the decoded frames, whether to decode to RGB): frames stay in their stored colour
    space where the output can keep it (native, RLE); other encodings and YBR_FULL_422 are decoded to RGB,
    and YBR colour frames decoded so are RGB."""
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    keep_space = ts in NATIVE or ts == RLELossless
    as_rgb = not keep_space or pi == "YBR_FULL_422"
    if as_rgb and pi.startswith("YBR") and str(ds.get("SamplesPerPixel", 1)).strip() == "3":
        pi = "RGB"
    return pi, as_rgb


def first_frame(ds: Dataset, source: str | os.PathLike[str] | BinaryIO) -> Pixels:
    """The first frame of the file `source` (read as `ds`), decoded as :func:`decode` decodes every frame
    (same colour space), without decoding the others: what verify needs to re-derive an icon."""
    from pydicom.pixels import iter_pixels

    ts = transfer_syntax(ds)
    pi, as_rgb = _colour_space(ds, ts)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            each = cast("Generator[np.ndarray, None, None]",
                        iter_pixels(source, as_rgb=as_rgb, raw=False, transfer_syntax_uid=ts, indices=[0]))
            with contextlib.closing(each):
                frame = next(each)
    except Exception as exc:
        raise InputError(f"pixel data cannot be decoded ({ts.name}): {type(exc).__name__}: {scrub(str(exc))}",
                         "pixels-undecodable") from exc
    return Pixels(frame[np.newaxis, ...], pi, ts)


def _from_file(source: str | os.PathLike[str] | BinaryIO, ts: UID, as_rgb: bool, frames: int,
               spill: Spill | None = None) -> np.ndarray | None:
    """The frames decoded one by one from the file, or None when pydicom's reader of a file's pixel element
    fails where its dataset reader does not (pydicom's own SC_rgb_jpeg.dcm): the caller reads it whole.
    `ts`: the file's transfer syntax, which a dataset without File Meta Information does not state."""
    from pydicom.pixels import iter_pixels

    each = cast("Generator[np.ndarray, None, None]",
                iter_pixels(source, as_rgb=as_rgb, raw=False, transfer_syntax_uid=ts))
    try:
        with contextlib.closing(each):  # closed when _stack stops early: its clean-up seeks in `source`
            return _stack(each, frames, spill)
    except InputError:
        raise
    except Exception:
        return None


def _read_whole(source: str | os.PathLike[str] | BinaryIO, ts: UID) -> Dataset:
    """The whole file, also one without File Meta Information (a bare dataset: its `ts` is the one the
    split read found)."""
    from pydicom import dcmread

    if hasattr(source, "seek"):
        source.seek(0)
    ds = dcmread(source, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = ts
    return ds


def _stack(each: Iterator[np.ndarray], frames: int, spill: Spill | None = None) -> np.ndarray:
    """The `frames` frames of `each` in one array (frames first), made once the first frame shows its
    shape and type; more or fewer frames than the header says is an error. A spilled array's frames
    leave this process's memory as they are written."""
    arr: np.ndarray | None = None
    n = 0
    for frame in each:
        if arr is None:
            arr = spilling.empty((frames, *frame.shape), frame.dtype, spill)
        if n == frames:
            raise InputError(f"more frames in Pixel Data than Number of Frames ({frames})", "pixels-undecodable")
        arr[n] = frame
        spilling.release(arr[n])
        n += 1
    if arr is None or n != frames:
        raise InputError(f"{n} frame(s) decoded, Number of Frames says {frames}", "pixels-undecodable")
    return arr


def fill_value(ds: Dataset, px: Pixels) -> int | tuple[int, ...]:
    """The darkest displayable value in the stored colour space: what a blanked box is filled with.

    Taken a frame at a time: a reduction over every frame at once maps every page of a spilled array."""
    arr = px.frames
    pi = px.photometric
    if pi == "MONOCHROME1":
        return int(max(_each(arr, np.max)))
    if pi == "MONOCHROME2":
        return int(min(_each(arr, np.min)))
    if pi == "PALETTE COLOR":
        try:
            from pydicom.pixels import apply_color_lut

            idx = functools.reduce(np.union1d, _each(arr, np.unique))
            rgb = apply_color_lut(idx, ds).reshape(-1, 3).astype(np.int64).sum(axis=1)
            return int(idx[int(np.argmin(rgb))])
        except Exception:
            return int(min(_each(arr, np.min)))
    if pi == "YBR_FULL":
        mid = 1 << (int(ds.get("BitsStored", 8)) - 1)
        return (0, mid, mid)
    return (0, 0, 0)


def _each(frames: np.ndarray, fn: Callable[[np.ndarray], Any]) -> Iterator[Any]:
    """``fn(frame)`` for each frame, each frame released after (:func:`veil.pixels.spill.release`)."""
    for frame in frames:
        yield fn(frame)
        spilling.release(frame)


def _native_value(ds: Dataset, frames: np.ndarray) -> bytes | io.BufferedReader:
    """Native Pixel Data of `frames`: a file-like view of the frames (pydicom writes a buffered value
    straight to the output), or bytes for 1-bit data (packed)."""
    bits = int(ds.BitsAllocated)
    by_plane = int(ds.get("SamplesPerPixel", 1) or 1) > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1
    if bits == 1:
        from pydicom.pixels.utils import pack_bits

        arr = np.moveaxis(frames, -1, 1) if by_plane else frames
        data = pack_bits(np.ascontiguousarray(arr).astype(np.uint8).ravel(), pad=False)
        return data + b"\x00" if len(data) % 2 else data
    kind = "i" if int(ds.get("PixelRepresentation", 0) or 0) == 1 else "u"
    if frames.dtype.kind == "f":
        kind = "f"
    dtype = np.dtype(f"<{kind}{bits // 8}")
    return io.BufferedReader(_FramesFile(frames, dtype, by_plane))


class _FramesFile(io.RawIOBase):
    """The native bytes of `frames`, frame after frame, as a readable, seekable file, zero-padded to even
    length (PS3.5 7.1.1): the value pydicom writes Pixel Data from, chunk by chunk.

    Each frame is laid out as it is written: in `dtype`, colour-by-plane when `by_plane` (PS3.3
    C.7.6.3.1.3, Planar Configuration 1). A frame already in that layout is read where it is; a spilled
    frame's pages are dropped once read (:mod:`veil.pixels.spill`).

    Why: a bytes copy of the frames doubled the memory of re-encoding a cine, and pydicom's writer copies
    a bytes value once more (into its element buffer) before writing it; a buffered value it streams. A
    colour-by-plane copy of every frame at once was a third copy.
    """

    def __init__(self, frames: np.ndarray, dtype: np.dtype[Any], by_plane: bool) -> None:
        self._frames, self._dtype, self._by_plane = frames, dtype, by_plane
        self._frame = int(frames[0].size) * dtype.itemsize if len(frames) else 0
        total = self._frame * len(frames)
        self._size = total + total % 2
        self._pos = 0
        self._at: tuple[int, memoryview] | None = None  # the frame being read, laid out

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

    def _laid_out(self, i: int) -> memoryview:
        if self._at is None or self._at[0] != i:
            if self._at is not None:
                spilling.release(self._frames[self._at[0]])
            frame = self._frames[i]
            if self._by_plane:
                frame = np.moveaxis(frame, -1, 0)
            out = np.ascontiguousarray(frame).astype(self._dtype, copy=False)
            self._at = (i, memoryview(out.data).cast("B"))  # type: ignore[arg-type]
        return self._at[1]

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        n = max(0, min(len(out), self._size - self._pos))
        done = 0
        while done < n:
            i, off = divmod(self._pos + done, self._frame) if self._frame else (len(self._frames), 0)
            if i >= len(self._frames):  # the padding byte
                out[done:n] = bytes(n - done)
                done = n
                break
            view = self._laid_out(i)
            k = min(n - done, self._frame - off)
            out[done:done + k] = view[off:off + k]
            done += k
        self._pos += n
        return n

    def close(self) -> None:
        if self._at is not None:
            spilling.release(self._frames[self._at[0]])
            self._at = None
        super().close()


def encode(ds: Dataset, px: Pixels, frames: np.ndarray, lossy_choice: str = "uncompressed",
           spill: Spill | None = None) -> UID:
    """Write `frames` into `ds` (PixelData + file meta transfer syntax) following the module's rules.

    Returns the output transfer syntax. `ds` keeps its UIDs (the header engine remaps them later).
    Spilled frames (:mod:`veil.pixels.spill`) are encoded a frame at a time into a file in `spill`'s
    folder, which becomes the Pixel Data value (:func:`_encapsulated`).
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
                value = (_encapsulated(trial, UID(target), frames, spill.folder)
                         if spill is not None and spilling.spilled(frames) else None)
                if value is None:
                    trial.compress(UID(target), frames_out, generate_instance_uid=False)
            ds.PixelData = trial.PixelData if value is None else value  # the file is closed with `ds`
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


#: Item tag (FFFE,E000), little endian (PS3.5 A.4).
_ITEM = b"\xfe\xff\x00\xe0"


def _encapsulated(ds: Dataset, uid: UID, frames: np.ndarray, folder: Path) -> IO[bytes] | None:
    """The encapsulated Pixel Data of `frames` in `uid` as an unlinked file (a buffered value pydicom
    writes from), the same bytes pydicom's ``compress`` makes: a Basic Offset Table, then one fragment per
    frame (PS3.5 A.4). None when the offsets do not fit the Basic Offset Table (pydicom then adds an
    Extended Offset Table, in memory).

    Why: ``compress`` keeps every encoded frame in a list and joins them (twice the encoded size), and
    reads every frame of a spilled array at once; here each frame leaves memory once it is encoded.
    """
    from pydicom.pixels import get_encoder
    from pydicom.pixels.utils import as_pixel_options

    encoder = get_encoder(uid)
    if not encoder.is_available:
        raise RuntimeError(f"no encoder for {uid.name} here")
    n = frames.shape[0]
    fh = spilling.unlinked_file(folder)
    try:
        fh.write(_ITEM + struct.pack("<I", 4 * n) + bytes(4 * n))
        offsets: list[int] = []
        pos = 0
        one = as_pixel_options(ds) | {"number_of_frames": 1}  # a frame at a time: pydicom checks the
        for i in range(n):  # values' range over the array it is given, which would map every frame at once
            data = encoder.encode(frames[i], **one)
            spilling.release(frames[i])
            pad = len(data) % 2
            offsets.append(pos)
            fh.write(_ITEM + struct.pack("<I", len(data) + pad))
            fh.write(data + b"\x00" * pad)
            pos += 8 + len(data) + pad
        if offsets[-1] > 0xFFFFFFFF:
            fh.close()
            return None
        fh.seek(8)
        fh.write(struct.pack(f"<{n}I", *offsets))
        fh.flush()
        fh.seek(0)
        return fh
    except BaseException:
        fh.close()
        raise


def _set_native(ds: Dataset, frames: np.ndarray, ts: UID) -> None:
    if ts not in NATIVE:
        ts = ExplicitVRLittleEndian
    ds.PixelData = _native_value(ds, frames)
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    ds.file_meta.TransferSyntaxUID = ts
    ds.set_original_encoding(ts.is_implicit_VR, True, ds.original_character_set)
