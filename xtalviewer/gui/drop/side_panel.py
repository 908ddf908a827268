"""The side panel about the drop on screen: an alert for a label that could not be saved, the
screen condition of its well, the model's view (top 3, hit, top-3 flag), the label buttons, and the
drop's annotation history."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.labels import LabelScheme
from xtalviewer.store.rows import Annotation, Flag, QueueRow
from xtalviewer.store.screen_rows import WellCondition
from xtalviewer.gui import theme
from xtalviewer.gui.drop.history_model import COLUMNS, HistoryModel
from xtalviewer.gui.drop.label_bar import LabelBar
from xtalviewer.gui.drop.prediction_panel import PredictionPanel


class DropPanel(QWidget):
    label_clicked = Signal(str)
    retry_clicked = Signal()  # the alert's Retry: send the labels that were not saved again

    def __init__(self, scheme: LabelScheme, hotkeys: dict[str, str], parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.alert = QLabel()  # a label that could not be saved: impossible to miss, never modal
        self.alert.setWordWrap(True)
        self.alert.setStyleSheet(f"background: {theme.ALERT}; color: white; font-weight: bold; padding: 8px; "
                                 "border-radius: 4px;")
        self.alert.hide()
        self.retry = QPushButton("Retry")  # the label stays on screen as not saved until this (or its key) saves it
        self.retry.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the plate keeps the keyboard
        self.retry.clicked.connect(self.retry_clicked)
        self.retry.hide()
        self.condition = QLabel()  # what was in the well: the crystallographer's next question after a hit
        self.condition.setWordWrap(True)
        self.condition.setTextFormat(Qt.TextFormat.RichText)
        self.condition.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prediction = PredictionPanel(scheme)
        self.label_bar = LabelBar(scheme, hotkeys)
        self.label_bar.label_clicked.connect(self.label_clicked)
        self.history_model = HistoryModel(scheme, self)
        self.history = QTableView()
        self.history.setModel(self.history_model)
        self.history.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.history.verticalHeader().hide()
        header = self.history.horizontalHeader()  # when and who as wide as they are; label and model share the rest
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for column in (COLUMNS.index("Label"), COLUMNS.index("Model showed")):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)  # elided; the full text on hover
        header.setMinimumSectionSize(40)
        self.history.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.history.setWordWrap(False)
        self.history.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        layout.addWidget(self.alert)
        layout.addWidget(self.retry)
        layout.addWidget(self.condition)
        layout.addWidget(self.prediction)
        layout.addWidget(QLabel("Label (key, then next drop)"))
        layout.addWidget(self.label_bar)
        layout.addWidget(QLabel("History of this drop"))
        layout.addWidget(self.history, 1)

    def show_alert(self, text: str | None) -> None:
        """A label that was not saved (``text``), or None once labels are saved again."""
        self.alert.setText(text or "")
        self.alert.setVisible(bool(text))
        self.retry.setVisible(bool(text))

    def show_condition(self, condition: WellCondition | None, *, has_screen: bool) -> None:
        """The well's screen condition, one component a line; or why there is none."""
        if condition is None:
            why = ("this well is not in the plate's screen" if has_screen else
                   "no screen for this plate (xtalviewer screens assign PLATE NAME)")
            self.condition.setText(f'<span style="color: {theme.MUTED}">Condition: {html.escape(why)}</span>')
            return
        code = f" · {html.escape(condition.code)}" if condition.code else ""
        lines = [html.escape(c.describe()) for c in condition.components] or [html.escape(condition.description)]
        ph = condition.ph_value
        ph_line = f'<br><span style="color: {theme.MUTED}">pH {ph:g}</span>' if ph is not None else ""
        self.condition.setText(f'<span style="color: {theme.MUTED}">Condition {html.escape(condition.well)}{code} · '
                               f'{html.escape(condition.screen)}</span><br><b>{"<br>".join(lines)}</b>{ph_line}')

    def show_drop(self, model_name: str | None, row: QueueRow | None, op: OperatingPoint, *, pending: bool = False,
                  shown_label: str | None = None, history: list[Annotation | Flag] | None = None,
                  blind: bool = False) -> None:
        if blind:
            self.prediction.show_hidden("Blind review: the model's answer is hidden until blind review ends (Ctrl+B)")
        else:
            self.prediction.show_prediction(model_name, row if row and row.top1 else None, op, pending=pending)
        self.label_bar.mark_current(shown_label)
        if history is not None:
            self.history_model.set_history(history)
