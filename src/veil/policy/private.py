"""Private-attribute dictionaries for the Retain Safe Private Option (DICOM PS3.15 E.3.10).

Under the Basic Profile every Private Attribute is removed (PS3.15 Table E.1-1, row "Private Attributes", X).
The Retain Safe Private Option (PS3.15 E.3.10) keeps those "known by the de-identifier to be safe from identity
leakage", e.g. because they are listed in PS3.15 Table E.3.10-1, and removes or processes all others.

A :class:`PrivateDictionary` answers one question: what to do with the private element whose block was reserved
by private creator ``creator`` in group ``group`` and whose element number in that block is ``element`` - the
low byte EE of (gggg,xxEE) (PS3.5 7.8.1). The caller resolves the creator from the block's Private Creator
element (gggg,00xx); the dictionary only answers the lookup, so it is a plain dict keyed on
``(creator, group, element)``.

Two sources feed it:

* :func:`load_safe_private` - the project's copy of Table E.3.10-1 (``data/safe_private_e3_10.tsv``), every row
  disposition ``"keep"``;
* :func:`load_tcia_csv` - a site-supplied private-tag knowledge base in the format The Cancer Imaging Archive
  publishes (``element_sig_pattern,tag_name,vr,private_disposition``), which may also say "hash this UID",
  "shift this date" or "offset this integer".

``site.merged(...)`` layers them; the merged dictionary is immutable and picklable so it can travel inside a
compiled plan to worker processes, and its :meth:`~PrivateDictionary.content_hash` is folded into the policy hash.

Everything not found in a dictionary is removed by the caller (fail closed, PS3.15 E.3.10: "all other Private
Attributes shall be removed").
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from veil.errors import PolicyError

Disposition = Literal["keep", "remove", "hash_uid", "shift_date", "offset_int"]

#: All dispositions, in declaration order.
DISPOSITIONS: tuple[Disposition, ...] = get_args(Disposition)

#: How much a disposition changes the value: the safer of two conflicting rules is the higher rank.
SAFETY_RANK: dict[str, int] = {"keep": 0, "hash_uid": 1, "shift_date": 1, "offset_int": 1, "remove": 2}

#: ``source`` of the rules loaded from the bundled Table E.3.10-1.
E3_10_SOURCE = "PS3.15 E.3.10-1"

#: TCIA ``private_disposition`` codes. ``na`` ("not applicable") and a blank cell are removed: fail closed.
TCIA_DISPOSITIONS: dict[str, Disposition] = {
    "k": "keep",
    "d": "remove",
    "h": "hash_uid",
    "o": "shift_date",
    "oi": "offset_int",
    "na": "remove",
    "": "remove",
}

_TCIA_COLUMNS = ("element_sig_pattern", "tag_name", "vr", "private_disposition")
_E3_10_COLUMNS = ("creator", "group", "element", "vr", "name", "condition")
_PATH_SEPARATOR = re.compile(r"\[<\d+>\]")
# One step of a TCIA element signature: a standard tag (gggg,eeee) or a private one (gggg,"creator",ee), where
# the creator's quotes may be missing on either side once the CSV layer has unquoted the field.
_SEGMENT = re.compile(
    r"\((?P<group>[0-9A-Fa-f]{4}),(?:(?P<element4>[0-9A-Fa-f]{4})|(?P<creator>.*),(?P<element2>[0-9A-Fa-f]{2}))\)"
)
_VR = re.compile(r"[A-Z]{2}(?:/[A-Z]{2})*")


def normalise_creator(creator: str) -> str:
    """Private Creator value as compared: surrounding spaces (LO padding, PS3.5 6.2) and NUL padding removed."""
    return creator.strip(" \x00")


def safer(a: Disposition, b: Disposition) -> Disposition:
    """The safer of two dispositions: remove > hash_uid / shift_date / offset_int > keep.

    Two different transformations of equal rank (say hash_uid against shift_date) mean the sources disagree on
    what the element holds; neither can be trusted, so the element is removed.
    """
    if a == b:
        return a
    ra, rb = SAFETY_RANK[a], SAFETY_RANK[b]
    if ra == rb:
        return "remove"
    return a if ra > rb else b


@dataclass(frozen=True, slots=True)
class PrivateRule:
    """What to do with one private attribute, identified by private creator, odd group and element byte."""

    creator: str  # Private Creator value, normalised (see normalise_creator)
    group: int  # odd group number, e.g. 0x0019
    element: int  # low byte 0x00-0xFF of the element within the creator's block
    disposition: Disposition
    vr: str | None
    name: str
    source: str  # where the rule comes from: "PS3.15 E.3.10-1" or "<file name>:<line>"

    def __post_init__(self) -> None:
        if self.creator != normalise_creator(self.creator):
            object.__setattr__(self, "creator", normalise_creator(self.creator))
        if not (0 <= self.group <= 0xFFFF) or self.group % 2 == 0:
            raise ValueError(f"private group must be odd and 0000-FFFF, got {self.group:#06x}")
        if not 0 <= self.element <= 0xFF:
            raise ValueError(f"private element must be the low byte 00-FF of the element, got {self.element:#x}")
        if self.disposition not in SAFETY_RANK:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}, got {self.disposition!r}")

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.creator, self.group, self.element)

    def tag_text(self) -> str:
        """The rule's attribute as written in PS3.15 tables and TCIA files: ``(0019,"GEMS_ACQU_01",23)``."""
        return f'({self.group:04x},"{self.creator}",{self.element:02x})'


