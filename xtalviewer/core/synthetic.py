"""Synthetic plate-imager drop images in the ten xtal10 classes.

The demo data and the tests need drop images without shipping real ones. Each image shows what a
plate imager sees: a bright well floor with a colour cast, a dark well wall near the frame edges,
sometimes plate plastic beyond it, and a drop with a dark meniscus. The class decides what the
drop contains. The class-defining features are drawn large and contrasty enough to survive
downscaling to CNN input size (about 128 px), while everything that should not matter (well and
drop shape, position, lighting, colour cast, focus, noise) varies widely.

All geometry is in fractions of the frame, so one drop renders at any size. The drop (well, outline,
lighting) and its contents are seeded separately: rendering the same geometry and content seed with
a larger ``growth`` shows the same crystals or precipitate at a later inspection, grown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

CLASS_KEYS: tuple[str, ...] = (
    "clear",
    "light_precipitate",
    "heavy_precipitate",
    "phase_separation",
    "skin",
    "other",
    "microcrystals",
    "needles",
    "plates",
    "crystals_3d",
)
CRYSTAL_KEYS: frozenset[str] = frozenset({"microcrystals", "needles", "plates", "crystals_3d"})

_CLASS_INDEX = {key: i for i, key in enumerate(CLASS_KEYS)}

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)
_N_OUTLINE = 256  # points on the drop outline
_SUPERSAMPLE_HEIGHT = 800  # contents of smaller renders are drawn at least this tall
_TWO_PI = 2.0 * math.pi

# Absorption per RGB channel of brown material (precipitate, debris): blue is absorbed most.
_BROWN = np.array([0.50, 0.66, 0.82], np.float32)

# Colour casts seen from plate imagers: pink/lilac, neutral, greenish, warm, bluish.
_CASTS = (
    (0.93, 0.74, 0.90),
    (0.88, 0.76, 0.95),
    (0.88, 0.88, 0.86),
    (0.80, 0.90, 0.80),
    (0.95, 0.90, 0.76),
    (0.80, 0.86, 0.95),
)


@dataclass(frozen=True)
class DropGeometry:
    """Everything fixed for one drop across its inspections: well, drop outline, lighting, cast.

    Positions are fractions of the frame width/height; lengths are fractions of the frame height.
    """

    well_round: bool
    well_center: tuple[float, float]
    well_radius: float  # radius, or half side of a square well
    well_corner: float  # corner radius of a square well, as a fraction of its half side
    wall_width: float
    wall_outer_corner: float  # 1 = round outer wall boundary, less = rounded square
    drop_center: tuple[float, float]
    drop_radius: float
    drop_shape: tuple[tuple[float, float], ...]  # (amplitude, phase) of outline harmonics 1..5
    drop_tail: tuple[float, float, float]  # angle, length (fraction of drop radius), half width (rad)
    meniscus_width: float
    meniscus_darkness: float
    lens_darkening: float
    light_angle: float  # direction the light comes from, for facet and meniscus shading
    floor_color: tuple[float, float, float]  # RGB 0..1
    drop_tint: tuple[float, float, float]  # per-channel factor inside the drop
    wall_color: tuple[float, float, float]
    plastic_color: tuple[float, float, float]
    vignette: float
    gradient: tuple[float, float]  # angle, strength
    rainbow: float  # strength of polarised rainbow colour gradients, 0 = none
    detail_seed: int  # floor scratches, specks, plastic structures, rainbow pattern


def random_geometry(rng: np.random.Generator) -> DropGeometry:
    """Random well/drop/lighting parameters, all relative, so one geometry renders at any size."""
    well_round = bool(rng.random() < 0.75)
    zoomed = rng.random() < 0.25
    if zoomed:
        well_radius = float(rng.uniform(0.62, 1.1))
    else:
        well_radius = float(rng.uniform(0.40, 0.54)) * (0.95 if well_round else 0.9)
    aspect = 1224 / 1024
    well_center = (
        float(0.5 + rng.uniform(-0.06, 0.06) / aspect),
        float(0.5 + rng.uniform(-0.06, 0.06)),
    )
    # Drop: a third to most of the well, often pushed against the wall.
    drop_radius = well_radius * float(rng.uniform(0.42, 0.8))
    if zoomed:
        drop_radius = float(min(drop_radius, rng.uniform(0.38, 0.6)))
    slack = max(well_radius - drop_radius, 0.0)
    ang = rng.uniform(0, _TWO_PI)
    off = slack * float(rng.uniform(0.0, 1.05))
    if zoomed:
        off = min(off, rng.uniform(0.0, 0.12))
    drop_center = (
        float(well_center[0] + off * math.cos(ang) / aspect),
        float(well_center[1] + off * math.sin(ang)),
    )
    amps = (0.10, 0.09, 0.05, 0.035, 0.02)
    drop_shape = tuple(
        (float(rng.uniform(0, a) * (rng.random() < 0.8)), float(rng.uniform(0, _TWO_PI))) for a in amps
    )
    if rng.random() < 0.25:
        drop_tail = (float(rng.uniform(0, _TWO_PI)), float(rng.uniform(0.25, 0.8)), float(rng.uniform(0.1, 0.25)))
    else:
        drop_tail = (0.0, 0.0, 0.2)
    cast = np.array(_CASTS[int(rng.integers(len(_CASTS)))]) + rng.uniform(-0.04, 0.04, 3)
    cast = np.clip(cast * rng.uniform(0.82, 1.02), 0.3, 1.0)
    tint = np.clip(1.0 + rng.uniform(-0.06, 0.02, 3) - rng.uniform(0.0, 0.05), 0.85, 1.03)
    wall = np.clip(rng.uniform(0.04, 0.12) + rng.uniform(-0.02, 0.03, 3), 0.01, 0.2)
    plastic = np.clip(cast * rng.uniform(0.95, 1.1) + rng.uniform(0.0, 0.1), 0.3, 1.0)
    return DropGeometry(
        well_round=well_round,
        well_center=well_center,
        well_radius=well_radius,
        well_corner=float(rng.uniform(0.15, 0.5)),
        wall_width=float(rng.uniform(0.08, 0.22)),
        wall_outer_corner=float(1.0 if rng.random() < 0.5 else rng.uniform(0.35, 0.8)),
        drop_center=drop_center,
        drop_radius=drop_radius,
        drop_shape=drop_shape,
        drop_tail=drop_tail,
        meniscus_width=float(rng.uniform(0.004, 0.012)),
        meniscus_darkness=float(rng.uniform(0.25, 0.65)),
        lens_darkening=float(rng.uniform(0.05, 0.3)),
        light_angle=float(rng.uniform(0, _TWO_PI)),
        floor_color=tuple(float(c) for c in cast),
        drop_tint=tuple(float(c) for c in tint),
        wall_color=tuple(float(c) for c in wall),
        plastic_color=tuple(float(c) for c in plastic),
        vignette=float(rng.uniform(0.0, 0.3)),
        gradient=(float(rng.uniform(0, _TWO_PI)), float(rng.uniform(0.0, 0.15))),
        rainbow=float(rng.uniform(0.2, 0.5) if rng.random() < 0.15 else 0.0),
        detail_seed=int(rng.integers(0, 2**31 - 1)),
    )


# --------------------------------------------------------------------------------------------
# Shapes in pixel space
# --------------------------------------------------------------------------------------------


def _rounded_box_sdf(x: np.ndarray, y: np.ndarray, cx: float, cy: float, half: float, corner: float) -> np.ndarray:
    """Signed distance to a rounded square (corner = half gives a circle); negative inside."""
    cr = min(max(corner, 0.0), half)
    qx = np.abs(x - cx) - (half - cr)
    qy = np.abs(y - cy) - (half - cr)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - cr


class _Frame:
    """A geometry laid out at one pixel size: well SDFs and the drop outline in pixels."""

    def __init__(self, g: DropGeometry, width: int, height: int) -> None:
        self.g = g
        self.w = width
        self.h = height
        self.wcx = g.well_center[0] * width
        self.wcy = g.well_center[1] * height
        self.well_r = g.well_radius * height
        self.well_corner = self.well_r if g.well_round else g.well_corner * self.well_r
        # Physical scale: the size of a typical well in pixels, so zoomed views show bigger content.
        self.scale = height * g.well_radius / 0.47
        self.cx = g.drop_center[0] * width
        self.cy = g.drop_center[1] * height
        self.angles = np.linspace(0.0, _TWO_PI, _N_OUTLINE, endpoint=False)
        self.radius = self._outline_radius()

    def floor_sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _rounded_box_sdf(x, y, self.wcx, self.wcy, self.well_r, self.well_corner)

    def wall_sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        half = self.well_r + self.g.wall_width * self.h
        return _rounded_box_sdf(x, y, self.wcx, self.wcy, half, self.g.wall_outer_corner * half)

    def _outline_radius(self) -> np.ndarray:
        g, th = self.g, self.angles
        base = g.drop_radius * self.h
        r = np.ones_like(th)
        for k, (amp, phase) in enumerate(g.drop_shape, start=1):
            r += amp * np.cos(k * th + phase)
        tail_angle, tail_len, tail_w = g.drop_tail
        if tail_len > 0:
            d = np.angle(np.exp(1j * (th - tail_angle)))
            r += tail_len * np.exp(-0.5 * (d / tail_w) ** 2)
        r *= base
        # The drop cannot climb over the well wall: pull the outline inside the floor.
        margin = 0.012 * self.h
        cos, sin = np.cos(th), np.sin(th)
        for _ in range(8):
            excess = self.floor_sdf(self.cx + r * cos, self.cy + r * sin) + margin
            r = np.maximum(r - np.maximum(excess, 0.0), 0.1 * base)
        return r

    def outline(self, inset: np.ndarray | float = 0.0) -> np.ndarray:
        """Outline points (N, 2) in pixels, moved inwards by ``inset`` pixels."""
        r = np.maximum(self.radius - inset, 1.0)
        return np.stack([self.cx + r * np.cos(self.angles), self.cy + r * np.sin(self.angles)], axis=1)

    def radius_at(self, theta: np.ndarray) -> np.ndarray:
        return np.interp(np.mod(theta, _TWO_PI), self.angles, self.radius, period=_TWO_PI)

    def sample(self, rng: np.random.Generator, n: int, umax: float = 0.88) -> np.ndarray:
        """n points spread uniformly over the drop interior, up to umax of the way to the edge."""
        th = rng.uniform(0.0, _TWO_PI, n)
        u = umax * np.sqrt(rng.uniform(0.0, 1.0, n))
        r = u * self.radius_at(th)
        return np.stack([self.cx + r * np.cos(th), self.cy + r * np.sin(th)], axis=1)

    def to_polar(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(angle, fraction of the outline radius) of points."""
        dx, dy = pts[:, 0] - self.cx, pts[:, 1] - self.cy
        th = np.arctan2(dy, dx)
        return th, np.hypot(dx, dy) / np.maximum(self.radius_at(th), 1.0)


