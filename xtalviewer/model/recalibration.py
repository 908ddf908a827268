"""Recalibration on a lab's own labels: the operating point refitted to its imager, without retraining.

A threshold chosen on synthetic validation drops does not carry over to a lab's images: its
crystals may score lower, its clear drops higher. With the lab's labelled drops (human and imported
labels), this refits the temperature, the straight-edge logistic and the hit threshold for the
target recall, in seconds (one forward pass per labelled drop), and writes the same weights with the
new operating point as a new registered model, so the old one stays for comparison and rollback.
Fewer than 20 labelled crystals cannot place a threshold: the model's current threshold stays, and
the result says so (``model.calibration.fit_operating_point``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from xtalviewer.crystal_call import DEFAULT_TARGET_RECALL, MIN_THRESHOLD_CRYSTALS, OperatingPoint, crystal_probability, pct, softmax
from xtalviewer.model.calibration import fit_crystal_call
from xtalviewer.imaging.decode import ImageLoadError, load_rgb
from xtalviewer.model.architectures import CheckpointMeta, load_checkpoint, save_checkpoint
from xtalviewer.paths import data_dir
from xtalviewer.model.registry import register_checkpoint, resolve_model
from xtalviewer.model.shape_score import fuse, shape_probability, straight_edge_scores
from xtalviewer.store.store import Store

LABEL_SOURCES = ("human", "import")
SUGGEST_AT = MIN_THRESHOLD_CRYSTALS  # labelled crystal drops after which the app suggests recalibrating


class RecalibrationError(Exception):
    """Nothing to recalibrate on, or no model to recalibrate; the message says which."""


@dataclass(frozen=True)
class Recalibration:
    """What a recalibration did: the operating point before and after, measured on the same labels."""

    model_id: int | None  # the new registered model (None when nothing was written)
    path: Path | None
    before: OperatingPoint
    after: OperatingPoint
    drops: int
    crystals: int
    recall_before: float
    load_before: float
    recall_after: float
    load_after: float
    unreadable: int

    def summary(self) -> str:
        text = (f"on {self.drops} labelled drops ({self.crystals} with crystals): crystal recall {pct(self.recall_before)} "
                f"-> {pct(self.recall_after)}, review load {pct(self.load_before)} -> {pct(self.load_after)}; "
                f"threshold {self.before.threshold:.4f} -> {self.after.threshold:.4f}, "
                f"temperature {self.before.temperature:.2f} -> {self.after.temperature:.2f}")
        if self.after.fallback:
            text += f" ({self.after.fallback})"
        return text


@dataclass(frozen=True)
class LabelledInputs:
    """The model's raw view of labelled drops: logits, straight-edge scores and true classes."""

    logits: np.ndarray
    shape_scores: np.ndarray
    truth: np.ndarray
    unreadable: int


def labelled_crystal_count(store: Store, sources: Sequence[str] = LABEL_SOURCES) -> tuple[int, int]:
    """(labelled drops, of which crystals) from ``sources``: what a recalibration would fit on."""
    rows = store.labelled_images(sources)
    crystal = {c.key for c in store.scheme.classes if c.crystal}
    return len(rows), sum(1 for r in rows if r.label in crystal)


@torch.inference_mode()
def model_inputs(meta: CheckpointMeta, net: torch.nn.Module, paths: Sequence[str], labels: Sequence[int],
                 batch_size: int = 32) -> LabelledInputs:
    """Raw logits and straight-edge scores of labelled images, through the app's preprocessing."""
    net = net.eval()
    logits, scores, truth, unreadable = [], [], [], 0
    for start in range(0, len(paths), batch_size):
        squares, ys = [], []
        for path, y in zip(paths[start : start + batch_size], labels[start : start + batch_size]):
            try:
                squares.append(meta.preprocess.fit_square(load_rgb(path, min_side=meta.preprocess.decode_min_side())))
                ys.append(y)
            except ImageLoadError:
                unreadable += 1
        if not squares:
            continue
        batch = np.stack(squares)
        z = net(meta.preprocess.normalise_batch(torch.from_numpy(batch)))
        logits.append(getattr(z, "logits", z).float().numpy())
        scores.append(straight_edge_scores(batch))
        truth.extend(ys)
    n = len(meta.classes)
    return LabelledInputs(np.concatenate(logits) if logits else np.zeros((0, n)),
                          np.concatenate(scores) if scores else np.zeros(0), np.asarray(truth, np.int64), unreadable)


