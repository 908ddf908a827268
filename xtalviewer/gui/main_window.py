"""The review window: plate browser, plate grid, drop image, model's top 3, label bar, history,
time course. Keyboard first: hotkeys label and advance, Enter accepts the model's top 1, arrows
move, Page Up/Down change plate, Ctrl+Z / Ctrl+Shift+Z undo and redo, F fits, +/- zoom, ? lists
every shortcut. Every label is committed to the database before the view moves on.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from xtalviewer.core.imaging import load_rgb
from xtalviewer.core.settings import Settings, save_settings
from xtalviewer.core.store import Store
from xtalviewer.core.thumbnails import ThumbnailCache, prune_in_background
from xtalviewer.gui.browser import PlateBrowserModel
from xtalviewer.gui.filmstrip import Filmstrip
from xtalviewer.gui.grid_model import DropGridModel
from xtalviewer.gui.grid_view import DropGridView
from xtalviewer.gui.history_model import HistoryModel
from xtalviewer.gui.image_view import ImageView
from xtalviewer.gui.label_bar import LabelBar
from xtalviewer.gui.loader import BackgroundLoader
from xtalviewer.gui.prediction_panel import PredictionPanel
from xtalviewer.gui.shortcuts import ShortcutOverlay, shortcut_rows
from xtalviewer.gui.workers import ScoringWorker, run_in_background

ANY = ""  # combo data for "no filter": never None (QComboBox.currentData() returning None leaks in PySide6 6.12)
ORDERS = [("plate", "Plate order"), ("crystal", "Likely crystals first"), ("margin", "Most uncertain (margin)"),
          ("entropy", "Most uncertain (entropy)"), ("disagreement", "Disagreements")]
PREFETCH = 3


class LabelCommand(QUndoCommand):
    """Labels written together (one key press, maybe several drops). Undo and redo write new
    annotations that revert or reapply them; nothing is ever deleted."""

    def __init__(self, window: MainWindow, changes: list[tuple[int, str | None, str | None]], ids: list[int], text: str):
        super().__init__(text)
        self.window, self.changes, self.ids = window, changes, ids
        self._applied = True  # the first write happened before the push

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self.ids = self.window.write_labels([(i, new) for i, _, new in self.changes], reverts=self.ids) or self.ids
        self.window.statusBar().showMessage(f"Redone: {self.text()}", 5000)

    def undo(self) -> None:
        self.ids = self.window.write_labels([(i, old) for i, old, _ in self.changes], reverts=self.ids) or self.ids
        self.window.statusBar().showMessage(f"Undone: {self.text()}", 5000)


class MainWindow(QMainWindow):
    drop_shown = Signal(int)  # image id, once its image and prediction are painted
    plate_loaded = Signal(int)  # inspection id, once the grid holds its drops

    def __init__(self, db_path: Path, settings: Settings, *, start_scoring: bool = True):
        super().__init__()
        self.db_path = Path(db_path)
        self.settings = settings
        self.store = Store(self.db_path)
        self.scheme = self.store.scheme
        self.start_scoring = start_scoring
        self.model = self._chosen_model()
        self.inspection: dict | None = None
        self.scoring: ScoringWorker | None = None
        self._shown_at = time.monotonic()
        self._pending_show: int | None = None
        self.hotkeys = {c.key: settings.hotkeys.get(c.key, c.hotkey) for c in self.scheme.classes}
        self.undo_stack = QUndoStack(self)
        self._closed = False  # queued results can still arrive after closeEvent; they must not touch the store

        self.thumb_cache = ThumbnailCache(settings.thumbnail_folder(), size=256,
                                          limit_bytes=settings.thumbnail_limit_mb * 1024 * 1024)
        prune_in_background(self.thumb_cache)  # start-up: the limit may have shrunk, or others filled it
        self.thumbs = BackgroundLoader(
            lambda key, r: self.thumb_cache.get(r["path"], r.get("size"), r.get("mtime")),
            threads=2, memory_items=6000, parent=self)
        self.images = BackgroundLoader(lambda key, path: load_rgb(path), threads=2, memory_items=24, parent=self)
        self.images.ready.connect(self._image_ready)
        self.images.failed.connect(self._image_failed)
        self.thumbs.failed.connect(self._thumb_failed)

        self.setWindowTitle(f"xtalviewer: {self.db_path.name}")
        self.resize(1500, 950)
        self._build_widgets()
        self._build_actions()
        self.refresh_browser()

    # -- layout ---------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.browser_model = PlateBrowserModel(self)
        self.browser = QTreeView()
        self.browser.setModel(self.browser_model)
        self.browser.setUniformRowHeights(True)
        self.browser.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.browser.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.browser.clicked.connect(self._browser_clicked)
        dock = QDockWidget("Plates", self)
        dock.setObjectName("plates")
        dock.setMinimumWidth(330)
        dock.setWidget(self.browser)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        # toolbar above the grid: order and filters
        self.order_box = QComboBox()
        for key, text in ORDERS:
            self.order_box.addItem(text, key)
        self.order_box.setCurrentIndex(max(0, [k for k, _ in ORDERS].index(self.settings.review_order)
                                           if self.settings.review_order in dict(ORDERS) else 0))
        self.label_filter = self._class_combo("Any label")
        self.pred_filter = self._class_combo("Any prediction")
        self.top3_filter = QComboBox()
        for text, value in (("Crystal in top 3: any", ANY), ("Crystal in top 3", "yes"), ("No crystal in top 3", "no")):
            self.top3_filter.addItem(text, value)
        self.unreviewed = QCheckBox("Unreviewed only")
        for w in (self.order_box, self.label_filter, self.pred_filter, self.top3_filter):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            w.currentIndexChanged.connect(self.reload_queue)
        self.unreviewed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.unreviewed.toggled.connect(self.reload_queue)
        bar = QToolBar("Review")
        bar.setObjectName("review")
        bar.setMovable(False)
        for w in (QLabel(" Order "), self.order_box, QLabel("  Filter "), self.label_filter, self.pred_filter,
                  self.top3_filter, self.unreviewed):
            bar.addWidget(w)
        self.addToolBar(bar)

        self.grid_model = DropGridModel(self.scheme, self.thumbs, self)
        self.grid = DropGridView(self.scheme)
        self.grid.set_cell_size(self.settings.thumbnail_size)
        self.grid.setModel(self.grid_model)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid_title = QLabel()
        self.grid_title.setStyleSheet("font-weight: bold; padding: 4px;")
        self.grid_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # no minimum width
        grid_box = QWidget()
        gl = QVBoxLayout(grid_box)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.grid_title)
        gl.addWidget(self.grid)

        self.image_view = ImageView()
        self.drop_title = QLabel()
        self.drop_title.setStyleSheet("font-weight: bold; padding: 4px;")
        self.drop_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.filmstrip = Filmstrip(self.scheme, self.thumbs)
        self.filmstrip.clicked.connect(self._film_clicked)
        image_box = QWidget()
        il = QVBoxLayout(image_box)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.drop_title)
        il.addWidget(self.image_view, 1)
        il.addWidget(QLabel("Time course (this drop at every inspection)"))
        il.addWidget(self.filmstrip)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(grid_box)
        splitter.addWidget(image_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)
        self._splitter = splitter

        side = QWidget()
        sl = QVBoxLayout(side)
        self.alert = QLabel()  # a label that could not be saved: impossible to miss, never modal
        self.alert.setWordWrap(True)
        self.alert.setStyleSheet("background: #b71c1c; color: white; font-weight: bold; padding: 8px; "
                                 "border-radius: 4px;")
        self.alert.hide()
        self.pending_label: str | None = None
        sl.addWidget(self.alert)
        self.prediction = PredictionPanel(self.scheme)
        self.label_bar = LabelBar(self.scheme, self.hotkeys)
        self.label_bar.label_clicked.connect(lambda key: self.apply_label(key))
        self.history_model = HistoryModel(self.scheme, self)
        self.history = QTableView()
        self.history.setModel(self.history_model)
        self.history.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.history.verticalHeader().hide()
        self.history.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        sl.addWidget(self.prediction)
        sl.addWidget(QLabel("Label (key, then next drop)"))
        sl.addWidget(self.label_bar)
        sl.addWidget(QLabel("History of this drop"))
        sl.addWidget(self.history, 1)
        side_dock = QDockWidget("Drop", self)
        side_dock.setObjectName("drop")
        side_dock.setWidget(side)
        side_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        side_dock.setMinimumWidth(400)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, side_dock)

        sb = self.statusBar()
        self.status_annotator = QLabel()
        self.status_device = QLabel()
        self.status_model = QLabel()
        self.status_progress = QProgressBar()
        self.status_progress.setMaximumWidth(220)
        self.status_progress.setTextVisible(True)
        self.status_progress.hide()
        for w in (self.status_annotator, self.status_device, self.status_model):
            sb.addPermanentWidget(w)
        sb.addPermanentWidget(self.status_progress)
        self._update_status_labels()
        self.overlay = ShortcutOverlay(shortcut_rows(self.scheme, self.hotkeys), self)

    def _class_combo(self, first: str) -> QComboBox:
        box = QComboBox()
        box.addItem(first, ANY)
        for c in self.scheme.classes:
            box.addItem(c.name, c.key)
        return box

    def _build_actions(self) -> None:
        def action(text: str, keys, slot, menu=None, checkable=False) -> QAction:
            a = QAction(text, self)
            if keys:
                a.setShortcuts([QKeySequence(k) for k in (keys if isinstance(keys, list) else [keys])])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.setCheckable(checkable)
            if checkable:  # hand the new state over explicitly: Qt's own slots take no default
                a.triggered.connect(lambda _=False, act=a: slot(act.isChecked()))
            else:
                a.triggered.connect(lambda _=False: slot())
            self.addAction(a)
            if menu is not None:
                menu.addAction(a)
            return a

        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        action("Import plate folder…", "Ctrl+I", self.import_folder, file_menu)
        action("Export labels CSV…", "Ctrl+E", self.export_csv, file_menu)
        action("Plate report (HTML)…", "Ctrl+P", self.plate_report, file_menu)
        file_menu.addSeparator()
        action("Quit", "Ctrl+Q", self.close, file_menu)

        edit = mb.addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "Undo label")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.undo_stack.createRedoAction(self, "Redo label")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in (undo, redo):
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(a)
            edit.addAction(a)
        self.undo_action, self.redo_action = undo, redo
        edit.addSeparator()
        action("Accept the model's top 1", ["Return", "Enter"], self.accept_prediction, edit)
        action("Select all drops", "Ctrl+A", self.grid.selectAll, edit)
        self.auto_advance = action("Advance after labelling", "Ctrl+Shift+A", self._toggle_advance, edit, True)
        self.auto_advance.setChecked(self.settings.auto_advance)
        labels = edit.addMenu("Label as")
        self.label_actions = {c.key: action(c.name, self.hotkeys[c.key], lambda key=c.key: self.apply_label(key),
                                            labels) for c in self.scheme.classes}
        edit.addSeparator()
        action("Preferences…", "Ctrl+,", self.open_preferences, edit)

        view = mb.addMenu("&View")
        action("Fit image", "F", self.image_view.fit, view)
        action("Zoom in", ["+", "="], lambda: self.image_view.zoom(1.25), view)
        action("Zoom out", "-", lambda: self.image_view.zoom(0.8), view)
        view.addSeparator()
        action("Next plate", "PgDown", lambda: self.step_inspection(+1), view)
        action("Previous plate", "PgUp", lambda: self.step_inspection(-1), view)
        action("Bigger thumbnails", "Ctrl+=", lambda: self.grid.set_cell_size(self.grid.delegate.cell + 24), view)
        action("Smaller thumbnails", "Ctrl+-", lambda: self.grid.set_cell_size(self.grid.delegate.cell - 24), view)
        action("Plots…", "Ctrl+G", self.open_plots, view)
        action("Reload", "Ctrl+R", self.refresh_all, view)

        review = mb.addMenu("&Review")
        self.order_actions = QActionGroup(self)
        for n, (key, text) in enumerate(ORDERS, start=1):
            a = action(text, f"Ctrl+{n}", lambda _checked, k=key: self._set_combo(self.order_box, k), review, True)
            a.setChecked(self.order_box.currentData() == key)
            self.order_actions.addAction(a)
        self.order_box.currentIndexChanged.connect(
            lambda i: self.order_actions.actions()[i].setChecked(True))
        review.addSeparator()
        unreviewed = action("Unreviewed only", "Ctrl+U", self.unreviewed.setChecked, review, True)
        self.unreviewed.toggled.connect(unreviewed.setChecked)
        top3 = action("Crystal in top 3 only", "Ctrl+K",
                      lambda on: self._set_combo(self.top3_filter, "yes" if on else ANY), review, True)
        self.top3_filter.currentIndexChanged.connect(lambda _: top3.setChecked(self.top3_filter.currentData() == "yes"))
        by_label = review.addMenu("Filter by label")
        by_pred = review.addMenu("Filter by predicted label")
        for menu, combo in ((by_label, self.label_filter), (by_pred, self.pred_filter)):
            for i in range(combo.count()):
                menu.addAction(combo.itemText(i), lambda c=combo, d=combo.itemData(i): self._set_combo(c, d))
        action("Clear filters", "Ctrl+Shift+U", self.clear_filters, review)

        self.model_menu = mb.addMenu("&Model")
        self.model_group = QActionGroup(self)
        self._fill_model_menu()

        help_menu = mb.addMenu("&Help")
        action("Keyboard shortcuts", ["?", "Shift+?", "F1"], self.overlay.toggle, help_menu)
        action("About xtalviewer", None, self.about, help_menu)

    def _fill_model_menu(self) -> None:
        self.model_menu.clear()
        for a in self.model_group.actions():
            self.model_group.removeAction(a)
        retrain = QAction("Retrain…", self)
        retrain.setShortcut(QKeySequence("Ctrl+T"))
        retrain.triggered.connect(self.open_retrain)
        self.model_menu.addAction(retrain)
        self.addAction(retrain)
        self.model_menu.addSeparator()
        models = self.store.models()
        if not models:
            none = self.model_menu.addAction("No trained models yet")
            none.setEnabled(False)
        for m in models:
            acc = (m["metrics"] or {}).get("accuracy")
            text = f"{m['name']}  ({m['arch']}@{m['input_size']}" + (f", {100 * acc:.1f}%)" if acc is not None else ")")
            a = QAction(text, self, checkable=True)
            a.setChecked(bool(m["active"]))
            a.triggered.connect(lambda _=False, mid=m["id"]: self.activate_model(mid))
            self.model_group.addAction(a)
            self.model_menu.addAction(a)

    def _chosen_model(self) -> dict | None:
        """The user's default model when this database has it, else the database's active model."""
        if self.settings.default_model is not None:
            preferred = self.store.model(self.settings.default_model)
            if preferred is not None:
                return preferred
        return self.store.active_model()

    # -- browsing ----------------------------------------------------------------------------

    def refresh_browser(self, then_open: int | None = None) -> None:
        """Plate and inspection counts come from a background query (large stores take a moment)."""
        db, model_id = self.db_path, self.model["id"] if self.model else None

        def query():
            with Store(db) as s:
                return s.inspection_summaries(model_id)

        def done(rows):
            self.browser_model.set_rows(rows, self.scheme)
            self.browser.expandAll()
            target = then_open or (self.inspection["id"] if self.inspection else None)
            if target is None and rows:
                target = self._initial_inspection(rows)
            if target is not None and (self.inspection is None or self.inspection["id"] != target):
                self.open_inspection(target)
            elif self.inspection is not None:
                self._select_in_browser(self.inspection["id"])
            if not rows:
                self.grid_title.setText("No plates yet: File > Import plate folder… (or run `xtalviewer demo`)")

        self._browser_task = run_in_background(query, done, lambda e: self.statusBar().showMessage(e), self)

    def _initial_inspection(self, rows: list[dict]) -> int:
        return rows[-1]["id"] if not hasattr(self, "_wanted_plate") else next(
            (r["id"] for r in reversed(rows) if r["barcode"] == self._wanted_plate), rows[-1]["id"])

    def want_plate(self, barcode: str | None) -> None:
        if barcode:
            self._wanted_plate = barcode

    def _browser_clicked(self, index: QModelIndex) -> None:
        inspection_id = self.browser_model.inspection_id(index)
        if inspection_id is not None:
            self.open_inspection(inspection_id)

    def _select_in_browser(self, inspection_id: int) -> None:
        idx = self.browser_model.index_of(inspection_id)
        if idx is not None:
            self.browser.setCurrentIndex(idx)
            self.browser.scrollTo(idx)

    def step_inspection(self, step: int) -> None:
        """Page Up/Down: the previous/next inspection in the browser. Within one plate the same drop
        stays selected, so paging walks a drop through its time course."""
        ids = self.browser_model.inspection_ids()
        if not ids or self.inspection is None:
            return
        try:
            i = ids.index(self.inspection["id"])
        except ValueError:
            i = 0
        target = ids[max(0, min(len(ids) - 1, i + step))]
        if target == self.inspection["id"]:
            return
        keep = None
        r = self.grid_model.row_dict(self.current_row())
        if r is not None:
            same = self.store.query("SELECT id FROM image WHERE inspection_id = ? AND plate_id = ? AND well = ? "
                                    "AND drop_no = ?", (target, r["plate_id"], r["well"], r["drop_no"]))
            keep = same[0]["id"] if same else None
        self.open_inspection(target, keep_image=keep)

    def open_inspection(self, inspection_id: int, keep_image: int | None = None) -> None:
        rows = self.store.query(
            "SELECT n.*, p.barcode, p.rows, p.cols, p.drops FROM inspection n JOIN plate p ON p.id = n.plate_id "
            "WHERE n.id = ?", (inspection_id,))
        if not rows:
            return
        same_plate = self.inspection is not None and self.inspection["plate_id"] == rows[0]["plate_id"]
        self.inspection = rows[0]
        self.thumbs.forget_pending()
        self._select_in_browser(inspection_id)
        self.reload_queue(keep_image=keep_image)
        if not (same_plate and self.scoring is not None and self.scoring.isRunning()):
            self.start_plate_scoring()  # the worker scores the whole plate: keep it across its inspections
        self.plate_loaded.emit(inspection_id)

    def reload_queue(self, *_args, keep_image: int | None = None) -> None:
        if self.inspection is None:
            return
        current = keep_image or self.current_image_id()
        insp = self.inspection
        model_id = self.model["id"] if self.model else None
        rows = self.store.review_queue(
            model_id, self.order_box.currentData(), inspection_id=insp["id"],
            unlabelled_only=self.unreviewed.isChecked(), label=self.label_filter.currentData() or None,
            predicted=self.pred_filter.currentData() or None,
            crystal_top3={"yes": True, "no": False}.get(self.top3_filter.currentData()),
        )
        self.grid_model.set_rows(rows, self.store.inherited_labels(insp["id"]))
        kind = f"{insp['rows'] * insp['cols']}-well, {insp['drops']} drop{'s' * (insp['drops'] != 1)}"
        self.grid_title.setText(f"{insp['barcode']}  ·  {(insp['imaged_at'] or '')[:16].replace('T', ' ')}  ·  "
                                f"{insp['imager'] or ''}  ·  {kind}  ·  {len(rows)} drops shown")
        row = self.grid_model.row_of(current) if current is not None else None
        self.set_current_row(row if row is not None else 0)
        self.grid.setFocus()

    def _set_combo(self, combo: QComboBox, data) -> None:
        combo.setCurrentIndex(max(0, combo.findData(data)))

    def clear_filters(self) -> None:
        for combo in (self.label_filter, self.pred_filter, self.top3_filter):
            combo.setCurrentIndex(0)
        self.unreviewed.setChecked(False)

    def refresh_all(self) -> None:
        self.model = self.store.active_model()
        self._fill_model_menu()
        self._update_status_labels()
        self.refresh_browser()
        self.reload_queue()

    # -- the drop on screen ---------------------------------------------------------------------

    def current_row(self) -> int:
        idx = self.grid.currentIndex()
        return idx.row() if idx.isValid() else -1

    def current_image_id(self) -> int | None:
        r = self.grid_model.row_dict(self.current_row())
        return r["id"] if r else None

    def set_current_row(self, row: int) -> None:
        if not 0 <= row < self.grid_model.rowCount():
            self._show_nothing()
            return
        idx = self.grid_model.index(row)
        self.grid.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(idx)

    def _show_nothing(self) -> None:
        self.image_view.show_message(None, "No drop selected" if self.grid_model.rowCount() == 0 and
                                     self.inspection is None else "No drops match the filters")
        self.prediction.show_prediction(self.model["name"] if self.model else None, None)
        self.history_model.set_history([])
        self.filmstrip.model_.set_course([])
        self.drop_title.setText("")
        self.label_bar.mark_current(None)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        r = self.grid_model.row_dict(current.row()) if current.isValid() else None
        if r is None:
            self._show_nothing()
            return
        self._shown_at = time.monotonic()
        self._pending_show = r["id"]
        self.drop_title.setText(f"{self.inspection['barcode']}  {r['well']}  drop {r['drop_no']}  ·  "
                                f"{Path(r['path']).name}")
        if self.scoring is not None:
            self.scoring.prioritize(r["id"])
        self._show_prediction(r)
        self._show_label_state(r)
        self.history_model.set_history(self.store.history(r["id"]))
        self.filmstrip.model_.set_course(self.store.drop_images(r["plate_id"], r["well"], r["drop_no"]))
        self._select_film(r["id"])
        # the image: from memory if prefetched, else decoded off the GUI thread
        error = r.get("load_error")
        if error:
            self.image_view.show_message(r["id"], f"This image cannot be shown:\n{error}\n\n{r['path']}")
            self._painted(r["id"])
        else:
            for ahead in range(PREFETCH, 0, -1):  # queued first, served last (LIFO)
                nxt = self.grid_model.row_dict(current.row() + ahead)
                if nxt and not nxt.get("load_error"):
                    self.images.request(nxt["id"], nxt["path"])
            image = self.images.request(r["id"], r["path"])
            if image is not None:
                self.image_view.show_image(r["id"], image)
                self._painted(r["id"])
            else:
                err = self.images.error(r["id"])
                if err:
                    self._image_failed(r["id"], err)
                elif not self.image_view.has_image() or self.image_view.image_key != r["id"]:
                    self.image_view.show_message(r["id"], "Loading…")

    def _painted(self, image_id: int) -> None:
        if self._pending_show == image_id:
            self._pending_show = None
            self.drop_shown.emit(image_id)

    def _image_ready(self, key, image) -> None:
        if key == self.current_image_id():
            self.image_view.show_image(key, image)
            self._painted(key)

    def _mark_unreadable(self, image_id: int, error: str) -> None:
        """A decode failure seen by any loader: mark it in the grid and in the store, once."""
        row = self.grid_model.row_of(image_id)
        if self._closed or row is None or self.grid_model.row_dict(row).get("load_error"):
            return
        self.grid_model.update_image(image_id, load_error=error)
        self.store.mark_load_error(image_id, error)

    def _image_failed(self, key, error: str) -> None:
        self._mark_unreadable(key, error)
        if key == self.current_image_id():
            r = self.grid_model.row_dict(self.current_row())
            self.image_view.show_message(key, f"This image cannot be shown:\n{error}\n\n{r['path']}")
            self._painted(key)

    def _thumb_failed(self, key, error: str) -> None:
        self._mark_unreadable(key, error)
        if key == self.current_image_id() and not self.image_view.has_image():
            self._image_failed(key, error)

    def _show_prediction(self, r: dict) -> None:
        pending = self.scoring is not None and self.scoring.isRunning() and not r.get("top1") and not r.get("load_error")
        self.prediction.show_prediction(self.model["name"] if self.model else None, r if r.get("top1") else None,
                                        pending=pending)

    def _show_label_state(self, r: dict) -> None:
        self.label_bar.mark_current(r.get("label") or (self.grid_model.inherited(r["id"]) or (None,))[0])

    def _select_film(self, image_id: int) -> None:
        for i, fr in enumerate(self.filmstrip.model_.rows()):
            if fr["id"] == image_id:
                self.filmstrip.setCurrentIndex(self.filmstrip.model_.index(i))
                self.filmstrip.scrollTo(self.filmstrip.model_.index(i))

    def _film_clicked(self, index: QModelIndex) -> None:
        rows = self.filmstrip.model_.rows()
        r = rows[index.row()] if 0 <= index.row() < len(rows) else None
        if r and self.inspection and r["inspection_id"] != self.inspection["id"]:
            self.open_inspection(r["inspection_id"], keep_image=r["id"])

    # -- labelling ------------------------------------------------------------------------------

    def _targets(self) -> list[int]:
        rows = sorted({i.row() for i in self.grid.selectionModel().selectedIndexes()})
        if len(rows) <= 1:
            return [self.current_row()] if self.current_row() >= 0 else []
        return rows

    def apply_label(self, key: str, *, source: str = "human") -> bool:
        """Label the selected drops (or the current one), commit, then move on."""
        rows = self._targets()
        if not rows:
            return False
        lead = int(1000 * (time.monotonic() - self._shown_at))
        items, changes = [], []
        for row in rows:
            r = self.grid_model.row_dict(row)
            shown = [[r[f"top{i}"], round(r[f"p{i}"], 4)] for i in (1, 2, 3) if r.get(f"top{i}")] or None
            items.append(dict(image_id=r["id"], label=key, annotator=self.settings.annotator, source=source,
                              prediction_id=r.get("prediction_id"), shown=shown, lead_ms=lead if len(rows) == 1 else None))
            changes.append((r["id"], r.get("label"), key))
        ids = self._commit(items)
        if ids is None:
            return False
        name = self.scheme.get(key).name
        self.undo_stack.push(LabelCommand(self, changes, ids, f"{name} on {len(rows)} drop{'s' * (len(rows) != 1)}"))
        self._after_write([(c[0], key) for c in changes])
        if self.auto_advance.isChecked():
            self.set_current_row(min(max(rows) + 1, self.grid_model.rowCount() - 1))
        return True

    def accept_prediction(self) -> bool:
        r = self.grid_model.row_dict(self.current_row())
        if not r or not r.get("top1"):
            self.statusBar().showMessage("No prediction to accept for this drop yet", 4000)
            return False
        if len(self._targets()) > 1:
            self.statusBar().showMessage("Enter accepts one drop's prediction; select a single drop", 4000)
            return False
        return self.apply_label(r["top1"], source="accepted-prediction")

    def write_labels(self, changes: list[tuple[int, str | None]], reverts: list[int]) -> list[int] | None:
        """Undo/redo: write annotations that set these labels again (history only grows)."""
        items = [dict(image_id=image_id, label=label, annotator=self.settings.annotator, source="human",
                      reverts=reverts[i] if i < len(reverts) else None) for i, (image_id, label) in enumerate(changes)]
        ids = self._commit(items)
        if ids is not None:
            self._after_write(changes)
            row = self.grid_model.row_of(changes[0][0])
            if row is not None:
                self.set_current_row(row)
        return ids

    def _commit(self, items: list[dict]) -> list[int] | None:
        """Write and commit; on failure say so at once, in the window, and keep everything as it was."""
        try:
            ids = self.store.add_annotations(items)
        except Exception as exc:  # disk full, read-only database, locked past the busy timeout ...
            text = str(exc).rstrip(".") or type(exc).__name__
            hint = {"full": "Free some disk space", "readonly": "Make the database writable",
                    "read-only": "Make the database writable", "locked": "Another program holds the database"}
            advice = next((v for k, v in hint.items() if k in text.lower()), "Fix the problem")
            label = items[0].get("label")
            name = self.scheme.get(label).name if label else "the label change"
            where = ", ".join(self.grid_model.row_dict(self.grid_model.row_of(it["image_id"]))["well"]
                              for it in items[:4] if self.grid_model.row_of(it["image_id"]) is not None)
            self.alert.setText(f"NOT SAVED: {name} on {where or 'this drop'}: {text}.\n{advice}, then press the "
                               "key again; nothing moved on.")
            self.alert.show()
            self.pending_label = label
            self.statusBar().showMessage(f"Label not saved: {text}", 30000)
            return None
        self.alert.hide()
        self.pending_label = None
        return ids

    def _after_write(self, changes: list[tuple[int, str | None]]) -> None:
        for image_id, label in changes:
            self.grid_model.update_image(image_id, label=label)
        current = self.current_image_id()
        if current is not None:
            r = self.grid_model.row_dict(self.current_row())
            self.history_model.set_history(self.store.history(current))
            self._show_label_state(r)
            self.filmstrip.model_.set_course(self.store.drop_images(r["plate_id"], r["well"], r["drop_no"]))
            self._select_film(current)
        if self.inspection:
            counts = self.store.conn.execute(
                f"SELECT COUNT(label), SUM(label IN ({','.join('?' * len(self.scheme.crystal_keys))})) FROM image "
                "WHERE inspection_id = ?", (*self.scheme.crystal_keys, self.inspection["id"])).fetchone()
            self.browser_model.set_counts(self.inspection["id"], labelled=counts[0], crystal_labels=counts[1] or 0)

    def _toggle_advance(self, checked: bool) -> None:
        self.settings.auto_advance = checked
        self._save_settings()

    # -- models and live scoring ------------------------------------------------------------

    def start_plate_scoring(self) -> None:
        if self.scoring is not None:
            self.scoring.cancel()
            self.scoring.wait(100)
            self.scoring = None
        if not self.start_scoring or self.model is None or self.inspection is None:
            self.status_progress.hide()
            return
        worker = ScoringWorker(self.db_path, self.model, self.inspection["plate_id"], self.settings.device,
                               first=self.current_image_id(), parent=self)
        worker.scored.connect(self._scored)
        worker.failed.connect(self._score_failed)
        worker.progress.connect(self._score_progress)
        worker.finished_run.connect(self._score_finished)
        self.scoring = worker
        worker.start()

    def _scored(self, image_id: int, fields: dict) -> None:
        self.grid_model.update_image(image_id, **fields)
        if image_id == self.current_image_id():
            self._show_prediction(self.grid_model.row_dict(self.current_row()))
            self._painted(image_id)

    def _score_failed(self, image_id: int, error: str) -> None:
        self.grid_model.update_image(image_id, load_error=error)  # the scoring run marked the store already
        if image_id == self.current_image_id():
            self._image_failed(image_id, error)

    def _score_progress(self, done: int, total: int) -> None:
        self.status_progress.show()
        self.status_progress.setMaximum(total)
        self.status_progress.setValue(done)
        self.status_progress.setFormat(f"scoring {done}/{total}")

    def _score_finished(self, summary: dict) -> None:
        if self.sender() is not self.scoring:
            return
        self.status_progress.hide()
        if summary.get("error"):
            self.statusBar().showMessage(f"Scoring stopped: {summary['error']}", 15000)
        elif summary.get("total"):
            self.statusBar().showMessage(f"Scored {summary['scored']} drops ({summary['errors']} unreadable)", 6000)
            self.refresh_browser()
        self.scoring = None
        r = self.grid_model.row_dict(self.current_row())
        if r:
            self._show_prediction(r)

    def activate_model(self, model_id: int) -> None:
        self.store.activate_model(model_id)
        self.model = self.store.active_model()
        self.settings.default_model = model_id
        self._save_settings()
        self._fill_model_menu()
        self._update_status_labels()
        self.reload_queue()  # the grid shows the new model's (cached) predictions
        self.start_plate_scoring()  # and scores what it has not seen
        self.refresh_browser()

    def _update_status_labels(self) -> None:
        from xtalviewer.core.inference import describe_device, select_device

        try:
            device = describe_device(select_device(self.settings.device))
        except Exception as exc:
            device = f"{self.settings.device} unavailable ({exc})"
        self.status_annotator.setText(f"Annotator: {self.settings.annotator}")
        self.status_device.setText(f"Device: {device}")
        self.status_model.setText(f"Model: {self.model['name'] if self.model else 'none'}")

    # -- other actions -----------------------------------------------------------------------

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import plate images")
        if folder:
            self.run_import([folder])

    def run_import(self, paths: list[str]) -> None:
        from xtalviewer.core.importers import import_paths

        db = self.db_path
        self.statusBar().showMessage(f"Importing {', '.join(paths)}…")

        def work():
            with Store(db) as s:
                return import_paths(s, paths)

        def done(report):
            text = report.summary()
            if report.unreadable:
                text += "\n\nUnreadable files:\n" + "\n".join(f"{p}: {r}" for p, r in report.unreadable[:50])
                if len(report.unreadable) > 50:
                    text += f"\n… and {len(report.unreadable) - 50} more"
            QMessageBox.information(self, "Import finished", text)
            self.refresh_browser()

        self._import_task = run_in_background(work, done, lambda e: QMessageBox.warning(self, "Import failed", e), self)

    def export_csv(self) -> None:
        from xtalviewer.core.exchange import export_csv

        path, _ = QFileDialog.getSaveFileName(self, "Export labels", "labels.csv", "CSV (*.csv)")
        if path:
            try:
                n = export_csv(self.store, path)
            except (ValueError, OSError) as exc:  # a device or folder picked as the target, a full disk ...
                QMessageBox.warning(self, "Export failed", str(exc))
                return
            self.statusBar().showMessage(f"Wrote {n} rows to {path}", 6000)

    def open_plots(self) -> None:
        """Label counts per plate, model vs reviewers, crystal-probability map; a click goes to the drop."""
        from xtalviewer.gui.plots import PlotsDialog

        dialog = PlotsDialog(self.db_path, parent=self, inspection_id=self.inspection["id"] if self.inspection else None)
        dialog.drop_clicked.connect(self.go_to_image)
        self._plots = dialog
        dialog.show()

    def go_to_image(self, image_id: int) -> None:
        row = self.store.query("SELECT inspection_id FROM image WHERE id = ?", (image_id,))
        if not row:
            return
        if self.inspection is None or self.inspection["id"] != row[0]["inspection_id"]:
            self.clear_filters()
            self.open_inspection(row[0]["inspection_id"], keep_image=image_id)
        else:
            found = self.grid_model.row_of(image_id)
            if found is None:
                self.clear_filters()
                found = self.grid_model.row_of(image_id)
            if found is not None:
                self.set_current_row(found)
        self.activateWindow()

    def plate_report(self) -> None:
        """One self-contained HTML file of this inspection, written off the GUI thread, then opened."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from xtalviewer.core.report import write_report

        if self.inspection is None:
            self.statusBar().showMessage("Open a plate first", 4000)
            return
        insp = self.inspection
        suggested = f"{insp['barcode']}-{(insp['imaged_at'] or '')[:10]}-report.html"
        path, _ = QFileDialog.getSaveFileName(self, "Plate report", suggested, "HTML (*.html)")
        if not path:
            return
        db, cache = self.db_path, self.thumb_cache
        self.statusBar().showMessage(f"Writing {path}…")

        def work():
            with Store(db) as s:
                return write_report(s, insp["barcode"], path, inspection_key=insp["key"], thumb_cache=cache)

        def done(target):
            self.statusBar().showMessage(f"Wrote {target}", 8000)
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

        self._report_task = run_in_background(
            work, done, lambda e: self.statusBar().showMessage(f"Report not written: {e}", 15000), self)

    def open_retrain(self) -> None:
        """One Retrain dialog at a time: a second Ctrl+T brings the open one forward."""
        from xtalviewer.gui.retrain import RetrainDialog

        dialog = getattr(self, "_retrain", None)
        try:
            if dialog is not None and dialog.isVisible():
                dialog.raise_()
                dialog.activateWindow()
                return
        except RuntimeError:  # deleted when it closed
            pass
        dialog = RetrainDialog(self.db_path, self.settings, self)
        dialog.model_activated.connect(self._model_activated_elsewhere)
        self._retrain = dialog
        dialog.show()

    def _model_activated_elsewhere(self, model_id: int) -> None:
        """The Retrain dialog activated a model in the store: follow it (menu, grid, rescoring)."""
        self.activate_model(model_id)

    def open_preferences(self) -> None:
        from xtalviewer.gui.preferences import PreferencesDialog

        dialog = PreferencesDialog(self.settings, self.scheme, self.store.models(), self)
        if dialog.exec() and dialog.result_settings is not None:
            self.apply_settings(dialog.result_settings)

    def apply_settings(self, new: Settings) -> None:
        """Take new preferences into effect at once and save them."""
        old = self.settings
        self.settings = new
        self._save_settings()
        self.hotkeys = {c.key: new.hotkeys.get(c.key, c.hotkey) for c in self.scheme.classes}
        for key, act in self.label_actions.items():
            act.setShortcut(QKeySequence(self.hotkeys[key]))
        self.label_bar.set_hotkeys(self.hotkeys)
        self.overlay.set_rows(shortcut_rows(self.scheme, self.hotkeys))
        self.auto_advance.setChecked(new.auto_advance)
        if (new.thumbnail_dir, new.thumbnail_limit_mb) != (old.thumbnail_dir, old.thumbnail_limit_mb):
            self.thumb_cache = ThumbnailCache(new.thumbnail_folder(), size=256,
                                              limit_bytes=new.thumbnail_limit_mb * 1024 * 1024)
            prune_in_background(self.thumb_cache)
        model = self._chosen_model()
        if new.device != old.device or (model and self.model and model["id"] != self.model["id"]):
            self.model = model
            self.reload_queue()
            self.start_plate_scoring()
        self._update_status_labels()

    def about(self) -> None:
        from xtalviewer.gui.about import about_text

        QMessageBox.about(self, "About xtalviewer", about_text(self.db_path))

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 8000)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_sized", False):  # grid and image share the centre evenly at first
            self._sized = True
            half = max(200, self._splitter.width() // 2)
            self._splitter.setSizes([half, half])

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:
            return super().closeEvent(event)
        self._closed = True
        if self.scoring is not None:
            self.scoring.cancel()
            self.scoring.wait(3000)
        self.settings.thumbnail_size = self.grid.delegate.cell
        self.settings.review_order = self.order_box.currentData()
        self._save_settings()
        for loader in (self.thumbs, self.images):  # results still queued must not reach a closed store
            loader.ready.disconnect()
            loader.failed.disconnect()
            loader.close()
        self.store.close()
        super().closeEvent(event)


def select_rows(view: QAbstractItemView, rows: list[int]) -> None:
    """Select exactly these rows (tests and scripted use)."""
    sel = view.selectionModel()
    sel.clearSelection()
    for row in rows:
        sel.select(view.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select)

