"""Hits: THE rule that makes a drop a hit, as one SQL fragment every query uses (``hit_sql``), and
what is built on it: a model's hit counts, a drop's best over its inspections and its first hit,
the plate browser's ever-hit counts, and the cross-plate hit list.

A drop is a hit when its crystal probability reaches the model's operating-point threshold
(``crystal_call.is_hit`` is the same rule in Python). Drops are visible images (labels and the
visible model live there).
"""

from __future__ import annotations

from itertools import starmap

from xtalviewer.store.db import Database
from xtalviewer.store.models import operating_point
from xtalviewer.store.rows import BestOverTime, EverHitCounts, Hit, HitCounts
from xtalviewer.store.well_condition import CONDITION_COLUMNS, condition_join


def hit_sql(prob: str = "p.crystal_prob") -> str:
    """The hit rule in SQL: ``prob`` (a crystal probability) at or above the model's threshold,
    bound as ``:threshold`` (``threshold_param``). NULL when ``prob`` is NULL (not scored)."""
    return f"({prob} >= :threshold)"


def threshold_param(db: Database, model_id: int | None) -> dict[str, float]:
    """The ``:threshold`` of ``hit_sql`` for this model (its operating point's)."""
    return {"threshold": operating_point(db, model_id).threshold}


def hit_counts(db: Database, model_id: int, plate_id: int | None = None) -> HitCounts:
    """The model's crystal calls: scored drops, hits at its operating point, drops with a crystal
    class in the top 3 (over one plate, or all)."""
    params = {"model": model_id, "plate": plate_id, **threshold_param(db, model_id)}
    scope = "AND i.plate_id = :plate" if plate_id is not None else ""
    scored, hits, top3 = db.execute(
        f"SELECT COUNT(*), SUM(CAST({hit_sql()} AS INTEGER)), SUM(p.crystal_top3) FROM prediction p JOIN image i "
        f"ON i.id = p.image_id WHERE p.model_id = :model {scope}", params).fetchone()
    return HitCounts(scored, hits or 0, top3 or 0)


# -- a drop over its inspections ------------------------------------------------------------------------------

# one drop's images across the plate's inspections
_SAME_DROP = "o.plate_id = cur.plate_id AND o.row = cur.row AND o.col = cur.col AND o.drop_no = cur.drop_no " \
             "AND o.mode = cur.mode"
# sortable "when|inspection id" of a hit, so MIN() finds the first one
# (the id zero-padded to 10 digits, written so that SQLite and PostgreSQL both run it)
_HIT_MARK = (f"CASE WHEN {hit_sql()} THEN COALESCE(n.imaged_at, '') || '|' "
             "|| substr(CAST(10000000000 + n.id AS TEXT), 2) END")
# the inspection id of a mark (its last 10 characters)
_MARKED_INSPECTION = "CAST(substr(c.first_hit, length(c.first_hit) - 9) AS INTEGER)"


def _first_hit(mark: str | None) -> tuple[int | None, str | None]:
    if not mark:
        return None, None
    when, _, inspection_id = mark.rpartition("|")
    return int(inspection_id), when or None


def best_over_time(db: Database, model_id: int | None, inspection_id: int) -> dict[int, BestOverTime]:
    """image id (each scored drop of the inspection) -> its drop's best and first hit, over every
    inspection of the plate, this model's predictions, hits at its operating point."""
    if model_id is None:
        return {}
    rows = db.execute(
        f"""SELECT cur.id, MAX(p.crystal_prob), MIN({_HIT_MARK})
            FROM image cur
            JOIN image o ON {_SAME_DROP}
            JOIN inspection n ON n.id = o.inspection_id
            JOIN prediction p ON p.image_id = o.id AND p.model_id = :model
            WHERE cur.inspection_id = :inspection
            GROUP BY cur.id""",
        {"model": model_id, "inspection": inspection_id, **threshold_param(db, model_id)},
    ).fetchall()
    return {image_id: BestOverTime(best, *_first_hit(mark)) for image_id, best, mark in rows}


def ever_hit_counts(db: Database, model_id: int | None) -> EverHitCounts:
    """For the plate browser: per plate, the drops that were a hit at any inspection; per
    inspection, the drops first a hit there."""
    out = EverHitCounts(plates={}, first_hits={})
    if model_id is None:
        return out
    rows = db.execute(
        f"""SELECT plate_id, inspection_id, COUNT(*) FROM (
               SELECT i.plate_id, i.inspection_id, ROW_NUMBER() OVER (
                   PARTITION BY i.plate_id, i.row, i.col, i.drop_no ORDER BY n.imaged_at, n.id) AS k
               FROM prediction p CROSS JOIN image i ON i.id = p.image_id
               JOIN inspection n ON n.id = i.inspection_id
               WHERE p.model_id = :model AND {hit_sql()} AND i.mode = 'visible') AS ranked
           WHERE k = 1 GROUP BY inspection_id, plate_id""",
        {"model": model_id, **threshold_param(db, model_id)}).fetchall()
    for plate_id, inspection_id, n in rows:
        out.first_hits[inspection_id] = n
        out.plates[plate_id] = out.plates.get(plate_id, 0) + n
    return out


