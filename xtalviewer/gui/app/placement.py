"""Where the review window opens: where it was left, or on first start sized to the screen it
opens on (most of its free area, within a cap, centred), so a 96- or 384-well plate map fits; and
its docks beside the plate."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

SHARE = 0.94  # of the screen's free area
CAP = QSize(2560, 1600)  # a window wider than this only spreads the plate thinner
FALLBACK = QRect(0, 0, 1500, 950)


def first_start_geometry(available: QRect) -> QRect:
    """Most of ``available`` (the screen minus task bars), at most ``CAP``, centred in it."""
    size = QSize(min(CAP.width(), int(available.width() * SHARE)), min(CAP.height(), int(available.height() * SHARE)))
    rect = QRect(0, 0, size.width(), size.height())
    rect.moveCenter(available.center())
    return rect


def place(window: QMainWindow, saved: str) -> None:
    """Restore the geometry saved at the last close (hex of ``saveGeometry``), else size the
    window to its screen."""
    if saved and window.restoreGeometry(QByteArray.fromHex(saved.encode("ascii"))):
        return
    screen = window.screen() or QGuiApplication.primaryScreen()
    window.setGeometry(first_start_geometry(screen.availableGeometry() if screen else FALLBACK))


def saved_geometry(window: QMainWindow) -> str:
    return bytes(window.saveGeometry().toHex()).decode("ascii")


def add_dock(window: QMainWindow, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea,
             width: int) -> QDockWidget:
    """A dock that can be moved but not closed or floated (the review needs it), at least ``width`` wide."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setMinimumWidth(width)
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
    window.addDockWidget(area, dock)
    return dock
