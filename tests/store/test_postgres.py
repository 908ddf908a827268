"""The PostgreSQL engine against a real server (tests/pgcluster.py): the same schema as SQLite's,
version by version; its migrations, refusals and messages; passwords that never show."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys

import psycopg
import pytest

from xtalviewer.labels import load_scheme
from xtalviewer.plates import PlateType
from xtalviewer.store import schema, schema_postgres
from xtalviewer.store.dialect import postgres_sql
from xtalviewer.store.location import Location, adopt_password, location_of, without_password
from xtalviewer.store.store import ImageRow, Store, StoreBusyError, StoreError, StoreReadOnlyError


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> dict[str, tuple[str, bool]]:
    return {r[1]: (_family(r[2]), bool(r[3]) or bool(r[5])) for r in conn.execute(f"PRAGMA table_info({table})")}


def _family(sql_type: str) -> str:
    """The kind of value a column holds, whatever each engine calls it."""
    t = sql_type.lower()
    if "int" in t:
        return "integer"
    if t in ("real", "double precision", "numeric"):
        return "real"
    if t in ("blob", "bytea"):
        return "bytes"
    return "text"


def _postgres_columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, bool]]:
    rows = conn.execute("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall()
    return {name: (_family(kind), nullable == "NO") for name, kind, nullable in rows}


def _sqlite_at(path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    for number in range(version):
        conn.executescript(schema.MIGRATIONS[number])
    return conn


def _postgres_at(url: str, version: int) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE TABLE xtalviewer_schema (version INTEGER NOT NULL)")
    for number in range(version):
        conn.execute(schema_postgres.MIGRATIONS[number])
    conn.execute("INSERT INTO xtalviewer_schema VALUES (%s)", (version,))
    return conn


@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION + 1))
def test_each_postgresql_migration_makes_the_schema_of_its_sqlite_twin(tmp_path, pg_cluster, version):
    """Migration N on PostgreSQL gives the tables, columns (kind, NOT NULL), indexes and triggers
    that migration N gives on SQLite. A migration added to schema.MIGRATIONS without its twin in
    schema_postgres.MIGRATIONS fails here."""
    assert len(schema_postgres.MIGRATIONS) == len(schema.MIGRATIONS), (
        "schema.MIGRATIONS has a migration without its PostgreSQL twin: add it to schema_postgres.MIGRATIONS")
    lite = _sqlite_at(tmp_path / "twin.db", version)
    pg = _postgres_at(pg_cluster.create_database(f"twin_{version}"), version)
    try:
        lite_tables = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                  "AND name NOT LIKE 'sqlite_%'")}
        pg_tables = {r[0] for r in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        assert pg_tables - {"xtalviewer_schema"} == lite_tables
        for table in sorted(lite_tables):
            assert _postgres_columns(pg, table) == _sqlite_columns(lite, table), table
        lite_indexes = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                   "AND sql IS NOT NULL")}
        pg_indexes = {r[0] for r in pg.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        assert lite_indexes <= pg_indexes  # PostgreSQL names its constraints' indexes too
        lite_triggers = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        pg_triggers = {r[0] for r in pg.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert lite_triggers <= pg_triggers
        assert {t.replace("_truncate", "") for t in pg_triggers} - {t.replace("_update", "").replace("_delete", "")
                                                                     for t in lite_triggers} <= lite_triggers
    finally:
        lite.close()
        pg.close()


def _populate(store: Store) -> int:
    with store.transaction():
        pid = store.upsert_plate("PG1", PlateType(8, 12, 1))
        iid, _ = store.upsert_inspection(pid, "k", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                         folder=None)
    store.upsert_images([ImageRow(iid, pid, "A01", 1, 1, 1, "/img/a.jpg", 1, 1.0, 4, 4)])
    return store.image_id_by_path("/img/a.jpg")


@pytest.mark.parametrize("old_version", range(1, schema.SCHEMA_VERSION))
def test_an_earlier_postgresql_store_upgrades_after_a_pg_dump(pg_cluster, old_version, isolated_home):
    url = pg_cluster.create_database(f"old_{old_version}")
    conn = _postgres_at(url, old_version)
    conn.execute("INSERT INTO meta VALUES ('scheme', 'xtal10'), ('scheme_classes', %s)",
                 (json.dumps(load_scheme().keys),))
    conn.execute("INSERT INTO plate(barcode, rows, cols, drops, created_at) VALUES ('OLD', 8, 12, 1, 'x')")
    conn.close()
    with Store(url) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
        assert s.plate_by_barcode("OLD") is not None
        new_id = s.upsert_plate("NEW", PlateType(8, 12, 1))  # ids go on after the ones already there
        assert new_id > s.plate_by_barcode("OLD").id
    dumps = list((isolated_home / "backups").glob(f"old_{old_version}-*.v{old_version}-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 0


def test_hwi_inspections_fold_on_postgresql_as_on_sqlite(tmp_path, pg_cluster):
    """Migration 3's twin folds an HWI time stamp's UV and SHG inspections as SQLite's does."""
    statements = [
        ("INSERT INTO meta VALUES ('scheme', 'xtal10')", ()),
        ("INSERT INTO meta VALUES ('scheme_classes', ?)", (json.dumps(load_scheme().keys),)),
        ("INSERT INTO plate VALUES (1, 'H1', 32, 48, 1, 'x', NULL)", ()),
    ]
    for iid, key in ((1, "201807151230-jpg"), (2, "201807151230-uvt"), (3, "201807221230-uvt"), (4, "201807221230-shg")):
        statements.append(("INSERT INTO inspection(id, plate_id, key, imaged_at, layout) VALUES (?, 1, ?, ?, 'hwi')",
                           (iid, key, f"2018-07-{10 + iid}")))
        statements.append(("INSERT INTO image(id, inspection_id, plate_id, well, row, col, drop_no, path) "
                           "VALUES (?, ?, 1, 'A01', 1, 1, 1, ?)", (iid, iid, f"/i/{iid}.jpg")))
    lite = _sqlite_at(tmp_path / "hwi.db", 2)
    for sql, params in statements:
        lite.execute(sql, params)
    lite.execute("PRAGMA user_version = 2")
    lite.commit()
    lite.close()
    url = pg_cluster.create_database("hwi_fold")
    pg = _postgres_at(url, 2)
    for sql, params in statements:
        pg.execute(postgres_sql(sql), params)
    pg.close()
    answers = []
    for location in (tmp_path / "hwi.db", url):
        with Store(location) as s:
            answers.append((s.query("SELECT id, key FROM inspection ORDER BY id"),
                            s.query("SELECT id, inspection_id, mode FROM image ORDER BY id")))
    assert answers[0] == answers[1]
    assert [r["key"] for r in answers[1][0]] == ["201807151230", "201807221230"]


