"""Text extraction from encapsulated PDF/CDA: complete where it reads, closed where it cannot."""

from __future__ import annotations

import zlib

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage

from veil.errors import InputError
from veil.header.engine import deidentify
from veil.policy.model import load_policy_text
from veil.policy.plan import compile_plan
from veil.text.documents import ExtractionError, extract_text

from .test_engine_text import KEEP, KEY, _base, _pdf


def test_pdf_text_from_plain_and_flate_streams():
    for compress in (False, True):
        text = extract_text(_pdf(b"Report for John Smith \\(final\\)", compress=compress), "application/pdf")
        assert "Report for John Smith (final)" in text


def test_pdf_metadata_is_read_too():
    doc = _pdf(b"CT").replace(b"trailer << /Root 1 0 R >>", b"trailer << /Root 1 0 R /Info << /Author (Dr Who) >> >>")
    assert "Dr Who" in extract_text(doc, "application/pdf")


@pytest.mark.parametrize("mutate,reason", [
    (lambda d: d.replace(b"(CT) Tj", b"<0012> Tj"), "glyph codes"),
    (lambda d: d.replace(b"/Type /Page ", b"/Type /Page /Resources << /XObject << /Im1 << /Subtype /Image >> >> >> "),
     "images"),
    (lambda d: d.replace(b"trailer <<", b"trailer << /Encrypt 9 0 R"), "encrypted"),
    (lambda d: d.replace(b"<< /Length", b"<< /Filter /DCTDecode /Length"), "filter"),
])
def test_pdf_extraction_fails_closed(mutate, reason):
    with pytest.raises(ExtractionError, match=reason):
        extract_text(mutate(_pdf(b"CT", compress=False)), "application/pdf")


def test_cda_text_and_attributes():
    cda = (b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget><patientRole>'
           b'<id extension="0048213977"/><patient><name><given>Zebulon</given><family>Quixworth</family></name>'
           b'<birthTime value="19610304"/></patient></patientRole></recordTarget></ClinicalDocument>')
    text = extract_text(cda, "text/xml")
    assert "0048213977" in text and "Quixworth" in text and "19610304" in text


def test_xml_with_entities_is_refused():
    with pytest.raises(ExtractionError, match="DTD"):
        extract_text(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "text/xml")


def test_unknown_types_are_refused():
    with pytest.raises(ExtractionError, match="model/stl"):
        extract_text(b"solid x", "model/stl")


# ------------------------------------------------------------------------ PDFs as writers lay them out
#
# Each document below shows the patient's name and MRN to a PDF viewer in a way a byte search misses;
# each must either be refused (the instance is quarantined as unreadable) or have the name in its text.

HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
CLEAN = b"BT /F1 12 Tf 72 720 Td (Chest radiograph: lungs are clear. No acute findings.) Tj ET"
LEAK = b"Patient QUIXWORTH ZEBULON MRN 0048213977"
WORDS = b"QUIXWORTH ZEBULON 0048213977"


def _stream(body: bytes, extra: bytes = b"", *, compress: bool = False) -> bytes:
    if compress:
        body, extra = zlib.compress(body), extra + b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(body), extra) + body + b"\nendstream"


def _doc(*contents: bytes, font: bytes = HELVETICA, resources: bytes = b"", page: bytes = b"", catalog: bytes = b"",
         trailer: bytes = b"", more: dict[int, bytes] | None = None) -> bytes:
    """Catalog 1, page tree 2, one page 3 whose /Contents is the array of `contents` (objects 10, 11 ...),
    font 4, `more` objects by number, a cross-reference table and trailer."""
    refs = b" ".join(b"%d 0 R" % (10 + i) for i in range(len(contents)))
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R%s >>" % catalog, 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >>%s >> "
               b"/Contents [%s]%s >>" % (resources, refs, page),
            4: font}
    objs.update({10 + i: c for i, c in enumerate(contents)})
    objs.update(more or {})
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    xref, size = len(out), max(objs) + 1
    out += b"xref\n0 %d\n" % size
    for num in range(size):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, trailer, xref)
    return bytes(out)


def _pdf_text(doc: bytes) -> str:
    return extract_text(doc, "application/pdf")


def _each_glyph(place: bytes, order: int = 1) -> bytes:
    """WORDS one glyph at a time, 9 units apart; `place` positions glyph (%c) at x (%d)."""
    return b" ".join([place % (72 + 9 * i, c) for i, c in enumerate(WORDS)][::order])


