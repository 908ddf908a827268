"""Choosing the imager folders the review window watches: a group box (the folders, and whether to
watch them while the window is open) that the Preferences show, and File > Watched folders…, the
same box beside what the watcher said lately."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QGroupBox,
                               QHBoxLayout, QLabel, QListWidget, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)



class WatchFoldersBox(QGroupBox):
    """The folders to watch (``watch_folders``) and the switch (``watch_enabled``)."""

    def __init__(self, folders: Iterable[str], enabled: bool, parent: QWidget | None = None):
        super().__init__("Watching imager folders", parent)
        layout = QVBoxLayout(self)
        self.enabled = QCheckBox("&Watch these folders while the review window is open")
        self.enabled.setChecked(enabled)
        layout.addWidget(self.enabled)
        row = QHBoxLayout()
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.addItems([f for f in folders if f.strip()])
        self.list.setMaximumHeight(64)  # three folders show; the Preferences are tall already
        row.addWidget(self.list, 1)
        buttons = QVBoxLayout()
        add = QPushButton("A&dd folder…")
        add.setAutoDefault(False)
        add.clicked.connect(self._add)
        self.remove = QPushButton("Re&move")
        self.remove.setAutoDefault(False)
        self.remove.clicked.connect(self._remove)
        for b in (add, self.remove):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row.addLayout(buttons)
        layout.addLayout(row)
        self.setToolTip("New inspections written there are imported once their files are complete and scored "
                        "with the active model; new hits are announced (File > Watch imager folders, "
                        "Ctrl+Shift+W). They are also the folders `xtalviewer watch` follows when given none.")

    def folders(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def add_folder(self, folder: str) -> None:
        if folder and folder not in self.folders():
            self.list.addItem(folder)

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "An imager folder to watch")
        if folder:
            self.add_folder(folder)
            if self.list.count() == 1:
                self.enabled.setChecked(True)  # the first folder chosen: watching is what was meant

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))


class WatchDialog(QDialog):
    """File > Watched folders…: the folders and the switch (OK hands them to ``apply``), and the
    watcher's recent lines, which go on arriving while it is open."""

    def __init__(self, folders: Iterable[str], enabled: bool, lines: Iterable[str],
                 apply: Callable[[list[str], bool], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("xtalviewer: watched imager folders")
        self._apply = apply
        layout = QVBoxLayout(self)
        self.box = WatchFoldersBox(folders, enabled)
        layout.addWidget(self.box)
        layout.addWidget(QLabel("What the watcher said (newest last):"))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setPlainText("\n".join(lines) or "Not watching.")
        layout.addWidget(self.log, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 440)
        self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def add_line(self, line: str) -> None:
        if self.log.toPlainText() == "Not watching.":
            self.log.clear()
        self.log.appendPlainText(line)

    def _accept(self) -> None:
        self._apply(self.box.folders(), self.box.enabled.isChecked() and bool(self.box.folders()))
        self.accept()
