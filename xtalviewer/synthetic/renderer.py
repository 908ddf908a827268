"""Synthetic plate-imager drop images in the ten xtal10 classes.

Before a lab has labelled anything, models learn from these images only, so they must look like
what imagers write: mostly grey or grey-blue brightfield under a dark round well wall or in a
bright square well, polarised colour casts the rarer case (see ``synthetic_style``). A plate
style is drawn once per plate (``random_style``); each drop's geometry (``random_geometry``)
derives from it, and the class decides only what the drop contains. Everything that should not
matter (imager, well kind, drop shape and position, lighting, colour cast, focus, noise, JPEG
compression, dust and fibres) varies with the style or the drop, never with the class.

All geometry is in fractions of the frame, so one drop renders at any size. The drop (well, outline,
lighting) and its contents are seeded separately: rendering the same geometry and content seed with
a larger ``growth`` shows the same crystals or precipitate at a later inspection, grown.

Speed: about 40 ms per 1224x1024 image on one core. Measured as CPU time with
``cv2.setNumThreads(1)``, median over all classes and random styles, interleaved with the generator
before plate styles on the same busy 2-core machine: 70 ms against its 56 ms (x1.25), where that
generator takes about 30 ms on an idle core. Small renders (256x214, contents supersampled) cost
less than before: 33 against 39 ms under the same load.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from xtalviewer.synthetic.styles import PlateStyle, random_style

__all__ = [
    "CLASS_KEYS",
    "CRYSTAL_KEYS",
    "composite",
    "DropGeometry",
    "PlateStyle",
    "random_drop",
    "random_geometry",
    "random_style",
    "render_drop",
]

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
_JPEG_MIN_HEIGHT = 400  # below this, compression artefacts would be far larger than in a downscaled image
_TWO_PI = 2.0 * math.pi
_ASPECT = 1224 / 1024

# Absorption per RGB channel of brown material (precipitate, debris): blue is absorbed most.
_BROWN = np.array([0.50, 0.66, 0.82], np.float32)


@dataclass(frozen=True)
class DropGeometry:
    """Everything fixed for one drop across its inspections: well, drop outline, lighting, cast.

    Positions are fractions of the frame width/height; lengths are fractions of the frame height.
    ``style`` is the plate's imaging style the rest was drawn from.
    """

    well_round: bool
    well_center: tuple[float, float]
    well_radius: float  # radius, or half side of a square well
    well_corner: float  # corner size of a square well, as a fraction of its half side
    wall_width: float
    wall_outer_corner: float  # 1 = round outer wall boundary, less = rounded square
    wall_offset: tuple[float, float]  # outer wall shifted against the floor: the well seen slightly askew
    drop_center: tuple[float, float]
    drop_radius: float
    drop_shape: tuple[tuple[float, float], ...]  # (amplitude, phase) of outline harmonics 1..5
    drop_tail: tuple[float, float, float]  # angle, length (fraction of drop radius), half width (rad)
    edge_margin: float  # how far the drop edge stays inside the floor edge
    meniscus_width: float
    meniscus_darkness: float
    lens_darkening: float
    lens_width: float  # width of the dark refracting band inside the drop edge, fraction of its radius
    light_angle: float  # direction the light comes from, for facet and meniscus shading
    floor_color: tuple[float, float, float]  # RGB 0..1
    drop_tint: tuple[float, float, float]  # per-channel factor inside the drop
    wall_color: tuple[float, float, float]
    plastic_color: tuple[float, float, float]
    vignette: float
    gradient: tuple[float, float]  # angle, strength
    rainbow: float  # strength of polarised rainbow colour gradients, 0 = none
    detail_seed: int  # floor scratches, dust, fibres, plastic texture, rainbow pattern
    style: PlateStyle


def random_geometry(rng: np.random.Generator, style: PlateStyle | None = None) -> DropGeometry:
    """Random well/drop/lighting parameters of one drop of a plate with ``style`` (default: a random style).

    All lengths are relative, so one geometry renders at any size.
    """
    if style is None:
        style = random_style(rng)
    kind = style.well
    well_radius = float(rng.uniform(*style.well_radius))
    jx, jy = {"round": (0.03, 0.03), "square": (0.09, 0.04), "zoomed": (0.15, 0.12)}[kind]
    well_center = (
        float(0.5 + rng.uniform(-jx, jx) / _ASPECT),
        float(0.5 + rng.uniform(-jy, jy)),
    )
    fills = bool(rng.random() < style.fills_well)
    if fills:
        # The drop wets the whole floor: its edge runs along the wall and is barely visible.
        drop_radius = well_radius * float(rng.uniform(1.02, 1.15))
        slack = 0.03 * well_radius
    else:
        drop_radius = well_radius * float(rng.uniform(*style.drop_fill))
        if kind == "zoomed":
            drop_radius = float(min(drop_radius, rng.uniform(0.38, 0.62)))
        slack = max(well_radius - drop_radius, 0.0)
    ang = rng.uniform(0, _TWO_PI)
    off = slack * float(rng.uniform(0.0, 1.05))
    if kind == "zoomed" and not fills:
        off = min(off, rng.uniform(0.0, 0.12))
    drop_center = (
        float(well_center[0] + off * math.cos(ang) / _ASPECT),
        float(well_center[1] + off * math.sin(ang)),
    )
    # Sitting drops in square wells are more irregular than drops that fill a round well.
    irregular = 1.4 if kind == "square" else 0.8
    amps = tuple(a * irregular for a in (0.10, 0.09, 0.05, 0.035, 0.02))
    drop_shape = tuple(
        (float(rng.uniform(0, a) * (rng.random() < 0.8)), float(rng.uniform(0, _TWO_PI))) for a in amps
    )
    if rng.random() < (0.3 if kind == "square" else 0.15) and not fills:
        drop_tail = (float(rng.uniform(0, _TWO_PI)), float(rng.uniform(0.2, 0.7)), float(rng.uniform(0.1, 0.25)))
    else:
        drop_tail = (0.0, 0.0, 0.2)
    floor = np.clip(np.asarray(style.floor_color) * (1.0 + rng.uniform(-0.025, 0.025, 3)) * rng.uniform(0.95, 1.03),
                    0.0, 1.0)
    # Drops are a little darker and greyer or warmer than the floor: protein, PEG and salts absorb.
    tint = np.clip(1.0 + rng.uniform(-0.02, 0.01, 3) - rng.uniform(0.0, 0.1 if kind == "square" else 0.05),
                   0.8, 1.02)
    wall = np.clip(np.asarray(style.wall_color) * rng.uniform(0.85, 1.15), 0.0, 1.0)
    plastic = np.clip(np.asarray(style.plastic_color) * rng.uniform(0.95, 1.05), 0.0, 1.0)
    wall_width = style.wall_width * float(rng.uniform(0.9, 1.1))
    return DropGeometry(
        well_round=kind != "square",
        well_center=well_center,
        well_radius=well_radius,
        well_corner=style.well_corner,
        wall_width=wall_width,
        wall_outer_corner=style.wall_outer_corner,
        wall_offset=(float(rng.uniform(-0.3, 0.3) * wall_width), float(rng.uniform(-0.3, 0.3) * wall_width)),
        drop_center=drop_center,
        drop_radius=drop_radius,
        drop_shape=drop_shape,
        drop_tail=drop_tail,
        edge_margin=float(rng.uniform(0.001, 0.004) if fills else 0.012),
        meniscus_width=float(rng.uniform(0.003, 0.01)),
        meniscus_darkness=float(np.clip(style.meniscus_darkness * rng.uniform(0.75, 1.25), 0.0, 0.9)),
        lens_darkening=float(np.clip(style.lens_darkening * rng.uniform(0.7, 1.3), 0.0, 0.8)),
        lens_width=float(style.lens_width * rng.uniform(0.8, 1.25)),
        light_angle=float(style.light_angle + rng.normal(0.0, 0.3)),
        floor_color=tuple(float(c) for c in floor),
        drop_tint=tuple(float(c) for c in tint),
        wall_color=tuple(float(c) for c in wall),
        plastic_color=tuple(float(c) for c in plastic),
        vignette=float(style.vignette * rng.uniform(0.8, 1.2)),
        gradient=(float(rng.uniform(0, _TWO_PI)), float(rng.uniform(0.0, 0.12))),
        rainbow=style.rainbow,
        detail_seed=int(rng.integers(0, 2**31 - 1)),
        style=style,
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


def _chamfered_box_sdf(x: np.ndarray, y: np.ndarray, cx: float, cy: float, half: float, cut: float) -> np.ndarray:
    """Signed distance (close enough for masks and bands) to a square whose corners are cut by ``cut`` px."""
    box = _rounded_box_sdf(x, y, cx, cy, half, 0.02 * half)
    diagonal = (np.abs(x - cx) + np.abs(y - cy) - (2.0 * half - cut)) * (1.0 / math.sqrt(2.0))
    return np.maximum(box, diagonal)


class _Frame:
    """A geometry laid out at one pixel size: well SDFs and the drop outline in pixels."""

    def __init__(self, g: DropGeometry, width: int, height: int) -> None:
        self.g = g
        self.w = width
        self.h = height
        self.wcx = g.well_center[0] * width
        self.wcy = g.well_center[1] * height
        self.well_r = g.well_radius * height
        self.chamfer = (not g.well_round) and g.style.chamfer
        self.well_corner = self.well_r if g.well_round else g.well_corner * self.well_r
        # Physical scale: the size of a typical well in pixels, so zoomed views show bigger content;
        # small sitting drops hold somewhat smaller crystals.
        self.scale = height * min(g.well_radius / 0.47, 0.5 + g.drop_radius / 0.6)
        self.cx = g.drop_center[0] * width
        self.cy = g.drop_center[1] * height
        self.angles = np.linspace(0.0, _TWO_PI, _N_OUTLINE, endpoint=False)
        self.radius = self._outline_radius()

    def floor_sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.chamfer:
            return _chamfered_box_sdf(x, y, self.wcx, self.wcy, self.well_r, self.well_corner)
        return _rounded_box_sdf(x, y, self.wcx, self.wcy, self.well_r, self.well_corner)

    def wall_sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = self.g
        half = self.well_r + g.wall_width * self.h
        cx, cy = self.wcx + g.wall_offset[0] * self.h, self.wcy + g.wall_offset[1] * self.h
        if self.chamfer:
            return _chamfered_box_sdf(x, y, cx, cy, half, self.well_corner + g.wall_width * self.h * 0.6)
        return _rounded_box_sdf(x, y, cx, cy, half, g.wall_outer_corner * half)

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
        margin = g.edge_margin * self.h
        cos, sin = np.cos(th), np.sin(th)
        for _ in range(8):
            excess = self.floor_sdf(self.cx + r * cos, self.cy + r * sin) + margin
            r = np.maximum(r - np.maximum(excess, 0.0), 0.1 * base)
        return r

    def floor_outline(self, offset: float, n: int = 256) -> np.ndarray:
        """Points (n, 2) where the floor's signed distance is ``offset`` pixels (outside if positive)."""
        th = np.linspace(0.0, _TWO_PI, n, endpoint=False)
        cos, sin = np.cos(th), np.sin(th)
        r = np.full(n, self.well_r + offset)
        for _ in range(6):
            r = np.maximum(r - (self.floor_sdf(self.wcx + r * cos, self.wcy + r * sin) - offset), 1.0)
        return np.stack([self.wcx + r * cos, self.wcy + r * sin], axis=1)

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
        y1, x1 = min(y0 + patch.shape[0], self.h), min(x0 + patch.shape[1], self.w)
        if y1 <= y0 or x1 <= x0:  # the patch lies wholly outside the frame (a lump beyond the edge)
            return
        patch = patch[: y1 - y0, : x1 - x0]
        if brown:
            roi = self.brown_layer()[y0:y1, x0:x1]
            roi[...] = cv2.add(roi, cv2.convertScaleAbs(patch, alpha=brown))
        if dark:
            roi = self.shade[y0:y1, x0:x1]
            roi[...] = cv2.subtract(roi, cv2.convertScaleAbs(patch, alpha=dark * 0.5))


