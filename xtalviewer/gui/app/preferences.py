"""Preferences: who labels, how the review moves, which model and device, the thumbnail cache, the
scheme for new databases, and the label hotkeys. Saved to the versioned settings file on OK."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from xtalviewer.model.inference import DEVICES
from xtalviewer.labels import LabelScheme, available_schemes
from xtalviewer.paths import data_dir
from xtalviewer.settings import Settings
from xtalviewer.store.location import is_server_url, location_of
from xtalviewer.store.rows import Model
from xtalviewer.gui import theme
from xtalviewer.gui.app.image_roots_box import ImageRootsBox
from xtalviewer.gui.app.watch_folders import WatchFoldersBox

# keys the review window uses for itself; a label cannot take them
RESERVED_KEYS = {"f", "+", "=", "-", "?"}


def hotkey_problem(scheme: LabelScheme, hotkeys: dict[str, str]) -> str | None:
    """Why this hotkey assignment cannot be used, or None. Every class needs one distinct key."""
    seen: dict[str, str] = {}
    for c in scheme.classes:
        key = (hotkeys.get(c.key) or "").strip()
        if len(key) != 1 or not key.isprintable() or key.isspace():
            return f"{c.name}: the hotkey must be a single key (a letter, digit or sign)"
        if key.lower() in RESERVED_KEYS:
            return f"{c.name}: '{key}' is taken by the review window (F fits, +/- zoom, ? shows shortcuts)"
        if key.lower() in seen:
            return f"'{key}' is used twice: {seen[key.lower()]} and {c.name}"
        seen[key.lower()] = c.name
    return None


def database_problem(text: str) -> str | None:
    """Why this database cannot be kept in the settings (one line), or None. A password typed into a
    server URL is refused: the settings file is plain text."""
    if text and is_server_url(text) and location_of(text).password is not None:
        return ("Database: leave the password out of the URL; put it in ~/.pgpass "
                "(host:port:database:user:password) or PGPASSWORD")
    return None


class DatabaseBox(QGroupBox):
    """Which store this workstation opens without --db or XTALVIEWER_DB: a file, or a lab's server."""

    def __init__(self, database: str, parent: QWidget | None = None):
        super().__init__("Database", parent)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.edit = QLineEdit(database)
        self.edit.setPlaceholderText(f"{data_dir() / 'xtalviewer.db'}  (or postgresql://user@host/dbname)")
        self.edit.setToolTip("An SQLite file, or postgresql://user@host:port/dbname for a lab's shared server "
                             "(password in ~/.pgpass, a service file or PGPASSWORD; never here)")
        browse = QPushButton("Bro&wse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)
        label = QLabel("&Store:")
        label.setBuddy(self.edit)  # Alt+S: a layout in the row has no buddy of its own
        form.addRow(label, row)
        note = QLabel("Opened at the next start, when neither --db nor XTALVIEWER_DB names one.")
        note.setWordWrap(True)
        form.addRow("", note)

    def text(self) -> str:
        return self.edit.text().strip()

    def _browse(self) -> None:
        found, _ = QFileDialog.getSaveFileName(self, "Database file", self.text() or str(data_dir()),
                                               "xtalviewer databases (*.db);;All files (*)",
                                               options=QFileDialog.Option.DontConfirmOverwrite)
        if found:
            self.edit.setText(found)


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, scheme: LabelScheme, models: list[Model], parent: QWidget | None = None,
                 folder_problem: Callable[[str], str | None] | None = None, image_roots: Sequence[str] = ()):
        """``folder_problem``: why a thumbnail folder cannot be the cache (one line), or None; OK
        refuses such a folder (a folder of plate images would lose them to pruning). ``image_roots``:
        the names of the store's image roots, listed for a folder on this workstation."""
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.scheme = scheme
        self._folder_problem = folder_problem
        self.result_settings: Settings | None = None
        self._settings = settings
        # two columns in a scroll area: where a person works (left), where files are (right); the
        # message and the buttons stay in view below
        left, right = QVBoxLayout(), QVBoxLayout()
        layout = left

        self.database_box = DatabaseBox(settings.database)

        review = QGroupBox("Reviewing")
        form = QFormLayout(review)
        self.annotator = QLineEdit(settings.annotator)
        self.annotator.setPlaceholderText("your name, stored on every label")
        form.addRow("&Annotator:", self.annotator)
        self.auto_advance = QCheckBox("Go to the next drop after labelling")
        self.auto_advance.setChecked(settings.auto_advance)
        form.addRow("", self.auto_advance)
        layout.addWidget(review)

        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        self.default_model = QComboBox()
        self.default_model.addItem("The active model of each database", -1)  # -1, not None (PySide6 6.12 leak)
        for m in models:
            self.default_model.addItem(f"{m.id}: {m.name} ({m.arch}@{m.input_size})", m.id)
        index = self.default_model.findData(-1 if settings.default_model is None else settings.default_model)
        self.default_model.setCurrentIndex(max(0, index))
        form.addRow("&Default model:", self.default_model)
        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem(d, d)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        form.addRow("De&vice:", self.device)
        layout.addWidget(model_box)

        layout = right
        layout.addWidget(self.database_box)
        cache_box = QGroupBox("Thumbnails")
        form = QFormLayout(cache_box)
        row = QHBoxLayout()
        self.thumb_dir = QLineEdit(settings.thumbnail_dir)
        self.thumb_dir.setPlaceholderText(str(Settings().thumbnail_folder()))
        browse = QPushButton("&Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.thumb_dir, 1)
        row.addWidget(browse)
        label = QLabel("Cache &folder:")
        label.setBuddy(self.thumb_dir)  # Alt+F: a layout in the row has no buddy of its own
        form.addRow(label, row)
        self.thumb_limit = QSpinBox()
        self.thumb_limit.setRange(64, 1024 * 1024)
        self.thumb_limit.setSuffix(" MB")
        self.thumb_limit.setValue(settings.thumbnail_limit_mb)
        form.addRow("Cache &limit:", self.thumb_limit)
        layout.addWidget(cache_box)

        self.watch_box = WatchFoldersBox(settings.watch_folders, settings.watch_enabled)  # File > Watch imager folders
        layout.addWidget(self.watch_box)

        self.roots_box = ImageRootsBox(settings.image_roots, image_roots)
        layout.addWidget(self.roots_box)
        layout.addStretch(1)
        layout = left

        scheme_box = QGroupBox("Labels")
        form = QFormLayout(scheme_box)
        self.scheme_box = QComboBox()
        for sid in available_schemes():
            self.scheme_box.addItem(sid, sid)
        self.scheme_box.setCurrentIndex(max(0, self.scheme_box.findData(settings.label_scheme)))
        form.addRow("Scheme for &new databases:", self.scheme_box)
        form.addRow(QLabel(f"Hotkeys of this database's scheme ({scheme.id}):"))
        self.hotkey_edits: dict[str, QLineEdit] = {}
        for c in scheme.classes:
            edit = QLineEdit(settings.hotkeys.get(c.key, c.hotkey))
            edit.setMaxLength(1)
            edit.setFixedWidth(40)
            edit.setAlignment(Qt.AlignmentFlag.AlignCenter)
            edit.textChanged.connect(self._validate)
            self.hotkey_edits[c.key] = edit
            form.addRow(f"{c.name}:", edit)
        reset = QPushButton("&Reset hotkeys to the scheme's")
        reset.clicked.connect(self._reset_hotkeys)
        form.addRow("", reset)
        layout.addWidget(scheme_box)
        layout.addStretch(1)

        content = QWidget()
        columns = QHBoxLayout(content)
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.addWidget(scroll, 1)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {theme.ERROR_TEXT};")
        outer.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        outer.addWidget(self.buttons)
        self._validate()
        wanted = content.sizeHint()
        screen = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        self.resize(min(wanted.width() + 40, int(screen.width() * 0.95)),
                    min(wanted.height() + 90, int(screen.height() * 0.9)))

    def hotkeys(self) -> dict[str, str]:
        return {k: e.text().strip() for k, e in self.hotkey_edits.items()}

    def _reset_hotkeys(self) -> None:
        for c in self.scheme.classes:
            self.hotkey_edits[c.key].setText(c.hotkey)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Thumbnail cache folder", self.thumb_dir.text())
        if folder:
            self.thumb_dir.setText(folder)

    def _validate(self) -> bool:
        problem = hotkey_problem(self.scheme, self.hotkeys())
        self.problem.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)
        return problem is None

    def _accept(self) -> None:
        if not self._validate():
            return
        folder = self.thumb_dir.text().strip()
        problem = self._folder_problem(folder) if folder and self._folder_problem is not None else None
        if problem is not None:
            self.problem.setText(problem)
            self.thumb_dir.setFocus()
            return
        problem = database_problem(self.database_box.text())
        if problem is not None:
            self.problem.setText(problem)
            self.database_box.edit.setFocus()
            return
        problem = self.roots_box.problem()
        if problem is not None:
            self.problem.setText(problem)
            self.roots_box.table.setFocus()
            return
        hotkeys = {k: v for k, v in self.hotkeys().items() if v != self.scheme.get(k).hotkey}
        self.result_settings = dataclasses.replace(
            self._settings,
            annotator=self.annotator.text().strip() or self._settings.annotator,
            database=self.database_box.text(),
            auto_advance=self.auto_advance.isChecked(),
            default_model=None if self.default_model.currentData() == -1 else self.default_model.currentData(),
            device=self.device.currentData(),
            thumbnail_dir=self.thumb_dir.text().strip(),
            thumbnail_limit_mb=self.thumb_limit.value(),
            label_scheme=self.scheme_box.currentData(),
            hotkeys=hotkeys,
            watch_folders=self.watch_box.folders(),
            watch_enabled=self.watch_box.enabled.isChecked() and bool(self.watch_box.folders()),
            image_roots=self.roots_box.mapping(),
        )
        self.accept()

