"""Agreement between reviewers, and between the model and each reviewer: Cohen's kappa and the
confusion matrix of every pair, on the drops both labelled.

Crystallographers disagree often (Formulatrix found seven unanimous on about half of 1,200
images), so a label is one reviewer's judgement; kappa says how much two agree beyond chance.
Each reviewer's latest label of a drop counts (from the append-only history). Against the model,
labels accepted from a prediction are left out: they agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from xtalviewer.report.plots import JUDGED_SOURCES  # labels that are a reviewer's own judgement
from xtalviewer.store.store import Store

MODEL = "model"  # the model's column in the kappa matrix


def confusion(a: Sequence[str], b: Sequence[str], keys: Sequence[str]) -> np.ndarray:
    """Counts of (a's label, b's label): rows = a, columns = b, in ``keys`` order (others ignored)."""
    index = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), len(keys)), dtype=np.int64)
    for x, y in zip(a, b):
        if x in index and y in index:
            out[index[x], index[y]] += 1
    return out


def kappa_of(matrix: np.ndarray) -> float | None:
    """Cohen's kappa of a confusion matrix: (observed - chance agreement) / (1 - chance). None when
    it is undefined (no drops, or both gave one and the same class to every drop)."""
    m = np.asarray(matrix, dtype=np.float64)
    n = m.sum()
    if n == 0:
        return None
    observed = np.trace(m) / n
    chance = float((m.sum(axis=1) / n) @ (m.sum(axis=0) / n))
    if chance >= 1.0:
        return None
    return float((observed - chance) / (1.0 - chance))


def cohens_kappa(a: Sequence[str], b: Sequence[str], keys: Sequence[str] | None = None) -> float | None:
    """Kappa of two raters' labels of the same items (pairs in order)."""
    keys = list(keys) if keys is not None else sorted(set(a) | set(b))
    return kappa_of(confusion(a, b, keys))


def reviewer_agreement(rows: Sequence[tuple], keys: Sequence[str]) -> dict:
    """From ``Store.reviewer_labels`` rows (image id, annotator, label, source, model top 1):

    raters (reviewers by name, then ``MODEL``), kappa (matrix, None where undefined; 1 on the
    diagonal), n (drops each pair both labelled; a rater's own labelled drops on the diagonal),
    agree (share of those drops with the same label), pairs ({(rater, rater): confusion matrix,
    rows = first rater}) and keys (class order of the matrices).
    """
    labels: dict[str, dict[int, str]] = {}
    model: dict[str, dict[int, str]] = {}  # per reviewer: the model's top 1 on their judged drops
    for image_id, annotator, label, source, top1 in rows:
        labels.setdefault(annotator, {})[image_id] = label
        if top1 is not None and source in JUDGED_SOURCES:
            model.setdefault(annotator, {})[image_id] = top1
    reviewers = sorted(labels)
    raters = [*reviewers, MODEL]
    size = len(raters)
    kappa = np.full((size, size), np.nan)
    n = np.zeros((size, size), dtype=np.int64)
    agree = np.full((size, size), np.nan)
    pairs: dict[tuple[str, str], np.ndarray] = {}

    def record(i: int, j: int, matrix: np.ndarray) -> None:
        total = int(matrix.sum())
        value = kappa_of(matrix)
        kappa[i, j] = kappa[j, i] = np.nan if value is None else value
        n[i, j] = n[j, i] = total
        agree[i, j] = agree[j, i] = np.trace(matrix) / total if total else np.nan
        pairs[(raters[i], raters[j])] = matrix
        pairs[(raters[j], raters[i])] = matrix.T

    for i, j in combinations(range(len(reviewers)), 2):
        a, b = labels[reviewers[i]], labels[reviewers[j]]
        common = sorted(a.keys() & b.keys())
        record(i, j, confusion([a[k] for k in common], [b[k] for k in common], keys))
    for i, name in enumerate(reviewers):
        mine = model.get(name, {})
        common = sorted(mine)
        record(i, size - 1, confusion([labels[name][k] for k in common], [mine[k] for k in common], keys))
        n[i, i] = len(labels[name])
        kappa[i, i] = agree[i, i] = 1.0
    n[size - 1, size - 1] = len({k for m in model.values() for k in m})
    kappa[size - 1, size - 1] = agree[size - 1, size - 1] = 1.0
    return {"raters": raters, "kappa": kappa, "n": n, "agree": agree, "pairs": pairs, "keys": list(keys)}


def store_agreement(store: Store, model_id: int | None) -> dict:
    """``reviewer_agreement`` of this store's labels, the model's top 1 from ``model_id``."""
    return reviewer_agreement(store.reviewer_labels(model_id), store.scheme.keys)
