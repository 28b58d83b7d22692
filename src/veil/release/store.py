"""The project store: the release register and the identity vault, in SQLite or PostgreSQL.

Embedded by default (DESIGN.md "Defaults that matter"): a project keeps one SQLite file next to its
config and needs no server. Give a ``postgresql://`` URL instead (config ``store:`` or ``VEIL_STORE_URL``)
and the same tables live in a shared PostgreSQL database, so several machines or sites that release
under one project see one numbering of releases and one vault. The SQL is written once with ``?``
placeholders and portable types; :class:`Database` adapts placeholders and the few DDL differences.

The store holds no plaintext identifier: the register names tiers, policies and hashes, and the vault
holds only ciphertext and keyed lookup hashes (see :mod:`veil.identity.vault`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from veil.errors import VeilError

SCHEMA_VERSION = 1


class StoreError(VeilError):
    """The store cannot be opened or used (bad URL, server unreachable, schema from a newer Veil)."""


class IntegrityConflict(StoreError):
    """A unique key already exists (e.g. two machines allocated the same release number at once)."""


_DDL = [
    """CREATE TABLE IF NOT EXISTS veil_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS releases (
        number INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        tier TEXT NOT NULL,
        purpose TEXT NOT NULL,
        created TEXT NOT NULL,
        created_by TEXT NOT NULL,
        policy_name TEXT NOT NULL DEFAULT '',
        policy_hash TEXT NOT NULL DEFAULT '',
        input_fingerprint TEXT NOT NULL DEFAULT '',
        folder TEXT NOT NULL DEFAULT '',
        manifest_sha256 TEXT NOT NULL DEFAULT '',
        reissue_of INTEGER,
        findings INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        files INTEGER NOT NULL DEFAULT 0,
        withdrawn_at TEXT,
        withdrawn_by TEXT,
        withdrawn_reason TEXT)""",
    """CREATE TABLE IF NOT EXISTS vault_meta (
        vault_id TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vault_slots (
        slot_id TEXT PRIMARY KEY,
        vault_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        params TEXT NOT NULL,
        nonce BLOB NOT NULL,
        wrapped BLOB NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vault_batches (
        batch_id TEXT PRIMARY KEY,
        vault_id TEXT NOT NULL,
        release_number INTEGER,
        ephemeral_public BLOB NOT NULL,
        nonce BLOB NOT NULL,
        wrapped_key BLOB NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vault_entries (
        entry_id {serial},
        batch_id TEXT NOT NULL,
        lookup BLOB NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS vault_entries_lookup ON vault_entries (lookup)",
]


def default_url(project_dir: Path) -> str:
    """The embedded store of a project: ``sqlite:///<project>/.veil/store.sqlite``."""
    return f"sqlite:///{(project_dir / '.veil' / 'store.sqlite').resolve()}"


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and audit entries."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


class Database:
    """One connection to the store, with ``?`` placeholders on both backends.

    Use :meth:`transaction` for anything that must be all-or-nothing; single statements outside a
    transaction commit immediately. Not shared between threads (a lock guards accidental sharing).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._depth = 0
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            self.kind = "sqlite"
            path = url.removeprefix("sqlite://")
            path = path[1:] if path.startswith("//") else path
            if not path or path == "/":
                raise StoreError(f"store URL {url!r}: expected sqlite:///absolute/path.sqlite")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn: Any = sqlite3.connect(path, isolation_level=None, timeout=30)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store {path}: {exc}") from exc
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._integrity: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
            self._errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        elif scheme in ("postgresql", "postgres"):
            self.kind = "postgresql"
            try:
                import psycopg
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise StoreError("a PostgreSQL store needs psycopg: pip install 'psycopg[binary]'") from exc
            try:
                self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to PostgreSQL store {redact_url(url)}: {exc}") from exc
            self._integrity = (psycopg.errors.UniqueViolation, psycopg.errors.IntegrityError)
            self._errors = (psycopg.Error,)
        else:
            raise StoreError(f"store URL {redact_url(url)!r}: expected sqlite:///path or postgresql://...")
        self._migrate()

    # --- SQL ------------------------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        if self.kind == "postgresql":
            return sql.replace("?", "%s").replace("BLOB", "BYTEA")
        return sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            try:
                cur = self._conn.execute(self._sql(sql), tuple(params))
                return int(cur.rowcount or 0)
            except self._integrity as exc:
                raise IntegrityConflict(str(exc)) from exc
            except self._errors as exc:
                raise StoreError(f"store error: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                cur = self._conn.execute(self._sql(sql), tuple(params))
                rows = cur.fetchall()
            except self._errors as exc:
                raise StoreError(f"store error: {exc}") from exc
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """All statements inside commit together or not at all (nesting joins the outer transaction)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if self.kind == "sqlite" else "BIGSERIAL PRIMARY KEY"
        with self.transaction():
            if self.kind == "postgresql":  # two processes creating the schema at once must not collide
                self._conn.execute("SELECT pg_advisory_xact_lock(7715110)")
            for ddl in _DDL:
                self.execute(ddl.replace("{serial}", serial))
            rows = self.query("SELECT value FROM veil_meta WHERE key = ?", ("schema_version",))
            if not rows:
                self.execute("INSERT INTO veil_meta (key, value) VALUES (?, ?)",
                             ("schema_version", str(SCHEMA_VERSION)))
            elif int(rows[0][0]) > SCHEMA_VERSION:
                raise StoreError(f"the store {redact_url(self.url)} has schema {rows[0][0]}, newer than this Veil "
                                 f"({SCHEMA_VERSION}); upgrade Veil")


def connect(url: str) -> Database:
    """Open (and create or migrate) the store at ``url``."""
    return Database(url)
