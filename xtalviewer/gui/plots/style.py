"""The plots' shared look and drawing helpers (pyqtgraph): dark background, light ticks, stacked
bars updated in place."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from xtalviewer.gui.theme import AXIS as AXIS_PEN
from xtalviewer.gui.theme import BACKDROP as PLOT_BG
from xtalviewer.gui.theme import MUTED, TICK_TEXT

BAR = 0.72
HORIZONTAL_FROM = 9  # plates; from here on barcodes sit beside horizontal bars, one per line
ROW_PX = 24  # height of one horizontal bar, so 100 plates scroll instead of overlapping


def style_plot(plot: pg.PlotItem, *, interactive: bool = False) -> None:
    """The retrain dialog's look: dark background, light ticks, no context menu."""
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMouseEnabled(interactive, interactive)
    for name in ("bottom", "left", "top", "right"):
        axis = plot.getAxis(name)
        axis.setTextPen(TICK_TEXT)
        axis.setPen(AXIS_PEN)
        axis.setStyle(tickTextOffset=4)


def layout_widget() -> pg.GraphicsLayoutWidget:
    view = pg.GraphicsLayoutWidget()
    view.setBackground(PLOT_BG)
    view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    view.setMinimumHeight(200)
    return view


def pack_top(view: pg.GraphicsLayoutWidget, item: pg.GraphicsWidget) -> None:
    """Keep a legend at its own size at the top of its column, not stretched down the plot's height."""
    item.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    view.ci.layout.setAlignment(item, Qt.AlignmentFlag.AlignTop)
    view.ci.layout.setColumnStretchFactor(0, 1)


def axis_title(plot: pg.PlotItem, axis: str, text: str) -> None:
    """An axis title in the tick colour: pyqtgraph's default grey vanishes on the dark background."""
    plot.setLabel(axis, text, color=MUTED, size="9pt")
    plot.getAxis(axis).showLabel(bool(text))


def message_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {MUTED}; padding: 2px 4px;")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def category_ticks(names: Sequence[str], offset: float = 0.0) -> list[list[tuple[float, str]]]:
    return [[(i + offset, name) for i, name in enumerate(names)]]


def bar_item(brush) -> pg.BarGraphItem:
    return pg.BarGraphItem(x=[], height=[], width=BAR, brush=brush, pen=pg.mkPen(PLOT_BG, width=1))


def stack(items: Sequence[pg.BarGraphItem], values: Sequence[np.ndarray], horizontal: bool,
          width: float = BAR) -> None:
    """Put bar i of every item at position i, each item's bars on top of the ones before.

    The items are updated in place, never removed and re-made: pyqtgraph items taken out of a plot
    can crash the interpreter at exit under PySide6.
    """
    base = None
    for item, v in zip(items, values):
        v = np.asarray(v, dtype=float)
        pos = np.arange(len(v), dtype=float)
        base = np.zeros(len(v)) if base is None else base
        if horizontal:
            item.setOpts(x=None, x0=base.copy(), x1=None, width=v, y=pos, y0=None, y1=None, height=width)
        else:
            item.setOpts(x=pos, x0=None, x1=None, width=width, y=None, y0=base.copy(), y1=None, height=v)
        base = base + v


def bar_lengths(item: pg.BarGraphItem, horizontal: bool) -> np.ndarray:
    """The values an item's bars show (their heights, or widths when horizontal)."""
    return np.asarray(item.opts["width" if horizontal else "height"], dtype=float)
