import dataclasses

import numpy as np
import pytest

from xtalviewer.model.crop_box import crop_setting, shown_crop
from xtalviewer.synthetic.renderer import random_geometry, render_drop


def drop_image(seed: int = 3) -> np.ndarray:
    """A round well with a small drop: its crop box is a part of the frame."""
    g = dataclasses.replace(random_geometry(np.random.default_rng(seed)), well_round=True, well_center=(0.5, 0.5),
                            well_radius=0.42, drop_center=(0.45, 0.55), drop_radius=0.16)
    return render_drop("crystals_3d", g, seed, size=(612, 512))


def test_the_models_own_crop_is_shown_in_pixels_of_the_image():
    rgb = drop_image()
    crop = shown_crop(rgb, {"crop": "drop", "crop_margin": 0.06})
    h, w = rgb.shape[:2]
    assert 0 <= crop.x0 < crop.x1 <= w and 0 <= crop.y0 < crop.y1 <= h
    assert not crop.fallback and crop.caption.startswith("model input: drop crop")
    assert (crop.x1 - crop.x0) * (crop.y1 - crop.y0) < 0.8 * w * h  # a part of the frame, not all of it


def test_a_whole_frame_model_shows_the_drop_finder_and_says_so():
    assert crop_setting({"crop": "none"}) == ("drop", 0.06, False)
    assert crop_setting(None) == ("drop", 0.06, False)
    assert crop_setting({"crop": "well", "crop_margin": 0.1}) == ("well", 0.1, True)
    crop = shown_crop(drop_image(), {"crop": "none"})
    assert crop.caption.endswith("the active model sees the whole frame")
    assert shown_crop(drop_image(), None).caption.endswith("no active model")


@pytest.mark.parametrize("normalization", [{"crop": "drop"}, None])
def test_a_blank_frame_falls_back_to_the_whole_frame(normalization):
    blank = np.full((400, 480, 3), 128, np.uint8)
    crop = shown_crop(blank, normalization)
    assert crop.fallback and (crop.x0, crop.y0, crop.x1, crop.y1) == (0, 0, 480, 400)
    assert "whole frame: no drop found" in crop.caption
