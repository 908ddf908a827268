"""The records the store takes in: one drop image as an importer found it, one model's prediction
for one image. Plain data, so importers and scoring need no database to build them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
