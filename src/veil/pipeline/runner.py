"""The batch runner: sources in, per-instance work over a process pool, results and reports out.

The plan and the keyed functions are pure values, so worker processes share nothing and the order in
which files finish does not matter: the same input, policy and secret give byte-identical output with
one worker or many. Inputs are only ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TextIO

from veil import __version__
from veil.errors import VeilError
from veil.identity.keyed import Keyed
from veil.pipeline.instance import FileResult, process_file
from veil.pipeline.sources import STATE_DIR, walk
from veil.policy.plan import Plan


@dataclass
class RunSummary:
    files_in: int = 0
    written: int = 0
    quarantined: int = 0
    dry_run: int = 0
    duplicates: int = 0
    resumed: int = 0
    patients: int = 0
    results: list[FileResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all good, 1 some files quarantined (scripts can tell partial success from failure)."""
        return 1 if self.quarantined else 0


def check_paths(in_dir: Path, out_dir: Path) -> None:
    """Refuse an output inside the input (or the reverse): Veil never writes where it reads."""
    src = in_dir.resolve()
    dst = out_dir.resolve()
    if not src.exists():
        raise VeilError(f"input {in_dir} does not exist")
    if dst == src or dst.is_relative_to(src) or (src.is_dir() and src.is_relative_to(dst)):
        raise VeilError(f"output {out_dir} must not be inside the input {in_dir} (nor the input inside it)")


def iter_files(in_dir: Path) -> Iterator[Path]:
    """Every regular file under `in_dir` (or `in_dir` itself when it is a file), in a stable order."""
    if in_dir.is_file():
        yield in_dir
        return
    yield from walk(in_dir)


def _quiet_pydicom() -> None:
    """Skip pydicom's per-value VR validation (warnings on read, checks on assignment).

    Veil never relies on it: truncation and parse damage are detected separately (instance.py), and
    values Veil writes are its own. It costs about a tenth of the run on header-heavy files.
    """
    from pydicom import config

    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE


_WorkerContext = tuple[Plan, Keyed, str, bool, str]
_worker_context: list[_WorkerContext] = []  # set once per pool process by _init_worker


def _init_worker(plan: Plan, keyed: Keyed, out_root: str, dry: bool, run_id: str) -> None:
    _worker_context[:] = [(plan, keyed, out_root, dry, run_id)]


def _work_unit(paths: list[str]) -> list[FileResult]:
    return _work((paths, *_worker_context[0]))


def _work(args: tuple[list[str], Plan, Keyed, str, bool, str]) -> list[FileResult]:
    """One unit of work: a single instance, or every instance of one series (series-level operations).

    Each result is journaled by the worker itself right after its output is renamed into place, so a
    kill -9 loses at most the files that were in flight.
    """
    paths, plan, keyed, out_root, dry, run_id = args
    _quiet_pydicom()
    out: list[FileResult] = []
    for p in paths:
        stamp = _stamp(p)
        r = process_file(Path(p), plan, keyed, Path(out_root), dry_run=dry)
        if not dry:
            _journal_append(Path(out_root), r, run_id, stamp, keyed)
        out.append(r)
    return out


#: Open journal of this process, per output folder (one file per process: lines never interleave).
_journals: dict[str, TextIO] = {}


#: Rule lists this process has written to its open journal: later lines refer to them by number.
_journal_fired: dict[str, dict[tuple[tuple[str, str, str, int], ...], int]] = {}


def _journal_append(out_dir: Path, r: FileResult, run_id: str, stamp: str, keyed: Keyed) -> None:
    """One line per result. A rule list already written to this journal file is referred to by its
    number ("fired_ref"); its first occurrence carries it in full with that number ("fired_id"), so a
    reader (load_journal) always meets the definition first, even in a file cut short by a kill."""
    rec: dict[str, object] = {f.name: getattr(r, f.name) for f in fields(r) if f.name not in ("source", "fired")}
    rec |= {"run_id": run_id, "stamp": stamp, "key": _journal_key(keyed, r.source)}
    path = out_dir / STATE_DIR / "journal" / f"{os.getpid()}.jsonl"
    fh = _journals.get(str(path))
    if fh is None or fh.closed or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = _journals[str(path)] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open per process
        _journal_fired[str(path)] = {}
    known = _journal_fired[str(path)]
    ref = known.get(r.fired)
    if ref is None:
        ref = known[r.fired] = len(known)
        rec |= {"fired": r.fired, "fired_id": ref}
    else:
        rec["fired_ref"] = ref
    fh.write(json.dumps(rec) + "\n")
    fh.flush()  # one write(2) per result: a kill -9 loses at most the line being written


