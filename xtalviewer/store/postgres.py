"""The PostgreSQL engine: one lab's store on a server that every workstation reaches.

``Database`` calls an engine for what differs between SQLite and PostgreSQL: connecting, running
the store's SQL (rewritten by ``dialect.postgres_sql``), a new row's id (``RETURNING id``), the
transaction, the schema version (a table: PostgreSQL has no ``PRAGMA user_version``), the backup
before a migration (``pg_dump``) and what to say when the server refuses.

psycopg 3 with client-side binding (``ClientCursor``): the values are quoted into the statement as
SQLite binds them, untyped, so ``? IS NULL OR mode = ?`` needs no casts. A truth value binds as
1/0 (the schema's flag columns are integers, as in SQLite) and a ``numeric`` result (``SUM`` of a
bigint) comes back as an int or float, never a ``Decimal``.

The password never leaves the ``Location``: libpq reads it from the URL, ~/.pgpass, a service file
or PGPASSWORD; every message names the location without it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from xtalviewer.store import schema_postgres
from xtalviewer.store.db import READERS, StoreBusyError, StoreError, StoreReadOnlyError
from xtalviewer.store.lock_holders import describe_process
from xtalviewer.store.dialect import postgres_sql
from xtalviewer.store.location import one_line
from xtalviewer.store.pg_dump import dump_before_migration
from xtalviewer.store.reconnect import StoreConnectionLost

if TYPE_CHECKING:
    import psycopg

    from xtalviewer.store.db import Database

log = logging.getLogger("xtalviewer.store")

VERSION_TABLE = "xtalviewer_schema"
MIGRATION_LOCK = 0x78746C76  # pg_advisory_lock key: one workstation migrates at a time
CONNECT_TIMEOUT_S = 10
RECONNECT_TIMEOUT_S = 3  # a reconnect during review gives up sooner: the reviewer is waiting


def _psycopg():
    """psycopg, imported when a server is first used (SQLite users never load it)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency; said plainly if an install lacks it
        raise StoreError("a PostgreSQL database needs the psycopg package: pip install 'psycopg[binary]'") from None
    return psycopg


def _adapters(conn: psycopg.Connection) -> None:
    """Truth values bind as 1/0 and ``numeric`` results load as int or float, as SQLite gives them."""
    psycopg = _psycopg()
    from psycopg.adapt import Dumper, Loader

    class TruthAsInteger(Dumper):
        oid = psycopg.adapters.types["int4"].oid

        def dump(self, obj: bool) -> bytes:
            return b"1" if obj else b"0"

        def quote(self, obj: bool) -> bytes:
            return self.dump(obj)

    class NumericAsNumber(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data)
            return int(text) if text.lstrip(b"-").isdigit() else float(text)

    conn.adapters.register_dumper(bool, TruthAsInteger)
    conn.adapters.register_loader("numeric", NumericAsNumber)


def application_name() -> str:
    """Who we are, for the server's session list (and another workstation's busy message):
    "xtalviewer import (pid 4242) on ws3"."""
    return f"{describe_process(os.getpid())} on {socket.gethostname()}"[:63]


