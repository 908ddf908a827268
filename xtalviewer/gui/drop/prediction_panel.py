"""The model's view of the drop on screen: top-3 labels as bars with percentages, the model's
name, the crystal call at its operating point, and whether a crystal class is in the top 3 (the
second strategy that keeps missed crystals rare)."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from xtalviewer.crystal_call import TOP3_STRATEGY, OperatingPoint, is_hit, pct
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import QueueRow
from xtalviewer.gui import theme


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
            p.fillRect(QRect(0, y, w, 22), QColor(theme.PANEL))
            if i >= len(self.top3):
                continue
            key, prob = self.top3[i]
            cls = self.scheme.get(key)
            color = QColor(cls.color)
            bar = QRect(0, y, max(2, int(w * prob)), 22)
            p.fillRect(bar, color)
            text = f"{cls.hotkey}  {cls.name}{'  ◆' if cls.crystal else ''}"
            for clip, pen in ((bar, theme.text_on(color)), (QRect(bar.right() + 1, y, w, 22), QColor(theme.TEXT))):
                p.setClipRect(clip)  # readable on the bar and beside it
                p.setPen(pen)
                p.drawText(QRect(6, y, w - 60, 22), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
                p.drawText(QRect(w - 56, y, 52, 22), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                           pct(prob))
            p.setClipping(False)
        p.end()


class PredictionPanel(QWidget):
    """Top-3 bars, then the crystal call at the model's operating point (hit or not a hit), then the
    top-3 strategy's flag on its own line."""

    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Model")
        self.title.setStyleSheet("font-weight: bold;")
        self.bars = TopBars(scheme, self)
        self.flag = QLabel()  # the hit call
        self.top3 = QLabel()  # the top-3 strategy
        for label in (self.flag, self.top3):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setMinimumHeight(26)
            label.setWordWrap(True)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet(f"color: {theme.MUTED};")
        for w in (self.title, self.bars, self.flag, self.top3, self.detail):
            layout.addWidget(w)
        self.show_prediction(None, None, OperatingPoint())

    def show_hidden(self, text: str) -> None:
        """No model answer on screen (blind review): ``text`` says why."""
        self.title.setText("Model: hidden")
        self.bars.set_top3([])
        self.flag.setText(text)
        self.flag.setStyleSheet(NEUTRAL)
        self.top3.hide()
        self.detail.setText("")

    def show_prediction(self, model_name: str | None, prediction: QueueRow | None, op: OperatingPoint,
                        pending: bool = False) -> None:
        """``prediction``: the drop's queue row, with its top 3 and crystal probability (stored, or a
        live result); ``op`` is the model's operating point, which makes the hit call."""
        self.title.setText(f"Model: {model_name}" if model_name else "Model: none active")
        if not prediction or not prediction.top1:
            self.bars.set_top3([])
            self.flag.setText("scoring…" if pending else
                              "no prediction" if model_name else "train a model to see predictions")
            self.flag.setStyleSheet(NEUTRAL)
            self.top3.hide()
            self.detail.setText("")
            return
        top3 = prediction.top()
        self.bars.set_top3(top3)
        prob = prediction.crystal_prob
        if is_hit(prob, op.threshold):
            self.flag.setText(f"HIT: crystal probability {pct(prob)} ≥ {pct(op.threshold)}")
            self.flag.setStyleSheet(f"background: {theme.HIT}; color: white; font-weight: bold; border-radius: 4px;")
        else:
            self.flag.setText(f"not a hit: crystal probability {pct(prob)} < {pct(op.threshold)}")
            self.flag.setStyleSheet(NEUTRAL)
        crystals = [(k, p) for k, p in top3 if self.scheme.get(k).crystal]
        self.top3.show()
        if crystals:
            key, p = crystals[0]
            self.top3.setText(f"{TOP3_STRATEGY}: {self.scheme.get(key).name} {pct(p)}")
            self.top3.setStyleSheet(f"background: {theme.PANEL}; color: {theme.ERROR_LIGHT}; "
                                    f"border: 1px solid {theme.TOP3}; border-radius: 4px;")
        else:
            self.top3.setText(f"no {TOP3_STRATEGY}")
            self.top3.setStyleSheet(NEUTRAL)
        self.detail.setText(op.describe())


NEUTRAL = f"background: {theme.NEUTRAL}; color: {theme.NEUTRAL_TEXT}; border-radius: 4px;"
