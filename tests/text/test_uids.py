"""UIDs as values (PS3.5 9.1) and quoted in text: the rule and its boundaries."""

from __future__ import annotations

import pytest

from veil.text.uids import is_uid, quoted_uid, uid_spans


@pytest.mark.parametrize(("value", "ok"), [
    ("1.2.840.10008.1.2.1", True),
    ("0.0", True),
    ("2.25.329800735698586629295641978511506172918", True),
    ("1.2.840.0.5", True),  # a lone 0 is a component
    ("1.2.840.05", False),  # a leading zero is not
    ("01.2.3", False),
    ("1.2..3", False),
    (".1.2.3", False),
    ("1.2.3.", False),
    ("1.2.3 ", False),
    ("1.2.3a", False),
    ("", False),
])
def test_is_uid(value, ok):
    assert is_uid(value) is ok


def test_is_uid_length_boundary():
    assert is_uid("1." + "2" * 62) and not is_uid("1." + "2" * 63)


@pytest.mark.parametrize(("token", "ok"), [
    ("1.2.840.113619.2.55.3.604688119.969.1678886400.77", True),
    ("1.3.12.2.1107.5.1.4.73105.30000024031107382115600000012", True),
    ("2.25.329800735698586629295641978511506172918", True),  # UUID-derived: 3 components
    ("1.2.840.10008", True),  # 4 components, 13 characters
    ("1.2.840.10", True),  # 4 components, exactly 10 characters
    ("1.2.840.1", False),  # 9 characters
    ("2.25.1", False),  # too short
    ("2.25.1234567", True),
    ("1.2.840", False),  # 3 components, not 2.25
    ("5.5.90", False),  # a version
    ("10.0.19041.1234", False),  # first arc 10: no OID
    ("3.1.4.1592653589", False),  # first arc 3
    ("1.22.33.44", False),  # IPv4
    ("2.100.200.250", False),  # IPv4
    ("1.100.200.256", True),  # not an IPv4 address
    ("1.2.840.05.12345", False),  # leading zero
    ("1.2." + "3" * 58 + ".4", True),  # 64 characters
    ("1.2." + "3" * 59 + ".4", False),  # 65 characters: no UID (PS3.5 9.1)
])
def test_quoted_uid(token, ok):
    assert quoted_uid(token) is ok


@pytest.mark.parametrize(("text", "found"), [
    ("prior 1.2.840.113619.2.55.3.604688119.969.1678886400.77. Current",
     ["1.2.840.113619.2.55.3.604688119.969.1678886400.77"]),
    ("(1.2.840.10008.5.1.4.1.1.2)", ["1.2.840.10008.5.1.4.1.1.2"]),
    ("UID:1.2.840.10008.5.1.4.1.1.2,x", ["1.2.840.10008.5.1.4.1.1.2"]),
    ("a\\1.2.840.10008.5.1.4.1.1.2\\b", ["1.2.840.10008.5.1.4.1.1.2"]),
    # part of a longer dotted number: not looked into
    ("10.1.2.840.10008.5.1.4.1.1.2", []),
    ("1.2.840.05.1.2.840.10008.5.1", []),
    ("31.12.2024.1.2.840.10008.5.1.4", []),
    ("Kontrolle am 11.03.2024", []),
    ("v5.5.90 at 10.0.0.1", []),
    ("2.25.329800735698586629295641978511506172918 and 1.2.840.10008.1.2.1",
     ["2.25.329800735698586629295641978511506172918", "1.2.840.10008.1.2.1"]),
    ("http://h.example/studies/1.2.840.10008.5.1.4.1.1.2 and 1.2.840.10008.1.2.1", ["1.2.840.10008.1.2.1"]),
    ("WWW.H.EXAMPLE/1.2.840.10008.5.1.4.1.1.2", []),
])
def test_uid_spans(text, found):
    assert [text[a:b] for a, b in uid_spans(text)] == found
