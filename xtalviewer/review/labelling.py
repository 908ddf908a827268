"""Labelling for a review session: what one key press writes (``label``), committed before it
returns, and how it is taken back (``take_back``: Edit > Undo / Redo write new annotations; history
only grows). A label the database refuses changes nothing on screen and is kept as not saved
(``UnsavedLabels``) until ``retry`` (or the same key on the same drops) sends it again. No Qt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from xtalviewer.store.store import AnnotationRow

if TYPE_CHECKING:
    from xtalviewer.review.session import ReviewSession

# what a failed write's message says to do, by a word in it
_ADVICE = {"full": "Free some disk space", "readonly": "Make the database writable",
           "read-only": "Make the database writable", "locked": "Another program holds the database",
           "server": "Check the network and the database server"}


@dataclass
class LabelChange:
    """Labels written by one key press: (image id, label before, label after) per drop, and the
    annotation ids that wrote the present state (an undo or redo reverts exactly those)."""

    changes: list[tuple[int, str | None, str | None]]
    annotation_ids: list[int]
    text: str

    @property
    def image_ids(self) -> list[int]:
        return [c[0] for c in self.changes]


class LabelNotSaved(Exception):
    """A label the database refused (disk full, read-only, locked); nothing moved on."""

    def __init__(self, label: str | None, name: str, wells: Sequence[str], reason: str):
        self.label, self.name, self.wells, self.reason = label, name, list(wells), reason
        self.advice = next((v for k, v in _ADVICE.items() if k in reason.lower()), "Fix the problem")
        super().__init__(f"NOT SAVED: {name} on {', '.join(self.wells) or 'this drop'}: {reason}.\n"
                         f"{self.advice}, then press Retry (or the key again); nothing moved on.")


@dataclass
class UnsavedLabels:
    """A label write the database refused, kept as the very rows it tried to write: a retry sends
    the same rows, so one that reached the server before its connection broke is recognised there
    and not written twice (``store.reconnect``). ``finish`` does the rest of the key press (undo
    history, moving on) once they are written."""

    items: list[AnnotationRow]
    finish: Callable[[list[int]], LabelChange]
    action: tuple  # what asked for it: ("label", key, source), ("undo",) or ("redo",)

    @property
    def image_ids(self) -> list[int]:
        return [it.image_id for it in self.items]


@dataclass
class UndoHistory:
    """The label changes Undo and Redo take back, newest last. A new label forgets what could be
    redone, as every editor does."""

    done: list[LabelChange] = field(default_factory=list)
    undone: list[LabelChange] = field(default_factory=list)

    def record(self, change: LabelChange) -> None:
        self.done.append(change)
        self.undone.clear()

    @property
    def undo_text(self) -> str | None:
        return self.done[-1].text if self.done else None

    @property
    def redo_text(self) -> str | None:
        return self.undone[-1].text if self.undone else None

    def menu_items(self) -> tuple[tuple[str, bool], tuple[str, bool]]:
        """Edit > Undo and Redo: each item's text, naming the labels it would take back, and whether
        it is on (off when there is nothing to take back)."""
        undo, redo = ((f"{verb} {text}" if text else f"{verb} label", text is not None)
                      for verb, text in (("Undo", self.undo_text), ("Redo", self.redo_text)))
        return undo, redo


def label(session: ReviewSession, key: str, *, source: str = "human") -> LabelChange | None:
    """Label the session's target drops with ``key``, commit, and (with auto-advance) move past them.
    None: nothing to label. An unknown key raises ``KeyError`` before anything is written."""
    name = session.scheme.get(key).name
    rows = session.targets()
    if not rows:
        return None
    unsaved = session.unsaved
    if unsaved is not None and unsaved.action == ("label", key, source) and \
            unsaved.image_ids == [session.rows[i].id for i in rows]:
        return retry(session)  # the same key on the same drops: the very write that was not saved
    lead = int(1000 * (session.clock() - session.shown_at)) if len(rows) == 1 else None
    items, changes = [], []
    for i in rows:
        r = session.rows[i]
        items.append(AnnotationRow(r.id, key, session.annotator, source=source, prediction_id=r.prediction_id,
                                   shown=r.shown_prediction(), lead_ms=lead))
        changes.append((r.id, r.label, key))

    def finish(ids: list[int]) -> LabelChange:
        if session.blind:
            session.blind_labelled.update(r for r, _, _ in changes)
        change = LabelChange(changes, ids, f"{name} on {len(rows)} drop{'s' * (len(rows) != 1)}")
        session.undo_history.record(change)
        if session.auto_advance:
            shown = [row for image_id, _, _ in changes if (row := session.row_of(image_id)) is not None]
            if shown:
                session.set_current(min(max(shown) + 1, len(session.rows) - 1))
            session.selection = []
        return change

    return _commit(session, items, finish, ("label", key, source))


def take_back(session: ReviewSession, *, undo: bool) -> LabelChange | None:
    """Undo (the newest change, its labels back as before) or redo (the newest undone one, its labels
    again), writing annotations that revert exactly the ones that wrote the present state; the first
    of its drops becomes current. None: nothing to take back."""
    history = session.undo_history
    source, target = (history.done, history.undone) if undo else (history.undone, history.done)
    if not source:
        return None
    change = source[-1]
    ids = change.annotation_ids
    labels = [(image_id, old if undo else new) for image_id, old, new in change.changes]
    items = [AnnotationRow(image_id, label, session.annotator, source="human", reverts=ids[i] if i < len(ids) else None)
             for i, (image_id, label) in enumerate(labels)]

    def finish(written: list[int]) -> LabelChange:
        change.annotation_ids = written
        row = session.row_of(labels[0][0])
        if row is not None:
            session.set_current(row)
        target.append(source.pop())
        return change

    return _commit(session, items, finish, ("undo",) if undo else ("redo",))


def retry(session: ReviewSession) -> LabelChange | None:
    """Send the labels that were not saved again, the very same rows (Retry in the window's alert).
    None: nothing is waiting. Raises ``LabelNotSaved`` again while the database still refuses."""
    unsaved = session.unsaved
    if unsaved is None:
        return None
    return _commit(session, unsaved.items, unsaved.finish, unsaved.action)


def _commit(session: ReviewSession, items: list[AnnotationRow], finish: Callable[[list[int]], LabelChange],
            action: tuple) -> LabelChange:
    """Write, then finish the key press; a write refused is kept in ``session.unsaved`` for a retry."""
    try:
        ids = write(session, items)
    except LabelNotSaved:
        session.unsaved = UnsavedLabels(items, finish, action)
        raise
    session.unsaved = None
    return finish(ids)


def write(session: ReviewSession, items: list[AnnotationRow]) -> list[int]:
    """Commit, then show the labels in the session's queue; on failure raise ``LabelNotSaved`` and
    change nothing but ``pending_label`` (the label still to be saved)."""
    try:
        ids = session.store.add_annotations(items)
    except Exception as exc:  # disk full, read-only database, locked past the busy timeout ...
        key = items[0].label
        wells = [session.rows[r].well for it in items[:4] if (r := session.row_of(it.image_id)) is not None]
        session.pending_label = key
        raise LabelNotSaved(key, session.scheme.get(key).name if key else "the label change", wells,
                            str(exc).rstrip(".") or type(exc).__name__) from exc
    session.pending_label = None
    for it in items:
        row = session.row_of(it.image_id)
        if row is not None:
            session.rows[row] = replace(session.rows[row], label=it.label)
    return ids
