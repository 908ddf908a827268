"""The connection to an xtalviewer database: how a file may be opened, the pragmas, the busy
timeout, and what to say when SQLite refuses (naming who holds the write lock: ``lock_holders``).
``Database`` is the open connection every store function takes first; ``Store`` is the one callers hold.

Before SQLite touches a path: it must be a regular file (``--db /dev/null`` made SQLite write
``/dev/null-journal``) on a local disk (on NFS, SMB or sshfs several workstations corrupt the
write-ahead log; ``--allow-network-db`` or XTALVIEWER_ALLOW_NETWORK_DB=1 for a share that only one
computer uses). Commands that only read open the file read-only, immutable where the medium is
read-only and nothing else can change it. SQLite's "database is locked" and "attempt to write a
readonly database" become one line that says who holds the lock or why the file is read-only.
"""

from __future__ import annotations

import math
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from xtalviewer.files.parts import new_part, sweep_dead_parts, sync_file
from xtalviewer.files.regular import file_kind
from xtalviewer.labels import LabelScheme
from xtalviewer.store.filesystems import network_filesystem, read_only_reason
from xtalviewer.store.lock_holders import describe_holders

BUSY_TIMEOUT_S = 30.0
BUSY_TIMEOUT_ENV = "XTALVIEWER_BUSY_TIMEOUT"
ALLOW_NETWORK_ENV = "XTALVIEWER_ALLOW_NETWORK_DB"
READERS = "`xtalviewer stats`, `export`, `report`, `hits` and `models` can still read it"


class StoreError(RuntimeError):
    """A database that cannot be used as it is; the message says why and what to do."""


class StoreBusyError(StoreError, sqlite3.OperationalError):
    """Another process held the write lock for longer than the busy timeout."""


class StoreReadOnlyError(StoreError, sqlite3.OperationalError):
    """A write to a database that is read-only (medium, permissions, or opened to read)."""


MAX_BUSY_TIMEOUT_S = 86_400.0  # a day; SQLite keeps the timeout as an int of milliseconds


def busy_timeout_s() -> float:
    """Seconds to wait for another writer: XTALVIEWER_BUSY_TIMEOUT, else BUSY_TIMEOUT_S. A value that
    is not a number of seconds from 0 to a day (text, inf, nan, negative) is a StoreError, not a
    silent default: whoever set it meant something."""
    text = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not text:
        return BUSY_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0.0 <= seconds <= MAX_BUSY_TIMEOUT_S:  # also false for nan
        raise StoreError(f"{BUSY_TIMEOUT_ENV}={text[:40]!r} is not a number of seconds from 0 to "
                         f"{MAX_BUSY_TIMEOUT_S:.0f}; set it to one (e.g. 30) or unset it for the default "
                         f"{BUSY_TIMEOUT_S:g} s")
    return seconds


def network_allowed() -> bool:
    return os.environ.get(ALLOW_NETWORK_ENV, "").strip().lower() in ("1", "yes", "true", "on")


def check_database_path(path: Path, *, allow_network: bool | None = None) -> None:
    """Refuse a path that is not a regular file, or a database on a network file system."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise StoreError(f"database {path} cannot be opened: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise StoreError(f"database {path} is {file_kind(st.st_mode)}, not a regular file; give the path of a "
                         "database file (a new one is created where none exists)")
    if allow_network is None:
        allow_network = network_allowed()
    if not allow_network:
        network = network_filesystem(path)
        if network:
            raise StoreError(
                f"database {path} is on a network file system, {network}. SQLite's write-ahead log needs memory "
                "shared on one computer, so two workstations using this file can corrupt it. Keep the database on "
                "a local disk (the images may stay on the share), or, if only this one computer ever opens it, "
                f"pass --allow-network-db (or set {ALLOW_NETWORK_ENV}=1)."
            )


def _uri(path: Path, *params: str) -> str:
    return path.absolute().as_uri() + ("?" + "&".join(params) if params else "")


def connect(path: Path, *, readonly: bool, timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (we BEGIN ourselves).

    Read-only: ``mode=ro``; where that cannot open (WAL needs a -shm file the medium cannot hold)
    and the medium is read-only, ``immutable=1``, which is safe because nothing can change the file,
    and only when no -wal file holds changes that immutable mode would not see.
    """
    if not readonly:
        return sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    conn = sqlite3.connect(_uri(path, "mode=ro"), uri=True, timeout=timeout, isolation_level=None)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        why = read_only_reason(path)
        if _errorname(exc) != "SQLITE_CANTOPEN" or why is None:
            raise
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreReadOnlyError(
                f"database {path} cannot be read where it is: {why}, and {wal.name} holds changes not yet merged "
                "into it. Copy the database with its -wal file to a writable folder and open the copy."
            ) from None
    return sqlite3.connect(_uri(path, "mode=ro", "immutable=1"), uri=True, timeout=timeout, isolation_level=None)


