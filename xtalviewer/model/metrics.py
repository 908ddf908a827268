"""The project's fixed metric definitions, computed from true labels and probability vectors.

- accuracy: top-1 correct / all;
- top-3 accuracy: true class among the 3 highest probabilities;
- missed-crystal rate (top-1): among images whose true class is a crystal class, the share whose
  top-1 prediction is not a crystal class;
- missed-crystal rate (top-3): among those images, the share with no crystal class in the top 3;
- per-class precision/recall and the confusion matrix (rows = truth, columns = prediction);
- crystal recall / precision at the operating point: over images whose true class is / that are
  flagged as a crystal class, a drop being flagged when its crystal probability reaches the threshold;
  review load: the share of all drops flagged;
- the top-3 strategy's recall (1 - missed-crystal rate top-3) and review load (share of drops with a
  crystal class in the top 3);
- balanced accuracy: mean per-class recall (over classes present); ECE: expected calibration error
  of the top-1 probability over 15 equal-width bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from xtalviewer.crystal_call import DEFAULT_THRESHOLD, crystal_in_top3, crystal_probability, pct

ECE_BINS = 15


class Metric(NamedTuple):
    """One headline figure: its key in a metrics dict, a column title, a title in words, what it counts."""

    key: str
    short: str
    title: str
    description: str

    @property
    def is_share(self) -> bool:
        """Shown as a percentage (every headline figure but the calibration error)."""
        return self.key != "ece"


# THE headline figures, in the order every table (Retrain, `models`, the report, bench/quality.py) shows them
HEADLINE: tuple[Metric, ...] = (
    Metric("accuracy", "top-1", "Accuracy", "Top-1 correct / all"),
    Metric("top3_accuracy", "top-3", "Top-3 accuracy", "True class among the three most likely"),
    Metric("missed_crystal_rate_top1", "missed@1", "Missed crystals (top-1)",
           "Crystal images whose top prediction is not a crystal class"),
    Metric("missed_crystal_rate_top3", "missed@3", "Missed crystals (top-3)",
           "Crystal images with no crystal class among the three most likely"),
    Metric("crystal_recall", "recall@op", "Crystal recall at the operating point",
           "Crystal images flagged as hits at the operating point"),
    Metric("crystal_precision", "precision@op", "Crystal precision at the operating point",
           "Flagged drops that are crystals"),
    Metric("review_load", "load@op", "Review load", "Share of all drops flagged as hits: what a reviewer must look at"),
    Metric("top3_review_load", "load@top3", "Review load (top-3)", "Share of drops with a crystal class in the top 3"),
    Metric("balanced_accuracy", "bal. acc.", "Balanced accuracy", "Mean per-class recall"),
    Metric("ece", "ECE", "Calibration error", "Expected calibration error of the top-1 probability (15 bins)"),
)
HEADLINE_KEYS: tuple[str, ...] = tuple(m.key for m in HEADLINE)


def format_metric(metric: Metric, value: float | None) -> str:
    """A headline figure as tables print it: a share as a percentage, the calibration error as a number."""
    if metric.is_share:
        return pct(value)
    return "–" if value is None else f"{value:.3f}"


def roc_auc(score: Sequence[float] | np.ndarray, positive: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative
    (ties count half). NaN when either side is empty."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    # average ranks over ties (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def expected_calibration_error(truth: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Weighted mean |accuracy - confidence| of the top-1 prediction over equal-width confidence bins."""
    truth = np.asarray(truth, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if len(truth) == 0:
        return None
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def compute_metrics(truth: Sequence[int], probs: np.ndarray, classes: Sequence[str],
                    crystal: Sequence[bool], threshold: float = DEFAULT_THRESHOLD) -> dict:
    """All DESIGN metrics for class indices ``truth`` and an (N, C) probability matrix; hits are
    drops whose crystal probability reaches ``threshold``."""
    truth = np.asarray(truth, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n, c = len(truth), len(classes)
    if probs.shape != (n, c):
        raise ValueError(f"expected probabilities of shape ({n}, {c}), got {probs.shape}")
    crystal = np.asarray(crystal, dtype=bool)
    if n == 0:
        return {"n": 0, "classes": list(classes), "accuracy": None, "top3_accuracy": None,
                "missed_crystal_rate_top1": None, "missed_crystal_rate_top3": None, "crystal_images": 0,
                "threshold": float(threshold), "crystal_recall": None, "crystal_precision": None,
                "review_load": None, "top3_crystal_recall": None, "top3_review_load": None,
                "balanced_accuracy": None, "ece": None,
                "per_class": {k: {"precision": None, "recall": None, "support": 0} for k in classes},
                "confusion_matrix": [[0] * c for _ in range(c)]}
    order = np.argsort(-probs, axis=1, kind="stable")
    top1 = order[:, 0]
    top3 = order[:, : min(3, c)]
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (truth, top1), 1)
    is_crystal = crystal[truth]
    n_crystal = int(is_crystal.sum())
    missed1 = ~crystal[top1] & is_crystal
    top3_flag = crystal_in_top3(probs, crystal)  # the app's one top-3 flag
    missed3 = ~top3_flag & is_crystal
    flagged = crystal_probability(probs, crystal) >= threshold
    per_class = {}
    for i, key in enumerate(classes):
        predicted, support = confusion[:, i].sum(), confusion[i, :].sum()
        per_class[key] = {
            "precision": float(confusion[i, i] / predicted) if predicted else None,
            "recall": float(confusion[i, i] / support) if support else None,
            "support": int(support),
        }
    return {
        "n": int(n),
        "classes": list(classes),
        "accuracy": float((top1 == truth).mean()),
        "top3_accuracy": float((top3 == truth[:, None]).any(axis=1).mean()),
        "missed_crystal_rate_top1": float(missed1.sum() / n_crystal) if n_crystal else None,
        "missed_crystal_rate_top3": float(missed3.sum() / n_crystal) if n_crystal else None,
        "crystal_images": n_crystal,
        "threshold": float(threshold),
        "crystal_recall": float(flagged[is_crystal].mean()) if n_crystal else None,
        "crystal_precision": float(is_crystal[flagged].mean()) if flagged.any() else None,
        "review_load": float(flagged.mean()),
        "top3_crystal_recall": float(top3_flag[is_crystal].mean()) if n_crystal else None,
        "top3_review_load": float(top3_flag.mean()),
        "balanced_accuracy": float(np.mean([v["recall"] for v in per_class.values() if v["recall"] is not None])),
        "ece": expected_calibration_error(truth, probs),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def headline(metrics: dict) -> str:
    """One line for logs and tables."""
    def p(key: str) -> str:
        return pct(metrics.get(key), 2)

    line = (f"accuracy {p('accuracy')}, top-3 {p('top3_accuracy')}, missed crystals top-1 "
            f"{p('missed_crystal_rate_top1')} / top-3 {p('missed_crystal_rate_top3')}")
    if metrics.get("crystal_recall") is not None:
        line += (f", crystal recall {p('crystal_recall')} at review load {p('review_load')} "
                 f"(threshold {p('threshold')})")
    return line + f" (n={metrics.get('n')})"


def best_result(results: list[dict]) -> dict | None:
    """The model to activate: highest crystal recall at its operating point, then the lowest review
    load, then the highest balanced accuracy. Results are dicts with a ``metrics`` dict.

    Recall counts up to the target the threshold was chosen for: two models that both reach 99% are
    equal on recall and the one that flags fewer drops wins, so a model that reaches 100% only by
    flagging nearly every drop does not beat one that reaches the target at a third of the load."""
    scored = [r for r in results if r["metrics"].get("accuracy") is not None]
    if not scored:
        return None

    def key(r: dict) -> tuple:
        m = r["metrics"]
        recall = m.get("crystal_recall")
        target = m.get("target_recall")
        if recall is not None and target is not None:
            recall = min(recall, target)
        load = m.get("review_load")
        return (-(recall if recall is not None else -1.0), load if load is not None else 2.0,
                -(m.get("balanced_accuracy") or 0.0), -(m.get("accuracy") or 0.0))

    return min(scored, key=key)


BEST_RULE = ("best = highest crystal recall at the operating point (counted up to the target recall), then lowest "
             "review load, then highest balanced accuracy")
