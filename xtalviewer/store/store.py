"""``Store``: the one object callers hold, an open xtalviewer database with every store function as
a method. Opening it checks the file, migrates the schema (after a backup) and binds the label
scheme; each method is a function of the concept module named beside it, whose first parameter is
the ``db.Database`` a Store is, so callers write ``store.review_queue(...)`` and a reader finds the
SQL one jump away.

One ``Store`` is one connection; open one per thread or process. The database runs in WAL mode
with a busy timeout so the GUI, a predict run and a train run can share it, and every label is
committed (and synced) before ``add_annotation`` returns: a label acknowledged on screen is on disk.
``Store(path, readonly=True)`` is for commands that only read: it opens a database on a read-only
medium too. What may be opened, and the messages for a busy or read-only database, live in ``db``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

import sqlite_utils

from xtalviewer.files.image_roots import RootMap
from xtalviewer.labels import LabelScheme
from xtalviewer.settings import image_roots_here
from xtalviewer.store import (annotations, counts, exports, hits, image_roots, images, models, plates, predictions,
                              queue, schema, screens)
from xtalviewer.store.annotations import SOURCES
from xtalviewer.store.db import (
    BUSY_TIMEOUT_S,
    Database,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
    busy_timeout_s,
    check_database_path,
    connect,
    now_iso,
)
from xtalviewer.store.inputs import AnnotationRow, ImageRow, PredictionRow
from xtalviewer.store.location import Location, location_of
from xtalviewer.store.queue import QUEUE_ORDERS
from xtalviewer.store.reconnect import reconnecting
from xtalviewer.store.scheme_binding import bind_scheme

__all__ = ["BUSY_TIMEOUT_S", "QUEUE_ORDERS", "SOURCES", "AnnotationRow", "ImageRow", "PredictionRow", "Store",
           "StoreBusyError", "StoreError", "StoreReadOnlyError", "now_iso"]


class Store(Database):
    """An open xtalviewer database. Its connection-level methods (``transaction``, ``backup``,
    ``query`` ...) are ``Database``'s; the rest are the concept modules' functions, listed below."""

    roots: RootMap  # stored image paths <-> this workstation's (``files.image_roots``)

    def __init__(self, path: str | Path | Location, scheme: str | LabelScheme | None = None, *, create: bool = True,
                 readonly: bool = False, busy_timeout: float | None = None, allow_network: bool | None = None,
                 roots: Mapping[str, str] | None = None):
        """Open (or, with ``create`` and not ``readonly``, create) the database at ``path``: an SQLite
        file, or a ``postgresql://`` URL (``location.Location``) whose database exists on the server
        (``create`` then makes the store's tables in it).

        ``readonly`` opens for reading only, so a database on a read-only medium opens too.
        ``busy_timeout`` (seconds) defaults to XTALVIEWER_BUSY_TIMEOUT or 30; ``allow_network``
        to XTALVIEWER_ALLOW_NETWORK_DB (a network file system is refused otherwise). ``roots`` maps
        the store's image roots to folders here (name -> folder); default: this workstation's
        settings and XTALVIEWER_IMAGE_ROOTS (``settings.image_roots_here``).
        """
        self.roots = RootMap()
        self._root_mapping = image_roots_here() if roots is None else dict(roots)
        self.upgraded_from: int | None = None  # an older schema read through an upgraded copy in memory
        busy_timeout = busy_timeout_s() if busy_timeout is None else busy_timeout
        location = location_of(path)
        if location.is_server:
            self._open_server(location, scheme, create=create, readonly=readonly, busy_timeout=busy_timeout)
            return
        path = location.path
        if (readonly or not create) and not path.exists():
            raise StoreError(f"database {path} does not exist")
        check_database_path(path, allow_network=allow_network)
        if readonly:
            _upgrade_if_old(path, scheme, busy_timeout, allow_network)
        else:
            # never open() the file ourselves: closing any descriptor of a database file drops the POSIX
            # locks SQLite holds on it in this process, and another process could then delete the WAL
            path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, readonly=readonly, busy_timeout=busy_timeout)
        try:
            self.configure()
            if readonly and 0 < self.schema_version < schema.SCHEMA_VERSION:
                self._read_upgraded_copy()
            schema.migrate(self)
            self.scheme = bind_scheme(self, scheme)
            self.roots = image_roots.root_map(self, self._root_mapping)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise self.not_ours(exc) or self.explain(exc) or \
                StoreError(f"database {self.location} cannot be used: {exc}") from None
        except Exception:
            self.conn.close()
            raise

    def _open_server(self, location: Location, scheme: str | LabelScheme | None, *, create: bool, readonly: bool,
                     busy_timeout: float) -> None:
        """The PostgreSQL side of opening: the server keeps several workstations apart, so there is no
        file to check; a reader of an older schema has it upgraded by a short writing open first."""
        from xtalviewer.store.postgres import POSTGRES

        super().__init__(location, readonly=readonly, busy_timeout=busy_timeout, engine=POSTGRES)
        try:
            self.configure()
            version = self.schema_version
            if version == 0 and (readonly or not create):
                raise StoreError(f"database {location} holds no xtalviewer store yet (import plates into it, or copy "
                                 "one in with `xtalviewer db copy`)")
            if readonly and version < schema.SCHEMA_VERSION:
                Store(location, scheme, busy_timeout=busy_timeout, roots=self._root_mapping).close()
            schema.migrate(self)
            self.scheme = bind_scheme(self, scheme)
            self.roots = image_roots.root_map(self, self._root_mapping)
        except BaseException:
            self.conn.close()
            raise

    def _read_upgraded_copy(self) -> None:
        """An older database that could not be upgraded where it is (``_upgrade_if_old``: a read-only
        medium): read it through a copy in memory brought to the current schema, so the commands that
        only read answer; the file is never written. The copy costs memory as large as the file."""
        self.upgraded_from = self.schema_version
        copy = sqlite3.connect(":memory:", isolation_level=None)
        try:
            self.conn.backup(copy)
        except BaseException:
            copy.close()
            raise
        self.conn.close()
        self.conn = copy
        self.sqlite_utils = sqlite_utils.Database(copy, execute_plugins=False)
        self.readonly = False  # the copy may be migrated ...
        try:
            schema.migrate(self, backup=False)
        finally:
            self.readonly = True
        copy.execute("PRAGMA query_only = ON")  # ... and nothing else: a write fails as on the medium

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_annotation(self, image_id: int, label: str | None, annotator: str, *, source: str = "human",
                       prediction_id: int | None = None, shown: dict | list | None = None, lead_ms: int | None = None,
                       reverts: int | None = None, created_at: str | None = None) -> int:
        """Append one label and commit it before returning; None as label clears the image's label."""
        return annotations.add_annotations(self, [AnnotationRow(image_id, label, annotator, source, prediction_id,
                                                                shown, lead_ms, reverts, created_at)])[0]

    def map_image_roots(self, mapping: Mapping[str, str]) -> None:
        """Find the image roots in other folders from now on (Preferences changed this workstation's
        mapping): rows read after this carry paths through ``mapping``."""
        self._root_mapping = dict(mapping)
        self.roots = image_roots.root_map(self, self._root_mapping)

    # -- plates and inspections (plates.py) --------------------------------------------------------------
    upsert_plate = plates.upsert_plate
    upsert_inspection = plates.upsert_inspection
    plate_by_barcode = plates.plate_by_barcode
    barcodes = plates.barcodes
    plate_ids = plates.plate_ids
    has_plates = plates.has_plates
    inspections = plates.inspections
    inspection = plates.inspection
    inspection_choices = plates.inspection_choices
    inspection_modes = plates.inspection_modes
    plates = plates.plates  # last: from here on ``plates`` in this class body is the method

    # -- drop images and time courses (images.py) ----------------------------------------------------------
    upsert_images = images.upsert_images
    mark_load_error = images.mark_load_error
    image = images.image
    image_id_by_path = images.image_id_by_path
    image_id_by_position = images.image_id_by_position
    position_paths = images.position_paths
    inspection_of_image = images.inspection_of_image
    inspections_of_images = images.inspections_of_images
    same_drop = images.same_drop
    drop_modes = images.drop_modes
    drop_images = images.drop_images
    drop_course = images.drop_course
    known_files = images.known_files
    slot_paths = images.slot_paths
    image_ids = images.image_ids
    image_paths = images.image_paths
    image_path_under = images.image_path_under
    image_counts = images.image_counts
    image_with_plate = images.image_with_plate

    # -- named image roots (image_roots.py) ---------------------------------------------------------------
    define_image_root = image_roots.define_root
    adopt_image_paths = image_roots.adopt_paths
    images_under_no_root = image_roots.images_under_no_root
    defined_image_roots = image_roots.defined_roots
    image_roots = image_roots.image_roots  # last: from here on ``image_roots`` in this class body is the method

    # -- labels, second looks, reviewers (annotations.py) ----------------------------------------------------
    add_annotations = annotations.add_annotations
    add_flags = annotations.add_flags
    current_label = annotations.current_label
    current_labels = annotations.current_labels
    labelled_images = annotations.labelled_images
    inherited_labels = annotations.inherited_labels
    count_unreadable_labelled = annotations.count_unreadable_labelled
    history = annotations.history
    flags = annotations.flags
    drop_history = annotations.drop_history
    reviewer_labels = annotations.reviewer_labels
    judged_label_count = annotations.judged_label_count

    # -- the model registry (models.py) -------------------------------------------------------------------------
    add_model = models.add_model
    activate_model = models.activate_model
    operating_point = models.operating_point
    model = models.model
    active_model = models.active_model
    models = models.models  # last: from here on ``models`` in this class body is the method

    # -- predictions and the scoring work list (predictions.py) -----------------------------------------------
    put_predictions = predictions.put_predictions
    prediction = predictions.prediction
    prediction_count = predictions.prediction_count
    unscored_images = predictions.unscored_images

    # -- hits: counts, best over time, the hit list (hits.py) ----------------------------------------------------
    hit_counts = hits.hit_counts
    best_over_time = hits.best_over_time
    ever_hit_counts = hits.ever_hit_counts
    hit_list = hits.hit_list

    # -- the review queue (queue.py) ------------------------------------------------------------------------------
    review_queue = queue.review_queue

    # -- summaries and what the plots count (counts.py) ------------------------------------------------------------
    plate_summaries = counts.plate_summaries
    inspection_summaries = counts.inspection_summaries
    label_counts = counts.label_counts
    plate_label_counts = counts.plate_label_counts
    label_vs_prediction = counts.label_vs_prediction
    inspection_drops = counts.inspection_drops

    # -- the export CSV and report facts (exports.py) -------------------------------------------------------------
    export_rows_raw = exports.export_rows_raw
    report_drops = exports.report_drops
    annotator_summary = exports.annotator_summary

    # -- screens, their conditions, which plate has which (screens.py) -------------------------------------------
    add_screen = screens.add_screen
    screen = screens.screen
    screen_conditions = screens.screen_conditions
    plate_screen = screens.plate_screen
    plate_screens = screens.plate_screens
    assign_screen = screens.assign_screen
    add_screen_rule = screens.add_screen_rule
    remove_screen_rule = screens.remove_screen_rule
    screen_rules = screens.screen_rules
    settle_plate_screens = screens.settle_plate_screens
    plate_conditions = screens.plate_conditions
    conditions_by_well = screens.conditions_by_well
    well_outcomes = screens.well_outcomes
    screens = screens.screens  # last: from here on ``screens`` in this class body is the method


def _upgrade_if_old(path: Path, scheme: str | LabelScheme | None, busy_timeout: float,
                    allow_network: bool | None) -> None:
    """A reader cannot migrate: an older database is upgraded by a short writing open first."""
    try:
        probe = connect(path, readonly=True, timeout=busy_timeout)
    except sqlite3.Error:
        return  # the real open says why
    try:
        version = probe.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return
    finally:
        probe.close()
    if version < schema.SCHEMA_VERSION:
        try:
            Store(path, scheme, busy_timeout=busy_timeout, allow_network=allow_network).close()
        except StoreReadOnlyError:
            pass  # a read-only medium: the reader reads an upgraded copy in memory (``_read_upgraded_copy``)


# -- surviving a dropped server connection (reconnect.py) ----------------------------------------------------
# The review's calls reconnect and run again when the server connection broke: its small writes
# (a label read back by its transaction if it committed before the break, never written twice)
# and the reads its window makes. Imports, predict and copies run in long transactions of their
# own and report a lost connection instead.

def _annotation_ids(db: Database, xid: int, *_args: object, **_kwargs: object) -> list[int]:
    return db.engine.rows_written_by(db, "annotation", xid)


def _first_annotation_id(db: Database, xid: int, *_args: object, **_kwargs: object) -> int:
    return db.engine.rows_written_by(db, "annotation", xid)[0]


def _flag_ids(db: Database, xid: int, *_args: object, **_kwargs: object) -> list[int]:
    return db.engine.rows_written_by(db, "flag", xid)


REVIEW_WRITES = {"add_annotation": _first_annotation_id, "add_annotations": _annotation_ids, "add_flags": _flag_ids,
                 "mark_load_error": None, "activate_model": None}
REVIEW_READS = (
    "plates", "inspections", "inspection", "inspection_choices", "inspection_modes", "plate_summaries",
    "inspection_summaries", "review_queue", "image", "same_drop", "drop_modes", "drop_images", "drop_course",
    "inspection_of_image", "current_label", "current_labels", "inherited_labels", "history", "flags", "drop_history",
    "best_over_time", "hit_counts", "operating_point", "model", "models", "active_model", "prediction",
    "plate_conditions", "plate_screen", "label_counts",
)
for _name, _written in {**REVIEW_WRITES, **dict.fromkeys(REVIEW_READS)}.items():
    setattr(Store, _name, reconnecting(getattr(Store, _name), written=_written))
del _name, _written
