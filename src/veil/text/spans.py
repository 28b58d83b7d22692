"""Detected spans and how overlapping detections are combined.

Every detector (known identifiers, patterns, names/places) reports half-open character ranges of the
original value with a type. Cleaning (PS3.15 E.3.4 Clean Descriptors / E.3.5 Clean Structured Content:
"replace with values of similar meaning that contain no identifying information") replaces each merged
range once, by a typed placeholder, so the text keeps its meaning ("CT CHEST for [NAME]").
"""

from __future__ import annotations

from dataclasses import dataclass

NAME = "NAME"
PLACE = "PLACE"
DATE = "DATE"
ID = "ID"
PHONE = "PHONE"
EMAIL = "EMAIL"
URL = "URL"
ADDRESS = "ADDRESS"
AGE = "AGE"

#: When spans of different types overlap, the merged span takes the type ranked first here: the type
#: that says most about what was removed ("[DATE]" rather than "[ID]" for 19610304).
PRIORITY = (EMAIL, URL, DATE, PHONE, ADDRESS, ID, NAME, PLACE, AGE)
_RANK = {label: i for i, label in enumerate(PRIORITY)}


@dataclass(frozen=True, slots=True)
class Span:
    """Characters ``value[start:end]`` are identifying; ``label`` says what they are."""

    start: int
    end: int
    label: str


def merge(spans: list[Span]) -> list[Span]:
    """Union overlapping or touching spans; a merged span keeps its highest-priority label.

    Ages are never merged with their neighbours: an age span is rewritten ("93" -> "90+"), not removed.
    """
    if not spans:
        return []
    spans = sorted(spans, key=lambda s: (s.start, -s.end))
    out: list[Span] = [spans[0]]
    for s in spans[1:]:
        last = out[-1]
        touching = s.start < last.end or (s.start == last.end and AGE not in (s.label, last.label))
        if touching:
            label = last.label if _RANK.get(last.label, 99) <= _RANK.get(s.label, 99) else s.label
            out[-1] = Span(last.start, max(last.end, s.end), label)
        else:
            out.append(s)
    return out
