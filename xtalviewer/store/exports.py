"""What leaves the store for people: the export CSV's rows and a plate report's facts (its drops
with who labelled them, and each annotator's share). ``importers.label_csv`` and ``report`` format
them; the scoring work list is ``predictions.unscored_images``."""

from __future__ import annotations

from itertools import starmap

from xtalviewer.store.db import Database
from xtalviewer.store.rows import AnnotatorSummary, ExportRow, ReportDrop
from xtalviewer.store.well_condition import CONDITION_COLUMNS, condition_join


def export_rows_raw(db: Database, model_id: int | None, plate: str | None = None) -> list[ExportRow]:
    """One row per image with its plate, inspection, current label and who gave it, the model's top 3
    and its imaging mode, in plate / inspection / well / drop order (a drop's visible image first)."""
    params: dict = {"model": model_id}
    where = ""
    if plate is not None:
        where = "WHERE pl.barcode = :plate"
        params["plate"] = plate
    return list(starmap(ExportRow, db.roots.local_rows(db.execute(
        f"""
        SELECT pl.barcode AS plate, n.key AS inspection, n.imaged_at, i.well, i.drop_no AS "drop",
               i.path AS image_path, i.label, a.annotator, a.created_at AS labelled_at,
               p.top1 AS pred1, p.p1, p.top2 AS pred2, p.p2, p.top3 AS pred3, p.p3, p.crystal_prob, p.id AS prediction_id,
               i.mode, {CONDITION_COLUMNS}
        FROM image i
        JOIN plate pl ON pl.id = i.plate_id
        JOIN inspection n ON n.id = i.inspection_id
        LEFT JOIN annotation a ON a.id = i.annotation_id
        LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
        {condition_join("i")}
        {where}
        ORDER BY pl.barcode, n.imaged_at, n.id, i.row, i.col, i.drop_no, i.mode != 'visible', i.mode
        """,
        params,
    ), 5)))


def report_drops(db: Database, model_id: int | None, inspection_id: int) -> list[ReportDrop]:
    """The visible drops of one inspection in plate order, with the model's answer and who gave
    each current label, when and how (a plate report's table and map)."""
    return list(starmap(ReportDrop, db.roots.local_rows(db.execute(
        f"""
        SELECT i.id, i.well, i.row, i.col, i.drop_no, i.path, i.size, i.mtime, i.label, i.load_error,
               p.id, p.top1, p.p1, p.top2, p.p2, p.top3, p.p3, p.crystal_prob, p.crystal_top3,
               a.annotator, a.created_at, a.source, {CONDITION_COLUMNS}
        FROM image i
        LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
        LEFT JOIN annotation a ON a.id = i.annotation_id
        {condition_join("i")}
        WHERE i.inspection_id = :inspection AND i.mode = 'visible'
        ORDER BY i.plate_id, i.inspection_id, i.row, i.col, i.drop_no
        """,
        {"model": model_id, "inspection": inspection_id},
    ), 5)))


def annotator_summary(db: Database, inspection_id: int) -> list[AnnotatorSummary]:
    """Per annotator: labels given on this inspection, how many are still current, the latest one."""
    return list(starmap(AnnotatorSummary, db.execute(
        "SELECT a.annotator, COUNT(*) AS given, SUM(CAST(i.annotation_id = a.id AS INTEGER)) AS current, "
        "MAX(a.created_at) AS last_at FROM annotation a JOIN image i ON i.id = a.image_id "
        "WHERE i.inspection_id = ? AND a.label IS NOT NULL GROUP BY a.annotator ORDER BY given DESC, a.annotator",
        (inspection_id,),
    )))
