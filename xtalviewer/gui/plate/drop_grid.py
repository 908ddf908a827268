"""The drops of the open inspection, shown the way the review order asks: the plate map in plate
order without filters, the flowing queue for every other order or filter. One widget for the
window to bind: it reports the drop the reviewer moves to and the drops selected, and shows the
session's current drop in whichever view is up."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Signal
from PySide6.QtWidgets import QAbstractItemView, QStackedWidget

from xtalviewer.review.session import ReviewSession
from xtalviewer.gui.plate.grid_model import DropGridModel
from xtalviewer.gui.plate.grid_view import DropGridView
from xtalviewer.gui.drop.loader import BackgroundLoader
from xtalviewer.gui.plate.map_model import PlateMapModel
from xtalviewer.gui.plate.map_view import PlateMapView


class DropGrid(QStackedWidget):
    current_changed = Signal(int)  # the queue row the reviewer moved to (-1: none)
    selection_changed = Signal(list)  # queue rows selected (a label key labels them all)

    def __init__(self, session: ReviewSession, thumbs: BackgroundLoader, cell_size: int, parent=None):
        super().__init__(parent)
        self.session = session
        self.model = DropGridModel(session, thumbs, self)
        self.queue = DropGridView(session.scheme)
        self.queue.set_cell_size(cell_size)
        self.queue.setModel(self.model)
        self.map_model = PlateMapModel(self.model, self)
        self.plate = PlateMapView(session.scheme)
        self.plate.setModel(self.map_model)
        self.addWidget(self.queue)
        self.addWidget(self.plate)
        self._syncing = False
        self.queue.selectionModel().currentChanged.connect(self._queue_current)
        self.queue.selectionModel().selectionChanged.connect(
            lambda *_: self.selection_changed.emit([i.row() for i in self.queue.selectionModel().selectedIndexes()]))
        self.plate.drop_changed.connect(self.current_changed)
        self.plate.drops_selected.connect(self.selection_changed)
        self.plate.move_requested.connect(self._move)

    @property
    def view(self) -> QAbstractItemView:
        """The view on screen: the plate map or the flowing queue."""
        return self.currentWidget()

    @property
    def showing_plate(self) -> bool:
        return self.currentWidget() is self.plate

    def reset(self) -> None:
        """The session read a new queue: both models start over, the view follows the order."""
        had_focus = self.view.hasFocus()
        self.model.reset()
        self.map_model.reset()
        self.setCurrentWidget(self.plate if self.session.plate_map else self.queue)
        self.setFocusProxy(self.view)
        if had_focus:
            self.view.setFocus()

    def show_current(self, row: int) -> None:
        """Show the session's current drop (``row``) as current, without reporting it back."""
        if self.showing_plate:
            self.plate.show_current(row)
            return
        self._syncing = True
        try:
            if 0 <= row < self.model.rowCount():
                idx = self.model.index(row)
                if idx != self.queue.currentIndex():  # a current drop among selected ones keeps the selection
                    self.queue.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
                self.queue.scrollTo(idx)
        finally:
            self._syncing = False

    def _queue_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._syncing:
            self.current_changed.emit(current.row() if current.isValid() else -1)

    def _move(self, d_row: int, d_col: int) -> None:
        before = self.session.current
        self.session.move_in_plate(d_row, d_col)
        if self.session.current != before:
            self.plate.selectionModel().clearSelection()
            self.current_changed.emit(self.session.current)

    def refresh(self, image_ids) -> None:
        """These drops changed (label, prediction, flag, error): repaint them in both views."""
        ids = list(image_ids)
        self.model.refresh(ids)
        self.map_model.refresh(ids)

    def select_all(self) -> None:
        self.view.selectAll()

    def grow(self, step: int) -> None:
        """Bigger (step > 0) or smaller drops: zoom on the plate map, cell size in the queue."""
        if self.showing_plate:
            self.plate.grow(step)
        else:
            self.queue.grow(24 if step > 0 else -24)

    def visible_rows(self) -> list[int]:
        """Queue rows whose drop is in view now (what has to be painted, thumbnails included)."""
        if self.showing_plate:
            rect = self.plate.viewport().rect()
            layout = self.session.layout
            if layout is None:
                return []
            return sorted(i for (r, c), members in layout.cells.items()
                          if self.plate.visualRect(self.map_model.index(r - 1, c - 1)).intersects(rect)
                          for i in members)
        rect = self.queue.viewport().rect()
        return [r for r in range(self.model.rowCount()) if self.queue.visualRect(self.model.index(r)).intersects(rect)]
