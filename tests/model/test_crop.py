import dataclasses
import math

import cv2
import numpy as np
import pytest

from xtalviewer.model.crop import CROP_MODES, MIN_SHARE, CropBox, apply_crop, find_crop
from xtalviewer.synthetic.renderer import random_geometry, render_drop

W, H = 612, 512
WELL_RADIUS = 0.42


def geometry(seed: int, round_well: bool, drop_radius: float, offset: float = 0.0, angle: float = 0.0):
    """A centred well of known size holding a round drop of known size, ``offset`` (0..1) off centre."""
    g = random_geometry(np.random.default_rng(seed))
    slack = WELL_RADIUS - drop_radius - 0.04
    centre = (0.5 + offset * slack * math.cos(angle) * H / W, 0.5 + offset * slack * math.sin(angle))
    wanted = dict(well_round=round_well, well_center=(0.5, 0.5), well_radius=WELL_RADIUS,
                  drop_center=centre, drop_radius=drop_radius,
                  # Optional details, set when the generator has them: a circular drop outline and
                  # a square floor that sits wholly inside its wall.
                  drop_shape=tuple((0.0, 0.0) for _ in getattr(g, "drop_shape", ())), drop_tail=(0.0, 0.0, 0.2),
                  well_corner=0.3, wall_width=0.2)
    names = {f.name for f in dataclasses.fields(g)}
    return dataclasses.replace(g, **{k: v for k, v in wanted.items() if k in names})


def render(g, label="clear", seed=1, size=(W, H)):
    return render_drop(label, g, seed, size=size)


def drop_bounds(g):
    """The drop's extent in frame fractions (lengths in the geometry are fractions of the height)."""
    cx, cy = g.drop_center
    rx, ry = g.drop_radius * H / W, g.drop_radius
    return cx - rx, cy - ry, cx + rx, cy + ry


def area(box: CropBox) -> float:
    return (box.x1 - box.x0) * (box.y1 - box.y0)


def assert_valid(box: CropBox):
    assert 0.0 <= box.x0 < box.x1 <= 1.0 and 0.0 <= box.y0 < box.y1 <= 1.0
    assert box.found in ("drop", "well", "frame")
    assert box.well in ("round", "square", None)


def assert_covers(box: CropBox, bounds, slack=0.01):
    x0, y0, x1, y1 = bounds
    covered = box.x0 <= x0 + slack and box.y0 <= y0 + slack and box.x1 >= x1 - slack and box.y1 >= y1 - slack
    assert covered, (box, bounds)


@pytest.mark.parametrize("round_well", [True, False], ids=["round", "square"])
@pytest.mark.parametrize("seed, label, offset", [(3, "clear", 0.8), (6, "crystals_3d", 0.3), (8, "microcrystals", 0.6)])
def test_small_drop_gets_a_tight_box_that_covers_it(round_well, seed, label, offset):
    g = geometry(seed, round_well, drop_radius=0.15, offset=offset, angle=seed)
    box = find_crop(render(g, label, seed), "drop")
    assert box.found == "drop"
    assert box.well == ("round" if round_well else "square")
    cx, cy = g.drop_center
    assert box.x0 < cx < box.x1 and box.y0 < cy < box.y1
    assert_covers(box, drop_bounds(g))
    assert area(box) < 0.3  # the drop is ~0.3 x 0.36 of the frame; the box is far below the frame


@pytest.mark.parametrize("round_well", [True, False], ids=["round", "square"])
def test_large_drop_box_covers_the_drop(round_well):
    g = geometry(11, round_well, drop_radius=0.3, offset=0.5, angle=2.0)
    box = find_crop(render(g, "light_precipitate", 11), "drop")
    assert box.found in ("drop", "well")
    assert_covers(box, drop_bounds(g))


