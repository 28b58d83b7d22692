"""`veil verify`: an independent residual-PHI scan of a de-identified folder (see :mod:`veil.verify.scan`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.errors import VeilError
from veil.pipeline.pool import batches, each_alone, ordered
from veil.pipeline.sources import STATE_DIR, Sources, collect, walk
from veil.verify.needles import Needles, read_needles
from veil.verify.scan import Finding, Scanner, ScanResult

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Finding", "NothingToSearchError", "Pairs", "ScanResult", "pair_by_manifest", "verify_folder"]


class NothingToSearchError(VeilError):
    """``--against`` gave no identifier to search for: no readable input, or inputs without one.

    Why an error: the output was then "clean" of nothing - an empty or wrong folder, a list of .txt
    files, made ``verify OUT --against IN`` exit 0 with "no findings" (red team F1)."""


class Pairs(Mapping[str, Path]):
    """Output (path relative to the output root) -> input file, in a private temporary SQLite file.

    Why not a dict: an archive's release gate pairs a million outputs, and the pairs (with the input
    hashes they were found by) held ~0.5 GB in the main process; here the main process holds SQLite's
    page cache. Also where verify keeps each paired input's dates (:meth:`put_dates`).
    """

    def __init__(self, items: Iterable[tuple[str, Path]] = ()) -> None:
        self._db = sqlite3.connect("")  # deleted when closed (with this object)
        self._db.execute("CREATE TABLE pairs (output TEXT PRIMARY KEY, input TEXT NOT NULL)")
        self._db.execute("CREATE TABLE inputs (hash TEXT PRIMARY KEY, input TEXT NOT NULL)")
        self._db.execute("CREATE TABLE dates (input TEXT PRIMARY KEY, dates TEXT NOT NULL)")
        self.update(items)

    def update(self, items: Iterable[tuple[str, Path]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO pairs VALUES (?, ?)", ((o, str(i)) for o, i in items))

    def __getitem__(self, output: str) -> Path:
        row = self._db.execute("SELECT input FROM pairs WHERE output = ?", (output,)).fetchone()
        if row is None:
            raise KeyError(output)
        return Path(row[0])

    def __iter__(self) -> Iterator[str]:
        return (o for (o,) in self._db.execute("SELECT output FROM pairs ORDER BY output"))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0])

    def __bool__(self) -> bool:  # without counting every pair
        return self._db.execute("SELECT 1 FROM pairs LIMIT 1").fetchone() is not None

    def put_dates(self, found: Iterable[tuple[Path, frozenset[str]]]) -> None:
        """The dates each input holds (:class:`Needles`), for the per-patient date check of its outputs."""
        self._db.executemany("INSERT OR REPLACE INTO dates VALUES (?, ?)",
                             ((str(p), json.dumps(sorted(d))) for p, d in found))

    def dates_of(self, output: str) -> frozenset[str] | None:
        """The dates of the input `output` was made from (none known: empty), or None when it is not paired."""
        row = self._db.execute("SELECT d.dates FROM pairs p LEFT JOIN dates d ON d.input = p.input "
                               "WHERE p.output = ?", (output,)).fetchone()
        if row is None:
            return None
        return frozenset(json.loads(row[0])) if row[0] is not None else frozenset()

    def close(self) -> None:
        self._db.close()


def pair_by_manifest(out_root: Path, in_files: Iterable[Path], file_hash: Callable[[Path], str],
                     workers: int = 1, on_file: Callable[[], None] | None = None) -> Pairs:
    """Output (relative path) -> input file, through the manifest's keyed input hashes.

    The manifest never names inputs; with the project secret the keyed hash of each input file is
    recomputed (`file_hash`, picklable when `workers` > 1) and matched, so only the secret holder can
    pair them. Every input is read whole, so the inputs are hashed over `workers` processes. Inputs,
    hashes and pairs go to a temporary SQLite file (:class:`Pairs`), and the manifest is read a line at
    a time: the main process's memory does not grow with the archive.
    """
    pairs = Pairs()
    manifest = out_root / STATE_DIR / "manifest.jsonl"
    if not manifest.is_file():
        return pairs
    db = pairs._db
    for files, hashes in ordered(partial(_hash_chunk, file_hash), batches(in_files, _CHUNK), workers,
                                 rescue=_hash_rescue):
        # the first input with a hash is kept (inputs in walk order), as when they were a dict
        db.executemany("INSERT OR IGNORE INTO inputs VALUES (?, ?)",
                       [(h, str(p)) for p, h in zip(files, hashes, strict=True) if h is not None])
        if on_file is not None:
            for _ in files:
                on_file()
    with open(manifest, "rb") as fh:
        rows = _manifest_rows(fh, manifest)
        db.executemany("INSERT OR REPLACE INTO pairs SELECT ?, input FROM inputs WHERE hash = ?",
                       ((r["output"], r.get("input_hash", "")) for r in rows if r.get("output")))
    db.execute("DELETE FROM inputs")
    return pairs


def _manifest_rows(lines: Iterable[bytes], manifest: Path) -> Iterator[dict[str, Any]]:
    """The manifest's lines as objects; a line that is not one is an error that names it (a traceback
    before: red team), not a line skipped - its output would be checked without its input."""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise VeilError(f"{manifest}: line {n} is not JSON (the manifest was edited or damaged): pair outputs "
                            "with their inputs again by re-running the same deid") from None
        if not isinstance(row, dict):
            raise VeilError(f"{manifest}: line {n} is not a manifest entry")
        yield row


#: Files per unit of work: enough that a unit is not a round trip per file, few enough to spread evenly.
_CHUNK = 8

def _hash_chunk(file_hash: Callable[[Path], str], paths: list[Path]) -> list[str | None]:
    out: list[str | None] = []
    for p in paths:
        try:
            out.append(file_hash(p))
        except OSError:
            out.append(None)
    return out


def _needles_chunk(paths: list[Path]) -> list[Needles | None]:
    out: list[Needles | None] = []
    for p in paths:
        try:
            out.append(read_needles(p))
        except Exception:  # not DICOM: nothing to learn from it
            out.append(None)
    return out


#: This process's scanner (set once per worker by _init_scanner: its index is compiled once per run).
_scanner: list[Scanner] = []


def _init_scanner(scanner: Scanner) -> None:
    _scanner[:] = [scanner]


#: One output to scan: path, path relative to the output root, dates of its paired input.
_Job = tuple[Path, str, frozenset[str]]


def _scan_chunk(jobs: list[_Job]) -> tuple[list[tuple[list[Finding], bool]], list[str]]:
    """Findings (and whether it was unreadable) per output, and the scanner's notes so far."""
    scanner = _scanner[0]
    out: list[tuple[list[Finding], bool]] = []
    pending: list[tuple[list[Finding], str, list[np.ndarray]]] = []  # images at risk: OCR'd together below
    for path, rel, dates in jobs:
        try:
            found = scanner.scan_file(path, rel, set(dates), ocr_later=pending)
            out.append((found, any(f.category == "unreadable" for f in found)))
        except Exception as exc:  # fail closed: what cannot be read cannot be shown to be clean
            out.append(([Finding(rel, "file", "unreadable", type(exc).__name__, "")], True))
    if pending:
        read = scanner.read_pixels([(rel, grays) for _, rel, grays in pending])
        for (found, _, _), extra in zip(pending, read, strict=True):
            found += extra  # the list `out` holds for that file
    return out, sorted(scanner.notes)


