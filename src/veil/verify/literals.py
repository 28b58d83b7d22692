"""A set of literal strings (verify's needles), found as one regex alternation of them finds them.

Why not the regex: ``veil verify --against`` an archive searches every output for every identifying value of
its input, tens of thousands of names, IDs and places per thousand patients. Compiled into one regex (a
prefix tree of them), they cost every worker about 0.5 ms and 15 KB a needle to compile, once for the text
and once per raw encoding: 10,000 patients took 28 s and 865 MB before a worker
read its first file. An Aho-Corasick automaton (pyahocorasick, C) is built in about 2 us a needle at 40 bytes
a node, and finds every occurrence in one pass; :meth:`Literals.spans` then picks the ones a regex picks.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick


class Literals:
    """Literal strings found as ``(?<!W)(?:a|b|...)(?!W)`` (``bounded``) or ``(?:a|b|...)`` finds them
    with ``finditer``: leftmost first, at a place the longest (with boundaries: the longest that ends on
    one), not overlapping. Bytes are searched as Latin-1 text (one character a byte)."""

    def __init__(self, words: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        self.words = 0
        for w in words:
            if w and self._automaton.add_word(w, len(w)):
                self.words += 1
        if not self.words:
            raise ValueError("no words")
        self._automaton.make_automaton()

    def spans(self, s: str, start: int = 0, stop: int | None = None,
              boundary: frozenset[str] | None = None) -> list[tuple[int, int]]:
        """Spans of the words in `s` that start in [start, stop). `boundary`: the characters that may not
        come right before or after a word (None: any may)."""
        longest: dict[int, int] = {}  # start -> length of the longest word there
        n = len(s)
        for end, size in self._automaton.iter(s, start):
            a = end + 1 - size
            if boundary is not None and ((a and s[a - 1] in boundary) or (end + 1 < n and s[end + 1] in boundary)):
                continue
            if size > longest.get(a, 0):
                longest[a] = size
        found: list[tuple[int, int]] = []
        at = start
        for a in sorted(longest):
            if stop is not None and a >= stop:
                break
            if a >= at:
                found.append((a, a + longest[a]))
                at = a + longest[a]
        return found


#: What the needle regex refused next to a match in folded (upper-case) text: a capital or digit of ASCII.
WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
