"""The status bar's permanent fields: who labels, on which device, with which model and hit rule,
and the progress of live scoring."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.store.rows import Model
from xtalviewer.gui.theme import model_caption


class StatusLabels:
    def __init__(self, bar: QStatusBar):
        self.annotator, self.device, self.model = QLabel(), QLabel(), QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        for w in (self.annotator, self.device, self.model, self.progress):
            bar.addPermanentWidget(w)

    def show(self, annotator: str, device: str, model: Model | None, op: OperatingPoint) -> None:
        from xtalviewer.model.inference import describe_device, select_device

        try:
            described = describe_device(select_device(device))
        except Exception as exc:  # a GPU asked for and missing: say so, keep going
            described = f"{device} unavailable ({exc})"
        self.annotator.setText(f"Annotator: {annotator}")
        self.device.setText(f"Device: {described}")
        self.model.setText(model_caption(model, op))
        self.model.setToolTip(op.describe() if model else "No model is active: Model > Retrain… trains one")

    def scoring(self, done: int, total: int) -> None:
        self.progress.show()
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.progress.setFormat(f"scoring {done}/{total}")

    def idle(self) -> None:
        self.progress.hide()
