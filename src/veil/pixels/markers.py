"""Text-carrying marker segments inside encapsulated JPEG, JPEG-LS and JPEG 2000 frames, removed losslessly.

A compressed frame is a codestream with its own metadata before the image data: JPEG COM segments (free
text: "Quixandor^Zebulon MRN98765431" written by an encoder or a photo tool) and APPn segments (APP1 holds
EXIF and XMP: dates, camera serial numbers, GPS positions, a thumbnail; others are vendors'), and the COM
marker of a JPEG 2000 main header. PS3.15 E.1.1 asks that identifying information be removed wherever it
is, and these segments are not attributes: the header engine never sees them, and Pixel Data was streamed
through byte for byte. They are dropped here without decoding a pixel (ITU-T T.81 B.2.4.5/B.2.4.6, T.87
C.2.4, T.800 A.9.2): what a decoder needs stays - JFIF (APP0), ICC_PROFILE (APP2), Adobe's colour transform
(APP14) and, for JPEG-LS, HP's colour transform (APP8) - and so does a comment that is only an encoder's
name and version ("Kakadu-2.2"), so that most files still stream through untouched.

The whole first fragment of each frame is read: segments between progressive scans and after the last
scan, bytes after EOI, and comments in JPEG 2000 tile-part headers go too (red team E). A segment that
runs past its fragment's end cannot be cut there: the file is refused. Segments in a frame's later
fragments are not looked for.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from veil.errors import InputError

#: JPEG (baseline, extended, lossless), JPEG-LS, JPEG 2000 and High-Throughput JPEG 2000 (PS3.5 A.4, A.4.x).
_KINDS = {
    "1.2.840.10008.1.2.4.50": "jpeg", "1.2.840.10008.1.2.4.51": "jpeg", "1.2.840.10008.1.2.4.57": "jpeg",
    "1.2.840.10008.1.2.4.70": "jpeg", "1.2.840.10008.1.2.4.80": "jpegls", "1.2.840.10008.1.2.4.81": "jpegls",
    "1.2.840.10008.1.2.4.90": "j2k", "1.2.840.10008.1.2.4.91": "j2k", "1.2.840.10008.1.2.4.92": "j2k",
    "1.2.840.10008.1.2.4.93": "j2k", "1.2.840.10008.1.2.4.201": "j2k", "1.2.840.10008.1.2.4.202": "j2k",
    "1.2.840.10008.1.2.4.203": "j2k",
}
#: APPn segments a decoder needs, kept: JFIF, ICC profile, Adobe; and HP's colour transform in JPEG-LS.
_KEEP_APP = {"jpeg": frozenset({0xE0, 0xE2, 0xEE}), "jpegls": frozenset({0xE0, 0xE2, 0xE8, 0xEE})}
#: Largest encapsulated Pixel Data rewritten in memory when a segment must go (bigger: quarantined).
MAX_REWRITE = 512 << 20
#: Comments encoders write about themselves, kept: names and version numbers, no room for anything else
#: ("Kakadu-2.2" in most JPEG 2000 files, OpenJPEG's (also through GDCM), JasPer's, LEADTOOLS', Intel's and
#: libgd's: red team C found GDCM's and JasPer's flagged by verify in pydicom's own files).
_ENCODER_COMMENT = re.compile(
    rb"(?:Kakadu-v?\d+(?:\.\d+)*[a-z]?|Created by (?:GDCM/)?OpenJPEG version \d+(?:\.\d+)*(?:-[a-z0-9]+)?"
    rb"|Creator: JasPer Version \d+(?:\.\d+)*"
    rb"|LEAD Technologies Inc\. V\d+\.\d+|Intel\(R\) JPEG Library, version \[\d+(?:\.\d+)*\]"
    rb"|CREATOR: gd-jpeg v\d\.\d \(using IJG JPEG v\d+\), (?:quality = \d+|default quality))[\x00\n ]*")

#: Reads `n` bytes at an offset of the encapsulated value.
Reader = Callable[[int, int], bytes]


def kind_of(transfer_syntax: str) -> str | None:
    return _KINDS.get(str(transfer_syntax))


def header_strips(read: Reader, start: int, length: int, kind: str) -> list[tuple[int, int]]:
    """(offset, size) of the segments to remove in the frame whose first fragment's value is at
    [start, start + length); [] when the fragment does not begin a frame.

    The whole first fragment is read (red team E): segments between progressive scans or after the last
    scan, bytes after EOI, comments in JPEG 2000 tile-part headers, a frame padded before its SOI. A segment
    that runs past the fragment's end cannot be cut here: the file is refused (InputError), not released."""
    data = read(start, length)
    if kind == "j2k":
        out = _j2k_strips(data)
    else:
        lead = len(data) - len(data.lstrip(b"\x00"))  # padding before SOI (red team E)
        if lead > 16 or data[lead:lead + 2] != b"\xff\xd8":
            return []
        out = ([(0, lead)] if lead else []) + _jpeg_strips(data, lead, kind)
    if any(off + size > len(data) for off, size in out):
        raise InputError("a JPEG segment that can hold text runs past its fragment's end (it cannot be cut out "
                         "here)", "pixels:jpeg-segments")
    return [(start + off, size) for off, size in out if size]


