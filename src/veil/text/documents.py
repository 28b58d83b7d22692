"""Encapsulated documents (PDF, CDA, text) inside DICOM: extract their text so it can be checked.

An Encapsulated PDF or CDA instance (EncapsulatedDocument, 0042,0011) is usually a scanned request or
a report, full of names, dates and numbers; PS3.15 Table E.1-1 gives it action D, i.e. the document
must be replaced, and a dummy "document" is useless for research. Veil therefore quarantines such an
instance by default, with a reason, and a policy may choose ``encapsulated_documents: keep_if_clean``:
then the document's text is extracted here and kept only when cleaning would change nothing
(:func:`veil.text.clean.detect` finds no span), i.e. the same standard as Clean Structured Content
(PS3.15 E.3.5) - the document itself is never rewritten.

Extraction is deliberately small and fails closed: a PDF is read without any PDF library (uncompressed
or Flate streams; every object parsed; the text shown by pages, forms and annotation appearances, laid
out as a viewer places it; every string of every object - document information with any key,
annotations, form fields; XMP metadata). Anything it cannot read with certainty - encrypted files, fonts
whose codes are not their glyphs (/Differences, /ToUnicode, Type 3, composite, embedded with a built-in
encoding), hex glyph strings, embedded images, other filters, a stream or object the parser did not
read itself - makes extraction fail, and the instance is quarantined.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import html
import itertools
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from veil.errors import InputError, listed, scrub


class ExtractionError(InputError):
    """The document's text cannot be extracted with certainty (so it cannot be checked)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"encapsulated document: {reason}", "encapsulated-document:unreadable")


#: MIME types a reason names as written (PS3.3 C.24.2 encapsulated documents, and what mimetypes knows);
#: any other value is the file's content and is not repeated (red team: "application/Quixandor-MRN98765431").
_DICOM_MIME = frozenset({"application/pdf", "text/xml", "application/xml", "application/hl7-cda+xml", "text/plain",
                         "model/stl", "model/obj", "model/mtl", "model/x.stl-binary", "application/sla",
                         "text/html", "text/rtf", "application/octet-stream"})


def mime_label(mime: str | None) -> str:
    """A MIME type as a reason may name it: a known type as written, else a phrase (see _DICOM_MIME)."""
    import mimetypes

    text = (mime or "").strip()
    if not text:
        return "(none)"
    known = _DICOM_MIME | set(mimetypes.types_map.values()) | set(mimetypes.common_types.values())
    return listed(text.lower(), known, "MIME type")


