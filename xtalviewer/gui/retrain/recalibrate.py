"""Model ▸ Recalibrate: refit the active model's hit threshold on this store's labels, off the GUI thread.

The work is ``model/recalibration.py`` (one forward pass per labelled drop, then the fit); this only
runs it on a worker with its own database connection, activates the result and says what changed.
Once enough crystals are labelled (and the active model was not fitted on them) the status bar
suggests it, once per session.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from xtalviewer.store.location import location_of
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.model.recalibration import SUGGEST_AT, labelled_crystal_count, recalibrate
from xtalviewer.store.store import Store
from xtalviewer.gui.tasks import TaskRunner


def worth_suggesting(db_name: str, crystals: int, op: OperatingPoint | None) -> bool:
    """Enough labelled crystals, and the model's operating point was not fitted on (most of) them."""
    if crystals < SUGGEST_AT or op is None:
        return False
    fitted_here = bool(op.fitted_on and db_name in op.fitted_on)
    return not fitted_here or (op.val_crystals or 0) * 2 <= crystals


class Recalibrator(QObject):
    done = Signal(int, str)  # the new model id, the summary
    failed = Signal(str)
    suggestion = Signal(str)

    def __init__(self, db_path: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.db_path = location_of(db_path)
        self._task = TaskRunner(self)
        self._check = TaskRunner(self)
        self._suggested = False

    def start(self) -> None:
        """Recalibrate the current model on the store's labelled drops (human and imported labels)."""
        def work(state, db_path):
            with Store(db_path) as store:
                result = recalibrate(store, None, log=lambda _m: None)
            return result.model_id, result.summary()

        self._task.start(work, self.db_path, on_done=lambda r: self.done.emit(*r), on_failed=self.failed.emit)

    def check(self, op: OperatingPoint | None) -> None:
        """Count the labelled crystals off the GUI thread; emit a suggestion once when worth it."""
        if self._suggested or op is None:
            return

        def count(state, db_path):
            with Store(db_path, readonly=True) as store:
                return labelled_crystal_count(store)[1]

        def counted(crystals: int) -> None:
            if not self._suggested and worth_suggesting(self.db_path.name, crystals, op):
                self._suggested = True
                self.suggestion.emit(f"{crystals} drops are labelled as crystals: Model ▸ Recalibrate "
                                     "(Ctrl+Shift+R) fits the hit threshold to your imager in seconds")

        self._check.start(count, self.db_path, on_done=counted)


def show_result(parent: QWidget, summary: str) -> None:
    QMessageBox.information(parent, "Recalibrated", f"The recalibrated model is now active.\n\n{summary}")


def show_failure(parent: QWidget, error: str) -> None:
    QMessageBox.warning(parent, "Recalibration not done", error.split(": ", 1)[-1])
