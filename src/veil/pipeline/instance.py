"""One instance through Veil: read, de-identify, write atomically under a PHI-free path.

This is the unit of work the runner distributes. It never modifies its input, writes output through a
temporary file and an atomic rename, and turns every failure into a per-file :class:`FileResult` with a
reason and the rule that stopped it (the file is quarantined, the batch goes on).

Two routes, one result: well-formed little-endian instances under a policy without pixel cleaning go
through :mod:`veil.pipeline.rawpath` (byte ranges; pydicom objects only for the elements whose dates are
shifted or whose text is cleaned; about 3x faster on header-heavy files under the basic profile);
everything else, and anything the raw path declines, through pydicom here. Both write the same bytes
(tests/pipeline/test_rawpath.py).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import stat
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from veil.errors import InputError, OutputError, scrub
from veil.header.engine import Outcome, deidentify, peek
from veil.identity.keyed import Keyed
from veil.pipeline import partfiles, rawpath
from veil.pipeline.fingerprint import input_file_digest, sha256_file
from veil.pipeline.passthrough import SplitInstance, check_lengths, read_split, write_split
from veil.pipeline.sources import STATE_DIR
from veil.pixels import markers, trailing
from veil.policy.plan import Plan

if TYPE_CHECKING:
    from veil.pixels.hook import PixelPass


@dataclass(frozen=True)
class FileResult:
    """Per-file result. `status` is 'ok', 'quarantined' or 'dry-run'. Never holds original values."""

    source: str
    status: str
    output: str | None = None
    reason: str = ""
    rule: str = ""
    input_hash: str = ""  # keyed hash of the input bytes: links re-runs, not linkable without the key
    output_sha256: str = ""
    fired: tuple[tuple[str, str, str, int], ...] = field(default=())
    pseudonym: str = ""
    patient_hash: str = ""  # keyed hash of the original patient key (collision check only)


_FATAL_WARNINGS = ("End of file reached", "truncat", "delimiter")


def _may_be_bare_dataset(path: Path) -> bool:
    """Whether a file without preamble can be a dataset Veil could process, from its first 12 bytes.

    Such a dataset must hold SOPInstanceUID (0008,0018) and its elements are in ascending order
    (PS3.5 7.1), so its first element is of group 0000-0008, in either byte order, with a length that
    fits the file. Anything else (a video, an archive, random bytes) is not read: pydicom's forced read
    of a multi-GB file would hold all of it in memory.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return True  # the reader reports it with its reason
    if len(head) < 8 or not any(head[:8]):  # zeros: no element has tag (0000,0000) and length 0 - pydicom
        return False  # read a zip's 20 MB of zeros as millions of such elements for 10 s (2 GB: 25 minutes)
    for order in ("little", "big"):
        group = int.from_bytes(head[0:2], order)  # type: ignore[arg-type]
        if group > 0x0008 or group & 1:
            continue
        code = head[4:6]  # an explicit VR, with a 2- or 4-byte length (PS3.5 7.1.2): the raw parser's tables
        if code in rawpath._SHORT or code in rawpath._LONG:
            length = int.from_bytes(head[8:12] if code in rawpath._LONG else head[6:8], order)  # type: ignore[arg-type]
        else:
            length = int.from_bytes(head[4:8], order)  # type: ignore[arg-type]
        if length == 0xFFFFFFFF or length <= size:
            return True
    return False