def extract_text(data: bytes, mime: str, depth: int = 0) -> str:
    """All text of an encapsulated document, for checking. Raises :class:`ExtractionError`."""
    mime = (mime or "").strip().lower()
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 ends in a NUL of its own (red team E)
        data = data.rstrip(b"\x00")  # DICOM pads OB values to even length
    if mime == "application/pdf" or data.startswith(b"%PDF"):
        return pdf_all_text(data)
    if mime in ("text/xml", "application/xml", "application/hl7-cda+xml") or data.lstrip().startswith(b"<"):
        return xml_text(data, depth)
    if mime.startswith("text/"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractionError("text is not UTF-8") from exc
    raise ExtractionError(f"no text extraction for MIME type {mime_label(mime)}")


# ------------------------------------------------------------------------------------------------ XML

def xml_text(data: bytes, depth: int = 0) -> str:
    """Every piece of text of an XML document, in document order, one or more lines each: attribute
    values (HL7 CDA keeps identifiers in attributes), character data and CDATA sections, comments,
    processing instructions, element and attribute names, and namespace names but the well-known ones
    (:data:`_KNOWN_NAMESPACES`). Content embedded as base64 (an HL7 ED value with representation="B64": a
    CDA's nonXMLBody PDF) is decoded and its own text read; what cannot be (compressed, an unknown media
    type, too deep) is refused.

    Why expat's events and not a tree: ElementTree drops comments and processing instructions, so a CDA
    with the patient's name, MRN and birth date in ``<!-- -->`` or ``<?xml-stylesheet?>`` was judged
    clean on its visible text and kept byte for byte. Every event expat reports is read; markup no
    handler takes reaches the default handler and is read as text too, so nothing is skipped silently.

    Names (elements, attributes, processing-instruction targets) are schema vocabulary written in
    camelCase ("legalAuthenticator", "dataEnterer"), which the name detector takes for people; they are
    read as lower-case words ("legal authenticator"), where the patient's own identifiers are still
    found (they are matched without regard to case) but vocabulary is not a name.

    A document type declaration is refused wherever it is and whatever the encoding (UTF-16 too): its
    entities would be expanded into the text (a "billion laughs" bomb, or text that exists only once
    expanded) and its defaults would add attributes; nothing of it is expanded - expat stops at the
    declaration's start, before any entity is read.
    """
    from xml.parsers import expat

    parser = expat.ParserCreate()  # no namespace processing: names keep their prefixes, xmlns is an attribute
    parser.buffer_text = True
    parts: list[str] = []
    #: per open element: whether it holds base64 (HL7 ED representation B64), its attributes, its text
    stack: list[tuple[bool, dict[str, str], list[str]]] = []
    loose: list[str] = []  # character data between tags, flushed at each tag

    def flush() -> None:
        if loose:
            parts.append("".join(loose).strip())
            loose.clear()

    def refuse(*_: object) -> Any:
        raise ExtractionError("XML with a DTD or entities is refused")

    def start(name: str, attrs: dict[str, str]) -> None:
        flush()
        parts.append(_xml_name(name))
        for k, v in attrs.items():
            parts.append(_xml_name(k))
            if not ((k == "xmlns" or k.startswith("xmlns:")) and v in _KNOWN_NAMESPACES):
                parts.append(v)
        stack.append((str(attrs.get("representation", "")).upper() == "B64", attrs, []))

    def end(_name: str) -> None:
        b64, attrs, text = stack.pop()
        if b64:
            parts.append(_embedded_text(attrs, "".join(text), depth))
        else:
            flush()

    def chars(text: str) -> None:
        if stack and stack[-1][0]:
            stack[-1][2].append(text)
        else:
            loose.append(text)

    def comment(text: str) -> None:
        flush()
        parts.append(text)

    def pi(target: str, text: str) -> None:
        flush()
        parts.extend((_xml_name(target), text))

    def other(text: str) -> None:  # markup no handler above took (expat calls this for nothing we expect)
        flush()
        parts.append(text)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.NotationDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SkippedEntityHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.CommentHandler = comment
    parser.ProcessingInstructionHandler = pi
    parser.DefaultHandler = other
    parser.XmlDeclHandler = lambda *_: None  # version, encoding, standalone: no text of the document
    parser.StartCdataSectionHandler = parser.EndCdataSectionHandler = lambda: None  # its text: chars()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ExtractionError(f"XML does not parse: {scrub(str(exc))}") from exc
    flush()
    return "\n".join(p for p in (x.strip() for x in parts) if p)


#: Namespace names every CDA declares (HL7 CDA R2, its SDTC extensions, XML Schema instance, XHTML): not
#: read as text (http://www.w3.org/... is a URL to the pattern detector, and every CDA would be refused).
#: Any other namespace name is read like any other value.
_KNOWN_NAMESPACES = frozenset({"urn:hl7-org:v3", "urn:hl7-org:sdtc", "http://www.w3.org/2001/XMLSchema-instance",
                               "http://www.w3.org/1999/xhtml", "http://www.w3.org/XML/1998/namespace"})


def _xml_name(name: str) -> str:
    """An XML name as lower-case words: "sdtc:deceasedInd" -> "sdtc deceased ind" (see :func:`xml_text`)."""
    return " ".join(re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace(":", " ").split()).lower()


def _embedded_text(attrs: dict[str, str], text: str, depth: int) -> str:
    """The text of an ED value encoded in base64 (HL7 V3 data types: representation B64, mediaType)."""
    if depth >= 2:
        raise ExtractionError("documents embedded in embedded documents are refused")
    if attrs.get("compression"):
        method = listed(attrs["compression"], _HL7_COMPRESSION, "method")
        raise ExtractionError(f"compressed embedded content ({method}) is refused")
    try:
        payload = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExtractionError(f"embedded base64 content does not decode: {scrub(str(exc))}") from exc
    media = str(attrs.get("mediaType", "") or "")
    if not media and not payload.startswith((b"%PDF", b"<")):
        raise ExtractionError("embedded content without a media type")
    return extract_text(payload, media, depth + 1)


# ------------------------------------------------------------------------------------------------ PDF
#
# A small PDF reader (ISO 32000-1), no PDF library: every indirect object is parsed (not searched for with
# a pattern), every stream is decoded, and the text a viewer shows is collected from four places - the
# content streams of the pages (a page's /Contents array is one stream, 7.8.2), form XObjects and
# annotation appearances, every string of every object (document information with any key, annotations,
# form fields, outlines ...) and XMP metadata. What cannot be decoded with certainty is refused: fonts
# whose codes do not map to the standard encodings (/Differences, /ToUnicode, Type 3, composite fonts,
# embedded fonts with a built-in encoding), glyph-code (hex) strings, images, filters other than Flate,
# and any `obj` or `stream` keyword of the file the parser did not read itself.

_WS = rb"\x00\t\n\x0c\r "
_REG = rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]"  # a regular character (7.2.2)
_TOKEN = re.compile(  # white space and comments, then one token
    rb"(?:[" + _WS + rb"]+|%[^\r\n]*)*"
    rb"(?:(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?!" + _REG + rb")"
    rb"|(?P<name>/" + _REG + rb"*)"
    rb"|(?P<dict><<|>>)"
    rb"|(?P<hex><[^<>]*>)"
    rb"|(?P<lit>\()"
    rb"|(?P<punct>[\[\]{}])"
    rb"|(?P<kw>" + _REG + rb"+)"
    rb"|(?P<bad>[\s\S])"
    rb"|(?P<end>\Z))"
)
#: A comment (7.2.4) as the tokenizer skips it; the header, binary marker and end-of-file comments are no text.
_COMMENT = re.compile(rb"%[^\r\n]*")
_MARKER = re.compile(rb"%PDF-[\d.]+\s*|%[\x80-\xff]{4,}\s*|%%EOF\s*")
_PAREN = re.compile(rb"[()\\]")
_ESCAPE = re.compile(rb"\\(?:([nrtbf()\\])|([0-7]{1,3})|(\r\n|\r|\n)|([\s\S]))")
_ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}
# every `N G obj` and `stream` of the file; each must be one the parser read (nothing hides from it)
_OBJ = re.compile(rb"(?<![0-9A-Za-z.])(\d+)[" + _WS + rb"]+(\d+)[" + _WS + rb"]+obj")
_STREAM_WORD = re.compile(rb"(?<![A-Za-z])stream")
_TRAILER = re.compile(rb"(?<![A-Za-z])trailer")
#: A cross-reference table (7.5.4) and the "startxref" line (7.5.5), as written between objects.
_XREF_SECTION = re.compile(rb"(?<![A-Za-z])xref[" + _WS + rb"]+(?:\d+[" + _WS + rb"]+\d+[" + _WS + rb"]+"
                           rb"(?:\d{10}[" + _WS + rb"]+\d{5}[" + _WS + rb"]+[fn][" + _WS + rb"]*)*)*"
                           rb"|(?<![A-Za-z])startxref[" + _WS + rb"]+\d+")
