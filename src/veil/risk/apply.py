"""Write a chosen generalisation into the released DICOM files, the manifest and the audit log.

A risk figure is only true of the data if the data say no more than what was measured, so the values
the search generalised are written back into every file of every row (global recoding, Sweeney 2002),
and the records the search suppressed are *withheld*: moved out of the release into
``OUT/.veil/withheld/`` (record suppression in the textbook sense — the record is not released — which
also keeps Type 1 attributes such as Modality valid). Re-reading the folder with
:func:`veil.risk.table.build` then gives the measured classes (tests check k ≥ target).

DICOM value representations cannot hold ranges, so a band is written as its lower bound (PatientAge
``040Y`` for 40–49, StudyDate ``20200101`` for the year 2020, DT truncated to its precision, PS3.5 6.2),
Longitudinal Temporal Information Modified (0028,0303) becomes ``MODIFIED`` when dates are generalised,
and De-identification Method (0012,0063) gets a line saying what was done. ``*`` empties the element.

Every file is rewritten through a temporary file in the same folder and ``os.replace`` (DESIGN.md:
outputs are written atomically); the manifest is rewritten the same way with the new sha256s, and one
keyed entry is appended to the hash-chained audit log (:mod:`veil.audit`). Applying the same
generalisation twice changes nothing (lower bounds map to themselves). An apply that stops part-way
(kill, Ctrl-C, a file gone missing) leaves a journal of what it rewrote and withheld; the next apply
enters those files in the manifest too, so the manifest again matches every file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import polars as pl

from veil.errors import VeilError
from veil.pipeline.fingerprint import sha256_file
from veil.pipeline.sources import STATE_DIR
from veil.risk.hierarchy import SUPPRESSED, Hierarchy
from veil.risk.measures import finite
from veil.risk.search import Problem, SearchResult, suppressed_rows
from veil.risk.table import SOURCE, age_from_dates, describe_category, parse_age, parse_date

UNWRITABLE = {"modality": "Modality is Type 1 and defines the IOD; give it a single-level hierarchy"}


class ApplyError(VeilError):
    """The generalisation cannot be written (unwritable attribute, missing files, bad manifest)."""


@dataclass(frozen=True)
class Generalisation:
    """What :func:`apply` writes: per attribute its hierarchy, level and rare set; files to withhold."""

    level: str
    attributes: tuple[str, ...]
    levels: tuple[int, ...]
    hierarchies: tuple[Hierarchy, ...]
    rare: tuple[frozenset[str], ...]
    rewrite: tuple[str, ...]
    withhold: tuple[str, ...]
    summary: dict[str, Any] = field(default_factory=dict)

    def names(self) -> dict[str, str]:
        return {a: h.level_names[lv] for a, h, lv in zip(self.attributes, self.hierarchies, self.levels, strict=True)}


@dataclass(frozen=True)
class ApplyResult:
    rewritten: int
    unchanged: int
    withheld: int
    audit_head: str | None


def plan(table: pl.DataFrame, prob: Problem, result: SearchResult, level: str) -> Generalisation:
    """The :class:`Generalisation` for ``result``'s node over ``table`` (whose rows carry ``files``)."""
    if result.node is None:
        raise ApplyError("no node satisfies the targets: nothing to apply (raise the suppression limit or "
                         "relax k/ℓ/t)")
    levels = result.node.levels
    for a, lv in zip(prob.attributes, levels, strict=True):
        if lv and a in UNWRITABLE:
            raise ApplyError(f"cannot generalise {a}: {UNWRITABLE[a]}")
    mask = suppressed_rows(prob, levels)
    files = table.get_column("files").to_list()
    withhold = tuple(sorted(f for row, m in zip(files, mask, strict=True) if m for f in row))
    rewrite = tuple(sorted(f for row, m in zip(files, mask, strict=True) if not m for f in row))
    summary = {"targets": _targets_dict(result), **result.to_dict()}
    return Generalisation(level, prob.attributes, levels, tuple(e.hierarchy for e in prob.encodings),
                          tuple(e.rare for e in prob.encodings), rewrite, withhold, summary)


def _targets_dict(result: SearchResult) -> dict[str, Any]:
    t = result.targets
    return {"k": t.k_effective, "max_risk": t.max_risk, "l": t.ell, "l_kind": t.l_kind, "c": t.c, "t": t.t,
            "suppression_limit": result.suppression_limit}


# --- writers ---------------------------------------------------------------------------------------


