"""How an SQLite database file may be opened, and what to say when SQLite refuses: the busy timeout
(XTALVIEWER_BUSY_TIMEOUT), the regular-file and network-file-system checks, the connection with its
read-only and immutable modes, and one-line messages for "database is locked" (naming who holds the
lock: ``lock_holders``) and "attempt to write a readonly database". ``StoreError`` and its kinds
are the store's errors on either engine."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
from pathlib import Path

from xtalviewer.files.regular import file_kind
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
                "a local disk (the images may stay on the share); for several workstations, move it to a PostgreSQL "
                f"server they share: `xtalviewer db copy {path} postgresql://USER@HOST/DBNAME` (docs/postgresql.md); "
                f"or, if only this one computer ever opens it, pass --allow-network-db (or set {ALLOW_NETWORK_ENV}=1)."
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