_STREAM_EOL = re.compile(rb"[ \t]*(?:\r\n|\n|\r)")
_MAX_INFLATE = 64 << 20  # bytes per stream: a Flate bomb is refused, not expanded
_TJ_SPACE = -200  # a TJ adjustment of at least 0.2 em is a word space
_STD_ENCODINGS = frozenset({"WinAnsiEncoding", "MacRomanEncoding", "StandardEncoding"})
_SIMPLE_FONTS = frozenset({"Type1", "MMType1", "TrueType"})
_FONT_SUBTYPES = _SIMPLE_FONTS | {"Type0", "Type3", "CIDFontType0", "CIDFontType2"}
#: Names a reason repeats (PDF 32000-1 7.4, 9.6.6; HL7 V3 CompressionAlgorithm); others are the file's.
_PDF_FILTERS = frozenset({"ASCIIHexDecode", "ASCII85Decode", "LZWDecode", "FlateDecode", "RunLengthDecode",
                          "CCITTFaxDecode", "JBIG2Decode", "DCTDecode", "JPXDecode", "Crypt"})
_KNOWN_ENCODINGS = _STD_ENCODINGS | {"PDFDocEncoding", "MacExpertEncoding", "Identity-H", "Identity-V"}
_HL7_COMPRESSION = frozenset({"DF", "GZ", "ZL", "Z", "BZ", "Z7"})
_UNSUPPORTED_CONTENT = "PDF uses object streams, forms, attachments or scripts"
_ATTACHMENTS = frozenset({"FileAttachment", "RichMedia", "3D", "Movie", "Sound", "Screen"})
_SCRIPT_KEYS = frozenset({"JS", "JavaScript", "XFA", "EF", "EmbeddedFiles", "RichMediaContent"})
_NOT_SHOWN = frozenset({"ID", "CharSet"})  # file identifiers and font glyph lists: never displayed
_IMAGES = "PDF contains images (text in pixels cannot be checked)"
# letters StandardEncoding and PDFDocEncoding place where Latin-1 has other characters
_STANDARD_HIGH = {0xE1: "Æ", 0xE8: "Ł", 0xE9: "Ø", 0xEA: "Œ", 0xF1: "æ", 0xF5: "ı", 0xF8: "ł", 0xF9: "ø",
                  0xFA: "œ", 0xFB: "ß"}
_PDFDOC = str.maketrans({0x95: "Ł", 0x96: "Œ", 0x97: "Š", 0x98: "Ÿ", 0x99: "Ž", 0x9A: "ı", 0x9B: "ł",
                         0x9C: "œ", 0x9D: "š", 0x9E: "ž"})
_Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: _Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


class _Name(str):
    """A PDF name, #xx escapes decoded."""


class _Hex(bytes):
    """A PDF hexadecimal string."""


class _Op(str):
    """A bare keyword: an operator in a content stream."""


@dataclass(frozen=True)
class _Ref:
    num: int
    gen: int


@dataclass(eq=False)
class _Stream:
    attrs: dict[str, Any]
    raw: bytes  # the data between `stream` EOL and `endstream`


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: Any
    start: int


