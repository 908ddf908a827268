"""The drops of one inspection in the chosen review order: a list model the plate grid shows.

Rows come from the store's indexed review queue; thumbnails are requested lazily from a
BackgroundLoader only when a row is painted, so a 1536-well plate opens as fast as a 96-well one.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from xtalviewer.core.labels import LabelScheme
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


class DropGridModel(QAbstractListModel):
    def __init__(self, scheme: LabelScheme, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        self.thumbs = thumbs
        self._rows: list[dict] = []
        self._by_id: dict[int, int] = {}
        self._inherited: dict[int, tuple[str, str]] = {}
        thumbs.ready.connect(self._thumb_arrived)
        thumbs.failed.connect(self._thumb_arrived)

    # -- contents ---------------------------------------------------------------------------

    def set_rows(self, rows: list[dict], inherited: dict[int, tuple[str, str]] | None = None) -> None:
        self.beginResetModel()
        self._rows = rows
        self._by_id = {r["id"]: i for i, r in enumerate(rows)}
        self._inherited = inherited or {}
        self.endResetModel()

    def rows(self) -> list[dict]:
        return self._rows

    def row_of(self, image_id: int) -> int | None:
        return self._by_id.get(image_id)

    def row_dict(self, row: int) -> dict | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def update_image(self, image_id: int, **fields) -> None:
        """Apply new values (a label, a prediction, an error) to one drop and repaint it."""
        row = self._by_id.get(image_id)
        if row is None:
            return
        self._rows[row].update(fields)
        if "label" in fields:
            self._inherited.pop(image_id, None)
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def cell(self, row: int) -> dict:
        """What the delegate paints, read straight from Python. (Never through QModelIndex.data():
        in PySide6 6.12 each call that yields None drops a reference to None, and painting makes
        thousands of them: the interpreter aborts within minutes.)"""
        r = self._rows[row]
        error = r.get("load_error") or self.thumbs.error(r["id"])
        inherited = self._inherited.get(r["id"])
        return {
            "name": f"{r['well']}·{r['drop_no']}",
            "error": error,
            "thumbnail": None if error else self.thumbs.request(r["id"], r),
            "label": r.get("label"),
            "inherited": None if r.get("label") or not inherited else inherited[0],
            "crystal_prob": r.get("crystal_prob"),
            "crystal_top3": bool(r.get("crystal_top3")),
        }

    def inherited(self, image_id: int) -> tuple[str, str] | None:
        return self._inherited.get(image_id)

    def _thumb_arrived(self, key, _payload) -> None:
        row = self._by_id.get(key)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Role.THUMBNAIL])

    # -- Qt model API -------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{r['well']}·{r['drop_no']}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r)
        if role == Role.IMAGE_ID:
            return r["id"]
        if role == Role.ROW:
            return r
        if role == Role.THUMBNAIL:
            if r.get("load_error"):
                return None
            return self.thumbs.request(r["id"], r)
        if role == Role.LABEL:
            return r.get("label")
        if role == Role.INHERITED:
            inherited = self._inherited.get(r["id"])
            return inherited[0] if inherited else None
        if role == Role.CRYSTAL_PROB:
            return r.get("crystal_prob")
        if role == Role.CRYSTAL_TOP3:
            return r.get("crystal_top3")
        if role == Role.ERROR:
            return r.get("load_error") or self.thumbs.error(r["id"])
        return None

    def _tooltip(self, r: dict) -> str:
        parts = [f"{r['well']} drop {r['drop_no']}"]
        if r.get("label"):
            parts.append(f"label: {self.scheme.get(r['label']).name}")
        elif r["id"] in self._inherited:
            label, when = self._inherited[r["id"]]
            parts.append(f"inherited from {when[:10]}: {self.scheme.get(label).name} (press its key to confirm)")
        if r.get("top1"):
            parts.append(f"model: {self.scheme.get(r['top1']).name} {100 * r['p1']:.0f}%, crystal "
                         f"{100 * (r.get('crystal_prob') or 0):.0f}%")
        error = r.get("load_error") or self.thumbs.error(r["id"])
        if error:
            parts.append(f"unreadable: {error}")
        return "\n".join(parts)
