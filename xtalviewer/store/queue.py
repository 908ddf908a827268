"""The review queue: the drops a reviewer walks, in one of ``QUEUE_ORDERS``, filtered, each row
carrying what the grid shows (``rows.QueueRow``).

Orders that rank by the model walk the prediction indexes, so the global top 100 of half a
million images comes back without sorting them all.
"""

from __future__ import annotations

from itertools import starmap

from xtalviewer.store.db import Database
from xtalviewer.store.hits import hit_sql, threshold_param
from xtalviewer.store.rows import QueueRow
from xtalviewer.store.schema import VISIBLE

QUEUE_ORDERS = ("plate", "crystal", "margin", "entropy", "disagreement", "best", "disputed")

# ``rows.QueueRow``'s fields in order; the orders 'best' and 'disputed' add best_prob
_COLUMNS = (
    "i.id, i.plate_id, i.inspection_id, i.well, i.row, i.col, i.drop_no, i.mode, i.path, i.label, i.load_error, "
    "p.id AS prediction_id, p.top1, p.p1, p.top2, p.p2, p.top3, p.p3, p.crystal_prob, p.margin, "
    "p.entropy, p.crystal_top3"
)
# the drop's highest crystal probability (this model) over every inspection of its plate, same mode
BEST_PROB = ("(SELECT MAX(bp.crystal_prob) FROM image bi JOIN prediction bp ON bp.image_id = bi.id "
             "AND bp.model_id = :model WHERE bi.plate_id = i.plate_id AND bi.row = i.row AND bi.col = i.col "
             "AND bi.drop_no = i.drop_no AND bi.mode = i.mode)")
# 1 when the image's newest second-look event sets the flag
FLAGGED = "(SELECT f.flagged FROM flag f WHERE f.image_id = i.id ORDER BY f.id DESC LIMIT 1)"
# the reviewers' latest labels of the image differ (each reviewer's newest annotation counts)
REVIEWERS_DIFFER = ("((SELECT COUNT(DISTINCT a.label) FROM annotation a WHERE a.id IN "
                    "(SELECT MAX(b.id) FROM annotation b WHERE b.image_id = i.id GROUP BY b.annotator)) > 1)")
_PLATE_ORDER = "i.plate_id, i.inspection_id, i.row, i.col, i.drop_no"


def review_queue(
    db: Database,
    model_id: int | None,
    order: str = "plate",
    *,
    plate_id: int | None = None,
    inspection_id: int | None = None,
    unlabelled_only: bool = False,
    label: str | None = None,
    predicted: str | None = None,
    crystal_top3: bool | None = None,
    hit: bool | None = None,
    limit: int | None = None,
    mode: str = VISIBLE,
) -> list[QueueRow]:
    """Drops to review, in one of QUEUE_ORDERS, filtered.

    ``hit`` keeps only the model's hits (``hits.hit_sql`` at its operating point), or only the drops
    that are not; ``crystal_top3`` does the same for the top-3 flag. ``mode``: the imaging mode
    whose images are the drops (the visible one; labels go there).

    ``best`` ranks drops by their highest crystal probability over every inspection of their plate;
    ``disputed`` lists only the drops flagged for a second look (newest flag first) and those whose
    reviewers' latest labels differ, in plate order.

    Images the model has not scored yet come after the scored ones (none, for the disagreement
    order, which needs a prediction).
    """
    if order not in QUEUE_ORDERS:
        raise ValueError(f"unknown review order {order!r}; choose from {', '.join(QUEUE_ORDERS)}")
    where, params = ["i.mode = :mode"], {"model": model_id, "mode": mode}
    if plate_id is not None:
        where.append("i.plate_id = :plate")
        params["plate"] = plate_id
    if inspection_id is not None:
        where.append("i.inspection_id = :inspection")
        params["inspection"] = inspection_id
    if unlabelled_only:
        where.append("i.label IS NULL")
    if label is not None:
        where.append("i.label = :label")
        params["label"] = label
    pred_where = list(where)
    if predicted is not None:
        pred_where.append("p.top1 = :predicted")
        params["predicted"] = predicted
    if crystal_top3 is not None:
        pred_where.append("p.crystal_top3 = :ctop3")
        params["ctop3"] = int(crystal_top3)
    if hit is not None:
        pred_where.append(hit_sql() if hit else f"NOT {hit_sql()}")
        params.update(threshold_param(db, model_id))
    if order == "disagreement":
        pred_where.append("i.label IS NOT NULL AND i.label != p.top1")
    needs_prediction = predicted is not None or crystal_top3 is not None or hit is not None or order == "disagreement"
    lim = f" LIMIT {int(limit)}" if limit is not None else ""

    def fetch(sql: str) -> list[QueueRow]:
        return list(starmap(QueueRow, db.roots.local_rows(db.execute(sql, params), 8)))

    if order in ("best", "disputed"):
        if needs_prediction and model_id is None:
            return []
        join = "JOIN" if needs_prediction else "LEFT JOIN"
        if order == "disputed":
            pred_where.append(f"({FLAGGED} = 1 OR {REVIEWERS_DIFFER})")
            sort = f"{FLAGGED} = 1 DESC, (SELECT MAX(f.id) FROM flag f WHERE f.image_id = i.id) DESC, {_PLATE_ORDER}"
        else:
            sort = f"best_prob DESC, {_PLATE_ORDER}"  # NULLs (never scored) last, as DESC puts them
        return fetch(f"SELECT {_COLUMNS}, {BEST_PROB} AS best_prob FROM image i {join} prediction p "
                     f"ON p.image_id = i.id AND p.model_id = :model WHERE {' AND '.join(pred_where)} "
                     f"ORDER BY {sort}{lim}")

    if order == "plate" or model_id is None:
        if needs_prediction and model_id is None:
            return []
        join = "JOIN" if needs_prediction else "LEFT JOIN"
        return fetch(f"SELECT {_COLUMNS} FROM image i {join} prediction p ON p.image_id = i.id AND p.model_id = :model "
                     f"WHERE {' AND '.join(pred_where)} ORDER BY {_PLATE_ORDER}{lim}")

    sort = {
        "crystal": "p.crystal_prob DESC",
        "margin": "p.margin ASC",
        "entropy": "p.entropy DESC",
        "disagreement": "p.crystal_prob DESC",
    }[order]
    # across the whole store, walk the prediction index in order (CROSS JOIN fixes the loop
    # order); within one plate, start from the plate's images and sort the few thousand rows
    join = "JOIN" if plate_id is not None or inspection_id is not None else "CROSS JOIN"
    rows = fetch(f"SELECT {_COLUMNS} FROM prediction p {join} image i ON i.id = p.image_id "
                 f"WHERE p.model_id = :model AND {' AND '.join(pred_where)} ORDER BY {sort}, p.image_id{lim}")
    if needs_prediction or (limit is not None and len(rows) >= limit):
        return rows
    rest = None if limit is None else limit - len(rows)
    return rows + fetch(
        f"SELECT {_COLUMNS} FROM image i LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model "
        f"WHERE p.id IS NULL AND {' AND '.join(where)} ORDER BY {_PLATE_ORDER}"
        + (f" LIMIT {rest}" if rest is not None else ""))
