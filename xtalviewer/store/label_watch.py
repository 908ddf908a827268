"""Live labels between workstations: what other reviewers labelled since the last look, and a model
activated elsewhere, for a window to poll (every half second, off its GUI thread) without Qt and
without re-reading its queue.

Asking costs next to nothing when nothing changed: on SQLite, ``PRAGMA data_version`` (a counter
that moves when another connection commits to the file); on PostgreSQL, the notifications already
on the connection's socket (``LISTEN``: every store that appends labels or second looks sends
``NOTIFY xtalviewer_labels`` in the same transaction, delivered when it commits; so does activating
a model). Only then are the
new annotations and flags read, by id after the last ones seen (append-only tables), looking back
the engine's ``commit_lookback`` ids because on a server two transactions may commit out of id order
(none on a file: one writer at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

from xtalviewer.store.db import Database

CHANNEL = "xtalviewer_labels"


@dataclass(slots=True)
class LabelEvent:
    """A label (``flagged`` None) or a second-look mark (``flagged`` True/False) committed by a reviewer."""

    image_id: int
    label: str | None
    annotator: str
    created_at: str
    flagged: bool | None = None


@dataclass(slots=True)
class DropPlace:
    """Where a labelled image is, for the window's note (\"bob labelled LW1 B4 drop 1: Needles\")."""

    inspection_id: int
    barcode: str
    well: str
    drop_no: int


@dataclass(slots=True)
class LiveNews:
    """What changed since the previous look: the events, oldest first; each labelled image's label now
    (the store's, whichever commit was last) and place; and the model made active, when that changed."""

    events: list[LabelEvent]
    labels_now: dict[int, str | None]
    places: dict[int, DropPlace]
    model_activated: int | None = None

    def __bool__(self) -> bool:
        return bool(self.events) or self.model_activated is not None


def announce(db: Database) -> None:
    """Inside a transaction that appends labels or flags, or activates a model: tell the watching
    workstations."""
    db.engine.announce(db, CHANNEL)


def _active_model_id(db: Database) -> int | None:
    row = db.execute("SELECT id FROM model WHERE active = 1").fetchone()
    return row[0] if row else None


def _places(db: Database, image_ids: list[int]) -> tuple[dict[int, str | None], dict[int, DropPlace]]:
    labels: dict[int, str | None] = {}
    places: dict[int, DropPlace] = {}
    for image_id, label, inspection_id, barcode, well, drop_no in db.select_in(
            "SELECT i.id, i.label, i.inspection_id, p.barcode, i.well, i.drop_no FROM image i "
            "JOIN plate p ON p.id = i.plate_id WHERE i.id IN ({marks})", image_ids):
        labels[image_id] = label
        places[image_id] = DropPlace(inspection_id, barcode, well, drop_no)
    return labels, places


class _NewRows:
    """The rows of an append-only table with ids not seen yet."""

    def __init__(self, db: Database, table: str, columns: str):
        self.db, self.table, self.columns = db, table, columns
        self.lookback = db.engine.commit_lookback  # ids before the newest seen that are read again
        self.newest = db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        self.seen = {r[0] for r in db.execute(f"SELECT id FROM {table} WHERE id > ?", (self.newest - self.lookback,))}

    def read(self) -> list[tuple]:
        rows = [r for r in self.db.execute(f"SELECT id, {self.columns} FROM {self.table} WHERE id > ? ORDER BY id",
                                           (self.newest - self.lookback,)).fetchall() if r[0] not in self.seen]
        self.seen.update(r[0] for r in rows)
        if rows:
            self.newest = max(self.newest, rows[-1][0])
        self.seen = {i for i in self.seen if i > self.newest - self.lookback}
        return rows


class LabelWatch:
    """Watches through a connection of its own: ``LabelWatch(Store(location, readonly=True))`` (it
    closes it). ``poll`` returns the labels and second looks committed since the previous call (by
    anyone, this workstation included), oldest first."""

    def __init__(self, store: Database):
        self.store = store
        self._token = self.store.engine.watch(self.store, CHANNEL)
        self._labels = _NewRows(self.store, "annotation", "image_id, label, annotator, created_at")
        self._flags = _NewRows(self.store, "flag", "image_id, flagged, annotator, created_at")
        self._active_model = _active_model_id(self.store)

    def read(self) -> LiveNews:
        """The labels, second looks and model activation committed since the previous call, with the
        labelled images' labels now and their places; empty (falsy) when nothing changed."""
        changed, events = self._changes()
        model_now = _active_model_id(self.store) if changed else self._active_model
        activated = model_now if model_now != self._active_model and model_now is not None else None
        self._active_model = model_now
        labels, places = _places(self.store, sorted({e.image_id for e in events})) if events else ({}, {})
        return LiveNews(events, labels, places, activated)

    def poll(self) -> list[LabelEvent]:
        """Just the labels and second looks (``read`` has the rest)."""
        return self._changes()[1]

    def _changes(self) -> tuple[bool, list[LabelEvent]]:
        """(whether anything was committed since the last look, the labels and second looks among it)."""
        changed, self._token = self.store.engine.changed(self.store, self._token)
        if not changed:
            return False, []
        events = [LabelEvent(image_id, label, annotator, created)
                  for _, image_id, label, annotator, created in self._labels.read()]
        events += [LabelEvent(image_id, None, annotator, created, bool(flagged))
                   for _, image_id, flagged, annotator, created in self._flags.read()]
        return True, sorted(events, key=lambda e: e.created_at)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LabelWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
