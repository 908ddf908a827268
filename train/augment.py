"""Augmentations that suit drop images, applied to a whole uint8 batch on the training device.

A drop has no up or down, so flips and 90-degree turns are free; imagers differ in focus,
exposure and colour cast, so small rotations, brightness/contrast, colour, blur and noise teach the
model what does not matter. Colour above all: one imager lights its plates grey, another through
polarisers in lilac or green with rainbow needles, so a model that learns "coloured streaks are
phase separation" from one lab's plates misses the next lab's crystals. Hue turns, saturation
changes and whole grey images make shape, not colour, carry the class. Doing it per batch in
torch keeps it cheap next to the forward pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xtalviewer.model.architectures import Preprocess


def to_input(batch_u8: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> normalised (B, 3, S, S) float, no augmentation (validation, test)."""
    return preprocess.normalise_batch(batch_u8)


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = _gaussian_kernel(sigma, x.device)
    c = x.shape[1]
    pad = len(k) // 2
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


# luma/chroma (YIQ): a turn of the chroma plane is a hue change that keeps brightness
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
HUE_TURN_SHARE = 0.5  # images whose hue is turned by a random angle
GREY_SHARE = 0.3  # images made grey, as brightfield imagers without colour give them (and so shape must carry the class)
SATURATION_RANGE = (0.4, 1.6)


def colour_matrices(angle: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """(B,) hue angles and saturation factors -> (B, 3, 3) RGB->RGB matrices (luma kept)."""
    b = angle.shape[0]
    cos, sin = torch.cos(angle) * saturation, torch.sin(angle) * saturation
    turn = torch.zeros(b, 3, 3, dtype=torch.float32, device=angle.device)
    turn[:, 0, 0] = 1
    turn[:, 1, 1], turn[:, 1, 2], turn[:, 2, 1], turn[:, 2, 2] = cos, -sin, sin, cos
    to_yiq, to_rgb = _RGB_TO_YIQ.to(angle.device), _YIQ_TO_RGB.to(angle.device)
    return to_rgb @ turn @ to_yiq


def recolour(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Apply one 3x3 colour matrix per image of a (B, 3, H, W) batch."""
    return torch.einsum("bij,bjhw->bihw", matrices, x)


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

    # hue turns, saturation and grey images: colour must not carry the class
    share = min(1.0, strength)
    turned = (rand(b) < HUE_TURN_SHARE * share).float()
    angle = (rand(b) * 2 - 1) * math.pi * turned
    lo, hi = SATURATION_RANGE
    saturation = 1 + (lo - 1 + rand(b) * (hi - lo)) * share
    saturation = torch.where(rand(b) < GREY_SHARE * share, torch.zeros_like(saturation), saturation)
    x = recolour(x, colour_matrices(angle, saturation))

    # focus: blur a random third of the batch by a random amount
    blurred = rand(b) < 0.33 * strength
    if blurred.any():
        sigma = 0.5 + float(rand(1)) * 1.5 * x.shape[-1] / 128
        x[blurred] = _blur(x[blurred], sigma)

    # sensor noise
    noise = rand(b, 1, 1, 1) * 0.05 * strength
    x = x + (torch.randn(x.shape, generator=g) if on_cpu else torch.randn(x.shape, device=dev)) * noise
    return preprocess.normalise(x.clamp_(0, 1))
