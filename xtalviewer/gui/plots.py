"""Plots…: the store at a glance. Label counts per plate, how well the active model agrees with the
reviewers, and one inspection's crystal probabilities laid out as the plate.

Each tab reads its numbers from ``xtalviewer.core.plotdata`` on the thread pool with its own database
connection, so a store of half a million images never blocks the review window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from xtalviewer.core import plotdata
from xtalviewer.core.labels import LabelScheme
from xtalviewer.core.store import Store
from xtalviewer.gui.workers import run_in_background

PLOT_BG = "#1e2126"
TEXT = "#e5e7eb"
MUTED = "#9ca3af"
AXIS_PEN = "#4b5563"
TICK_TEXT = "#cbd5e1"
UNLABELLED = "#4b5563"
UNSCORED = "#6b6f76"  # neutral grey: no viridis colour is grey
NO_IMAGE = "#2b2f36"
CRYSTAL_MARK = "#ff4fd8"  # magenta: absent from viridis, so the outline shows on every cell colour
TOP1_COLOUR, TOP3_COLOUR = "#3b82f6", "#1e3a5f"
PROB_MAP = "viridis"
BAR = 0.72
HORIZONTAL_FROM = 9  # plates; from here on barcodes sit beside horizontal bars, one per line
ROW_PX = 24  # height of one horizontal bar, so 100 plates scroll instead of overlapping


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _style(plot: pg.PlotItem, *, interactive: bool = False) -> None:
    """The retrain dialog's look: dark background, light ticks, no context menu."""
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMouseEnabled(interactive, interactive)
    for name in ("bottom", "left", "top", "right"):
        axis = plot.getAxis(name)
        axis.setTextPen(TICK_TEXT)
        axis.setPen(AXIS_PEN)
        axis.setStyle(tickTextOffset=4)


def _layout_widget() -> pg.GraphicsLayoutWidget:
    view = pg.GraphicsLayoutWidget()
    view.setBackground(PLOT_BG)
    view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    view.setMinimumHeight(200)
    return view


def _pack_top(view: pg.GraphicsLayoutWidget, item: pg.GraphicsWidget) -> None:
    """Keep a legend at its own size at the top of its column, not stretched down the plot's height."""
    item.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    view.ci.layout.setAlignment(item, Qt.AlignmentFlag.AlignTop)
    view.ci.layout.setColumnStretchFactor(0, 1)


def _label(plot: pg.PlotItem, axis: str, text: str) -> None:
    """An axis title in the tick colour: pyqtgraph's default grey vanishes on the dark background."""
    plot.setLabel(axis, text, color=MUTED, size="9pt")
    plot.getAxis(axis).showLabel(bool(text))


def _message() -> QLabel:
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