# --------------------------------------------------------------------------------------------
# Background: well floor, wall, plastic, drop tint
# --------------------------------------------------------------------------------------------


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to about [-1, 1], for mottled walls and frosted plastic."""
    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), max(sigma, 0.3))
    return n / max(float(n.std()) * 2.5, 1e-6)


def _background(frame: _Frame, balance: np.ndarray) -> np.ndarray:
    """Uint8 RGB image of the empty well with the drop's tint and refraction shading.

    Everything here is smooth or out of focus, so it is computed at low resolution and upsampled.
    """
    g, style, w, h = frame.g, frame.g.style, frame.w, frame.h
    f = max(1, int(round(w / 150)))
    lw, lh = int(math.ceil(w / f)), int(math.ceil(h / f))
    xs = (np.arange(lw, dtype=np.float32) + 0.5) * (w / lw) - 0.5
    ys = (np.arange(lh, dtype=np.float32) + 0.5) * (h / lh) - 0.5
    x, y = np.meshgrid(xs, ys)
    drng = np.random.default_rng(g.detail_seed)
    px_low = h / lh  # full-resolution pixels per low-resolution pixel

    # Floor lighting: vignette around the well centre and the frame centre, a gradient, uneven light.
    d = np.hypot(x - frame.wcx, y - frame.wcy) / max(frame.well_r, 1.0)
    illum = 1.0 - g.vignette * np.clip(d, 0, 1.5) ** 2
    illum -= 0.3 * g.vignette * (np.hypot(x - w / 2, y - h / 2) / (0.75 * h)) ** 2
    ga, gs = g.gradient
    illum += gs * ((x - w / 2) * math.cos(ga) + (y - h / 2) * math.sin(ga)) / h
    illum += 0.03 * _noise_field(drng, (lh, lw), 0.08 * lh)
    floor = np.asarray(g.floor_color, np.float32)[None, None, :] * illum[..., None]
    if g.rainbow > 0:
        # Birefringent plastic between polarisers: broad, irregular bands of rainbow colour.
        hue = np.zeros_like(x)
        for _ in range(3):
            a, fr, ph = drng.uniform(0, _TWO_PI), drng.uniform(0.6, 2.0), drng.uniform(0, _TWO_PI)
            hue += np.sin(fr * _TWO_PI * (x * math.cos(a) + y * math.sin(a)) / h + ph)
        hue = hue * 90.0 + drng.uniform(0, 360)
        hsv = np.stack([np.mod(hue, 360.0), np.full_like(hue, min(g.rainbow * 1.3, 1.0)), np.ones_like(hue)], axis=-1)
        rgb = cv2.cvtColor(hsv.astype(np.float32), cv2.COLOR_HSV2RGB)
        floor = floor * ((1.0 - 0.7 * g.rainbow) + 0.7 * g.rainbow * 1.4 * rgb)

    # Drop: its own tint, and the refracting dome darkening a band inside its edge, most on the
    # side away from the light.
    dmask = np.zeros((lh, lw), np.uint8)
    cv2.fillPoly(dmask, [_fix(frame.outline() / f)], 255, cv2.LINE_AA, _SHIFT)
    m = dmask.astype(np.float32) / 255.0
    # (a drop covering the whole frame has no edge in it: its distance is capped)
    dist = np.minimum(cv2.distanceTransform((dmask > 127).astype(np.uint8), cv2.DIST_L2, 3), 4.0 * lh) * px_low
    u = dist / max(g.drop_radius * h, 1.0)
    side = np.arctan2(y - frame.cy, x - frame.cx) - g.light_angle
    lens = np.exp(-u / max(g.lens_width, 0.02)) * (1.0 - 0.45 * np.cos(side))
    tint = np.asarray(g.drop_tint, np.float32)
    refraction = np.clip(1.0 - g.lens_darkening * lens * m, 0.05, 1.0)
    floor = floor * (1.0 + m[..., None] * (tint - 1.0)) * refraction[..., None]

    # Well floor, wall and plastic from signed distances.
    sdf_in = frame.floor_sdf(x, y)
    sdf_out = frame.wall_sdf(x, y)
    soft = max(0.6, 0.003 * h, 0.6 * px_low)
    floor_m = np.clip(0.5 - sdf_in / soft, 0.0, 1.0)
    outer_m = np.clip(0.5 - sdf_out / (2.5 * soft), 0.0, 1.0)
    wall_m = np.clip(outer_m - floor_m, 0.0, 1.0)
    plastic_m = 1.0 - outer_m
    wall_w = max(g.wall_width * h, 1.0)
    across = np.clip(sdf_in / wall_w, 0.0, 1.0)  # 0 at the floor edge, 1 at the outer wall edge
    wall_col = np.asarray(g.wall_color, np.float32)
    plastic_col = np.asarray(g.plastic_color, np.float32)
    floor_col = np.asarray(g.floor_color, np.float32)
    texture = _noise_field(drng, (lh, lw), 0.8)
    plastic = plastic_col[None, None, :] * (1.0 + style.plastic_texture * 0.5 * _noise_field(drng, (lh, lw), 1.2)
                                             - 0.08 * np.clip(sdf_out / h, 0, 1))[..., None]
    if g.well_round:
        # A thick dark wall, mottled, lighter towards its outer edge; a thin bright ring where the
        # light is refracted at its inner edge, and the wall's shadow on the floor.
        wall = wall_col[None, None, :] * (1.0 + 0.5 * across ** 3)[..., None]
        rim = np.exp(-(((sdf_in - 0.004 * h) / max(0.5, 0.004 * h, 0.6 * px_low)) ** 2)) * drng.uniform(0.05, 0.2)
        wall = wall + rim[..., None] * floor_col * np.array([0.85, 0.95, 0.9], np.float32)
        floor = floor * (1.0 - 0.3 * np.exp(np.minimum(sdf_in, 0.0) / (0.02 * h)))[..., None]
        if drng.random() < 0.5:
            # Rainbow fringes where the light passes the moulded plastic beyond the wall.
            hue = np.mod(np.arctan2(y - frame.wcy, x - frame.wcx) * 57.3 * 2 + drng.uniform(0, 360), 360.0)
            hsv = np.stack([hue, np.full_like(hue, 0.25), np.ones_like(hue)], axis=-1).astype(np.float32)
            plastic = plastic * (0.85 + 0.2 * cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
    else:
        # Square well: a dark line at the floor edge, then the sloping wall as a grey band that
        # lightens outwards into frosted plastic.
        line = np.exp(-(((sdf_in - 0.002 * h) / max(0.5, 0.003 * h, 0.6 * px_low)) ** 2))
        band = wall_col + (plastic_col * 0.9 - wall_col) * (across ** 0.8)[..., None]
        wall = band * (1.0 + style.wall_texture * 0.6 * texture)[..., None] * (1.0 - 0.55 * line)[..., None]
        floor = floor * (1.0 - 0.12 * np.exp(np.minimum(sdf_in, 0.0) / (0.01 * h)))[..., None]
    if drng.random() < 0.5:
        # Structures of the plate (ridges, lettering) show as dark bars in the plastic.
        bars = np.zeros((lh, lw), np.uint8)
        for _ in range(int(drng.integers(1, 4))):
            bx, by = drng.uniform(0, lw), drng.uniform(0, lh)
            bw, bh = drng.uniform(0.01, 0.05) * lh, drng.uniform(0.1, 0.6) * lh
            if drng.random() < 0.5:
                bw, bh = bh, bw
            cv2.rectangle(bars, (int(bx), int(by)), (int(bx + bw), int(by + bh)), 255, -1)
        bars_f = cv2.GaussianBlur(bars.astype(np.float32) / 255.0, (0, 0), max(0.7, 0.004 * h / f))
        plastic = plastic * (1.0 - 0.6 * bars_f[..., None])
    img = floor * floor_m[..., None] + wall * wall_m[..., None] + plastic * plastic_m[..., None]
    # Colour noise of the sensor after demosaicing and chroma subsampling: blotchy, a few pixels wide.
    img = img * (1.0 + style.noise * 0.6 * drng.standard_normal((lh, lw, 3)).astype(np.float32))
    # Depth of field: the wall and the plastic lie above or below the focal plane of the drop.
    blur = style.wall_blur * h / px_low
    if blur > 0.3:
        far = cv2.GaussianBlur(img, (0, 0), blur)
        k = np.clip(sdf_in / (0.02 * h), 0.0, 1.0)[..., None]
        img = img * (1.0 - k) + far * k
    if g.well_round:
        # Grainy speckle of the moulded wall, olive flecks on black; after the blur, so it stays visible.
        flecks = style.wall_texture * np.maximum(texture - 0.15, 0.0) * wall_m
        img = img * (1.0 + 0.5 * style.wall_texture * texture * wall_m)[..., None]
        img = img + flecks[..., None] * np.array([0.09, 0.085, 0.045], np.float32)
    img = np.clip(img * (255.0 * balance), 0.0, 255.0).astype(np.uint8)
    if f > 1:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def _well_edge(cv: _Canvas, rng: np.random.Generator) -> None:
    """The crisp edge of the well floor: a bright refracted ring before a dark round wall, or the
    dark line where a square well's floor meets its sloping wall."""
    f = cv.f
    if f.g.well_round:
        cv.lines([f.floor_outline(0.0025 * cv.h)], 0.0025 * cv.h, rng.uniform(0.15, 0.45), closed=True)
        cv.lines([f.floor_outline(0.006 * cv.h)], 0.0015 * cv.h, -rng.uniform(0.2, 0.5), closed=True)
    else:
        cv.lines([f.floor_outline(0.0012 * cv.h)], 0.0025 * cv.h, -rng.uniform(0.3, 0.6), closed=True)