def _fold(key: tuple[str, int, int]) -> tuple[str, int, int]:
    return (key[0].casefold(), key[1], key[2])


class PrivateDictionary:
    """An immutable set of :class:`PrivateRule` keyed on (creator, group, element); picklable.

    Creators compare case-sensitively, as the standard compares Private Creator values; a case-insensitive match
    is the fallback, used only when no exact match exists (where two creators differ only by case the fallback
    answers with the safer rule). Building from rules that repeat a key keeps one rule per key, the safer
    disposition winning; :attr:`conflicts` counts the keys whose rules disagreed.

    Attributes kept for the audit trail: ``source`` (a label), ``conflicts``, ``skipped`` (input rows that
    describe no private element, e.g. standard attributes inside private sequences), ``rows_read`` and
    ``blank_dispositions`` (TCIA rows with an empty disposition, treated as remove).
    """

    __slots__ = (
        "_by_fold",
        "_hash",
        "_rules",
        "blank_dispositions",
        "conflicts",
        "rows_read",
        "skipped",
        "source",
    )

    _rules: dict[tuple[str, int, int], PrivateRule]
    _by_fold: dict[tuple[str, int, int], PrivateRule]
    _hash: str | None
    source: str
    conflicts: int
    skipped: int
    rows_read: int
    blank_dispositions: int

    def __init__(
        self,
        rules: Iterable[PrivateRule] = (),
        *,
        source: str = "",
        conflicts: int = 0,
        skipped: int = 0,
        rows_read: int = 0,
        blank_dispositions: int = 0,
    ) -> None:
        by_key: dict[tuple[str, int, int], PrivateRule] = {}
        disagreeing: set[tuple[str, int, int]] = set()
        for rule in rules:
            old = by_key.get(rule.key)
            if old is None:
                by_key[rule.key] = rule
            elif old.disposition != rule.disposition:
                disagreeing.add(rule.key)
                winner = safer(old.disposition, rule.disposition)
                if winner == rule.disposition:
                    by_key[rule.key] = rule
                elif winner != old.disposition:  # two different transformations: removed
                    by_key[rule.key] = _with_disposition(old, winner)
        set_ = object.__setattr__
        set_(self, "_rules", by_key)
        set_(self, "_by_fold", _fold_index(by_key.values()))
        set_(self, "_hash", None)
        set_(self, "source", source)
        set_(self, "conflicts", conflicts + len(disagreeing))
        set_(self, "skipped", skipped)
        set_(self, "rows_read", rows_read)
        set_(self, "blank_dispositions", blank_dispositions)

    # -- immutability and pickling ------------------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PrivateDictionary is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PrivateDictionary is immutable (cannot delete {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                tuple(self._rules.values()),
                self.source,
                self.conflicts,
                self.skipped,
                self.rows_read,
                self.blank_dispositions,
            ),
        )

    # -- the lookup -----------------------------------------------------------------------------------------
    def lookup(self, creator: str, group: int, element: int) -> PrivateRule | None:
        """The rule for element (gggg,xxEE) of the block reserved by ``creator``, or None if none is known.

        ``element`` is the low byte EE; a full element number (0x10EE) is accepted and masked to its low byte,
        since the block byte only says where the creator happened to place its block.
        """
        key = (normalise_creator(creator), group, element & 0xFF)
        rule = self._rules.get(key)
        if rule is None:
            rule = self._by_fold.get(_fold(key))
        return rule

    def merged(self, other: PrivateDictionary) -> PrivateDictionary:
        """A new dictionary with the rules of both; ``other`` wins every key it has (a site file overrides the
        built-in table), including keys that differ from this dictionary's only by the creator's case."""
        theirs = other._rules
        their_folds = {_fold(k) for k in theirs}
        rules = [r for k, r in self._rules.items() if _fold(k) not in their_folds]
        rules.extend(theirs.values())
        return _rebuild(
            tuple(rules),
            f"{self.source} + {other.source}" if self.source and other.source else self.source or other.source,
            self.conflicts + other.conflicts,
            self.skipped + other.skipped,
            self.rows_read + other.rows_read,
            self.blank_dispositions + other.blank_dispositions,
        )

    def rules(self) -> Iterator[PrivateRule]:
        """The rules in canonical order: creator, group, element."""
        for key in sorted(self._rules):
            yield self._rules[key]

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[PrivateRule]:
        return self.rules()

    def __contains__(self, key: object) -> bool:
        return key in self._rules

    def content_hash(self) -> str:
        """SHA-256 (hex) over a canonical serialisation of the rules, recorded in the policy hash.

        One JSON array ``[creator, group, element, disposition, vr, name]`` per rule, in canonical order, after a
        format tag. ``source`` and the counters are provenance, not behaviour, and are left out: the same rules
        loaded from a renamed file hash the same.
        """
        if self._hash is None:
            h = hashlib.sha256(b"veil-private-dictionary/1\n")
            for r in self.rules():
                line = json.dumps(
                    [r.creator, r.group, r.element, r.disposition, r.vr, r.name],
                    ensure_ascii=False,
                    separators=(",", ":"),
                )
                h.update(line.encode("utf-8") + b"\n")
            object.__setattr__(self, "_hash", h.hexdigest())
        assert self._hash is not None
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateDictionary):
            return NotImplemented
        return self._rules == other._rules

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def __repr__(self) -> str:
        return f"PrivateDictionary({len(self)} rules, source={self.source!r}, conflicts={self.conflicts})"


