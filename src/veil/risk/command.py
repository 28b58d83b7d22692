"""``veil risk``: measure a release's re-identification risk and, if asked, generalise it to a target.

Thin, like the rest of the CLI: arguments in, :func:`veil.risk.assess.assess` does the work, a rich
table (or JSON) and an HTML report out. Registered by ``cli.py`` as ``app.command("risk")(risk)``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veil.audit import command_line
from veil.errors import SecretError, VeilError

EXIT_OK, EXIT_NOT_MET, EXIT_USAGE = 0, 1, 2

console = Console(stderr=True, soft_wrap=True)
out = Console()


def _fail(msg: str, code: int = EXIT_USAGE) -> None:
    console.print(f"[bold red]error:[/] {msg}", highlight=False)
    raise typer.Exit(code)


def number_errors(*, k: int, ell: float | None, l_kind: str, c: float, t: float | None, max_risk: float | None,
                  suppression: float, population_size: int | None) -> list[str]:
    """What is wrong with the numeric options, one message each (a usage error, exit 2).

    Written so that NaN fails every range (``nan < x`` is false), which the red team found accepted
    for --t, and reaching ``int(nan)`` for --l. Recursive (c,ℓ)-diversity (Machanavajjhala et al. 2007,
    r₁ < c·(r_ℓ + … + r_m)) indexes the sorted value counts by ℓ, so ℓ must be whole: 2.5 was silently
    read as 2. --population-size 0 was silently dropped (it is tested for truth).
    """
    from veil.risk.measures import MIN_RISK  # numpy and polars: not at the CLI's start-up

    errors = []
    if k < 1:
        errors.append(f"--k must be ≥ 1, not {k}")
    if not 0 <= suppression < 1:
        errors.append(f"--suppression must be in [0, 1), not {suppression}")
    if max_risk is not None and not MIN_RISK <= max_risk <= 1:  # 5e-324 overflowed 1/t (review)
        errors.append(f"--max-risk must be in [{MIN_RISK:g}, 1], not {max_risk}")
    if ell is not None and not (math.isfinite(ell) and ell >= 1):
        errors.append(f"--l must be a finite number ≥ 1, not {ell}")
    elif ell is not None and l_kind == "recursive" and not ell.is_integer():
        errors.append(f"--l must be a whole number for recursive (c,ℓ)-diversity, not {ell}")
    if not (math.isfinite(c) and c > 0):
        errors.append(f"--c must be a finite number > 0, not {c}")
    if t is not None and not 0 < t <= 1:
        errors.append(f"--t must be in (0, 1], not {t}")
    if population_size is not None and population_size < 1:
        errors.append(f"--population-size must be ≥ 1, not {population_size}")
    return errors


def risk(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `veil deid` (OUT/<patient>/<study>/...).")],
    level: Annotated[str, typer.Option(help="One row per patient, study or series.")] = "patient",
    qi: Annotated[list[str] | None, typer.Option("--qi", help="Quasi-identifier column (repeat); default: "
                                                  "every QI present in the release.")] = None,
    k: Annotated[int | None, typer.Option("--k", help="Minimum class size (default 11, public release; 5 for "
                                          "controlled sharing).")] = None,
    ell: Annotated[float | None, typer.Option("--l", help="ℓ ≥ 1 for ℓ-diversity of the sensitive attributes "
                                            "(a whole number for recursive).")] = None,
    l_kind: Annotated[str, typer.Option(help="distinct, entropy or recursive ℓ-diversity.")] = "distinct",
    c: Annotated[float, typer.Option("--c", help="c > 0 of recursive (c,ℓ)-diversity.")] = 3.0,
    t: Annotated[float | None, typer.Option("--t", help="t in (0, 1] for t-closeness of the sensitive "
                                            "attributes.")] = None,
    max_risk: Annotated[float | None, typer.Option(help="Maximum re-identification risk (0.09 public, 0.2 "
                                                   "controlled); combined with --k.")] = None,
    suppression: Annotated[float, typer.Option(help="Largest share of records that may be withheld.")] = 0.05,
    metric: Annotated[str, typer.Option(help="Loss to minimise: loss, entropy or discernibility.")] = "loss",
    hierarchies: Annotated[Path | None, typer.Option(help="YAML file overriding generalisation ladders.")] = None,
    sensitive_csv: Annotated[Path | None, typer.Option(help="CSV keyed by the level's key column whose other "
                                                       "columns are sensitive attributes.")] = None,
    registry: Annotated[Path | None, typer.Option(help="CSV of an external registry (identities + QIs) to "
                                                  "simulate a linkage attack against.")] = None,
    population_size: Annotated[int | None, typer.Option(help="Population size N (≥ the records) for the "
                                                        "Pitman/Zayatz "
                                                        "population-uniqueness estimates.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write the optimal generalisation into the files, "
                                        "withhold suppressed records, update manifest and audit log.")] = False,
    key_file: Annotated[Path | None, typer.Option(help="Project secret for the audit log (default: "
                                                  "$VEIL_SECRET, then .veil/secret.key).")] = None,
    purpose: Annotated[str, typer.Option(help="Why (recorded in the audit log with --apply).")] = "",
    html: Annotated[Path | None, typer.Option(help="Write the HTML risk report here.")] = None,
    table_out: Annotated[Path | None, typer.Option("--table", help="Export the metadata table (.csv or "
                                                   ".parquet).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON on stdout.")] = False,
) -> None:
    """Measure re-identification risk of a release and generalise it to a target with the least loss.

    Reads headers only. Reports k, ℓ/t of sensitive attributes, prosecutor/journalist/marketer risk,
    sample and population uniqueness; when the targets are not met, finds the optimal generalisation
    (age bands, month/quarter/year, device → OTHER, ...) with at most --suppression records withheld.

    Exit codes: 0 the release (after --apply: the rewritten release) meets the targets, 1 it does not,
    2 usage error.

    Examples:

      veil risk released/ --k 11 --html risk.html

      veil risk released/ --level study --qi age --qi sex --qi study_date --k 5 --apply

      veil risk released/ --sensitive-csv dx.csv --l 3 --t 0.2 --registry registry.csv --json
    """
    from veil.risk.assess import Options, assess
    from veil.risk.measures import Targets

    if level not in ("patient", "study", "series"):
        _fail(f"--level must be patient, study or series, not {level!r}")
    if l_kind not in ("distinct", "entropy", "recursive"):
        _fail(f"--l-kind must be distinct, entropy or recursive, not {l_kind!r}")
    if metric not in ("loss", "entropy", "discernibility"):
        _fail(f"--metric must be loss, entropy or discernibility, not {metric!r}")
    if k is None:
        k = 1 if max_risk is not None else 11
    problems = number_errors(k=k, ell=ell, l_kind=l_kind, c=c, t=t, max_risk=max_risk, suppression=suppression,
                             population_size=population_size)
    if problems:
        _fail("; ".join(problems))
    audit_key = None
    if apply:
        from veil.identity.keyed import Keyed
        from veil.project import command_secret

        try:
            audit_key = Keyed(command_secret(key_file)).digest("audit-chain", "")
        except SecretError as exc:
            _fail(f"{exc} (--apply appends to the keyed audit log)")
    options = Options(
        level=level, qis=qi or None, targets=Targets(k=k, max_risk=max_risk, ell=ell, l_kind=l_kind, c=c, t=t),
        suppression=suppression, metric=metric, hierarchies=hierarchies, sensitive_csv=sensitive_csv,
        registry=registry, population_size=population_size, apply=apply, audit_key=audit_key,
        command=command_line(sys.argv[1:], audit_key, keep=[out_dir]) if sys.argv[1:2] == ["risk"] else "veil risk",
        purpose=purpose,
    )
    try:
        result = assess(out_dir, options)
        if table_out is not None:
            from veil.risk.table import build, export

            export(build(out_dir, level, sensitive_csv=sensitive_csv), table_out)
        if html is not None:
            from veil.report.risk_page import write

            write(result, html)
    except (VeilError, ValueError, KeyError, OSError) as exc:
        _fail(str(exc).strip("'\""))
    if as_json:
        out.print_json(ensure_ascii=True, json=json.dumps(result.to_dict(), default=str))
    else:
        _print(result, html)
    raise typer.Exit(EXIT_OK if result.met else EXIT_NOT_MET)


def _fmt(v: float | int | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def _print(a, html: Path | None) -> None:  # type: ignore[no-untyped-def]
    t = Table(title=f"veil risk  {a.folder}  level={a.options.level}  records={a.records}  "
                    f"QIs={', '.join(a.qis) or '-'}")
    t.add_column("measure")
    t.add_column("threshold", justify="right")
    t.add_column("as released", justify="right")
    has_after = a.after is not None
    if has_after:
        t.add_column("generalised", justify="right")
    if a.remeasured is not None:
        t.add_column("on disk after --apply", justify="right")
    after = {c.name: c for c in a.after.checks} if has_after else {}
    again = {c.name: c for c in a.remeasured.checks} if a.remeasured is not None else {}
    for chk in a.before.checks:
        def cell(x) -> str:  # type: ignore[no-untyped-def]
            if x is None:
                return "-"
            mark = "" if x.passed is None else (" [green]✓[/]" if x.passed else " [red]✗[/]")
            return _fmt(x.value) + mark
        row = [chk.name, _fmt(chk.threshold), cell(chk)]
        if has_after:
            row.append(cell(after.get(chk.name)))
        if a.remeasured is not None:
            row.append(cell(again.get(chk.name)))
        t.add_row(*row)
    out.print(t)
    if a.search is not None:
        s = a.search
        if s.node is None:
            out.print("[red]no generalisation meets the targets within the suppression limit[/]")
        else:
            names = escape(", ".join(f"{k}={v}" for k, v in s.describe().items()))  # "[20, 30)" is no markup
            out.print(f"optimal generalisation ({'proven optimal' if s.optimal else 'heuristic'}, "
                      f"{s.evaluated}/{s.lattice_size} nodes, {s.seconds:.2f}s): {names}")
            out.print(f"  suppressed {s.node.suppressed} of {s.records} records; loss {s.node.loss:.4f}, "
                      f"non-uniform entropy {s.node.entropy:.1f} bits, discernibility {s.node.discernibility:.0f}")
    if a.linkage_before is not None:
        lt = Table(title="linkage attack against the registry")
        lt.add_column("")
        for col in ("matched", "unique matches", "correct unique", "expected re-id rate"):
            lt.add_column(col, justify="right")
        for name, r in (("as released", a.linkage_before), ("generalised", a.linkage_after)):
            if r is not None:
                lt.add_row(name, str(r.matched), str(r.unique_matches), _fmt(r.correct_unique),
                           _fmt(r.expected_rate))
        out.print(lt)
    if a.attacks_before:
        at = Table(title="WP29 attacks (risk = excess success over the reference attacker)")
        for col in ("attack", "as released", "generalised"):
            at.add_column(col)
        after_by = {x.name: x for x in a.attacks_after}
        for x in a.attacks_before:
            y = after_by.get(x.name)
            at.add_row(x.name, f"{x.risk:.3f} [{x.ci[0]:.3f}, {x.ci[1]:.3f}]",
                       "-" if y is None else f"{y.risk:.3f} [{y.ci[0]:.3f}, {y.ci[1]:.3f}]")
        out.print(at)
    if a.applied is not None:
        out.print(f"applied: {a.applied.rewritten} files rewritten, {a.applied.withheld} withheld "
                  f"(.veil/withheld/), audit head {a.applied.audit_head}")
    for n in a.notes:
        out.print(f"note: {escape(n)}")
    out.print(("[green]targets met[/]" if a.met else "[red]targets not met[/]") +
              (f"; report: {escape(str(html))}" if html else ""))