def _errorname(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        _errorname(exc).startswith("SQLITE_BUSY") or "database is locked" in str(exc))


def is_read_only(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        _errorname(exc).startswith("SQLITE_READONLY") or "readonly database" in str(exc))


# -- what to say when SQLite refuses ------------------------------------------------------------------


def busy_error(path: Path, timeout: float) -> StoreBusyError:
    return StoreBusyError(
        f"database {path} is busy: {describe_holders(path)} kept it locked for more than {timeout:g} s. "
        "Wait until it has finished (or close it) and run this again; no change was half-written."
    )


def read_only_error(path: Path, opened_read_only: bool = False) -> StoreReadOnlyError:
    why = read_only_reason(path)
    if why is None and opened_read_only:
        why = "it was opened for reading only"
    return StoreReadOnlyError(
        f"database {path} is read-only ({why or 'SQLite refused to write to it'}) and this needs to write to it; "
        f"{READERS}. To change it, copy it to a writable folder."
    )


def explain(exc: sqlite3.Error, path: Path, *, timeout: float | None = None,
            opened_read_only: bool = False) -> StoreError | None:
    """A StoreError that says what happened for SQLite errors a person can act on, else None."""
    if isinstance(exc, StoreError):
        return exc
    if is_busy(exc):
        if timeout is None:
            try:
                timeout = busy_timeout_s()
            except StoreError:  # a bad setting is said when a Store opens; here, the default was in force
                timeout = BUSY_TIMEOUT_S
        return busy_error(path, timeout)
    if is_read_only(exc) or (_errorname(exc) == "SQLITE_CANTOPEN" and read_only_reason(path)):
        return read_only_error(path, opened_read_only)
    return None


# -- the open connection ----------------------------------------------------------------------------------


def now_iso() -> str:
    """UTC timestamp with milliseconds, the form every created_at column holds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Database:
    """One open connection to an xtalviewer database, with the label scheme it speaks: what every
    function of the store's concept modules takes first. ``Store`` opens it (migrating the schema and
    binding the scheme on the way); one connection per thread or process.

    The connection is in autocommit mode: writes go inside ``transaction()``, which takes the write
    lock up front and turns SQLite's "locked" and "read-only" into a ``StoreError`` that says why.
    """

    scheme: LabelScheme  # bound by Store once the schema is current

    def __init__(self, path: Path, *, readonly: bool, busy_timeout: float):
        self.path = path
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        try:
            conn = connect(path, readonly=readonly, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise self.not_ours(exc) or self.explain(exc) or \
                StoreError(f"database {path} cannot be opened: {exc}") from None
        self.conn = conn
        self.sqlite_utils = sqlite_utils.Database(conn, execute_plugins=False)

    def explain(self, exc: sqlite3.Error) -> StoreError | None:
        """A StoreError for an SQLite error a person can act on, else None."""
        return explain(exc, self.path, timeout=self.busy_timeout, opened_read_only=self.readonly)

    def not_ours(self, exc: sqlite3.Error) -> StoreError | None:
        """The StoreError for opening a file that is not SQLite at all, else None."""
        if "not a database" in str(exc):
            return StoreError(f"{self.path} is not an xtalviewer database (it is not an SQLite file); nothing was changed")
        return None

    def configure(self) -> None:
        """Busy timeout and foreign keys; a writer also gets WAL and synced commits."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        if self.readonly:
            self.conn.execute("PRAGMA foreign_keys = ON")
            return
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"database {self.path} cannot use write-ahead logging (journal mode {mode})")
        # FULL: a commit is synced to disk before it returns, so an acknowledged label survives power loss
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: take the write lock up front so concurrent writers queue, not deadlock."""
        if self.conn.in_transaction:
            yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self.explain(exc) or exc from None
        try:
            yield self.conn
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise self.explain(exc) or exc from None
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise self.explain(exc) or exc from None

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          (key, value))

    def backup(self, target: str | Path) -> Path:
        """Copy the whole database (consistent, even while others write) to ``target``: into a part
        file renamed onto ``target`` once whole and synced, so a copy killed halfway never leaves a
        ``.bak`` that reads as an empty database; the next backup in the folder removes that part."""
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
        """Refresh the query planner's statistics and fold the write-ahead log into the file (after a
        bulk load, as ``bench/store.py`` and a big import do)."""
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def query(self, sql: str, params: Sequence | dict = ()) -> list[dict]:
        """Any SQL, rows as dicts: for scripts and tests that look at the tables themselves. The app
        reads through the typed functions of the concept modules."""
        return list(self.sqlite_utils.query(sql, params))

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