def _fix(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)


def _level(v: float) -> int:
    """Shade level for a brightness change v in [-1, 1]: 128 is unchanged."""
    return int(np.clip(round(128 + 127 * v), 0, 255))


# --------------------------------------------------------------------------------------------
# Drawing surface
# --------------------------------------------------------------------------------------------


class _Canvas:
    """Full-resolution content layers.

    ``shade`` modulates brightness (128 = unchanged, less = darker, more = towards white) and is
    drawn with occlusion: a crystal drawn on top replaces what is under it. ``brown`` is additive
    brown absorption (precipitate, debris); ``color`` adds light (birefringence).
    """

    def __init__(self, frame: _Frame, growth: float) -> None:
        self.f = frame
        self.w, self.h = frame.w, frame.h
        self.s = frame.scale
        self.growth = growth
        self.light = frame.g.light_angle
        self.shade = np.full((self.h, self.w), 128, np.uint8)
        self.brown: np.ndarray | None = None
        self.color: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    # --- layers ---------------------------------------------------------------------------
    @property
    def drop_mask(self) -> np.ndarray:
        if self._mask is None:
            m = np.zeros((self.h, self.w), np.uint8)
            cv2.fillPoly(m, [_fix(self.f.outline())], 255, cv2.LINE_AA, _SHIFT)
            self._mask = m
        return self._mask

    def brown_layer(self) -> np.ndarray:
        if self.brown is None:
            self.brown = np.zeros((self.h, self.w), np.uint8)
        return self.brown

    def color_layer(self) -> np.ndarray:
        if self.color is None:
            self.color = np.zeros((self.h, self.w, 3), np.uint8)
        return self.color

    # --- primitives -----------------------------------------------------------------------
    def px(self, frac: float) -> float:
        """A length given as a fraction of the physical scale, in pixels."""
        return frac * self.s

    def thick(self, width_px: float, v: float) -> tuple[int, float]:
        """Integer line thickness plus a contrast that keeps sub-pixel lines as dark on average."""
        if width_px >= 1.0:
            return int(round(width_px)), v
        return 1, v * max(width_px, 0.15)

    def poly(self, pts: np.ndarray, v: float) -> None:
        cv2.fillPoly(self.shade, [_fix(pts)], _level(v), cv2.LINE_AA, _SHIFT)

    def polys(self, pts_list: list[np.ndarray], v: float) -> None:
        if pts_list:
            cv2.fillPoly(self.shade, [_fix(p) for p in pts_list], _level(v), cv2.LINE_AA, _SHIFT)

    def lines(self, paths: list[np.ndarray], width_px: float, v: float, closed: bool = False) -> None:
        if not paths:
            return
        t, v = self.thick(width_px, v)
        cv2.polylines(self.shade, [_fix(p) for p in paths], closed, _level(v), t, cv2.LINE_AA, _SHIFT)

    def circle(self, c: np.ndarray, r: float, v: float) -> None:
        r = max(r, 0.3)
        cv2.circle(self.shade, (int(round(c[0] * _ONE)), int(round(c[1] * _ONE))), int(round(r * _ONE)),
                   _level(v), -1, cv2.LINE_AA, _SHIFT)

    # --- textures ---------------------------------------------------------------------------
    @property
    def low_shape(self) -> tuple[int, int]:
        """(height, width) of the quarter-resolution grid that smooth fields live on."""
        return max(2, math.ceil(self.h / 4)), max(2, math.ceil(self.w / 4))

    def field(self, rng: np.random.Generator, cells: float) -> np.ndarray:
        """Smooth random field in [0, 1] with about ``cells`` blobs across the frame height.

        Returned at quarter resolution; ``up`` brings it to full size.
        """
        gh = max(2, int(math.ceil(cells)))
        gw = max(2, int(math.ceil(cells * self.w / self.h)))
        small = rng.random((gh + 2, gw + 2), dtype=np.float32)
        small = cv2.GaussianBlur(small, (0, 0), 0.8)
        small = (small - small.min()) / max(float(np.ptp(small)), 1e-6)
        lh, lw = self.low_shape
        big = cv2.resize(small, (lw + 2 * lw // gw, lh + 2 * lh // gh), interpolation=cv2.INTER_CUBIC)
        oy, ox = lh // gh, lw // gw
        return np.clip(big[oy:oy + lh, ox:ox + lw], 0.0, 1.0)

    def up(self, low: np.ndarray) -> np.ndarray:
        """A quarter-resolution float field (0..1) as a full-size uint8 layer."""
        u8 = np.clip(low * 255.0, 0, 255).astype(np.uint8)
        return cv2.resize(u8, (self.w, self.h), interpolation=cv2.INTER_LINEAR)

    def grains(self, rng: np.random.Generator, cell_px: float, density: np.ndarray | float,
               strength: tuple[float, float]) -> np.ndarray:
        """Sparse granular texture (uint8 darkness) with grains about cell_px wide.

        Grains are seeded on a grid of cell_px and upsampled, so their size follows the image
        size; below a pixel they are averaged down, as a downscaled large image would be.
        """
        cell = max(cell_px, 0.25)
        gh = max(2, int(math.ceil(self.h / cell)))
        gw = max(2, int(math.ceil(self.w / cell)))
        u = rng.random((gh, gw), dtype=np.float32)
        amp = rng.uniform(strength[0], strength[1], (gh, gw)).astype(np.float32)
        if isinstance(density, np.ndarray):
            dens = cv2.resize(density.astype(np.float32), (gw, gh), interpolation=cv2.INTER_LINEAR)
        else:
            dens = np.float32(density)
        gain = 255.0 * 1.6
        g = np.clip(np.where(u < dens, amp * gain, 0.0), 0, 255).astype(np.uint8)
        if cell >= 1.0:
            g = cv2.resize(g, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
            g = cv2.GaussianBlur(g, (0, 0), cell * 0.3)
        else:
            g = cv2.resize(g, (self.w, self.h), interpolation=cv2.INTER_AREA)
        return g

    def _weighted(self, layer: np.ndarray, weight: float, inside_drop: bool) -> np.ndarray:
        d = layer if weight == 1.0 else cv2.convertScaleAbs(layer, alpha=weight)
        if inside_drop:
            d = cv2.multiply(d, self.drop_mask, scale=1.0 / 255.0)
        return d

    def add_brown(self, layer: np.ndarray, weight: float = 1.0, inside_drop: bool = True) -> None:
        """Add a uint8 brown absorption layer (255 = fully brown), by default only in the drop."""
        cv2.add(self.brown_layer(), self._weighted(layer, weight, inside_drop), dst=self.brown)

    def darken(self, layer: np.ndarray, weight: float = 1.0, inside_drop: bool = True) -> None:
        """Darken shade by a uint8 layer (255 = black), accumulating unlike drawn shapes."""
        cv2.subtract(self.shade, self._weighted(layer, weight * 0.5, inside_drop), dst=self.shade)

    def patch_box(self, c: np.ndarray, r: float) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) around c with radius r, clipped to the frame."""
        x0, y0 = max(0, int(c[0] - r)), max(0, int(c[1] - r))
        x1, y1 = min(self.w, int(c[0] + r) + 2), min(self.h, int(c[1] + r) + 2)
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)

    def local(self, c: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
        """An empty uint8 patch covering radius r around c, and its top-left offset."""
        x0, y0, x1, y1 = self.patch_box(c, r)
        return np.zeros((y1 - y0, x1 - x0), np.uint8), np.array([x0, y0], np.float64)

    def add_local(self, patch: np.ndarray, origin: np.ndarray, brown: float = 0.0, dark: float = 0.0) -> None:
        """Apply a local uint8 patch as brown absorption and/or darkening."""
        x0, y0 = int(origin[0]), int(origin[1])
        y1, x1 = y0 + patch.shape[0], x0 + patch.shape[1]
        if brown:
            roi = self.brown_layer()[y0:y1, x0:x1]
            roi[...] = cv2.add(roi, cv2.convertScaleAbs(patch, alpha=brown))
        if dark:
            roi = self.shade[y0:y1, x0:x1]
            roi[...] = cv2.subtract(roi, cv2.convertScaleAbs(patch, alpha=dark * 0.5))


# --------------------------------------------------------------------------------------------
# Background: well floor, wall, plastic, drop tint
# --------------------------------------------------------------------------------------------


def _background(frame: _Frame, balance: np.ndarray) -> np.ndarray:
    """Uint8 RGB image of the empty well with the drop's tint and lens shading.

    Everything here is smooth, so it is computed at low resolution and upsampled.
    """
    g, w, h = frame.g, frame.w, frame.h
    f = max(1, int(round(w / 200)))
    lw, lh = int(math.ceil(w / f)), int(math.ceil(h / f))
    xs = (np.arange(lw, dtype=np.float32) + 0.5) * (w / lw) - 0.5
    ys = (np.arange(lh, dtype=np.float32) + 0.5) * (h / lh) - 0.5
    x, y = np.meshgrid(xs, ys)
    drng = np.random.default_rng(g.detail_seed)

    # Floor lighting: vignette around the well centre and a linear gradient.
    d = np.hypot(x - frame.wcx, y - frame.wcy) / max(frame.well_r, 1.0)
    illum = 1.0 - g.vignette * np.clip(d, 0, 1.5) ** 2
    ga, gs = g.gradient
    illum += gs * ((x - w / 2) * math.cos(ga) + (y - h / 2) * math.sin(ga)) / h
    floor = np.asarray(g.floor_color, np.float32)[None, None, :] * illum[..., None]
    if g.rainbow > 0:
        # Polarised light through the plastic: broad, irregular bands of rainbow colour.
        hue = np.zeros_like(x)
        for _ in range(3):
            a, fr, ph = drng.uniform(0, _TWO_PI), drng.uniform(0.6, 2.0), drng.uniform(0, _TWO_PI)
            hue += np.sin(fr * _TWO_PI * (x * math.cos(a) + y * math.sin(a)) / h + ph)
        hue = hue * 90.0 + drng.uniform(0, 360)
        hsv = np.stack([np.mod(hue, 360.0), np.full_like(hue, g.rainbow), np.ones_like(hue)], axis=-1)
        rgb = cv2.cvtColor(hsv.astype(np.float32), cv2.COLOR_HSV2RGB)
        floor = floor * (0.7 + 0.35 * rgb)

    # Drop: a slightly different tint and a darker band inside its edge (the lens of the meniscus).
    dmask = np.zeros((lh, lw), np.uint8)
    cv2.fillPoly(dmask, [_fix(frame.outline() / f)], 255, cv2.LINE_AA, _SHIFT)
    m = dmask.astype(np.float32) / 255.0
    sigma = max(0.8, 0.03 * h / f)
    inner = cv2.GaussianBlur(m, (0, 0), sigma)
    edge = np.clip((m - inner) * 2.2, 0.0, 1.0)
    tint = np.asarray(g.drop_tint, np.float32)
    floor = floor * (1.0 + m[..., None] * (tint - 1.0)) * (1.0 - g.lens_darkening * edge)[..., None]

    # Well floor, wall and plastic from signed distances.
    sdf_in = frame.floor_sdf(x, y)
    sdf_out = frame.wall_sdf(x, y)
    soft = max(0.6, 0.004 * h, 0.6 * f)
    floor_m = np.clip(0.5 - sdf_in / soft, 0.0, 1.0)
    outer_m = np.clip(0.5 - sdf_out / (2.5 * soft), 0.0, 1.0)
    wall_m = np.clip(outer_m - floor_m, 0.0, 1.0)
    plastic_m = 1.0 - outer_m
    # Shadow of the wall on the floor, and a thin bright rim at the wall's inner edge.
    floor = floor * (1.0 - 0.35 * np.exp(np.minimum(sdf_in, 0.0) / (0.025 * h)))[..., None]
    rim = np.exp(-(((sdf_in - 0.004 * h) / max(0.5, 0.003 * h, 0.7 * f)) ** 2)) * drng.uniform(0.15, 0.45)
    wall_w = g.wall_width * h
    wall_grad = np.clip(sdf_in / max(wall_w, 1.0), 0.0, 1.0)
    wall = np.asarray(g.wall_color, np.float32)[None, None, :] * (1.0 + 0.8 * wall_grad[..., None] ** 3)
    rim_col = np.asarray(g.floor_color, np.float32) * np.array([0.8, 1.0, 0.8], np.float32)
    wall = wall + rim[..., None] * rim_col
    plastic_shade = 1.0 - 0.1 * np.clip(sdf_out / h, 0, 1)
    plastic = np.asarray(g.plastic_color, np.float32)[None, None, :] * plastic_shade[..., None]
    if drng.random() < 0.6:
        # Structures of the plate (ridges, lettering) show as dark bars in the plastic.
        bars = np.zeros((lh, lw), np.uint8)
        for _ in range(int(drng.integers(1, 4))):
            bx, by = drng.uniform(0, lw), drng.uniform(0, lh)
            bw, bh = drng.uniform(0.01, 0.05) * lh, drng.uniform(0.1, 0.6) * lh
            if drng.random() < 0.5:
                bw, bh = bh, bw
            cv2.rectangle(bars, (int(bx), int(by)), (int(bx + bw), int(by + bh)), 255, -1)
        bars_f = cv2.GaussianBlur(bars.astype(np.float32) / 255.0, (0, 0), max(0.7, 0.004 * h / f))
        plastic = plastic * (1.0 - 0.75 * bars_f[..., None])
    img = floor * floor_m[..., None] + wall * wall_m[..., None] + plastic * plastic_m[..., None]
    img = np.clip(img * (255.0 * balance), 0.0, 255.0).astype(np.uint8)
    if f > 1:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def _floor_details(cv: _Canvas, rng: np.random.Generator) -> None:
    """Scratches and specks on the well floor, fixed per drop so they are no class cue."""
    f = cv.f
    for _ in range(int(rng.integers(0, 4))):
        p = np.array([rng.uniform(0, cv.w), rng.uniform(0, cv.h)])
        a = rng.uniform(0, _TWO_PI)
        length = cv.px(rng.uniform(0.05, 0.3))
        bend = rng.uniform(-0.4, 0.4)
        t = np.linspace(0, 1, 12)[:, None]
        dirs = np.stack([np.cos(a + bend * t[:, 0]), np.sin(a + bend * t[:, 0])], axis=1)
        path = p + np.cumsum(dirs * length / 12, axis=0)
        if f.floor_sdf(path[:, 0], path[:, 1]).max() < 0:
            cv.lines([path], cv.px(0.0012), rng.uniform(-0.18, -0.06))
    for _ in range(int(rng.integers(0, 5))):
        p = np.array([rng.uniform(0, cv.w), rng.uniform(0, cv.h)])
        if f.floor_sdf(p[:1], p[1:])[0] < 0:
            cv.circle(p, cv.px(rng.uniform(0.001, 0.003)), rng.uniform(-0.6, -0.3))


# --------------------------------------------------------------------------------------------
# Drop contents, one function per class
# --------------------------------------------------------------------------------------------


def _bubble(cv: _Canvas, c: np.ndarray, r: float, rim: float, centre: float) -> None:
    """A round droplet or air bubble: dark rim, bright centre shifted towards the light."""
    cv.circle(c, r, rim)
    off = 0.12 * r * np.array([math.cos(cv.light), math.sin(cv.light)])
    cv.circle(c + off, r * 0.68, centre)


def _specks(cv: _Canvas, rng: np.random.Generator, n_max: int) -> None:
    """A few specks or air bubbles, allowed in every class so that they are no cue."""
    n = int(rng.integers(0, n_max + 1))
    pts = cv.f.sample(rng, max(n, 1))
    kinds = rng.random(max(n, 1))
    sizes = rng.uniform(0.003, 0.014, max(n, 1))
    for i in range(n):
        if kinds[i] < 0.5:
            _bubble(cv, pts[i], cv.px(sizes[i]), -0.55, 0.25)
        else:
            cv.circle(pts[i], cv.px(sizes[i] * 0.35), -0.6)


def _draw_clear(cv: _Canvas, rng: np.random.Generator) -> None:
    _specks(cv, rng, 2)


def _precipitate(cv: _Canvas, rng: np.random.Generator, heavy: bool) -> None:
    gr = cv.growth
    patch = cv.field(rng, rng.uniform(2.0, 6.0))
    # Denser towards one side or in patches, as real precipitate settles unevenly.
    bias = rng.uniform(0.0, 0.8)
    dens_map = np.clip((1.0 - bias) + bias * 1.6 * patch, 0.0, 1.6).astype(np.float32)
    if heavy:
        dens_map = np.clip(dens_map, 0.35, 1.6)
        haze = rng.uniform(0.25, 0.6) * (0.75 + 0.25 * gr)
        fine_d = rng.uniform(0.25, 0.5) * (0.7 + 0.3 * gr)
        coarse_d = rng.uniform(0.06, 0.16) * (0.7 + 0.3 * gr)
        fine_cell, coarse_cell = rng.uniform(0.0025, 0.004), rng.uniform(0.006, 0.011)
        fine = cv.grains(rng, cv.px(fine_cell), dens_map * fine_d, (0.35, 0.9))
        coarse = cv.grains(rng, cv.px(coarse_cell), dens_map * coarse_d, (0.5, 1.0))
        clumps = np.clip((cv.field(rng, rng.uniform(8.0, 18.0)) - rng.uniform(0.45, 0.65)) * 2.5, 0, 1)
        cloud = haze * (0.5 + 0.5 * dens_map) + rng.uniform(0.2, 0.5) * clumps * dens_map
        cv.add_brown(cv.up(cloud))
        cv.add_brown(fine, 0.75)
        cv.add_brown(coarse, 0.8)
        cv.darken(fine, 0.25)
        cv.darken(coarse, 0.3)
    else:
        haze = rng.uniform(0.0, 0.08) * (0.75 + 0.25 * gr)
        cell = rng.uniform(0.004, 0.007)
        dens = rng.uniform(0.05, 0.14) * (0.7 + 0.3 * gr)
        grains = cv.grains(rng, cv.px(cell), dens_map * dens, (0.3, 0.7))
        fine = cv.grains(rng, cv.px(cell * 0.55), dens_map * dens * 1.5, (0.15, 0.4))
        cv.add_brown(cv.up(haze * dens_map))
        cv.add_brown(grains, 0.7)
        cv.add_brown(fine, 0.5)
        cv.darken(grains, 0.2)
    _specks(cv, rng, 1)


def _draw_light_precipitate(cv: _Canvas, rng: np.random.Generator) -> None:
    _precipitate(cv, rng, heavy=False)


def _draw_heavy_precipitate(cv: _Canvas, rng: np.random.Generator) -> None:
    _precipitate(cv, rng, heavy=True)


def _draw_phase_separation(cv: _Canvas, rng: np.random.Generator) -> None:
    n = int(rng.integers(40, 220))
    clustered = rng.random() < 0.5
    if clustered:
        centres = cv.f.sample(rng, int(rng.integers(1, 4)), 0.7)
        idx = rng.integers(0, len(centres), n)
        spread = cv.px(rng.uniform(0.06, 0.16))
        pts = centres[idx] + rng.normal(0, spread, (n, 2))
        pts = np.where(rng.random((n, 1)) < 0.7, pts, cv.f.sample(rng, n))
    else:
        pts = cv.f.sample(rng, n)
    # Power-law sizes: many small droplets, a few big ones.
    rmin, rmax = rng.uniform(0.004, 0.007), rng.uniform(0.025, 0.05)
    u = rng.random(n)
    radii = rmin * (rmax / rmin) ** (u ** rng.uniform(1.5, 3.0))
    th, frac = cv.f.to_polar(pts)
    keep = frac < 0.95
    size = 0.75 + 0.25 * cv.growth
    rim = rng.uniform(-0.75, -0.45)
    centre = rng.uniform(0.15, 0.45)
    rim_v = rng.uniform(-0.1, 0.1, n)
    off = np.array([math.cos(cv.light), math.sin(cv.light)])
    # All rims first, then all centres: touching droplets look coalesced.
    for i in np.flatnonzero(keep):
        cv.circle(pts[i], cv.px(radii[i] * size), rim + rim_v[i])
    for i in np.flatnonzero(keep):
        r = cv.px(radii[i] * size)
        cv.circle(pts[i] + 0.12 * r * off, r * 0.66, centre)
    for i in np.flatnonzero(keep & (radii > 0.012)):
        r = cv.px(radii[i] * size)
        cv.circle(pts[i] + 0.35 * r * off, r * 0.15, 0.8)
    _specks(cv, rng, 1)


def _wavy_path(rng: np.random.Generator, n: int, amp: float, waves: float) -> np.ndarray:
    """Smooth random offsets along a path, for wrinkles and fibres."""
    t = np.linspace(0, 1, n)
    out = np.zeros(n)
    for k in range(1, 4):
        out += amp / k * np.sin(_TWO_PI * (waves * k * rng.uniform(0.7, 1.3)) * t + rng.uniform(0, _TWO_PI))
    return out


def _draw_skin(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    strength = 0.45 + 0.55 * gr
    # A faint greyish film over the whole drop.
    cv.add_brown(np.full((cv.h, cv.w), int(255 * rng.uniform(0.04, 0.14) * strength), np.uint8))
    n = int(rng.integers(12, 34))
    dark_paths: list[tuple[np.ndarray, float, float]] = []
    for _ in range(n):
        u0 = 1.0 - 0.5 * rng.random() ** 1.6  # mostly near the edge
        th0 = rng.uniform(0, _TWO_PI)
        span = rng.uniform(0.4, 2.2)
        m = 140
        th = th0 + np.linspace(0, span, m)
        u = u0 - 0.03 + _wavy_path(rng, m, 0.04, rng.uniform(1, 3))
        u += _wavy_path(rng, m, 0.006 * gr, rng.uniform(3, 6))  # fine wrinkling grows with age
        u = np.clip(u, 0.2, 0.96)
        r = u * f.radius_at(th)
        path = np.stack([f.cx + r * np.cos(th), f.cy + r * np.sin(th)], axis=1)
        near = (u0 - 0.5) / 0.5
        dark_paths.append((path, cv.px(rng.uniform(0.003, 0.008)), -(0.2 + 0.45 * near) * strength))
    # Radial folds running in from the edge.
    for _ in range(int(rng.integers(4, 14))):
        th0 = rng.uniform(0, _TWO_PI)
        m = 60
        u = np.linspace(0.96, rng.uniform(0.45, 0.85), m)
        th = th0 + _wavy_path(rng, m, 0.03, rng.uniform(0.5, 1.5)) / np.maximum(u, 0.3)
        r = u * f.radius_at(th)
        path = np.stack([f.cx + r * np.cos(th), f.cy + r * np.sin(th)], axis=1)
        dark_paths.append((path, cv.px(rng.uniform(0.003, 0.007)), -rng.uniform(0.25, 0.5) * strength))
    off = np.array([math.cos(cv.light), math.sin(cv.light)])
    # Soft shadows of the folds, drawn at half resolution since they are blurry anyway.
    shadow = np.zeros((cv.h // 2 + 1, cv.w // 2 + 1), np.uint8)
    for path, wpx, v in dark_paths:
        t, a = cv.thick(wpx * 1.25, -v * 0.3)
        cv2.polylines(shadow, [_fix(path * 0.5)], False, int(255 * min(a, 1.0)), t, cv2.LINE_AA, _SHIFT)
    shadow = cv2.resize(shadow, (cv.w, cv.h), interpolation=cv2.INTER_LINEAR)
    cv.darken(shadow, inside_drop=False)
    for path, wpx, v in dark_paths:
        # The crease itself and a bright ridge on the lit side.
        cv.lines([path], wpx, v)
        cv.lines([path + off * wpx * 1.1], wpx * 0.5, -v * 0.3)
    _specks(cv, rng, 1)


def _blob(rng: np.random.Generator, c: np.ndarray, r: float, rough: float, n: int = 28) -> np.ndarray:
    th = np.linspace(0, _TWO_PI, n, endpoint=False)
    rad = r * (1.0 + rough * _wavy_path(rng, n + 1, 1.0, rng.uniform(2, 4))[:n] + rng.uniform(-rough, rough, n) * 0.4)
    rad = np.maximum(rad, 0.2 * r)
    return np.stack([c[0] + rad * np.cos(th), c[1] + rad * np.sin(th)], axis=1)


def _fibre(cv: _Canvas, rng: np.random.Generator, start: np.ndarray, length: float, curl: float) -> np.ndarray:
    m = 50
    a0 = rng.uniform(0, _TWO_PI)
    ang = a0 + _wavy_path(rng, m, curl, rng.uniform(0.5, 2.0)) + np.linspace(0, rng.uniform(-curl, curl), m)
    step = length / m
    return start + np.cumsum(np.stack([np.cos(ang), np.sin(ang)], axis=1) * step, axis=0)


def _draw_other(cv: _Canvas, rng: np.random.Generator) -> None:
    f = cv.f
    kinds = rng.random(3)
    chosen = {"fibres": kinds[0] < 0.5, "debris": kinds[1] < 0.5, "dry": kinds[2] < 0.4}
    if not any(chosen.values()):
        chosen[("fibres", "debris", "dry")[int(rng.integers(3))]] = True
    if chosen["dry"]:
        # Dried drop: mottled crust, cracks, and a thick irregular salt rim.
        crust = cv.field(rng, rng.uniform(6, 14))
        cv.add_brown(cv.up(rng.uniform(0.15, 0.35) * crust + 0.08))
        # Cracks of the dried crust: a jagged Voronoi network, each piece a slightly different tone.
        x0, y0, x1, y1 = cv.patch_box(np.array([f.cx, f.cy]), float(f.radius.max()) + 2)
        sub = cv2.Subdiv2D((x0, y0, max(x1 - x0, 2), max(y1 - y0, 2)))
        seeds = f.sample(rng, int(rng.integers(10, 45)), 1.0)
        seeds[:, 0] = np.clip(seeds[:, 0], x0 + 0.5, x1 - 1.5)
        seeds[:, 1] = np.clip(seeds[:, 1], y0 + 0.5, y1 - 1.5)
        sub.insert([(float(a), float(b)) for a, b in seeds])
        facets, _ = sub.getVoronoiFacetList([])
        tones = rng.uniform(-0.12, 0.1, len(facets))
        jag = cv.px(0.006)
        paths = []
        edges: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        tone_img = np.full((y1 - y0, x1 - x0), 128, np.uint8)
        origin = np.array([x0, y0], np.float64)
        for facet, tone in zip(facets, tones):
            poly = np.asarray(facet, np.float64)
            if len(poly) < 3:
                continue
            cv2.fillPoly(tone_img, [_fix(poly - origin)], _level(float(tone)), cv2.LINE_AA, _SHIFT)
            for a, b in zip(poly, np.roll(poly, -1, axis=0)):
                key = tuple(sorted([(round(a[0], 1), round(a[1], 1)), (round(b[0], 1), round(b[1], 1))]))
                edges.setdefault(key, (a, b))
        t = np.linspace(0, 1, 6)[:, None]
        for a, b in edges.values():
            normal = np.array([a[1] - b[1], b[0] - a[0]]) / max(float(np.hypot(*(b - a))), 1e-6)
            wob = rng.normal(0, jag, (6, 1)) * np.sin(np.pi * t)
            paths.append(a * (1 - t) + b * t + wob * normal)
        roi_mask = cv.drop_mask[y0:y1, x0:x1]
        lighter = cv2.multiply(cv2.subtract(tone_img, np.full_like(tone_img, 128)), roi_mask, scale=1.0 / 255.0)
        darker = cv2.multiply(cv2.subtract(np.full_like(tone_img, 128), tone_img), roi_mask, scale=1.0 / 255.0)
        roi = cv.shade[y0:y1, x0:x1]
        roi[...] = cv2.subtract(cv2.add(roi, lighter), darker)
        off = np.array([math.cos(cv.light), math.sin(cv.light)]) * cv.px(0.0025)
        crack = np.zeros_like(cv.shade)
        t, v = cv.thick(cv.px(0.0015), 1.0)
        cv2.polylines(crack, [_fix(p + off) for p in paths], False, int(255 * v), t, cv2.LINE_AA, _SHIFT)
        cv.shade = cv2.add(cv.shade, cv2.multiply(crack, cv.drop_mask, scale=0.35 / 255.0))
        crack[:] = 0
        t, v = cv.thick(cv.px(rng.uniform(0.0018, 0.003)), 1.0)
        cv2.polylines(crack, [_fix(p) for p in paths], False, int(255 * v), t, cv2.LINE_AA, _SHIFT)
        cv.darken(crack, rng.uniform(0.6, 0.9))
        rim_in = f.radius * rng.uniform(0.03, 0.1) * (1 + 0.6 * _wavy_path(rng, _N_OUTLINE, 1.0, 6))
        ring = np.zeros_like(cv.shade)
        cv2.fillPoly(ring, [_fix(f.outline()), _fix(f.outline(np.maximum(rim_in, 1.0)))], 255, cv2.LINE_AA, _SHIFT)
        cv.add_brown(ring, rng.uniform(0.3, 0.6), inside_drop=False)
    if chosen["debris"]:
        for c in f.sample(rng, int(rng.integers(1, 6)), 0.85):
            r = cv.px(rng.uniform(0.018, 0.06))
            lump, o = cv.local(c, r * 2.2)
            cv2.fillPoly(lump, [_fix(_blob(rng, c - o, r, 0.35))], int(rng.uniform(120, 220)), cv2.LINE_AA, _SHIFT)
            for _ in range(int(rng.integers(2, 6))):
                cc = c - o + rng.normal(0, r * 0.4, 2)
                cv2.fillPoly(lump, [_fix(_blob(rng, cc, r * rng.uniform(0.2, 0.5), 0.4, 16))],
                             int(rng.uniform(180, 255)), cv2.LINE_AA, _SHIFT)
            lump = cv2.GaussianBlur(lump, (0, 0), max(0.5, r * 0.06))
            cv.add_local(lump, o, brown=1.0, dark=0.5)
            hairs = [_fibre(cv, rng, c + rng.normal(0, r * 0.3, 2), r * rng.uniform(0.8, 2.0), 0.6)
                     for _ in range(int(rng.integers(0, 5)))]
            cv.lines(hairs, cv.px(0.0015), -0.5)
    if chosen["fibres"]:
        paths = []
        for _ in range(int(rng.integers(2, 6))):
            start = f.sample(rng, 1, 1.1)[0]
            paths.append(_fibre(cv, rng, start, cv.px(rng.uniform(0.2, 0.6)), rng.uniform(0.3, 1.2)))
        w = cv.px(rng.uniform(0.003, 0.006))
        cv.lines(paths, w * 2.2, -0.15)
        cv.lines(paths, w, -rng.uniform(0.5, 0.8))
    _specks(cv, rng, 2)


def _crystallite(rng: np.random.Generator, c: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A tiny sharp crystal as two facets (triangles) sharing a diagonal."""
    a = rng.uniform(0, _TWO_PI)
    stretch = rng.uniform(1.0, 2.2)
    ang = a + np.array([0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi]) + rng.uniform(-0.3, 0.3, 4)
    rad = size * 0.5 * np.array([stretch, 1.0, stretch, 1.0]) * rng.uniform(0.8, 1.2, 4)
    q = c + np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    return q[[0, 1, 2]], q[[0, 2, 3]]


def _draw_microcrystals(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    mode = rng.random()
    n_clusters = int(rng.integers(2, 10)) if mode < 0.75 else 0
    n_sph = int(rng.integers(3, 20)) if mode > 0.45 else 0
    bright: list[np.ndarray] = []
    dark: list[np.ndarray] = []
    for c in f.sample(rng, max(n_clusters, 1), 0.8)[:n_clusters]:
        k = int(rng.integers(20, 80))
        spread = cv.px(rng.uniform(0.012, 0.04))
        pts = c + rng.normal(0, spread, (k, 2))
        sizes = cv.px(rng.uniform(0.004, 0.012, k)) * gr
        for p, sz in zip(pts, sizes):
            t1, t2 = _crystallite(rng, p, sz)
            if rng.random() < 0.5:
                t1, t2 = t2, t1
            bright.append(t1)
            dark.append(t2)
        # A faint shadow under the cluster makes it read as one object at low resolution.
        halo, o = cv.local(c, spread * 3.5)
        yy, xx = np.ogrid[: halo.shape[0], : halo.shape[1]]
        d2 = (xx - (c[0] - o[0])) ** 2 + (yy - (c[1] - o[1])) ** 2
        halo = (255.0 * np.exp(-d2 / (2.0 * (1.6 * spread) ** 2))).astype(np.uint8)
        cv.add_local(halo, o, dark=0.15 * gr)
    cv.polys(dark, -0.8)
    cv.polys(bright, 0.75)
    off = np.array([math.cos(cv.light), math.sin(cv.light)])
    for c in f.sample(rng, max(n_sph, 1), 0.85)[:n_sph]:
        # Spherulite: a fuzzy ball of radiating fibres around a dark dense core.
        r = cv.px(rng.uniform(0.014, 0.04)) * gr
        k = int(rng.integers(60, 120))
        ang = rng.uniform(0, _TWO_PI, k)
        ln = r * rng.uniform(0.5, 1.0, k)
        tips = c + np.stack([ln * np.cos(ang), ln * np.sin(ang)], axis=1)
        cv.circle(c, r * 1.05, rng.uniform(0.08, 0.2))
        spokes = [np.stack([c, t]) for t in tips]
        cv.lines(spokes[: k // 2], max(r * 0.035, cv.px(0.001)), -0.5)
        cv.lines(spokes[k // 2:], max(r * 0.05, cv.px(0.0012)), -0.8)
        cv.lines([np.stack([c, c + (t - c) * 0.8]) + off * r * 0.05 for t in tips[::4]],
                 max(r * 0.025, cv.px(0.001)), 0.55)
        cv.circle(c, r * 0.28, -0.85)
    _specks(cv, rng, 1)


def _draw_needles(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    segs: list[tuple[np.ndarray, float]] = []
    urchins = int(rng.integers(1, 6)) if rng.random() < 0.7 else 0
    loose = int(rng.integers(8, 50)) if (urchins == 0 or rng.random() < 0.4) else 0
    for c in f.sample(rng, max(urchins, 1), 0.75)[:urchins]:
        k = int(rng.integers(10, 40))
        full = rng.random() < 0.5
        a0 = rng.uniform(0, _TWO_PI)
        ang = rng.uniform(0, _TWO_PI, k) if full else a0 + rng.normal(0, rng.uniform(0.3, 0.8), k)
        ln = cv.px(rng.uniform(0.05, 0.2)) * rng.uniform(0.5, 1.0, k) * gr
        w = cv.px(rng.uniform(0.0025, 0.006))
        for a, l in zip(ang, ln):
            d = np.array([math.cos(a), math.sin(a)])
            segs.append((np.stack([c - d * l * 0.05, c + d * l]), w))
    pts = f.sample(rng, max(loose, 1), 0.85)[:loose]
    ang = rng.uniform(0, _TWO_PI, max(loose, 1))[:loose]
    if loose and rng.random() < 0.5:
        ang = rng.choice([rng.uniform(0, math.pi), rng.uniform(0, math.pi)], loose) + rng.normal(0, 0.1, loose)
    lens = cv.px(rng.uniform(0.05, 0.22, max(loose, 1)))[:loose] * gr
    widths = cv.px(rng.uniform(0.0025, 0.006, max(loose, 1)))[:loose]
    for p, a, l, w in zip(pts, ang, lens, widths):
        d = np.array([math.cos(a), math.sin(a)]) * l / 2
        segs.append((np.stack([p - d, p + d]), w))
    dark_v = rng.uniform(-0.9, -0.6)
    for path, w in segs:
        cv.lines([path], w, dark_v)
    for path, w in segs:
        if w > 0.0024 * cv.h:
            cv.lines([path], w * 0.3, 0.55)
    if rng.random() < 0.25:
        # Birefringence: some needles glow yellow to blue between partly crossed polarisers.
        col = cv.color_layer()
        hues = rng.choice([15.0, 25.0, 100.0, 110.0, 140.0], len(segs))
        glow = rng.random(len(segs)) < 0.5
        for (path, w), hue, on in zip(segs, hues, glow):
            if not on:
                continue
            rgb = cv2.cvtColor(np.uint8([[[hue, 150, 150]]]), cv2.COLOR_HSV2RGB)[0, 0]
            t, v = cv.thick(w * 0.5, 1.0)
            cv2.polylines(col, [_fix(path)], False, tuple(int(x * v) for x in rgb), t, cv2.LINE_AA, _SHIFT)
    _specks(cv, rng, 1)


def _plate_shape(rng: np.random.Generator, size: float) -> np.ndarray:
    kind = rng.random()
    if kind < 0.4:  # hexagon, maybe elongated
        ang = np.arange(6) * math.pi / 3
        pts = np.stack([np.cos(ang) * rng.uniform(1.0, 1.8), np.sin(ang)], axis=1) * 0.5
    elif kind < 0.7:  # rhombus
        a = rng.uniform(0.4, 0.8)
        pts = np.array([[1, 0], [0, a], [-1, 0], [0, -a]]) * 0.5
    else:  # elongated rectangle
        asp = rng.uniform(1.4, 2.8)
        pts = np.array([[asp, 1], [-asp, 1], [-asp, -1], [asp, -1]]) * 0.5 / math.sqrt(asp)
    pts = pts + rng.uniform(-0.04, 0.04, pts.shape)
    rot = rng.uniform(0, _TWO_PI)
    c, s = math.cos(rot), math.sin(rot)
    return pts @ np.array([[c, s], [-s, c]]) * size


def _draw_plates(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    n = int(rng.integers(2, 9))
    plates: list[np.ndarray] = []
    fills: list[float] = []
    base_fill = rng.uniform(0.06, 0.16) * rng.choice([-1.0, 1.0])
    for c in f.sample(rng, n, 0.75):
        shape = _plate_shape(rng, cv.px(rng.uniform(0.07, 0.22)))
        stack = int(rng.integers(1, 4)) if rng.random() < 0.35 else 1
        for j in range(stack):
            rot = rng.uniform(-0.5, 0.5) * (j > 0)
            cr, sr = math.cos(rot), math.sin(rot)
            sh = shape @ np.array([[cr, sr], [-sr, cr]]) * (rng.uniform(0.6, 1.0) if j else 1.0)
            off = rng.normal(0, cv.px(0.025), 2) * (j > 0)
            plates.append(c + off + sh * gr)
            fills.append(base_fill + rng.uniform(-0.05, 0.05) - 0.08 * j)
    outline_w = cv.px(rng.uniform(0.0022, 0.0038))
    off = np.array([math.cos(cv.light), math.sin(cv.light)])
    for p, v in zip(plates, fills):
        cv.poly(p, v)
    for p in plates:
        c = p.mean(axis=0)
        inner = c + (p - c) * max(0.0, 1.0 - 2.2 * outline_w / max(np.ptp(p, axis=0).min(), 1.0))
        cv.lines([inner + off * outline_w * 0.3], outline_w * 0.45, 0.45, closed=True)
        cv.lines([p], outline_w, -rng.uniform(0.55, 0.8), closed=True)
    _specks(cv, rng, 1)


def _draw_crystals_3d(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    n = int(rng.integers(3, 18))
    light = np.array([math.cos(cv.light), math.sin(cv.light)])
    sizes = cv.px(rng.uniform(0.028, 0.095, n) * rng.uniform(0.6, 1.0, n) ** 2 + 0.012)
    centres = f.sample(rng, n, 0.8)
    for c, size in zip(centres, sizes):
        nv = int(rng.choice([4, 4, 4, 6, 6, 6, 5]))
        ang = rng.uniform(0, _TWO_PI) + np.arange(nv) * _TWO_PI / nv + rng.uniform(-0.12, 0.12, nv)
        stretch = rng.uniform(1.0, 1.5)
        top = np.stack([np.cos(ang) * stretch, np.sin(ang)], axis=1) * 0.5
        rot = rng.uniform(0, _TWO_PI)
        cr, sr = math.cos(rot), math.sin(rot)
        top = top @ np.array([[cr, sr], [-sr, cr]]) * size * gr
        depth_dir = rng.uniform(0, _TWO_PI)
        depth = np.array([math.cos(depth_dir), math.sin(depth_dir)]) * size * gr * rng.uniform(0.18, 0.45)
        top_v = rng.uniform(0.05, 0.4)
        contrast = rng.uniform(0.5, 0.9)
        outline_w = max(cv.px(0.0025) * (0.5 + 0.5 * gr), 0.5)
        bottom = top + depth
        hull = cv2.convexHull(np.concatenate([top, bottom]).astype(np.float32))[:, 0, :]
        cv.poly(c + hull, -0.4)
        # Side faces facing the offset are visible; their shade follows the light direction.
        for i in range(nv):
            a, b = top[i], top[(i + 1) % nv]
            edge = b - a
            normal = np.array([edge[1], -edge[0]])
            nn = np.linalg.norm(normal)
            if nn == 0:
                continue
            normal /= nn
            centroid = top.mean(axis=0)
            if np.dot(normal, (a + b) / 2 - centroid) < 0:
                normal = -normal
            if np.dot(normal, depth) <= 0:
                continue
            lit = float(np.dot(normal, light))
            cv.poly(c + np.stack([a, b, b + depth, a + depth]), contrast * (0.75 * lit - 0.2))
        cv.poly(c + top, top_v)
        # Crisp edges: dark silhouette, bright top edges facing the light, dark ones facing away.
        cv.lines([c + hull], outline_w * 1.2, -0.8, closed=True)
        centroid = top.mean(axis=0)
        for i in range(nv):
            a, b = top[i], top[(i + 1) % nv]
            mid = (a + b) / 2 - centroid
            facing = float(np.dot(mid / max(np.linalg.norm(mid), 1e-6), light))
            if facing > 0.2:
                cv.lines([c + np.stack([a, b]) - light * outline_w * 0.6], outline_w * 0.8, 0.85)
            elif facing < -0.2:
                cv.lines([c + np.stack([a, b])], outline_w, -0.7)
    _specks(cv, rng, 1)


_DRAW = {
    "clear": _draw_clear,
    "light_precipitate": _draw_light_precipitate,
    "heavy_precipitate": _draw_heavy_precipitate,
    "phase_separation": _draw_phase_separation,
    "skin": _draw_skin,
    "other": _draw_other,
    "microcrystals": _draw_microcrystals,
    "needles": _draw_needles,
    "plates": _draw_plates,
    "crystals_3d": _draw_crystals_3d,
}


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _shade_luts(exposure: float) -> tuple[np.ndarray, np.ndarray]:
    """Gain (x128) and offset per shade level: below 128 darkens, above blends towards white."""
    s = np.arange(256, dtype=np.float32)
    t = np.clip((s - 128.0) / 127.0, 0.0, 1.0)
    gain = np.where(s <= 128, np.maximum(s / 128.0, 0.02), 1.0 - t) * exposure
    offset = t * 250.0 * exposure
    return (np.clip(np.round(gain * 128.0), 0, 255).astype(np.uint8),
            np.clip(np.round(offset), 0, 255).astype(np.uint8))


_BROWN_LUT = np.clip(np.round(255.0 * (1.0 - np.arange(256, dtype=np.float32)[:, None] / 255.0 * _BROWN[None, :])),
                     0, 255).astype(np.uint8).reshape(256, 1, 3)


def _meniscus(cv: _Canvas) -> None:
    """Dark band along the drop edge, thicker on the shadow side, with a thin bright inner line."""
    f, g = cv.f, cv.f.g
    width = g.meniscus_width * cv.h * (1.0 + 0.6 * np.cos(f.angles - g.light_angle - math.pi))
    width = np.maximum(width, 0.6)
    cv2.fillPoly(cv.shade, [_fix(f.outline()), _fix(f.outline(width))], _level(-g.meniscus_darkness),
                 cv2.LINE_AA, _SHIFT)
    inner = f.outline(width + max(0.5, 0.002 * cv.h))
    cv.lines([inner], 0.0015 * cv.h, 0.3, closed=True)


def _seed(*parts: int) -> np.random.Generator:
    return np.random.default_rng([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts])


def render_drop(label: str, geometry: DropGeometry, content_seed: int, growth: float = 1.0,
                size: tuple[int, int] = (1224, 1024)) -> np.ndarray:
    """Render one drop image as an RGB uint8 array of shape (height, width, 3); size is (width, height).

    ``content_seed`` fixes the contents, so a larger ``growth`` (0 < growth <= 1) shows the same
    drop at a later inspection: crystals bigger, precipitate denser, skin wrinkles stronger.
    Focus, exposure and noise derive from ``content_seed`` and ``growth``, so the output is
    deterministic. Unknown labels raise ValueError.
    """
    if label not in _CLASS_INDEX:
        raise ValueError(f"unknown class {label!r}; expected one of {', '.join(CLASS_KEYS)}")
    width, height = int(size[0]), int(size[1])
    if width < 8 or height < 8:
        raise ValueError(f"size {size} too small")
    growth = float(growth)
    if not 0.0 < growth <= 1.0:
        raise ValueError(f"growth must be in (0, 1], got {growth}")
    frame = _Frame(geometry, width, height)
    # Small renders draw the contents supersampled and average them down, so thin lines and tiny
    # grains look as they would in a downscaled full-size image instead of as 1 px strokes.
    k = 1 if height >= _SUPERSAMPLE_HEIGHT else min(8, math.ceil(_SUPERSAMPLE_HEIGHT / height))
    cv = _Canvas(frame if k == 1 else _Frame(geometry, width * k, height * k), growth)
    _floor_details(cv, _seed(geometry.detail_seed, 1))
    _DRAW[label](cv, _seed(content_seed, 2, _CLASS_INDEX[label]))
    _meniscus(cv)

    # Per-image variation (one inspection): focus, exposure, white balance, noise.
    img_rng = _seed(content_seed, 3, int(round(growth * 1e6)))
    blur = cv.h * 0.0016 * img_rng.random() ** 1.5
    exposure = float(img_rng.uniform(0.88, 1.08))
    balance = (1.0 + img_rng.uniform(-0.03, 0.03, 3)).astype(np.float32)
    noise_sigma = float(img_rng.uniform(0.006, 0.025))
    if blur > 0.35:
        cv.shade = cv2.GaussianBlur(cv.shade, (0, 0), blur)
        if cv.brown is not None:
            cv.brown = cv2.GaussianBlur(cv.brown, (0, 0), blur)
        if cv.color is not None:
            cv.color = cv2.GaussianBlur(cv.color, (0, 0), blur)
    if k > 1:
        cv.shade = cv2.resize(cv.shade, (width, height), interpolation=cv2.INTER_AREA)
        if cv.brown is not None:
            cv.brown = cv2.resize(cv.brown, (width, height), interpolation=cv2.INTER_AREA)
        if cv.color is not None:
            cv.color = cv2.resize(cv.color, (width, height), interpolation=cv2.INTER_AREA)

    # Sensor noise on the brightness modulation; a tile keeps it cheap at full size.
    th, tw = min(128, height), min(128, width)
    # Per-pixel noise of a 1024-line sensor; smaller renders average it down like a downscale would.
    noise_sigma *= min(1.0, height / 1024.0)
    noise = img_rng.normal(0.0, noise_sigma * 128.0, (th, tw)).astype(np.float32)
    reps = (math.ceil(height / th), math.ceil(width / tw))
    pos = np.tile(np.clip(noise, 0, 255).astype(np.uint8), reps)[:height, :width]
    neg = np.tile(np.clip(-noise, 0, 255).astype(np.uint8), reps)[:height, :width]
    shade = cv2.subtract(cv2.add(cv.shade, pos), neg)

    base = _background(frame, balance)
    gain_lut, offset_lut = _shade_luts(exposure)
    gain = cv2.cvtColor(cv2.LUT(shade, gain_lut), cv2.COLOR_GRAY2RGB)
    offset = cv2.cvtColor(cv2.LUT(shade, offset_lut), cv2.COLOR_GRAY2RGB)
    out = cv2.add(cv2.multiply(base, gain, scale=1.0 / 128.0), offset)
    if cv.brown is not None:
        absorb = cv2.LUT(cv2.cvtColor(cv.brown, cv2.COLOR_GRAY2RGB), _BROWN_LUT)
        out = cv2.multiply(out, absorb, scale=1.0 / 255.0)
    if cv.color is not None:
        out = cv2.add(out, cv.color)
    return out


def random_drop(label: str, rng: np.random.Generator, size: tuple[int, int] = (1224, 1024)) -> np.ndarray:
    """A random drop of one class: random geometry, content seed and growth in [0.6, 1]."""
    geometry = random_geometry(rng)
    seed = int(rng.integers(0, 2**63 - 1))
    growth = float(rng.uniform(0.6, 1.0))
    return render_drop(label, geometry, seed, growth, size)