def _app_needed(m: int, body: bytes, kind: str) -> bool:
    """An APPn segment a decoder needs, judged by its identifier, not its number alone (red team E: a JFXX
    thumbnail, APP2 or APP14 text went out): JFIF without a thumbnail, an ICC profile, Adobe's colour
    transform, and in JPEG-LS HP's colour transform."""
    if m == 0xE0:  # 14 bytes without a thumbnail; a short or padded one has no room for one either
        return body.startswith(b"JFIF\x00") and len(body) <= 16
    if m == 0xE2:
        return body.startswith(b"ICC_PROFILE\x00")
    if m == 0xEE:  # 12 bytes (some writers: 10, as pydicom's SC_rgb_jpeg.dcm)
        return body.startswith(b"Adobe") and len(body) <= 12
    return m == 0xE8 and kind == "jpegls" and body.startswith(b"mrfx") and len(body) <= 8


def _jpeg_strips(data: bytes, pos: int, kind: str) -> list[tuple[int, int]]:
    """Segments to remove in one JPEG or JPEG-LS codestream starting with SOI at `pos` (offsets in `data`):
    COM (unless an encoder's name) and APPn (unless needed) anywhere, also after a scan, and whatever follows
    EOI but one pad byte. Entropy-coded data is skipped: in JPEG a marker is 0xFF then a byte other than
    0x00, a restart or a fill byte (T.81 B.1.1.5); in JPEG-LS 0xFF then a byte with its high bit set (T.87
    A.1)."""
    out: list[tuple[int, int]] = []
    n = len(data)
    pos += 2
    while pos + 2 <= n:
        if data[pos] != 0xFF:
            break
        m = data[pos + 1]
        if m == 0xFF:  # fill byte
            pos += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD7:  # no length
            pos += 2
            continue
        if m == 0xD9:  # EOI: bytes after it other than zero padding go (scrub pads the value again)
            tail = data[pos + 2:]
            if tail.strip(b"\x00"):
                out.append((pos + 2, len(tail)))
            return out
        if pos + 4 > n:
            out.append((pos, 4))  # a segment cut by the fragment's end: refused by the caller
            return out
        size = int.from_bytes(data[pos + 2:pos + 4], "big")
        if size < 2:
            break
        body = data[pos + 4:pos + 2 + size]
        if (m == 0xFE and not _ENCODER_COMMENT.fullmatch(body)) or (
                0xE0 <= m <= 0xEF and not _app_needed(m, body, kind)):
            out.append((pos, 2 + size))
        pos += 2 + size
        if m == 0xDA:  # SOS: skip the entropy-coded data to the next marker
            pos = _next_marker(data, pos, kind)
    return out


def _next_marker(data: bytes, pos: int, kind: str) -> int:
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            return n
        b = data[pos + 1]
        if kind == "jpegls":
            if b & 0x80:
                return pos
        elif b != 0x00 and b != 0xFF and not 0xD0 <= b <= 0xD7:
            return pos
        pos += 1 if b == 0xFF else 2


