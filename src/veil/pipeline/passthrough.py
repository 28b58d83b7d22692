"""Pixel Data passthrough: de-identify the header, copy the pixel element's bytes untouched.

Header de-identification never needs pixel values, so Veil parses everything *before* Pixel Data with
pydicom, locates the pixel element in the input file (its header, and for encapsulated data the item
lengths up to the sequence delimiter, PS3.5 A.4), and at write time streams those bytes from input to
output in fixed-size chunks. Memory per worker stays flat whatever the file size, the transfer syntax and
pixel bytes are unchanged (no decode/re-encode), and the input and output hashes are computed in the
same pass. Elements after Pixel Data (trailing padding, signatures, late private groups) are parsed and
de-identified like any other.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO, DicomFileLike
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from veil.errors import InputError
from veil.pipeline.encode import encode_dataset, encode_file_meta
from veil.pipeline.fingerprint import Hasher, input_file_digest, input_hasher, output_hasher

CHUNK = 1 << 20
#: Inputs up to this size are read with one read() and parsed from memory: the input hash and the pixel
#: copy then come from the same bytes (one open, one read). Larger files stream in CHUNK pieces.
SMALL = 4 << 20
#: Values longer than this, in files over SMALL, are read from disk only if the policy keeps them.
DEFER = 64 << 10
PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)
#: Explicit VRs with a 4-byte value length after 2 reserved bytes (PS3.5 7.1.2); the others have 2 bytes.
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))


@dataclass(frozen=True)
class PixelSpan:
    """Where the pixel element lies in the input: [start, end) including its tag/VR/length header."""

    start: int
    end: int
    tag: int
    value_length: int  # 0xFFFFFFFF for encapsulated (undefined length)
    value_start: int
    vr: str | None  # as encoded in the input (None when the element was implicit VR)


def locate_pixels(fh: io.BufferedIOBase, pos: int, size: int, implicit: bool, little: bool) -> PixelSpan:
    """Parse the pixel element header at `pos` and find where the element ends, without reading its value."""
    fh.seek(pos)
    head = fh.read(12)
    end_fmt = "<" if little else ">"
    if len(head) < 8:
        raise InputError("truncated at Pixel Data element header", "parse")
    group, elem = struct.unpack(end_fmt + "HH", head[:4])
    tag = (group << 16) | elem
    vr = head[4:6]
    if not implicit and not (len(vr) == 2 and vr.isalpha() and vr.isupper()):
        implicit = True  # the element is implicit VR although the transfer syntax says explicit
    vr_text: str | None = None
    if implicit:
        (length,) = struct.unpack(end_fmt + "L", head[4:8])
        hdr = 8
    else:
        vr_text = vr.decode("ascii")
        if vr in _LONG_VRS:
            if len(head) < 12:
                raise InputError("truncated at Pixel Data element header", "parse")
            (length,) = struct.unpack(end_fmt + "L", head[8:12])
            hdr = 12
        else:
            (length,) = struct.unpack(end_fmt + "H", head[6:8])
            hdr = 8
    if tag not in PIXEL_TAGS:
        raise InputError(f"expected Pixel Data at offset {pos}, found tag {tag:08X}", "parse")
    if length != 0xFFFFFFFF:
        end = pos + hdr + length
        if end > size:
            raise InputError(f"truncated Pixel Data: {size - pos - hdr} bytes of {length}", "parse")
        return PixelSpan(pos, end, tag, length, pos + hdr, vr_text)
    cur = pos + hdr  # encapsulated: items (FFFE,E000) then the sequence delimiter (FFFE,E0DD)
    while True:
        fh.seek(cur)
        item = fh.read(8)
        if len(item) < 8:
            raise InputError("truncated encapsulated Pixel Data (no sequence delimiter)", "parse")
        g, e, ln = struct.unpack("<HHL", item)
        if (g, e) == (0xFFFE, 0xE0DD):
            return PixelSpan(pos, cur + 8, tag, length, pos + hdr, vr_text)
        if (g, e) != (0xFFFE, 0xE000) or ln == 0xFFFFFFFF:
            raise InputError(f"corrupt encapsulated Pixel Data at offset {cur}", "parse")
        cur += 8 + ln
        if cur > size:
            raise InputError("truncated encapsulated Pixel Data fragment", "parse")


_ZERO_HEADER = bytes(8)


class _Unsure(Exception):
    """The walk met something it does not follow: pydicom decides, as for any other file."""


class _Found(Exception):
    """Eight zero bytes where an element header should be: at `at`, at the top level or not."""

    def __init__(self, at: int, top: bool) -> None:
        self.at, self.top = at, top


def first_zero_header(fh: io.BufferedIOBase, pos: int, end: int, implicit: bool, little: bool,
                      top: bool = True) -> tuple[int, bool] | None:
    """Where eight zero bytes stand in place of an element header, walking the element headers from
    `pos` (values skipped; undefined-length sequences and their items entered) up to `end` or, at the top
    level, Pixel Data. Returns (offset, at top level) or None.

    Eight zero bytes are never an element (PS3.5 7.1): in explicit VR "\\0\\0" is no VR (PS3.5 6.2), and
    (0000,0000) Command Group Length is a UL of 4 bytes - command elements have no place in a stored
    dataset anyway (PS3.7 6.3). They mark a file pre-allocated and never filled, or a copy damaged by a
    crash. pydicom reads such a run as one empty element per 8 bytes: a 200 MB run kept a worker busy for
    minutes. This walk reads only element headers; anything it does not follow ends it (None).
    """
    tag_len = struct.Struct("<HHL" if little else ">HHL")
    u16 = struct.Struct("<H" if little else ">H")
    u32 = struct.Struct("<L" if little else ">L")

    def header(at: int) -> bytes:
        fh.seek(at)
        return fh.read(12)

    def elements(at: int, stop: int, level_top: bool, item: bool) -> int:
        while at + 8 <= stop:
            h = header(at)
            if h[:8] == _ZERO_HEADER:
                raise _Found(at, level_top)
            group, elem, length = tag_len.unpack_from(h)
            tag = group << 16 | elem
            if tag == 0xFFFEE00D and item:
                return at + 8
            if group == 0xFFFE or (level_top and tag in PIXEL_TAGS):
                raise _Unsure
            vr = h[4:6]
            if not implicit and vr.isalpha() and vr.isupper():  # else pydicom reads it as implicit VR
                if vr in _LONG_VRS:
                    if len(h) < 12:
                        raise _Unsure
                    length, vpos = u32.unpack_from(h, 8)[0], at + 12
                else:
                    length, vpos = u16.unpack_from(h, 6)[0], at + 8
            else:
                vpos = at + 8
            at = sequence(vpos, stop) if length == 0xFFFFFFFF else vpos + length
        if item or at != stop:
            raise _Unsure
        return at

    def sequence(at: int, stop: int) -> int:
        while at + 8 <= stop:
            h = header(at)[:8]
            if h == _ZERO_HEADER:
                raise _Found(at, False)
            group, elem, length = tag_len.unpack_from(h)
            if (group, elem) == (0xFFFE, 0xE0DD):
                return at + 8
            if (group, elem) != (0xFFFE, 0xE000):
                raise _Unsure
            at = elements(at + 8, stop, False, True) if length == 0xFFFFFFFF else at + 8 + length
        raise _Unsure

    try:
        elements(pos, end, top, False)
    except _Found as found:
        return found.at, found.top
    except (_Unsure, RecursionError, struct.error):
        return None
    return None


def all_zero(fh: io.BufferedIOBase, pos: int, end: int) -> bool:
    """Whether bytes [pos, end) are all zero, read CHUNK bytes at a time."""
    fh.seek(pos)
    while pos < end:
        chunk = fh.read(min(CHUNK, end - pos))
        if not chunk:
            break
        if chunk.count(0) != len(chunk):
            return False
        pos += len(chunk)
    return True


#: Most data elements (sequence items and pixel fragments included) a file may hold. pydicom spends about
#: 1 KB and 40 us per element as Veil reads it: a crafted 16 MB file of 2 million empty elements took
#: 2.1 GB and 85 s, and one of 80 MB would take the machine's memory. No real header comes near (an
#: enhanced MR of 6,000 frames holds ~400,000); a file read whole (<= SMALL) cannot hold more than this
#: (eight bytes per element at least), so only bigger files are counted, by reading element headers.
MAX_ELEMENTS = SMALL // 8


class _Enough(Exception):
    """The count is past its limit."""


def check_element_count(fh: io.BufferedIOBase, pos: int, end: int, implicit: bool, little: bool,
                        limit: int = MAX_ELEMENTS, where: str = "") -> None:
    """Raise InputError when the dataset from `pos` to `end` holds more than `limit` data elements."""
    n = count_elements(fh, pos, end, implicit, little, limit)
    if n is not None and n > limit:
        raise InputError(f"more than {limit:,} data elements{where}: a crafted or damaged file (reading it would "
                         "take gigabytes)", "parse")


def count_elements(fh: io.BufferedIOBase, pos: int, end: int, implicit: bool, little: bool,
                   limit: int = MAX_ELEMENTS) -> int | None:
    """Data elements, sequence items and pixel fragments from `pos` to `end` (counting stops past
    `limit`), or None when the walk met something it does not follow.

    Walks element headers only: values are skipped (Pixel Data too), sequences and their items entered
    whether their length is defined or not (PS3.5 7.5), as pydicom parses them - in explicit VR by the
    VR SQ (and UN of undefined length, PS3.5 6.2.2, or of a public SQ attribute), in implicit VR by the
    data dictionary. A UN sequence's items are implicit VR little endian (PS3.5 6.2.2).

    A private element in implicit VR (or explicit UN) is a sequence when its creator's entry in pydicom's
    private dictionary says SQ, as pydicom parses it: the creators' values (short LO) are read for that.
    Stops without a verdict at anything it does not follow; pydicom then reads the file and reports what
    is wrong.
    """
    from pydicom.datadict import dictionary_VR, private_dictionary_VR

    order = "<" if little else ">"
    tag_len = struct.Struct(order + "HHL")
    u16 = struct.Struct(order + "H")
    u32 = struct.Struct(order + "L")
    count = 0

    def header(at: int) -> bytes:
        fh.seek(at)
        return fh.read(12)

    def is_sq(tag: int) -> bool:
        try:
            return dictionary_VR(tag) == "SQ"
        except KeyError:
            return False

    def private_is_sq(tag: int, creators: dict[int, str]) -> bool:
        creator = creators.get((tag >> 16) << 8 | (tag >> 8) & 0xFF)  # (gggg,xxyy): block xx
        if creator is None:
            return False
        try:
            return private_dictionary_VR(tag, creator) == "SQ"
        except KeyError:
            return False

    def elements(at: int, stop: int, item: bool, imp: bool, top: bool = False) -> int:
        nonlocal count
        creators: dict[int, str] = {}  # group << 8 | block, of this dataset -> its private creator
        while at + 8 <= stop:
            h = header(at)
            if top and h[:8] == _ZERO_HEADER:  # padding (cut) or damage (quarantined): zero_padding_start's
                raise _Unsure  # (inside a sequence pydicom reads each 8 zero bytes as an element: counted)
            group, elem, length = tag_len.unpack_from(h)
            tag = group << 16 | elem
            if tag == 0xFFFEE00D and item:
                return at + 8
            if group == 0xFFFE:
                raise _Unsure
            count += 1
            if count > limit:
                raise _Enough
            vr = h[4:6]
            sq = inner = False
            private = bool(group & 1) and elem >= 0x1000
            if not imp and vr.isalpha() and vr.isupper():
                if vr in _LONG_VRS:
                    if len(h) < 12:
                        raise _Unsure
                    length, vpos = u32.unpack_from(h, 8)[0], at + 12
                    # UN: a sequence when undefined (PS3.5 6.2.2), or when the dictionary says SQ (pydicom)
                    sq = vr == b"SQ" or (vr == b"UN" and (length == 0xFFFFFFFF or (
                        is_sq(tag) if not group & 1 else private and private_is_sq(tag, creators))))
                    inner = vr == b"UN"  # its items are implicit VR (PS3.5 6.2.2)
                else:
                    length, vpos = u16.unpack_from(h, 6)[0], at + 8
            else:
                vpos = at + 8
                sq = length == 0xFFFFFFFF or (is_sq(tag) if not group & 1 else private and private_is_sq(tag, creators))
            if group & 1 and 0x10 <= elem <= 0xFF and 0 < length <= 128:  # a private creator: its value
                fh.seek(vpos)
                creators[group << 8 | elem] = fh.read(length).decode("latin-1").strip(" \x00")
            if length == 0xFFFFFFFF:  # a sequence, or encapsulated Pixel Data's fragments
                at = items(vpos, stop, None, tag not in PIXEL_TAGS, inner or imp)
            elif sq:
                if vpos + length > stop:
                    raise _Unsure
                at = items(vpos, vpos + length, vpos + length, True, inner or imp)
            else:
                at = vpos + length
        if item or at != stop:
            raise _Unsure
        return at

    def items(at: int, stop: int, defined_end: int | None, datasets: bool, imp: bool) -> int:
        """Items up to the sequence delimiter (undefined length) or `defined_end`; an item holds a dataset
        (entered) or, in encapsulated Pixel Data, a fragment of compressed bytes (skipped)."""
        nonlocal count
        while at + 8 <= stop:
            group, elem, length = tag_len.unpack_from(header(at)[:8])
            if (group, elem) == (0xFFFE, 0xE0DD) and defined_end is None:
                return at + 8
            if (group, elem) != (0xFFFE, 0xE000):
                raise _Unsure
            count += 1
            if length == 0xFFFFFFFF:
                if not datasets:
                    raise _Unsure
                at = elements(at + 8, stop, True, imp)
            elif at + 8 + length > stop:
                raise _Unsure
            else:
                if datasets:
                    elements(at + 8, at + 8 + length, False, imp)
                at += 8 + length
        if defined_end is not None and at == defined_end:
            return at
        raise _Unsure

    try:
        elements(pos, end, False, implicit, True)
    except _Enough:
        return count
    except (_Unsure, struct.error, RecursionError):
        return None
    return count


#: Most bytes a deflated dataset may inflate to. pydicom inflates it whole and holds it about three times
#: over (a 0.6 MB file of 600 MB of zeros took 1.9 GB); Veil cannot stream it. Real deflated objects (SR,
#: small images) are far smaller; a bigger one is quarantined with the way out (re-encode it).
MAX_INFLATED = 64 << 20


def check_deflated(fh: io.BufferedIOBase, pos: int) -> None:
    """Raise InputError when the deflated dataset at `pos` (PS3.5 A.5: raw deflate, RFC 1951) inflates
    to more than MAX_INFLATED bytes or holds more than MAX_ELEMENTS data elements - a deflate bomb.

    Inflates once, at most MAX_INFLATED + 1 bytes, before pydicom does; a stream zlib cannot inflate is
    left to pydicom, which reports it.
    """
    try:
        inflated = inflate_limited(fh, pos)
    except (zlib.error, EOFError):
        return
    check_element_count(io.BytesIO(inflated), 0, len(inflated), False, True, where=" in the deflated dataset")


def inflate_limited(fh: io.BufferedIOBase, pos: int) -> bytes:
    """The deflated dataset at `pos` (PS3.5 A.5: raw deflate, RFC 1951) inflated, at most MAX_INFLATED
    bytes read into memory: InputError beyond that (a deflate bomb), zlib.error for a stream that cannot
    be inflated, EOFError for one that ends before its last block (truncated)."""
    fh.seek(pos)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = bytearray()
    data = fh.read(CHUNK)
    while data and not inflater.eof:
        inflated += inflater.decompress(data, MAX_INFLATED + 1 - len(inflated))
        if len(inflated) > MAX_INFLATED:
            raise InputError(f"deflated dataset inflates to more than {MAX_INFLATED >> 20} MB (a deflate bomb, or "
                             "an object too big to read whole): re-encode it uncompressed (e.g. dcmconv "
                             "+te) and run again", "parse")
        data = inflater.unconsumed_tail or fh.read(CHUNK)
    if not inflater.eof:
        raise EOFError("the deflate stream ends early")
    return bytes(inflated)


def zero_padding_start(fh: io.BufferedIOBase, pos: int, end: int, implicit: bool, little: bool) -> int:
    """`end`, or where zero padding after the last element begins; InputError for zero-filled bytes
    anywhere else (see :func:`first_zero_header`). Padding is dropped: it holds nothing, and a writer that
    padded its files (to a block size, or a pre-allocated file that the writer did fill) lost nothing."""
    found = first_zero_header(fh, pos, end, implicit, little)
    if found is None:
        return end
    at, top = found
    if all_zero(fh, at, end):
        if top:
            return at
        raise InputError(f"truncated DICOM: zero-filled from offset {at} to the end, inside a sequence", "parse")
    raise InputError(f"damaged DICOM: zero-filled bytes where a data element should start (offset {at}), "
                     "with data after them", "parse")


def dataset_start(fh: io.BufferedIOBase) -> tuple[int, UID] | None:
    """Offset of the dataset after the File Meta Information and its Transfer Syntax UID (PS3.10 7.1),
    from the meta elements' own headers (explicit VR little endian, group 0002); None when not Part 10."""
    fh.seek(0)
    head = fh.read(132)
    if head[128:132] != b"DICM":
        return None
    at, ts = 132, ""
    while True:
        h = fh.read(8)
        if len(h) < 8 or h[:2] != b"\x02\x00":
            return at, UID(ts)
        vr = h[4:6]
        if not (vr.isalpha() and vr.isupper()):
            return None  # implicit VR meta (not conformant): pydicom's heuristics decide
        if vr in _LONG_VRS:
            more = fh.read(4)
            if len(more) < 4:
                return None
            length, vpos = struct.unpack("<L", more)[0], at + 12
        else:
            length, vpos = struct.unpack("<H", h[6:8])[0], at + 8
        if h[2:4] == b"\x10\x00" and length <= 64:
            ts = fh.read(length).decode("ascii", "replace").strip("\x00 ")
        at = vpos + length
        fh.seek(at)


