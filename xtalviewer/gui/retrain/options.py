"""The Retrain dialog's options: which architectures, epochs, image size, batch size, device, how
the weights start (the current model, ImageNet, scratch) and the crystal recall the operating point
is chosen for. Epochs and image size start at "auto": the trainer's recipe decides (a shorter
schedule when continuing, the continued model's input size). Says in words why Start cannot run."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QSpinBox)

from xtalviewer.crystal_call import DEFAULT_TARGET_RECALL
from xtalviewer.model.inference import DEVICES, DeviceError, describe_device, select_device
from xtalviewer.model.architectures import ARCHITECTURES, FAMILIES
from xtalviewer.store.rows import Model
from xtalviewer.gui import theme
from xtalviewer.gui.retrain.trainer_process import INITS

ARCH_CHOICES = (("resnet", "&ResNet"), ("inception", "&Inception v3"), ("vgg", "&VGG"), ("alexnet", "Ale&xNet"))
AUTO = 0  # the spin boxes' "auto": leave it to the trainer's recipe


class RetrainOptions(QGroupBox):
    changed = Signal()

    def __init__(self, device: str, active_model: Model | None, parent=None):
        super().__init__("Training options", parent)
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Architectures:"), 0, 0)
        archs = QHBoxLayout()
        self.arch_boxes: dict[str, QCheckBox] = {}
        for key, text in ARCH_CHOICES:
            box = QCheckBox(text)
            box.setChecked(True)
            box.setToolTip(f"{FAMILIES[key]}, at least {ARCHITECTURES[FAMILIES[key]][1]} px")
            box.toggled.connect(self.changed)
            archs.addWidget(box)
            self.arch_boxes[key] = box
        archs.addStretch(1)
        grid.addLayout(archs, 0, 1, 1, 7)

        self.epochs_box = self._spin(AUTO, 1000, AUTO, auto="auto")
        self.epochs_box.setToolTip("auto: the trainer's schedule, shorter when continuing from the current model")
        self.size_box = self._spin(AUTO, 1024, AUTO, " px", auto="auto")
        self.size_box.setSingleStep(16)
        self.size_box.setToolTip("auto: each architecture's size in the trainer's recipe for this device, or the "
                                 "continued model's")
        self.batch_box = self._spin(1, 1024, 32)
        self.device_box = QComboBox()
        self.device_box.addItems(list(DEVICES))
        device = (device or "auto").split(":")[0]  # the trainer takes "cuda", not "cuda:1"
        self.device_box.setCurrentText(device if device in DEVICES else "auto")
        self.device_box.currentTextChanged.connect(self._device_changed)
        for col, (text, box) in enumerate((("&Epochs:", self.epochs_box), ("Image si&ze:", self.size_box),
                                            ("&Batch size:", self.batch_box), ("&Device:", self.device_box))):
            self._pair(grid, 1, col, text, box)
        self.device_note = QLabel()
        grid.addWidget(self.device_note, 1, 8)
        grid.setColumnStretch(8, 1)

        self.init_box = QComboBox()
        for key, text in INITS:
            self.init_box.addItem(text, key)
        can_continue = active_model is not None
        self.init_box.model().item(0).setEnabled(can_continue)
        self.init_box.setCurrentIndex(0 if can_continue else 1)
        self.init_box.setToolTip(
            (f"Continue from {active_model.name} ({active_model.arch}): a shorter schedule at a lower "
             "learning rate, for new labels on top of a model that works. " if can_continue else
             "No active model of this database's label scheme to continue from. ")
            + "ImageNet weights come from torchvision's cache; without them the trainer says so and starts "
              "from scratch.")
        self.init_box.currentIndexChanged.connect(self.changed)
        self.recall_box = QDoubleSpinBox()
        self.recall_box.setRange(50.0, 100.0)
        self.recall_box.setDecimals(1)
        self.recall_box.setSingleStep(0.5)
        self.recall_box.setSuffix(" %")
        self.recall_box.setValue(100 * DEFAULT_TARGET_RECALL)
        self.recall_box.setToolTip("The crystal recall the hit threshold is chosen for on the validation split: "
                                   "higher catches more crystals and flags more drops for review")
        self._pair(grid, 2, 0, "Start &from:", self.init_box, span=3)
        self._pair(grid, 2, 2, "&Target crystal recall:", self.recall_box)

        self.hint = QLabel("Auto epochs and image size follow the trainer's recipe: a shorter schedule when "
                           "continuing, the continued model's image size, smaller images on a CPU. A size of your own "
                           "must be at "
                           f"least {ARCHITECTURES['inception_v3'][1]} px for Inception v3 and "
                           f"{ARCHITECTURES['alexnet'][1]} px for AlexNet.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {theme.MUTED};")
        grid.addWidget(self.hint, 3, 0, 1, 9)
        self.problem = QLabel()
        self.problem.setStyleSheet(f"color: {theme.ERROR_TEXT};")
        grid.addWidget(self.problem, 4, 0, 1, 9)
        self._device_problem: str | None = None
        self._describe_device()

    def _spin(self, lo: int, hi: int, value: int, suffix: str = "", auto: str = "") -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setValue(value)
        box.setSuffix(suffix)
        box.setSpecialValueText(auto)  # shown at the minimum, AUTO
        box.setAccelerated(True)
        box.valueChanged.connect(self.changed)
        return box

    @staticmethod
    def _pair(grid: QGridLayout, row: int, col: int, text: str, box, span: int = 1) -> None:
        label = QLabel(text)
        label.setBuddy(box)
        grid.addWidget(label, row, 2 * col)
        grid.addWidget(box, row, 2 * col + 1, 1, span)

    def selected_archs(self) -> list[str]:
        return [key for key, box in self.arch_boxes.items() if box.isChecked()]

    def init(self) -> str:
        return self.init_box.currentData()

    def crystal_recall(self) -> float:
        return round(self.recall_box.value() / 100, 4)

    def epochs(self) -> int | None:
        return self.epochs_box.value() or None

    def image_size(self) -> int | None:
        return self.size_box.value() or None

    def _device_changed(self, _name: str) -> None:
        self._describe_device()
        self.changed.emit()

    def _describe_device(self) -> None:
        try:
            self.device_note.setText("→ " + describe_device(select_device(self.device_box.currentText())))
            self.device_note.setStyleSheet(f"color: {theme.MUTED};")
            self._device_problem = None
        except DeviceError as exc:
            self.device_note.setText("not available here")
            self.device_note.setStyleSheet(f"color: {theme.ERROR_TEXT};")
            self._device_problem = str(exc)

    def problem_text(self) -> str | None:
        """Why Start cannot run with these options, in words; None when it can."""
        archs = self.selected_archs()
        if not archs:
            return "Choose at least one architecture."
        size = self.size_box.value()
        for key in archs if size != AUTO else ():
            variant = FAMILIES[key]
            if size < ARCHITECTURES[variant][1]:
                name = dict(ARCH_CHOICES)[key].replace("&", "")
                return f"{name} needs images of at least {ARCHITECTURES[variant][1]} px (now {size} px)."
        return self._device_problem

    def show_problem(self) -> str | None:
        problem = self.problem_text()
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))
        return problem