def read_instance(path: Path) -> Dataset:
    """Read a DICOM file (Part-10 or bare dataset) fully, so truncation shows up here and not later."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            if not _may_be_bare_dataset(path):
                raise InputError("not a DICOM file (no preamble, and it does not begin with a DICOM element)",
                                 "read") from None
            try:
                ds = pydicom.dcmread(path, force=True)
            except Exception as exc:
                raise InputError(f"not a DICOM file: {scrub(str(exc))}", "read") from exc
            if "SOPClassUID" not in ds and "SOPInstanceUID" not in ds:
                raise InputError("not a DICOM file (no preamble and no SOP Class/Instance UID)", "read") from None
        except (OSError, PermissionError) as exc:
            raise InputError(f"cannot read file: {exc.strerror or exc}", "read") from exc
        except Exception as exc:
            raise InputError(f"unreadable DICOM: {type(exc).__name__}: {scrub(str(exc))}", "read") from exc
        check_lengths(ds)
        try:
            _touch_all(ds)
        except Exception as exc:
            raise InputError(f"corrupt or truncated DICOM: {type(exc).__name__}: {scrub(str(exc))}", "parse") from exc
    for w in caught:
        if any(k in str(w.message) for k in _FATAL_WARNINGS):
            raise InputError(f"corrupt or truncated DICOM: {w.message}", "parse")
    if len(ds) == 0:
        raise InputError("empty dataset", "read")
    _check_native_pixel_length(ds)
    _refuse_media_directory(ds)
    if "SOPInstanceUID" not in ds:
        raise InputError("no SOPInstanceUID: cannot name or reference the instance", "read")
    return ds


#: Media Storage Directory Storage (PS3.4 Annex F, PS3.10 7.2): the class of a DICOMDIR.
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"


def _refuse_media_directory(ds: Dataset) -> None:
    """Refuse a DICOMDIR, saying it is one: every CD/DVD export has one, and "no SOPInstanceUID" did not
    say why.

    It indexes the files beside it by patient, study and series - names, IDs and dates in its directory
    records, and the input's own file IDs (Referenced File ID, CS: a coded value the profile would keep,
    though media paths often carry names) - so it is never written, with or without a SOPInstanceUID; a
    de-identified folder needs none (a viewer that wants one can build it from the outputs: dcmmkdir).
    """
    meta = getattr(ds, "file_meta", None)
    if (meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_DIRECTORY) \
            or "DirectoryRecordSequence" in ds:
        raise InputError("a DICOMDIR (media directory, PS3.10 7.2): an index of the files beside it that names "
                         "their patients, not an image; never written (the output needs none)", "media-directory")


def native_pixel_bits(get: Callable[[str, object], object]) -> int:
    """Rows x Columns x frames x samples x BitsAllocated: the bits native Pixel Data must hold (PS3.5 8.1.1).

    YBR_FULL_422 (and the retired YBR_PARTIAL_422) hold two values per pixel, not three: two Y share one
    Cb and one Cr (PS3.3 C.7.6.3.1.2). `get` reads a value by keyword: :func:`peek` (the elements stay
    raw for the encoder), or the raw path's reader of plain values.
    """
    try:
        frames = int(get("NumberOfFrames", 1) or 1)  # type: ignore[call-overload]
        rows, cols, samples, bits = (int(get(kw, d)) for kw, d in (  # type: ignore[call-overload]
            ("Rows", None), ("Columns", None), ("SamplesPerPixel", 1), ("BitsAllocated", None)))
    except (TypeError, ValueError):
        raise InputError("Pixel Data without valid Rows/Columns/BitsAllocated", "parse") from None
    if samples == 3 and str(get("PhotometricInterpretation", "") or "").strip() in _SUBSAMPLED_422:
        samples = 2
    return rows * cols * frames * samples * bits


_SUBSAMPLED_422 = ("YBR_FULL_422", "YBR_PARTIAL_422")


#: Float (OF) and Double Float (OD) Pixel Data: bytes a sample (PS3.5 8.2; PS3.3 C.7.6.3.1).
FLOAT_PIXELS = {0x7FE00008: 4, 0x7FE00009: 8}
_FLOAT_NAME = {4: "Float Pixel Data", 8: "Double Float Pixel Data"}


def float_pixel_bytes(get: Callable[[str, object], object], size: int) -> int:
    """Rows x Columns x samples x frames x `size` bytes: the image of Float / Double Float Pixel Data."""
    try:
        rows, cols, samples, frames = (int(get(kw, d) or d) for kw, d in (  # type: ignore[call-overload]
            ("Rows", 0), ("Columns", 0), ("SamplesPerPixel", 1), ("NumberOfFrames", 1)))
    except (TypeError, ValueError):
        raise InputError("Float Pixel Data without valid Rows/Columns/Number of Frames", "parse") from None
    return rows * cols * samples * frames * size


def _check_native_pixel_length(ds: Dataset) -> None:
    """Native (uncompressed) Pixel Data shorter than Rows x Columns x frames x samples x bits: truncated.
    Float / Double Float Pixel Data longer than its image by other than zeros: bytes in no image (PS3.5 8.2)."""
    for tag, size in FLOAT_PIXELS.items():
        if tag in ds:
            value: bytes = ds[tag].value or b""
            trailing.check_native(markers.bytes_reader(value), len(value),
                                  float_pixel_bytes(lambda kw, d: peek(ds, kw, d), size), _FLOAT_NAME[size], "8.2")
    if "PixelData" not in ds or UID(ds.file_meta.get("TransferSyntaxUID", ImplicitVRLittleEndian)).is_compressed:
        return
    need = native_pixel_bits(lambda kw, d: peek(ds, kw, d))
    value = ds.PixelData
    have = len(value) * 8
    if have < need:
        raise InputError(f"truncated Pixel Data: {have // 8} bytes, expected {(need + 7) // 8}", "parse")
    trailing.check_native(markers.bytes_reader(value), len(value), (need + 7) // 8)  # longer: no pad, refused


def _touch_all(ds: Dataset) -> None:
    """Convert every raw element (pydicom parses lazily) so decoding errors surface now."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _touch_all(item)


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def output_relpath(ds: Dataset, pseudonym: str) -> str:
    """<pseudo-patient>/<study>/<series>/<instance>.dcm from de-identified identifiers only."""
    return relpath(pseudonym, *(str(ds.get(kw, "") or "") for kw in ("StudyInstanceUID", "SeriesInstanceUID",
                                                                     "SOPInstanceUID")))