def bare_encoding(fh: io.BufferedIOBase) -> tuple[bool, bool] | None:
    """(implicit VR, little endian) of a dataset without File Meta Information, guessed from its first
    element as pydicom's forced read guesses it: a group of 0000-0008 in one byte order, and an explicit VR
    when the two bytes after the tag are upper-case letters (PS3.5 7.1). None: no such first element."""
    fh.seek(0)
    head = fh.read(8)
    if len(head) < 8:
        return None
    for little in (True, False):
        group = int.from_bytes(head[0:2], "little" if little else "big")
        if group <= 0x0008 and not group & 1:
            vr = head[4:6]
            return not (vr.isalpha() and vr.isupper()), little
    return None


@dataclass
class SplitInstance:
    """A parsed instance whose pixel element stays in the input file until it is written."""

    ds: Dataset  # every element but the pixel element (trailing elements merged in)
    path: Path
    pixels: PixelSpan | None
    implicit: bool
    little: bool
    whole: bool = False  # read entirely by pydicom (deflated, no meta): written entirely by pydicom
    data: bytes | None = None  # the whole input, for small files (see SMALL)


def _pixel_header(span: PixelSpan, ds: Dataset | None, implicit: bool, little: bool) -> bytes:
    """The pixel element's tag/VR/length, encoded for the output transfer syntax (PS3.5 7.1).

    `ds` (for BitsAllocated) is only read when the input gave no VR (implicit VR in, explicit out)."""
    fmt = "<" if little else ">"
    tag = struct.pack(fmt + "HH", span.tag >> 16, span.tag & 0xFFFF)
    length = struct.pack(fmt + "L", span.value_length)
    if implicit:
        return tag + length
    vr = span.vr
    if vr is None:
        if span.tag == 0x7FE00008:
            vr = "OF"
        elif span.tag == 0x7FE00009:
            vr = "OD"
        elif span.value_length == 0xFFFFFFFF or int(ds.get("BitsAllocated", 16) if ds is not None else 16) <= 8:
            vr = "OB"
        else:
            vr = "OW"
    return tag + vr.encode("ascii") + b"\x00\x00" + length


