"""Where the model sees a crystal: Grad-CAM of the crystal call, mapped back onto the full image.

Grad-CAM (Selvaraju et al. 2017) weighs the last convolutional feature maps by the gradient of one
output and keeps the positive part, so it shows which parts of the input raised that output. The
output here is the network's crystal log-odds (log of the summed crystal-class probabilities over
the rest), not one class, so the map answers the reviewer's question: what made it call (or not
call) a crystal. It runs on the crop the model sees, at its input size, and is placed back into the
frame's pixels, so the overlay lines up with the image on screen.

The maps come from torchcam (Apache-2.0; hooks on the named layer, works on all four torchvision
architectures, needs nothing beyond torch and matplotlib). Each ``CrystalCam`` keeps its own copy
of the model: the hooks would otherwise capture the forward passes of live scoring.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from xtalviewer.model.architectures import CheckpointMeta, family_of, load_checkpoint
from xtalviewer.model.shape_score import shape_probability, straight_edge_score, straight_segments


@dataclass(frozen=True)
class CrystalMap:
    """A Grad-CAM heat map over a whole image and what it explains."""

    heat: np.ndarray  # (H, W) float32 in [0, 1], the image's own size; 0 outside the crop
    box: tuple[int, int, int, int]  # the crop the model saw, in pixels of the image (x0, y0, x1, y1)
    crystal_prob: float  # the network's calibrated crystal probability of this image (before the shape score)
    caption: str
    segments: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # straight edges counted, in image pixels
    shape_evidence: float | None = None  # what they add to the crystal call (None: the model does not use them)


class _CrystalLogit(nn.Module):
    """The network with one output: crystal log-odds, log(sum p_crystal) - log(sum p_other)."""

    def __init__(self, net: nn.Module, crystal: list[bool]):
        super().__init__()
        self.net = net
        self.register_buffer("mask", torch.tensor(crystal, dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        z = getattr(z, "logits", z)
        return (torch.logsumexp(z[:, self.mask], 1) - torch.logsumexp(z[:, ~self.mask], 1))[:, None]


MIN_MAP_SIDE = 4  # a map coarser than this cannot say where in the drop


def _candidates(arch: str, net: nn.Module) -> list[str]:
    """Layer names (inside the wrapped model), deepest first, whose maps Grad-CAM may use."""
    family = family_of(arch)
    if family == "resnet":
        return ["net.layer4", "net.layer3", "net.layer2"]
    if family == "inception":
        return ["net.Mixed_7c", "net.Mixed_6e", "net.Mixed_5d"]
    features = getattr(net, "features", None)
    if features is None:
        raise ValueError(f"no Grad-CAM layer known for {arch}")
    return [f"net.features.{i}" for i in reversed(range(len(features))) if isinstance(features[i], nn.ReLU)]


def target_layer(arch: str, net: nn.Module, input_size: int) -> str:
    """The deepest convolutional block whose map is at least MIN_MAP_SIDE cells across at ``input_size``
    (layer4 of a ResNet at 128 px is 4 x 4; Inception's last block at small inputs is 1 x 1)."""
    names = _candidates(arch, net)
    modules = dict(nn.ModuleDict({"net": net}).named_modules())
    sides: dict[str, int] = {}
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: sides.__setitem__(n, int(o.shape[-1])))
             for n in names]
    try:
        with torch.inference_mode():
            net.eval()(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()
    return next((n for n in names if sides.get(n, 0) >= MIN_MAP_SIDE), names[-1])


class CrystalCam:
    """Grad-CAM of one checkpoint's crystal call; thread-safe (one map at a time)."""

    def __init__(self, meta: CheckpointMeta, net: nn.Module):
        from torchcam.methods import GradCAM

        self.meta = meta
        self.model = _CrystalLogit(net.float().eval(), meta.crystal)
        for p in self.model.parameters():
            p.requires_grad_(False)  # gradients flow to the feature maps only
        self.layer = target_layer(meta.arch, net, meta.input_size)
        self.extractor = GradCAM(self.model, self.layer,
                                 input_shape=(3, meta.input_size, meta.input_size))
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> CrystalCam:
        meta, net = load_checkpoint(path)
        return cls(meta, net)

    def square_map(self, square: np.ndarray) -> tuple[np.ndarray, float]:
        """(S x S heat map in [0, 1], network crystal probability) of one S x S x 3 uint8 model input."""
        x = self.meta.preprocess.to_tensor(square)[None].requires_grad_(True)
        temperature = float(self.meta.operating_point.temperature or 1.0)
        with self._lock:  # the hooks see every forward pass of this model: one at a time, the plain one too
            with torch.enable_grad():
                self.extractor.enable_hooks()
                try:
                    logit = self.model(x)
                    (cam,) = self.extractor(class_idx=0, scores=logit, normalized=False)
                finally:
                    self.extractor.disable_hooks()
            prob = _calibrated_crystal(self.model, x.detach(), temperature)
        heat = torch.relu(cam[0]).detach().float().numpy()
        peak = float(heat.max())
        heat = heat / peak if peak > 0 else heat
        s = square.shape[0]
        heat = cv2.resize(heat, (s, s), interpolation=cv2.INTER_CUBIC).clip(0, 1).astype(np.float32)
        return heat, prob

    def explain(self, rgb: np.ndarray) -> CrystalMap:
        """The heat map of a whole image (H x W x 3 uint8), as the model crops and sees it."""
        pre = self.meta.preprocess
        region, box = pre.crop_region(rgb)
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = box.pixels(w, h) if box is not None else (0, 0, w, h)
        square = pre.fit_region(region)
        heat_sq, prob = self.square_map(square)
        full = np.zeros((h, w), np.float32)
        full[y0:y1, x0:x1] = cv2.resize(heat_sq, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        where = "whole frame" if box is None or box.found == "frame" else f"{box.found} crop"
        seen = "where it sees a crystal" if heat_sq.max() > 0 else "sees a crystal nowhere"
        caption = f"Grad-CAM of {self.meta.arch} ({where}): {seen}\nnetwork alone: crystal {prob:.1%}"
        # the straight edges the crystal call counts beside the network, in the frame's pixels
        op, evidence, segments = self.meta.operating_point, None, np.zeros((0, 4))
        if op.fuses_shape:  # only a model whose call counts them shows them
            s = square.shape[0]
            segments = straight_segments(square) * np.array([(x1 - x0) / s, (y1 - y0) / s] * 2) + np.array([x0, y0] * 2)
            evidence = float(shape_probability(straight_edge_score(square), op.shape_slope, op.shape_offset))
            caption += f"; green, straight edges: {evidence:.0%}"
        return CrystalMap(full, (x0, y0, x1, y1), prob, caption, segments, evidence)


def _calibrated_crystal(model: _CrystalLogit, x: torch.Tensor, temperature: float) -> float:
    with torch.inference_mode():
        z = model.net(x)
        z = getattr(z, "logits", z)
        p = torch.softmax(z.float() / temperature, 1)[0]
    return float(p[model.mask].sum())


def overlay(rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with the heat map laid over it in a blue-to-red scale (transparent where it is 0)."""
    colour = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    a = (alpha * np.clip(heat, 0, 1) ** 0.7)[..., None]
    base = rgb.astype(np.float32) if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, 2).astype(np.float32)
    return np.clip(base * (1 - a) + colour * a, 0, 255).astype(np.uint8)


def heat_rgba(heat: np.ndarray, alpha: float = 0.6, segments: np.ndarray | None = None) -> np.ndarray:
    """The heat map as an RGBA layer (H, W, 4) uint8 to lay over the image: blue to red, transparent at
    0; ``segments`` (x0, y0, x1, y1 in its pixels) drawn over it in green, as wide as a few screen pixels."""
    colour = cv2.cvtColor(cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET),
                          cv2.COLOR_BGR2RGB)
    a = np.clip(255 * alpha * np.clip(heat, 0, 1) ** 0.7, 0, 255).astype(np.uint8)
    rgba = np.ascontiguousarray(np.dstack([colour, a]))
    width = max(1, round(max(heat.shape) / 400))
    for x0, y0, x1, y1 in (segments if segments is not None else []):
        cv2.line(rgba, (int(x0), int(y0)), (int(x1), int(y1)), (40, 255, 40, 255), width, cv2.LINE_AA)
    return rgba


def legend_scale(width: int = 96, height: int = 12) -> np.ndarray:
    """The legend's colour scale (height, width, 3) uint8: little crystal evidence (left) to most (right)."""
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.float32), (height, 1)).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB))


_cams: dict[str, CrystalCam] = {}
_cams_lock = threading.Lock()


def cam_for(path: str | Path) -> CrystalCam:
    """The CrystalCam of a checkpoint, loaded once (its own copy of the model; a few are kept)."""
    key = str(path)
    with _cams_lock:
        cam = _cams.get(key)
        if cam is None:
            if len(_cams) >= 2:
                _cams.pop(next(iter(_cams)))
            cam = _cams[key] = CrystalCam.from_checkpoint(key)
        return cam
