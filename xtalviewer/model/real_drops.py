"""Real labelled drops: a CSV of images judged by eye, scored the app's way and summarised per source.

The CSV has ``file`` (relative to the CSV), ``crystal`` (1/0) and ``source``; the images stay where
they are. ``bench/real.py`` reports these figures with a contact sheet; the demo prints them for its
models when the reference drops are on the machine (``XTALVIEWER_REFERENCE_DROPS`` or
``../shared/reference-drops`` beside the source tree).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from xtalviewer.crystal_call import crystal_in_top3, crystal_probability, pct
from xtalviewer.imaging.decode import ImageLoadError, load_rgb
from xtalviewer.model.inference import Scorer
from xtalviewer.model.metrics import roc_auc

REFERENCE_ENV = "XTALVIEWER_REFERENCE_DROPS"


def default_labels() -> Path:
    """The labels CSV of the reference drops: $XTALVIEWER_REFERENCE_DROPS, else beside the source tree."""
    folder = os.environ.get(REFERENCE_ENV) or Path(__file__).resolve().parents[3] / "shared" / "reference-drops"
    return Path(folder) / "labels.csv"


def read_labels(path: Path) -> list[dict]:
    """Rows of the labels CSV with an absolute ``path``, ``crystal`` as bool and a short ``source``."""
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            source = (row.get("source") or "unknown").split(" ")[0]
            rows.append({"file": row["file"], "path": path.parent / row["file"], "crystal": row["crystal"].strip() == "1",
                         "source": source.split("/")[-1] or source})
    return rows


def summarise(rows: list[dict], threshold: float) -> dict:
    """AUC, recall and non-crystal share flagged at the threshold, and by the top-3 strategy."""
    y = np.array([r["crystal"] for r in rows], bool)
    p = np.array([r["crystal_prob"] for r in rows])
    top3 = np.array([r["crystal_top3"] for r in rows], bool)
    hit = p >= threshold
    out = {"images": len(rows), "crystals": int(y.sum()),
           "auc": None if y.all() or not y.any() else round(roc_auc(p, y), 4),
           "recall": round(float(hit[y].mean()), 4) if y.any() else None,
           "non_crystal_flagged": round(float(hit[~y].mean()), 4) if (~y).any() else None,
           "top3_recall": round(float(top3[y].mean()), 4) if y.any() else None,
           "top3_non_crystal_flagged": round(float(top3[~y].mean()), 4) if (~y).any() else None}
    return out


def score(rows: list[dict], scorer: Scorer, batch_size: int = 16) -> list[np.ndarray]:
    """Fills crystal_prob / hit / top-3 per row; returns the model input squares (None if unreadable)."""
    meta = scorer.meta
    squares: list[np.ndarray | None] = []
    for r in rows:
        try:
            squares.append(meta.preprocess.fit_square(load_rgb(r["path"], min_side=meta.preprocess.decode_min_side())))
        except ImageLoadError as exc:
            r["error"] = str(exc)
            squares.append(None)
    ok = [i for i, s in enumerate(squares) if s is not None]
    for start in range(0, len(ok), batch_size):
        part = ok[start : start + batch_size]
        probs = scorer.forward_uint8(torch.from_numpy(np.stack([squares[i] for i in part])))
        for i, p in zip(part, probs):
            rows[i]["crystal_prob"] = float(crystal_probability(p, meta.crystal))
            rows[i]["crystal_top3"] = bool(crystal_in_top3(p, meta.crystal))
            order = np.argsort(-p)[:3]
            rows[i]["top3"] = [(meta.classes[k], round(float(p[k]), 3)) for k in order]
    return squares


def describe_on_real_drops(checkpoint: str | Path, labels: Path | None = None) -> str | None:
    """One line: a model's AUC, crystal recall and share of non-crystal drops flagged at its operating
    point on the labelled real drops; None when they are not on this machine."""
    from xtalviewer.model.architectures import load_checkpoint

    labels = labels or default_labels()
    if not labels.is_file():
        return None
    meta, net = load_checkpoint(checkpoint)
    rows = read_labels(labels)
    score(rows, Scorer(net, meta, torch.device("cpu")))
    s = summarise([r for r in rows if "crystal_prob" in r], meta.operating_point.threshold)
    auc = "–" if s["auc"] is None else f"{s['auc']:.2f}"
    return (f"AUC {auc}, crystal recall {pct(s['recall'], 0)} with {pct(s['non_crystal_flagged'], 0)} of the "
            f"non-crystal drops flagged ({s['images']} real drops, {s['crystals']} with crystals, {labels.parent.name})")
