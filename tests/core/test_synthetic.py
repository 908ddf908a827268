"""Synthetic drop images: shape, determinism, and that each class puts its content in the drop."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from xtalviewer.core.synthetic import (
    CLASS_KEYS,
    CRYSTAL_KEYS,
    DropGeometry,
    random_drop,
    random_geometry,
    render_drop,
)

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


def test_growth_keeps_crystal_positions() -> None:
    """A later inspection shows the same crystals: the early changes lie within the late ones."""
    g = _geometry(51)
    clear = render_drop("clear", g, content_seed=8, growth=0.5, size=MEDIUM).astype(np.int16)
    early = np.abs(render_drop("crystals_3d", g, content_seed=8, growth=0.5, size=MEDIUM) - clear).max(axis=2) > 25
    clear = render_drop("clear", g, content_seed=8, growth=1.0, size=MEDIUM).astype(np.int16)
    late = np.abs(render_drop("crystals_3d", g, content_seed=8, growth=1.0, size=MEDIUM) - clear).max(axis=2) > 25
    late = cv2.dilate(late.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert early.sum() > 0
    assert (early & late).sum() > 0.8 * early.sum()


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
