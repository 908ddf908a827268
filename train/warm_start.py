"""Where a run's weights start: the current model (fine-tuning), the shipped base model, ImageNet
weights, a checkpoint file, or scratch.

A lab's usual retraining is a few hundred new labels on top of a model that already works, so the
default continues from the current model of each architecture (the active one, else the newest
registered one), then from the base model shipped with the app, then from scratch. Every choice is
checked before any image is decoded, and the run says in words which one it used.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from xtalviewer.model.architectures import (
    ARCHITECTURES,
    CheckpointError,
    CheckpointMeta,
    check_finite_weights,
    load_backbone_weights,
    read_checkpoint,
    resolve_arch,
)
from xtalviewer.model.registry import shipped_base_model
from xtalviewer.store.rows import Model
from xtalviewer.store.store import Store

INIT_CHOICES = ("active", "base", "imagenet", "scratch")
OFFLINE_ENV = "XTALVIEWER_OFFLINE"  # 1: never try to download ImageNet weights


class InitError(Exception):
    """An initialisation that cannot be used; one line that says why."""


@dataclass(frozen=True)
class InitPlan:
    """What one architecture starts from. ``continues``: a trained model of this scheme, so the run
    fine-tunes (shorter schedule, lower learning rate) and may keep its preprocessing."""

    kind: str  # "checkpoint", "imagenet" or "scratch"
    text: str
    path: Path | None = None
    meta: CheckpointMeta | None = None
    continues: bool = False


def base_model_path(arch: str) -> Path | None:
    """The base model shipped for ``arch`` (trained on synthetic plates), if there is one."""
    return shipped_base_model(arch)


def check_checkpoint_file(path: str | Path, what: str) -> tuple[CheckpointMeta | None, dict]:
    """(meta or None for a plain state dict, state dict) of a weights file, or InitError in one line.

    Loading is always ``weights_only``: a file that needs more is refused, never unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise InitError(f"{what} {path}: no such file")
    try:
        meta, state = read_checkpoint(path)
        return meta, state
    except CheckpointError as exc:
        if "not an xtalviewer checkpoint" not in str(exc):
            raise InitError(f"{what}: {exc}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # anything the weights-only unpickler raises for a foreign, damaged or hostile file
        raise InitError(f"{what} {path} is not a weights file this app can read safely (only tensors are "
                        "loaded, never other Python objects)") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InitError(f"{what} {path} holds no state dict of tensors")
    try:
        check_finite_weights(state, f"{what} {path}")
    except CheckpointError as exc:
        raise InitError(str(exc)) from None
    return None, state


def _registered_model(store: Store, arch: str) -> Model | None:
    """The active model if it is of ``arch``, else the newest registered model of ``arch``."""
    active = store.active_model()
    if active is not None and active.arch == arch:
        return active
    same = [m for m in store.models() if m.arch == arch]
    return same[-1] if same else None


def plan_init(choice: str, arch: str, store: Store, log: Callable[[str], None]) -> InitPlan:
    """Decide (and check) where ``arch`` starts. ``choice``: active, base, imagenet, scratch or a path."""
    arch = resolve_arch(arch)
    if choice == "scratch":
        return InitPlan("scratch", "random initialisation")
    if choice == "imagenet":
        return InitPlan("imagenet", "ImageNet weights")
    if choice not in INIT_CHOICES:
        meta, _ = check_checkpoint_file(choice, "--init")
        same_scheme = meta is not None and meta.scheme_id == store.scheme.id and meta.classes == store.scheme.keys
        return InitPlan("checkpoint", f"weights from {Path(choice).absolute()}", Path(choice).absolute(), meta,
                        continues=same_scheme and meta.arch == arch)
    if choice == "active":
        model = _registered_model(store, arch)
        if model is not None:
            try:
                meta, _ = check_checkpoint_file(model.path, f"model {model.id} ({model.name})")
            except InitError as exc:
                log(f"{arch}: cannot continue from the registered model: {exc}; trying the base model")
            else:
                which = "the active model" if model.active else f"the newest {arch}"
                return InitPlan("checkpoint", f"continued from model {model.id} ({which})",
                                Path(model.path), meta, continues=True)
    base = base_model_path(arch)
    if base is not None:
        meta, _ = check_checkpoint_file(base, "the shipped base model")
        if meta is not None and meta.classes == store.scheme.keys:
            return InitPlan("checkpoint", "continued from the base model (synthetic plates)", base, meta,
                            continues=True)
        log(f"{arch}: the shipped base model classifies into '{meta.scheme_id if meta else '?'}', not "
            f"'{store.scheme.id}'; its backbone is used, the head starts fresh")
        return InitPlan("checkpoint", f"backbone of the shipped base model ({base.name})", base, meta)
    why = f"no {arch} model yet" if choice == "active" else "no base model"
    log(f"{arch}: {why} in the registry or shipped; starting from random initialisation")
    return InitPlan("scratch", f"random initialisation ({why})")


def _imagenet_state(arch: str, log: Callable[[str], None]) -> dict | None:
    """torchvision's ImageNet weights from the torch cache, else downloaded (unless offline)."""
    try:
        weights = tvm.get_model_weights(ARCHITECTURES[arch][0]).DEFAULT
    except (ValueError, AttributeError):
        return None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    if os.environ.get(OFFLINE_ENV) == "1":
        log(f"ImageNet weights for {arch} are not in the local torch cache ({cached.parent}) and downloads are off "
            f"({OFFLINE_ENV}=1); starting from random initialisation instead")
        return None
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        return torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=False, weights_only=True)
    except Exception as exc:  # no network, proxy, disk full: one line, then scratch
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        log(f"ImageNet weights for {arch} are not in the local torch cache ({cached.parent}) and could not be "
            f"downloaded ({reason}); starting from random initialisation instead")
        return None
    finally:
        socket.setdefaulttimeout(old)


def apply_init(model: nn.Module, plan: InitPlan, arch: str, log: Callable[[str], None]) -> str:
    """Load the plan's weights into ``model``; returns what was used, in words."""
    if plan.kind == "scratch":
        return plan.text
    if plan.kind == "imagenet":
        state = _imagenet_state(resolve_arch(arch), log)
        if state is None:
            return "random initialisation (ImageNet weights unavailable)"
        copied, skipped = load_backbone_weights(model, state)
        return f"ImageNet weights ({copied} tensors; {skipped} new, the head)"
    _, state = check_checkpoint_file(plan.path, "--init")
    copied, skipped = load_backbone_weights(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    if copied == 0:
        raise InitError(f"--init {plan.path}: no weights match {arch}; is it a checkpoint of another architecture?")
    return plan.text + (f" ({copied} tensors; {skipped} new)" if skipped else "")