def _set(ds: Any, keyword: str, value: str | None) -> bool:
    """Set ``keyword`` to ``value`` (``None``/'' empties it) if present; True when the value changed."""
    if keyword not in ds:
        return False
    new = "" if value is None else value
    old = ds[keyword].value
    if (old if old is not None else "") == new:
        return False
    ds[keyword].value = new
    return True


def _label_writer(keyword: str) -> Callable[[Any, Hierarchy, int, frozenset[str]], bool]:
    def write(ds: Any, h: Hierarchy, level: int, rare: frozenset[str]) -> bool:
        if keyword not in ds or ds[keyword].value in (None, ""):
            return False
        value = str(ds[keyword].value).strip()
        if h.attribute == "body_part":
            value = value.upper()
        label = h.label(value, level, rare)
        return _set(ds, keyword, None if label == SUPPRESSED else label)
    return write


def _write_age(ds: Any, h: Hierarchy, level: int, rare: frozenset[str]) -> bool:
    """PatientAge as its band's lower bound, and no birth date beside it.

    A file without PatientAge was measured by the age its birth and study dates give
    (:func:`veil.risk.table.age_from_dates`): that age is written into a new PatientAge (Type 3), at
    every level (level 0 too: the birth date may be coarsened next, and a re-measure reads PatientAge
    first). Red team: such files were left as they were, and the release re-measured k = 1 after a search
    that claimed k = 5. Generalised, the age also takes the birth date with it: a birth date beside the
    study date gives the age to a year (a birth year kept exact, or a band's lower bound written back,
    would give an age finer than the band, or an age for ``*``).
    """
    age = parse_age(str(ds.get("PatientAge", "") or ""))
    changed = False
    if age is None:
        age = age_from_dates(parse_date(str(ds.get("PatientBirthDate", "") or "")),
                             parse_date(str(ds.get("StudyDate", "") or "")))
        lb = None if age is None else h.lower_bound(age, level)
        if lb is not None:
            ds.PatientAge = f"{int(lb):03d}Y"
            changed = True
    elif level:
        lb = h.lower_bound(age, level)
        changed = _set(ds, "PatientAge", None if lb is None else f"{int(lb):03d}Y")
    if level:
        changed |= _set(ds, "PatientBirthDate", None)
    return changed


def _write_birth_year(ds: Any, h: Hierarchy, level: int, rare: frozenset[str]) -> bool:
    d = parse_date(str(ds.get("PatientBirthDate", "") or ""))
    if d is None:
        return False
    lb = h.lower_bound(d.year, level)
    return _set(ds, "PatientBirthDate", None if lb is None else f"{int(lb):04d}0101")


def _number_writer(keyword: str) -> Callable[[Any, Hierarchy, int, frozenset[str]], bool]:
    def write(ds: Any, h: Hierarchy, level: int, rare: frozenset[str]) -> bool:
        try:
            v = float(ds.get(keyword, "") or "nan")
        except (TypeError, ValueError):
            return False
        if v != v:
            return False
        lb = h.lower_bound(v, level)
        return _set(ds, keyword, None if lb is None else f"{lb:g}"[:16])
    return write


_DT_PRECISION = {"month": 6, "quarter": 6, "year": 4, "decade": 4}


def _write_dates(ds: Any, h: Hierarchy, level: int, rare: frozenset[str]) -> bool:
    """Every DA and DT element (any depth, PatientBirthDate excepted: that is ``birth_year``)."""
    name = h.level_names[level]
    changed = False

    def visit(d: Any) -> None:
        nonlocal changed
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value or ():
                    visit(item)
            elif elem.VR in ("DA", "DT") and elem.keyword != "PatientBirthDate" and elem.value not in (None, ""):
                raw = str(elem.value)
                parsed = parse_date(raw[:8])
                if parsed is None:
                    continue
                lb = h.lower_bound(parsed, level)
                if lb is None:
                    new = ""
                elif elem.VR == "DA":
                    new = lb.strftime("%Y%m%d")
                else:
                    new = lb.strftime("%Y%m%d")[: _DT_PRECISION.get(name, 8)]
                if new != raw:
                    elem.value = new
                    changed = True

    visit(ds)
    if changed:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    return changed


def _write_description(ds: Any, h: Hierarchy, level: int, rare: frozenset[str]) -> bool:
    changed = False
    for kw in SOURCE["description"]:
        if kw in ds and ds[kw].value not in (None, ""):
            cat = describe_category(str(ds[kw].value)) if level == 0 else None
            changed |= _set(ds, kw, cat)
    return changed