class _Lexer:
    """Tokens of PDF syntax (7.2-7.3) from data[pos:end]; records where string tokens are."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.strings: list[tuple[int, int]] = []

    def next(self) -> _Tok | None:
        data = self.data
        m = _TOKEN.match(data, self.pos)
        kind = m.lastgroup if m is not None else None
        if m is None or kind is None or kind == "end":
            self.pos = len(data)
            return None
        start = m.start(kind)
        if kind == "lit":
            end, raw = _literal_span(data, start)
            self.pos = end
            self.strings.append((start, end))
            return _Tok("str", _literal_bytes(raw), start)
        self.pos = m.end()
        text = m.group(kind)
        if kind == "num":
            return _Tok(kind, float(text) if b"." in text else int(text), start)
        if kind == "name":
            name = re.sub(rb"#([0-9A-Fa-f]{2})", lambda h: bytes([int(h.group(1), 16)]), text[1:])
            return _Tok(kind, _Name(name.decode("latin-1")), start)
        if kind == "hex":
            self.strings.append((start, self.pos))
            return _Tok(kind, _hex_bytes(text), start)
        if kind in ("dict", "punct"):
            return _Tok(text.decode(), text.decode(), start)
        return _Tok(kind, text.decode("latin-1"), start)


def _literal_span(data: bytes, start: int) -> tuple[int, bytes]:
    """End offset and raw inner bytes of the literal string opening at data[start] (balanced parentheses)."""
    depth, i = 1, start + 1
    while True:
        m = _PAREN.search(data, i)
        if m is None:
            raise ExtractionError("PDF string is not terminated")
        if m.group() == b"\\":
            i = m.end() + 1
            continue
        depth += 1 if m.group() == b"(" else -1
        i = m.end()
        if depth == 0:
            return i, data[start + 1:i - 1]


def _literal_bytes(raw: bytes) -> bytes:
    def one(m: re.Match[bytes]) -> bytes:
        if m.group(1):
            return _ESC[m.group(1)]
        if m.group(2):
            return bytes([int(m.group(2), 8) & 0xFF])
        if m.group(3):
            return b""  # a line continuation
        return m.group(4)  # an unknown escape: the backslash is ignored

    return _ESCAPE.sub(one, raw) if b"\\" in raw else raw


def _hex_bytes(token: bytes) -> _Hex:
    digits = re.sub(rb"[" + _WS + rb"]", b"", token[1:-1])
    if not re.fullmatch(rb"[0-9A-Fa-f]*", digits):
        raise ExtractionError("malformed PDF hex string")
    if len(digits) % 2:
        digits += b"0"
    return _Hex(bytes.fromhex(digits.decode()))


def _parse(lx: _Lexer, tok: _Tok, refs: bool = True) -> Any:
    """The object that starts with `tok` (arrays and dictionaries read to their end)."""
    kind, value = tok.kind, tok.value
    if kind == "[":
        items: list[Any] = []
        while (t := lx.next()) is not None and t.kind != "]":
            items.append(_parse(lx, t, refs))
        if t is None:
            raise ExtractionError("PDF array is not terminated")
        return items
    if kind == "<<":
        d: dict[str, Any] = {}
        while (t := lx.next()) is not None and t.kind != ">>":
            if t.kind != "name":
                raise ExtractionError("PDF dictionary key is not a name")
            v = lx.next()
            if v is None or v.kind == ">>":
                raise ExtractionError("PDF dictionary entry has no value")
            d[t.value] = _parse(lx, v, refs)
        if t is None:
            raise ExtractionError("PDF dictionary is not terminated")
        return d
    if kind == "num":
        if refs and isinstance(value, int):
            back = lx.pos
            gen, r = lx.next(), lx.next()
            if gen is not None and gen.kind == "num" and isinstance(gen.value, int) and r is not None \
                    and r.kind == "kw" and r.value == "R":
                return _Ref(value, gen.value)
            lx.pos = back
        return value
    if kind == "kw":
        return {"true": True, "false": False, "null": None}.get(value, _Op(value))
    if kind in ("str", "hex", "name"):
        return value
    raise ExtractionError(f"unexpected {value!r} in PDF syntax")


def _inflate(body: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(body, _MAX_INFLATE)
    except zlib.error as exc:
        raise ExtractionError("corrupt Flate stream") from exc
    if d.unconsumed_tail:
        raise ExtractionError("Flate stream too large")
    if not d.eof:
        raise ExtractionError("truncated Flate stream")
    return out


class _Pdf:
    """The objects of one PDF file, and the text a viewer would show from them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.objects: dict[int, Any] = {}  # number -> latest definition
        self.every: list[Any] = []  # every definition (an incremental update leaves the old ones readable)
        self.trailers: list[dict[str, Any]] = []
        self.streams: list[_Stream] = []
        self._decoded: dict[int, bytes] = {}
        self._structure: list[tuple[int, int]] = []  # objects and trailers: what is not between them
        headers: set[int] = set()
        keywords: set[int] = set()
        data_spans: list[tuple[int, int]] = []  # strings and stream data: a `stream` word there is data
        pos = 0
        while True:
            m = _OBJ.search(data, pos)
            self._read_trailers(pos, m.start() if m else len(data), data_spans)
            if m is None:
                break
            headers.add(m.start())
            lx = _Lexer(data, m.end())
            tok = lx.next()
            if tok is None:
                raise ExtractionError("PDF object is truncated")
            value = _parse(lx, tok)
            after = lx.pos
            nxt = lx.next()
            if nxt is not None and nxt.kind == "kw" and nxt.value == "stream":
                if not isinstance(value, dict):
                    raise ExtractionError("PDF stream without a dictionary")
                keywords.add(nxt.start)
                value, start, end = self._read_stream(value, lx.pos)
                data_spans.append((start, end))
                after = lx.pos = end + len(b"endstream")
                nxt = lx.next()
            if nxt is not None and nxt.kind == "kw" and nxt.value == "endobj":
                after = lx.pos
            data_spans += lx.strings
            self.objects[int(m.group(1))] = value
            self.every.append(value)
            self._structure.append((m.start(), after))
            pos = after
        if {m.start() for m in _OBJ.finditer(data)} != headers:
            raise ExtractionError("PDF object the reader could not parse (inside another object)")
        inside = _Spans(data_spans)
        if any(m.start() not in keywords and not inside(m.start()) for m in _STREAM_WORD.finditer(data)):
            raise ExtractionError("PDF stream the reader could not parse")
        self._inside = inside

    def hidden_text(self) -> list[str]:
        """Text a viewer does not show but the file holds: comments outside strings and streams (7.2.4), but
        the header, the binary marker and "%%EOF", and whatever lies outside every object, trailer and
        cross-reference table (after "%%EOF", before a second one, between objects). Read for checking
        like the shown text: a comment "% Next of kin: ... tel 555-901-2277, SSN ..." and a guarantor's
        address after "%%EOF" were kept, as only the patient's own values were looked for there (red team 3)."""
        data = self.data
        comments = [m for m in _COMMENT.finditer(data) if not self._inside(m.start())]
        out = [data[m.start() + 1:m.end()].decode("latin-1") for m in comments
               if m.start() > 0 and not _MARKER.fullmatch(data, m.start(), m.end())]
        # what lies between the objects and trailers, but cross-reference tables, "startxref" lines and the
        # comments: text there (after "%%EOF", before a second one, before "trailer") is no PDF (review)
        rest = bytearray(data)
        for a, b in [*self._structure, *(m.span() for m in comments),
                     *(m.span() for m in _XREF_SECTION.finditer(data))]:
            rest[a:b] = b" " * (b - a)
        gap = bytes(rest).split()
        if gap:
            out.append(b" ".join(gap).decode("latin-1"))
        return [t for t in out if t.strip()]

    def _read_trailers(self, start: int, end: int, spans: list[tuple[int, int]]) -> None:
        for m in _TRAILER.finditer(self.data, start, end):
            lx = _Lexer(self.data, m.end())
            tok = lx.next()
            if tok is not None and tok.kind == "<<":  # else the word in a comment: no trailer to a viewer
                self.trailers.append(_parse(lx, tok))
                self._structure.append((m.start(), lx.pos))
            spans += lx.strings

    def _read_stream(self, attrs: dict[str, Any], pos: int) -> tuple[_Stream, int, int]:
        eol = _STREAM_EOL.match(self.data, pos)
        if eol is None:
            raise ExtractionError("PDF stream keyword without end of line")
        start = eol.end()
        end = self.data.find(b"endstream", start)
        if end < 0:
            raise ExtractionError("truncated stream")
        stream = _Stream(attrs, self.data[start:end])
        self.streams.append(stream)
        return stream, start, end

    def _check_length(self, s: _Stream) -> None:
        """A viewer reads /Length bytes: they must be the bytes read here (up to the first `endstream`)."""
        length = self.resolve(s.attrs.get("Length"))
        if not isinstance(length, int) or isinstance(length, bool):
            return
        raw = s.raw
        stripped = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith((b"\n", b"\r")) else raw
        if length not in (len(raw), len(stripped)):
            raise ExtractionError("PDF stream /Length does not match its data")

    def resolve(self, value: Any) -> Any:
        for _ in range(32):
            if not isinstance(value, _Ref):
                return value
            value = self.objects.get(value.num)
        raise ExtractionError("PDF reference loop")

    def decode(self, s: _Stream) -> bytes:
        if id(s) in self._decoded:
            return self._decoded[id(s)]
        filters = self.resolve(s.attrs.get("Filter"))
        filters = [self.resolve(f) for f in (filters if isinstance(filters, list) else [filters])
                   if f is not None]
        if any(f != "FlateDecode" for f in filters):
            named = ",".join(listed(f, _PDF_FILTERS, "filter") for f in filters)
            raise ExtractionError(f"stream filter {named} is not supported")
        parms = self.resolve(s.attrs.get("DecodeParms"))
        for p in parms if isinstance(parms, list) else [parms]:
            p = self.resolve(p)
            if isinstance(p, dict) and self.resolve(p.get("Predictor", 1)) not in (1, None):
                raise ExtractionError("stream filter FlateDecode with a predictor is not supported")
        body = s.raw
        for _ in filters:
            body = _inflate(body)
        self._decoded[id(s)] = body
        return body

    # -------------------------------------------------------------------------------------------- text

    def text(self) -> str:
        lines: list[str] = []
        renderable: set[int] = set()  # streams a viewer draws: form XObjects, appearances, patterns
        opaque: set[int] = set()  # font programs and colour profiles: no text
        self._scan(lines, renderable, opaque)
        shown = 0
        used: set[int] = set()
        for page in self._pages():
            bodies = []
            contents = self.resolve(page.get("Contents"))
            for item in contents if isinstance(contents, list) else [contents]:
                s = self.resolve(item)
                if s is None:
                    continue
                if not isinstance(s, _Stream):
                    raise ExtractionError("PDF page contents are not a stream")
                used.add(id(s))
                bodies.append(self.decode(s))
            if bodies:  # the streams of a page are one content stream (7.8.2): a text object may span them
                shown += _content_lines(b"\n".join(bodies), lines)
        for s in self.streams:
            if id(s) in used:
                continue
            a = s.attrs
            if id(s) in renderable or a.get("Subtype") == "Form" or a.get("PatternType") == 1:
                shown += _content_lines(self.decode(s), lines)
            elif a.get("Type") == "Metadata" or a.get("Subtype") == "XML":
                lines += _xml_lines(self.decode(s))
            elif id(s) in opaque or a.get("Type") in ("XRef", "CMap") or a.get("Subtype") in (
                    "Type1C", "CIDFontType0C", "OpenType") or {"Length1", "Length2", "Length3", "FunctionType",
                                                               "ShadingType", "HalftoneType"} & a.keys():
                continue
            else:  # drawn by nothing a viewer follows; read like content when it holds text operators
                body = self.decode(s)
                if re.search(rb"\b(?:BT|Tj|TJ)\b", body):
                    try:
                        shown += _content_lines(body, lines)
                    except ExtractionError:
                        if not _binary(body):  # binary data (a hint table ...) is not a content stream
                            raise
        for xmp in re.findall(rb"<x:xmpmeta[\s\S]*?</x:xmpmeta>", self.data):
            lines += _xml_lines(xmp)
        for s in self.streams:
            self._check_length(s)
        if not shown:
            raise ExtractionError("no text found (scanned or unsupported PDF)")
        return "\n".join(dict.fromkeys(line for line in lines if line.strip()))

    def _scan(self, lines: list[str], renderable: set[int], opaque: set[int]) -> None:
        """Refuse what cannot be read; collect every string (document information with any key,
        annotations, form fields, outlines ...) and which streams are drawn or opaque."""
        stack: list[Any] = [*self.every, *self.trailers]
        for t in [*self.trailers, *(s.attrs for s in self.streams if s.attrs.get("Type") == "XRef")]:
            info = self.resolve(t.get("Info"))
            if isinstance(info, dict):
                lines += [str(v) for v in info.values() if isinstance(v, _Name)]
        while stack:
            v = stack.pop()
            if isinstance(v, _Stream):
                v = v.attrs
            if isinstance(v, list):
                if len(v) == 2 and v[0] == "ICCBased":
                    opaque.add(id(self.resolve(v[1])))
                stack += v
            elif isinstance(v, bytes):
                lines += _text_string(v)
            elif isinstance(v, dict):
                self._check(v)
                for key in ("XObject", "Pattern", "AP"):
                    res = self.resolve(v.get(key))
                    for x in res.values() if isinstance(res, dict) else ():
                        x = self.resolve(x)
                        for y in x.values() if isinstance(x, dict) and key == "AP" else [x]:
                            if isinstance(self.resolve(y), _Stream):
                                renderable.add(id(self.resolve(y)))
                for key in ("FontFile", "FontFile2", "FontFile3"):
                    if key in v:
                        opaque.add(id(self.resolve(v[key])))
                signature = "ByteRange" in v
                stack += [x for k, x in v.items() if k not in _NOT_SHOWN and not (signature and k == "Contents")]

    def _check(self, d: dict[str, Any]) -> None:
        kind, sub = d.get("Type"), d.get("Subtype")
        if kind in ("ObjStm", "EmbeddedFile") or sub in _ATTACHMENTS or _SCRIPT_KEYS & d.keys():
            raise ExtractionError(_UNSUPPORTED_CONTENT)
        if "Encrypt" in d:
            raise ExtractionError("encrypted PDF")
        if sub in ("Image", "PS") or ({"Width", "Height"} <= d.keys()
                                      and {"BitsPerComponent", "ImageMask", "ColorSpace"} & d.keys()):
            raise ExtractionError(_IMAGES)
        if "Differences" in d:
            raise ExtractionError("font with a /Differences encoding (its glyphs are not its codes)")
        if "ToUnicode" in d:
            raise ExtractionError("font with a /ToUnicode map (its glyphs are not its codes)")
        if kind == "Font" or "BaseFont" in d or sub in _FONT_SUBTYPES:
            if sub not in _SIMPLE_FONTS:
                kind_name = listed(sub, _FONT_SUBTYPES, "subtype")
                raise ExtractionError(f"font type {kind_name} (its text cannot be decoded)")
            enc = self.resolve(d.get("Encoding"))
            if isinstance(enc, dict):
                enc = self.resolve(enc.get("BaseEncoding"))
            if enc is None:
                desc = self.resolve(d.get("FontDescriptor"))
                if isinstance(desc, dict) and {"FontFile", "FontFile2", "FontFile3"} & desc.keys():
                    raise ExtractionError("embedded font with its own encoding (its glyphs are not its codes)")
            elif enc not in _STD_ENCODINGS:
                raise ExtractionError(f"font encoding {listed(enc, _KNOWN_ENCODINGS, 'name')} is not supported")

    def _pages(self) -> list[dict[str, Any]]:
        """Every /Type /Page dictionary, and every leaf of the page tree (a viewer takes a /Kids entry
        without /Kids for a page even without /Type)."""
        pages = {id(v): v for v in self.every if isinstance(v, dict) and v.get("Type") == "Page"}
        roots = [self.resolve(t.get("Root")) for t in self.trailers]
        roots += [v for v in self.every if isinstance(v, dict) and v.get("Type") == "Catalog"]
        stack = [r.get("Pages") for r in roots if isinstance(r, dict)]
        seen: set[int] = set()
        while stack and len(seen) < 1_000_000:
            node = self.resolve(stack.pop())
            if not isinstance(node, dict) or id(node) in seen:
                continue
            seen.add(id(node))
            kids = self.resolve(node.get("Kids"))
            if isinstance(kids, list):
                stack += kids
            else:
                pages[id(node)] = node
        return list(pages.values())


