"""Rule regions: header signatures -> rectangles that are always blanked, whatever OCR reads.

This is how CTP's DicomPixelAnonymizer scripts work, for the devices whose layout is known: a rule
names attribute values (Manufacturer, ManufacturerModelName, Modality, SOPClassUID, Rows, Columns,
ImageType, ...) and the rectangles where that device burns in patient data. Rules catch what OCR
misreads (stylised fonts, text on textured bars) and document known layouts; OCR catches what no rule
knows. Veil ships a starter set of its own (``veil/pixels/data/rules.yaml``); sites add files with the
policy's ``pixels.rules``.

File format (YAML)::

    rules:
      - name: siemens-s2000-us-header          # unique, shown in the manifest and the review page
        match:                                 # every key must match (case-insensitive)
          Manufacturer: "SIEMENS.*"            # strings are regular expressions matched in full
          Modality: US
          Rows: 768                            # numbers compare exactly
          Columns: 1024
        regions:                               # [x, y, width, height] in pixels; x or y < 0 count from
          - [0, 0, 900, 58]                    # the right / bottom edge
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydicom.dataset import Dataset

from veil.errors import PolicyError
from veil.pixels.ocr import Box


@dataclass(frozen=True)
class Rule:
    name: str
    match: tuple[tuple[str, str | int], ...]
    regions: tuple[tuple[int, int, int, int], ...]
    source: str

    def matches(self, ds: Dataset) -> bool:
        for key, want in self.match:
            if key not in ds:
                return False
            value = ds.get(key)
            if isinstance(want, int):
                try:
                    if int(value) != want:
                        return False
                except (TypeError, ValueError):
                    return False
                continue
            text = "\\".join(str(v) for v in value) if isinstance(value, (list, tuple)) or (
                hasattr(value, "__iter__") and not isinstance(value, (str, bytes))) else str(value)
            if not re.fullmatch(want, text.strip(), flags=re.IGNORECASE):
                return False
        return True

    def boxes(self, rows: int, cols: int) -> list[Box]:
        out = []
        for x, y, w, h in self.regions:
            x0 = cols + x if x < 0 else x
            y0 = rows + y if y < 0 else y
            box = (max(0, x0), max(0, y0), min(cols, x0 + w), min(rows, y0 + h))
            if box[2] > box[0] and box[3] > box[1]:
                out.append(box)
        return out


def parse_rules(text: str, source: str) -> list[Rule]:
    """Validate a rule file; every problem is reported with the file and the rule's position."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    problems: list[str] = []
    rules: list[Rule] = []
    raw = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise PolicyError(f"{source}: expected a mapping with a list `rules`")
    for i, r in enumerate(raw):
        where = f"{source}: rules[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            problems.append(f"{where}: expected a mapping with `name`, `match` and `regions`")
            continue
        match = r.get("match")
        regions = r.get("regions")
        if not isinstance(match, dict) or not match:
            problems.append(f"{where} ({r['name']}): `match` must be a non-empty mapping of attribute -> value")
            continue
        pairs: list[tuple[str, str | int]] = []
        for k, v in match.items():
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                problems.append(f"{where} ({r['name']}): match.{k}: expected a string (regex) or a number")
                continue
            if isinstance(v, str):
                try:
                    re.compile(v)
                except re.error as exc:
                    problems.append(f"{where} ({r['name']}): match.{k}: bad regular expression: {exc}")
                    continue
            pairs.append((str(k), v))
        boxes: list[tuple[int, int, int, int]] = []
        if not isinstance(regions, list) or not regions:
            problems.append(f"{where} ({r['name']}): `regions` must be a list of [x, y, width, height]")
            continue
        for j, reg in enumerate(regions):
            if (not isinstance(reg, list) or len(reg) != 4
                    or not all(isinstance(n, int) and not isinstance(n, bool) for n in reg) or reg[2] <= 0
                    or reg[3] <= 0):
                problems.append(f"{where} ({r['name']}): regions[{j}]: expected [x, y, width > 0, height > 0]")
                continue
            boxes.append((reg[0], reg[1], reg[2], reg[3]))
        rules.append(Rule(r["name"], tuple(pairs), tuple(boxes), source))
    if problems:
        raise PolicyError("invalid pixel rules\n  " + "\n  ".join(problems))
    return rules


@cache
def builtin_rules() -> tuple[Rule, ...]:
    text = resources.files("veil.pixels").joinpath("data/rules.yaml").read_text(encoding="utf-8")
    return tuple(parse_rules(text, "builtin:pixels/rules.yaml"))


@cache
def load_rules(files: tuple[str, ...], builtin: bool = True) -> tuple[Rule, ...]:
    """Veil's starter rules (unless turned off) followed by the site's rule files."""
    out: list[Rule] = list(builtin_rules()) if builtin else []
    for f in files:
        out += parse_rules(Path(f).read_text(encoding="utf-8"), f)
    return tuple(out)


def matching(ds: Dataset, rules: tuple[Rule, ...]) -> list[Rule]:
    return [r for r in rules if r.matches(ds)]


def describe(rule: Rule) -> dict[str, Any]:
    return {"name": rule.name, "source": rule.source, "regions": [list(r) for r in rule.regions]}
