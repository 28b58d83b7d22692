"""The batch runner: sources in, per-instance work over a process pool, results and reports out.

The plan and the keyed functions are pure values, so worker processes share nothing and the order in
which files finish does not matter: the same input, policy and secret give byte-identical output with
one worker or many. Inputs are only ever read.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import json
import os
import pickle
import re
import sqlite3
import stat
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import NamedTuple

from veil import __version__
from veil.errors import Interrupted, OutputError, SecretError, VeilError
from veil.identity.keyed import Keyed
from veil.pipeline import partfiles
from veil.pipeline.fingerprint import sha256_file
from veil.pipeline.instance import FileResult, committed_inode, keyed_file_hash, output_failure, process_file
from veil.pipeline.pool import DRAIN as DRAIN_UNIT
from veil.pipeline.pool import batches, each_alone, ordered, process_pool, resilient
from veil.pipeline.results import ResultStore
from veil.pipeline.sources import STAGING_PREFIX, STATE_DIR, is_list_file, list_entries, walk
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
    seconds: float = 0.0  # wall time of the run (reading, de-identifying, writing, reports)
    #: outputs of earlier runs into OUT that no input of this run made (its input removed, or quarantined
    #: now): removed, so that OUT holds what the manifest lists (see :func:`remove_stale_outputs`)
    stale_removed: int = 0
    #: such outputs whose bytes are not what Veil wrote there (edited since), or that could not be removed:
    #: kept, listed (paths relative to OUT), exit code 1
    stale_kept: list[str] = field(default_factory=list)
    #: output studies written under more than one pseudo-patient (the same study's files carry different
    #: patient identifiers: an issuer present in some files only, a corrected ID), and one of them
    studies_split: int = 0
    split_example: str = ""
    #: pseudo-patients whose files carry two different Issuers of Patient ID (under patient_key: id, the
    #: same Patient ID of two ID spaces: perhaps two people), and one of them
    issuers_merged: int = 0
    merged_example: str = ""
    #: every file's result in input order, on disk (see pipeline.results): memory does not follow the run
    results: ResultStore = field(default_factory=ResultStore)
    #: a result's source as reports name it: an archive member as "archive!member", not by the staging
    #: folder it was read from (gone when the run ends) - see Sources.describe
    describe: Callable[[str], str] = field(default=str, repr=False)

    @property
    def files_per_second(self) -> float | None:
        """Inputs per second of the run's wall time (None before the run has a time)."""
        return self.files_in / self.seconds if self.seconds > 0 else None

    @property
    def exit_code(self) -> int:
        """0 all good, 1 some files quarantined, or an earlier output no report accounts for was kept
        (scripts can tell partial success from failure)."""
        return 1 if self.quarantined or self.stale_kept else 0


def check_paths(in_dir: Path, out_dir: Path) -> None:
    """Refuse an output inside the input (or the reverse): Veil never writes where it reads. For a list
    file, every folder and file it names is an input. Also refused: an output that exists and is not a
    folder (or under a file), and a list file that cannot be read."""
    src = in_dir.resolve()
    dst = out_dir.resolve()
    if not src.exists():
        raise VeilError(f"input {in_dir} does not exist")
    for folder in (dst, *dst.parents):
        if folder.exists():
            if not folder.is_dir():
                raise VeilError(f"output {out_dir} exists and is not a folder" if folder == dst else
                                f"output {out_dir} cannot be made: {folder} exists and is not a folder")
            break
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise VeilError(f"output {out_dir} must not be inside the input {in_dir} (nor the input inside it)")
    if src.is_dir():
        _check_staging_outside(src, in_dir)
    tmp = Path(tempfile.gettempdir()).resolve()
    if tmp == dst or tmp.is_relative_to(dst):  # archives unpacked and pixels spilled there: originals in OUT
        raise VeilError(f"the temporary folder {tmp} (where archives are unpacked and large images spilled) must "
                        f"not be inside the output {out_dir}: set TMPDIR to a folder outside it")
    if is_list_file(in_dir):
        try:
            _check_listed(in_dir, out_dir, dst)
        except OSError as exc:
            raise VeilError(f"cannot read the list file {in_dir}: {exc.strerror or exc}") from None


def _check_staging_outside(folder: Path, named: Path) -> None:
    """Archives are unpacked into $TMPDIR: inside an input folder, the walk met the run's own staging (its
    members read twice, its marker files quarantined as inputs) and Veil wrote where it reads."""
    tmp = Path(tempfile.gettempdir()).resolve()
    if tmp == folder or tmp.is_relative_to(folder):
        raise VeilError(f"the temporary folder {tmp} (where archives are unpacked) must not be inside the input "
                        f"{named}: set TMPDIR to a folder outside it")


def _check_listed(in_dir: Path, out_dir: Path, dst: Path) -> None:
    """No folder a list file names may hold the output (the walk would read Veil's own outputs, and
    write where it reads), and no folder or file it names may be inside the output. One stat per line
    (the folder of each line is resolved once)."""
    parents: dict[str, Path] = {}
    for entry in list_entries(in_dir):
        parent = str(entry.parent)
        where = parents.get(parent)
        if where is None:
            if len(parents) > 4096:
                parents.clear()
            where = parents[parent] = entry.parent.resolve()
        path = where / entry.name
        if os.path.islink(path) or os.path.isdir(path):
            path = path.resolve()
            if path.is_dir():
                _check_staging_outside(path, entry)
        if path == dst or path.is_relative_to(dst) or (dst.is_relative_to(path) and os.path.isdir(path)):
            raise VeilError(f"output {out_dir} must not be inside an input that {in_dir} lists ({entry}), nor "
                            "that input inside it")


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


_WorkerContext = tuple[Plan, Keyed, str, bool, str, int]
_worker_context: list[_WorkerContext] = []  # set once per pool process by _init_worker


def _init_worker(plan: Plan, keyed: Keyed, out_root: str, dry: bool, run_id: str, since: int) -> None:
    _worker_context[:] = [(plan, keyed, out_root, dry, run_id, since)]


#: What an earlier run with this policy and secret journaled for an input (its stamp, its result, its output's
#: seal), if anything.
_Earlier = tuple[str, FileResult, str] | None
#: What a worker is given per input: its path and what was journaled for it.
_Item = tuple[str, _Earlier]


#: How a worker got a result: processed now, reused from an earlier run, or reused and journaled again under
#: the input's new stamp (the line a stopped run's count finds: :func:`_count_journaled`).
PROCESSED, REUSED, RESTAMPED = 0, 1, 2


def _work_unit(items: list[_Item]) -> list[tuple[FileResult, int]]:
    return _work((items, *_worker_context[0]))


def _work(args: tuple[list[_Item], Plan, Keyed, str, bool, str, int]) -> list[tuple[FileResult, int]]:
    """One unit of work: a single instance, or every instance of one series (series-level operations).

    Returns (result, PROCESSED/REUSED/RESTAMPED) per input. An input an earlier (killed) run finished is reused when its
    output is still on disk with the journaled sha256; that check reads the whole output, so it runs
    here, in the workers, and a resumed archive run re-hashes on every core instead of in the main
    process while the workers wait. Each new result is journaled by the worker itself right after its
    output is renamed into place, so a kill -9 loses at most the files that were in flight.
    """
    items, plan, keyed, out_root, dry, run_id, since = args
    _quiet_pydicom()
    out: list[tuple[FileResult, int]] = []
    root = Path(out_root)
    for p, prev in items:
        stamp = _stamp(p)
        reuse = _reusable(prev, p, stamp, root, keyed)
        if reuse is not None:
            earlier = replace(reuse[0], source=p)
            if prev is not None and prev[0] != stamp and not dry:  # same bytes, new stamp: the next run
                _journal_append(root, earlier, run_id, stamp, keyed, since, reused=True,  # needs no re-read
                                seal=reuse[1])
                out.append((earlier, RESTAMPED))
                continue
            out.append((earlier, REUSED))
            continue
        try:
            r = process_file(Path(p), plan, keyed, root, dry_run=dry, since=since)
            if not dry:
                try:
                    _journal_append(root, r, run_id, stamp, keyed, since)
                except OutputError:  # the disk filled between the output and its line: no output unjournaled
                    if r.status == "ok" and r.output:
                        with contextlib.suppress(OSError):
                            os.unlink(root / r.output)
                    raise
        finally:
            partfiles.release()  # the output and its journal line are both there: a stop may come now
        out.append((r, PROCESSED))
    return out


