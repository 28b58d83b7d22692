"""XML documents (HL7 CDA, a PDF's XMP) are read whole for `encapsulated_documents: keep_if_clean`:
comments, processing instructions, CDATA, attribute values, names and namespace names, so a document
is kept only when all of it is clean; a document type declaration is refused, never expanded."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from veil.errors import InputError
from veil.header.engine import deidentify
from veil.policy.model import load_policy_text
from veil.policy.plan import compile_plan
from veil.text.documents import ExtractionError, extract_text

from .test_documents import CLEAN, XMP, _doc, _pdf_text, _stream
from .test_engine_text import KEEP, KEY, _base

CDA_SOP = "1.2.840.10008.5.1.4.1.1.104.2"  # Encapsulated CDA Storage
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
ROOT = (b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="urn:hl7-org:v3 CDA.xsd"%s>\n<title>Imaging report</title>\n<legalAuthenticator/>'
        b'<dataEnterer/><component><structuredBody><component><section><text>No acute abnormality.%s</text>'
        b'</section></component></structuredBody></component>\n</ClinicalDocument>\n')


def _cda(prolog: bytes = b"", attrs: bytes = b"", body: bytes = b"", epilog: bytes = b"") -> bytes:
    return HEAD + prolog + ROOT % (attrs, body) + epilog


#: The patient of _base (Quixworth^Zebulon, 0048213977, born 19610304) where ElementTree never looked.
HIDDEN = {
    "comment": _cda(prolog=b"<!-- exported for QUIXWORTH, ZEBULON MRN 0048213977 DOB 1961-03-04 -->\n"),
    "processing-instruction": _cda(prolog=b'<?xml-stylesheet type="text/xsl" href="QUIXWORTH_0048213977.xsl"?>\n'),
    "pi-without-pseudo-attributes": _cda(prolog=b"<?export Quixworth Zebulon?>\n"),
    "comment-after-the-root": _cda(epilog=b"<!-- 0048213977 -->\n"),
    "comment-in-text": _cda(body=b"<!-- pt Quixworth -->"),
    "cdata": _cda(body=b"<![CDATA[ <b>Quixworth</b> 0048213977 ]]>"),
    "element-name": _cda(body=b"<Quixworth/>"),
    "attribute-name": _cda(body=b'<span QUIXWORTH="1"/>'),
    "namespace-name": _cda(attrs=b' xmlns:p="urn:patient:0048213977"'),
}


@pytest.mark.parametrize("doc", HIDDEN.values(), ids=HIDDEN.keys())
def test_text_outside_the_elements_text_is_read(doc):
    text = extract_text(doc, "text/xml").upper()
    assert "QUIXWORTH" in text or "0048213977" in text


def _instance(doc: bytes) -> Dataset:
    ds = _base(CDA_SOP)
    ds.MIMETypeOfEncapsulatedDocument = "text/xml"
    ds.EncapsulatedDocument = doc + (b"\n" if len(doc) % 2 else b"")
    return ds


@pytest.mark.parametrize("doc", HIDDEN.values(), ids=HIDDEN.keys())
def test_keep_if_clean_quarantines_a_cda_whose_hidden_parts_name_the_patient(doc):
    """The red team's CDA: clean visible text, the patient's name, MRN and birth date in a comment and a
    processing instruction; it was kept byte for byte."""
    with pytest.raises(InputError) as exc:
        deidentify(_instance(doc), compile_plan(load_policy_text(KEEP)), KEY)
    assert exc.value.rule == "encapsulated-document:identifying-text"


def test_keep_if_clean_still_keeps_a_clean_cda_with_the_usual_markup():
    """What every CDA holds is not identifying: the stylesheet PI, the XML Schema namespace (a URL),
    camelCase element names the name detector takes for people ("legalAuthenticator"), a plain comment."""
    doc = _cda(prolog=b'<?xml-stylesheet type="text/xsl" href="CDA.xsl"?>\n<!-- exported by the PACS -->\n',
               attrs=b' xmlns:sdtc="urn:hl7-org:sdtc"', body=b"<![CDATA[ No change. ]]> &amp; stable")
    ds = _instance(doc)
    kept = ds.EncapsulatedDocument
    out = deidentify(ds, compile_plan(load_policy_text(KEEP)), KEY)
    assert any(rule == "encapsulated_documents=keep_if_clean" for _t, _a, rule, _n in out.rules())
    assert ds.EncapsulatedDocument == kept


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + "]><lolz>&lol9;</lolz>")
REFUSED = {
    "internal-entity": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "Quixworth">]><a>&x;</a>',
    "doctype-without-entities": b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "a.dtd"><a>text</a>',
    "billion-laughs": LAUGHS.encode(),
    "billion-laughs-utf16": LAUGHS.replace('"1.0"?>', '"1.0" encoding="UTF-16"?>', 1).encode("utf-16"),
    "internal-entity-utf16": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "Quixworth">]>'
                             '<a>&x;</a>'.encode("utf-16"),
    "doctype-after-a-long-comment": b"<!--" + b" " * 5000 + b'--><!DOCTYPE a SYSTEM "a.dtd"><a>text</a>',
}


@pytest.mark.parametrize("doc", REFUSED.values(), ids=REFUSED.keys())
def test_a_document_type_declaration_is_refused_in_any_encoding_and_anywhere(doc):
    """Its entities would be expanded into the text (billion laughs) or hide text from a byte check:
    refused at the declaration. A byte search for "<!DOCTYPE" in the first 4 KB missed UTF-16 and a
    declaration after a long comment."""
    with pytest.raises(ExtractionError, match="DTD"):
        extract_text(doc, "text/xml")


def test_xml_that_does_not_parse_or_uses_an_undeclared_entity_is_refused():
    for doc in (b"<a><b></a>", b"<a>&undeclared;</a>", b"<a/><b/>"):
        with pytest.raises(ExtractionError):
            extract_text(doc, "text/xml")


def test_a_comment_or_processing_instruction_in_xmp_metadata_is_read():
    """The lenient XMP reader of PDFs dropped comments and read only key="value" pairs of tags."""
    for hidden in (b"<!-- Patient QUIXWORTH ZEBULON -->", b"<?note QUIXWORTH ZEBULON?>"):
        xmp = XMP.replace(b"<rdf:RDF", hidden + b"<rdf:RDF") % b"report"
        meta = _stream(xmp, b" /Type /Metadata /Subtype /XML")
        text = _pdf_text(_doc(_stream(CLEAN), catalog=b" /Metadata 9 0 R", more={9: meta}))
        assert "QUIXWORTH ZEBULON" in text, hidden