def read_split(path: Path, *, bare: bool = False) -> SplitInstance:
    """Read all but the pixel element; raise InputError for anything that is not clean DICOM.

    `bare`: the file is a dataset without preamble and File Meta Information (pydicom guesses its
    encoding, as for ``force=True``); its pixel bytes stream like a Part-10 file's, so a large one needs
    no more memory than its header. Without `bare`, such a file raises pydicom's InvalidDicomError.
    """
    with open(path, "rb") as src:
        fh, size, data, defer = _prepared(src, bare)
        return _read_split(fh, path, size, data, defer, bare)


def read_head(path: Path, *, force: bool = False) -> Dataset:
    """The elements before Pixel Data, read as :func:`read_split` reads them (zero padding not parsed,
    zero-filled damage an InputError, long values left on disk): for readers that only look (inventory,
    verify's needles), so that no file costs them more time or memory than it costs deid. `force`: a
    dataset without preamble and meta is read too, as ``read_split(bare=True)`` reads it."""
    with open(path, "rb") as src:
        fh, _, _, defer = _prepared(src, force)
        return pydicom.dcmread(fh, stop_before_pixels=True, force=force, defer_size=DEFER if defer else None)


def _prepared(src: io.BufferedReader, bare: bool = False) -> tuple[io.BufferedIOBase, int, bytes | None, bool]:
    """(what to parse, its size, the whole input if it is small, whether values may stay on disk).

    Small inputs are read with one read(). In a Part-10 file whose positions are the file's (not
    deflated), zero padding is cut off before parsing and zero-filled damage raises InputError
    (see :func:`first_zero_header`); values may stay on disk only in a file parsed from disk whose
    positions are the file's (not deflated: a Part-10 file, or a `bare` dataset)."""
    size = os.fstat(src.fileno()).st_size
    data = src.read() if size <= SMALL else None
    if data is not None:
        size = len(data)
    fh: io.BufferedIOBase = io.BytesIO(data) if data is not None else src
    start = dataset_start(fh)
    plain = start is not None and start[1].is_transfer_syntax and not start[1].is_deflated
    if start is not None and start[1].is_transfer_syntax and start[1].is_deflated:
        check_deflated(fh, start[0])
    end = size
    if plain and start is not None and (data is None or data.find(_ZERO_HEADER, start[0]) >= 0):
        end = zero_padding_start(fh, start[0], size, start[1].is_implicit_VR, start[1].is_little_endian)
    if plain and start is not None and data is None:  # read from disk: its element count is not bounded
        check_element_count(fh, start[0], end, start[1].is_implicit_VR, start[1].is_little_endian)
    elif bare and start is None and data is None and (guess := bare_encoding(fh)) is not None:
        check_element_count(fh, 0, size, *guess)  # a wrong guess stops the walk without a verdict
    fh.seek(0)
    if end < size:  # the padding starts before any Pixel Data: the elements are the first `end` bytes
        fh = io.BytesIO(data[:end] if data is not None else src.read(end))
    return fh, end, data, (plain or (bare and start is None)) and fh is src


