"""Counts: the plate browser's and ``stats``' summaries per plate and per inspection, labels per
class, and what the plots count (labels per plate, labels against the model's answer, the drops of
one inspection).

Drops are visible images: UV and SHG images of a drop are counted apart (``other_mode_images``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import starmap

from xtalviewer.store.db import Database
from xtalviewer.store.hits import hit_sql, threshold_param
from xtalviewer.store.plates import LATEST_INSPECTIONS
from xtalviewer.store.rows import InspectionSummary, PlateSummary


def _count_columns(db: Database, model_id: int | None) -> tuple[str, dict]:
    """SQL aggregate columns over images i (and their prediction p) shared by the summaries, and
    their parameters: hits count at the model's operating point."""
    crystal = {f"crystal{n}": key for n, key in enumerate(sorted(db.scheme.crystal_keys))}
    marks = ",".join(f":{name}" for name in crystal)
    # a truth value summed is CAST to an integer: SQLite's 0/1, PostgreSQL's boolean
    columns = (f"COUNT(i.id) AS images, SUM(CAST(i.label IS NOT NULL AS INTEGER)) AS labelled, "
               f"SUM(CAST(i.label IN ({marks}) AS INTEGER)) AS crystal_labels, "
               f"SUM(CAST(i.load_error IS NOT NULL AS INTEGER)) AS unreadable, "
               f"SUM(CAST({hit_sql()} AS INTEGER)) AS predicted_hits, SUM(CAST(p.crystal_top3 = 1 AS INTEGER)) AS crystal_top3, "
               "COUNT(p.id) AS predicted")
    return columns, {**crystal, **threshold_param(db, model_id), "model": model_id}


def plate_summaries(db: Database, model_id: int | None = None) -> list[PlateSummary]:
    """Per plate: inspections, drops, reviewed (labelled) drops, crystal labels, predicted hits
    (at the model's operating point) and drops with a crystal class in its top 3.
    Drops are the visible images; ``other_mode_images`` counts the UV, SHG ... images beside them."""
    columns, params = _count_columns(db, model_id)
    return list(starmap(PlateSummary, db.execute(
        f"""
        SELECT pl.id, pl.barcode, pl.rows, pl.cols, pl.drops,
               (SELECT COUNT(*) FROM inspection n WHERE n.plate_id = pl.id) AS inspections,
               (SELECT COUNT(*) FROM image o WHERE o.plate_id = pl.id AND o.mode != 'visible') AS other_mode_images,
               {columns}
        FROM plate pl
        LEFT JOIN image i ON i.plate_id = pl.id AND i.mode = 'visible'
        LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
        GROUP BY pl.id ORDER BY pl.barcode
        """,
        params,
    )))


def inspection_summaries(db: Database, model_id: int | None = None,
                         inspection_id: int | None = None) -> list[InspectionSummary]:
    """Per inspection (or only ``inspection_id``), for the plate browser: drops, reviewed, crystal
    labels, predicted hits at the model's operating point, drops with a crystal in the top 3."""
    columns, params = _count_columns(db, model_id)
    only = "WHERE n.id = :inspection" if inspection_id is not None else ""
    return list(starmap(InspectionSummary, db.execute(
        f"""
        SELECT n.id, n.plate_id, pl.barcode, n.key, n.imaged_at, n.imager, n.profile,
               (SELECT group_concat(m, ',') FROM (SELECT DISTINCT o.mode AS m FROM image o
                WHERE o.inspection_id = n.id AND o.mode != 'visible' ORDER BY o.mode) AS modes) AS other_modes, {columns}
        FROM inspection n
        JOIN plate pl ON pl.id = n.plate_id
        LEFT JOIN image i ON i.inspection_id = n.id AND i.mode = 'visible'
        LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
        {only}
        GROUP BY n.id, pl.id ORDER BY pl.barcode, n.imaged_at, n.id
        """,
        {**params, "inspection": inspection_id},
    )))


def label_counts(db: Database) -> dict[str | None, int]:
    """Drops (visible images) per current label; None counts the unlabelled."""
    return {r[0]: r[1] for r in db.execute(
        "SELECT label, COUNT(*) FROM image WHERE mode = 'visible' GROUP BY label ORDER BY label")}


# -- what the plots count ------------------------------------------------------------------------------------


def plate_label_counts(db: Database, latest_only: bool = True) -> list[tuple[str, str | None, int]]:
    """(barcode, current label or None, drops) for each plate; ``latest_only`` counts each plate's
    latest inspection only, otherwise every image."""
    where = f"AND i.inspection_id IN ({LATEST_INSPECTIONS})" if latest_only else ""
    return db.execute(
        f"SELECT pl.barcode, i.label, COUNT(*) FROM image i JOIN plate pl ON pl.id = i.plate_id "
        f"WHERE i.mode = 'visible' {where} "
        "GROUP BY i.plate_id, i.label, pl.barcode").fetchall()


def label_vs_prediction(db: Database, model_id: int, sources: Sequence[str]) -> list[tuple]:
    """(barcode, label, model's top 1, drops, drops whose label is in the model's top 3), grouped,
    over images whose current label came from one of ``sources`` and that the model scored."""
    marks = ",".join("?" * len(sources))
    # CROSS JOIN keeps SQLite walking the images in storage order and looking each prediction up by
    # (model, image): 4x faster on 500k images than walking a prediction index and fetching rows
    return db.execute(
        f"""
        SELECT pl.barcode, i.label, p.top1, COUNT(*),
               SUM(CAST(i.label = p.top1 OR i.label = p.top2 OR i.label = p.top3 AS INTEGER))
        FROM image i
        CROSS JOIN annotation a ON a.id = i.annotation_id
        CROSS JOIN prediction p ON p.image_id = i.id AND p.model_id = ?
        JOIN plate pl ON pl.id = i.plate_id
        WHERE i.label IS NOT NULL AND a.source IN ({marks})
        GROUP BY i.plate_id, i.label, p.top1, pl.barcode
        """,
        (model_id, *sources),
    ).fetchall()


def inspection_drops(db: Database, inspection_id: int, model_id: int | None) -> list[tuple]:
    """(image id, row, col, drop, label, crystal probability, top 1) of every drop of an inspection,
    with this model's prediction where it has one."""
    return db.execute(
        "SELECT i.id, i.row, i.col, i.drop_no, i.label, p.crystal_prob, p.top1 FROM image i "
        "LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = ? WHERE i.inspection_id = ? "
        "AND i.mode = 'visible'",
        (model_id, inspection_id)).fetchall()
