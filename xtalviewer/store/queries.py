"""Read-only queries of the store: plates, inspections and their imaging modes, images, models and
predictions, inherited labels, time courses and the review queue. Plain functions whose first
argument is the ``Store``; ``Store`` exposes each one as a method of the same name (see
``store_queries``), so callers write ``store.review_queue(...)``. Counting queries are in
``count_queries``, best over time and the hit list in ``over_time``, second looks in ``second_look``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.store.schema import MODES, VISIBLE

if TYPE_CHECKING:
    from xtalviewer.store.store import Store

QUEUE_ORDERS = ("plate", "crystal", "margin", "entropy", "disagreement", "best", "disputed")

_LEGACY_HWI_KEY = re.compile(r"^(\d{12})-(jpg|uvt|shg)$", re.IGNORECASE)  # HWI keys before schema 3


# -- plates, inspections, images ----------------------------------------------------------------------


def plate_by_barcode(store: Store, barcode: str) -> dict | None:
    rows = store.query("SELECT * FROM plate WHERE barcode = ?", (barcode,))
    return rows[0] if rows else None


def plates(store: Store) -> list[dict]:
    return store.query("SELECT * FROM plate ORDER BY barcode")


def barcodes(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT barcode FROM plate ORDER BY barcode")]


def inspections(store: Store, plate_id: int) -> list[dict]:
    return store.query("SELECT * FROM inspection WHERE plate_id = ? ORDER BY imaged_at, id", (plate_id,))


def inspection(store: Store, inspection_id: int) -> dict | None:
    """One inspection with its plate's barcode and type (rows, cols, drops)."""
    rows = store.query(
        "SELECT n.*, p.barcode, p.rows, p.cols, p.drops FROM inspection n JOIN plate p ON p.id = n.plate_id "
        "WHERE n.id = ?", (inspection_id,))
    return rows[0] if rows else None


def inspection_choices(store: Store) -> list[dict]:
    """Every inspection with its plate, oldest first within a plate (pickers list these)."""
    return store.query(
        "SELECT n.id, n.plate_id, pl.barcode, n.key, n.imaged_at, n.imager, n.profile FROM inspection n "
        "JOIN plate pl ON pl.id = n.plate_id ORDER BY pl.barcode, n.imaged_at, n.id")


def known_files(store: Store, paths: Iterable[str]) -> dict[str, tuple[int | None, float | None, str | None]]:
    """(size, mtime, load_error) held for each of these paths, so an import can skip unchanged files."""
    out: dict[str, tuple[int | None, float | None, str | None]] = {}
    paths = list(paths)
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for path, size, mtime, error in store.conn.execute(
            f"SELECT path, size, mtime, load_error FROM image WHERE path IN ({marks})", chunk
        ):
            out[path] = (size, mtime, error)
    return out

def slot_paths(store: Store, barcode: str, inspection_key: str) -> dict[tuple[str, int, str], str]:
    """(well, drop, mode) -> stored path for one inspection of a plate (empty when it is new)."""
    rows = store.conn.execute(
        "SELECT i.well, i.drop_no, i.mode, i.path FROM image i JOIN inspection n ON n.id = i.inspection_id "
        "JOIN plate p ON p.id = i.plate_id WHERE p.barcode = ? AND n.key = ?", (barcode, inspection_key))
    return {(well, drop, mode): path for well, drop, mode, path in rows}


def image(store: Store, image_id: int) -> dict | None:
    rows = store.query(
        "SELECT i.*, p.barcode, n.imaged_at, n.key AS inspection_key, n.imager FROM image i "
        "JOIN plate p ON p.id = i.plate_id JOIN inspection n ON n.id = i.inspection_id WHERE i.id = ?",
        (image_id,),
    )
    return rows[0] if rows else None


def inspection_of_image(store: Store, image_id: int) -> int | None:
    row = store.conn.execute("SELECT inspection_id FROM image WHERE id = ?", (image_id,)).fetchone()
    return row[0] if row else None


