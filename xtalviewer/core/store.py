"""The SQLite store: plates, inspections, images, append-only annotations, models, predictions.

One ``Store`` is one connection; open one per thread or process. The database runs in WAL mode
with a busy timeout so the GUI, a predict run and a train run can share it, and every label is
committed (and synced) before ``add_annotation`` returns: a label acknowledged on screen is on disk.
``Store(path, readonly=True)`` is for commands that only read: it opens a database on a read-only
medium too. What may be opened, and the messages for a busy or read-only database, live in
``dbaccess``.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from xtalviewer.core.crystal_call import OperatingPoint, crystal_in_top3, crystal_probability
from xtalviewer.core.dbaccess import (
    BUSY_TIMEOUT_S,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
    busy_timeout_s,
    check_database_path,
    connect,
    explain,
)
from xtalviewer.core.labels import (
    DEFAULT_SCHEME,
    LabelScheme,
    SchemeError,
    find_scheme_file,
    load_scheme,
    load_scheme_file,
    scheme_document,
    scheme_from_document,
)
from xtalviewer.core.plates import PlateType
from xtalviewer.core.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["BUSY_TIMEOUT_S", "ImageRow", "PredictionRow", "Store", "StoreBusyError", "StoreError",
           "StoreReadOnlyError"]
SOURCES = ("human", "accepted-prediction", "import")
QUEUE_ORDERS = ("plate", "crystal", "margin", "entropy", "disagreement")


def now_iso() -> str:
    """UTC timestamp with milliseconds, the form every created_at column holds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ImageRow:
    """What the importers hand the store for one drop image."""

    inspection_id: int
    plate_id: int
    well: str
    row: int
    col: int
    drop_no: int
    path: str
    size: int | None
    mtime: float | None
    width: int | None
    height: int | None
    load_error: str | None = None


@dataclass(frozen=True)
class PredictionRow:
    """One model's output for one image: the full probability vector in scheme order."""

    image_id: int
    probs: Sequence[float]
    image_size: int | None = None
    image_mtime: float | None = None


_IMAGE_COLUMNS = ("inspection_id", "plate_id", "well", "row", "col", "drop_no", "path", "size", "mtime", "width",
                  "height", "load_error")
_CHANGING = ("path", "size", "mtime", "width", "height", "load_error")
_UPSERT_IMAGE = (
    f"INSERT INTO image({', '.join(_IMAGE_COLUMNS)}) VALUES ({', '.join('?' * len(_IMAGE_COLUMNS))}) "
    "ON CONFLICT(inspection_id, well, drop_no) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHANGING)
    + " WHERE " + " OR ".join(f"{c} IS NOT excluded.{c}" for c in _CHANGING)
)


def _image_values(r: ImageRow) -> tuple:
    return tuple(getattr(r, c) for c in _IMAGE_COLUMNS)


