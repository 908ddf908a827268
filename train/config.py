"""One training run's settings as a plain dataclass: what the CLI parses, the app's Retrain dialog
asks for, the demo and the benchmarks build, and args.json records (so --resume reads it back).

Fields left at None mean "the recipe's default", decided per architecture and initialisation by
``train.recipe`` when the run starts, and recorded in each architecture's metrics.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from xtalviewer.crystal_call import DEFAULT_TARGET_RECALL

CROP_CHOICES = ("none", "well", "drop")


@dataclass
class TrainConfig:
    """Everything a run needs; see ``xtal-train --help`` for each field's meaning."""

    db: str | None = None
    arch: str = "all"
    image_size: int | None = None
    crop: str | None = None
    epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 1e-4
    patience: int = 5
    time_limit: float | None = None  # minutes per architecture
    device: str = "auto"
    init: str = "active"  # active | base | imagenet | scratch | a checkpoint path
    crystal_recall: float = DEFAULT_TARGET_RECALL
    shape: str = "auto"  # straight-edge score beside the network: auto (kept where it does better), on, off
    composite: int = 0  # synthetic crystals composited into the lab's own clear training drops
    crystal_weight: float | None = None  # weight of the crystal-vs-rest loss term
    sources: str = "human,import"
    val: float = 0.15
    test: float = 0.15
    balance: str = "sqrt"
    seed: int = 0
    workers: int = 2
    amp: str = "auto"
    events: str | None = None
    runs_dir: str | None = None
    name: str | None = None
    resume: str | None = None
    activate: str = "auto"  # auto: if none is active; best: always; none: never

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (str(v) if isinstance(v, Path) else v) for k, v in d.items() if k in known})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({k: v for k, v in self.to_dict().items() if k != "resume"}, indent=2))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read args.json back; ValueError naming the first bad field when the file is valid JSON of
        another shape (a list, a field of the wrong type), so --resume says so in one line."""
        try:
            doc = json.loads(path.read_text())
        except RecursionError:
            raise ValueError("it nests more deeply than a run's settings ever do") from None
        return cls.from_dict(checked_fields(doc))

    def arch_names(self) -> list[str]:
        return ["resnet", "inception", "vgg", "alexnet"] if self.arch == "all" else \
            [a.strip() for a in self.arch.split(",") if a.strip()]

    def source_list(self) -> list[str]:
        return [s.strip() for s in self.sources.split(",") if s.strip()]


def _accepts(hint: object, value: object) -> bool:
    """``value`` (decoded from JSON) fits the field type ``hint`` (str, int, float, bool, X | None)."""
    options = typing.get_args(hint) or (hint,)
    if value is None:
        return type(None) in options
    if isinstance(value, bool):
        return bool in options
    if isinstance(value, int) and (int in options or float in options):
        return True
    if isinstance(value, float) and float in options:
        return math.isfinite(value)
    return isinstance(value, str) and str in options


def checked_fields(doc: object) -> dict:
    """A saved run's settings as TrainConfig fields, or ValueError: an object whose known fields have
    their types (unknown keys, from another version, are left out)."""
    if not isinstance(doc, dict):
        raise ValueError(f"it holds a JSON {type(doc).__name__}, not an object of settings")
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        if f.name in doc and not _accepts(hints[f.name], doc[f.name]):
            raise ValueError(f"setting {f.name!r} is {json.dumps(doc[f.name])[:40]}; it must be "
                             f"{_type_name(hints[f.name])}")
    return doc


def _type_name(hint: object) -> str:
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false", type(None): "null"}
    return " or ".join(words.get(t, str(t)) for t in (typing.get_args(hint) or (hint,)))