#: Open journal of this process, per output folder (one file per process: lines never interleave).
_journals: dict[str, int] = {}


#: Rule lists this process has written to its open journal: later lines refer to them by number.
_journal_fired: dict[str, dict[tuple[tuple[str, str, str, int], ...], int]] = {}


#: What a journal line holds of a result (the source path is replaced by a keyed hash of it).
_JOURNAL_FIELDS = tuple(f.name for f in fields(FileResult) if f.name not in ("source", "fired"))


@contextlib.contextmanager
def _writing_state(out_dir: Path | str) -> Iterator[None]:
    """The runner's own writes under OUT (state folder, journal, reports): a full, read-only or
    unwritable output stops the run with an OutputError that says so, not a traceback."""
    try:
        yield
    except OSError as exc:
        err = output_failure(exc, out_dir, creating=True)
        if err is None:
            raise
        raise err from exc


def _journal_append(out_dir: Path, r: FileResult, run_id: str, stamp: str, keyed: Keyed, since: int,
                    reused: bool = False, seal: str = "") -> None:
    with _writing_state(out_dir):
        _journal_write(out_dir, r, run_id, stamp, keyed, since, reused, seal)


def _journal_write(out_dir: Path, r: FileResult, run_id: str, stamp: str, keyed: Keyed, since: int,
                   reused: bool = False, seal: str = "") -> None:
    """One line per result. A rule list already written to this journal file is referred to by its
    number ("fired_ref"); its first occurrence carries it in full with that number ("fired_id"), so a
    reader (journal_records) always meets the definition first, even in a file cut short by a kill.
    "t" is the run's start (OUT's clock): of two lines for one input, the later run's counts
    (ResultStore.remember). "reused": an earlier output kept under the input's new stamp (not written now).
    "seal": the output as this worker wrote it (:func:`output_seal` of the inode it committed; `seal` for a
    reused output: the one its reuse was checked against), none when the file there is another now."""
    rec: dict[str, object] = {name: getattr(r, name) for name in _JOURNAL_FIELDS}
    rec |= {"run_id": run_id, "stamp": stamp, "key": _journal_key(keyed, r.source), "t": since}
    if reused:
        rec["reused"] = True
    if r.status == "ok" and r.output:
        out_path = os.path.join(out_dir, r.output)
        ino = committed_inode(out_path)
        seal = seal or (output_seal(out_path, ino) if ino is not None else "")
        if seal:
            rec["seal"] = seal
    path = os.path.join(out_dir, STATE_DIR, "journal", f"{os.getpid()}.jsonl")
    fd = _journals.get(path)
    if fd is None or not os.path.exists(path):
        if fd is not None:
            os.close(fd)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = _journals[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        _journal_fired[path] = {}
    known = _journal_fired[path]
    ref = known.get(r.fired)
    defines = ref is None
    if ref is None:
        ref = len(known)
        rec |= {"fired": r.fired, "fired_id": ref}
    else:
        rec["fired_ref"] = ref
    data = memoryview((json.dumps(rec) + "\n").encode("utf-8"))
    size = os.fstat(fd).st_size
    try:  # one write(2) per result, unbuffered: a kill -9 loses at most the line being written
        while data:
            data = data[os.write(fd, data):]
    except BaseException:
        # a full disk took part of the line: cut it off (a buffered file wrote the rest when it was closed,
        # after the output it names had been removed - red team A)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise
    if defines:  # referred to by number only once its definition is in the file
        known[r.fired] = ref


#: Why a file was lost with its worker, by rule: it killed the worker, or it was stopped at its time limit.
_CRASHED = ("the worker process died while processing this file, alone (a crash in a native decoder, or killed: "
            "out of memory?)")
_TIMED_OUT = ("still being processed after {seconds:g} s, alone: stopped (a file that hangs a decoder or the parser; "
              "raise --file-timeout if such files are expected to take this long)")


def _lost(path: Path, keyed: Keyed, rule: str, reason: str) -> FileResult:
    """The quarantine line of a file that was processed alone and lost its worker (rule crash/timeout)."""
    try:
        h = keyed_file_hash(path, keyed)
    except OSError:
        h = ""
    return FileResult(str(path), "quarantined", input_hash=h, rule=rule, reason=reason)


def series_key(path: str) -> str:
    """SeriesInstanceUID read from the header alone (no pixels); unreadable files form their own unit."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        return str(ds.get("SeriesInstanceUID", "")) or f"file:{path}"
    except Exception:
        return f"file:{path}"


#: Files per work unit before the run's pace is known, and the fewest a folder's unit holds before it ends
#: at the next folder (:func:`folder_units`): enough that a unit is not a message per file.
UNIT_FILES = 16
#: At most this many inputs of one folder per unit (see :func:`folder_units`).
UNIT_MAX_FILES = 64
#: The smallest of the shrinking units at the end of a run: a unit costs its messages and a result batch.
UNIT_LEAST_FILES = 4


def units(paths: list[str], by_series: bool, workers: int = 1) -> list[list[str]]:
    """Work units: runs of a folder's files (:func:`folder_units`), or (for operations that need a whole
    series, e.g. defacing) one per SeriesInstanceUID, in order of first appearance so the run stays deterministic."""
    todo = ((i, p, None) for i, p in enumerate(paths))
    return [[p for _, p, _ in u] for u in _units(todo, by_series, workers)]


_Todo = tuple[int, str, _Earlier]  # input number, path, what a killed run journaled


def _units(todo: Iterable[_Todo], by_series: bool, workers: int = 1,
           cap: Callable[[], int] | None = None) -> Iterator[list[_Todo]]:
    """Units of inputs, made while `todo` is read: runs of a folder's files (:func:`folder_units`, a few
    units' inputs read ahead), or one unit per series (:func:`series_units`). A DRAIN_UNIT in `todo` (the source
    asks that every unit in flight finish before the next is read: an archive waits for the room of the
    archives before it) ends the run being made and is passed on."""
    if by_series:
        yield from series_units((t for t in todo if t is not DRAIN_UNIT), workers)
        return
    yield from folder_units(todo, workers, cap)


def unit_time_limit(file_timeout: float, items: list[_Item] | list[_Todo]) -> float:
    """Seconds a unit may take before its worker is stopped and its files are run one by one, each with
    `file_timeout`: the time of all its files. Why not less: a limit of 16 files' time for units of up to
    UNIT_MAX_FILES stopped a folder of legitimately slow files (0.5 s each, --file-timeout 1) and re-ran
    every unit in flight one file at a time: three times slower (review). The price: a hung file holds its
    worker up to len(unit) x --file-timeout before it is stopped (the other workers go on)."""
    return file_timeout * len(items)


class Pace:
    """How many files a unit may hold so that it takes about UNIT_SECONDS, from the run's pace so far.

    Why: a unit of 64 files of a folder is right for files of a millisecond (a study's memoised work stays
    in one worker) and wrong for files of half a second: a folder of 64 slow files held one worker for 32 s
    while the other finished everything else (review). Until the first results are in, UNIT_FILES.
    The pace is measured from the first result on (start-up left out), in worker-seconds per file."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.first: float | None = None
        self.files = 0

    def add(self, files: int) -> None:
        if self.first is None:
            self.first = time.monotonic()
            return
        self.files += files

    def cap(self) -> int:
        if self.first is None or self.files < UNIT_FILES:
            return UNIT_FILES
        per_file = self.workers * (time.monotonic() - self.first) / self.files
        if per_file <= 0:
            return UNIT_MAX_FILES
        return max(UNIT_LEAST_FILES, min(UNIT_MAX_FILES, int(UNIT_SECONDS / per_file)))


