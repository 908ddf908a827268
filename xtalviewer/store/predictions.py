"""Predictions: storing one model's answers for a batch of images, reading one back, and the work
list of images a model still has to score.

A prediction keeps the full probability vector and what the review queue orders by (top 3, crystal
probability, margin, entropy, the top-3 crystal flag), plus the file's size and mtime when it was
scored, so a changed file is scored again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from xtalviewer.crystal_call import crystal_in_top3, crystal_probability
from xtalviewer.store.db import Database, now_iso
from xtalviewer.store.inputs import PredictionRow
from xtalviewer.store.plates import latest_inspections_of_mode
from xtalviewer.store.rows import Prediction


def _prediction_values(db: Database, model_id: int, row: PredictionRow, created: str) -> tuple:
    probs = np.asarray(row.probs, dtype="<f4")
    keys = db.scheme.keys
    if probs.shape != (len(keys),):
        raise ValueError(f"expected {len(keys)} probabilities, got {probs.shape}")
    if not np.isfinite(probs).all():  # SQLite would store NaN as NULL: a prediction that says nothing
        raise ValueError(f"image {row.image_id}: its probabilities are not a number (NaN) or infinite; "
                         "only real probabilities are stored")
    order = np.argsort(-probs, kind="stable")[:3]
    crystal = np.asarray(db.scheme.crystal_mask)
    top = [(keys[i], float(probs[i])) for i in order] + [(None, None)] * (3 - len(order))
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    entropy = float(-(p * np.log(p)).sum() / math.log(len(keys)))
    margin = top[0][1] - (top[1][1] or 0.0)
    return (
        row.image_id, model_id, probs.tobytes(), top[0][0], top[0][1], top[1][0], top[1][1], top[2][0],
        top[2][1], float(crystal_probability(probs, crystal)), margin, entropy, int(crystal_in_top3(probs, crystal)),
        row.image_size, row.image_mtime, created,
    )


def put_predictions(db: Database, model_id: int, rows: Iterable[PredictionRow]) -> int:
    """Store (or replace) one model's predictions for a batch of images in one transaction."""
    created = now_iso()
    values = [_prediction_values(db, model_id, r, created) for r in rows]
    with db.transaction():
        db.executemany(
            "INSERT INTO prediction(image_id, model_id, probs, top1, p1, top2, p2, top3, p3, crystal_prob, "
            "margin, entropy, crystal_top3, image_size, image_mtime, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(model_id, image_id) DO UPDATE SET probs = excluded.probs, top1 = excluded.top1, "
            "p1 = excluded.p1, top2 = excluded.top2, p2 = excluded.p2, top3 = excluded.top3, p3 = excluded.p3, "
            "crystal_prob = excluded.crystal_prob, margin = excluded.margin, entropy = excluded.entropy, "
            "crystal_top3 = excluded.crystal_top3, image_size = excluded.image_size, "
            "image_mtime = excluded.image_mtime, created_at = excluded.created_at",
            values,
        )
    return len(values)


def prediction(db: Database, image_id: int, model_id: int) -> Prediction | None:
    row = db.execute(
        "SELECT id, image_id, model_id, probs, top1, p1, top2, p2, top3, p3, crystal_prob, margin, entropy, "
        "crystal_top3, image_size, image_mtime, created_at FROM prediction WHERE image_id = ? AND model_id = ?",
        (image_id, model_id)).fetchone()
    if row is None:
        return None
    return Prediction(*row[:3], np.frombuffer(row[3], dtype="<f4").tolist(), *row[4:])


def prediction_count(db: Database, model_id: int | None = None) -> int:
    if model_id is None:
        return db.execute("SELECT COUNT(*) FROM prediction").fetchone()[0]
    return db.execute("SELECT COUNT(*) FROM prediction WHERE model_id = ?", (model_id,)).fetchone()[0]


def unscored_images(db: Database, model_id: int, *, plate_id: int | None = None, retry_errors: bool = False,
                    latest_only: bool = False) -> list[tuple[int, str, int | None, float | None]]:
    """(id, path, size, mtime) of images that still need this model's prediction: never scored, or
    the file changed since; images marked unreadable only with ``retry_errors``. A model scores the
    images of its own imaging mode (the visible ones, unless it was trained for UV or SHG).
    ``latest_only``: only each plate's latest inspection with images of that mode (what a reviewer
    looks at next)."""
    mode_of_model = "COALESCE((SELECT mode FROM model WHERE id = ?), 'visible')"
    where = ["(p.id IS NULL OR p.image_size IS NOT i.size OR p.image_mtime IS NOT i.mtime)",
             f"i.mode = {mode_of_model}"]
    params: list = [model_id, model_id]
    if not retry_errors:
        where.append("i.load_error IS NULL")
    if plate_id is not None:
        where.append("i.plate_id = ?")
        params.append(plate_id)
    if latest_only:
        where.append(f"i.inspection_id IN ({latest_inspections_of_mode(mode_of_model)})")
        params.append(model_id)
    return db.roots.local_rows(db.execute(
        "SELECT i.id, i.path, i.size, i.mtime FROM image i "
        "LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = ? "
        f"WHERE {' AND '.join(where)} ORDER BY i.plate_id, i.inspection_id, i.row, i.col, i.drop_no",
        params,
    ), 1)