def series_key(path: str) -> str:
    """SeriesInstanceUID read from the header alone (no pixels); unreadable files form their own unit."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        return str(ds.get("SeriesInstanceUID", "")) or f"file:{path}"
    except Exception:
        return f"file:{path}"


def units(paths: list[str], by_series: bool) -> list[list[str]]:
    """Work units: one per file, or (for operations that need a whole series, e.g. defacing) one per
    SeriesInstanceUID, in order of first appearance so the run stays deterministic."""
    if not by_series:
        return [[p] for p in paths]
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(series_key(p), []).append(p)
    return list(groups.values())


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def _run_id(plan: Plan, keyed: Keyed) -> str:
    """What makes outputs differ: the policy and the secret (a keyed fingerprint, not the secret)."""
    return f"{plan.policy_hash[:32]}:{keyed.hexdigest('fingerprint', '')[:16]}:{__version__}"


def _journal_key(keyed: Keyed, source: str) -> str:
    """Input paths can hold names and IDs: the journal keys files by a keyed hash of the path."""
    return keyed.hexdigest("journal-path", source)[:32]


def load_journal(out_dir: Path, run_id: str) -> dict[str, tuple[str, FileResult]]:
    """Results of earlier (possibly killed) runs with the same policy and secret, by source path.

    A line cut short by a kill is ignored; a result is only reused if its output still has its sha256
    on disk (checked by the caller), so a resumed run ends exactly where an uninterrupted one would.
    """
    done: dict[str, tuple[str, FileResult]] = {}
    folder = out_dir / STATE_DIR / "journal"
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        defined: dict[int, tuple[tuple[str, str, str, int], ...]] = {}
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                    if "fired_id" in rec:  # a definition counts whichever run wrote it
                        defined[rec.pop("fired_id")] = rec["fired"] = tuple(tuple(x) for x in rec["fired"])
                    elif "fired_ref" in rec:
                        rec["fired"] = defined[rec.pop("fired_ref")]
                    if rec.pop("run_id") != run_id:
                        continue
                    stamp = rec.pop("stamp")
                    key = rec.pop("key")
                    done[key] = (stamp, FileResult(source="", **rec))
                except (ValueError, KeyError, TypeError):
                    continue
    return done


def _reusable(prev: tuple[str, FileResult] | None, stamp: str, out_dir: Path) -> FileResult | None:
    if prev is None or prev[0] != stamp or prev[1].status != "ok" or not prev[1].output:
        return None
    out = out_dir / prev[1].output
    if not out.is_file() or hashlib.sha256(out.read_bytes()).hexdigest() != prev[1].output_sha256:
        return None
    return prev[1]


def clean_partials(out_dir: Path) -> int:
    """Remove temporary files a killed run left behind (only Veil's own '.veil-*.part' names)."""
    n = 0
    if out_dir.is_dir():
        for p in out_dir.rglob(".veil-*.part"):
            p.unlink(missing_ok=True)
            n += 1
    return n


def run(
    files: Iterable[Path],
    out_dir: Path,
    plan: Plan,
    keyed: Keyed,
    *,
    workers: int = 1,
    dry_run: bool = False,
    on_result: Callable[[FileResult], None] | None = None,
    failed_sources: Iterable[tuple[str, str]] = (),
    by_series: bool = False,
) -> RunSummary:
    """De-identify `files` into `out_dir`; write quarantine report and manifest under OUT/.veil/.

    Resumable: every finished file is journaled as it completes, and a re-run with the same policy and
    secret skips files whose output is already on disk with the journaled sha256.
    """
    summary = RunSummary()
    paths = [str(p) for p in files]
    summary.files_in = len(paths)
    run_id = _run_id(plan, keyed)
    stamps = {p: _stamp(p) for p in paths}
    reused: dict[str, FileResult] = {}
    if not dry_run:
        clean_partials(out_dir)
        previous = load_journal(out_dir, run_id)
        for p in paths:
            r = _reusable(previous.get(_journal_key(keyed, p)), stamps[p], out_dir)
            if r is not None:
                reused[p] = replace(r, source=p)
        (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    todo = [p for p in paths if p not in reused]
    work_units = list(units(todo, by_series))
    context = (plan, keyed, str(out_dir), dry_run, run_id)
    if workers <= 1 or len(work_units) <= 1:
        results: Iterable[list[FileResult]] = (_work((u, *context)) for u in work_units)
        pool = None
    else:  # the plan and keys travel once per worker (initializer), not once per file
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=context)
        results = pool.map(_work_unit, work_units,
                           chunksize=max(1, min(32, len(work_units) // (workers * 8) or 1)))
    fresh: dict[str, FileResult] = {}
    fired_pool: dict[tuple[tuple[str, str, str, int], ...], tuple[tuple[str, str, str, int], ...]] = {}
    try:
        for r in (r for batch in results for r in batch):
            # files of one series/vendor fire the same rules: keep one copy, so memory follows the
            # number of distinct header layouts, not the number of files
            fresh[r.source] = replace(r, fired=fired_pool.setdefault(r.fired, r.fired))
            if on_result is not None:
                on_result(r)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        while _journals:  # this process's own (workers=1); pool workers' close when they exit
            _journals.popitem()[1].close()
        _journal_fired.clear()
    for p in paths:  # input order, whatever order workers finished in
        r = reused.get(p) or fresh[p]
        summary.results.append(r)
        if r.status == "ok":
            summary.written += 1
        elif r.status == "dry-run":
            summary.dry_run += 1
        else:
            summary.quarantined += 1
    for source, reason in failed_sources:  # e.g. an archive that could not be unpacked
        summary.results.append(FileResult(source, "quarantined", reason=reason, rule="archive"))
        summary.files_in += 1
        summary.quarantined += 1
    summary.resumed = len(reused)
    if not dry_run:
        _settle_duplicates(summary, out_dir)
    _check_pseudonym_collisions(summary)
    summary.patients = len({r.pseudonym for r in summary.results if r.pseudonym})
    if not dry_run:
        write_reports(out_dir, summary, plan)
    return summary


def _settle_duplicates(summary: RunSummary, out_dir: Path) -> None:
    """Inputs that became the same output: only the one whose bytes are on disk counts as written."""
    by_out: dict[str, list[int]] = {}
    for i, r in enumerate(summary.results):
        if r.status == "ok" and r.output:
            by_out.setdefault(r.output, []).append(i)
    for rel, idxs in by_out.items():
        if len(idxs) < 2:
            continue
        on_disk = hashlib.sha256((out_dir / rel).read_bytes()).hexdigest()
        winner_seen = False
        for i in idxs:
            r = summary.results[i]
            if r.output_sha256 == on_disk and not winner_seen:
                winner_seen = True
                continue
            summary.written -= 1
            if r.output_sha256 == on_disk:  # same instance sent twice: nothing is lost, nothing to review
                summary.results[i] = replace(r, status="duplicate", reason="identical to another input's output",
                                             rule="duplicate-instance")
                summary.duplicates += 1
                continue
            reason = "duplicate SOPInstanceUID: another input with different content is kept for this instance"
            summary.results[i] = replace(r, status="quarantined", reason=reason, rule="duplicate-instance",
                                         output=None)
            summary.quarantined += 1


def _check_pseudonym_collisions(summary: RunSummary) -> None:
    """Two different patients must never share a pseudonym (checked over the run, no shared state).

    Each result carries a keyed hash of its patient key; one pseudonym with two hashes is a collision.
    With the default 10 symbols (50 bits) the chance is ~1e-15 per pair, but it is checked, not assumed.
    """
    seen: dict[str, str] = {}
    for r in summary.results:
        if not r.pseudonym:
            continue
        prev = seen.setdefault(r.pseudonym, r.patient_hash)
        if prev != r.patient_hash:
            raise VeilError(
                f"pseudonym collision: two patients map to {r.pseudonym}; raise pseudonyms.length in the policy"
            )


def write_reports(out_dir: Path, summary: RunSummary, plan: Plan) -> None:
    state = out_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    _write_jsonl(state / "quarantine.jsonl", (
        {"source": r.source, "reason": r.reason, "rule": r.rule, "input_hash": r.input_hash}
        for r in summary.results if r.status == "quarantined"
    ))
    _write_lines(state / "manifest.jsonl", _manifest_lines(summary, plan))


def _manifest_lines(summary: RunSummary, plan: Plan) -> Iterator[str]:
    """One JSON object per output, keys sorted, as ``json.dumps(row, sort_keys=True)`` writes it; the
    rule list (the bulk of a line, shared by every file of one layout) is encoded once per list."""
    rules_json: dict[int, str] = {}
    policy_hash, version = json.dumps(plan.policy_hash), json.dumps(__version__)
    for r in sorted(summary.results, key=lambda x: x.output or ""):
        if r.status != "ok":
            continue
        rules = rules_json.get(id(r.fired))
        if rules is None:
            rules = rules_json[id(r.fired)] = json.dumps(
                [{"tag": t, "action": a, "rule": rule, "count": n} for t, a, rule, n in r.fired if a != "K"],
                sort_keys=True)
        yield (f'{{"input_hash": {json.dumps(r.input_hash)}, "output": {json.dumps(r.output)}, '
               f'"output_sha256": {json.dumps(r.output_sha256)}, "policy_hash": {policy_hash}, '
               f'"rules": {rules}, "veil_version": {version}}}')


def _write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> None:
    _write_lines(path, (json.dumps(row, sort_keys=True) for row in rows))


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def summary_dict(summary: RunSummary) -> dict[str, object]:
    return {
        "files_in": summary.files_in, "written": summary.written, "quarantined": summary.quarantined,
        "dry_run": summary.dry_run, "duplicates": summary.duplicates, "patients": summary.patients,
        "resumed": summary.resumed, "exit_code": summary.exit_code,
        "quarantine": [asdict(r) | {"fired": None} for r in summary.results if r.status == "quarantined"],
    }
