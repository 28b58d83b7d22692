"""Bytes in Pixel Data that belong to no image: refused, unless they are only padding.

A decoder stops at the end of the image, so whatever follows it in Pixel Data is never seen by the pixel
pass, and an image left unchanged is written with its Pixel Data as read: text planted there (a name, an
MRN) went out byte for byte (red team). PS3.15 E.1.1 asks that identifying information be removed wherever
it is, and Veil cannot tell text from anything else there, so the instance is quarantined (rule
``pixels-trailing-bytes``; the reason says how many bytes and where, never what they are). Padding passes:

- native Pixel Data (PS3.5 8.1.1): one byte that makes an odd length even, or extra bytes all 0x00;
- an encapsulated frame (PS3.5 A.4): bytes after its end-of-image marker (JPEG / JPEG-LS EOI, JPEG 2000
  EOC: both FFD9) all 0x00 or 0xFF, as encoders pad fragments to an even length;
- RLE (PS3.5 Annex G): 0x00 after each segment's PackBits data, which decodes to exactly Rows x Columns bytes.

Only the tail of each encapsulated frame is read: a frame whose last bytes, padding aside, are not FFD9
holds bytes after its image (or lacks its end, and cannot be shown complete). A JPEG frame of one fragment
is left to :mod:`veil.pixels.markers`, which parses it from SOI and removes what follows EOI.
"""

from __future__ import annotations

import struct

from veil.errors import InputError
from veil.pixels import markers

#: The rule of a quarantine for bytes in Pixel Data beyond the image.
RULE = "pixels-trailing-bytes"
#: Reads `n` bytes at an offset of the Pixel Data value.
Reader = markers.Reader
_CHUNK = 1 << 16
_EOI = b"\xff\xd9"
RLE = "1.2.840.10008.1.2.5"


def checked(transfer_syntax: str) -> bool:
    """Whether :func:`check_encapsulated` knows where this transfer syntax's frames end."""
    return markers.kind_of(transfer_syntax) is not None or str(transfer_syntax) == RLE


def check_native(read: Reader, length: int, need: int) -> None:
    """Native Pixel Data of `length` bytes whose image takes `need` (PS3.5 8.1.1): raise unless the rest is
    the one pad byte of an odd length, or zeros."""
    extra = length - need
    if extra <= 0 or (extra == 1 and need % 2):
        return
    at = need
    while at < length:
        n = min(_CHUNK, length - at)
        if read(at, n).strip(b"\x00"):
            raise InputError(f"Pixel Data holds {extra:,} bytes after its {need:,}-byte image (PS3.5 8.1.1), not "
                             "padding: they are in no image and could hold text", RULE)
        at += n


def _items(read: Reader, total: int) -> tuple[list[int], list[tuple[int, int]]]:
    """(Basic Offset Table, fragments as (value offset, length)) of an encapsulated value (PS3.5 A.4)."""
    pos, table, frags, first = 0, [], [], True
    while pos + 8 <= total:
        g, e, ln = struct.unpack("<HHL", read(pos, 8))
        if (g, e) == (0xFFFE, 0xE0DD):
            break
        if (g, e) != (0xFFFE, 0xE000) or ln == 0xFFFFFFFF or pos + 8 + ln > total:
            raise InputError("corrupt encapsulated Pixel Data (item)", "parse")
        if first:
            raw = read(pos + 8, ln) if ln % 4 == 0 else b""
            table = list(struct.unpack(f"<{ln // 4}L", raw)) if raw else []
            first = False
        else:
            frags.append((pos + 8, ln))
        pos += 8 + ln
    return table, frags


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


