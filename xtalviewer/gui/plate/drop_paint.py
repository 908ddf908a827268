"""How one drop is painted, in the flowing queue and on the plate map alike: its thumbnail (or, when
small, a colour tile), its label colour (dashed when inherited), the model's crystal probability
(red when a hit), the top-3 dot, a star when the drop was a hit at another inspection, a flag when
it needs a second look, and a dot on a tile that nobody has reviewed yet. ``cell`` is the dict
``DropGridModel.cell`` returns."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF

from xtalviewer.crystal_call import pct
from xtalviewer.labels import LabelScheme
from xtalviewer.gui import theme

THUMBNAIL_FROM = 16  # a sub-cell at least this many pixels square shows the image, smaller ones a tile
BADGE_FROM = 56  # wide enough for the crystal-probability badge


def paint_thumbnail(p: QPainter, rect: QRect, cell: dict) -> None:
    """The image, fitted and centred; a cross for an unreadable one, an ellipsis while it loads."""
    thumb, error = cell["thumbnail"], cell["error"]
    if thumb is not None:
        scaled = thumb.size().scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, scaled.width(), scaled.height())
        target.moveCenter(rect.center())
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(target, thumb)
    elif error:
        p.setPen(QPen(QColor(theme.ERROR), 2))
        p.drawLine(rect.topLeft(), rect.bottomRight())
        p.drawLine(rect.topRight(), rect.bottomLeft())
        if rect.width() >= BADGE_FROM:
            p.setPen(QColor(theme.ERROR_LIGHT))
            p.drawText(rect.adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "root not mapped" if cell.get("unmapped") else "unreadable")
    elif rect.width() >= THUMBNAIL_FROM:
        p.setPen(QColor(theme.FAINT))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "…")


def paint_label_band(p: QPainter, band: QRect, cell: dict, scheme: LabelScheme) -> None:
    """The label's colour: solid for a label of this inspection, dark and dashed when inherited."""
    label, inherited = cell["label"], cell["inherited"]
    if not (label or inherited):
        return
    color = QColor(scheme.get(label or inherited).color)
    if inherited:
        p.fillRect(band, color.darker(250))
        p.setPen(QPen(color, 1, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(band.adjusted(0, 0, -1, -1))
    else:
        p.fillRect(band, color)


TILE, TILE_ERROR, UNREVIEWED, HIT = QColor(theme.TILE), QColor(theme.ERROR).darker(200), QColor(theme.UNREVIEWED), \
    QColor(theme.HIT)


def paint_tile(p: QPainter, rect: QRect, cell: dict, scheme: LabelScheme) -> None:
    """A small drop as a colour tile: its label colour (or none), an unreviewed dot, the marks."""
    p.fillRect(rect, TILE_ERROR if cell["error"] else TILE)
    if cell["label"] or cell["inherited"]:
        paint_label_band(p, rect.adjusted(1, 1, -1, -1), cell, scheme)
    else:  # nobody has reviewed it at this inspection
        r = max(1.5, min(rect.width(), rect.height()) / 7)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(UNREVIEWED)
        p.drawEllipse(QRectF(rect.center().x() - r + 0.5, rect.center().y() - r + 0.5, 2 * r, 2 * r))
    if rect.width() < 14:  # tiny: the hit frame (and a flag) only
        if cell["hit"]:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(HIT, 2))
            p.drawRect(rect.adjusted(1, 1, -1, -1))
        if cell["flag"]:
            flag(p, QPointF(rect.x() + 1, rect.bottom()), rect.height() * 0.8)
        return
    paint_marks(p, rect, cell, compact=True)


def paint_marks(p: QPainter, rect: QRect, cell: dict, compact: bool = False) -> None:
    """Hit (a red frame, or on a big cell the red probability badge), the top-3 dot, the star of a
    hit at another inspection and the second-look flag."""
    prob = cell["crystal_prob"]
    p.setBrush(Qt.BrushStyle.NoBrush)
    if prob is not None and not compact and rect.width() >= BADGE_FROM:
        badge = QRect(rect.right() - 40, rect.y(), 40, 16)
        p.fillRect(badge, theme.badge_color(cell["hit"]))
        p.setPen(QColor(theme.LIGHT_TEXT))
        font = QFont(p.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() - 1))
        p.setFont(font)
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, pct(prob, 0))
        dot_at = QPointF(badge.x() - 7.5, badge.y() + 7.5)
    else:
        if cell["hit"]:
            p.setPen(QPen(QColor(theme.HIT), 2 if rect.width() < 40 else 3))
            p.drawRect(rect.adjusted(1, 1, -1, -1))
        dot_at = QPointF(rect.right() - 4.5, rect.y() + 4.5)
    size = 3.0 if rect.width() < 30 else 4.5
    if rect.width() < 14:  # a tiny tile: label colour, hit frame and the unreviewed dot only (plus a flag)
        if cell["flag"]:
            flag(p, QPointF(rect.x() + 1, rect.bottom()), rect.height() * 0.8)
        return
    if cell["crystal_top3"] and not (compact and cell["hit"]):
        p.setBrush(QColor(theme.TOP3))
        p.setPen(QPen(QColor(theme.LIGHT_TEXT), 1) if size > 3 else Qt.PenStyle.NoPen)
        p.drawEllipse(dot_at, size, size)
    left = rect.x() + 2.0
    if cell["flag"]:  # top left, where the eye starts
        height = max(8.0, min(14.0, rect.height() * 0.35))
        flag(p, QPointF(left, rect.y() + 2 + height), height)
        left += height * 0.8 + 2
    if cell["best"] is not None and not cell["hit"]:  # a hit at another inspection of the plate
        star(p, QPointF(left + size + 1, rect.y() + size + 2), size + 1.5)


def star(p: QPainter, centre: QPointF, radius: float) -> None:
    """A five-pointed star: the drop was a hit at some inspection (best over time)."""
    points = [QPointF(centre.x() + (radius if k % 2 == 0 else radius * 0.45) * math.sin(k * math.pi / 5),
                      centre.y() - (radius if k % 2 == 0 else radius * 0.45) * math.cos(k * math.pi / 5))
              for k in range(10)]
    p.setPen(QPen(QColor(theme.DARK_TEXT), 0.8))
    p.setBrush(QColor(theme.BEST))
    p.drawPolygon(QPolygonF(points))


def flag(p: QPainter, foot: QPointF, height: float) -> None:
    """A pennant on a pole, outlined so it shows on any image: the drop needs a second look."""
    top = QPointF(foot.x() + 1, foot.y() - height)
    p.setPen(QPen(QColor(theme.DARK_TEXT), 3))
    p.drawLine(QPointF(foot.x() + 1, foot.y()), top)
    p.setPen(QPen(QColor(theme.LIGHT_TEXT), 1.2))
    p.drawLine(QPointF(foot.x() + 1, foot.y()), top)
    p.setPen(QPen(QColor(theme.DARK_TEXT), 1))
    p.setBrush(QColor(theme.FLAG))
    p.drawPolygon(QPolygonF([top, QPointF(top.x() + height * 0.8, top.y() + height * 0.3),
                             QPointF(top.x(), top.y() + height * 0.6)]))


def paint_current(p: QPainter, rect: QRect, width: int = 2) -> None:
    """The drop on screen: an outline only, never covering the image."""
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.setPen(QPen(QColor(theme.CURRENT), width))
    p.drawRect(rect.adjusted(1, 1, -1, -1))