def _read_split(fh: io.BufferedIOBase, path: Path, size: int, data: bytes | None, defer: bool,
                bare: bool = False) -> SplitInstance:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # values over DEFER stay on disk until the policy keeps one (a vendor's raw data in a private OB
        # element can be hundreds of MB, and the basic profile removes it unread)
        ds = pydicom.dcmread(fh, stop_before_pixels=True, defer_size=DEFER if defer else None, force=bare)
        pos = fh.tell()
        implicit, little = ds.original_encoding
        if implicit is None:
            implicit = ds.file_meta.TransferSyntaxUID.is_implicit_VR
            little = ds.file_meta.TransferSyntaxUID.is_little_endian
        span = None
        if pos < size:
            span = locate_pixels(fh, pos, size, bool(implicit), bool(little))
            end = zero_padding_start(fh, span.end, size, bool(implicit), bool(little)) if span.end < size else size
            if span.end < end:
                fh.seek(span.end)
                tail = read_dataset(io.BytesIO(fh.read(end - span.end)), bool(implicit), bool(little))
                check_lengths(tail, end - span.end)
                for elem in tail:
                    ds.add(elem)
        ts = UID(ds.file_meta.get("TransferSyntaxUID", ""))  # none in a bare dataset
        deflated = ts.is_transfer_syntax and ts.is_deflated  # positions are the inflated stream's
        check_lengths(ds, size if span is None and not deflated else None, span.start if span else size)
    for w in caught:
        text = str(w.message)
        if any(k in text for k in ("End of file reached", "truncat", "delimiter")):
            raise InputError(f"corrupt or truncated DICOM: {text}", "parse")
    return SplitInstance(ds, path, span, bool(implicit), bool(little), data=data)