_PRINTABLE = bytes(range(32, 127)) + b"\t\n\r\x0c"


def _binary(body: bytes) -> bool:
    head = body[:4096]
    return len(head.translate(None, _PRINTABLE)) > len(head) // 10


class _Spans:
    """Is an offset inside one of these [start, end) spans?"""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts = sorted(spans)

    def __call__(self, pos: int) -> bool:
        i = bisect.bisect_right(self.starts, (pos, float("inf"))) - 1
        return i >= 0 and self.starts[i][0] <= pos < self.starts[i][1]


# ------------------------------------------------------------------------------------------ PDF strings

def _text_string(raw: bytes) -> list[str]:
    """A PDF text string (7.9.2.2) as text, with the other readings of its bytes a viewer might choose."""
    if raw[:2] == b"\xfe\xff":
        out = [raw[2:].decode("utf-16-be", "replace")]
    elif raw[:2] == b"\xff\xfe":
        out = [raw[2:].decode("utf-16-le", "replace")]
    elif raw[:3] == b"\xef\xbb\xbf":
        out = [raw[3:].decode("utf-8", "replace")]
    else:
        out = [raw.decode("latin-1").translate(_PDFDOC)]
        if any(b > 0x7F for b in raw):
            with contextlib.suppress(UnicodeDecodeError):
                out.append(raw.decode("utf-8"))
    if any("<" in s and ">" in s for s in out):  # rich text (/RC, XHTML): its text without the markup
        out += [html.unescape(re.sub(r"<[^>]*>", " ", s)) for s in out]
    return out


