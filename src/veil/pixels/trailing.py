"""Bytes in Pixel Data that belong to no image: refused, unless they are only padding.

A decoder stops at the end of the image, so whatever follows it in Pixel Data is never seen by the pixel
pass, and an image left unchanged is written with its Pixel Data as read: text planted there (a name, an
MRN) went out byte for byte (red team). PS3.15 E.1.1 asks that identifying information be removed wherever
it is, and Veil cannot tell text from anything else there, so the instance is quarantined (rule
``pixels-trailing-bytes``; the reason says how many bytes and where, never what they are). Padding passes:

- native Pixel Data (PS3.5 8.1.1): one byte that makes an odd length even, or extra bytes all 0x00;
- an encapsulated frame (PS3.5 A.4): bytes after its end-of-image marker (JPEG / JPEG-LS EOI, JPEG 2000
  EOC: both FFD9) all 0x00 or 0xFF, as encoders pad fragments to an even length;
- RLE (PS3.5 Annex G): 0x00 after each segment's PackBits data, which decodes to exactly Rows x Columns bytes;
  the header's unused offsets and any bytes before the first segment are 0.

Each encapsulated JPEG / JPEG-LS / JPEG 2000 frame is read whole, in chunks: its image ends at the first
FFD9 after its header segments (:func:`veil.pixels.markers.image_data_start`), not at the last one (red
team: FFD9 <text> FFD9 passed); a frame with none is refused, as where its image ends is unknown. The
Basic Offset Table holds one offset a frame or nothing (PS3.5 A.4). A JPEG frame of one fragment is left
to :mod:`veil.pixels.markers`, which parses it from SOI and removes what follows EOI.
"""

from __future__ import annotations

import bisect
import itertools
import struct

from veil.errors import InputError
from veil.pixels import markers

try:  # pylibjpeg-rle's compiled PackBits decoder: a segment checked in C, not run by run in Python
    from rle.utils import decode_segment as _decode_segment
except ImportError:  # pragma: no cover - a declared dependency
    _decode_segment = None

#: The rule of a quarantine for bytes in Pixel Data beyond the image.
RULE = "pixels-trailing-bytes"
#: Reads `n` bytes at an offset of the Pixel Data value.
Reader = markers.Reader
_CHUNK = 1 << 16
_SCAN = 1 << 20  # bytes read at a time when a frame is searched
_EOI = b"\xff\xd9"
RLE = "1.2.840.10008.1.2.5"


def checked(transfer_syntax: str) -> bool:
    """Whether :func:`check_encapsulated` knows where this transfer syntax's frames end."""
    return markers.kind_of(transfer_syntax) is not None or str(transfer_syntax) == RLE


def check_native(read: Reader, length: int, need: int, what: str = "Pixel Data", section: str = "8.1.1") -> None:
    """Native Pixel Data of `length` bytes whose image takes `need` (PS3.5 8.1.1; Float and Double Float
    Pixel Data: PS3.5 8.2, `what` and `section` name them): raise unless the rest is the one pad byte of an
    odd length, or zeros."""
    extra = length - need
    if extra <= 0 or (extra == 1 and need % 2):
        return
    at = need
    while at < length:
        n = min(_CHUNK, length - at)
        if read(at, n).strip(b"\x00"):
            raise InputError(f"{what} holds {extra:,} bytes after its {need:,}-byte image (PS3.5 {section}), not "
                             "padding: they are in no image and could hold text", RULE)
        at += n


def _items(read: Reader, total: int) -> tuple[int, list[int], list[tuple[int, int]]]:
    """(Basic Offset Table length, its offsets, fragments as (value offset, length)) of an encapsulated
    value (PS3.5 A.4)."""
    found = markers.items(read, total)
    first = next(found, None)
    size = first[1] if first is not None else 0
    raw = read(first[0], size) if first is not None and size % 4 == 0 else b""
    table = list(struct.unpack(f"<{size // 4}L", raw)) if raw else []
    return size, table, list(found)