def check_lengths(ds: Dataset, end: int | None = None, limit: int | None = None) -> None:
    """Raise InputError when the data were cut short inside an element (PS3.5 7.1.1).

    pydicom reads a file cut inside its last element without a warning: it keeps the value bytes that
    are there, and stops quietly when fewer than an element header's bytes are left. An element the
    policy removes would then hide the cut, so: every value must hold its declared length, and (`end`
    given: nothing follows this dataset in the file) the last element must end exactly at `end`. A value
    left on disk (deferred) must end by `limit`, where this dataset's bytes end.
    """
    last = None
    for tag in ds.keys():  # noqa: SIM118 - raw elements, nothing decoded
        elem = last = ds.get_item(tag, keep_deferred=True)
        if limit is not None and isinstance(elem, RawDataElement) and elem.value is None \
                and elem.length not in (0, 0xFFFFFFFF) and elem.value_tell + elem.length > limit:
            raise InputError(f"truncated DICOM: ({tag >> 16:04X},{tag & 0xFFFF:04X}) holds "
                             f"{max(limit - elem.value_tell, 0)} of its {elem.length} bytes", "parse")
        if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes | bytearray) \
                and elem.length != 0xFFFFFFFF and len(elem.value) < elem.length:
            raise InputError(f"truncated DICOM: ({tag >> 16:04X},{tag & 0xFFFF:04X}) holds {len(elem.value)} of its "
                             f"{elem.length} bytes", "parse")
    if end is not None and isinstance(last, RawDataElement) and last.length != 0xFFFFFFFF \
            and last.value_tell + last.length != end:
        raise InputError(f"truncated or corrupt DICOM: {end - last.value_tell - last.length} bytes after the last "
                         "whole element", "parse")