def _xml_lines(body: bytes) -> list[str]:
    """Text of XML (XMP metadata), leniently: it need not parse. Attribute values, the text between
    tags and CDATA sections, and whole, every comment and every tag (processing instructions and
    declarations too): a comment or a ``<?...?>`` holds text a reader can see, and was dropped."""
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        text = body.decode("utf-16", "replace")
    else:
        text = body.decode("utf-8", "replace")
    text = re.sub(r"<!\[CDATA\[([\s\S]*?)\]\]>", lambda m: html.escape(m.group(1)), text)
    out = re.findall(r"<!--([\s\S]*?)(?:-->|$)", text)
    text = re.sub(r"<!--[\s\S]*?(?:-->|$)", " ", text)
    tags = re.findall(r"<([^>]*)>", text)
    out += [v for tag in tags for pair in re.findall(r"""=\s*(?:"([^"]*)"|'([^']*)')""", tag) for v in pair if v]
    out += tags
    out += re.split(r"<[^>]*>", text)
    return [line.strip() for s in out for line in html.unescape(s).splitlines() if line.strip()]


def _shown_text(raw: bytes) -> list[str]:
    """Bytes shown with a simple font in a standard encoding: WinAnsi, and Mac Roman / Standard readings
    of the non-ASCII bytes when there are any (which font showed them is not tracked)."""
    out = [raw.decode("cp1252", "replace")]
    if any(b > 0x7F for b in raw):
        out += [raw.decode("mac_roman"), "".join(_STANDARD_HIGH.get(b, chr(b)) for b in raw)]
    return out


