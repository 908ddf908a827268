"""What every ``xtalviewer`` command shares: the ``--db`` option and opening the store it names, the
one-line error, and checked output files (never the database being read)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xtalviewer.store.db import ALLOW_NETWORK_ENV
from xtalviewer.files.outputs import OutputFileError, output_target
from xtalviewer.settings import default_db_location
from xtalviewer.store.location import Location, adopt_password, location_of
from xtalviewer.store.store import Store


class CommandError(Exception):
    """A clear, expected failure: printed as one line, exit status 2."""


def add_network_flag(parser: argparse.ArgumentParser, default: object = False) -> None:
    parser.add_argument("--allow-network-db", action="store_true", default=default,
                        help=f"use a database on a network file system that only this computer opens "
                             f"(also {ALLOW_NETWORK_ENV}=1)")


DB_HELP = ("database: an SQLite file, or postgresql://user@host:port/dbname for a lab's shared server "
           "(password from ~/.pgpass, a service file or PGPASSWORD)")


def db_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--db", default=argparse.SUPPRESS,  # so it never resets a --db given before the command
                        help=f"{DB_HELP} (default: {location_of(default_db_location())}: XTALVIEWER_DB, "
                             "else the database chosen in Preferences, else the data folder's file)")
    add_network_flag(parent, argparse.SUPPRESS)  # so it never resets the flag given before the command
    return parent


def open_store(args: argparse.Namespace, scheme: str | None = None, *, create: bool = False,
               readonly: bool = False) -> Store:
    """The database of --db (or the default). Only commands that add data create a missing one, so a
    typo in --db is an error, not a new empty database; commands that only read open it read-only,
    so a database on a read-only medium still answers them."""
    location = db_location_of(args)
    if not create and location.path is not None and not location.path.exists():
        raise CommandError(f"database {location} does not exist (import plates or run `xtalviewer demo` first)")
    return Store(location, scheme, readonly=readonly, create=create)


def db_location_of(args: argparse.Namespace) -> Location:
    """The store of --db, else XTALVIEWER_DB, else the default file: a path or a server URL, with
    any password typed into the URL moved into PGPASSWORD (``adopt_password``) so it is never shown."""
    return adopt_password(location_of(getattr(args, "db", None) or default_db_location()))


def db_path_of(args: argparse.Namespace) -> Path | None:
    """The SQLite file of --db (None for a server): what outputs must not overwrite."""
    return db_location_of(args).path


def remove_if_empty(db: Path | None) -> None:
    """Delete a database file this command created when it holds no plate (and its -wal/-shm files)."""
    from xtalviewer.store.db import file_has_plates

    if db is not None and file_has_plates(db) is False:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)


def checked_output(path: Path, db: Path | None) -> Path:
    """The -o target of a command that writes a file, refused (exit 2) before any work when it is a
    device, FIFO, socket or folder, a database (``db`` the command reads, its -wal or -shm, any
    SQLite file), or its folder is missing; see ``xtalviewer.files.outputs``."""
    try:
        return output_target(path, databases=[db] if db is not None else [])
    except OutputFileError as exc:
        raise CommandError(str(exc)) from None


@contextmanager
def writing_output(path: Path) -> Iterator[None]:
    """Around the writing of a command's -o file: a refused target or a failed write is one line, exit 2."""
    try:
        yield
    except OutputFileError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot be written ({exc.strerror or exc})") from None