def test_a_newer_store_and_a_foreign_database_are_refused_untouched(pg_url, pg_cluster):
    Store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE xtalviewer_schema SET version = version + 5")
    with pytest.raises(StoreError, match="newer xtalviewer"):
        Store(pg_url)
    foreign = pg_cluster.create_database("foreign_tables")
    pg_cluster.sql("CREATE TABLE customers (id integer)", "foreign_tables")
    with pytest.raises(StoreError, match="PostgreSQL database with tables but not an xtalviewer one"):
        Store(foreign)
    assert pg_cluster.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "foreign_tables").strip() == "1"


def test_an_empty_database_is_made_a_store_only_by_a_command_that_adds_data(pg_url):
    for kw in ({"readonly": True}, {"create": False}):
        with pytest.raises(StoreError, match="holds no xtalviewer store yet"):
            Store(pg_url, **kw)
    with Store(pg_url) as s:
        assert s.schema_version == schema.SCHEMA_VERSION


def test_a_reader_refuses_to_write_saying_read_only(pg_url):
    with Store(pg_url) as s:
        image_id = _populate(s)
    with Store(pg_url, readonly=True) as s:
        assert s.current_label(image_id) is None
        with pytest.raises(StoreReadOnlyError, match="opened for reading only"):
            s.add_annotation(image_id, "clear", "ann")
        assert s.history(image_id) == []


