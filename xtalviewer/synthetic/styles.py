"""Imaging styles of synthetic plates: what one imager and plate type make every drop image look like.

One plate is imaged by one imager, so its well kind, illumination, colour cast, wall darkness,
focus, noise and compression are shared by all its drops. A style is drawn once per plate
(``random_style``) and every drop geometry of that plate derives from it, while the class content
of a drop never sees it: nothing about the rendering (cast, well kind, blur, brightness) says
which class a drop is. This is domain randomisation over the imagers real labs use:

- ``round``: Formulatrix/XChem-like. A thick, nearly black wall whose outer edge almost fills the
  1224x1024 frame, a grey-blue floor, the drop often filling the whole well so that its edge is
  barely visible; the plastic in the corners is light and may show faint rainbow fringes.
- ``square``: Rigaku-Minstrel-like. A bright off-white square well with cut or rounded corners, a
  grey out-of-focus wall band, frosted grey plastic beyond it, and a smaller sitting drop with a
  dark refractive rim.
- ``zoomed``: MARCO-like. The camera looks into the well, so only parts of a dark wall show in the
  corners and the drop fills most of the frame; these imagers often use polarisers.

Brightfield (grey, grey-blue or warm grey, low saturation) is the common illumination; polarised
colour casts (pink, lilac, green, with rainbow bands) are the rarer case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Share of plates per well kind, and per kind the chance that the imager uses polarisers.
WELL_KINDS: dict[str, float] = {"round": 0.45, "square": 0.35, "zoomed": 0.20}
POLARISED_CHANCE: dict[str, float] = {"round": 0.12, "square": 0.08, "zoomed": 0.5}
# Brightfield floor colours (RGB, 0..1) by tint family, and per well kind the share of its
# brightfield plates with each tint: round-well imagers light grey-blue, square-well ones off-white.
BRIGHTFIELD_TINTS: dict[str, tuple[float, float, float]] = {
    "grey_blue": (0.74, 0.80, 0.90),
    "grey": (0.86, 0.87, 0.86),
    "warm_grey": (0.89, 0.88, 0.84),
}
TINT_SHARES: dict[str, dict[str, float]] = {
    "round": {"grey_blue": 0.7, "grey": 0.2, "warm_grey": 0.1},
    "square": {"grey_blue": 0.1, "grey": 0.45, "warm_grey": 0.45},
    "zoomed": {"grey_blue": 0.35, "grey": 0.35, "warm_grey": 0.3},
}
# Polarised casts seen from plate imagers: pink/lilac, mauve, greenish, warm.
POLARISED_CASTS: tuple[tuple[float, float, float], ...] = (
    (0.92, 0.68, 0.88),
    (0.86, 0.72, 0.92),
    (0.78, 0.88, 0.78),
    (0.93, 0.86, 0.72),
    (0.68, 0.62, 0.68),
)
JPEG_CHANCE = 0.5  # share of plates whose images carry compression artefacts (imagers save q75-95)
CONDENSATION_CHANCE = 0.1
FIBRE_CHANCE_MAX = 0.35  # per-drop chance of a stray fibre on the dustiest plates


@dataclass(frozen=True)
class PlateStyle:
    """Imaging parameters shared by every drop of one plate. Lengths are fractions of frame height."""

    well: str  # "round", "square" or "zoomed"
    light: str  # "brightfield" or "polarised"
    floor_color: tuple[float, float, float]  # RGB 0..1 of the lit well floor
    rainbow: float  # strength of birefringent rainbow bands over the floor, 0 = none
    exposure: float
    well_radius: tuple[float, float]  # range of the floor radius (or half side) of this plate's wells
    well_corner: float  # square wells: corner size as a fraction of the half side
    chamfer: bool  # square wells: corners cut straight (Rigaku) rather than rounded
    wall_width: float
    wall_outer_corner: float  # 1 = round outer wall boundary, less = rounded square
    wall_color: tuple[float, float, float]
    wall_texture: float  # mottling of the wall
    wall_blur: float  # depth of field: how far out of focus the wall and plastic are
    plastic_color: tuple[float, float, float]
    plastic_texture: float  # frosted/mottled plastic around the well
    drop_fill: tuple[float, float]  # drop radius as a fraction of the well radius
    fills_well: float  # chance that a drop covers the whole floor, its edge lying along the wall
    meniscus_darkness: float  # how dark the drop edge line is
    lens_darkening: float  # how dark the refracting dome near the drop edge is
    lens_width: float  # width of that dark band, as a fraction of the drop radius
    light_angle: float  # direction the light comes from
    focus_blur: float  # typical defocus of the drop contents
    vignette: float
    noise: float  # sensor noise sigma, as a fraction of full scale
    jpeg_quality: int  # 0 = no compression artefacts
    dust: float  # mean number of dust specks per image
    fibre_chance: float  # chance that a drop image shows a stray fibre
    scratches: float  # mean number of scratches in the floor plastic
    condensation: float  # density of condensation droplets on the seal, 0 = none
    seed: int  # plate-wide texture seed


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _jitter(rng: np.random.Generator, color: tuple[float, ...] | np.ndarray, amount: float) -> np.ndarray:
    return np.clip(np.asarray(color, np.float64) + rng.uniform(-amount, amount, 3), 0.0, 1.0)


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def random_style(rng: np.random.Generator, well: str | None = None) -> PlateStyle:
    """One plate's imaging style (deterministic for a generator state); ``well`` forces the well kind."""
    well = well or _pick(rng, WELL_KINDS)
    if well not in WELL_KINDS:
        raise ValueError(f"unknown well kind {well!r}; expected one of {', '.join(WELL_KINDS)}")
    polarised = bool(rng.random() < POLARISED_CHANCE[well])
    if polarised:
        floor = _jitter(rng, POLARISED_CASTS[int(rng.integers(len(POLARISED_CASTS)))], 0.04)
        floor = floor * rng.uniform(0.82, 1.05)
        rainbow = float(rng.uniform(0.15, 0.5)) if rng.random() < 0.5 else 0.0
    else:
        base = np.asarray(BRIGHTFIELD_TINTS[_pick(rng, TINT_SHARES[well])])
        # Brightness and a little per-plate white balance drift; square wells are lit brightest.
        floor = _jitter(rng, base, 0.012) * rng.uniform(0.92, 1.12 if well == "square" else 1.1)
        rainbow = float(rng.uniform(0.03, 0.12)) if rng.random() < 0.3 else 0.0
    floor = np.clip(floor, 0.25, 0.97)
    gray = float(floor.mean())

    if well == "round":
        well_radius = (0.42, 0.47)
        wall_width = float(rng.uniform(0.09, 0.17))
        wall_outer = float(rng.uniform(0.55, 0.85))
        wall = _jitter(rng, (0.058, 0.052, 0.075), 0.006) * rng.uniform(0.5, 1.3)
        wall_texture = float(rng.uniform(0.2, 0.7))
        wall_blur = float(rng.uniform(0.002, 0.008))
        plastic = _jitter(rng, floor * rng.uniform(0.7, 1.0), 0.05)
        plastic_texture = float(rng.uniform(0.0, 0.15))
        drop_fill = (0.55, 0.95)
        fills_well = float(rng.uniform(0.35, 0.75))
        meniscus = float(rng.uniform(0.08, 0.35))
        lens = float(rng.uniform(0.03, 0.2))
        lens_width = float(rng.uniform(0.05, 0.15))
    elif well == "square":
        well_radius = (0.42, 0.48)
        wall_width = float(rng.uniform(0.03, 0.08))
        wall_outer = float(rng.uniform(0.0, 0.3))
        wall = _jitter(rng, (gray * 0.3,) * 3, 0.01) * rng.uniform(0.5, 1.3)
        wall_texture = float(rng.uniform(0.1, 0.4))
        wall_blur = float(rng.uniform(0.004, 0.02))
        plastic = _jitter(rng, (gray * rng.uniform(0.75, 1.0),) * 3, 0.015)
        plastic_texture = float(rng.uniform(0.25, 0.6))
        drop_fill = (0.25, 0.7)
        fills_well = float(rng.uniform(0.0, 0.15))
        meniscus = float(rng.uniform(0.35, 0.75))
        lens = float(rng.uniform(0.2, 0.55))
        lens_width = float(rng.uniform(0.12, 0.35))
    else:  # zoomed
        well_radius = (0.5, 0.85)
        wall_width = float(rng.uniform(0.15, 0.3))
        wall_outer = float(rng.uniform(0.6, 1.0))
        wall = _jitter(rng, (0.07, 0.06, 0.08), 0.02) * rng.uniform(0.5, 2.0)
        wall_texture = float(rng.uniform(0.1, 0.5))
        wall_blur = float(rng.uniform(0.003, 0.012))
        plastic = _jitter(rng, floor * rng.uniform(0.8, 1.05), 0.05)
        plastic_texture = float(rng.uniform(0.0, 0.2))
        drop_fill = (0.45, 0.9)
        fills_well = float(rng.uniform(0.1, 0.5))
        meniscus = float(rng.uniform(0.2, 0.6))
        lens = float(rng.uniform(0.05, 0.3))
        lens_width = float(rng.uniform(0.06, 0.2))
    return PlateStyle(
        well=well,
        light="polarised" if polarised else "brightfield",
        floor_color=_t(floor),
        rainbow=rainbow,
        exposure=float(rng.uniform(0.96, 1.1)),
        well_radius=well_radius,
        well_corner=float(rng.uniform(0.15, 0.4)),
        chamfer=bool(rng.random() < 0.7),
        wall_width=wall_width,
        wall_outer_corner=wall_outer,
        wall_color=_t(np.clip(wall, 0.01, 0.7)),
        wall_texture=wall_texture,
        wall_blur=wall_blur,
        plastic_color=_t(np.clip(plastic, 0.2, 0.97)),
        plastic_texture=plastic_texture,
        drop_fill=drop_fill,
        fills_well=fills_well,
        meniscus_darkness=meniscus,
        lens_darkening=lens,
        lens_width=lens_width,
        light_angle=float(rng.uniform(0.0, 2.0 * math.pi)),
        focus_blur=float(rng.uniform(0.0, 0.0018) * (rng.random() < 0.8)),
        vignette=float(rng.uniform(0.0, 0.18)),
        noise=float(rng.uniform(0.008, 0.04)),
        jpeg_quality=int(rng.integers(70, 95)) if rng.random() < JPEG_CHANCE else 0,
        dust=float(rng.uniform(0.0, 8.0)),
        fibre_chance=float(rng.uniform(0.0, FIBRE_CHANCE_MAX)),
        scratches=float(rng.uniform(0.0, 2.5)),
        condensation=float(rng.uniform(0.3, 1.0)) if rng.random() < CONDENSATION_CHANCE else 0.0,
        seed=int(rng.integers(0, 2**31 - 1)),
    )
