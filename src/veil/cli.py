"""The `veil` command. Thin: it parses arguments, calls the library and renders results.

Exit codes scripts can trust: 0 success, 1 some files quarantined (the rest written), 2 usage or
configuration error (bad policy, missing secret, output inside input), 3 fatal error during the run,
128 + N stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), worker processes included.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veil import __version__
from veil.errors import Interrupted, PolicyError, SecretError, SecretMismatch, VeilError, scrub

if TYPE_CHECKING:
    from veil.pipeline.runner import RunSummary
    from veil.verify.scan import ScanResult

EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 3

# One BLAS thread per process (numpy is imported later, by pydicom): Veil's parallelism is its worker
# processes, and OpenBLAS's own threads - one per core, spinning after each call - only took CPU from
# them (0.15 s of each command's start). The user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

#: Signals that stop a command cleanly: Ctrl-C, a scheduler's or ``timeout``'s stop, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_interrupted(signum: int, _frame: object) -> None:
    from veil.pipeline import partfiles

    if partfiles.defer(lambda: _raise(signum)):
        return  # an output is being committed in this process (one worker): stop once it is journaled
    raise Interrupted(signum)


def _raise(signum: int) -> None:
    raise Interrupted(signum)


class _Veil(typer.Typer):
    """The ``veil`` command: a stop signal ends it cleanly, whatever it was doing.

    Without this, SIGTERM killed the main process on the spot (no ``finally``: the pool's workers were
    left running) and Ctrl-C ended in a bare exit code. Now each signal raises :class:`Interrupted` in
    the main process: the command's ``finally`` blocks run (workers stopped, archives' staging removed,
    journals closed), one line says what happened, and the exit code is 128 + the signal's number.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                previous[sig] = signal.signal(sig, _raise_interrupted)
        try:
            argv = list(kwargs.get("args") or (args[0] if args else sys.argv[1:]))
            options = argv[:argv.index("--")] if "--" in argv else argv  # after "--": arguments, not options
            if "--json" in options and kwargs.get("standalone_mode", True):
                return _json_main(self, argv, kwargs.get("prog_name"))
            return super().__call__(*args, **kwargs)
        except Interrupted as exc:
            console.print(f"[bold red]interrupted:[/] {exc.name} - stopped", highlight=False)
            sys.exit(128 + exc.signum)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _json_main(group: typer.Typer, argv: list[str], prog_name: str | None) -> None:
    """Run the command line under ``--json``: a usage error (an unknown option, ``--workers many``, a missing
    argument), which click reports on stderr alone, also prints the one JSON object ``--json`` promises on
    stdout ({"error", "exit_code": 2}); a script parsing stdout got nothing before."""
    command = typer.main.get_command(group)
    try:
        rv = command.main(args=argv, prog_name=prog_name, standalone_mode=False)  # None: click names it
    except click.ClickException as exc:
        exc.show()
        _json_failure(exc.format_message(), exc.exit_code)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", file=sys.stderr)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


