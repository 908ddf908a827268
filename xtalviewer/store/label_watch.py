"""Live labels between workstations: what other reviewers labelled since the last look, for a window
to poll (a timer every second or two) without Qt and without re-reading its queue.

Asking costs next to nothing when nothing changed: on SQLite, ``PRAGMA data_version`` (a counter
that moves when another connection commits to the file); on PostgreSQL, the notifications already
on the connection's socket (``LISTEN``: every store that appends labels or second looks sends
``NOTIFY xtalviewer_labels`` in the same transaction, delivered when it commits). Only then are the
new annotations and flags read, by id after the last ones seen (append-only tables), looking back
``LOOKBACK`` ids because on a server two transactions may commit out of id order.
"""

from __future__ import annotations

from dataclasses import dataclass

from xtalviewer.store.db import Database

CHANNEL = "xtalviewer_labels"
LOOKBACK = 1000  # ids before the newest seen that are read again (and skipped when already seen)


@dataclass(slots=True)
class LabelEvent:
    """A label (``flagged`` None) or a second-look mark (``flagged`` True/False) committed by a reviewer."""

    image_id: int
    label: str | None
    annotator: str
    created_at: str
    flagged: bool | None = None


def announce(db: Database) -> None:
    """Inside a transaction that appends labels or flags: tell the watching workstations."""
    db.engine.announce(db, CHANNEL)


class _NewRows:
    """The rows of an append-only table with ids not seen yet."""

    def __init__(self, db: Database, table: str, columns: str):
        self.db, self.table, self.columns = db, table, columns
        self.newest = db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        self.seen = {r[0] for r in db.execute(f"SELECT id FROM {table} WHERE id > ?", (self.newest - LOOKBACK,))}

    def read(self) -> list[tuple]:
        rows = [r for r in self.db.execute(f"SELECT id, {self.columns} FROM {self.table} WHERE id > ? ORDER BY id",
                                           (self.newest - LOOKBACK,)).fetchall() if r[0] not in self.seen]
        self.seen.update(r[0] for r in rows)
        if rows:
            self.newest = max(self.newest, rows[-1][0])
        self.seen = {i for i in self.seen if i > self.newest - LOOKBACK}
        return rows


class LabelWatch:
    """Watches through a connection of its own: ``LabelWatch(Store(location, readonly=True))`` (it
    closes it). ``poll`` returns the labels and second looks committed since the previous call (by
    anyone, this workstation included), oldest first."""

    def __init__(self, store: Database):
        self.store = store
        self._token = self.store.engine.watch(self.store)
        self._labels = _NewRows(self.store, "annotation", "image_id, label, annotator, created_at")
        self._flags = _NewRows(self.store, "flag", "image_id, flagged, annotator, created_at")

    def poll(self) -> list[LabelEvent]:
        changed, self._token = self.store.engine.changed(self.store, self._token)
        if not changed:
            return []
        events = [LabelEvent(image_id, label, annotator, created)
                  for _, image_id, label, annotator, created in self._labels.read()]
        events += [LabelEvent(image_id, None, annotator, created, bool(flagged))
                   for _, image_id, flagged, annotator, created in self._flags.read()]
        return sorted(events, key=lambda e: e.created_at)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LabelWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
