"""The plate map: the open inspection as its plate, column numbers on top, row letters on the left,
each well a cell with its drops side by side at their positions. The whole plate fits the view at
first (96 and 384 wells as thumbnails, 1536 as colour tiles); Ctrl+wheel or Ctrl+= zooms in until
tiles become thumbnails. Arrows move by well, clicking a row or column header selects it, hovering
a drop tells its well, drop, label, top 3, crystal probability and hit call."""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QModelIndex,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableView,
    QToolTip,
)

from xtalviewer.labels import LabelScheme
from xtalviewer.plates import row_letter
from xtalviewer.gui import theme
from xtalviewer.gui.plate.drop_paint import (
    THUMBNAIL_FROM,
    paint_current,
    paint_label_band,
    paint_marks,
    paint_thumbnail,
    paint_tile,
)
from xtalviewer.gui.plate.map_model import PlateMapModel

ROW_HEADER = 28
COLUMN_HEADER = 20
ZOOM_STEP = 1.25
MAX_DROP_SIZE = 320
HIGHLIGHT, PANEL, BACKDROP, EMPTY_WELL = (QColor(c) for c in (theme.HIGHLIGHT, theme.PANEL, theme.BACKDROP,
                                                            theme.EMPTY_WELL))
ARROWS = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}


def drop_rects(well: QRect, drops: int, members: list[tuple[int, int]]) -> list[tuple[int, QRect]]:
    """(queue row, rectangle) of each drop of a well: drop d at position d of ``drops`` side by side."""
    width = well.width() / max(1, drops)
    return [(i, QRect(round(well.x() + (d - 1) * width) + 1, well.y() + 1, max(1, round(width) - 2),
                      max(1, well.height() - 2))) for i, d in members]


