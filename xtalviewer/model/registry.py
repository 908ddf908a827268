"""The model registry's rules: which model a reference names, and how a checkpoint is registered.

Scoring, evaluation and training all name models the same way (a registry id, a checkpoint path,
or nothing for the active model) and register checkpoints the same way, so the registry holds the
operating point and preprocessing exactly as the checkpoint has them.
"""

from __future__ import annotations

import math
import os
import shutil
from importlib import resources
from pathlib import Path

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.labels import SchemeError
from xtalviewer.model.architectures import CheckpointError, CheckpointMeta, file_sha256, read_checkpoint, resolve_arch
from xtalviewer.paths import data_dir
from xtalviewer.store.rows import Model
from xtalviewer.store.store import Store, StoreError

BASE_MODEL_NAME = "base-resnet18 (shipped)"

NO_MODEL_HELP = (
    "there is no trained model in the registry and no shipped base model fits this database's label scheme. Train one with `xtal-train --db DB` (all four architectures) or "
    "`xtal-train --arch resnet --db DB`, or run `xtalviewer demo`, which ends with a trained ResNet; "
    "then run predict again (or pass --model PATH to a checkpoint)."
)


class RegistryError(Exception):
    """A model reference that names nothing usable; the message says what to do."""


def not_finite(metrics: dict | None, operating_point: OperatingPoint | None) -> list[str]:
    """The figures of a model that are not finite numbers: its operating point's (threshold,
    temperature, ...) and any number in its metrics. A run that trained into NaN has a threshold of
    NaN, so it would call no drop a hit, and scoring with it computes NaN."""
    bad = [f"operating point {key}" for key, value in (operating_point.to_dict() if operating_point else {}).items()
           if isinstance(value, float) and not math.isfinite(value)]
    todo: list[tuple[str, object]] = list((metrics or {}).items())
    while todo:
        key, value = todo.pop(0)
        if isinstance(value, dict):
            todo += [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            todo += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, float) and not math.isfinite(value):
            bad.append(key)
    return bad


def check_usable(what: str, metrics: dict | None, operating_point: OperatingPoint | None) -> None:
    """RegistryError when a model's own figures say it cannot score (see ``not_finite``)."""
    bad = not_finite(metrics, operating_point)
    if bad:
        raise RegistryError(
            f"{what}: its {', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''} {'is' if len(bad) == 1 else 'are'} "
            "not a number (NaN or infinite), the mark of a model trained into NaN; it would score nothing. "
            "Retrain it from sound weights"
        )


def activate_model(store: Store, model_id: int) -> None:
    """Make ``model_id`` the active model, unless its figures say it cannot score (``check_usable``)."""
    model = store.model(model_id)
    if model is None:
        raise RegistryError(f"no model {model_id} in the registry (see `xtalviewer models`)")
    check_usable(f"model {model_id} ({model.name}) cannot be activated", model.metrics, model.operating_point)
    store.activate_model(model_id)


def register_checkpoint(store: Store, path: str | Path, meta: CheckpointMeta | None = None, *,
                        name: str | None = None, metrics: dict | None = None, activate: bool = False) -> int:
    """Add a checkpoint file to the registry and return its id; a file already registered (same
    content, or the same training run and architecture) returns the existing id unchanged. A
    checkpoint whose figures are not finite numbers is refused (``check_usable``)."""
    path = Path(path).absolute()
    if meta is None:
        meta, _ = read_checkpoint(path)
    meta.check_scheme(store.scheme, f"checkpoint {path}")
    check_usable(f"checkpoint {path} is not registered", metrics if metrics is not None else meta.metrics,
                 meta.operating_point)
    digest = file_sha256(path)
    for model in store.models():
        same_run = meta.run_id is not None and model.run_id == meta.run_id and model.arch == meta.arch
        if model.sha256 == digest or same_run:
            if activate and not model.active:
                store.activate_model(model.id)
            return model.id
    if name is None:
        name = path.stem if path.stem not in ("best", "model") else f"{meta.arch}-{meta.run_id or path.parent.name}"
    return store.add_model(
        name=name, arch=meta.arch, classes=meta.classes, input_size=meta.input_size, path=str(path),
        normalization=meta.preprocess.to_dict(), run_id=meta.run_id,
        metrics=metrics if metrics is not None else meta.metrics, sha256=digest,
        operating_point=meta.operating_point, activate=activate,
    )


