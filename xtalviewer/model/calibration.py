"""Fitting the crystal call on validation drops: temperature scaling, the threshold for a target
crystal recall (from the labelled crystals, or from the probability mass when they are few), and
the straight-edge logistic joined by noisy-OR. What the fit produces is an ``OperatingPoint``
(``xtalviewer/crystal_call.py``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from xtalviewer.crystal_call import (
    DEFAULT_TARGET_RECALL, DEFAULT_THRESHOLD, MIN_THRESHOLD_CRYSTALS, PRIOR_THRESHOLD, OperatingPoint, crystal_probability, pct, softmax,
)

def _nll(logits: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float((log_norm - z[np.arange(len(truth)), truth]).mean())


def fit_temperature(logits: np.ndarray, truth: Sequence[int], lo: float = 0.05, hi: float = 20.0) -> float:
    """Temperature scaling (Guo et al. 2017): the T > 0 that minimises the validation NLL of
    softmax(logits / T). One parameter, so it cannot overfit a small validation split and never
    changes the ranking of classes within a drop. Golden-section search on log T."""
    logits = np.asarray(logits, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    if len(truth) == 0:
        return 1.0
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(logits, truth, math.exp(c)), _nll(logits, truth, math.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(logits, truth, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(logits, truth, math.exp(d))
    t = math.exp((a + b) / 2)
    return t if _nll(logits, truth, t) <= _nll(logits, truth, 1.0) else 1.0


def choose_threshold(crystal_prob: np.ndarray, is_crystal: np.ndarray, target_recall: float) -> tuple[float, float, float]:
    """The highest threshold whose recall over the true crystal drops reaches ``target_recall``.

    Returns (threshold, recall reached, review load = share of all drops flagged). With no crystal
    drops there is nothing to tune: the 50% rule, recall NaN.
    """
    score = np.asarray(crystal_prob, dtype=np.float64)
    truth = np.asarray(is_crystal, dtype=bool)
    positives = np.sort(score[truth])[::-1]
    if len(positives) == 0:
        return DEFAULT_THRESHOLD, float("nan"), float((score >= DEFAULT_THRESHOLD).mean()) if len(score) else float("nan")
    k = min(len(positives), max(1, math.ceil(target_recall * len(positives) - 1e-9)))
    threshold = float(positives[k - 1])
    return (threshold, *recall_and_load(score, truth, threshold))


def recall_and_load(score: np.ndarray, is_crystal: np.ndarray, threshold: float) -> tuple[float, float]:
    """(share of the crystal drops flagged, share of all drops flagged) at ``threshold``."""
    flagged = np.asarray(score) >= threshold
    return float(flagged[np.asarray(is_crystal, dtype=bool)].mean()), float(flagged.mean())


def crystals_to_resolve(target_recall: float) -> float:
    """Labelled crystal drops needed before their own lowest scores can place ``target_recall``:
    one missed in 1/(1 - target), so 100 for 99%."""
    return math.inf if target_recall >= 1 else math.ceil(1 / (1 - target_recall) - 1e-9)


def mass_threshold(crystal_prob: np.ndarray, target_recall: float, expected: np.ndarray | None = None) -> float | None:
    """The highest threshold that keeps ``target_recall`` of the expected crystals above it.

    With calibrated probabilities, a drop scored p holds p of a crystal on average, so the crystals
    expected below a threshold t are the sum of the scores below t, over every drop, labelled a
    crystal or not. Unlike the labelled crystals alone, this sees the long tail of faint,
    uncertain drops where new plates hide their crystals. ``expected`` gives each drop's expected
    crystal separately when the score that ranks them is not itself a calibrated probability (the
    network's calibrated probability, when straight edges join the score). None without scores.
    """
    score = np.asarray(crystal_prob, dtype=np.float64)
    order = np.argsort(score, kind="stable")
    score = score[order]
    weight = score if expected is None else np.asarray(expected, dtype=np.float64)[order]
    if len(score) == 0 or weight.sum() <= 0:
        return None
    below = np.cumsum(weight)  # expected crystals among the k+1 lowest drops
    allowed = (1.0 - target_recall) * below[-1]
    k = int(np.searchsorted(below, allowed, side="right"))  # the k lowest drops may go unflagged
    return float(score[min(k, len(score) - 1)])


SHAPE_CHOICES = ("auto", "on", "off")


def fit_crystal_call(logits: np.ndarray, truth: Sequence[int], crystal_mask: Sequence[bool],
                     target_recall: float = DEFAULT_TARGET_RECALL, *, shape_scores: np.ndarray | None = None,
                     shape: str = "auto", shape_default: bool = True, **kw) -> OperatingPoint:
    """The operating point with or without the straight-edge score (``shape``: on, off or auto).

    auto fits both on the labelled drops and keeps the edges only where they do better there: higher
    recall (up to the target), else a lower review load. Where the network alone already finds the
    crystals (synthetic plates), edges on precipitate, skins and dry drops only add load; where it
    misses crystals the edges find (a new imager), they take it to the target at a lower threshold.
    With fewer than MIN_THRESHOLD_CRYSTALS crystals the comparison says nothing: ``shape_default``
    (the starting model's choice) stands."""
    if shape not in SHAPE_CHOICES:
        raise ValueError(f"shape must be one of {', '.join(SHAPE_CHOICES)}, not {shape!r}")
    if shape_scores is None or shape == "off":
        return fit_operating_point(logits, truth, crystal_mask, target_recall, **kw)
    fused = fit_operating_point(logits, truth, crystal_mask, target_recall, shape_scores=shape_scores, **kw)
    if shape == "on":
        return fused
    alone = fit_operating_point(logits, truth, crystal_mask, target_recall, **kw)
    n = alone.val_crystals or 0
    if n < MIN_THRESHOLD_CRYSTALS or alone.val_recall is None or fused.val_recall is None:
        return fused if shape_default else alone

    def rank(op: OperatingPoint) -> tuple[float, float]:
        return min(op.val_recall, target_recall), -(op.val_review_load or 0.0)

    with_edges = f"with them recall {pct(fused.val_recall)} at load {pct(fused.val_review_load)}"
    without = f"network alone recall {pct(alone.val_recall)} at load {pct(alone.val_review_load)}"
    if rank(fused) > rank(alone):
        return replace(fused, shape_note=f"kept: {with_edges}, {without}")
    return replace(alone, shape_note=f"straight edges left out: {without}, {with_edges}")


def fit_operating_point(logits: np.ndarray, truth: Sequence[int], crystal_mask: Sequence[bool],
                        target_recall: float = DEFAULT_TARGET_RECALL, *, shape_scores: np.ndarray | None = None,
                        shape_prior: tuple[float, float] | None = None, fallback_threshold: float | None = None,
                        fallback_temperature: float | None = None, fallback_source: str = "the base model's",
                        fitted_on: str | None = None) -> OperatingPoint:
    """Temperature on the validation logits, the straight-edge logistic when ``shape_scores`` are
    given (one per drop), then the threshold for ``target_recall`` on the calibrated (and fused)
    crystal probabilities of the same split.

    With fewer than MIN_THRESHOLD_CRYSTALS labelled crystals the lowest of them says little (three
    easy crystals put it near 100%, which flags nothing), so the threshold falls back to
    ``fallback_threshold`` (the model it started from) or else PRIOR_THRESHOLD, and says so; the
    temperature it was set at (``fallback_temperature``) stays with it, since a handful of labels
    cannot fit one either (five drops can flatten every probability to the class prior)."""
    from xtalviewer.model.shape_score import PRIOR_OFFSET, PRIOR_SLOPE, fit_shape_logistic, fuse, shape_probability

    truth = np.asarray(truth, dtype=np.int64)
    mask = np.asarray(crystal_mask, dtype=bool)
    is_crystal = mask[truth] if len(truth) else np.zeros(0, bool)
    few = int(is_crystal.sum()) < MIN_THRESHOLD_CRYSTALS
    temperature = fallback_temperature if few and fallback_temperature is not None else fit_temperature(logits, truth)
    probs = softmax(logits, temperature)
    network = crystal_probability(probs, mask)  # calibrated: what the probability-mass rule counts
    slope = offset = None
    if shape_scores is not None:
        slope, offset = fit_shape_logistic(shape_scores, is_crystal, shape_prior or (PRIOR_SLOPE, PRIOR_OFFSET))
        probs = fuse(probs, shape_probability(shape_scores, slope, offset), mask)
    score = crystal_probability(probs, mask)
    threshold, recall, load = choose_threshold(score, is_crystal, target_recall)
    n_crystal = int(is_crystal.sum())
    common = dict(temperature=temperature, shape_slope=slope, shape_offset=offset, fitted_on=fitted_on)
    if not n_crystal and fallback_threshold is None:
        return OperatingPoint(threshold=threshold, val_crystals=0,
                              val_review_load=None if math.isnan(load) else load, **common)
    labelled, by_mass, fallback = threshold, None, None
    if n_crystal < MIN_THRESHOLD_CRYSTALS:
        threshold = fallback_threshold if fallback_threshold is not None else PRIOR_THRESHOLD
        source = f"{fallback_source} threshold" if fallback_threshold is not None else "the stated prior"
        fallback = (f"set to {source} {pct(threshold)}: {n_crystal} validation crystal drop"
                    f"{'' if n_crystal == 1 else 's'} cannot place it ({MIN_THRESHOLD_CRYSTALS} are needed)")
        lowest = float(score[is_crystal].min()) if n_crystal else None
        if lowest is not None and lowest < threshold:
            # a few labelled crystals cannot raise the threshold, but each of them must be a hit
            threshold = lowest
            fallback += f"; lowered to {pct(threshold)} so that every labelled crystal is a hit"
        labelled = None if not n_crystal else labelled
    elif n_crystal < crystals_to_resolve(target_recall):
        by_mass = mass_threshold(score, target_recall, expected=network)
        if by_mass is not None and by_mass < threshold:
            threshold = by_mass
    if len(score):
        recall, load = recall_and_load(score, is_crystal, threshold) if n_crystal else (float("nan"), float((score >= threshold).mean()))
    return OperatingPoint(threshold=threshold, target_recall=float(target_recall),
                          val_recall=None if math.isnan(recall) else recall, val_review_load=load,
                          val_crystals=n_crystal, labelled_threshold=labelled, mass_threshold=by_mass,
                          fallback=fallback, **common)