class WellPainter:
    """Paints one well: its drops side by side, each a thumbnail or (small) a colour tile, the
    current drop outlined. The plate map's paintEvent calls it for the wells in the damaged area
    (one Python loop, no per-cell round trips through the view and model)."""

    def __init__(self, scheme: LabelScheme):
        self.scheme = scheme

    def paint(self, p: QPainter, model: PlateMapModel, well: QRect, row: int, col: int, selected: bool) -> None:
        layout = model.session.layout
        members = layout.cells.get((row + 1, col + 1))
        if not members:
            p.fillRect(well, EMPTY_WELL)
            return
        p.fillRect(well, HIGHLIGHT if selected else PANEL)
        current = model.session.current
        spots = [(members[0], well.adjusted(1, 1, -1, -1))] if layout.drops == 1 else \
            drop_rects(well, layout.drops, [(i, layout.where[i][2]) for i in members])
        for i, rect in spots:
            big = min(rect.width(), rect.height()) >= THUMBNAIL_FROM
            cell = model.drops.cell(i, thumbnail=big)
            if big:
                p.fillRect(rect, BACKDROP)
                paint_thumbnail(p, rect, cell)
                band = max(3, rect.height() // 8)
                paint_label_band(p, QRect(rect.x(), rect.bottom() - band + 1, rect.width(), band), cell, self.scheme)
                paint_marks(p, rect, cell)
            else:
                paint_tile(p, rect, cell, self.scheme)
            if i == current:
                paint_current(p, rect.adjusted(-1, -1, 1, 1), 2)


class PlateHeader(QHeaderView):
    """Row letters or column numbers, painted here (no model round trip per section and role)."""

    def __init__(self, orientation: Qt.Orientation, parent=None):
        super().__init__(orientation, parent)
        self.setSectionsClickable(True)
        self.setHighlightSections(True)
        self.setMinimumSectionSize(4)
        self.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)

    def paintSection(self, p: QPainter, rect: QRect, section: int) -> None:
        if not rect.isValid():
            return
        p.save()
        p.fillRect(rect, QColor(theme.PANEL))
        p.setPen(QColor(theme.TEXT))
        font = QFont(p.font())
        size = rect.height() if self.orientation() == Qt.Orientation.Vertical else rect.width()
        font.setPointSizeF(max(6.0, min(9.5, size * 0.45)))
        p.setFont(font)
        text = str(section + 1) if self.orientation() == Qt.Orientation.Horizontal else row_letter(section + 1)
        room = rect.width() if self.orientation() == Qt.Orientation.Horizontal else rect.height()
        need = p.fontMetrics().horizontalAdvance("48") + 2 if self.orientation() == Qt.Orientation.Horizontal \
            else p.fontMetrics().height()
        step = next((s for s in (1, 2, 4, 8, 12, 16) if s * room >= need), 16)
        if section == 0 or (section + 1) % step == 0:  # narrow sections: every step-th number only
            if step > 1 and self.orientation() == Qt.Orientation.Horizontal:  # ends at its column, over the ones before
                p.drawText(rect.adjusted(-need, 0, 0, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                           text)
            else:
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        p.restore()


class PlateMapView(QTableView):
    drop_changed = Signal(int)  # a queue row made current here (click, Shift+arrows)
    drops_selected = Signal(list)  # queue rows of the selected wells (several wells, a row, a column)
    move_requested = Signal(int, int)  # plain arrows: rows and columns to move

    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.setHorizontalHeader(PlateHeader(Qt.Orientation.Horizontal, self))
        self.setVerticalHeader(PlateHeader(Qt.Orientation.Vertical, self))
        self.horizontalHeader().setFixedHeight(COLUMN_HEADER)
        self.verticalHeader().setFixedWidth(ROW_HEADER)
        self.wells = WellPainter(scheme)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setShowGrid(False)
        self.setMouseTracking(True)
        self.setTabKeyNavigation(False)  # Tab is the window's: the next drop of the well
        self.setStyleSheet(f"QTableView {{ background: {theme.BACKDROP}; border: none; }}")
        self.zoom = 1.0  # 1: the whole plate fits
        self._plate: int | None = None  # another plate opens fitted
        self._syncing = False
        self._shown: int | None = None  # the queue row outlined as current
        self._picked: int | None = None
        self._by_header = False  # the selection came from a row or column header
        self.horizontalHeader().sectionPressed.connect(self._header_pressed)
        self.verticalHeader().sectionPressed.connect(self._header_pressed)

    def setModel(self, model: PlateMapModel) -> None:
        super().setModel(model)
        self.selectionModel().currentChanged.connect(self._current_changed)
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        model.modelReset.connect(self._reset)

    # -- size -------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._shown = None
        inspection = self.model().session.inspection
        plate = inspection.plate_id if inspection else None
        self.fit(1.0 if plate != self._plate else None)
        self._plate = plate

    def drop_size(self) -> float:
        """The side of a drop's square at the current zoom (the fitted size times the zoom)."""
        layout = self.model().layout if self.model() else None
        if layout is None:
            return 0.0
        width = max(1, self.width() - ROW_HEADER - 2 * self.frameWidth())
        height = max(1, self.height() - COLUMN_HEADER - 2 * self.frameWidth())
        fitted = min(width / (layout.cols * layout.drops), height / layout.rows)
        return min(MAX_DROP_SIZE, fitted * self.zoom)

    def fitted_height(self, width: int) -> int:
        """The height the whole plate needs at this width when the width limits it (headers included)."""
        layout = self.model().layout if self.model() else None
        if layout is None:
            return 0
        side = min(MAX_DROP_SIZE, (width - ROW_HEADER - 2 * self.frameWidth()) / (layout.cols * layout.drops))
        return int(side * layout.rows) + COLUMN_HEADER + 2 * self.frameWidth() + 2

    def fit(self, zoom: float | None = None) -> None:
        """Size the wells: the whole plate in view at zoom 1, bigger when zoomed in."""
        if zoom is not None:
            self.zoom = zoom
        layout = self.model().layout if self.model() else None
        if layout is None:
            return
        size = self.drop_size()
        self.horizontalHeader().setDefaultSectionSize(max(4, int(size * layout.drops)))
        self.verticalHeader().setDefaultSectionSize(max(4, int(size)))
        policy = Qt.ScrollBarPolicy.ScrollBarAlwaysOff if self.zoom <= 1.0 else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        self.setHorizontalScrollBarPolicy(policy)
        self.setVerticalScrollBarPolicy(policy)

    def grow(self, step: int) -> None:
        """Zoom in (step > 0) or out, never below the fitted plate."""
        self.fit(max(1.0, self.zoom * (ZOOM_STEP if step > 0 else 1 / ZOOM_STEP)))
        index = self.currentIndex()
        if index.isValid():
            self.scrollTo(index)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.grow(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)

    # -- current drop and selection ----------------------------------------------------------------

    def show_current(self, queue_row: int) -> None:
        """Make the well of this queue row current (without reporting it back) and repaint the wells
        whose outline changed (only those: a 1536-well plate repainted whole costs a frame)."""
        model = self.model()
        index = model.well_index(queue_row) if model else QModelIndex()
        before = model.well_index(self._shown) if model and self._shown is not None else QModelIndex()
        self._shown = queue_row
        self._syncing = True
        try:
            if index.isValid() and index != self.currentIndex():
                self.selectionModel().setCurrentIndex(index, self.selectionModel().SelectionFlag.ClearAndSelect)
            if index.isValid():
                self.scrollTo(index)
        finally:
            self._syncing = False
        for well in (before, index):
            if well.isValid():
                self.viewport().update(self.visualRect(well))

    def drop_at(self, pos) -> int | None:
        """The queue row of the drop under a viewport position."""
        index = self.indexAt(pos)
        model = self.model()
        members = model.drops_at(index) if index.isValid() else []
        if not members:
            return None
        layout = model.layout
        rect = self.visualRect(index).adjusted(1, 1, -1, -1)
        for i, r in drop_rects(rect, layout.drops, [(i, layout.where[i][2]) for i in members]):
            if r.adjusted(-1, -1, 1, 1).contains(pos):
                return i
        return members[0]

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        picked, self._picked = self._picked, None
        members = self.model().drops_at(current)
        if picked is None and members:
            layout, session = self.model().layout, self.model().session
            drop = layout.where[session.current][2] if session.current in layout.where else 1
            picked = next((i for i in members if layout.where[i][2] == drop), members[0])
        if picked is not None:
            self.drop_changed.emit(picked)

    def _selection_changed(self, *_args: QItemSelection) -> None:
        """Several wells, or a whole row or column (its header clicked), select all their drops; one
        well alone leaves the label keys on the drop on screen."""
        model = self.model()
        wells = {(i.row() + 1, i.column() + 1) for i in self.selectionModel().selectedIndexes()}
        layout = model.layout
        whole = self._by_header and bool(wells)
        self.drops_selected.emit(layout.in_wells(wells) if layout and (len(wells) > 1 or whole) else [])

    def _header_pressed(self, _section: int) -> None:
        self._by_header = True
        self._selection_changed()  # the view selected the row or column before telling us

    def mousePressEvent(self, event) -> None:
        self._by_header = False
        self._picked = self.drop_at(event.position().toPoint())
        super().mousePressEvent(event)
        if self._picked is not None:  # the well was current already: still take the drop clicked
            picked, self._picked = self._picked, None
            self.drop_changed.emit(picked)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._by_header = False
        if event.key() in ARROWS and event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                                           Qt.KeyboardModifier.KeypadModifier):
            self.move_requested.emit(*ARROWS[event.key()])
            event.accept()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event) -> None:
        """The wells in the damaged area, painted in one loop (see ``WellPainter``)."""
        model = self.model()
        p = QPainter(self.viewport())
        area = event.rect()
        p.fillRect(area, BACKDROP)
        if model is None or model.session.layout is None or not model.rowCount():
            p.end()
            return
        top, left = max(0, self.rowAt(area.top())), max(0, self.columnAt(area.left()))
        bottom = self.rowAt(area.bottom())
        right = self.columnAt(area.right())
        bottom = model.rowCount() - 1 if bottom < 0 else bottom
        right = model.columnCount() - 1 if right < 0 else right
        selected = {(i.row(), i.column()) for i in self.selectionModel().selectedIndexes()}
        heights = [(r, self.rowViewportPosition(r), self.rowHeight(r)) for r in range(top, bottom + 1)]
        for c in range(left, right + 1):
            x, w = self.columnViewportPosition(c), self.columnWidth(c)
            for r, y, h in heights:
                self.wells.paint(p, model, QRect(x + 1, y + 1, w - 2, h - 2), r, c, (r, c) in selected)
        p.end()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = self.indexAt(event.pos())
            row = self.drop_at(event.pos())
            if row is not None:
                QToolTip.showText(event.globalPos(), self.model().drops.tooltip(row), self)
            elif index.isValid():
                QToolTip.showText(event.globalPos(), f"{row_letter(index.row() + 1)}{index.column() + 1:02d}: "
                                  "no image at this inspection", self)
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)