# -- the cross-plate hit list -------------------------------------------------------------------------------


def hit_list(db: Database, model_id: int, *, plate: str | None = None, since: str | None = None,
             new_only: bool = False, scored_after: str | None = None) -> list[Hit]:
    """Drops across all plates that are, or ever were, a hit of this model, best first.

    One row per drop, at its latest inspection (imaged on or after ``since``, an ISO date, when
    given): the drop as it is now. Listed when its best crystal probability over all its
    inspections is a hit; ``hit`` says whether it is a hit at that latest inspection. Ranked by that
    inspection's crystal probability, then by the best. ``new_only``: only drops whose first hit is
    their latest inspection ("appeared since the last look"). ``scored_after`` (a UTC time as the
    store writes it, ``db.now_iso``): only drops whose prediction at that inspection was stored
    later (with ``new_only``: the hits that appeared since a reviewer last opened the hit list).
    """
    params: dict = {"model": model_id, **threshold_param(db, model_id)}
    scope = ""
    if plate is not None:
        scope = "AND pl.barcode = :plate"
        params["plate"] = plate
    keep = ["c.recent = 1", hit_sql("c.best")]
    if since is not None:
        keep.append("c.imaged_at >= :since")
        params["since"] = since
    if new_only:
        keep.append(f"{hit_sql('c.crystal_prob')} AND {_MARKED_INSPECTION} = c.inspection_id")
    if scored_after is not None:
        keep.append("c.scored_at > :scored_after")
        params["scored_after"] = scored_after
    # the wells' conditions are joined to the listed drops only, not to every image the window runs over
    rows = db.execute(
        f"""WITH c AS (
                SELECT i.id AS image_id, i.inspection_id, pl.barcode AS plate, n.key AS inspection, n.imaged_at,
                       i.well, i.row, i.col, i.drop_no AS "drop", i.path AS image_path, i.label, p.crystal_prob,
                       p.crystal_top3, p.created_at AS scored_at,
                       ROW_NUMBER() OVER (PARTITION BY i.plate_id, i.row, i.col, i.drop_no
                                          ORDER BY n.imaged_at DESC, n.id DESC) AS recent,
                       MAX(p.crystal_prob) OVER same_drop AS best,
                       MIN({_HIT_MARK}) OVER same_drop AS first_hit, i.plate_id
                FROM image i
                JOIN inspection n ON n.id = i.inspection_id
                JOIN plate pl ON pl.id = i.plate_id
                LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
                WHERE i.mode = 'visible' {scope}
                WINDOW same_drop AS (PARTITION BY i.plate_id, i.row, i.col, i.drop_no))
            SELECT c.image_id, c.inspection_id, c.plate, c.inspection, c.imaged_at, c.well, c."drop", c.image_path,
                   c.label, c.crystal_prob, c.crystal_top3, CASE WHEN {hit_sql('c.crystal_prob')} THEN 1 ELSE 0 END, c.best,
                   (SELECT key FROM inspection WHERE id = {_MARKED_INSPECTION}), c.first_hit,
                   {CONDITION_COLUMNS}
            FROM c {condition_join("c")}
            WHERE {' AND '.join(keep)}
            ORDER BY c.crystal_prob IS NULL, c.crystal_prob DESC, c.best DESC, c.plate, c.row, c.col, c."drop"
        """, params)
    return list(starmap(_hit, db.roots.local_rows(rows, 7)))


def _hit(image_id: int, inspection_id: int, plate: str, inspection: str, imaged_at: str | None, well: str,
         drop: int, image_path: str, label: str | None, crystal_prob: float | None, crystal_top3: int | None,
         hit: int, best: float, first_hit_inspection: str | None, first_hit: str | None, condition: str | None,
         ph: float | None) -> Hit:
    return Hit(image_id, inspection_id, plate, inspection, imaged_at, well, drop, image_path, label, crystal_prob,
               bool(crystal_top3) if crystal_top3 is not None else None, bool(hit), best, first_hit_inspection,
               _first_hit(first_hit)[1], condition, ph)