@pytest.mark.parametrize("round_well", [True, False], ids=["round", "square"])
def test_well_mode_returns_the_well(round_well):
    g = geometry(4, round_well, drop_radius=0.15, offset=0.7, angle=1.0)
    box = find_crop(render(g, "clear", 4), "well", margin=0.0)
    assert box.found == "well" and box.well == ("round" if round_well else "square")
    r = WELL_RADIUS
    # The box is the floor: it covers most of it and does not reach far beyond it.
    assert_covers(box, (0.5 - 0.9 * r * H / W, 0.5 - 0.9 * r, 0.5 + 0.9 * r * H / W, 0.5 + 0.9 * r))
    assert box.y1 - box.y0 < 2 * r * 1.1
    assert box.x1 - box.x0 < 2 * r * 1.1 * H / W
    drop = find_crop(render(g, "clear", 4), "drop", margin=0.0)
    assert area(drop) < 0.5 * area(box)


def test_margin_widens_the_box_around_the_same_centre():
    img = render(geometry(3, True, drop_radius=0.15, offset=0.5, angle=1.0))
    tight, loose = find_crop(img, "drop", margin=0.0), find_crop(img, "drop", margin=0.15)
    assert loose.x0 < tight.x0 and loose.y0 < tight.y0 and loose.x1 > tight.x1 and loose.y1 > tight.y1
    assert area(loose) > 1.3 * area(tight)


