"""The drops of one inspection in the chosen review order: a list model the plate grid shows.

Rows are the review session's (from the store's indexed review queue); thumbnails are requested lazily from a
BackgroundLoader only when a row is painted, so a 1536-well plate opens as fast as a 96-well one.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from xtalviewer.crystal_call import pct
from xtalviewer.files.image_roots import not_mapped_message, unmapped_root
from xtalviewer.review.session import ReviewSession
from xtalviewer.store.rows import QueueRow
from xtalviewer.gui.drop.loader import BackgroundLoader


class Role(IntEnum):
    IMAGE_ID = Qt.ItemDataRole.UserRole + 1
    ROW = Qt.ItemDataRole.UserRole + 2  # the whole queue row (QueueRow)
    THUMBNAIL = Qt.ItemDataRole.UserRole + 3
    LABEL = Qt.ItemDataRole.UserRole + 4
    INHERITED = Qt.ItemDataRole.UserRole + 5
    CRYSTAL_PROB = Qt.ItemDataRole.UserRole + 6
    CRYSTAL_TOP3 = Qt.ItemDataRole.UserRole + 7
    ERROR = Qt.ItemDataRole.UserRole + 8
    HIT = Qt.ItemDataRole.UserRole + 9


def thumb_source(r: QueueRow) -> tuple[str, None, None]:
    """What the thumbnail loader reads for a queue row: its path (the cache stats the file)."""
    return r.path, None, None


class DropGridModel(QAbstractListModel):
    """A view of the review session's queue: the session holds the rows, this model tells the grid."""

    def __init__(self, session: ReviewSession, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.session = session
        self.scheme = session.scheme
        self.thumbs = thumbs
        thumbs.ready.connect(self._thumb_arrived)
        thumbs.failed.connect(self._thumb_arrived)

    # -- contents ---------------------------------------------------------------------------

    def reset(self) -> None:
        """The session read a new queue."""
        self.beginResetModel()
        self.endResetModel()

    def rows(self) -> list[QueueRow]:
        return self.session.rows

    def row_of(self, image_id: int) -> int | None:
        return self.session.row_of(image_id)

    def queue_row(self, row: int) -> QueueRow | None:
        return self.session.row(row)

    def refresh(self, image_ids) -> None:
        """These drops changed in the session (a label, a prediction, an error): repaint them."""
        for image_id in image_ids:
            row = self.session.row_of(image_id)
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)

    def cell(self, row: int, thumbnail: bool = True) -> dict:
        """What the delegates paint (``drop_paint``), read straight from Python. (Never through
        QModelIndex.data(): in PySide6 6.12 each call that yields None drops a reference to None,
        and painting makes thousands of them: the interpreter aborts within minutes.) Without
        ``thumbnail`` (a colour tile) no image is requested. Blind review hides earlier labels
        and the model."""
        s = self.session
        r = s.rows[row]
        unmapped = unmapped_root(r.path)  # its image root is not mapped here: nothing to load
        error = not_mapped_message(unmapped) if unmapped else r.load_error or self.thumbs.error(r.id)
        label = s.own_label(r)
        carried = None if label or s.blind else s.inherited.get(r.id)  # as session.inherited_label, per cell
        model = s.shows_model
        return {
            "name": f"{r.well}·{r.drop_no}",
            "error": error,
            "unmapped": unmapped,
            "thumbnail": self.thumbs.request(r.id, thumb_source(r)) if thumbnail and not error else None,
            "label": label,
            "inherited": carried[0] if carried else None,
            "crystal_prob": r.crystal_prob if model else None,
            "hit": model and s.is_hit(r),
            "crystal_top3": model and bool(r.crystal_top3),
            "best": s.best_hit(r.id) if model else None,
            "flag": r.id in s.flags,
        }

    def _thumb_arrived(self, key, _payload) -> None:
        row = self.session.row_of(key)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Role.THUMBNAIL])

    # -- Qt model API -------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.session.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        r = self.session.row(index.row()) if index.isValid() else None
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{r.well}·{r.drop_no}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(index.row())
        if role == Role.IMAGE_ID:
            return r.id
        if role == Role.ROW:
            return r
        if role == Role.THUMBNAIL:
            return None if r.load_error else self.thumbs.request(r.id, thumb_source(r))
        if role == Role.LABEL:
            return self.session.own_label(r)
        if role == Role.INHERITED:
            return self.session.inherited_label(r.id)
        if role == Role.CRYSTAL_PROB:
            return r.crystal_prob if self.session.shows_model else None
        if role == Role.CRYSTAL_TOP3:
            return r.crystal_top3 if self.session.shows_model else None
        if role == Role.HIT:
            return self.session.shows_model and self.session.is_hit(r)
        if role == Role.ERROR:
            return r.load_error or self.thumbs.error(r.id)
        return None

    def tooltip(self, row: int) -> str:
        """Hover text of a drop: well, drop, its screen condition, label, the model's top 3, crystal
        probability and the hit call, best over time, a second-look note (in blind review: where, and
        whether flagged)."""
        s, r = self.session, self.session.rows[row]
        parts = [f"{r.well} drop {r.drop_no}"]
        condition = s.condition_of(r)
        if condition is not None:
            ph = f" (pH {condition.ph_value:g})" if condition.ph_value is not None else ""
            parts.append(f"condition: {condition.description}{ph}")
        label, inherited = s.own_label(r), None if s.blind else s.inherited.get(r.id)
        if label:
            parts.append(f"label: {self.scheme.get(label).name}")
        elif inherited:
            carried, when = inherited
            parts.append(f"inherited from {(when or '')[:10]}: {self.scheme.get(carried).name} "
                         "(press its key to confirm)")
        else:
            parts.append("not reviewed" + (" (blind review: earlier labels hidden)" if s.blind else ""))
        if r.top1 and s.shows_model:
            threshold = s.operating_point.threshold
            top3 = ", ".join(f"{self.scheme.get(key).name} {pct(p, 0)}" for key, p in r.top())
            call = f"a hit (≥ {pct(threshold)})" if s.is_hit(r) else f"not a hit (< {pct(threshold)})"
            parts.append(f"model: {top3}")
            parts.append(f"crystal probability {pct(r.crystal_prob or 0)}: {call}"
                         + ("; crystal in top 3" if r.crystal_top3 else ""))
            best = s.best.get(r.id)
            if best is not None:
                first = f"; first a hit {(best.first_hit_at or '')[:10]}" if best.first_hit_inspection else \
                    "; never a hit"
                parts.append(f"best over time: {pct(best.best)}{first}")
        flagged = s.flags.get(r.id)
        if flagged:
            note = f": {flagged.note}" if flagged.note else ""
            parts.append(f"needs a second look ({flagged.annotator}){note}")
        if unmapped_root(r.path):
            parts.append(not_mapped_message(unmapped_root(r.path)))
        elif error := r.load_error or self.thumbs.error(r.id):
            parts.append(f"unreadable: {error}")
        return "\n".join(parts)
