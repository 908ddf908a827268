"""Second looks and reviewers: the drops flagged as needing a second look, a drop's history of
labels and flags together, and each reviewer's latest label per drop (what agreement between
reviewers is computed from). Plain functions whose first argument is the ``Store``, bound as
``Store`` methods of the same name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xtalviewer.store.store import Store


def flags(store: Store, inspection_id: int) -> dict[int, dict]:
    """image id -> its newest second-look event (note, annotator, created_at), for the drops of an
    inspection that are flagged now."""
    rows = store.query(
        """SELECT f.image_id, f.note, f.annotator, f.created_at FROM flag f
           JOIN (SELECT MAX(f2.id) AS id FROM flag f2 JOIN image i ON i.id = f2.image_id
                 WHERE i.inspection_id = ? GROUP BY f2.image_id) newest ON newest.id = f.id
           WHERE f.flagged = 1""", (inspection_id,))
    return {r.pop("image_id"): r for r in rows}


def drop_history(store: Store, image_id: int) -> list[dict]:
    """A drop's labels and second-look events, newest first. Label rows are ``history`` rows with
    kind 'label'; flag rows have kind 'flag', ``flagged`` (True: set, False: cleared) and ``note``."""
    labels = [{**r, "kind": "label"} for r in store.history(image_id)]
    marks = store.query("SELECT * FROM flag WHERE image_id = ? ORDER BY id DESC", (image_id,))
    events = labels + [{**r, "kind": "flag", "flagged": bool(r["flagged"]), "label": None, "source": None,
                        "shown": None, "reverts": None} for r in marks]
    return sorted(events, key=lambda r: r["created_at"], reverse=True)


def reviewer_labels(store: Store, model_id: int | None = None) -> list[tuple[int, str, str, str, str | None]]:
    """(image id, annotator, label, source, model's top 1 or None): each reviewer's latest label of
    each drop (a cleared label counts as none), from the append-only history."""
    return store.conn.execute(
        """SELECT a.image_id, a.annotator, a.label, a.source, p.top1
           FROM (SELECT MAX(id) AS id FROM annotation GROUP BY image_id, annotator) newest
           CROSS JOIN annotation a ON a.id = newest.id
           JOIN image i ON i.id = a.image_id
           LEFT JOIN prediction p ON p.image_id = a.image_id AND p.model_id = ?
           WHERE a.label IS NOT NULL AND i.mode = 'visible'
           ORDER BY a.image_id""", (model_id,)).fetchall()