def _words_by_moves() -> bytes:
    """WORDS one glyph at a time with Td, no space glyphs: a word gap is a longer move."""
    return b"BT /F1 12 Tf 72 700 Td " + b" 9 0 Td ".join(
        b" ".join(b"(%c) Tj 9 0 Td" % c for c in word) for word in WORDS.split()) + b" ET"


GLYPH_BY_GLYPH = {
    "Td": b"BT /F1 12 Tf 72 700 Td " + b" ".join(b"(%c) Tj 9 0 Td" % c for c in WORDS) + b" ET",
    "Td-word-gaps": _words_by_moves(),
    "Tm": b"BT /F1 12 Tf " + _each_glyph(b"1 0 0 1 %d 700 Tm (%c) Tj") + b" ET",
    "Tm-right-to-left": b"BT /F1 12 Tf " + _each_glyph(b"1 0 0 1 %d 700 Tm (%c) Tj", -1) + b" ET",
    "cm": _each_glyph(b"q 1 0 0 1 %d 700 cm BT /F1 12 Tf (%c) Tj ET Q"),
    "TJ-word-gaps": b"BT /F1 12 Tf 72 700 Td [(QUIXWORTH)-3000(ZEBULON)-3000(0048213977)] TJ ET",
}


@pytest.mark.parametrize("content", GLYPH_BY_GLYPH.values(), ids=GLYPH_BY_GLYPH.keys())
def test_text_positioned_glyph_by_glyph_is_read_as_words(content):
    assert WORDS.decode() in _pdf_text(_doc(_stream(CLEAN + b"\n" + content)))


SPLIT = {
    "text-object": (CLEAN + b"\nBT /F1 12 Tf 72 700 Td", b"(" + LEAK + b") Tj ET"),
    "TJ-array": (b"BT /F1 12 Tf 72 700 Td [(Patient QUIXWORTH)", b"( ZEBULON MRN 0048213977)] TJ ET"),
}


@pytest.mark.parametrize("parts", SPLIT.values(), ids=SPLIT.keys())
def test_a_page_whose_contents_array_splits_the_text_is_read_as_one_stream(parts):
    text = _pdf_text(_doc(*(_stream(p, compress=i == 1) for i, p in enumerate(parts))))
    assert "QUIXWORTH ZEBULON MRN 0048213977" in text


@pytest.mark.parametrize("entry", [b" /Comment (a>b)", b" /Comment (a<b)", b" /Note << /X (>>) >>"])
def test_a_stream_whose_dictionary_holds_angle_brackets_is_read(entry):
    text = _pdf_text(_doc(_stream(CLEAN), _stream(b"BT /F1 12 Tf 72 700 Td (" + LEAK + b") Tj ET", entry)))
    assert "QUIXWORTH ZEBULON MRN 0048213977" in text


def test_every_document_information_entry_is_read():
    utf16 = "QUIXWORTH ZEBULON".encode("utf-16-be").hex().encode()
    info = b"<< /Title (Radiology report) /PatientName <feff%s> /MRN (0048213977) /Ward /QUIXWORTH >>" % utf16
    text = _pdf_text(_doc(_stream(CLEAN), trailer=b" /Info 9 0 R", more={9: info}))
    assert "QUIXWORTH ZEBULON" in text.splitlines() and "0048213977" in text.splitlines()
    assert "QUIXWORTH" in text.splitlines()  # a name object as the value


ANNOTATED = {
    "note-contents": dict(page=b" /Annots [9 0 R]", more={9: b"<< /Type /Annot /Subtype /Text /Rect [72 600 92 620] "
                                                          b"/Contents (" + LEAK + b") >>"}),
    "note-author": dict(page=b" /Annots [9 0 R]", more={9: b"<< /Type /Annot /Subtype /Text /Rect [72 600 92 620] "
                                                        b"/T (" + LEAK + b") /Contents (see report) >>"}),
    "form-field": dict(catalog=b" /AcroForm << /Fields [9 0 R] >>", page=b" /Annots [9 0 R]",
                       more={9: b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (pt) /TU (Patient name) "
                                b"/V (" + LEAK + b") /Rect [72 600 300 620] >>"}),
    "rich-text": dict(page=b" /Annots [9 0 R]", more={9: b"<< /Type /Annot /Subtype /FreeText /Rect [72 600 300 620] "
                                                      b"/DA (0 g) /RC (<body><p>" + LEAK + b"</p></body>) >>"}),
}


