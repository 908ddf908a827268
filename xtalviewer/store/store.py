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
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from xtalviewer.crystal_call import OperatingPoint, crystal_in_top3, crystal_probability
from xtalviewer.files.parts import new_part, sweep_dead_parts, sync_file
from xtalviewer.store.db import (
    BUSY_TIMEOUT_S,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
    busy_timeout_s,
    check_database_path,
    connect,
    explain,
)
from xtalviewer.labels import LabelScheme, SchemeError
from xtalviewer.plates import PlateType
from xtalviewer.store.queries import QUEUE_ORDERS  # noqa: F401  (re-exported)
from xtalviewer.store.store_queries import QueryMethods
from xtalviewer.store.records import ImageRow, PredictionRow
from xtalviewer.store.schema import MIGRATIONS, SCHEMA_VERSION, split_statements
from xtalviewer.store.scheme_binding import bind_scheme

__all__ = ["BUSY_TIMEOUT_S", "ImageRow", "PredictionRow", "Store", "StoreBusyError", "StoreError",
           "StoreReadOnlyError"]
SOURCES = ("human", "accepted-prediction", "import")


def now_iso() -> str:
    """UTC timestamp with milliseconds, the form every created_at column holds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


_IMAGE_COLUMNS = ("inspection_id", "plate_id", "well", "row", "col", "drop_no", "mode", "path", "size", "mtime",
                  "width", "height", "load_error")
_CHANGING = ("path", "size", "mtime", "width", "height", "load_error")
_UPSERT_IMAGE = (
    f"INSERT INTO image({', '.join(_IMAGE_COLUMNS)}) VALUES ({', '.join('?' * len(_IMAGE_COLUMNS))}) "
    "ON CONFLICT(inspection_id, well, drop_no, mode) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHANGING)
    + " WHERE " + " OR ".join(f"{c} IS NOT excluded.{c}" for c in _CHANGING)
)


def _image_values(r: ImageRow) -> tuple:
    return tuple(getattr(r, c) for c in _IMAGE_COLUMNS)


class Store(QueryMethods):
    """An open xtalviewer database; its read-only queries come from ``QueryMethods``."""

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
            self.scheme = bind_scheme(self, scheme)
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
        # a migration may rebuild a table others refer to (SQLite's way to change a constraint):
        # foreign keys are off while it runs, and checked before each migration commits
        self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            for number in range(version, SCHEMA_VERSION):
                with self.transaction():
                    # executescript would commit; run the statements one by one inside our transaction
                    for statement in split_statements(MIGRATIONS[number]):
                        self.conn.execute(statement)
                    broken = self.conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"upgrading {self.path} to schema {number + 1} would break "
                                         f"{len(broken)} references (e.g. {broken[0]}); nothing was changed")
                    self.conn.execute(f"PRAGMA user_version = {number + 1}")
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")

    def backup(self, target: str | Path) -> Path:
        """Copy the whole database (consistent, even while others write) to ``target``: into a part
        file renamed onto ``target`` once whole and synced, so a copy killed halfway never leaves a
        ``.bak`` that reads as an empty database; the next backup in the folder removes that part."""
        target = Path(target)
        sweep_dead_parts(target.parent)
        part = new_part(target)
        try:
            dest = sqlite3.connect(str(part))
            try:
                dest.execute("PRAGMA journal_mode = OFF")  # a part is whole or thrown away: no journal beside it
                self.conn.backup(dest)
            finally:
                dest.close()
            sync_file(part)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return target

    def optimize(self) -> None:
        """Refresh the query planner's statistics and fold the write-ahead log into the file (after a
        bulk load, as ``bench/store.py`` and a big import do)."""
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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

    # -- images -----------------------------------------------------------------------------------

    def upsert_images(self, rows: Iterable[ImageRow]) -> tuple[int, int]:
        """Insert new drop images, refresh changed ones; returns (inserted, updated). Labels stay.

        A drop slot (inspection, well, drop, imaging mode) is an image's identity: re-importing a folder finds
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

    def mark_load_error(self, image_id: int, reason: str | None) -> None:
        """Record (or clear, with None) why an image cannot be decoded, so every view can say so."""
        with self.transaction():
            self.conn.execute("UPDATE image SET load_error = ? WHERE id = ?", (reason, image_id))

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

    def add_flags(self, image_ids: Sequence[int], flagged: bool, annotator: str, *, note: str | None = None,
                  created_at: str | None = None) -> list[int]:
        """Mark drops as needing a second look (or clear the mark), in one transaction. Append-only:
        the newest event of an image is its state, and the history shows every one."""
        with self.transaction():
            return [self.conn.execute(
                "INSERT INTO flag(image_id, flagged, note, annotator, created_at) VALUES (?, ?, ?, ?, ?)",
                (image_id, int(bool(flagged)), (note or "").strip() or None, annotator, created_at or now_iso()),
            ).lastrowid for image_id in image_ids]

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
        mode: str = "visible",
    ) -> int:
        """Register a trained checkpoint; it must classify into this database's label scheme.
        ``mode``: the imaging mode whose images it scores (visible unless trained on UV or SHG)."""
        scheme = scheme or self.scheme.id
        if scheme != self.scheme.id or list(classes) != self.scheme.keys:
            raise SchemeError(
                f"model '{name}' was trained for scheme '{scheme}' with classes {list(classes)}, but this database "
                f"uses '{self.scheme.id}' with classes {self.scheme.keys}"
            )
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO model(name, arch, scheme, classes, input_size, normalization, run_id, metrics, path, "
                "sha256, created_at, operating_point, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, arch, scheme, json.dumps(list(classes)), input_size,
                 json.dumps(normalization) if normalization else None, run_id,
                 json.dumps(metrics) if metrics is not None else None, path, sha256, now_iso(),
                 json.dumps(operating_point.to_dict()) if operating_point is not None else None, mode),
            )
            model_id = cur.lastrowid
            if activate:
                self.activate_model(model_id)
        return model_id

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
        if not np.isfinite(probs).all():  # SQLite would store NaN as NULL: a prediction that says nothing
            raise ValueError(f"image {row.image_id}: its probabilities are not a number (NaN) or infinite; "
                             "only real probabilities are stored")
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
