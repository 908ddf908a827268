"""The review window: the plate browser, grid, image, time course and side panel around one
``ReviewSession``. It is the ``ReviewView`` of the action table (``review/actions.py``) and the review
commands (``review/commands.py``): they decide, in the session, and the window shows what it holds.
Everything slow (counts, decoding, scoring, imports, reports) runs off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QWidget

from xtalviewer.store.location import location_of
from xtalviewer.imaging.decode import load_rgb
from xtalviewer.review import commands, navigation
from xtalviewer.review.actions import Dialog, Overlay, Task, review_actions, shortcut_rows
from xtalviewer.review.model_choice import chosen_model
from xtalviewer.review.session import ReviewSession
from xtalviewer.settings import Settings, save_settings
from xtalviewer.store.rows import Inspection, InspectionSummary, Model
from xtalviewer.store.store import Store
from xtalviewer.gui.app import dialogs
from xtalviewer.gui.app.centre_split import Centre
from xtalviewer.gui.app.file_commands import FileCommands
from xtalviewer.gui.app.live import LiveLabels
from xtalviewer.gui.app.menus import fill_model_menu, install_actions, show_undo_state
from xtalviewer.gui.app.model_work import ScoringFeed, recalibration
from xtalviewer.gui.app.placement import add_dock, place, saved_geometry
from xtalviewer.gui.app.settings_effect import apply_settings, label_keys, thumbnail_cache
from xtalviewer.gui.app.shortcuts import ShortcutOverlay
from xtalviewer.gui.app.watching import Watching
from xtalviewer.gui.app.status_labels import StatusLabels
from xtalviewer.gui.drop.drop_view import DropView
from xtalviewer.gui.drop.image_pane import ImagePane
from xtalviewer.gui.drop.loader import BackgroundLoader
from xtalviewer.gui.drop.side_panel import DropPanel
from xtalviewer.gui.plate.browser import PlateBrowser
from xtalviewer.gui.plate.drop_grid import DropGrid
from xtalviewer.gui.plate.grid_view import GridPane
from xtalviewer.gui.plate.review_toolbar import ReviewToolbar
from xtalviewer.gui.plate.scoring import LiveScoring


PLATES_AFTER_OTHERS_MS = 3000  # colleagues' labels on other plates: their counts are read again this late


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
        self.hotkeys = label_keys(self.scheme, settings)
        self.wanted_plate: str | None = None  # ``xtalviewer --plate``: opened first
        self.open_dialogs: dict[str, QWidget] = {}  # by name, for ``dialogs.open_dialog``
        self._closed = self._sized = False
        self.thumb_cache = thumbnail_cache(settings, self.store, self.say)
        # a thumbnail's source: (path, size, mtime) as stored, or (path, None, None) to stat the file
        self.thumbs = BackgroundLoader(lambda key, source: self.thumb_cache.get(*source),
                                       threads=2, memory_items=6000, parent=self)
        self.images = BackgroundLoader(lambda key, path: load_rgb(path), threads=2, memory_items=24, parent=self)
        self.scoring = LiveScoring(self.db_path, self)
        self.files = FileCommands(self, self.db_path, imported=self.refresh_browser,
                                  after_import=lambda paths: self.watching.offer(paths))
        self.setWindowTitle(f"xtalviewer: {self.db_path.name}")
        place(self, settings.window_geometry)
        self._build()
        self.refresh_browser()
        # colleagues' labels and model activations, heard off the GUI thread (``gui/app/live.py``)
        self.live = LiveLabels(self.db_path, lambda news: commands.others_changed(self.session, self, news),
                               self._live_unheard, self)
        self._plates_later = QTimer(self, singleShot=True, interval=PLATES_AFTER_OTHERS_MS)
        self._plates_later.timeout.connect(lambda: self.refresh_browser())
        self.live.start()

    # -- layout and wiring ------------------------------------------------------------------------

    def _build(self) -> None:
        self.browser = PlateBrowser()
        self.browser_model = self.browser.model_
        self.browser.inspection_clicked.connect(self.open_inspection)
        self._plates_dock = add_dock(self, "Plates", "plates", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea, 260)
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
        self.pane.course_clicked.connect(lambda image: commands.open_course_image(self.session, self, image))
        self.centre = Centre(grid_box, self.drops, self.pane)  # the plate above, the drop's image below
        self.setCentralWidget(self.centre)

        self.panel = DropPanel(self.scheme, self.hotkeys)
        self.panel.label_clicked.connect(self.apply_label)
        self.panel.retry_clicked.connect(lambda: commands.retry_labels(self.session, self))
        self.prediction, self.label_bar, self.alert = self.panel.prediction, self.panel.label_bar, self.panel.alert
        self._drop_dock = add_dock(self, "Drop", "drop", self.panel, Qt.DockWidgetArea.RightDockWidgetArea, 340)
        self.status = StatusLabels(self.statusBar())
        self.drop = DropView(self.session, self.pane, self.panel, self.images, self.thumbs, self.scoring, self)
        self.drop.shown.connect(self.drop_shown)
        self.drop.unreadable.connect(lambda image_id: self.drops.refresh([image_id]))
        self.scoring_feed = ScoringFeed(self, self.scoring)
        self.recalibrator = recalibration(self)
        self.action_table = review_actions(self.scheme, self.hotkeys)
        self.overlay = ShortcutOverlay(shortcut_rows(self.action_table), self)
        self.actions_, self.menus = install_actions(self, self.action_table, self.session)
        self.actions_["edit.advance"].setChecked(self.session.auto_advance)
        show_undo_state(self.actions_["edit.undo"], self.actions_["edit.redo"], self.session.undo_redo_items())
        self.show_choices()
        self.show_model()
        self.watching = Watching(self)  # File > Watch imager folders: the watcher's thread, status and news

    def show_model(self) -> None:
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

    # -- ReviewView: what the actions and the review commands ask of the window --------------------

    def say(self, text: str, ms: int = 5000) -> None:
        self.statusBar().showMessage(text, ms)

    def ask_text(self, title: str, question: str) -> str | None:
        return dialogs.ask_text(self, title, question)

    def show_label_alert(self, text: str | None) -> None:
        self.panel.show_alert(text)

    def inspection_opened(self, previous: Inspection | None) -> None:
        self.thumbs.forget_pending()
        self.browser.select(self.inspection.id)
        self.show_queue()
        self.actions_["review.blind"].setChecked(self.session.blind)  # blind review is per plate
        self.scoring_feed.start(previous)
        self.plate_loaded.emit(self.inspection.id)

    def show_queue(self) -> None:
        self.drops.reset()
        self.grid_box.show_title(self.session)
        self.centre.fit()
        self.set_current_row(max(self.session.current, 0))
        self.grid.setFocus()

    def show_choices(self) -> None:
        s, f = self.session, self.session.filters
        self.toolbar.show_state(s.order, f)
        self.actions_[f"order.{s.order}"].setChecked(True)
        for name, on in (("unreviewed", f.unreviewed), ("hits", f.hit is True), ("top3", f.crystal_top3 is True)):
            self.actions_[f"filter.{name}"].setChecked(on)
        self.actions_["review.blind"].setChecked(s.blind)

    def show_current(self) -> None:
        self.drops.show_current(self.session.current)
        self.drop.show()

    def refresh_drops(self, image_ids: Sequence[int]) -> None:
        self.drops.refresh(image_ids)

    def labels_changed(self, image_ids: Sequence[int]) -> None:
        self.drops.refresh(image_ids)
        show_undo_state(self.actions_["edit.undo"], self.actions_["edit.redo"], self.session.undo_redo_items())
        counts = self.session.inspection_counts()
        if counts:
            self.browser_model.set_counts(counts)
        self.set_current_row(self.session.current)
        self.recalibrator.check(self.session.operating_point if self.model else None)

    def others_labelled(self, image_ids: Sequence[int]) -> None:
        self.drops.refresh(image_ids)
        counts = self.session.inspection_counts()
        if counts:
            self.browser_model.set_counts(counts)
        if self.session.current_image_id in image_ids:
            self.drop.show_prediction(history=self.session.history())

    def plates_changed(self) -> None:
        if not self._plates_later.isActive():  # many labels elsewhere: one read of the counts
            self._plates_later.start()

    def _live_unheard(self, text: str | None) -> None:
        self.say(f"Note: {text}" if text else "Colleagues' labels arrive again", 0 if text else 5000)

    def model_changed(self, rescore: bool) -> None:
        self.show_model()
        self.show_queue()  # the grid shows the new model's (cached) predictions and hits
        if rescore:
            self.scoring_feed.start()  # and scores what it has not seen
        self.refresh_browser()

    def save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.say(f"Settings not saved: {exc}", 8000)

    def select_all_drops(self) -> None:
        self.drops.select_all()

    def resize_drops(self, step: int) -> None:
        self.drops.grow(step)

    def zoom_image(self, factor: float | None) -> None:
        self.image_view.fit() if factor is None else self.image_view.zoom(factor)

    def show_overlay(self, overlay: Overlay, on: bool) -> None:
        (self.drop.set_crop_shown if overlay == "crop" else self.drop.set_cam_shown)(on)

    def edit_condition_filter(self) -> None:
        self.toolbar.focus_condition()

    def open_dialog(self, dialog: Dialog) -> None:
        dialogs.open_dialog(self, dialog)

    def set_watching(self, on: bool) -> None:
        self.watching.set_watching(on)

    def start_task(self, task: Task) -> None:
        if task == "recalibrate":  # Model > Recalibrate: the active model's hit threshold on these labels
            self.say("Recalibrating on the labelled drops …", 0)
            self.recalibrator.start()
        else:
            self.files.start(task)

    # -- the same commands for the widgets, dialogs, start-up and tests ----------------------------

    def apply_label(self, key: str, *, source: str = "human") -> bool:
        return commands.label(self.session, self, key, source=source)

    def requeue(self, order: str | None = None, filters=None, **changes) -> None:
        commands.requeue(self.session, self, order, filters, **changes)

    def open_inspection(self, inspection_id: int, keep_image: int | None = None) -> None:
        commands.open_inspection(self.session, self, inspection_id, keep_image)

    def go_to_image(self, image_id: int) -> None:
        commands.go_to_image(self.session, self, image_id)
        self.activateWindow()

    def activate_model(self, model_id: int) -> None:
        commands.activate_model(self.session, self, model_id)

    def refresh_all(self) -> None:
        commands.reload_all(self.session, self)

    def reload_queue(self, keep_image: int | None = None) -> None:
        self.session.reload(keep_image)
        self.show_queue()

    def set_current_row(self, row: int) -> None:
        """The drop on screen (the reviewer moved there, or labelling moved on)."""
        self.session.set_current(row)
        self.show_current()

    def current_row(self) -> int:
        return self.session.current

    def current_image_id(self) -> int | None:
        return self.session.current_image_id

    # -- plates, live scoring, preferences ---------------------------------------------------------

    def refresh_browser(self, then_open: int | None = None) -> None:
        """The plates and their counts again (off the GUI thread); then the inspection the session
        chooses opens: ``then_open``, the one open, the wanted plate's, the latest."""
        def read(rows: list[InspectionSummary]) -> None:
            target = navigation.inspection_after_refresh(self.session, rows, self.wanted_plate, then_open)
            if target is not None:
                self.open_inspection(target)
            elif self.inspection is not None:
                self.browser.select(self.inspection.id)
            if not rows:
                self.grid_title.setText("No plates yet: File > Import plate folder… (or run `xtalviewer demo`)")

        self.browser.refresh(self.db_path, self.model, self.session.operating_point, read, lambda e: self.say(e, 0))

    def apply_settings(self, new: Settings) -> None:
        """Take new preferences into effect at once and save them."""
        apply_settings(self, new)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:  # docks wide enough for their counts; the plate above the image
            self._sized = True
            self.resizeDocks([self._plates_dock, self._drop_dock], [400, 400], Qt.Orientation.Horizontal)
            self.centre.fit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self.drop.closed = True  # queued results can still arrive; they must not touch the store
            self.scoring.close(wait=3.0)
            self.watching.close()
            self.live.close(wait=2.0)
            self._plates_later.stop()
            self.browser.task.close()
            self.files.close()
            self.settings.thumbnail_size = self.drops.queue.delegate.cell
            self.settings.review_order = self.session.order
            self.settings.window_geometry = saved_geometry(self)
            self.save_settings()
            for loader in (self.thumbs, self.images):  # nothing still queued reaches a closed store
                loader.close()
            self.store.close()
        super().closeEvent(event)
