"""The project's copy of DICOM PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes).

Facts of the standard live in ``data/ps3_15_e1_1.tsv`` (edition named in its header); this module only
parses them. Each row gives the Basic Profile action and, per option column, the action that replaces it
when the option is applied (PS3.15 E.3). Rows use ``x`` for repeating-group digits (50xx, 60xx) and a
single ``private`` row for all attributes of odd groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

#: Option identifiers, in the column order of Table E.1-1 (PS3.15 E.3.1 … E.3.11).
OPTIONS: tuple[str, ...] = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)

#: Action codes of PS3.15 E.1-1 as they appear in the Basic Profile column.
BASIC_ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U", "Z/D", "X/D", "X/Z", "X/Z/D", "X/Z/U*"})


@dataclass(frozen=True)
class ProfileRow:
    """One attribute of Table E.1-1: its Basic Profile action and the action each option substitutes."""

    tag: str  # 8 hex digits lower case, 'x' for repeating digits, or 'private'
    name: str
    std_comp_iod: bool
    basic: str
    options: tuple[tuple[str, str], ...]  # (option, action) for options that change this row

    def option_action(self, option: str) -> str | None:
        for opt, action in self.options:
            if opt == option:
                return action
        return None


@dataclass(frozen=True)
class ProfileTable:
    edition: str
    rows: tuple[ProfileRow, ...]

    def by_tag(self) -> dict[str, ProfileRow]:
        return {r.tag: r for r in self.rows}


@cache
def load_table() -> ProfileTable:
    """Parse the bundled Table E.1-1; cached because it is immutable and read by every plan compile."""
    text = resources.files("veil.policy").joinpath("data/ps3_15_e1_1.tsv").read_text(encoding="utf-8")
    edition = ""
    header: list[str] | None = None
    rows: list[ProfileRow] = []
    for line in text.splitlines():
        if line.startswith("#"):
            if not edition and "edition" in line:
                edition = line.lstrip("# ").split(",")[0]
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        rec = dict(zip(header, cells, strict=True))
        if rec["basic"] not in BASIC_ACTIONS:
            raise ValueError(f"ps3_15_e1_1.tsv: unknown action {rec['basic']!r} for {rec['tag']}")
        opts = tuple((o, rec[o]) for o in OPTIONS if rec[o] != "-")
        rows.append(
            ProfileRow(
                tag=rec["tag"],
                name=rec["name"],
                std_comp_iod=rec["std_comp_iod"] == "Y",
                basic=rec["basic"],
                options=opts,
            )
        )
    return ProfileTable(edition=edition, rows=tuple(rows))