def _marked_tail(read: Reader, frame: list[tuple[int, int]], index: int) -> None:
    """Raise unless `frame`'s bytes, 0x00 / 0xFF padding aside, end in FFD9; reads from the end only."""
    pad = 0
    for at, ln in reversed(frame):
        end = at + ln
        while end > at:
            n = min(_CHUNK, end - at)
            data = read(end - n, n)
            kept = data.rstrip(b"\x00\xff")
            if kept:
                # FFD9 ends the frame: D9 is the last byte kept, FF before it (maybe in the previous fragment)
                if kept[-1] == 0xD9 and ((len(kept) >= 2 and kept[-2] == 0xFF) or (len(kept) == 1 and (
                        (end - n > at and read(end - n - 1, 1) == b"\xff")
                        or (end - n == at and _last_byte(read, frame, at) == 0xFF)))):
                    return
                eoi = data.rfind(_EOI)
                after = f"{pad + n - eoi - 2:,}" if eoi >= 0 else f"more than {pad + n:,}"
                raise InputError(f"frame {index} of Pixel Data holds {after} bytes after its end-of-image marker "
                                 "(FFD9, PS3.5 A.4) that are not padding: they are in no image and could hold text",
                                 RULE)
            pad += n
            end -= n
    raise InputError(f"frame {index} of Pixel Data has no end-of-image marker (FFD9, PS3.5 A.4)", RULE)


def _last_byte(read: Reader, frame: list[tuple[int, int]], at: int) -> int:
    """The byte before the fragment at `at` in its frame (the previous fragment's last), or -1."""
    prev = [f for f in frame if f[0] < at]
    return read(prev[-1][0] + prev[-1][1] - 1, 1)[0] if prev and prev[-1][1] else -1


def _rle_tail(read: Reader, at: int, ln: int, pixels: int, index: int) -> None:
    """Raise unless each segment of the RLE fragment at `at` (PS3.5 G.3.1) is followed by zeros only: a
    PackBits run header n < 128 copies n + 1 bytes, n > 128 repeats one byte 257 - n times (G.3.1), and a
    segment decodes to exactly Rows x Columns bytes."""
    data = read(at, ln)
    if len(data) < 64:
        raise InputError(f"frame {index}: RLE header shorter than 64 bytes (PS3.5 G.5)", "pixels-undecodable")
    head = struct.unpack("<16L", data[:64])
    count = head[0]
    if not 1 <= count <= 15:
        raise InputError(f"frame {index}: RLE header with {count} segments (PS3.5 G.5: 1 to 15)", "pixels-undecodable")
    offsets = [*head[1:count + 1], ln]
    for s in range(count):
        pos, stop = offsets[s], offsets[s + 1]
        if not 64 <= pos <= stop <= ln:
            raise InputError(f"frame {index}: RLE segment offsets out of order (PS3.5 G.5)", "pixels-undecodable")
        done = 0
        while done < pixels and pos < stop:
            n = data[pos]
            if n < 128:
                pos += n + 2
                done += n + 1
            elif n > 128:
                pos += 2
                done += 257 - n
            else:
                pos += 1
        if data[min(pos, stop):stop].strip(b"\x00"):
            raise InputError(f"frame {index} of RLE Pixel Data holds {stop - pos:,} bytes after segment {s + 1}'s "
                             "image data (PS3.5 G.3.1) other than padding: they are in no image and could hold "
                             "text", RULE)


def check_encapsulated(read: Reader, total: int, transfer_syntax: str, frames: int, rows: int, cols: int) -> None:
    """Raise (:data:`RULE`) when an encapsulated frame holds bytes after its image other than padding."""
    ts = str(transfer_syntax)
    kind = markers.kind_of(ts)  # JPEG, JPEG-LS, JPEG 2000 and HTJ2K frames end in FFD9 (PS3.5 A.4.x)
    if kind is None and ts != RLE:
        return
    table, frags = _items(read, total)
    for i, frame in enumerate(_frames(read, table, frags, frames), 1):
        if not frame:
            continue
        if ts == RLE:
            for at, ln in frame:
                _rle_tail(read, at, ln, rows * cols, i)
        elif kind == "j2k" or len(frame) > 1:  # one JPEG fragment: markers.header_strips cuts after EOI
            _marked_tail(read, frame, i)