app = _Veil(
    name="veil",
    help=(
        "De-identify DICOM by policy (PS3.15 Annex E), with keyed pseudonyms, UIDs and dates.\n\n"
        "Examples:\n\n"
        "  veil init                                   # create the project secret (.veil/secret.key)\n\n"
        "  veil deid scans/ released/ --policy research-longitudinal\n\n"
        "  veil policy show basic\n\n"
        "  veil demo out/                              # bundled fake-PHI sample, end to end"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(
    help="Inspect and validate policies.\n\nExamples:\n\n  veil policy list\n\n"
    "  veil policy show research-longitudinal --tag StudyDate\n\n  veil policy validate site.yaml",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")
audit_app = typer.Typer(
    help="Check the tamper-evident audit log.\n\nExamples:\n\n  veil audit verify released/\n\n"
    "  veil audit show released/",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

#: stdout prints values from files and logs (paths, purposes, reasons): no markup, so "[red]" or "[/x]" in a
#: file name is shown as written, not styled or a crash after the run (red team). stderr escapes them.
console = Console(stderr=True, soft_wrap=True)
out = Console(markup=False)


class _Failed(typer.Exit):
    """A command's failure, with the message it printed (``--json`` prints it on stdout too)."""

    def __init__(self, msg: str, code: int, summary: dict[str, object] | None = None) -> None:
        super().__init__(code)
        self.message = msg
        self.summary = summary  # what a stopped run had done (--json prints it with the error)


def _fail(msg: str, code: int = EXIT_USAGE, summary: dict[str, object] | None = None) -> None:
    console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise _Failed(msg, code, summary)


def _json_failure(message: str, code: int, summary: dict[str, object] | None = None) -> None:
    """The one JSON object ``--json`` promises on stdout, for a run that ended in an error or a stop: a
    script that parses stdout gets the exit code and the reason instead of nothing."""
    out.print_json(ensure_ascii=True, json=json.dumps((summary or {}) | {"error": message, "exit_code": code}))


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print Veil's version and exit.")] = False,
) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")  # per-file problems are reported
    if version:
        out.print(f"veil {__version__}")
        raise typer.Exit(0)


@app.command()
def init(
    key_file: Annotated[Path, typer.Option(help="Where to write the secret.")] = Path(".veil/secret.key"),
    force: Annotated[bool, typer.Option(help="Replace an existing secret (changes every pseudonym).")] = False,
) -> None:
    """Create the project secret (32 random bytes, file mode 0600).

    Every pseudonym, UID and date offset is derived from it: keep it safe, share it only with sites that
    must produce the same pseudonyms. `VEIL_SECRET` in the environment is used instead when set.

    Example:  veil init --key-file /secure/veil.key
    """
    from veil.identity.secret import create_key_file

    try:
        path = create_key_file(key_file, force=force)
    except SecretError as exc:
        _fail(str(exc))
    console.print(f"secret written to {path} (mode 0600)")


@app.command()
def deid(
    input_dir: Annotated[Path, typer.Argument(help="Folder (searched recursively) or single file to read.")],
    output_dir: Annotated[Path, typer.Argument(help="Folder to write de-identified files to.")],
    policy: Annotated[str, typer.Option("--policy", "-p", help="Built-in name or YAML file.")] = "basic",
    key_file: Annotated[
        Path | None, typer.Option(help="Project secret (default: $VEIL_SECRET, then .veil/secret.key).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0 = all usable cores).")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would happen; write nothing.")] = False,
    purpose: Annotated[str, typer.Option(help="Why this run happens (recorded in the audit log).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout (on an error or a stop: "
                                          "its 'error' and 'exit_code', with the counts so far).")] = False,
    file_timeout: Annotated[float, typer.Option(
        "--file-timeout", help="Seconds one file may take before it is stopped and quarantined (0 = no limit, "
        "and with --workers 1 the files run in this process).")] = 1800,
) -> None:
    """De-identify every DICOM file under INPUT_DIR into OUTPUT_DIR.

    Output paths are built from de-identified identifiers only
    (<pseudo-patient>/<study-uid>/<series-uid>/<instance-uid>.dcm). Files that cannot be de-identified
    safely are listed in OUTPUT_DIR/.veil/quarantine.jsonl with a reason and never written; every
    written file has a line in OUTPUT_DIR/.veil/manifest.jsonl. INPUT_DIR is never modified. On a
    re-run, outputs of earlier runs that no input of this run makes (input removed, or quarantined now)
    are removed, so OUTPUT_DIR holds what the manifest lists; one edited since is kept and reported (exit 1).

    Exit codes: 0 all written, 1 some files quarantined, 2 usage/config error, 3 fatal error,
    130/143/129 stopped by Ctrl-C/SIGTERM/SIGHUP (run the same command again to resume).

    Examples:

      veil deid /data/incoming /data/released --policy research-longitudinal --workers 0

      veil deid study/ out/ --policy site.yaml --purpose "IRB-2026-114 export" --json
    """
    try:
        try:
            _deid(input_dir, output_dir, policy, key_file, workers, dry_run, purpose, as_json, file_timeout)
        except (typer.Exit, typer.Abort, click.ClickException, Interrupted):
            raise
        except Exception as exc:  # a failure nothing above foresaw: fatal (3), never 1 ("some quarantined")
            if os.environ.get("VEIL_DEBUG"):
                import traceback

                traceback.print_exc()
            resume = "" if dry_run else (f" Files finished so far are kept and journaled in {output_dir / '.veil'}: "
                                         "fix the cause and run the same command again to resume.")
            _fail(f"the run stopped on an unexpected error: {type(exc).__name__}: {scrub(str(exc))}.{resume} "
                  "(VEIL_DEBUG=1 prints the traceback)", EXIT_FATAL)
    except _Failed as exc:
        if as_json:
            _json_failure(exc.message, exc.exit_code, exc.summary)
        raise
    except Interrupted as exc:
        if as_json and not exc.reported:
            from veil.pipeline.runner import RunSummary, summary_dict

            done = summary_dict(exc.summary) if isinstance(exc.summary, RunSummary) else None
            what = ("the run had finished and is recorded in the audit log" if exc.finished
                    else "run the same command again to resume")
            _json_failure(f"stopped by {exc.name}: {what}", 128 + exc.signum, done)
        raise


def _deid(input_dir: Path, output_dir: Path, policy: str, key_file: Path | None, workers: int, dry_run: bool,
          purpose: str, as_json: bool, file_timeout: float) -> None:
    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import check_paths
    from veil.pipeline.sources import collect
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan
    from veil.project import command_secret

    if file_timeout != 0 and not (math.isfinite(file_timeout) and file_timeout > 0):
        _fail(f"--file-timeout must be 0 (no limit) or a positive number of seconds, not {file_timeout:g}")
    try:
        pol = load_policy(policy)
        plan = compile_plan(pol)
        keyed = Keyed(command_secret(key_file))
        check_paths(input_dir, output_dir)
    except (PolicyError, SecretError, VeilError) as exc:
        _fail(str(exc))
    except OSError as exc:  # e.g. a path that cannot be looked at
        _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    from veil.pipeline.pool import resolve_workers

    n_workers = resolve_workers(workers)
    project = _active_project()  # read once: the log this run's entry goes to (OUT's own, or the project's)
    log = project.audit_path if project is not None else output_dir / ".veil" / "audit.jsonl"
    if not dry_run:  # asked before any output
        from veil.audit import AuditError, check_appendable

        try:
            check_appendable(log, key=project.audit_key() if project is not None else _audit_key(keyed))
        except AuditError as exc:
            _fail(f"{exc}. Nothing was written. (An audit log keyed with another project secret means its folder "
                  "belongs to that secret: write to a new output folder.)")
    try:  # staging folders named after the output (a re-run resumes); a dry run's are its own
        sources = collect(input_dir, None if dry_run else output_dir)
    except VeilError as exc:
        _fail(str(exc), EXIT_FATAL)
    try:
        summary = _run_with_progress(sources, output_dir, plan, keyed, n_workers, dry_run, as_json, file_timeout)
    except SecretError as exc:  # the output folder belongs to another secret: nothing was written
        _fail(str(exc))
    except VeilError as exc:  # e.g. the output is full or read-only: the run stops, resumable
        from veil.pipeline.runner import RunSummary, summary_dict

        done = getattr(exc, "summary", None)
        _fail(str(exc) + _record_stopped(exc, output_dir, keyed, plan, purpose, dry_run), EXIT_FATAL,
              summary_dict(done) if isinstance(done, RunSummary) else None)
    except Interrupted as exc:
        if not dry_run:
            if exc.summary is not None:  # outputs were written: the run is recorded, as stopped
                from veil.audit import AuditError

                with contextlib.suppress(AuditError, OSError, VeilError), _stop_signals_held():
                    _audit_run(output_dir, keyed, plan, exc.summary, purpose, interrupted=exc.name)
            state = escape(str(output_dir / ".veil"))
            console.print(f"files finished so far are kept and journaled in {state}: run the same command again to "
                          "resume", highlight=False)
        raise
    finally:
        sources.cleanup()  # archives unpacked for this run
    head = None
    if not dry_run:
        from veil.audit import AuditError

        try:
            with _stop_signals_held():  # a stop now waits for the entry: the outputs are recorded, whole
                head = _audit_run(output_dir, keyed, plan, summary, purpose)
        except Interrupted as exc:  # delivered once the block is done: complete and recorded if the entry is
            exc.summary, exc.finished = summary, head is not None  # written (not when its write failed)
            raise
        except AuditError as exc:  # changed under the run (checked before it): the outputs stand, unrecorded
            _fail(f"the run finished ({summary.written} written) but its audit entry was refused: {exc}", EXIT_FATAL)
        except OSError as exc:  # a full disk, a read-only folder: the outputs stand, unrecorded
            _fail(f"the run finished ({summary.written} written) but its audit entry could not be written "
                  f"({exc.strerror or exc}): fix that and run the same command again - it reuses every output "
                  "and records the run", EXIT_FATAL)
    try:
        _report_run(summary, pol.name, plan.policy_hash, output_dir, head, as_json, log)
    except Interrupted as exc:  # the run is whole and recorded; --json's one object is already out
        exc.reported = as_json
        raise
    raise typer.Exit(summary.exit_code)


def _record_stopped(exc: VeilError, output_dir: Path, keyed, plan, purpose: str,  # type: ignore[no-untyped-def]
                    dry_run: bool) -> str:
    """A run the output stopped (full, read-only, I/O error) may have written files: it is recorded like a
    run a signal stopped, when the log can still take a line (a full disk often has room for one line
    and not for an image). What the message adds says which."""
    from veil.audit import AuditError
    from veil.errors import OutputError
    from veil.pipeline.runner import RunSummary

    if dry_run or not isinstance(exc, OutputError) or not isinstance(exc.summary, RunSummary):
        return ""
    try:
        with _stop_signals_held():
            _audit_run(output_dir, keyed, plan, exc.summary, purpose, interrupted="output-failure")
    except (AuditError, OSError, VeilError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return f". The stopped run is not in the audit log ({why}): the run that resumes it is"
    return ". The stopped run is recorded in the audit log"


def _report_run(summary: RunSummary, policy_name: str, policy_hash: str, output_dir: Path, head: str | None,
                as_json: bool, log: Path) -> None:
    """The end of a finished run: the summary (table, or one JSON object) and the warnings after it."""
    from veil.pipeline.runner import summary_dict

    if as_json:
        d = summary_dict(summary) | {"policy": policy_name, "policy_hash": policy_hash, "output": str(output_dir),
                                     "audit_head": head}
        out.print_json(ensure_ascii=True, json=json.dumps(d))
    else:
        _print_summary(summary, policy_name, policy_hash, output_dir)
        if head:
            out.print(f"audit: {log} head {head} (keep it to detect truncation)")
    if summary.stale_removed:
        console.print(f"removed {summary.stale_removed:,} output(s) of earlier runs that no input of this run made "
                      "(input removed, or quarantined now)", highlight=False)
    if summary.studies_split:
        console.print(f"[bold yellow]warning:[/] {summary.studies_split:,} study(ies) came out under more than one "
                      "pseudo-patient, each with its own date shift: their files disagree on the patient (a Patient "
                      "ID corrected after the scan? Issuer of Patient ID in some files only under patient_key: "
                      f"issuer_and_id?) - e.g. output study {escape(str(summary.split_example))}", highlight=False)
    if summary.issuers_merged:
        console.print(f"[bold yellow]warning:[/] {summary.issuers_merged:,} pseudo-patient(s) gather files with "
                      "two different Issuers of Patient ID: the same Patient ID in two ID spaces may be two people "
                      "(set pseudonyms.patient_key: issuer_and_id if your archive merges hospitals) - e.g. "
                      f"{escape(str(summary.merged_example))}", highlight=False)
    if summary.stale_kept:
        console.print(f"[bold red]warning:[/] {len(summary.stale_kept):,} file(s) in {escape(str(output_dir))} are "
                      "earlier outputs that no input of this run made, kept because their bytes are not what Veil "
                      "wrote (edited?) or they could not be removed: no report lists them - review or remove them "
                      "before a release, "
                      f"e.g. {escape(str(output_dir / summary.stale_kept[0]))}", highlight=False)


@contextlib.contextmanager
def _stop_signals_held() -> Generator[None, None, None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done (an audit entry is appended whole), then
    stop the command as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _active_project():  # type: ignore[no-untyped-def]
    """The project the command runs in (``$VEIL_PROJECT`` or a parent folder with its config), or None."""
    from veil.project import ProjectError, load_project

    try:
        return load_project()
    except ProjectError:
        return None


def _audit_access(action: str, counts: dict[str, int], fallback_dir: Path | None, purpose: str = "") -> str | None:
    """Record that a command read identifiable data (verify --against, inventory): the project's audit
    log when a project is active, else OUT/.veil/audit.jsonl when there is an output folder and a
    secret to key the chain. Returns the entry hash, or None when there is nowhere to record it."""
    from veil.audit import AuditEntry, append, command_line
    from veil.identity.keyed import Keyed
    from veil.project import command_secret

    project = _active_project()
    if project is not None:
        return project.audit(action, purpose=purpose, counts=counts)  # type: ignore[no-any-return]
    if fallback_dir is None:
        return None
    try:
        keyed = Keyed(command_secret())
    except SecretError:
        return None
    key = _audit_key(keyed)
    entry = AuditEntry(command=command_line(sys.argv[1:], key, keep=[fallback_dir]), purpose=purpose,
                       policy_hash="", counts=counts, extra={"action": action, "veil_version": __version__})
    return str(append(fallback_dir / ".veil" / "audit.jsonl", entry, key=key)["hash"])


def _audit_key(keyed) -> bytes:  # type: ignore[no-untyped-def]
    """HMAC key of the audit chain, derived from the project secret (its own domain)."""
    return keyed.digest("audit-chain", "")


def _audit_run(output_dir: Path, keyed, plan, summary, purpose: str,  # type: ignore[no-untyped-def]
               interrupted: str | None = None) -> str:
    """One hash-chained entry per run: who, when, command, purpose, policy hash, counts. A run stopped by
    a signal is recorded too (`interrupted`: the signal's name): its outputs exist whether or not it is
    ever resumed. Its counts are what the command had received when it stopped (results come back in
    input order, so finished files behind a unit still running are on disk and journaled, not counted)."""
    from veil.audit import AuditEntry, append, command_line

    entry = AuditEntry(
        command=command_line(sys.argv[1:], _audit_key(keyed), keep=[output_dir]),
        purpose=purpose,
        policy_hash=plan.policy_hash,
        counts={"in": summary.files_in, "out": summary.written, "quarantined": summary.quarantined,
                "duplicates": summary.duplicates, "resumed": summary.resumed,
                **({"stale_removed": summary.stale_removed} if summary.stale_removed else {})},
        extra={"veil_version": __version__, "policy": plan.policy.name, "policy_version": plan.policy.version,
               "table": plan.edition, **({"interrupted": interrupted} if interrupted else {})},
    )
    project = _active_project()
    if project is not None:  # the project's log once a project is active (one history per project)
        return project.audit("deid", purpose=purpose, policy_hash=plan.policy_hash,  # type: ignore[no-any-return]
                             counts=entry.counts, extra=entry.extra, keep=[output_dir])
    rec = append(output_dir / ".veil" / "audit.jsonl", entry, key=_audit_key(keyed))
    return str(rec["hash"])


def _run_with_progress(sources, output_dir, plan, keyed, workers, dry_run, quiet,  # type: ignore[no-untyped-def]
                       file_timeout=None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from veil.pipeline.runner import run

    kw = {"workers": workers, "dry_run": dry_run, "failed_sources": sources.errors,
          "file_timeout": file_timeout or None, "cleanup": sources.cleanup_and_sweep}
    show = console.is_terminal and not quiet and not os.environ.get("CI")
    if not show:
        return run(sources, output_dir, plan, keyed, **kw)
    with Progress(TextColumn("de-identifying"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]} files/s"), TimeRemainingColumn(), console=console) as prog:
        task = prog.add_task("deid", total=None, rate="-")
        _count_in_background(prog, [task], sources.count)  # an archive counts once until unpacked

        def advance(_r: object) -> None:
            prog.advance(task)
            if prog.tasks[0].total is not None and prog.tasks[0].completed > prog.tasks[0].total:
                prog.update(task, total=prog.tasks[0].completed)
            speed = prog.tasks[0].speed
            prog.update(task, rate=f"{speed:.0f}" if speed else "-")

        return run(sources, output_dir, plan, keyed, on_result=advance, **kw)


def _count_in_background(prog: Any, tasks: list[Any], count: Callable[[], int]) -> threading.Thread:
    """Set the bars' total once `count()` (a walk) returns, in a thread: the work starts at once. Why:
    counting first walked the whole tree before the first file was read (minutes for an archive of
    millions of files on a network share). A total is never set below what a bar has already done."""

    def run() -> None:
        with contextlib.suppress(Exception):  # a bar without a total is not worth failing a run for
            n = count()
            for task in tasks:
                done = next(int(t.completed) for t in prog.tasks if t.id == task)
                prog.update(task, total=max(n, done))

    counter = threading.Thread(target=run, name="veil-count", daemon=True)
    counter.start()
    return counter


def _verify_with_progress(output_dir: Path, against: Path | None, key_file: Path | None,
                          allow_private: tuple[str, ...], ocr: bool, workers: int, quiet: bool) -> ScanResult:
    """Pair outputs with inputs (with the secret), read the inputs' identifiers, scan the outputs: each
    pass over all cores, each with its own bar on a terminal."""
    from collections.abc import Iterator
    from functools import partial

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from veil.identity.keyed import Keyed
    from veil.pipeline.instance import keyed_file_hash
    from veil.pipeline.sources import collect, walk
    from veil.project import command_secret
    from veil.verify import pair_by_manifest, verify_folder

    # read as deid reads it (archives unpacked once; each pass walks the same paths): never every path in memory
    source = collect(against) if against is not None else None

    def inputs() -> Iterator[Path]:
        if source is not None:
            yield from source.again()

    try:
        keyed = Keyed(command_secret(key_file)) if against is not None else None
    except SecretMismatch as exc:
        _fail(str(exc))
        raise
    except SecretError:
        keyed = None  # no secret: identifiers are still searched, study dates cannot be paired
    show = console.is_terminal and not quiet and not os.environ.get("CI")
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=not show) as prog:
        pairs = None
        hashing = prog.add_task("pairing inputs", total=None, visible=keyed is not None)
        reading = prog.add_task("reading inputs", total=None, visible=against is not None)
        scanning = prog.add_task("verifying outputs", total=None)
        if show:  # totals for the bars, counted beside the work (outputs: all but OUT/.veil)
            _count_in_background(prog, [hashing, reading], lambda: source.count() if source is not None else 0)
            _count_in_background(prog, [scanning], lambda: sum(1 for _ in walk(output_dir)))
        try:
            if keyed is not None:
                pairs = pair_by_manifest(output_dir, inputs(), partial(keyed_file_hash, keyed=keyed), workers,
                                         on_file=lambda: prog.advance(hashing))
            return verify_folder(output_dir, source, pairs=pairs, allow_private=allow_private, ocr=ocr,
                                 workers=workers, on_input=lambda: prog.advance(reading),
                                 on_file=lambda _rel: prog.advance(scanning))
        except VeilError as exc:  # a damaged manifest: said, not a traceback (exit 2, not 1: no finding)
            _fail(str(exc))
            raise
        finally:
            if source is not None:
                source.cleanup()


def _print_summary(summary, policy_name: str, policy_hash: str, output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    t = Table(title=f"veil deid  policy={policy_name} ({policy_hash[:12]})", show_header=False)
    t.add_column("what")
    t.add_column("count", justify="right")
    rate = "-" if summary.files_per_second is None else f"{summary.files_per_second:,.0f}"
    for what, n in (("files in", f"{summary.files_in:,}"),
                    ("would be written (dry run)" if summary.dry_run else "written",
                     f"{summary.written or summary.dry_run:,}"),
                    ("duplicates (instance already written)", f"{summary.duplicates:,}"),
                    ("quarantined", f"{summary.quarantined:,}"),
                    ("resumed (finished by an earlier run)", f"{summary.resumed:,}"),
                    ("patients", f"{summary.patients:,}"),
                    ("seconds", f"{summary.seconds:,.1f}"),
                    ("files/s", rate)):
        t.add_row(what, n)
    out.print(t)
    if summary.quarantined:  # the first 20 from the run's result store, not a pass over every result
        qt = Table(title="quarantined (not written)")
        qt.add_column("file")
        qt.add_column("rule")
        qt.add_column("reason")
        for r in itertools.islice(summary.results.select("status = 'quarantined'"), 20):
            qt.add_row(summary.describe(r.source), r.rule, r.reason)
        out.print(qt)
        if summary.quarantined > 20:
            out.print(f"... and {summary.quarantined - 20} more in {output_dir / '.veil' / 'quarantine.jsonl'}")


@audit_app.command("verify")
def audit_verify(
    log: Annotated[Path, typer.Argument(help="Audit log (OUT/.veil/audit.jsonl) or an output folder.")],
    key_file: Annotated[
        Path | None, typer.Option(help="Project secret (default: $VEIL_SECRET, then .veil/secret.key).")
    ] = None,
    expected_head: Annotated[str | None, typer.Option(help="A head hash written down earlier.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the audit chain: any edited, removed, inserted or reordered entry is reported (exit 1).

    The chain is keyed with the project secret, so it cannot be rewritten without it; give the head
    hash printed by an earlier run to detect removal of the newest entries too.

    Examples:

      veil audit verify released/

      veil audit verify released/.veil/audit.jsonl --expected-head 3f9a...
    """
    from veil.audit import verify
    from veil.identity.keyed import Keyed
    from veil.project import command_secret

    path = log / ".veil" / "audit.jsonl" if log.is_dir() else log
    try:
        key = _audit_key(Keyed(command_secret(key_file)))
    except SecretError as exc:
        _fail(f"{exc} (the audit chain is keyed with the project secret)")
    res = verify(path, key=key, expected_head=expected_head)
    if as_json:
        out.print_json(ensure_ascii=True, json=json.dumps({"ok": res.ok, "entries": res.entries,
                                                           "problems": list(res.problems), "head": res.head}))
    elif res.ok:
        out.print(f"audit log ok: {res.entries} entries, head {res.head}")
    else:
        for p in res.problems:
            console.print(f"[red]{escape(p)}[/]", highlight=False)
    raise typer.Exit(EXIT_OK if res.ok else EXIT_QUARANTINED)


@audit_app.command("show")
def audit_show(
    log: Annotated[Path, typer.Argument(help="Audit log or output folder.")],
) -> None:
    """List the runs recorded in an audit log.

    Example:  veil audit show released/
    """
    from veil.audit import AuditError, read_entries

    path = log / ".veil" / "audit.jsonl" if log.is_dir() else log
    try:
        entries = read_entries(path)
    except AuditError as exc:
        _fail(str(exc))
    t = Table(title=str(path))
    for c in ("seq", "when (UTC)", "user", "purpose", "policy", "in", "out", "quarantined"):
        t.add_column(c)
    for e in entries:
        c = e.get("counts", {})
        t.add_row(str(e.get("seq")), str(e.get("ts")), str(e.get("user")), str(e.get("purpose")),
                  str(e.get("policy_hash", ""))[:12], str(c.get("in", "")), str(c.get("out", "")),
                  str(c.get("quarantined", "")))
    out.print(t)


@app.command()
def verify(
    output_dir: Annotated[Path, typer.Argument(help="De-identified folder to check (any DICOM folder works).")],
    against: Annotated[
        Path | None, typer.Option("--against", help="The input it came from: search for its every identifier.")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Project secret, to pair outputs with inputs through the manifest.")
    ] = None,
    allow_private: Annotated[
        list[str] | None, typer.Option("--allow-private", help="Private creator a policy keeps on purpose.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Findings shown in the table (all are in --json).")] = 30,
    ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="Read text in pixels of images at risk.")] = True,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0 = all usable cores).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print every finding as JSON on stdout.")] = False,
) -> None:
    """Look for anything identifying left in OUTPUT_DIR, independently of the code that de-identified it.

    Checks every element at every depth (private tags, file meta, sequences, SR content), the raw bytes of
    each file and the output paths. With --against IN, every identifying value of the input (names, IDs,
    accession numbers, UIDs, birth dates, addresses, phones, institutions) is searched for, and with the
    project secret outputs are paired with their inputs so unshifted study dates are found too. Without
    it: PHI patterns, vendor UID roots, ages over 89, unsafe private tags, overlays, icons, encapsulated
    documents, unmarked instances. Evidence is masked (Q*******h).

    Exit codes: 0 nothing found, 1 findings (do not release), 2 usage error.

    Examples:

      veil verify out/ --against incoming/

      veil verify released/ --json > findings.json

      veil verify out/ --against incoming/ --workers 4
    """
    from collections import Counter

    if not output_dir.is_dir():
        _fail(f"{output_dir}: not a folder")
    if against is not None and not against.exists():
        _fail(f"{against}: no such file or folder")
    from veil.pipeline.pool import resolve_workers

    n_workers = resolve_workers(workers)
    result = _verify_with_progress(output_dir, against, key_file, tuple(allow_private or ()), ocr, n_workers,
                                   as_json)
    if against is not None:  # the input is identifiable data: reading it is recorded
        _audit_access("verify", {"files": result.files, "findings": len(result.findings)}, output_dir)
    code = EXIT_OK if result.ok else EXIT_QUARANTINED
    if as_json:
        out.print_json(ensure_ascii=True, json=json.dumps({
            "files": result.files, "paired": result.paired, "unreadable": result.unreadable,
            "findings": [f.as_dict() for f in result.findings], "notes": result.notes, "ok": result.ok,
        }))
        raise typer.Exit(code)
    by_cat = Counter(f.category for f in result.findings)
    t = Table(title=f"veil verify {output_dir}: {result.files} files, {len(result.findings)} findings")
    t.add_column("category")
    t.add_column("findings", justify="right")
    t.add_column("files", justify="right")
    for cat, n in by_cat.most_common():
        t.add_row(cat, str(n), str(len({f.file for f in result.findings if f.category == cat})))
    out.print(t)
    if result.findings:
        d = Table(title=f"first {min(limit, len(result.findings))} findings (evidence masked)")
        for c in ("file", "location", "category", "evidence"):
            d.add_column(c, overflow="fold")
        for f in result.findings[:limit]:
            d.add_row(f.file, f.location, f.category, f.evidence)
        out.print(d)
    for note in result.notes:
        out.print(f"note: {note}")
    out.print("no findings" if result.ok else "findings: do not release", style="green" if result.ok else "red")
    raise typer.Exit(code)


@app.command()
def inventory(
    input_dir: Annotated[Path, typer.Argument(help="Folder, archive or list file to scan (headers only).")],
    policy: Annotated[str, typer.Option("--policy", "-p", help="Policy whose actions are shown.")] = "basic",
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write one row per attribute here.")] = None,
    parquet_out: Annotated[Path | None, typer.Option("--parquet", help="Same rows as Parquet.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0 = all usable cores).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """List every attribute in a corpus with counts, masked value shapes, a risk class and the policy's action.

    Private attributes are listed by private creator + element, nested ones with their sequence path.
    Values are never printed, only their shape (A letter, 9 digit). Unknown private tags and text
    attributes a policy keeps stand out.

    Examples:

      veil inventory incoming/ --html inventory.html

      veil inventory incoming/ --policy research-longitudinal --csv attributes.csv --json

      veil inventory /archive/2024/ --workers 16 --parquet attributes.parquet
    """
    from veil.inventory import KEPT, REMOVED, RISK_CLASSES, TRANSFORMED, build, write_csv, write_parquet
    from veil.pipeline.sources import collect
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan
    from veil.report.inventory_page import write

    try:
        plan = compile_plan(load_policy(policy))
        sources = collect(input_dir)
    except (PolicyError, VeilError) as exc:
        _fail(str(exc))
    from veil.pipeline.pool import resolve_workers

    n_workers = resolve_workers(workers)
    try:
        if not console.is_terminal or as_json or os.environ.get("CI"):
            inv = build(sources.files, plan, workers=n_workers)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("reading headers"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as prog:
                task = prog.add_task("inventory", total=sources.count())
                inv = build(sources.files, plan, workers=n_workers, on_file=lambda: prog.advance(task))
    finally:
        sources.cleanup()
    # what the walk could not take (folders that cannot be listed, archives that cannot be unpacked,
    # dangling links): listed, not silently left out
    inv.unreadable += [(path, reason) for path, reason, _ in sources.errors]
    _audit_access("inventory", {"files": inv.files}, None)
    if html:
        write(inv, plan.policy.name, str(input_dir), html)
    if csv_out:
        write_csv(inv, csv_out)
    if parquet_out:
        write_parquet(inv, parquet_out)
    risk = inv.by_risk()
    if as_json:
        out.print_json(ensure_ascii=True, json=json.dumps({
            "files": inv.files, "unreadable": len(inv.unreadable), "attributes": len(inv.attributes),
            "risk": {r: risk.get(r, 0) for r in RISK_CLASSES}, "private_creators": dict(inv.private_creators),
            "modalities": dict(inv.modalities), "html": str(html) if html else None,
        }))
        return
    t = Table(title=f"inventory of {input_dir} ({inv.files} files, policy {plan.policy.name})")
    t.add_column("risk class")
    t.add_column("attributes", justify="right")
    for c in ("kept as is", "transformed", "removed"):
        t.add_column(c, justify="right")
    for r in RISK_CLASSES:
        rows = [a for a in inv.attributes.values() if a.risk == r]
        t.add_row(r, str(len(rows)), *(str(sum(a.action in s for a in rows)) for s in (KEPT, TRANSFORMED, REMOVED)))
    out.print(t)
    if html:
        out.print(f"report: {html}")


@policy_app.command("list")
def policy_list() -> None:
    """List the built-in policies.

    Example:  veil policy list
    """
    from veil.policy.model import builtin_names, load_policy

    t = Table(title="built-in policies")
    t.add_column("name")
    t.add_column("options")
    for n in builtin_names():
        p = load_policy(n)
        t.add_row(n, ", ".join(p.options) or "(Basic Profile only)")
    out.print(t)


@policy_app.command("show")
def policy_show(
    policy: Annotated[str, typer.Argument(help="Built-in name or YAML file.")] = "basic",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable plan.")] = False,
    tag: Annotated[str | None, typer.Option(help="Show only this keyword or tag, e.g. StudyDate.")] = None,
) -> None:
    """Show a policy's compiled plan: every attribute, its action and the rule that decided it.

    Examples:

      veil policy show research-longitudinal --tag StudyDate

      veil policy show site.yaml --json > plan.json
    """
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan, describe

    try:
        plan = compile_plan(load_policy(policy))
    except PolicyError as exc:
        _fail(str(exc))
    rows = describe(plan)
    if tag:
        rows = [r for r in rows if tag.lower() in (r[1].lower(), r[0].lower().strip("()").replace(",", ""),
                                                    r[0].lower())]
    if as_json:
        out.print_json(ensure_ascii=True, json=json.dumps({
            "name": plan.policy.name, "version": plan.policy.version, "policy_hash": plan.policy_hash,
            "table": plan.edition, "options": list(plan.policy.options),
            "actions": [{"tag": a, "keyword": b, "action": c, "rule": d} for a, b, c, d in rows],
        }))
        return
    t = Table(title=f"{plan.policy.name} v{plan.policy.version}  hash {plan.policy_hash[:16]}  ({plan.edition})")
    for c in ("tag", "keyword", "action", "rule"):
        t.add_column(c)
    for r in rows:
        t.add_row(*r)
    out.print(t)
    out.print(f"options: {', '.join(plan.policy.options) or '(none)'}")


@policy_app.command("validate")
def policy_validate(
    files: Annotated[list[Path], typer.Argument(help="Policy YAML files to check.")],
) -> None:
    """Validate policy files; every problem is reported with file, line and key.

    Example:  veil policy validate site.yaml
    """
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan

    bad = 0
    for f in files:
        try:
            plan = compile_plan(load_policy(f))
            out.print(f"{f}: ok ({plan.policy.name} v{plan.policy.version}, hash {plan.policy_hash[:16]})")
        except (PolicyError, VeilError) as exc:
            bad += 1
            console.print(f"[red]{escape(str(exc))}[/]", highlight=False)
    raise typer.Exit(EXIT_USAGE if bad else EXIT_OK)


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Argument(help="Where to write the de-identified sample.")] = Path("veil-demo"),
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Built-in name or YAML file.")
    ] = "research-longitudinal",
) -> None:
    """Run Veil end to end on the bundled fake-PHI sample (examples/sample, or generated if absent).

    Uses the project secret when there is one, otherwise a throw-away secret for this run only.

    Example:  veil demo out/
    """
    import secrets as _secrets

    from veil.identity.keyed import Keyed
    from veil.pipeline.runner import iter_files, run
    from veil.policy.model import load_policy
    from veil.policy.plan import compile_plan
    from veil.project import command_secret
    from veil.samples import generate_corpus

    sample = output_dir / "input"
    result = output_dir / "deidentified"
    corpus = generate_corpus(sample)
    try:
        keyed = Keyed(command_secret())
    except SecretError:
        console.print("no project secret (run `veil init`); using a throw-away secret for this demo")
        keyed = Keyed(_secrets.token_bytes(32))
    plan = compile_plan(load_policy(policy))
    summary = run(list(iter_files(sample)), result, plan, keyed)
    _print_summary(summary, plan.policy.name, plan.policy_hash, result)
    leaked = _byte_search(result, corpus.planted)
    out.print(f"fake PHI planted: {len(corpus.planted)} values in {len(corpus.files)} files; "
              f"found in output: {len(leaked)}")
    from veil.pipeline.instance import keyed_file_hash
    from veil.verify import pair_by_manifest, verify_folder

    pairs = pair_by_manifest(result, list(corpus.files), lambda p: keyed_file_hash(p, keyed))
    check = verify_folder(result, sample, pairs=pairs)
    out.print(f"veil verify --against input: {check.files} files, {len(check.findings)} findings")
    for note in check.notes:
        out.print(f"  note: {note}")
    out.print(f"input:  {sample}\noutput: {result}")
    raise typer.Exit(EXIT_FATAL if leaked or check.findings else summary.exit_code)


def _byte_search(root: Path, needles: frozenset[str]) -> set[str]:
    found: set[str] = set()
    enc = [(n, n.encode()) for n in needles]
    for p in root.rglob("*.dcm"):
        data = p.read_bytes()
        found.update(n for n, b in enc if b in data)
    return found


def _register_module_commands() -> None:
    """Commands whose code lives with their module (the CLI stays a thin layer over the library)."""
    from veil.pixels.command import review
    from veil.release.command import audit_export, init_project_command, reidentify, release_app
    from veil.risk.command import risk

    app.command("review")(review)

    app.command("risk")(risk)
    app.add_typer(release_app, name="release")  # create/list/show/withdraw/check/reproduce
    app.command("reidentify")(reidentify)
    app.command("init-project")(init_project_command)
    audit_app.command("export")(audit_export)


_register_module_commands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
