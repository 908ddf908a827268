"""The Retrain dialog's comparison table: one row per finished architecture, the headline metrics
of ``model.metrics.HEADLINE`` on its test images, how it was initialised, its training time and
registry id; the best row by ``metrics.best_result`` (the rule is ``metrics.BEST_RULE``)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from xtalviewer.crystal_call import pct
from xtalviewer.model.metrics import BEST_RULE, HEADLINE, best_result
from xtalviewer.gui import theme

COLUMNS = (("arch", "Architecture", "The architecture (★: the best by the rule below the table)"),
           *((m.key, m.short, m.description) for m in HEADLINE),
           ("init", "Init", "How the weights started: the current model, ImageNet, or scratch"),
           ("train_seconds", "Training\ntime", "Wall time of this architecture's training"),
           ("model_id", "Model id", "Id in the model registry (Model menu, xtalviewer models)"))


class ResultsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []  # {"arch", "metrics", "model_id", "init"}
        self.best: int | None = None
        self.active_id: int | None = None

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self.best, self.active_id = [], None, None
        self.endResetModel()

    def add(self, arch: str, metrics: dict, model_id: int | None, init: str | None = None) -> None:
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append({"arch": arch, "metrics": metrics, "model_id": model_id,
                          "init": init or metrics.get("init")})
        self.endInsertRows()
        best = best_result(self.rows)
        self.best = next(i for i, r in enumerate(self.rows) if r is best) if best is not None else None
        self._changed()

    def set_active(self, model_id: int | None) -> None:
        self.active_id = model_id
        self._changed()

    def column(self, key: str) -> int:
        return next(i for i, c in enumerate(COLUMNS) if c[0] == key)

    def _changed(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        return None

    def text(self, row: dict, key: str) -> str:
        if key == "arch":
            return f"★ {row['arch']}" if self.rows.index(row) == self.best else row["arch"]
        if key == "model_id":
            mid = row["model_id"]
            return "–" if mid is None else f"{mid} (active)" if mid == self.active_id else str(mid)
        if key == "init":
            return row["init"] or "–"
        value = row["metrics"].get(key)
        return theme.duration(value) if key == "train_seconds" else pct(value)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, key = self.rows[index.row()], COLUMNS[index.column()][0]
        best = index.row() == self.best
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, key)
        if role == Qt.ItemDataRole.UserRole:
            return row.get(key) if key in ("arch", "model_id", "init") else row["metrics"].get(key)
        if role == Qt.ItemDataRole.TextAlignmentRole and key not in ("arch", "init"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and best:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and best:
            return QColor(theme.BEST_ROW)
        if role == Qt.ItemDataRole.ToolTipRole:
            return BEST_RULE if best and key == "arch" else (row["init"] if key == "init" else None)
        return None


def results_table(results: ResultsModel) -> QTableView:
    """The comparison table: whole rows selected one at a time, the long Init column elided."""
    table = QTableView()
    table.setModel(results)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(results.column("init"), QHeaderView.ResizeMode.Stretch)
    return table
