"""Encode a de-identified dataset: raw (unchanged) elements as their input bytes, the rest with pydicom.

After the header engine, most elements of an instance are still pydicom ``RawDataElement``\\ s: kept as
read, or rewritten by Veil directly in raw form (UIDs, dummies, pseudonyms). Their value bytes are
already encoded for the output, which keeps the input's transfer syntax. pydicom's ``write_dataset``
would write them raw too, but pays for a buffer, several property look-ups and a length fix-up per
element; on header-heavy corpora that is a fifth of the run. Here a raw element is one ``struct.pack``
and one write, and everything else (decoded or new elements, big-endian datasets, a changed
character set, values too long for a 16-bit length) goes through pydicom's own writer unchanged. The
byte stream is the same as pydicom's (PS3.5 7.1.2/7.1.3 explicit and implicit VR little endian, 7.5
sequences), which the tests check.
"""

from __future__ import annotations

import struct

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO, DicomIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.tag import BaseTag

#: Explicit VRs with a reserved field and a 32-bit length (PS3.5 Table 7.1-1).
_LONG = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_HEAD_LONG = struct.Struct("<HH2sHL")
_HEAD_SHORT = struct.Struct("<HH2sH")
_ITEM = struct.Struct("<HHL")
_UNDEFINED = 0xFFFFFFFF


def element_header(tag: int, vr: str | None, length: int) -> bytes | None:
    """Tag, VR and length of one element, little endian: explicit VR (PS3.5 7.1.2) or, when `vr` is None,
    implicit VR (7.1.3). None when a value is too long for the 16-bit length of its VR."""
    if vr is None:
        return _ITEM.pack(tag >> 16, tag & 0xFFFF, length)
    if vr in _LONG:
        return _HEAD_LONG.pack(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, length)
    if length > 0xFFFF:
        return None
    return _HEAD_SHORT.pack(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), length)


def _fast(fp: DicomIO, ds: Dataset) -> bool:
    """Whether `ds` can take the raw path: little endian, the same VR encoding in and out, same character
    set; or a dataset Veil built itself (no original encoding) holding only decoded, unambiguous elements,
    which pydicom's writer would encode element by element exactly as here."""
    if not fp.is_little_endian:
        return False
    encoding = ds.original_encoding
    if encoding == (None, None):
        return all(type(e) is DataElement and e.VR is not None and len(e.VR) == 2 for e in ds._dict.values())
    return encoding == (fp.is_implicit_VR, True) and ds.original_character_set == ds._character_set


def encode_dataset(fp: DicomIO, ds: Dataset, parent_encoding: str | list[str] = "iso8859") -> None:
    """Write `ds` to `fp` as pydicom's ``write_dataset`` would, raw elements copied as they are."""
    if not _fast(fp, ds):
        write_dataset(fp, ds, parent_encoding)
        return
    implicit = fp.is_implicit_VR
    encoding = ds.get("SpecificCharacterSet", parent_encoding)
    elems = ds._dict
    write = fp.write
    for tag in sorted(elems):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:  # retired group lengths are not written (PS3.5 7.2)
            continue
        elem = elems[tag]
        if type(elem) is RawDataElement and elem.value is None:  # deferred or empty: pydicom converts it
            if elem.length == 0 and implicit:
                # empty, in implicit VR: no VR is written (pydicom would resolve an ambiguous one from other
                # attributes, and an empty LUT Data without its LUT Descriptor raised: "internal" quarantine)
                write(_ITEM.pack(tag >> 16, tag & 0xFFFF, 0))
                continue
            elem = ds.get_item(tag)
        if type(elem) is RawDataElement:
            vr = elem.VR
            value = elem.value or b""
            if elem.length != _UNDEFINED and not elem.is_buffered and vr != "SQ" and (implicit or vr is not None):
                head = element_header(tag, None if implicit else vr, len(value))
                if head is not None:
                    write(head)
                    write(value)
                    continue
            write_data_element(fp, elem, encoding)
            continue
        if isinstance(elem, DataElement) and elem.VR == "SQ" and not elem.is_buffered:
            _encode_sequence(fp, int(tag), elem.value, elem.is_undefined_length, encoding)
            continue
        write_data_element(fp, elem, encoding)


def _encode_sequence(fp: DicomIO, tag: int, items: list[Dataset], undefined: bool, encoding: str | list[str]) -> None:
    """SQ element and its items, with pydicom's choice of lengths (defined unless read as undefined)."""
    implicit = fp.is_implicit_VR
    body = DicomBytesIO()
    body.is_little_endian = True
    body.is_implicit_VR = implicit
    for item in items:
        inner = DicomBytesIO()
        inner.is_little_endian = True
        inner.is_implicit_VR = implicit
        encode_dataset(inner, item, encoding)
        data = inner.getvalue()
        if getattr(item, "is_undefined_length_sequence_item", False):
            body.write(_ITEM.pack(0xFFFE, 0xE000, _UNDEFINED) + data + _ITEM.pack(0xFFFE, 0xE00D, 0))
        else:
            body.write(_ITEM.pack(0xFFFE, 0xE000, len(data)) + data)
    value = body.getvalue()
    fp.write(element_header(tag, None if implicit else "SQ", _UNDEFINED if undefined else len(value)) or b"")
    fp.write(value)
    if undefined:
        fp.write(_ITEM.pack(0xFFFE, 0xE0DD, 0))


_REQUIRED_META = (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012)


def encode_file_meta(fp: DicomIO, meta: FileMetaDataset) -> None:
    """File Meta Information (PS3.10 7.1): group length first, then the elements, explicit VR LE.

    Veil has just set every Type 1 element (see ``header.engine._fix_meta``); anything unusual (a
    missing element, a meta group read with another encoding) goes to pydicom's checked writer.
    """
    if 0x00020001 not in meta:
        meta.FileMetaInformationVersion = b"\x00\x01"
    body = DicomBytesIO()
    body.is_little_endian = True
    body.is_implicit_VR = False
    if any(t not in meta for t in _REQUIRED_META) or not _fast(body, meta):
        write_file_meta_info(fp, meta, enforce_standard=True)
        return
    length = meta._dict.pop(BaseTag(0x00020000), None)
    try:
        encode_dataset(body, meta)
    finally:
        if length is not None:
            meta._dict[length.tag] = length
    value = body.getvalue()
    fp.write(_HEAD_SHORT.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<L", len(value)) + value)
