"""Labels and second looks: appending them (history only grows), the current and the inherited
label of a drop, its history, the drops flagged for a second look, each reviewer's latest labels,
and who is labelling.

The current label of an image is its newest annotation (a trigger copies it onto the image row for
indexed queries); undo writes a new annotation. Second-look flags are append-only events too: the
newest event of an image is its state.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Sequence
from itertools import starmap

from xtalviewer.store.db import Database, now_iso
from xtalviewer.store.inputs import AnnotationRow
from xtalviewer.store.label_watch import announce
from xtalviewer.store.rows import Annotation, Flag, PlateImage

SOURCES = ("human", "accepted-prediction", "import")


def default_annotator() -> str:
    """The OS user name, the sensible default until the person says otherwise."""
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry (containers) and no LOGNAME/USER
        name = os.environ.get("USERNAME", "")
    return name.strip() or "unknown"


# -- writing ----------------------------------------------------------------------------------------------


def add_annotations(db: Database, items: Sequence[AnnotationRow]) -> list[int]:
    """Append labels in one transaction (multi-select labelling, imports); each is committed before
    this returns. Returns the new annotation ids."""
    keys = db.scheme.keys
    for it in items:
        if it.label is not None and it.label not in keys:
            raise ValueError(f"'{it.label}' is not a class of label scheme '{db.scheme.id}' "
                             f"{db.scheme.label_hint(it.label)}")
        if it.source not in SOURCES:
            raise ValueError(f"annotation source must be one of {SOURCES}, not {it.source!r}")
    with db.transaction():
        announce(db)  # delivered to watching workstations when this commits
        return db.insert_many(
            "INSERT INTO annotation(image_id, label, annotator, created_at, source, prediction_id, shown, "
            "lead_ms, reverts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(it.image_id, it.label, it.annotator, it.created_at or now_iso(), it.source, it.prediction_id,
              json.dumps(it.shown) if it.shown is not None else None, it.lead_ms, it.reverts) for it in items])


def add_flags(db: Database, image_ids: Sequence[int], flagged: bool, annotator: str, *, note: str | None = None,
              created_at: str | None = None) -> list[int]:
    """Mark drops as needing a second look (or clear the mark), in one transaction. Append-only:
    the newest event of an image is its state, and the history shows every one."""
    with db.transaction():
        announce(db)
        return db.insert_many(
            "INSERT INTO flag(image_id, flagged, note, annotator, created_at) VALUES (?, ?, ?, ?, ?)",
            [(image_id, int(bool(flagged)), (note or "").strip() or None, annotator, created_at or now_iso())
             for image_id in image_ids])


# -- current and inherited labels -------------------------------------------------------------------------


def current_label(db: Database, image_id: int) -> str | None:
    row = db.execute("SELECT label FROM image WHERE id = ?", (image_id,)).fetchone()
    return row[0] if row else None


def current_labels(db: Database, image_ids: Sequence[int]) -> dict[int, str | None]:
    """image id -> current label (None when unlabelled) for images that exist."""
    return dict(db.select_in("SELECT id, label FROM image WHERE id IN ({marks})", image_ids))


def inherited_labels(db: Database, inspection_id: int | None = None, *,
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
    rows = db.execute(
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


def labelled_images(db: Database, sources: Sequence[str]) -> list[PlateImage]:
    """Readable visible images whose current label came from one of ``sources``: the training set,
    each path as this workstation finds it."""
    marks = ",".join("?" * len(sources))
    return list(starmap(PlateImage, db.roots.local_rows(db.execute(
        f"""SELECT i.id, i.path, i.mtime, i.label, p.barcode, i.well, i.drop_no
            FROM image i JOIN annotation a ON a.id = i.annotation_id JOIN plate p ON p.id = i.plate_id
            WHERE i.label IS NOT NULL AND i.load_error IS NULL AND a.source IN ({marks}) AND i.mode = 'visible'
            ORDER BY i.id""", list(sources)), 1)))


def count_unreadable_labelled(db: Database) -> int:
    """Labelled images marked unreadable: training leaves them out and says how many."""
    return db.execute(
        "SELECT COUNT(*) FROM image WHERE label IS NOT NULL AND load_error IS NOT NULL").fetchone()[0]


# -- history and second looks -------------------------------------------------------------------------------

_ANNOTATION = "SELECT id, image_id, label, annotator, created_at, source, prediction_id, shown, lead_ms, reverts " \
              "FROM annotation"
_FLAG = "SELECT f.id, f.image_id, f.flagged, f.note, f.annotator, f.created_at FROM flag f"


def _flag(flag_id: int, image_id: int, flagged: int, note: str | None, annotator: str, created_at: str) -> Flag:
    return Flag(flag_id, image_id, bool(flagged), note, annotator, created_at)


def history(db: Database, image_id: int) -> list[Annotation]:
    """Every annotation of an image, newest first, with what the model showed at the time."""
    return [Annotation(*r[:7], json.loads(r[7]) if r[7] else None, *r[8:])
            for r in db.execute(f"{_ANNOTATION} WHERE image_id = ? ORDER BY id DESC", (image_id,))]


def flags(db: Database, inspection_id: int) -> dict[int, Flag]:
    """image id -> its newest second-look event, for the drops of an inspection that are flagged now."""
    rows = starmap(_flag, db.execute(
        f"""{_FLAG}
            JOIN (SELECT MAX(f2.id) AS id FROM flag f2 JOIN image i ON i.id = f2.image_id
                  WHERE i.inspection_id = ? GROUP BY f2.image_id) newest ON newest.id = f.id
            WHERE f.flagged = 1""", (inspection_id,)))
    return {r.image_id: r for r in rows}


def drop_history(db: Database, image_id: int) -> list[Annotation | Flag]:
    """A drop's labels (``Annotation``) and second-look events (``Flag``), newest first."""
    marks = list(starmap(_flag, db.execute(f"{_FLAG} WHERE f.image_id = ? ORDER BY f.id DESC", (image_id,))))
    events: list[Annotation | Flag] = [*history(db, image_id), *marks]
    return sorted(events, key=lambda r: r.created_at, reverse=True)


# -- reviewers ----------------------------------------------------------------------------------------------


def reviewer_labels(db: Database, model_id: int | None = None) -> list[tuple[int, str, str, str, str | None]]:
    """(image id, annotator, label, source, model's top 1 or None): each reviewer's latest label of
    each drop (a cleared label counts as none), from the append-only history."""
    return db.execute(
        """SELECT a.image_id, a.annotator, a.label, a.source, p.top1
           FROM (SELECT MAX(id) AS id FROM annotation GROUP BY image_id, annotator) newest
           CROSS JOIN annotation a ON a.id = newest.id
           JOIN image i ON i.id = a.image_id
           LEFT JOIN prediction p ON p.image_id = a.image_id AND p.model_id = ?
           WHERE a.label IS NOT NULL AND i.mode = 'visible'
           ORDER BY a.image_id""", (model_id,)).fetchall()


def judged_label_count(db: Database, sources: Sequence[str]) -> int:
    """Images whose current label came from one of these annotation sources."""
    marks = ",".join("?" * len(sources))
    return db.execute(
        f"SELECT COUNT(*) FROM image i JOIN annotation a ON a.id = i.annotation_id "
        f"WHERE i.label IS NOT NULL AND a.source IN ({marks})", tuple(sources)).fetchone()[0]
