"""The flowing queue: a virtualised icon view of the drops in the chosen order and filters, each
painted as ``drop_paint`` paints a drop (thumbnail, label colour, the model's crystal probability
and hit call, top-3 dot, best-over-time star, second-look flag). Only visible cells are painted,
so only visible thumbnails load. Plate order without filters shows the plate map instead."""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QPainter, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from xtalviewer.labels import LabelScheme
from xtalviewer.review.session import ReviewSession
from xtalviewer.store.schema import MODE_NAMES
from xtalviewer.gui import theme
from xtalviewer.gui.plate.drop_paint import (
    paint_current,
    paint_label_band,
    paint_marks,
    paint_thumbnail,
)

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
        paint_thumbnail(p, image_rect, cell)
        # label colour: a solid bar for a label of this inspection, a hatched one when inherited
        label, inherited = cell["label"], cell["inherited"]
        caption = QRect(r.x(), r.bottom() - CAPTION + 1, r.width(), CAPTION)
        paint_label_band(p, caption, cell, self.scheme)
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
        paint_marks(p, image_rect, cell)  # the model's call, best over time, second look
        if current:
            paint_current(p, r)
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
    """The drops with a title above: plate, date and imager on one line; plate type, drops shown,
    hits and imaging modes on the next; a banner while blind review hides labels and the model."""

    def __init__(self, view: QWidget, parent=None):
        super().__init__(parent)
        self.view = view
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 4px;")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)  # no minimum width
        self.title.setWordWrap(True)  # a narrow grid still shows the counts
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.banner.setStyleSheet(f"background: {theme.BLIND}; color: white; padding: 4px; font-weight: bold;")
        self.banner.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.banner)
        layout.addWidget(view, 1)

    def show_title(self, session: ReviewSession) -> None:
        insp, counts = session.inspection, session.counts()
        self.banner.setVisible(session.blind)
        if insp is None:
            return
        self.banner.setText("Blind review of this plate: earlier labels, inherited labels and the model's answer "
                            "are hidden (Ctrl+B ends it)")
        kind = f"{insp.rows * insp.cols}-well, {insp.drops} drop{'s' * (insp.drops != 1)}"
        hits = f"  ·  {counts['hits']} hit{'s' * (counts['hits'] != 1)}" if session.shows_model else ""
        modes = len(session.modes) > 1 and "  ·  modes: " + " + ".join(MODE_NAMES.get(m, m) for m in session.modes)
        view = "plate map" if session.plate_map else "queue"
        first = "  ·  ".join(x for x in (insp.barcode, (insp.imaged_at or "")[:16].replace("T", " "), insp.imager) if x)
        self.title.setText(f"{first}\n{kind}  ·  {counts['shown']} drops in the {view}{hits}{modes or ''}")


def select_rows(view: QAbstractItemView, rows: list[int]) -> None:
    """Select exactly these rows (tests and scripted use)."""
    sel = view.selectionModel()
    sel.clearSelection()
    for row in rows:
        sel.select(view.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select)