HOLD_ROW = """
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], application_name="xtalviewer import (pid 4242) on ws3")
conn.execute("UPDATE image SET load_error = NULL")
print("locked", flush=True)
time.sleep(600)
"""


def test_busy_past_the_timeout_names_the_other_workstation(pg_url):
    with Store(pg_url) as s:
        image_id = _populate(s)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_ROW, pg_url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Store(pg_url, busy_timeout=0.3) as s:
            with pytest.raises(StoreBusyError, match=r"is busy: xtalviewer import \(pid 4242\) on ws3 .*0.3 s"):
                s.add_annotation(image_id, "needles", "ann")  # its trigger updates the image row held
            assert s.current_label(image_id) is None
            assert s.history(image_id) == []  # nothing half-written
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_an_unreachable_server_or_a_missing_database_is_one_line(pg_cluster):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL database postgresql://ann@127.0.0.1:\d+/lab: "
                                         r".*refused") as err:
        Store(f"postgresql://ann@127.0.0.1:{closed_port}/lab")
    assert "\n" not in str(err.value)
    with pytest.raises(StoreError, match='database "nope" does not exist'):
        Store(pg_cluster.url("nope"))


def test_passwords_never_show_and_reach_libpq_from_each_place_it_reads(pg_cluster, monkeypatch, tmp_path):
    url = pg_cluster.password_role("ann_pw", "s3cret-PW")
    with_password = url.replace("ann_pw@", "ann_pw:s3cret-PW@")
    with Store(with_password) as s:  # in the URL
        assert "s3cret" not in str(s.location) and "s3cret" not in repr(s.location)
        assert s.location.name == "ann_pw on 127.0.0.1"
    with pytest.raises(StoreError, match="password authentication failed") as err:
        Store(url.replace("ann_pw@", "ann_pw:wrong-PW@"))
    assert "wrong-PW" not in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setenv("PGPASSWORD", "s3cret-PW")  # the environment
    Store(url).close()
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"  # a password file
    pgpass.write_text(f"127.0.0.1:{pg_cluster.port}:*:ann_pw:s3cret-PW\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    Store(url).close()


def test_a_location_says_where_without_the_password(monkeypatch):
    loc = location_of("postgresql://ann:pa%20ss@db.lab:5433/xtal?sslmode=verify-full&sslrootcert=/etc/ca.pem")
    assert loc.is_server and loc.password == "pa ss"
    assert str(loc) == "postgresql://ann@db.lab:5433/xtal?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    assert loc.child_env() == {"PGPASSWORD": "pa ss"} and "pa" not in loc.argument().split("@")[0].split("//")[1][4:]
    assert without_password("postgresql://db.lab/x?password=abc&sslmode=require") == "postgresql://db.lab/x?sslmode=require"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    kept = adopt_password(loc)
    assert kept.password is None and str(kept) == str(loc)
    import os

    assert os.environ["PGPASSWORD"] == "pa ss"
    assert location_of("/data/lab.db") == Location(path=location_of("/data/lab.db").path)
    assert location_of("/data/lab.db").name == "lab.db" and not location_of("lab.db").is_server


def test_two_workstations_opening_a_new_release_at_once_migrate_it_once(pg_url):
    script = "import sys; from xtalviewer.store.store import Store; Store(sys.argv[1]).close(); print('ok')"
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with Store(pg_url) as s:
        assert s.query("SELECT version FROM xtalviewer_schema") == [{"version": schema.SCHEMA_VERSION}]
        assert s.get_meta("scheme") == "xtal10"


def test_without_pg_dump_the_upgrade_says_it_made_no_backup(pg_cluster, monkeypatch, caplog):
    from xtalviewer.store import pg_dump

    url = pg_cluster.create_database("no_pg_dump")
    conn = _postgres_at(url, 1)
    conn.execute("INSERT INTO meta VALUES ('scheme', 'xtal10'), ('scheme_classes', %s)",
                 (json.dumps(load_scheme().keys),))
    conn.close()
    monkeypatch.setattr(pg_dump.shutil, "which", lambda name: None)
    with caplog.at_level("WARNING", logger="xtalviewer.store"), Store(url) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
    assert "no pg_dump on PATH" in caplog.text and "without a backup" in caplog.text
