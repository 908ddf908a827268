"""The database schema as an ordered list of migrations; ``PRAGMA user_version`` says how many ran.

A migration is appended, never edited: a database made by any earlier release upgrades by running
the ones it has not seen, in order (``migrate``), after a backup copy of the file.

Each migration has a PostgreSQL twin at the same index of ``schema_postgres.MIGRATIONS`` (the
tests compare the two schemas): add one there with every migration added here.
"""

from __future__ import annotations

import sqlite3
import time

from xtalviewer.store.db import Database, StoreError, StoreReadOnlyError

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE plate (
        id INTEGER PRIMARY KEY,
        barcode TEXT NOT NULL UNIQUE,
        rows INTEGER NOT NULL,
        cols INTEGER NOT NULL,
        drops INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        meta TEXT
    );

    CREATE TABLE inspection (
        id INTEGER PRIMARY KEY,
        plate_id INTEGER NOT NULL REFERENCES plate(id),
        key TEXT NOT NULL,
        imaged_at TEXT,
        imager TEXT,
        profile TEXT,
        layout TEXT NOT NULL,
        folder TEXT,
        meta TEXT,
        UNIQUE (plate_id, key)
    );
    CREATE INDEX inspection_plate ON inspection(plate_id, imaged_at);

    CREATE TABLE image (
        id INTEGER PRIMARY KEY,
        inspection_id INTEGER NOT NULL REFERENCES inspection(id),
        plate_id INTEGER NOT NULL REFERENCES plate(id),
        well TEXT NOT NULL,
        row INTEGER NOT NULL,
        col INTEGER NOT NULL,
        drop_no INTEGER NOT NULL,
        path TEXT NOT NULL,
        size INTEGER,
        mtime REAL,
        width INTEGER,
        height INTEGER,
        load_error TEXT,
        label TEXT,
        annotation_id INTEGER,
        UNIQUE (inspection_id, well, drop_no)
    );
    CREATE UNIQUE INDEX image_path ON image(path);
    CREATE INDEX image_plate ON image(plate_id, row, col, drop_no);
    CREATE INDEX image_label ON image(label);

    CREATE TABLE model (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        arch TEXT NOT NULL,
        scheme TEXT NOT NULL,
        classes TEXT NOT NULL,
        input_size INTEGER NOT NULL,
        normalization TEXT,
        run_id TEXT,
        metrics TEXT,
        path TEXT NOT NULL,
        sha256 TEXT,
        active INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX model_one_active ON model(active) WHERE active = 1;

    CREATE TABLE prediction (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES image(id),
        model_id INTEGER NOT NULL REFERENCES model(id),
        probs BLOB NOT NULL,
        top1 TEXT NOT NULL,
        p1 REAL NOT NULL,
        top2 TEXT,
        p2 REAL,
        top3 TEXT,
        p3 REAL,
        crystal_prob REAL NOT NULL,
        margin REAL NOT NULL,
        entropy REAL NOT NULL,
        crystal_top3 INTEGER NOT NULL,
        image_size INTEGER,
        image_mtime REAL,
        created_at TEXT NOT NULL,
        UNIQUE (model_id, image_id)
    );
    -- image_id completes each order, so ORDER BY ... LIMIT walks the index and stops early
    CREATE INDEX prediction_crystal ON prediction(model_id, crystal_prob DESC, image_id);
    CREATE INDEX prediction_margin ON prediction(model_id, margin, image_id);
    CREATE INDEX prediction_entropy ON prediction(model_id, entropy DESC, image_id);
    CREATE INDEX prediction_top1 ON prediction(model_id, top1, image_id);

    CREATE TABLE annotation (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES image(id),
        label TEXT,
        annotator TEXT NOT NULL,
        created_at TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('human', 'accepted-prediction', 'import')),
        prediction_id INTEGER,
        shown TEXT,
        lead_ms INTEGER,
        reverts INTEGER REFERENCES annotation(id)
    );
    CREATE INDEX annotation_image ON annotation(image_id, id);

    -- the newest annotation is the current label; keep a copy on the image for indexed queries
    CREATE TRIGGER annotation_current AFTER INSERT ON annotation BEGIN
        UPDATE image SET label = NEW.label, annotation_id = NEW.id WHERE id = NEW.image_id;
    END;
    CREATE TRIGGER annotation_append_only_update BEFORE UPDATE ON annotation BEGIN
        SELECT RAISE(ABORT, 'annotations are append-only');
    END;
    CREATE TRIGGER annotation_append_only_delete BEFORE DELETE ON annotation BEGIN
        SELECT RAISE(ABORT, 'annotations are append-only');
    END;
    """,
    # 2: each model's operating point (temperature, hit threshold, how it was chosen) as JSON
    """
    ALTER TABLE model ADD COLUMN operating_point TEXT;
    """,
    # 3: imaging modes (visible, UV, SHG images of one drop at one imaging are modes of one
    # inspection), second-look flags, and the mode a model scores. The image table is rebuilt
    # (SQLite cannot change a UNIQUE constraint in place); ids, labels and predictions stay. HWI
    # 'uvt' and 'shg' inspections fold into the inspection of the same time stamp: its visible one
    # when there is one, else its UV one; HWI inspection keys lose the '-jpg' suffix.
    """
    DROP TRIGGER annotation_current;
    CREATE TABLE image_v3 (
        id INTEGER PRIMARY KEY,
        inspection_id INTEGER NOT NULL REFERENCES inspection(id),
        plate_id INTEGER NOT NULL REFERENCES plate(id),
        well TEXT NOT NULL,
        row INTEGER NOT NULL,
        col INTEGER NOT NULL,
        drop_no INTEGER NOT NULL,
        mode TEXT NOT NULL DEFAULT 'visible',
        path TEXT NOT NULL,
        size INTEGER,
        mtime REAL,
        width INTEGER,
        height INTEGER,
        load_error TEXT,
        label TEXT,
        annotation_id INTEGER,
        UNIQUE (inspection_id, well, drop_no, mode)
    );
    INSERT INTO image_v3(id, inspection_id, plate_id, well, row, col, drop_no, mode, path, size, mtime, width,
                         height, load_error, label, annotation_id)
    SELECT i.id, i.inspection_id, i.plate_id, i.well, i.row, i.col, i.drop_no,
           CASE WHEN n.layout = 'hwi' AND n.key GLOB '*-uvt' THEN 'uv'
                WHEN n.layout = 'hwi' AND n.key GLOB '*-shg' THEN 'shg' ELSE 'visible' END,
           i.path, i.size, i.mtime, i.width, i.height, i.load_error, i.label, i.annotation_id
    FROM image i JOIN inspection n ON n.id = i.inspection_id;
    DROP TABLE image;
    ALTER TABLE image_v3 RENAME TO image;
    CREATE UNIQUE INDEX image_path ON image(path);
    CREATE INDEX image_plate ON image(plate_id, row, col, drop_no);
    CREATE INDEX image_label ON image(label);
    CREATE TRIGGER annotation_current AFTER INSERT ON annotation BEGIN
        UPDATE image SET label = NEW.label, annotation_id = NEW.id WHERE id = NEW.image_id;
    END;

    CREATE TEMP TABLE hwi_fold AS
    SELECT o.id AS old_id,
           (SELECT t.id FROM inspection t
            WHERE t.plate_id = o.plate_id AND t.layout = 'hwi'
              AND substr(t.key, 1, length(t.key) - 4) = substr(o.key, 1, length(o.key) - 4)
              AND (t.key GLOB '*-jpg' OR t.key GLOB '*-uvt' OR t.key GLOB '*-shg')
            ORDER BY CASE substr(t.key, -3) WHEN 'jpg' THEN 0 WHEN 'uvt' THEN 1 ELSE 2 END LIMIT 1) AS new_id
    FROM inspection o
    WHERE o.layout = 'hwi' AND (o.key GLOB '*-jpg' OR o.key GLOB '*-uvt' OR o.key GLOB '*-shg');
    UPDATE image SET inspection_id = (SELECT new_id FROM hwi_fold WHERE old_id = image.inspection_id)
    WHERE inspection_id IN (SELECT old_id FROM hwi_fold WHERE new_id != old_id);
    DELETE FROM inspection WHERE id IN (SELECT old_id FROM hwi_fold WHERE new_id != old_id);
    UPDATE inspection SET key = substr(key, 1, length(key) - 4) WHERE id IN (SELECT new_id FROM hwi_fold);
    DROP TABLE hwi_fold;

    -- "needs a second look": an append-only event per change, the newest one of an image counts
    CREATE TABLE flag (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES image(id),
        flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)),
        note TEXT,
        annotator TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX flag_image ON flag(image_id, id);
    CREATE TRIGGER flag_append_only_update BEFORE UPDATE ON flag BEGIN
        SELECT RAISE(ABORT, 'second-look flags are append-only');
    END;
    CREATE TRIGGER flag_append_only_delete BEFORE DELETE ON flag BEGIN
        SELECT RAISE(ABORT, 'second-look flags are append-only');
    END;

    ALTER TABLE model ADD COLUMN mode TEXT NOT NULL DEFAULT 'visible';
    """,
    # 4: crystallization screens: a screen is a named list of conditions by well, each condition its
    # components (chemical, concentration with unit, pH); a plate is assigned one by hand, by a
    # barcode rule or from the imager's metadata. Plain tables and types only (no SQLite-only
    # syntax), so the PostgreSQL engine can run a twin of this migration.
    """
    CREATE TABLE screen (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        rows INTEGER NOT NULL,
        cols INTEGER NOT NULL,
        source TEXT,
        created_at TEXT NOT NULL
    );

    CREATE TABLE screen_condition (
        id INTEGER PRIMARY KEY,
        screen_id INTEGER NOT NULL REFERENCES screen(id),
        position INTEGER NOT NULL,
        row INTEGER NOT NULL,
        col INTEGER NOT NULL,
        code TEXT,
        description TEXT NOT NULL,
        ph REAL,
        UNIQUE (screen_id, position),
        UNIQUE (screen_id, row, col)
    );

    CREATE TABLE condition_component (
        id INTEGER PRIMARY KEY,
        condition_id INTEGER NOT NULL REFERENCES screen_condition(id),
        ordinal INTEGER NOT NULL,
        chemical TEXT NOT NULL,
        chemical_key TEXT NOT NULL,
        concentration REAL,
        unit TEXT,
        ph REAL,
        UNIQUE (condition_id, ordinal)
    );
    CREATE INDEX condition_component_chemical ON condition_component(chemical_key);

    CREATE TABLE screen_rule (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('prefix', 'regex')),
        pattern TEXT NOT NULL,
        wells INTEGER,
        screen_id INTEGER NOT NULL REFERENCES screen(id),
        created_at TEXT NOT NULL
    );

    CREATE TABLE plate_screen (
        plate_id INTEGER PRIMARY KEY REFERENCES plate(id),
        screen_id INTEGER NOT NULL REFERENCES screen(id),
        source TEXT NOT NULL CHECK (source IN ('hand', 'rule', 'imager')),
        rule_id INTEGER REFERENCES screen_rule(id),
        assigned_at TEXT NOT NULL
    );
    CREATE INDEX plate_screen_screen ON plate_screen(screen_id);
    """,
    # 5: named image roots, so workstations that mount the imager share at different places find the
    # same images: a root is a name and the folder it was defined under; an image below it is stored
    # as '{NAME}/relative/path' (``files.image_roots``). Paths are rewritten when a root is defined
    # (``image_roots.define_root``); paths under no root stay absolute.
    """
    CREATE TABLE image_root (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
]

