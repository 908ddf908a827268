"""The drops of one inspection in the chosen review order: a list model the plate grid shows.

Rows are the review session's (from the store's indexed review queue); thumbnails are requested lazily from a
BackgroundLoader only when a row is painted, so a 1536-well plate opens as fast as a 96-well one.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from xtalviewer.core.crystal_call import pct
from xtalviewer.core.review import ReviewSession
from xtalviewer.gui.loader import BackgroundLoader


class Role(IntEnum):
    IMAGE_ID = Qt.ItemDataRole.UserRole + 1
    ROW = Qt.ItemDataRole.UserRole + 2  # the whole queue row (dict)
    THUMBNAIL = Qt.ItemDataRole.UserRole + 3
    LABEL = Qt.ItemDataRole.UserRole + 4
    INHERITED = Qt.ItemDataRole.UserRole + 5
    CRYSTAL_PROB = Qt.ItemDataRole.UserRole + 6
    CRYSTAL_TOP3 = Qt.ItemDataRole.UserRole + 7
    ERROR = Qt.ItemDataRole.UserRole + 8
    HIT = Qt.ItemDataRole.UserRole + 9


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

    def rows(self) -> list[dict]:
        return self.session.rows

    def row_of(self, image_id: int) -> int | None:
        return self.session.row_of(image_id)

    def row_dict(self, row: int) -> dict | None:
        return self.session.row(row)

    def refresh(self, image_ids) -> None:
        """These drops changed in the session (a label, a prediction, an error): repaint them."""
        for image_id in image_ids:
            row = self.session.row_of(image_id)
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)

    def cell(self, row: int) -> dict:
        """What the delegate paints, read straight from Python. (Never through QModelIndex.data():
        in PySide6 6.12 each call that yields None drops a reference to None, and painting makes
        thousands of them: the interpreter aborts within minutes.)"""
        r = self.session.rows[row]
        error = r.get("load_error") or self.thumbs.error(r["id"])
        label = r.get("label")
        carried = None if label else self.session.inherited.get(r["id"])  # as session.inherited_label, per cell
        return {
            "name": f"{r['well']}·{r['drop_no']}",
            "error": error,
            "thumbnail": None if error else self.thumbs.request(r["id"], r),
            "label": label,
            "inherited": carried[0] if carried else None,
            "crystal_prob": r.get("crystal_prob"),
            "hit": self.session.is_hit(r),
            "crystal_top3": bool(r.get("crystal_top3")),
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
            return f"{r['well']}·{r['drop_no']}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r)
        if role == Role.IMAGE_ID:
            return r["id"]
        if role == Role.ROW:
            return r
        if role == Role.THUMBNAIL:
            return None if r.get("load_error") else self.thumbs.request(r["id"], r)
        if role == Role.LABEL:
            return r.get("label")
        if role == Role.INHERITED:
            return self.session.inherited_label(r["id"])
        if role == Role.CRYSTAL_PROB:
            return r.get("crystal_prob")
        if role == Role.CRYSTAL_TOP3:
            return r.get("crystal_top3")
        if role == Role.HIT:
            return self.session.is_hit(r)
        if role == Role.ERROR:
            return r.get("load_error") or self.thumbs.error(r["id"])
        return None

    def _tooltip(self, r: dict) -> str:
        parts = [f"{r['well']} drop {r['drop_no']}"]
        inherited = self.session.inherited.get(r["id"])
        if r.get("label"):
            parts.append(f"label: {self.scheme.get(r['label']).name}")
        elif inherited:
            label, when = inherited
            parts.append(f"inherited from {(when or '')[:10]}: {self.scheme.get(label).name} "
                         "(press its key to confirm)")
        if r.get("top1"):
            threshold = self.session.operating_point.threshold
            call = f"a hit (≥ {pct(threshold)})" if self.session.is_hit(r) else f"not a hit (< {pct(threshold)})"
            parts.append(f"model: {self.scheme.get(r['top1']).name} {pct(r['p1'], 0)}; crystal "
                         f"{pct(r.get('crystal_prob') or 0, 0)}: {call}"
                         + ("; crystal in top 3" if r.get("crystal_top3") else ""))
        error = r.get("load_error") or self.thumbs.error(r["id"])
        if error:
            parts.append(f"unreadable: {error}")
        return "\n".join(parts)