_DIED = "the process scanning this file died (a crash in a native decoder, or killed: out of memory?)"


def _scan_rescue(jobs: list[_Job], alone: Callable[[list[_Job]], tuple[list[tuple[list[Finding], bool]], list[str]]]
                 ) -> tuple[list[tuple[list[Finding], bool]], list[str]]:
    """A unit in flight when a worker died: each output alone; one that kills its worker is unreadable."""
    parts = each_alone(jobs, alone, lambda job: ([([Finding(job[1], "file", "unreadable", _DIED, "")], True)], []))
    return [x for scanned, _ in parts for x in scanned], sorted({n for _, notes in parts for n in notes})


def _hash_rescue(items: list[Path], alone: Callable[[list[Path]], list[str | None]]) -> list[str | None]:
    """Inputs in flight when a worker died: each alone; one that kills its worker is not paired."""
    none: list[str | None] = [None]
    return [h for part in each_alone(items, alone, lambda _: none) for h in part]


def _needles_rescue(items: list[Path], alone: Callable[[list[Path]], list[Needles | None]]) -> list[Needles | None]:
    """Inputs in flight when a worker died: each alone; one that kills its worker gives no needles."""
    none: list[Needles | None] = [None]
    return [n for part in each_alone(items, alone, lambda _: none) for n in part]


def _nothing_to_search(result: ScanResult, source: Sources | None) -> str:
    """Why --against gave nothing to search for, with counts only (an input path can name a patient)."""
    unread = len(source.errors) if source is not None else 0
    if result.inputs_read:
        what = f"its {result.inputs_read} DICOM file(s) hold no identifying value"
    else:
        what = (f"no input file could be read as DICOM ({result.inputs_unread} file(s) not DICOM, {unread} "
                "folder(s), link(s) or archive(s) not read)")
    return (f"--against: {what}: there is nothing to search the output for, so it cannot be shown clean; "
            "give the folder, list file or archive the output was made from")


