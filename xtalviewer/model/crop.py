"""Drop-centred input crop: find the well and the drop so the CNN sees the drop, not the plate.

Squashing a whole 1224x1024 frame to a 128-224 px model input leaves microcrystals and needles a
few pixels wide. ``find_crop`` returns a square-ish box in fractions of the frame around the drop
(mode "drop"), the well floor (mode "well") or the whole frame (mode "none"); the caller crops
whatever resolution it holds with ``apply_crop`` and fits the result to the model's square input.

How: a grey copy reduced to a fixed working size (so a full-size decode, a 1/2-1/8 DCT-reduced
decode or any other copy of the same image gives the same box, in a few milliseconds on one core);
the well floor is the central bright region after an Otsu threshold. A circle voted through its
outline with a dark wall ring just outside makes a round well; otherwise a compact floor with a
sharp edge and darker plate around it makes a square (or other) well. The drop is the largest
closed edge region inside the floor, clear of the wall: its refraction rim. When unsure it falls
back, drop -> well -> whole frame; a drop that fills the well (no rim) gives the well box. It never
raises on odd arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from xtalviewer.model.crop_well import (  # noqa: F401  (WORK_SIDE is part of this module's interface)
    DISK3,
    DISK5,
    DISK7,
    DISK11,
    RING_COS,
    RING_SIN,
    SQUARE5,
    SQUARE7,
    WORK_SIDE,
    Well,
    edge_strength,
    find_well,
    percentiles,
    ransac_circle,
    working_grey,
)

CROP_MODES: tuple[str, ...] = ("none", "well", "drop")

MIN_SHARE = 0.2  # a crop side is never below this share of the frame's short side
BIG_DROP = 0.6  # a drop box over more than this share of the well's area gives way to the well box


@dataclass(frozen=True)
class CropBox:
    """A crop as fractions of the frame (0 <= x0 < x1 <= 1, same for y) and what was found.

    ``found`` is "drop", "well" or "frame" (nothing trustworthy: the whole frame or fallback);
    ``well`` is "round", "square" or None when no well was recognised.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    found: str
    well: str | None

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box as integer pixel bounds (x0, y0, x1, y1) of a width x height image, never empty."""
        x0 = min(max(int(math.floor(self.x0 * width + 1e-6)), 0), max(width - 1, 0))
        y0 = min(max(int(math.floor(self.y0 * height + 1e-6)), 0), max(height - 1, 0))
        x1 = max(min(int(math.ceil(self.x1 * width - 1e-6)), width), x0 + 1)
        y1 = max(min(int(math.ceil(self.y1 * height - 1e-6)), height), y0 + 1)
        return x0, y0, x1, y1


FULL_FRAME = CropBox(0.0, 0.0, 1.0, 1.0, "frame", None)


def find_crop(rgb: np.ndarray, mode: str = "drop", margin: float = 0.06) -> CropBox:
    """The crop box of one drop image (RGB or grey array of any size) for ``mode`` in CROP_MODES.

    ``margin`` widens the found box on each side by that share of its long side. The box is made
    square in pixels where the frame allows, at least MIN_SHARE of the short side, and falls back to
    the well and then the whole frame when the drop or the well is not found with confidence.
    """
    if mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode {mode!r}; expected one of {', '.join(CROP_MODES)}")
    if mode == "none":
        return FULL_FRAME
    grey = working_grey(rgb)
    if grey is None:
        return FULL_FRAME
    h, w = grey.shape
    blur = cv2.GaussianBlur(grey, (5, 5), 0)
    well = find_well(blur)
    if mode == "drop":
        drop = _find_drop(blur, well)
        if drop is not None:
            return _frame_box(drop, w, h, margin, "drop", well.kind if well else None)
    if well is None:
        return FULL_FRAME
    return _frame_box(well.box, w, h, margin, "well", well.kind)


def apply_crop(rgb: np.ndarray, box: CropBox) -> np.ndarray:
    """The pixels of ``box`` in ``rgb`` (a view, not a copy), whatever resolution ``rgb`` has."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box.pixels(w, h)
    return rgb[y0:y1, x0:x1]


# --------------------------------------------------------------------------------------------
# Drop
# --------------------------------------------------------------------------------------------


