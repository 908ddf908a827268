"""Live scoring of the open plate: every drop the model has not scored yet, the drop on screen
first, each result handed to the window as it arrives. Runs as a ``TaskRunner`` task with its own
database connection; the crystal probability and the top-3 flag come from ``crystal_call``."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from xtalviewer.store.location import location_of
from xtalviewer.crystal_call import crystal_in_top3, crystal_probability
from xtalviewer.store.rows import Model
from xtalviewer.gui.tasks import TaskFailed, TaskRunner, TaskState

_model_cache: dict[tuple, object] = {}
_model_lock = threading.Lock()


def cached_scorer(path: str, sha: str | None, device_name: str, scheme):
    """Load a checkpoint once per (file, device): switching plates must not reload the model."""
    from xtalviewer.model.inference import Scorer, select_device
    from xtalviewer.model.architectures import load_checkpoint

    key = (path, sha, device_name)
    with _model_lock:
        if key not in _model_cache:
            meta, net = load_checkpoint(path, scheme)
            _model_cache.clear()  # one model in memory at a time
            _model_cache[key] = Scorer(net, meta, select_device(device_name))
        return _model_cache[key]


def prediction_fields(probs: np.ndarray, top3: list[tuple[str, float]], crystal_mask: list[bool]) -> dict:
    """What the grid and the panel show of one live result, as the store would hold it: the
    ``QueueRow`` fields it fills in (keyword arguments for ``dataclasses.replace``)."""
    keys = [k for k, _ in top3] + [None] * (3 - len(top3))
    probabilities = [float(v) for _, v in top3] + [None] * (3 - len(top3))
    return dict(top1=keys[0], p1=probabilities[0], top2=keys[1], p2=probabilities[1], top3=keys[2],
                p3=probabilities[2], crystal_prob=float(crystal_probability(probs, crystal_mask)),
                crystal_top3=int(crystal_in_top3(probs, crystal_mask)))


class PlateScoring:
    """One plate's scoring job. ``run`` is the task function; ``prioritize`` may be called from the
    GUI thread while it runs. Partial results: ``(image_id, fields, None)`` or ``(image_id, None, error)``."""

    def __init__(self, db_path: Path, model: Model, plate_id: int, device: str, first: int | None = None,
                 batch_size: int = 4):
        self.db_path, self.model, self.plate_id, self.device = location_of(db_path), model, plate_id, device
        self.batch_size = batch_size
        self._first = first
        self._run = None
        self._lock = threading.Lock()

    def prioritize(self, image_id: int) -> None:
        with self._lock:
            if self._run is not None:
                self._run.prioritize(image_id)
            else:
                self._first = image_id

    def run(self, state: TaskState) -> dict:
        from xtalviewer.model.inference import ScoringRun, work_list
        from xtalviewer.store.store import Store

        with Store(self.db_path) as store:
            items = work_list(store, self.model.id, plate_id=self.plate_id)
            scheme = store.scheme
        if not items or state.cancelled:
            return {"scored": 0, "errors": 0, "total": 0}
        scorer = cached_scorer(self.model.path, self.model.sha256, self.device, scheme)
        run = ScoringRun(scorer, items, db_path=self.db_path, model_id=self.model.id,
                         batch_size=self.batch_size, workers=1)
        with self._lock:
            self._run = run
            if self._first is not None:
                run.prioritize(self._first)
        state.on_cancel(run.cancel)
        done = 0
        for result in run:
            done += 1
            if result.error:
                state.partial((result.image_id, None, result.error))
            else:
                fields = prediction_fields(result.probs, result.top3, scheme.crystal_mask)
                state.partial((result.image_id, fields, None))
            state.progress(done, run.total)
        if run.error:  # a stage failed and the run stopped: the window says why (``LiveScoring.finished``)
            raise TaskFailed(f"{run.error} ({run.stored} of {run.total} drops were stored before that)")
        return {"scored": run.scored, "errors": run.errors, "total": run.total, "seconds": run.seconds,
                "cancelled": run.cancelled, "unmapped": dict(run.unmapped)}


class LiveScoring(QObject):
    """The window's scoring of its open plate: one ``PlateScoring`` task at a time."""

    scored = Signal(int, object, object)  # image id, prediction fields or None, error or None
    progress = Signal(int, int)  # done, total
    finished = Signal(object)  # summary dict, or {"error": text}

    def __init__(self, db_path: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.db_path = location_of(db_path)
        self.runner = TaskRunner(self)
        self.job: PlateScoring | None = None

    def start(self, model: Model, plate_id: int, device: str, first: int | None) -> None:
        """Score the plate's unscored drops, ``first`` first (cancels the scoring before)."""
        self.job = PlateScoring(self.db_path, model, plate_id, device, first=first)
        self.runner.start(self.job.run, on_partial=lambda r: self.scored.emit(*r), on_progress=self.progress.emit,
                          on_done=self._done, on_failed=lambda e: self._done({"error": e}))

    def _done(self, summary: dict) -> None:
        self.job = None
        self.finished.emit(summary)

    def prioritize(self, image_id: int) -> None:
        if self.job is not None:
            self.job.prioritize(image_id)

    def running(self) -> bool:
        return self.runner.running()

    def cancel(self) -> None:
        self.job = None
        self.runner.cancel()

    def close(self, wait: float = 3.0) -> None:
        self.job = None
        self.runner.close(wait)