class Store:
    """An open xtalviewer database."""

    def __init__(self, path: str | Path, scheme: str | LabelScheme | None = None, *, create: bool = True,
                 readonly: bool = False, busy_timeout: float | None = None, allow_network: bool | None = None):
        """Open (or, with ``create`` and not ``readonly``, create) the database at ``path``.

        ``readonly`` opens for reading only, so a database on a read-only medium opens too.
        ``busy_timeout`` (seconds) defaults to XTALVIEWER_BUSY_TIMEOUT or 30; ``allow_network``
        to XTALVIEWER_ALLOW_NETWORK_DB (a network file system is refused otherwise).
        """
        self.path = Path(path)
        self.readonly = readonly
        self.busy_timeout = busy_timeout_s() if busy_timeout is None else busy_timeout
        if (readonly or not create) and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist")
        check_database_path(self.path, allow_network=allow_network)
        if readonly:
            self._upgrade_if_old(scheme, allow_network)
        else:
            # never open() the file ourselves: closing any descriptor of a database file drops the POSIX
            # locks SQLite holds on it in this process, and another process could then delete the WAL
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = connect(self.path, readonly=readonly, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise self._not_ours(exc) or self._explain(exc) or \
                StoreError(f"database {self.path} cannot be opened: {exc}") from None
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        try:
            self._configure()
            self._migrate()
            self.scheme = self._bind_scheme(scheme)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._not_ours(exc) or self._explain(exc) or \
                StoreError(f"database {self.path} cannot be used: {exc}") from None
        except Exception:
            conn.close()
            raise

    def _upgrade_if_old(self, scheme: str | LabelScheme | None, allow_network: bool | None) -> None:
        """A reader cannot migrate: an older database is upgraded by a short writing open first."""
        try:
            probe = connect(self.path, readonly=True, timeout=self.busy_timeout)
        except sqlite3.Error:
            return  # the real open says why
        try:
            version = probe.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            return
        finally:
            probe.close()
        if version < SCHEMA_VERSION:
            Store(self.path, scheme, busy_timeout=self.busy_timeout, allow_network=allow_network).close()

    def _not_ours(self, exc: sqlite3.Error) -> StoreError | None:
        if "not a database" in str(exc):
            return StoreError(f"{self.path} is not an xtalviewer database (it is not an SQLite file); nothing was changed")
        return None

    def _explain(self, exc: sqlite3.Error) -> StoreError | None:
        return explain(exc, self.path, timeout=self.busy_timeout, opened_read_only=self.readonly)

    # -- connection, migrations, scheme ---------------------------------------------------------

    def _configure(self) -> None:
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

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} was written by a newer xtalviewer (schema {version}, this one knows "
                f"up to {SCHEMA_VERSION}); upgrade xtalviewer to open it. Nothing was changed."
            )
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            raise StoreReadOnlyError(
                f"database {self.path} was written by an older xtalviewer (schema {version}) and must be upgraded, "
                "but it cannot be written here; open it once where it can be (a copy in a writable folder)"
            )
        if version == 0 and self.db.table_names():
            raise StoreError(f"{self.path} is an SQLite database but not an xtalviewer one; nothing was changed")
        if version > 0:
            self.backup(self.path.with_name(f"{self.path.name}.v{version}-{int(time.time())}.bak"))
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                # executescript would commit; run the statements one by one inside our transaction
                for statement in _split_sql(MIGRATIONS[number]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    def backup(self, target: str | Path) -> Path:
        """Copy the whole database (consistent, even while others write) to ``target``."""
        target = Path(target)
        dest = sqlite3.connect(str(target))
        try:
            self.conn.backup(dest)
        finally:
            dest.close()
        return target

    def _bind_scheme(self, scheme: str | LabelScheme | None) -> LabelScheme:
        """The database's label scheme. A new database stores the whole scheme, not only its id, so it
        opens on any computer, with or without the scheme file (``--scheme /path/mylab.json``)."""
        stored = self.get_meta("scheme")
        if isinstance(scheme, LabelScheme):
            wanted = scheme
        elif scheme or stored is None:
            wanted = load_scheme(scheme or DEFAULT_SCHEME)
        else:
            wanted = self._stored_scheme(stored)
        if stored is None:
            if self.readonly:
                return wanted
            with self.transaction():
                self.set_meta("scheme", wanted.id)
                self.set_meta("scheme_classes", json.dumps(wanted.keys))
                self.set_meta("scheme_doc", json.dumps(scheme_document(wanted)))
            return wanted
        if wanted.id != stored:
            raise StoreError(
                f"database {self.path} uses label scheme '{stored}', not '{wanted.id}'; "
                "open it without choosing a scheme, or use another database"
            )
        stored_keys = json.loads(self.get_meta("scheme_classes") or "[]")
        if stored_keys != wanted.keys:
            raise SchemeError(
                f"label scheme '{wanted.id}' ({wanted.path}) no longer matches database {self.path}: "
                f"the database has classes {stored_keys}, the file has {wanted.keys}"
            )
        if self.get_meta("scheme_doc") is None and not self.readonly:
            self._keep_scheme_copy(wanted)
        return wanted

    def _stored_scheme(self, scheme_id: str) -> LabelScheme:
        """The scheme a database was made with: its file when one with that id still matches (it may
        carry new colours or hotkeys), else the copy stored in the database."""
        stored_keys = json.loads(self.get_meta("scheme_classes") or "[]")
        doc = self.get_meta("scheme_doc")
        found = find_scheme_file(scheme_id)
        from_file = load_scheme_file(found) if found else None
        if from_file is not None and (doc is None or from_file.keys == stored_keys):
            return from_file
        if doc is not None:
            return scheme_from_document(json.loads(doc), scheme_id, f"{self.path} (stored copy)")
        return load_scheme(scheme_id)  # says which schemes it knows

    def _keep_scheme_copy(self, scheme: LabelScheme) -> None:
        """Store the scheme in a database made before schemes were stored; skipped while another writes."""
        try:
            with self.transaction():
                self.set_meta("scheme_doc", json.dumps(scheme_document(scheme)))
        except StoreError:
            pass

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: take the write lock up front so concurrent writers queue, not deadlock."""
        if self.conn.in_transaction:
            yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) or exc from None
        try:
            yield self.conn
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise self._explain(exc) or exc from None
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise self._explain(exc) or exc from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Sequence | dict = ()) -> list[dict]:
        return list(self.db.query(sql, params))

    # -- plates and inspections -----------------------------------------------------------------

    def upsert_plate(self, barcode: str, plate_type: PlateType) -> int:
        """Create the plate, or grow its recorded type to hold what a new inspection showed."""
        row = self.conn.execute("SELECT id, rows, cols, drops FROM plate WHERE barcode = ?", (barcode,)).fetchone()
        if row is None:
            cur = self.conn.execute(
                "INSERT INTO plate(barcode, rows, cols, drops, created_at) VALUES (?, ?, ?, ?, ?)",
                (barcode, plate_type.rows, plate_type.cols, plate_type.drops, now_iso()),
            )
            return cur.lastrowid
        pid, rows, cols, drops = row
        grown = (max(rows, plate_type.rows), max(cols, plate_type.cols), max(drops, plate_type.drops))
        if grown != (rows, cols, drops):
            self.conn.execute("UPDATE plate SET rows = ?, cols = ?, drops = ? WHERE id = ?", (*grown, pid))
        return pid

    def upsert_inspection(
        self,
        plate_id: int,
        key: str,
        *,
        imaged_at: str | None,
        imager: str | None,
        profile: str | None,
        layout: str,
        folder: str | None,
        meta: dict | None = None,
    ) -> tuple[int, bool]:
        """Return (inspection id, created?). The same key on the same plate is the same inspection."""
        row = self.conn.execute("SELECT id FROM inspection WHERE plate_id = ? AND key = ?", (plate_id, key)).fetchone()
        meta_json = json.dumps(meta, sort_keys=True) if meta else None
        if row:
            self.conn.execute(
                "UPDATE inspection SET imaged_at = COALESCE(?, imaged_at), imager = COALESCE(?, imager), "
                "profile = COALESCE(?, profile), folder = COALESCE(?, folder), meta = COALESCE(?, meta) WHERE id = ?",
                (imaged_at, imager, profile, folder, meta_json, row[0]),
            )
            return row[0], False
        cur = self.conn.execute(
            "INSERT INTO inspection(plate_id, key, imaged_at, imager, profile, layout, folder, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (plate_id, key, imaged_at, imager, profile, layout, folder, meta_json),
        )
        return cur.lastrowid, True

    def plate_by_barcode(self, barcode: str) -> dict | None:
        rows = self.query("SELECT * FROM plate WHERE barcode = ?", (barcode,))
        return rows[0] if rows else None

    def plates(self) -> list[dict]:
        return self.query("SELECT * FROM plate ORDER BY barcode")

    def inspections(self, plate_id: int) -> list[dict]:
        return self.query(
            "SELECT * FROM inspection WHERE plate_id = ? ORDER BY imaged_at, id", (plate_id,)
        )

    # -- images -----------------------------------------------------------------------------------

    def known_files(self, paths: Iterable[str]) -> dict[str, tuple[int | None, float | None, str | None]]:
        """(size, mtime, load_error) held for each of these paths, so an import can skip unchanged files."""
        out: dict[str, tuple[int | None, float | None, str | None]] = {}
        paths = list(paths)
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for path, size, mtime, error in self.conn.execute(
                f"SELECT path, size, mtime, load_error FROM image WHERE path IN ({marks})", chunk
            ):
                out[path] = (size, mtime, error)
        return out

    def slot_paths(self, barcode: str, inspection_key: str) -> dict[tuple[str, int], str]:
        """(well, drop) -> stored path for one inspection of a plate (empty when it is new)."""
        rows = self.conn.execute(
            "SELECT i.well, i.drop_no, i.path FROM image i JOIN inspection n ON n.id = i.inspection_id "
            "JOIN plate p ON p.id = i.plate_id WHERE p.barcode = ? AND n.key = ?", (barcode, inspection_key))
        return {(well, drop): path for well, drop, path in rows}

    def upsert_images(self, rows: Iterable[ImageRow]) -> tuple[int, int]:
        """Insert new drop images, refresh changed ones; returns (inserted, updated). Labels stay.

        A drop slot (inspection, well, drop) is an image's identity: re-importing a folder finds
        the same rows, and only rows whose file changed are written.
        """
        rows = list(rows)
        if not rows:
            return 0, 0
        inspections = sorted({r.inspection_id for r in rows})
        marks = ",".join("?" * len(inspections))
        count_sql = f"SELECT COUNT(*) FROM image WHERE inspection_id IN ({marks})"
        with self.transaction():
            before = self.conn.execute(count_sql, inspections).fetchone()[0]
            changes = self.conn.total_changes
            try:
                self.conn.executemany(_UPSERT_IMAGE, [_image_values(r) for r in rows])
            except sqlite3.IntegrityError:  # a path already recorded for another slot: keep the first
                for r in rows:
                    try:
                        self.conn.execute(_UPSERT_IMAGE, _image_values(r))
                    except sqlite3.IntegrityError:
                        pass
            written = self.conn.total_changes - changes
            inserted = self.conn.execute(count_sql, inspections).fetchone()[0] - before
        return inserted, written - inserted

    def image(self, image_id: int) -> dict | None:
        rows = self.query(
            "SELECT i.*, p.barcode, n.imaged_at, n.key AS inspection_key, n.imager FROM image i "
            "JOIN plate p ON p.id = i.plate_id JOIN inspection n ON n.id = i.inspection_id WHERE i.id = ?",
            (image_id,),
        )
        return rows[0] if rows else None

    def image_id_by_path(self, path: str) -> int | None:
        row = self.conn.execute("SELECT id FROM image WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def image_id_by_position(self, barcode: str, inspection_key: str, well: str, drop_no: int) -> int | None:
        row = self.conn.execute(
            "SELECT i.id FROM image i JOIN inspection n ON n.id = i.inspection_id JOIN plate p ON p.id = i.plate_id "
            "WHERE p.barcode = ? AND n.key = ? AND i.well = ? AND i.drop_no = ?",
            (barcode, inspection_key, well, drop_no),
        ).fetchone()
        return row[0] if row else None

    def mark_load_error(self, image_id: int, reason: str | None) -> None:
        """Record (or clear, with None) why an image cannot be decoded, so every view can say so."""
        with self.transaction():
            self.conn.execute("UPDATE image SET load_error = ? WHERE id = ?", (reason, image_id))

    def drop_images(self, plate_id: int, well: str, drop_no: int) -> list[dict]:
        """One drop across every inspection of its plate, oldest first: the drop's time course."""
        return self.query(
            "SELECT i.*, n.imaged_at, n.key AS inspection_key, n.profile FROM image i "
            "JOIN inspection n ON n.id = i.inspection_id "
            "WHERE i.plate_id = ? AND i.well = ? AND i.drop_no = ? ORDER BY n.imaged_at, n.id",
            (plate_id, well, drop_no),
        )

    # -- annotations ------------------------------------------------------------------------------

    def _check_label(self, label: str | None) -> None:
        if label is not None and label not in self.scheme.keys:
            raise ValueError(f"'{label}' is not a class of label scheme '{self.scheme.id}' {self.scheme.label_hint(label)}")

    def add_annotation(
        self,
        image_id: int,
        label: str | None,
        annotator: str,
        *,
        source: str = "human",
        prediction_id: int | None = None,
        shown: dict | list | None = None,
        lead_ms: int | None = None,
        reverts: int | None = None,
        created_at: str | None = None,
    ) -> int:
        """Append one label and commit it before returning; None as label clears the image's label."""
        return self.add_annotations(
            [dict(image_id=image_id, label=label, annotator=annotator, source=source, prediction_id=prediction_id,
                  shown=shown, lead_ms=lead_ms, reverts=reverts, created_at=created_at)]
        )[0]

    def add_annotations(self, items: Sequence[dict]) -> list[int]:
        """Append several labels in one transaction (multi-select labelling, imports)."""
        ids: list[int] = []
        with self.transaction():
            for it in items:
                label, source = it.get("label"), it.get("source", "human")
                self._check_label(label)
                if source not in SOURCES:
                    raise ValueError(f"annotation source must be one of {SOURCES}, not {source!r}")
                shown = it.get("shown")
                cur = self.conn.execute(
                    "INSERT INTO annotation(image_id, label, annotator, created_at, source, prediction_id, shown, "
                    "lead_ms, reverts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (it["image_id"], label, it["annotator"], it.get("created_at") or now_iso(), source,
                     it.get("prediction_id"), json.dumps(shown) if shown is not None else None, it.get("lead_ms"),
                     it.get("reverts")),
                )
                ids.append(cur.lastrowid)
        return ids

    def current_labels(self, image_ids: Sequence[int]) -> dict[int, str | None]:
        """image id -> current label (None when unlabelled) for images that exist."""
        out: dict[int, str | None] = {}
        ids = list(image_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.conn.execute(f"SELECT id, label FROM image WHERE id IN ({marks})", chunk).fetchall())
        return out

    def current_label(self, image_id: int) -> str | None:
        row = self.conn.execute("SELECT label FROM image WHERE id = ?", (image_id,)).fetchone()
        return row[0] if row else None

    def history(self, image_id: int) -> list[dict]:
        """Every annotation of an image, newest first, with what the model showed at the time."""
        rows = self.query("SELECT * FROM annotation WHERE image_id = ? ORDER BY id DESC", (image_id,))
        for r in rows:
            r["shown"] = json.loads(r["shown"]) if r["shown"] else None
        return rows

    # -- models -----------------------------------------------------------------------------------

    def add_model(
        self,
        *,
        name: str,
        arch: str,
        classes: Sequence[str],
        input_size: int,
        path: str,
        normalization: dict | None = None,
        run_id: str | None = None,
        metrics: dict | None = None,
        sha256: str | None = None,
        scheme: str | None = None,
        activate: bool = False,
        operating_point: OperatingPoint | None = None,
    ) -> int:
        """Register a trained checkpoint; it must classify into this database's label scheme."""
        scheme = scheme or self.scheme.id
        if scheme != self.scheme.id or list(classes) != self.scheme.keys:
            raise SchemeError(
                f"model '{name}' was trained for scheme '{scheme}' with classes {list(classes)}, but this database "
                f"uses '{self.scheme.id}' with classes {self.scheme.keys}"
            )
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO model(name, arch, scheme, classes, input_size, normalization, run_id, metrics, path, "
                "sha256, created_at, operating_point) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, arch, scheme, json.dumps(list(classes)), input_size,
                 json.dumps(normalization) if normalization else None, run_id,
                 json.dumps(metrics) if metrics is not None else None, path, sha256, now_iso(),
                 json.dumps(operating_point.to_dict()) if operating_point is not None else None),
            )
            model_id = cur.lastrowid
            if activate:
                self.activate_model(model_id)
        return model_id

    def _decode_model(self, row: dict) -> dict:
        for key in ("classes", "normalization", "metrics"):
            row[key] = json.loads(row[key]) if row.get(key) else None
        row["active"] = bool(row["active"])
        row["operating_point"] = OperatingPoint.from_dict(json.loads(row["operating_point"]) if row.get("operating_point") else None)
        return row

    def operating_point(self, model_id: int | None) -> OperatingPoint:
        """The model's crystal-call rule; the uncalibrated 50% rule for older or unknown models."""
        if model_id is None:
            return OperatingPoint()
        row = self.conn.execute("SELECT operating_point FROM model WHERE id = ?", (model_id,)).fetchone()
        return OperatingPoint.from_dict(json.loads(row[0]) if row and row[0] else None)

    def models(self) -> list[dict]:
        return [self._decode_model(r) for r in self.query("SELECT * FROM model ORDER BY id")]

    def model(self, model_id: int) -> dict | None:
        rows = self.query("SELECT * FROM model WHERE id = ?", (model_id,))
        return self._decode_model(rows[0]) if rows else None

    def active_model(self) -> dict | None:
        rows = self.query("SELECT * FROM model WHERE active = 1")
        return self._decode_model(rows[0]) if rows else None

    def activate_model(self, model_id: int) -> None:
        with self.transaction():
            if self.conn.execute("SELECT 1 FROM model WHERE id = ?", (model_id,)).fetchone() is None:
                raise StoreError(f"there is no model {model_id} in the registry")
            self.conn.execute("UPDATE model SET active = 0 WHERE active = 1")
            self.conn.execute("UPDATE model SET active = 1 WHERE id = ?", (model_id,))

    # -- predictions ------------------------------------------------------------------------------

    def _prediction_values(self, model_id: int, row: PredictionRow, created: str) -> tuple:
        probs = np.asarray(row.probs, dtype="<f4")
        if probs.shape != (len(self.scheme.keys),):
            raise ValueError(f"expected {len(self.scheme.keys)} probabilities, got {probs.shape}")
        order = np.argsort(-probs, kind="stable")[:3]
        keys = self.scheme.keys
        crystal = np.asarray(self.scheme.crystal_mask)
        top = [(keys[i], float(probs[i])) for i in order] + [(None, None)] * (3 - len(order))
        p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
        entropy = float(-(p * np.log(p)).sum() / math.log(len(keys)))
        margin = top[0][1] - (top[1][1] or 0.0)
        return (
            row.image_id, model_id, probs.tobytes(), top[0][0], top[0][1], top[1][0], top[1][1], top[2][0],
            top[2][1], float(crystal_probability(probs, crystal)), margin, entropy, int(crystal_in_top3(probs, crystal)),
            row.image_size, row.image_mtime, created,
        )

    def put_predictions(self, model_id: int, rows: Iterable[PredictionRow]) -> int:
        """Store (or replace) one model's predictions for a batch of images in one transaction."""
        created = now_iso()
        values = [self._prediction_values(model_id, r, created) for r in rows]
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO prediction(image_id, model_id, probs, top1, p1, top2, p2, top3, p3, crystal_prob, "
                "margin, entropy, crystal_top3, image_size, image_mtime, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(model_id, image_id) DO UPDATE SET probs = excluded.probs, top1 = excluded.top1, "
                "p1 = excluded.p1, top2 = excluded.top2, p2 = excluded.p2, top3 = excluded.top3, p3 = excluded.p3, "
                "crystal_prob = excluded.crystal_prob, margin = excluded.margin, entropy = excluded.entropy, "
                "crystal_top3 = excluded.crystal_top3, image_size = excluded.image_size, "
                "image_mtime = excluded.image_mtime, created_at = excluded.created_at",
                values,
            )
        return len(values)

    def prediction(self, image_id: int, model_id: int) -> dict | None:
        rows = self.query("SELECT * FROM prediction WHERE image_id = ? AND model_id = ?", (image_id, model_id))
        if not rows:
            return None
        row = rows[0]
        row["probs"] = np.frombuffer(row["probs"], dtype="<f4").tolist()
        return row

    # -- review queue -----------------------------------------------------------------------------

    def review_queue(
        self,
        model_id: int | None,
        order: str = "plate",
        *,
        plate_id: int | None = None,
        inspection_id: int | None = None,
        unlabelled_only: bool = False,
        label: str | None = None,
        predicted: str | None = None,
        crystal_top3: bool | None = None,
        hit: bool | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Drops to review, in one of QUEUE_ORDERS, filtered; each row carries what the grid shows.

        ``hit`` keeps only the model's hits (crystal probability at or above its operating-point
        threshold), or only the drops that are not; ``crystal_top3`` does the same for the top-3 flag.

        Orders that rank by the model walk the prediction indexes, so the global top 100 of half a
        million images comes back without sorting them all. Images the model has not scored yet come
        after the scored ones (none, for the disagreement order, which needs a prediction).
        """
        if order not in QUEUE_ORDERS:
            raise ValueError(f"unknown review order {order!r}; choose from {', '.join(QUEUE_ORDERS)}")
        where, params = ["1 = 1"], {"model": model_id}
        if plate_id is not None:
            where.append("i.plate_id = :plate")
            params["plate"] = plate_id
        if inspection_id is not None:
            where.append("i.inspection_id = :inspection")
            params["inspection"] = inspection_id
        if unlabelled_only:
            where.append("i.label IS NULL")
        if label is not None:
            where.append("i.label = :label")
            params["label"] = label
        columns = (
            "i.id, i.plate_id, i.inspection_id, i.well, i.row, i.col, i.drop_no, i.path, i.label, i.load_error, "
            "p.id AS prediction_id, p.top1, p.p1, p.top2, p.p2, p.top3, p.p3, p.crystal_prob, p.margin, "
            "p.entropy, p.crystal_top3"
        )
        pred_where = list(where)
        if predicted is not None:
            pred_where.append("p.top1 = :predicted")
            params["predicted"] = predicted
        if crystal_top3 is not None:
            pred_where.append("p.crystal_top3 = :ctop3")
            params["ctop3"] = int(crystal_top3)
        if hit is not None:
            pred_where.append("p.crystal_prob >= :threshold" if hit else "p.crystal_prob < :threshold")
            params["threshold"] = self.operating_point(model_id).threshold
        if order == "disagreement":
            pred_where.append("i.label IS NOT NULL AND i.label != p.top1")
        needs_prediction = predicted is not None or crystal_top3 is not None or hit is not None or order == "disagreement"
        lim = f" LIMIT {int(limit)}" if limit is not None else ""

        if order == "plate" or model_id is None:
            if needs_prediction and model_id is None:
                return []
            join = "JOIN" if needs_prediction else "LEFT JOIN"
            sql = (
                f"SELECT {columns} FROM image i {join} prediction p ON p.image_id = i.id AND p.model_id = :model "
                f"WHERE {' AND '.join(pred_where)} ORDER BY i.plate_id, i.inspection_id, i.row, i.col, i.drop_no{lim}"
            )
            return self.query(sql, params)

        sort = {
            "crystal": "p.crystal_prob DESC",
            "margin": "p.margin ASC",
            "entropy": "p.entropy DESC",
            "disagreement": "p.crystal_prob DESC",
        }[order]
        # across the whole store, walk the prediction index in order (CROSS JOIN fixes the loop
        # order); within one plate, start from the plate's images and sort the few thousand rows
        join = "JOIN" if plate_id is not None or inspection_id is not None else "CROSS JOIN"
        sql = (
            f"SELECT {columns} FROM prediction p {join} image i ON i.id = p.image_id "
            f"WHERE p.model_id = :model AND {' AND '.join(pred_where)} ORDER BY {sort}, p.image_id{lim}"
        )
        rows = self.query(sql, params)
        if needs_prediction or (limit is not None and len(rows) >= limit):
            return rows
        rest = None if limit is None else limit - len(rows)
        sql = (
            f"SELECT {columns} FROM image i LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model "
            f"WHERE p.id IS NULL AND {' AND '.join(where)} "
            f"ORDER BY i.plate_id, i.inspection_id, i.row, i.col, i.drop_no"
            + (f" LIMIT {rest}" if rest is not None else "")
        )
        return rows + self.query(sql, params)

    # -- summaries ------------------------------------------------------------------------------

    def _count_columns(self, model_id: int | None) -> tuple[str, list]:
        """SQL aggregate columns over images i (and their prediction p) shared by the summaries, and
        their parameters: hits count at the model's operating-point threshold."""
        crystal = sorted(self.scheme.crystal_keys)
        marks = ",".join("?" * len(crystal))
        columns = (f"COUNT(i.id) AS images, SUM(i.label IS NOT NULL) AS labelled, "
                   f"SUM(i.label IN ({marks})) AS crystal_labels, SUM(i.load_error IS NOT NULL) AS unreadable, "
                   "SUM(p.crystal_prob >= ?) AS predicted_hits, SUM(p.crystal_top3 = 1) AS crystal_top3, "
                   "COUNT(p.id) AS predicted")
        return columns, [*crystal, self.operating_point(model_id).threshold]

    def plate_summaries(self, model_id: int | None = None) -> list[dict]:
        """Per plate: inspections, drops, reviewed (labelled) drops, crystal labels, predicted hits
        (crystal probability at the model's operating point) and drops with a crystal class in its top 3."""
        columns, crystal = self._count_columns(model_id)
        return self.query(
            f"""
            SELECT pl.id, pl.barcode, pl.rows, pl.cols, pl.drops,
                   (SELECT COUNT(*) FROM inspection n WHERE n.plate_id = pl.id) AS inspections, {columns}
            FROM plate pl
            LEFT JOIN image i ON i.plate_id = pl.id
            LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = ?
            GROUP BY pl.id ORDER BY pl.barcode
            """,
            (*crystal, model_id),
        )

    def inspection_summaries(self, model_id: int | None = None) -> list[dict]:
        """Per inspection, for the plate browser: drops, reviewed, crystal labels, predicted hits."""
        columns, crystal = self._count_columns(model_id)
        return self.query(
            f"""
            SELECT n.id, n.plate_id, pl.barcode, n.key, n.imaged_at, n.imager, n.profile, {columns}
            FROM inspection n
            JOIN plate pl ON pl.id = n.plate_id
            LEFT JOIN image i ON i.inspection_id = n.id
            LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = ?
            GROUP BY n.id ORDER BY pl.barcode, n.imaged_at, n.id
            """,
            (*crystal, model_id),
        )

    def inherited_labels(self, inspection_id: int) -> dict[int, tuple[str, str]]:
        """Unlabelled drops of an inspection whose drop was labelled at an earlier inspection:
        image id -> (that label, when it was imaged). The app shows these as inherited until confirmed."""
        rows = self.conn.execute(
            """
            SELECT cur.id, prev.label, pn.imaged_at
            FROM image cur
            JOIN inspection cn ON cn.id = cur.inspection_id
            JOIN image prev ON prev.plate_id = cur.plate_id AND prev.row = cur.row AND prev.col = cur.col
                AND prev.drop_no = cur.drop_no
            JOIN inspection pn ON pn.id = prev.inspection_id
            WHERE cur.inspection_id = ? AND cur.label IS NULL AND prev.label IS NOT NULL
              AND (pn.imaged_at < cn.imaged_at OR (pn.imaged_at = cn.imaged_at AND pn.id < cn.id))
            ORDER BY pn.imaged_at, pn.id
            """,
            (inspection_id,),
        ).fetchall()
        return {image_id: (label, imaged_at) for image_id, label, imaged_at in rows}  # latest earlier one wins

    def hit_counts(self, model_id: int, plate_id: int | None = None) -> dict:
        """The model's crystal calls: scored drops, hits at its operating point, drops with a crystal
        class in the top 3 (over one plate, or all)."""
        scope, params = ("AND i.plate_id = ?", [plate_id]) if plate_id is not None else ("", [])
        row = self.conn.execute(
            f"SELECT COUNT(*), SUM(p.crystal_prob >= ?), SUM(p.crystal_top3) FROM prediction p JOIN image i "
            f"ON i.id = p.image_id WHERE p.model_id = ? {scope}",
            [self.operating_point(model_id).threshold, model_id, *params]).fetchone()
        return {"scored": row[0], "hits": row[1] or 0, "crystal_top3": row[2] or 0}

    def image_counts(self, plate_id: int | None = None) -> tuple[int, int]:
        """(images, images marked unreadable), over one plate or all."""
        scope = (" WHERE plate_id = ?", (plate_id,)) if plate_id is not None else ("", ())
        total, marked = self.conn.execute(f"SELECT COUNT(*), SUM(load_error IS NOT NULL) FROM image{scope[0]}",
                                          scope[1]).fetchone()
        return total, marked or 0

    def labelled_images(self, sources: Sequence[str]) -> list[dict]:
        """Readable images whose current label came from one of ``sources``: the training set."""
        marks = ",".join("?" * len(sources))
        return self.query(
            f"""SELECT i.id, i.path, i.mtime, i.label, p.barcode, i.well, i.drop_no
                FROM image i JOIN annotation a ON a.id = i.annotation_id JOIN plate p ON p.id = i.plate_id
                WHERE i.label IS NOT NULL AND i.load_error IS NULL AND a.source IN ({marks})
                ORDER BY i.id""", list(sources))

    def image_with_plate(self, path: str) -> dict | None:
        """The image stored at ``path`` with its plate's barcode, or None."""
        rows = self.query("SELECT i.id, i.path, i.mtime, p.barcode, i.well, i.drop_no FROM image i "
                          "JOIN plate p ON p.id = i.plate_id WHERE i.path = ?", (path,))
        return rows[0] if rows else None

    def count_unreadable_labelled(self) -> int:
        """Labelled images marked unreadable: training leaves them out and says how many."""
        return self.conn.execute("SELECT COUNT(*) FROM image WHERE label IS NOT NULL AND load_error IS NOT NULL").fetchone()[0]

    def label_counts(self) -> dict[str | None, int]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT label, COUNT(*) FROM image GROUP BY label ORDER BY label")}


def _split_sql(script: str) -> list[str]:
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

