"""Plots…: the store at a glance. Label counts per plate, how well the active model agrees with the
reviewers, one inspection's crystal probabilities and hits laid out as the plate, Cohen's kappa
between reviewers and between the model and each reviewer, and which chemistry crystallises.

Each tab reads its numbers from ``xtalviewer.report.plots`` as a background task with its own
database connection, so a store of half a million images never blocks the review window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QTabWidget, QVBoxLayout

from xtalviewer.store.location import location_of
from xtalviewer.model.registry import current_model
from xtalviewer.report import plots as plotdata
from xtalviewer.store.store import Store
from xtalviewer.gui.plots.agreement_tab import AgreementTab
from xtalviewer.gui.plots.conditions_tab import ConditionsTab
from xtalviewer.gui.plots.crystal_map_tab import CrystalMapTab
from xtalviewer.gui.plots.label_counts_tab import LabelCountsTab
from xtalviewer.gui.plots.style import bar_lengths
from xtalviewer.gui.plots.tab import PlotTab
from xtalviewer.gui.plots.reviewers_tab import ReviewersTab

__all__ = ["PlotsDialog", "bar_lengths"]


class PlotsDialog(QDialog):
    """Non-modal: it stays open beside the review window; Refresh re-reads the store.

    ``inspection_id`` (the inspection on screen in the review window) is the one the crystal map
    shows first; without it the map shows the latest inspection of the first plate.
    """

    drop_clicked = Signal(int)  # image id of a drop clicked on the crystal map
    condition_chosen = Signal(dict)  # filter changes from a Conditions bar: {"component": ...} or {"ph_range": ...}

    def __init__(self, db_path: Path, parent=None, inspection_id: int | None = None):
        super().__init__(parent)
        self.db_path = location_of(db_path)
        self.setWindowTitle("Plots")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        with Store(self.db_path, create=False) as store:
            self.scheme = store.scheme
            self.model = current_model(store, register=False)
            choices = plotdata.inspection_choices(store)

        self.counts = LabelCountsTab(self.db_path, self.scheme)
        self.agreement = AgreementTab(self.db_path, self.scheme, self.model)
        self.crystal_map = CrystalMapTab(self.db_path, self.scheme, self.model, choices, inspection_id)
        self.crystal_map.drop_clicked.connect(self.drop_clicked)
        self.reviewers = ReviewersTab(self.db_path, self.scheme, self.model)
        self.conditions = ConditionsTab(self.db_path, self.model)
        self.conditions.condition_chosen.connect(self.condition_chosen)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.counts, "&Labels per plate")
        self.tabs.addTab(self.agreement, "&Model vs reviewers")
        self.tabs.addTab(self.crystal_map, "&Crystal probability map")
        self.tabs.addTab(self.reviewers, "Re&viewers' agreement")
        self.tabs.addTab(self.conditions, "C&onditions")

        refresh = QPushButton("&Refresh")
        refresh.setToolTip("Read the database again (new labels, predictions, plates)")
        refresh.setAutoDefault(False)
        refresh.clicked.connect(self.refresh)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        buttons.addButton(refresh, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.resize(1120, 760)
        for tab in self.all_tabs():
            tab.reload()

    def all_tabs(self) -> tuple[PlotTab, ...]:
        return self.counts, self.agreement, self.crystal_map, self.reviewers, self.conditions

    def refresh(self) -> None:
        """Re-read the active model and the inspections, then every tab."""
        with Store(self.db_path, create=False) as store:
            self.model = current_model(store, register=False)
            choices = plotdata.inspection_choices(store)
        self.agreement.set_model(self.model)
        self.reviewers.set_model(self.model)
        self.conditions.set_model(self.model)
        self.crystal_map.model = self.model
        self.crystal_map.set_choices(choices, self.crystal_map.inspection_id())
        for tab in self.all_tabs():
            tab.reload()
