"""Model > Retrain…: train the four architectures on the lab's own labels, follow the curves live,
compare the results on held-out plates and activate the model that catches the most crystals.

Training runs as ``python -P -m train`` under QProcess (``gui/retrain/trainer_process.py``): the GUI thread
only reads its JSON-lines events, and torch running out of memory or crashing cannot take the review
app down with it. Options, curves, the results table and the confusion matrix are widgets of their own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QApplication, QDialog, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from train.events import EXIT_CANCELLED, read_event
from xtalviewer.labels import SchemeError
from xtalviewer.model.metrics import BEST_RULE
from xtalviewer.settings import Settings
from xtalviewer.store.rows import Model
from xtalviewer.store.store import Store, StoreError
from xtalviewer.gui import theme
from xtalviewer.gui.plots.confusion_view import ConfusionView
from xtalviewer.gui.retrain.results_model import ResultsModel, results_table
from xtalviewer.gui.retrain.run_state import RunState
from xtalviewer.gui.retrain.options import RetrainOptions
from xtalviewer.gui.retrain.trainer_process import LineBuffer, start_trainer, train_command
from xtalviewer.gui.retrain.training_curves import TrainingCurves, log_view

KILL_AFTER_MS = 5000  # SIGTERM stops at the next batch; a process still alive after this is killed
LOG_LINES = 400


def read_store_facts(db_path: Path) -> tuple[dict[str, str], Model | None]:
    """Class display names (key -> name) and the active model when its scheme is this database's;
    ({}, None) when the database cannot be read yet."""
    try:
        with Store(db_path, create=False) as store:
            active = store.active_model()
            names = {key: store.scheme.get(key).name for key in store.scheme.keys}
            return names, active if active and active.scheme == store.scheme.id else None
    except (StoreError, SchemeError, sqlite3.Error, OSError):
        return {}, None


class RetrainDialog(QDialog):
    """Options, a live view of the training subprocess, and the comparison of what it registered."""

    model_activated = Signal(int)

    def __init__(self, db_path: Path, settings: Settings, parent=None, *, runs_dir: Path | None = None):
        super().__init__(parent)
        self.db_path, self.settings, self.runs_dir = Path(db_path), settings, runs_dir
        self.setWindowTitle("Retrain models")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.names, active = read_store_facts(self.db_path)  # class key -> display name; the model to continue
        self.process: QProcess | None = None
        self._reset_run_state()
        self.kill_after_ms = KILL_AFTER_MS
        self._kill_timer = QTimer(self, singleShot=True, timeout=self._kill)

        self.options = RetrainOptions(settings.device, active)
        self.options.changed.connect(self._validate)
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
        self.error.setStyleSheet(f"color: {theme.ERROR_TEXT};")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.curves = TrainingCurves()

        self.results = ResultsModel(self)
        self.table = results_table(self.results)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self.activate_selected())
        self.rule = QLabel(f"★ {BEST_RULE[0].upper()}{BEST_RULE[1:]}. Hover a column title for its definition.")
        self.rule.setWordWrap(True)
        self.rule.setStyleSheet(f"color: {theme.MUTED};")
        self.heatmap = ConfusionView()

        self.log = log_view(LOG_LINES)
        self.log_toggle = self._button("Hide lo&g", self._show_log, checkable=True)

        top = QSplitter(Qt.Orientation.Horizontal)  # curves beside the selected model's confusion matrix
        top.addWidget(self.curves)
        top.addWidget(self.heatmap)
        top.setChildrenCollapsible(False)
        top.setSizes([820, 440])
        table_box = QWidget()  # the table the full width: thirteen columns
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table, 1)
        tl.addWidget(self.rule)
        split = QSplitter(Qt.Orientation.Vertical)
        for w in (top, table_box, self.log):
            split.addWidget(w)
        split.setChildrenCollapsible(False)
        split.setSizes([360, 220, 110])

        self.start_button = self._button("&Start", self.start, default=True)
        self.cancel_button = self._button("&Cancel training", self.cancel, enabled=False)
        self.activate_button = self._button("&Activate selected model", self.activate_selected, enabled=False)
        self.activate_button.setToolTip("Make the selected row's model the one the app predicts with")
        self.close_button = self._button("Cl&ose", self.close)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.activate_button, self.log_toggle):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        for w in (self.options, self.status, self.progress, self.error):
            layout.addWidget(w)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        o = self.options
        chain = [*o.arch_boxes.values(), o.epochs_box, o.size_box, o.batch_box, o.device_box, o.init_box, o.recall_box,
                 self.start_button, self.cancel_button, self.table, self.activate_button, self.log_toggle,
                 self.close_button]
        for a, b in zip(chain, chain[1:]):
            self.setTabOrder(a, b)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._stop_now)
        self._validate()
        self.resize(1280, 900)

    def _button(self, text: str, slot, *, default: bool = False, enabled: bool = True,
                checkable: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.setDefault(default)
        button.setAutoDefault(default)
        button.setEnabled(enabled)
        if checkable:
            button.setCheckable(True)
            button.setChecked(True)
            button.toggled.connect(slot)
        else:
            button.clicked.connect(lambda _=False: slot())
        return button

    def _validate(self) -> None:
        if hasattr(self, "start_button"):
            self.start_button.setEnabled(not self.running() and self.options.show_problem() is None)

    # -- the subprocess ---------------------------------------------------------------------------

    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def _reset_run_state(self) -> None:
        self._stdout, self._stderr = LineBuffer(), LineBuffer()
        self.state = RunState()

    def command(self) -> list[str]:
        o = self.options
        return train_command(self.db_path, o.selected_archs(), o.epochs(), o.image_size(), o.batch_box.value(),
                             o.device_box.currentText(), self.runs_dir, init=o.init(),
                             crystal_recall=o.crystal_recall())

    def start(self) -> None:
        if self.running() or self.options.problem_text():
            return
        cmd = self.command()
        self._reset_run_state()
        self._clear_views()
        self.curves.set_epochs(self.options.epochs() or 2)  # the start event says how many
        proc = QProcess(self)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._process_error)
        self.process = proc
        self._append_log("$ " + " ".join(cmd), own=True)
        self._set_status("Starting: reading the labels and decoding the images…")
        self.progress.setRange(0, 0)  # busy until the first batch
        start_trainer(proc, cmd)
        self._set_running(self.running())  # False when it failed to start (already reported)

    def _clear_views(self) -> None:
        self.results.clear()
        self.heatmap.clear()
        self.error.hide()
        self.log.clear()
        self.curves.clear()
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
        if not self.running() or self.state.cancelling:
            return
        self.state.cancelling = True
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
            self.state.cancelling = True
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
        event = read_event(line)
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
            self.state.last_stderr = line
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
        rows = self.results.rows
        if code == 0 and status == QProcess.ExitStatus.NormalExit:  # done, even if Cancel came too late
            self._set_status(self.state.done_text(rows, self.results.best))
        elif self.state.cancelling or code == EXIT_CANCELLED:
            self._set_status(self.state.cancelled_text(rows))
        else:
            how = "crashed" if status == QProcess.ExitStatus.CrashExit else f"stopped with exit status {code}"
            error, status_line = self.state.failed_text(how)
            self._show_error(error)
            self._set_status(status_line + self.state.registered_text(rows))
        self._set_running(False)
        if self.results.rows:  # the comparison is complete: show the winner
            self.table.selectRow(self.results.best if self.results.best is not None else 0)
        if self.state.close_when_stopped:
            QTimer.singleShot(0, self.close)

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
        """Follow one event of ``train/events.py``: the run state keeps count and words the status,
        the views here draw it."""
        kind, arch = ev.get("event"), ev.get("arch")
        status = self.state.follow(ev)
        if kind == "run":
            for a in ev.get("archs", []):
                self.curves.ensure(a)
        elif kind == "start":
            self.curves.ensure(arch)
            self.curves.set_epochs(self.state.epochs)
            self._progress(arch, 0, 1, 0, 1)
        elif kind == "batch":
            self._progress(arch, int(ev["epoch"]), self.state.epochs, int(ev["batch"]), int(ev["batches"]))
        elif kind == "epoch_end":
            self.curves.add_epoch(arch, ev)
            self._progress(arch, int(ev["epoch"]), self.state.epochs, 1, 1)
        elif kind == "registered":
            self.results.add(arch, self.state.metrics.get(arch, {}), ev.get("model_id"), self.state.inits.get(arch))
            if not self.table.selectionModel().hasSelection():
                self.table.selectRow(len(self.results.rows) - 1)
        if status is not None:
            self._set_status(status)

    def _progress(self, arch: str, epoch: int, epochs: int, batch: int, batches: int) -> None:
        self._end_progress()
        epochs, batches = max(1, epochs), max(1, batches)
        self.progress.setValue(round(1000 * ((max(0, epoch - 1) + batch / batches) / epochs if epoch else 0)))
        self.progress.setFormat(f"{arch}: {'epoch ' + str(epoch) + '/' + str(epochs) if epoch else 'starting'}  (%p%)")

    # -- results ----------------------------------------------------------------------------------

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
        if not self.names:  # the database was created by the run
            self.names = read_store_facts(self.db_path)[0]
        names = self.names
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

    def reject(self) -> None:
        """Esc: closes when idle; while training it offers to cancel."""
        if self.running():
            if not self.state.cancelling and self.confirm("Stop training?", self.state.stop_question()):
                self.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running():
            event.ignore()
            if self.state.close_when_stopped or self.confirm("Stop training and close?", self.state.stop_question()):
                self.state.close_when_stopped = True
                self.cancel()
            return
        super().closeEvent(event)