_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_PSEUDONYM = re.compile(r"[A-Za-z0-9_-]{1,64}")


def relpath(pseudonym: str, study: str, series: str, sop: str) -> str:
    """The output path of an instance, relative to the output folder; a missing UID reads "unknown".

    Raises InputError (quarantine) for a UID that is not digits and dots (PS3.5 9.1): a policy that
    retains UIDs would otherwise let an input name its output, e.g. "../../x" writing outside the folder.
    """
    if not _PSEUDONYM.fullmatch(pseudonym):
        raise InputError("the patient pseudonym cannot name an output folder", "output-path")
    for kw, uid in (("StudyInstanceUID", study), ("SeriesInstanceUID", series), ("SOPInstanceUID", sop)):
        if uid and (len(uid) > 64 or not _UID.fullmatch(uid)):
            raise InputError(f"{kw} is not a valid UID (PS3.5 9.1: digits and dots, at most 64): it cannot name "
                             "the output file", "invalid-uid")
    return f"{pseudonym}/{study or 'unknown'}/{series or 'unknown'}/{sop or 'unknown'}.dcm"


#: Output path -> inode of the file this process wrote there (commit_atomic), until the runner takes it
#: (committed_inode) to seal the journal line: a duplicate instance renamed over it meanwhile is not sealed.
_committed: dict[str, int] = {}


def committed_inode(path: str) -> int | None:
    """The inode this process wrote at `path`, once (None when it wrote nothing there)."""
    return _committed.pop(path, None)


