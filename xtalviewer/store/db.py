"""The connection to an xtalviewer database: ``Database``, the open connection every store function
takes first (``Store`` is the one callers hold), with its engine (SQLite here; PostgreSQL in
``postgres``): transactions, queries, pragmas, backup. How an SQLite file may be opened and what to
say when SQLite refuses are ``sqlite_file``'s; the names are re-exported here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from xtalviewer.files.parts import new_part, sweep_dead_parts, sync_file
from xtalviewer.labels import LabelScheme
from xtalviewer.store.location import Location, location_of
from xtalviewer.store.sqlite_file import (  # noqa: F401  (part of this module's interface)
    ALLOW_NETWORK_ENV, BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_S, MAX_BUSY_TIMEOUT_S, READERS, StoreBusyError, StoreError,
    StoreReadOnlyError, busy_error, busy_timeout_s, check_database_path, connect, explain, is_busy, is_read_only,
    network_allowed, read_only_error,
)


IN_CHUNK = 500  # values in one ``IN (...)`` of ``Database.select_in``


def now_iso() -> str:
    """UTC timestamp with milliseconds, the form every created_at column holds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class SQLiteEngine:
    """The SQLite side of ``Database``: stateless, each method takes the open Database. The store's
    SQL is SQLite's own dialect, so it runs as written; PRAGMAs live here and in ``schema`` only."""

    name = "sqlite"
    reconnects = False  # a file has no connection to lose (``reconnect``)
    commit_lookback = 0  # one writer at a time: rows commit in id order (``label_watch``)
    integrity_error = sqlite3.IntegrityError
    operational_error = sqlite3.OperationalError

    def connect(self, db: Database) -> sqlite3.Connection:
        try:
            conn = connect(db.path, readonly=db.readonly, timeout=db.busy_timeout)
        except sqlite3.Error as exc:
            raise self.not_ours(db, exc) or self.explain(db, exc) or \
                StoreError(f"database {db.path} cannot be opened: {exc}") from None
        db.sqlite_utils = sqlite_utils.Database(conn, execute_plugins=False)
        return conn

    def not_ours(self, db: Database, exc: sqlite3.Error) -> StoreError | None:
        """The StoreError for opening a file that is not SQLite at all, else None."""
        if "not a database" in str(exc):
            return StoreError(f"{db.path} is not an xtalviewer database (it is not an SQLite file); nothing was changed")
        return None

    def explain(self, db: Database, exc: BaseException) -> StoreError | None:
        if not isinstance(exc, sqlite3.Error):
            return exc if isinstance(exc, StoreError) else None
        return explain(exc, db.path, timeout=db.busy_timeout, opened_read_only=db.readonly)

    def configure(self, db: Database) -> None:
        """Busy timeout and foreign keys; a writer also gets WAL and synced commits."""
        db.conn.execute(f"PRAGMA busy_timeout = {int(db.busy_timeout * 1000)}")
        if db.readonly:
            db.conn.execute("PRAGMA foreign_keys = ON")
            return
        mode = db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"database {db.path} cannot use write-ahead logging (journal mode {mode})")
        # FULL: a commit is synced to disk before it returns, so an acknowledged label survives power loss
        db.conn.execute("PRAGMA synchronous = FULL")
        db.conn.execute("PRAGMA foreign_keys = ON")

    def execute(self, db: Database, sql: str, params: Sequence | dict = ()) -> sqlite3.Cursor:
        return db.conn.execute(sql, params)

    def executemany(self, db: Database, sql: str, rows: Iterable[Sequence | dict]) -> int:
        before = db.conn.total_changes
        db.conn.executemany(sql, rows)
        return db.conn.total_changes - before

    def insert(self, db: Database, sql: str, params: Sequence | dict = ()) -> int:
        return db.conn.execute(sql, params).lastrowid

    def insert_many(self, db: Database, sql: str, rows: Iterable[Sequence | dict]) -> list[int]:
        return [db.conn.execute(sql, params).lastrowid for params in rows]

    def query(self, db: Database, sql: str, params: Sequence | dict = ()) -> list[dict]:
        return list(db.sqlite_utils.query(sql, params))

    def in_transaction(self, db: Database) -> bool:
        return db.conn.in_transaction

    def begin(self, db: Database) -> None:
        """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue, not deadlock."""
        db.conn.execute("BEGIN IMMEDIATE")

    def commit(self, db: Database) -> None:
        db.conn.execute("COMMIT")

    def rollback(self, db: Database) -> None:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")

    def schema_version(self, db: Database) -> int:
        return db.conn.execute("PRAGMA user_version").fetchone()[0]

    def table_names(self, db: Database) -> list[str]:
        return db.sqlite_utils.table_names()

    def optimize(self, db: Database) -> None:
        """Refresh the query planner's statistics and fold the write-ahead log into the file."""
        db.conn.execute("ANALYZE")
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def reset_ids(self, db: Database, tables: Iterable[str]) -> None:
        """SQLite's next id follows the largest one by itself."""

    def watch(self, db: Database, channel: str) -> int:
        """Start watching for other connections' commits: the file's change counter now."""
        return db.conn.execute("PRAGMA data_version").fetchone()[0]

    def changed(self, db: Database, token: int) -> tuple[bool, int]:
        """(whether another connection committed since ``token``, the new token): ``PRAGMA data_version``
        moves when another connection commits to the file, and costs no read of it."""
        now = db.conn.execute("PRAGMA data_version").fetchone()[0]
        return now != token, now

    def announce(self, db: Database, channel: str) -> None:
        """Watchers of a file see it change (``changed``): nothing to send."""

    def size_bytes(self, db: Database) -> int:
        return sum(os.path.getsize(f"{db.path}{suffix}") for suffix in ("", "-wal")
                   if os.path.exists(f"{db.path}{suffix}"))


