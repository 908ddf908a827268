"""The crystal call: one definition of crystal probability, the hit, and the top-3 flag.

A drop is a *hit* when its crystal probability (the sum of the calibrated probabilities of the
scheme's crystal classes) reaches the model's operating-point threshold. The threshold is chosen on
the validation split to reach a target crystal recall (default 99%), after temperature scaling has
made the probabilities honest. A few dozen validation crystals cannot place a 99% threshold on
their own (the lowest of 39 easy crystals may sit at 0.9), so with fewer than 1/(1 - target) of
them the threshold is also set where the calibrated crystal probability of *all* validation drops
says 99% of the expected crystals lie above it, and the lower of the two is used. The top-3 flag
(a crystal class among the three most likely) is a second, named strategy. Models trained before
operating points existed keep the old rule, 50%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.5
MIN_THRESHOLD_CRYSTALS = 20  # fewer labelled crystals than this cannot place a threshold
PRIOR_THRESHOLD = 0.05  # the stated prior when they cannot and no earlier model's threshold is known
DEFAULT_TARGET_RECALL = 0.99
HIT_STRATEGY = "operating point"
TOP3_STRATEGY = "crystal in top 3"


@dataclass(frozen=True)
class OperatingPoint:
    """How a model's outputs become a crystal call: logit temperature and the hit threshold.

    ``target_recall`` is None for a model that was never calibrated (the 50% rule applies).
    """

    threshold: float = DEFAULT_THRESHOLD
    temperature: float = 1.0
    target_recall: float | None = None
    val_recall: float | None = None
    val_review_load: float | None = None
    val_crystals: int | None = None
    labelled_threshold: float | None = None  # reaches the target over the labelled crystal drops
    mass_threshold: float | None = None  # keeps the target share of the expected crystals (probability mass)
    shape_slope: float | None = None  # straight-edge logistic (model/shape_score.py); None: network alone
    shape_offset: float | None = None
    fallback: str | None = None  # why the threshold is not the fitted one (too few validation crystals)
    fitted_on: str | None = None  # what the temperature and threshold were fitted on, in words
    shape_note: str | None = None  # why straight edges were kept or left out (SHAPE_CHOICES "auto")

    @property
    def fuses_shape(self) -> bool:
        """Whether the crystal probability joins the straight-edge score (noisy-OR) to the network's."""
        return self.shape_slope is not None and self.shape_offset is not None

    @property
    def calibrated(self) -> bool:
        return self.target_recall is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> OperatingPoint:
        if not d:
            return cls()
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def describe(self) -> str:
        """One line for tooltips, tables and logs."""
        if not self.calibrated:
            return f"hit at crystal probability >= {pct(self.threshold)} (not calibrated: the old 50% rule)"
        text = f"hit at crystal probability >= {pct(self.threshold)}, chosen for {pct(self.target_recall, 0)} crystal recall"
        if self.val_recall is not None:
            text += f" (validation: recall {pct(self.val_recall)}, review load {pct(self.val_review_load)}"
            text += f", {self.val_crystals} crystal drops)" if self.val_crystals is not None else ")"
        if self.lowered:
            text += (f"; lowered from {pct(self.labelled_threshold)} (the labelled crystals alone) to keep "
                     f"{pct(self.target_recall, 0)} of the crystals the calibrated probabilities expect")
        if self.fallback:
            text += f"; {self.fallback}"
        if self.fuses_shape:
            text += "; straight edges in the drop count as crystal evidence beside the network"
        if self.shape_note:
            text += f" ({self.shape_note})" if self.fuses_shape else f"; {self.shape_note}"
        if self.fitted_on:
            text += f"; fitted on {self.fitted_on}"
        return text

    @property
    def lowered(self) -> bool:
        """Whether the probability mass of all validation drops set the threshold below the labelled rule."""
        return (self.labelled_threshold is not None and self.mass_threshold is not None
                and self.threshold < self.labelled_threshold)


def pct(value: float | None, digits: int = 1) -> str:
    """0.1234 -> '12.3%'; None or NaN -> '–'; a small non-zero share reads '<0.1%', not a misleading
    '0.0%'. The one percentage format of the app (the CLI, the GUI, the report, training logs)."""
    if value is None or value != value:
        return "–"
    floor = 0.5 * 10 ** -digits / 100
    if 0 < value < floor:
        return f"<{10 ** -digits:g}%"
    return f"{100 * value:.{digits}f}%"


def crystal_probability(probs: np.ndarray, crystal_mask: Sequence[bool]) -> np.ndarray:
    """Sum of the crystal classes' probabilities, over the last axis."""
    return np.asarray(probs, dtype=np.float64)[..., np.asarray(crystal_mask, dtype=bool)].sum(axis=-1)


def crystal_in_top3(probs: np.ndarray, crystal_mask: Sequence[bool]) -> np.ndarray:
    """Whether a crystal class is among the three most probable classes (stable order on ties)."""
    p = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-p, axis=-1, kind="stable")[..., :3]
    return np.asarray(crystal_mask, dtype=bool)[order].any(axis=-1)


def is_hit(crystal_prob: float | np.ndarray | None, threshold: float) -> bool | np.ndarray:
    """The hit rule: crystal probability reaches the threshold (None, unscored, is never a hit)."""
    if crystal_prob is None:
        return False
    return np.asarray(crystal_prob) >= threshold if isinstance(crystal_prob, np.ndarray) else crystal_prob >= threshold


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / max(temperature, 1e-6)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
