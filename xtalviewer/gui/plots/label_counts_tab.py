"""Plots: stacked bars of current labels per plate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout

from xtalviewer.report import plots as plotdata
from xtalviewer.crystal_call import pct
from xtalviewer.labels import LabelScheme
from xtalviewer.gui.plots.style import (AXIS_PEN, HORIZONTAL_FROM, ROW_PX, axis_title, bar_item, category_ticks,
                                       layout_widget, message_label, pack_top, stack, style_plot)
from xtalviewer.gui.plots.tab import PlotTab
from xtalviewer.gui.theme import TEXT, UNLABELLED


class LabelCountsTab(PlotTab):
    """Stacked bars of current labels per plate: crystal classes on the baseline, so hits compare
    across plates at a glance; unlabelled drops on top in grey."""

    def __init__(self, db_path: Path, scheme: LabelScheme, parent=None):
        super().__init__(db_path, parent)
        self.scheme = scheme
        self.scope = QComboBox()
        self.scope.addItem("Latest inspection of each plate", True)
        self.scope.addItem("Every inspection (all images)", False)
        self.scope.setToolTip("Latest: each plate's drops as they are now. Every inspection: every image "
                              "ever taken, so a drop imaged five times counts five times.")
        self.unit = QComboBox()
        self.unit.addItem("Number of drops", False)
        self.unit.addItem("Share of the plate's drops (%)", True)
        self.scope.currentIndexChanged.connect(self.reload)
        self.unit.currentIndexChanged.connect(self._redraw)
        top = QHBoxLayout()
        top.addWidget(QLabel("Count"))
        top.addWidget(self.scope)
        top.addSpacing(12)
        top.addWidget(QLabel("as"))
        top.addWidget(self.unit)
        top.addStretch(1)

        self.view = layout_widget()
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        style_plot(self.plot)
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        self.legend = pg.LegendItem(brush=pg.mkBrush(35, 39, 46, 220), pen=pg.mkPen(AXIS_PEN),
                                    labelTextColor=TEXT, labelTextSize="9pt", verSpacing=-4)
        self.view.addItem(self.legend, row=0, col=1)
        pack_top(self.view, self.legend)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.view)
        self.info = message_label()
        self.info.setText("Loading…")
        self.order = self.stack_order([*scheme.keys, None])
        self.bars: dict[str | None, pg.BarGraphItem] = {
            k: bar_item(UNLABELLED if k is None else scheme.get(k).color) for k in self.order}
        for item in self.bars.values():
            self.plot.addItem(item)
        self.horizontal: bool | None = None
        self.plot.scene().sigMouseMoved.connect(self._hover)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.info)

    def _redraw(self) -> None:
        if self.data is not None:
            self.show_data(self.data)

    def query(self):
        latest = bool(self.scope.currentData())
        return lambda store: plotdata.label_counts_per_plate(store, latest)

    def stack_order(self, keys: Sequence[str | None]) -> list[str | None]:
        """Crystal classes first (the baseline), then the others in scheme order, unlabelled last."""
        crystal = self.scheme.crystal_keys
        return ([k for k in keys if k in crystal] + [k for k in keys if k is not None and k not in crystal]
                + [k for k in keys if k is None])

    def name(self, key: str | None) -> str:
        return "Unlabelled" if key is None else self.scheme.get(key).name

    def values(self) -> tuple[list[str], list[str | None], np.ndarray]:
        """What the bars show: counts, or each plate's shares in percent."""
        barcodes, keys, counts = self.data
        if not self.unit.currentData():
            return barcodes, keys, counts.astype(float)
        totals = counts.sum(axis=1, keepdims=True)
        return barcodes, keys, np.divide(100.0 * counts, totals, out=np.zeros(counts.shape), where=totals > 0)

    def show_data(self, data) -> None:
        barcodes, keys, values = self.values()
        first = self.horizontal is None
        self.horizontal = len(barcodes) >= HORIZONTAL_FROM
        column = {k: j for j, k in enumerate(keys)}
        stack([self.bars[k] for k in self.order], [values[:, column[k]] for k in self.order], self.horizontal)
        if first:  # the legend lists the stack as it reads: top to bottom for columns, left to right for rows
            for key in (self.order if self.horizontal else reversed(self.order)):
                self.legend.addItem(self.bars[key], self.name(key))
        share = bool(self.unit.currentData())
        value_axis, category_axis = ("bottom", "left") if self.horizontal else ("left", "bottom")
        self.plot.getAxis(category_axis).setTicks(category_ticks(barcodes))
        self.plot.getAxis(value_axis).setTicks(None)
        axis_title(self.plot, value_axis, "share of the plate's drops (%)" if share else "drops")
        axis_title(self.plot, category_axis, "plate")
        self.plot.showGrid(x=self.horizontal, y=not self.horizontal, alpha=0.15)
        self.plot.invertY(self.horizontal)  # first barcode at the top
        self.plot.showAxis("top", self.horizontal)  # the scale stays in sight while scrolling down the plates
        top = float(values.sum(axis=1).max()) if len(barcodes) else 1.0
        top = 100.0 if share else max(top, 1.0)
        span = (-0.6, max(len(barcodes), 1) - 0.4)
        if self.horizontal:
            self.plot.setRange(xRange=(0, top * 1.02), yRange=span, padding=0)
        else:
            self.plot.setRange(xRange=span, yRange=(0, top * 1.04), padding=0)
        self.view.setMinimumHeight(max(260, 80 + ROW_PX * len(barcodes)) if self.horizontal else 260)
        scope = "each plate's latest inspection" if self.scope.currentData() else "every inspection"
        total = int(data[2].sum())
        self.info.setText(f"{len(barcodes)} plates, {total:,} drop images ({scope}). Point at a bar for its numbers."
                          if barcodes else "No plates in this database yet.")

    def show_error(self, message: str) -> None:
        self.info.setText(f"Could not count labels: {message}")

    def _hover(self, pos: QPointF) -> None:
        if self.data is None or not self.plot.vb.sceneBoundingRect().contains(pos):
            return
        barcodes, keys, counts = self.data
        point = self.plot.vb.mapSceneToView(pos)
        i = round(point.y() if self.horizontal else point.x())
        if not 0 <= i < len(barcodes):
            return
        row = counts[i]
        total = int(row.sum())
        parts = [f"{self.name(k)} {int(row[j])}" for k in self.stack_order(keys)
                 for j in [keys.index(k)] if row[j]]
        crystals = int(sum(row[keys.index(k)] for k in self.scheme.crystal_keys))
        self.info.setText(f"<b>{barcodes[i]}</b>: {total:,} drops, {crystals} crystal labels"
                          + (f" ({pct(crystals / total)})" if total else "") + " · " + ", ".join(parts))
