"""Policy: what a site wants done, as a validated, hashable value loaded from YAML.

A policy names the PS3.15 Annex E base profile, the options applied (PS3.15 E.3.1-E.3.11), per-tag
overrides, and the settings of Veil's keyed functions (pseudonyms, date shifting). Validation reports
the file, line and key of every problem, with what was expected, so a data steward can fix a policy
without reading Veil's code. The content hash of the normalised policy is stamped into every output
(DeidentificationMethod) and every audit entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from veil.errors import PolicyError
from veil.policy.table import OPTIONS

#: Base profiles Veil knows (PS3.15 E.2 Basic Application Level Confidentiality Profile).
PROFILES = ("ps3.15-basic",)

#: Options as written in policies; ``clean_pixel_data`` has no Table E.1-1 column (PS3.15 E.3.1).
ALL_OPTIONS: tuple[str, ...] = ("clean_pixel_data", *OPTIONS)

_OPTION_ALIASES = {
    "retain_longitudinal_temporal_information_with_full_dates": "retain_long_full_dates",
    "retain_longitudinal_temporal_information_full_dates": "retain_long_full_dates",
    "retain_longitudinal_temporal_information_with_modified_dates": "retain_long_modified_dates",
    "retain_longitudinal_temporal_information_modified_dates": "retain_long_modified_dates",
    "retain_longitudinal_full_dates": "retain_long_full_dates",
    "retain_longitudinal_modified_dates": "retain_long_modified_dates",
}

#: Override actions a policy may name, and what they mean.
OVERRIDE_ACTIONS = {
    "keep": "K",  # keep the value unchanged (PS3.15 K)
    "remove": "X",  # remove the attribute (X)
    "empty": "Z",  # zero-length value (Z)
    "dummy": "D",  # a dummy value valid for the VR (D)
    "replace": "R",  # a fixed value given in `value`
    "hash": "H",  # keyed hash of the value (same value -> same code)
    "shift": "S",  # date/time shifted by the patient's offset
    "uid": "U",  # keyed UID remapping (U)
    "clean": "C",  # clean free text (C)
}

DATE_MODES = ("shift", "year")
LONE_TIME_MODES = ("shift", "remove")
TIME_OF_DAY_MODES = ("keep", "shift")
PATIENT_KEYS = ("issuer_and_id", "id")

_TAG_RE = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?$")


@dataclass(frozen=True)
class PseudonymSettings:
    """How PatientID/PatientName pseudonyms look (PS3.15 E.1-1 Z/D on Patient ID, replaced by a keyed code)."""

    prefix: str = "VEIL"
    length: int = 10
    patient_name: str = "pseudonym"  # pseudonym | empty
    #: What tells patients apart. issuer_and_id (the default): Issuer of Patient ID + Patient ID, for
    #: archives that merge ID spaces (the same number at two hospitals is two people); a run warns when a
    #: study comes out under two pseudo-patients (runner: studies_split: the issuer in some files only).
    #: id: Patient ID alone, for one ID space where only some devices fill the issuer in (a PACS-made SR, a
    #: derived series); a run then warns when one pseudo-patient gathers two different issuers
    #: (issuers_merged). The default stays: changing it would give every patient with an issuer a new
    #: pseudonym and date shift, breaking linkage with earlier releases.
    patient_key: str = "issuer_and_id"  # issuer_and_id | id


@dataclass(frozen=True)
class DateSettings:
    """Where Retain Longitudinal Temporal Information with Modified Dates (E.3.6) says C: how to modify."""

    mode: str = "shift"  # shift | year
    offset_days: tuple[int, int] = (-3650, -365)
    lone_time: str = "shift"  # shift | remove
    age_cap: int | None = 90  # HIPAA Safe Harbor: ages over 89 become "090Y"
    #: keep: the shift is whole days, so one event's date is the same in every file whether or not the
    #: file also carries its time (StudyTime is Type 2, often empty) and intervals stay exact.
    #: shift: times of day move too, by 0-86399 s per patient; a date whose time is absent then moves by
    #: whole days only and can differ by one day from the same date shifted with its time.
    time_of_day: str = "keep"  # keep | shift


#: Settings of the pixel pass (Clean Pixel Data, PS3.15 E.3.1; Clean Graphics, E.3.3); see veil.pixels.
PIXEL_OCR = ("at-risk", "all", "off")  # which images are read by OCR (rule regions apply whatever this says)
PIXEL_REDACT = ("all-text", "phi")  # blank every word OCR reads, or only words matching PHI
PIXEL_LOSSY = ("uncompressed", "jpeg-ls-lossless", "jpeg2000-lossless")  # how lossy inputs are re-encoded
PIXEL_ICONS = ("remove", "regenerate")  # Icon Image Sequence: removed, or rebuilt from the cleaned image
PIXEL_OVERLAYS = ("remove", "clean")  # Clean Graphics: overlay planes removed, or OCR-cleaned and kept


@dataclass(frozen=True)
class PixelSettings:
    """How Clean Pixel Data / Clean Graphics run (used only when those options are listed)."""

    ocr: str = "at-risk"
    redact: str = "all-text"
    rules: tuple[str, ...] = ()  # site rule files (YAML), used with Veil's starter set
    builtin_rules: bool = True
    margin: int = 3  # pixels added around every box
    lossy: str = "uncompressed"
    icons: str = "remove"
    overlays: str = "remove"
    verify: bool = True  # OCR the redacted image again before BurnedInAnnotation becomes NO
    min_confidence: int = 40  # tesseract word confidence (0-100) below which a word is ignored
    #: Largest decoded Pixel Data (MB) the pass takes on; a bigger image is quarantined. The pass holds
    #: every decoded frame at once (redacted in place, written from the array): RSS grows 1.5-3x it.
    #: In the policy, not on the command line: which files are written must not depend on the machine.
    max_decoded_mb: int = 1024


@dataclass(frozen=True)
class Override:
    """A site override: one attribute (keyword, tag or private creator+element) and its action."""

    action: str  # one of OVERRIDE_ACTIONS' values
    keyword: str | None = None
    tag: int | None = None
    private_creator: str | None = None
    private_group: int | None = None
    private_element: int | None = None
    value: str | None = None


@dataclass(frozen=True)
class Policy:
    """A validated policy. Immutable and hashable by content."""

    name: str
    version: str
    profile: str = "ps3.15-basic"
    options: tuple[str, ...] = ()
    description: str = ""
    pseudonyms: PseudonymSettings = field(default_factory=PseudonymSettings)
    dates: DateSettings = field(default_factory=DateSettings)
    overrides: tuple[Override, ...] = ()
    text_allowlist: str = "standard"  # standard | none
    unknown_text: str = "remove"  # remove | keep (explicit choice to keep unknown text attributes)
    private_dictionaries: tuple[str, ...] = ()  # TCIA-format CSV files, used under retain_safe_private
    burned_in_annotation: str = "quarantine"  # quarantine | keep
    #: Encapsulated PDF/CDA (0042,0011): quarantine (default) | keep_if_clean (kept only when its extracted
    #: text has nothing Clean Structured Content would remove; PS3.15 E.1-1 gives the document action D)
    encapsulated_documents: str = "quarantine"
    pixels: PixelSettings = field(default_factory=PixelSettings)  # Clean Pixel Data / Graphics settings
    source: str = "<memory>"

    def has(self, option: str) -> bool:
        return option in self.options

    def canonical(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        if self.pixels == PixelSettings():  # policies written before the pixel pass keep their hash
            d.pop("pixels")
        elif self.pixels.max_decoded_mb == PixelSettings.max_decoded_mb:  # nor those written before the bound
            d["pixels"].pop("max_decoded_mb")
        return d

    def content_hash(self) -> str:
        """sha256 of the normalised policy: same meaning, same hash, whatever the YAML layout."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


