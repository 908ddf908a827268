"""Background work for the GUI: live scoring of a plate, and one-off jobs (plate summaries, imports).

Each worker opens its own database connection in its own thread; results come back to the GUI
thread through queued signals, so the GUI thread only paints and handles input.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

_model_cache: dict[tuple, tuple] = {}
_model_lock = threading.Lock()


def cached_scorer(path: str, sha: str | None, device_name: str, scheme):
    """Load a checkpoint once per (file, device): switching plates must not reload the model."""
    from xtalviewer.core.inference import Scorer, select_device
    from xtalviewer.core.models import load_checkpoint

    key = (path, sha, device_name)
    with _model_lock:
        if key not in _model_cache:
            meta, net = load_checkpoint(path, scheme)
            _model_cache.clear()  # one model in memory at a time
            _model_cache[key] = Scorer(net, meta, select_device(device_name))
        return _model_cache[key]


class ScoringWorker(QThread):
    """Scores every drop of one plate the active model has not scored yet, the drop on screen first."""

    scored = Signal(int, object)  # image id, prediction fields (top1..p3, crystal_prob, crystal_top3)
    failed = Signal(int, str)  # image id, why it cannot be read
    progress = Signal(int, int)  # done, total
    finished_run = Signal(object)  # summary dict, or {"error": text}

    def __init__(self, db_path: Path, model: dict, plate_id: int, device: str, first: int | None = None,
                 batch_size: int = 4, parent: QObject | None = None):
        super().__init__(parent)
        self.db_path, self.model, self.plate_id, self.device = db_path, model, plate_id, device
        self.batch_size = batch_size
        self._first = first
        self._run = None
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    def prioritize(self, image_id: int) -> None:
        with self._lock:
            if self._run is not None:
                self._run.prioritize(image_id)
            else:
                self._first = image_id

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            if self._run is not None:
                self._run.cancel()

    def run(self) -> None:
        from xtalviewer.core.inference import ScoringRun, work_list
        from xtalviewer.core.store import Store

        try:
            with Store(self.db_path) as store:
                items = work_list(store, self.model["id"], plate_id=self.plate_id)
                scheme = store.scheme
            if not items or self._cancelled.is_set():
                self.finished_run.emit({"scored": 0, "errors": 0, "total": 0})
                return
            scorer = cached_scorer(self.model["path"], self.model.get("sha256"), self.device, scheme)
            crystal = scheme.crystal_keys
            run = ScoringRun(scorer, items, db_path=self.db_path, model_id=self.model["id"],
                             batch_size=self.batch_size, workers=1)
            with self._lock:
                self._run = run
                if self._first is not None:
                    run.prioritize(self._first)
                if self._cancelled.is_set():
                    run.cancel()
            done = 0
            for result in run:
                done += 1
                if result.error:
                    self.failed.emit(result.image_id, result.error)
                else:
                    p = result.probs
                    fields = {f"top{i + 1}": k for i, (k, _) in enumerate(result.top3)}
                    fields.update({f"p{i + 1}": v for i, (_, v) in enumerate(result.top3)})
                    fields["crystal_prob"] = float(sum(p[j] for j, k in enumerate(scheme.keys) if k in crystal))
                    fields["crystal_top3"] = int(any(k in crystal for k, _ in result.top3))
                    self.scored.emit(result.image_id, fields)
                self.progress.emit(done, run.total)
            self.finished_run.emit({"scored": run.scored, "errors": run.errors, "total": run.total,
                                    "seconds": run.seconds, "cancelled": run.cancelled,
                                    "write_error": run.write_error})
        except Exception as exc:  # shown in the status bar; the app keeps going
            self.finished_run.emit({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})


class _TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], object], signals: _TaskSignals):
        super().__init__()
        self.fn, self.signals = fn, signals

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            try:
                self.signals.failed.emit(f"{type(exc).__name__}: {exc}")
            except RuntimeError:
                pass
            return
        try:
            self.signals.done.emit(result)
        except RuntimeError:  # the window closed while we worked
            pass


def run_in_background(fn: Callable[[], object], on_done: Callable[[object], None],
                      on_failed: Callable[[str], None] | None = None, parent: QObject | None = None) -> _TaskSignals:
    """Run ``fn`` on the global thread pool; ``on_done(result)`` runs on the GUI thread."""
    signals = _TaskSignals(parent)
    signals.done.connect(on_done)
    if on_failed:
        signals.failed.connect(on_failed)
    QThreadPool.globalInstance().start(_Task(fn, signals))
    return signals