class PostgresEngine:
    """The PostgreSQL side of ``Database``; stateless, each method takes the open Database."""

    name = "postgresql"
    reconnects = True  # a dropped connection is made again (``reconnect``)
    commit_lookback = 1000  # ids before the newest seen read again: two transactions may commit out of id order

    @property
    def integrity_error(self) -> type[Exception]:
        return _psycopg().IntegrityError

    @property
    def operational_error(self) -> type[Exception]:
        return _psycopg().OperationalError

    # -- connecting ---------------------------------------------------------------------------------

    def connect(self, db: Database, timeout: float = CONNECT_TIMEOUT_S) -> psycopg.Connection:
        psycopg = _psycopg()
        try:
            conn = psycopg.connect(db.location.url, autocommit=True, cursor_factory=psycopg.ClientCursor,
                                   connect_timeout=timeout, application_name=application_name())
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL database {db.location}: "
                             f"{one_line(exc, db.location.password)}") from None
        _adapters(conn)
        db.server_pid = conn.info.backend_pid
        return conn

    # -- a dropped connection (``reconnect`` says how a call survives one) ------------------------------

    def broken(self, db: Database) -> bool:
        """Whether the connection is known to be gone (a server that ended it unseen is found on use),
        or left unusable by a break in the middle of a pipelined batch (``insert_many``)."""
        from psycopg.pq import ConnStatus, PipelineStatus

        pgconn = db.conn.pgconn
        return (db.conn.broken or db.conn.closed or pgconn.status == ConnStatus.BAD
                or pgconn.pipeline_status != PipelineStatus.OFF)  # only a batch runs pipelined, and it has ended

    def lost(self, db: Database, exc: BaseException, xid: int | None = None) -> StoreConnectionLost:
        return StoreConnectionLost(f"database {db.location}: the connection to the server was lost "
                                   f"({one_line(exc, db.location.password)})", xid=xid, server_pid=db.server_pid)

    def reconnect(self, db: Database, old_server_pid: int | None = None) -> None:
        """A new connection in place of a lost one, set up as the first was. A lost session the server
        still runs (a network cut it has not noticed) is ended, so its locks and its transaction go."""
        try:
            db.conn.close()
        except _psycopg().Error:
            pass
        try:
            db.conn = self.connect(db, timeout=RECONNECT_TIMEOUT_S)
            self.configure(db)
            if old_server_pid:
                self._run(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE pid = %s AND application_name = %s", (old_server_pid, application_name()))
        except StoreError as exc:
            raise StoreConnectionLost(str(exc), server_pid=old_server_pid) from None
        log.warning("xtalviewer: reconnected to %s", db.location)

    def committed(self, db: Database, xid: int, *, within: float) -> bool:
        """Whether transaction ``xid`` (whose COMMIT was in flight when its connection broke) committed,
        as the server says; one still in progress (its session ending) is waited for ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            status = self._run(db, "SELECT txid_status(%s)", (xid,)).fetchone()[0]
            if status in ("committed", "aborted"):
                return status == "committed"
            if status is None:
                raise StoreError(f"database {db.location}: the server no longer knows whether the change sent "
                                 "before the connection broke was saved; look at the drop's history")
            if time.monotonic() > deadline:
                raise StoreConnectionLost(f"database {db.location}: the change sent before the connection broke "
                                          f"is still in progress on the server after {within:g} s", xid=xid)
            time.sleep(0.05)

    def end_sessions_of(self, db: Database, client_pid: int) -> int:
        """End the server sessions of one client process (found by the application name it gave,
        which names its pid), as a restarted pooler or a network cut would; how many. For the tests
        and the contention bench (``bench/store.py --contention --drop-connections``)."""
        return len(self._run(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
                             (f"%(pid {client_pid})%",)).fetchall())

    def rows_written_by(self, db: Database, table: str, xid: int) -> list[int]:
        """The ids of the rows of an append-only ``table`` that transaction ``xid`` inserted (its
        ``xmin``: the 32-bit form of the id), in order: what a write that committed had returned."""
        return [r[0] for r in self._run(db, f"SELECT id FROM {table} WHERE xmin = %s::text::xid ORDER BY id",
                                        (str(xid % 2**32),))]

    def configure(self, db: Database) -> None:
        """Wait for another writer's row locks as long as SQLite waits for its file lock; a reader's
        transactions are read-only."""
        self._run(db, f"SET lock_timeout = {int(db.busy_timeout * 1000)}")
        if db.readonly:
            self._run(db, "SET default_transaction_read_only = on")

    def _run(self, db: Database, sql: str, params: Sequence | dict | None = None):
        """Native PostgreSQL SQL (no translation), with the server's refusals explained."""
        try:
            return db.conn.execute(sql, params)
        except _psycopg().Error as exc:
            raise self.explain(db, exc) or exc from None

    # -- running the store's SQL --------------------------------------------------------------------

    def execute(self, db: Database, sql: str, params: Sequence | dict = ()):
        return self._run(db, postgres_sql(sql), params)

    def executemany(self, db: Database, sql: str, rows: Iterable[Sequence | dict]) -> int:
        """Many rows of one statement (an INSERT or upsert, whose target columns type the values): bound
        on the server and pipelined, several times faster than quoting each row into the text."""
        cur = _psycopg().Cursor(db.conn)
        try:
            cur.executemany(postgres_sql(sql), rows)
        except _psycopg().Error as exc:
            raise self.explain(db, exc) or exc from None
        return max(cur.rowcount, 0)

    def insert(self, db: Database, sql: str, params: Sequence | dict = ()) -> int:
        return self._run(db, postgres_sql(sql) + " RETURNING id", params).fetchone()[0]

    def insert_many(self, db: Database, sql: str, rows: Iterable[Sequence | dict]) -> list[int]:
        rows = list(rows)
        if not rows:
            return []
        cur = _psycopg().Cursor(db.conn)
        ids: list[int] = []
        try:
            cur.executemany(postgres_sql(sql) + " RETURNING id", rows, returning=True)
            while True:
                row = cur.fetchone()
                if row is not None:
                    ids.append(row[0])
                if not cur.nextset():
                    break
        except _psycopg().Error as exc:
            raise self.explain(db, exc) or exc from None
        return ids

    def query(self, db: Database, sql: str, params: Sequence | dict = ()) -> list[dict]:
        from psycopg.rows import dict_row

        cur = db.conn.cursor(row_factory=dict_row)
        try:
            cur.execute(postgres_sql(sql), params)
        except _psycopg().Error as exc:
            raise self.explain(db, exc) or exc from None
        return cur.fetchall() if cur.description else []

    # -- transactions ---------------------------------------------------------------------------------

    def in_transaction(self, db: Database) -> bool:
        from psycopg.pq import TransactionStatus

        return db.conn.info.transaction_status not in (TransactionStatus.IDLE, TransactionStatus.UNKNOWN)

    def begin(self, db: Database) -> None:
        db.conn.execute("BEGIN")

    def commit(self, db: Database) -> None:
        """COMMIT, the transaction's id taken first: when the connection breaks with COMMIT in flight,
        the server is asked later whether it committed (``reconnect``) rather than guessed."""
        xid = None
        try:
            xid = db.conn.execute("SELECT txid_current_if_assigned()").fetchone()[0]
            db.conn.execute("COMMIT")
        except _psycopg().Error as exc:
            if self.broken(db):
                raise self.lost(db, exc, xid) from None
            raise

    def rollback(self, db: Database) -> None:
        try:
            db.conn.execute("ROLLBACK")
        except _psycopg().Error:
            pass  # a connection that broke has no transaction left to roll back

    # -- the schema -----------------------------------------------------------------------------------

    def schema_version(self, db: Database) -> int:
        found = self._run(db, "SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()[0]
        if not found:
            return 0
        row = self._run(db, f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        return row[0] or 0

    def table_names(self, db: Database) -> list[str]:
        return [r[0] for r in self._run(
            db, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]

    def upgrade(self, db: Database, version: int, target: int, *, backup: bool) -> None:
        """Bring the database from ``version`` to ``target`` with the PostgreSQL twins of the
        migrations, each in its own transaction, after a pg_dump of a store that has data. One
        workstation at a time (a session advisory lock): two starting a new release at once, one
        migrates and the other finds it done. The version is read again once the lock is held, each
        read its own transaction, so it sees what the other committed (the catalog included)."""
        if len(schema_postgres.MIGRATIONS) < target:
            raise StoreError(f"this xtalviewer has no PostgreSQL form of schema {len(schema_postgres.MIGRATIONS) + 1} "
                             f"(schema_postgres.MIGRATIONS); {db.location} was not changed")
        self._run(db, "SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            version = self.schema_version(db)
            if version == 0 and set(self.table_names(db)) - {VERSION_TABLE}:
                raise StoreError(f"{db.location} is a PostgreSQL database with tables but not an xtalviewer one; "
                                 "nothing was changed")
            if 0 < version < target and backup:
                dump_before_migration(db, version)
            for number in range(version, target):
                with db.transaction():
                    self._run(db, f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
                    self._run(db, schema_postgres.MIGRATIONS[number])
                    self._run(db, f"DELETE FROM {VERSION_TABLE}")
                    self._run(db, f"INSERT INTO {VERSION_TABLE}(version) VALUES (%s)", (number + 1,))
        finally:
            try:
                self._run(db, "SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
            except StoreError:
                pass  # a connection that broke has released its locks

    def optimize(self, db: Database) -> None:
        self._run(db, "ANALYZE")

    def watch(self, db: Database, channel: str) -> None:
        """Start watching: LISTEN on the channel stores NOTIFY when they commit labels."""
        self._run(db, f"LISTEN {channel}")

    def changed(self, db: Database, token: None) -> tuple[bool, None]:
        """Whether a notification arrived since the last look: read from the socket, no round trip."""
        pgconn = db.conn.pgconn
        pgconn.consume_input()
        found = False
        while pgconn.notifies() is not None:
            found = True
        return found, None

    def announce(self, db: Database, channel: str) -> None:
        """Inside a transaction: a NOTIFY the server delivers to every LISTENer when it commits."""
        self._run(db, f"NOTIFY {channel}")

    def size_bytes(self, db: Database) -> int:
        return self._run(db, "SELECT pg_database_size(current_database())").fetchone()[0]

    def reset_ids(self, db: Database, tables: Iterable[str]) -> None:
        """After rows were copied in with their ids: each table's id sequence continues after them."""
        for table in tables:
            self._run(db, f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                          f"GREATEST((SELECT MAX(id) FROM {table}), 1), (SELECT MAX(id) FROM {table}) IS NOT NULL)")

    # -- refusals ------------------------------------------------------------------------------------------

    def explain(self, db: Database, exc: BaseException) -> StoreError | None:
        """A StoreError for what a person can act on (busy, read-only, the server gone), else None."""
        psycopg = _psycopg()
        errors = psycopg.errors
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, psycopg.Error) and self.broken(db):
            return self.lost(db, exc)
        if isinstance(exc, errors.LockNotAvailable):
            return StoreBusyError(
                f"database {db.location} is busy: {self.describe_holders(db)} kept rows locked for more than "
                f"{db.busy_timeout:g} s. Wait until it has finished (or close it) and run this again; no change "
                "was half-written.")
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            return StoreReadOnlyError(
                f"database {db.location} is read-only (it was opened for reading only) and this needs to write to "
                f"it; {READERS}.")
        if isinstance(exc, errors.InsufficientPrivilege):
            return StoreReadOnlyError(
                f"database {db.location}: the role {db.conn.info.user!r} may not do this ({one_line(exc)}); "
                f"{READERS} if it may read. Ask the lab's database administrator for write access.")
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            return StoreError(f"database {db.location}: {one_line(exc, db.location.password)}")
        return None

    def describe_holders(self, db: Database) -> str:
        """Other sessions with a write transaction open: the server's answer to "who holds the lock"."""
        psycopg = _psycopg()
        try:  # our own transaction is aborted by the timeout: ask on a second, short connection
            with psycopg.connect(db.location.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                rows = conn.execute(
                    "SELECT DISTINCT application_name, client_addr::text, pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> %s AND backend_xid IS NOT NULL "
                    "ORDER BY pid", (db.conn.info.backend_pid,)).fetchall()
        except psycopg.Error:
            rows = []
        if not rows:
            return "another workstation or program"
        return ", ".join(f"{name or 'a client'}" + (f" from {addr}" if addr else "") + ("" if "pid" in (name or "")
                         else f" (server pid {pid})") for name, addr, pid in rows[:3])


POSTGRES = PostgresEngine()