WRITERS: dict[str, Callable[[Any, Hierarchy, int, frozenset[str]], bool]] = {
    "age": _write_age, "birth_year": _write_birth_year, "sex": _label_writer("PatientSex"),
    "study_date": _write_dates, "body_part": _label_writer("BodyPartExamined"),
    "manufacturer": _label_writer("Manufacturer"), "model": _label_writer("ManufacturerModelName"),
    "institution": _label_writer("InstitutionName"), "height": _number_writer("PatientSize"),
    "weight": _number_writer("PatientWeight"), "ethnic_group": _label_writer("EthnicGroup"),
    "description": _write_description,
}


def generalise_dataset(ds: Any, gen: Generalisation) -> bool:
    """Apply ``gen`` to one dataset in memory; True when anything changed."""
    changed = False
    # the age first, at any level: a file without PatientAge has it from the birth date (_write_age)
    for a, h, lv, rare in sorted(zip(gen.attributes, gen.hierarchies, gen.levels, gen.rare, strict=True),
                                 key=lambda x: x[0] != "age"):
        if lv == 0 and a not in ("description", "age"):
            continue
        writer = WRITERS.get(a)
        if writer is None:
            raise ApplyError(f"no DICOM writer for attribute {a!r} (only table columns from DICOM can be applied)")
        changed |= writer(ds, h, lv, rare)
    if changed:
        note = "Veil risk generalisation " + ",".join(f"{a}:{n}" for a, n in gen.names().items()
                                                      if n not in ("exact", "day"))
        methods = ds.get("DeidentificationMethod")
        values = list(methods) if isinstance(methods, Sequence) and not isinstance(methods, str) else (
            [methods] if methods else [])
        note = note[:64]
        if note not in values:
            ds.DeidentificationMethod = [*values, note] if values else note
    return changed


# --- the run ---------------------------------------------------------------------------------------


def apply(out_dir: Path, gen: Generalisation, *, audit_key: bytes | None, command: str, purpose: str = "",
          now: Any = None) -> ApplyResult:
    """Rewrite the files of ``gen`` in ``out_dir``, withhold the suppressed ones, update the manifest and
    append an audit entry (keyed with ``audit_key``, the project secret's audit key). Holds OUT's lock
    (pipeline.runner.output_lock): a deid or another apply on the same folder is refused meanwhile."""
    from veil.pipeline.runner import output_lock

    with output_lock(Path(out_dir)):
        return _apply(Path(out_dir), gen, audit_key=audit_key, command=command, purpose=purpose, now=now)


def _apply(out_dir: Path, gen: Generalisation, *, audit_key: bytes | None, command: str, purpose: str,
           now: Any) -> ApplyResult:
    import pydicom

    from veil.pipeline.runner import IN_PROGRESS, clean_partials

    clean_partials(out_dir)  # what a killed deid or apply left
    mark = out_dir / STATE_DIR / IN_PROGRESS
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text("risk-apply\n", encoding="utf-8")  # a kill from here on leaves '.veil-risk-*.part' files
    new_sha, withheld = _recover(out_dir)  # what an apply that stopped part-way did and did not record
    recovered = len(new_sha) + len(withheld)
    rewritten = unchanged = 0
    with open(out_dir / STATE_DIR / JOURNAL, "a", encoding="utf-8") as journal:
        for rel in gen.rewrite:
            path = out_dir / rel
            if not path.is_file():
                raise ApplyError(f"{path} is listed in the table but missing; re-run `veil risk` on the folder")
            ds = pydicom.dcmread(path)
            if generalise_dataset(ds, gen):
                new_sha[rel] = _write_atomic(ds, path)
                _journal(journal, {"rewrite": rel, "sha256": new_sha[rel]})
                rewritten += 1
            else:
                unchanged += 1
        withheld_dir = out_dir / STATE_DIR / "withheld"
        for rel in gen.withhold:
            src = out_dir / rel
            if src.is_file():
                dst = withheld_dir / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
                _journal(journal, {"withhold": rel})
                withheld.add(rel)
                _prune_empty(src.parent, out_dir)
    head = None
    record: dict[str, Any] | None = None
    if audit_key is not None:
        from veil.audit import AuditEntry, append

        policy_hashes = _manifest_policy_hashes(out_dir)
        entry = AuditEntry(
            command=command, purpose=purpose, policy_hash=",".join(sorted(policy_hashes)),
            counts={"rewritten": rewritten, "unchanged": unchanged, "withheld": len(gen.withhold)}
            | ({"recorded_from_a_stopped_apply": recovered} if recovered else {}),
            extra={"action": "risk-generalisation", "level": gen.level, "generalisation": gen.names(),
                   "levels": dict(zip(gen.attributes, gen.levels, strict=True)), "search": _jsonable(gen.summary)},
        )
        record = append(out_dir / STATE_DIR / "audit.jsonl", entry, key=audit_key, now=now)
        head = str(record["hash"])
    _update_manifest(out_dir, gen, new_sha, head, withheld | set(gen.withhold))
    (out_dir / STATE_DIR / JOURNAL).unlink(missing_ok=True)  # the manifest now says what the journal said
    mark.unlink(missing_ok=True)
    return ApplyResult(rewritten, unchanged, len(gen.withhold), head)