@pytest.mark.parametrize("parts", ANNOTATED.values(), ids=ANNOTATED.keys())
def test_annotation_and_form_field_strings_are_read(parts):
    assert "QUIXWORTH ZEBULON MRN 0048213977" in _pdf_text(_doc(_stream(CLEAN), **parts))


def test_marked_content_replacement_text_is_read():
    content = b"BT /F1 12 Tf 72 700 Td /Span << /ActualText (" + LEAK + b") >> BDC (Patient Q. Z.) Tj EMC ET"
    assert "QUIXWORTH ZEBULON MRN 0048213977" in _pdf_text(_doc(_stream(CLEAN + b"\n" + content)))


XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
       b'xmlns:pdf="http://ns.adobe.com/pdf/1.3/" pdf:Keywords="%s"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "uncompressed"])
def test_xmp_metadata_values_are_read(compress):
    meta = _stream(XMP % LEAK, b" /Type /Metadata /Subtype /XML", compress=compress)
    text = _pdf_text(_doc(_stream(CLEAN), catalog=b" /Metadata 9 0 R", more={9: meta}))
    assert "QUIXWORTH ZEBULON MRN 0048213977" in text


def _font(encoding: bytes = b"", subtype: bytes = b"/Type1", rest: bytes = b"") -> bytes:
    return b"<< /Type /Font /Subtype %s /BaseFont /Helvetica%s%s >>" % (subtype, encoding, rest)


