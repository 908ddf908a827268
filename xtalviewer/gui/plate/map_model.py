"""The open inspection as its plate: a table model of rows x columns of wells over the review
session's ``PlateLayout``. Each index is a well; its drops are the session's queue rows, painted
by the plate map's delegate from ``DropGridModel.cell``. Wells without an image at this
inspection are not enabled, so the arrows step over them."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from xtalviewer.review.plate_map import PlateLayout
from xtalviewer.plates import row_letter
from xtalviewer.gui.plate.grid_model import DropGridModel


WELL = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
NO_WELL = Qt.ItemFlag.NoItemFlags


class PlateMapModel(QAbstractTableModel):
    def __init__(self, drops: DropGridModel, parent=None):
        super().__init__(parent)
        self.drops = drops
        self.session = drops.session
        drops.thumbs.ready.connect(self._thumb_arrived)
        drops.thumbs.failed.connect(self._thumb_arrived)

    @property
    def layout(self) -> PlateLayout | None:
        return self.session.layout

    def reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def well_index(self, queue_row: int) -> QModelIndex:
        """The table index of the well holding this queue row (invalid when it is not on the map)."""
        layout = self.layout
        if layout is None or queue_row not in layout.where:
            return QModelIndex()
        row, col, _ = layout.where[queue_row]
        return self.index(row - 1, col - 1)

    def drops_at(self, index: QModelIndex | QPersistentModelIndex) -> list[int]:
        """Queue rows of the well's drops, in drop order."""
        layout = self.session.layout
        return layout.cells.get((index.row() + 1, index.column() + 1), []) if layout is not None else []

    def refresh(self, image_ids) -> None:
        """These drops changed (a label, a prediction, a flag): repaint their wells."""
        for image_id in image_ids:
            row = self.session.row_of(image_id)
            idx = self.well_index(row) if row is not None else QModelIndex()
            if idx.isValid():
                self.dataChanged.emit(idx, idx)

    def _thumb_arrived(self, key, _payload) -> None:
        row = self.session.row_of(key)
        idx = self.well_index(row) if row is not None else QModelIndex()
        if idx.isValid():
            self.dataChanged.emit(idx, idx)

    # -- Qt model API -------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.layout is None else self.layout.rows

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.layout is None else self.layout.cols

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        layout = self.session.layout  # called twice per cell and paint: kept short
        return WELL if layout is not None and (index.row() + 1, index.column() + 1) in layout.cells else NO_WELL

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return f"{row_letter(index.row() + 1)}{index.column() + 1}"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1) if orientation == Qt.Orientation.Horizontal else row_letter(section + 1)
        return None
