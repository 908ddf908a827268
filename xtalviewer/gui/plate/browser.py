"""Plates and their inspections with the counts a reviewer plans by: drops, reviewed, crystal
labels, the model's hits at its operating point (the column's tooltip states the rule), and the
best over time: per plate the drops that were ever a hit, per inspection the drops first a hit
there. Sized to the dock: the first column gives way (full text on hover), no sideways scrolling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QTreeView

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.store.rows import InspectionSummary, Model
from xtalviewer.store.schema import MODE_NAMES
from xtalviewer.store.store import Store
from xtalviewer.gui import theme
from xtalviewer.gui.tasks import TaskRunner

INSPECTION_ROLE = Qt.ItemDataRole.UserRole + 1
PLATE_ROW = -1
HEADERS = ("Plate / inspection", "Drops", "Done", "Xtal", "Hits", "Ever")
HEADER_TIPS = ("Plate barcode, then each inspection's imaging time", "Drop images",
               "Drops with a label (reviewed)", "Drops labelled as a crystal class",
               "Predicted hits of the active model",
               "Best over time. Plate: drops that were a hit at any inspection. Inspection: drops first a hit "
               "there (+N new)")
HITS = HEADERS.index("Hits")
EVER = HEADERS.index("Ever")


@dataclass(frozen=True)
class BrowserRows:
    """What the browser shows: the store's summary row of each inspection, and per inspection the
    drops first a hit there (best over time)."""

    rows: list[InspectionSummary]
    first_hits: dict[int, int]


class PlateBrowserModel(QStandardItemModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHorizontalHeaderLabels(list(HEADERS))
        for i, tip in enumerate(HEADER_TIPS):
            self.horizontalHeaderItem(i).setToolTip(tip)
        self._items: dict[int, list[QStandardItem]] = {}
        self._order: list[int] = []
        self._plates: dict[int, list[QStandardItem]] = {}
        self._rows: dict[int, InspectionSummary] = {}
        self._first_hits: dict[int, int] = {}
        self._rule = ""

    def set_rows(self, found: BrowserRows, op: OperatingPoint, model_name: str | None = None) -> None:
        """Summary rows of the store (one per inspection); hits counted at ``op``, the model's rule."""
        self._rule = (f"Predicted hits of {model_name}: {op.describe()}" if model_name
                      else "Predicted hits: no model is active")
        self.horizontalHeaderItem(HITS).setToolTip(self._rule)
        self.removeRows(0, self.rowCount())
        self._items, self._order, self._plates, self._rows = {}, [], {}, {}
        self._first_hits = dict(found.first_hits)
        for r in found.rows:
            if r.plate_id not in self._plates:
                plate = [QStandardItem(r.barcode)] + [QStandardItem() for _ in HEADERS[1:]]
                for it in plate:
                    it.setEditable(False)
                    it.setData(PLATE_ROW, INSPECTION_ROLE)  # never None: reading None back leaks in PySide6 6.12
                plate[0].setData(QColor(theme.TEXT), Qt.ItemDataRole.ForegroundRole)
                self.appendRow(plate)
                self._plates[r.plate_id] = plate
            when = (r.imaged_at or "")[:16].replace("T", " ")
            modes = f" +{'+'.join(MODE_NAMES.get(m, m) for m in r.other_modes.split(','))}" if r.other_modes else ""
            label = when + (f"  {r.profile}" if r.profile and r.profile != "visible" else "") + modes
            items = [QStandardItem(label)] + [QStandardItem() for _ in HEADERS[1:]]
            for it in items:
                it.setEditable(False)
                it.setData(r.id, INSPECTION_ROLE)
            items[0].setToolTip(f"{label}\n{r.key}\n{r.imager or ''}")
            self._plates[r.plate_id][0].appendRow(items)
            self._items[r.id] = items
            self._order.append(r.id)
            self._rows[r.id] = r
            self._fill(r.id)
        for plate_id in self._plates:
            self._fill_plate(plate_id)

    def _fill(self, inspection_id: int) -> None:
        r, items = self._rows[inspection_id], self._items[inspection_id]
        items[1].setText(str(r.images or 0))
        items[2].setText(f"{r.labelled or 0}")
        items[3].setText(str(r.crystal_labels or 0))
        items[HITS].setText(str(r.predicted_hits or 0) if r.predicted else "–")
        items[HITS].setToolTip(f"{r.predicted_hits or 0} of {r.predicted or 0} scored drops. {self._rule}"
                               if r.predicted else f"Not scored yet. {self._rule}")
        done = (r.labelled or 0) >= (r.images or 0) > 0
        items[2].setData(QColor(theme.GOOD if done else theme.TEXT), Qt.ItemDataRole.ForegroundRole)
        first = self._first_hits.get(inspection_id, 0)
        items[EVER].setText(f"+{first}" if first else "")
        items[EVER].setToolTip(f"{first} drop{'s' * (first != 1)} first a hit at this inspection")

    def _fill_plate(self, plate_id: int) -> None:
        rows = [r for r in self._rows.values() if r.plate_id == plate_id]
        items = self._plates[plate_id]
        items[1].setText(str(sum(r.images or 0 for r in rows)))
        items[2].setText(str(sum(r.labelled or 0 for r in rows)))
        items[3].setText(str(sum(r.crystal_labels or 0 for r in rows)))
        items[HITS].setText(str(sum(r.predicted_hits or 0 for r in rows)))
        items[HITS].setToolTip(self._rule)
        ever = sum(self._first_hits.get(r.id, 0) for r in rows)
        items[EVER].setText(str(ever))
        items[EVER].setToolTip(f"{ever} drop{'s' * (ever != 1)} of this plate were a hit at some inspection")

    def set_counts(self, row: InspectionSummary) -> None:
        """One inspection's summary row again (after labels were written)."""
        if row.id in self._rows:
            self._rows[row.id] = row
            self._fill(row.id)
            self._fill_plate(row.plate_id)

    def inspection_id(self, index: QModelIndex) -> int | None:
        if not index.isValid():
            return None
        value = index.siblingAtColumn(0).data(INSPECTION_ROLE)
        if value == PLATE_ROW:  # a plate row: its latest inspection
            item = self.itemFromIndex(index.siblingAtColumn(0))
            if item is not None and item.rowCount():
                return item.child(item.rowCount() - 1, 0).data(INSPECTION_ROLE)
        return value

    def inspection_ids(self) -> list[int]:
        return list(self._order)

    def index_of(self, inspection_id: int) -> QModelIndex | None:
        items = self._items.get(inspection_id)
        return items[0].index() if items else None

    def plate_indexes(self) -> dict[int, QModelIndex]:
        """plate id -> its row's index."""
        return {plate_id: items[0].index() for plate_id, items in self._plates.items()}


