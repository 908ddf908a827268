"""The four classic architectures, their shared preprocessing, and the checkpoint format.

Training and inference must see images the same way, so the preprocessing (input size, how the
image is fitted to a square, normalisation) is one definition stored inside every checkpoint.
A checkpoint also records the label scheme it classifies into; loading refuses a scheme that does
not match the database, and a truncated or foreign file gives a clear error, not a traceback.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision
from torch import nn
from torchvision import models as tvm

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.labels import LabelScheme, SchemeError
from xtalviewer.files.regular import open_regular

CHECKPOINT_FORMAT = "xtalviewer-checkpoint"
CHECKPOINT_VERSION = 1

# variant -> (torchvision builder, smallest input it accepts, default input size)
ARCHITECTURES: dict[str, tuple[str, int, int]] = {
    "resnet18": ("resnet18", 32, 224),
    "resnet34": ("resnet34", 32, 224),
    "resnet50": ("resnet50", 32, 224),
    "inception_v3": ("inception_v3", 75, 299),
    "vgg11_bn": ("vgg11_bn", 32, 224),
    "vgg16_bn": ("vgg16_bn", 32, 224),
    "alexnet": ("alexnet", 63, 224),
}
# the families a user names; each means its first variant unless a variant is named
FAMILIES: dict[str, str] = {"resnet": "resnet18", "inception": "inception_v3", "vgg": "vgg11_bn", "alexnet": "alexnet"}
_ALIASES = {"vgg11": "vgg11_bn", "vgg16": "vgg16_bn", "inception3": "inception_v3", "inceptionv3": "inception_v3"}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FIT_MODES = ("resize", "pad")
CROP_MODES = ("none", "well", "drop")


class CheckpointError(Exception):
    """A checkpoint file that cannot be used; the message says why."""


def resolve_arch(name: str) -> str:
    """'resnet' -> 'resnet18', 'vgg16' -> 'vgg16_bn'; ValueError for unknown names."""
    key = name.strip().lower()
    key = FAMILIES.get(key, _ALIASES.get(key, key))
    if key not in ARCHITECTURES:
        known = ", ".join([*FAMILIES, *ARCHITECTURES])
        raise ValueError(f"unknown architecture '{name}' (choose from {known})")
    return key


def family_of(arch: str) -> str:
    for family, first in FAMILIES.items():
        if arch.startswith(family) or arch == first:
            return family
    return arch


@dataclass(frozen=True)
class Preprocess:
    """How an RGB drop image becomes a model input: crop to the well or drop, fit to a square, scale
    to [0, 1], normalise. Training, CPU scoring and GPU scoring all apply this one definition."""

    input_size: int = 224
    fit: str = "resize"  # resize: squash to a square (keeps every pixel); pad: letterbox to a square
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop: str = "none"  # none: the whole frame; well: the well's interior; drop: the drop (see model/crop.py)
    crop_margin: float = 0.06

    def __post_init__(self) -> None:
        if self.crop not in CROP_MODES:
            raise ValueError(f"unknown crop '{self.crop}' (choose from {', '.join(CROP_MODES)})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(input_size=int(d["input_size"]), fit=d.get("fit", "resize"), mean=tuple(d["mean"]),
                   std=tuple(d["std"]), crop=d.get("crop", "none"), crop_margin=float(d.get("crop_margin", 0.06)))

    def decode_min_side(self) -> int:
        """Shortest side a decoder must keep so fitting never upsamples (lets JPEGs decode at 1/2-1/8).
        A crop keeps a part of the frame, so it needs proportionally more decoded pixels."""
        if self.crop == "none":
            return self.input_size
        return self.input_size * (2 if self.crop == "well" else 3)

    def crop_box(self, rgb: np.ndarray):
        """The region of ``rgb`` the model sees, as a ``CropBox`` in frame fractions (the whole frame
        for crop 'none')."""
        from xtalviewer.model.crop import find_crop

        return find_crop(rgb, self.crop, self.crop_margin)

    def crop_region(self, rgb: np.ndarray) -> tuple[np.ndarray, object | None]:
        """(the pixels the model sees, the CropBox or None when nothing is cropped)."""
        if self.crop == "none":
            return rgb, None
        from xtalviewer.model.crop import apply_crop

        box = self.crop_box(rgb)
        return apply_crop(rgb, box), box

    def fit_square(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> SxSx3 uint8 (cropped first when a crop is set)."""
        return self.fit_region(self.crop_region(rgb)[0])

    def fit_region(self, rgb: np.ndarray) -> np.ndarray:
        """An already cropped HxWx3 uint8 region -> SxSx3 uint8."""
        s = self.input_size
        h, w = rgb.shape[:2]
        if self.fit == "pad":
            scale = s / max(h, w)
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
            out = np.zeros((s, s, 3), np.uint8)
            y, x = (s - nh) // 2, (s - nw) // 2
            out[y : y + nh, x : x + nw] = small
            return out
        # area averaging only pays when shrinking a lot; after a DCT-scaled JPEG decode the last step is
        # small, and bilinear is 6x cheaper there
        interp = cv2.INTER_AREA if min(h, w) >= 2 * s else cv2.INTER_LINEAR
        return cv2.resize(rgb, (s, s), interpolation=interp)

    def to_tensor(self, square: np.ndarray) -> torch.Tensor:
        """SxSx3 uint8 -> 3xSxS float32, normalised."""
        return self.normalise_batch(torch.from_numpy(np.ascontiguousarray(square))[None])[0]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) float in [0, 1] -> normalised: the one definition training, augmentation and
        every scoring path use."""
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std

    def normalise_batch(self, batch_u8: torch.Tensor) -> torch.Tensor:
        """(N, S, S, 3) uint8 -> (N, 3, S, S) float32 normalised, in channels_last memory order
        (a free view of the pixels as they are; convolutions run fastest on it)."""
        return self.normalise(batch_u8.permute(0, 3, 1, 2).float().div_(255.0))

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        return self.to_tensor(self.fit_square(rgb))


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 natively (AVX512-BF16 or AMX): autocast then speeds up
    training of all four families 1.3-3.5x and inference of most. XTALVIEWER_CPU_BF16=0/1 overrides."""
    forced = os.environ.get("XTALVIEWER_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool((probe and probe()) or (amx and amx()))
    except Exception:
        return False


def autocast_dtype(device: torch.device, arch: str, training: bool) -> torch.dtype | None:
    """The mixed-precision type to use, or None for float32: float16 on CUDA, bfloat16 on a CPU
    that runs it natively (measured here: 1.6-2.8x faster inference with channels_last)."""
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_bf16_supported():
        return torch.bfloat16
    return None


def build_model(arch: str, num_classes: int, input_size: int | None = None) -> nn.Module:
    """A torchvision architecture with a ``num_classes`` head, randomly initialised."""
    arch = resolve_arch(arch)
    builder, min_size, _ = ARCHITECTURES[arch]
    if input_size is not None and input_size < min_size:
        raise ValueError(f"{arch} needs inputs of at least {min_size} px, not {input_size}")
    kwargs: dict = {"weights": None, "num_classes": num_classes}
    if arch == "inception_v3":
        kwargs.update(aux_logits=False, init_weights=True)
    return getattr(tvm, builder)(**kwargs)


def default_input_size(arch: str) -> int:
    return ARCHITECTURES[resolve_arch(arch)][2]


def imagenet_state_dict(arch: str) -> dict | None:
    """torchvision's ImageNet weights for ``arch`` if they are already in the local torch cache.

    Nothing is downloaded: hubs are out of reach on many lab machines, and the caller must say which
    initialisation it used.
    """
    arch = resolve_arch(arch)
    try:
        weights = tvm.get_model_weights(ARCHITECTURES[arch][0]).DEFAULT
    except (ValueError, AttributeError):
        return None
    filename = os.path.basename(weights.url)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not cached.is_file():
        return None
    return torch.load(cached, map_location="cpu", weights_only=True)


def load_backbone_weights(model: nn.Module, state: dict) -> tuple[int, int]:
    """Copy every tensor whose name and shape match (the classifier head usually does not).

    Returns (tensors copied, tensors skipped).
    """
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return len(usable), len(own) - len(usable)


@dataclass
class CheckpointMeta:
    """Everything but the weights: enough to rebuild the model and check it fits a database."""

    arch: str
    scheme_id: str
    classes: list[str]
    crystal: list[bool]
    preprocess: Preprocess
    run_id: str | None = None
    metrics: dict | None = None
    init: str | None = None
    operating_point: OperatingPoint = field(default_factory=OperatingPoint)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    torch_version: str = torch.__version__
    torchvision_version: str = torchvision.__version__

    @property
    def input_size(self) -> int:
        return self.preprocess.input_size

    def check_scheme(self, scheme: LabelScheme, source: str = "checkpoint") -> None:
        if self.scheme_id != scheme.id or self.classes != scheme.keys:
            raise SchemeError(
                f"{source} classifies into label scheme '{self.scheme_id}' ({', '.join(self.classes)}), but the "
                f"database uses '{scheme.id}' ({', '.join(scheme.keys)}); it cannot be used here"
            )


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta, *, half: bool = False) -> str:
    """Write weights + metadata atomically; returns the file's sha256. ``half`` stores floating
    tensors as float16 (half the size, for shipped models; they load back into float32 models)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "arch": meta.arch,
        "scheme": {"id": meta.scheme_id, "classes": list(meta.classes), "crystal": list(meta.crystal)},
        "preprocess": meta.preprocess.to_dict(),
        "run_id": meta.run_id,
        "metrics": meta.metrics,
        "init": meta.init,
        "operating_point": meta.operating_point.to_dict(),
        "created_at": meta.created_at,
        "torch": str(meta.torch_version),
        "torchvision": str(meta.torchvision_version),
        "state_dict": state,
    }
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path: str | Path) -> tuple[CheckpointMeta, dict]:
    """(metadata, state dict) of a checkpoint file; CheckpointError for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # anything a foreign or damaged file makes the (weights-only) unpickler raise
        text = str(exc).splitlines()[0].split(". This is an internal")[0][:200] if str(exc) else type(exc).__name__
        if isinstance(exc, KeyError) or "weights_only" in text.lower() or "unpickl" in text.lower():
            text = f"{type(exc).__name__}: not a weights file this app can read safely"
        damaged = ("zip", "central directory", "eof", "truncat", "unexpected end", "invalid argument", "failed finding")
        if any(w in text.lower() for w in damaged):
            raise CheckpointError(f"checkpoint {path} is truncated or damaged ({text})") from None
        raise CheckpointError(f"{path} is not a readable checkpoint ({text})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        what = "a plain state dict" if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not an xtalviewer checkpoint (it holds {what}); train one with xtal-train, or pass it "
            "to xtal-train --init to start from its weights"
        )
    if payload.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} was written by a newer xtalviewer (format {payload['version']})")
    try:
        scheme = payload["scheme"]
        meta = CheckpointMeta(
            arch=resolve_arch(payload["arch"]),
            scheme_id=scheme["id"],
            classes=list(scheme["classes"]),
            crystal=[bool(c) for c in scheme["crystal"]],
            preprocess=Preprocess.from_dict(payload["preprocess"]),
            run_id=payload.get("run_id"),
            metrics=payload.get("metrics"),
            init=payload.get("init"),
            operating_point=OperatingPoint.from_dict(payload.get("operating_point")),
            created_at=payload.get("created_at") or "",
            torch_version=payload.get("torch") or "",
            torchvision_version=payload.get("torchvision") or "",
        )
        state = payload["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is missing metadata ({exc})") from None
    check_finite_weights(state, f"checkpoint {path}")
    return meta, state


