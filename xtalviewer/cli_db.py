"""``xtalviewer db copy SRC DST``: a whole store into an empty one, SQLite to PostgreSQL and back, with
each table's rows and checksum printed on both sides (``store/copy.py``); the way a lab moves its
store onto a server, and off a network share."""

from __future__ import annotations

import argparse

from xtalviewer.cli_common import CommandError, add_network_flag, remove_if_empty
from xtalviewer.files.printable import printable
from xtalviewer.store.location import location_of
from xtalviewer.store.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``xtalviewer db copy SRC DST``."""
    p = sub.add_parser("db", help="a whole store between SQLite and PostgreSQL: db copy SRC DST")
    p.add_argument("action", choices=["copy"], help="copy: every table of SRC into DST, which must be empty")
    p.add_argument("source", metavar="SRC", help="the store to copy: an SQLite file or a postgresql:// URL")
    p.add_argument("target", metavar="DST", help="an empty store (a new file, or an existing empty PostgreSQL "
                                                 "database); never overwritten")
    add_network_flag(p, argparse.SUPPRESS)
    p.set_defaults(func=cmd_db)


def cmd_db(args: argparse.Namespace) -> int:
    """``db copy SRC DST``: a whole store into an empty one, on either engine, checksummed."""
    from tqdm import tqdm

    from xtalviewer.store.copy import CopyDiffers, copy_store

    source, target = location_of(args.source), location_of(args.target)
    if str(source) == str(target):
        raise CommandError(f"{source} is both the source and the target")
    if source.path is not None and not source.path.exists():
        raise CommandError(f"database {source} does not exist")
    created = target.path is not None and not target.path.exists() and not target.path.is_symlink()
    try:
        # the source is only read (a file on a share included: this is the way off it, with its
        # workstations stopped); the target is made, bound to the source's label scheme
        with Store(source, readonly=True, allow_network=True) as src, Store(target, src.scheme) as dst, \
                tqdm(desc="copy", unit="row", disable=None, leave=False) as bar:
            def progress(table: str, done: int) -> None:
                bar.set_postfix_str(table)
                bar.update(done - bar.n if bar.n <= done else done)

            print(f"Copying {printable(str(source))} ({source.engine}) to {printable(str(target))} ({target.engine}), "
                  f"schema {src.schema_version}, label scheme {src.scheme.id}")
            try:
                tables = copy_store(src, dst, progress)
            except CopyDiffers as exc:
                print_copy(exc.tables)
                raise
    except BaseException:
        if created:
            remove_if_empty(target.path)  # a failed copy leaves no new, empty file behind
        raise
    print_copy(tables)
    print(f"Copied {sum(t.source_rows for t in tables)} rows; every table's rows and checksum match.")
    return 0


def print_copy(tables: list) -> None:
    """Each table's rows and checksum (``store.copy.TableCopy``), and where the target differs."""
    print(f"{'table':<20} {'rows':>10}  sha256 (of the rows in id order, on both sides)")
    for t in tables:
        mark = "" if t.same else f"  DIFFERS: target {t.target_rows} rows, sha256 {t.target_sha256}"
        print(f"{t.table:<20} {t.source_rows:>10}  {t.source_sha256}{mark}")
