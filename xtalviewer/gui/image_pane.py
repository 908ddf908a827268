"""The centre-right pane: the drop's title, its image (zoom and pan) and its time course."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from xtalviewer.core.labels import LabelScheme
from xtalviewer.gui.filmstrip import Filmstrip
from xtalviewer.gui.image_view import ImageView
from xtalviewer.gui.loader import BackgroundLoader


class ImagePane(QWidget):
    course_clicked = Signal(dict)  # a time-course row (another inspection of the drop)

    def __init__(self, scheme: LabelScheme, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 4px;")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # no minimum width
        self.image_view = ImageView()
        self.filmstrip = Filmstrip(scheme, thumbs)
        self.filmstrip.clicked.connect(self._film_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.image_view, 1)
        layout.addWidget(QLabel("Time course (this drop at every inspection)"))
        layout.addWidget(self.filmstrip)

    def set_course(self, rows: list[dict], current: int | None) -> None:
        """The drop at every inspection (``Store.drop_course`` rows); ``current`` image id is selected."""
        model = self.filmstrip.model_
        model.set_course(rows)
        for i, r in enumerate(rows):
            if r["id"] == current:
                self.filmstrip.setCurrentIndex(model.index(i))
                self.filmstrip.scrollTo(model.index(i))

    def _film_clicked(self, index: QModelIndex) -> None:
        rows = self.filmstrip.model_.rows()
        if 0 <= index.row() < len(rows):
            self.course_clicked.emit(rows[index.row()])