def _check_table(size: int, table: list[int], frags: list[tuple[int, int]], frames: int) -> None:
    """Raise unless the Basic Offset Table is empty or holds one offset a frame, each that of a fragment's
    item tag from the first fragment's, the first 0, increasing (PS3.5 A.4): anything else in it is bytes
    in no image (red team: text planted in the table of a one-frame JPEG went out)."""
    if not size:
        return
    base = frags[0][0] - 8 if frags else 0
    items = {at - 8 - base for at, _ in frags}
    if (size != 4 * max(frames, 1) or len(table) != size // 4 or table[0] != 0
            or any(b <= a for a, b in itertools.pairwise(table)) or not items.issuperset(table)):
        raise InputError(f"the Basic Offset Table of Pixel Data holds {size:,} bytes that are not the offsets of its "
                         f"{max(frames, 1):,} frames' first fragments (PS3.5 A.4): they are in no image and could "
                         "hold text", RULE)


def _frames(read: Reader, table: list[int], frags: list[tuple[int, int]], frames: int
            ) -> list[list[tuple[int, int]]]:
    """Fragments grouped by frame: one frame holds them all; else the Basic Offset Table, one fragment a
    frame, or a fragment starting with SOI / SOC starts a frame (PS3.5 A.4)."""
    if frames <= 1 or not frags:
        return [frags]
    if len(frags) == frames:
        return [[f] for f in frags]
    base = frags[0][0] - 8
    if len(table) == frames and table[0] == 0:
        starts = {base + off + 8 for off in table}
    else:
        starts = {at for at, ln in frags if read(at, 18).lstrip(b"\x00")[:2] in (b"\xff\xd8", b"\xff\x4f")}
    out: list[list[tuple[int, int]]] = []
    for f in frags:
        if f[0] in starts or not out:
            out.append([])
        out[-1].append(f)
    return out


def _joined(read: Reader, frame: list[tuple[int, int]]) -> tuple[Reader, int]:
    """A reader of `frame`'s fragments as one byte string (PS3.5 A.4: a frame may span fragments), and its
    length."""
    bases, total = [], 0
    for _, ln in frame:
        bases.append(total)
        total += ln

    def fread(at: int, n: int) -> bytes:
        parts, i = [], bisect.bisect_right(bases, at) - 1
        while n > 0 and 0 <= i < len(frame):
            k = min(n, frame[i][1] - (at - bases[i]))
            if k > 0:
                parts.append(read(frame[i][0] + at - bases[i], k))
                at, n = at + k, n - k
            i += 1
        return b"".join(parts)
    return fread, total


def _find(read: Reader, start: int, end: int, needle: bytes) -> int:
    """First offset of the 2-byte `needle` in [start, end), or -1; read in chunks overlapping by a byte."""
    at = start
    while at + 1 < end:
        n = min(_SCAN, end - at)
        i = read(at, n).find(needle)
        if i >= 0:
            return at + i
        at += n - 1
    return -1


def _marked_end(read: Reader, frame: list[tuple[int, int]], index: int, kind: str) -> None:
    """Raise unless the image of `frame` ends at an FFD9 followed only by 0x00 / 0xFF padding: the first
    FFD9 after the headers (:func:`markers.image_data_start`) ends it, wherever a later one is (red team:
    FFD9 <text> FFD9 passed when only the last one was looked for). The whole frame is read, in chunks."""
    fread, length = _joined(read, frame)
    eoi = _find(fread, markers.image_data_start(fread, length, kind), length, _EOI)
    if eoi < 0:  # fail closed: where the image ends is unknown
        raise InputError(f"frame {index} of Pixel Data has no end-of-image marker (FFD9, PS3.5 A.4) after its image "
                         "data: where its image ends is unknown, so bytes after it cannot be ruled out", RULE)
    at = eoi + 2
    while at < length:
        n = min(_SCAN, length - at)
        if fread(at, n).strip(b"\x00\xff"):
            raise InputError(f"frame {index} of Pixel Data holds {length - eoi - 2:,} bytes after its end-of-image "
                             "marker (FFD9, PS3.5 A.4) that are not padding: they are in no image and could hold "
                             "text", RULE)
        at += n