# --------------------------------------------------------------------------------------------- loading


class _Problems:
    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root
        self.items: list[str] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        line = _line_of(self.root, path)
        where = f"{self.source}:{line}" if line else self.source
        key = ".".join(str(p) for p in path) or "<top>"
        self.items.append(f"{where}: {key}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise PolicyError("invalid policy\n  " + "\n  ".join(self.items))


def _line_of(node: yaml.Node | None, path: tuple[str | int, ...]) -> int | None:
    """Line (1-based) of the deepest node on `path` that exists in the YAML tree."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for step in path:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == step:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            nxt = node.value[step]
            line = nxt.start_mark.line + 1
        if nxt is None:
            return line
        node = nxt
    return line


def normalise_option(name: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    key = key.removesuffix("_option")
    return _OPTION_ALIASES.get(key, key)


def parse_tag(text: str) -> int | None:
    m = _TAG_RE.match(text.strip())
    return int(m.group(1) + m.group(2), 16) if m else None


_TOP_KEYS = {
    "name", "version", "profile", "options", "description", "pseudonyms", "dates", "overrides",
    "text_allowlist", "unknown_text", "private_dictionaries", "burned_in_annotation", "encapsulated_documents",
    "pixels",
}


def _expect(p: _Problems, path: tuple[str | int, ...], value: Any, typ: type | tuple[type, ...], what: str) -> bool:
    if (isinstance(value, bool) and typ is int) or not isinstance(value, typ):
        p.add(path, f"expected {what}, got {type(value).__name__} {value!r}")
        return False
    return True


def policy_from_mapping(data: Any, *, source: str = "<memory>", root: yaml.Node | None = None,
                        base_dir: Path | None = None) -> Policy:
    """Validate a parsed policy mapping and build a :class:`Policy`; every problem is reported at once."""
    p = _Problems(source, root)
    if not isinstance(data, dict):
        p.add((), "expected a mapping with at least `name`, `version` and `profile`")
        p.raise_if_any()
    for k in data:
        if k not in _TOP_KEYS:
            p.add((k,), f"unknown key; expected one of {', '.join(sorted(_TOP_KEYS))}")
    name = data.get("name")
    if name is None:
        p.add(("name",), "missing; expected a short policy name")
    elif _expect(p, ("name",), name, str, "a string"):
        pass
    version = data.get("version")
    if version is None:
        p.add(("version",), "missing; expected a version string such as '1.0'")
    elif not isinstance(version, (str, int, float)) or isinstance(version, bool):
        p.add(("version",), f"expected a version string, got {version!r}")
    profile = data.get("profile", "ps3.15-basic")
    if profile not in PROFILES:
        p.add(("profile",), f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")

    options: list[str] = []
    raw_opts = data.get("options", []) or []
    if _expect(p, ("options",), raw_opts, list, "a list of option names"):
        for i, o in enumerate(raw_opts):
            if not isinstance(o, str):
                p.add(("options", i), f"expected an option name, got {o!r}")
                continue
            n = normalise_option(o)
            if n not in ALL_OPTIONS:
                p.add(("options", i), f"unknown option {o!r}; expected one of {', '.join(ALL_OPTIONS)}")
            elif n in options:
                p.add(("options", i), f"option {o!r} listed twice")
            else:
                options.append(n)
    if "retain_long_full_dates" in options and "retain_long_modified_dates" in options:
        p.add(("options",), "retain_long_full_dates and retain_long_modified_dates exclude each other")

    pseudo = PseudonymSettings()
    raw_ps = data.get("pseudonyms", {}) or {}
    if _expect(p, ("pseudonyms",), raw_ps, dict, "a mapping (prefix, length, patient_name, patient_key)"):
        for k in raw_ps:
            if k not in ("prefix", "length", "patient_name", "patient_key"):
                p.add(("pseudonyms", k), "unknown key; expected prefix, length, patient_name or patient_key")
        prefix = raw_ps.get("prefix", pseudo.prefix)
        length = raw_ps.get("length", pseudo.length)
        pname = raw_ps.get("patient_name", pseudo.patient_name)
        if _expect(p, ("pseudonyms", "prefix"), prefix, str, "a string") and not re.fullmatch(
            r"[A-Z0-9_-]{0,16}", prefix
        ):
            p.add(("pseudonyms", "prefix"), "expected 0-16 characters A-Z, 0-9, '_' or '-'")
        if _expect(p, ("pseudonyms", "length"), length, int, "an integer") and not 8 <= length <= 40:
            p.add(("pseudonyms", "length"), f"expected 8..40 (collision resistance), got {length}")
        if pname not in ("pseudonym", "empty"):
            p.add(("pseudonyms", "patient_name"), f"expected 'pseudonym' or 'empty', got {pname!r}")
        if isinstance(prefix, str) and isinstance(length, int) and len(prefix) + length > 64:
            p.add(("pseudonyms",), "prefix + length must fit in 64 characters (LO)")
        pkey = raw_ps.get("patient_key", pseudo.patient_key)
        if pkey not in PATIENT_KEYS:
            p.add(("pseudonyms", "patient_key"), f"expected one of {', '.join(PATIENT_KEYS)}, got {pkey!r}")
        pseudo = PseudonymSettings(str(prefix), int(length) if isinstance(length, int) else 10, str(pname),
                                   str(pkey))

    dates = DateSettings()
    raw_d = data.get("dates", {}) or {}
    if _expect(p, ("dates",), raw_d, dict, "a mapping (mode, offset_days, lone_time, time_of_day, age_cap)"):
        for k in raw_d:
            if k not in ("mode", "offset_days", "lone_time", "time_of_day", "age_cap"):
                p.add(("dates", k), "unknown key; expected mode, offset_days, lone_time, time_of_day or age_cap")
        mode = raw_d.get("mode", dates.mode)
        if mode not in DATE_MODES:
            p.add(("dates", "mode"), f"expected one of {', '.join(DATE_MODES)}, got {mode!r} "
                  "(keep dates: option retain_long_full_dates; remove them: neither longitudinal option)")
        rng = raw_d.get("offset_days", list(dates.offset_days))
        offs = dates.offset_days
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in rng)):
            p.add(("dates", "offset_days"), f"expected [min, max] whole days, got {rng!r}")
        elif rng[0] > rng[1]:
            p.add(("dates", "offset_days"), f"expected min <= max, got {rng!r}")
        elif rng[0] == rng[1] == 0:
            p.add(("dates", "offset_days"), "a zero offset keeps real dates; use retain_long_full_dates")
        else:
            offs = (int(rng[0]), int(rng[1]))
        lone = raw_d.get("lone_time", dates.lone_time)
        if lone not in LONE_TIME_MODES:
            p.add(("dates", "lone_time"), f"expected one of {', '.join(LONE_TIME_MODES)}, got {lone!r}")
        tod = raw_d.get("time_of_day", dates.time_of_day)
        if tod not in TIME_OF_DAY_MODES:
            p.add(("dates", "time_of_day"), f"expected one of {', '.join(TIME_OF_DAY_MODES)}, got {tod!r}")
        cap = raw_d.get("age_cap", dates.age_cap)
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 200):
            p.add(("dates", "age_cap"), f"expected an age in years (1..200) or null, got {cap!r}")
        dates = DateSettings(str(mode), offs, str(lone), cap if isinstance(cap, int) else None, str(tod))

    overrides: list[Override] = []
    raw_o = data.get("overrides", []) or []
    if _expect(p, ("overrides",), raw_o, list, "a list of {keyword|tag|private, action}"):
        for i, o in enumerate(raw_o):
            ov = _parse_override(p, ("overrides", i), o)
            if ov is not None:
                overrides.append(ov)

    for key, allowed in (("text_allowlist", ("standard", "none")), ("unknown_text", ("remove", "keep")),
                         ("burned_in_annotation", ("quarantine", "keep")),
                         ("encapsulated_documents", ("quarantine", "keep_if_clean"))):
        val = data.get(key, getattr(Policy, key))
        if val not in allowed:
            p.add((key,), f"expected one of {', '.join(allowed)}, got {val!r}")

    dicts: list[str] = []
    raw_pd = data.get("private_dictionaries", []) or []
    if _expect(p, ("private_dictionaries",), raw_pd, list, "a list of CSV file paths"):
        for i, f in enumerate(raw_pd):
            if not isinstance(f, str):
                p.add(("private_dictionaries", i), f"expected a file path, got {f!r}")
                continue
            path = Path(f)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                p.add(("private_dictionaries", i), f"file not found: {path}")
            dicts.append(str(path))
        if dicts and "retain_safe_private" not in options:
            p.add(("private_dictionaries",), "private dictionaries are used only with retain_safe_private")

    pixels = _parse_pixels(p, data.get("pixels", {}) or {}, base_dir)

    p.raise_if_any()
    return Policy(
        name=str(name),
        version=str(version),
        profile=str(profile),
        options=tuple(o for o in ALL_OPTIONS if o in options),
        description=str(data.get("description", "") or ""),
        pseudonyms=pseudo,
        dates=dates,
        overrides=tuple(overrides),
        text_allowlist=str(data.get("text_allowlist", "standard")),
        unknown_text=str(data.get("unknown_text", "remove")),
        private_dictionaries=tuple(dicts),
        burned_in_annotation=str(data.get("burned_in_annotation", "quarantine")),
        encapsulated_documents=str(data.get("encapsulated_documents", "quarantine")),
        pixels=pixels,
        source=source,
    )


def _parse_pixels(p: _Problems, raw: Any, base_dir: Path | None) -> PixelSettings:
    """The `pixels:` mapping (Clean Pixel Data E.3.1 / Clean Graphics E.3.3 settings)."""
    d = PixelSettings()
    if not _expect(p, ("pixels",), raw, dict, "a mapping (ocr, redact, rules, margin, lossy, icons, ...)"):
        return d
    names = {f.name for f in fields(PixelSettings)}
    for k in raw:
        if k not in names:
            p.add(("pixels", k), f"unknown key; expected one of {', '.join(sorted(names))}")
    for key, allowed in (("ocr", PIXEL_OCR), ("redact", PIXEL_REDACT), ("lossy", PIXEL_LOSSY),
                         ("icons", PIXEL_ICONS), ("overlays", PIXEL_OVERLAYS)):
        if raw.get(key, getattr(d, key)) not in allowed:
            p.add(("pixels", key), f"expected one of {', '.join(allowed)}, got {raw.get(key)!r}")
    for key, lo, hi in (("margin", 0, 64), ("min_confidence", 0, 100), ("max_decoded_mb", 1, 1 << 20)):
        v = raw.get(key, getattr(d, key))
        if _expect(p, ("pixels", key), v, int, "an integer") and not lo <= v <= hi:
            p.add(("pixels", key), f"expected {lo}..{hi}, got {v}")
    for key in ("builtin_rules", "verify"):
        _expect(p, ("pixels", key), raw.get(key, getattr(d, key)), bool, "true or false")
    rules: list[str] = []
    raw_rules = raw.get("rules", []) or []
    if _expect(p, ("pixels", "rules"), raw_rules, list, "a list of rule files (YAML)"):
        for i, f in enumerate(raw_rules):
            if not isinstance(f, str):
                p.add(("pixels", "rules", i), f"expected a file path, got {f!r}")
                continue
            path = Path(f)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                p.add(("pixels", "rules", i), f"file not found: {path}")
            rules.append(str(path))
    if p.items:
        return d
    return PixelSettings(ocr=str(raw.get("ocr", d.ocr)), redact=str(raw.get("redact", d.redact)),
                         rules=tuple(rules), builtin_rules=bool(raw.get("builtin_rules", d.builtin_rules)),
                         margin=int(raw.get("margin", d.margin)), lossy=str(raw.get("lossy", d.lossy)),
                         icons=str(raw.get("icons", d.icons)), overlays=str(raw.get("overlays", d.overlays)),
                         verify=bool(raw.get("verify", d.verify)),
                         min_confidence=int(raw.get("min_confidence", d.min_confidence)),
                         max_decoded_mb=int(raw.get("max_decoded_mb", d.max_decoded_mb)))


def _parse_override(p: _Problems, path: tuple[str | int, ...], o: Any) -> Override | None:
    if not isinstance(o, dict):
        p.add(path, f"expected a mapping like {{keyword: StudyDescription, action: keep}}, got {o!r}")
        return None
    for k in o:
        if k not in ("keyword", "tag", "private", "action", "value"):
            p.add((*path, k), "unknown key; expected keyword, tag, private, action or value")
    targets = [k for k in ("keyword", "tag", "private") if k in o]
    if len(targets) != 1:
        p.add(path, "expected exactly one of keyword, tag or private")
        return None
    action_name = o.get("action")
    if action_name not in OVERRIDE_ACTIONS:
        p.add((*path, "action"), f"expected one of {', '.join(OVERRIDE_ACTIONS)}, got {action_name!r}")
        return None
    value = o.get("value")
    if action_name == "replace" and not isinstance(value, str):
        p.add((*path, "value"), "action 'replace' needs a string `value`")
        return None
    if action_name != "replace" and value is not None:
        p.add((*path, "value"), "`value` is only used with action 'replace'")
    code = OVERRIDE_ACTIONS[action_name]
    from pydicom.datadict import tag_for_keyword

    if "keyword" in o:
        kw = o["keyword"]
        if not isinstance(kw, str) or tag_for_keyword(kw) is None:
            p.add((*path, "keyword"), f"unknown DICOM keyword {kw!r} (see PS3.6, e.g. StudyDescription)")
            return None
        return Override(action=code, keyword=kw, tag=tag_for_keyword(kw), value=value)
    if "tag" in o:
        raw = o["tag"]
        tag = parse_tag(raw) if isinstance(raw, str) else None
        if tag is None:
            p.add((*path, "tag"), f"expected a tag like '(0008,1030)' or '00081030' (quoted), got {raw!r}")
            return None
        if (tag >> 16) % 2 == 1:
            p.add((*path, "tag"), "private tags must be given as private: {creator, group, element}")
            return None
        return Override(action=code, tag=tag, value=value)
    priv = o["private"]
    if not isinstance(priv, dict) or set(priv) != {"creator", "group", "element"}:
        p.add((*path, "private"), "expected {creator: 'GEMS_ACQU_01', group: '0019', element: '0c'}")
        return None
    try:
        group = int(str(priv["group"]), 16)
        elem = int(str(priv["element"]), 16)
    except ValueError:
        p.add((*path, "private"), "group and element must be hex strings, e.g. group: '0019', element: '0c'")
        return None
    if group % 2 == 0 or not 0 <= elem <= 0xFF:
        p.add((*path, "private"), "expected an odd group and an element byte 00..ff (low byte in the block)")
        return None
    return Override(action=code, private_creator=str(priv["creator"]).strip(), private_group=group,
                    private_element=elem, value=value)


def load_policy_text(text: str, *, source: str = "<memory>", base_dir: Path | None = None) -> Policy:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    return policy_from_mapping(data, source=source, root=root, base_dir=base_dir)


def builtin_names() -> list[str]:
    folder = resources.files("veil.policy").joinpath("builtin")
    return sorted(f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    return resources.files("veil.policy").joinpath(f"builtin/{name}.yaml").read_text(encoding="utf-8")


def load_policy(spec: str | Path) -> Policy:
    """Load a built-in policy by name (``basic``) or a policy file by path (``site.yaml``)."""
    path = Path(spec)
    if isinstance(spec, str) and spec in builtin_names():
        return load_policy_text(builtin_text(spec), source=f"builtin:{spec}")
    if path.is_file():
        return load_policy_text(path.read_text(encoding="utf-8"), source=str(path), base_dir=path.parent)
    raise PolicyError(
        f"policy {str(spec)!r} is neither a built-in ({', '.join(builtin_names())}) nor an existing YAML file"
    )
