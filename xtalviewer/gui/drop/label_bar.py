"""One button per class, showing its hotkey and colour; clicking labels like the hotkey does."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QPushButton, QWidget

from xtalviewer.labels import LabelScheme
from xtalviewer.gui import theme


class LabelBar(QWidget):
    label_clicked = Signal(str)

    def __init__(self, scheme: LabelScheme, hotkeys: dict[str, str], parent=None):
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.scheme = scheme
        self.buttons: dict[str, QPushButton] = {}
        for i, cls in enumerate(scheme.classes):
            button = QPushButton(f"{hotkeys.get(cls.key, cls.hotkey)}  {cls.name}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            text = theme.text_on(cls.color).name()
            button.setStyleSheet(
                f"QPushButton {{ background: {cls.color}; color: {text}; border: 2px solid transparent; "
                f"border-radius: 4px; padding: 4px; text-align: left; {'font-weight: bold;' if cls.crystal else ''} }}"
                f"QPushButton[current=\"true\"] {{ border: 2px solid {theme.CURRENT}; }}"
            )
            button.setToolTip(f"{cls.description}\nKey {hotkeys.get(cls.key, cls.hotkey)}"
                              f"{'; counts as a crystal hit' if cls.crystal else ''}")
            button.clicked.connect(lambda _=False, key=cls.key: self.label_clicked.emit(key))
            layout.addWidget(button, i // 2, i % 2)
            self.buttons[cls.key] = button

    def set_hotkeys(self, hotkeys: dict[str, str]) -> None:
        for cls in self.scheme.classes:
            key = hotkeys.get(cls.key, cls.hotkey)
            self.buttons[cls.key].setText(f"{key}  {cls.name}")
            self.buttons[cls.key].setToolTip(f"{cls.description}\nKey {key}"
                                             f"{'; counts as a crystal hit' if cls.crystal else ''}")

    def mark_current(self, key: str | None) -> None:
        for k, b in self.buttons.items():
            b.setProperty("current", "true" if k == key else "false")
            b.style().unpolish(b)
            b.style().polish(b)
