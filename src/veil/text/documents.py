"""Encapsulated documents (PDF, CDA, text) inside DICOM: extract their text so it can be checked.

An Encapsulated PDF or CDA instance (EncapsulatedDocument, 0042,0011) is usually a scanned request or
a report, full of names, dates and numbers; PS3.15 Table E.1-1 gives it action D, i.e. the document
must be replaced, and a dummy "document" is useless for research. Veil therefore quarantines such an
instance by default, with a reason, and a policy may choose ``encapsulated_documents: keep_if_clean``:
then the document's text is extracted here and kept only when cleaning would change nothing
(:func:`veil.text.clean.detect` finds no span), i.e. the same standard as Clean Structured Content
(PS3.15 E.3.5) - the document itself is never rewritten.

Extraction is deliberately small and fails closed: a PDF is read without any PDF library (uncompressed
or Flate streams; text-showing operators Tj/TJ/'/"; document information and XMP metadata). Anything
it cannot read with certainty - encrypted files, fonts with custom encodings (hex glyph strings),
embedded images, other filters - makes extraction fail, and the instance is quarantined.
"""

from __future__ import annotations

import re
import zlib
from xml.etree import ElementTree

from veil.errors import InputError


class ExtractionError(InputError):
    """The document's text cannot be extracted with certainty (so it cannot be checked)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"encapsulated document: {reason}", "encapsulated-document:unreadable")


def extract_text(data: bytes, mime: str) -> str:
    """All text of an encapsulated document, for checking. Raises :class:`ExtractionError`."""
    mime = (mime or "").strip().lower()
    data = data.rstrip(b"\x00")  # DICOM pads OB values to even length
    if mime == "application/pdf" or data.startswith(b"%PDF"):
        return pdf_text(data)
    if mime in ("text/xml", "application/xml", "application/hl7-cda+xml") or data.lstrip().startswith(b"<"):
        return xml_text(data)
    if mime.startswith("text/"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractionError("text is not UTF-8") from exc
    raise ExtractionError(f"no text extraction for MIME type {mime or '(none)'}")


# ------------------------------------------------------------------------------------------------ XML

def xml_text(data: bytes) -> str:
    """Text and attribute values of an XML document (HL7 CDA keeps identifiers in attributes)."""
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise ExtractionError("XML with a DTD or entities is refused")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ExtractionError(f"XML does not parse: {exc}") from exc
    parts: list[str] = []
    for el in root.iter():
        parts += [str(v) for v in el.attrib.values()]
        if el.text and el.text.strip():
            parts.append(el.text.strip())
        if el.tail and el.tail.strip():
            parts.append(el.tail.strip())
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------ PDF

_STREAM = re.compile(rb"<<(?P<dict>(?:[^<>]|<<(?:[^<>]|<<[^<>]*>>)*>>|<[0-9A-Fa-f\s]*>)*)>>\s*stream\r?\n", re.S)
_LITERAL = re.compile(rb"\((?P<s>(?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*)\)", re.S)
_INFO_KEYS = re.compile(rb"/(?:Title|Author|Subject|Keywords|Creator|Producer)\s*"
                        rb"(\((?:\\.|[^\\()])*\)|<[0-9A-Fa-f\s]*>)")
_ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


def _unescape(raw: bytes) -> str:
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"\\" and i + 1 < len(raw):
            nxt = raw[i + 1:i + 2]
            if nxt in _ESC:
                out += _ESC[nxt]
                i += 2
                continue
            m = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4])
            if m:
                out.append(int(m.group(), 8) & 0xFF)
                i += 1 + len(m.group())
                continue
            if nxt in (b"\n", b"\r"):
                i += 2
                continue
            i += 1
            continue
        out += c
        i += 1
    if out.startswith(b"\xfe\xff"):
        return out[2:].decode("utf-16-be", "replace")
    return out.decode("latin-1")


def pdf_text(data: bytes) -> str:
    """Text shown by the PDF's content streams, plus its metadata. Fails closed on what it cannot read."""
    if not data.startswith(b"%PDF"):
        raise ExtractionError("not a PDF")
    if re.search(rb"/Encrypt\b", data):
        raise ExtractionError("encrypted PDF")
    if re.search(rb"/Subtype\s*/Image\b", data) or re.search(rb"\bBI\b[\s\S]{0,200}?\bID\b", data):
        raise ExtractionError("PDF contains images (text in pixels cannot be checked)")
    if re.search(rb"/(?:ObjStm|XFA|EmbeddedFile|JavaScript)\b", data):
        raise ExtractionError("PDF uses object streams, forms, attachments or scripts")
    parts: list[str] = []
    for m in _INFO_KEYS.finditer(data):
        v = m.group(1)
        parts.append(_unescape(v[1:-1]) if v.startswith(b"(") else _hex(v))
    xmp = re.search(rb"<x:xmpmeta[\s\S]*?</x:xmpmeta>", data)
    if xmp:
        parts.append(re.sub(r"<[^>]+>", " ", xmp.group().decode("utf-8", "replace")))
    found_text_stream = False
    for m in _STREAM.finditer(data):
        header = m.group("dict")
        start = m.end()
        end = data.find(b"endstream", start)
        if end < 0:
            raise ExtractionError("truncated stream")
        body = data[start:end]
        if re.search(rb"/Type\s*/(?:XRef|Metadata)", header) or re.search(rb"/Subtype\s*/XML", header):
            continue  # XMP was read above; cross-reference streams hold no text
        filters = re.findall(rb"/(\w+Decode)", header)
        if filters and filters != [b"FlateDecode"]:
            raise ExtractionError(f"stream filter {b','.join(filters).decode()} is not supported")
        if filters:
            try:
                body = zlib.decompress(body)
            except zlib.error as exc:
                raise ExtractionError("corrupt Flate stream") from exc
        if re.search(rb"/(?:Length1|Length2|Length3|Subtype\s*/(?:Type1C|CIDFontType0C|OpenType))", header):
            continue  # an embedded font program, not page content
        if b"BT" not in body:
            continue
        found_text_stream = True
        parts.append(_content_text(body))
    if not found_text_stream and not parts:
        raise ExtractionError("no text found (scanned or unsupported PDF)")
    return "\n".join(p for p in parts if p)


