"""The toolbar above the grid: review order and filters, "condition contains" (a component of the
well's screen condition) and a pH range chosen on the Conditions plot among them. It shows the
session's choice and reports the reviewer's; the session does the filtering."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QInputDialog, QLabel, QLineEdit, QToolBar, QToolButton

from xtalviewer.crystal_call import TOP3_STRATEGY
from xtalviewer.labels import LabelScheme
from xtalviewer.review.queue import ORDERS, Filters

ANY = ""  # combo data for "no filter": never None (QComboBox.currentData() returning None leaks in PySide6 6.12)
YES_NO = {"yes": True, "no": False}


class ConditionField(QLineEdit):
    """"Condition contains…": Enter filters, Esc gives the keys back to the plate."""

    escaped = Signal()
    OWN_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)

    def event(self, event: QEvent) -> bool:
        # Enter and Esc are the window's keys too (accept the prediction, close the overlay): here they are ours
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.OWN_KEYS:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class ReviewToolbar(QToolBar):
    changed = Signal()  # the reviewer chose another order or filter
    done_typing = Signal()  # Enter or Esc in the condition field: the plate takes the keys again

    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__("Review", parent)
        self.setObjectName("review")
        self.setMovable(False)
        self.order_box = QComboBox()
        for key, text in ORDERS:
            self.order_box.addItem(text, key)
        self.label_filter = self._combo([("Any label", ANY), *((c.name, c.key) for c in scheme.classes)])
        self.pred_filter = self._combo([("Any prediction", ANY), *((c.name, c.key) for c in scheme.classes)])
        self.hit_filter = self._combo([("Hits: any", ANY), ("Hits only", "yes"), ("Not hits", "no")])
        self.hit_filter.setToolTip("The model's hits: crystal probability at or above its operating-point threshold")
        top3 = TOP3_STRATEGY.capitalize()
        self.top3_filter = self._combo([(f"{top3}: any", ANY), (top3, "yes"), (f"No {TOP3_STRATEGY}", "no")])
        self.top3_filter.setToolTip("The second strategy: a crystal class among the model's three most likely")
        self.unreviewed = QCheckBox("Unreviewed only")
        self.unreviewed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for w in (self.order_box, self.label_filter, self.pred_filter, self.hit_filter, self.top3_filter):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            w.currentIndexChanged.connect(self._edited)
        self.unreviewed.toggled.connect(self._edited)
        self.condition = ConditionField()
        self.condition.setPlaceholderText("Condition contains…")
        self.condition.setToolTip("Only drops whose well's screen condition has this component (PEG 3350, HEPES …); "
                                  "Enter filters, Esc returns to the plate (Ctrl+Shift+F comes here)")
        self.condition.setClearButtonEnabled(True)
        self.condition.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.condition.setMaximumWidth(190)
        self.condition.returnPressed.connect(lambda: (self._condition_entered(), self.done_typing.emit()))
        self.condition.textChanged.connect(lambda text: text or self._condition_entered())  # the clear button
        self.condition.escaped.connect(self.done_typing)
        self.ph_chip = QToolButton()  # a pH range chosen on the Conditions plot; a click clears it
        self.ph_chip.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.ph_chip.setToolTip("Only drops whose condition's pH is in this range (from the Conditions plot); "
                                "click to clear")
        self.ph_chip.clicked.connect(self._clear_ph)
        self._ph_range: tuple[float, float] | None = None
        self._shown_component = ""
        self._quiet = False
        for w in (QLabel(" Order "), self.order_box, QLabel("  Filter "), self.label_filter, self.pred_filter,
                  self.hit_filter, self.top3_filter, self.unreviewed, QLabel("  "), self.condition):
            self.addWidget(w)
        self._ph_action = self.addWidget(self.ph_chip)
        self._ph_action.setVisible(False)

    @staticmethod
    def _combo(items: list[tuple[str, str]]) -> QComboBox:
        box = QComboBox()
        for text, data in items:
            box.addItem(text, data)
        return box

    def _edited(self, *_args) -> None:
        if not self._quiet:
            self.changed.emit()

    def _condition_entered(self) -> None:
        if self.condition.text().strip() != self._shown_component:
            self._edited()

    def _clear_ph(self) -> None:
        self._ph_range = None
        self._ph_action.setVisible(False)
        self._edited()

    def focus_condition(self) -> None:
        """Ctrl+Shift+F: type a component into "Condition contains…" (asked in a small dialog when a
        narrow window has pushed the field into the toolbar's overflow)."""
        if self.condition.isVisible():
            self.condition.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.condition.selectAll()
            return
        text, ok = QInputDialog.getText(self.window(), "Condition contains", "Only drops whose well's condition "
                                        "has this component (empty: all drops):", text=self.condition.text())
        if ok:
            self.condition.setText(text.strip())
            self._condition_entered()
        self.done_typing.emit()

    def order(self) -> str:
        return self.order_box.currentData()

    def filters(self) -> Filters:
        return Filters(label=self.label_filter.currentData() or None, predicted=self.pred_filter.currentData() or None,
                       hit=YES_NO.get(self.hit_filter.currentData()),
                       crystal_top3=YES_NO.get(self.top3_filter.currentData()),
                       unreviewed=self.unreviewed.isChecked(), component=self.condition.text().strip() or None,
                       ph_range=self._ph_range)

    def show_state(self, order: str, filters: Filters) -> None:
        """Show what the session holds, without reporting it back as a change."""
        def data(value: bool | None) -> str:
            return ANY if value is None else "yes" if value else "no"

        self._quiet = True
        try:
            for box, value in ((self.order_box, order), (self.label_filter, filters.label or ANY),
                               (self.pred_filter, filters.predicted or ANY), (self.hit_filter, data(filters.hit)),
                               (self.top3_filter, data(filters.crystal_top3))):
                box.setCurrentIndex(max(0, box.findData(value)))
            self.unreviewed.setChecked(filters.unreviewed)
            self._shown_component = filters.component or ""
            if self.condition.text().strip() != self._shown_component:
                self.condition.setText(self._shown_component)
            self._ph_range = filters.ph_range
            if filters.ph_range is not None:
                self.ph_chip.setText(f"pH {filters.ph_range[0]:g}–{filters.ph_range[1]:g}  ✕")
            self._ph_action.setVisible(filters.ph_range is not None)
        finally:
            self._quiet = False
