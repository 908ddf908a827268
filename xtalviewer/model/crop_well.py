"""Finding the well in a drop image, for the crop step (see ``xtalviewer.model.crop``).

A grey working copy of fixed size; the well floor is the central bright region after an Otsu
threshold. A circle fitted through the floor's outline with a dark wall ring just outside makes a
round well; otherwise a compact floor with a sharp edge and darker plate around it makes a square
(or other) well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE = 256  # long side of the working copy, pixels

# Round wells: radius range as fractions of the frame's short side (MARCO zooms make it > 0.5).
_ROUND_R = (0.28, 0.72)
_RING_ANGLES = 48

# Structuring elements, sized for the working copy.
DISK3, DISK5, DISK7, DISK11 = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) for k in (3, 5, 7, 11))
SQUARE5, SQUARE7 = (cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)) for k in (5, 7))



@dataclass(frozen=True)
class Well:
    kind: str  # "round" or "square"
    box: tuple[float, float, float, float]  # floor bounds in working pixels, may exceed the frame
    interior: np.ndarray  # uint8 mask of the floor away from the wall edge


# --------------------------------------------------------------------------------------------
# Working copy
# --------------------------------------------------------------------------------------------


def working_grey(rgb: np.ndarray) -> np.ndarray | None:
    """Grey uint8 copy with long side WORK_SIDE; None when the array is unusable."""
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[:, :, :3]
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim != 2:
        return None
    h, w = arr.shape[:2]
    if h < 8 or w < 8 or max(h, w) > 20 * min(h, w):
        return None
    if arr.dtype != np.uint8:
        arr = _to_uint8(arr)
        if arr is None:
            return None
    # An integer box reduction (the fast path of INTER_AREA) to at most twice the working size, then
    # a cheap bilinear step to the exact size, so every input size meets the same working copy.
    # From 4x reductions on, every other row is enough for the average and halves the cost.
    k = max(1, max(h, w) // WORK_SIDE)
    ky = 2 if k >= 4 and k % 2 == 0 else 1
    if k > 1:
        arr = arr[: h - h % k : ky, : w - w % k]
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
    if k > 1:
        arr = cv2.resize(arr, (arr.shape[1] // k, arr.shape[0] // (k // ky)), interpolation=cv2.INTER_AREA)
    scale = WORK_SIDE / max(h, w)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    if (arr.shape[1], arr.shape[0]) != size:
        arr = cv2.resize(arr, size, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray | None:
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if not np.issubdtype(arr.dtype, np.number):
        return None
    a = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(a.max()) if a.size else 0.0
    if top <= 1.0:
        a = a * 255.0
    elif top > 255.0:
        a = a * (255.0 / top)
    return np.clip(a, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Well
# --------------------------------------------------------------------------------------------


def find_well(blur: np.ndarray) -> Well | None:
    """The well floor: the central bright region inside darker plate, round if a circle fits it."""
    if cv2.meanStdDev(blur)[1][0, 0] < 8:  # a blank frame
        return None
    _, bright = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, SQUARE7)  # cut thin bright bridges
    outlines = _floor_outlines(bright)
    if not outlines:
        return None
    h, w = blur.shape
    points = np.vstack(outlines)[:, 0, :]
    # Where the frame, not the wall, cuts the floor its outline says nothing about the well.
    inner = points[(points[:, 0] > 1) & (points[:, 1] > 1) & (points[:, 0] < w - 2) & (points[:, 1] < h - 2)]
    if len(inner) < 20:
        return None
    return _round_well(blur, inner) or _square_well(blur, outlines, inner)


def percentiles(grey: np.ndarray, mask: np.ndarray | None, shares: tuple[float, ...]) -> list[float]:
    """Grey levels below which the given shares of (masked) pixels lie; a histogram beats a sort."""
    cdf = np.cumsum(cv2.calcHist([grey], [0], mask, [256], [0, 256]).ravel())
    if cdf[-1] <= 0:
        return [0.0 for _ in shares]
    return [float(np.searchsorted(cdf, q * cdf[-1])) for q in shares]


def _floor_outlines(bright: np.ndarray) -> list[np.ndarray]:
    """Outlines of the well floor: the largest bright region centred near the middle of the frame,
    and the bright regions a dark band away from it that stay clear of the frame border: the floor
    beyond a drop's rim, where a drop against the wall splits it. (Bright plate beyond the wall
    runs out of the frame.)"""
    h, w = bright.shape
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    # A region of area A has an outline of at least 2 sqrt(pi A) px, and a chain of outline points
    # at least 1/sqrt(2) of that: a cheap test that spares the area of every speck.
    shortest = max(20, 2.5 * math.sqrt(0.01 * h * w))
    big = [c for c in contours if len(c) >= shortest and cv2.contourArea(c) >= 0.01 * h * w]
    best, best_area = None, 0.08 * h * w
    for c in big:
        m = cv2.moments(c)
        if m["m00"] <= best_area:
            continue
        cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
        if abs(cx - w / 2) < 0.3 * w and abs(cy - h / 2) < 0.3 * h:
            best, best_area = c, m["m00"]
    if best is None:
        return []
    if len(big) == 1:
        return [best]
    near = np.zeros_like(bright)
    cv2.drawContours(near, [best], -1, 255, -1)
    reach = 2 * round(0.04 * min(h, w)) + 1
    near = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach)))
    joined = [best]
    for c in big:
        x, y, bw, bh = cv2.boundingRect(c)
        inside_frame = x > 1 and y > 1 and x + bw < w - 1 and y + bh < h - 1
        if c is not best and inside_frame and near[c[:, 0, 1], c[:, 0, 0]].any():
            joined.append(c)
    return joined


def _round_well(blur: np.ndarray, inner: np.ndarray) -> Well | None:
    """A circle through much of the floor outline with a dark wall ring outside it.

    ``inner`` is the part of the floor's outline not on the frame border. When a drop against the
    wall splits the floor, the outline follows the drop's edge too, and that circle may win the
    first vote; the ring check rejects it and the rest of the outline gets a second vote. Either
    circle must pass through a good share of the whole outline: one through a square's four
    corners does not.
    """
    h, w = blur.shape
    side = min(h, w)
    tol = 0.015 * side
    pts = inner[:: max(1, len(inner) // 80)].astype(np.float64)
    min_votes = max(20, 0.35 * len(pts))
    span = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
    for _ in range(2):
        circle = ransac_circle(pts, tol, (_ROUND_R[0] * side, _ROUND_R[1] * side), min_votes)
        if circle is None:
            return None
        cx, cy, r = circle
        # Dark wall all round where the frame shows it: a square floor sticks out at its corners.
        if _ring_score(blur, cx, cy, r) >= 0.8:
            interior = np.zeros_like(blur)
            cv2.circle(interior, (round(cx), round(cy)), max(1, round(0.9 * r)), 255, -1)
            return Well("round", (cx - r, cy - r, cx + r, cy + r), interior)
        # A second vote only for a circle well inside the outline's extent, as a drop's edge is.
        if 2 * r > 0.85 * span:
            return None
        pts = pts[np.abs(np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) - r) >= 2 * tol]
        if len(pts) < min_votes:
            return None
    return None


# Fixed point triples for the circle search: deterministic, and cheaper than a generator per call.
_TRIPLES = np.random.default_rng(0).random((40, 3))


def ransac_circle(pts: np.ndarray, tol: float, r_range: tuple[float, float],
                   min_votes: float) -> tuple[float, float, float] | None:
    """Circle with the most outline points (at least ``min_votes``) within ``tol``, refined by least
    squares on those points.

    Arcs hidden by a drop against the wall or bent by a notch are outvoted by the rest of the wall.
    """
    idx = (_TRIPLES * len(pts)).astype(np.intp)
    a, b, c = pts[idx[:, 0]], pts[idx[:, 1]], pts[idx[:, 2]]
    ab, ac = b - a, c - a
    d = 2.0 * (ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
    d[np.abs(d) < 1e-6] = np.nan
    sb, sc = (ab * ab).sum(1), (ac * ac).sum(1)
    # Circumcentre relative to a.
    ux = (ac[:, 1] * sb - ab[:, 1] * sc) / d
    uy = (ab[:, 0] * sc - ac[:, 0] * sb) / d
    ur = np.hypot(ux, uy)
    ux, uy = ux + a[:, 0], uy + a[:, 1]
    # |distance - r| < tol, compared on squares to spare a square root per point.
    d2 = (pts[:, 0] - ux[:, None]) ** 2 + (pts[:, 1] - uy[:, None]) ** 2
    lo, hi = (np.maximum(ur - tol, 0.0) ** 2)[:, None], ((ur + tol) ** 2)[:, None]
    near = (d2 > lo) & (d2 < hi)
    votes = np.where((ur >= r_range[0]) & (ur <= r_range[1]), near.sum(axis=1), 0)
    best = int(np.argmax(votes))
    if votes[best] < min_votes:
        return None
    inliers = pts[near[best]]
    # Least squares (Kasa): x^2 + y^2 = 2 cx x + 2 cy y + k, through the normal equations.
    design = np.column_stack([inliers, np.ones(len(inliers))])
    try:
        sol = np.linalg.solve(design.T @ design, design.T @ (inliers * inliers).sum(1))
    except np.linalg.LinAlgError:
        return None
    cx, cy = sol[0] / 2, sol[1] / 2
    r2 = sol[2] + cx * cx + cy * cy
    if not r2 > 0:
        return None
    r = math.sqrt(r2)
    if not r_range[0] <= r <= r_range[1]:
        return None
    return float(cx), float(cy), float(r)


RING_COS = np.cos(np.linspace(0, 2 * np.pi, _RING_ANGLES, endpoint=False))
RING_SIN = np.sin(np.linspace(0, 2 * np.pi, _RING_ANGLES, endpoint=False))
_RING_RADII = np.array([0.82, 0.88, 0.94, 1.08, 1.14, 1.20])[:, None]


def _ring_score(blur: np.ndarray, cx: float, cy: float, r: float) -> float:
    """Share of directions with a bright floor just inside r and a dark wall just outside.

    Only directions where the frame shows both sides count; at least a quarter of them must.
    """
    h, w = blur.shape
    x = np.rint(cx + _RING_RADII * r * RING_COS).astype(np.intp)
    y = np.rint(cy + _RING_RADII * r * RING_SIN).astype(np.intp)
    shown = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    v = np.where(shown, blur[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)], 0).astype(np.float32)
    n_in, n_out = shown[:3].sum(axis=0), shown[3:].sum(axis=0)
    valid = (n_in > 0) & (n_out > 0)
    if valid.sum() < 0.25 * _RING_ANGLES:
        return 0.0
    inside = v[:3, valid].sum(axis=0) / n_in[valid]
    outside = v[3:, valid].sum(axis=0) / n_out[valid]
    return float(((outside < 0.62 * inside) & (inside > 40)).mean())


def _square_well(blur: np.ndarray, outlines: list[np.ndarray], inner: np.ndarray) -> Well | None:
    """Any other well: a compact bright floor with a sharp edge, clearly brighter than the plate.

    Its extent comes from the rows and columns that the floor's hull fills substantially: the hull
    takes in a drop against the wall that the bright floor only wraps round, and a thin bright leak
    along the plate (a neighbouring well's light, a gap in the wall) adds only a thin wedge.
    """
    h, w = blur.shape
    hull_points = cv2.convexHull(np.vstack(outlines))
    # A wall is a smooth line; a bright region frayed by precipitate or texture is not a floor.
    if sum(cv2.arcLength(c, True) for c in outlines) > 2.0 * cv2.arcLength(hull_points, True):
        return None
    floor = np.zeros_like(blur)
    cv2.drawContours(floor, outlines, -1, 255, -1)
    hull = np.zeros_like(blur)
    cv2.fillConvexPoly(hull, hull_points, 255)
    cols = cv2.reduce(hull, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    rows = cv2.reduce(hull, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    xs = np.flatnonzero(cols >= 0.35 * cols.max())
    ys = np.flatnonzero(rows >= 0.35 * rows.max())
    x0, x1, y0, y1 = int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1
    box_area = float((x1 - x0) * (y1 - y0))
    if not 0.1 * h * w <= box_area <= 0.85 * h * w:
        return None
    inside = floor[y0:y1, x0:x1]
    if cv2.countNonZero(inside) < 0.5 * box_area:
        return None
    level = cv2.mean(blur[y0:y1, x0:x1], inside)[0]
    # The plate in a band around the box is much darker...
    e = max(2, round(0.04 * min(h, w)))
    X0, Y0, X1, Y1 = max(0, x0 - e), max(0, y0 - e), min(w, x1 + e), min(h, y1 + e)
    band = np.full((Y1 - Y0, X1 - X0), 255, np.uint8)
    band[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0] = 0
    if not band.any() or cv2.mean(blur[Y0:Y1, X0:X1], band)[0] > 0.85 * level:
        return None
    # ...and the floor ends at a sharp edge, not a vignette.
    if edge_strength(blur, inner[::3]) < 0.12 * level:
        return None
    # Search for the drop clear of the wall: the floor's hull shrunk towards the centre by 6%.
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    corners = hull_points[:, 0, :].astype(np.float64)
    shrunk = np.column_stack([cx + (corners[:, 0] - cx) * 0.88, cy + (corners[:, 1] - cy) * 0.88])
    interior = np.zeros_like(floor)
    cv2.fillConvexPoly(interior, np.rint(shrunk).astype(np.int32), 255)
    ix, iy = round(0.06 * (x1 - x0)), round(0.06 * (y1 - y0))
    interior[:y0 + iy], interior[y1 - iy:], interior[:, :x0 + ix], interior[:, x1 - ix:] = 0, 0, 0, 0
    return Well("square", (float(x0), float(y0), float(x1), float(y1)), interior)


_NEIGHBOURS = np.array([(dx, dy) for dy in range(-2, 3) for dx in range(-2, 3) if dx * dx + dy * dy <= 5])


def edge_strength(blur: np.ndarray, pts: np.ndarray) -> float:
    """Mean grey range (max - min) over the 5 px disc round each point: the gradient there."""
    h, w = blur.shape
    x = np.clip(pts[:, 0] + _NEIGHBOURS[:, :1], 0, w - 1)
    y = np.clip(pts[:, 1] + _NEIGHBOURS[:, 1:], 0, h - 1)
    v = blur[y, x]
    return float((v.max(axis=0).astype(np.float32) - v.min(axis=0)).mean())


