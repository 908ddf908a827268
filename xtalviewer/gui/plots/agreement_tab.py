"""Plots: the active model against the reviewers: headline rates, agreement per plate, and where
the disagreements fall (the confusion matrix the Retrain dialog shows too)."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSplitter, QStackedWidget, QVBoxLayout,
                               QWidget)

from xtalviewer.report import plots as plotdata
from xtalviewer.crystal_call import pct
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import Model
from xtalviewer.gui.plots.confusion_view import ConfusionView
from xtalviewer.gui.plots.style import (AXIS_PEN, BAR, HORIZONTAL_FROM, axis_title, bar_item, category_ticks,
                                       layout_widget, message_label, stack, style_plot)
from xtalviewer.gui.plots.tab import PlotTab
from xtalviewer.gui.theme import MUTED, PANEL, TEXT, TOP1_COLOUR, TOP3_COLOUR


class AgreementTab(PlotTab):
    """The active model against the reviewers: headline rates, agreement per plate, and where the
    disagreements fall (confusion heat map)."""

    def __init__(self, db_path: Path, scheme: LabelScheme, model: Model | None, parent=None):
        super().__init__(db_path, parent)
        self.scheme, self.model = scheme, model
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet(f"color: {MUTED}; font-size: 12pt; padding: 40px;")
        self.message.setText("Loading…")

        self.tiles = {key: QLabel() for key in ("top1", "top3", "crystal")}
        tiles = QHBoxLayout()
        for label in self.tiles.values():
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet(f"background: {PANEL}; border-radius: 6px; padding: 8px 16px;")
            tiles.addWidget(label, 1)
        self.summary = message_label()

        self.plates_view = layout_widget()
        self.plates_plot: pg.PlotItem = self.plates_view.addPlot(row=1, col=0)
        style_plot(self.plates_plot)
        self.plates_plot.setTitle("Agreement per plate (drops compared)", color=TEXT, size="10pt")
        self.plates_legend = pg.LegendItem(brush=pg.mkBrush(35, 39, 46, 220), pen=pg.mkPen(AXIS_PEN),
                                           labelTextColor=TEXT, labelTextSize="9pt", colCount=2)
        self.plates_view.addItem(self.plates_legend, row=0, col=0)
        self.plates_legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.plates_scroll = QScrollArea()
        self.plates_scroll.setWidgetResizable(True)
        self.plates_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.plates_scroll.setWidget(self.plates_view)
        self.plate_bars = {"top3": bar_item(TOP3_COLOUR), "top1": bar_item(TOP1_COLOUR)}
        dashed = pg.mkPen(TEXT, width=1, style=Qt.PenStyle.DashLine)
        self.overall = pg.InfiniteLine(pos=0, angle=0, pen=dashed)
        self.overall_sample = pg.PlotDataItem(pen=dashed)
        for item in (*self.plate_bars.values(), self.overall):
            self.plates_plot.addItem(item)
        self.plates_legend.addItem(self.plate_bars["top1"], "top-1 agreement")
        self.plates_legend.addItem(self.plate_bars["top3"], "top-3 agreement")
        self.plates_legend.addItem(self.overall_sample, "top 1, all plates")
        self.horizontal = False

        self.confusion = ConfusionView("Reviewer's label", "Model's top 1", "")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plates_scroll)
        split.addWidget(self.confusion)
        split.setChildrenCollapsible(False)
        split.setSizes([430, 570])
        content = QWidget()
        cl = QVBoxLayout(content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(tiles)
        cl.addWidget(self.summary)
        cl.addWidget(split, 1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.message)
        self.stack.addWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        if model is None:
            self._say("No model is active, so there is nothing to compare the labels with.\n\n"
                      "Activate a model in the Model menu (or train one with Retrain), then press Refresh.")

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    @property
    def showing_message(self) -> bool:
        return self.stack.currentWidget() is self.message

    def query(self):
        if self.model is None:
            return None
        model_id = self.model.id
        return lambda store: plotdata.agreement(store, model_id)

    def set_model(self, model: Model | None) -> None:
        self.model = model
        if model is None:
            self.data = None
            self._say("No model is active, so there is nothing to compare the labels with.\n\n"
                      "Activate a model in the Model menu (or train one with Retrain), then press Refresh.")

    def model_name(self) -> str:
        m = self.model
        return f"{m.name} ({m.arch}, id {m.id})" if m else "(none)"

    def show_data(self, data: dict) -> None:
        if data["n"] == 0:
            why = ("No drop has a reviewer's label yet." if data["labelled"] == 0 else
                   f"{data['labelled']:,} drops have a reviewer's label, but model {self.model_name()} has scored "
                   "none of them yet.\n\nScore the plates (they are scored as you open them, or run "
                   "'xtalviewer predict'), then press Refresh.")
            self._say(f"Nothing is both labelled and predicted, so there is no agreement to show.\n\n{why}")
            return
        self.stack.setCurrentIndex(1)
        n = data["n"]
        for key, title, tip in (
            ("top1", "Top-1 agreement", "The model's most likely class is the reviewer's label"),
            ("top3", "Top-3 agreement", "The reviewer's label is among the model's three most likely classes"),
            ("crystal", "Crystal agreement", "Reviewer and model's top 1 both say crystal, or both say no crystal"),
        ):
            self.tiles[key].setText(
                f"<div style='font-size:22pt; font-weight:bold; color:{TEXT}'>{pct(data[key])}</div>"
                f"<div style='color:{TEXT}'>{title}</div>"
                f"<div style='color:{MUTED}; font-size:8pt'>{data[key + '_n']:,} of {n:,} drops</div>")
            self.tiles[key].setToolTip(tip)
        unscored = data["labelled"] - n
        self.summary.setText(
            f"Model {self.model_name()} against {n:,} drops that a reviewer labelled (or whose label was "
            "imported) and the model scored"
            + (f"; {unscored:,} labelled drops are not scored yet" if unscored else "")
            + ". Labels accepted from a prediction are left out: they agree by construction.")
        self._plates(data)
        self._confusion(data)

    def _plates(self, data: dict) -> None:
        plot = self.plates_plot
        barcodes = data["barcodes"]
        self.horizontal = len(barcodes) >= HORIZONTAL_FROM
        # top 1 drawn narrower inside top 3: it can only be as high as top 3
        stack([self.plate_bars["top3"]], [100 * data["plate_top3"]], self.horizontal)
        stack([self.plate_bars["top1"]], [100 * data["plate_top1"]], self.horizontal, width=BAR * 0.6)
        self.overall.setAngle(90 if self.horizontal else 0)
        self.overall.setValue(100 * data["top1"])
        self.plates_legend.getLabel(self.overall_sample).setText(f"top 1, all plates ({pct(data['top1'])})")
        names = [f"{b}  ({n:,})" if self.horizontal else f"{b}\n{n:,} drops"
                 for b, n in zip(barcodes, data["plate_n"])]
        value_axis, category_axis = ("bottom", "left") if self.horizontal else ("left", "bottom")
        plot.getAxis(category_axis).setTicks(category_ticks(names))
        plot.getAxis(value_axis).setTicks(None)
        axis_title(plot, value_axis, "agreement (%)")
        axis_title(plot, category_axis, "")
        if not self.horizontal:  # two-line ticks: barcode, then how many drops the bar stands on
            plot.getAxis("bottom").setHeight(2 * QFontMetrics(QFont()).height() + 12)
        else:
            plot.getAxis("bottom").setHeight(None)
        plot.showGrid(x=self.horizontal, y=not self.horizontal, alpha=0.15)
        plot.invertY(self.horizontal)
        plot.showAxis("top", self.horizontal)
        span = (-0.6, max(len(barcodes), 1) - 0.4)
        if self.horizontal:
            plot.setRange(xRange=(0, 102), yRange=span, padding=0)
        else:
            plot.setRange(xRange=span, yRange=(0, 104), padding=0)
        self.plates_view.setMinimumHeight(max(260, 140 + 18 * len(barcodes)) if self.horizontal else 260)

    def _confusion(self, data: dict) -> None:
        names = [self.scheme.get(k).name for k in data["keys"]]
        self.confusion.set_matrix(data["confusion"], names, "Confusion (cells shaded by share of the row)")

    def show_error(self, message: str) -> None:
        self._say(f"Could not compute the agreement: {message}")
