"""The raw path: de-identify a well-formed instance as byte ranges, without building pydicom objects.

Why: on header-heavy archives (hundreds of attributes per file, tiny pixels) building pydicom's
``Dataset``/``RawDataElement``/``Tag`` objects, walking them and writing them back costs more than
everything else together - more than a C++ tool spends on the whole file. Most instances are plain
explicit or implicit VR little endian, and under a policy that does not clean pixels almost every
action on them is a decision by tag/VR/private creator (memoised per plan) followed by a copy, a drop or
an ASCII rewrite of a value. This module does exactly that on the input bytes: a flat scan of the
elements (PS3.5 7.1), sequences and items (PS3.5 7.5) by offset, the engine's own ``decide`` and raw
edits, and an output that is the kept byte ranges, the new values and Veil's stamp, re-assembled with
recomputed sequence/item lengths.

It is an accelerator, not a second engine: the decisions, the identity (``engine.begin``), the stamp and
the file meta come from ``header.engine``, and the output is byte-identical to the general path
(``pipeline.instance``), which the tests check on every pydicom test file and the generated corpora.
Whatever is not the common case returns ``None`` *before anything is written*, and the general path
handles the file (and quarantines it with its reason when it must): big endian, deflate, no preamble,
an implicit VR element in an explicit VR file, undefined length outside SQ/Pixel Data, non-ASCII or
multi-valued private creators, encapsulated documents, unsorted or repeated tags, truncation, pixel
passes.

What a raw edit cannot do - a date shifted (with its paired time), free text cleaned against the patient's
own identifiers (PS3.15 E.3.4/E.3.5), a value in another character set - is done by the engine's own
``_apply`` on a pydicom dataset of just that level's raw elements, and only those elements are decoded
and re-encoded; the identifiers text is cleaned against are read the way the general path reads them.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import BaseTag
from pydicom.uid import UID

from veil.errors import InputError
from veil.header import engine
from veil.identity.keyed import Keyed
from veil.pipeline import instance
from veil.pipeline.encode import element_header, encode_dataset
from veil.pipeline.fingerprint import input_hasher, output_hasher
from veil.pipeline.passthrough import (
    PIXEL_TAGS,
    SMALL,
    HashingWriter,
    PixelSpan,
    SplitInstance,
    _pixel_header,
    locate_pixels,
    stream_input,
)
from veil.pixels import markers, trailing
from veil.policy.plan import Plan, typed_text

#: The first bytes read of an input larger than SMALL: its header must end (at Pixel Data) within them.
HEAD = 1 << 20
_UNDEFINED = 0xFFFFFFFF
_TAG_VR_LEN = struct.Struct("<HH2sH")
_TAG_LEN = struct.Struct("<HHL")
_U32 = struct.Struct("<L")
_U16 = struct.Struct("<H")
_LONG = {vr.encode(): vr for vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")}
_SHORT = {vr.encode(): vr for vr in ("AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN",
                                     "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US")}
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD

#: Attributes read (never decoded in the output) for identity, checks and the output path.
_PEEK = frozenset({0x00080005, 0x00080016, 0x00080018, 0x00100010, 0x00100020, 0x00100021, 0x00100030,
                   0x00101010, 0x0020000D, 0x0020000E, 0x00280002, 0x00280004, 0x00280008, 0x00280010,
                   0x00280011, 0x00280100, 0x00280301})
_ENCAPSULATED = 0x00420011  # Encapsulated Document: the general path decides (quarantine or keep_if_clean)
_SCAN = _PEEK | {_ENCAPSULATED}
_OUT_UIDS = (0x00080016, 0x00080018, 0x0020000D, 0x0020000E)
_AGE = 0x00101010
_WATCH = frozenset((*_OUT_UIDS, _AGE))


class _Bail(Exception):
    """Not the common case: the general path takes the file."""


#: One element: (tag, VR as encoded or None for implicit VR, start of its header, start and end of its
#: value, end including any delimiter, SQ items as (undefined length, elements) or None).
_El = tuple[int, "str | None", int, int, int, int, "list[tuple[bool, list[Any]]] | None"]


@cache
def _dict_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" ")[0]
    except KeyError:
        return "UN"


def _parse(buf: bytes, pos: int, end: int, implicit: bool, top: bool) -> tuple[list[_El], int]:
    """Elements from `pos` to `end` (or an item delimiter; at top level, Pixel Data) in file order."""
    out: list[_El] = []
    last = -1
    while pos < end:
        if pos + 8 > end:
            raise _Bail
        if implicit:
            group, elem, length = _TAG_LEN.unpack_from(buf, pos)
            tag = group << 16 | elem
            vr = None
            vpos = pos + 8
        else:
            group, elem, vrb, length = _TAG_VR_LEN.unpack_from(buf, pos)
            tag = group << 16 | elem
            vr = _SHORT.get(vrb)
            vpos = pos + 8
            if vr is None:
                vr = _LONG.get(vrb)
                if vr is None:
                    if tag in (_ITEM_END, _SEQ_END, _ITEM):
                        vr = ""
                    else:
                        raise _Bail  # not an explicit VR: pydicom would switch to implicit
                elif pos + 12 > end:
                    raise _Bail
                else:
                    length = _U32.unpack_from(buf, pos + 8)[0]
                    vpos = pos + 12
        if tag == _ITEM_END:
            return out, pos
        if tag <= last or tag >> 16 == 0xFFFE:
            raise _Bail
        last = tag
        if top and tag in PIXEL_TAGS:
            return out, pos
        items = None
        sq = vr == "SQ" or (vr is None and _dict_vr(tag) == "SQ")
        if length == _UNDEFINED:
            if not sq:
                raise _Bail
            items, after = _parse_items(buf, vpos, end, implicit, True)
            out.append((tag, vr, pos, vpos, after - 8, after, items))
            pos = after
            continue
        vend = vpos + length
        if vend > end:
            raise _Bail
        if sq:
            items, _ = _parse_items(buf, vpos, vend, implicit, False)
        out.append((tag, vr, pos, vpos, vend, vend, items))
        pos = vend
    if pos != end:
        raise _Bail
    return out, pos


_Items = list[tuple[bool, list[_El]]]


def _parse_items(buf: bytes, pos: int, end: int, implicit: bool, undefined: bool) -> tuple[_Items, int]:
    """Items of a sequence value; for an undefined-length sequence, up to and after its delimiter."""
    items: _Items = []
    while True:
        if pos + 8 > end:
            if not undefined and pos == end:
                return items, pos
            raise _Bail
        group, elem, length = _TAG_LEN.unpack_from(buf, pos)
        tag = group << 16 | elem
        if tag == _SEQ_END and undefined:
            return items, pos + 8
        if tag != _ITEM:
            raise _Bail
        if length == _UNDEFINED:
            elems, at = _parse(buf, pos + 8, end, implicit, False)
            if at + 8 > end or _TAG_LEN.unpack_from(buf, at)[:2] != (0xFFFE, 0xE00D):
                raise _Bail
            items.append((True, elems))
            pos = at + 8
        else:
            stop = pos + 8 + length
            if stop > end:
                raise _Bail
            elems, at = _parse(buf, pos + 8, stop, implicit, False)
            if at != stop:  # an item delimiter inside a defined-length item
                raise _Bail
            items.append((False, elems))
            pos = stop


class _Walk:
    """One instance's walk: the engine's decisions and raw edits over `_El` records."""

    def __init__(self, buf: bytes, implicit: bool, plan: Plan, keyed: Keyed, family: tuple[str, ...],
                 pseudonym: str, out: engine.Outcome, offset: timedelta, top: list[_El]) -> None:
        self.buf = buf
        self.implicit = implicit
        self.plan = plan
        self.keyed = keyed
        self.family = family
        self.pseudonym = pseudonym
        self.out = out
        self.offset = offset
        self.top = top  # the instance's top-level elements: the known identifiers are read from them
        self.changed: dict[int, bytes | None] = {}  # top-level _WATCH tags rewritten (None: removed)
        #: memo of _step per (tag, VR as encoded, creator, scope), per plan and IOD family
        self.steps: dict[tuple[Any, ...], tuple[Any, ...]] = plan.encoded.setdefault(("steps", family), {})

    def _step(self, tag: int, raw_vr: str | None, creator: str | None, scope: str) -> tuple[Any, ...]:
        """What to do with an element, from what `level` memoises it by: (0,) keep as read,
        (1, fired key) remove, (2, VR, action) anything else, (3, VR, action) keep a value if its bytes are of that VR,
        (4, VR, action) keep a Code String unless it holds a known identifier, (5, VR, action) keep a Patient's Age
        capped (in an item; the stamp caps the top level's).
        The engine's VR rule and ``decide``."""
        private = bool(tag >> 16 & 1)
        if raw_vr and (raw_vr != "UN" or private):
            vr = raw_vr
        elif private:
            vr = "UN"
        else:
            vr = _dict_vr(tag)
        memo = self.plan.decisions
        key = (tag, vr, creator, scope, self.family)
        act = memo.get(key)
        if act is None:
            act = memo[key] = engine.decide(tag, vr, creator, scope, self.family, self.plan)
        code = act.code
        if code == "X":
            if 0x7FE00008 <= tag <= 0x7FE00010:
                raise _Bail  # a pixel element inside the header: the general path
            return (1, (tag, "X", act.rule))
        if raw_vr == "UN" and not private and vr != "UN" and (code != "K" or vr == "SQ"):
            raise _Bail  # a UN-encoded public attribute pydicom would re-read with its real VR
        if code == "K" and (vr in ("IS", "DS") or (private and engine.private_checked(vr, act))
                            or (act.rule == engine.FALLBACK_BYTES and engine.public_bytes_checked(tag, vr))
                            or engine.class_uid_checked(tag, vr, act)):
            checked = engine.value_vr(tag, vr, creator, self.plan, act.rule)
            if checked in engine.CHECKED_VRS:  # kept only if its bytes are of that VR (engine.value_action)
                return (3, checked, act)
        if code == "K" and tag == engine._CHARSET:
            return (6, vr, act)  # kept when its terms are defined ones (engine.charset_defined)
        if code == "K" and vr == "CS":
            return (4, vr, act)  # kept unless it holds a known identifier (engine.CS_KNOWN)
        if code == "K" and tag == _AGE and self.plan.policy.dates.age_cap is not None:
            return (5, vr, act)  # in an item: capped by the engine; at the top level: by the stamp
        if code == "K" and vr != "SQ":
            return (0,)
        return (2, vr, act)

    def level(self, elems: list[_El], scope: str, top: bool) -> list[tuple[int, bytes]]:
        """Encoded (tag, bytes) of the elements of one dataset level that are written.

        Tags are ascending (the parser bails otherwise), so a block's private creator (gggg,00xx) is
        always met before the block's elements (gggg,xx00-xxFF).
        """
        buf = self.buf
        fired = self.out.fired
        steps = self.steps
        creators: dict[tuple[int, int], str] = {}
        kept_blocks: set[tuple[int, int]] = set()
        pieces: list[tuple[int, bytes]] = []
        creator_at: dict[int, int] = {}
        deferred: list[tuple[int, _El, Any]] = []  # (index in pieces, element, action)
        if not top and any(el[0] == 0x0040A300 for el in elems) and any(
                code.encode() in buf[el[3]:el[4]] for el in elems if el[0] == 0x0040A043
                for code, _ in engine.AGE_CONCEPTS):
            raise _Bail  # an SR item holding the patient's age: the engine treats it as Patient's Age
        for el in elems:
            tag = el[0]
            group = tag >> 16
            if group & 1:
                low = tag & 0xFFFF
                if 0x10 <= low <= 0xFF:
                    raw = buf[el[3]:el[4]]
                    if not raw.isascii() or b"\\" in raw or el[1] not in ("LO", None):
                        raise _Bail  # decoded by character set / multi-valued: the general path
                    creators[(group, low)] = raw.decode("ascii").strip().rstrip("\x00").strip()
                    creator_at[tag] = len(pieces)
                    pieces.append((tag, buf[el[2]:el[5]]))
                    continue
                creator = creators.get((group, low >> 8))
            else:
                if group == 0x0002:  # file meta inside the data set: removed (engine._walk)
                    fired[(tag, "X", "meta-in-dataset")] = fired.get((tag, "X", "meta-in-dataset"), 0) + 1
                    continue
                if top and tag in engine._DEID_TAGS:  # kept as read: the stamp replaces them
                    pieces.append((tag, buf[el[2]:el[5]]))
                    continue
                creator = None
            key = (tag, el[1], creator, scope)
            step = steps.get(key)
            if step is None:
                step = steps[key] = self._step(tag, el[1], creator, scope)
            kind = step[0]
            if kind == 3:
                bad = engine.value_action(tag, step[1], step[2], buf[el[3]:el[4]], self.family, self._ctx.core)
                if bad is None:
                    kind = 0
                elif bad.code == "X":
                    step, kind = (1, (tag, "X", bad.rule)), 1
                elif bad.code == "U" and not group & 1:
                    raise _Bail  # a class UID remapped (the file meta follows it): the engine's
                else:
                    step, kind = (2, step[1], bad), 2
            if kind == 6:
                cs = buf[el[3]:el[4]]
                if not engine.charset_defined(cs) or cs != _canonical_cs(cs):
                    raise _Bail  # a term PS3.3 does not define, or padding pydicom does not write: the engine's
                kind = 0
            if kind == 5:
                if top:
                    kind = 0
                else:
                    deferred.append((len(pieces), el, step[2]))
                    pieces.append((tag, b""))
                    continue
            if kind == 4:
                hit = engine.code_string_raw_hit(buf[el[3]:el[4]], self._ctx.core)
                if hit is False:
                    kind = 0
                elif top and tag in _WATCH:
                    raise _Bail
                else:  # the engine reads it (its character set) and removes it if it names the patient
                    deferred.append((len(pieces), el, step[2]))
                    pieces.append((tag, b""))
                    continue
            if kind == 1:
                fk = step[1]
                fired[fk] = fired.get(fk, 0) + 1
                if top and tag in _WATCH:
                    self.changed[tag] = None
                continue
            if kind == 0:
                if top and tag in _OUT_UIDS and not _canonical_uid(buf[el[3]:el[4]]):
                    raise _Bail  # kept (retain_uids) with padding pydicom does not write: the general path's
                pieces.append((tag, buf[el[2]:el[5]]))
                if group & 1:
                    kept_blocks.add((group, (tag & 0xFFFF) >> 8))
                continue
            vr, act = step[1], step[2]
            code = act.code
            if (act.rule == engine.ALLOWLIST_KNOWN and tag not in typed_text()  # typed labels: read as free text,
                    and not group & 1  # safe private labels for names and patterns too (engine._clean_known),
                    and scope not in ("C", "D")  # coded text in content for names (engine._clean_known),
                    and engine.known_hit(buf[el[3]:el[4]], self._ctx.known) is False
                    and _written_as_read(buf[el[3]:el[4]])
                    and (tag != 0x00080104 or _meaning_kept(buf, elems, el, self._ctx.known))):
                pieces.append((tag, buf[el[2]:el[5]]))  # no known identifier in it: kept as read (not ASCII:
                if group & 1:  # the engine decides on the decoded value); safe private text keeps its block
                    kept_blocks.add((group, (tag & 0xFFFF) >> 8))
                continue
            if vr == "SQ":
                if el[6] is None:
                    raise _Bail
                if code == "X/Z/U*":
                    code = "U*"
                elif "/" in code:
                    code = engine.resolve_conditional(code, keyword_for_tag(tag), self.family)
                if code == "Z":  # an empty sequence, its length form kept
                    self.out.fire(tag, code, act.rule)
                    pieces.append((tag, self._sequence((*el[:6], []), scope)))
                    continue
                inner = {"K": scope, "U": scope, "U*": scope, "D": "P" if tag in engine.PERSON_SEQUENCES else "D",
                         "C": "C"}.get(code)
                if inner is None:
                    raise _Bail
                self.out.fire(tag, code, act.rule)
                pieces.append((tag, self._sequence(el, inner)))
            else:
                value = engine.raw_value(code, vr, el[1], buf[el[3]:el[4]], self.pseudonym, self.keyed, tag)
                if value is None:  # shift, clean, a non-ASCII value ...: the engine's own _apply, below
                    if top and tag in _WATCH:
                        raise _Bail
                    deferred.append((len(pieces), el, act))
                    pieces.append((tag, b""))
                    continue
                self.out.fire(tag, "U*" if code == "X/Z/U*" else code, act.rule)
                pieces.append((tag, self._element(tag, el[1], value)))
                if top and tag in _WATCH:
                    self.changed[tag] = value
            if group & 1:
                kept_blocks.add((group, (tag & 0xFFFF) >> 8))
        # indexes into pieces: what the engine removed at the end of the level, then unused creators
        gone = self._apply_deferred(elems, pieces, deferred, scope, top, kept_blocks) if deferred else set()
        for (g, b) in creators:
            if (g, b) not in kept_blocks:
                ct = (g << 16) | b
                gone.add(creator_at[ct])
                self.out.fire(ct, "X", "private:creator-unused")
        if gone:
            pieces = [p for i, p in enumerate(pieces) if i not in gone]
        return pieces

    def _apply_deferred(self, elems: list[_El], pieces: list[tuple[int, bytes]], deferred: list[tuple[int, _El, Any]],
                        scope: str, top: bool, kept_blocks: set[tuple[int, int]]) -> set[int]:
        """The elements no raw edit can do (dates shifted, text cleaned, values in another character set),
        done by the engine's own ``_apply`` - as ``engine._walk`` does it, in tag order, with the paired
        time of a date - on a pydicom dataset of this level's raw elements, then encoded into `pieces`.
        Returns the indexes of the elements the engine removed.

        Anything else the engine would change on the way (a time paired with a date that was not kept as
        read, a character set inside an item) is not the common case: the general path takes the file.
        """
        ds = _raw_dataset(self._top_raw if top else _raw_elements(self.buf, elems, self.implicit), self.implicit)
        if not top:
            if 0x00080005 in ds._dict:
                raise _Bail  # an item's own character set
            ds._parent_encoding = self._charsets[0]  # as pydicom's reader decodes an item
        before = dict(ds._dict)
        handled: set[int] = set()
        at = {el[0]: i for i, el, _act in deferred}
        for _i, el, act in deferred:
            if el[0] not in handled:  # else the time of a date shifted with it (engine._walk skips it too)
                engine.apply_element(ds, el[0], act, self._ctx, scope, handled)

        def as_read(tag: int) -> bytes:
            el = next(e for e in elems if e[0] == tag)
            return self.buf[el[2]:el[5]]

        kept = {t: i for i, (t, _b) in enumerate(pieces) if t not in at}
        for tag in handled - at.keys():  # a paired time the walk kept as read: written shifted
            index = kept.get(tag)
            if index is None or pieces[index][1] != as_read(tag):
                raise _Bail
            at[tag] = index
        charset = self._charsets[1]
        for tag, raw in before.items():  # read on the way (the character set, a date's time): not changed
            now = ds._dict.get(tag)
            if tag not in at and now is not raw and (now is None or self._encode(now, charset) != as_read(tag)):
                raise _Bail  # changed where the raw walk does not look
        removed = set()
        for tag, index in at.items():
            if tag not in ds._dict:
                removed.add(index)
                continue
            pieces[index] = (tag, self._encode(ds[tag], charset))
            if tag >> 16 & 1:
                kept_blocks.add((tag >> 16, (tag & 0xFFFF) >> 8))
        return removed  # indexes: the caller drops them with the unused creators (its indexes stay valid)

    @cached_property
    def _ctx(self) -> engine._Ctx:
        """The engine's context of this instance; its known identifiers (E.3.4/E.3.5: the patient's own
        names, IDs and dates, found again in free text) read from the whole instance, once."""
        from veil.text.known import CORE_TAG_SET, CORE_TAGS, collect_identifiers, core_identifiers

        # the top-level name and ID, read from a dataset of just them and the character set
        core_elems = []
        last = CORE_TAGS[-1]
        for el in self.top:  # in tag order
            if el[0] > last:
                break
            if el[0] in CORE_TAG_SET or el[0] == 0x00080005:
                core_elems.append(el)
        core = core_identifiers(_raw_dataset(_raw_elements(self.buf, core_elems, self.implicit), self.implicit))
        if engine._needs_known(self.plan):
            known = collect_identifiers(known_dataset(self.buf, self.top, self.implicit))
        else:
            known = core
        birth = next((self.buf[el[3]:el[4]] for el in self.top if el[0] == 0x00100030), b"")
        return engine._Ctx(self.plan, self.keyed, self.family, self.offset, self.pseudonym, known, self.out, core,
                           engine.birth_date(birth.decode("latin-1")))

    @cached_property
    def _top_raw(self) -> dict[BaseTag, RawDataElement]:
        return _raw_elements(self.buf, self.top, self.implicit)

    @cached_property
    def _top_dataset(self) -> Dataset:
        """The top level as pydicom's reader gives it (read only: the known identifiers, the character set)."""
        return _raw_dataset(self._top_raw, self.implicit)

    @cached_property
    def _charsets(self) -> tuple[Any, Any]:
        """The instance's character set: as pydicom decodes its items (codec names) and as the writer
        encodes every level (the Specific Character Set value, ``encode_dataset``'s argument)."""
        ds = self._top_dataset
        return ds._character_set, ds.get("SpecificCharacterSet", "iso8859")

    def _encode(self, elem: Any, charset: Any) -> bytes:
        try:
            return _encode_one(elem, self.implicit, charset)
        except Exception as exc:  # e.g. a cleaned value too long for its VR: the general path reports it
            raise _Bail from exc

    def _element(self, tag: int, vr: str | None, value: bytes) -> bytes:
        head = element_header(tag, vr, len(value))
        if head is None:
            raise _Bail
        return head + value

    def _sequence(self, el: _El, scope: str) -> bytes:
        """The SQ element rebuilt from its walked items (pydicom's lengths: defined unless read undefined)."""
        assert el[6] is not None
        body = []
        for undefined, elems in el[6]:
            data = b"".join(p for _, p in self.level(elems, scope, False))
            if undefined:
                body.append(_TAG_LEN.pack(0xFFFE, 0xE000, _UNDEFINED) + data + _TAG_LEN.pack(0xFFFE, 0xE00D, 0))
            else:
                body.append(_TAG_LEN.pack(0xFFFE, 0xE000, len(data)) + data)
        value = b"".join(body)
        undefined_seq = el[5] != el[4]
        length = _UNDEFINED if undefined_seq else len(value)
        head = element_header(el[0], None if el[1] is None else "SQ", length) or b""
        return head + value + (_TAG_LEN.pack(0xFFFE, 0xE0DD, 0) if undefined_seq else b"")


def _raw_elements(buf: bytes, elems: list[_El], implicit: bool) -> dict[BaseTag, RawDataElement]:
    """One dataset level's elements as pydicom's reader leaves them: raw (sequences too, parsed when read)."""
    d = {}
    for el in elems:
        tag = BaseTag(el[0])
        value = buf[el[3]:el[4]]  # a sequence of undefined length: its items, without the delimiter
        undefined = el[5] != el[4]
        d[tag] = RawDataElement(tag, el[1], _UNDEFINED if undefined else len(value), value, el[3], implicit, True,
                                True, undefined)
    return d


def known_dataset(buf: bytes, elems: list[_El], implicit: bool, parent_encoding: str | list[str] | None = None
                  ) -> Dataset:
    """A dataset level as pydicom's reader gives it, whose sequences hold items built from the walk's own
    parse (`elems`) instead of pydicom parsing every sequence again: the known identifiers are read from
    every depth, and pydicom's sequence reader cost more than the whole walk. Items inherit their
    parent's character set as pydicom's do (PS3.5 6.1.2.5.2)."""
    ds = _raw_dataset(_raw_elements(buf, elems, implicit), implicit)
    if parent_encoding is not None:
        ds._parent_encoding = parent_encoding
    encoding = None
    for el in elems:
        if el[6] is not None:
            if encoding is None:
                encoding = ds._character_set
            items = [known_dataset(buf, item, implicit, encoding) for _, item in el[6]]
            ds._dict[BaseTag(el[0])] = DataElement(el[0], "SQ", items)
    return ds


def _raw_dataset(raw: dict[BaseTag, RawDataElement], implicit: bool) -> Dataset:
    """A dataset of `raw` elements (immutable: datasets built from the same ones do not share changes)."""
    ds = Dataset()
    ds._dict.update(raw)
    ds.set_original_encoding(implicit, True, None)
    return ds


def _drop_orphan_overlays(pieces: list[tuple[int, bytes]], out: engine.Outcome) -> list[tuple[int, bytes]]:
    """engine._drop_orphan_overlays on the walked top level: a plane without its data goes whole; an
    overlay that may be embedded in Pixel Data is left to the engine (which refuses it)."""
    groups = {t >> 16 for t, _ in pieces if engine._graphics_group(t >> 16)}
    if not groups:
        return pieces
    orphans = {g for g in groups if not any(t == (g << 16) | 0x3000 for t, _ in pieces)}
    for t, b in pieces:
        if t >> 16 in orphans and t >> 16 >= 0x6000 and t & 0xFFFF in (0x0100, 0x0102):
            value = int.from_bytes(b[8:10], "little") if len(b) == 10 else -1  # one US after its 8-byte header
            if value != (1 if t & 0xFFFF == 0x0100 else 0):
                raise _Bail  # possibly embedded in Pixel Data: the engine refuses it
    kept = []
    for t, b in pieces:
        if t >> 16 in orphans:
            out.fire(t, "X", "overlay:plane-without-data")
        else:
            kept.append((t, b))
    return kept


def _uid_str(raw: bytes) -> str | None:
    """A UI value as pydicom reads it, when that is unambiguous (ASCII, one value, no inner padding)."""
    if not raw.isascii():
        return None
    text = raw.decode("ascii").rstrip("\x00 ")
    if not text or text != text.strip() or "\\" in text or "\x00" in text:
        return None
    return text


_META_NEW = (0x00020000, 0x00020002, 0x00020003, 0x00020012, 0x00020013)


def _read_meta(buf: bytes) -> tuple[dict[int, _El], int]:
    """File meta elements (PS3.10 7.1: explicit VR little endian, group length first) and where the
    dataset starts. pydicom reads the group up to the first other tag; a group length that disagrees
    with that is left to the general path."""
    if buf[132:138] != b"\x02\x00\x00\x00UL" or len(buf) < 144:
        raise _Bail
    end = 144 + _U32.unpack_from(buf, 140)[0]
    if end + 2 > len(buf) or _U16.unpack_from(buf, end)[0] == 0x0002:
        raise _Bail
    elems, _ = _parse(buf, 132, end, False, False)
    if any(el[0] >> 16 != 0x0002 or el[6] is not None for el in elems):
        raise _Bail
    meta = {el[0]: el for el in elems}
    if 0x00020010 not in meta:
        raise _Bail
    return meta, end


def _ui(tag: int, value: str) -> bytes:
    data = value.encode("ascii")
    if len(data) % 2:
        data += b"\x00"
    return (element_header(tag, "UI", len(data)) or b"") + data


def _encode_meta(buf: bytes, meta: dict[int, _El], sop_instance: str, sop_class: str, out: engine.Outcome) -> bytes:
    """The output's file meta group as ``engine.fix_meta`` + ``encode_file_meta`` make it: the input's
    elements less the dropped ones, the Media Storage UIDs of the output, Veil as the implementation."""
    pieces: dict[int, bytes] = {}
    for tag, el in meta.items():
        if tag in engine._META_DROP or tag not in engine.META_KEEP:
            out.fire(tag, "X", "E.1-1 basic:file-meta" if tag in engine._META_DROP else "fallback:file-meta")
        elif tag == 0x00020010:  # read (decoded) by pydicom, so written from its value
            pieces[tag] = _ui(tag, _uid_str(buf[el[3]:el[4]]) or "")
        elif tag not in _META_NEW:
            pieces[tag] = buf[el[2]:el[5]]
    pieces.setdefault(0x00020001, (element_header(0x00020001, "OB", 2) or b"") + b"\x00\x01")
    pieces[0x00020002] = _ui(0x00020002, sop_class)
    pieces[0x00020003] = _ui(0x00020003, sop_instance)
    pieces[0x00020012] = _ui(0x00020012, engine.VEIL_IMPLEMENTATION_UID)
    name = engine.VEIL_IMPLEMENTATION_VERSION.encode("ascii")
    name += b" " * (len(name) % 2)
    pieces[0x00020013] = (element_header(0x00020013, "SH", len(name)) or b"") + name
    body = b"".join(pieces[t] for t in sorted(pieces))
    return (element_header(0x00020000, "UL", 4) or b"") + _U32.pack(len(body)) + body


#: The attributes the identity is read from, by keyword (engine.begin, engine.patient_key, iod_family).
_IDENTITY = {0x00100020: "PatientID", 0x00100021: "IssuerOfPatientID", 0x00100010: "PatientName",
             0x00100030: "PatientBirthDate", 0x0020000D: "StudyInstanceUID", 0x00280301: "BurnedInAnnotation",
             0x00080016: "SOPClassUID"}
_UI_IDENTITY = (0x0020000D, 0x00080016)


def _plain_values(buf: bytes, found: list[_El]) -> dict[str, str] | None:
    """The identity attributes as the engine reads them, when every one is plain: printable ASCII, one
    value, no NUL (UIDs may end in their NUL pad). For such values pydicom's decoding is the bytes less
    trailing spaces, so keys, pseudonyms and shifts are the general path's. None: read them with pydicom."""
    out: dict[str, str] = {}
    for el in found:
        kw = _IDENTITY.get(el[0])
        if kw is None:
            continue
        raw = buf[el[3]:el[4]]
        if el[0] in _UI_IDENTITY:
            text = _uid_str(raw) if raw.rstrip(b"\x00 ") else ""
            if text is None:
                return None
        else:
            if b"\\" in raw or not all(0x20 <= c <= 0x7E for c in raw):
                return None
            text = raw.decode("ascii").rstrip(" ")
        if el[0] == 0x00280301 and b"YES" in raw.upper():
            return None  # burned-in annotation: decided by the general reader
        out[kw] = text
    return out


_PIXEL_KW = {0x00280002: "SamplesPerPixel", 0x00280008: "NumberOfFrames", 0x00280010: "Rows",
             0x00280011: "Columns", 0x00280100: "BitsAllocated"}


def _pixel_length_ok(buf: bytes, found: list[_El], span: PixelSpan) -> bool:
    """instance.native_pixel_bits from the raw values (US, and IS for the frames); False when the pixel
    value is shorter or longer than the image (but for one pad byte) or a value is not plain (pydicom then
    decides, with the reason: extra zeros pass, other extra bytes are refused)."""
    if span.value_length == _UNDEFINED:
        return True
    if span.tag != 0x7FE00010:  # Float / Double Float Pixel Data (PS3.5 8.2): the general path's check
        return False
    vals: dict[str, int] = {}
    for el in found:
        kw = _PIXEL_KW.get(el[0])
        if kw is None:
            continue
        raw = buf[el[3]:el[4]]
        if kw == "NumberOfFrames":
            text = raw.rstrip(b"\x00 ").strip()
            if not text.isdigit():
                return False
            vals[kw] = int(text)
        elif len(raw) == 2:
            vals[kw] = _U16.unpack(raw)[0]
        else:
            return False
    try:
        need = instance.native_pixel_bits(lambda kw, d: vals.get(kw, d))
    except InputError:
        return False
    need = (need + 7) // 8
    # longer than the image (PS3.5 8.1.1) but by an odd length's pad byte: the general path's check decides
    return span.value_length == need or (span.value_length == need + 1 and need % 2 == 1)


def _mini(buf: bytes, elems: list[_El], tags: frozenset[int] | tuple[int, ...], implicit: bool,
          values: dict[int, bytes | None] | None = None) -> Dataset:
    """A pydicom Dataset of just `tags` (raw), for the engine's readers (peek, patient_key, checks)."""
    ds = Dataset()
    d = ds._dict
    for el in elems:
        if el[0] in tags and el[6] is None:
            value = buf[el[3]:el[4]]
            if values is not None and el[0] in values:
                new = values[el[0]]
                if new is None:
                    continue
                value = new
            vr = el[1] if el[1] != "UN" else None
            d[BaseTag(el[0])] = RawDataElement(BaseTag(el[0]), vr, len(value), value, 0, implicit, True, True, False)
    ds.set_original_encoding(implicit, True, None)
    return ds


def _stamp(plan: Plan, implicit: bool, age: bytes | None, out: engine.Outcome) -> dict[int, bytes]:
    """Veil's de-identification attributes and a capped Patient's Age, encoded for this file (b"": removed)."""
    key = ("stamp", implicit)
    cached = plan.encoded.get(key)
    if cached is None:
        cached = plan.encoded[key] = _encode_each(engine.stamp_elements(plan), implicit)
    pieces = dict(cached)
    if age is not None and plan.policy.dates.age_cap is not None:
        ds = Dataset()
        ds._dict[BaseTag(_AGE)] = RawDataElement(BaseTag(_AGE), None if implicit else "AS", len(age), age, 0,
                                                 implicit, True, True, False)
        ds.set_original_encoding(implicit, True, None)
        engine.cap_age(ds, plan, out)
        pieces[_AGE] = dict(_encode_each(ds, implicit)).get(_AGE, b"")
    return pieces


def _encode_each(ds: Dataset, implicit: bool) -> list[tuple[int, bytes]]:
    return [(int(elem.tag), _encode_one(elem, implicit)) for elem in ds]


def _encode_one(elem: Any, implicit: bool, charset: Any = "iso8859") -> bytes:
    """One element as ``encode_dataset`` writes it in a dataset whose character set is `charset` (a decoded
    element: pydicom's writer, without building a Dataset around it)."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit
    if (type(elem) is DataElement and elem.VR is not None and len(elem.VR) == 2 and elem.VR != "SQ"
            and elem.tag & 0xFFFF):  # (a group length is left to encode_dataset's rule)
        write_data_element(fp, elem, charset)  # what encode_dataset does with it
    else:
        one = Dataset()
        one._dict[elem.tag] = elem
        encode_dataset(fp, one, charset)
    return bytes(fp.getvalue())


@dataclass(frozen=True)
class RawResult:
    rel: str
    out_sha: str
    in_sha: str
    outcome: engine.Outcome


def _written_as_read(value: bytes) -> bool:
    """Whether a text value the general path decodes (to check it) is written back with the same bytes:
    pydicom drops each value's trailing spaces and trailing NULs and pads to an even length with one space.
    Otherwise ('ACME  ', 'A \\B') the engine writes it, as the general path does (review: kept text ending
    in two spaces came out of the two paths with different bytes)."""
    if b" \\" in value or value.endswith(b"\x00"):
        return False
    core = value.rstrip(b" ")
    return value == core + (b" " if len(core) % 2 else b"")


def _meaning_kept(buf: bytes, elems: list[_El], meaning: _El, known: Any) -> bool:
    """Whether a Code Meaning outside content is kept as read, as engine._clean_known decides: its item's
    Coding Scheme Designator (0008,0102) is kept as read too (no known identifier in it: a rewritten one
    makes the engine judge the meaning by the new value), and the meaning holds no name (a public scheme's
    own text holds none: engine.meaning_named)."""
    designator = ""
    for el in elems:
        if el[0] == 0x00080102:
            raw = buf[el[3]:el[4]]
            if engine.known_hit(raw, known) is not False:
                return False
            designator = raw.decode("latin-1")
            break
        if el[0] > 0x00080102:
            break
    return not engine.meaning_named(buf[meaning[3]:meaning[4]], known, designator)


def eligible(plan: Plan) -> bool:
    """Whether `plan` can take the raw path at all: no pixel or overlay pass (they need the decoded image)."""
    known = plan.encoded.get(("eligible",))
    if known is not None:
        return bool(known)
    p = plan.policy
    ok = (plan.description().isascii() and not p.has("clean_pixel_data")
          and not (p.has("clean_graphics") and p.pixels.overlays == "clean"))
    plan.encoded[("eligible",)] = ok
    return ok


def process(path: Path, plan: Plan, keyed: Keyed, out_root: Path, since: int | None = None) -> RawResult | None:
    """De-identify `path` on the raw path and write it; None (nothing written) when it is not for us.

    Raises InputError only for what the general path would quarantine too (a duplicate instance).
    """
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed below; an unreadable input is the general path's
    except OSError:
        return None
    with src:
        try:
            size = os.fstat(src.fileno()).st_size
            buf = src.read() if size <= SMALL else src.read(HEAD)
        except OSError:
            return None
        if size <= SMALL:
            return _process(buf, size, None, path, plan, keyed, out_root, since) if len(buf) == size else None
        return _process(buf, size, src, path, plan, keyed, out_root, since)


def _canonical_cs(value: bytes) -> bytes:
    """A Code String as pydicom writes it back once read (the general path reads Specific Character Set to
    decode the text): each value without surrounding spaces or NULs, one space of padding to an even length
    ("ISO_IR 100  " and "ISO_IR 192\\x00   " were copied by this path and rewritten by the other: fuzzing)."""
    out = b"\\".join(v.strip(b" \x00") for v in value.split(b"\\"))
    return out + b" " if len(out) % 2 else out


def _canonical_uid(value: bytes) -> bool:
    """A UID padded as pydicom writes one it read (the general path reads the output's UIDs to name it): one
    NUL to an even length, nothing more ("1.2.3\\x00  " was copied here, rewritten there: fuzzing)."""
    uid = value.rstrip(b"\x00 ")
    return value == uid + b"\x00" * (len(uid) % 2)


#: Directory Record Sequence (PS3.3 F.3): what makes a data set a DICOMDIR (instance._refuse_media_directory).
_DIRECTORY_RECORDS = 0x00041220


def _process(buf: bytes, size: int, src: Any, path: Path, plan: Plan, keyed: Keyed,
             out_root: Path, since: int | None) -> RawResult | None:
    if buf[128:132] != b"DICM":
        return None
    try:
        meta, pos = _read_meta(buf)
    except _Bail:
        return None
    ts_el = meta.get(0x00020010)
    ts = UID(_uid_str(buf[ts_el[3]:ts_el[4]]) or "") if ts_el is not None else UID("")
    if not ts or not ts.is_transfer_syntax or not ts.is_little_endian or ts.is_deflated:
        return None
    cls = meta.get(0x00020002)
    if cls is not None and _uid_str(buf[cls[3]:cls[4]]) == instance.MEDIA_DIRECTORY:
        return None  # a DICOMDIR: the general path refuses it with its reason
    implicit = ts.is_implicit_VR
    if implicit and pos + 6 <= len(buf) and (buf[pos + 4:pos + 6] in _SHORT or buf[pos + 4:pos + 6] in _LONG):
        return None  # explicit VR data under an implicit VR transfer syntax: pydicom's heuristics decide
    try:
        elems, at = _parse(buf, pos, len(buf), implicit, True)
        span: PixelSpan | None = None
        tail: list[_El] = []
        if at < len(buf):
            span = locate_pixels(io.BytesIO(buf) if src is None else src, at, size, implicit, True)
            if span.vr is None and not implicit:
                return None
            if span.end < size:
                if src is None:
                    tail, _ = _parse(buf, span.end, size, implicit, False)
                else:
                    if size - span.end > SMALL:
                        return None
                    src.seek(span.end)
                    rest = src.read()
                    buf = buf[:at] + rest
                    tail, _ = _parse(buf, at, len(buf), implicit, False)
                if any(el[0] in PIXEL_TAGS or el[0] <= span.tag for el in tail):
                    return None
        elif src is not None:
            return None  # a header longer than HEAD
        if any(el[0] == _DIRECTORY_RECORDS for el in elems):
            return None  # directory records in an instance: a DICOMDIR's, refused by the general path with its reason
        if span is not None and span.value_length == 0xFFFFFFFF and markers.kind_of(ts) is not None and (
                markers.needs_scrub(markers.file_reader(io.BytesIO(buf) if src is None else src, span.value_start),
                                    span.end - span.value_start, ts)):
            return None  # a JPEG comment or EXIF segment in a frame: the general path removes it
    except (_Bail, InputError):
        return None
    elems += tail
    if not elems:
        return None
    found = [el for el in elems if el[0] in _SCAN]  # one pass: the peeked values and a document
    if any(el[0] == _ENCAPSULATED for el in found):
        return None
    if not any(el[0] == 0x00080018 for el in found):
        return None
    plain = _plain_values(buf, found)
    peeked = None if plain is not None else _mini(buf, found, _PEEK, implicit)
    whole = buf if src is None else None  # the input entire, or read from `path`
    try:
        if span is not None and not _pixel_length_ok(buf, found, span):
            peeked = peeked or _mini(buf, found, _PEEK, implicit)
            instance.check_pixel_span(SplitInstance(peeked, path, span, implicit, True, data=whole))  # raises or pads
        if span is not None and span.value_length == _UNDEFINED and trailing.checked(ts):
            # bytes after a frame's end-of-image marker (PS3.5 A.4): refused by the general path, with its reason
            peeked = peeked or _mini(buf, found, _PEEK, implicit)
            instance.check_frames_end(SplitInstance(peeked, path, span, implicit, True, data=whole), str(ts))
        if plain is not None:
            out, pseudonym, offset = engine.begin(None, plan, keyed, lambda kw, d: plain.get(kw, d))
            family = engine.iod_family(plain.get("SOPClassUID", ""))
        else:
            assert peeked is not None
            out, pseudonym, offset = engine.begin(peeked, plan, keyed)
            family = engine.iod_family(str(engine.peek(peeked, "SOPClassUID", "") or ""))
    except InputError:
        return None  # the general path quarantines it with its reason
    walk = _Walk(buf, implicit, plan, keyed, family, pseudonym, out, offset, elems)
    try:
        pieces = _drop_orphan_overlays(walk.level(elems, "", True), out)
    except _Bail:
        return None
    changed = walk.changed
    age = None
    written = {el[0]: changed.get(el[0], buf[el[3]:el[4]]) for el in found}  # top-level values as written
    if any(t == _AGE for t, _ in pieces):
        age = written[_AGE]
    stamp = _stamp(plan, implicit, age, out)
    merged = [p for p in pieces if p[0] not in stamp] + [(t, b) for t, b in stamp.items() if b]
    merged.sort(key=lambda p: p[0])
    # the output's own UIDs, for the file meta and the output path
    uids = {t: _uid_str(v) for t, v in written.items() if t in _OUT_UIDS and v is not None}
    if len(uids) != len(_OUT_UIDS) or not all(uids.values()):
        final = _mini(buf, found, _OUT_UIDS, implicit, changed)
        uids = {t: str(engine.peek(final, keyword_for_tag(t), "") or "") for t in _OUT_UIDS}
    sop_class, sop_instance, study, series = (uids[t] for t in _OUT_UIDS)
    if not sop_class or not sop_instance:
        return None
    try:
        rel = instance.relpath(out.patient_pseudonym, study or "", series or "", sop_instance)
    except InputError:
        return None  # the general path quarantines it with its reason
    meta_bytes = _encode_meta(buf, meta, sop_instance, sop_class, out)
    parts: list[bytes | memoryview] = [b"\x00" * 128 + b"DICM" + meta_bytes]
    parts += [b for t, b in merged if t < 0x7FE00010]
    after = [b for t, b in merged if t >= 0x7FE00010]
    # explicit VR: the input's VR kept; implicit: no VR
    pixel_head = _pixel_header(span, None, implicit, True) if span is not None else b""

    def write(fd: int) -> tuple[str, str]:
        in_hash = input_hasher()
        if src is None:  # the whole input is in buf: one vectored write, no copy of the pixel bytes
            out_hash = output_hasher()
            # header and trailer joined first (a few KB): one hash update each instead of one per element
            head = b"".join((*parts, pixel_head))
            whole: list[bytes | memoryview] = [head]
            if span is not None:
                whole.append(memoryview(buf)[span.value_start:span.end])
            if after:
                whole.append(b"".join(after))
            in_hash.update(buf)
            for part in whole:
                out_hash.update(part)
            _writev_all(fd, whole)
            return out_hash.hexdigest(), in_hash.hexdigest()

        out = HashingWriter(fd)
        out.write(b"".join(parts))
        stream_input(SplitInstance(Dataset(), path, span, implicit, True), pixel_head, in_hash, out.write)
        for part in after:
            out.write(part)
        out.flush()
        return out.hash.hexdigest(), in_hash.hexdigest()

    out_sha, in_sha = instance.write_atomic(os.path.join(out_root, rel), write, since)
    return RawResult(rel, out_sha, in_sha, out)


def _writev_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    total = sum(len(p) for p in parts)
    n = os.writev(fd, parts) if parts else 0
    if n < total:  # a short write: the rest one piece at a time
        rest = memoryview(b"".join(parts))[n:]
        while rest:
            rest = rest[os.write(fd, rest):]