def _j2k_strips(data: bytes) -> list[tuple[int, int]]:
    """COM segments of a JPEG 2000 codestream's main header and of every tile-part header in `data` (T.800
    A.4.2: a tile-part is SOT, its header, SOD and its Psot bytes; Psot 0: the last, to EOC)."""
    if data[:2] != b"\xff\x4f":  # SOC
        return []
    out: list[tuple[int, int]] = []
    n = len(data)
    pos = 2
    in_tile = -1  # start of the current tile-part, or -1 in the main header
    while pos + 4 <= n:
        marker, size = struct.unpack(">HH", data[pos:pos + 4])
        if marker == 0xFFD9:  # EOC
            break
        if marker == 0xFF93:  # SOD: this tile-part's data follows, to SOT + Psot
            if in_tile < 0:
                break
            psot = struct.unpack(">L", data[in_tile + 6:in_tile + 10])[0]
            if psot == 0:
                break
            pos = in_tile + psot
            in_tile = -1
            continue
        if marker >> 8 != 0xFF or size < 2:
            break
        if marker == 0xFF90:  # SOT
            in_tile = pos
        elif marker == 0xFF64 and not _ENCODER_COMMENT.fullmatch(data[pos + 6:pos + 2 + size]):  # COM (A.9.2)
            if in_tile >= 0 and struct.unpack(">L", data[in_tile + 6:in_tile + 10])[0]:
                # cut out, the tile-part's length (Psot) would be wrong and the frame would not decode
                raise InputError("a comment in a JPEG 2000 tile-part header (it can hold text, and the tile-part "
                                 "cannot be shortened here)", "pixels:jpeg-segments")
            out.append((pos, 2 + size))
        pos += 2 + size
    return out


def image_data_start(read: Reader, length: int, kind: str) -> int:
    """Where the image data of the frame `read` ([0, length)) begins: after the first SOS segment (JPEG,
    JPEG-LS; T.81 B.2.3, T.87 C.2.3) or the first SOD marker (JPEG 2000; T.800 A.4.2), skipping the
    length-delimited marker segments before it, whose bodies may hold any bytes (an EXIF thumbnail in APP1
    holds FFD8..FFD9, a COM holds FFD9). From there an end-of-image marker cannot occur inside the image:
    JPEG scan data has FF only before 00, a fill byte or RSTn (T.81 B.1.1.5), JPEG-LS before a byte < 0x80
    (T.87 A.1), and JPEG 2000 packet data no marker code >= FF90 (T.800 A.1.3), so the first FFD9 from here
    ends the image (PS3.5 A.4.1 to A.4.4). A JPEG 2000 tile-part whose length (Psot) is known is skipped
    whole, to the next SOT or to EOC.

    A frame that does not begin (after up to 16 zeros) with SOI / SOC, or whose headers are not well
    formed, answers where the walk stopped (0 at worst): searching from earlier only finds an earlier end."""
    head = read(0, 18)
    lead = len(head) - len(head.lstrip(b"\x00"))
    if lead > 16 or head[lead:lead + 2] != (b"\xff\x4f" if kind == "j2k" else b"\xff\xd8"):
        return 0
    pos, tile, psot = lead + 2, -1, 0
    while pos + 4 <= length:
        b = read(pos, 4)
        if b[0] != 0xFF:
            return pos
        m, size = b[1], int.from_bytes(b[2:4], "big")
        if m == 0xD9:  # EOI / EOC before any image data
            return pos
        if kind == "j2k":
            if m == 0x93:  # SOD: skip the tile-part by Psot if it is known and lies ahead
                if tile >= 0 and psot and pos + 2 < tile + psot <= length:
                    pos, tile = tile + psot, -1
                    continue
                return pos + 2
            if m == 0x90 and size >= 10:  # SOT: Lsot, Isot, Psot (T.800 A.4.2)
                tile, psot = pos, struct.unpack(">L", read(pos + 6, 4))[0]
        else:
            if m == 0xFF:  # fill byte
                pos += 1
                continue
            if m == 0x01 or 0xD0 <= m <= 0xD7:  # no length
                pos += 2
                continue
        if size < 2:
            return pos
        pos += 2 + size
        if kind != "j2k" and m == 0xDA:  # SOS: its scan data follows
            return min(pos, length)
    return min(pos, length)