def same_drop(store: Store, inspection_id: int, plate_id: int, well: str, drop_no: int,
              mode: str = VISIBLE) -> int | None:
    """The image of this drop (plate, well, drop) in another inspection, if it was imaged there."""
    row = store.conn.execute(
        "SELECT id FROM image WHERE inspection_id = ? AND plate_id = ? AND well = ? AND drop_no = ? AND mode = ?",
        (inspection_id, plate_id, well, drop_no, mode)).fetchone()
    return row[0] if row else None


def inspection_modes(store: Store, inspection_id: int) -> list[str]:
    """The imaging modes an inspection holds, visible first (schema.MODES order, then others by name)."""
    found = {r[0] for r in store.conn.execute("SELECT DISTINCT mode FROM image WHERE inspection_id = ?",
                                              (inspection_id,))}
    return sorted(found, key=lambda m: (MODES.index(m) if m in MODES else len(MODES), m))


def drop_modes(store: Store, inspection_id: int, well: str, drop_no: int) -> dict[str, dict]:
    """mode -> image row of one drop at one inspection (every mode it was imaged in)."""
    rows = store.query("SELECT * FROM image WHERE inspection_id = ? AND well = ? AND drop_no = ?",
                       (inspection_id, well, drop_no))
    return {r["mode"]: r for r in rows}


def image_id_by_path(store: Store, path: str) -> int | None:
    row = store.conn.execute("SELECT id FROM image WHERE path = ?", (path,)).fetchone()
    return row[0] if row else None


def image_id_by_position(store: Store, barcode: str, inspection_key: str, well: str, drop_no: int) -> int | None:
    """The drop's visible image (another mode only when the drop has no visible one). A key written
    before imaging modes, an HWI '<stamp>-jpg|uvt|shg', names that mode of the inspection '<stamp>'."""
    mode = None
    legacy = _LEGACY_HWI_KEY.match(inspection_key)
    if legacy:
        inspection_key, mode = legacy.group(1), {"jpg": VISIBLE, "uvt": "uv", "shg": "shg"}[legacy.group(2).lower()]
    row = store.conn.execute(
        "SELECT i.id FROM image i JOIN inspection n ON n.id = i.inspection_id JOIN plate p ON p.id = i.plate_id "
        "WHERE p.barcode = ? AND n.key = ? AND i.well = ? AND i.drop_no = ? AND (? IS NULL OR i.mode = ?) "
        "ORDER BY i.mode != 'visible', i.mode LIMIT 1",
        (barcode, inspection_key, well, drop_no, mode, mode),
    ).fetchone()
    return row[0] if row else None