def write_split(inst: SplitInstance, out_path: Path, fd_out: int) -> tuple[str, str]:
    """Write head (pydicom), pixel bytes (raw copy), tail (pydicom) to `fd_out`.

    Returns (sha256 of the output, sha256 of the input), both computed while streaming.
    """
    del out_path
    ds = inst.ds
    if inst.whole:
        return _write_whole(inst, fd_out)
    tail = Dataset()
    for tag in [t for t in ds.keys() if t >= 0x7FE00010]:  # noqa: SIM118 - no decoding
        if inst.pixels is None or tag not in PIXEL_TAGS:
            tail[tag] = ds.get_item(tag)
        del ds[tag]
    if not ds.file_meta.TransferSyntaxUID.is_implicit_VR and any(
        ds.get_item(t, keep_deferred=True).VR is None for t in ds.keys()  # noqa: SIM118
    ):
        _decode_all(ds)  # implicit-encoded elements under an explicit transfer syntax: give them VRs
    ds.set_original_encoding(inst.implicit, inst.little, ds.original_character_set)
    buf = _encode_head(ds)
    out = HashingWriter(fd_out)
    emit = out.write
    in_hash = input_hasher()
    emit(buf.getvalue())
    if inst.data is not None:
        in_hash.update(inst.data)
        if inst.pixels is not None:
            ts = ds.file_meta.TransferSyntaxUID
            emit(_pixel_header(inst.pixels, ds, ts.is_implicit_VR, ts.is_little_endian))
            emit(memoryview(inst.data)[inst.pixels.value_start:inst.pixels.end])
    else:
        ts = ds.file_meta.TransferSyntaxUID
        head = _pixel_header(inst.pixels, ds, ts.is_implicit_VR, ts.is_little_endian) if inst.pixels else b""
        stream_input(inst, head, in_hash, emit)
    if len(tail):
        raw = io.BytesIO()
        tbuf = DicomFileLike(raw)
        tbuf.is_little_endian = inst.little
        tbuf.is_implicit_VR = inst.implicit
        write_dataset(tbuf, tail)
        emit(raw.getvalue())
    out.flush()
    return out.hash.hexdigest(), in_hash.hexdigest()


