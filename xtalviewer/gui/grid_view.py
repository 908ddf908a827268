"""The plate grid: a virtualised icon view whose delegate paints thumbnail, label colour and the
model's crystal probability (red when the drop is a hit at the model's operating point; a dot when
a crystal class is in its top 3). Only visible cells are painted, so only visible thumbnails load."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListView, QSizePolicy, QStyle, QStyledItemDelegate,
                               QStyleOptionViewItem, QVBoxLayout, QWidget)

from xtalviewer.core.crystal_call import pct
from xtalviewer.core.labels import LabelScheme
from xtalviewer.gui import theme

CAPTION = 16


class DropDelegate(QStyledItemDelegate):
    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        self.cell = 140

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self.cell, self.cell + CAPTION)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        p.save()
        r = option.rect.adjusted(2, 2, -2, -2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        current = bool(option.state & QStyle.StateFlag.State_HasFocus)
        p.fillRect(r, QColor(theme.HIGHLIGHT if selected else theme.PANEL))
        image_rect = QRect(r.x() + 3, r.y() + 3, r.width() - 6, r.height() - CAPTION - 6)

        cell = index.model().cell(index.row())
        error = cell["error"]
        thumb = cell["thumbnail"]
        if thumb is not None:
            scaled = thumb.size().scaled(image_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(image_rect.center())
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(target, thumb)
        elif error:
            p.setPen(QPen(QColor(theme.ERROR), 2))
            p.drawLine(image_rect.topLeft(), image_rect.bottomRight())
            p.drawLine(image_rect.topRight(), image_rect.bottomLeft())
            p.setPen(QColor(theme.ERROR_LIGHT))
            p.drawText(image_rect.adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "unreadable")
        else:
            p.setPen(QColor(theme.FAINT))
            p.drawText(image_rect, Qt.AlignmentFlag.AlignCenter, "…")

        # label colour: a solid bar for a label of this inspection, a hatched one when inherited
        label = cell["label"]
        inherited = cell["inherited"]
        caption = QRect(r.x(), r.bottom() - CAPTION + 1, r.width(), CAPTION)
        if label or inherited:
            color = QColor(self.scheme.get(label or inherited).color)
            if inherited:  # dark fill, dashed outline in the label's colour: not yet confirmed
                p.fillRect(caption, color.darker(250))
                p.setPen(QPen(color, 1, Qt.PenStyle.DashLine))
                p.drawRect(caption.adjusted(0, 0, -1, -1))
            else:
                p.fillRect(caption, color)
        p.setPen(theme.text_on(self.scheme.get(label).color) if label else QColor(theme.TEXT))
        font = QFont(p.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        name = cell["name"]
        if label:
            name += f"  {self.scheme.get(label).hotkey}"
        elif inherited:
            name += f"  ({self.scheme.get(inherited).hotkey}?)"
        p.drawText(caption.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)

        # model: crystal probability, red when a hit at the model's operating point
        prob = cell["crystal_prob"]
        if prob is not None:
            badge = QRect(image_rect.right() - 40, image_rect.y(), 40, 16)
            p.fillRect(badge, theme.badge_color(cell["hit"]))
            p.setPen(QColor(theme.LIGHT_TEXT))
            p.drawText(badge, Qt.AlignmentFlag.AlignCenter, pct(prob, 0))
            if cell["crystal_top3"]:  # the top-3 strategy flags it for a look
                p.setBrush(QColor(theme.TOP3))
                p.setPen(QPen(QColor(theme.LIGHT_TEXT), 1))
                p.drawEllipse(badge.x() - 12, badge.y() + 3, 9, 9)
        if current:
            p.setBrush(Qt.BrushStyle.NoBrush)  # an outline only: never cover the thumbnail
            p.setPen(QPen(QColor(theme.CURRENT), 2))
            p.drawRect(r.adjusted(1, 1, -1, -1))
        p.restore()


class DropGridView(QListView):
    """Icon-mode list of drops; Ctrl+wheel changes the cell size."""

    cell_size_changed = Signal(int)

    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.delegate = DropDelegate(scheme, self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(256)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSpacing(0)
        self.setStyleSheet(f"QListView {{ background: {theme.BACKDROP}; border: none; }}")
        self.set_cell_size(self.delegate.cell)

    def set_cell_size(self, size: int) -> None:
        size = max(48, min(400, size))
        self.delegate.cell = size
        self.setGridSize(QSize(size, size + CAPTION))
        self.doItemsLayout()
        self.cell_size_changed.emit(size)

    def grow(self, step: int) -> None:
        """Bigger (or, negative, smaller) cells."""
        self.set_cell_size(self.delegate.cell + step)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.grow(16 if event.angleDelta().y() > 0 else -16)
            event.accept()
            return
        super().wheelEvent(event)


class GridPane(QWidget):
    """The grid with its title line (plate, date, imager, type, drops shown, hits)."""

    def __init__(self, view: DropGridView, parent=None):
        super().__init__(parent)
        self.view = view
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 4px;")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # no minimum width
        self.title.setWordWrap(True)  # a narrow grid still shows the counts
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(view)


def select_rows(view: QAbstractItemView, rows: list[int]) -> None:
    """Select exactly these rows (tests and scripted use)."""
    sel = view.selectionModel()
    sel.clearSelection()
    for row in rows:
        sel.select(view.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select)
