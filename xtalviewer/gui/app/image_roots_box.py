"""Preferences' "Image roots" box: where this workstation finds the store's named image roots
(``RockImager`` -> ``/mnt/rockimager``), one row per root, saved as the settings' ``image_roots``.
The store's roots are listed even where this workstation has no folder for them yet; defining a
new root in the store is ``xtalviewer roots add``."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from xtalviewer.files.image_roots import name_problem

NAME, FOLDER = 0, 1


class ImageRootsBox(QGroupBox):
    """Root name -> folder on this workstation, editable in a small table with a Browse button."""

    def __init__(self, mapping: dict[str, str], defined: Iterable[str] = (), parent: QWidget | None = None):
        super().__init__("Image roots", parent)
        layout = QVBoxLayout(self)
        note = QLabel("Where this workstation finds each image root of the store (the imager share). "
                      "A root with no folder is found where it was defined, if that folder exists here.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Root", "Folder on this workstation"])
        self.table.horizontalHeader().setSectionResizeMode(NAME, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setMaximumHeight(130)
        for name in sorted(set(defined) | set(mapping)):
            self.add_row(name, mapping.get(name, ""))
        layout.addWidget(self.table)
        row = QHBoxLayout()
        for text, slot in (("Add roo&t", lambda: self.add_row("", "")), ("Bro&wse…", self.browse),
                           ("Remo&ve", self.remove_row)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)

    def add_row(self, name: str, folder: str) -> int:
        at = self.table.rowCount()
        self.table.insertRow(at)
        self.table.setItem(at, NAME, QTableWidgetItem(name))
        self.table.setItem(at, FOLDER, QTableWidgetItem(folder))
        self.table.setCurrentCell(at, NAME if not name else FOLDER)
        return at

    def remove_row(self) -> None:
        if self.table.currentRow() >= 0:
            self.table.removeRow(self.table.currentRow())

    def browse(self) -> None:
        at = self.table.currentRow()
        if at < 0:
            at = self.add_row("", "")
        folder = QFileDialog.getExistingDirectory(self, "Folder of the image root", self._text(at, FOLDER))
        if folder:
            self.table.item(at, FOLDER).setText(folder)

    def _text(self, at: int, column: int) -> str:
        item = self.table.item(at, column)
        return item.text().strip() if item is not None else ""

    def rows(self) -> list[tuple[str, str]]:
        """(name, folder) of every row that names a root."""
        return [(self._text(at, NAME), self._text(at, FOLDER)) for at in range(self.table.rowCount())
                if self._text(at, NAME)]

    def mapping(self) -> dict[str, str]:
        """What the settings keep: the roots given a folder here."""
        return {name: folder for name, folder in self.rows() if folder}

    def problem(self) -> str | None:
        """Why these rows cannot be saved (one line), or None."""
        seen = set()
        for name, _ in self.rows():
            problem = name_problem(name)
            if problem:
                return f"Image roots: {problem}"
            if name in seen:
                return f"Image roots: '{name}' is listed twice"
            seen.add(name)
        return None
