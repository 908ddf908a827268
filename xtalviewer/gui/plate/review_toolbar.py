"""The toolbar above the grid: review order and filters. It shows the session's choice and reports
the reviewer's; the session does the filtering."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QToolBar

from xtalviewer.crystal_call import TOP3_STRATEGY
from xtalviewer.labels import LabelScheme
from xtalviewer.review.session import ORDERS, Filters

ANY = ""  # combo data for "no filter": never None (QComboBox.currentData() returning None leaks in PySide6 6.12)
YES_NO = {"yes": True, "no": False}


class ReviewToolbar(QToolBar):
    changed = Signal()  # the reviewer chose another order or filter

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
        self._quiet = False
        for w in (QLabel(" Order "), self.order_box, QLabel("  Filter "), self.label_filter, self.pred_filter,
                  self.hit_filter, self.top3_filter, self.unreviewed):
            self.addWidget(w)

    @staticmethod
    def _combo(items: list[tuple[str, str]]) -> QComboBox:
        box = QComboBox()
        for text, data in items:
            box.addItem(text, data)
        return box

    def _edited(self, *_args) -> None:
        if not self._quiet:
            self.changed.emit()

    def order(self) -> str:
        return self.order_box.currentData()

    def filters(self) -> Filters:
        return Filters(label=self.label_filter.currentData() or None, predicted=self.pred_filter.currentData() or None,
                       hit=YES_NO.get(self.hit_filter.currentData()),
                       crystal_top3=YES_NO.get(self.top3_filter.currentData()),
                       unreviewed=self.unreviewed.isChecked())

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
        finally:
            self._quiet = False