#: What an apply has done so far, one JSON line per rewritten or withheld file, flushed as it goes; removed
#: once the manifest holds it. Found by the next apply, it is how that apply records files an apply that
#: stopped part-way (a kill, a missing file) rewrote or withheld but never entered in the manifest.
JOURNAL = "risk-apply.journal"


def _journal(fh: TextIO, rec: dict[str, str]) -> None:
    fh.write(json.dumps(rec, sort_keys=True) + "\n")
    fh.flush()  # one write(2) per file: a kill loses at most the line being written


def _recover(out_dir: Path) -> tuple[dict[str, str], set[str]]:
    """(new sha256 per rewritten file, withheld files) journaled by an apply that stopped part-way.

    Only what is still true is taken: a rewrite whose file still has the journaled sha256 (a later
    ``veil deid`` into the folder rewrote the manifest and the files itself), a withholding whose file is
    gone from the release and is under ``withheld/``. A line cut short by a kill is skipped.
    """
    path = out_dir / STATE_DIR / JOURNAL
    sha: dict[str, str] = {}
    withheld: set[str] = set()
    if not path.is_file():
        return sha, withheld
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "rewrite" in rec:
            sha[str(rec["rewrite"])] = str(rec["sha256"])
        elif "withhold" in rec:
            withheld.add(str(rec["withhold"]))
    sha = {rel: h for rel, h in sha.items() if (out_dir / rel).is_file() and sha256_file(out_dir / rel) == h}
    withheld = {rel for rel in withheld
                if not (out_dir / rel).exists() and (out_dir / STATE_DIR / "withheld" / rel).is_file()}
    return sha, withheld


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(finite(d), default=str, allow_nan=False)))


def _write_atomic(ds: Any, path: Path) -> str:
    """Write ``ds`` over ``path`` via a temp file in the same folder + ``os.replace``; return its sha256."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".veil-risk-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            ds.save_as(fh, enforce_file_format=True)
            fh.flush()
            os.fsync(fh.fileno())
        digest = sha256_file(Path(tmp))  # in chunks: memory stays flat
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return digest


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _manifest_policy_hashes(out_dir: Path) -> set[str]:
    path = out_dir / STATE_DIR / "manifest.jsonl"
    if not path.is_file():
        return set()
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.add(str(json.loads(line).get("policy_hash", "")))
    return out - {""}


def _update_manifest(out_dir: Path, gen: Generalisation, new_sha: dict[str, str], audit_head: str | None,
                     withheld: set[str]) -> None:
    """New sha256s and a ``risk`` note on rewritten lines; withheld lines move to ``withheld.jsonl``."""
    from veil.pipeline.runner import write_jsonl
    path = out_dir / STATE_DIR / "manifest.jsonl"
    if not path.is_file():
        return
    keep, gone = [], []
    note = {"level": gen.level, "node": gen.names(), "audit": audit_head}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        out = row.get("output")
        if out in withheld:
            gone.append(row | {"withheld": "record suppression (veil risk)", "risk": note})
            continue
        if out in new_sha:
            row["output_sha256"] = new_sha[out]
            row["risk"] = note
        keep.append(row)
    write_jsonl(path, keep)
    if gone:
        prev = []
        wpath = out_dir / STATE_DIR / "withheld.jsonl"
        if wpath.is_file():
            prev = [json.loads(x) for x in wpath.read_text(encoding="utf-8").splitlines() if x.strip()]
        write_jsonl(wpath, prev + gone)
