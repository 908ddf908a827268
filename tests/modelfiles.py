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


def nan_output_checkpoint(path: Path, scheme: LabelScheme, size: int = 32) -> Path:
    """A checkpoint with finite weights whose forward pass computes NaN: weights so large that the
    activations overflow to infinity, and infinity minus infinity is NaN."""
    tiny_checkpoint(path, scheme, size=size)
    from xtalviewer.model.architectures import load_checkpoint

    meta, model = load_checkpoint(path, scheme)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("conv1.weight") or name == "fc.weight":
                p.mul_(1e30)
    save_checkpoint(path, model, meta)
    return path


def nan_weight_checkpoint(path: Path, scheme: LabelScheme) -> Path:
    """A tiny checkpoint with one weight that is NaN (a model trained into NaN has them all)."""
    tiny_checkpoint(path, scheme)
    from xtalviewer.model.architectures import load_checkpoint

    meta, model = load_checkpoint(path, scheme)
    with torch.no_grad():
        model.layer1[0].conv1.weight[0, 0, 0, 0] = float("nan")
    save_checkpoint(path, model, meta)
    return path


def corrupt_tensor_data(source: Path, target: Path, size: int = 4096) -> Path:
    """A copy of a checkpoint with ``size`` bytes in the middle of its largest tensor XORed with 0xFF,
    as a bad disk sector or a broken download would leave it: the zip container stays readable."""
    import shutil
    import struct
    import zipfile

    shutil.copyfile(source, target)
    with zipfile.ZipFile(target) as archive:
        largest = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(target, "r+b") as fh:
        fh.seek(largest.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
        start = largest.header_offset + 30 + name_len + extra_len + (largest.file_size - size) // 2
        fh.seek(start)
        data = fh.read(size)
        fh.seek(start)
        fh.write(bytes(b ^ 0xFF for b in data))
    return target
