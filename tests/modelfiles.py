"""Tiny real checkpoints for tests: random weights, small inputs, the real save/load code."""

from __future__ import annotations

from pathlib import Path

import torch

from xtalviewer.labels import LabelScheme
from xtalviewer.model.architectures import CheckpointMeta, Preprocess, build_model, save_checkpoint


def tiny_checkpoint(path: Path, scheme: LabelScheme, arch: str = "resnet18", size: int = 32, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model(arch, len(scheme.keys), size)
    meta = CheckpointMeta(arch=arch, scheme_id=scheme.id, classes=scheme.keys, crystal=scheme.crystal_mask,
                          preprocess=Preprocess(input_size=size), run_id="test-run", metrics={"accuracy": 0.5})
    save_checkpoint(path, model, meta)
    return path
