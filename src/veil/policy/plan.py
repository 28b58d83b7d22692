"""Compile a :class:`Policy` into a :class:`Plan`: an immutable tag -> action lookup.

Compiling once (DESIGN.md principle 2) means applying the policy to an element is a dict lookup, and
the plan is a plain picklable value shipped to worker processes. The plan encodes, per attribute, the
PS3.15 Table E.1-1 Basic Profile action replaced by the action of each option in force (PS3.15 E.3),
then the site's overrides, then Veil's fail-closed defaults for what the table does not cover.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from veil.policy.model import Override, Policy
from veil.policy.table import load_table

if TYPE_CHECKING:
    from veil.policy.private import PrivateDictionary

#: Value representations treated as free text: not covered by the table => removed (fail closed).
TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "AE", "UR"})
TEMPORAL_VRS = frozenset({"DA", "DT", "TM"})

#: CID 7050 "De-identification Method" codes (PS3.16), one per profile/option applied.
CID_7050 = {
    "ps3.15-basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_pixel_data": ("113101", "Clean Pixel Data Option"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_long_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_long_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}


@dataclass(frozen=True)
class Action:
    """What to do with one attribute, and which rule decided it (recorded in the manifest).

    Codes are PS3.15's (K keep, X remove, Z empty, D dummy, C clean, U new UID, and the conditional
    Z/D, X/Z, X/D, X/Z/D, X/Z/U* resolved per instance by the IOD's attribute type) plus Veil's:
    S shift date/time by the patient's offset, Y generalise to year, R replace with a fixed value,
    H keyed hash, P patient pseudonym.
    """

    code: str
    rule: str
    value: str | None = None


@dataclass(frozen=True)
class Plan:
    policy: Policy
    policy_hash: str
    public: dict[int, Action]
    repeating: tuple[tuple[int, int, Action], ...]  # (mask, value, action) on the 32-bit tag
    private: PrivateDictionary | None  # safe-private dictionary in force (retain_safe_private)
    private_overrides: dict[tuple[str, int, int], Action]
    safe_text: frozenset[int]
    edition: str
    method_codes: tuple[tuple[str, str], ...] = field(default=())
    #: Memo of :func:`veil.header.engine.decide` (a pure function of the plan and its arguments): filled
    #: as elements are met, per process; never part of the plan's identity or hash.
    decisions: dict[tuple[int, str, str | None, str, tuple[str, ...]], Action] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: Per-process cache of values encoded once per plan (the raw path's stamp elements).
    encoded: dict[tuple[object, ...], Any] = field(default_factory=dict, compare=False, repr=False)

    def lookup(self, tag: int) -> Action | None:
        act = self.public.get(tag)
        if act is not None:
            return act
        for mask, value, ract in self.repeating:
            if tag & mask == value:
                return ract
        return None

    @property
    def shifts_dates(self) -> bool:
        return self.policy.has("retain_long_modified_dates")

    def description(self) -> str:
        """DeidentificationMethod text (LO, <= 64 chars): policy name, version and short hash."""
        return f"Veil {self.policy.name} v{self.policy.version} {self.policy_hash[:12]}"[:64]


def _row_action(basic: str, opts: tuple[tuple[str, str], ...], policy: Policy, vr: str | None) -> Action:
    applied = [(o, a) for o, a in opts if policy.has(o)]
    if not applied:
        return Action(basic, "E.1-1 basic")
    temporal = vr in TEMPORAL_VRS
    for o, a in applied:
        if o == "retain_long_modified_dates" and a == "C" and temporal:
            return Action("Y" if policy.dates.mode == "year" else "S", f"E.1-1 {o}")
    for o, a in applied:  # an option that cleans is less retaining than one that keeps
        if a == "C":
            return Action("C", f"E.1-1 {o}")
    o, a = applied[0]
    return Action(a, f"E.1-1 {o}")


def _override_action(ov: Override) -> Action:
    return Action(ov.action, "override", ov.value)


def _load_safe_text(typed: bool = True) -> frozenset[int]:
    """The curated allow-list of standard text attributes; without the ones marked "typed" (labels people
    type in practice) when `typed` is False - a policy that cleans descriptors (E.3.5) cleans those."""
    text = resources.files("veil.policy").joinpath("data/safe_text_attributes.txt").read_text(encoding="utf-8")
    tags = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, mark = line.partition("\t")
            if mark.strip() not in ("", "typed"):
                raise ValueError(f"safe_text_attributes.txt: unknown mark {mark!r} of {keyword!r}")
            tag = tag_for_keyword(keyword.strip())
            if tag is None:
                raise ValueError(f"safe_text_attributes.txt: unknown keyword {keyword!r}")
            if typed or not mark.strip():
                tags.add(tag)
    return frozenset(tags)


@functools.cache
def typed_text() -> frozenset[int]:
    """The allow-listed labels marked "typed" (Segment Label, Multiplex Group Label): kept as labels, but
    read for names and patterns like free text (engine._clean_known), not only for the patient's own."""
    return _load_safe_text() - _load_safe_text(typed=False)