def _find_drop(blur: np.ndarray, well: Well | None) -> tuple[float, float, float, float] | None:
    """Bounds of the drop's rim inside the well floor, or None when no distinct drop shows.

    The rim refracts light away, so it shows as a closed or nearly closed edge. Edges inside the
    floor (clear of the wall) are closed into regions; the region with the largest convex hull
    and its neighbours (a rim broken into arcs, contents near it) make the drop. Specks, fibres
    and floor texture have small or thin hulls and are ignored; no region -> None (the drop fills
    the well or does not show). Where the rim runs into the wall, the box reaches the wall.
    """
    h, w = blur.shape
    if well is not None:
        interior, bounds = well.interior, well.box
    else:
        # No well: a zoomed view. Search the frame, clear of its border and of dark wall pieces.
        _, interior = cv2.threshold(blur, 0.5 * percentiles(blur, None, (0.9,))[0], 255, cv2.THRESH_BINARY)
        inset = round(0.04 * min(h, w))
        interior[:inset], interior[h - inset:], interior[:, :inset], interior[:, w - inset:] = 0, 0, 0, 0
        interior = cv2.erode(interior, DISK11)
        bounds = (0.0, 0.0, float(w), float(h))
    area = float(cv2.countNonZero(interior))
    if area < 0.02 * h * w:
        return None
    edges_raw, edges, parts = _edge_parts(blur, interior, area)
    if not parts:
        return None
    hull_area, (x0, y0, x1, y1), first = parts[0]
    # A rim (even a half one) encloses area; a fibre or scratch is a thin streak.
    if hull_area < 0.04 * area or hull_area < 0.25 * (x1 - x0) * (y1 - y0):
        return None
    # And a rim runs round the region: edges line most of its hull. A spray of crystals or a cloud
    # of specks in a drop that fills the well leaves the hull's sides empty between the tips.
    if _hull_lined(first, edges) < 0.6:
        return None
    box, chosen = _join_neighbours(parts, reach=0.06 * math.sqrt(area))
    # The drop holds most of the structure on the floor; if much lies elsewhere (a crystal
    # shower seen zoomed, a faint rim of which only a crease showed) this box is not the drop.
    if cv2.countNonZero(edges_raw[box[1]:box[3], box[0]:box[2]]) < 0.85 * cv2.countNonZero(edges_raw):
        return None
    x0, y0, x1, y1 = _reach_wall(box, np.vstack(chosen)[:, 0, :], interior, bounds, well)
    # Where only an arc of the rim showed (a closed rim fills its hull), the circle through it
    # gives the rest of the drop.
    if cv2.contourArea(first) < 0.8 * hull_area:
        x0, y0, x1, y1 = _complete_arc(first, (x0, y0, x1, y1), bounds, well, min(h, w))
    # A drop box over most of the well gains little resolution over the well box, while a big drop
    # is the likeliest to have shown only part of its rim: take the well then.
    fx0, fy0, fx1, fy1 = max(bounds[0], 0.0), max(bounds[1], 0.0), min(bounds[2], w), min(bounds[3], h)
    if (min(x1, fx1) - max(x0, fx0)) * (min(y1, fy1) - max(y0, fy0)) > BIG_DROP * (fx1 - fx0) * (fy1 - fy0):
        return None
    return x0, y0, x1, y1


def _edge_parts(blur: np.ndarray, interior: np.ndarray, area: float) -> tuple[np.ndarray, np.ndarray, list]:
    """Edges inside ``interior`` (raw, and closed into regions) and the regions whose convex hull
    covers at least 1.5% of it, largest first, as (hull area, bounding box, contour)."""
    grad = cv2.morphologyEx(blur, cv2.MORPH_GRADIENT, DISK3)
    # Flat floors need a faint rim seen; textured ones (polariser colours) need a higher bar.
    noise = percentiles(grad[::2, ::2], interior[::2, ::2], (0.5,))[0]
    _, edges_raw = cv2.threshold(grad, max(5.0, 3.0 * noise + 2.0), 255, cv2.THRESH_BINARY)
    edges_raw &= interior
    edges = cv2.morphologyEx(edges_raw, cv2.MORPH_CLOSE, DISK7)
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    parts = []
    shortest = max(8, 2.5 * math.sqrt(0.015 * area))  # see _floor_outlines
    for c in contours:
        if len(c) < shortest:
            continue
        hull_area = cv2.contourArea(cv2.convexHull(c))
        if hull_area >= 0.015 * area:
            x, y, bw, bh = cv2.boundingRect(c)
            parts.append((hull_area, (x, y, x + bw, y + bh), c))
    parts.sort(key=lambda part: -part[0])
    return edges_raw, edges, parts


