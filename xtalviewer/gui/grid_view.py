"""The plate grid: a virtualised icon view whose delegate paints thumbnail, label colour and the
model's crystal probability. Only visible cells are painted, so only visible thumbnails load."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from xtalviewer.core.labels import LabelScheme

CAPTION = 16


def badge_color(crystal_prob: float) -> QColor:
    """Crystal probability as a traffic light: red likely, orange possible, grey unlikely."""
    if crystal_prob >= 0.5:
        return QColor("#c62828")
    if crystal_prob >= 0.1:
        return QColor("#ef6c00")
    return QColor(0, 0, 0, 150)


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
        p.fillRect(r, QColor("#2b2f36") if not selected else QColor("#3d5a80"))
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
            p.setPen(QPen(QColor("#e57373"), 2))
            p.drawLine(image_rect.topLeft(), image_rect.bottomRight())
            p.drawLine(image_rect.topRight(), image_rect.bottomLeft())
            p.setPen(QColor("#ffcdd2"))
            p.drawText(image_rect.adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "unreadable")
        else:
            p.setPen(QColor("#6b7280"))
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
        text_color = QColor("#111") if label and QColor(self.scheme.get(label).color).lightness() > 140 else QColor("#eee")
        p.setPen(text_color)
        font = QFont(p.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        name = cell["name"]
        if label:
            name += f"  {self.scheme.get(label).hotkey}"
        elif inherited:
            name += f"  ({self.scheme.get(inherited).hotkey}?)"
        p.drawText(caption.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)

        # model: crystal probability, highlighted when a crystal class is in the top 3
        prob = cell["crystal_prob"]
        if prob is not None:
            badge = QRect(image_rect.right() - 40, image_rect.y(), 40, 16)
            p.fillRect(badge, badge_color(prob))
            p.setPen(QColor("#fff"))
            p.drawText(badge, Qt.AlignmentFlag.AlignCenter, f"{100 * prob:.0f}%")
            if cell["crystal_top3"]:  # the top-3 strategy flags it for a look
                p.setBrush(QColor("#ff5252"))
                p.setPen(QPen(QColor("#fff"), 1))
                p.drawEllipse(badge.x() - 12, badge.y() + 3, 9, 9)
        if current:
            p.setBrush(Qt.BrushStyle.NoBrush)  # an outline only: never cover the thumbnail
            p.setPen(QPen(QColor("#ffd54f"), 2))
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
        self.setStyleSheet("QListView { background: #1e2126; border: none; }")
        self.set_cell_size(self.delegate.cell)

    def set_cell_size(self, size: int) -> None:
        size = max(48, min(400, size))
        self.delegate.cell = size
        self.setGridSize(QSize(size, size + CAPTION))
        self.doItemsLayout()
        self.cell_size_changed.emit(size)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_cell_size(self.delegate.cell + (16 if event.angleDelta().y() > 0 else -16))
            event.accept()
            return
        super().wheelEvent(event)
