"""Synthetic drop images: shape, determinism, plate styles, and that each class puts its content in the drop."""

from __future__ import annotations

import dataclasses
import statistics
import time

import cv2
import numpy as np
import pytest

from xtalviewer.synthetic.renderer import (
    CLASS_KEYS,
    CRYSTAL_KEYS,
    DropGeometry,
    PlateStyle,
    random_drop,
    random_geometry,
    random_style,
    render_drop,
)
from xtalviewer.synthetic.styles import WELL_KINDS

SMALL = (128, 107)
MEDIUM = (320, 268)


def _geometry(seed: int = 3) -> DropGeometry:
    return random_geometry(np.random.default_rng(seed))


def _regions(g: DropGeometry, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Masks surely inside the drop (near its centre) and surely outside it (far from it)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - g.drop_center[0] * w, yy - g.drop_center[1] * h) / h
    reach = g.drop_radius * (1.0 + sum(a for a, _ in g.drop_shape) + g.drop_tail[1])
    return d < 0.45 * g.drop_radius, d > reach + 0.05


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32).mean(axis=2)


def test_class_keys_order_and_crystals() -> None:
    assert CLASS_KEYS == (
        "clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
        "microcrystals", "needles", "plates", "crystals_3d",
    )
    assert CRYSTAL_KEYS == {"microcrystals", "needles", "plates", "crystals_3d"}
    assert CRYSTAL_KEYS <= set(CLASS_KEYS)


@pytest.mark.parametrize("label", CLASS_KEYS)
def test_every_class_renders_rgb_uint8_of_requested_size(label: str) -> None:
    g = _geometry()
    img = render_drop(label, g, content_seed=7, growth=0.8, size=SMALL)
    assert img.shape == (107, 128, 3)
    assert img.dtype == np.uint8
    assert 20 < img.mean() < 240  # neither blank nor saturated
    other = render_drop(label, g, content_seed=7, size=(96, 140))
    assert other.shape == (140, 96, 3)


def test_full_size_default() -> None:
    img = render_drop("crystals_3d", _geometry(), content_seed=1)
    assert img.shape == (1024, 1224, 3)
    assert img.dtype == np.uint8


@pytest.mark.parametrize("label", CLASS_KEYS)
def test_deterministic(label: str) -> None:
    g = _geometry(11)
    a = render_drop(label, g, content_seed=5, growth=0.7, size=MEDIUM)
    b = render_drop(label, g, content_seed=5, growth=0.7, size=MEDIUM)
    assert np.array_equal(a, b)
    assert np.array_equal(random_drop(label, np.random.default_rng(9), SMALL),
                          random_drop(label, np.random.default_rng(9), SMALL))


@pytest.mark.parametrize("label", CLASS_KEYS)
def test_content_seed_changes_the_image(label: str) -> None:
    g = _geometry(12)
    a = render_drop(label, g, content_seed=1, size=MEDIUM)
    b = render_drop(label, g, content_seed=2, size=MEDIUM)
    assert not np.array_equal(a, b)


