"""A confusion matrix as a heat map, shared by the Retrain dialog (a model on its test images) and
the Plots (the active model against the reviewers)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from xtalviewer.gui import theme


class ConfusionView(QWidget):
    """A confusion matrix as a heat map: rows are the true class, columns the prediction.

    Cells are shaded by the share of their row (per-class recall), so rare classes read as clearly
    as common ones; the count is printed in every cell.
    """

    def __init__(self, rows: str = "True class", columns: str = "Predicted class",
                 empty: str = "Select a trained architecture in the table to see its confusion matrix", parent=None):
        super().__init__(parent)
        self.row_title, self.column_title, self.empty = rows, columns, empty
        self.matrix: list[list[int]] = []
        self.names: list[str] = []
        self.title = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(280, 240)

    def set_matrix(self, matrix: Sequence[Sequence[int]], names: Sequence[str], title: str = "") -> None:
        self.matrix = [[int(v) for v in row] for row in matrix]
        self.names = list(names)
        self.title = title
        self.update()

    def clear(self) -> None:
        self.set_matrix([], [], "")

    def _label_width(self) -> int:
        fm = self.fontMetrics()
        return max((fm.horizontalAdvance(n) for n in self.names), default=0) + 8

    def sizeHint(self) -> QSize:
        label = self._label_width() if self.names else 110
        n = max(len(self.names), 10)
        return QSize(label + 24 + n * 30 + 8, label + 42 + n * 30 + 8)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.BACKDROP))
        fm = self.fontMetrics()
        if not self.matrix:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.empty)
            p.end()
            return
        n = len(self.matrix)
        label = self._label_width()
        title_h = fm.height() + 6
        left = fm.height() + 6 + label  # the rotated row title, then the row names
        top = title_h + fm.height() + 4 + label  # title, the column title, then the column names
        cell = max(12.0, min((self.width() - left - 8) / n, (self.height() - top - 8) / n))
        grid = QRectF(left, top, cell * n, cell * n)

        p.setPen(QColor(theme.TEXT))
        p.drawText(QRectF(4, 2, self.width() - 8, title_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(self.title, Qt.TextElideMode.ElideRight, self.width() - 8))
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(left, title_h, grid.width(), fm.height()), Qt.AlignmentFlag.AlignCenter, self.column_title)
        p.save()
        p.translate(2, top + grid.height() / 2)
        p.rotate(-90)
        p.drawText(QRectF(-grid.height() / 2, 0, grid.height(), fm.height()), Qt.AlignmentFlag.AlignCenter,
                   self.row_title)
        p.restore()

        p.setPen(QColor(theme.TEXT))
        for i, name in enumerate(self.names[:n]):
            y = top + i * cell
            p.drawText(QRectF(left - label, y, label - 6, cell),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            p.save()
            p.translate(left + i * cell, top - 4)
            p.rotate(-90)
            p.drawText(QRectF(0, 0, label - 4, cell), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
            p.restore()

        small = QFont(self.font())
        small.setPointSizeF(max(6.0, min(self.font().pointSizeF(), cell * 0.36)))
        p.setFont(small)
        low, high = QColor(theme.HEAT_LOW).getRgbF()[:3], QColor(theme.TOP1_COLOUR).getRgbF()[:3]
        for i, row in enumerate(self.matrix):
            total = sum(row)
            for j, count in enumerate(row):
                share = count / total if total else 0.0
                colour = QColor.fromRgbF(*(lo + (hi - lo) * share for lo, hi in zip(low, high)))
                rect = QRectF(left + j * cell, top + i * cell, cell, cell)
                p.fillRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), colour)
                p.setPen(QColor(theme.FAINT if count == 0 else theme.LIGHT_TEXT))
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
        p.end()