def crystal_scores(inputs: LabelledInputs, op: OperatingPoint, crystal_mask: Sequence[bool]) -> np.ndarray:
    """The crystal probability each labelled drop gets under operating point ``op``."""
    probs = softmax(inputs.logits, op.temperature)
    if op.fuses_shape:
        probs = fuse(probs, shape_probability(inputs.shape_scores, op.shape_slope, op.shape_offset), crystal_mask)
    return crystal_probability(probs, crystal_mask)


def measured(inputs: LabelledInputs, op: OperatingPoint, crystal_mask: np.ndarray,
             is_crystal: np.ndarray) -> tuple[float, float]:
    """(crystal recall, review load) of ``op`` on the labelled drops; recall NaN without crystals."""
    flagged = crystal_scores(inputs, op, crystal_mask) >= op.threshold
    return (float(flagged[is_crystal].mean()) if is_crystal.any() else float("nan")), float(flagged.mean())


def refit(inputs: LabelledInputs, before: OperatingPoint, crystal_mask: Sequence[bool], target_recall: float,
          fitted_on: str, shape: str = "auto") -> OperatingPoint:
    """The operating point refitted on ``inputs``; the current one is the prior and the fallback.
    ``shape``: keep the straight-edge score where it does better on these labels (auto), or on / off."""
    prior = (before.shape_slope, before.shape_offset) if before.fuses_shape else None
    return fit_crystal_call(inputs.logits, inputs.truth, crystal_mask, target_recall,
                               shape_scores=inputs.shape_scores, shape=shape,
                               shape_default=before.fuses_shape or not before.calibrated, shape_prior=prior,
                               fallback_threshold=before.threshold if before.calibrated else None,
                               fallback_temperature=before.temperature if before.calibrated else None,
                               fallback_source="the model's current", fitted_on=fitted_on)


def recalibrate(store: Store, model_ref: str | None = None, *, target_recall: float | None = None,
                out: Path | None = None, activate: bool = True, sources: Sequence[str] = LABEL_SOURCES,
                shape: str = "auto", log: Callable[[str], None] = print) -> Recalibration:
    """Refit the operating point of a model (default: the current one) on the store's labelled drops
    and register the result as a new model (activated unless ``activate`` is False)."""
    try:
        model = resolve_model(store, model_ref)
    except Exception as exc:
        raise RecalibrationError(str(exc)) from None
    meta, net = load_checkpoint(model.path, store.scheme)
    rows = store.labelled_images(sources)
    if not rows:
        raise RecalibrationError("no labelled drops to recalibrate on: label some drops first")
    index = {k: n for n, k in enumerate(store.scheme.keys)}
    log(f"Scoring {len(rows)} labelled drops with {model.name} ...")
    inputs = model_inputs(meta, net, [r.path for r in rows], [index[r.label] for r in rows])
    if not len(inputs.truth):
        raise RecalibrationError("none of the labelled drops could be read")
    before = meta.operating_point
    mask = np.asarray(meta.crystal, bool)
    is_crystal = mask[inputs.truth]
    target = target_recall or before.target_recall or DEFAULT_TARGET_RECALL
    where = f"{len(inputs.truth)} labelled drops of {store.location.name} ({int(is_crystal.sum())} with crystals)"
    after = refit(inputs, before, mask, target, where, shape)
    rb, lb = measured(inputs, before, mask, is_crystal)
    ra, la = measured(inputs, after, mask, is_crystal)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    new_meta = replace(meta, operating_point=after, run_id=f"{meta.run_id or model.name}-recal-{stamp}",
                       created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    path = out or data_dir() / "recalibrated" / f"{meta.arch}-recal-{stamp}.pt"
    save_checkpoint(path, net, new_meta, half=True)
    name = f"{model.name} recalibrated {stamp}"
    model_id = register_checkpoint(store, path, new_meta, name=name, metrics=model.metrics, activate=activate)
    result = Recalibration(model_id, Path(path), before, after, len(inputs.truth), int(is_crystal.sum()),
                           rb, lb, ra, la, inputs.unreadable)
    log(f"Recalibrated {model.name} -> model {model_id} ({name}): {result.summary()}")
    return result
