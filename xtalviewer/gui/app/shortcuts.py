"""Every shortcut of the review window, shown by ? as an overlay. The rows come from the window's
action table (``actions.shortcut_rows``), so the list cannot go stale."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from xtalviewer.gui import theme


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
        per_column = max(1, -(-len(rows) // 2))  # two columns
        for i, (keys, what) in enumerate(rows):
            k = QLabel(keys)
            k.setStyleSheet(f"font-family: monospace; font-weight: bold; padding: 2px 8px; "
                            f"background: {theme.NEUTRAL}; color: {theme.TEXT}; border-radius: 3px;")
            k.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(k, i % per_column, 2 * (i // per_column))
            grid.addWidget(QLabel(what), i % per_column, 2 * (i // per_column) + 1)

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