class DownAxis(pg.AxisItem):
    """Tick labels written downwards under their ticks, so ten long class names fit side by side."""

    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, **kwargs)
        self.setStyle(hideOverlappingLabels=False)  # rotated labels never overlap; keep the last column's

    def set_names(self, names: Sequence[str], offset: float = 0.5) -> None:
        self.setTicks(category_ticks(names, offset))
        font = self.style.get("tickFont") or QFont()
        widest = max((QFontMetrics(font).horizontalAdvance(n) for n in names), default=0)
        label = self.label.boundingRect().height() if self.label.isVisible() else 0
        self.setHeight(widest + 14 + label)

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        super().drawPicture(p, axisSpec, tickSpecs, [])
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        p.setPen(self.textPen())
        height = p.fontMetrics().height()
        for rect, _, text in textSpecs:
            p.save()
            p.translate(rect.center().x(), rect.top())
            p.rotate(-90)
            p.drawText(QRectF(-self.height(), -height / 2, self.height(), height),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
            p.restore()


class _Tab(QWidget):
    """A tab whose numbers come from one plotdata query run off the GUI thread; stale answers are dropped."""

    loaded = Signal()

    def __init__(self, db_path: Path, parent=None):
        super().__init__(parent)
        self.db_path = db_path
        self.data = None
        self.error: str | None = None
        self._token = 0

    def query(self) -> Callable[[Store], object] | None:
        raise NotImplementedError

    def show_data(self, data) -> None:
        raise NotImplementedError

    def show_error(self, message: str) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        fn = self.query()
        if fn is None:
            return
        self._token += 1
        token, db = self._token, self.db_path

        def work():
            with Store(db, create=False) as store:
                return fn(store)

        run_in_background(work, lambda data: self._done(token, data), lambda msg: self._failed(token, msg),
                          parent=self)

    def _done(self, token: int, data) -> None:
        if token != self._token:
            return
        self.data, self.error = data, None
        self.show_data(data)
        self.loaded.emit()

    def _failed(self, token: int, message: str) -> None:
        if token != self._token:
            return
        self.error = message
        self.show_error(message)
        self.loaded.emit()


class LabelCountsTab(_Tab):
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

        self.view = _layout_widget()
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        _style(self.plot)
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        self.legend = pg.LegendItem(brush=pg.mkBrush(35, 39, 46, 220), pen=pg.mkPen(AXIS_PEN),
                                    labelTextColor=TEXT, labelTextSize="9pt", verSpacing=-4)
        self.view.addItem(self.legend, row=0, col=1)
        _pack_top(self.view, self.legend)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.view)
        self.info = _message()
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
        _label(self.plot, value_axis, "share of the plate's drops (%)" if share else "drops")
        _label(self.plot, category_axis, "plate")
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
                          + (f" ({100 * crystals / total:.1f}%)" if total else "") + " · " + ", ".join(parts))


class AgreementTab(_Tab):
    """The active model against the reviewers: headline rates, agreement per plate, and where the
    disagreements fall (confusion heat map)."""

    def __init__(self, db_path: Path, scheme: LabelScheme, model: dict | None, parent=None):
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
            label.setStyleSheet("background: #2b2f36; border-radius: 6px; padding: 8px 16px;")
            tiles.addWidget(label, 1)
        self.summary = _message()

        self.plates_view = _layout_widget()
        self.plates_plot: pg.PlotItem = self.plates_view.addPlot(row=1, col=0)
        _style(self.plates_plot)
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

        self.confusion_view = _layout_widget()
        self.bottom_axis = DownAxis("bottom")
        self.confusion_plot: pg.PlotItem = self.confusion_view.addPlot(row=0, col=0,
                                                                       axisItems={"bottom": self.bottom_axis})
        _style(self.confusion_plot)
        self.confusion_plot.setTitle("Confusion (cells shaded by share of the row)", color=TEXT, size="10pt")
        _label(self.confusion_plot, "left", "reviewer's label")
        _label(self.confusion_plot, "bottom", "model's top 1")
        self.confusion_plot.invertY(True)
        self.confusion_image: pg.ImageItem | None = None
        self.cell_texts: list[pg.TextItem] = []

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plates_scroll)
        split.addWidget(self.confusion_view)
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
        model_id = self.model["id"]
        return lambda store: plotdata.agreement(store, model_id)

    def set_model(self, model: dict | None) -> None:
        self.model = model
        if model is None:
            self.data = None
            self._say("No model is active, so there is nothing to compare the labels with.\n\n"
                      "Activate a model in the Model menu (or train one with Retrain), then press Refresh.")

    def model_name(self) -> str:
        m = self.model or {}
        return f"{m.get('name')} ({m.get('arch')}, id {m.get('id')})"

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
                f"<div style='font-size:22pt; font-weight:bold; color:{TEXT}'>{_pct(data[key])}</div>"
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
        self.plates_legend.getLabel(self.overall_sample).setText(f"top 1, all plates ({_pct(data['top1'])})")
        names = [f"{b}  ({n:,})" if self.horizontal else f"{b}\n{n:,} drops"
                 for b, n in zip(barcodes, data["plate_n"])]
        value_axis, category_axis = ("bottom", "left") if self.horizontal else ("left", "bottom")
        plot.getAxis(category_axis).setTicks(category_ticks(names))
        plot.getAxis(value_axis).setTicks(None)
        _label(plot, value_axis, "agreement (%)")
        _label(plot, category_axis, "")
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
        """Update the heat map in place: pyqtgraph TextItems removed from a plot can crash the
        interpreter at exit under PySide6, so the cell texts are made once and then only re-written."""
        plot = self.confusion_plot
        matrix = data["confusion"]
        names = [self.scheme.get(k).name for k in data["keys"]]
        n = len(names)
        totals = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        if self.confusion_image is None:
            self.confusion_image = pg.ImageItem(axisOrder="row-major")
            self.confusion_image.setLookupTable(
                pg.ColorMap([0, 1], [QColor("#262b33"), QColor(TOP1_COLOUR)]).getLookupTable(nPts=256))
            plot.addItem(self.confusion_image)
        self.confusion_image.setImage(share, autoLevels=False, levels=(0, 1))
        self.confusion_image.setRect(QRectF(0, 0, n, n))
        if len(self.cell_texts) != n * n:
            font = QFont()
            font.setPointSizeF(8.0)
            for index in range(len(self.cell_texts), n * n):
                text = pg.TextItem("", anchor=(0.5, 0.5))
                text.setFont(font)
                plot.addItem(text)
                self.cell_texts.append(text)
        for index, text in enumerate(self.cell_texts):
            i, j = divmod(index, n)
            visible = index < n * n
            text.setVisible(visible)
            if visible:
                count = int(matrix[i, j])
                text.setText(str(count), color="#6b7280" if count == 0 else "#ffffff")
                text.setPos(j + 0.5, i + 0.5)
        plot.getAxis("left").setTicks(category_ticks(names, 0.5))
        self.bottom_axis.set_names(names)
        plot.setRange(xRange=(0, n), yRange=(0, n), padding=0)

    def show_error(self, message: str) -> None:
        self._say(f"Could not compute the agreement: {message}")