def stream_input(
    inst: SplitInstance, pixel_header: bytes, in_hash: Hasher, emit: Callable[[bytes | memoryview], object]
) -> None:
    """Hash the whole input and copy its pixel element (`pixel_header`, then its value as read) to the
    output, CHUNK bytes at a time."""
    with open(inst.path, "rb") as src:
        stop = inst.pixels.start if inst.pixels else None
        remaining = stop if stop is not None else os.fstat(src.fileno()).st_size
        while remaining > 0:  # the input's header bytes, hashed only
            chunk = src.read(min(CHUNK, remaining))
            if not chunk:
                break
            in_hash.update(chunk)
            remaining -= len(chunk)
        if inst.pixels is not None:
            emit(pixel_header)
            in_hash.update(src.read(inst.pixels.value_start - inst.pixels.start))
            remaining = inst.pixels.end - inst.pixels.value_start
            while remaining > 0:
                chunk = src.read(min(CHUNK, remaining))
                if not chunk:
                    raise InputError("input changed while being read (pixel data shorter)", "parse")
                in_hash.update(chunk)
                emit(chunk)
                remaining -= len(chunk)
            for chunk in iter(lambda: src.read(CHUNK), b""):
                in_hash.update(chunk)


def _encode_head(ds: Dataset) -> DicomBytesIO:
    """Preamble, file meta and dataset, as dcmwrite(enforce_file_format=True) would write them, minus its
    deep copy of the file meta (a tenth of the per-file time on pixel-heavy corpora).

    The preamble is always 128 zero bytes: the input's preamble is free for applications (PS3.10 7.1),
    dual TIFF/DICOM files keep a TIFF header there, and nothing of the input may pass unchecked.
    """
    ts = ds.file_meta.TransferSyntaxUID
    buf = DicomBytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    encode_file_meta(buf, ds.file_meta)
    buf.is_implicit_VR = ts.is_implicit_VR
    buf.is_little_endian = ts.is_little_endian
    encode_dataset(buf, ds)
    return buf


