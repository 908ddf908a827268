"""The centre-right pane: the drop's title, its image (zoom and pan) and its time course. When the
inspection has several imaging modes (visible, UV, SHG), a strip names them with the one shown
marked, and a second view can show another mode beside the visible image."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import CourseImage
from xtalviewer.store.schema import MODE_NAMES
from xtalviewer.gui import theme
from xtalviewer.gui.drop.time_course import Filmstrip
from xtalviewer.gui.drop.image_view import ImageView
from xtalviewer.gui.drop.loader import BackgroundLoader


class ImagePane(QWidget):
    course_clicked = Signal(object)  # a time-course row (CourseImage: another inspection of the drop)

    def __init__(self, scheme: LabelScheme, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 4px;")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # no minimum width
        self.modes = QLabel()  # "Visible | UV | SHG", the shown one marked; hidden with one mode
        self.modes.setTextFormat(Qt.TextFormat.RichText)
        self.modes.setStyleSheet("padding: 2px 4px;")
        self.modes.hide()
        self.image_view = ImageView()
        self.second_view = ImageView()  # another mode beside the visible image (Shift+M)
        self.captions = [QLabel(), QLabel()]
        self.columns: list[QWidget] = []
        images = QHBoxLayout()
        images.setContentsMargins(0, 0, 0, 0)
        for view, caption in zip((self.image_view, self.second_view), self.captions):
            column = QWidget()
            column_layout = QVBoxLayout(column)
            column_layout.setContentsMargins(0, 0, 0, 0)
            caption.setStyleSheet(f"color: {theme.MUTED}; padding: 0 4px;")
            caption.hide()
            column_layout.addWidget(caption)
            column_layout.addWidget(view, 1)
            images.addWidget(column, 1)
            self.columns.append(column)
        self.columns[1].hide()
        self.course_title = QLabel("Time course (this drop at every inspection)")
        self.filmstrip = Filmstrip(scheme, thumbs)
        self.filmstrip.clicked.connect(self._film_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.modes)
        layout.addLayout(images, 1)
        layout.addWidget(self.course_title)
        layout.addWidget(self.filmstrip)

    def show_modes(self, modes: list[str], shown: str, side_by_side: list[str] | None) -> None:
        """The inspection's imaging modes with ``shown`` marked; ``side_by_side``: the two modes
        the two views show, or None for one view."""
        several = len(modes) > 1
        self.modes.setVisible(several)
        if several:
            names = [f"<b style='color:{theme.CURRENT}'>[{MODE_NAMES.get(m, m)}]</b>" if m == shown
                     else MODE_NAMES.get(m, m) for m in modes]
            self.modes.setText("Imaging mode: " + " · ".join(names) + f"  <span style='color:{theme.MUTED}'>"
                               "(M: next mode, Shift+M: side by side)</span>")
        two = bool(side_by_side)
        self.columns[1].setVisible(two)
        for caption, mode in zip(self.captions, side_by_side or [None, None]):
            caption.setVisible(two)
            caption.setText(MODE_NAMES.get(mode, mode or ""))
        mode = f", {MODE_NAMES.get(shown, shown)}" if several else ""
        self.course_title.setText(f"Time course (this drop at every inspection{mode})")

    def set_course(self, rows: list[CourseImage], current: int | None) -> None:
        """The drop at every inspection (``Store.drop_course`` rows); ``current`` image id is selected."""
        model = self.filmstrip.model_
        model.set_course(rows)
        for i, r in enumerate(rows):
            if r.id == current:
                self.filmstrip.setCurrentIndex(model.index(i))
                self.filmstrip.scrollTo(model.index(i))

    def _film_clicked(self, index: QModelIndex) -> None:
        rows = self.filmstrip.model_.rows()
        if 0 <= index.row() < len(rows):
            self.course_clicked.emit(rows[index.row()])