def test_geometry_is_frozen_relative_and_varied() -> None:
    rng = np.random.default_rng(0)
    geoms = [random_geometry(rng) for _ in range(50)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        geoms[0].drop_radius = 0.5  # type: ignore[misc]
    assert len(set(geoms)) == 50  # hashable and all different
    for g in geoms:
        # A drop may wet the whole floor (its outline is then clipped by the wall), but no more.
        assert 0.0 < g.drop_radius < 1.2 * g.well_radius
        assert 0.0 < g.drop_center[0] < 1.0 and 0.0 < g.drop_center[1] < 1.0
        assert all(0.0 <= c <= 1.0 for c in g.floor_color)
    assert {g.well_round for g in geoms} == {True, False}
    assert any(g.drop_radius < 0.8 * g.well_radius for g in geoms)  # sitting drops smaller than the well
    assert any(g.drop_radius > g.well_radius for g in geoms)  # drops filling the well
    assert len({round(g.drop_radius, 3) for g in geoms}) > 40


def test_unknown_label_and_bad_growth_raise() -> None:
    g = _geometry()
    with pytest.raises(ValueError):
        render_drop("kittens", g, content_seed=1, size=SMALL)
    with pytest.raises(ValueError):
        random_drop("", np.random.default_rng(0), SMALL)
    with pytest.raises(ValueError):
        render_drop("clear", g, content_seed=1, growth=0.0, size=SMALL)
    with pytest.raises(ValueError):
        render_drop("clear", g, content_seed=1, growth=1.5, size=SMALL)


def test_drop_differs_from_background() -> None:
    """The drop has its own tint and a dark meniscus, so it is visible even when clear."""
    g = _geometry(4)
    img = render_drop("clear", g, content_seed=3, size=MEDIUM)
    inside, _ = _regions(g, MEDIUM)
    w, h = MEDIUM
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - g.drop_center[0] * w, yy - g.drop_center[1] * h) / h
    # A thin ring along the nominal outline: the meniscus is darker than the drop interior there.
    frame_outline = np.abs(d - g.drop_radius) < 0.01
    assert frame_outline.any() and inside.any()
    assert _luma(img)[frame_outline].mean() < _luma(img)[inside].mean()


@pytest.mark.parametrize("label", sorted(CRYSTAL_KEYS | {"phase_separation", "skin", "heavy_precipitate"}))
def test_content_is_inside_the_drop(label: str) -> None:
    """Against the clear drop of the same geometry and seed, changes concentrate in the drop."""
    hits = 0
    for seed in range(4):
        g = _geometry(20 + seed)
        clear = render_drop("clear", g, content_seed=seed, size=MEDIUM).astype(np.int16)
        img = render_drop(label, g, content_seed=seed, size=MEDIUM).astype(np.int16)
        diff = np.abs(img - clear).max(axis=2)
        inside, outside = _regions(g, MEDIUM)
        if outside.sum() < 100:
            continue
        assert diff[outside].mean() < 3.0
        hits += diff[inside].mean() > diff[outside].mean() + 1.0
    assert hits >= 2


def test_precipitate_darkens_the_drop() -> None:
    for seed in range(3):
        g = _geometry(30 + seed)
        inside, _ = _regions(g, MEDIUM)
        mean = {k: _luma(render_drop(k, g, content_seed=seed, size=MEDIUM))[inside].mean()
                for k in ("clear", "light_precipitate", "heavy_precipitate")}
        assert mean["heavy_precipitate"] < mean["light_precipitate"] < mean["clear"]
        assert mean["heavy_precipitate"] < 0.8 * mean["clear"]


def test_precipitate_is_brown() -> None:
    g = _geometry(40)
    inside, _ = _regions(g, MEDIUM)
    clear = render_drop("clear", g, content_seed=1, size=MEDIUM)[inside].astype(np.float32).mean(axis=0)
    heavy = render_drop("heavy_precipitate", g, content_seed=1, size=MEDIUM)[inside].astype(np.float32).mean(axis=0)
    ratio = heavy / clear
    assert ratio[2] < ratio[1] < ratio[0]  # blue absorbed most, red least


def _changed_area(label: str, g: DropGeometry, growth: float) -> int:
    clear = render_drop("clear", g, content_seed=8, growth=growth, size=MEDIUM).astype(np.int16)
    img = render_drop(label, g, content_seed=8, growth=growth, size=MEDIUM).astype(np.int16)
    return int((np.abs(img - clear).max(axis=2) > 25).sum())


@pytest.mark.parametrize("label", sorted(CRYSTAL_KEYS))
def test_crystals_grow(label: str) -> None:
    g = _geometry(50)
    small, mid, big = (_changed_area(label, g, gr) for gr in (0.3, 0.6, 1.0))
    assert 0 < small < mid < big