def _rle_tail(read: Reader, at: int, ln: int, pixels: int, index: int) -> None:
    """Raise unless the RLE fragment at `at` holds nothing but its segments and zeros (PS3.5 G.5: the
    header's unused offsets are 0; G.3.1: each segment decodes to exactly Rows x Columns bytes): bytes
    between the header and the first segment, after a segment's data, or in a literal run past the image
    are in no image (red team) and must be 0."""
    data = read(at, ln)
    if len(data) < 64:
        raise InputError(f"frame {index}: RLE header shorter than 64 bytes (PS3.5 G.5)", "pixels-undecodable")
    head = struct.unpack("<16L", data[:64])
    count = head[0]
    if not 1 <= count <= 15:
        raise InputError(f"frame {index}: RLE header with {count} segments (PS3.5 G.5: 1 to 15)", "pixels-undecodable")
    offsets = [*head[1:count + 1], ln]
    if any(head[count + 1:]) or (64 <= offsets[0] <= ln and data[64:offsets[0]].strip(b"\x00")):
        raise InputError(f"frame {index} of RLE Pixel Data holds bytes in its header's unused offsets or before its "
                         "first segment (PS3.5 G.5) that are not 0: they are in no image and could hold text", RULE)
    for s in range(count):
        pos, stop = offsets[s], offsets[s + 1]
        if not 64 <= pos <= stop <= ln:
            raise InputError(f"frame {index}: RLE segment offsets out of order (PS3.5 G.5)", "pixels-undecodable")
        if not _rle_exact(data[pos:stop], pixels):
            _rle_walk(data, pos, stop, pixels, index, s + 1)


def _rle_exact(segment: bytes, pixels: int) -> bool:
    """Whether `segment` decodes, in pylibjpeg-rle's compiled decoder, to exactly `pixels` bytes: then every
    byte is in the image but possibly a last lone one the decoder ignores (one byte, as the pad byte native
    Pixel Data may have, PS3.5 8.1.1). A 512 x 512 segment: 1.5 ms here, 21 ms in :func:`_rle_walk`
    (measured). False: walk the runs in Python (exact, slow)."""
    if _decode_segment is None or len(segment) < 2:  # (an empty segment panics the decoder)
        return False
    try:
        return len(_decode_segment(segment)) == pixels
    except ValueError:  # a run cut short: the walk says where
        return False


def _rle_walk(data: bytes, pos: int, stop: int, pixels: int, index: int, seg: int) -> None:
    """Walk segment `seg`'s PackBits runs to its `pixels` bytes (PS3.5 G.3.1: a header n < 128 copies n + 1
    bytes, n > 128 repeats one byte 257 - n times, 128 does nothing); raise unless what a literal run holds
    past the image and every byte after the last run are 0."""
    done = 0
    while done < pixels and pos < stop:
        n = data[pos]
        if n < 128:
            over = done + n + 1 - pixels  # a literal run past the image: those bytes are in no image
            if over > 0 and data[pos + 2 + n - over:min(pos + 2 + n, stop)].strip(b"\x00"):
                raise InputError(f"frame {index} of RLE Pixel Data: a literal run in segment {seg} holds {over:,} "
                                 "bytes past the image (PS3.5 G.3.1) other than 0: they are in no image and could "
                                 "hold text", RULE)
            pos += n + 2
            done += n + 1
        elif n > 128:
            pos += 2
            done += 257 - n
        else:
            pos += 1
    if data[min(pos, stop):stop].strip(b"\x00"):
        raise InputError(f"frame {index} of RLE Pixel Data holds {stop - pos:,} bytes after segment {seg}'s "
                         "image data (PS3.5 G.3.1) other than padding: they are in no image and could hold "
                         "text", RULE)


def check_encapsulated(read: Reader, total: int, transfer_syntax: str, frames: int, rows: int, cols: int) -> None:
    """Raise (:data:`RULE`) when an encapsulated frame holds bytes after its image other than padding."""
    ts = str(transfer_syntax)
    kind = markers.kind_of(ts)  # JPEG, JPEG-LS, JPEG 2000 and HTJ2K frames end in FFD9 (PS3.5 A.4.x)
    if kind is None and ts != RLE:
        return
    size, table, frags = _items(read, total)
    _check_table(size, table, frags, frames)
    grouped = _frames(read, table, frags, frames)
    if len(grouped) > max(frames, 1):  # decoders read the declared frames: the rest is in no image
        raise InputError(f"Pixel Data holds {len(grouped):,} frames, the header declares {max(frames, 1):,} (PS3.5 "
                         "A.4): the others are in no image and could hold text", RULE)
    for i, frame in enumerate(grouped, 1):
        if not frame:
            continue
        if ts == RLE:
            for at, ln in frame:
                _rle_tail(read, at, ln, rows * cols, i)
        elif kind is not None and (kind == "j2k" or len(frame) > 1):  # one JPEG fragment: markers cuts after EOI
            _marked_end(read, frame, i, kind)
