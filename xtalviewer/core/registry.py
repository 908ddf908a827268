"""The model registry's rules: which model a reference names, and how a checkpoint is registered.

Scoring, evaluation and training all name models the same way (a registry id, a checkpoint path,
or nothing for the active model) and register checkpoints the same way, so the registry holds the
operating point and preprocessing exactly as the checkpoint has them.
"""

from __future__ import annotations

from pathlib import Path

from xtalviewer.core.models import CheckpointMeta, file_sha256, read_checkpoint
from xtalviewer.core.store import Store

NO_MODEL_HELP = (
    "there is no trained model in the registry. Train one with `xtal-train --db DB` (all four architectures) or "
    "`xtal-train --arch resnet --db DB`, or run `xtalviewer demo`, which ends with a trained ResNet; "
    "then run predict again (or pass --model PATH to a checkpoint)."
)


class RegistryError(Exception):
    """A model reference that names nothing usable; the message says what to do."""


def register_checkpoint(store: Store, path: str | Path, meta: CheckpointMeta | None = None, *,
                        name: str | None = None, metrics: dict | None = None, activate: bool = False) -> int:
    """Add a checkpoint file to the registry and return its id; a file already registered (same
    content, or the same training run and architecture) returns the existing id unchanged."""
    path = Path(path).absolute()
    if meta is None:
        meta, _ = read_checkpoint(path)
    meta.check_scheme(store.scheme, f"checkpoint {path}")
    digest = file_sha256(path)
    for model in store.models():
        same_run = meta.run_id is not None and model["run_id"] == meta.run_id and model["arch"] == meta.arch
        if model["sha256"] == digest or same_run:
            if activate and not model["active"]:
                store.activate_model(model["id"])
            return model["id"]
    if name is None:
        name = path.stem if path.stem not in ("best", "model") else f"{meta.arch}-{meta.run_id or path.parent.name}"
    return store.add_model(
        name=name, arch=meta.arch, classes=meta.classes, input_size=meta.input_size, path=str(path),
        normalization=meta.preprocess.to_dict(), run_id=meta.run_id,
        metrics=metrics if metrics is not None else meta.metrics, sha256=digest,
        operating_point=meta.operating_point, activate=activate,
    )


def resolve_model(store: Store, ref: str | None, *, register: bool = True) -> dict:
    """Registry row for an id, a checkpoint path (registered on first use unless ``register`` is
    False, when an unregistered file gets a row with id None) or, for None, the active model."""
    if ref is None:
        model = store.active_model()
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
        return store.model(register_checkpoint(store, path, meta))
    digest = file_sha256(path)
    for model in store.models():
        if model["sha256"] == digest:
            return model
    return {"id": None, "name": path.stem, "arch": meta.arch, "path": str(path), "input_size": meta.input_size,
            "operating_point": meta.operating_point, "metrics": meta.metrics, "active": False, "run_id": meta.run_id}