# ----------------------------------------------------------------------------------- PDF content streams

@dataclass
class _Piece:
    """Text shown from one position: its baseline direction, position along and across it, em size."""

    direction: tuple[float, float]
    x: float
    y: float
    em: float
    text: bytearray


def _mul(m: _Matrix, n: _Matrix) -> _Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2)


def _content_lines(body: bytes, lines: list[str]) -> int:
    """Append the text a content stream shows to `lines`; return how many strings it shows.

    Text is laid out as a viewer places it: pieces on one baseline form a line, in x order, so text
    positioned glyph by glyph (Td/Tm/cm between glyphs, in any order) is read as one line. Each line is
    given spaced (a space wherever the text position moved) and, where single glyphs sit at most a glyph
    apart, joined (the moves were the glyphs' own advances), so a word written glyph by glyph is a word.
    """
    lx = _Lexer(body)
    operands: list[Any] = []
    ctm, tm, lm = _IDENTITY, _IDENTITY, _IDENTITY
    saved: list[_Matrix] = []
    size, leading = 12.0, 0.0  # a form XObject inherits the font size of its caller: assume a usual one
    pieces: list[_Piece] = []
    current: _Piece | None = None  # text shown since the last move continues this piece
    shown = 0
    while (tok := lx.next()) is not None:
        if tok.kind in ("[", "<<"):
            operands.append(_parse(lx, tok, refs=False))
            continue
        if tok.kind != "kw" or tok.value in ("true", "false", "null"):
            if tok.kind in ("num", "str", "hex", "name", "kw"):
                operands.append(tok.value)
            continue
        op = tok.value
        nums = [float(v) for v in operands if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if op in ("Tj", "'", '"', "TJ"):
            if op in ("'", '"'):
                lm = tm = _mul((1.0, 0.0, 0.0, 1.0, 0.0, -leading), lm)
                current = None
            arg = operands[-1] if operands else None
            items = arg if op == "TJ" and isinstance(arg, list) else [arg]
            shown_bytes = bytearray()
            for item in items:
                if isinstance(item, _Hex):
                    raise ExtractionError("PDF text is written as glyph codes (custom font encoding)")
                if isinstance(item, bytes):
                    shown_bytes += item
                elif isinstance(item, (int, float)) and item <= _TJ_SPACE:
                    shown_bytes += b" "
            if shown_bytes:
                if current is None:
                    current = _piece(_mul(tm, ctm), size)
                    pieces.append(current)
                current.text += shown_bytes
                shown += 1
        elif op == "BI":
            raise ExtractionError(_IMAGES)
        elif op == "q":
            saved.append(ctm)
        elif op == "Q":
            ctm = saved.pop() if saved else ctm
            current = None
        elif op == "cm" and len(nums) >= 6:
            ctm = _mul(_matrix(nums[-6:]), ctm)
            current = None
        elif op == "BT":
            tm = lm = _IDENTITY
            current = None
        elif op == "Tf" and nums:
            size = nums[-1]
        elif op == "TL" and nums:
            leading = nums[-1]
        elif op == "Tm" and len(nums) >= 6:
            lm = tm = _matrix(nums[-6:])
            current = None
        elif op in ("Td", "TD", "T*"):
            tx, ty = (0.0, -leading) if op == "T*" else (nums[-2], nums[-1]) if len(nums) >= 2 else (0.0, 0.0)
            if op == "TD":
                leading = -ty
            lm = tm = _mul((1.0, 0.0, 0.0, 1.0, tx, ty), lm)
            current = None
        else:  # marked-content properties (/ActualText, /Alt, /E) and any other operand strings
            stack = list(operands)
            while stack:
                v = stack.pop()
                if isinstance(v, bytes):
                    lines.extend(_text_string(v))
                elif isinstance(v, list):
                    stack += v
                elif isinstance(v, dict):
                    stack += v.values()
        operands = []
    lines += _layout(pieces)
    return shown


def _matrix(v: list[float]) -> _Matrix:
    return (v[0], v[1], v[2], v[3], v[4], v[5])


def _piece(m: _Matrix, size: float) -> _Piece:
    a, b, c, d, e, f = m
    scale = math.hypot(a, b)
    ux, uy = (a / scale, b / scale) if scale > 1e-12 else (1.0, 0.0)
    em = abs(size) * max(scale, math.hypot(c, d)) or 1.0
    return _Piece((round(ux, 3), round(uy, 3)), e * ux + f * uy, f * ux - e * uy, em, bytearray())


def _layout(pieces: list[_Piece]) -> list[str]:
    """Lines of text from the pieces: same direction and baseline (within 0.4 em), ordered along it."""
    out: list[str] = []
    groups: dict[tuple[float, float], list[_Piece]] = {}
    for p in pieces:
        groups.setdefault(p.direction, []).append(p)
    for group in groups.values():
        group.sort(key=lambda p: -p.y)
        line: list[_Piece] = []
        for p in group:
            if line and abs(line[-1].y - p.y) > 0.4 * max(line[-1].em, p.em):
                out += _line_variants(line)
                line = []
            line.append(p)
        if line:
            out += _line_variants(line)
    return out


def _line_variants(line: list[_Piece]) -> list[str]:
    line = sorted(line, key=lambda p: p.x)
    spaced = bytearray(line[0].text)
    joined = bytearray(line[0].text)
    for a, b in itertools.pairwise(line):
        advance, glyphs = b.x - a.x, len(a.text)
        spaced += b" " + b.text
        joined += (b"" if glyphs <= 2 and -0.1 * a.em <= advance <= 1.1 * glyphs * a.em else b" ") + b.text
    variants = [bytes(spaced)] if spaced == joined else [bytes(spaced), bytes(joined)]
    return [s for v in variants for s in _shown_text(v)]


def pdf_text(data: bytes) -> str:
    """Text a viewer shows from the PDF: pages, forms, annotations, metadata. Fails closed on what it
    cannot read (see the section comment above)."""
    return _read_pdf(data, lambda pdf: pdf.text())


def pdf_all_text(data: bytes) -> str:
    """The text a viewer shows and the text it does not (:meth:`_Pdf.hidden_text`), one piece per line."""
    return _read_pdf(data, lambda pdf: "\n".join([pdf.text(), *pdf.hidden_text()]))


def _read_pdf(data: bytes, read: Callable[[_Pdf], str]) -> str:
    if not data.startswith(b"%PDF"):
        raise ExtractionError("not a PDF")
    if re.search(rb"/Encrypt\b", data):
        raise ExtractionError("encrypted PDF")
    if re.search(rb"/Subtype\s*/Image\b", data) or re.search(rb"\bBI\b[\s\S]{0,200}?\bID\b", data):
        raise ExtractionError(_IMAGES)
    if re.search(rb"/(?:ObjStm|XFA|EmbeddedFile|JavaScript)\b", data):
        raise ExtractionError(_UNSUPPORTED_CONTENT)
    try:
        return read(_Pdf(data))
    except RecursionError as exc:
        raise ExtractionError("PDF objects nested too deeply") from exc