class CrystalMapTab(_Tab):
    """One inspection as its plate: row A at the top, column 1 at the left, the drops of a well side by
    side, each cell coloured by the active model's crystal probability."""

    drop_clicked = Signal(int)

    def __init__(self, db_path: Path, scheme: LabelScheme, model: dict | None, choices: list[dict],
                 inspection_id: int | None = None, parent=None):
        super().__init__(db_path, parent)
        self.scheme, self.model = scheme, model
        self.plate_box = QComboBox()
        self.inspection_box = QComboBox()
        self.inspection_box.setMinimumContentsLength(28)
        top = QHBoxLayout()
        top.addWidget(QLabel("Plate"))
        top.addWidget(self.plate_box)
        top.addSpacing(12)
        top.addWidget(QLabel("Inspection"))
        top.addWidget(self.inspection_box)
        top.addStretch(1)

        self.view = _layout_widget()
        self.view.setMinimumHeight(300)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        _style(self.plot, interactive=True)
        self.plot.invertY(True)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.getViewBox().setDefaultPadding(0.01)
        self.cmap = pg.colormap.get(PROB_MAP)
        self.image = pg.ImageItem(np.zeros((1, 1)), axisOrder="row-major", levels=(0, 100))
        self.image.setLookupTable(self.cmap.getLookupTable(nPts=256))
        self.image.setZValue(1)
        self.backdrop = pg.ImageItem(np.zeros((1, 1, 4), np.uint8), axisOrder="row-major")  # grey: imaged
        self.backdrop.setZValue(0)
        self.grid = pg.PlotCurveItem(pen=pg.mkPen(PLOT_BG, width=4), connect="pairs")
        self.grid.setZValue(2)
        self.drop_grid = pg.PlotCurveItem(pen=pg.mkPen(PLOT_BG, width=1), connect="pairs")
        self.drop_grid.setZValue(2)
        self.marks = pg.ScatterPlotItem(symbol="s", size=0.82, pxMode=False, pen=pg.mkPen(CRYSTAL_MARK, width=2.5),
                                        brush=None)
        self.marks.setZValue(3)
        self.inherited_marks = pg.ScatterPlotItem(
            symbol="s", size=0.82, pxMode=False, brush=None,
            pen=pg.mkPen(CRYSTAL_MARK, width=2, style=Qt.PenStyle.DashLine))
        self.inherited_marks.setZValue(3)
        for item in (self.backdrop, self.image, self.grid, self.drop_grid, self.marks, self.inherited_marks):
            self.plot.addItem(item)
        self.colorbar = pg.ColorBarItem(values=(0, 100), colorMap=self.cmap, interactive=False, width=14,
                                        label="crystal probability (%)", colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.colorbar.getAxis("right").setTextPen(TICK_TEXT)
        self.colorbar.getAxis("right").setPen(AXIS_PEN)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        self.key = _message()
        self.info = _message()
        self.info.setStyleSheet(f"color: {TEXT}; padding: 2px 4px;")
        self.info.setText("Loading…")
        self.plot.scene().sigMouseMoved.connect(self._hover)
        self.plot.scene().sigMouseClicked.connect(self._clicked)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.key)

        self.set_choices(choices, inspection_id)
        self.plate_box.currentIndexChanged.connect(self._plate_changed)
        self.inspection_box.currentIndexChanged.connect(lambda _: self.reload())

    # -- pickers ----------------------------------------------------------------------------------

    def set_choices(self, choices: list[dict], inspection_id: int | None = None) -> None:
        """Fill the pickers; show ``inspection_id``, else the latest inspection of the first plate."""
        self.choices = choices
        self.by_plate: dict[str, list[dict]] = {}
        for c in choices:
            self.by_plate.setdefault(c["barcode"], []).append(c)
        wanted = next((c for c in choices if c["id"] == inspection_id), None)
        if wanted is None and choices:
            wanted = self.by_plate[choices[0]["barcode"]][-1]
        blocked = self.plate_box.blockSignals(True)
        self.plate_box.clear()
        for barcode in self.by_plate:
            self.plate_box.addItem(barcode, barcode)
        if wanted is not None:
            self.plate_box.setCurrentIndex(self.plate_box.findData(wanted["barcode"]))
        self.plate_box.blockSignals(blocked)
        self._fill_inspections(wanted["id"] if wanted else None)

    def _fill_inspections(self, inspection_id: int | None) -> None:
        blocked = self.inspection_box.blockSignals(True)
        self.inspection_box.clear()
        for c in self.by_plate.get(self.plate_box.currentData(), []):
            when = (c["imaged_at"] or "date unknown")[:16].replace("T", " ")
            extra = " · ".join(x for x in (c.get("imager"), c.get("profile")) if x)
            self.inspection_box.addItem(when + (f"  ({extra})" if extra else ""), c["id"])
            self.inspection_box.setItemData(self.inspection_box.count() - 1, c["key"], Qt.ItemDataRole.ToolTipRole)
        index = self.inspection_box.findData(inspection_id) if inspection_id is not None else -1
        self.inspection_box.setCurrentIndex(index if index >= 0 else self.inspection_box.count() - 1)
        self.inspection_box.blockSignals(blocked)

    def _plate_changed(self) -> None:
        self._fill_inspections(None)  # a plate's latest inspection: what it looks like now
        self.reload()

    def inspection_id(self) -> int | None:
        return self.inspection_box.currentData()

    # -- data -------------------------------------------------------------------------------------

    def query(self):
        inspection_id = self.inspection_id()
        if inspection_id is None:
            self.info.setText("No inspections in this database yet.")
            return None
        model_id = self.model["id"] if self.model else None
        return lambda store: plotdata.crystal_map(store, model_id, inspection_id)

    def show_data(self, data: dict) -> None:
        rows, cols, drops = data["rows"], data["cols"], data["drops"]
        width = cols * drops
        self.image.setImage(100 * data["prob"], autoLevels=False, levels=(0, 100))
        self.image.setRect(QRectF(0, 0, width, rows))
        imaged = data["image_ids"] >= 0
        colours = np.array([QColor(NO_IMAGE).getRgb(), QColor(UNSCORED).getRgb()], dtype=np.uint8)
        self.backdrop.setImage(colours[imaged.astype(int)], autoLevels=False, levels=(0, 255))
        self.backdrop.setRect(QRectF(0, 0, width, rows))
        self.grid.setData(*self._lines(rows, cols, drops))
        dense = width > 72
        self.drop_grid.setData(*self._drop_lines(rows, cols, drops) if drops > 1 and not dense else ([], []))
        self.grid.setPen(pg.mkPen(PLOT_BG, width=1 if dense else 3 if width > 24 else 4))
        ys, xs = np.nonzero(data["crystal_label"])
        self.marks.setData(x=xs + 0.5, y=ys + 0.5)
        ys, xs = np.nonzero(data["crystal_inherited"])
        self.inherited_marks.setData(x=xs + 0.5, y=ys + 0.5)
        self.plot.getAxis("left").setTicks(self._ticks([(r + 0.5, n) for r, n in enumerate(data["row_names"])]))
        self.plot.getAxis("top").setTicks(self._ticks([(c * drops + drops / 2, str(c + 1)) for c in range(cols)]))
        self.plot.getViewBox().setLimits(xMin=-1, xMax=width + 1, yMin=-1, yMax=rows + 1)
        self.plot.setRange(xRange=(0, width), yRange=(0, rows), padding=0.01)
        insp = data["inspection"]
        when = (insp["imaged_at"] or "date unknown")[:16].replace("T", " ")
        model = f"model {self.model['name']}" if self.model else "no active model"
        scored = int(np.count_nonzero(~np.isnan(data["prob"])))
        images = int(np.count_nonzero(data["image_ids"] >= 0))
        self.title.setText(f"{data['barcode']} · {when} · {rows * cols}-well, {drops} drop{'s' if drops > 1 else ''}"
                           f" · {model}: {scored:,} of {images:,} drops scored")
        crystal, inherited = int(data["crystal_label"].sum()), int(data["crystal_inherited"].sum())
        sides = f"Each well shows drops 1–{drops} left to right. " if drops > 1 else ""
        self.key.setText(
            f"{sides}<span style='color:{CRYSTAL_MARK}'>■</span> outline: labelled as a crystal class "
            f"({crystal}); dashed: labelled so at an earlier inspection, not yet here ({inherited}). "
            f"<span style='color:{UNSCORED}'>■</span> grey: not scored by the model"
            + ("" if self.model else " (no model is active: activate one in the Model menu)")
            + ". Dark: no image. Scroll to zoom, drag to pan; click a drop to go to it.")
        self.info.setText("Point at a drop for its well, probability and label.")

    @staticmethod
    def _ticks(ticks: list[tuple[float, str]]) -> list[list[tuple[float, str]]]:
        """Every label when they fit, else A, C, E… / 1, 3, 5… first; pyqtgraph drops the rest if crowded."""
        return [ticks] if len(ticks) <= 24 else [ticks[0::2], ticks[1::2]]

    @staticmethod
    def _lines(rows: int, cols: int, drops: int) -> tuple[np.ndarray, np.ndarray]:
        """Well boundaries as segment pairs."""
        xs, ys = [], []
        for c in range(cols + 1):
            xs += [c * drops, c * drops]
            ys += [0, rows]
        for r in range(rows + 1):
            xs += [0, cols * drops]
            ys += [r, r]
        return np.asarray(xs, float), np.asarray(ys, float)

    @staticmethod
    def _drop_lines(rows: int, cols: int, drops: int) -> tuple[np.ndarray, np.ndarray]:
        xs = [x for c in range(cols) for d in range(1, drops) for x in (c * drops + d,) * 2]
        ys = [y for _ in range(cols) for _ in range(1, drops) for y in (0, rows)]
        return np.asarray(xs, float), np.asarray(ys, float)

    def show_error(self, message: str) -> None:
        self.info.setText(f"Could not read this inspection: {message}")

    # -- pointing ---------------------------------------------------------------------------------

    def cell_at(self, scene_pos: QPointF) -> dict | None:
        if self.data is None or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.plot.vb.mapSceneToView(scene_pos)
        return plotdata.cell_info(self.data, math.floor(point.y()), math.floor(point.x()))

    def describe(self, cell: dict) -> str:
        if cell["label"]:
            label = self.scheme.get(cell["label"]).name
        elif cell["inherited"]:
            label = f"not labelled here ({self.scheme.get(cell['inherited']).name} at an earlier inspection)"
        else:
            label = "not labelled"
        if cell["image_id"] is None:
            return f"<b>{cell['well']} drop {cell['drop']}</b>: no image in this inspection"
        if cell["prob"] is None:
            model = "not scored by the model" if self.model else "no active model"
        else:
            top1 = self.scheme.get(cell["top1"]).name if cell["top1"] else "–"
            model = f"crystal probability <b>{100 * cell['prob']:.0f}%</b> (model's top 1: {top1})"
        return f"<b>{cell['well']} drop {cell['drop']}</b>: {model} · label: <b>{label}</b>"

    def _hover(self, pos: QPointF) -> None:
        cell = self.cell_at(pos)
        if cell is not None:
            self.info.setText(self.describe(cell))

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if cell is not None and cell["image_id"] is not None:
            self.info.setText(self.describe(cell))
            self.drop_clicked.emit(cell["image_id"])


