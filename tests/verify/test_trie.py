"""verify's needle regexes: a prefix tree of the needles matches exactly what a flat alternation does."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from veil.verify.scan import _alternation, _trie

ALPHABET = "AB0 .-\\"  # few symbols: needles share prefixes and overlap, regex metacharacters included
words = st.lists(st.text(ALPHABET, min_size=1, max_size=6), min_size=1, max_size=12)
texts = st.text(ALPHABET + "xZ", max_size=60)


def _flat(keys: list[str]) -> re.Pattern[str]:
    """The flat alternation verify used: longest needle first."""
    alts = "|".join(re.escape(k) for k in sorted(set(keys), key=len, reverse=True))
    return re.compile(r"(?<![A-Z0-9])(?:" + alts + r")(?![A-Z0-9])")


@settings(max_examples=400, deadline=None)
@given(words, texts)
def test_text_needles_match_as_the_flat_alternation(keys, text):
    ours = _alternation(sorted(set(keys), key=len, reverse=True))
    assert ours is not None
    assert [m.span() for m in ours.finditer(text)] == [m.span() for m in _flat(keys).finditer(text)]


@settings(max_examples=400, deadline=None)
@given(words, texts)
def test_raw_needles_match_case_blind_as_the_flat_alternation(keys, text):
    raw = [k.encode() for k in keys]
    data = text.encode().swapcase()
    flat = re.compile(b"|".join(re.escape(k) for k in sorted(set(raw), key=len, reverse=True)), re.I)
    ours = re.compile(_trie([k.lower() for k in raw]), re.I)
    assert [m.span() for m in ours.finditer(data)] == [m.span() for m in flat.finditer(data)]


def test_a_long_needle_needs_no_deep_recursion():
    long = "A" * 5000
    pat = re.compile(_trie([long, long[:-1] + "B", "C"]))
    assert pat.fullmatch(long) and pat.fullmatch("C") and not pat.fullmatch("A" * 4999)
