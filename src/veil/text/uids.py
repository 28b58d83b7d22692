"""UIDs as values (PS3.5 9.1) and as tokens quoted in free text.

A UID in a comment ("Compare with prior study 1.2.840.113619...") names an instance of the source archive as
surely as the header's own UIDs, which PS3.15 E.1-1 replaces (action U): the text must get the same new UID,
so the reference still resolves in the release. Finding the token is text work and lives here; the new UID
is the header engine's (keyed), passed in by the caller.
"""

from __future__ import annotations

import re

from pydicom.uid import UID_dictionary

#: PS3.5 9.1: components of digits, no leading zero but a lone "0", separated by ".".
_UID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
#: PS3.5 9.1: "shall not exceed 64 total characters".
UID_MAX = 64
#: A run of dotted digits not continuing a longer one (no digit, nor a digit and a ".", before it); greedy,
#: so it ends where the dotted number ends (a sentence's full stop after it is not part of it).
_DOTTED = re.compile(r"(?<![0-9])(?<![0-9]\.)[0-9]+(?:\.[0-9]+)+")
#: The shortest UID taken for one in text: "2.25.1", "1.2.3.4" and software versions are shorter.
_TEXT_MIN = 10


#: A Context Group UID of the standard (PS3.6 Table A-3: 1.2.840.10008.6.1.N, N one component without a
#: leading zero, today below 2000): pydicom's UID dictionary does not list them. Not the whole DICOM root: a
#: generator that appends to a SOP Class UID makes instance UIDs under it ("1.2.840.10008.5.1.4.1.1.2.<MRN>").
_CONTEXT_GROUP_UID = re.compile(r"1\.2\.840\.10008\.6\.1\.[1-9][0-9]{0,3}")


def standard_uid(value: str) -> bool:
    """Whether a UID is one of the standard's well-known UIDs (a transfer syntax, SOP class, coding scheme,
    well-known instance or frame of reference in pydicom's UID dictionary; a context group's): it names no
    instance of any site, so PS3.15 action U leaves it (a remapped SOP Class UID would be no class at all).
    The engine's one rule for every UID it replaces (``header.engine.new_uids``); verify reads it too."""
    return value in UID_dictionary or _CONTEXT_GROUP_UID.fullmatch(value) is not None


def is_uid(value: str) -> bool:
    """Whether `value` is one UID as PS3.5 9.1 encodes it: dotted decimal components without leading zeros
    (a lone "0" is one), at most 64 characters."""
    return len(value) <= UID_MAX and _UID.fullmatch(value) is not None


def quoted_uid(token: str) -> bool:
    """Whether a dotted number found in text is a UID (:func:`is_uid`) and not another dotted number: its
    first component is an ISO/ITU-T root arc (0, 1 or 2: PS3.5 9.1 UIDs are OIDs, so "10.0.19041.1" is a
    version); it has at least 4 components ("5.5.90" is a version) or is a UUID-derived UID under 2.25
    (PS3.5 B.2: "2.25." and the UUID as one integer); it is at least 10 characters; and it is not an IPv4
    address (4 components of 0-255: "192.168.100.200", "1.22.33.44")."""
    if len(token) < _TEXT_MIN or not is_uid(token):
        return False
    parts = token.split(".")
    if parts[0] not in ("0", "1", "2"):
        return False
    if len(parts) < 4 and parts[:2] != ["2", "25"]:
        return False
    return not (len(parts) == 4 and all(int(p) <= 255 for p in parts))


#: A web address as the text cleaner's URL pattern starts one (veil.text.patterns "url"), to its next space.
_WEB = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)


def uid_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each UID quoted in `text` (:func:`quoted_uid`), in order. A dotted number that is not
    one is not looked into: "10.1.2.840.10008.1.2.3" holds no UID, nor does a date "11.03.2024". A UID inside
    a web address (a WADO "studies/<UID>") is the address's: the cleaner replaces the address whole."""
    spans = [m.span() for m in _DOTTED.finditer(text) if quoted_uid(m.group())]
    if spans:
        web = [m.span() for m in _WEB.finditer(text)]
        spans = [(a, b) for a, b in spans if not any(s < b and a < e for s, e in web)]
    return spans
