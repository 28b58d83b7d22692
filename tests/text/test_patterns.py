"""Pattern detection and date shifting (HIPAA Safe Harbor identifier shapes in free text)."""

from __future__ import annotations

import pytest

from veil.text.clean import clean_text
from veil.text.patterns import find_patterns, shift_date_text


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.label) for s in find_patterns(text)]


@pytest.mark.parametrize("text,span", [
    ("DOB 4/3/61", "4/3/61"),
    ("seen 03/14/2019 14:32 in ED", "03/14/2019 14:32"),
    ("born 4-Mar-1961", "4-Mar-1961"),
    ("MAR 04 1961", "MAR 04 1961"),
    ("March 4th, 1961 at 2:15 pm", "March 4th, 1961 at 2:15 pm"),
    ("19610304", "19610304"),
    ("acquired 20190314235945.123", "20190314235945.123"),
    ("2019-03-14T23:59:30", "2019-03-14T23:59:30"),
    ("on 14.03.2019", "14.03.2019"),
    ("prior Mar 2019", "Mar 2019"),
    ("prior 03/2019", "03/2019"),
    ("on 3/14", "3/14"),
    ("4 March", "4 March"),
])
def test_dates_in_many_formats(text, span):
    assert (span, "DATE") in found(text)


@pytest.mark.parametrize("text,span,label", [
    ("call (617) 555-0123 x234", "(617) 555-0123 x234", "PHONE"),
    ("tel +44 20 7946 0958", "+44 20 7946 0958", "PHONE"),
    ("pager 4321", "4321", "PHONE"),
    ("Pt called back on 555-0143, ST elevation", "555-0143", "PHONE"),  # a local number, no area code
    ("contacted at 555 0143", "555 0143", "PHONE"),
    ("reach family at 5550143", "5550143", "PHONE"),
    ("mail a.b@example.org", "a.b@example.org", "EMAIL"),
    ("see https://portal.example.org/x?id=1", "https://portal.example.org/x?id=1", "URL"),
    ("lives 123 Main Street, Apt 4B", "123 Main Street, Apt 4B", "ADDRESS"),
    ("Boston, MA 02114", "Boston, MA 02114", "ADDRESS"),
    ("PO Box 77", "PO Box 77", "ADDRESS"),
    ("London SW1A 1AA", "SW1A 1AA", "ADDRESS"),
    ("SSN 123-45-6789", "123-45-6789", "ID"),
    ("MRN: 0048213", "0048213", "ID"),
    ("acc E2442844", "E2442844", "ID"),
    ("modality 10.1.2.3", "10.1.2.3", "ID"),
])
def test_identifier_shapes(text, span, label):
    assert (span, label) in found(text)


@pytest.mark.parametrize("text", ["series on 120 slices", "Called at 10 mins", "contrast on 100-150 ms"])
def test_call_words_do_not_make_numbers_phones(text):
    assert not [s for s in found(text) if s[1] == "PHONE"]


@pytest.mark.parametrize("text,age", [("93 yo F", "93"), ("age: 95", "95"), ("a 102-year-old man", "102"),
                                      ("091Y", "91"), ("aged 90", "90")])
def test_ages_over_89_become_90_plus(text, age):
    assert (age, "AGE") in found(text)
    cleaned, _ = clean_text(text)
    assert cleaned == text.replace(age, "90+", 1)


@pytest.mark.parametrize("text", ["89 yo F", "age 45", "T1 MPRAGE SAG", "b=1000", "L4-5 disc", "C5-6",
                                  "1.5T Aera", "Slice 5 of 30", "SE 2 IM 10", "3 views", "TR 2000 TE 90"])
def test_clinical_numbers_are_not_identifiers(text):
    assert found(text) == []