#: The time a unit should take (:class:`Pace`): long enough that its messages cost nothing, short enough
#: that the last units of a run end together.
UNIT_SECONDS = 0.1


def folder_units(todo: Iterable[_Todo], workers: int = 1,
                 cap: Callable[[], int] | None = None) -> Iterator[list[_Todo]]:
    """Runs of inputs that end where the folder changes once they hold UNIT_FILES (or at UNIT_MAX_FILES);
    the last inputs of the run, or before a DRAIN_UNIT, in shrinking runs that keep every worker busy.

    Why folders: a folder's files are mostly one series of one patient, and a worker's memoised work is per
    patient and study (the known-identifier matchers, ~5 ms to compile; pseudonyms, date offsets, UID
    prefixes). Runs of 16 cut across folders, and every study's first files went to each worker in turn:
    all workers paid for every study. Runs of a folder's files (50 per study in the header-heavy corpus)
    took the all-workers run from 3.07 s to 2.7 s. A folder of fewer than UNIT_FILES files shares its unit
    with the next.
    Why shrinking at the end: a run of one folder of 64 files was one unit, on one worker, whatever
    --workers said (red team: a series of 64 large-header files took twice as long). Inputs are read up to
    4 x workers x UNIT_FILES ahead (paths and journal records; an archive's members are staged as they are
    read, so no further: 512 ahead staged 40 small archives at once where 13 were before, review); once the
    rest of the run (or of the inputs before a drain) is all read, each unit takes at most 1/(2 x workers)
    of what is left, and no fewer than UNIT_LEAST_FILES (guided self-scheduling): a 64-file folder on two
    workers is units of 16, 12, 9, 7, 5, 4 ..., and the last units of a long run are small.
    `cap()` (:meth:`Pace.cap`), when given, is the most a unit may hold now.
    A DRAIN_UNIT is passed on alone, after every input before it; nothing after it is read before."""
    src = iter(todo)
    ahead: deque[_Todo] = deque()
    fair = 2 * max(1, workers)
    lookahead = fair * UNIT_FILES * 2
    drain = done = False
    while True:
        while not (drain or done) and len(ahead) < lookahead:
            item = next(src, None)
            if item is None:
                done = True
            elif item is DRAIN_UNIT:
                drain = True
            else:
                ahead.append(item)
        if not ahead:
            if done:
                return
            yield DRAIN_UNIT  # type: ignore[misc]
            drain = False
            continue
        most = UNIT_MAX_FILES if cap is None else cap()
        if workers > 1 and (drain or done):  # the rest is all here
            most = max(UNIT_LEAST_FILES, min(most, -(-len(ahead) // fair)))
        least = min(UNIT_FILES, most)
        run = [ahead.popleft()]
        folder = os.path.dirname(run[0][1])
        while ahead and len(run) < most and (len(run) < least or os.path.dirname(ahead[0][1]) == folder):
            run.append(ahead.popleft())
            folder = os.path.dirname(run[-1][1])
        yield run


#: Inputs per unit of work when series keys are read (one header each).
SERIES_KEY_CHUNK = 64


def series_units(todo: Iterable[_Todo], workers: int = 1,
                 key: Callable[[str], str] = series_key) -> Iterator[list[_Todo]]:
    """One unit per series (``key(path)``, SeriesInstanceUID), in order of each series' first input, its
    inputs in input order: the same units whatever the number of workers.

    No series is known complete before every input's header has been read. Why not a dict of series in
    memory: an archive of millions of files held every path and journal record in the main process, and
    its headers were read there one by one before any work started. The keys are read over `workers`
    processes (`key` is picklable then), and the grouping is a table in a private temporary SQLite file
    (as the run's results are, :class:`ResultStore`), sorted on disk: the main process holds one series
    at a time. An input whose header kills its worker forms a unit of its own (its processing then
    quarantines it).
    """
    db = sqlite3.connect("")  # deleted when closed
    try:
        db.execute("CREATE TABLE items (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, path TEXT NOT NULL, prev BLOB)")
        keyed_units = ordered(functools.partial(_series_keys, key), batches(todo, SERIES_KEY_CHUNK), workers,
                              rescue=_series_keys_rescue)
        for items, keys in keyed_units:
            db.executemany("INSERT INTO items VALUES (?, ?, ?, ?)",
                           [(seq, k, path, None if prev is None else pickle.dumps(prev))
                            for (seq, path, prev), k in zip(items, keys, strict=True)])
        db.execute("CREATE INDEX items_key ON items (key, seq)")
        rows = db.execute("SELECT i.seq, i.path, i.prev, i.key FROM items i JOIN "
                          "(SELECT key, MIN(seq) AS first FROM items GROUP BY key) g ON g.key = i.key "
                          "ORDER BY g.first, i.seq")
        unit: list[_Todo] = []
        current: str | None = None
        for seq, path, prev, k in rows:
            if k != current and unit:
                yield unit
                unit = []
            current = k
            unit.append((seq, path, None if prev is None else pickle.loads(prev)))
        if unit:
            yield unit
    finally:
        db.close()


def _series_keys(key: Callable[[str], str], items: list[_Todo]) -> list[str]:
    return [key(path) for _, path, _ in items]


def _series_keys_rescue(items: list[_Todo], alone: Callable[[list[_Todo]], list[str]]) -> list[str]:
    """Inputs in flight when a worker died reading keys: each alone; one that kills a worker is its own unit."""
    return [k for part in each_alone(items, alone, lambda item: [f"file:{item[1]}"]) for k in part]


def _stamp(path: str) -> str:
    """What says an input is the file an earlier run journaled: size, mtime, and the inode and its ctime.

    Size and mtime alone took a corrected file for the old one (``cp -p``, ``rsync -t`` and ``tar x`` set
    the old mtime, and a series' files share their size): its earlier output was reused, another
    patient's. The ctime changes with any write, rename or replacement and cannot be set back."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if _staged_member(path):  # an archive member: its staging folder is named after the archive's identity
        return f"{st.st_size}:{st.st_mtime_ns}"  # (size, times, inode); a re-unpack makes new inodes
    return _file_state(st)


def _staged_member(path: str) -> bool:
    """Whether `path` is a member Veil unpacked: in one of its own staging folders ($TMPDIR/veil-staging- and
    24 hex digits or a process's name, then files/). A plain prefix test took an input folder named
    'veil-staging-export' in $TMPDIR for one, and its inputs got the weaker stamp (red team)."""
    root = _staging_root()
    if not path.startswith(root):
        return False
    name, _, rest = path[len(root):].partition(os.sep)
    return rest.startswith("files" + os.sep) and (
        bool(re.fullmatch(r"[0-9a-f]{24}", name)) or bool(re.fullmatch(r"pid\d+-\d+-[^/]+", name)))


def _file_state(st: os.stat_result) -> str:
    """Size, mtime, inode and ctime: an input's stamp, and an output's seal after the boot id."""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


@functools.cache
def _staging_root() -> str:
    """Where archive members are unpacked for a run ($TMPDIR/veil-staging-*: sources._staging_dir). Not any
    path holding that name: an input folder called 'veil-staging-export' is an input folder."""
    return os.path.join(tempfile.gettempdir(), STAGING_PREFIX)


def _run_id(plan: Plan, keyed: Keyed) -> str:
    """What makes outputs differ: the policy and the secret (a keyed fingerprint, not the secret)."""
    return f"{plan.policy_hash[:32]}:{_secret_fingerprint(keyed)}:{__version__}"


def _secret_fingerprint(keyed: Keyed) -> str:
    return keyed.hexdigest("fingerprint", "")[:16]


def check_same_secret(out_dir: Path, keyed: Keyed) -> None:
    """Refuse an output folder that holds outputs made with another project secret (SecretError).

    Pseudonyms, UIDs, date shifts and output paths are all keyed: a second secret would put a second,
    unrelated identity space in the same folder - a patient under two pseudonyms, a study under two UIDs
    - and the folder's hash-chained audit log, keyed with the first secret, would refuse the run's entry
    only after its outputs were written. Another *policy* with the same secret is fine: its outputs land
    on the same paths and replace the earlier ones. Each journal file's first line names the secret's
    keyed fingerprint (never the secret) in its run id.
    """
    folder = out_dir / STATE_DIR / "journal"
    if not folder.is_dir():
        return
    mine = _secret_fingerprint(keyed)
    for path in sorted(folder.glob("*.jsonl")):
        try:
            with open(path, encoding="utf-8") as fh:
                theirs = json.loads(fh.readline())["run_id"].split(":")[1]
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue  # empty or cut by a kill: nothing to compare
        if theirs != mine:
            raise SecretError(f"{out_dir} holds outputs made with another project secret (its run journal was "
                              "keyed differently): their pseudonyms, UIDs and dates would not match this run's. "
                              f"Write to a new output folder, or use the secret {out_dir} was made with")


def _journal_sizes(out_dir: Path) -> dict[str, int]:
    """Each journal file's size now: what a run appends is what lies beyond (see _count_journaled)."""
    folder = out_dir / STATE_DIR / "journal"
    return {p.name: p.stat().st_size for p in folder.glob("*.jsonl")} if folder.is_dir() else {}


def _count_journaled(out_dir: Path, before: dict[str, int], summary: RunSummary) -> None:
    """A stopped run's counts from what its workers journaled, not only from the results that reached
    this process: results come back in input order, so files finished behind a unit still running are
    on disk and journaled but were never received (an audit entry said 32 written with 60 on disk).
    Written = the outputs (distinct paths) journaled as ok during this run or received as ok: two inputs
    with one SOPInstanceUID are one file on disk, which a stopped run has not settled yet (red team A: an
    audit entry said 1,236 written with 1,220 on disk); a result received and journaled again counts once."""
    folder = out_dir / STATE_DIR / "journal"
    last: dict[str, tuple[str, str]] = {}  # journal key -> its last (status, output): a rescued unit runs again
    for path in folder.glob("*.jsonl") if folder.is_dir() else []:
        try:
            with open(path, "rb") as fh:
                fh.seek(before.get(path.name, 0))
                for line in fh:
                    try:
                        rec = json.loads(line)
                        last[rec["key"]] = (rec["status"], rec.get("output") or "")
                    except (ValueError, AttributeError, KeyError, TypeError):
                        continue  # a line cut by the stop
        except OSError:
            continue
    outputs = {output for status, output in last.values() if status == "ok" and output}
    outputs.update(str(o) for (o,) in summary.results.query(
        "SELECT DISTINCT output FROM results WHERE status = 'ok' AND output IS NOT NULL"))
    summary.written = max(summary.written, len(outputs))
    summary.quarantined = max(summary.quarantined, sum(status == "quarantined" for status, _ in last.values()))


def _journal_key(keyed: Keyed, source: str) -> str:
    """Input paths can hold names and IDs: the journal keys files by a keyed hash of the path - made
    absolute, so that a resume from another folder, or with the input named by its absolute path (cron
    and an interactive shell), finds what the killed run did (it redid all 304 of the red team's files)."""
    return keyed.hexdigest("journal-path", os.path.abspath(source))[:32]


def journal_records(out_dir: Path, run_id: str) -> Iterator[tuple[str, str, FileResult]]:
    """(journal key, input stamp, result) of earlier (possibly killed) runs with this policy and secret.

    A line cut short by a kill is ignored; a result is only reused if its output still has its sha256
    on disk (checked by the caller), so a resumed run ends exactly where an uninterrupted one would.
    """
    for line in _journal_all(out_dir):
        if line.run_id == run_id:
            yield line.key, line.stamp, line.result


class _Line(NamedTuple):
    """One journal line read back."""

    run_id: str
    key: str
    stamp: str
    result: FileResult
    t: int  # the run's start; 0 in lines written before journals had it
    seal: str  # output_seal when it was journaled; "" if none


def _journal_all(out_dir: Path) -> Iterator[_Line]:
    """Every line of every earlier run's journal."""
    folder = out_dir / STATE_DIR / "journal"
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        defined: dict[int, tuple[tuple[str, str, str, int], ...]] = {}
        with open(path, "rb") as fh:  # bytes: a line that is not UTF-8 is skipped, not fatal to every later run
            for line in fh:
                try:
                    rec = json.loads(line)
                    if "fired_id" in rec:  # a definition counts whichever run wrote it
                        defined[rec.pop("fired_id")] = rec["fired"] = tuple(tuple(x) for x in rec["fired"])
                    elif "fired_ref" in rec:
                        rec["fired"] = defined[rec.pop("fired_ref")]
                    rid = rec.pop("run_id")
                    stamp = rec.pop("stamp")
                    key = rec.pop("key")
                    t = rec.pop("t", 0)
                    seal = rec.pop("seal", "")
                    rec.pop("reused", None)
                    result = FileResult(source="", **rec)
                    if not isinstance(t, int) or not isinstance(seal, str):
                        continue
                except (ValueError, KeyError, TypeError, AttributeError):  # not an object: '"torn"' (red team)
                    continue
                yield _Line(str(rid), key, stamp, result, t, seal)


#: Quarantine rules of an input stopped from outside (its time limit, its worker's death), not for what it
#: holds: an earlier run's output of the unchanged input is still good (reused, never removed as stale). The
#: reuse check itself runs inside the timed unit, so a short --file-timeout or a loaded machine stopped it
#: too, and every earlier output was then removed as stale.
_STOPPED = frozenset({"timeout", "crash"})


def _reusable(prev: _Earlier, path: str, stamp: str, out_dir: Path,
              keyed: Keyed) -> tuple[FileResult, str] | None:
    """The journaled result, when the input is unchanged and its output is on disk with the journaled
    sha256 (outputs are not fsynced: after a power cut a journaled name can hold nothing).

    Unchanged: the same stamp (:func:`_stamp`), or else, at the same size, the same bytes: the keyed hash
    of the input is compared with the journaled one (``chmod -R``, ``chown``, ``touch``, a copy to a new
    disk, a stamp of an older Veil). Without that, fixing an archive's permissions made the next run redo
    every file, and after a time-out lose its earlier output. Reading and hashing an input costs a small
    part of processing it; a different size is a different file."""
    if prev is None or prev[1].status != "ok" or not prev[1].output:
        return None
    if prev[0] != stamp:
        if not stamp or prev[0].split(":")[0] != stamp.split(":")[0] or not prev[1].input_hash:
            return None
        try:
            if keyed_file_hash(Path(path), keyed) != prev[1].input_hash:
                return None
        except OSError:
            return None
    out = str(out_dir / prev[1].output)
    if prev[2] and prev[2] == output_seal(out):
        return prev[1], prev[2]  # untouched since it was journaled, and no crash since: its bytes were hashed
    before = output_seal(out)
    if not os.path.isfile(out) or sha256_file(Path(out)) != prev[1].output_sha256:
        return None
    return prev[1], before if before == output_seal(out) else ""  # the seal of the bytes just hashed


@functools.cache
def _boot_id() -> str:
    """This boot of the machine (Linux: /proc/sys/kernel/random/boot_id); "" where there is none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip().replace("-", "")[:16]
    except OSError:
        return ""


def output_seal(path: str, inode: int | None = None) -> str:
    """What says an output is still the file a worker wrote and hashed: this boot's id, and the file's
    size, mtime, inode and ctime. Outputs are not fsynced, so after a crash a journaled name can hold other
    bytes (zeros, nothing) with its journaled size; within one boot the page cache is what was written, and
    any change to the file moves its ctime, which nobody can set back. A re-run then reuses an unchanged
    output from its stat alone instead of reading and hashing it: a nightly run over an archive of
    terabytes re-read every earlier output. "" (hash it) without a boot id, for anything but a file, or when
    the file is not `inode` (the one written: a duplicate instance renamed over it since)."""
    boot = _boot_id()
    if not boot:
        return ""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if not stat.S_ISREG(st.st_mode) or (inode is not None and st.st_ino != inode):
        return ""
    return f"{boot}:{_file_state(st)}"


def _run_start(out_dir: Path) -> int:
    """This run's start on the output file system's own clock (the ctime of a file made now): outputs
    changed before it are earlier runs', which this run replaces unless it reuses them (commit_atomic)."""
    fd, name = tempfile.mkstemp(prefix=".veil-run-start-", suffix=".part", dir=out_dir / STATE_DIR)
    try:
        return os.fstat(fd).st_ctime_ns
    finally:
        os.close(fd)
        os.unlink(name)  # nothing is left behind: a release of OUT stays byte-reproducible


#: Present in OUT/.veil while a run writes: a run that finds it knows the previous one did not finish.
IN_PROGRESS = "run-in-progress"


def clean_partials(out_dir: Path) -> int:
    """Remove temporary files a killed run left behind (only Veil's own '.veil-*.part' names).

    Only after a run that did not finish (its IN_PROGRESS mark is still there): walking an output tree
    of millions of files at the start of every run would cost minutes for nothing."""
    n = 0
    if (out_dir / STATE_DIR / IN_PROGRESS).exists():
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
    failed_sources: Iterable[tuple[str, ...]] = (),
    by_series: bool = False,
    file_timeout: float | None = None,
    cleanup: Callable[[], None] | None = None,
) -> RunSummary:
    """De-identify `files` into `out_dir`; write quarantine report and manifest under OUT/.veil/.

    Resumable: every finished file is journaled as it completes, and a re-run with the same policy and
    secret skips files whose output is already on disk with the journaled sha256. One run at a time
    writes to an output folder (:func:`output_lock`). `file_timeout`: seconds a file may take in a
    worker process before it is stopped and quarantined (rule ``timeout``); without it, one worker (or
    one unit of work) runs in this process. `cleanup` (the sources' staging folders, named after OUT) is
    called when the run ends, however it ends, while OUT is still held: the next run on OUT never finds
    a folder this one is removing.

    Outputs an earlier run wrote in OUT that this run does not (their input removed, or quarantined now)
    are removed at the end (:func:`remove_stale_outputs`), so that OUT holds what its manifest lists.
    """
    start = time.monotonic()
    with contextlib.nullcontext() if dry_run else output_lock(out_dir):
        try:
            summary = _run(files, out_dir, plan, keyed, workers=workers, dry_run=dry_run, on_result=on_result,
                           failed_sources=failed_sources, by_series=by_series, file_timeout=file_timeout)
        finally:
            if cleanup is not None:
                cleanup()
    summary.seconds = time.monotonic() - start
    return summary


#: OUT/.veil/lock: flock'ed by the command writing to OUT for as long as it writes.
LOCK = "lock"


@contextlib.contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Hold OUT for this process (and its workers) or fail at once, naming the reason.

    Why: a second run on the same folder would take the first one's temporary files for those of a
    killed run and delete them, and both would rewrite the reports. The lock is the kernel's (flock):
    a killed run holds nothing, so the resume that follows is never refused.
    """
    with _writing_state(out_dir):
        (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
        fd = os.open(out_dir / STATE_DIR / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VeilError(f"another Veil command is writing to {out_dir} (it holds {out_dir / STATE_DIR / LOCK}): "
                            "wait for it to finish, or write elsewhere") from None
        except OSError:  # a file system without locks (some NFS mounts: ENOLCK): the run goes on, unguarded
            pass
        yield
    finally:
        os.close(fd)


def _run(files: Iterable[Path], out_dir: Path, plan: Plan, keyed: Keyed, *, workers: int, dry_run: bool,
         on_result: Callable[[FileResult], None] | None, failed_sources: Iterable[tuple[str, ...]],
         by_series: bool, file_timeout: float | None = None) -> RunSummary:
    check_same_secret(out_dir, keyed)
    summary = RunSummary()
    describe = getattr(files, "describe", None)
    if describe is not None:
        summary.describe = describe
    finished: Callable[[str], None] | None = getattr(files, "finished", None)  # an archive's staging can go
    store = summary.results
    run_id = _run_id(plan, keyed)
    earlier_runs = 0
    written_before = _EarlierOutputs()
    if not dry_run:
        clean_partials(out_dir)
        for line in _journal_all(out_dir):
            written_before.add(line.result)
            if line.run_id == run_id:
                store.remember(line.key, line.stamp, line.result, line.t, line.seal)
                earlier_runs += 1
        written_before.add_manifest(out_dir)
        journaled_before = _journal_sizes(out_dir)
        try:  # a run that did not finish left its mark: when it started
            killed_start: int | None = (out_dir / STATE_DIR / IN_PROGRESS).stat().st_mtime_ns
        except OSError:
            killed_start = None
        with _writing_state(out_dir):
            (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
            if killed_start is None:  # kept otherwise: its time is the first unfinished run's start
                (out_dir / STATE_DIR / IN_PROGRESS).write_text(run_id + "\n", encoding="utf-8")
            since = _run_start(out_dir)
    else:
        since = 0
        journaled_before = {}
        killed_start = None

    def todo() -> Iterator[_Todo]:
        """Inputs as the source yields them, numbered, with what a killed run journaled for each (nothing
        journaled with this policy and secret: nothing to look up); DRAIN_UNIT where the source asks for
        the files in flight to finish first (an archive that needs their archives' room)."""
        seq = 0
        for f in files:
            if f is DRAIN_UNIT:  # passed on as it is
                yield f
                continue
            p = str(f)
            summary.files_in += 1
            yield seq, p, store.recall(_journal_key(keyed, p)) if earlier_runs else None
            seq += 1

    if hasattr(files, "drains"):  # every result is reported as it comes (finished): a drain frees room
        files.drains = not by_series  # series units read every header first: nothing would be released

    context = (plan, keyed, str(out_dir), dry_run, run_id, since)
    pace = Pace(workers)
    units_iter = _units(todo(), by_series, workers, pace.cap)
    head = list(itertools.islice(units_iter, 2))
    work = itertools.chain(head, units_iter)
    rescued: list[int] = []  # sizes of the units in flight when a worker died
    own = _OwnLines(out_dir, run_id, since, keyed)
    stopped = False
    if not file_timeout and (workers <= 1 or len(head) < 2):  # one process, one unit: no pool to start
        results: Iterable[tuple[list[_Todo], list[tuple[FileResult, int]]]] = (
            (u, _work(([(p, prev) for _, p, prev in u], *context))) for u in work
            if u is not DRAIN_UNIT)  # one unit at a time: nothing is in flight when the next is read
    else:  # the plan and keys travel once per worker (initializer), not once per file
        def make_pool(n: int) -> ProcessPoolExecutor:
            return process_pool(n, _init_worker, context)

        def rescue(unit: list[_Todo], alone: Callable[[list[_Item]], list[tuple[FileResult, int]]]
                   ) -> list[tuple[FileResult, int]]:
            rescued.append(len(unit))  # one by one, each in a fresh worker: only a file that kills one is out
            own.expect(p for _, p, _ in unit)
            parts = each_alone([(p, prev) for _, p, prev in unit], alone,
                               lambda item: [(_lost(Path(item[0]), keyed, "crash", _CRASHED), PROCESSED)],
                               lambda item, exc: [(_lost(Path(item[0]), keyed, "timeout",
                                                         _TIMED_OUT.format(seconds=exc.seconds)), PROCESSED)])
            return [r for part in parts for r in part]

        limit = None if not file_timeout else functools.partial(unit_time_limit, file_timeout)
        workers = max(1, workers)  # a time limit needs a process to stop: one worker is a pool of one
        results = resilient(make_pool, workers, _work_unit, work, workers * 4,
                            lambda u: [(p, prev) for _, p, prev in u], rescue, limit)
    try:
        for unit, batch in results:
            pace.add(len(unit))
            for (seq, p, prev), (r, resumed) in zip(unit, batch, strict=True):
                if r.rule in _STOPPED and not dry_run:
                    done = _reusable(prev, p, _stamp(p), out_dir, keyed) if prev is not None else None
                    if done is not None:  # done before, unchanged: a stop now is no reason to lose it
                        r, resumed = replace(done[0], source=p), REUSED
                    elif (done := own.reusable(p)) is not None:  # done by this run's first try
                        r = replace(done[0], source=p)
                store.put(seq, r)
                if finished is not None:
                    finished(p)
                summary.resumed += resumed != PROCESSED
                if on_result is not None:
                    on_result(r)
    except (Interrupted, OutputError) as exc:  # what the run finished before it was stopped, for the audit entry
        _count(summary)
        exc.summary = summary
        stopped = True
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # the pool's (stops its workers also when the loop ended in an error)
        while _journals:  # this process's own (workers=1); pool workers' close when they exit
            os.close(_journals.popitem()[1])
        _journal_fired.clear()
        if stopped and not dry_run:
            _count_journaled(out_dir, journaled_before, summary)
    try:  # a stop from here on (settling, reports) is recorded like one during the loop: outputs exist
        if rescued and not dry_run:
            clean_partials(out_dir)  # what the dead workers were writing (never renamed into place)
        for source, reason, *rule in failed_sources:  # an archive that could not be unpacked, an unreadable folder
            store.append(FileResult(source, "quarantined", reason=reason, rule=rule[0] if rule else "archive"))
            summary.files_in += 1
        if not dry_run:
            _settle_duplicates(summary, out_dir, context, getattr(files, "reopen", None))
            if rescued:
                _remove_own_orphans(out_dir, summary, since)
        _count(summary)
        _check_pseudonym_collisions(summary)
        _check_split_studies(summary)
        summary.patients = store.count("pseudonym != ''", distinct="pseudonym")
        if not dry_run:
            with _writing_state(out_dir):
                remove_stale_outputs(out_dir, summary, written_before,
                                     None if killed_start is None else (killed_start, since))
                write_reports(out_dir, summary, plan)
                (out_dir / STATE_DIR / IN_PROGRESS).unlink(missing_ok=True)
    except (Interrupted, OutputError) as exc:
        if exc.summary is None:
            _count(summary)
            exc.summary = summary
        raise
    finally:
        written_before.close()
    return summary


#: The start of a manifest line as _manifest_lines writes it: input hash, output path (Veil's own form: no
#: character JSON escapes), output sha256.
_MANIFEST_HEAD = re.compile(
    rb'\{"input_hash": "[0-9a-f]*", "output": "([\w./-]+)", "output_sha256": "([0-9a-f]{64})", ')


class _EarlierOutputs:
    """Outputs earlier runs wrote in OUT, by Veil's own records (every journal line, a killed run's too,
    and the last manifest, which ``veil risk --apply`` rewrites): output path -> the sha256s it was written
    with. On disk (a private temporary SQLite file, like the run's results), read before the run writes."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, str]] = []

    def add(self, r: FileResult) -> None:
        if r.status == "ok" and r.output and r.output_sha256:
            self._add(r.output, r.output_sha256)

    def _add(self, output: str, sha: str) -> None:
        self._pending.append((output, sha))
        if len(self._pending) >= 4096:
            self._flush()

    def add_manifest(self, out_dir: Path) -> None:
        """The outputs the last manifest lists. A line as Veil writes it is read by its first keys alone
        (_MANIFEST_HEAD); a line of another form (rewritten by ``veil risk --apply``) is parsed whole.
        Parsing every line whole was a third of a re-run's time on header-heavy files."""
        with contextlib.suppress(OSError), open(out_dir / STATE_DIR / "manifest.jsonl", "rb") as fh:
            for line in fh:
                m = _MANIFEST_HEAD.match(line)
                if m is not None:
                    self._add(m.group(1).decode("ascii"), m.group(2).decode("ascii"))
                    continue
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    row = json.loads(line)
                    output, sha = row.get("output"), row.get("output_sha256")
                    if isinstance(output, str) and isinstance(sha, str) and output and sha:
                        self._add(output, sha)

    def _flush(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect("")  # deleted when closed
            self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                                   "CREATE TABLE earlier (output TEXT, sha TEXT, PRIMARY KEY (output, sha)) "
                                   "WITHOUT ROWID; CREATE TABLE current (output TEXT PRIMARY KEY) WITHOUT ROWID")
        if self._pending:
            self._db.executemany("INSERT OR IGNORE INTO earlier VALUES (?, ?)", self._pending)
            self._pending.clear()
        return self._db

    def __bool__(self) -> bool:
        return self._db is not None or bool(self._pending)

    def stale(self, current: Iterable[str]) -> Iterator[tuple[str, set[str]]]:
        """(output, its sha256s) of every earlier output not in `current` (this run's outputs)."""
        db = self._flush()
        for chunk in batches(((o,) for o in current), 4096):
            db.executemany("INSERT OR IGNORE INTO current VALUES (?)", chunk)
        rows = db.execute("SELECT output, group_concat(sha, ' ') FROM earlier WHERE output NOT IN "
                          "(SELECT output FROM current) GROUP BY output ORDER BY output")
        while page := rows.fetchmany(512):
            for output, shas in page:
                yield str(output), set(str(shas).split())

    def listed(self, output: str) -> bool:
        """Whether `output` is an earlier output in Veil's records or one of this run's (after :meth:`stale`)."""
        db = self._flush()
        return db.execute("SELECT 1 FROM earlier WHERE output = ? UNION ALL SELECT 1 FROM current WHERE output = ? "
                          "LIMIT 1", (output, output)).fetchone() is not None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


#: What an output's path looks like (instance.relpath): a pseudonym and three UIDs (or "unknown").
_OUTPUT_PATH = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/(?:[0-9]+(?:\.[0-9]+)*|unknown)){2}/(?:[0-9]+(?:\.[0-9]+)*|unknown)"
                          r"\.dcm")


def remove_stale_outputs(out_dir: Path, summary: RunSummary, earlier: _EarlierOutputs,
                         killed: tuple[int, int] | None = None) -> None:
    """Remove the outputs earlier runs wrote in OUT that this run did not make (their input was removed
    or renamed, or is quarantined now): a re-run's manifest lists this run's outputs only, and a release
    of OUT would otherwise ship files that no report accounts for.

    Only Veil's own files go: a path of an output's form that Veil's records (journal, last manifest)
    list, under OUT itself (no link on the way), a regular file whose sha256 is one Veil wrote there. One
    that has other bytes now (edited by someone), or that cannot be removed, is kept and listed in
    ``summary.stale_kept`` (exit code 1). Folders left empty are removed too.

    `killed` (after a run that did not finish: when it started, when this one did): that run may have
    renamed an output into place and died before journaling it (kill -9 in between), and such an output
    is in no record. OUT is walked for them (only then: a walk of millions of files costs minutes):
    a file at an output's path that no record lists, changed while that run ran, and written by Veil
    (its file meta names Veil's implementation) is removed like a stale output."""
    if not earlier and killed is None:
        return
    root = os.path.realpath(out_dir)
    current = _ok_outputs(summary)
    for rel, shas in earlier.stale(current):
        if not _OUTPUT_PATH.fullmatch(rel):
            continue
        path = os.path.join(root, rel)
        if os.path.realpath(path) != path:
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue  # gone already
        if not stat.S_ISREG(st.st_mode):
            continue
        if _sha256_or_none(Path(path)) not in shas:
            summary.stale_kept.append(rel)
            continue
        try:
            os.unlink(path)
        except OSError:  # an immutable file, a read-only folder: it stays, reported as such
            summary.stale_kept.append(rel)
            continue
        summary.stale_removed += 1
        _remove_empty_folders(os.path.dirname(path), root)
    if killed is not None:
        _remove_unrecorded(root, _unrecorded_outputs(root, earlier.listed, *killed), summary)


def _remove_unrecorded(root: str, rels: Iterable[str], summary: RunSummary) -> None:
    """Remove outputs in no record (:func:`_unrecorded_outputs`), counted as stale; one that cannot go is
    listed as kept."""
    for rel in rels:
        try:
            os.unlink(os.path.join(root, rel))
        except OSError:
            summary.stale_kept.append(rel)
            continue
        summary.stale_removed += 1
        _remove_empty_folders(os.path.dirname(os.path.join(root, rel)), root)


class _OwnLines:
    """This run's own journal lines of the files of lost units (their worker died or timed out): such files
    run again one by one, and one lost again is quarantined (crash, timeout) - although the first try may
    have written and journaled it. Its output then stayed in OUT, in no manifest and no count (the red
    team: 9 of 15 runs with workers killed at random). Only the lost units' keys are kept, and the journals
    are read again only when they have grown."""

    def __init__(self, out_dir: Path, run_id: str, since: int, keyed: Keyed) -> None:
        self.out_dir, self.run_id, self.since, self.keyed = out_dir, run_id, since, keyed
        self.wanted: set[str] = set()
        self.lines: dict[str, _Earlier] = {}
        self.size = -1

    def expect(self, paths: Iterable[str]) -> None:
        self.wanted.update(_journal_key(self.keyed, p) for p in paths)

    def reusable(self, path: str) -> tuple[FileResult, str] | None:
        key = _journal_key(self.keyed, path)
        if key not in self.wanted:
            return None
        if key not in self.lines and (size := sum(_journal_sizes(self.out_dir).values())) != self.size:
            self.size = size
            self.lines = {line.key: (line.stamp, line.result, line.seal) for line in _journal_all(self.out_dir)
                          if line.key in self.wanted and line.run_id == self.run_id and line.t == self.since}
        mine = self.lines.get(key)
        return _reusable(mine, path, _stamp(path), self.out_dir, self.keyed) if mine is not None else None


def _remove_own_orphans(out_dir: Path, summary: RunSummary, since: int) -> None:
    """After a worker died: an output it renamed into place before it could journal it (SIGKILL between the
    two), or one whose input was then lost on its second try, is in no result of this run. OUT is walked
    for Veil's files changed since this run started that no ok result names, and they go (only after a
    death: the walk costs minutes on millions of files)."""
    store = summary.results
    store.query("CREATE INDEX IF NOT EXISTS results_output ON results (output)")

    def listed(rel: str) -> bool:
        return bool(store.query("SELECT 1 FROM results WHERE output = ? AND status = 'ok' LIMIT 1", (rel,)))

    root = os.path.realpath(out_dir)
    _remove_unrecorded(root, _unrecorded_outputs(root, listed, since, _run_start(out_dir) + 1), summary)  # OUT's clock


def _remove_empty_folders(folder: str, root: str) -> None:
    while folder != root and folder.startswith(root + os.sep):
        try:
            os.rmdir(folder)
        except OSError:
            break
        folder = os.path.dirname(folder)


def _unrecorded_outputs(root: str, listed: Callable[[str], bool], start: int, until: int) -> Iterator[str]:
    """Outputs a killed run (started at `start`, on OUT's clock) renamed into place without a journal line:
    under OUT (not its state folder), of an output's path, not `listed` (in a record, or this run's),
    changed in [start, until), and Veil's (its implementation UID in the file meta)."""
    from veil.header.engine import VEIL_IMPLEMENTATION_UID

    mark = VEIL_IMPLEMENTATION_UID.encode("ascii")
    for folder, dirs, files in os.walk(root):
        if folder == root:
            dirs[:] = [d for d in dirs if d != STATE_DIR]
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if not _OUTPUT_PATH.fullmatch(rel) or listed(rel):
                continue
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or not start <= st.st_ctime_ns < until:
                    continue
                with open(path, "rb") as fh:
                    head = fh.read(4096)
            except OSError:
                continue
            if head[128:132] == b"DICM" and mark in head:
                yield rel


def _ok_outputs(summary: RunSummary) -> Iterator[str]:
    """This run's outputs, read from the results in pages by input number (never all in memory)."""
    last = -1
    while True:
        rows = summary.results.query("SELECT seq, output FROM results WHERE seq > ? AND status = 'ok' AND output IS "
                                     "NOT NULL ORDER BY seq LIMIT 4096", (last,))
        if not rows:
            return
        yield from (str(output) for _, output in rows)
        last = int(rows[-1][0])  # type: ignore[call-overload]


def _count(summary: RunSummary) -> None:
    store = summary.results
    summary.written = store.count("status = 'ok'", distinct="output")  # a duplicate not settled yet: one file
    summary.dry_run = store.count("status = 'dry-run'")
    summary.quarantined = store.count("status = 'quarantined'")
    summary.duplicates = store.count("status = 'duplicate'")


def _settle_duplicates(summary: RunSummary, out_dir: Path, context: _WorkerContext,
                       reopen: Callable[[str], str] | None = None) -> None:
    """Inputs that became the same output: only the one whose bytes are on disk counts as written.

    Different bytes keep the smaller sha256 (commit_atomic), so the outcome does not depend on the order
    in which workers finished. One case escapes that rule: a resumed run reuses an earlier run's output
    and, in the same run, another input with that SOPInstanceUID replaces it (older than the run's start:
    commit_atomic cannot tell it from a damaged output). The input with the smaller sha256 is then
    written again here, so a resumed run ends as an uninterrupted one would (`reopen`: the input's path
    again, for a member of an archive whose staging folder was released: Sources.reopen)."""
    store = summary.results
    dup = "status = 'ok' AND output IN (SELECT output FROM results WHERE status = 'ok' AND output IS NOT NULL " \
          "GROUP BY output HAVING COUNT(*) > 1)"
    seqs = store.query(f"SELECT seq FROM results WHERE {dup} ORDER BY output, seq")
    rows = [(int(seq), store.by_seq(int(seq))) for (seq,) in seqs]  # type: ignore[call-overload]
    plan, keyed, _, _, _, since = context
    best: dict[str, FileResult] = {}
    for _, r in rows:
        assert r.output is not None
        if r.output not in best or r.output_sha256 < best[r.output].output_sha256:
            best[r.output] = r
    disk: dict[str, str] = {}  # each shared output hashed once (again where it is written again)
    for output, r in best.items():
        if _sha256_or_none(out_dir / output) == r.output_sha256:
            disk[output] = r.output_sha256
        else:  # commit_atomic keeps it over the newer file
            try:
                process_file(Path(reopen(r.source) if reopen else r.source), plan, keyed, out_dir, since=since)
            finally:
                partfiles.release()
    winners: set[str] = set()
    for seq, r in rows:
        assert r.output is not None
        if r.output not in disk:
            disk[r.output] = sha256_file(out_dir / r.output)
        on_disk = disk[r.output]
        if r.output_sha256 == on_disk and r.output not in winners:
            winners.add(r.output)
            continue
        if r.output_sha256 == on_disk:  # same instance sent twice: nothing is lost, nothing to review
            store.replace_seq(seq, replace(r, status="duplicate", reason="identical to another input's output",
                                           rule="duplicate-instance"))
            continue
        reason = "duplicate SOPInstanceUID: another input with different content is kept for this instance"
        store.replace_seq(seq, replace(r, status="quarantined", reason=reason, rule="duplicate-instance",
                                       output=None))
    _settle_shared_uids(summary, out_dir)


#: The file name of an output path (its SOP Instance UID) in SQL: what is left once everything up to the
#: last '/' is taken away (SQLite has no basename).
_SQL_NAME = "replace(output, rtrim(output, replace(output, '/', '')), '')"


def _settle_shared_uids(summary: RunSummary, out_dir: Path) -> None:
    """One SOP Instance UID written at two output paths: inputs of two patients (or two series) that share a
    UID, each written under its own folder with the same new UID (red team: both went out, exit 0). A
    PACS keeps one instance per UID, so the release would lose one silently or mix them. As for one path,
    the output with the smaller sha256 is kept (independent of worker order); the others are quarantined
    and their files, which this run or an earlier one wrote (same sha256), removed."""
    store = summary.results
    shared = f"status = 'ok' AND output IS NOT NULL AND {_SQL_NAME} IN (SELECT {_SQL_NAME} FROM results " \
             f"WHERE status = 'ok' AND output IS NOT NULL GROUP BY {_SQL_NAME} HAVING COUNT(DISTINCT output) > 1)"
    seqs = store.query(f"SELECT seq FROM results WHERE {shared} ORDER BY {_SQL_NAME}, output_sha256, output, seq")
    kept: dict[str, str] = {}  # file name -> the output path kept for it
    root = os.path.realpath(out_dir)
    for (row,) in seqs:
        seq = int(row)  # type: ignore[call-overload]
        r = store.by_seq(seq)
        assert r.output is not None
        name = r.output.rsplit("/", 1)[-1]
        if kept.setdefault(name, r.output) == r.output:
            continue
        path = os.path.join(root, r.output)
        if _sha256_or_none(Path(path)) == r.output_sha256:
            with contextlib.suppress(OSError):
                os.unlink(path)
                _remove_empty_folders(os.path.dirname(path), root)
        reason = "duplicate SOPInstanceUID: another input (another patient or series) is kept for this instance"
        store.replace_seq(seq, replace(r, status="quarantined", reason=reason, rule="duplicate-instance", output=None))


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _check_pseudonym_collisions(summary: RunSummary) -> None:
    """Two different patients must never share a pseudonym (checked over the run, no shared state).

    Each result carries a keyed hash of its patient key; one pseudonym with two hashes is a collision.
    With the default 10 symbols (50 bits) the chance is ~1e-15 per pair, but it is checked, not assumed.
    """
    hit = summary.results.query("SELECT pseudonym FROM results WHERE pseudonym != '' GROUP BY pseudonym "
                                "HAVING COUNT(DISTINCT substr(patient_hash, 1, 16)) > 1 LIMIT 1")
    if hit:
        raise VeilError(f"pseudonym collision: two patients map to {hit[0][0]}; raise pseudonyms.length in the policy")
    merged = summary.results.query(
        "SELECT pseudonym FROM results WHERE pseudonym != '' AND length(patient_hash) > 17 GROUP BY pseudonym "
        "HAVING COUNT(DISTINCT substr(patient_hash, 18)) > 1 ORDER BY pseudonym")
    summary.issuers_merged = len(merged)
    summary.merged_example = str(merged[0][0]) if merged else ""


def _check_split_studies(summary: RunSummary) -> None:
    """A study whose files came out under two pseudo-patients has two date shifts and two identities in
    the release: its files disagree on who the patient is (Issuer of Patient ID filled in by some devices
    only under ``patient_key: issuer_and_id``, an ID corrected after the scan). Counted and named, not
    refused: which file is right is for the data steward."""
    rows = summary.results.query(
        "SELECT study, COUNT(DISTINCT pseudonym) FROM (SELECT pseudonym, substr(rest, 1, instr(rest, '/') - 1) "
        "AS study FROM (SELECT pseudonym, substr(output, instr(output, '/') + 1) AS rest FROM results WHERE "
        "status = 'ok' AND output IS NOT NULL AND pseudonym != '')) WHERE study NOT IN ('', 'unknown') "
        "GROUP BY study HAVING COUNT(DISTINCT pseudonym) > 1 ORDER BY study")
    summary.studies_split = len(rows)
    summary.split_example = str(rows[0][0]) if rows else ""


def write_reports(out_dir: Path, summary: RunSummary, plan: Plan) -> None:
    state = out_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    write_jsonl(state / "quarantine.jsonl", (
        {"source": summary.describe(r.source), "reason": r.reason, "rule": r.rule, "input_hash": r.input_hash}
        for r in summary.results.select("status = 'quarantined'")
    ))
    _write_lines(state / "manifest.jsonl", _manifest_lines(summary, plan))


def manifest_rules(fired: tuple[tuple[str, str, str, int], ...]) -> list[dict[str, object]]:
    """The rules that fired in one instance as the manifest lists them: one entry per rule and action, with
    the tags it acted on and how many elements of each (an element in every item of a sequence counts
    once per item). Kept-as-read is the default and not listed. One object per tag, the first format, made
    a header-heavy instance's line 19 KB (a manifest of 10 million files, 190 GB); this one ~3 KB."""
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for tag, action, rule, n in fired:
        if action != "K":
            tags = groups.setdefault((rule, action), {})
            tags[tag] = tags.get(tag, 0) + n
    return [{"rule": rule, "action": action, "tags": dict(sorted(tags.items()))}
            for (rule, action), tags in sorted(groups.items())]


def _manifest_lines(summary: RunSummary, plan: Plan) -> Iterator[str]:
    """One JSON object per output, keys sorted, as ``json.dumps(row, sort_keys=True)`` writes it; the
    rule list (the bulk of a line, shared by every file of one layout) is encoded once per list."""
    rules_json: dict[tuple[tuple[str, str, str, int], ...], str] = {}
    policy_hash, version = json.dumps(plan.policy_hash), json.dumps(__version__)
    for r in summary.results.select("status = 'ok'", order="COALESCE(output, ''), seq"):
        rules = rules_json.get(r.fired)
        if rules is None:
            if len(rules_json) >= 4096:
                rules_json.clear()
            rules = rules_json[r.fired] = json.dumps(manifest_rules(r.fired), sort_keys=True)
        yield (f'{{"input_hash": {json.dumps(r.input_hash)}, "output": {json.dumps(r.output)}, '
               f'"output_sha256": {json.dumps(r.output_sha256)}, "policy_hash": {policy_hash}, '
               f'"rules": {rules}, "veil_version": {version}}}')


def write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> None:
    """`path` replaced by one sorted-key JSON object per line (the manifest's and reports' format),
    atomically (see :func:`_write_lines`)."""
    _write_lines(path, (json.dumps(row, sort_keys=True) for row in rows))


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    """`path` replaced by `lines` (see :func:`partfiles.replace_synced`): a failure at the end of a long
    run leaves no temporary file, which a manifest of millions of lines makes hundreds of MB."""
    partfiles.replace_synced(path, ((line + "\n").encode("utf-8") for line in lines))


def summary_dict(summary: RunSummary) -> dict[str, object]:
    return {
        "files_in": summary.files_in, "written": summary.written, "quarantined": summary.quarantined,
        "dry_run": summary.dry_run, "duplicates": summary.duplicates, "patients": summary.patients,
        "resumed": summary.resumed, "stale_removed": summary.stale_removed, "stale_kept": summary.stale_kept,
        "studies_split": summary.studies_split, "issuers_merged": summary.issuers_merged,
        "exit_code": summary.exit_code, "seconds": round(summary.seconds, 3),
        "files_per_second": None if summary.files_per_second is None else round(summary.files_per_second, 1),
        "quarantine": [asdict(r) | {"fired": None, "source": summary.describe(r.source)}
                       for r in summary.results.select("status = 'quarantined'")],
    }
