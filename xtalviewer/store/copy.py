"""A whole store copied between engines (``xtalviewer db copy SRC DST``): SQLite to PostgreSQL when a
lab moves its store onto a server, and back for a laptop or an archive.

Every table is copied row by row with its ids, in an order that satisfies its references, inside
one transaction of the target (a copy is whole or absent). Both stores are at the current schema
(each is opened, and so migrated, first) and the target must hold nothing yet but the label scheme
a new store binds. Each table's rows are then checksummed on both sides, in id order, over
engine-neutral values, so a person sees that what arrived is what left.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from xtalviewer.store.db import Database, StoreError

# every table of the store, parents before children, with the column that orders its rows
TABLES: list[tuple[str, str]] = [
    ("meta", "key"),
    ("image_root", "id"),
    ("plate", "id"),
    ("inspection", "id"),
    ("image", "id"),
    ("model", "id"),
    ("prediction", "id"),
    ("annotation", "id"),
    ("flag", "id"),
    ("screen", "id"),
    ("screen_condition", "id"),
    ("condition_component", "id"),
    ("screen_rule", "id"),
    ("plate_screen", "plate_id"),
]
# the engines' own bookkeeping, not the store's data: PostgreSQL's schema version (SQLite's
# sqlite_sequence and sqlite_stat* tables go by their prefix)
ENGINE_TABLES = {"xtalviewer_schema"}
PAGE = 5000


@dataclass(slots=True)
class TableCopy:
    """One table after a copy: rows and checksum on each side."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def same(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


class CopyDiffers(StoreError):
    """What arrived is not what left (``tables`` says where); the target was left as it was."""

    def __init__(self, tables: list[TableCopy]):
        self.tables = tables
        names = ", ".join(t.table for t in tables if not t.same)
        super().__init__(f"the copy differed from the source in {names}; it was rolled back, the target is as it was")


def check_tables(db: Database) -> None:
    """Refuse a store with a table this copy does not know (a newer schema, or one added to the
    migrations without being listed here): it would be left behind."""
    unknown = {t for t in db.table_names() if not t.startswith("sqlite_")} - {t for t, _ in TABLES} - ENGINE_TABLES
    if unknown:
        raise StoreError(f"{db.location} has tables this copy does not know ({', '.join(sorted(unknown))}); "
                         "nothing was copied")


def columns(db: Database, table: str) -> list[str]:
    """The table's columns, by name: the engines may hold them in another order (PostgreSQL adds a
    column at the end where SQLite's migration rebuilt the table)."""
    return sorted(d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description)


def rows_in_order(db: Database, table: str, key: str, cols: list[str]) -> Iterator[tuple]:
    """Every row of ``table`` in ``key`` order, a page at a time (a big store never sits in memory)."""
    names = ", ".join(cols)
    at = cols.index(key)
    last = None
    while True:
        where = f"WHERE {key} > ?" if last is not None else ""
        page = db.execute(f"SELECT {names} FROM {table} {where} ORDER BY {key} LIMIT {PAGE}",
                          (last,) if last is not None else ()).fetchall()
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1][at]


def _plain(value: object) -> object:
    """A value as both engines give it back: bytes as hex, floats exactly (repr), the rest as is."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, float):
        return {"float": repr(value)} if math.isfinite(value) else {"float": str(value)}
    return value


def table_checksum(db: Database, table: str, key: str) -> tuple[int, str]:
    """(rows, sha256) of a table's rows in key order, over engine-neutral values."""
    digest = hashlib.sha256()
    count = 0
    cols = columns(db, table)
    digest.update(json.dumps(cols).encode())
    for row in rows_in_order(db, table, key, cols):
        digest.update(json.dumps([_plain(v) for v in row], separators=(",", ":")).encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def holds_data(db: Database) -> list[str]:
    """The tables of ``db`` that hold rows, leaving out the label scheme a new store binds (meta)."""
    return [t for t, _ in TABLES if t != "meta" and db.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]


def copy_store(source: Database, target: Database,
               progress: Callable[[str, int], None] | None = None) -> list[TableCopy]:
    """Copy every row of ``source`` into the empty store ``target`` and checksum both, in one
    transaction of the target: the per-table counts and checksums, or ``CopyDiffers`` (rolled back)."""
    for db in (source, target):
        check_tables(db)
    if source.schema_version != target.schema_version:
        raise StoreError(f"{source.location} is at schema {source.schema_version}, {target.location} at "
                         f"{target.schema_version}; open both with this xtalviewer first")
    full = holds_data(target)
    if full:
        raise StoreError(f"{target.location} is not empty (it holds {', '.join(full)}); db copy only fills an empty "
                         "store, it never overwrites one. Give a new database (or a new file) as the target.")
    with target.transaction():
        for table, key in TABLES:
            cols = columns(source, table)
            if cols != columns(target, table):
                raise StoreError(f"table {table} has other columns in {target.location} than in {source.location}; "
                                 "nothing was copied")
            marks = ", ".join("?" * len(cols))
            names = ", ".join(cols)
            sql = f"INSERT INTO {table}({names}) VALUES ({marks})"
            if table == "meta":  # the new store's own scheme rows give way to the source's
                sql += " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            done = 0
            batch: list[tuple] = []
            for row in rows_in_order(source, table, key, cols):
                batch.append(tuple(row))
                if len(batch) >= PAGE:
                    target.executemany(sql, batch)
                    done += len(batch)
                    batch.clear()
                    if progress:
                        progress(table, done)
            if batch:
                target.executemany(sql, batch)
                done += len(batch)
            if progress:
                progress(table, done)
        target.engine.reset_ids(target, [t for t, key in TABLES if key == "id"])
        result = []
        for table, key in TABLES:  # inside the transaction: a copy that differs is not kept
            source_rows, source_sha = table_checksum(source, table, key)
            target_rows, target_sha = table_checksum(target, table, key)
            result.append(TableCopy(table, source_rows, target_rows, source_sha, target_sha))
        differ = [t for t in result if not t.same]
        if differ:
            raise CopyDiffers(result)
    return result
