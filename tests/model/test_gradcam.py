"""Grad-CAM of the crystal call: on each architecture the map has the image's shape and its peak lies
on a crystal drawn at a known place (the model is first taught, briefly, that the drawn body is what
makes a crystal)."""

import numpy as np
import pytest
import torch

from xtalviewer.model.gradcam import CrystalCam, heat_rgba, overlay
from xtalviewer.labels import load_scheme
from xtalviewer.model.architectures import CheckpointMeta, Preprocess, build_model

SIZE = 80  # inception_v3 needs 75 px at least


def scene(rng: np.random.Generator, body_at: tuple[int, int] | None, shape=(SIZE, SIZE)) -> np.ndarray:
    """A noisy grey frame, with a dark faceted body (a filled diamond with a bright core) at ``body_at``."""
    img = np.clip(rng.normal(170, 8, (*shape, 3)), 0, 255).astype(np.uint8)
    if body_at is not None:
        import cv2

        x, y = body_at
        r = max(6, shape[0] // 9)
        diamond = np.array([[x, y - r], [x + r, y], [x, y + r], [x - r, y]], np.int32)
        cv2.fillPoly(img, [diamond], (40, 40, 40))
        cv2.circle(img, (x, y), r // 3, (230, 230, 230), -1)
    return img


def taught(arch: str, steps: int = 40) -> tuple[CheckpointMeta, torch.nn.Module]:
    """``arch`` trained a few dozen steps to call scenes with a body crystals_3d and empty ones clear."""
    scheme = load_scheme("xtal10")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    pre = Preprocess(input_size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    net = build_model(arch, len(scheme.keys), SIZE)
    # the huge fully connected layers of VGG and AlexNet stay as initialised: updating 100 M weights per
    # step would cost most of the test's time and they are not what localises the crystal
    opt = torch.optim.Adam([p for p in net.parameters() if p.numel() < 5_000_000], lr=1e-3)
    crystal, clear = scheme.keys.index("crystals_3d"), scheme.keys.index("clear")
    net.train()
    for _ in range(steps):
        has = rng.random(12) < 0.5
        imgs = [scene(rng, tuple(rng.integers(14, SIZE - 14, 2)) if h else None) for h in has]
        x = pre.normalise_batch(torch.from_numpy(np.stack(imgs)))
        y = torch.tensor([crystal if h else clear for h in has])
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    meta = CheckpointMeta(arch=arch, scheme_id=scheme.id, classes=scheme.keys, crystal=scheme.crystal_mask,
                          preprocess=pre)
    return meta, net.eval()


@pytest.mark.parametrize("arch", ["resnet18", "inception_v3", "vgg11_bn", "alexnet"])
def test_grad_cam_has_the_image_shape_and_peaks_on_the_crystal(arch):
    meta, net = taught(arch)
    cam = CrystalCam(meta, net)
    rng = np.random.default_rng(7)
    frame = scene(rng, (60, 56), shape=(120, 150))  # a frame of another size: the map comes back onto it
    crystal_map = cam.explain(frame)
    assert crystal_map.heat.shape == frame.shape[:2] and crystal_map.heat.dtype == np.float32
    assert 0.0 <= crystal_map.heat.min() and crystal_map.heat.max() == pytest.approx(1.0, abs=0.01)
    y, x = np.unravel_index(np.argmax(crystal_map.heat), crystal_map.heat.shape)
    assert abs(x - 60) <= 24 and abs(y - 56) <= 24, (arch, x, y)  # on the body, not the empty frame
    assert crystal_map.crystal_prob > 0.5 and arch in crystal_map.caption
    assert overlay(frame, crystal_map.heat).shape == frame.shape
    assert heat_rgba(crystal_map.heat).shape == (*frame.shape[:2], 4)


def test_the_straight_edges_are_shown_only_for_a_model_that_counts_them():
    from dataclasses import replace

    from xtalviewer.crystal_call import OperatingPoint

    meta, net = taught("resnet18", steps=2)
    frame = scene(np.random.default_rng(3), (40, 40))
    plain = CrystalCam(meta, net).explain(frame)
    assert plain.shape_evidence is None and len(plain.segments) == 0 and "straight edges" not in plain.caption
    fused = replace(meta, operating_point=OperatingPoint(shape_slope=1.5, shape_offset=3.0))
    shown = CrystalCam(fused, net).explain(frame)
    assert shown.shape_evidence is not None and len(shown.segments) > 0 and "green, straight edges" in shown.caption
    assert (shown.segments >= 0).all() and (shown.segments[:, [0, 2]] <= frame.shape[1]).all()
