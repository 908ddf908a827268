"""Plots: one inspection laid out as its plate, coloured by the active model's crystal probability,
with the model's hits (at its operating point) and the reviewers' crystal labels marked."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout

from xtalviewer.report import plots as plotdata
from xtalviewer.crystal_call import pct
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import Inspection, Model
from xtalviewer.gui.plots.style import AXIS_PEN, PLOT_BG, layout_widget, message_label, style_plot
from xtalviewer.gui.plots.tab import PlotTab
from xtalviewer.gui.theme import CRYSTAL_MARK, HIT_MARK, LIGHT_TEXT, NO_IMAGE, TEXT, TICK_TEXT, UNSCORED

PROB_MAP = "viridis"


class CrystalMapTab(PlotTab):
    """One inspection as its plate: row A at the top, column 1 at the left, the drops of a well side by
    side, each cell coloured by the active model's crystal probability, its hits dotted."""

    drop_clicked = Signal(int)

    def __init__(self, db_path: Path, scheme: LabelScheme, model: Model | None, choices: list[Inspection],
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

        self.view = layout_widget()
        self.view.setMinimumHeight(300)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        style_plot(self.plot, interactive=True)
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
        self.hit_marks = pg.ScatterPlotItem(symbol="o", size=9, pxMode=True, brush=pg.mkBrush(HIT_MARK),
                                            pen=pg.mkPen(LIGHT_TEXT, width=1))
        self.hit_marks.setZValue(4)
        for item in (self.backdrop, self.image, self.grid, self.drop_grid, self.marks, self.inherited_marks,
                     self.hit_marks):
            self.plot.addItem(item)
        self.colorbar = pg.ColorBarItem(values=(0, 100), colorMap=self.cmap, interactive=False, width=14,
                                        label="crystal probability (%)", colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.colorbar.getAxis("right").setTextPen(TICK_TEXT)
        self.colorbar.getAxis("right").setPen(AXIS_PEN)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        self.key = message_label()
        self.info = message_label()
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

    def set_choices(self, choices: list[Inspection], inspection_id: int | None = None) -> None:
        """Fill the pickers; show ``inspection_id``, else the latest inspection of the first plate."""
        self.choices = choices
        self.by_plate: dict[str, list[Inspection]] = {}
        for c in choices:
            self.by_plate.setdefault(c.barcode, []).append(c)
        wanted = next((c for c in choices if c.id == inspection_id), None)
        if wanted is None and choices:
            wanted = self.by_plate[choices[0].barcode][-1]
        blocked = self.plate_box.blockSignals(True)
        self.plate_box.clear()
        for barcode in self.by_plate:
            self.plate_box.addItem(barcode, barcode)
        if wanted is not None:
            self.plate_box.setCurrentIndex(self.plate_box.findData(wanted.barcode))
        self.plate_box.blockSignals(blocked)
        self._fill_inspections(wanted.id if wanted else None)

    def _fill_inspections(self, inspection_id: int | None) -> None:
        blocked = self.inspection_box.blockSignals(True)
        self.inspection_box.clear()
        for c in self.by_plate.get(self.plate_box.currentData(), []):
            when = (c.imaged_at or "date unknown")[:16].replace("T", " ")
            extra = " · ".join(x for x in (c.imager, c.profile) if x)
            self.inspection_box.addItem(when + (f"  ({extra})" if extra else ""), c.id)
            self.inspection_box.setItemData(self.inspection_box.count() - 1, c.key, Qt.ItemDataRole.ToolTipRole)
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
        model_id = self.model.id if self.model else None
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
        ys, xs = np.nonzero(data["hit"])
        self.hit_marks.setData(x=xs + 0.5, y=ys + 0.5)
        self.plot.getAxis("left").setTicks(self._ticks([(r + 0.5, n) for r, n in enumerate(data["row_names"])]))
        self.plot.getAxis("top").setTicks(self._ticks([(c * drops + drops / 2, str(c + 1)) for c in range(cols)]))
        self.plot.getViewBox().setLimits(xMin=-1, xMax=width + 1, yMin=-1, yMax=rows + 1)
        self.plot.setRange(xRange=(0, width), yRange=(0, rows), padding=0.01)
        insp = data["inspection"]
        when = (insp.imaged_at or "date unknown")[:16].replace("T", " ")
        model = f"model {self.model.name}" if self.model else "no active model"
        scored = int(np.count_nonzero(~np.isnan(data["prob"])))
        images = int(np.count_nonzero(data["image_ids"] >= 0))
        op = data["operating_point"]
        hits = (f", {int(data['hit'].sum())} hits at crystal probability ≥ {pct(op.threshold)}"
                + ("" if op.calibrated else " (not calibrated)") if self.model else "")
        self.title.setText(f"{data['barcode']} · {when} · {rows * cols}-well, {drops} drop{'s' if drops > 1 else ''}"
                           f" · {model}: {scored:,} of {images:,} drops scored{hits}")
        crystal, inherited = int(data["crystal_label"].sum()), int(data["crystal_inherited"].sum())
        sides = f"Each well shows drops 1–{drops} left to right. " if drops > 1 else ""
        self.key.setText(
            f"{sides}<span style='color:{HIT_MARK}'>●</span> dot: a hit, crystal probability ≥ "
            f"{pct(op.threshold)} (the model's operating point). "
            f"<span style='color:{CRYSTAL_MARK}'>■</span> outline: labelled as a crystal class "
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
            threshold = pct(self.data["operating_point"].threshold)
            call = f"a hit (≥ {threshold})" if cell["hit"] else f"not a hit (< {threshold})"
            model = f"crystal probability <b>{pct(cell['prob'], 0)}</b>, {call} (model's top 1: {top1})"
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
