"""A Plots tab whose numbers come from one store query run as a background task; a newer reload
replaces an older one, whose answer is then dropped (``gui/tasks.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from xtalviewer.store.store import Store
from xtalviewer.gui.tasks import TaskRunner, TaskState


def read_store(state: TaskState, db: Path, fn: Callable[[Store], object]) -> object:
    with Store(db, create=False) as store:
        return fn(store)


class PlotTab(QWidget):
    loaded = Signal()

    def __init__(self, db_path: Path, parent=None):
        super().__init__(parent)
        self.db_path = db_path
        self.data = None
        self.error: str | None = None
        self.task = TaskRunner(self)

    def query(self) -> Callable[[Store], object] | None:
        raise NotImplementedError

    def show_data(self, data) -> None:
        raise NotImplementedError

    def show_error(self, message: str) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        fn = self.query()
        if fn is not None:
            self.task.start(read_store, self.db_path, fn, on_done=self._done, on_failed=self._failed)

    def _done(self, data) -> None:
        self.data, self.error = data, None
        self.show_data(data)
        self.loaded.emit()

    def _failed(self, message: str) -> None:
        self.error = message
        self.show_error(message)
        self.loaded.emit()
