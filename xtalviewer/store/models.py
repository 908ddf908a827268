"""The model registry's rows: registering a trained checkpoint, activating one, reading them back
with their JSON decoded, and a model's operating point (its crystal-call rule)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import starmap

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.labels import SchemeError
from xtalviewer.store.db import Database, StoreError, now_iso
from xtalviewer.store.label_watch import announce
from xtalviewer.store.rows import Model

_MODEL = ("SELECT id, name, arch, scheme, classes, input_size, normalization, run_id, metrics, path, sha256, active, "
          "created_at, operating_point, mode FROM model")


def _decode(model_id: int, name: str, arch: str, scheme: str, classes: str, input_size: int,
            normalization: str | None, run_id: str | None, metrics: str | None, path: str, sha256: str | None,
            active: int, created_at: str, operating_point: str | None, mode: str) -> Model:
    """A model row with its JSON columns decoded; no operating point is the uncalibrated 50% rule."""
    return Model(model_id, name, arch, scheme, json.loads(classes) if classes else None, input_size,
                 json.loads(normalization) if normalization else None, run_id,
                 json.loads(metrics) if metrics else None, path, sha256, bool(active), created_at,
                 OperatingPoint.from_dict(json.loads(operating_point) if operating_point else None), mode)


# -- writing ----------------------------------------------------------------------------------------------


def add_model(
    db: Database,
    *,
    name: str,
    arch: str,
    classes: Sequence[str],
    input_size: int,
    path: str,
    normalization: dict | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    sha256: str | None = None,
    scheme: str | None = None,
    activate: bool = False,
    operating_point: OperatingPoint | None = None,
    mode: str = "visible",
) -> int:
    """Register a trained checkpoint; it must classify into this database's label scheme.
    ``mode``: the imaging mode whose images it scores (visible unless trained on UV or SHG)."""
    scheme = scheme or db.scheme.id
    if scheme != db.scheme.id or list(classes) != db.scheme.keys:
        raise SchemeError(
            f"model '{name}' was trained for scheme '{scheme}' with classes {list(classes)}, but this database "
            f"uses '{db.scheme.id}' with classes {db.scheme.keys}"
        )
    with db.transaction():
        model_id = db.insert(
            "INSERT INTO model(name, arch, scheme, classes, input_size, normalization, run_id, metrics, path, "
            "sha256, created_at, operating_point, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, arch, scheme, json.dumps(list(classes)), input_size,
             json.dumps(normalization) if normalization else None, run_id,
             json.dumps(metrics) if metrics is not None else None, path, sha256, now_iso(),
             json.dumps(operating_point.to_dict()) if operating_point is not None else None, mode),
        )
        if activate:
            activate_model(db, model_id)
    return model_id


def activate_model(db: Database, model_id: int) -> None:
    """Make this model the active one (the one the app and the commands use); only one is."""
    with db.transaction():
        if db.execute("SELECT 1 FROM model WHERE id = ?", (model_id,)).fetchone() is None:
            raise StoreError(f"there is no model {model_id} in the registry")
        db.execute("UPDATE model SET active = 0 WHERE active = 1")
        db.execute("UPDATE model SET active = 1 WHERE id = ?", (model_id,))
        announce(db)  # the other workstations follow it when this commits


# -- reading ----------------------------------------------------------------------------------------------


def operating_point(db: Database, model_id: int | None) -> OperatingPoint:
    """The model's crystal-call rule; the uncalibrated 50% rule for older or unknown models."""
    if model_id is None:
        return OperatingPoint()
    row = db.execute("SELECT operating_point FROM model WHERE id = ?", (model_id,)).fetchone()
    return OperatingPoint.from_dict(json.loads(row[0]) if row and row[0] else None)


def models(db: Database) -> list[Model]:
    return list(starmap(_decode, db.execute(f"{_MODEL} ORDER BY id")))


def model(db: Database, model_id: int) -> Model | None:
    row = db.execute(f"{_MODEL} WHERE id = ?", (model_id,)).fetchone()
    return _decode(*row) if row else None


def active_model(db: Database) -> Model | None:
    row = db.execute(f"{_MODEL} WHERE active = 1").fetchone()
    return _decode(*row) if row else None
