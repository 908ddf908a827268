"""Augmentations that suit drop images, applied to a whole uint8 batch on the training device.

A drop has no up or down, so flips and 90-degree turns are free; imagers differ in focus,
exposure and colour cast, so small rotations, brightness/contrast, colour, blur and noise teach the
model what does not matter. Doing it per batch in torch keeps it cheap next to the forward pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xtalviewer.core.models import Preprocess


def to_input(batch_u8: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> normalised (B, 3, S, S) float, no augmentation (validation, test)."""
    return preprocess.normalise_batch(batch_u8)


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = _gaussian_kernel(sigma, x.device)
    c = x.shape[1]
    pad = len(k) // 2
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def augment(batch_u8: torch.Tensor, preprocess: Preprocess, generator: torch.Generator | None = None,
            strength: float = 1.0) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> augmented, normalised (B, 3, S, S) float."""
    g = generator
    x = batch_u8.permute(0, 3, 1, 2).float().div_(255.0)
    b, dev = x.shape[0], x.device

    on_cpu = dev.type == "cpu"

    def rand(*shape: int) -> torch.Tensor:  # the seeded generator on the CPU; the device's own RNG elsewhere
        return torch.rand(*shape, generator=g) if on_cpu else torch.rand(*shape, device=dev)

    # flips and quarter turns: exact, no interpolation
    x = torch.where((rand(b) < 0.5).view(b, 1, 1, 1), x.flip(3), x)
    x = torch.where((rand(b) < 0.5).view(b, 1, 1, 1), x.flip(2), x)
    turns = (rand(b) * 4).long().clamp_(max=3)
    for k in (1, 2, 3):
        sel = turns == k
        if sel.any():
            x[sel] = torch.rot90(x[sel], k, dims=(2, 3))

    # small rotation and scale, one affine warp for the batch
    angle = (rand(b) * 2 - 1) * math.radians(15) * strength
    scale = 1 + (rand(b) * 2 - 1) * 0.08 * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    # exposure, contrast and colour cast, as imagers differ
    brightness = 1 + (rand(b, 1, 1, 1) * 2 - 1) * 0.2 * strength
    contrast = 1 + (rand(b, 1, 1, 1) * 2 - 1) * 0.2 * strength
    cast = 1 + (rand(b, 3, 1, 1) * 2 - 1) * 0.06 * strength
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean) * brightness * cast

    # focus: blur a random third of the batch by a random amount
    blurred = rand(b) < 0.33 * strength
    if blurred.any():
        sigma = 0.5 + float(rand(1)) * 1.0 * x.shape[-1] / 128
        x[blurred] = _blur(x[blurred], sigma)

    # sensor noise
    noise = rand(b, 1, 1, 1) * 0.03 * strength
    x = x + (torch.randn(x.shape, generator=g) if on_cpu else torch.randn(x.shape, device=dev)) * noise
    return preprocess.normalise(x.clamp_(0, 1))
