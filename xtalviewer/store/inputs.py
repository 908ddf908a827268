"""What the store takes in: one drop image as an importer found it, one model's prediction for one
image, one label to append. Plain data, so importers, scoring and the review session need no
database to build them (``rows`` holds what the store gives back)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageRow:
    """What the importers hand the store for one drop image."""

    inspection_id: int
    plate_id: int
    well: str
    row: int
    col: int
    drop_no: int
    path: str
    size: int | None
    mtime: float | None
    width: int | None
    height: int | None
    load_error: str | None = None
    mode: str = "visible"  # the imaging mode (schema.MODES): visible, UV, SHG ...


@dataclass(frozen=True)
class PredictionRow:
    """One model's output for one image: the full probability vector in scheme order."""

    image_id: int
    probs: Sequence[float]
    image_size: int | None = None
    image_mtime: float | None = None


@dataclass(frozen=True, slots=True)
class AnnotationRow:
    """One label to append to an image's history; None as ``label`` clears the image's label.
    ``shown`` is what the model showed (the top 3), ``lead_ms`` how long the drop was on screen,
    ``reverts`` the annotation an undo or redo puts back; ``created_at`` defaults to now."""

    image_id: int
    label: str | None
    annotator: str
    source: str = "human"  # human, accepted-prediction or import (annotations.SOURCES)
    prediction_id: int | None = None
    shown: Any = None
    lead_ms: int | None = None
    reverts: int | None = None
    created_at: str | None = None


@dataclass(frozen=True, slots=True)
class ComponentRow:
    """One chemical of a screen condition: its name, concentration with unit, and pH where given."""

    chemical: str
    concentration: float | None = None
    unit: str | None = None
    ph: float | None = None


@dataclass(frozen=True, slots=True)
class ConditionRow:
    """One condition of a screen at its position (1..N, row-major) and well (``row``, ``col``);
    ``description`` is the condition as people read it, ``code`` the screen's own name for it."""

    position: int
    row: int
    col: int
    description: str
    code: str | None = None
    ph: float | None = None
    components: tuple[ComponentRow, ...] = ()


@dataclass(frozen=True, slots=True)
class ScreenInput:
    """A whole screen as a screen file gave it: a name, the plate it is laid out on (``rows`` x
    ``cols``), its conditions, and where it came from (a file name, or how it was made)."""

    name: str
    rows: int
    cols: int
    conditions: tuple[ConditionRow, ...]
    source: str | None = None
