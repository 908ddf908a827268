"""Every shortcut of the review window, shown by ? as an overlay (the window's own list, so it
cannot go stale)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from xtalviewer.core.labels import LabelScheme


def shortcut_rows(scheme: LabelScheme, hotkeys: dict[str, str]) -> list[tuple[str, str]]:
    rows = [(hotkeys[c.key], f"Label as {c.name}{' (crystal)' if c.crystal else ''}, then next drop")
            for c in scheme.classes]
    rows += [
        ("Enter", "Accept the model's top-1 label"),
        ("← → ↑ ↓", "Move in the plate grid"),
        ("Shift+arrows, Ctrl+A", "Select several drops (a label key labels them all)"),
        ("Page Up / Page Down", "Previous / next inspection (same drop kept within a plate)"),
        ("Ctrl+1 … Ctrl+5", "Order: plate, likely crystals, margin, entropy, disagreements"),
        ("Ctrl+U / Ctrl+K", "Unreviewed only / crystal in top 3 only"),
        ("Ctrl+Shift+U", "Clear the filters (Alt+R: filter by label menus)"),
        ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo a label (history keeps both)"),
        ("F", "Fit the image"),
        ("+ / -", "Zoom the image in / out (wheel zooms, drag pans)"),
        ("Ctrl+= / Ctrl+-", "Bigger / smaller thumbnails (or Ctrl+wheel)"),
        ("Ctrl+Shift+A", "Auto-advance after labelling on/off"),
        ("Ctrl+I", "Import a plate folder"),
        ("Ctrl+E", "Export labels as CSV"),
        ("Ctrl+P", "Plate report (HTML) of this inspection"),
        ("Ctrl+T", "Retrain the models"),
        ("Ctrl+G", "Plots: labels per plate, model vs reviewers, crystal map"),
        ("Ctrl+R", "Reload"),
        ("Ctrl+,", "Preferences (annotator, device, hotkeys …)"),
        ("?", "Show / hide this list"),
        ("Ctrl+Q", "Quit"),
    ]
    return rows


class ShortcutOverlay(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setModal(False)
        layout = QVBoxLayout(self)
        self.grid = QGridLayout()
        layout.addLayout(self.grid)
        self.set_rows(rows)
        close = QPushButton("Close (Esc or ?)")
        close.clicked.connect(self.hide)
        layout.addWidget(close)

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        grid = self.grid
        for i, (keys, what) in enumerate(rows):
            k = QLabel(keys)
            k.setStyleSheet("font-family: monospace; font-weight: bold; padding: 2px 8px; background: #374151; "
                            "color: #f9fafb; border-radius: 3px;")
            k.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(k, i % 16, 2 * (i // 16))
            grid.addWidget(QLabel(what), i % 16, 2 * (i // 16) + 1)

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.show()
            self.raise_()

    def keyPressEvent(self, event) -> None:
        if event.text() == "?" or event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)
