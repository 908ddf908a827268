"""The model's view of the drop on screen: top-3 labels as bars with percentages, the model's
name, and whether a crystal class is in the top 3 (the strategy that keeps missed crystals rare)."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from xtalviewer.core.labels import LabelScheme


class TopBars(QWidget):
    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        self.top3: list[tuple[str, float]] = []
        self.setMinimumHeight(3 * 26 + 4)

    def set_top3(self, top3: list[tuple[str, float]]) -> None:
        self.top3 = top3
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        w = self.width()
        for i in range(3):
            y = 2 + i * 26
            p.fillRect(QRect(0, y, w, 22), QColor("#2b2f36"))
            if i >= len(self.top3):
                continue
            key, prob = self.top3[i]
            cls = self.scheme.get(key)
            color = QColor(cls.color)
            p.fillRect(QRect(0, y, max(2, int(w * prob)), 22), color)
            p.setPen(QColor("#111") if color.lightness() > 140 and prob > 0.5 else QColor("#f5f5f5"))
            text = f"{cls.hotkey}  {cls.name}{'  ◆' if cls.crystal else ''}"
            p.drawText(QRect(6, y, w - 60, 22), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            p.setPen(QColor("#f5f5f5"))
            p.drawText(QRect(w - 56, y, 52, 22), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                       f"{100 * prob:.1f}%")
        p.end()


class PredictionPanel(QWidget):
    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Model")
        self.title.setStyleSheet("font-weight: bold;")
        self.bars = TopBars(scheme, self)
        self.flag = QLabel()
        self.flag.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.flag.setMinimumHeight(26)
        self.detail = QLabel()
        self.detail.setStyleSheet("color: #9ca3af;")
        for w in (self.title, self.bars, self.flag, self.detail):
            layout.addWidget(w)
        self.show_prediction(None, None)

    def show_prediction(self, model_name: str | None, prediction: dict | None, pending: bool = False) -> None:
        """``prediction`` has top1/p1..top3/p3 and crystal_prob (a store row or a live result)."""
        self.title.setText(f"Model: {model_name}" if model_name else "Model: none active")
        if not prediction or not prediction.get("top1"):
            self.bars.set_top3([])
            self.flag.setText("scoring…" if pending else ("no prediction" if model_name else "train a model to see predictions"))
            self.flag.setStyleSheet("background: #374151; color: #d1d5db; border-radius: 4px;")
            self.detail.setText("")
            return
        top3 = [(prediction[f"top{i}"], prediction[f"p{i}"]) for i in (1, 2, 3) if prediction.get(f"top{i}")]
        self.bars.set_top3(top3)
        crystals = [(k, p) for k, p in top3 if self.scheme.get(k).crystal]
        if crystals:
            key, prob = crystals[0]
            self.flag.setText(f"CRYSTAL IN TOP 3: {self.scheme.get(key).name} {100 * prob:.1f}%")
            strong = (prediction.get("crystal_prob") or prob) >= 0.1
            self.flag.setStyleSheet(
                "background: #c62828; color: white; font-weight: bold; border-radius: 4px;" if strong else
                "background: #4a1c1c; color: #ffcdd2; font-weight: bold; border: 1px solid #c62828; border-radius: 4px;")
        else:
            self.flag.setText("no crystal in top 3")
            self.flag.setStyleSheet("background: #374151; color: #d1d5db; border-radius: 4px;")
        crystal = prediction.get("crystal_prob")
        self.detail.setText(f"crystal probability {100 * crystal:.1f}%" if crystal is not None else "")