def _footprint(changed: np.ndarray) -> np.ndarray:
    """Changed pixels with each connected patch filled to its convex hull: a transparent crystal
    changes its edges more than its interior."""
    contours, _ = cv2.findContours(changed.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros(changed.shape, np.uint8)
    cv2.fillPoly(out, [cv2.convexHull(c) for c in contours], 1)
    return cv2.dilate(out, np.ones((5, 5), np.uint8)) > 0


def test_growth_keeps_crystal_positions() -> None:
    """A later inspection shows the same crystals: the early changes lie within the late crystals."""
    g = _geometry(51)
    clear = render_drop("clear", g, content_seed=8, growth=0.5, size=MEDIUM).astype(np.int16)
    early = np.abs(render_drop("crystals_3d", g, content_seed=8, growth=0.5, size=MEDIUM) - clear).max(axis=2) > 25
    clear = render_drop("clear", g, content_seed=8, growth=1.0, size=MEDIUM).astype(np.int16)
    late = np.abs(render_drop("crystals_3d", g, content_seed=8, growth=1.0, size=MEDIUM) - clear).max(axis=2) > 25
    late = _footprint(late)
    assert early.sum() > 0
    assert (early & late).sum() > 0.8 * early.sum()
    assert late.sum() < 0.5 * late.size  # the footprint is the crystals, not the whole frame


def test_heavy_precipitate_thickens_with_growth() -> None:
    g = _geometry(52)
    inside, _ = _regions(g, MEDIUM)
    early = _luma(render_drop("heavy_precipitate", g, content_seed=4, growth=0.3, size=MEDIUM))[inside].mean()
    late = _luma(render_drop("heavy_precipitate", g, content_seed=4, growth=1.0, size=MEDIUM))[inside].mean()
    assert late < early


def test_same_geometry_renders_alike_at_any_size() -> None:
    """Geometry is relative: a large render downscaled matches a small render of the same drop."""
    g = _geometry(60)
    small = render_drop("clear", g, content_seed=2, size=SMALL).astype(np.float32)
    large = render_drop("clear", g, content_seed=2, size=(512, 428))
    down = cv2.resize(large, SMALL, interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(small - down).mean() < 6.0


def test_crystals_have_more_contrast_than_clear_inside_drop() -> None:
    for seed in range(3):
        g = _geometry(70 + seed)
        inside, _ = _regions(g, MEDIUM)
        clear_std = _luma(render_drop("clear", g, content_seed=seed, size=MEDIUM))[inside].std()
        crystal_std = _luma(render_drop("crystals_3d", g, content_seed=seed, size=MEDIUM))[inside].std()
        assert crystal_std > clear_std + 2.0


# --- plate imaging styles --------------------------------------------------------------------

STYLE_CASES = [(well, light) for well in WELL_KINDS for light in ("brightfield", "polarised")]


def _style(well: str, light: str, seed: int = 0) -> PlateStyle:
    """The first style of that well kind and illumination found from a seed."""
    rng = np.random.default_rng(seed)
    for _ in range(500):
        style = random_style(rng, well=well)
        if style.light == light:
            return style
    raise AssertionError(f"no {well}/{light} style drawn")


def _hsv_means(img: np.ndarray) -> tuple[float, float]:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    return float(hsv[..., 1].mean()), float(hsv[..., 2].mean())


@pytest.mark.parametrize("well,light", STYLE_CASES)
def test_every_style_renders_and_is_deterministic(well: str, light: str) -> None:
    style = _style(well, light)
    assert (style.well, style.light) == (well, light)
    assert _style(well, light) == style  # same seed, same style
    g = random_geometry(np.random.default_rng(1), style)
    assert g.style == style and g.well_round == (well != "square")
    a = render_drop("needles", g, content_seed=4, growth=0.8, size=MEDIUM)
    b = render_drop("needles", g, content_seed=4, growth=0.8, size=MEDIUM)
    assert a.shape == (268, 320, 3) and np.array_equal(a, b)
    assert 20 < a.mean() < 240
    full = render_drop("clear", g, content_seed=4)
    assert full.shape == (1024, 1224, 3)
    assert np.array_equal(full, render_drop("clear", g, content_seed=4))  # JPEG and noise included


def test_unknown_well_kind_raises() -> None:
    with pytest.raises(ValueError):
        random_style(np.random.default_rng(0), well="hexagonal")


def test_style_is_per_plate_not_per_drop() -> None:
    """Drops of one plate share its style and differ in geometry; plates differ in style."""
    rng = np.random.default_rng(5)
    style = random_style(rng)
    drops = [random_geometry(rng, style) for _ in range(12)]
    assert all(g.style is style for g in drops)
    assert len({g.drop_center for g in drops}) == 12
    assert len({g.drop_radius for g in drops}) == 12
    # The floor colour of a plate's drops stays near the plate's cast.
    floors = np.array([g.floor_color for g in drops])
    assert np.abs(floors - np.asarray(style.floor_color)).max() < 0.08
    plates = [random_style(rng) for _ in range(12)]
    assert len(set(plates)) == 12
    # Without a style, every geometry draws its own.
    assert len({random_geometry(rng).style for _ in range(5)}) == 5


def test_styles_are_mostly_grey_brightfield() -> None:
    """Brightfield grey or grey-blue is the common case, polarised colour casts the rarer one."""
    rng = np.random.default_rng(2)
    styles = [random_style(rng) for _ in range(400)]
    polarised = sum(s.light == "polarised" for s in styles) / len(styles)
    assert 0.08 < polarised < 0.35
    kinds = {k: sum(s.well == k for s in styles) / len(styles) for k in WELL_KINDS}
    assert all(share > 0.1 for share in kinds.values())
    for s in styles:
        if s.light == "brightfield":
            hsv = cv2.cvtColor(np.float32([[s.floor_color]]), cv2.COLOR_RGB2HSV)[0, 0]
            assert hsv[1] < 0.2  # low saturation
    # Round wells have a near-black wall; square wells a bright floor.
    assert all(max(s.wall_color) < 0.2 for s in styles if s.well == "round")
    assert np.mean([np.mean(s.floor_color) for s in styles if s.well == "square" and s.light == "brightfield"]) > 0.8


def test_round_wells_have_a_dark_wall_and_square_wells_a_bright_floor() -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        rnd = render_drop("clear", random_geometry(rng, _style("round", "brightfield", seed)), 1, size=MEDIUM)
        sq = render_drop("clear", random_geometry(rng, _style("square", "brightfield", seed)), 1, size=MEDIUM)
        assert (_luma(rnd) < 50).mean() > 0.15  # a thick dark ring
        assert (_luma(sq) < 50).mean() < 0.1
        assert np.median(_luma(sq)) > 150


def test_render_time_within_budget() -> None:
    """Full-size renders stay cheap enough to make training data on the fly (loose bound for CI).

    CPU time on one thread, so that other processes on a shared machine do not make it flaky.
    """
    rng = np.random.default_rng(7)
    jobs = [(CLASS_KEYS[i % len(CLASS_KEYS)], random_geometry(rng), i) for i in range(7)]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        render_drop("clear", jobs[0][1], 0)  # warm up
        times = []
        for label, g, seed in jobs:
            t0 = time.process_time()
            render_drop(label, g, seed)
            times.append(time.process_time() - t0)
    finally:
        cv2.setNumThreads(threads)
    assert statistics.median(times) < 0.150


def _visible_difference(label: str, g: DropGeometry, seed: int) -> int:
    """Pixels well inside the drop whose brightness the class content changes by 12+ grey levels,
    at full size, against the clear drop of the same geometry and seed."""
    clear = _luma(render_drop("clear", g, content_seed=seed))
    img = _luma(render_drop(label, g, content_seed=seed))
    inside, _ = _regions(g, (1224, 1024))
    return int((np.abs(img - clear)[inside] > 12).sum())


@pytest.mark.parametrize("label", sorted(CRYSTAL_KEYS))
def test_crystals_are_visible_at_full_size_in_every_well_kind(label: str) -> None:
    for i, well in enumerate(WELL_KINDS):
        g = random_geometry(np.random.default_rng(80 + i), _style(well, "brightfield", i))
        # At least a few hundred clearly changed pixels: a careful reviewer sees them at full size.
        assert _visible_difference(label, g, seed=i) > 300, well


def test_mean_colour_does_not_give_crystals_away() -> None:
    """Over random plates, crystal and non-crystal drops have overlapping mean saturation and
    brightness: no threshold on either separates them much better than chance."""
    rng = np.random.default_rng(11)
    crystal, other = sorted(CRYSTAL_KEYS), [k for k in CLASS_KEYS if k not in CRYSTAL_KEYS]
    stats = {True: [], False: []}
    for i in range(36):
        is_crystal = i % 2 == 0
        label = (crystal if is_crystal else other)[(i // 2) % (4 if is_crystal else 6)]
        stats[is_crystal].append(_hsv_means(render_drop(label, random_geometry(rng), i, size=SMALL)))
    for k in (0, 1):  # saturation, brightness
        xs = np.array([s[k] for s in stats[True]] + [s[k] for s in stats[False]])
        ys = np.array([1] * len(stats[True]) + [0] * len(stats[False]))
        best = max(max(((xs > t) == ys).mean(), ((xs <= t) == ys).mean()) for t in xs)
        assert best < 0.8, ("saturation", "brightness")[k]
        # and the two distributions overlap: each group's range reaches into the other's
        a, b = xs[ys == 1], xs[ys == 0]
        assert a.min() < np.median(b) < a.max() and b.min() < np.median(a) < b.max()


def test_a_local_patch_beyond_the_frame_edge_is_skipped_not_an_error():
    from xtalviewer.synthetic.renderer import _Canvas, _Frame

    g = random_geometry(np.random.default_rng(2))
    cv = _Canvas(_Frame(g, 64, 48), 1.0)
    before = cv.shade.copy()
    patch, origin = cv.local(np.array([90.0, 70.0]), 5.0)  # wholly outside the 64x48 frame
    cv.add_local(np.full_like(patch, 200), origin, brown=1.0, dark=0.5)
    patch, origin = cv.local(np.array([62.0, 46.0]), 6.0)  # half outside: the inside part applies
    cv.add_local(np.full_like(patch, 200), origin, dark=0.5)
    assert (cv.shade[44:, 58:] < before[44:, 58:]).any() and np.array_equal(cv.shade[:30, :30], before[:30, :30])


def test_jpeg_rendering_encodes_once_at_the_plate_styles_quality():
    from xtalviewer.synthetic.renderer import random_style, render_drop_jpeg

    for seed in range(6):
        style = random_style(np.random.default_rng(seed))
        g = random_geometry(np.random.default_rng(seed + 10), style)
        data = render_drop_jpeg("needles", g, 5, 0.8, size=(612, 512), quality=90)
        assert data[:2] == b"\xff\xd8" and data == render_drop_jpeg("needles", g, 5, 0.8, size=(612, 512))
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        reference = render_drop("needles", g, 5, 0.8, size=(612, 512))
        assert decoded.shape == reference.shape
        assert np.abs(decoded.astype(int) - reference.astype(int)).mean() < 3.0  # the same picture


@pytest.mark.parametrize("label", ["crystals_3d", "needles", "microcrystals", "heavy_precipitate", "skin"])
def test_compositing_keeps_the_background_pixels_outside_what_it_draws(label):
    from dropimages import small_drop

    from xtalviewer.synthetic.renderer import composite

    background = small_drop("clear", seed=4)
    box = (0.35, 0.33, 0.75, 0.73)
    out, drawn = composite(background, label, np.random.default_rng(2), drop_box=box)
    assert out.shape == background.shape and out.dtype == np.uint8 and drawn.shape == background.shape[:2]
    assert drawn.any() and (out[~drawn] == background[~drawn]).all()
    assert (out[drawn] != background[drawn]).any(axis=-1).mean() > 0.5
    h, w = background.shape[:2]
    ys, xs = np.nonzero(drawn)  # everything drawn lies inside the drop's box
    assert xs.min() >= box[0] * w - 2 and xs.max() <= box[2] * w + 2
    assert ys.min() >= box[1] * h - 2 and ys.max() <= box[3] * h + 2
    with pytest.raises(ValueError):
        composite(background, "diamonds", np.random.default_rng(0))