def non_finite_tensors(state: dict) -> list[str]:
    """Names of the floating tensors in ``state`` that hold NaN or an infinity."""
    return [name for name, tensor in state.items()
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all()]


def check_finite_weights(state: dict, what: str) -> None:
    """CheckpointError unless every weight is a finite number: one NaN (a damaged file, or a run
    that trained into NaN) makes every prediction NaN, and fine-tuning from it ends in NaN too."""
    broken = non_finite_tensors(state)
    if broken:
        raise CheckpointError(
            f"{what} holds weights that are not numbers (NaN or infinite, in {len(broken)} tensor"
            f"{'s' * (len(broken) != 1)}, e.g. {broken[0]}): the file is damaged or was trained into NaN, and "
            "nothing it computes means anything. Use another model or checkpoint"
        )


def load_checkpoint(path: str | Path, scheme: LabelScheme | None = None) -> tuple[CheckpointMeta, nn.Module]:
    """Rebuild the model of a checkpoint, in eval mode on the CPU; checks the scheme when given."""
    meta, state = read_checkpoint(path)
    if scheme is not None:
        meta.check_scheme(scheme, f"checkpoint {path}")
    model = build_model(meta.arch, len(meta.classes), meta.input_size)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match architecture {meta.arch}: "
                              f"{str(exc).splitlines()[0]}") from None
    return meta, model.eval()
