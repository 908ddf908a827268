"""A database written by an earlier release, on a read-only medium: it cannot be upgraded where it is,
yet the commands that read (stats, export, report, models, hits) answer, as their message promises,
from an upgraded copy in memory; the file is never written."""

from __future__ import annotations

import hashlib
import json
import sqlite3

from dbfixtures import run_on_read_only_medium

from xtalviewer.labels import load_scheme
from xtalviewer.store import schema


def schema_1_database(path) -> None:
    """What release 1 left: one plate, one inspection, two images, one labelled needles."""
    conn = sqlite3.connect(path)
    conn.executescript(schema.MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO meta VALUES ('scheme', 'xtal10')")
    conn.execute("INSERT INTO meta VALUES ('scheme_classes', ?)", (json.dumps(load_scheme().keys),))
    conn.execute("INSERT INTO plate VALUES (1, 'OLD1', 8, 12, 1, 'x', NULL)")
    conn.execute("INSERT INTO inspection(id, plate_id, key, imaged_at, imager, profile, layout, folder) "
                 "VALUES (1, 1, '2018-07-15', '2018-07-15', 'RI', NULL, 'generic', '/f')")
    for n, well in enumerate(("A01", "A02")):
        conn.execute("INSERT INTO image(id, inspection_id, plate_id, well, row, col, drop_no, path) "
                     "VALUES (?, 1, 1, ?, 1, ?, 1, ?)", (n + 1, well, n + 1, f"/img/{well}.jpg"))
    conn.execute("INSERT INTO annotation(image_id, label, annotator, created_at, source) "
                 "VALUES (1, 'needles', 'ann', '2018-07-16T10:00:00', 'human')")
    conn.commit()
    conn.close()


def test_readers_answer_from_a_schema_1_database_on_a_read_only_medium(tmp_path):
    medium = tmp_path / "medium"
    medium.mkdir()
    db = medium / "old.db"
    schema_1_database(db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    proc = run_on_read_only_medium(medium, ["stats", "--db", db])
    assert proc.returncode == 0, proc.stderr
    assert "OLD1" in proc.stdout and "schema 1, read through an upgraded copy in memory" in proc.stdout
    for argv in (["export", "-o", out / "x.csv"], ["models"], ["report", "--plate", "OLD1", "-o", out / "r.html"]):
        proc = run_on_read_only_medium(medium, [*argv, "--db", db])
        assert proc.returncode == 0, (argv, proc.stderr)
    assert "needles" in (out / "x.csv").read_text()
    proc = run_on_read_only_medium(medium, ["import-labels", out / "x.csv", "--db", db])  # a writer: refused
    assert proc.returncode == 2 and "read-only" in proc.stderr and proc.stderr.count("\n") == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before and sorted(p.name for p in medium.iterdir()) == ["old.db"]
