"""What the store returns: one dataclass per kind of row, so a reader learns what a row holds here
rather than from the SQL. Field names are the column names (or the SQL aliases) the queries
select, in the order they select them, so a query builds its rows with ``Row(*values)``.

Rows are values: code that has a newer state makes a new row (``dataclasses.replace``, as the review
session does when a label is written) rather than changing one. They are not declared frozen
because a frozen dataclass sets each field through ``object.__setattr__``: building a plate's
review queue (768 rows of 23 fields) took 7 ms that way against 0.4 ms with plain slots.

Counts that SQL sums over no rows come back as None, as SQLite gives them (callers write ``or 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xtalviewer.crystal_call import OperatingPoint


# -- plates and inspections -----------------------------------------------------------------------------


@dataclass(slots=True)
class Plate:
    """One plate: its barcode and type (rows × cols × drops), grown when an inspection showed more."""

    id: int
    barcode: str
    rows: int
    cols: int
    drops: int
    created_at: str
    meta: str | None


@dataclass(slots=True)
class Inspection:
    """One imaging of a plate (``key`` names it on the plate), with the plate's barcode and type."""

    id: int
    plate_id: int
    key: str
    imaged_at: str | None
    imager: str | None
    profile: str | None
    layout: str
    folder: str | None
    meta: str | None  # JSON of what the importer found beside the images
    barcode: str
    rows: int
    cols: int
    drops: int


@dataclass(slots=True)
class PlateSummary:
    """A plate's counts for the browser and ``stats``: drops (visible images), labels, the model's calls."""

    id: int
    barcode: str
    rows: int
    cols: int
    drops: int
    inspections: int
    other_mode_images: int  # UV, SHG ... images beside the visible drops
    images: int
    labelled: int | None
    crystal_labels: int | None
    unreadable: int | None
    predicted_hits: int | None  # crystal probability at the model's operating point
    crystal_top3: int | None
    predicted: int


@dataclass(slots=True)
class InspectionSummary:
    """An inspection's counts for the plate browser, with what names it."""

    id: int
    plate_id: int
    barcode: str
    key: str
    imaged_at: str | None
    imager: str | None
    profile: str | None
    other_modes: str | None  # comma-separated imaging modes besides the visible one
    images: int
    labelled: int | None
    crystal_labels: int | None
    unreadable: int | None
    predicted_hits: int | None
    crystal_top3: int | None
    predicted: int


# -- images -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Image:
    """One drop image as stored: where it is on the plate, its file, and its current label."""

    id: int
    inspection_id: int
    plate_id: int
    well: str
    row: int
    col: int
    drop_no: int
    mode: str  # imaging mode: visible, uv, shg ...
    path: str
    size: int | None
    mtime: float | None
    width: int | None
    height: int | None
    load_error: str | None  # why the file cannot be decoded; None when it can
    label: str | None  # the newest annotation's label
    annotation_id: int | None


@dataclass(slots=True)
class CourseImage(Image):
    """A drop image at one inspection of its time course, with the label that inspection shows:
    its own, or (``inherited``) one carried from an earlier inspection."""

    imaged_at: str | None = None
    inspection_key: str | None = None
    profile: str | None = None
    shown_label: str | None = None
    inherited: bool = False


@dataclass(slots=True)
class PlateImage:
    """A readable drop image with its plate's barcode: what training needs to load and group it."""

    id: int
    path: str
    mtime: float | None
    label: str | None
    barcode: str
    well: str
    drop_no: int


@dataclass(slots=True)
class ImageRoot:
    """A named image root of the store (``files.image_roots``): the folder it was defined under, how
    many images are stored below it, and where it is on this workstation."""

    id: int
    name: str
    prefix: str  # the folder it was defined under, on the workstation that defined it
    created_at: str
    images: int = 0
    folder: str | None = None  # its folder on this workstation; None: not mapped here
    mapped: str | None = None  # 'settings', 'as defined' (found where it was defined) or None


@dataclass(slots=True)
class QueueRow:
    """One drop of the review queue: the image and, once the model scored it, its top 3 and crystal call."""

    id: int
    plate_id: int
    inspection_id: int
    well: str
    row: int
    col: int
    drop_no: int
    mode: str
    path: str
    label: str | None
    load_error: str | None
    prediction_id: int | None = None
    top1: str | None = None
    p1: float | None = None
    top2: str | None = None
    p2: float | None = None
    top3: str | None = None
    p3: float | None = None
    crystal_prob: float | None = None
    margin: float | None = None
    entropy: float | None = None
    crystal_top3: int | None = None  # 1 when a crystal class is among the three most likely
    best_prob: float | None = None  # the drop's best over its inspections (orders 'best' and 'disputed')

    def top(self) -> list[tuple[str, float]]:
        """The model's top 3 as (class key, probability), most likely first; empty when not scored."""
        return [(k, p) for k, p in ((self.top1, self.p1), (self.top2, self.p2), (self.top3, self.p3)) if k]

    def shown_prediction(self) -> list[list] | None:
        """[[key, probability], ...] of the top 3 as the reviewer saw it (what an annotation records)."""
        return [[k, round(p, 4)] for k, p in self.top()] or None


