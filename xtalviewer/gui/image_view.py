"""The drop image: wheel zoom under the cursor, drag to pan, F fits, +/- zoom; a readable
placeholder when the image cannot be decoded."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsTextItem, QGraphicsView

from xtalviewer.gui import theme


class ImageView(QGraphicsView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._pixmap = QGraphicsPixmapItem()
        self._pixmap.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._pixmap)
        self._message = QGraphicsTextItem()
        self._message.setDefaultTextColor(QColor(theme.TEXT))
        self.scene().addItem(self._message)
        self.setBackgroundBrush(QColor(theme.IMAGE_BACKDROP))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the window's shortcuts
        self._fitted = True
        self.image_key = None

    def show_image(self, key, image: QImage) -> None:
        same_size = not self._pixmap.pixmap().isNull() and self._pixmap.pixmap().size() == image.size()
        self.image_key = key
        self._message.setPlainText("")
        self._pixmap.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(QRectF(image.rect()))
        if self._fitted or not same_size:
            self.fit()

    def show_message(self, key, text: str) -> None:
        """A placeholder: unreadable image (with the reason), loading, or nothing selected."""
        self.image_key = key
        self._pixmap.setPixmap(QPixmap())
        self._message.setPlainText(text)
        self._message.setTextWidth(max(200, self.viewport().width() - 40))
        rect = self._message.boundingRect()
        self.scene().setSceneRect(rect)
        self.resetTransform()
        self.centerOn(rect.center())

    def has_image(self) -> bool:
        return not self._pixmap.pixmap().isNull()

    def fit(self) -> None:
        if self.has_image():
            self.fitInView(self._pixmap, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = max(0.05 / current, min(factor, 16 / current))
        self.scale(factor, factor)
        self._fitted = False

    def zoom_level(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()