@pytest.mark.parametrize("text,days,expected", [
    ("1961-03-04", -400, "1960-01-29"),
    ("19610304", -400, "19600129"),
    ("14/03/2019", -400, "07/02/2018"),
    ("03/14/2019 14:32", -400, "02/07/2018 14:32"),
    ("4-Mar-1961", -400, "29-Jan-1960"),
    ("MAR 04 1961", -400, "JAN 29 1960"),
    ("March 4th, 1961", -400, "January 29th, 1960"),
    ("2019-12-31T23:59:59", 1, "2020-01-01T23:59:59"),
])
def test_unambiguous_dates_shift_in_their_own_style(text, days, expected):
    assert shift_date_text(text, days) == expected


@pytest.mark.parametrize("text", ["03/04/1961", "4/3/61", "Mar 2019", "3/14"])
def test_ambiguous_or_partial_dates_are_not_shifted(text):
    assert shift_date_text(text, -400) is None


def test_clean_text_shifts_dates_or_uses_a_placeholder():
    text = "CT 2019-03-14, prior 03/04/2018"
    assert clean_text(text, shift_days=-10) == ("CT 2019-03-04, prior [DATE]", 2)
    assert clean_text(text) == ("CT [DATE], prior [DATE]", 2)


@pytest.mark.parametrize("text,span", [
    ("Call 867-5309 with results.", "867-5309"),
    ("If no answer call 867 5309.", "867 5309"),
    ("called back 8675309 today", "8675309"),
    ("phone: 030/1234567", "030/1234567"),
    ("Tel 030/1234567", "030/1234567"),
    ("030/1234567", "030/1234567"),
])
def test_a_phone_number_right_after_call_or_with_an_area_code_slash_is_found_whole(text, span):
    assert (span, "PHONE") in found(text)
    assert span not in clean_text(text)[0]


@pytest.mark.parametrize("text", ["call 2 nurses", "Call 911", "called at 14:30", "FOV 250/256", "CT 250/1234"])
def test_calling_words_near_short_numbers_are_not_phones(text):
    assert not any(label == "PHONE" for _s, label in found(text))


def test_a_date_span_is_shifted_only_with_a_time_after_it() -> None:
    """Spans that overlapped are merged into one; shifting its first date copied the rest as written, a
    second date included (red team: "January 5, 2011 (01/05/2011)" kept "01/05/2011"). What follows the date
    in a span must read as a time; anything else makes the span a placeholder."""
    assert shift_date_text("January 5, 2011 (01/05/2011)", 37) is None
    assert shift_date_text("2011-01-05 and 2011-01-09", 37) is None
    assert shift_date_text("20110105 19470513", 37) is None
    assert shift_date_text("2011-01-05T10:30:00Z", 37) == "2011-02-11T10:30:00Z"
    assert shift_date_text("20110105120000.123+0100", 37) == "20110211120000.123+0100"
    assert shift_date_text("January 5, 2011 at 2:15 pm EST", 37) == "February 11, 2011 at 2:15 pm EST"


@pytest.mark.parametrize("text", ["born 13.V.1947", "dated 3.I.2000", "on 13/X/2019"])
def test_a_date_with_a_one_letter_roman_month_is_a_date(text: str) -> None:
    """"13.V.1947" went out as "13.[PLACE]1947" ("born" is a place cue): the date form took Roman months of
    two letters or more only. One letter is enough between two of the same "." or "/", in capitals."""
    out = clean_text(text)[0]
    assert out.endswith("[DATE]") and not any(c.isdigit() for c in out), out


