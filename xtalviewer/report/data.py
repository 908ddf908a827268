"""What a plate report shows, read from the store: the plate, one inspection, its drops with labels
and predictions, who labelled, the model and its crystal call (``xtalviewer.report.html`` renders it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from xtalviewer.crystal_call import OperatingPoint, is_hit
from xtalviewer.labels import LabelScheme
from xtalviewer.plates import PlateType
from xtalviewer.store.rows import AnnotatorSummary, Inspection, Model, Plate, ReportDrop
from xtalviewer.store.store import Store


class ReportError(ValueError):
    """A report that cannot be made as asked (unknown plate or inspection, unwritable target)."""


# -- gathering --------------------------------------------------------------------------------------


@dataclass
class ReportData:
    """Everything the report shows, read from the store in one go."""

    plate: Plate
    inspection: Inspection
    inspections: list[Inspection]
    scheme: LabelScheme
    model: Model | None
    drops: list[ReportDrop]
    annotators: list[AnnotatorSummary]
    generated_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    screen: str | None = None  # the plate's crystallization screen (each drop carries its well's condition)

    @property
    def operating_point(self) -> OperatingPoint:
        return self.model.operating_point if self.model else OperatingPoint()

    @property
    def plate_type(self) -> PlateType:
        return PlateType(self.plate.rows, self.plate.cols, self.plate.drops)


def pick_inspection(inspections: list[Inspection], key: str | None) -> Inspection:
    """The inspection named by ``key`` (or by an unambiguous imaging date); the latest without one."""
    if not inspections:
        raise ReportError("the plate has no inspections")
    if key is None:
        return inspections[-1]
    for insp in inspections:
        if insp.key == key:
            return insp
    by_date = [i for i in inspections if (i.imaged_at or "").startswith(key)]
    if len(by_date) == 1:
        return by_date[0]
    known = ", ".join(i.key for i in inspections)
    raise ReportError(f"no inspection '{key}' on this plate (inspections: {known})")


def collect(store: Store, barcode: str, inspection_key: str | None = None) -> ReportData:
    """Read the plate, the chosen inspection, its drops with labels and predictions, and the model."""
    plate = store.plate_by_barcode(barcode)
    if plate is None:
        raise ReportError(f"no plate '{barcode}' in {store.location}")
    inspections = store.inspections(plate.id)
    inspection = pick_inspection(inspections, inspection_key)
    from xtalviewer.model.registry import current_model  # torch only when a model must be found

    model = current_model(store)
    drops = store.report_drops(model.id if model else None, inspection.id)
    screen = store.plate_screen(plate.id)
    return ReportData(plate, inspection, inspections, store.scheme, model, drops,
                      store.annotator_summary(inspection.id), screen=screen.screen if screen else None)


def hits(data: ReportData) -> list[ReportDrop]:
    """Drops labelled as a crystal or that the model calls a hit (crystal probability at its operating
    point), most probable first. Drops the model has not scored come last, in plate order.
    """
    crystal = data.scheme.crystal_keys
    threshold = data.operating_point.threshold
    chosen = [d for d in data.drops if d.label in crystal or is_hit(d.crystal_prob, threshold)]
    return sorted(chosen, key=lambda d: (d.crystal_prob is None, -(d.crystal_prob or 0.0), d.row, d.col, d.drop_no))


def label_counts(data: ReportData) -> dict[str | None, int]:
    """Current labels of the inspection's drops, in scheme order, None for unlabelled."""
    counts: dict[str | None, int] = {c.key: 0 for c in data.scheme.classes}
    counts[None] = 0
    for d in data.drops:
        counts[d.label if d.label in counts else None] += 1
    return counts
