"""The hit list window: drops of every plate that are (or were) a hit of the active model, highest
crystal probability first, one row per drop at its latest inspection (``report/hits.py``), each with
its well's screen condition. Enter or a
double click opens the drop in its plate in the review window. Read and written off the GUI thread.

"New since your last look": drops first a hit at their latest inspection (``hits --new``) whose
prediction there was stored after this reviewer last opened the hit list (kept per annotator in the
settings, ``take_last_look``); they are marked in every view and the checkbox lists only them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout)

from xtalviewer.store.location import location_of
from xtalviewer.model.registry import current_model
from xtalviewer.crystal_call import pct
from xtalviewer.report.hits import hit_rule, write_hits_csv
from xtalviewer.labels import LabelScheme
from xtalviewer.settings import Settings
from xtalviewer.store.db import now_iso
from xtalviewer.store.rows import Hit
from xtalviewer.store.store import Store
from xtalviewer.gui import theme
from xtalviewer.gui.tasks import TaskRunner, TaskState

COLUMNS = ("#", "Plate", "Latest inspection", "Well", "Drop", "Crystal", "Best", "Hit now", "First hit", "Label",
           "Condition")
ANY_PLATE = "(all plates)"


@dataclass(frozen=True)
class FoundHits:
    """What the window shows: the hit list, the rule that made it, and the plates to choose from."""

    rows: list[Hit]
    rule: str
    plates: list[str]
    fresh: frozenset[int] = field(default_factory=frozenset)  # image ids new since the last look


def take_last_look(settings: Settings) -> str | None:
    """The annotator's previous look at the hit list (None: never), and now recorded as their
    latest (the caller saves the settings)."""
    looks = dict(settings.hits_last_look)
    previous = looks.get(settings.annotator)
    previous = previous if isinstance(previous, str) else None  # a hand-edited file: never looked
    looks[settings.annotator] = now_iso()
    settings.hits_last_look = looks
    return previous


def look_text(last_look: str | None) -> str:
    """When the last look was, as a person reads it: "10:42" today, else "Tue 3 Mar 10:42"."""
    if last_look is None:
        return "your first look: every new hit"
    try:
        when = datetime.fromisoformat(last_look).astimezone()
    except (TypeError, ValueError):
        return last_look
    return f"{when:%H:%M}" if when.date() == datetime.now().astimezone().date() else f"{when:%a %d %b %H:%M}"


def read_hits(state: TaskState, db: Path, plate: str | None, new_only: bool, last_look: str | None = None,
              since_look_only: bool = False) -> FoundHits:
    """The hit list and its rule, on a task's thread with its own connection, with the drops new
    since ``last_look`` (all of them when ``since_look_only``)."""
    with Store(db, create=False) as store:
        model = current_model(store, register=False)
        if model is None:
            return FoundHits([], "No model is active: there are no hits to rank.", store.barcodes())
        fresh_rows = store.hit_list(model.id, plate=plate, new_only=True, scored_after=last_look or "")
        fresh = frozenset(r.image_id for r in fresh_rows)
        rows = fresh_rows if since_look_only else store.hit_list(model.id, plate=plate, new_only=new_only)
        return FoundHits(rows, hit_rule(model, store.operating_point(model.id)), store.barcodes(), fresh)


class HitTableModel(QAbstractTableModel):
    def __init__(self, scheme: LabelScheme, parent=None):
        super().__init__(parent)
        self.scheme = scheme
        self.rows: list[Hit] = []
        self.fresh: frozenset[int] = frozenset()
        self._bold = QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: list[Hit], fresh: frozenset[int] = frozenset()) -> None:
        self.beginResetModel()
        self.rows, self.fresh = rows, fresh
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def text(self, r: Hit, n: int, column: int) -> str:
        values = (f"new {n + 1}" if r.image_id in self.fresh else str(n + 1), r.plate, (r.imaged_at or "")[:16].replace("T", " "), r.well, str(r.drop),
                  pct(r.crystal_prob), pct(r.best_crystal_prob), "yes" if r.hit else "no",
                  (r.first_hit_at or "")[:16].replace("T", " "),
                  self.scheme.get(r.label).name if r.label else "",
                  (r.condition or "") + (f"  (pH {r.ph:g})" if r.ph is not None else ""))
        return values[column]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(r, index.row(), index.column())
        if role == Qt.ItemDataRole.ForegroundRole and index.column() in (5, 7):
            return QColor(theme.ERROR_TEXT if r.hit else theme.MUTED)
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 0 and r.image_id in self.fresh:
            return QColor(theme.BEST)
        if role == Qt.ItemDataRole.FontRole and r.image_id in self.fresh:
            return self._bold
        if role == Qt.ItemDataRole.BackgroundRole and r.image_id in self.fresh:
            return QColor(theme.BEST_ROW)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (0, 4, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            condition = f"\ncondition: {r.condition}" if r.condition else "\nno screen condition for this well"
            fresh = "\nnew since your last look at the hit list" if r.image_id in self.fresh else ""
            return f"{r.image_path}\nfirst a hit at inspection {r.first_hit_inspection or '–'}{condition}{fresh}"
        return None


class HitTable(QTableView):
    open_row = Signal(int)  # Enter on a row

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.open_row.emit(self.currentIndex().row())
            return
        super().keyPressEvent(event)


class HitListDialog(QDialog):
    drop_chosen = Signal(int)  # image id to open in the review window
    loaded = Signal()

    def __init__(self, db_path: Path, scheme: LabelScheme, parent=None, *, last_look: str | None = None,
                 new_since_look: bool = False):
        """``last_look``: when this reviewer last opened the hit list (``take_last_look``; None: never);
        ``new_since_look``: open with only the drops new since then."""
        super().__init__(parent)
        self.db_path = location_of(db_path)
        self.last_look = last_look
        self.setWindowTitle("xtalviewer: hit list")
        self.setModal(False)
        self.rule = QLabel("Loading…")
        self.rule.setWordWrap(True)
        self.rule.setStyleSheet(f"color: {theme.MUTED};")
        self.plate = QComboBox()
        self.plate.addItem(ANY_PLATE)
        self.since_look = QCheckBox(f"&New since your last look ({look_text(last_look)})")
        self.since_look.setToolTip("Drops that became a hit at their latest inspection, scored after you last "
                                   "opened the hit list (marked 'new' in every view)")
        self.since_look.setChecked(new_since_look)
        self.new_only = QCheckBox("&First a hit at the latest inspection")
        export = QPushButton("&Export CSV…")
        export.setAutoDefault(False)
        export.clicked.connect(self.export)
        bar = QHBoxLayout()
        for w in (QLabel("Plate"), self.plate, self.since_look, self.new_only):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(export)
        self.model = HitTableModel(scheme, self)
        self.table = HitTable()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.open_row.connect(self._open)
        self.table.doubleClicked.connect(lambda index: self._open(index.row()))
        self.count = QLabel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.rule)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)
        self.task = TaskRunner(self)
        self.plate.currentIndexChanged.connect(lambda *_: self.reload())
        self.new_only.toggled.connect(lambda *_: self.reload())
        self.since_look.toggled.connect(lambda *_: self.reload())
        self.resize(980, 620)
        self.reload()

    def reload(self) -> None:
        plate = self.plate.currentText()
        self.new_only.setEnabled(not self.since_look.isChecked())  # new since the look are first hits there
        self.task.start(read_hits, self.db_path, None if plate in ("", ANY_PLATE) else plate, self.new_only.isChecked(),
                        self.last_look, self.since_look.isChecked(), on_done=self._show, on_failed=lambda e: self.rule.setText(f"Could not read the hit list: {e}"))

    def _show(self, found: FoundHits) -> None:
        self.rule.setText(found.rule)
        chosen = self.plate.currentText()
        self.plate.blockSignals(True)
        self.plate.clear()
        self.plate.addItems([ANY_PLATE, *found.plates])
        self.plate.setCurrentText(chosen or ANY_PLATE)
        self.plate.blockSignals(False)
        self.model.set_rows(found.rows, found.fresh)
        n = len(found.rows)
        hits = sum(1 for r in found.rows if r.hit)
        fresh = len(found.fresh)
        self.count.setText(f"{n} drop{'s' * (n != 1)}, {hits} a hit at their latest inspection; {fresh} new since "
                           "your last look. Enter (or a double click) opens the drop in its plate.")
        if n:
            self.table.selectRow(0)
        self.table.setFocus()
        self.loaded.emit()

    def _open(self, row: int) -> None:
        if 0 <= row < len(self.model.rows):
            self.drop_chosen.emit(self.model.rows[row].image_id)

    def export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the hit list", "hits.csv", "CSV files (*.csv)")
        if path:
            rows = list(self.model.rows)
            self.task.start(lambda state: write_hits_csv(path, rows),
                            on_done=lambda n: self.count.setText(f"Wrote {n} drops to {path}"),
                            on_failed=lambda e: self.count.setText(f"Not written: {e}"))