def current_labels(store: Store, image_ids: Sequence[int]) -> dict[int, str | None]:
    """image id -> current label (None when unlabelled) for images that exist."""
    out: dict[int, str | None] = {}
    ids = list(image_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        out.update(store.conn.execute(f"SELECT id, label FROM image WHERE id IN ({marks})", chunk).fetchall())
    return out


def image_with_plate(store: Store, path: str) -> dict | None:
    """The image stored at ``path`` with its plate's barcode, or None."""
    rows = store.query("SELECT i.id, i.path, i.mtime, p.barcode, i.well, i.drop_no FROM image i "
                       "JOIN plate p ON p.id = i.plate_id WHERE i.path = ?", (path,))
    return rows[0] if rows else None


def image_counts(store: Store, plate_id: int | None = None) -> tuple[int, int]:
    """(images, images marked unreadable), over one plate or all."""
    scope = (" WHERE plate_id = ?", (plate_id,)) if plate_id is not None else ("", ())
    total, marked = store.conn.execute(f"SELECT COUNT(*), SUM(load_error IS NOT NULL) FROM image{scope[0]}",
                                       scope[1]).fetchone()
    return total, marked or 0


def labelled_images(store: Store, sources: Sequence[str]) -> list[dict]:
    """Readable images whose current label came from one of ``sources``: the training set."""
    marks = ",".join("?" * len(sources))
    return store.query(
        f"""SELECT i.id, i.path, i.mtime, i.label, p.barcode, i.well, i.drop_no
            FROM image i JOIN annotation a ON a.id = i.annotation_id JOIN plate p ON p.id = i.plate_id
            WHERE i.label IS NOT NULL AND i.load_error IS NULL AND a.source IN ({marks}) AND i.mode = 'visible'
            ORDER BY i.id""", list(sources))


def count_unreadable_labelled(store: Store) -> int:
    """Labelled images marked unreadable: training leaves them out and says how many."""
    return store.conn.execute(
        "SELECT COUNT(*) FROM image WHERE label IS NOT NULL AND load_error IS NOT NULL").fetchone()[0]


def current_label(store: Store, image_id: int) -> str | None:
    row = store.conn.execute("SELECT label FROM image WHERE id = ?", (image_id,)).fetchone()
    return row[0] if row else None


def drop_images(store: Store, plate_id: int, well: str, drop_no: int, mode: str = VISIBLE) -> list[dict]:
    """One drop across every inspection of its plate in one imaging mode, oldest first: the drop's
    time course."""
    return store.query(
        "SELECT i.*, n.imaged_at, n.key AS inspection_key, n.profile FROM image i "
        "JOIN inspection n ON n.id = i.inspection_id "
        "WHERE i.plate_id = ? AND i.well = ? AND i.drop_no = ? AND i.mode = ? ORDER BY n.imaged_at, n.id",
        (plate_id, well, drop_no, mode),
    )


def drop_course(store: Store, plate_id: int, well: str, drop_no: int, mode: str = VISIBLE) -> list[dict]:
    """The time course with what each inspection shows: ``shown_label`` is its own label, or the
    label inherited from an earlier inspection (``inherited`` True), by the rule of ``inherited_labels``.
    Another ``mode`` follows the drop in that mode (labels are given on the visible images)."""
    rows = drop_images(store, plate_id, well, drop_no, mode)
    carried = inherited_labels(store, image_ids=[r["id"] for r in rows if not r["label"]])
    for r in rows:
        own = r["label"]
        r["shown_label"] = own or (carried.get(r["id"], (None,))[0])
        r["inherited"] = not own and r["shown_label"] is not None
    return rows


def history(store: Store, image_id: int) -> list[dict]:
    """Every annotation of an image, newest first, with what the model showed at the time."""
    rows = store.query("SELECT * FROM annotation WHERE image_id = ? ORDER BY id DESC", (image_id,))
    for r in rows:
        r["shown"] = json.loads(r["shown"]) if r["shown"] else None
    return rows


# -- models and predictions -------------------------------------------------------------------------------


def _decode_model(row: dict) -> dict:
    for key in ("classes", "normalization", "metrics"):
        row[key] = json.loads(row[key]) if row.get(key) else None
    row["active"] = bool(row["active"])
    op = row.get("operating_point")
    row["operating_point"] = OperatingPoint.from_dict(json.loads(op) if op else None)
    return row


def operating_point(store: Store, model_id: int | None) -> OperatingPoint:
    """The model's crystal-call rule; the uncalibrated 50% rule for older or unknown models."""
    if model_id is None:
        return OperatingPoint()
    row = store.conn.execute("SELECT operating_point FROM model WHERE id = ?", (model_id,)).fetchone()
    return OperatingPoint.from_dict(json.loads(row[0]) if row and row[0] else None)


def models(store: Store) -> list[dict]:
    return [_decode_model(r) for r in store.query("SELECT * FROM model ORDER BY id")]


def model(store: Store, model_id: int) -> dict | None:
    rows = store.query("SELECT * FROM model WHERE id = ?", (model_id,))
    return _decode_model(rows[0]) if rows else None


def active_model(store: Store) -> dict | None:
    rows = store.query("SELECT * FROM model WHERE active = 1")
    return _decode_model(rows[0]) if rows else None


def prediction(store: Store, image_id: int, model_id: int) -> dict | None:
    rows = store.query("SELECT * FROM prediction WHERE image_id = ? AND model_id = ?", (image_id, model_id))
    if not rows:
        return None
    row = rows[0]
    row["probs"] = np.frombuffer(row["probs"], dtype="<f4").tolist()
    return row


# -- inherited labels -----------------------------------------------------------------------------------


def inherited_labels(store: Store, inspection_id: int | None = None, *,
                     image_ids: Sequence[int] | None = None) -> dict[int, tuple[str, str]]:
    """Unlabelled drops whose same drop was labelled at an earlier inspection of the plate:
    image id -> (that label, when it was imaged); the latest earlier label wins. The one definition
    of an inherited label: the grid, the time course and the plots all read it from here.

    Give the drops of one inspection (``inspection_id``) or any images (``image_ids``)."""
    if inspection_id is not None:
        where, params = "cur.inspection_id = ?", [inspection_id]
    elif image_ids:
        where, params = f"cur.id IN ({','.join('?' * len(image_ids))})", list(image_ids)
    else:
        return {}
    rows = store.conn.execute(
        f"""
        SELECT cur.id, prev.label, pn.imaged_at
        FROM image cur
        JOIN inspection cn ON cn.id = cur.inspection_id
        JOIN image prev ON prev.plate_id = cur.plate_id AND prev.row = cur.row AND prev.col = cur.col
            AND prev.drop_no = cur.drop_no AND prev.mode = cur.mode
        JOIN inspection pn ON pn.id = prev.inspection_id
        WHERE {where} AND cur.label IS NULL AND prev.label IS NOT NULL
          AND (pn.imaged_at < cn.imaged_at OR (pn.imaged_at = cn.imaged_at AND pn.id < cn.id))
        ORDER BY pn.imaged_at, pn.id
        """,
        params,
    ).fetchall()
    return {image_id: (label, imaged_at) for image_id, label, imaged_at in rows}  # latest earlier one wins


# -- review queue -----------------------------------------------------------------------------------------

# the drop's highest crystal probability (this model) over every inspection of its plate, same mode
BEST_PROB = ("(SELECT MAX(bp.crystal_prob) FROM image bi JOIN prediction bp ON bp.image_id = bi.id "
             "AND bp.model_id = :model WHERE bi.plate_id = i.plate_id AND bi.row = i.row AND bi.col = i.col "
             "AND bi.drop_no = i.drop_no AND bi.mode = i.mode)")
# 1 when the image's newest second-look event sets the flag
FLAGGED = "(SELECT f.flagged FROM flag f WHERE f.image_id = i.id ORDER BY f.id DESC LIMIT 1)"
# the reviewers' latest labels of the image differ (each reviewer's newest annotation counts)
REVIEWERS_DIFFER = ("((SELECT COUNT(DISTINCT a.label) FROM annotation a WHERE a.id IN "
                    "(SELECT MAX(b.id) FROM annotation b WHERE b.image_id = i.id GROUP BY b.annotator)) > 1)")


def review_queue(
    store: Store,
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
) -> list[dict]:
    """Drops to review, in one of QUEUE_ORDERS, filtered; each row carries what the grid shows.

    ``hit`` keeps only the model's hits (crystal probability at or above its operating-point
    threshold), or only the drops that are not; ``crystal_top3`` does the same for the top-3 flag.
    ``mode``: the imaging mode whose images are the drops (the visible one; labels go there).

    ``best`` ranks drops by their highest crystal probability over every inspection of their plate;
    ``disputed`` lists only the drops flagged for a second look (newest flag first) and those whose
    reviewers' latest labels differ, in plate order.

    Orders that rank by the model walk the prediction indexes, so the global top 100 of half a
    million images comes back without sorting them all. Images the model has not scored yet come
    after the scored ones (none, for the disagreement order, which needs a prediction).
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
    columns = (
        "i.id, i.plate_id, i.inspection_id, i.well, i.row, i.col, i.drop_no, i.mode, i.path, i.label, i.load_error, "
        "p.id AS prediction_id, p.top1, p.p1, p.top2, p.p2, p.top3, p.p3, p.crystal_prob, p.margin, "
        "p.entropy, p.crystal_top3"
    )
    pred_where = list(where)
    if predicted is not None:
        pred_where.append("p.top1 = :predicted")
        params["predicted"] = predicted
    if crystal_top3 is not None:
        pred_where.append("p.crystal_top3 = :ctop3")
        params["ctop3"] = int(crystal_top3)
    if hit is not None:
        pred_where.append("p.crystal_prob >= :threshold" if hit else "p.crystal_prob < :threshold")
        params["threshold"] = store.operating_point(model_id).threshold
    if order == "disagreement":
        pred_where.append("i.label IS NOT NULL AND i.label != p.top1")
    needs_prediction = predicted is not None or crystal_top3 is not None or hit is not None or order == "disagreement"
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    plate_order = "i.plate_id, i.inspection_id, i.row, i.col, i.drop_no"

    if order in ("best", "disputed"):
        if needs_prediction and model_id is None:
            return []
        join = "JOIN" if needs_prediction else "LEFT JOIN"
        if order == "disputed":
            pred_where.append(f"({FLAGGED} = 1 OR {REVIEWERS_DIFFER})")
            sort = f"{FLAGGED} = 1 DESC, (SELECT MAX(f.id) FROM flag f WHERE f.image_id = i.id) DESC, {plate_order}"
        else:
            sort = f"best_prob IS NULL, best_prob DESC, {plate_order}"
        sql = (f"SELECT {columns}, {BEST_PROB} AS best_prob FROM image i {join} prediction p ON p.image_id = i.id "
               f"AND p.model_id = :model WHERE {' AND '.join(pred_where)} ORDER BY {sort}{lim}")
        return store.query(sql, params)

    if order == "plate" or model_id is None:
        if needs_prediction and model_id is None:
            return []
        join = "JOIN" if needs_prediction else "LEFT JOIN"
        sql = (
            f"SELECT {columns} FROM image i {join} prediction p ON p.image_id = i.id AND p.model_id = :model "
            f"WHERE {' AND '.join(pred_where)} ORDER BY {plate_order}{lim}"
        )
        return store.query(sql, params)

    sort = {
        "crystal": "p.crystal_prob DESC",
        "margin": "p.margin ASC",
        "entropy": "p.entropy DESC",
        "disagreement": "p.crystal_prob DESC",
    }[order]
    # across the whole store, walk the prediction index in order (CROSS JOIN fixes the loop
    # order); within one plate, start from the plate's images and sort the few thousand rows
    join = "JOIN" if plate_id is not None or inspection_id is not None else "CROSS JOIN"
    sql = (
        f"SELECT {columns} FROM prediction p {join} image i ON i.id = p.image_id "
        f"WHERE p.model_id = :model AND {' AND '.join(pred_where)} ORDER BY {sort}, p.image_id{lim}"
    )
    rows = store.query(sql, params)
    if needs_prediction or (limit is not None and len(rows) >= limit):
        return rows
    rest = None if limit is None else limit - len(rows)
    sql = (
        f"SELECT {columns} FROM image i LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model "
        f"WHERE p.id IS NULL AND {' AND '.join(where)} "
        f"ORDER BY i.plate_id, i.inspection_id, i.row, i.col, i.drop_no"
        + (f" LIMIT {rest}" if rest is not None else "")
    )
    return rows + store.query(sql, params)
