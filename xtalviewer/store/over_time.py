"""A drop over its time course: its highest crystal probability over every inspection of its plate
and the inspection where it was first a hit, and the cross-plate hit list built on them. Plain
functions whose first argument is the ``Store``, bound as ``Store`` methods of the same name.

Drops are visible images (labels and the visible model live there); hits follow the model's
operating point, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xtalviewer.store.store import Store

# one drop's images across the plate's inspections
_SAME_DROP = "o.plate_id = cur.plate_id AND o.row = cur.row AND o.col = cur.col AND o.drop_no = cur.drop_no " \
             "AND o.mode = cur.mode"
# sortable "when|inspection id" of a hit, so MIN() finds the first one
_HIT_MARK = "CASE WHEN p.crystal_prob >= :threshold THEN printf('%s|%010d', COALESCE(n.imaged_at, ''), n.id) END"


@dataclass(frozen=True)
class BestOverTime:
    """The drop's best crystal probability over its inspections and its first hit (None: never a hit)."""

    best: float
    first_hit_inspection: int | None
    first_hit_at: str | None


def _first_hit(mark: str | None) -> tuple[int | None, str | None]:
    if not mark:
        return None, None
    when, _, inspection_id = mark.rpartition("|")
    return int(inspection_id), when or None


def best_over_time(store: Store, model_id: int | None, inspection_id: int) -> dict[int, BestOverTime]:
    """image id (each scored drop of the inspection) -> its drop's best and first hit, over every
    inspection of the plate, this model's predictions, hits at its operating point."""
    if model_id is None:
        return {}
    rows = store.conn.execute(
        f"""SELECT cur.id, MAX(p.crystal_prob), MIN({_HIT_MARK})
            FROM image cur
            JOIN image o ON {_SAME_DROP}
            JOIN inspection n ON n.id = o.inspection_id
            JOIN prediction p ON p.image_id = o.id AND p.model_id = :model
            WHERE cur.inspection_id = :inspection
            GROUP BY cur.id""",
        {"model": model_id, "inspection": inspection_id, "threshold": store.operating_point(model_id).threshold},
    ).fetchall()
    return {image_id: BestOverTime(best, *_first_hit(mark)) for image_id, best, mark in rows}


def ever_hit_counts(store: Store, model_id: int | None) -> dict[str, dict[int, int]]:
    """For the plate browser: per plate, the drops that were a hit at any inspection ('plates');
    per inspection, the drops first a hit there ('first_hits')."""
    out: dict[str, dict[int, int]] = {"plates": {}, "first_hits": {}}
    if model_id is None:
        return out
    rows = store.conn.execute(
        """SELECT plate_id, inspection_id, COUNT(*) FROM (
               SELECT i.plate_id, i.inspection_id, ROW_NUMBER() OVER (
                   PARTITION BY i.plate_id, i.row, i.col, i.drop_no ORDER BY n.imaged_at, n.id) AS k
               FROM prediction p CROSS JOIN image i ON i.id = p.image_id
               JOIN inspection n ON n.id = i.inspection_id
               WHERE p.model_id = :model AND p.crystal_prob >= :threshold AND i.mode = 'visible')
           WHERE k = 1 GROUP BY inspection_id""",
        {"model": model_id, "threshold": store.operating_point(model_id).threshold}).fetchall()
    for plate_id, inspection_id, n in rows:
        out["first_hits"][inspection_id] = n
        out["plates"][plate_id] = out["plates"].get(plate_id, 0) + n
    return out


def hit_list(store: Store, model_id: int, *, plate: str | None = None, since: str | None = None,
             new_only: bool = False) -> list[dict]:
    """Drops across all plates that are, or ever were, a hit of this model, best first.

    One row per drop, at its latest inspection (imaged on or after ``since``, an ISO date, when
    given): the drop as it is now. Listed when its best crystal probability over all its
    inspections reaches the model's threshold; ``hit`` says whether it is a hit at that latest
    inspection. Ranked by that inspection's crystal probability, then by the best. ``new_only``:
    only drops whose first hit is their latest inspection ("appeared since the last look").
    Keys: plate, inspection, imaged_at, well, drop, image_path, crystal_prob, label, hit,
    crystal_top3, best_crystal_prob, first_hit_inspection (its key), first_hit_at (when it was
    imaged), image_id, inspection_id.
    """
    params: dict = {"model": model_id, "threshold": store.operating_point(model_id).threshold}
    scope = ""
    if plate is not None:
        scope = "AND pl.barcode = :plate"
        params["plate"] = plate
    keep = ["c.recent = 1", "c.best >= :threshold"]
    if since is not None:
        keep.append("c.imaged_at >= :since")
        params["since"] = since
    if new_only:
        keep.append("c.crystal_prob >= :threshold AND CAST(substr(c.first_hit, -10) AS INTEGER) = c.inspection_id")
    rows = store.query(
        f"""WITH c AS (
                SELECT i.id AS image_id, i.inspection_id, pl.barcode AS plate, n.key AS inspection, n.imaged_at,
                       i.well, i.row, i.col, i.drop_no AS "drop", i.path AS image_path, i.label, p.crystal_prob,
                       p.crystal_top3,
                       ROW_NUMBER() OVER (PARTITION BY i.plate_id, i.row, i.col, i.drop_no
                                          ORDER BY n.imaged_at DESC, n.id DESC) AS recent,
                       MAX(p.crystal_prob) OVER same_drop AS best,
                       MIN({_HIT_MARK}) OVER same_drop AS first_hit
                FROM image i
                JOIN inspection n ON n.id = i.inspection_id
                JOIN plate pl ON pl.id = i.plate_id
                LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
                WHERE i.mode = 'visible' {scope}
                WINDOW same_drop AS (PARTITION BY i.plate_id, i.row, i.col, i.drop_no))
            SELECT c.*, (SELECT key FROM inspection WHERE id = CAST(substr(c.first_hit, -10) AS INTEGER))
                   AS first_hit_inspection
            FROM c WHERE {' AND '.join(keep)}
            ORDER BY c.crystal_prob IS NULL, c.crystal_prob DESC, c.best DESC, c.plate, c.row, c.col, c."drop"
        """, params)
    for r in rows:
        r["hit"] = r["crystal_prob"] is not None and r["crystal_prob"] >= params["threshold"]
        r["best_crystal_prob"] = r.pop("best")
        r["first_hit_at"] = _first_hit(r["first_hit"])[1]
        r["crystal_top3"] = bool(r["crystal_top3"]) if r["crystal_top3"] is not None else None
        for key in ("recent", "first_hit", "row", "col"):
            r.pop(key)
    return rows
