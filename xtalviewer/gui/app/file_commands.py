"""File menu work that can take a while: importing plate folders, exporting labels, writing a plate
report. Each runs as a background task with its own database connection; one of each at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from xtalviewer.store.location import location_of
from xtalviewer.store.rows import Inspection
from xtalviewer.store.store import Store
from xtalviewer.imaging.thumbnails import ThumbnailCache
from xtalviewer.gui.tasks import TaskFailed, TaskRunner, TaskState


def import_task(state: TaskState, db: Path, paths: list[str]):
    """Import, then give a store without any model the shipped base model (day one scores at once)."""
    from xtalviewer.importers import import_paths
    from xtalviewer.model.registry import ensure_base_model

    with Store(db) as store:
        report = import_paths(store, paths)
        ensure_base_model(store)
        return report


def export_task(state: TaskState, db: Path, target: str) -> int:
    from xtalviewer.importers.label_csv import export_csv

    with Store(db) as store:
        try:
            return export_csv(store, target)
        except (ValueError, OSError) as exc:  # a device or folder picked as the target, a full disk ...
            raise TaskFailed(str(exc)) from exc


def report_task(state: TaskState, db: Path, inspection: Inspection, target: str, cache: ThumbnailCache) -> Path:
    from xtalviewer.report.html import write_report

    with Store(db) as store:
        return write_report(store, inspection.barcode, target, inspection_key=inspection.key, thumb_cache=cache)


def import_summary(report) -> str:
    text = report.summary()
    if report.unreadable:
        text += "\n\nUnreadable files:\n" + "\n".join(f"{p}: {r}" for p, r in report.unreadable[:50])
        if len(report.unreadable) > 50:
            text += f"\n… and {len(report.unreadable) - 50} more"
    return text


class FileCommands(QObject):
    """Import, export and report for one review window (``window``: its status bar and dialogs)."""

    def __init__(self, window: QMainWindow, db_path: Path, imported: Callable[[], None],
                 after_import: Callable[[list[str]], None] | None = None):
        """``imported``: the store gained plates; ``after_import(paths)``: the result was seen (the
        window may offer to watch the folder)."""
        super().__init__(window)
        self.window, self.db_path, self.imported = window, location_of(db_path), imported
        self.after_import = after_import
        self.imports, self.exports, self.reports = TaskRunner(self), TaskRunner(self), TaskRunner(self)

    def _say(self, text: str, ms: int = 0) -> None:
        self.window.statusBar().showMessage(text, ms)

    def _busy(self, runner: TaskRunner, what: str) -> bool:
        if runner.running():
            self._say(f"{what} is still running; wait for it to finish", 6000)
        return runner.running()

    def start(self, task: str) -> None:
        """File > Import, Export or Plate report ("import", "export", "report"), as the window is asked."""
        if task == "report":
            self.plate_report(self.window.inspection, self.window.thumb_cache)
        else:
            (self.import_folder if task == "import" else self.export_csv)()

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Import plate images")
        if folder:
            self.run_import([folder])

    def run_import(self, paths: list[str]) -> None:
        if self._busy(self.imports, "An import"):
            return
        self._say(f"Importing {', '.join(paths)}…")

        def done(report) -> None:
            self._say("Import finished", 6000)
            QMessageBox.information(self.window, "Import finished", import_summary(report))
            if self.window.model is None:  # the shipped base model was registered for this new store
                self.window.refresh_all()
            else:
                self.imported()
            if self.after_import is not None:
                self.after_import(list(paths))

        self.imports.start(import_task, self.db_path, list(paths), on_done=done,
                           on_failed=lambda e: QMessageBox.warning(self.window, "Import failed", e))

    def export_csv(self) -> None:
        if self._busy(self.exports, "An export"):
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export labels", "labels.csv", "CSV (*.csv)")
        if not path:
            return
        self._say(f"Exporting to {path}…")
        self.exports.start(export_task, self.db_path, path,
                           on_done=lambda n: self._say(f"Wrote {n} rows to {path}", 6000),
                           on_failed=lambda e: QMessageBox.warning(self.window, "Export failed", e))

    def plate_report(self, inspection: Inspection | None, cache: ThumbnailCache) -> None:
        """One self-contained HTML file of this inspection, then opened."""
        if inspection is None:
            self._say("Open a plate first", 4000)
            return
        if self._busy(self.reports, "A report"):
            return
        suggested = f"{inspection.barcode}-{(inspection.imaged_at or '')[:10]}-report.html"
        path, _ = QFileDialog.getSaveFileName(self.window, "Plate report", suggested, "HTML (*.html)")
        if not path:
            return
        self._say(f"Writing {path}…")

        def done(target: Path) -> None:
            self._say(f"Wrote {target}", 8000)
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

        self.reports.start(report_task, self.db_path, inspection, path, cache, on_done=done,
                           on_failed=lambda e: self._say(f"Report not written: {e}", 15000))

    def close(self) -> None:
        for runner in (self.imports, self.exports, self.reports):
            runner.close()
