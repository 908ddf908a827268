"""Straight-edge evidence of crystals, and how it joins the network's crystal probability.

Crystals are bounded by flat faces, so a drop with crystals shows straight edges; clear drops,
precipitate, skins and phase separation mostly do not, and the drop's own rim (curved, and at the
border of the drop crop, or running round its centre) is left out. The *straight-edge score* is the
total length of the line segments OpenCV's line segment detector (LSD, Grompone von Gioi et al.
2010) finds inside the inner disc of the model's input square, per side length. It is computed on exactly the pixels the network
sees (so every scoring path, training included, agrees), it needs no training, and so it cannot have
learned the look of synthetic plates: on real drops the network trained on synthetic plates misses
big faceted crystals that this score finds.

The two are joined as independent evidence (noisy-OR): crystal probability =
1 - (1 - network) * (1 - shape), where shape is the straight-edge score mapped to a probability by a
logistic fitted on labelled drops. Either route alone can make a hit. The weights of a joint model
are deliberately not learned on synthetic validation data, where the network is nearly perfect:
such a fit would learn to ignore the shape score, which is the part that carries over to real drops.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

INNER_RADIUS = 0.40  # share of the square's side searched around its centre; the drop rim lies outside
RIM_ZONE = 0.2  # beyond this share of the side from the centre, segments running round it are rim, not crystal
TANGENT_DEGREES = 30.0  # within this angle of the tangent a segment counts as running round the centre
PRIOR_SLOPE = 1.5  # the stated prior of the logistic, used when too few labels say otherwise
PRIOR_OFFSET = 3.0  # straight-edge score at which the prior calls a drop 50% crystal
SHAPE_THREADS = 2
_local = threading.local()
_masks: dict[int, np.ndarray] = {}


def _detector():
    """One LSD per thread (the detector object keeps scratch state)."""
    det = getattr(_local, "lsd", None)
    if det is None:
        det = _local.lsd = cv2.createLineSegmentDetector()
    return det


def _inner_disc(side: int) -> np.ndarray:
    mask = _masks.get(side)
    if mask is None:
        mask = np.zeros((side, side), np.uint8)
        cv2.circle(mask, (side // 2, side // 2), int(side * INNER_RADIUS), 255, -1)
        _masks[side] = mask
    return mask


def straight_segments(square: np.ndarray) -> np.ndarray:
    """(K, 4) float segments (x0, y0, x1, y1) found inside the inner disc of an S x S (x3) uint8
    model input; empty for a blank or odd array."""
    a = np.asarray(square)
    if a.ndim == 3:
        a = cv2.cvtColor(np.ascontiguousarray(a[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    if a.ndim != 2 or min(a.shape) < 16:
        return np.zeros((0, 4))
    grey = np.ascontiguousarray(a, dtype=np.uint8)
    if grey.shape[0] != grey.shape[1]:
        side = min(grey.shape)
        grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    side = grey.shape[0]
    found = _detector().detect(grey)[0]
    if found is None:
        return np.zeros((0, 4))
    seg = found.reshape(-1, 4).astype(np.float64)
    mx = np.clip(((seg[:, 0] + seg[:, 2]) / 2).astype(int), 0, side - 1)
    my = np.clip(((seg[:, 1] + seg[:, 3]) / 2).astype(int), 0, side - 1)
    seg = seg[_inner_disc(side)[my, mx] > 0]
    # The drop's rim (and a round skin's wrinkles) runs round the centre of the drop crop, and LSD
    # follows a curve with short straight pieces: away from the centre, pieces that run tangentially
    # are left out. Crystal edges lie at any angle, so few of them go.
    cx, cy = (seg[:, 0] + seg[:, 2]) / 2 - side / 2, (seg[:, 1] + seg[:, 3]) / 2 - side / 2
    r = np.hypot(cx, cy)
    length = np.maximum(np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]), 1e-9)
    radial_share = np.abs((seg[:, 2] - seg[:, 0]) * cx + (seg[:, 3] - seg[:, 1]) * cy) / (length * np.maximum(r, 1e-9))
    tangential = (r > RIM_ZONE * side) & (radial_share < math.sin(math.radians(TANGENT_DEGREES)))
    return seg[~tangential]


def straight_edge_score(square: np.ndarray) -> float:
    """Total length of straight segments inside the inner disc of an S x S (x3) uint8 model input,
    divided by S (so a segment across the whole disc counts 0.8). 0 for a blank or odd array."""
    seg = straight_segments(square)
    if not len(seg):
        return 0.0
    side = min(np.asarray(square).shape[:2])
    return float(np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]).sum() / side)


def straight_edge_scores(squares: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """The score of each square of a (N, S, S, 3) uint8 batch, on two threads (OpenCV releases the
    GIL), so a batch costs about half its serial time next to the forward pass."""
    if len(squares) < 4:
        return np.array([straight_edge_score(s) for s in squares], dtype=np.float64)
    # a pool per batch (two threads cost microseconds next to a batch): no idle workers are left behind,
    # which a window's exit would wait for when a scoring thread (a daemon) had started them
    with ThreadPoolExecutor(max_workers=SHAPE_THREADS, thread_name_prefix="shape-score") as pool:
        return np.fromiter(pool.map(straight_edge_score, list(squares)), dtype=np.float64, count=len(squares))


def _logistic(score: np.ndarray | float, slope: float, offset: float) -> np.ndarray:
    z = np.clip(slope * (np.asarray(score, dtype=np.float64) - offset), -40, 40)
    return 1.0 / (1.0 + np.exp(-z))


def shape_probability(score: np.ndarray | float, slope: float, offset: float) -> np.ndarray:
    """The crystal evidence of straight-edge scores: the fitted logistic, less what it gives a drop
    with no straight edge at all (rescaled to 0..1). No straight edge is no evidence, so such a drop
    keeps the network's answer exactly, its top 3 included."""
    floor = _logistic(0.0, slope, offset)
    return np.clip((_logistic(score, slope, offset) - floor) / max(1.0 - floor, 1e-12), 0.0, 1.0)