def test_box_is_square_in_pixels_and_never_a_speck():
    img = render(geometry(5, True, drop_radius=0.15, offset=0.2))
    box = find_crop(img, "drop")
    x0, y0, x1, y1 = box.pixels(W, H)
    assert abs((x1 - x0) - (y1 - y0)) <= 2
    # A tiny bright disc on dark ground is not zoomed beyond the minimum share of the frame.
    speck = np.full((H, W, 3), 30, np.uint8)
    cv2.circle(speck, (W // 2, H // 2), 6, (220, 220, 220), -1)
    for mode in CROP_MODES:
        b = find_crop(speck, mode)
        assert_valid(b)
        assert (b.y1 - b.y0) >= MIN_SHARE - 1e-6


@pytest.mark.parametrize("mode", CROP_MODES)
def test_blank_frames_and_noise_fall_back_to_the_frame(mode):
    rng = np.random.default_rng(0)
    blank = np.full((H, W, 3), 180, np.uint8)
    noise = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    smooth_noise = cv2.GaussianBlur(noise, (0, 0), 8)
    yy, xx = np.mgrid[0:H, 0:W]
    vignette = np.repeat((200 - 120 * np.hypot(xx - W / 2, yy - H / 2) / W)[..., None], 3, axis=2).astype(np.uint8)
    for img in (blank, noise, smooth_noise, vignette):
        box = find_crop(img, mode)
        assert (box.x0, box.y0, box.x1, box.y1, box.found) == (0.0, 0.0, 1.0, 1.0, "frame")


def test_none_mode_is_the_whole_frame():
    img = render(geometry(3, True, drop_radius=0.15))
    assert find_crop(img, "none") == CropBox(0.0, 0.0, 1.0, 1.0, "frame", None)


@pytest.mark.parametrize("round_well", [True, False], ids=["round", "square"])
def test_same_box_from_full_size_and_quarter_size_copies(round_well):
    g = geometry(6, round_well, drop_radius=0.17, offset=0.6, angle=4.0)
    full = render(g, "needles", 6, size=(1224, 1024))
    quarter = cv2.resize(full, (306, 256), interpolation=cv2.INTER_AREA)
    for mode in CROP_MODES:
        a, b = find_crop(full, mode), find_crop(quarter, mode)
        assert a.found == b.found and a.well == b.well
        assert max(abs(a.x0 - b.x0), abs(a.y0 - b.y0), abs(a.x1 - b.x1), abs(a.y1 - b.y1)) < 0.02, (a, b)


def test_deterministic_and_leaves_the_input_alone():
    img = render(geometry(8, False, drop_radius=0.15, offset=0.5))
    before = img.copy()
    first = [find_crop(img, mode) for mode in CROP_MODES]
    assert [find_crop(img.copy(), mode) for mode in CROP_MODES] == first
    assert np.array_equal(img, before)


def test_apply_crop_cuts_the_box_at_any_resolution():
    img = render(geometry(3, True, drop_radius=0.15, offset=0.5))
    box = find_crop(img, "drop")
    region = apply_crop(img, box)
    x0, y0, x1, y1 = box.pixels(W, H)
    assert region.shape == (y1 - y0, x1 - x0, 3)
    assert np.shares_memory(region, img)
    half = cv2.resize(img, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    h_region = apply_crop(half, box)
    assert abs(h_region.shape[0] * 2 - region.shape[0]) <= 2 and abs(h_region.shape[1] * 2 - region.shape[1]) <= 2


ODD_INPUTS = {
    "grey": lambda: cv2.cvtColor(render(geometry(3, True, 0.15)), cv2.COLOR_RGB2GRAY),
    "rgba": lambda: cv2.cvtColor(render(geometry(3, True, 0.15)), cv2.COLOR_RGB2RGBA),
    "one_channel": lambda: np.full((64, 80, 1), 90, np.uint8),
    "one_pixel": lambda: np.zeros((1, 1, 3), np.uint8),
    "empty": lambda: np.zeros((0, 0, 3), np.uint8),
    "tiny": lambda: np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8),
    "line": lambda: np.full((1, 500, 3), 128, np.uint8),
    "tall_thin": lambda: np.full((2000, 30, 3), 200, np.uint8),
    "all_black": lambda: np.zeros((H, W, 3), np.uint8),
    "all_white": lambda: np.full((H, W, 3), 255, np.uint8),
    "float01": lambda: render(geometry(3, True, 0.15)).astype(np.float32) / 255,
    "float_nan": lambda: np.full((100, 120, 3), np.nan, np.float32),
    "uint16": lambda: render(geometry(3, False, 0.15)).astype(np.uint16) * 257,
    "bool": lambda: np.eye(50, dtype=bool),
    "non_contiguous": lambda: render(geometry(3, True, 0.15))[::2, ::3],
    "four_d": lambda: np.zeros((4, 4, 4, 4), np.uint8),
}


@pytest.mark.parametrize("name", sorted(ODD_INPUTS))
def test_odd_inputs_do_not_raise_and_give_a_valid_box(name):
    img = ODD_INPUTS[name]()
    for mode in CROP_MODES:
        box = find_crop(img, mode)
        assert_valid(box)
        if img.ndim >= 2 and img.shape[0] and img.shape[1]:
            x0, y0, x1, y1 = box.pixels(img.shape[1], img.shape[0])
            assert 0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="crop mode"):
        find_crop(np.zeros((64, 64, 3), np.uint8), "centre")


@pytest.mark.parametrize("round_well", [True, False], ids=["round", "square"])
@pytest.mark.parametrize("angle", [0.0, 2.2])
def test_drop_against_the_wall_box_reaches_the_wall(round_well, angle):
    g = geometry(9, round_well, drop_radius=0.2, angle=angle)
    reach = WELL_RADIUS - 0.2 + 0.03  # the drop's far side runs into the wall
    g = dataclasses.replace(g, drop_center=(0.5 + reach * math.cos(angle) * H / W, 0.5 + reach * math.sin(angle)))
    box = find_crop(render(g, "clear", 9), "drop", margin=0.0)
    assert box.found == "drop"
    # Where the drop meets the wall (the renderer keeps it 0.012 inside the floor) the box reaches it.
    edge = WELL_RADIUS - 0.012
    ex, ey = 0.5 + edge * math.cos(angle) * H / W, 0.5 + edge * math.sin(angle)
    assert box.x0 - 0.01 <= ex <= box.x1 + 0.01 and box.y0 - 0.01 <= ey <= box.y1 + 0.01, (box, ex, ey)
    cx, cy = g.drop_center
    assert box.x0 < cx < box.x1 and box.y0 < cy < box.y1
