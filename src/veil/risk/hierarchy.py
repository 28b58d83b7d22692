"""Generalisation hierarchies: for each quasi-identifier, a ladder of ever coarser values ending in ``*``.

Full-domain generalisation (Samarati & Sweeney 1998; Sweeney 2002, "Achieving k-anonymity privacy
protection using generalization and suppression") recodes every value of an attribute to the same level
of its hierarchy, so the released data stay truthful (a band contains the true value) and the choice of
levels is a point in a small lattice that :mod:`veil.risk.search` can explore exhaustively. This module
holds the ladders Veil ships (age bands 5/10/20 years with the HIPAA Safe Harbor 90+ top code,
§164.514(b)(2)(i)(C); date → month → quarter → year; weight and height bins; rare manufacturers, models
and institutions → ``OTHER``; body-part groups) and reads user ladders from YAML (same shape as
ARX's hierarchy files: one level per column, the last one ``*``).

Two objects:

- :class:`Hierarchy` is the *specification* (what the user wrote, frozen, picklable).
- :class:`Encoding` is the specification *resolved against data*: the distinct observed values (the
  leaves), and for every level an integer code per leaf, its label, and the per-leaf information loss.
  Search and measurement work on these integer codes only (vectorised numpy), never on strings.

A hierarchy must be functional: each level is a function of the level below (a value never splits
between two coarser values). :func:`encode` checks this, because monotonicity (and therefore the
correctness of pruning in the search) depends on it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from veil.errors import VeilError
from veil.risk._kernels import factorise

SUPPRESSED = "*"
OTHER = "OTHER"
MULTI_SEP = "/"
"""Study/patient rows can hold several values (``CT/PT``); categorical ladders map each part."""

KINDS = ("bands", "dates", "groups", "frequency", "suppress")


class HierarchyError(VeilError):
    """A hierarchy specification is invalid (unknown kind, bad widths, not functional, ...)."""


@dataclass(frozen=True)
class Hierarchy:
    """One attribute's ladder. ``kind`` decides how ``params`` are read:

    - ``bands``: numeric; ``widths`` (ascending, each a multiple of the previous so bands nest),
      optional ``top`` (values ≥ top become ``top+`` on every band level: HIPAA's 90+ for ages) and
      ``origin`` (band alignment, default 0).
    - ``dates``: ``levels`` among ``month``, ``quarter``, ``year``, ``decade`` (in that order).
    - ``groups``: ``levels`` is a list of mappings ``group: [values…]``; unmapped values become ``OTHER``.
    - ``frequency``: rare values (fewer than ``min_count`` records, default 11 — the public-release k)
      become ``OTHER``; data-dependent, resolved by :func:`encode`.
    - ``suppress``: only the value itself or ``*``.
    """

    attribute: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise HierarchyError(f"hierarchy for {self.attribute!r}: unknown kind {self.kind!r}; use one of {KINDS}")
        if self.kind == "bands":
            widths = list(self.params.get("widths", ()))
            if not widths or any(w <= 0 for w in widths):
                raise HierarchyError(f"hierarchy for {self.attribute!r}: bands need positive 'widths'")
            for a, b in itertools.pairwise(widths):
                ratio = b / a
                if b <= a or abs(ratio - round(ratio)) > 1e-9:
                    raise HierarchyError(f"hierarchy for {self.attribute!r}: widths must nest (each a multiple of "
                                         f"the previous), got {widths}")
        if self.kind == "dates":
            order = ["month", "quarter", "year", "decade"]
            lv = list(self.params.get("levels", ["month", "quarter", "year"]))
            if any(x not in order for x in lv) or lv != sorted(lv, key=order.index) or len(set(lv)) != len(lv):
                raise HierarchyError(f"hierarchy for {self.attribute!r}: date levels must be a subsequence of {order}")

    @property
    def level_names(self) -> tuple[str, ...]:
        """Names of the levels, exact value first and ``*`` last (what reports and JSON show)."""
        if self.kind == "bands":
            return ("exact", *(f"{_fmt(w)}-band" for w in self.params["widths"]), SUPPRESSED)
        if self.kind == "dates":
            return ("day", *self.params.get("levels", ["month", "quarter", "year"]), SUPPRESSED)
        if self.kind == "groups":
            return ("exact", *(f"group{i + 1}" for i in range(len(self.params.get("levels", [])))), SUPPRESSED)
        if self.kind == "frequency":
            return ("exact", "rare→OTHER", SUPPRESSED)
        return ("exact", SUPPRESSED)

    @property
    def height(self) -> int:
        return len(self.level_names)

    # --- value mapping ------------------------------------------------------------------------------

    def label(self, value: Any, level: int, rare: frozenset[str] = frozenset()) -> str | None:
        """The generalised label of one leaf value at ``level`` (``None`` stays ``None`` = missing)."""
        if value is None:
            return None
        if level >= self.height - 1:
            return SUPPRESSED
        if level == 0:
            return _fmt(value) if self.kind == "bands" else (value.isoformat() if isinstance(value, date) else
                                                             str(value))
        if self.kind == "bands":
            lo, hi, top = self.band(float(value), level)
            return f"{_fmt(lo)}+" if top else f"{_fmt(lo)}-{_fmt(hi)}"
        if self.kind == "dates":
            return _date_label(_as_date(value), self.level_names[level])
        parts = str(value).split(MULTI_SEP)
        if self.kind == "groups":
            table = _group_table(self.params["levels"][level - 1])
            mapped = {table.get(p.upper(), OTHER) for p in parts}
        else:  # frequency
            mapped = {OTHER if p in rare else p for p in parts}
        return MULTI_SEP.join(sorted(mapped))

    def band(self, value: float, level: int) -> tuple[float, float, bool]:
        """(lower bound, upper label bound, is-top-coded) of the band holding ``value`` at ``level`` ≥ 1."""
        w = float(self.params["widths"][level - 1])
        top = self.params.get("top")
        if top is not None and value >= float(top):
            return float(top), math.inf, True
        origin = float(self.params.get("origin", 0))
        lo = origin + math.floor((value - origin) / w + 1e-9) * w
        lo = round(lo, 6)
        integral = all(float(x).is_integer() for x in self.params["widths"])
        hi = lo + w - 1 if integral and float(value).is_integer() else round(lo + w, 6)
        return lo, hi, False

    def lower_bound(self, value: Any, level: int) -> Any:
        """What goes back into a DICOM element that cannot hold a range (AS, DA, DS): the range's start.

        The release then reads as if exact, but every member of a class carries the same value, so the
        classes — and k — are what the search measured (checked by re-measuring after ``apply``).
        """
        if value is None or level == 0:
            return value
        if level >= self.height - 1:
            return None
        if self.kind == "bands":
            return self.band(float(value), level)[0]
        if self.kind == "dates":
            d = _as_date(value)
            name = self.level_names[level]
            if name == "month":
                return d.replace(day=1)
            if name == "quarter":
                return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
            if name == "year":
                return date(d.year, 1, 1)
            return date(d.year - d.year % 10, 1, 1)
        return self.label(value, level)


@dataclass(frozen=True)
class Encoding:
    """A hierarchy resolved against one column: leaves, codes per level, labels and per-leaf loss.

    ``codes`` is the leaf index of every row (``-1`` never occurs: missing values are a leaf of their own,
    label ``None``). ``maps[l][leaf]`` is the code of the leaf at level ``l``; ``labels[l][code]`` its
    label; ``leaf_loss[l][leaf]`` the generalisation loss of that leaf at that level, (|leaves under
    the label| − 1)/(|leaves| − 1) (Iyengar 2002's loss metric, ARX "Loss"); ``leaf_counts`` the rows
    per leaf (for non-uniform entropy and lower bounds).
    """

    hierarchy: Hierarchy
    leaves: tuple[Any, ...]
    codes: np.ndarray
    maps: tuple[np.ndarray, ...]
    labels: tuple[tuple[str | None, ...], ...]
    leaf_loss: tuple[np.ndarray, ...]
    leaf_counts: np.ndarray
    rare: frozenset[str] = frozenset()

    @property
    def cards(self) -> tuple[int, ...]:
        """Number of distinct codes at each level."""
        return tuple(len(lab) for lab in self.labels)

    def translate(self, src: int, dst: int) -> np.ndarray:
        """Code at level ``src`` → code at level ``dst`` (``src`` ≤ ``dst``), as a lookup array."""
        out = np.zeros(self.cards[src], dtype=np.int64)
        out[self.maps[src]] = self.maps[dst]
        return out

    def code_loss(self, level: int) -> np.ndarray:
        """Loss per code at ``level`` (the same for every leaf under a code)."""
        out = np.zeros(self.cards[level], dtype=np.float64)
        out[self.maps[level]] = self.leaf_loss[level]
        return out

    def code_counts(self, level: int) -> np.ndarray:
        """Rows per code at ``level``."""
        return np.bincount(self.maps[level], weights=self.leaf_counts, minlength=self.cards[level]).astype(np.int64)


def encode(hierarchy: Hierarchy, column: pl.Series) -> Encoding:
    """Resolve ``hierarchy`` against ``column``; vectorised over rows (only distinct values are labelled)."""
    codes, leaves, counts = _factorise(column)
    rare: frozenset[str] = frozenset()
    if hierarchy.kind == "frequency":
        min_count = int(hierarchy.params.get("min_count", 11))
        part_counts: dict[str, int] = {}
        for leaf, c in zip(leaves, counts, strict=True):
            if leaf is not None:
                for p in str(leaf).split(MULTI_SEP):
                    part_counts[p] = part_counts.get(p, 0) + int(c)
        rare = frozenset(p for p, c in part_counts.items() if c < min_count)
    maps, labels, losses = [], [], []
    n_leaves = len(leaves)
    prev: np.ndarray | None = None
    for level in range(hierarchy.height):
        lab = [hierarchy.label(v, level, rare) for v in leaves]
        uniq: dict[str | None, int] = {}
        m = np.fromiter((uniq.setdefault(x, len(uniq)) for x in lab), dtype=np.int64, count=n_leaves)
        if prev is not None:  # functional: one coarser code per finer code
            first = np.full(int(prev.max(initial=-1)) + 1, -1, dtype=np.int64)
            first[prev] = m
            if not np.array_equal(first[prev], m):
                raise HierarchyError(f"hierarchy for {hierarchy.attribute!r} is not functional at level "
                                     f"{hierarchy.level_names[level]!r}: a value maps to two coarser values")
        size = np.bincount(m, minlength=len(uniq))
        loss = (size[m] - 1) / (n_leaves - 1) if n_leaves > 1 else np.zeros(n_leaves)
        if level == hierarchy.height - 1:
            loss = np.ones(n_leaves)
        maps.append(m)
        labels.append(tuple(uniq))
        losses.append(loss.astype(np.float64))
        prev = m
    return Encoding(hierarchy, tuple(leaves), codes, tuple(maps), tuple(labels), tuple(losses),
                    counts.astype(np.int64), rare)


def label_column(column: pl.Series, hierarchy: Hierarchy, level: int,
                 rare: frozenset[str] = frozenset()) -> pl.Series:
    """Labels of a whole column at ``level`` (strings; nulls stay null). Only distinct values are labelled,
    so any table — the release, a registry, a population — is generalised the same way."""
    distinct = column.drop_nulls().unique()
    labels = pl.Series([hierarchy.label(v, level, rare) for v in distinct.to_list()], dtype=pl.Utf8)
    if distinct.is_empty():
        return pl.Series(column.name, [None] * column.len(), dtype=pl.Utf8)
    return column.replace_strict(distinct, labels, default=None, return_dtype=pl.Utf8).alias(column.name)


def _factorise(column: pl.Series) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Row → leaf index, the sorted distinct values (``None`` last) and rows per leaf."""
    codes, distinct = factorise(column)
    leaves: list[Any] = distinct.to_list()
    if column.null_count():
        leaves.append(None)
    counts = np.bincount(codes, minlength=len(leaves))
    return codes, leaves, counts


# --- defaults and YAML -----------------------------------------------------------------------------

BODY_PART_GROUPS: dict[str, list[str]] = {
    "HEAD_NECK": ["HEAD", "BRAIN", "SKULL", "NECK", "FACE", "ORBIT", "SINUS", "EAR", "IAC", "JAW", "TMJ",
                  "NECK_HEAD", "HEADNECK", "CSPINE", "THYROID", "CAROTID", "CIRCLEOFWILLIS"],
    "CHEST": ["CHEST", "THORAX", "LUNG", "HEART", "BREAST", "TSPINE", "RIB", "STERNUM", "CLAVICLE", "CHEST_ABDOMEN",
              "CHESTABDOMEN", "MEDIASTINUM", "AORTA", "CORONARY"],
    "ABDOMEN_PELVIS": ["ABDOMEN", "PELVIS", "LIVER", "KIDNEY", "PANCREAS", "ABDOMENPELVIS", "ABDOMEN_PELVIS",
                       "LSPINE", "SSPINE", "PROSTATE", "BLADDER", "UTERUS", "COLON", "RECTUM", "HIP", "SPLEEN"],
    "SPINE": ["SPINE", "WHOLESPINE", "COCCYX", "SACRUM"],
    "EXTREMITY": ["ARM", "HAND", "WRIST", "ELBOW", "SHOULDER", "HUMERUS", "FOREARM", "FINGER", "LEG", "KNEE", "FOOT",
                  "ANKLE", "FEMUR", "TIBIA", "FIBULA", "TOE", "EXTREMITY", "UPRLIMB", "LOWRLIMB", "THUMB", "HEEL"],
    "WHOLEBODY": ["WHOLEBODY", "WHOLE_BODY", "TBODY", "BODY"],
}
BODY_REGION_GROUPS: dict[str, list[str]] = {
    "AXIAL": ["HEAD_NECK", "CHEST", "ABDOMEN_PELVIS", "SPINE"],
    "APPENDICULAR": ["EXTREMITY"],
    "WHOLEBODY": ["WHOLEBODY"],
}


def default_hierarchies() -> dict[str, Hierarchy]:
    """The ladders Veil uses unless a YAML file overrides them, keyed by table column."""
    region = {g: [p for sub in members for p in BODY_PART_GROUPS[sub]] + members for g, members in
              BODY_REGION_GROUPS.items()}
    return {
        "age": Hierarchy("age", "bands", {"widths": [5, 10, 20], "top": 90}),
        "birth_year": Hierarchy("birth_year", "bands", {"widths": [5, 10, 20]}),
        "sex": Hierarchy("sex", "suppress"),
        "study_date": Hierarchy("study_date", "dates", {"levels": ["month", "quarter", "year"]}),
        "modality": Hierarchy("modality", "suppress"),
        "body_part": Hierarchy("body_part", "groups", {"levels": [BODY_PART_GROUPS, region]}),
        "manufacturer": Hierarchy("manufacturer", "frequency", {"min_count": 11}),
        "model": Hierarchy("model", "frequency", {"min_count": 11}),
        "institution": Hierarchy("institution", "frequency", {"min_count": 11}),
        "height": Hierarchy("height", "bands", {"widths": [0.05, 0.1, 0.2]}),
        "weight": Hierarchy("weight", "bands", {"widths": [5, 10, 20]}),
        "ethnic_group": Hierarchy("ethnic_group", "frequency", {"min_count": 11}),
        "description": Hierarchy("description", "suppress"),
    }


def load_hierarchies(path: Path | None) -> dict[str, Hierarchy]:
    """Defaults, overridden attribute by attribute by a YAML file::

        hierarchies:
          age: {kind: bands, widths: [10, 20], top: 90}
          study_date: {kind: dates, levels: [quarter, year]}
          body_part:
            kind: groups
            levels:
              - {HEAD: [BRAIN, SKULL, HEAD], TRUNK: [CHEST, ABDOMEN, PELVIS]}
          manufacturer: {kind: frequency, min_count: 20}
    """
    out = default_hierarchies()
    if path is None:
        return out
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HierarchyError(f"cannot read hierarchy file {path}: {exc}") from exc
    items = doc.get("hierarchies", doc) if isinstance(doc, dict) else None
    if not isinstance(items, dict):
        raise HierarchyError(f"{path}: expected a mapping 'hierarchies: {{attribute: {{kind: ...}}}}'")
    for attr, spec in items.items():
        if not isinstance(spec, dict) or "kind" not in spec:
            raise HierarchyError(f"{path}: hierarchy for {attr!r} needs a 'kind' ({', '.join(KINDS)})")
        params = {k: v for k, v in spec.items() if k != "kind"}
        out[str(attr)] = Hierarchy(str(attr), str(spec["kind"]), params)
    return out


# --- helpers ---------------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    f = float(x)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    s = str(value).replace("-", "")
    return date(int(s[:4]), int(s[4:6] or 1), int(s[6:8] or 1))


def _date_label(d: date, name: str) -> str:
    if name == "month":
        return f"{d.year:04d}-{d.month:02d}"
    if name == "quarter":
        return f"{d.year:04d}-Q{(d.month - 1) // 3 + 1}"
    if name == "year":
        return f"{d.year:04d}"
    return f"{d.year - d.year % 10:04d}s"


_GROUP_CACHE: dict[int, tuple[Mapping[str, Sequence[str]], dict[str, str]]] = {}


def _group_table(level: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """member → group for one level (cached per mapping object; the object is kept so ids stay unique)."""
    hit = _GROUP_CACHE.get(id(level))
    if hit is not None and hit[0] is level:
        return hit[1]
    table: dict[str, str] = {}
    for group, members in level.items():
        table[str(group).upper()] = str(group).upper()
        for m in members:
            table[str(m).upper()] = str(group).upper()
    _GROUP_CACHE[id(level)] = (level, table)
    return table
