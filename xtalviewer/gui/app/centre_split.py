"""The centre of the review window: the drops (plate map or flowing queue) above the drop's image
and time course. Half each at first; a plate map that needs less height than half (a wide 96-well
plate) gets just what it needs, so the image gets the rest, until the reviewer moves the divider."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

from xtalviewer.gui.plate.drop_grid import DropGrid


class Centre(QSplitter):
    def __init__(self, grid_pane: QWidget, drops: DropGrid, image_pane: QWidget, parent=None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.grid_pane, self.drops = grid_pane, drops
        self.addWidget(grid_pane)
        self.addWidget(image_pane)
        self.moved_by_hand = False
        self.splitterMoved.connect(self._moved)

    def _moved(self, *_args) -> None:
        self.moved_by_hand = True

    def fit(self) -> None:
        """Half the height for the drops, or what the plate map needs when that is less."""
        height = self.height()
        if self.moved_by_hand or height <= 0:
            return
        top = height // 2
        if self.drops.showing_plate:
            around = max(0, self.grid_pane.height() - self.drops.height())  # the title above the map
            top = min(top, around + self.drops.plate.fitted_height(self.drops.width()))
        self.setSizes([top, height - top])
