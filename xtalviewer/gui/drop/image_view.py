"""The drop image: wheel zoom under the cursor, drag to pan, F fits, +/- zoom; a readable
placeholder when the image cannot be decoded; optionally the box the model crops (C) and where the
model sees a crystal (G: a Grad-CAM heat map with its legend)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsTextItem,
    QGraphicsView,
)

from xtalviewer.gui import theme


def _cosmetic_pen(color: QColor, width: int, style: Qt.PenStyle) -> QPen:
    """A pen as wide on screen at any zoom."""
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


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
        self._crop = QGraphicsRectItem()  # the model's crop box, in image pixels
        self._crop.setPen(_cosmetic_pen(QColor(0, 0, 0, 160), 4, Qt.PenStyle.SolidLine))  # readable on light frames
        self._crop.setZValue(1)
        dashes = QGraphicsRectItem(self._crop)
        dashes.setPen(_cosmetic_pen(QColor(theme.CURRENT), 2, Qt.PenStyle.DashLine))
        self._crop_dashes = dashes
        self._crop_tag = QGraphicsRectItem(self._crop)  # the caption on a dark tag, unscaled by zoom
        self._crop_tag.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self._crop_tag.setBrush(QColor(0, 0, 0, 190))
        self._crop_tag.setPen(Qt.PenStyle.NoPen)
        self._crop_caption = QGraphicsSimpleTextItem(self._crop_tag)
        self._crop_caption.setBrush(QColor(theme.CURRENT))
        self._crop_caption.setPos(4, 2)
        self.scene().addItem(self._crop)
        self._crop.hide()
        self.crop_key = None  # the image the crop box on screen belongs to
        self._heat = QGraphicsPixmapItem()  # Grad-CAM overlay, in image pixels, between image and crop box
        self._heat.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat.setZValue(0.5)
        self.scene().addItem(self._heat)
        self._legend = QGraphicsRectItem()  # caption and colour scale on a dark tag, unscaled by zoom
        self._legend.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self._legend.setBrush(QColor(0, 0, 0, 200))
        self._legend.setPen(Qt.PenStyle.NoPen)
        self._legend.setZValue(2)
        self._legend_scale = QGraphicsPixmapItem(self._legend)
        self._legend_text = QGraphicsSimpleTextItem(self._legend)
        self._legend_text.setBrush(QColor(theme.TEXT))
        self.scene().addItem(self._legend)
        self._legend.hide()
        self.heat_key = None  # the image the heat map on screen belongs to
        self.setBackgroundBrush(QColor(theme.IMAGE_BACKDROP))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the window's shortcuts
        self._fitted = True
        self.image_key = None
        self._image: QImage | None = None

    def show_image(self, key, image: QImage) -> None:
        same_size = not self._pixmap.pixmap().isNull() and self._pixmap.pixmap().size() == image.size()
        if key != self.image_key:
            self.clear_crop()
            self.clear_heat()
        self.image_key = key
        self._image = image
        self._message.setPlainText("")
        self._pixmap.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(QRectF(image.rect()))
        if self._fitted or not same_size:
            self.fit()

    def show_message(self, key, text: str) -> None:
        """A placeholder: unreadable image (with the reason), loading, or nothing selected."""
        self.image_key = key
        self.clear_crop()
        self.clear_heat()
        self._pixmap.setPixmap(QPixmap())
        self._message.setPlainText(text)
        self._message.setTextWidth(max(200, self.viewport().width() - 40))
        rect = self._message.boundingRect()
        self.scene().setSceneRect(rect)
        self.resetTransform()
        self.centerOn(rect.center())

    def show_crop(self, key, box: tuple[int, int, int, int], caption: str) -> None:
        """Outline ``box`` (x0, y0, x1, y1 in pixels of image ``key``) with ``caption`` above it;
        ignored when another image is on screen by now."""
        if key != self.image_key or not self.has_image():
            return
        x0, y0, x1, y1 = box
        self._crop.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._crop_dashes.setRect(self._crop.rect())
        self._crop_caption.setText(caption)
        text = self._crop_caption.boundingRect()
        self._crop_tag.setRect(QRectF(0, 0, text.width() + 8, text.height() + 4))
        self._crop_tag.setPos(x0, y0)
        self._crop.show()
        self.crop_key = key

    def clear_crop(self) -> None:
        self._crop.hide()
        self.crop_key = None

    def show_heat(self, key, heat: QImage, caption: str, scale: QImage) -> None:
        """Lay the RGBA heat map ``heat`` (the image's size) over image ``key``, with ``caption`` and the
        colour ``scale`` as its legend at the bottom left; ignored when another image is on screen."""
        if key != self.image_key or not self.has_image():
            return
        self._heat.setPixmap(QPixmap.fromImage(heat))
        self._heat.show()
        self._legend_scale.setPixmap(QPixmap.fromImage(scale))
        self._legend_text.setText(caption)
        text = self._legend_text.boundingRect()
        height = max(text.height(), scale.height()) + 12
        # anchored at the image's bottom-left corner, growing upwards in screen pixels
        self._legend.setRect(QRectF(0, -height, text.width() + scale.width() + 18, height))
        self._legend_scale.setPos(6, -height + 6 + max(0.0, (text.height() - scale.height()) / 2))
        self._legend_text.setPos(12 + scale.width(), -height + 6)
        self._legend.setPos(0, self._pixmap.pixmap().height())
        self._legend.show()
        self.heat_key = key

    def clear_heat(self) -> None:
        self._heat.hide()
        self._legend.hide()
        self.heat_key = None

    def heat_caption(self) -> str | None:
        """The caption of the heat map on screen, or None when none is shown."""
        return self._legend_text.text() if self._legend.isVisible() else None

    def crop_caption(self) -> str | None:
        """The caption of the crop box on screen, or None when none is shown."""
        return self._crop_caption.text() if self._crop.isVisible() else None

    def pixmap_image(self) -> QImage | None:
        """The decoded image on screen (implicitly shared, safe to hand to a worker), or None."""
        return self._image if self.has_image() else None

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
