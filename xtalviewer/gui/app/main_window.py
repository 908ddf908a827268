"""The review window: binds the plate browser, grid, image, time course, side panel and the action
table (``gui/app/actions.py``) to a ``ReviewSession``, which holds the queue and does the labelling.
Everything slow (counts, decoding, scoring, imports, reports) runs off the GUI thread.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from xtalviewer.model.registry import RegistryError, activate_model, current_model
from xtalviewer.imaging.decode import load_rgb
from xtalviewer.review.session import Filters, LabelChange, LabelNotSaved, ReviewError, ReviewSession, chosen_model
from xtalviewer.settings import Settings, save_settings
from xtalviewer.store.rows import CourseImage, Inspection, Model
from xtalviewer.store.location import location_of
from xtalviewer.store.store import Store
from xtalviewer.imaging.thumbnails import ThumbnailCache, cache_from_settings, prune_in_background
from xtalviewer.gui.app import dialogs, review_commands
from xtalviewer.gui.retrain.recalibrate import Recalibrator, show_failure, show_result
from xtalviewer.gui.app.actions import review_actions, shortcut_rows
from xtalviewer.gui.plate.browser import BrowserRows, PlateBrowser, summaries
from xtalviewer.gui.app.centre_split import Centre
from xtalviewer.gui.drop.side_panel import DropPanel
from xtalviewer.gui.drop.drop_view import DropView
from xtalviewer.gui.app.file_commands import FileCommands
from xtalviewer.gui.plate.drop_grid import DropGrid
from xtalviewer.gui.plate.grid_view import GridPane
from xtalviewer.gui.drop.image_pane import ImagePane
from xtalviewer.gui.drop.loader import BackgroundLoader
from xtalviewer.gui.app.menus import fill_model_menu, install_actions, show_undo_state
from xtalviewer.gui.app.placement import place, saved_geometry
from xtalviewer.gui.plate.review_toolbar import ReviewToolbar
from xtalviewer.gui.plate.scoring import LiveScoring
from xtalviewer.gui.app.shortcuts import ShortcutOverlay
from xtalviewer.gui.app.status_labels import StatusLabels
from xtalviewer.gui.tasks import TaskRunner


class MainWindow(QMainWindow):
    drop_shown = Signal(int)  # image id, once its image and prediction are painted
    plate_loaded = Signal(int)  # inspection id, once the grid holds its drops

    def __init__(self, db_path: Path, settings: Settings, *, start_scoring: bool = True):
        super().__init__()
        self.db_path, self.settings, self.start_scoring = location_of(db_path), settings, start_scoring
        self.store = Store(self.db_path)
        self.scheme = self.store.scheme
        self.session = ReviewSession(self.store, settings.annotator, chosen_model(self.store, settings.default_model),
                                     order=settings.review_order, auto_advance=settings.auto_advance)
        self.hotkeys = {c.key: settings.hotkeys.get(c.key, c.hotkey) for c in self.scheme.classes}
        self._closed = False
        self.thumb_cache = self._thumb_cache(settings)
        # a thumbnail's source: (path, size, mtime) as stored, or (path, None, None) to stat the file
        self.thumbs = BackgroundLoader(lambda key, source: self.thumb_cache.get(*source),
                                       threads=2, memory_items=6000, parent=self)
        self.images = BackgroundLoader(lambda key, path: load_rgb(path), threads=2, memory_items=24, parent=self)
        self.browser_task, self.scoring = TaskRunner(self), LiveScoring(self.db_path, self)
        self._title_timer = QTimer(self, singleShot=True, interval=300,
                                   timeout=lambda: self.grid_box.show_title(self.session))
        self.scoring.scored.connect(self._scored)
        self.scoring.finished.connect(self._score_finished)
        self.files = FileCommands(self, self.db_path, imported=self.refresh_browser)
        self.setWindowTitle(f"xtalviewer: {self.db_path.name}")
        place(self, settings.window_geometry)
        self._build()
        self.refresh_browser()

    # -- layout and actions ---------------------------------------------------------------------

    def _build(self) -> None:
        self.browser = PlateBrowser()
        self.browser_model = self.browser.model_
        self.browser.clicked.connect(self._browser_clicked)
        self._plates_dock = self._dock("Plates", "plates", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea, 260)
        self.toolbar = ReviewToolbar(self.scheme, self)
        self.toolbar.changed.connect(lambda: self.requeue(self.toolbar.order(), self.toolbar.filters()))
        self.toolbar.done_typing.connect(lambda: self.grid.setFocus())
        self.addToolBar(self.toolbar)

        self.drops = DropGrid(self.session, self.thumbs, self.settings.thumbnail_size)
        self.grid_model = self.drops.model
        self.drops.current_changed.connect(self.set_current_row)
        self.drops.selection_changed.connect(self.session.set_selection)
        self.grid_box = grid_box = GridPane(self.drops)
        self.grid_title = grid_box.title
        self.pane = ImagePane(self.scheme, self.thumbs)
        self.image_view, self.filmstrip = self.pane.image_view, self.pane.filmstrip
        self.pane.course_clicked.connect(self._course_clicked)
        self.centre = Centre(grid_box, self.drops, self.pane)  # the plate above, the drop's image below
        self.setCentralWidget(self.centre)

        self.panel = DropPanel(self.scheme, self.hotkeys)
        self.panel.label_clicked.connect(self.apply_label)
        self.prediction, self.label_bar, self.alert = self.panel.prediction, self.panel.label_bar, self.panel.alert
        self._drop_dock = self._dock("Drop", "drop", self.panel, Qt.DockWidgetArea.RightDockWidgetArea, 340)
        self.status = StatusLabels(self.statusBar())
        self.scoring.progress.connect(self.status.scoring)
        self.drop = DropView(self.session, self.pane, self.panel, self.images, self.thumbs, self.scoring, self)
        self.drop.shown.connect(self.drop_shown)
        self.drop.unreadable.connect(lambda image_id: self.drops.refresh([image_id]))
        self.recalibrator = Recalibrator(self.db_path, self)
        self.recalibrator.done.connect(self._recalibrated)
        self.recalibrator.failed.connect(lambda e: show_failure(self, e))
        self.recalibrator.suggestion.connect(lambda text: self.statusBar().showMessage(text, 20000))
        self.action_table = review_actions(self.scheme, self.hotkeys)
        self.overlay = ShortcutOverlay(shortcut_rows(self.action_table), self)
        self.actions_, self.menus = install_actions(self, self.action_table)
        self.actions_["edit.advance"].setChecked(self.session.auto_advance)
        self._undo_state()
        self._show_filter_state()
        self._model_changed()

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea, width: int) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setMinimumWidth(width)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    def _model_changed(self) -> None:
        """Menu, status bar, hit rule and crop box follow the session's model."""
        fill_model_menu(self.menus["&Model"], self.store.models(), self.activate_model)
        self.status.show(self.settings.annotator, self.settings.device, self.model, self.session.operating_point)
        self.drop.model_changed()
        self.recalibrator.check(self.session.operating_point if self.model else None)

    @property
    def model(self) -> Model | None:
        return self.session.model

    @property
    def grid(self):
        """The view of the drops on screen: the plate map, or the flowing queue."""
        return self.drops.view

    @property
    def inspection(self) -> Inspection | None:
        return self.session.inspection

    # -- plates, order and filters ----------------------------------------------------------------

    def refresh_browser(self, then_open: int | None = None) -> None:
        """Plate and inspection counts come from a background query (large stores take a moment)."""
        def done(found: BrowserRows) -> None:
            rows = found.rows
            self.browser_model.set_rows(found, self.session.operating_point, self.model and self.model.name)
            self.browser.expandAll()
            self.session.set_inspections([r.id for r in rows])
            target = then_open or (self.inspection.id if self.inspection else None)
            if target is None and rows:
                target = next((r.id for r in reversed(rows) if r.barcode == getattr(self, "_wanted_plate", None)),
                              rows[-1].id)
            if target is not None and (self.inspection is None or self.inspection.id != target):
                self.open_inspection(target)
            elif self.inspection is not None:
                self.browser.select(self.inspection.id)
            if not rows:
                self.grid_title.setText("No plates yet: File > Import plate folder… (or run `xtalviewer demo`)")

        self.browser_task.start(summaries, self.db_path, self.session.model_id, on_done=done,
                                on_failed=lambda e: self.statusBar().showMessage(e))

    def want_plate(self, barcode: str | None) -> None:
        if barcode:
            self._wanted_plate = barcode

    def _browser_clicked(self, index: QModelIndex) -> None:
        inspection_id = self.browser_model.inspection_id(index)
        if inspection_id is not None:
            self.open_inspection(inspection_id)

    def step_inspection(self, step: int) -> None:
        """Page Up/Down: the neighbouring inspection, the same drop kept within a plate."""
        found = self.session.step(step)
        if found is not None:
            self.open_inspection(*found)

    def open_inspection(self, inspection_id: int, keep_image: int | None = None) -> None:
        old = self.inspection
        self.thumbs.forget_pending()
        if not self.session.open_inspection(inspection_id, keep_image):
            return
        self.browser.select(inspection_id)
        self._queue_shown()
        review_commands.sync_blind(self)
        if not (old and old.plate_id == self.inspection.plate_id and self.scoring.running()):
            self.start_plate_scoring()  # the task scores the whole plate: keep it across its inspections
        self.plate_loaded.emit(inspection_id)

    def requeue(self, order: str | None = None, filters: Filters | None = None, **changes) -> None:
        """Another order, other filters, or some filters changed (``hit=True``): show the new queue."""
        order, filters = order or self.session.order, replace(filters or self.session.filters, **changes)
        try:
            self.session.check_queue(order, filters)
        except ReviewError as exc:  # blind review keeps the model's orders and filters off
            self.statusBar().showMessage(str(exc), 6000)
        else:
            self.session.order, self.session.filters = order, filters
            self.reload_queue()
        self._show_filter_state()

    def reload_queue(self, *_args, keep_image: int | None = None) -> None:
        self.session.reload(keep_image)
        self._queue_shown()

    def _queue_shown(self) -> None:
        """The session read its queue: grid (plate map or flowing queue), title, current drop."""
        self.drops.reset()
        self.grid_box.show_title(self.session)
        self.centre.fit()
        self.set_current_row(max(self.session.current, 0))
        self.grid.setFocus()

    def _show_filter_state(self) -> None:
        """Toolbar and Review menu show the session's order and filters."""
        s, f = self.session, self.session.filters
        self.toolbar.show_state(s.order, f)
        self.actions_[f"order.{s.order}"].setChecked(True)
        for name, on in (("unreviewed", f.unreviewed), ("hits", f.hit is True), ("top3", f.crystal_top3 is True)):
            self.actions_[f"filter.{name}"].setChecked(on)

    def refresh_all(self) -> None:
        self.session.set_model(current_model(self.store))
        self._model_changed()
        self.refresh_browser()
        self.reload_queue()

    # -- the drop on screen ---------------------------------------------------------------------

    def current_row(self) -> int:
        return self.session.current

    def current_image_id(self) -> int | None:
        return self.session.current_image_id

    def set_current_row(self, row: int) -> None:
        """The drop on screen (the reviewer moved there, or labelling moved on)."""
        self.session.set_current(row)
        self.drops.show_current(self.session.current)
        self.drop.show()

    def _course_clicked(self, r: CourseImage) -> None:
        """A time-course image: its inspection, the same drop (in the queue's mode) current."""
        if self.inspection and r.inspection_id != self.inspection.id:
            keep = r.id if r.mode == self.session.queue_mode else self.store.same_drop(
                r.inspection_id, r.plate_id, r.well, r.drop_no, self.session.queue_mode)
            self.open_inspection(r.inspection_id, keep_image=keep)

    def go_to_image(self, image_id: int) -> None:
        """A drop picked elsewhere (the plots): open its inspection, clearing filters that hide it."""
        inspection_id = self.store.inspection_of_image(image_id)
        if inspection_id is None:
            return
        if self.inspection is None or self.inspection.id != inspection_id or self.session.row_of(image_id) is None:
            self.session.filters = Filters()
            self._show_filter_state()
            self.open_inspection(inspection_id, keep_image=image_id)
        else:
            self.set_current_row(self.session.row_of(image_id))
        self.activateWindow()

    # -- labelling ------------------------------------------------------------------------------

    def apply_label(self, key: str, *, source: str = "human") -> bool:
        """Label the selected drops (or the current one), commit, then move on."""
        return self._labelled(lambda: self.session.label(key, source=source))

    def accept_prediction(self) -> bool:
        return self._labelled(self.session.accept_prediction)

    def undo(self) -> None:
        self._labelled(self.session.undo, "Undone")

    def redo(self) -> None:
        self._labelled(self.session.redo, "Redone")

    def _labelled(self, act, verb: str | None = None) -> bool:
        try:
            change: LabelChange | None = act()
        except ReviewError as exc:
            self.statusBar().showMessage(str(exc), 4000)
            return False
        except LabelNotSaved as exc:  # said at once, in the window; nothing moved on
            self.panel.show_alert(str(exc))
            self.statusBar().showMessage(f"Label not saved: {exc.reason}", 30000)
            return False
        self.panel.show_alert(None)
        if change is None:
            return False
        if verb:
            self.statusBar().showMessage(f"{verb}: {change.text}", 5000)
        self.drops.refresh(change.image_ids)
        self._undo_state()
        counts = self.session.inspection_counts()
        if counts:
            self.browser_model.set_counts(counts)
        self.set_current_row(self.session.current)
        self.recalibrator.check(self.session.operating_point if self.model else None)
        return True

    def _undo_state(self) -> None:
        show_undo_state(self.actions_["edit.undo"], self.actions_["edit.redo"], self.session.undo_text,
                        self.session.redo_text)

    def set_auto_advance(self, on: bool) -> None:
        self.settings.auto_advance = self.session.auto_advance = on
        self._save_settings()

    # -- models and live scoring ------------------------------------------------------------

    def start_plate_scoring(self) -> None:
        if not self.start_scoring or self.model is None or self.inspection is None:
            self.scoring.cancel()
            self.status.idle()
            return
        self.scoring.start(self.model, self.inspection.plate_id, self.settings.device, self.current_image_id())

    def _scored(self, image_id: int, fields: dict | None, error: str | None) -> None:
        self.session.apply_prediction(image_id, fields or {"load_error": error})  # the run marked the store
        self.drops.refresh([image_id])
        self.drop.scored(image_id, error)
        if not self._title_timer.isActive():  # the title's hit count follows, a few times a second
            self._title_timer.start()

    def _score_finished(self, summary: dict) -> None:
        self.status.idle()
        self._title_timer.stop()
        self.grid_box.show_title(self.session)
        if summary.get("error"):
            self.statusBar().showMessage(f"Scoring stopped: {summary['error']}", 15000)
        elif summary.get("total"):
            self.statusBar().showMessage(f"Scored {summary['scored']} drops ({summary['errors']} unreadable)", 6000)
            self.refresh_browser()
        self.drop.show_prediction()

    def activate_model(self, model_id: int) -> None:
        try:
            activate_model(self.store, model_id)  # refuses a model trained into NaN
        except RegistryError as exc:
            self.statusBar().showMessage(f"Not activated: {exc}", 15000)
            return
        self.settings.default_model = model_id
        self._save_settings()
        self._switch_model(current_model(self.store))

    def _switch_model(self, model: Model | None) -> None:
        self.session.set_model(model)
        self._model_changed()
        self.reload_queue()  # the grid shows the new model's (cached) predictions and hits
        self.start_plate_scoring()  # and scores what it has not seen
        self.refresh_browser()

    # -- other actions -----------------------------------------------------------------------

    def open_plots(self) -> None:
        self._plots = dialogs.open_plots(self)

    def recalibrate(self) -> None:
        """Model ▸ Recalibrate: refit the active model's hit threshold on this store's labels."""
        self.statusBar().showMessage("Recalibrating on the labelled drops …")
        self.recalibrator.start()

    def _recalibrated(self, model_id: int, summary: str) -> None:
        self.statusBar().showMessage(f"Recalibrated: {summary}", 15000)
        self.activate_model(model_id)
        show_result(self, summary)

    def open_retrain(self) -> None:
        self._retrain = dialogs.open_retrain(self, getattr(self, "_retrain", None))

    def apply_settings(self, new: Settings) -> None:
        """Take new preferences into effect at once and save them."""
        old, self.settings = self.settings, new
        self._save_settings()
        self.session.annotator, self.session.auto_advance = new.annotator, new.auto_advance
        self.hotkeys = {c.key: new.hotkeys.get(c.key, c.hotkey) for c in self.scheme.classes}
        for c in self.scheme.classes:
            self.actions_[f"label.{c.key}"].setShortcut(QKeySequence(self.hotkeys[c.key]))
        self.label_bar.set_hotkeys(self.hotkeys)
        self.action_table = review_actions(self.scheme, self.hotkeys)
        self.overlay.set_rows(shortcut_rows(self.action_table))
        self.actions_["edit.advance"].setChecked(new.auto_advance)
        if (new.thumbnail_dir, new.thumbnail_limit_mb) != (old.thumbnail_dir, old.thumbnail_limit_mb):
            self.thumb_cache = self._thumb_cache(new)
        model = chosen_model(self.store, self.settings.default_model)
        if new.device != old.device or (model and self.model and model.id != self.model.id):
            self._switch_model(model)
        self._model_changed()

    def _thumb_cache(self, settings: Settings) -> ThumbnailCache:
        """The disk cache, pruned in the background: its limit may have shrunk, or others filled it.
        A thumbnail folder that cannot be a cache (plate images, others' files) gives way to the
        default folder, and the status bar says so."""
        cache, warning = cache_from_settings(settings, self.store.image_path_under, size=256)
        if warning:
            self.statusBar().showMessage(warning, 30000)
        prune_in_background(cache)
        return cache

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 8000)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_sized", False):  # docks wide enough for their counts; the plate above the image
            self._sized = True
            self.resizeDocks([self._plates_dock, self._drop_dock], [400, 400], Qt.Orientation.Horizontal)
            self.centre.fit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self.drop.closed = True  # queued results can still arrive; they must not touch the store
            self.scoring.close(wait=3.0)
            self.browser_task.close()
            self.files.close()
            self.settings.thumbnail_size = self.drops.queue.delegate.cell
            self.settings.review_order = self.session.order
            self.settings.window_geometry = saved_geometry(self)
            self._save_settings()
            for loader in (self.thumbs, self.images):  # nothing still queued reaches a closed store
                loader.close()
            self.store.close()
        super().closeEvent(event)

