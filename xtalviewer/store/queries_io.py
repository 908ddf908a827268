"""Read-only queries for what leaves the store: the export CSV's rows, the scoring work list, a
report's who-labelled facts, and plain counts for benchmarks. Plain functions whose first argument
is the ``Store``; ``Store`` exposes each one as a method of the same name."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xtalviewer.store.count_queries import LATEST_INSPECTIONS

if TYPE_CHECKING:
    from xtalviewer.store.store import Store


def export_rows_raw(store: Store, model_id: int | None, plate: str | None = None) -> list[dict]:
    """One row per image with its plate, inspection, current label and who gave it, and the model's
    top 3, in plate / inspection / well / drop order."""
    params: dict = {"model": model_id}
    where = ""
    if plate is not None:
        where = "WHERE pl.barcode = :plate"
        params["plate"] = plate
    return store.query(
        f"""
        SELECT pl.barcode AS plate, n.key AS inspection, n.imaged_at, i.well, i.drop_no AS "drop",
               i.path AS image_path, i.label, a.annotator, a.created_at AS labelled_at,
               p.top1 AS pred1, p.p1, p.top2 AS pred2, p.p2, p.top3 AS pred3, p.p3, p.crystal_prob, p.id AS prediction_id
        FROM image i
        JOIN plate pl ON pl.id = i.plate_id
        JOIN inspection n ON n.id = i.inspection_id
        LEFT JOIN annotation a ON a.id = i.annotation_id
        LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
        {where}
        ORDER BY pl.barcode, n.imaged_at, n.id, i.row, i.col, i.drop_no
        """,
        params,
    )


def unscored_images(store: Store, model_id: int, *, plate_id: int | None = None, retry_errors: bool = False,
                    latest_only: bool = False) -> list[tuple[int, str, int | None, float | None]]:
    """(id, path, size, mtime) of images that still need this model's prediction: never scored, or
    the file changed since; images marked unreadable only with ``retry_errors``. A model scores the
    images of its own imaging mode (the visible ones, unless it was trained for UV or SHG).
    ``latest_only``: only each plate's latest inspection (what a reviewer looks at next)."""
    where = ["(p.id IS NULL OR p.image_size IS NOT i.size OR p.image_mtime IS NOT i.mtime)",
             "i.mode = COALESCE((SELECT mode FROM model WHERE id = ?), 'visible')"]
    params: list = [model_id, model_id]
    if not retry_errors:
        where.append("i.load_error IS NULL")
    if plate_id is not None:
        where.append("i.plate_id = ?")
        params.append(plate_id)
    if latest_only:
        where.append(f"i.inspection_id IN ({LATEST_INSPECTIONS})")
    return store.conn.execute(
        "SELECT i.id, i.path, i.size, i.mtime FROM image i "
        "LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = ? "
        f"WHERE {' AND '.join(where)} ORDER BY i.plate_id, i.inspection_id, i.row, i.col, i.drop_no",
        params,
    ).fetchall()


def current_annotations(store: Store, inspection_id: int) -> dict[int, dict]:
    """Image id -> who gave its current label, when, and from which source, over one inspection."""
    rows = store.query(
        "SELECT i.id, a.annotator, a.created_at, a.source FROM image i JOIN annotation a ON a.id = i.annotation_id "
        "WHERE i.inspection_id = ?",
        (inspection_id,),
    )
    return {r.pop("id"): r for r in rows}


def annotator_summary(store: Store, inspection_id: int) -> list[dict]:
    """Per annotator: labels given on this inspection, how many are still current, the latest one."""
    return store.query(
        "SELECT a.annotator, COUNT(*) AS given, SUM(i.annotation_id = a.id) AS current, "
        "MAX(a.created_at) AS last_at FROM annotation a JOIN image i ON i.id = a.image_id "
        "WHERE i.inspection_id = ? AND a.label IS NOT NULL GROUP BY a.annotator ORDER BY given DESC, a.annotator",
        (inspection_id,),
    )


def file_stats(store: Store, inspection_id: int) -> dict[int, dict]:
    """Image id -> its file's size and mtime as recorded, over one inspection (thumbnail cache keys)."""
    return {r["id"]: r for r in store.query("SELECT id, size, mtime FROM image WHERE inspection_id = ?",
                                            (inspection_id,))}


def has_plates(store: Store) -> bool:
    return bool(store.conn.execute("SELECT EXISTS (SELECT 1 FROM plate)").fetchone()[0])


def file_has_plates(path: Path) -> bool | None:
    """Whether the database file holds a plate, without opening it as a Store (no migration, no
    scheme): False for a file with no tables yet, None when it cannot be read at all."""
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM plate)").fetchone()[0])
    except sqlite3.Error:  # no tables yet
        return False
    finally:
        conn.close()


def image_ids(store: Store) -> list[int]:
    """Every image id, in id order."""
    return [r[0] for r in store.conn.execute("SELECT id FROM image ORDER BY id")]


def image_paths(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT path FROM image ORDER BY id")]


def image_path_under(store: Store, folder: str) -> str | None:
    """The path of one image stored anywhere inside ``folder``, or None: the thumbnail cache must
    not take a folder of plate images. A range on the path index, not a scan."""
    prefix = os.path.join(folder, "")  # the folder and a separator: /lab/plates, not /lab/plates-old
    row = store.conn.execute("SELECT path FROM image WHERE path >= ? AND path < ? ORDER BY path LIMIT 1",
                             (prefix, prefix + "\U0010ffff")).fetchone()
    return row[0] if row else None


def plate_ids(store: Store) -> list[int]:
    return [r[0] for r in store.conn.execute("SELECT id FROM plate ORDER BY id")]


def prediction_count(store: Store, model_id: int | None = None) -> int:
    if model_id is None:
        return store.conn.execute("SELECT COUNT(*) FROM prediction").fetchone()[0]
    return store.conn.execute("SELECT COUNT(*) FROM prediction WHERE model_id = ?", (model_id,)).fetchone()[0]


__all__: Sequence[str] = ("export_rows_raw", "unscored_images", "current_annotations", "annotator_summary",
                          "file_stats", "has_plates", "image_ids", "image_paths", "image_path_under", "plate_ids",
                          "prediction_count")
