"""Model > Retrain…: train the four architectures on the lab's own labels, follow the curves live,
compare the results on held-out plates and activate the model that misses the fewest crystals.

Training runs as ``python -m train`` under QProcess: the GUI thread only reads its JSON-lines events,
and torch running out of memory or crashing cannot take the review app down with it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QProcess,
    QProcessEnvironment,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

import xtalviewer
from train.events import EXIT_CANCELLED
from xtalviewer.core.metrics import best_result
from xtalviewer.core.inference import DEVICES, DeviceError, describe_device, select_device
from xtalviewer.core.labels import SchemeError
from xtalviewer.core.models import ARCHITECTURES, FAMILIES
from xtalviewer.core.settings import Settings
from xtalviewer.core.store import Store, StoreError

ARCH_CHOICES = (("resnet", "&ResNet"), ("inception", "&Inception v3"), ("vgg", "&VGG"), ("alexnet", "Ale&xNet"))
COLOURS = ("#60a5fa", "#f59e0b", "#34d399", "#f472b6", "#a78bfa", "#f87171")
PLOT_BG = "#1e2126"
KILL_AFTER_MS = 5000  # SIGTERM stops at the next batch; a process still alive after this is killed
LOG_LINES = 400
CPU_IMAGE_SIZE, GPU_IMAGE_SIZE = 128, 224


def train_command(db_path: Path | str, archs: Sequence[str], epochs: int, image_size: int, batch_size: int,
                  device: str, runs_dir: Path | str | None = None) -> list[str]:
    """The training subprocess' argv; the dialog activates models itself, so ``--activate none``."""
    cmd = [sys.executable, "-m", "train", "--db", str(Path(db_path).absolute()), "--arch", ",".join(archs),
           "--epochs", str(epochs), "--image-size", str(image_size), "--batch-size", str(batch_size),
           "--device", device, "--events", "-", "--activate", "none"]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    return cmd


def default_image_size(device: str) -> int:
    """Small images on a CPU (a run finishes in minutes, not hours); the usual 224 px elsewhere."""
    try:
        return CPU_IMAGE_SIZE if select_device(device).type == "cpu" else GPU_IMAGE_SIZE
    except DeviceError:
        return GPU_IMAGE_SIZE  # a GPU was asked for; the device hint says it is missing


class LineBuffer:
    """Whole lines from a byte stream that arrives in arbitrary chunks; the partial tail waits."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[str]:
        *lines, self._tail = (self._tail + data).split(b"\n")
        return [_text(raw) for raw in lines]

    def flush(self) -> list[str]:
        rest, self._tail = self._tail, b""
        return [_text(rest)] if rest.strip() else []


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r").rsplit("\r", 1)[-1]  # a progress bar's last redraw


def parse_event(line: str) -> dict | None:
    """An event object, or None for anything else on stdout (it goes to the log)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and "event" in obj else None


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class EpochAxis(pg.AxisItem):
    """Whole-epoch ticks only: "1.5 epochs" means nothing on a training curve."""

    def tickValues(self, minVal, maxVal, size):
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        levels = [(spacing, values) for spacing, values in levels if values]
        return levels or [(1, list(range(math.ceil(minVal), math.floor(maxVal) + 1)))]

    def tickStrings(self, values, scale, spacing):
        return [str(int(round(v))) for v in values]