# -- labels and second looks ----------------------------------------------------------------------------


@dataclass(slots=True)
class Annotation:
    """One label event of the append-only history (None as label clears it), with what was on screen."""

    id: int
    image_id: int
    label: str | None
    annotator: str
    created_at: str
    source: str  # human, accepted-prediction or import
    prediction_id: int | None
    shown: Any  # the top 3 shown, decoded from JSON: [[key, probability], ...] or None
    lead_ms: int | None
    reverts: int | None  # the annotation an undo or redo put back


@dataclass(slots=True)
class Flag:
    """One second-look event: the drop marked as needing a second look (``flagged``) or the mark cleared."""

    id: int
    image_id: int
    flagged: bool
    note: str | None
    annotator: str
    created_at: str


@dataclass(slots=True)
class AnnotatorSummary:
    """One annotator's labels on an inspection: given, still current, the latest one's time."""

    annotator: str
    given: int
    current: int | None
    last_at: str | None


# -- models and predictions ------------------------------------------------------------------------------


@dataclass(slots=True)
class Model:
    """A registered checkpoint, its JSON columns decoded; ``id`` is None for a checkpoint file used
    without registering it."""

    id: int | None
    name: str
    arch: str
    scheme: str | None
    classes: list[str] | None
    input_size: int
    normalization: dict | None  # the preprocessing (crop, mean, std ...) it was trained with
    run_id: str | None
    metrics: dict | None
    path: str
    sha256: str | None
    active: bool
    created_at: str | None
    operating_point: OperatingPoint
    mode: str = "visible"  # the imaging mode whose images it scores


@dataclass(slots=True)
class Prediction:
    """One model's answer for one image: the full probability vector and what the queue orders by."""

    id: int
    image_id: int
    model_id: int
    probs: list[float]  # in scheme order
    top1: str
    p1: float
    top2: str | None
    p2: float | None
    top3: str | None
    p3: float | None
    crystal_prob: float
    margin: float
    entropy: float
    crystal_top3: int
    image_size: int | None  # the file as it was scored: a changed file is scored again
    image_mtime: float | None
    created_at: str


# -- hits -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class HitCounts:
    """A model's crystal calls over a plate or all: scored drops, hits, drops with a crystal in the top 3."""

    scored: int
    hits: int
    crystal_top3: int


@dataclass(slots=True)
class EverHitCounts:
    """For the plate browser: drops that were a hit at any inspection, per plate; drops first a hit
    at an inspection, per inspection."""

    plates: dict[int, int]
    first_hits: dict[int, int]


@dataclass(slots=True)
class BestOverTime:
    """The drop's best crystal probability over its inspections and its first hit (None: never a hit)."""

    best: float
    first_hit_inspection: int | None
    first_hit_at: str | None


@dataclass(slots=True)
class Hit:
    """One drop of the cross-plate hit list, at its latest inspection: a hit now or at an earlier one."""

    image_id: int
    inspection_id: int
    plate: str  # barcode
    inspection: str  # the inspection's key
    imaged_at: str | None
    well: str
    drop: int
    image_path: str
    label: str | None
    crystal_prob: float | None  # at this inspection (None: not scored)
    crystal_top3: bool | None
    hit: bool  # a hit at this inspection
    best_crystal_prob: float  # the best over all its inspections
    first_hit_inspection: str | None  # the key of the inspection where it was first a hit
    first_hit_at: str | None  # when that inspection was imaged
    condition: str | None = None  # the well's screen condition, as people read it (None: no screen)
    ph: float | None = None  # that condition's pH


# -- what leaves the store ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ExportRow:
    """One image as the export CSV writes it: where it is, its label and who gave it, the model's top 3."""

    plate: str
    inspection: str
    imaged_at: str | None
    well: str
    drop: int
    image_path: str
    label: str | None
    annotator: str | None
    labelled_at: str | None
    pred1: str | None
    p1: float | None
    pred2: str | None
    p2: float | None
    pred3: str | None
    p3: float | None
    crystal_prob: float | None
    prediction_id: int | None
    mode: str  # imaging mode: a UV image has the visible one's plate, inspection, well and drop
    condition: str | None = None  # the well's screen condition (None: the plate has no screen)
    ph: float | None = None  # that condition's pH


@dataclass(slots=True)
class ReportDrop:
    """One drop of a plate report: the image, the model's answer, and who gave its current label."""

    id: int
    well: str
    row: int
    col: int
    drop_no: int
    path: str
    size: int | None
    mtime: float | None
    label: str | None
    load_error: str | None
    prediction_id: int | None
    top1: str | None
    p1: float | None
    top2: str | None
    p2: float | None
    top3: str | None
    p3: float | None
    crystal_prob: float | None
    crystal_top3: int | None
    annotator: str | None  # of the current label
    created_at: str | None  # when the current label was given
    source: str | None
    condition: str | None = None  # the well's screen condition (None: the plate has no screen)
    ph: float | None = None  # that condition's pH