def _with_disposition(rule: PrivateRule, disposition: Disposition) -> PrivateRule:
    if rule.disposition == disposition:
        return rule
    return PrivateRule(rule.creator, rule.group, rule.element, disposition, rule.vr, rule.name, rule.source)


def _fold_index(rules: Iterable[PrivateRule]) -> dict[tuple[str, int, int], PrivateRule]:
    index: dict[tuple[str, int, int], PrivateRule] = {}
    for rule in sorted(rules, key=lambda r: r.key):
        fk = _fold(rule.key)
        old = index.get(fk)
        if old is None:
            index[fk] = rule
        elif safer(old.disposition, rule.disposition) != old.disposition:
            index[fk] = _with_disposition(rule, safer(old.disposition, rule.disposition))
    return index


def _rebuild(
    rules: tuple[PrivateRule, ...],
    source: str,
    conflicts: int,
    skipped: int,
    rows_read: int,
    blank_dispositions: int,
) -> PrivateDictionary:
    return PrivateDictionary(
        rules,
        source=source,
        conflicts=conflicts,
        skipped=skipped,
        rows_read=rows_read,
        blank_dispositions=blank_dispositions,
    )


# -- PS3.15 Table E.3.10-1 -------------------------------------------------------------------------------------


@cache
def load_safe_private() -> PrivateDictionary:
    """The project's copy of PS3.15 Table E.3.10-1 "Safe Private Attributes", every row disposition "keep".

    The edition and provenance are in the header of ``data/safe_private_e3_10.tsv``. Cached: the dictionary is
    immutable. A row with a condition is refused, because a lookup cannot evaluate it and would keep the
    attribute unconditionally (the 2025 table has none).
    """
    name = "safe_private_e3_10.tsv"
    text = resources.files("veil.policy").joinpath(f"data/{name}").read_text(encoding="utf-8")
    edition = ""
    rules: list[PrivateRule] = []
    header_seen = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            if not edition and "edition" in line:
                edition = line.lstrip("# ").split(",")[0]
            continue
        if not line.strip():
            continue
        cells = line.split("\t")
        if not header_seen:
            if tuple(cells) != _E3_10_COLUMNS:
                raise PolicyError(f"{name}, line {lineno}: expected the header {'<tab>'.join(_E3_10_COLUMNS)}")
            header_seen = True
            continue
        if len(cells) != len(_E3_10_COLUMNS):
            raise PolicyError(f"{name}, line {lineno}: expected {len(_E3_10_COLUMNS)} tab-separated columns")
        creator, group_s, element_s, vr, attr_name, condition = cells
        if not re.fullmatch(r"[0-9a-fA-F]{4}", group_s) or not re.fullmatch(r"[0-9a-fA-F]{2}", element_s):
            raise PolicyError(f"{name}, line {lineno}: expected group as 4 hex digits and element as 2")
        if condition != "-":
            raise PolicyError(f"{name}, line {lineno}: conditional rows are not supported, got {condition!r}")
        try:
            rules.append(
                PrivateRule(
                    creator=creator,
                    group=int(group_s, 16),
                    element=int(element_s, 16),
                    disposition="keep",
                    vr=None if vr == "-" else vr,
                    name="" if attr_name == "-" else attr_name,
                    source=E3_10_SOURCE,
                )
            )
        except ValueError as exc:
            raise PolicyError(f"{name}, line {lineno}: {exc}") from None
    return PrivateDictionary(rules, source=f"{edition} Table E.3.10-1".strip(), rows_read=len(rules))


