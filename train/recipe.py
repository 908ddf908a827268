"""The default recipe per architecture: input size, crop, schedule, learning rate, crystal weighting.

Measured on the seeded 12-plate synthetic set (bench/quality.py; the table is in docs/training.md). A
run fills every setting the user left open from here; continuing from a trained model (fine-tuning)
runs a shorter schedule at a lower learning rate and keeps that model's preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from train.config import TrainConfig
from train.warm_start import InitPlan
from xtalviewer.model.architectures import ARCHITECTURES, Preprocess, family_of, resolve_arch


@dataclass(frozen=True)
class Recipe:
    image_size: int
    crop: str
    epochs: int
    lr: float
    crystal_weight: float


# inputs on a CPU are smaller than each architecture's usual size, so a run takes minutes, not hours
CPU_SIZE = {"resnet": 128, "inception": 128, "vgg": 96, "alexnet": 128}
# AdamW learning rates that train each family from scratch without diverging
SCRATCH_LR = {"resnet": 1e-3, "inception": 1e-3, "vgg": 5e-4, "alexnet": 1e-4}
SCRATCH_EPOCHS = 20
FINE_TUNE_EPOCHS = 8
FINE_TUNE_LR_FACTOR = 0.1  # 0.3 unlearned the base model on the quality set (bench/quality.py, docs/training.md)
CROP = "drop"
CRYSTAL_WEIGHT = 0.5


def recipe_for(arch: str, device: torch.device, continues: bool) -> Recipe:
    arch = resolve_arch(arch)
    family = family_of(arch)
    size = CPU_SIZE.get(family, 128) if device.type == "cpu" else ARCHITECTURES[arch][2]
    lr = SCRATCH_LR.get(family, 5e-4) * (FINE_TUNE_LR_FACTOR if continues else 1.0)
    return Recipe(image_size=size, crop=CROP, epochs=FINE_TUNE_EPOCHS if continues else SCRATCH_EPOCHS, lr=lr,
                  crystal_weight=CRYSTAL_WEIGHT)


@dataclass(frozen=True)
class Settings:
    """One architecture's resolved settings, as the run records them."""

    preprocess: Preprocess
    epochs: int
    lr: float
    crystal_weight: float

    def describe(self) -> dict:
        return {"image_size": self.preprocess.input_size, "crop": self.preprocess.crop, "epochs": self.epochs,
                "lr": self.lr, "crystal_weight": self.crystal_weight}


def resolve_settings(config: TrainConfig, arch: str, plan: InitPlan, device: torch.device) -> Settings:
    """The user's choices where given; else the continued model's preprocessing; else the recipe."""
    recipe = recipe_for(arch, device, plan.continues)
    inherited = plan.meta.preprocess if plan.continues and plan.meta is not None else None
    size = config.image_size or (inherited.input_size if inherited else recipe.image_size)
    crop = config.crop or (inherited.crop if inherited else recipe.crop)
    if inherited is not None and size == inherited.input_size and crop == inherited.crop:
        preprocess = inherited
    else:
        preprocess = Preprocess(input_size=size, crop=crop)
    epochs = recipe.epochs if config.epochs is None else config.epochs  # 0: calibrate and test only
    return Settings(preprocess=preprocess, epochs=epochs, lr=config.lr or recipe.lr,
                    crystal_weight=recipe.crystal_weight if config.crystal_weight is None else config.crystal_weight)
