"""Plots: which chemistry crystallises. Over the plates of one screen, the share of wells with a hit
per component and per pH bin (``report/conditions.py``), and the conditions with a hit with the days
to their first one. A click on a bar (or Enter on the chosen bar) filters the review window's queue
to the wells of that component or pH, through the review session's filters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QScrollArea,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from xtalviewer.crystal_call import pct
from xtalviewer.report.conditions import ChemistrySummary, tab_data
from xtalviewer.store.rows import Model
from xtalviewer.gui.plots.style import BAR, PLOT_BG, ROW_PX, axis_title, category_ticks, message_label, style_plot
from xtalviewer.gui.plots.tab import PlotTab
from xtalviewer.gui.theme import CURRENT, SERIES, TICK_TEXT

TABLE_COLUMNS = ("Well", "Code", "Wells with a hit", "Best", "First hit after", "Condition")


class BarChart(pg.GraphicsLayoutWidget):
    """Horizontal bars, one per category, the first at the top. Up and Down choose a bar, Enter (or a
    click) picks it; pointing at a bar or choosing one reports it."""

    picked = Signal(int)  # a click or Enter on bar i
    pointed = Signal(int)  # the bar under the pointer or chosen with the keys

    def __init__(self, title: str, color: str, parent=None):
        super().__init__(parent)
        self.setBackground(PLOT_BG)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(200)
        self.plot: pg.PlotItem = self.addPlot(row=0, col=0)
        style_plot(self.plot)
        self.plot.invertY(True)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.title = title
        self._show_title(focused=False)
        axis_title(self.plot, "top", "share of wells with a hit (%)")
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=BAR, brush=pg.mkBrush(color),
                                    pen=pg.mkPen(PLOT_BG, width=1))
        self.mark = pg.BarGraphItem(x0=[], y=[], width=[], height=BAR + 0.12, brush=None,
                                    pen=pg.mkPen(CURRENT, width=2))
        self.plot.addItem(self.bars)
        self.plot.addItem(self.mark)
        self.values = np.zeros(0)
        self.current = -1
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.scene().sigMouseMoved.connect(self._moved)

    def _show_title(self, *, focused: bool) -> None:
        """The title says when the keys choose a bar here."""
        if focused:
            self.plot.setTitle(f"{self.title}  (Up/Down, Enter shows those wells)", color=CURRENT, size="10pt")
        else:
            self.plot.setTitle(self.title, color=TICK_TEXT, size="10pt")

    def focusInEvent(self, event) -> None:
        self._show_title(focused=True)
        super().focusInEvent(event)

    def focusOutEvent(self, event) -> None:
        self._show_title(focused=False)
        super().focusOutEvent(event)

    def set_bars(self, labels: Sequence[str], values: Sequence[float]) -> None:
        """Bars in this order (values in percent); the chosen bar stays where it can."""
        self.values = np.asarray(values, dtype=float)
        n = len(self.values)
        pos = np.arange(n, dtype=float)
        self.bars.setOpts(x0=np.zeros(n), y=pos, width=self.values, height=BAR)
        self.plot.getAxis("left").setTicks(category_ticks(list(labels)))
        self.plot.setRange(xRange=(0, 100), yRange=(-0.6, max(n, 1) - 0.4), padding=0)
        self.setMinimumHeight(max(200, 70 + ROW_PX * n))
        self.select(min(self.current, n - 1) if self.current >= 0 else (0 if n else -1), report=False)

    def select(self, i: int, *, report: bool = True) -> None:
        self.current = i
        if 0 <= i < len(self.values):
            self.mark.setOpts(x0=[0.0], y=[float(i)], width=[max(float(self.values[i]), 0.5)], height=BAR + 0.12)
        else:
            self.mark.setOpts(x0=[], y=[], width=[], height=BAR + 0.12)
        if report:
            self.pointed.emit(i)

    def bar_at(self, scene_pos: QPointF) -> int | None:
        if not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        i = round(self.plot.vb.mapSceneToView(scene_pos).y())
        return i if 0 <= i < len(self.values) else None

    def _moved(self, pos: QPointF) -> None:
        i = self.bar_at(pos)
        if i is not None:
            self.pointed.emit(i)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        i = self.bar_at(event.scenePos())
        if i is not None:
            self.select(i)
            self.picked.emit(i)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        n, key = len(self.values), event.key()
        steps = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 5, Qt.Key.Key_PageUp: -5}
        if n and key in steps:
            self.select(max(0, min(n - 1, self.current + steps[key])))
        elif n and key == Qt.Key.Key_Home:
            self.select(0)
        elif n and key == Qt.Key.Key_End:
            self.select(n - 1)
        elif n and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and 0 <= self.current < n:
            self.picked.emit(self.current)
        else:
            super().keyPressEvent(event)


class ConditionsTab(PlotTab):
    """Which chemistry crystallises on the plates of one screen; a picked bar filters the review window."""

    condition_chosen = Signal(dict)  # review-session filter changes: {"component": ...} or {"ph_range": (lo, hi)}

    def __init__(self, db_path: Path, model: Model | None, parent=None):
        super().__init__(db_path, parent)
        self.model = model
        self.screen_box = QComboBox()
        self.screen_box.setMinimumContentsLength(24)
        self.screen_box.currentIndexChanged.connect(lambda *_: self._quiet or self.reload())
        self._quiet = False
        top = QHBoxLayout()
        top.addWidget(QLabel("Screen"))
        top.addWidget(self.screen_box)
        top.addStretch(1)
        self.headline = message_label()
        self.components = BarChart("Per component", SERIES[0])
        self.ph = BarChart("Per pH", SERIES[2])
        self.scroll = scroll = QScrollArea()  # a 1536-condition screen has many more components than fit
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(self.components)
        charts = QHBoxLayout()
        charts.addWidget(scroll, 3)
        charts.addWidget(self.ph, 2)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(220)
        self.info = message_label()
        self.info.setText("Loading…")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.headline)
        layout.addLayout(charts, 1)
        layout.addWidget(QLabel("Conditions with a hit (most wells with a hit first), days from the plate's first "
                                "imaging to the first hit"))
        layout.addWidget(self.table)
        layout.addWidget(self.info)
        self.components.pointed.connect(self._describe_component)
        self.components.picked.connect(self._pick_component)
        self.ph.pointed.connect(lambda i: self._describe_ph(i))
        self.ph.picked.connect(self._pick_ph)
        self.summary: ChemistrySummary | None = None

    def set_model(self, model: Model | None) -> None:
        self.model = model

    def query(self):
        screen, model = self.screen_box.currentData(), self.model
        return lambda store: tab_data(store, model, screen)

    def show_data(self, data) -> None:
        names, summary = data
        self.summary = summary
        self._quiet = True
        try:
            self.screen_box.clear()
            for name in names:
                self.screen_box.addItem(name, name)
            if summary is not None:
                self.screen_box.setCurrentIndex(max(0, self.screen_box.findData(summary.screen)))
        finally:
            self._quiet = False
        if summary is None:
            self.components.set_bars([], [])
            self.ph.set_bars([], [])
            self.table.setRowCount(0)
            self.headline.setText("No plate has a screen yet. Import one (xtalviewer screens import FILE) and give it "
                                  "to plates: xtalviewer screens assign PLATE NAME, or a barcode rule.")
            self.info.setText("")
            return
        s = summary
        share = 100.0 * s.hit_wells / s.wells if s.wells else 0.0
        self.headline.setText(f"<b>{s.screen}</b>: {len(s.plates)} plate{'s' * (len(s.plates) != 1)}, "
                              f"{s.hit_wells} of {s.wells} wells with a hit ({share:.0f}%). {s.rule} A well is a hit "
                              "when a drop of it was a model hit at any inspection or is labelled a crystal.")
        self.components.set_bars([f"{c.name} ({c.hit_wells}/{c.wells})" for c in s.components],
                                 [100.0 * c.share for c in s.components])
        self.ph.set_bars([f"{b.label} ({b.hit_wells}/{b.wells})" for b in s.ph_bins],
                         [100.0 * b.share for b in s.ph_bins])
        hits = [c for c in s.conditions if c.hit_wells]
        self.table.setRowCount(len(hits))
        for row, c in enumerate(hits):
            days = "" if c.days_to_first_hit is None else \
                f"{c.days_to_first_hit:g} day{'s' * (c.days_to_first_hit != 1)}"
            for col, text in enumerate((c.well, c.code or "", f"{c.hit_wells} of {c.wells}", pct(c.best_prob), days,
                                        c.description)):
                item = QTableWidgetItem(text)
                if col in (2, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.info.setText("Click a bar (or Tab to a chart, Up/Down, Enter) to show those wells in the review window."
                          + (f" No pH for {s.no_ph_wells} wells." if s.no_ph_wells else ""))

    def show_error(self, message: str) -> None:
        self.headline.setText(f"Could not summarise the conditions: {message}")

    def _describe_component(self, i: int) -> None:
        if self.summary is not None and 0 <= i < len(self.summary.components):
            at = self.components.mapFromScene(self.components.plot.vb.mapViewToScene(QPointF(0.0, float(i))))
            self.scroll.ensureVisible(at.x(), at.y(), 0, 2 * ROW_PX)  # the chosen bar stays in sight
            c = self.summary.components[i]
            best = f", best crystal probability {pct(c.best_prob)}" if c.best_prob is not None else ""
            self.info.setText(f"<b>{c.name}</b>: {c.hit_wells} of {c.wells} wells with a hit{best}; in {c.conditions} "
                              "conditions. Click or Enter: show these wells.")

    def _describe_ph(self, i: int) -> None:
        if self.summary is not None and 0 <= i < len(self.summary.ph_bins):
            b = self.summary.ph_bins[i]
            best = f", best {pct(b.best_prob)}" if b.best_prob is not None else ""
            self.info.setText(f"<b>{b.label}</b>: {b.hit_wells} hits in {b.wells} wells{best}. Click or Enter: show "
                              "these wells.")

    def _pick_component(self, i: int) -> None:
        if self.summary is not None and 0 <= i < len(self.summary.components):
            name = self.summary.components[i].name
            self.condition_chosen.emit({"component": name})
            self.info.setText(f"The review window shows the drops whose condition contains {name} (Ctrl+Shift+U "
                              "clears the filters).")

    def _pick_ph(self, i: int) -> None:
        if self.summary is not None and 0 <= i < len(self.summary.ph_bins):
            b = self.summary.ph_bins[i]
            self.condition_chosen.emit({"ph_range": (b.low, b.high)})
            self.info.setText(f"The review window shows the drops whose condition is at {b.label} (Ctrl+Shift+U "
                              "clears the filters).")