def shipped_base_model(arch: str = "resnet18") -> Path | None:
    """The base model shipped for ``arch`` (trained on synthetic plates), if this installation has one."""
    try:
        folder = resources.files("xtalviewer.resources") / "models"
        candidate = Path(str(folder / f"base-{resolve_arch(arch)}.pt"))
    except (ModuleNotFoundError, ValueError):
        return None
    return candidate if candidate.is_file() else None


def ensure_base_model(store: Store) -> Model | None:
    """Day one: a store with no model at all gets the shipped base model, registered and active, so
    a lab's first import is scored without a model step. Returns the active model (None when the
    store is read-only, already has models but none active, or no base model fits its scheme)."""
    active = store.active_model()
    if active is not None or store.readonly or store.models():
        return active
    path = shipped_base_model()
    if path is None:
        return None
    try:
        meta, _ = read_checkpoint(path)
        if meta.scheme_id != store.scheme.id or meta.classes != store.scheme.keys:
            return None
        kept = keep_copy(path)
        return store.model(register_checkpoint(store, kept, meta, name=BASE_MODEL_NAME, activate=True))
    except (CheckpointError, SchemeError, StoreError, RegistryError, OSError):
        return None


def keep_copy(path: Path) -> Path:
    """A copy of a shipped checkpoint in the user's data folder, named by its content, so the model a
    store registered keeps its weights when an upgrade of the app ships a new base model."""
    digest = file_sha256(path)
    dest = data_dir() / "models" / f"{path.stem}-{digest[:12]}{path.suffix}"
    if not dest.is_file() or file_sha256(dest) != digest:
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        shutil.copyfile(path, part)
        os.replace(part, dest)
    return dest


def current_model(store: Store, *, register: bool = True) -> Model | None:
    """The model the app and the commands show: the active one; on a new store the shipped base model
    (registered and activated now, where the store is writable and ``register``); else, with models
    but none active, the one that scored this store's drops (the most predictions). None when there
    is none. Views that only read (plots, the hit list) pass ``register=False``."""
    model = ensure_base_model(store) if register else store.active_model()
    if model is not None:
        return model
    scored = [(store.prediction_count(m.id), m.id) for m in store.models()]
    scored = [s for s in scored if s[0] > 0]
    return store.model(max(scored)[1]) if scored else None


def resolve_model(store: Store, ref: str | None, *, register: bool = True) -> Model:
    """Registry row for an id, a checkpoint path (registered on first use unless ``register`` is
    False, when an unregistered file gets a row with id None; activated when no model is active) or,
    for None, the current model (``current_model``)."""
    if ref is None:
        model = current_model(store)
        if model is None:
            raise RegistryError(NO_MODEL_HELP if not store.models() else
                                "no model is active; choose one with `xtalviewer models activate ID` or pass --model")
        return model
    ref = str(ref)
    if ref.isdigit():
        model = store.model(int(ref))
        if model is None:
            raise RegistryError(f"no model {ref} in the registry (see `xtalviewer models`)")
        return model
    path = Path(ref).absolute()
    meta, _ = read_checkpoint(path)
    meta.check_scheme(store.scheme, f"checkpoint {path}")
    if register:
        return store.model(register_checkpoint(store, path, meta, activate=store.active_model() is None))
    digest = file_sha256(path)
    for model in store.models():
        if model.sha256 == digest:
            return model
    return Model(id=None, name=path.stem, arch=meta.arch, scheme=meta.scheme_id, classes=list(meta.classes),
                 input_size=meta.input_size, normalization=meta.preprocess.to_dict(), run_id=meta.run_id,
                 metrics=meta.metrics, path=str(path), sha256=digest, active=False, created_at=None,
                 operating_point=meta.operating_point)