def compile_plan(policy: Policy) -> Plan:
    """Build the plan of `policy`. Pure: same policy, same plan (and same hash)."""
    table = load_table()
    public: dict[int, Action] = {}
    repeating: list[tuple[int, int, Action]] = []
    for row in table.rows:
        if row.tag == "private":
            continue
        if "x" in row.tag:
            mask = int("".join("0" if c == "x" else "F" for c in row.tag), 16)
            value = int(row.tag.replace("x", "0"), 16)
            repeating.append((mask, value, _row_action(row.basic, row.options, policy, None)))
            continue
        tag = int(row.tag, 16)
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = None
        public[tag] = _row_action(row.basic, row.options, policy, vr)

    # Patient identity: PS3.15 gives Z (name) and Z/D (ID); a keyed pseudonym is a consistent dummy.
    public[0x00100020] = Action("P", "pseudonym")
    public[0x00100010] = Action("P" if policy.pseudonyms.patient_name == "pseudonym" else "Z", "pseudonym")

    private: PrivateDictionary | None = None
    if policy.has("retain_safe_private"):
        from veil.policy.private import load_safe_private, load_tcia_csv

        private = load_safe_private()
        for f in policy.private_dictionaries:
            private = private.merged(load_tcia_csv(Path(f)))

    private_overrides: dict[tuple[str, int, int], Action] = {}
    for ov in policy.overrides:
        if ov.private_creator is not None:
            assert ov.private_group is not None and ov.private_element is not None
            private_overrides[(ov.private_creator, ov.private_group, ov.private_element)] = _override_action(ov)
        elif ov.tag is not None:
            public[ov.tag] = _override_action(ov)

    safe_text = (_load_safe_text(typed=not policy.has("clean_descriptors")) if policy.text_allowlist == "standard"
                 else frozenset())
    codes = [CID_7050[policy.profile], *(CID_7050[o] for o in policy.options if o in CID_7050)]
    h = policy.content_hash()
    if private is not None:
        import hashlib

        h = hashlib.sha256((h + private.content_hash()).encode()).hexdigest()
    return Plan(
        policy=policy,
        policy_hash=h,
        public=public,
        repeating=tuple(repeating),
        private=private,
        private_overrides=private_overrides,
        safe_text=safe_text,
        edition=table.edition,
        method_codes=tuple(codes),
    )


def describe(plan: Plan) -> list[tuple[str, str, str, str]]:
    """Rows (tag, keyword, action, rule) for `veil policy show`."""
    out = []
    for tag, act in sorted(plan.public.items()):
        out.append((f"({tag >> 16:04X},{tag & 0xFFFF:04X})", keyword_for_tag(tag) or "?", act.code, act.rule))
    for mask, value, act in plan.repeating:
        t = f"{value:08X}"
        shown = "".join("x" if (mask >> (28 - 4 * i)) & 0xF == 0 else c for i, c in enumerate(t))
        out.append((f"({shown[:4]},{shown[4:]})", "(repeating group)", act.code, act.rule))
    return out