# -- TCIA private tag knowledge base ----------------------------------------------------------------------------


def load_tcia_csv(path: Path) -> PrivateDictionary:
    """A private-tag dictionary in The Cancer Imaging Archive's knowledge-base format.

    Columns ``element_sig_pattern,tag_name,vr,private_disposition`` (a UTF-8 BOM is allowed). A pattern names
    a private element, optionally behind a sequence path: ``(0019,"GEMS_ACQU_01",0c)`` or
    ``(0008,1084)[<0>](312f,"Ramsoft Diagnosis Datetime Identifier",10)``; the creator's quotes may be missing
    on either side (exports in the wild drop the opening one). Dispositions: ``k`` keep, ``d`` remove, ``h``
    hash_uid, ``o`` shift_date, ``oi`` offset_int, ``na`` and blank remove (fail closed); case and surrounding
    spaces are ignored.

    Rules are keyed on (creator, group, element) only; the sequence path is not kept. Where rows for one key
    disagree the safer disposition wins (:func:`safer`) and ``conflicts`` counts such keys. Rows whose pattern
    ends in a standard attribute (gggg,eeee) - a standard element inside a private sequence, or a Private
    Creator element - describe no private element and are counted in ``skipped``; the standard profile
    handles them.

    Raises :class:`PolicyError` naming the file and line of the first malformed row. An empty file gives an
    empty dictionary.
    """
    label = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the private dictionary ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{label}: expected UTF-8 text, undecodable byte at offset {exc.start}") from None
    if not text.strip():
        return PrivateDictionary(source=label)

    reader = csv.reader(io.StringIO(text, newline=""))
    lineno = reader.line_num + 1
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in _TCIA_COLUMNS if c not in header]
    if missing:
        raise PolicyError(
            f"{label}, line {lineno}: expected a header with the columns {', '.join(_TCIA_COLUMNS)}; "
            f"missing {', '.join(missing)}"
        )
    col = {c: header.index(c) for c in _TCIA_COLUMNS}

    rules: list[PrivateRule] = []
    skipped = rows = blank = 0
    while True:
        lineno = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise PolicyError(f"{label}, line {lineno}: not valid CSV ({exc})") from None
        if not row or all(not cell.strip() for cell in row):
            continue
        rows += 1
        where = f"{label}, line {lineno}"
        if len(row) != len(header):
            raise PolicyError(f"{where}: expected {len(header)} comma-separated columns, got {len(row)}")
        pattern = row[col["element_sig_pattern"]].strip()
        segments = _PATH_SEPARATOR.split(pattern)
        matches = [_SEGMENT.fullmatch(s) for s in segments]
        if not pattern or not all(matches):
            raise PolicyError(
                f'{where}: expected an element signature like (0019,"GEMS_ACQU_01",0c), optionally after a '
                f"sequence path like (0008,1084)[<0>], got {pattern!r}"
            )
        last = matches[-1]
        assert last is not None
        if last["element4"] is not None:
            skipped += 1
            continue
        group = int(last["group"], 16)
        if group % 2 == 0:
            raise PolicyError(f"{where}: a private element needs an odd group, got {last['group']} in {pattern!r}")
        code = row[col["private_disposition"]].strip().lower()
        if code not in TCIA_DISPOSITIONS:
            raise PolicyError(
                f"{where}: expected private_disposition k, d, h, o, oi or na, got {row[col['private_disposition']]!r}"
            )
        if code == "":
            blank += 1
        vr = row[col["vr"]].strip().upper()
        if vr and not _VR.fullmatch(vr):
            raise PolicyError(f"{where}: expected a two-letter VR such as DS or OB (or empty), got {vr!r}")
        creator = last["creator"]
        if creator.startswith('"'):
            creator = creator[1:]
        if creator.endswith('"'):
            creator = creator[:-1]
        names = row[col["tag_name"]].strip().split(":")
        name = names[-1].strip() if len(names) == len(segments) else row[col["tag_name"]].strip()
        rules.append(
            PrivateRule(
                creator=normalise_creator(creator),
                group=group,
                element=int(last["element2"], 16),
                disposition=TCIA_DISPOSITIONS[code],
                vr=vr or None,
                name=name,
                source=f"{label}:{lineno}",
            )
        )
    return PrivateDictionary(rules, source=label, skipped=skipped, rows_read=rows, blank_dispositions=blank)
