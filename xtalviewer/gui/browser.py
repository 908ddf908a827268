"""Plates and their inspections with the counts a reviewer plans by: drops, reviewed, crystal
labels, drops with a crystal in the model's top 3."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel

from xtalviewer.core.labels import LabelScheme

INSPECTION_ROLE = Qt.ItemDataRole.UserRole + 1
PLATE_ROW = -1
HEADERS = ("Plate / inspection", "Drops", "Done", "Xtal", "Hits")
HEADER_TIPS = ("Plate barcode, then each inspection's imaging time", "Drop images",
               "Drops with a label (reviewed)", "Drops labelled as a crystal class",
               "Predicted hits: drops the active model gives a crystal probability of 50% or more")


class PlateBrowserModel(QStandardItemModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHorizontalHeaderLabels(list(HEADERS))
        for i, tip in enumerate(HEADER_TIPS):
            self.horizontalHeaderItem(i).setToolTip(tip)
        self._items: dict[int, list[QStandardItem]] = {}
        self._order: list[int] = []
        self._plates: dict[int, list[QStandardItem]] = {}
        self._rows: dict[int, dict] = {}

    def set_rows(self, rows: list[dict], scheme: LabelScheme) -> None:
        self.removeRows(0, self.rowCount())
        self._items, self._order, self._plates, self._rows = {}, [], {}, {}
        for r in rows:
            if r["plate_id"] not in self._plates:
                plate = [QStandardItem(r["barcode"])] + [QStandardItem() for _ in HEADERS[1:]]
                for it in plate:
                    it.setEditable(False)
                    it.setData(PLATE_ROW, INSPECTION_ROLE)  # never None: reading None back leaks in PySide6 6.12
                plate[0].setData(QColor("#e5e7eb"), Qt.ItemDataRole.ForegroundRole)
                self.appendRow(plate)
                self._plates[r["plate_id"]] = plate
            when = (r["imaged_at"] or "")[:16].replace("T", " ")
            label = when + (f"  {r['profile']}" if r.get("profile") and r["profile"] != "visible" else "")
            items = [QStandardItem(label)] + [QStandardItem() for _ in HEADERS[1:]]
            for it in items:
                it.setEditable(False)
                it.setData(r["id"], INSPECTION_ROLE)
            items[0].setToolTip(f"{r['key']}\n{r['imager'] or ''}")
            self._plates[r["plate_id"]][0].appendRow(items)
            self._items[r["id"]] = items
            self._order.append(r["id"])
            self._rows[r["id"]] = dict(r)
            self._fill(r["id"])
        for plate_id in self._plates:
            self._fill_plate(plate_id)

    def _fill(self, inspection_id: int) -> None:
        r, items = self._rows[inspection_id], self._items[inspection_id]
        items[1].setText(str(r["images"] or 0))
        items[2].setText(f"{r['labelled'] or 0}")
        items[3].setText(str(r["crystal_labels"] or 0))
        items[4].setText(str(r["predicted_hits"] or 0) if r["predicted"] else "–")
        done = (r["labelled"] or 0) >= (r["images"] or 0) > 0
        items[2].setData(QColor("#81c784") if done else None, Qt.ItemDataRole.ForegroundRole)

    def _fill_plate(self, plate_id: int) -> None:
        rows = [r for r in self._rows.values() if r["plate_id"] == plate_id]
        items = self._plates[plate_id]
        items[1].setText(str(sum(r["images"] or 0 for r in rows)))
        items[2].setText(str(sum(r["labelled"] or 0 for r in rows)))
        items[3].setText(str(sum(r["crystal_labels"] or 0 for r in rows)))
        items[4].setText(str(sum(r["predicted_hits"] or 0 for r in rows)))

    def set_counts(self, inspection_id: int, **counts) -> None:
        if inspection_id in self._rows:
            self._rows[inspection_id].update(counts)
            self._fill(inspection_id)
            self._fill_plate(self._rows[inspection_id]["plate_id"])

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
