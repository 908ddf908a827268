"""What the image view's crop box shows: the region the active model sees of a drop image.

The box is found with the active model's own crop setting (model/crop.py), so a reviewer can check
that the model looks at the drop; a model that takes the whole frame (or no model) shows the drop
finder's box instead, and the caption says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xtalviewer.model.crop import CropBox, find_crop

WELL_NAMES = {"round": "round well", "square": "square well"}


@dataclass(frozen=True)
class ShownCrop:
    """A crop box in pixels of the image it was found on, and a one-line caption for it."""

    x0: int
    y0: int
    x1: int
    y1: int
    caption: str
    fallback: bool  # nothing was found: the box is the whole frame


def crop_setting(normalization: dict | None) -> tuple[str, float, bool]:
    """(crop mode, margin, whether it is the model's own) for a registry row's ``normalization``."""
    crop = (normalization or {}).get("crop", "none")
    margin = float((normalization or {}).get("crop_margin", 0.06))
    if crop in ("well", "drop"):
        return crop, margin, True
    return "drop", 0.06, False


def shown_crop(rgb: np.ndarray, normalization: dict | None) -> ShownCrop:
    """The crop box of ``rgb`` (H x W x 3 or H x W) as the model with ``normalization`` would crop it."""
    mode, margin, own = crop_setting(normalization)
    box: CropBox = find_crop(rgb, mode, margin)
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box.pixels(w, h)
    where = WELL_NAMES.get(box.well or "", "no well recognised")
    if box.found == "frame":
        what = f"whole frame: no {mode} found ({where})"
    else:
        what = f"{box.found} crop ({where})"
    if own:
        caption = f"model input: {what}"
    else:
        caption = f"{what}; " + ("no active model" if normalization is None else "the active model sees the whole frame")
    return ShownCrop(x0, y0, x1, y1, caption, box.found == "frame")