def commit_atomic(fd: int, tmp: str, path: Path | str, digest: str, since: int | None = None) -> None:
    """Name the written file `path` (atomic: a link, or a rename), close it, and settle duplicate instances.
    `tmp`: its temporary name, or "" for an unnamed file (partfiles.new_anonymous), linked while still open.

    Two inputs can carry the same SOPInstanceUID (a re-sent instance, another transfer syntax). The
    output then exists already (a hard link onto an existing name fails, atomically); under a lock on the
    folder, identical bytes are a no-op and different bytes keep the smaller sha256, so the result does
    not depend on which worker finished first.
    The loser raises :class:`InputError` (rule ``duplicate-instance``) and is quarantined.
    A file whose inode last changed before `since` (the run's start, on the output file system's clock) is
    not a competitor but an earlier run's output this run did not reuse (cut short by a crash, damaged, or
    made from an input that has changed): it is replaced. The ctime, not the mtime: an output folder
    restored from a host whose clock ran ahead, or touched, has mtimes in the future, and its outputs were
    taken for this run's duplicates (quarantined, then removed as stale); link() sets the ctime, which
    nobody can set.
    """
    # No fsync per file: a resumed run re-hashes journaled outputs and redoes any that a crash cut short.
    _committed[os.fspath(path)] = os.fstat(fd).st_ino
    if not tmp:  # an unnamed file (partfiles.new_anonymous): linked while open, named only to settle a duplicate
        partfiles.hold()
        try:
            partfiles.name_anonymous(fd, path)
        except FileExistsError:
            partfiles.release()
        except BaseException:
            partfiles.release()
            os.close(fd)
            raise
        else:
            os.close(fd)
            return
        tmp = partfiles.name_temporarily(fd, os.path.dirname(path))
        try:
            _commit_locked(tmp, path, digest, since)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # replaced onto `path` (gone already) or lost to the kept duplicate
            partfiles.done(tmp)
        return
    os.close(fd)
    # from the rename on, a stop waits until the caller has journaled the result (partfiles.hold): never
    # while waiting for the folder's lock or hashing a duplicate, only around the rename itself
    partfiles.hold()
    try:  # common case, no lock: link() is atomic and fails if the instance is already there
        os.link(tmp, path)
        os.unlink(tmp)
        return
    except OSError:  # exists already, or a file system without hard links: the locked path decides
        partfiles.release()  # nothing is in place yet: a stop that came meanwhile stops now
    _commit_locked(tmp, path, digest, since)


def _commit_locked(tmp: str, path: Path | str, digest: str, since: int | None) -> None:
    """commit_atomic's path when `path` exists: under the folder's lock, a duplicate is settled."""
    dfd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        fcntl.flock(dfd, fcntl.LOCK_EX)
        if os.path.exists(path) and (since is None or os.stat(path).st_ctime_ns >= since):
            existing = sha256_file(Path(path))
            if existing == digest:
                os.unlink(tmp)
                return
            if existing < digest:
                raise InputError(
                    "duplicate SOPInstanceUID: another input with different content is kept for this instance",
                    "duplicate-instance",
                )
        partfiles.hold()
        os.replace(tmp, path)
    finally:
        os.close(dfd)


#: Failures of the output location, never of one input: a write or a create cannot fail this way
#: because of what a file holds (reads of an input never give them).
_OUTPUT_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE, errno.ENFILE})
#: ... and, where a file or folder is being made in the output: no permission, or a file standing where an
#: output folder must be (ENOTDIR, EEXIST), a folder with too many links (EMLINK), a file system that will
#: not link a file it made (EXDEV, EOPNOTSUPP: red team A's simulated one quarantined every input instead)
_CREATE_FAILURES = frozenset({errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EMLINK, errno.EXDEV,
                              errno.EOPNOTSUPP})


def output_failure(exc: OSError, where: Path | str, *, creating: bool = False) -> OutputError | None:
    """The run-stopping :class:`OutputError` for `exc`, or None when it may be about one file only.

    `creating`: `exc` came from creating a file or folder in the output, where a permission error is
    the output's too (an unreadable input fails earlier, when it is opened).
    """
    if exc.errno in _OUTPUT_FAILURES or (creating and exc.errno in _CREATE_FAILURES):
        return OutputError(f"cannot write the output: {exc.strerror or exc} (in {where}). Files finished so far "
                           "are kept and journaled: fix this and run the same command again to resume")
    return None