CODES = b"BT /F1 12 Tf 72 700 Td (abcdefghi) Tj ET"  # shown as QUIXWORTH through the font's encoding
UNDECODABLE_FONTS = {
    "Differences": dict(font=_font(b" /Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding "
                                   b"/Differences [97 /Q /U /I /X /W /O /R /T /H] >>")),
    "Differences-object": dict(font=_font(b" /Encoding 9 0 R"),
                               more={9: b"<< /Type /Encoding /Differences [97 /Q /U /I /X /W /O /R /T /H] >>"}),
    "ToUnicode": dict(font=_font(b" /Encoding /WinAnsiEncoding", rest=b" /ToUnicode 9 0 R"),
                      more={9: _stream(b"begincmap 1 beginbfrange <61> <69> [<0051> <0055> <0049> <0058> <0057> "
                                       b"<004F> <0052> <0054> <0048>] endbfrange endcmap")}),
    "Type3": dict(font=_font(b" /Encoding /WinAnsiEncoding", b"/Type3",
                             b" /FontBBox [0 0 1000 1000] /FontMatrix [0.001 0 0 0.001 0 0] /CharProcs << >>")),
    "Type0": dict(font=_font(b" /Encoding /Identity-H", b"/Type0", b" /DescendantFonts [9 0 R]"),
                  more={9: b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Helvetica >>"}),
    "embedded-built-in-encoding": dict(font=_font(subtype=b"/TrueType", rest=b" /FontDescriptor 9 0 R"),
                                       more={9: b"<< /Type /FontDescriptor /FontName /Helvetica /Flags 4 "
                                                b"/FontFile2 8 0 R >>",
                                             8: _stream(b"\x00\x01\x00\x00glyphs", b" /Length1 10")}),
    "unknown-encoding": dict(font=_font(b" /Encoding /SecretEncoding")),
}


@pytest.mark.parametrize("parts", UNDECODABLE_FONTS.values(), ids=UNDECODABLE_FONTS.keys())
def test_fonts_whose_codes_are_not_their_glyphs_are_refused(parts):
    with pytest.raises(ExtractionError, match="font"):
        _pdf_text(_doc(_stream(CODES), **parts))


def _hidden_stream() -> bytes:
    body = b"BT /F1 12 Tf 72 700 Td (" + LEAK + b") Tj ET"
    return b"<< /Length %d >> %%\n junk stream\n" % len(body) + body + b"\nendstream"


NOT_PARSED = {
    "stream-keyword": (dict(more={9: _hidden_stream()}), "stream"),
    "object-in-a-string": (dict(trailer=b" /Info 9 0 R", more={9: b"<< /Title (x 8 0 obj << /T (y) >> x) >>"}),
                           "object"),
    "length-mismatch": (dict(more={9: _stream(b"BT (" + LEAK + b") Tj ET").replace(b"/Length ", b"/Length 1")}),
                        "Length"),
}


@pytest.mark.parametrize(("parts", "reason"), NOT_PARSED.values(), ids=NOT_PARSED.keys())
def test_a_stream_or_object_the_parser_did_not_read_itself_is_refused(parts, reason):
    with pytest.raises(ExtractionError, match=reason):
        _pdf_text(_doc(_stream(CLEAN), **parts))


IMAGE = b" /Width 4 /Height 4 /ColorSpace /DeviceGray /BitsPerComponent 8"
HIDDEN_IMAGES = {
    "inline-in-Flate": dict(contents=[_stream(CLEAN + b"\nq 40 0 0 10 72 600 cm BI /W 4 /H 1 /CS /G /BPC 8 ID "
                                              b"\x00\xff\x00\xff EI Q", compress=True)]),
    "escaped-name": dict(resources=b" /XObject << /Im1 9 0 R >>",
                         contents=[_stream(CLEAN + b"\nq 40 0 0 40 72 600 cm /Im1 Do Q")],
                         more={9: _stream(b"\x80" * 16, b" /Type /XObject /Subtype /Im#61ge" + IMAGE)}),
    "thumbnail": dict(page=b" /Thumb 9 0 R", more={9: _stream(b"\x80" * 16, IMAGE)}),
}


@pytest.mark.parametrize("parts", HIDDEN_IMAGES.values(), ids=HIDDEN_IMAGES.keys())
def test_images_a_byte_search_misses_are_refused(parts):
    contents = parts.pop("contents", [_stream(CLEAN)])
    with pytest.raises(ExtractionError, match="images"):
        _pdf_text(_doc(*contents, **parts))


def _clean_report() -> bytes:
    """A clean two-stream report: a text object across both, a kerned TJ, document information."""
    return _doc(_stream(b"BT /F1 12 Tf 72 720 Td (Chest radiograph:) Tj 110 0 Td"),
                _stream(b"[(lungs are cl)15(ear.)] TJ 0 -14 Td (No acute findings.) Tj ET", compress=True),
                trailer=b" /Info 9 0 R", more={9: b"<< /Title (Chest radiograph) /Producer (Reporting 4.2) >>"})


LEAKING = {
    **{f"glyphs-{k}": _doc(_stream(CLEAN + b"\n" + v)) for k, v in GLYPH_BY_GLYPH.items() if k != "TJ-word-gaps"},
    "split-streams": _doc(*(_stream(p) for p in SPLIT["text-object"])),
    "dictionary-string": _doc(_stream(CLEAN), _stream(b"BT /F1 12 Tf 72 700 Td (" + LEAK + b") Tj ET",
                                                      b" /Comment (a>b)")),
    "information": _doc(_stream(CLEAN), trailer=b" /Info 9 0 R",
                        more={9: b"<< /PatientName (QUIXWORTH ZEBULON) /MRN (0048213977) >>"}),
    **{f"annotation-{k}": _doc(_stream(CLEAN), **v) for k, v in ANNOTATED.items()},
    "xmp": _doc(_stream(CLEAN), catalog=b" /Metadata 9 0 R",
                more={9: _stream(XMP % LEAK, b" /Type /Metadata /Subtype /XML", compress=True)}),
    **{f"font-{k}": _doc(_stream(CODES), **v) for k, v in UNDECODABLE_FONTS.items()},
}


def _instance(doc: bytes) -> Dataset:
    ds = _base(EncapsulatedPDFStorage)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = doc + (b"\x00" if len(doc) % 2 else b"")
    return ds


@pytest.mark.parametrize("doc", LEAKING.values(), ids=LEAKING.keys())
def test_keep_if_clean_quarantines_every_pdf_that_shows_the_name(doc):
    with pytest.raises(InputError) as exc:
        deidentify(_instance(doc), compile_plan(load_policy_text(KEEP)), KEY)
    assert exc.value.rule in ("encapsulated-document:identifying-text", "encapsulated-document:unreadable")


def test_a_clean_pdf_is_read_whole_and_kept():
    doc = _clean_report()
    lines = _pdf_text(doc).splitlines()
    assert "Chest radiograph: lungs are clear." in lines and "No acute findings." in lines
    ds = _instance(doc)
    out = deidentify(ds, compile_plan(load_policy_text(KEEP)), KEY)
    assert ds.EncapsulatedDocument == doc + b"\x00" * (len(doc) % 2)
    assert any(rule == "encapsulated_documents=keep_if_clean" for _t, _a, rule, _n in out.rules())


def _cda_with(body: bytes, attrs: bytes = b'mediaType="application/pdf" representation="B64"') -> bytes:
    import base64

    return (b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody><text '
            + attrs + b">" + base64.encodebytes(body) + b"</text></nonXMLBody></component></ClinicalDocument>")


def test_a_pdf_embedded_in_a_cda_is_read_not_taken_for_base64_text():
    """A CDA whose body is a base64 PDF (nonXMLBody, HL7 ED representation B64): the PDF's text is what
    the document shows; its base64 was read as text, where nothing could be found."""
    text = extract_text(_cda_with(_doc(_stream(b"BT /F1 12 Tf 72 720 Td (" + LEAK + b") Tj ET"))), "text/xml")
    assert "QUIXWORTH ZEBULON" in text and "0048213977" in text
    clean = extract_text(_cda_with(_doc(_stream(CLEAN))), "text/xml")
    assert "lungs are clear" in clean and "JVBER" not in clean


@pytest.mark.parametrize("attrs,reason", [
    (b'mediaType="application/pdf" representation="B64" compression="DF"', "compressed"),
    (b'mediaType="image/jpeg" representation="B64"', "image/jpeg"),
])
def test_embedded_content_that_cannot_be_read_is_refused(attrs, reason):
    with pytest.raises(ExtractionError, match=reason):
        extract_text(_cda_with(b"\xff\xd8\xff\xe0 not text", attrs), "text/xml")
    with pytest.raises(ExtractionError, match="base64"):
        extract_text(b'<a><text representation="B64">not base64 !!</text></a>', "text/xml")


def _with_comment(doc: bytes, comment: bytes) -> bytes:
    """`doc` with a comment line after its binary marker: the offsets move, as an editor would leave them."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    assert doc.startswith(head)
    return head + comment + doc[len(head):]


OTHER_PHI = {  # someone else's identifiers, which only the patterns and the name detector can find
    "comment": _with_comment(_clean_report(), b"% Next of kin: mother Orlavia Brenwick, tel 555-901-2277\n"),
    "comment-in-object": _clean_report().replace(b"<< /Type /Pages", b"% SSN 078-05-1120\n<< /Type /Pages"),
    "after-eof": _clean_report() + b"guarantor: Orlavia Brenwick, 12 Kestrel Row; orlavia@mailhost.example\n",
    # review: no "%", between two objects, before "trailer", before a second "%%EOF"
    "between-objects": _clean_report().replace(b"endobj\n", b"endobj\nNext of kin tel 555-901-2277\n", 1),
    "before-trailer": _clean_report().replace(b"trailer", b"kin tel 555-901-2277\ntrailer"),
    "double-eof": _clean_report() + b"Next of kin tel 555-901-2277\n%%EOF\n",
}


@pytest.mark.parametrize("doc", OTHER_PHI.values(), ids=OTHER_PHI.keys())
def test_text_no_viewer_shows_is_read_for_patterns_and_names_too(doc):
    """Red team 3: a comment "% Next of kin: ... tel 555-901-2277" and a guarantor's address after "%%EOF"
    were kept under keep_if_clean, as only the patient's own values were looked for outside the shown text;
    the review then put the text between objects, before "trailer" or before a second "%%EOF"."""
    with pytest.raises(InputError) as exc:
        deidentify(_instance(doc), compile_plan(load_policy_text(KEEP)), KEY)
    assert exc.value.rule == "encapsulated-document:identifying-text"


def test_the_header_marker_and_end_comments_are_no_text():
    doc = _clean_report()
    assert not any(line.startswith(("PDF-", "%EOF")) or "\xe2" in line for line in _pdf_text(doc).splitlines())
    padded = doc + b"\r\n\x00\x00"
    ds = _instance(padded)
    deidentify(ds, compile_plan(load_policy_text(KEEP)), KEY)
    assert ds.EncapsulatedDocument.startswith(padded)  # kept: whitespace and NULs after %%EOF are no text
