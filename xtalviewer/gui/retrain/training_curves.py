"""The Retrain dialog's live curves: training and validation loss, validation accuracy and missed
crystals (top 3), one colour per architecture, one point per epoch."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QWidget

from xtalviewer.gui import theme


class EpochAxis(pg.AxisItem):
    """Whole-epoch ticks only: "1.5 epochs" means nothing on a training curve."""

    def tickValues(self, minVal, maxVal, size):
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        levels = [(spacing, values) for spacing, values in levels if values]
        return levels or [(1, list(range(math.ceil(minVal), math.floor(maxVal) + 1)))]

    def tickStrings(self, values, scale, spacing):
        return [str(int(round(v))) for v in values]


def as_number(value) -> float | None:
    """A JSON number as a float; None for anything else (missing, null, a bool)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _plot(title: str, key: str, unit: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=theme.BACKDROP, axisItems={"bottom": EpochAxis("bottom")})
    plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    plot.setMinimumHeight(180)
    item = plot.getPlotItem()
    item.setTitle(f"<b>{title}</b><br><span style='color:{theme.MUTED}; font-size:8pt'>{key}</span>",
                  color=theme.TEXT, size="9pt")
    item.setLabel("bottom", "epoch")
    item.setLabel("left", unit)
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setMenuEnabled(False)
    item.setXRange(1, 2, padding=0.02)
    item.enableAutoRange(axis="x", enable=False)
    for axis in ("bottom", "left"):
        item.getAxis(axis).setTextPen(theme.TICK_TEXT)
        item.getAxis(axis).setPen(theme.AXIS)
    legend = item.addLegend(offset=(-6, 6), brush=pg.mkBrush(35, 39, 46, 200), pen=pg.mkPen(theme.AXIS),
                            labelTextColor=theme.TEXT, labelTextSize="8pt")
    legend.setVisible(False)  # an empty legend is a stray box
    return plot


class TrainingCurves(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss_plot = _plot("Loss", "solid: training · dashed: validation", "loss")
        self.acc_plot = _plot("Validation", "solid: accuracy · dashed: missed crystals (top 3)", "%")
        self.acc_plot.getPlotItem().setYRange(-3, 103, padding=0)
        self.acc_plot.getPlotItem().enableAutoRange(axis="y", enable=False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.loss_plot)
        row.addWidget(self.acc_plot)
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self._series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}

    def set_epochs(self, epochs: int) -> None:
        for plot in (self.loss_plot, self.acc_plot):
            plot.getPlotItem().setXRange(1, max(2, epochs), padding=0.02)

    def clear(self) -> None:
        for plot in (self.loss_plot, self.acc_plot):
            item = plot.getPlotItem()
            for curve in list(item.listDataItems()):
                item.removeItem(curve)
            if item.legend is not None:
                item.legend.clear()
                item.legend.setVisible(False)
        self.curves.clear()
        self._series.clear()

    def ensure(self, arch: str | None) -> None:
        """Curves for this architecture, in the next colour."""
        if not arch or arch in self.curves:
            return
        colour = theme.SERIES[len(self.curves) % len(theme.SERIES)]

        def curve(plot: pg.PlotWidget, dashed: bool, name: str | None) -> pg.PlotDataItem:
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            return plot.getPlotItem().plot([], [], pen=pen, name=name, antialias=True, symbol="t" if dashed else "o",
                                           symbolSize=6, symbolPen=colour, symbolBrush=colour)

        for plot in (self.loss_plot, self.acc_plot):
            plot.getPlotItem().legend.setVisible(True)
        self.curves[arch] = {
            "train_loss": curve(self.loss_plot, False, arch),
            "val_loss": curve(self.loss_plot, True, None),
            "val_accuracy": curve(self.acc_plot, False, arch),
            "missed_top3": curve(self.acc_plot, True, None),
        }
        self._series[arch] = {key: ([], []) for key in self.curves[arch]}

    def add_epoch(self, arch: str, ev: dict) -> None:
        """One ``epoch_end`` event's values."""
        self.ensure(arch)
        values = {"train_loss": as_number(ev.get("train_loss")), "val_loss": as_number(ev.get("val_loss")),
                  "val_accuracy": as_number(ev.get("val_accuracy")),
                  "missed_top3": as_number(ev.get("val_missed_crystal_top3"))}
        for key, value in values.items():
            if value is None:
                continue
            xs, ys = self._series[arch][key]
            xs.append(float(ev["epoch"]))
            ys.append(100 * value if key in ("val_accuracy", "missed_top3") else value)
            self.curves[arch][key].setData(xs, ys)


def log_view(max_lines: int) -> QPlainTextEdit:
    """The trainer's log beside its curves: monospace, unwrapped, the last ``max_lines`` lines."""
    log = QPlainTextEdit()
    log.setReadOnly(True)
    log.setMaximumBlockCount(max_lines)
    log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    log.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
    log.setStyleSheet("font-family: monospace; font-size: 9pt;")
    log.setPlaceholderText("The training log appears here.")
    return log