class ResultsModel(QAbstractTableModel):
    """One row per finished architecture: its test-split metrics and registry id, the best row marked."""

    COLUMNS = (("Architecture", "arch"), ("Accuracy", "accuracy"), ("Top-3\naccuracy", "top3_accuracy"),
               ("Missed crystals\ntop-1", "missed_crystal_rate_top1"),
               ("Missed crystals\ntop-3", "missed_crystal_rate_top3"), ("Training\ntime", "train_seconds"),
               ("Model id", "model_id"))
    HEADER_TIPS = {
        "accuracy": "Share of test images whose top prediction is the true class",
        "top3_accuracy": "Share of test images with the true class among the three most likely",
        "missed_crystal_rate_top1": "Crystal images whose top prediction is not a crystal class",
        "missed_crystal_rate_top3": "Crystal images with no crystal class among the three most likely",
        "model_id": "Id in the model registry (Model menu, xtalviewer models)",
    }
    BEST_TIP = "Best: fewest crystals missed in the top 3, then highest accuracy"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []  # {"arch", "metrics", "model_id"}
        self.best: int | None = None
        self.active_id: int | None = None

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self.best, self.active_id = [], None, None
        self.endResetModel()

    def add(self, arch: str, metrics: dict, model_id: int | None) -> None:
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append({"arch": arch, "metrics": metrics, "model_id": model_id})
        self.endInsertRows()
        best = best_result(self.rows)
        self.best = next(i for i, r in enumerate(self.rows) if r is best) if best is not None else None
        self._changed()

    def set_active(self, model_id: int | None) -> None:
        self.active_id = model_id
        self._changed()

    def _changed(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(self.COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS.get(self.COLUMNS[section][1])
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, key = self.rows[index.row()], self.COLUMNS[index.column()][1]
        best = index.row() == self.best
        if role == Qt.ItemDataRole.DisplayRole:
            if key == "arch":
                return f"★ {row['arch']}" if best else row["arch"]
            if key == "model_id":
                mid = row["model_id"]
                return "–" if mid is None else f"{mid} (active)" if mid == self.active_id else str(mid)
            value = row["metrics"].get(key)
            return _duration(value) if key == "train_seconds" else _pct(value)
        if role == Qt.ItemDataRole.UserRole:
            return row["model_id"] if key == "model_id" else row.get(key, row["metrics"].get(key))
        if role == Qt.ItemDataRole.TextAlignmentRole and key != "arch":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and best:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and best:
            return QColor("#26422f")
        if role == Qt.ItemDataRole.ToolTipRole and best:
            return self.BEST_TIP
        return None


class ConfusionView(QWidget):
    """A confusion matrix as a heat map: rows are the true class, columns the prediction.

    Cells are shaded by the share of their row (per-class recall), so rare classes read as clearly
    as common ones; the count is printed in every cell.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix: list[list[int]] = []
        self.names: list[str] = []
        self.title = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(280, 240)

    def set_matrix(self, matrix: Sequence[Sequence[int]], names: Sequence[str], title: str = "") -> None:
        self.matrix = [[int(v) for v in row] for row in matrix]
        self.names = list(names)
        self.title = title
        self.update()

    def clear(self) -> None:
        self.set_matrix([], [], "")

    def _label_width(self) -> int:
        fm = self.fontMetrics()
        return max((fm.horizontalAdvance(n) for n in self.names), default=0) + 8

    def sizeHint(self) -> QSize:
        label = self._label_width() if self.names else 110
        n = max(len(self.names), 10)
        return QSize(label + 24 + n * 30 + 8, label + 42 + n * 30 + 8)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(PLOT_BG))
        fm = self.fontMetrics()
        if not self.matrix:
            p.setPen(QColor("#9ca3af"))
            p.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "Select a trained architecture in the table to see its confusion matrix")
            p.end()
            return
        n = len(self.matrix)
        label = self._label_width()
        title_h = fm.height() + 6
        left = fm.height() + 6 + label  # the rotated "True class" title, then the row names
        top = title_h + fm.height() + 4 + label  # title, "Predicted class", then the column names
        cell = max(12.0, min((self.width() - left - 8) / n, (self.height() - top - 8) / n))
        grid = QRectF(left, top, cell * n, cell * n)

        p.setPen(QColor("#e5e7eb"))
        p.drawText(QRectF(4, 2, self.width() - 8, title_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(self.title, Qt.TextElideMode.ElideRight, self.width() - 8))
        p.setPen(QColor("#9ca3af"))
        p.drawText(QRectF(left, title_h, grid.width(), fm.height()), Qt.AlignmentFlag.AlignCenter, "Predicted class")
        p.save()
        p.translate(2, top + grid.height() / 2)
        p.rotate(-90)
        p.drawText(QRectF(-grid.height() / 2, 0, grid.height(), fm.height()), Qt.AlignmentFlag.AlignCenter,
                   "True class")
        p.restore()

        p.setPen(QColor("#e5e7eb"))
        for i, name in enumerate(self.names[:n]):
            y = top + i * cell
            p.drawText(QRectF(left - label, y, label - 6, cell),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            p.save()
            p.translate(left + i * cell, top - 4)
            p.rotate(-90)
            p.drawText(QRectF(0, 0, label - 4, cell), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
            p.restore()

        small = QFont(self.font())
        small.setPointSizeF(max(6.0, min(self.font().pointSizeF(), cell * 0.36)))
        p.setFont(small)
        low, high = QColor("#262b33").getRgbF()[:3], QColor("#3b82f6").getRgbF()[:3]
        for i, row in enumerate(self.matrix):
            total = sum(row)
            for j, count in enumerate(row):
                share = count / total if total else 0.0
                colour = QColor.fromRgbF(*(lo + (hi - lo) * share for lo, hi in zip(low, high)))
                rect = QRectF(left + j * cell, top + i * cell, cell, cell)
                p.fillRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), colour)
                p.setPen(QColor("#6b7280") if count == 0 else QColor("#ffffff"))
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
        p.end()


class RetrainDialog(QDialog):
    """Options, a live view of the training subprocess, and the comparison of what it registered."""

    model_activated = Signal(int)

    def __init__(self, db_path: Path, settings: Settings, parent=None, *, runs_dir: Path | None = None):
        super().__init__(parent)
        self.db_path, self.settings, self.runs_dir = Path(db_path), settings, runs_dir
        self.setWindowTitle("Retrain models")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._names: dict[str, str] | None = None  # class key -> display name, read when first needed
        self.process: QProcess | None = None
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self._series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
        self._reset_run_state()
        self._setting_size = False
        self.kill_after_ms = KILL_AFTER_MS
        self._kill_timer = QTimer(self, singleShot=True, timeout=self._kill)

        self._build_options()
        self.status = QLabel("Choose what to train and press Start.")
        self.status.setStyleSheet("font-weight: bold;")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #fca5a5;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()

        self.loss_plot = self._plot("Loss", "solid: training · dashed: validation", "loss")
        self.acc_plot = self._plot("Validation", "solid: accuracy · dashed: missed crystals (top 3)", "%")
        self.acc_plot.getPlotItem().setYRange(-3, 103, padding=0)
        self.acc_plot.getPlotItem().enableAutoRange(axis="y", enable=False)
        plots = QWidget()
        row = QHBoxLayout(plots)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.loss_plot)
        row.addWidget(self.acc_plot)

        self.results = ResultsModel(self)
        self.table = QTableView()
        self.table.setModel(self.results)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self.activate_selected())
        self.heatmap = ConfusionView()

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.log.setStyleSheet("font-family: monospace; font-size: 9pt;")
        self.log.setPlaceholderText("The training log appears here.")
        self.log_toggle = QPushButton("Hide lo&g")
        self.log_toggle.setCheckable(True)
        self.log_toggle.setChecked(True)
        self.log_toggle.setAutoDefault(False)
        self.log_toggle.toggled.connect(self._show_log)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(plots)
        left.addWidget(self.table)
        left.addWidget(self.log)
        left.setChildrenCollapsible(False)
        left.setSizes([300, 200, 100])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.heatmap)
        split.setChildrenCollapsible(False)
        split.setSizes([720, 440])

        self.start_button = QPushButton("&Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("&Cancel training")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.activate_button = QPushButton("&Activate selected model")
        self.activate_button.setAutoDefault(False)
        self.activate_button.setEnabled(False)
        self.activate_button.setToolTip("Make the selected row's model the one the app predicts with")
        self.activate_button.clicked.connect(self.activate_selected)
        self.close_button = QPushButton("Cl&ose")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.activate_button, self.log_toggle):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.options)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addWidget(self.error)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)

        chain = [*self.arch_boxes.values(), self.epochs_box, self.size_box, self.batch_box, self.device_box,
                 self.start_button, self.cancel_button, self.table, self.activate_button, self.log_toggle,
                 self.close_button]
        for a, b in zip(chain, chain[1:]):
            self.setTabOrder(a, b)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._stop_now)
        self._validate()
        self.resize(1200, 880)

    # -- options ----------------------------------------------------------------------------------

    def _build_options(self) -> None:
        self.options = QGroupBox("Training options")
        grid = QGridLayout(self.options)
        grid.addWidget(QLabel("Architectures:"), 0, 0)
        archs = QHBoxLayout()
        self.arch_boxes: dict[str, QCheckBox] = {}
        for key, text in ARCH_CHOICES:
            box = QCheckBox(text)
            box.setChecked(True)
            box.setToolTip(f"{FAMILIES[key]}, at least {ARCHITECTURES[FAMILIES[key]][1]} px")
            box.toggled.connect(self._validate)
            archs.addWidget(box)
            self.arch_boxes[key] = box
        archs.addStretch(1)
        grid.addLayout(archs, 0, 1, 1, 7)

        def spin(lo: int, hi: int, value: int, suffix: str = "") -> QSpinBox:
            box = QSpinBox()
            box.setRange(lo, hi)
            box.setValue(value)
            box.setSuffix(suffix)
            box.setAccelerated(True)
            box.valueChanged.connect(self._validate)
            return box

        self.epochs_box = spin(1, 1000, 20)
        self.size_box = spin(16, 1024, default_image_size(self.settings.device or "auto"), " px")
        self.size_box.valueChanged.connect(self._size_edited)
        self._size_auto = True  # follows the device until someone types a size
        self.batch_box = spin(1, 1024, 32)
        self.device_box = QComboBox()
        self.device_box.addItems(list(DEVICES))
        device = (self.settings.device or "auto").split(":")[0]  # the trainer takes "cuda", not "cuda:1"
        device = device if device in DEVICES else "auto"
        self.device_box.setCurrentText(device)
        self.device_box.currentTextChanged.connect(self._device_changed)
        for col, (text, box) in enumerate((("&Epochs:", self.epochs_box), ("Image si&ze:", self.size_box),
                                            ("&Batch size:", self.batch_box), ("&Device:", self.device_box))):
            label = QLabel(text)
            label.setBuddy(box)
            grid.addWidget(label, 1, 2 * col)
            grid.addWidget(box, 1, 2 * col + 1)
        self.device_note = QLabel()
        grid.addWidget(self.device_note, 1, 8)
        grid.setColumnStretch(8, 1)
        self.hint = QLabel(f"Inception v3 needs images of at least {ARCHITECTURES['inception_v3'][1]} px and AlexNet "
                           f"at least {ARCHITECTURES['alexnet'][1]} px. {CPU_IMAGE_SIZE} px keeps a CPU run short; "
                           f"{GPU_IMAGE_SIZE} px is the usual size on a GPU.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #9ca3af;")
        grid.addWidget(self.hint, 2, 0, 1, 9)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #fca5a5;")
        grid.addWidget(self.problem, 3, 0, 1, 9)
        self._describe_device()

    def selected_archs(self) -> list[str]:
        return [key for key, box in self.arch_boxes.items() if box.isChecked()]

    def _size_edited(self) -> None:
        if not self._setting_size:
            self._size_auto = False

    def _device_changed(self, name: str) -> None:
        self._describe_device()
        if self._size_auto:
            self._setting_size = True
            self.size_box.setValue(default_image_size(name))
            self._setting_size = False
        self._validate()

    def _describe_device(self) -> None:
        try:
            self.device_note.setText("→ " + describe_device(select_device(self.device_box.currentText())))
            self.device_note.setStyleSheet("color: #9ca3af;")
            self._device_problem = None
        except DeviceError as exc:
            self.device_note.setText("not available here")
            self.device_note.setStyleSheet("color: #fca5a5;")
            self._device_problem = str(exc)

    def options_problem(self) -> str | None:
        """Why Start cannot run with these options, in words; None when it can."""
        archs = self.selected_archs()
        if not archs:
            return "Choose at least one architecture."
        size = self.size_box.value()
        for key in archs:
            variant = FAMILIES[key]
            if size < ARCHITECTURES[variant][1]:
                name = dict(ARCH_CHOICES)[key].replace("&", "")
                return f"{name} needs images of at least {ARCHITECTURES[variant][1]} px (now {size} px)."
        return self._device_problem

    def _validate(self) -> None:
        if not hasattr(self, "start_button"):
            return
        problem = self.options_problem()
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))
        self.start_button.setEnabled(not self.running() and problem is None)

    # -- the subprocess ---------------------------------------------------------------------------

    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def _reset_run_state(self) -> None:
        self._stdout, self._stderr = LineBuffer(), LineBuffer()
        self._cancelling = False
        self._close_when_stopped = False
        self._error: str | None = None
        self._last_stderr = ""
        self._run: dict = {}
        self._arch: str | None = None  # training, not yet registered
        self._epochs = 0
        self._metrics: dict[str, dict] = {}

    def start(self) -> None:
        if self.running() or self.options_problem():
            return
        archs = self.selected_archs()
        cmd = train_command(self.db_path, archs, self.epochs_box.value(), self.size_box.value(),
                            self.batch_box.value(), self.device_box.currentText(), self.runs_dir)
        self._reset_run_state()
        self._clear_views()
        self._set_epoch_range(self.epochs_box.value())
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        root = str(Path(xtalviewer.__file__).resolve().parents[1])  # `train` sits beside the package
        old = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", root + (os.pathsep + old if old else ""))
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._process_error)
        self.process = proc
        self._append_log("$ " + " ".join(cmd), own=True)
        self._set_status("Starting: reading the labels and decoding the images…")
        self.progress.setRange(0, 0)  # busy until the first batch
        proc.start(cmd[0], cmd[1:])
        self._set_running(self.running())  # False when it failed to start (already reported)

    def _clear_views(self) -> None:
        self.results.clear()
        self.heatmap.clear()
        self.error.hide()
        self.log.clear()
        for plot in (self.loss_plot, self.acc_plot):
            item = plot.getPlotItem()
            for curve in list(item.listDataItems()):
                item.removeItem(curve)
            if item.legend is not None:
                item.legend.clear()
                item.legend.setVisible(False)
        self.curves.clear()
        self._series.clear()
        self.progress.setValue(0)
        self.progress.setFormat("")

    def _set_running(self, running: bool) -> None:
        self.options.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.start_button.setText("&Start again" if self.results.rows and not running else "&Start")
        self._validate()
        self._update_activate()
        (self.cancel_button if running else self.table if self.results.rows else self.start_button).setFocus()

    def cancel(self) -> None:
        """SIGTERM: the trainer stops at the next batch and registers nothing unfinished; kill if it hangs."""
        if not self.running() or self._cancelling:
            return
        self._cancelling = True
        self.cancel_button.setEnabled(False)
        self._set_status("Cancelling: training stops after the current batch…")
        self.process.terminate()
        self._kill_timer.start(self.kill_after_ms)

    def _kill(self) -> None:
        if self.running():
            self._append_log(f"The trainer did not stop within {self.kill_after_ms / 1000:g} s; killing it.", own=True)
            self.process.kill()

    def _stop_now(self) -> None:
        """The app is quitting: stop the trainer before the event loop is gone."""
        if self.running():
            self._cancelling = True
            self.process.terminate()
            if not self.process.waitForFinished(self.kill_after_ms):
                self.process.kill()
                self.process.waitForFinished(2000)

    def _read_stdout(self) -> None:
        for line in self._stdout.feed(self.process.readAllStandardOutput().data()):
            self._line(line)

    def _read_stderr(self) -> None:
        for line in self._stderr.feed(self.process.readAllStandardError().data()):
            self._append_log(line)

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        event = parse_event(line)
        if event is None:
            self._append_log(line)
            return
        try:
            self.handle_event(event)
        except (KeyError, TypeError, ValueError) as exc:  # a trainer of another version; keep following
            self._append_log(f"(event not understood: {exc!r}) {line}", own=True)

    def _append_log(self, line: str, own: bool = False) -> None:
        """The trainer's output, or a note of the dialog's own (``own``: not a reason to show on failure)."""
        if line.strip() and not own:
            self._last_stderr = line
        self.log.appendPlainText(line)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._kill_timer.stop()
            self._show_error(f"The trainer could not be started ({self.process.errorString()}).")
            self._set_status("Training did not start.")
            self._end_progress()
            self._set_running(False)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        for line in self._stdout.flush():
            self._line(line)
        for line in self._stderr.flush():
            self._append_log(line)
        self._end_progress()
        if code == 0 and status == QProcess.ExitStatus.NormalExit:  # done, even if Cancel came too late
            self._set_status(self._done_text())
        elif self._cancelling or code == EXIT_CANCELLED:
            self._set_status(self._cancelled_text())
        else:
            how = "crashed" if status == QProcess.ExitStatus.CrashExit else f"stopped with exit status {code}"
            why = self._error or self._last_stderr or "see the log"
            self._show_error(f"Training {how}: {why}")
            self._set_status(f"Training failed{f' during {self._arch}' if self._arch else ''}. "
                             + self._registered_text())
        self._set_running(False)
        if self.results.rows:  # the comparison is complete: show the winner
            self.table.selectRow(self.results.best if self.results.best is not None else 0)
        if self._close_when_stopped:
            QTimer.singleShot(0, self.close)

    def _registered_text(self) -> str:
        done = [f"{r['arch']} (model {r['model_id']})" for r in self.results.rows]
        return ("Registered in this run: " + ", ".join(done) + ".") if done else "No model was registered."

    def _cancelled_text(self) -> str:
        if self._arch:
            text = f"Cancelled. Nothing was registered for {self._arch}, the unfinished architecture."
        else:
            text = "Cancelled before training began; nothing was registered."
        if self.results.rows:
            text += " " + self._registered_text()
        if self._run.get("folder"):
            text += f" Resume from the command line: xtal-train --resume {self._run['folder']}"
        return text

    def _done_text(self) -> str:
        best = self.results.rows[self.results.best] if self.results.best is not None else None
        if best is None:
            return "Done, but no architecture could be scored on the test images. " + self._registered_text()
        return (f"Done: {len(self.results.rows)} model(s) registered. Best: {best['arch']} (model {best['model_id']}), "
                "marked ★. Select a row and press Activate to predict with it.")

    def _end_progress(self) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
        self.log_toggle.setChecked(True)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    # -- events -----------------------------------------------------------------------------------

    def handle_event(self, ev: dict) -> None:
        """Follow one event of ``train/events.py``; unknown kinds are ignored (a newer trainer)."""
        kind, arch = ev.get("event"), ev.get("arch")
        if kind == "run":
            self._run = ev
            for a in ev.get("archs", []):
                self._ensure_curves(a)
            self._set_status(f"Run {ev.get('run')}: {ev.get('train')} training, {ev.get('val')} validation and "
                             f"{ev.get('test')} test images (split by {ev.get('split_unit')}) on {ev.get('device')}. "
                             "Decoding images…")
        elif kind == "start":
            self._arch, self._epochs = arch, int(ev.get("epochs") or 0)
            self._ensure_curves(arch)
            self._set_epoch_range(self._epochs)
            self._progress(arch, 0, 1, 0, 1)
            self._set_status(f"{arch}: starting, {ev.get('train')} training images at {ev.get('image_size')} px, "
                             f"{ev.get('init')}")
        elif kind == "epoch_start":
            self._epochs = int(ev.get("epochs") or self._epochs)
            self._set_status(f"{arch}: epoch {ev.get('epoch')}/{self._epochs}")
        elif kind == "batch":
            epoch, batch, batches = int(ev["epoch"]), int(ev["batch"]), int(ev["batches"])
            self._progress(arch, epoch, self._epochs, batch, batches)
            self._set_status(f"{arch}: epoch {epoch}/{self._epochs}, batch {batch}/{batches}")
        elif kind == "epoch_end":
            self._add_epoch(arch, ev)
            self._progress(arch, int(ev["epoch"]), self._epochs, 1, 1)
            loss = _num(ev.get("val_loss"))
            loss_text = "–" if loss is None else f"{loss:.4f}"
            self._set_status(f"{arch}: epoch {ev['epoch']}/{self._epochs} done, validation loss {loss_text}, "
                             f"accuracy {_pct(_num(ev.get('val_accuracy')))}")
        elif kind == "metrics":
            self._metrics[arch] = ev.get("metrics") or {}
            self._set_status(f"{arch}: testing done, registering the model…")
        elif kind == "registered":
            self.results.add(arch, self._metrics.get(arch, {}), ev.get("model_id"))
            if self._arch == arch:
                self._arch = None
            if not self.table.selectionModel().hasSelection():
                self.table.selectRow(len(self.results.rows) - 1)
        elif kind == "run_done":
            archs = self._run.get("archs") or []
            rest = archs[archs.index(arch) + 1:] if arch in archs else []
            self._set_status(f"{arch}: finished, model {ev.get('model_id')}."
                             + (f" Preparing {rest[0]}…" if rest else ""))
        elif kind == "error":
            if not ev.get("cancelled"):
                self._error = ev.get("message") or "unknown error"

    def _progress(self, arch: str, epoch: int, epochs: int, batch: int, batches: int) -> None:
        self._end_progress()
        epochs, batches = max(1, epochs), max(1, batches)
        self.progress.setValue(round(1000 * ((max(0, epoch - 1) + batch / batches) / epochs if epoch else 0)))
        self.progress.setFormat(f"{arch}: {'epoch ' + str(epoch) + '/' + str(epochs) if epoch else 'starting'}  (%p%)")

    # -- curves -----------------------------------------------------------------------------------

    def _plot(self, title: str, key: str, unit: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background=PLOT_BG, axisItems={"bottom": EpochAxis("bottom")})
        plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        plot.setMinimumHeight(180)
        item = plot.getPlotItem()
        item.setTitle(f"<b>{title}</b><br><span style='color:#9ca3af; font-size:8pt'>{key}</span>", color="#e5e7eb",
                      size="9pt")
        item.setLabel("bottom", "epoch")
        item.setLabel("left", unit)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.setXRange(1, 2, padding=0.02)
        item.enableAutoRange(axis="x", enable=False)
        for axis in ("bottom", "left"):
            item.getAxis(axis).setTextPen("#cbd5e1")
            item.getAxis(axis).setPen("#4b5563")
        legend = item.addLegend(offset=(-6, 6), brush=pg.mkBrush(35, 39, 46, 200), pen=pg.mkPen("#4b5563"),
                                labelTextColor="#e5e7eb", labelTextSize="8pt")
        legend.setVisible(False)  # an empty legend is a stray box
        return plot

    def _set_epoch_range(self, epochs: int) -> None:
        for plot in (self.loss_plot, self.acc_plot):
            plot.getPlotItem().setXRange(1, max(2, epochs), padding=0.02)

    def _ensure_curves(self, arch: str | None) -> None:
        if not arch or arch in self.curves:
            return
        colour = COLOURS[len(self.curves) % len(COLOURS)]

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

    def _add_epoch(self, arch: str, ev: dict) -> None:
        self._ensure_curves(arch)
        values = {"train_loss": _num(ev.get("train_loss")), "val_loss": _num(ev.get("val_loss")),
                  "val_accuracy": _num(ev.get("val_accuracy")), "missed_top3": _num(ev.get("val_missed_crystal_top3"))}
        for key, value in values.items():
            if value is None:
                continue
            xs, ys = self._series[arch][key]
            xs.append(float(ev["epoch"]))
            ys.append(100 * value if key in ("val_accuracy", "missed_top3") else value)
            self.curves[arch][key].setData(xs, ys)

    # -- results ----------------------------------------------------------------------------------

    def class_names(self) -> dict[str, str]:
        """Display names of the store's classes (keys where the store cannot be read)."""
        if self._names is None:
            try:
                with Store(self.db_path, create=False) as store:
                    self._names = {key: store.scheme.get(key).name for key in store.scheme.keys}
            except (StoreError, SchemeError, sqlite3.Error, OSError):
                return {}
        return self._names

    def selected_row(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        return self.results.rows[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        self._update_activate()
        row = self.selected_row()
        if row is None:
            self.heatmap.clear()
            return
        m = row["metrics"]
        classes = m.get("classes") or []
        names = self.class_names()
        self.heatmap.set_matrix(m.get("confusion_matrix") or [], [names.get(k, k) for k in classes],
                                f"{row['arch']}, model {row['model_id']}: {m.get('n', '?')} test images")

    def _update_activate(self) -> None:
        row = self.selected_row()
        self.activate_button.setEnabled(row is not None and row["model_id"] is not None)

    def activate_selected(self) -> None:
        """Make the selected model the active one; the main window hears it through ``model_activated``."""
        row = self.selected_row()
        if row is None or row["model_id"] is None:
            return
        model_id = int(row["model_id"])
        try:
            with Store(self.db_path, create=False) as store:
                store.activate_model(model_id)
        except (StoreError, sqlite3.Error) as exc:
            self._show_error(f"Model {model_id} could not be activated: {exc}")
            return
        self.results.set_active(model_id)
        self._set_status(f"{row['arch']} (model {model_id}) is now the active model.")
        self.model_activated.emit(model_id)

    # -- closing ----------------------------------------------------------------------------------

    def _show_log(self, shown: bool) -> None:
        self.log.setVisible(shown)
        self.log_toggle.setText("Hide lo&g" if shown else "Show lo&g")

    def confirm(self, title: str, text: str) -> bool:
        """Ask before stopping a run (tests replace this)."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _stop_question(self) -> str:
        what = f" Nothing will be registered for {self._arch}." if self._arch else ""
        return "Training is still running. Stop it?" + what

    def reject(self) -> None:
        """Esc: closes when idle; while training it offers to cancel."""
        if self.running():
            if not self._cancelling and self.confirm("Stop training?", self._stop_question()):
                self.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running():
            event.ignore()
            if self._close_when_stopped or self.confirm("Stop training and close?", self._stop_question()):
                self._close_when_stopped = True
                self.cancel()
            return
        super().closeEvent(event)