def write_atomic(path: Path | str, write: Callable[[int], tuple[str, str]],
                 since: int | None = None) -> tuple[str, str]:
    """``write(fd)`` into a temporary file beside `path`, then :func:`commit_atomic` it; on any failure the
    temporary file is removed and `path` is untouched. `write` returns (output sha256, input digest).

    A full, read-only or unwritable output raises :class:`OutputError` (see :func:`output_failure`)."""
    folder = os.path.dirname(path)
    try:
        fd, tmp = partfiles.new_anonymous(folder)
    except OSError as exc:
        err = output_failure(exc, folder, creating=True)
        if err is not None:
            raise err from exc
        raise
    open_fd: int | None = fd
    try:
        digests = write(fd)
        open_fd = None  # commit_atomic closes it, whatever happens
        commit_atomic(fd, tmp, path, digests[0], since)
        partfiles.done(tmp)
        return digests
    except BaseException as exc:
        partfiles.discard(open_fd, tmp)  # a commit's failure is the output's: it names a file there (creating)
        err = output_failure(exc, folder, creating=open_fd is None) if isinstance(exc, OSError) else None
        if err is not None:
            raise err from exc
        raise


def _write(inst: SplitInstance, path: Path, since: int | None) -> tuple[str, str]:
    def write(fd: int) -> tuple[str, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return write_split(inst, path, fd)

    return write_atomic(path, write, since)


def _open(path: Path) -> SplitInstance:
    """Split read (pixel bytes left on disk), also of a dataset without preamble and meta (as pydicom's
    ``force=True`` reads it; a large one would otherwise be held whole); whole read for deflated files."""
    try:
        try:
            inst = read_split(path)
            if "TransferSyntaxUID" not in inst.ds.file_meta:  # PS3.10 7.1 makes it Type 1; writers omit it:
                # the syntax the data set was read in (fuzzing: an 'internal' AttributeError quarantine)
                inst.ds.file_meta.TransferSyntaxUID = UID(_transfer_syntax(inst.ds))
        except InvalidDicomError:
            if not _may_be_bare_dataset(path):
                raise InputError("not a DICOM file (no preamble, and it does not begin with a DICOM element)",
                                 "read") from None
            inst = read_split(path, bare=True)
            if "SOPClassUID" not in inst.ds and "SOPInstanceUID" not in inst.ds:
                raise InputError("not a DICOM file (no preamble and no SOP Class/Instance UID)", "read") from None
            inst.ds.file_meta.TransferSyntaxUID = UID(_transfer_syntax(inst.ds))
    except InputError:
        raise
    except InvalidDicomError:
        inst = None
    except (OSError, PermissionError) as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", "read") from exc
    except Exception as exc:
        raise InputError(f"unreadable DICOM: {type(exc).__name__}: {scrub(str(exc))}", "read") from exc
    if inst is not None and inst.ds.file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        if len(inst.ds) == 0:
            raise InputError("empty dataset", "read")
        _refuse_media_directory(inst.ds)
        if "SOPInstanceUID" not in inst.ds:
            raise InputError("no SOPInstanceUID: cannot name or reference the instance", "read")
        check_pixel_span(inst)
        return inst
    ds = read_instance(path)  # deflated (must inflate everything)
    implicit, little = ds.original_encoding
    ts = UID(_transfer_syntax(ds))
    ds.file_meta.TransferSyntaxUID = ts
    if implicit is None:
        implicit, little = UID(ts).is_implicit_VR, UID(ts).is_little_endian
    return SplitInstance(ds, path, None, bool(implicit), bool(little), whole=True)


def check_pixel_span(inst: SplitInstance, examined: bool = False) -> None:
    """Native Pixel Data shorter than Rows x Columns x frames x samples x bits is truncated; longer, it
    holds bytes in no image, refused unless padding (PS3.5 8.1.1; :mod:`veil.pixels.trailing`), and so is an
    encapsulated frame with bytes after its image (PS3.5 A.4, Annex G): they are written as read otherwise.

    `examined` (the pixel pass): Pixel Data holding more than that, beyond one padding byte, is refused
    too. Frames are decoded by the header's count, so bytes beyond it would never be examined, and an
    image the pass leaves unchanged is written with its Pixel Data as read - the extra bytes included.
    (Encapsulated: a frame more than declared fails the decode.)
    """
    ds, span = inst.ds, inst.pixels
    if span is not None and span.tag in FLOAT_PIXELS and span.value_length != 0xFFFFFFFF:
        need = float_pixel_bytes(lambda kw, d: peek(ds, kw, d), FLOAT_PIXELS[span.tag])  # PS3.5 8.2
        if span.value_length > need:
            with _span_file(inst) as fh:
                trailing.check_native(markers.file_reader(fh, span.value_start), span.value_length, need,
                                      _FLOAT_NAME[FLOAT_PIXELS[span.tag]], "8.2")
        return
    if span is None or span.tag != 0x7FE00010:
        return
    if span.value_length == 0xFFFFFFFF:
        check_frames_end(inst)
        return
    need = native_pixel_bits(lambda kw, d: peek(ds, kw, d))
    if span.value_length * 8 < need:
        raise InputError(f"truncated Pixel Data: {span.value_length} bytes, expected {(need + 7) // 8}", "parse")
    need = (need + 7) // 8
    if span.value_length > need:
        with _span_file(inst) as fh:
            trailing.check_native(markers.file_reader(fh, span.value_start), span.value_length, need)
    if examined and span.value_length > need + 1:
        raise InputError(f"Pixel Data holds {span.value_length - need:,} bytes more than the header's frames "
                         f"({need:,} bytes): they cannot be examined for burned-in text", "pixels-undecodable")


def _span_file(inst: SplitInstance) -> io.BufferedIOBase:
    """The input, to read Pixel Data from where the split read left it."""
    return io.BytesIO(inst.data) if inst.data is not None else open(inst.path, "rb")


def check_frames_end(inst: SplitInstance, ts: str | None = None) -> None:
    """Encapsulated frames with bytes after the end of their image other than padding: refused
    (:func:`veil.pixels.trailing.check_encapsulated`; each frame is read whole, in chunks). `ts`: the
    transfer syntax, when `inst.ds` has no file meta (the raw path's)."""
    span = inst.pixels
    if ts is None:
        ts = str(inst.ds.file_meta.get("TransferSyntaxUID", ""))
    if span is None or span.value_length != 0xFFFFFFFF or not trailing.checked(ts):
        return
    try:
        frames, rows, cols = (int(peek(inst.ds, kw, d) or d) for kw, d in (  # type: ignore[call-overload]
            ("NumberOfFrames", 1), ("Rows", 0), ("Columns", 0)))
    except (TypeError, ValueError):
        raise InputError("Pixel Data without valid Rows/Columns/Number of Frames", "parse") from None
    with _span_file(inst) as fh:
        trailing.check_encapsulated(markers.file_reader(fh, span.value_start), span.end - span.value_start, ts,
                                    frames, rows, cols)


def listed_rules(outcome: Outcome, plan: Plan) -> tuple[tuple[str, str, str, int], ...]:
    """The rules the manifest lists for one instance (kept-as-read is the default: not listed).

    Memoised per plan by the outcome's counts: files of one scanner and series fire the same rules, so
    they share one tuple - formatted and sorted once, one copy in memory and in each pickle of results.
    """
    cache = plan.encoded.setdefault(("listed-rules",), {})
    key = tuple(outcome.fired.items())
    hit = cache.get(key)
    if hit is None:
        if len(cache) >= 4096:  # every file different: keep memory bounded
            cache.clear()
        hit = cache[key] = tuple(f for f in outcome.rules() if f[1] != "K")
    return hit


def _record(px: PixelPass, out_root: Path, output: str | None, input_hash: str,
            error: InputError | None = None) -> None:
    """The pixel pass's review record; a full or read-only output stops the run (:func:`output_failure`)
    instead of being blamed on the input (an error after its output was written quarantined it)."""
    try:
        px.record(out_root, output, input_hash, error)
    except OSError as exc:
        err = output_failure(exc, out_root, creating=True)
        if err is not None:
            raise err from exc
        raise


def scrub_markers(inst: SplitInstance) -> int:
    """Remove the text-carrying segments of encapsulated JPEG / JPEG-LS / JPEG 2000 frames (COM, APP1 EXIF
    and the like: :mod:`veil.pixels.markers`); how many went. The instance then writes its new Pixel Data
    whole (the Basic and Extended Offset Tables follow the shorter frames)."""
    from veil.pixels import markers

    ts = str(inst.ds.file_meta.get("TransferSyntaxUID", ""))
    if markers.kind_of(ts) is None:
        return 0
    span = inst.pixels
    if span is not None:
        if span.tag != 0x7FE00010 or span.value_length != 0xFFFFFFFF:
            return 0
        with _span_file(inst) as fh:
            done = markers.scrub(markers.file_reader(fh, span.value_start), span.end - span.value_start, ts)
    else:
        if 0x7FE00010 not in inst.ds:
            return 0
        elem = inst.ds[0x7FE00010]
        if not elem.is_undefined_length or not isinstance(elem.value, bytes):
            return 0  # none, native, or re-encoded by the pixel pass (a spilled file): no segment of ours
        value = elem.value
        done = markers.scrub(markers.bytes_reader(value), len(value), ts)
    if done is None:
        return 0
    new, removed, offsets, lengths = done
    inst.ds["PixelData"] = DataElement(0x7FE00010, "OB", new)
    inst.ds["PixelData"].is_undefined_length = True
    if "ExtendedOffsetTable" in inst.ds:  # PS3.3 C.7.6.3.1.8: one 8-byte offset and length per frame
        inst.ds.ExtendedOffsetTable = b"".join(struct.pack("<Q", o) for o in offsets)
        inst.ds.ExtendedOffsetTableLengths = b"".join(struct.pack("<Q", n) for n in lengths)
    inst.whole, inst.pixels, inst.data = True, None, None
    return removed


def keyed_file_hash(path: Path, keyed: Keyed) -> str:
    return keyed.hexdigest("input-file", input_file_digest(path))[:32]


def process_file(path: Path, plan: Plan, keyed: Keyed, out_root: Path, *, dry_run: bool = False,
                 since: int | None = None) -> FileResult:
    """De-identify one file; every failure becomes a quarantined FileResult (never an exception).

    `since`: the run's start on the output file system's clock; an output older than that is an earlier
    run's, which this run replaces (see :func:`commit_atomic`)."""
    src = str(path)

    def quarantine(reason: str, rule: str) -> FileResult:
        try:
            h = keyed_file_hash(path, keyed)
        except OSError:
            h = ""
        return FileResult(src, "quarantined", reason=reason, rule=rule, input_hash=h)

    px: PixelPass | None = None
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return quarantine(f"cannot read file: {exc.strerror or exc}", "read")
    if not stat.S_ISREG(mode):  # a FIFO blocks its reader, /dev/zero never ends: neither is opened
        return FileResult(src, "quarantined", reason="not a regular file (FIFO, device, socket or folder)",
                          rule="read")
    try:
        if not dry_run and rawpath.eligible(plan):
            try:
                fast = rawpath.process(path, plan, keyed, out_root, since)
            except (InputError, OutputError):
                raise
            except Exception:  # a case the accelerator did not foresee (nothing was written): the general
                fast = None  # path, the reference, reads the file and quarantines it if it must
            if fast is not None:
                in_hash = keyed.hexdigest("input-file", fast.in_sha)[:32]
                return FileResult(src, "ok", fast.rel, input_hash=in_hash, output_sha256=fast.out_sha,
                                  fired=listed_rules(fast.outcome, plan),
                                  pseudonym=fast.outcome.patient_pseudonym,
                                  patient_hash=fast.outcome.patient_key_hash)
        inst = _open(path)
        from veil.pixels.hook import pixel_pass  # (numpy, Pillow: only loaded where the raw path is not taken)
        from veil.pixels.spill import Spill

        # Clean Pixel Data / Graphics; None keeps pixel bytes streamed untouched. A cine too big to hold
        # is decoded into an unlinked file beside the outputs (a dry run writes nothing there: the temp dir)
        px = pixel_pass(inst, plan, Spill(Path(tempfile.gettempdir()) if dry_run else out_root / STATE_DIR))
        if px is not None:
            px.raise_if_quarantined()
        ts = inst.ds.file_meta.TransferSyntaxUID
        segments = 0 if px is not None and px.reencoded else scrub_markers(inst)  # (Veil's encoder writes none)
        outcome: Outcome = deidentify(inst.ds, plan, keyed)
        inst.ds.file_meta.TransferSyntaxUID = ts
        if segments:
            outcome.fire(0x7FE00010, "C", f"pixels:jpeg-segments-removed:{segments}")
        if px is not None:
            px.finish(inst.ds, outcome.fire)
        rel = output_relpath(inst.ds, outcome.patient_pseudonym)
        fired = listed_rules(outcome, plan)
        if dry_run:
            return FileResult(src, "dry-run", str(rel), input_hash=keyed_file_hash(path, keyed), fired=fired,
                              pseudonym=outcome.patient_pseudonym, patient_hash=outcome.patient_key_hash)
        out_sha, in_sha = _write(inst, out_root / rel, since)
        if px is not None:
            _record(px, out_root, str(rel), keyed.hexdigest("input-file", in_sha)[:32])
        return FileResult(src, "ok", str(rel), input_hash=keyed.hexdigest("input-file", in_sha)[:32],
                          output_sha256=out_sha, fired=fired,
                          pseudonym=outcome.patient_pseudonym, patient_hash=outcome.patient_key_hash)
    except OutputError:
        raise  # the run stops: not a fact about this file
    except InputError as exc:
        if px is not None and not dry_run:
            _record(px, out_root, None, keyed_file_hash(path, keyed), exc)
        return quarantine(exc.reason, exc.rule)
    except PermissionError as exc:
        return quarantine(f"cannot read file: {exc.strerror or exc}", "read")
    except Exception as exc:  # anything unexpected: quarantine the file, keep the batch going
        return quarantine(*_describe(exc))


def _describe(exc: Exception) -> tuple[str, str]:
    """(reason, rule) of an exception no check foresaw: what pydicom's own errors say about the file, in
    the file's terms where they are recognisable; otherwise "internal" with the exception's type and text
    (values it quotes left out: :func:`veil.errors.scrub`)."""
    message = scrub(str(exc))
    text = f"{type(exc).__name__}: {message}"
    if isinstance(exc, ValueError) and "transfer syntax" in message.lower():
        return f"the Transfer Syntax UID is not one Veil can read ({text})", "read"
    if isinstance(exc, NotImplementedError) and "Value Representation" in message:
        return f"an element has no valid VR, or a delimiter stands where an element should ({text})", "parse"
    if type(exc).__name__ == "BytesLengthException" or isinstance(exc, struct.error):
        return f"a value's length does not fit its VR ({text})", "parse"
    if isinstance(exc, RecursionError):
        return "sequences nested too deeply to de-identify", "parse"
    return text, "internal"