def fuse(probs: np.ndarray, shape_prob: np.ndarray, crystal_mask: Sequence[bool]) -> np.ndarray:
    """Class probabilities whose crystal mass is the noisy-OR of the network's and the shape's.

    The crystal classes keep their shares of the crystal mass and the others of the rest, so the
    vector still sums to 1, the top-3 and the review queues read it as before, and a drop the shape
    score calls a crystal gains a crystal class in its top 3."""
    p = np.asarray(probs, dtype=np.float64)
    single = p.ndim == 1
    p = np.atleast_2d(p)
    mask = np.asarray(crystal_mask, dtype=bool)
    s = np.atleast_1d(np.asarray(shape_prob, dtype=np.float64))
    crystal = p[:, mask].sum(axis=1)
    fused = 1.0 - (1.0 - crystal) * (1.0 - s)
    out = p.copy()
    has = crystal > 1e-12
    out[np.ix_(has, mask)] *= (fused[has] / crystal[has])[:, None]
    out[np.ix_(~has, mask)] = (fused[~has] / max(int(mask.sum()), 1))[:, None]
    rest = 1.0 - crystal
    ok = rest > 1e-12
    out[np.ix_(ok, ~mask)] *= ((1.0 - fused[ok]) / rest[ok])[:, None]
    return (out[0] if single else out).astype(np.asarray(probs).dtype)


def fit_shape_logistic(scores: np.ndarray, is_crystal: np.ndarray, prior: tuple[float, float] = (PRIOR_SLOPE, PRIOR_OFFSET),
                       prior_weight: float = 5.0) -> tuple[float, float]:
    """(slope, offset) of P(crystal | straight-edge score), fitted by penalised maximum likelihood.

    The penalty pulls towards ``prior`` with the weight of ``prior_weight`` drops, so a handful of
    labels moves it a little and hundreds decide it; with no labels of one kind the prior stands."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_crystal, dtype=np.float64)
    if len(x) == 0 or y.min() == y.max():
        return prior
    # parameters as intercept/weight: z = w * x + b, with b = -slope * offset
    w0, b0 = prior[0], -prior[0] * prior[1]
    theta = np.array([w0, b0])
    prior_theta = theta.copy()
    lam = prior_weight / max(len(x), 1)
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(50):
        z = np.clip(design @ theta, -40, 40)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = design.T @ (p - y) / len(x) + lam * (theta - prior_theta)
        hess = (design.T * (p * (1 - p))) @ design / len(x) + lam * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    w, b = float(theta[0]), float(theta[1])
    if not math.isfinite(w) or not math.isfinite(b) or w <= 1e-3:
        return prior  # straight edges never argue against a crystal: a flat or negative fit is noise
    return w, -b / w
