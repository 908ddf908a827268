"""The project's fixed metric definitions, computed from true labels and probability vectors.

- accuracy: top-1 correct / all;
- top-3 accuracy: true class among the 3 highest probabilities;
- missed-crystal rate (top-1): among images whose true class is a crystal class, the share whose
  top-1 prediction is not a crystal class;
- missed-crystal rate (top-3): among those images, the share with no crystal class in the top 3;
- per-class precision/recall and the confusion matrix (rows = truth, columns = prediction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def compute_metrics(truth: Sequence[int], probs: np.ndarray, classes: Sequence[str],
                    crystal: Sequence[bool]) -> dict:
    """All DESIGN metrics for class indices ``truth`` and an (N, C) probability matrix."""
    truth = np.asarray(truth, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n, c = len(truth), len(classes)
    if probs.shape != (n, c):
        raise ValueError(f"expected probabilities of shape ({n}, {c}), got {probs.shape}")
    crystal = np.asarray(crystal, dtype=bool)
    if n == 0:
        return {"n": 0, "classes": list(classes), "accuracy": None, "top3_accuracy": None,
                "missed_crystal_rate_top1": None, "missed_crystal_rate_top3": None, "crystal_images": 0,
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
    missed3 = ~crystal[top3].any(axis=1) & is_crystal
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
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def headline(metrics: dict) -> str:
    """One line for logs and tables."""
    def pct(key: str) -> str:
        v = metrics.get(key)
        return "-" if v is None else f"{100 * v:.2f}%"

    return (f"accuracy {pct('accuracy')}, top-3 {pct('top3_accuracy')}, missed crystals top-1 "
            f"{pct('missed_crystal_rate_top1')} / top-3 {pct('missed_crystal_rate_top3')} (n={metrics.get('n')})")