SQLITE = SQLiteEngine()


class Database:
    """One open connection to an xtalviewer database, with the label scheme it speaks: what every
    function of the store's concept modules takes first. ``Store`` opens it (migrating the schema and
    binding the scheme on the way); one connection per thread or process.

    The interface is the same on both engines (``engine``: ``SQLITE`` here, ``postgres.POSTGRES`` for
    a server): ``execute``, ``executemany`` (rows changed), ``insert`` (the new row's id),
    ``transaction``, ``savepoint`` and ``query``, with the store's SQL written once in SQLite's dialect
    (``dialect`` rewrites it for PostgreSQL). ``conn`` is the driver's own connection, for the
    engine's own code (PRAGMAs, backups) only.

    The connection is in autocommit mode: writes go inside ``transaction()``, which takes the write
    lock up front (SQLite) and turns "locked" and "read-only" into a ``StoreError`` that says why.
    """

    scheme: LabelScheme  # bound by Store once the schema is current

    def __init__(self, location: str | os.PathLike | Location, *, readonly: bool, busy_timeout: float,
                 engine: SQLiteEngine | None = None):
        self.location = location_of(location)
        self.path: Path | None = self.location.path  # the SQLite file; None on a server
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self.engine = engine or SQLITE
        self.sqlite_utils: sqlite_utils.Database | None = None  # SQLite only
        self.transaction_depth = 0  # open ``transaction()`` blocks, nested ones included
        self.retrying = False  # inside a call that survives a dropped connection (``reconnect``)
        self.unsettled: dict = {}  # calls whose COMMIT's fate a dropped connection left unknown (``reconnect``)
        self.server_pid: int | None = None  # the server process of this connection (PostgreSQL)
        self.conn = self.engine.connect(self)
        self.IntegrityError = self.engine.integrity_error  # a constraint refused a row, on either engine

    def explain(self, exc: BaseException) -> StoreError | None:
        """A StoreError for a database error a person can act on, else None."""
        return self.engine.explain(self, exc)

    def not_ours(self, exc: sqlite3.Error) -> StoreError | None:
        """The StoreError for opening a file that is not SQLite at all, else None."""
        return SQLITE.not_ours(self, exc) if self.engine is SQLITE else None

    def configure(self) -> None:
        self.engine.configure(self)

    @property
    def schema_version(self) -> int:
        return self.engine.schema_version(self)

    # -- the engine-neutral interface ------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence | dict = ()):
        """Run one statement of the store's SQL; a cursor (fetchone, fetchall, iteration, rowcount)."""
        return self.engine.execute(self, sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence | dict]) -> int:
        """Run one statement for each of ``rows``; the number of rows inserted or changed."""
        return self.engine.executemany(self, sql, rows)

    def insert(self, sql: str, params: Sequence | dict = ()) -> int:
        """Run one INSERT of a row with an ``id``; the new row's id (lastrowid / RETURNING id)."""
        return self.engine.insert(self, sql, params)

    def insert_many(self, sql: str, rows: Iterable[Sequence | dict]) -> list[int]:
        """``insert`` for each of ``rows``, in order; their new ids (on a server, in one round trip)."""
        return self.engine.insert_many(self, sql, rows)

    def select_in(self, sql: str, values: Sequence) -> Iterator[tuple]:
        """The rows of ``sql`` for many values: its ``{marks}`` (as in ``WHERE id IN ({marks})``) takes
        the placeholders of 500 values at a time, within every engine's limit on parameters."""
        values = list(values)
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            yield from self.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN ... COMMIT (SQLite: BEGIN IMMEDIATE, the write lock up front so concurrent writers
        queue, not deadlock); inside another transaction, part of it."""
        engine = self.engine
        self.transaction_depth += 1
        try:
            if engine.in_transaction(self):
                yield self
                return
            try:
                engine.begin(self)
            except engine.operational_error as exc:
                raise self.explain(exc) or exc from None
            try:
                yield self
            except engine.operational_error as exc:
                engine.rollback(self)
                raise self.explain(exc) or exc from None
            except BaseException:
                if engine.in_transaction(self):
                    engine.rollback(self)
                raise
            try:
                engine.commit(self)
            except engine.operational_error as exc:
                engine.rollback(self)
                raise self.explain(exc) or exc from None
        finally:
            self.transaction_depth -= 1

    @contextmanager
    def savepoint(self, name: str = "part") -> Iterator[Database]:
        """A part of a transaction that can fail alone (PostgreSQL aborts the whole transaction at
        an error otherwise): rolled back to its start on an exception, which goes on."""
        self.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.execute(f"RELEASE SAVEPOINT {name}")

    def query(self, sql: str, params: Sequence | dict = ()) -> list[dict]:
        """Any SQL, rows as dicts: for scripts and tests that look at the tables themselves. The app
        reads through the typed functions of the concept modules."""
        return self.engine.query(self, sql, params)

    def table_names(self) -> list[str]:
        return self.engine.table_names(self)

    def get_meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, value))

    def backup(self, target: str | Path) -> Path:
        """Copy the whole SQLite database (consistent, even while others write) to ``target``: into a
        part file renamed onto ``target`` once whole and synced, so a copy killed halfway never leaves
        a ``.bak`` that reads as an empty database; the next backup in the folder removes that part.
        (A server's backup before a migration is a pg_dump: ``postgres.PostgresEngine``.)"""
        if self.engine is not SQLITE:
            raise StoreError(f"{self.location} is a PostgreSQL database: back it up with pg_dump")
        target = Path(target)
        sweep_dead_parts(target.parent)
        part = new_part(target)
        try:
            dest = sqlite3.connect(str(part))
            try:
                dest.execute("PRAGMA journal_mode = OFF")  # a part is whole or thrown away: no journal beside it
                self.conn.backup(dest)
            finally:
                dest.close()
            sync_file(part)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return target

    def optimize(self) -> None:
        """Refresh the query planner's statistics (and, SQLite, fold the write-ahead log into the
        file) after a bulk load, as ``bench/store.py`` and a big import do."""
        self.engine.optimize(self)

    def size_bytes(self) -> int:
        """How much room the store takes: the file with its write-ahead log, or the server's database."""
        return self.engine.size_bytes(self)

    def close(self) -> None:
        self.conn.close()


def file_has_plates(path: Path) -> bool | None:
    """Whether the database file holds a plate, without opening it as a Store (no migration, no
    scheme): False for a file with no tables yet, None when it cannot be read at all."""
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM plate)").fetchone()[0])
    except sqlite3.Error:  # no tables yet
        return False
    finally:
        conn.close()