@pytest.mark.parametrize("text,expected", [
    ("Call 555-0199-3377 at 4471 ZEPHYRWOOD LANE", "Call [PHONE] at [ADDRESS]"),
    ("PT LIVES AT 4471 ZEPHYRWOOD DRIVE", "PT LIVES AT [ADDRESS]"),
    ("4471 ZEPHYRWOOD ROAD", "[ADDRESS]"),
    ("LIVES AT 4471 ZEPHYRWOOD LANE, SPRINGFIELD", "LIVES AT [ADDRESS]"),
    ("4471 zephyrwood lane", "[ADDRESS]"),
    ("lives at 4471 zephyrwood avenue", "lives at [ADDRESS]"),
    ("123 MAIN STREET, APT 4B", "[ADDRESS]"),
    ("221B BAKER STREET", "[ADDRESS]"),
    ("9 ELM CLOSE", "[ADDRESS]"),
    ("14 MAPLE WAY", "[ADDRESS]"),
    ("3 ORCHARD PLACE", "[ADDRESS]"),
    ("5 QUEENS TERRACE", "[ADDRESS]"),
    ("88 BIRCH CRESCENT", "[ADDRESS]"),
    ("12 KINGS COURT", "[ADDRESS]"),
    ("77 SUNSET BLVD.", "[ADDRESS]"),
    ("77 SUNSET BOULEVARD", "[ADDRESS]"),
    ("450 5TH AVENUE", "[ADDRESS]"),
    ("4471 ZEPHYRWOOD LN.", "[ADDRESS]"),
    ("4471 zephyrwood dr", "[ADDRESS]"),
    ("4471 ZEPHYRWOOD LANE, SPRINGFIELD, IL 62704", "[ADDRESS]"),
    ("4471 Zephyrwood Lane", "[ADDRESS]"),
])
def test_a_street_address_in_capitals_or_lower_case_is_an_address(text: str, expected: str) -> None:
    """A street address is a Safe Harbor identifier in any case (HIPAA 164.514(b)(2)(i)(B)). The pattern took
    title case only: "4471 ZEPHYRWOOD LANE" went out whole, or as "4471 [PLACE] DRIVE" (red team)."""
    assert clean_text(text)[0] == expected


@pytest.mark.parametrize("text", [
    "3 LESIONS", "2 VIEWS", "5 MM", "T2 WEIGHTED", "SERIES 4 AXIAL", "1 WAY VALVE", "LEVEL 4 ROOM 12",
    "3 SCREWS IN PLACE", "2 DRAINS IN PLACE", "1 STENT IN PLACE", "LESION 3 MM CLOSE TO THE PLEURA",
    "SERIES 4 AXIAL CT", "2 PHASE CT", "1 YEAR PRIOR CT", "3 LEADS ST ELEVATION", "2 LEAD ST DEPRESSION",
    "4 CM SQUARE", "3 WAY CATHETER", "2 FRACTURES CLOSE TO JOINT", "3 VIEWS LEFT WRIST", "4 CHAMBER VIEW",
    "3 mm close to the pleura", "2 drains in place", "1 way valve", "the 2 lines in place", "20 min delay",
    "3 Lesions", "2 views", "SE 3 IM 22 AX", "3 LEVEL FUSION",
])
def test_numbers_before_clinical_words_are_no_address(text: str) -> None:
    """Clinical text puts numbers before capitalised words all the time: a street type after a unit, count,
    function or clinical word ("IN PLACE", "MM CLOSE", "LEADS ST") makes no address."""
    assert not [s for s in found(text) if s[1] == "ADDRESS"]
    assert clean_text(text)[0] == text


@pytest.mark.parametrize("text,cleaned", [
    ("contact belinda at quixmail dot com", "contact [EMAIL]"),
    ("email: bq1947 (at) quixmail (dot) co (dot) uk", "email: [EMAIL]"),
    ("bq1947[at]quixmail[dot]com today", "[EMAIL] today"),
    ("write to b.q at quixmail.co dot uk", "write to [EMAIL]"),
    ("BQ1947 AT QUIXMAIL DOT ORG", "[EMAIL]"),
])
def test_an_email_address_written_out_is_an_email_address(text, cleaned):
    """Red team 2: "belinda at quixmail dot com" kept its domain. An e-mail address is a Safe Harbor
    identifier (45 CFR 164.514(b)(2)(i)(F)) however it is spelled."""
    assert clean_text(text)[0] == cleaned


@pytest.mark.parametrize("text", ["meet at home dot matrix", "seen at clinic dot", "Dot at 3 o clock",
                                  "lesion at level of the dot", "tip at 2 cm"])
def test_at_and_dot_in_clinical_text_are_no_email_address(text):
    assert clean_text(text) == (text, 0)