def _join_neighbours(parts: list, reach: float) -> tuple[list[int], list[np.ndarray]]:
    """Box of the first part grown by the parts that lie mostly next to it (rim arcs, contents),
    and the contours taken; a fibre that merely starts near it and runs off across the floor stays
    out."""
    box = list(parts[0][1])
    chosen = [parts[0][2]]
    rest = parts[1:]
    grown = True
    while grown:
        grown = False
        for part in list(rest):
            _, (px0, py0, px1, py1), c = part
            ox = min(px1, box[2] + reach) - max(px0, box[0] - reach)
            oy = min(py1, box[3] + reach) - max(py0, box[1] - reach)
            if ox > 0 and oy > 0 and ox * oy >= 0.5 * (px1 - px0) * (py1 - py0):
                box = [min(box[0], px0), min(box[1], py0), max(box[2], px1), max(box[3], py1)]
                chosen.append(c)
                rest.remove(part)
                grown = True
    return box, chosen


def _complete_arc(rim: np.ndarray, box: tuple[float, float, float, float],
                  bounds: tuple[float, float, float, float], well: Well | None,
                  side: int) -> tuple[float, float, float, float]:
    """``box`` grown by the circle through the rim arc, as far as that circle lies in the well."""
    pts = rim[:: max(1, len(rim) // 150), 0, :].astype(np.float64)
    circle = ransac_circle(pts, 0.015 * side, (0.08 * side, 0.75 * side), max(20, 0.35 * len(pts)))
    if circle is None:
        return box
    cx, cy, r = circle
    px, py = cx + r * RING_COS, cy + r * RING_SIN
    wx, wy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    if well is not None and well.kind == "round":
        keep = np.hypot(px - wx, py - wy) <= (bounds[2] - bounds[0]) / 2
    else:
        keep = (px >= bounds[0]) & (px <= bounds[2]) & (py >= bounds[1]) & (py <= bounds[3])
    if not keep.any():
        return box
    x0, y0, x1, y1 = box
    return (min(x0, float(px[keep].min())), min(y0, float(py[keep].min())),
            max(x1, float(px[keep].max())), max(y1, float(py[keep].max())))


def _hull_lined(contour: np.ndarray, edges: np.ndarray) -> float:
    """Share of the contour's convex hull outline that runs within 2 px of an edge pixel."""
    x0, y0, bw, bh = cv2.boundingRect(contour)
    x0, y0 = max(x0 - 2, 0), max(y0 - 2, 0)
    near = cv2.dilate(edges[y0:y0 + bh + 4, x0:x0 + bw + 4], SQUARE5)
    line = np.zeros_like(near)
    cv2.polylines(line, [cv2.convexHull(contour) - np.array([x0, y0], np.int32)], True, 255, 1)
    drawn = cv2.countNonZero(line)
    return cv2.countNonZero(line & near) / drawn if drawn else 0.0


def _reach_wall(box: list[int], points: np.ndarray, interior: np.ndarray,
                bounds: tuple[float, float, float, float], well: Well | None) -> tuple[float, float, float, float]:
    """Extend the drop box where the drop runs into the edge of the searched floor, out to the wall."""
    band = interior & ~cv2.erode(interior, DISK5)
    touching = points[band[points[:, 1], points[:, 0]] > 0].astype(np.float64)
    x0, y0, x1, y1 = (float(v) for v in box)
    if len(touching):
        cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        hx, hy = (bounds[2] - bounds[0]) / 2, (bounds[3] - bounds[1]) / 2
        dx, dy = touching[:, 0] - cx, touching[:, 1] - cy
        if well is not None and well.kind == "round":
            scale = min(hx, hy) / np.maximum(np.hypot(dx, dy), 1e-6)
        else:
            scale = np.minimum(hx / np.maximum(np.abs(dx), 1e-6), hy / np.maximum(np.abs(dy), 1e-6))
        wx, wy = cx + dx * scale, cy + dy * scale
        x0, y0, x1, y1 = min(x0, wx.min()), min(y0, wy.min()), max(x1, wx.max()), max(y1, wy.max())
    return x0, y0, x1, y1


# --------------------------------------------------------------------------------------------
# Box
# --------------------------------------------------------------------------------------------


def _frame_box(box: tuple[float, float, float, float], w: int, h: int, margin: float,
               found: str, well: str | None) -> CropBox:
    """Working-pixel bounds -> square-ish, margined, clamped box in frame fractions."""
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = max(x0, 0.0), min(x1, float(w))
    y0, y1 = max(y0, 0.0), min(y1, float(h))
    if not (x1 > x0 and y1 > y0):
        return FULL_FRAME
    margin = max(0.0, float(margin)) if math.isfinite(margin) else 0.0
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    side = max(side, MIN_SHARE * min(w, h))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bw, bh = min(side, float(w)), min(side, float(h))
    bx0 = min(max(cx - bw / 2, 0.0), w - bw)
    by0 = min(max(cy - bh / 2, 0.0), h - bh)
    return CropBox(bx0 / w, by0 / h, (bx0 + bw) / w, (by0 + bh) / h, found, well)
