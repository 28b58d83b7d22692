"""One risk assessment of a release, end to end: what ``veil risk OUT`` does, as a library call.

table → measures (as released) → if the targets are not met, the optimal generalisation → measures
after it → linkage attacks before/after (with a registry) → optionally apply it to the files and
re-measure the folder from disk, so the figure reported is the figure of the data on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from veil.errors import VeilError
from veil.risk import apply as apply_mod
from veil.risk.hierarchy import load_hierarchies
from veil.risk.linkage import (
    AttackScore,
    LinkageResult,
    generalise_frame,
    inference,
    linkability,
    prepare_registry,
    simulate,
    singling_out,
)
from veil.risk.measures import RiskReport, Targets, equivalence_classes, measure
from veil.risk.search import SearchResult, generalise, problem, search
from veil.risk.table import (
    KEY_COLUMNS,
    QI_COLUMNS,
    aggregate,
    build,
    join_sensitive,
    present_qis,
    read_instances,
)


@dataclass(frozen=True)
class Options:
    """Everything an assessment depends on (what the CLI flags map to)."""

    level: str = "patient"
    qis: Sequence[str] | None = None
    sensitive: Sequence[str] | None = None
    targets: Targets = field(default_factory=Targets)
    suppression: float = 0.05
    metric: str = "loss"
    hierarchies: Path | None = None
    sensitive_csv: Path | None = None
    registry: Path | None = None
    population_size: int | None = None
    apply: bool = False
    audit_key: bytes | None = None
    command: str = "veil risk"
    purpose: str = ""


@dataclass
class Assessment:
    """The result of :func:`assess` (rendered by the CLI, the JSON output and the HTML report)."""

    folder: str
    options: Options
    qis: list[str]
    sensitive: list[str]
    records: int
    unreadable: int
    before: RiskReport
    record_sizes_before: np.ndarray
    search: SearchResult | None = None
    after: RiskReport | None = None
    record_sizes_after: np.ndarray | None = None
    linkage_before: LinkageResult | None = None
    linkage_after: LinkageResult | None = None
    attacks_before: list[AttackScore] = field(default_factory=list)
    attacks_after: list[AttackScore] = field(default_factory=list)
    applied: apply_mod.ApplyResult | None = None
    remeasured: RiskReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """Whether the release *on disk* meets the targets (after --apply: the re-measured folder)."""
        final = self.remeasured if self.applied is not None else self.before
        return final is not None and final.passed

    def to_dict(self) -> dict[str, Any]:
        t = self.options.targets
        return {
            "folder": self.folder, "level": self.options.level, "qis": self.qis, "sensitive": self.sensitive,
            "records": self.records, "unreadable_files": self.unreadable,
            "targets": {"k": t.k_effective, "max_risk": t.risk_threshold, "l": t.ell, "l_kind": t.l_kind,
                        "c": t.c, "t": t.t, "suppression": self.options.suppression, "metric": self.options.metric},
            "before": self.before.to_dict(),
            "search": self.search.to_dict() if self.search else None,
            "after": self.after.to_dict() if self.after else None,
            "linkage": {"before": self.linkage_before.to_dict() if self.linkage_before else None,
                        "after": self.linkage_after.to_dict() if self.linkage_after else None},
            "attacks": {"before": [a.to_dict() for a in self.attacks_before],
                        "after": [a.to_dict() for a in self.attacks_after]},
            "applied": None if self.applied is None else {
                "rewritten": self.applied.rewritten, "unchanged": self.applied.unchanged,
                "withheld": self.applied.withheld, "audit_head": self.applied.audit_head},
            "remeasured": self.remeasured.to_dict() if self.remeasured else None,
            "met": self.met, "notes": self.notes,
        }


def assess(folder: Path, options: Options) -> Assessment:
    """Run the assessment (see the module docstring). Raises ``VeilError`` for unusable inputs."""
    folder = Path(folder)
    instances, unreadable = read_instances(folder)
    table = aggregate(instances, options.level)
    if options.sensitive_csv is not None:
        table = join_sensitive(table, options.sensitive_csv, options.level)
    if table.height == 0:
        raise VeilError(f"no DICOM files under {folder} (expected the output folder of `veil deid`)")
    qis = list(options.qis) if options.qis else present_qis(table)
    unknown = [q for q in qis if q not in table.columns]
    if unknown:
        raise VeilError(f"unknown quasi-identifier(s) {', '.join(unknown)}; the table has {', '.join(QI_COLUMNS)}")
    extra_cols = [c for c in table.columns if c not in (*KEY_COLUMNS, *QI_COLUMNS, "files")]
    sensitive = list(options.sensitive) if options.sensitive is not None else extra_cols
    missing = [s for s in sensitive if s not in table.columns]
    if missing:
        raise VeilError(f"sensitive attribute(s) {', '.join(missing)} not in the table; join them with "
                        "--sensitive-csv")
    t = options.targets
    if (t.ell is not None or t.t is not None) and not sensitive:
        raise VeilError("--l/--t need a sensitive attribute: join one with --sensitive-csv")
    hierarchies = load_hierarchies(options.hierarchies)
    registry = None
    truth = None
    link_qis: list[str] = []
    a_note = ""
    if options.registry is not None:
        try:
            raw = pl.read_csv(options.registry, infer_schema_length=10_000)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise VeilError(f"cannot read registry {options.registry}: {exc}") from exc
        link_qis = [q for q in qis if q in raw.columns]
        if not link_qis:
            raise VeilError(f"registry {options.registry} has none of the quasi-identifier columns "
                            f"({', '.join(qis)}); name its columns like the release table")
        registry = prepare_registry(raw, table, link_qis)
        truth = options.level if options.level in registry.columns else None
        if link_qis != qis:
            a_note = (f"the registry knows {', '.join(link_qis)} only: the linkage attack joins on those, and "
                      "journalist risk (which needs every QI in the population table) is not computed")
    population = registry if registry is not None and link_qis == qis else None
    before = measure(table, qis, sensitive=sensitive, population=population,
                     population_size=options.population_size, targets=t, drivers=True)
    a = Assessment(str(folder), options, qis, sensitive, table.height, len(unreadable), before,
                   equivalence_classes(table, qis).record_sizes())
    if unreadable:
        a.notes.append(f"{len(unreadable)} file(s) could not be read and are not measured (first: {unreadable[0]})")
    if options.level == "patient":
        _note_other_studies(a, instances, qis)
    for s in sensitive:
        if missing := table.get_column(s).null_count():
            a.notes.append(f"{missing} of {table.height} records have no {s}: ℓ and t are measured over the known "
                           "values (a class with none discloses nothing)")
    if a_note:
        a.notes.append(a_note)
    if registry is not None:
        levels0 = dict.fromkeys(link_qis, 0)
        rel0 = generalise_frame(table, hierarchies, levels0)
        reg0 = generalise_frame(registry, hierarchies, levels0)
        a.linkage_before = simulate(rel0, reg0, link_qis, truth=truth)
        if truth:
            a.attacks_before = _attacks(rel0, reg0, link_qis, sensitive, truth)
        else:
            a.notes.append(f"registry has no '{options.level}' column: correctness of matches not scored")
    if before.passed and not options.apply:
        return a
    prob = problem(table, qis, hierarchies, targets=t, sensitive=sensitive, suppression=options.suppression,
                   max_levels={q: 0 for q in qis if q in apply_mod.UNWRITABLE})
    result = search(prob, metric=options.metric)
    a.search = result
    if result.node is None:
        a.notes.append("no generalisation meets the targets within the suppression limit")
        return a
    levels = result.node.levels
    gen_table = generalise(table, prob, levels)
    a.after = measure(gen_table, qis, sensitive=sensitive, population_size=options.population_size, targets=t,
                      drivers=True)
    a.record_sizes_after = equivalence_classes(gen_table, qis).record_sizes()
    if registry is not None:
        lv = dict(zip(qis, levels, strict=True))
        rare = {q: e.rare for q, e in zip(qis, prob.encodings, strict=True)}
        reg1 = generalise_frame(registry, hierarchies, {q: lv[q] for q in link_qis}, rare)
        rel1 = generalise_frame(table, hierarchies, lv, rare).filter(pl.Series(~_mask(prob, levels)))
        if population is not None:
            a.after = measure(rel1, qis, sensitive=sensitive, population=reg1,
                              population_size=options.population_size, targets=t, drivers=True)
        a.linkage_after = simulate(rel1, reg1, link_qis, truth=truth)
        if truth:
            a.attacks_after = _attacks(rel1, reg1, link_qis, sensitive, truth)
    if options.apply:
        if options.audit_key is None:
            raise VeilError("--apply records the change in the keyed audit log: the project secret is needed")
        gen = apply_mod.plan(table, prob, result, options.level)
        a.applied = apply_mod.apply(folder, gen, audit_key=options.audit_key, command=options.command,
                                    purpose=options.purpose)
        again = build(folder, options.level, sensitive_csv=options.sensitive_csv)
        a.remeasured = measure(again, qis, sensitive=sensitive, population_size=options.population_size, targets=t)
    return a


def _note_other_studies(a: Assessment, instances: pl.DataFrame, qis: list[str]) -> None:
    """A patient row holds the patient's index study (veil.risk.table): say so when patients have other
    studies, with k over every study, which the patient-level figure does not see. Red team: each
    patient's second study had a one-of-a-kind manufacturer; patient level said k = 30, "met", silently,
    and study level said k = 1."""
    studies = aggregate(instances, "study")
    extra = studies.height - studies.get_column("patient").n_unique()
    if extra <= 0:
        return
    k = measure(studies, [q for q in qis if q in studies.columns]).k
    a.notes.append(f"{extra} studies are not the index study of their patient and are not measured at patient "
                   f"level: over every study k = {k} (--level study measures them)")


def _mask(prob: Any, levels: Sequence[int]) -> np.ndarray:
    from veil.risk.search import suppressed_rows

    return suppressed_rows(prob, levels)


def _attacks(release: pl.DataFrame, registry: pl.DataFrame, qis: list[str], sensitive: list[str],
             truth: str) -> list[AttackScore]:
    out = [singling_out(release, registry, qis, truth)]
    if len(qis) >= 2:
        out.append(linkability(release, registry, qis, truth))
    for s in sensitive[:1]:
        out.append(inference(release, registry, qis, s, truth))
    return out
