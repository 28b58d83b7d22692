"""verify's literal needles: an Aho-Corasick automaton (veil.verify.literals) finds exactly what a flat
regex alternation of the needles finds (leftmost, the longest at a place, not overlapping), on word
boundaries in folded text and case-blind anywhere in raw bytes; the prefix-tree regex the date shape
and its month names are written with matches as the flat alternation does."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.verify.literals import WORD, Literals
from veil.verify.scan import _trie

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
    assert Literals(keys).spans(text, boundary=WORD) == [m.span() for m in _flat(keys).finditer(text)]


@settings(max_examples=400, deadline=None)
@given(words, texts, st.integers(0, 20), st.integers(0, 70))
def test_a_window_of_text_matches_as_finditer_from_its_start(keys, text, start, stop):
    """Raw windows search from `start` and keep the matches that begin before `stop`."""
    flat = [m.span() for m in _flat(keys).finditer(text, start) if m.start() < stop]
    assert Literals(keys).spans(text, start, stop, boundary=WORD) == flat


@settings(max_examples=400, deadline=None)
@given(words, texts)
def test_raw_needles_match_case_blind_as_the_flat_alternation(keys, text):
    raw = [k.encode() for k in keys]
    data = text.encode().swapcase()
    flat = re.compile(b"|".join(re.escape(k) for k in sorted(set(raw), key=len, reverse=True)), re.I)
    ours = Literals(k.lower().decode("latin-1") for k in raw)
    assert ours.spans(data.lower().decode("latin-1")) == [m.span() for m in flat.finditer(data)]


@settings(max_examples=200, deadline=None)
@given(words, texts)
def test_the_prefix_tree_regex_matches_as_the_flat_alternation(keys, text):
    ours = re.compile(r"(?<![A-Z0-9])(?:" + _trie(sorted(set(keys))) + r")(?![A-Z0-9])")
    assert [m.span() for m in ours.finditer(text)] == [m.span() for m in _flat(keys).finditer(text)]


def test_a_long_needle_needs_no_deep_recursion():
    long = "A" * 5000
    pat = re.compile(_trie([long, long[:-1] + "B", "C"]))
    assert pat.fullmatch(long) and pat.fullmatch("C") and not pat.fullmatch("A" * 4999)
    assert Literals([long, "C"]).spans("C" + long + "C") == [(0, 1), (1, 5001), (5001, 5002)]


def test_no_needles_is_an_error_not_an_empty_matcher():
    with pytest.raises(ValueError):
        Literals(["", ""])
