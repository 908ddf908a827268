"""Plots: agreement between reviewers, and between the model and each reviewer. A matrix of
Cohen's kappa (each reviewer's latest label, on the drops both labelled) beside the confusion
matrix of the pair chosen in it. The numbers come from ``review/agreement.py``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableView, QVBoxLayout

from xtalviewer.review.agreement import MODEL, store_agreement
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import Model
from xtalviewer.gui import theme
from xtalviewer.gui.plots.confusion_view import ConfusionView
from xtalviewer.gui.plots.style import message_label
from xtalviewer.gui.plots.tab import PlotTab


def kappa_colour(kappa: float) -> QColor:
    """Landis & Koch's bands as a ramp: red below 0.2 (slight), amber near 0.5, green above 0.8."""
    k = max(0.0, min(1.0, kappa))
    low, mid, high = QColor("#7f1d1d"), QColor("#8a6d1a"), QColor("#1f6f43")
    a, b, t = (low, mid, k / 0.5) if k < 0.5 else (mid, high, (k - 0.5) / 0.5)
    return QColor(int(a.red() + (b.red() - a.red()) * t), int(a.green() + (b.green() - a.green()) * t),
                  int(a.blue() + (b.blue() - a.blue()) * t))


class KappaModel(QAbstractTableModel):
    """Raters x raters: kappa and the drops both labelled; a pair without common drops is blank."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data_: dict | None = None

    def set_agreement(self, data: dict) -> None:
        self.beginResetModel()
        self.data_ = data
        self.endResetModel()

    def raters(self) -> list[str]:
        return self.data_["raters"] if self.data_ else []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.raters())

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return self.rowCount(parent)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            name = self.raters()[section]
            return "Model" if name == MODEL else name
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.data_ is None:
            return None
        i, j = index.row(), index.column()
        kappa, n, agree = self.data_["kappa"][i, j], int(self.data_["n"][i, j]), self.data_["agree"][i, j]
        if role == Qt.ItemDataRole.DisplayRole:
            drops = f"{n:,} drop{'s' * (n != 1)}"
            if i == j:
                return drops
            if n == 0:
                return "–"
            return f"κ {kappa:.2f}\n{drops}" if not math.isnan(kappa) else f"κ –\n{drops}"
        if role == Qt.ItemDataRole.BackgroundRole:
            if i == j or n == 0 or math.isnan(kappa):
                return QColor(theme.PANEL)
            return kappa_colour(kappa)
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(theme.MUTED if i == j or n == 0 else theme.LIGHT_TEXT)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole and i != j and n:
            a, b = self.headerData(i, Qt.Orientation.Horizontal), self.headerData(j, Qt.Orientation.Horizontal)
            return (f"{a} and {b}: Cohen's kappa {kappa:.3f} on {n:,} drops both labelled; the same label on "
                    f"{100 * agree:.1f}% of them. Click to see where they differ.")
        return None


class ReviewersTab(PlotTab):
    def __init__(self, db_path: Path, scheme: LabelScheme, model: Model | None, parent=None):
        super().__init__(db_path, parent)
        self.scheme, self.model = scheme, model
        self.summary = message_label()
        self.summary.setText("Loading…")
        self.kappa = KappaModel(self)
        self.table = QTableView()
        self.table.setModel(self.kappa)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)  # the kappa colours stay
        self.table.setWordWrap(True)
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setTextElideMode(Qt.TextElideMode.ElideRight)  # a long name ends in …; hover shows it
        self.table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.table.selectionModel().currentChanged.connect(lambda current, _: self._show_pair(current))
        self.confusion = ConfusionView("", "", "Click a pair in the kappa matrix to see its confusion matrix")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.confusion)
        split.setSizes([520, 480])
        self.note = QLabel("κ: Cohen's kappa, agreement beyond chance (1 = always the same label, 0 = no better than "
                           "chance; above 0.6 is substantial, above 0.8 almost perfect). Each reviewer's latest "
                           "label of a drop counts; against the model, labels accepted from its prediction are "
                           "left out.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.MUTED};")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        layout.addWidget(self.note)

    def query(self):
        model_id = self.model.id if self.model else None
        return lambda store: store_agreement(store, model_id)

    def show_data(self, data: dict) -> None:
        reviewers = [r for r in data["raters"] if r != MODEL]
        pairs = int(sum(1 for i in range(len(reviewers)) for j in range(i + 1, len(reviewers)) if data["n"][i, j]))
        self.summary.setText(
            f"{len(reviewers)} reviewer{'s' * (len(reviewers) != 1)}; {pairs} pair{'s' * (pairs != 1)} labelled drops "
            "in common." + ("" if pairs else " Agreement between reviewers needs two people labelling the same "
                                             "drops (a blind review of a plate someone else reviewed, say)."))
        self.kappa.set_agreement(data)
        size = len(data["raters"])
        # show a pair of reviewers first (the most drops in common), else a reviewer against the model
        candidates = [(j != size - 1, int(data["n"][i, j]), -i, -j) for i in range(size) for j in range(i + 1, size)
                      if data["n"][i, j]]
        if candidates:
            _, _, i, j = max(candidates)
            i, j = -i, -j
            self.table.setCurrentIndex(self.kappa.index(i, j))
        else:
            self.confusion.clear()

    def _show_pair(self, index: QModelIndex) -> None:
        data = self.kappa.data_
        if data is None or not index.isValid() or index.row() == index.column():
            return
        a, b = data["raters"][index.row()], data["raters"][index.column()]
        matrix = data["pairs"].get((a, b))
        if matrix is None or not np.asarray(matrix).sum():
            self.confusion.clear()
            return
        names = [self.scheme.get(k).name for k in data["keys"]]
        self.confusion.row_title = "Model" if a == MODEL else a
        self.confusion.column_title = "Model" if b == MODEL else b
        self.confusion.set_matrix(matrix, names, f"{self.confusion.row_title} (rows) against "
                                                 f"{self.confusion.column_title} (columns), shaded by row share")

    def set_model(self, model: Model | None) -> None:
        self.model = model

    def show_error(self, message: str) -> None:
        self.summary.setText(f"Could not compute the agreement: {message}")
