"""Per-file results of a run, kept on disk so that the runner's memory does not grow with the archive.

A run over ten million files would hold ten million results (about 2 KB each with their hashes, paths and
rule lists) if they stayed in memory. :class:`ResultStore` keeps them in an anonymous SQLite database
(``sqlite3.connect("")``: a private temporary file that SQLite deletes when the connection closes), and
the end-of-run steps (duplicate settling, pseudonym collisions, reports) read it back in order with SQL.
Rule lists, the bulk of a result and shared by every file of one layout, are stored once each.

It behaves like the list of results it replaces: iteration in input order, ``len``, indexing, item
assignment and ``append``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from typing import overload

from veil.pipeline.instance import FileResult

Rules = tuple[tuple[str, str, str, int], ...]
_COLUMNS = ("source", "status", "output", "reason", "rule", "input_hash", "output_sha256", "fired", "pseudonym",
            "patient_hash")
_BATCH = 512


def _stored_path(path: str) -> str | bytes:
    """A path as SQLite can hold it: a file name that is not UTF-8 (an old Latin-1 archive: "M\\xfcller")
    reaches Python with surrogate escapes, which SQLite's UTF-8 text refuses; it is kept as its bytes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")


class ResultStore:
    """Results by input order (seq), on disk; a bounded cache of rule lists in memory."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;
            CREATE TABLE results (seq INTEGER PRIMARY KEY, source TEXT, status TEXT, output TEXT, reason TEXT,
                                  rule TEXT, input_hash TEXT, output_sha256 TEXT, fired INTEGER,
                                  pseudonym TEXT, patient_hash TEXT);
            CREATE TABLE rules (id INTEGER PRIMARY KEY, digest TEXT UNIQUE, body TEXT);
            CREATE TABLE journal (key TEXT PRIMARY KEY, stamp TEXT, source TEXT, status TEXT, output TEXT,
                                  reason TEXT, rule TEXT, input_hash TEXT, output_sha256 TEXT, fired INTEGER,
                                  pseudonym TEXT, patient_hash TEXT, t INTEGER, seal TEXT);
            """
        )
        self._rule_ids: dict[Rules, int] = {}
        self._rules: dict[int, Rules] = {}
        self._pending: list[tuple[object, ...]] = []
        self._next = 0

    # -- writing -------------------------------------------------------------------------------------
    def _rule_id(self, fired: Rules) -> int:
        rid = self._rule_ids.get(fired)
        if rid is not None:
            return rid
        body = json.dumps(fired)
        digest = hashlib.sha256(body.encode()).hexdigest()
        row = self._db.execute("SELECT id FROM rules WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            rid = int(self._db.execute("INSERT INTO rules (digest, body) VALUES (?, ?)", (digest, body)).lastrowid
                      or 0)
        else:
            rid = int(row[0])
        if len(self._rule_ids) >= 4096:  # every file a layout of its own: the database has them all
            self._rule_ids.clear()
            self._rules.clear()
        self._rule_ids[fired] = rid
        self._rules[rid] = fired
        return rid

    def _row(self, seq: int, r: FileResult) -> tuple[object, ...]:
        return (seq, _stored_path(r.source), r.status, r.output, r.reason, r.rule, r.input_hash, r.output_sha256,
                self._rule_id(r.fired), r.pseudonym, r.patient_hash)

    def put(self, seq: int, r: FileResult) -> None:
        """Store the result of input number `seq` (results may arrive in any order)."""
        self._pending.append(self._row(seq, r))
        self._next = max(self._next, seq + 1)
        if len(self._pending) >= _BATCH:
            self.flush()

    def append(self, r: FileResult) -> None:
        self.put(self._next, r)

    def flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)", self._pending)
            self._pending.clear()

    # -- reading -------------------------------------------------------------------------------------
    def _fired(self, rid: int) -> Rules:
        hit = self._rules.get(rid)
        if hit is None:
            (body,) = self._db.execute("SELECT body FROM rules WHERE id = ?", (rid,)).fetchone()
            hit = tuple(tuple(x) for x in json.loads(body))  # type: ignore[misc]
            if len(self._rules) >= 4096:
                self._rules.clear()
            self._rules[rid] = hit
        return hit

    def _result(self, row: tuple[object, ...]) -> FileResult:
        values = dict(zip(_COLUMNS, row[1:], strict=True))
        values["fired"] = self._fired(int(row[8]))  # type: ignore[call-overload]
        if isinstance(values["source"], bytes):
            values["source"] = values["source"].decode("utf-8", "surrogateescape")
        return FileResult(**values)  # type: ignore[arg-type]

    def select(self, where: str = "1", params: tuple[object, ...] = (), order: str = "seq") -> Iterator[FileResult]:
        """Results matching an SQL condition on the columns, in `order` (input order by default)."""
        self.flush()
        cur = self._db.execute(f"SELECT * FROM results WHERE {where} ORDER BY {order}", params)
        while rows := cur.fetchmany(_BATCH):
            for row in rows:
                yield self._result(row)

    def count(self, where: str = "1", params: tuple[object, ...] = (), distinct: str | None = None) -> int:
        """Results matching `where`; with `distinct`, the number of different values of that column."""
        self.flush()
        what = f"DISTINCT {distinct}" if distinct else "*"
        return int(self._db.execute(f"SELECT COUNT({what}) FROM results WHERE {where}", params).fetchone()[0])

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        self.flush()
        return self._db.execute(sql, params).fetchall()

    def __iter__(self) -> Iterator[FileResult]:
        return self.select()

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, i: int) -> FileResult: ...
    @overload
    def __getitem__(self, i: slice) -> list[FileResult]: ...

    def __getitem__(self, i: int | slice) -> FileResult | list[FileResult]:
        if isinstance(i, slice):
            return list(self)[i]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        (seq,) = self.query("SELECT seq FROM results ORDER BY seq LIMIT 1 OFFSET ?", (i,))[0]
        return self.by_seq(int(seq))  # type: ignore[call-overload]

    def by_seq(self, seq: int) -> FileResult:
        row = self.query("SELECT * FROM results WHERE seq = ?", (seq,))[0]
        return self._result(row)

    def replace_seq(self, seq: int, r: FileResult) -> None:
        self.flush()
        self._db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)", self._row(seq, r))

    # -- results of earlier runs (the journals), for resuming -----------------------------------------
    def remember(self, key: str, stamp: str, r: FileResult, t: int = 0, seal: str = "") -> None:
        """An earlier run's result for the input with journal key `key`, journaled by a run that started at
        `t` (OUT's clock): the latest run's wins, and of one run's lines the last read. Journal files are
        per process and read in name order, so "last read" alone let an older run's line, in a file whose
        pid sorts later, stand for an input a later run had redone: every run after redid it again."""
        self._db.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                         + ", ".join(f"{c} = excluded.{c}" for c in ("stamp", *_COLUMNS, "t", "seal"))
                         + " WHERE excluded.t >= journal.t", (key, stamp, *self._row(0, r)[1:], t, seal))

    def recall(self, key: str) -> tuple[str, FileResult, str] | None:
        """(stamp, result, output seal) an earlier run journaled for `key`."""
        row = self._db.execute("SELECT * FROM journal WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return str(row[1]), self._result((0, *row[2:-2])), str(row[-1] or "")

    def close(self) -> None:
        self._db.close()
