"""The selected drop across every inspection of its plate: a horizontal strip with date and label.
An inspection without its own label shows the earlier label as inherited, until confirmed (the
store's ``drop_course`` says which, by the same rule as the grid)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from xtalviewer.files.image_roots import unmapped_root
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import CourseImage
from xtalviewer.gui import theme
from xtalviewer.gui.drop.loader import BackgroundLoader

ROW_ROLE = Qt.ItemDataRole.UserRole + 1


class TimeCourseModel(QAbstractListModel):
    def __init__(self, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self._rows: list[CourseImage] = []
        thumbs.ready.connect(self._arrived)
        thumbs.failed.connect(self._arrived)

    def set_course(self, rows: list[CourseImage]) -> None:
        """Rows of ``Store.drop_course``, oldest first, with ``shown_label`` and ``inherited``."""
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> list[CourseImage]:
        return self._rows

    def _arrived(self, key, _payload) -> None:
        for i, r in enumerate(self._rows):
            if r.id == key:
                idx = self.index(i)
                self.dataChanged.emit(idx, idx)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        if role == ROW_ROLE:
            return r
        if role == Qt.ItemDataRole.DisplayRole:
            return (r.imaged_at or "")[:10]
        return None


class FilmDelegate(QStyledItemDelegate):
    def __init__(self, scheme: LabelScheme, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        self.thumbs = thumbs

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(120, 132)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        r = index.model().rows()[index.row()]  # from Python, not QModelIndex.data() (see DropGridModel.cell)
        rect = option.rect.adjusted(2, 2, -2, -2)
        p.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        p.fillRect(rect, QColor(theme.HIGHLIGHT if selected else theme.PANEL))
        img_rect = QRect(rect.x() + 4, rect.y() + 18, rect.width() - 8, rect.height() - 40)
        unmapped = unmapped_root(r.path)  # its image root is not mapped on this workstation
        thumb = None if r.load_error or unmapped else self.thumbs.request(r.id, (r.path, r.size, r.mtime))
        if thumb is not None:
            size = thumb.size().scaled(img_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(img_rect.center())
            p.drawImage(target, thumb)
        elif unmapped or r.load_error or self.thumbs.error(r.id):
            p.setPen(QColor(theme.ERROR))
            p.drawText(img_rect, Qt.AlignmentFlag.AlignCenter, "root not mapped" if unmapped else "unreadable")
        p.setPen(QColor(theme.TEXT))
        p.drawText(QRect(rect.x(), rect.y(), rect.width(), 16), Qt.AlignmentFlag.AlignCenter,
                   (r.imaged_at or "")[:10])
        label = r.shown_label
        band = QRect(rect.x(), rect.bottom() - 19, rect.width(), 20)
        if label:
            color = QColor(self.scheme.get(label).color)
            if r.inherited:
                p.fillRect(band, color.darker(250))
                p.setPen(QPen(color, 1, Qt.PenStyle.DashLine))
                p.drawRect(band.adjusted(0, 0, -1, -1))
                p.setPen(QColor(theme.TEXT))
                text = f"{self.scheme.get(label).name} (inherited)"
                p.drawText(band, Qt.AlignmentFlag.AlignCenter,
                           p.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, band.width() - 4))
            else:
                p.fillRect(band, color)
                p.setPen(theme.text_on(color))
                p.drawText(band, Qt.AlignmentFlag.AlignCenter, self.scheme.get(label).name)
        else:
            p.setPen(QColor(theme.MUTED))
            p.drawText(band, Qt.AlignmentFlag.AlignCenter, "unlabelled")
        p.restore()


class Filmstrip(QListView):
    def __init__(self, scheme: LabelScheme, thumbs: BackgroundLoader, parent=None):
        super().__init__(parent)
        self.model_ = TimeCourseModel(thumbs, self)
        self.setModel(self.model_)
        self.setItemDelegate(FilmDelegate(scheme, thumbs, self))
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setUniformItemSizes(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFixedHeight(150)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setStyleSheet(f"QListView {{ background: {theme.BACKDROP}; border: none; }}")
