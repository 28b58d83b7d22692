"""Text extraction from encapsulated PDF/CDA: complete where it reads, closed where it cannot."""

from __future__ import annotations

import pytest

from veil.text.documents import ExtractionError, extract_text

from .test_engine_text import _pdf


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