# imaging modes, the visible one first; a model scores the images of its own mode
MODES = ("visible", "uv", "shg")
MODE_NAMES = {"visible": "Visible", "uv": "UV", "shg": "SHG"}
VISIBLE = "visible"

SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    statements, current = [], []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            candidate = "\n".join(current)
            if sqlite3.complete_statement(candidate):
                statements.append(candidate)
                current = []
    if current:
        statements.append("\n".join(current))
    return statements


def migrate(db: Database, *, backup: bool = True) -> None:
    """Bring the database to SCHEMA_VERSION: refuse a newer one or a foreign one, back up an older
    one (SQLite: a copy beside it, unless ``backup`` is False: a copy in memory; PostgreSQL: a
    pg_dump), then run each missing migration in its own transaction (on a server, the twin of
    each in ``schema_postgres``)."""
    version = db.schema_version
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {db.location} was written by a newer xtalviewer (schema {version}, this one knows "
            f"up to {SCHEMA_VERSION}); upgrade xtalviewer to open it. Nothing was changed."
        )
    if version == SCHEMA_VERSION:
        return
    if db.readonly:
        raise StoreReadOnlyError(
            f"database {db.location} was written by an older xtalviewer (schema {version}) and must be upgraded, "
            "but it cannot be written here; open it once where it can be (a copy in a writable folder)"
        )
    if db.location.is_server:  # the server's checks run under its migration lock (several workstations)
        db.engine.upgrade(db, version, SCHEMA_VERSION, backup=backup)
        return
    if version == 0 and db.table_names():
        raise StoreError(f"{db.location} is an SQLite database but not an xtalviewer one; nothing was changed")
    if version > 0 and backup:
        db.backup(db.path.with_name(f"{db.path.name}.v{version}-{int(time.time())}.bak"))
    # a migration may rebuild a table others refer to (SQLite's way to change a constraint):
    # foreign keys are off while it runs, and checked before each migration commits
    db.conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for number in range(version, SCHEMA_VERSION):
            with db.transaction():
                # executescript would commit; run the statements one by one inside our transaction
                for statement in split_statements(MIGRATIONS[number]):
                    db.conn.execute(statement)
                broken = db.conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(f"upgrading {db.path} to schema {number + 1} would break "
                                     f"{len(broken)} references (e.g. {broken[0]}); nothing was changed")
                db.conn.execute(f"PRAGMA user_version = {number + 1}")
    finally:
        db.conn.execute("PRAGMA foreign_keys = ON")