def _hex(v: bytes) -> str:
    digits = re.sub(rb"\s", b"", v[1:-1])
    if len(digits) % 2:
        digits += b"0"
    raw = bytes.fromhex(digits.decode())
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", "replace")
    return raw.decode("latin-1")


_SHOW = re.compile(rb"\[((?:\\.|[^\]\\])*)\]\s*TJ"
                   rb"|(\((?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*\))\s*(?:Tj|'|\")"
                   rb"|(T\*|Td|TD|Tm|')")


def _content_text(body: bytes) -> str:
    """Strings shown between BT and ET; hex strings (glyph IDs of CID fonts) cannot be trusted."""
    out: list[str] = []
    for block in re.findall(rb"\bBT\b([\s\S]*?)\bET\b", body):
        if re.search(rb"<[0-9A-Fa-f\s]+>\s*(?:Tj|')|\[[^\]]*<[0-9A-Fa-f\s]+>[^\]]*\]\s*TJ", block):
            raise ExtractionError("PDF text is written as glyph codes (custom font encoding)")
        line: list[str] = []
        for tok in _SHOW.finditer(block):
            if tok.group(1) is not None:
                line.append("".join(_unescape(s.group("s")) for s in _LITERAL.finditer(tok.group(1))))
            elif tok.group(2) is not None:
                line.append(_unescape(tok.group(2)[1:-1]))
            else:
                line.append("\n")
        out.append(" ".join("".join(line).split(" ")))
    return "\n".join(out)
