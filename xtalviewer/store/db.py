"""How a database file may be opened, and what to say when SQLite refuses.

Before SQLite touches a path: it must be a regular file (``--db /dev/null`` made SQLite write
``/dev/null-journal``) on a local disk (on NFS, SMB or sshfs several workstations corrupt the
write-ahead log; ``--allow-network-db`` or XTALVIEWER_ALLOW_NETWORK_DB=1 for a share that only one
computer uses). Commands that only read open the file read-only, immutable where the medium is
read-only and nothing else can change it. SQLite's "database is locked" and "attempt to write a
readonly database" become one line that says who holds the lock or why the file is read-only.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from xtalviewer.store.filesystems import network_filesystem, read_only_reason
from xtalviewer.store.lockholders import describe_holders
from xtalviewer.files.regular import file_kind

BUSY_TIMEOUT_S = 30.0
BUSY_TIMEOUT_ENV = "XTALVIEWER_BUSY_TIMEOUT"
ALLOW_NETWORK_ENV = "XTALVIEWER_ALLOW_NETWORK_DB"
READERS = "`xtalviewer stats`, `export`, `report` and `models` can still read it"


class StoreError(RuntimeError):
    """A database that cannot be used as it is; the message says why and what to do."""


class StoreBusyError(StoreError, sqlite3.OperationalError):
    """Another process held the write lock for longer than the busy timeout."""


class StoreReadOnlyError(StoreError, sqlite3.OperationalError):
    """A write to a database that is read-only (medium, permissions, or opened to read)."""


def busy_timeout_s() -> float:
    """Seconds to wait for another writer: XTALVIEWER_BUSY_TIMEOUT, else BUSY_TIMEOUT_S."""
    try:
        return max(0.0, float(os.environ[BUSY_TIMEOUT_ENV]))
    except (KeyError, ValueError):
        return BUSY_TIMEOUT_S


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
        return busy_error(path, busy_timeout_s() if timeout is None else timeout)
    if is_read_only(exc) or (_errorname(exc) == "SQLITE_CANTOPEN" and read_only_reason(path)):
        return read_only_error(path, opened_read_only)
    return None