class PlateBrowser(QTreeView):
    """The tree of plates and inspections; the keyboard stays with the grid. A click on a plate or an
    inspection says which inspection to open (a plate: its latest). Its counts come from a background
    query (``refresh``): large stores take a moment."""

    inspection_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.task = TaskRunner(self)
        self.model_ = PlateBrowserModel(self)
        self.setModel(self.model_)
        self.clicked.connect(self._clicked)
        self.setUniformRowHeights(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(28)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name gives way, never the counts

    def _clicked(self, index: QModelIndex) -> None:
        inspection_id = self.model_.inspection_id(index)
        if inspection_id is not None:
            self.inspection_clicked.emit(inspection_id)

    def refresh(self, db: Path, model: Model | None, op: OperatingPoint,
                on_read: Callable[[list[InspectionSummary]], None], on_failed: Callable[[str], None]) -> None:
        """Read the plates and their counts (hits at ``op``, ``model``'s rule) off the GUI thread, show
        them, then hand the inspection rows to ``on_read``. Read again (an inspection arrived, counts
        changed), the tree keeps its collapsed plates, its selection and where it was scrolled to."""
        def done(found: BrowserRows) -> None:
            again = self.model_.rowCount() > 0
            scrolled = self.verticalScrollBar().value()
            selected = self.model_.inspection_id(self.currentIndex())
            collapsed = {pid for pid, index in self.model_.plate_indexes().items() if not self.isExpanded(index)}
            self.model_.set_rows(found, op, model and model.name)
            self.expandAll()
            for pid, index in self.model_.plate_indexes().items():
                if pid in collapsed:
                    self.collapse(index)
            on_read(found.rows)
            if again and self.model_.inspection_id(self.currentIndex()) == selected:
                self.verticalScrollBar().setValue(scrolled)  # the same inspection: stay where the reviewer was

        self.task.start(summaries, db, model and model.id, on_done=done, on_failed=on_failed)

    def select(self, inspection_id: int) -> None:
        idx = self.model_.index_of(inspection_id)
        if idx is not None:
            self.setCurrentIndex(idx)
            self.scrollTo(idx)


def summaries(state, db: Path, model_id: int | None) -> BrowserRows:
    """The browser's rows, read on a background task's thread with its own connection, with the
    drops first a hit at each inspection (best over time)."""
    with Store(db) as store:
        return BrowserRows(store.inspection_summaries(model_id), store.ever_hit_counts(model_id).first_hits)