@dataclass
class _Fragment:
    at: int  # offset of its value in the encapsulated value
    length: int
    starts_frame: bool
    strips: list[tuple[int, int]]


def items(read: Reader, total: int) -> Iterator[tuple[int, int]]:
    """(value offset, length) of each item of an encapsulated value, the Basic Offset Table first (PS3.5
    A.4); an item that is not one, or runs past the value, is refused."""
    pos = 0
    while pos + 8 <= total:
        g, e, ln = struct.unpack("<HHL", read(pos, 8))
        if (g, e) == (0xFFFE, 0xE0DD):
            return
        if (g, e) != (0xFFFE, 0xE000) or ln == 0xFFFFFFFF or pos + 8 + ln > total:
            raise InputError("corrupt encapsulated Pixel Data (item)", "parse")
        yield pos + 8, ln
        pos += 8 + ln


def _fragments(read: Reader, total: int, kind: str) -> tuple[int, list[_Fragment]]:
    """(Basic Offset Table length, fragments) of an encapsulated value (PS3.5 A.4)."""
    bot, frags = -1, []
    for at, ln in items(read, total):
        if bot < 0:
            bot = ln
            continue
        strips = header_strips(read, at, ln, kind)
        starts = read(at, 18).lstrip(b"\x00")[:2] in (b"\xff\xd8", b"\xff\x4f")  # (padded before SOI)
        frags.append(_Fragment(at, ln, starts, strips))
    return max(bot, 0), frags


def bytes_reader(value: bytes) -> Reader:
    """A :data:`Reader` of a value held in memory."""
    return lambda at, n: value[at:at + n]


def file_reader(fh: io.BufferedIOBase, value_start: int) -> Reader:
    def read(at: int, n: int) -> bytes:
        fh.seek(value_start + at)
        return fh.read(n)
    return read


def needs_scrub(read: Reader, total: int, transfer_syntax: str) -> bool:
    """Whether any frame of this encapsulated value carries a segment :func:`scrub` removes."""
    kind = kind_of(transfer_syntax)
    return kind is not None and any(f.strips for f in _fragments(read, total, kind)[1])


def scrub(read: Reader, total: int, transfer_syntax: str) -> tuple[bytes, int, list[int], list[int]] | None:
    """The encapsulated value without the text-carrying segments, how many went, and each frame's offset
    and length (for a Basic or Extended Offset Table); None when there is nothing to remove.

    The Basic Offset Table, when the input has one, is rewritten for the shorter fragments."""
    kind = kind_of(transfer_syntax)
    if kind is None:
        return None
    bot, frags = _fragments(read, total, kind)
    removed = sum(len(f.strips) for f in frags)
    if not removed:
        return None
    if total > MAX_REWRITE:
        raise InputError(f"JPEG comment or application segments in {total / 2**20:,.0f} MB of Pixel Data: too big to "
                         "rewrite here (they can hold identifying text)", "pixels:jpeg-segments")
    values: list[bytes] = []
    for f in frags:
        data = read(f.at, f.length)
        for off, size in reversed(f.strips):
            rel = off - f.at
            data = data[:rel] + data[rel + size:]
        if len(data) % 2:  # item values have even length (PS3.5 A.4): a JPEG ends in EOI, padded after it
            data += b"\x00"
        values.append(data)
    offsets: list[int] = []
    lengths: list[int] = []
    at = 0
    for f, data in zip(frags, values, strict=True):
        if f.starts_frame or not offsets:
            offsets.append(at)
            lengths.append(0)
        lengths[-1] += len(data)
        at += 8 + len(data)
    table = b"".join(struct.pack("<L", o) for o in offsets) if bot and all(o < 1 << 32 for o in offsets) else b""
    out = [struct.pack("<HHL", 0xFFFE, 0xE000, len(table)), table]
    for data in values:
        out += [struct.pack("<HHL", 0xFFFE, 0xE000, len(data)), data]
    return b"".join(out), removed, offsets, lengths