def _scratches(cv: _Canvas, rng: np.random.Generator) -> None:
    """Scratches in the floor plastic, under the drop: fixed per drop, so they are no class cue."""
    f, style = cv.f, cv.f.g.style
    for _ in range(int(rng.poisson(style.scratches))):
        p = f.sample(rng, 1, 1.0)[0]
        a = rng.uniform(0, _TWO_PI)
        length = cv.px(rng.uniform(0.1, 0.6))
        bend = rng.uniform(-0.15, 0.15)
        t = np.linspace(-0.5, 0.5, 16)[:, None]
        dirs = np.stack([np.cos(a + bend * t[:, 0]), np.sin(a + bend * t[:, 0])], axis=1)
        path = p + np.cumsum(dirs * length / 16, axis=0) - dirs[0] * length / 2
        v = rng.uniform(0.05, 0.15)
        cv.lines([path], cv.px(rng.uniform(0.0008, 0.0018)), -v)
        cv.lines([path + cv.px(0.0015)], cv.px(0.0008), v * 0.6)


def _seal_artefacts(cv: _Canvas, rng: np.random.Generator) -> None:
    """Dust, a stray fibre and condensation over everything: per drop and plate, never per class."""
    style = cv.f.g.style
    n_dust = int(rng.poisson(style.dust))
    if n_dust:
        # Dust in focus on the floor (small dark specks) or on the seal (soft grey discs).
        pts = np.stack([rng.uniform(0, cv.w, n_dust), rng.uniform(0, cv.h, n_dust)], axis=1)
        for p, sharp in zip(pts, rng.random(n_dust) < 0.7):
            if sharp:
                cv.circle(p, cv.px(rng.uniform(0.0008, 0.003)), -rng.uniform(0.3, 0.7))
            else:
                r = cv.px(rng.uniform(0.006, 0.02))
                v = rng.uniform(0.03, 0.08)
                cv.circle(p, r, -v)
                cv.circle(p, r * 0.6, -v * 0.5)
    if rng.random() < style.fibre_chance:
        # A stray fibre lying on the seal, often across the whole well: thin, long, gently curved.
        start = np.array([rng.uniform(0, cv.w), rng.uniform(0, cv.h)])
        path = _fibre(cv, rng, start, cv.px(rng.uniform(0.3, 1.2)), rng.uniform(0.05, 0.4))
        cv.lines([path], cv.px(rng.uniform(0.001, 0.0025)), -rng.uniform(0.25, 0.6))
    if style.condensation > 0:
        # Condensation on the seal, far out of focus: a faint mottled haze of droplet shadows.
        k = 4
        dark = np.zeros((cv.h // k + 1, cv.w // k + 1), np.uint8)
        n = int(style.condensation * rng.uniform(800, 2000))
        pts = np.stack([rng.uniform(0, dark.shape[1], n), rng.uniform(0, dark.shape[0], n)], axis=1)
        radii = cv.px(rng.uniform(0.0015, 0.005, n)) / k
        for p, r in zip(pts, radii):
            cv2.circle(dark, (int(p[0] * _ONE), int(p[1] * _ONE)), int(max(r, 0.5) * _ONE), 255, -1, cv2.LINE_AA,
                       _SHIFT)
        dark = cv2.GaussianBlur(dark, (0, 0), max(0.7, cv.px(0.004) / k))
        dark = cv2.resize(dark, (cv.w, cv.h), interpolation=cv2.INTER_LINEAR)
        cv.darken(dark, 0.05 + 0.08 * style.condensation, inside_drop=False)


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
    strength = (0.45 + 0.55 * gr) * rng.uniform(0.45, 1.0)
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
        dark_paths.append((path, cv.px(rng.uniform(0.002, 0.006)), -(0.2 + 0.45 * near) * strength))
    # Radial folds running in from the edge.
    for _ in range(int(rng.integers(4, 14))):
        th0 = rng.uniform(0, _TWO_PI)
        m = 60
        u = np.linspace(0.96, rng.uniform(0.45, 0.85), m)
        th = th0 + _wavy_path(rng, m, 0.03, rng.uniform(0.5, 1.5)) / np.maximum(u, 0.3)
        r = u * f.radius_at(th)
        path = np.stack([f.cx + r * np.cos(th), f.cy + r * np.sin(th)], axis=1)
        dark_paths.append((path, cv.px(rng.uniform(0.002, 0.005)), -rng.uniform(0.25, 0.5) * strength))
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
            paths.append(_fibre(cv, rng, start, cv.px(rng.uniform(0.2, 0.7)), rng.uniform(0.15, 0.9)))
        w = cv.px(rng.uniform(0.0015, 0.005))
        cv.lines(paths, w * 2.2, -0.12)
        cv.lines(paths, w, -rng.uniform(0.45, 0.8))
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
    if rng.random() < 0.35:
        # A shower: tens to hundreds of small crystals with dark rims over the drop or a part of it.
        contrast = rng.uniform(0.55, 1.0)
        n = int(rng.integers(20, 150))
        spread = rng.uniform(0.35, 0.85)
        for c in f.sample(rng, n, spread):
            top, depth = _prism(rng, cv.px(rng.uniform(0.008, 0.03)) * gr, rng.uniform(1.0, 2.0))
            _solid_crystal(cv, rng, c, top, depth, contrast)
        _specks(cv, rng, 1)
        return
    contrast = rng.uniform(0.45, 1.0)
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
        cv.add_local(halo, o, dark=0.15 * gr * contrast)
    cv.polys(dark, -0.8 * contrast)
    cv.polys(bright, 0.4 * contrast)
    off = np.array([math.cos(cv.light), math.sin(cv.light)])
    for c in f.sample(rng, max(n_sph, 1), 0.85)[:n_sph]:
        # Spherulite: a fuzzy ball of radiating fibres around a dark dense core.
        r = cv.px(rng.uniform(0.014, 0.04)) * gr
        k = int(rng.integers(60, 120))
        ang = rng.uniform(0, _TWO_PI, k)
        ln = r * rng.uniform(0.5, 1.0, k)
        tips = c + np.stack([ln * np.cos(ang), ln * np.sin(ang)], axis=1)
        cv.circle(c, r * 1.05, rng.uniform(0.0, 0.12) * contrast)
        spokes = [np.stack([c, t]) for t in tips]
        cv.lines(spokes[: k // 2], max(r * 0.035, cv.px(0.001)), -0.45 * contrast)
        cv.lines(spokes[k // 2:], max(r * 0.05, cv.px(0.0012)), -0.75 * contrast)
        cv.lines([np.stack([c, c + (t - c) * 0.8]) + off * r * 0.05 for t in tips[::4]],
                 max(r * 0.025, cv.px(0.001)), 0.45 * contrast)
        cv.circle(c, r * 0.28, -0.85 * contrast)
    _specks(cv, rng, 1)


def _refraction_edges(cv: _Canvas, poly: np.ndarray, width: float, contrast: float) -> None:
    """Edges of a transparent crystal in oblique light: dark where they face away from the light,
    a thin bright line just inside where they face it, faint in between; no uniform outline."""
    light = np.array([math.cos(cv.light), math.sin(cv.light)])
    centroid = poly.mean(axis=0)
    dark: dict[float, list[np.ndarray]] = {}
    bright: dict[float, list[np.ndarray]] = {}
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        edge = b - a
        n = np.array([edge[1], -edge[0]])
        norm = float(np.hypot(*n))
        if norm < 1e-6:
            continue
        n /= norm
        if np.dot(n, (a + b) / 2 - centroid) < 0:
            n = -n
        facing = float(np.dot(n, light))
        # Quantised shades keep the number of drawing calls small.
        v = round(contrast * (0.25 + 0.6 * max(0.0, -facing)), 1)
        dark.setdefault(v, []).append(np.stack([a, b]))
        if facing > 0.3:
            bright.setdefault(round(contrast * 0.55 * facing, 1), []).append(np.stack([a, b]) - n * width * 1.1)
    for v, segs in dark.items():
        cv.lines(segs, width, -v)
    for v, segs in bright.items():
        cv.lines(segs, width * 0.7, v)


def _shadow(cv: _Canvas, poly: np.ndarray, offset: float, v: float) -> None:
    """A faint shadow of a crystal, displaced away from the light."""
    away = -np.array([math.cos(cv.light), math.sin(cv.light)]) * offset
    cv.poly(poly + away, v)


def _solid_crystal(cv: _Canvas, rng: np.random.Generator, c: np.ndarray, top: np.ndarray, depth: np.ndarray,
                   contrast: float) -> None:
    """A crystal as a real one looks in transmitted light: a solid refractive body whose facets are
    shaded unequally (some bright, some dark), framed by a thick dark rim where light is refracted
    away, with a bright line inside the lit edge and faint internal reflections. ``top`` is the
    outline of the face towards the viewer (relative to ``c``), ``depth`` the offset of the far face."""
    light = np.array([math.cos(cv.light), math.sin(cv.light)])
    hull = cv2.convexHull(np.concatenate([top, top + depth]).astype(np.float32))[:, 0, :].astype(np.float64)
    size = float(np.ptp(hull, axis=0).max())
    if size < 1.0:
        return
    rim = max(size * rng.uniform(0.03, 0.08), 0.8)
    _shadow(cv, c + hull, rim * 0.8, -0.18 * contrast)
    # The body: a fan of facets from an apex (a pyramid tip or the centre of the face), each shaded by
    # how it faces the light, so the crystal reads as a solid with planes, not an outline.
    apex = top.mean(axis=0) + depth * rng.uniform(0.2, 0.8) + rng.normal(0, size * 0.06, 2)
    base_v = rng.uniform(-0.35, 0.15) * contrast
    strength = rng.uniform(0.25, 0.7) * contrast
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        mid = (a + b) / 2 - apex
        n = mid / max(float(np.hypot(*mid)), 1e-6)
        v = base_v + strength * float(np.dot(n, light)) + rng.normal(0, 0.08) * contrast
        cv.poly(c + np.stack([apex, a, b]), float(np.clip(v, -0.9, 0.7)))
    if rng.random() < 0.6:  # the near face, flatter and often brighter
        cv.poly(c + top, float(np.clip(base_v + rng.uniform(0.0, 0.35) * contrast, -0.8, 0.7)))
    # Facet edges inside the body, then internal reflections (an inset copy of the outline).
    if rng.random() < 0.5:
        cv.lines([c + np.stack([apex, p]) for p in hull], max(rim * 0.2, 0.5), -0.2 * contrast)
    if rng.random() < 0.5:
        inset = apex + (hull - apex) * rng.uniform(0.45, 0.75)
        cv.lines([c + inset], max(rim * 0.3, 0.6), rng.choice([-0.4, 0.45]) * contrast, closed=True)
    # The rim: dark all round, darkest away from the light, with a bright line just inside the lit side.
    cv.lines([c + hull], rim, -rng.uniform(0.6, 0.95) * contrast, closed=True)
    centroid = hull.mean(axis=0)
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        mid = (a + b) / 2 - centroid
        n = mid / max(float(np.hypot(*mid)), 1e-6)
        facing = float(np.dot(n, light))
        if facing < -0.2:
            cv.lines([c + np.stack([a, b])], rim * 1.4, -0.95 * contrast)
        elif facing > 0.3:
            cv.lines([c + np.stack([a, b]) - n * rim * 1.3], rim * 0.45, 0.6 * contrast * facing)


def _prism(rng: np.random.Generator, size: float, elongation: float) -> tuple[np.ndarray, np.ndarray]:
    """(top face outline, depth offset) of a tetragonal/hexagonal prism or bipyramid of ``size`` px."""
    nv = int(rng.choice([4, 4, 6, 6, 8, 5]))
    ang = np.arange(nv) * _TWO_PI / nv + rng.uniform(-0.12, 0.12, nv)
    top = np.stack([np.cos(ang) * elongation, np.sin(ang)], axis=1) * 0.5
    rot = rng.uniform(0, _TWO_PI)
    cr, sr = math.cos(rot), math.sin(rot)
    top = top @ np.array([[cr, sr], [-sr, cr]]) * size / max(elongation, 1.0)
    d = rng.uniform(0, _TWO_PI)
    depth = np.array([math.cos(d), math.sin(d)]) * size * rng.uniform(0.1, 0.4)
    return top, depth


def _draw_needles(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    if rng.random() < 0.4:
        # Rods and thick needles as solid prisms, loose or radiating from a common nucleus.
        contrast = rng.uniform(0.55, 1.0)
        spray = rng.random() < 0.5
        n = int(rng.integers(4, 14)) if spray else int(rng.integers(2, 12))
        centre = f.sample(rng, 1, 0.5)[0]
        a0 = rng.uniform(0, _TWO_PI)
        for c in f.sample(rng, n, 0.75):
            length = cv.px(rng.uniform(0.06, 0.3)) * gr
            if spray:
                a = a0 + rng.normal(0, 0.9)
                c = centre + np.array([math.cos(a), math.sin(a)]) * length * 0.5
            else:
                a = rng.uniform(0, _TWO_PI)
            width = length / rng.uniform(3.0, 10.0)
            d, nrm = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
            tip = rng.uniform(0.0, 0.6) * width
            top = np.stack([d * length / 2, d * (length / 2 - tip) + nrm * width / 2, -d * (length / 2 - tip) + nrm * width / 2,
                            -d * length / 2, -d * (length / 2 - tip) - nrm * width / 2, d * (length / 2 - tip) - nrm * width / 2])
            _solid_crystal(cv, rng, c, top, nrm * width * rng.uniform(0.1, 0.35), contrast)
        _specks(cv, rng, 1)
        return
    contrast = rng.uniform(0.4, 1.0)
    segs: list[tuple[np.ndarray, float]] = []
    urchins = int(rng.integers(1, 6)) if rng.random() < 0.7 else 0
    loose = int(rng.integers(8, 50)) if (urchins == 0 or rng.random() < 0.4) else 0
    for c in f.sample(rng, max(urchins, 1), 0.75)[:urchins]:
        k = int(rng.integers(10, 40))
        full = rng.random() < 0.5
        a0 = rng.uniform(0, _TWO_PI)
        ang = rng.uniform(0, _TWO_PI, k) if full else a0 + rng.normal(0, rng.uniform(0.3, 0.8), k)
        ln = cv.px(rng.uniform(0.05, 0.2)) * rng.uniform(0.5, 1.0, k) * gr
        w = cv.px(rng.uniform(0.0015, 0.005))
        for a, l in zip(ang, ln):
            d = np.array([math.cos(a), math.sin(a)])
            segs.append((np.stack([c - d * l * 0.05, c + d * l]), w))
    pts = f.sample(rng, max(loose, 1), 0.85)[:loose]
    ang = rng.uniform(0, _TWO_PI, max(loose, 1))[:loose]
    if loose and rng.random() < 0.5:
        ang = rng.choice([rng.uniform(0, math.pi), rng.uniform(0, math.pi)], loose) + rng.normal(0, 0.1, loose)
    lens = cv.px(rng.uniform(0.04, 0.22, max(loose, 1)))[:loose] * gr
    widths = cv.px(rng.uniform(0.0012, 0.005, max(loose, 1)))[:loose]
    for p, a, l, w in zip(pts, ang, lens, widths):
        d = np.array([math.cos(a), math.sin(a)]) * l / 2
        segs.append((np.stack([p - d, p + d]), w))
    dark_v = -contrast * rng.uniform(0.55, 0.9)
    away = -np.array([math.cos(cv.light), math.sin(cv.light)])
    for path, w in segs:
        # A soft shadow beside the needle, then the needle: dark edges, a bright core when wide.
        cv.lines([path + away * w * 1.2], w * 1.6, dark_v * 0.25)
    for path, w in segs:
        cv.lines([path], w, dark_v)
    for path, w in segs:
        if w > 0.0024 * cv.h:
            cv.lines([path - away * w * 0.15], w * 0.35, 0.5 * contrast)
    birefringent = rng.random() < 0.5
    hues = rng.choice([15.0, 25.0, 100.0, 110.0, 140.0], len(segs))
    glow = rng.random(len(segs)) < 0.5
    if birefringent and f.g.style.light == "polarised":
        # Birefringence: between partly crossed polarisers some needles glow yellow to blue.
        col = cv.color_layer()
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
    contrast = rng.uniform(0.4, 1.0)
    n = int(rng.integers(2, 9))
    plates: list[np.ndarray] = []
    fills: list[float] = []
    base_fill = rng.uniform(0.03, 0.12) * rng.choice([-1.0, 1.0])
    for c in f.sample(rng, n, 0.75):
        shape = _plate_shape(rng, cv.px(rng.uniform(0.06, 0.22)))
        stack = int(rng.integers(1, 4)) if rng.random() < 0.35 else 1
        for j in range(stack):
            rot = rng.uniform(-0.5, 0.5) * (j > 0)
            cr, sr = math.cos(rot), math.sin(rot)
            sh = shape @ np.array([[cr, sr], [-sr, cr]]) * (rng.uniform(0.6, 1.0) if j else 1.0)
            off = rng.normal(0, cv.px(0.025), 2) * (j > 0)
            plates.append(c + off + sh * gr)
            fills.append((base_fill + rng.uniform(-0.04, 0.04) - 0.06 * j) * contrast)
    edge_w = cv.px(rng.uniform(0.0015, 0.003))
    if rng.random() < 0.5:  # thick plates seen as solid bodies with dark rims
        for p in plates:
            c = p.mean(axis=0)
            d = rng.uniform(0, _TWO_PI)
            _solid_crystal(cv, rng, c, p - c, np.array([math.cos(d), math.sin(d)]) * cv.px(rng.uniform(0.004, 0.02)),
                           max(contrast, 0.55))
        _specks(cv, rng, 1)
        return
    for p, v in zip(plates, fills):
        _shadow(cv, p, edge_w * 1.5, -0.12 * contrast)
        cv.poly(p, v)
        _refraction_edges(cv, p, edge_w, contrast)
    _specks(cv, rng, 1)


def _draw_crystals_3d(cv: _Canvas, rng: np.random.Generator) -> None:
    f, gr = cv.f, cv.growth
    if rng.random() < 0.65:
        # Solid bodies at the sizes real drops show: one to a few large crystals (up to a quarter of
        # the drop across) or a dozen middling ones, some touching or overlapping.
        contrast = rng.uniform(0.55, 1.0)
        few = rng.random() < 0.5
        n = int(rng.integers(1, 5)) if few else int(rng.integers(4, 16))
        lo, hi = (0.07, 0.26) if few else (0.03, 0.11)
        for c in f.sample(rng, n, 0.7):
            top, depth = _prism(rng, cv.px(rng.uniform(lo, hi)) * gr, rng.uniform(1.0, 1.7))
            _solid_crystal(cv, rng, c, top, depth, contrast)
        _specks(cv, rng, 1)
        return
    contrast = rng.uniform(0.4, 1.0)
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
        top_v = rng.uniform(-0.05, 0.2) * contrast
        body_v = rng.uniform(-0.15, 0.05) * contrast
        edge_w = max(cv.px(0.0022) * (0.5 + 0.5 * gr), 0.5)
        bottom = top + depth
        hull = cv2.convexHull(np.concatenate([top, bottom]).astype(np.float32))[:, 0, :].astype(np.float64)
        _shadow(cv, c + hull, edge_w * 2.0, -0.15 * contrast)
        cv.poly(c + hull, body_v)
        # Side faces towards the viewer's offset are visible; their shade follows the light.
        centroid = top.mean(axis=0)
        for i in range(nv):
            a, b = top[i], top[(i + 1) % nv]
            edge = b - a
            normal = np.array([edge[1], -edge[0]])
            nn = np.linalg.norm(normal)
            if nn == 0:
                continue
            normal /= nn
            if np.dot(normal, (a + b) / 2 - centroid) < 0:
                normal = -normal
            if np.dot(normal, depth) <= 0:
                continue
            lit = float(np.dot(normal, light))
            cv.poly(c + np.stack([a, b, b + depth, a + depth]), contrast * (0.4 * lit - 0.12))
        cv.poly(c + top, top_v)
        # Refraction at the silhouette and a fainter line where the top face meets the sides.
        _refraction_edges(cv, c + hull, edge_w, contrast)
        cv.lines([c + top], edge_w * 0.6, -0.3 * contrast, closed=True)
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
    cv.lines([inner], 0.0015 * cv.h, 0.3 * min(1.0, g.meniscus_darkness / 0.4), closed=True)


def _seed(*parts: int) -> np.random.Generator:
    return np.random.default_rng([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts])


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image after a JPEG round trip: block and ringing artefacts, chroma subsampling."""
    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return rgb
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def render_drop(label: str, geometry: DropGeometry, content_seed: int, growth: float = 1.0,
                size: tuple[int, int] = (1224, 1024)) -> np.ndarray:
    """Render one drop image as an RGB uint8 array of shape (height, width, 3); size is (width, height).

    ``content_seed`` fixes the contents, so a larger ``growth`` (0 < growth <= 1) shows the same
    drop at a later inspection: crystals bigger, precipitate denser, skin wrinkles stronger.
    Focus, exposure and noise follow the plate style and vary with ``content_seed`` and ``growth``,
    so the output is deterministic. Unknown labels raise ValueError.
    """
    out, quality = _render(label, geometry, content_seed, growth, size)
    return _jpeg(out, quality) if quality else out


def render_drop_jpeg(label: str, geometry: DropGeometry, content_seed: int, growth: float = 1.0,
                     size: tuple[int, int] = (1224, 1024), quality: int = 90) -> bytes:
    """The same drop as ``render_drop``, as JPEG file bytes: encoded once, at the plate style's JPEG
    quality where the style has one (what ``render_drop`` imitates by encoding twice), else ``quality``."""
    out, style_quality = _render(label, geometry, content_seed, growth, size)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(style_quality or quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _render(label: str, geometry: DropGeometry, content_seed: int, growth: float,
            size: tuple[int, int]) -> tuple[np.ndarray, int | None]:
    """The rendered RGB image and the JPEG quality its plate style compresses it at (None: none)."""
    if label not in _CLASS_INDEX:
        raise ValueError(f"unknown class {label!r}; expected one of {', '.join(CLASS_KEYS)}")
    width, height = int(size[0]), int(size[1])
    if width < 8 or height < 8:
        raise ValueError(f"size {size} too small")
    growth = float(growth)
    if not 0.0 < growth <= 1.0:
        raise ValueError(f"growth must be in (0, 1], got {growth}")
    style = geometry.style
    frame = _Frame(geometry, width, height)
    # Small renders draw the contents supersampled and average them down, so thin lines and tiny
    # grains look as they would in a downscaled full-size image instead of as 1 px strokes.
    k = 1 if height >= _SUPERSAMPLE_HEIGHT else min(8, math.ceil(_SUPERSAMPLE_HEIGHT / height))
    cv = _Canvas(frame if k == 1 else _Frame(geometry, width * k, height * k), growth)
    _well_edge(cv, _seed(geometry.detail_seed, 5))
    _scratches(cv, _seed(geometry.detail_seed, 1))
    floor = cv.shade.copy()
    _DRAW[label](cv, _seed(content_seed, 2, _CLASS_INDEX[label]))
    # Whatever the drop holds stays inside it.
    cv2.copyTo(floor, cv2.compare(cv.drop_mask, 128, cv2.CMP_LT), cv.shade)
    _meniscus(cv)
    _seal_artefacts(cv, _seed(geometry.detail_seed, 4))

    # Per-image variation (one inspection) around the plate's style: focus, exposure, white
    # balance, noise.
    img_rng = _seed(content_seed, 3, int(round(growth * 1e6)))
    blur = cv.h * (style.focus_blur * img_rng.uniform(0.5, 1.5) + 0.0012 * img_rng.random() ** 3)
    exposure = float(style.exposure * img_rng.uniform(0.95, 1.04))
    balance = (1.0 + img_rng.uniform(-0.02, 0.02, 3)).astype(np.float32)
    noise_sigma = float(style.noise * img_rng.uniform(0.8, 1.2))
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
    if style.jpeg_quality and height >= _JPEG_MIN_HEIGHT:
        return out, style.jpeg_quality + int(img_rng.integers(-4, 5))
    return out, None


def random_drop(label: str, rng: np.random.Generator, size: tuple[int, int] = (1224, 1024)) -> np.ndarray:
    """A random drop of one class: random plate style and geometry, content seed, growth in [0.6, 1]."""
    geometry = random_geometry(rng)
    seed = int(rng.integers(0, 2**63 - 1))
    growth = float(rng.uniform(0.6, 1.0))
    return render_drop(label, geometry, seed, growth, size)


def composite(background: np.ndarray, label: str, rng: np.random.Generator,
              drop_box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw one class's contents (crystals, precipitate, skin ...) into a real drop image.

    ``background`` is an RGB uint8 image of a drop without crystals (a lab's clear drop); the contents
    are drawn into an ellipse inscribed in ``drop_box`` (fractions x0, y0, x1, y1 of the frame; by
    default the drop the crop finder sees), lit and shaded like the synthetic plates, and laid over
    the real pixels: the imager's look is the same for every class, so only what is drawn tells them
    apart. Returns (image, mask of the pixels that changed); every pixel outside the mask is the
    background's own. Unknown labels raise ValueError.
    """
    if label not in _CLASS_INDEX:
        raise ValueError(f"unknown class {label!r}; expected one of {', '.join(CLASS_KEYS)}")
    bg = np.ascontiguousarray(background[..., :3], dtype=np.uint8)
    h, w = bg.shape[:2]
    if drop_box is None:
        from xtalviewer.model.crop import find_crop

        box = find_crop(bg, "drop", margin=0.0)
        drop_box = (box.x0, box.y0, box.x1, box.y1)
    x0, y0, x1, y1 = drop_box
    rx, ry = 0.45 * (x1 - x0) * w, 0.45 * (y1 - y0) * h
    geometry = dataclasses.replace(
        random_geometry(rng), well_center=((x0 + x1) / 2, (y0 + y1) / 2), well_radius=1.5, well_round=True,
        drop_center=((x0 + x1) / 2, (y0 + y1) / 2), drop_radius=min(rx, ry) / h,
        drop_shape=tuple((0.0, 0.0) for _ in range(5)), drop_tail=(0.0, 0.0, 0.2), edge_margin=0.0)
    frame = _Frame(geometry, w, h)
    cv = _Canvas(frame, float(rng.uniform(0.7, 1.0)))
    _DRAW[label](cv, _seed(int(rng.integers(0, 2**62)), 2, _CLASS_INDEX[label]))
    inside = cv.drop_mask >= 128
    cv.shade[~inside] = 128
    blur = float(rng.uniform(0.3, 1.0)) * max(h, w) / 1000.0
    layers = [cv.shade, cv.brown, cv.color]
    if blur > 0.35:
        layers = [None if a is None else cv2.GaussianBlur(a, (0, 0), blur) for a in layers]
    shade, brown, color = layers
    if brown is not None:
        brown[~inside] = 0
    if color is not None:
        color[~inside] = 0
    gain_lut, offset_lut = _shade_luts(1.0)
    gain = cv2.cvtColor(cv2.LUT(shade, gain_lut), cv2.COLOR_GRAY2RGB)
    offset = cv2.cvtColor(cv2.LUT(shade, offset_lut), cv2.COLOR_GRAY2RGB)
    out = cv2.add(cv2.multiply(bg, gain, scale=1.0 / 128.0), offset)
    changed = shade != 128
    if brown is not None:
        out = cv2.multiply(out, cv2.LUT(cv2.cvtColor(brown, cv2.COLOR_GRAY2RGB), _BROWN_LUT), scale=1.0 / 255.0)
        changed |= brown > 0
    if color is not None:
        out = cv2.add(out, color)
        changed |= color.any(axis=2)
    out[~changed] = bg[~changed]
    return out, changed