def _decode_all(ds: Dataset) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _decode_all(item)


class HashingWriter:
    """An output written front to back and hashed as written (SHA-256, :func:`output_hasher`): small writes
    gathered to :data:`CHUNK`, large ones (Pixel Data) written and hashed from the caller's buffer. It is
    also a write-only file for pydicom's writer: writing whole into a BytesIO held the output twice more
    (the buffer as it grew, then its value) on top of the dataset's own Pixel Data."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.hash = output_hasher()
        self.pending = bytearray()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        if n >= CHUNK:
            self.flush()
            self._out(memoryview(data))
        else:
            self.pending += data
            if len(self.pending) >= CHUNK:
                self.flush()
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Only where it already is: pydicom's writer needs the method, never a move (a move would fail)."""
        if (whence, offset) not in ((os.SEEK_SET, self.size), (os.SEEK_CUR, 0), (os.SEEK_END, 0)):
            raise io.UnsupportedOperation("the output is written front to back")
        return self.size

    def flush(self) -> None:
        if self.pending:
            self._out(memoryview(self.pending))
            self.pending = bytearray()

    def _out(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


def _write_whole(inst: SplitInstance, fd_out: int) -> tuple[str, str]:
    inst.ds.preamble = b"\x00" * 128  # never the input's (see _encode_head)
    out = HashingWriter(fd_out)
    pydicom.dcmwrite(out, inst.ds, enforce_file_format=True)  # type: ignore[arg-type]
    out.flush()
    return out.hash.hexdigest(), input_file_digest(inst.path)