class PlotsDialog(QDialog):
    """Non-modal: it stays open beside the review window; Refresh re-reads the store.

    ``inspection_id`` (the inspection on screen in the review window) is the one the crystal map
    shows first; without it the map shows the latest inspection of the first plate.
    """

    drop_clicked = Signal(int)  # image id of a drop clicked on the crystal map

    def __init__(self, db_path: Path, parent=None, inspection_id: int | None = None):
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.setWindowTitle("Plots")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        with Store(self.db_path, create=False) as store:
            self.scheme = store.scheme
            self.model = store.active_model()
            choices = plotdata.inspection_choices(store)

        self.counts = LabelCountsTab(self.db_path, self.scheme)
        self.agreement = AgreementTab(self.db_path, self.scheme, self.model)
        self.crystal_map = CrystalMapTab(self.db_path, self.scheme, self.model, choices, inspection_id)
        self.crystal_map.drop_clicked.connect(self.drop_clicked)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.counts, "&Labels per plate")
        self.tabs.addTab(self.agreement, "&Model vs reviewers")
        self.tabs.addTab(self.crystal_map, "&Crystal probability map")

        refresh = QPushButton("&Refresh")
        refresh.setToolTip("Read the database again (new labels, predictions, plates)")
        refresh.setAutoDefault(False)
        refresh.clicked.connect(self.refresh)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        buttons.addButton(refresh, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.resize(1120, 760)
        for tab in self.all_tabs():
            tab.reload()

    def all_tabs(self) -> tuple[_Tab, ...]:
        return self.counts, self.agreement, self.crystal_map

    def refresh(self) -> None:
        """Re-read the active model and the inspections, then every tab."""
        with Store(self.db_path, create=False) as store:
            self.model = store.active_model()
            choices = plotdata.inspection_choices(store)
        self.agreement.set_model(self.model)
        self.crystal_map.model = self.model
        self.crystal_map.set_choices(choices, self.crystal_map.inspection_id())
        for tab in self.all_tabs():
            tab.reload()
