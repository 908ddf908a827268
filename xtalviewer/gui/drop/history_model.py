"""A drop's history as a table: when, who, what, how, and what the model showed then; second-look
flags (set, with their note, or cleared) among the labels."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from xtalviewer.crystal_call import pct
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import Annotation, Flag

COLUMNS = ("When", "Who", "Label", "Model showed")


class HistoryModel(QAbstractTableModel):
    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        self._rows: list[Annotation | Flag] = []

    def set_history(self, rows: list[Annotation | Flag]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == 3:
            return "What the model showed when the label was given (its top 3 on hover)"
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        r = self._rows[index.row()]
        col = index.column()
        if col == 0:
            return r.created_at[:16].replace("T", " ") if role == Qt.ItemDataRole.ToolTipRole \
                else r.created_at[5:16].replace("T", " ")
        if col == 1:
            return r.annotator
        if isinstance(r, Flag):
            if col != 2:
                return ""
            note = f": {r.note}" if r.flagged and r.note else ""
            return ("Second look" if r.flagged else "Second look done") + note
        if col == 2:
            name = self.scheme.get(r.label).name if r.label else "(cleared)"
            how = {"accepted-prediction": " (accepted)", "import": " (imported)"}.get(r.source, "")
            return f"{name}{how}{' (undo)' if r.reverts else ''}"
        shown = r.shown or []
        if not shown:
            return ""
        text = ", ".join(f"{self.scheme.get(k).name if k in self.scheme.keys else k} {pct(p, 0)}" for k, p in shown)
        return text if role == Qt.ItemDataRole.ToolTipRole else text.split(", ")[0]