def verify_folder(
    out_root: Path,
    against: Path | Sources | None = None,
    *,
    pairs: Mapping[str, Path] | None = None,
    allow_private: tuple[str, ...] = (),
    ocr: bool = True,
    on_file: Callable[[str], None] | None = None,
    workers: int = 1,
    on_input: Callable[[], None] | None = None,
    dates_retained: bool = False,
    require_input: bool = True,
) -> ScanResult:
    """Scan every file under `out_root`; with `against`, search for every identifying value of the input.

    `against` is read as ``veil deid`` reads its input (:func:`veil.pipeline.sources.collect`): a folder,
    a list file, an archive, and archives inside a folder or list, unpacked. Given as :class:`Sources`
    already walked (the release gate, pairing first), its files are walked again with their paths
    (:meth:`Sources.again`). Read as one file, a list file or a folder holding a zip gave no identifier
    at all and the gate passed a name (red team). Inputs that could not be read are counted in the notes,
    which name no path (a folder named after the patient reached a signed RELEASE.json).

    `pairs` (output relative path -> input file) enables the per-patient date check; without it, birth
    dates are still searched everywhere but study dates cannot be told from shifted ones. Each paired
    input's dates are kept in `pairs` when it is a :class:`Pairs` (on disk), else in a temporary one.
    `dates_retained`: the policy keeps real dates (Retain Longitudinal Temporal Information Full Dates
    Option, PS3.15 E.3.6): study dates are not findings (the birth date still is, everywhere).
    Inputs are read and outputs scanned over `workers` processes (each file is independent once the
    input's identifiers are known); findings come back in file order whatever the number of workers.

    `require_input`: with `against`, raise :class:`NothingToSearchError` when it gives no readable input
    or no identifier (the release gate passes False: it fails the release on ``inputs_read`` itself).
    """
    result = ScanResult()
    needles = Needles()
    paired = pairs if isinstance(pairs, Pairs) else Pairs((pairs or {}).items())
    any_paired = bool(paired) and not dates_retained
    source = collect(against) if isinstance(against, Path) else against
    try:
        if source is not None:
            for files, read in ordered(_needles_chunk, batches(source.again(), _CHUNK), workers,
                                       rescue=_needles_rescue):
                dated = [(p, frozenset(n.dates)) for p, n in zip(files, read, strict=True) if n is not None]
                for n in read:
                    if n is not None:
                        needles.update(n)
                        result.inputs_read += 1
                    else:
                        result.inputs_unread += 1
                if any_paired:  # dates matter only for outputs paired with their input
                    paired.put_dates(dated)
                if on_input is not None:
                    for _ in files:
                        on_input()
            if source.errors:
                rules = ", ".join(sorted({rule for _w, _r, rule in source.errors}))
                result.notes.append(f"{len(source.errors)} input folder(s), link(s), archive(s) or special file(s) "
                                    f"not read ({rules}): their identifiers were not searched for")
    finally:
        if isinstance(against, Path) and source is not None:
            source.cleanup()
    result.identifiers = len(needles.values)
    if against is not None and require_input and not (result.inputs_read and result.identifiers):
        raise NothingToSearchError(_nothing_to_search(result, source))
    if result.inputs_unread:
        result.notes.append(f"{result.inputs_unread} input file(s) not readable as DICOM: their identifiers were "
                            "not searched for")
    scanner = Scanner(needles if against is not None else None, allow_private=allow_private, ocr=ocr,
                      dates_retained=dates_retained)
    if against is not None and not any_paired and not dates_retained:
        result.notes.append("input and output not paired (no manifest or no secret): study dates not checked")
    unlisted: list[tuple[str, str, str]] = []  # what the walk could not take: a folder, a link to one

    def jobs() -> Iterator[_Job]:
        """The outputs as the walk finds them (the walk deid reads with): never all paths in memory."""
        for path in walk(out_root, unlisted):
            rel = str(path.relative_to(out_root))
            dates = paired.dates_of(rel) if any_paired else None
            if dates is not None:
                result.paired += 1
            yield path, rel, dates or frozenset()

    notes: set[str] = set()
    for unit, (scanned, unit_notes) in ordered(_scan_chunk, batches(jobs(), _CHUNK), workers, _init_scanner,
                                                        (scanner,), _scan_rescue):
        notes.update(unit_notes)
        for (_, rel, _), (found, unreadable) in zip(unit, scanned, strict=True):
            result.files += 1
            result.unreadable += unreadable
            result.findings += found
            if on_file is not None:
                on_file(rel)
    for where, reason, _rule in unlisted:  # fail closed: what was not scanned is not shown to be clean
        result.files += 1
        result.unreadable += 1
        result.findings.append(Finding(str(Path(where).relative_to(out_root)), "file", "unreadable", reason, ""))
    result.notes += sorted(notes)
    if not ocr:
        result.notes.append("--no-ocr: burned-in text in pixels was not looked for")
    return result
