"""Drop images: recording them as imports find them, finding one by file, position or drop, and a
drop's images across its plate's inspections (its time course).

A drop slot (inspection, well, drop, imaging mode) is an image's identity: re-importing a folder finds
the same rows, and only rows whose file changed are written. Images stay where the imager wrote them.

Paths cross this module as this workstation sees them: one under a named image root is stored as
the root and the path below it, and read back through this workstation's mapping (``db.roots``,
``files.image_roots``); a row whose root is not mapped here keeps the stored form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from itertools import starmap

from xtalviewer.store.annotations import inherited_labels
from xtalviewer.store.db import Database
from xtalviewer.store.inputs import ImageRow
from xtalviewer.store.rows import CourseImage, Image, PlateImage
from xtalviewer.store.schema import VISIBLE

_LEGACY_HWI_KEY = re.compile(r"^(\d{12})-(jpg|uvt|shg)$", re.IGNORECASE)  # HWI keys before schema 3

# the image table's columns in ``rows.Image`` order, for ``Image(*row)``
IMAGE_COLUMNS = ("i.id, i.inspection_id, i.plate_id, i.well, i.row, i.col, i.drop_no, i.mode, i.path, i.size, "
                 "i.mtime, i.width, i.height, i.load_error, i.label, i.annotation_id")

_WRITTEN = ("inspection_id", "plate_id", "well", "row", "col", "drop_no", "mode", "path", "size", "mtime",
            "width", "height", "load_error")
_CHANGING = ("path", "size", "mtime", "width", "height", "load_error")
_UPSERT_IMAGE = (
    f"INSERT INTO image({', '.join(_WRITTEN)}) VALUES ({', '.join('?' * len(_WRITTEN))}) "
    "ON CONFLICT(inspection_id, well, drop_no, mode) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHANGING)
    + " WHERE " + " OR ".join(f"image.{c} IS NOT excluded.{c}" for c in _CHANGING)  # qualified: PostgreSQL asks
)


def _image_values(r: ImageRow, stored: Callable[[str], str]) -> tuple:
    return tuple(stored(r.path) if c == "path" else getattr(r, c) for c in _WRITTEN)


def _images(db: Database, rows: Iterable[tuple]) -> list[Image]:
    return list(starmap(Image, db.roots.local_rows(rows, 8)))


# -- writing ----------------------------------------------------------------------------------------------


def upsert_images(db: Database, rows: Iterable[ImageRow]) -> tuple[int, int]:
    """Insert new drop images, refresh changed ones; returns (inserted, updated). Labels stay."""
    rows = list(rows)
    if not rows:
        return 0, 0
    inspections = sorted({r.inspection_id for r in rows})
    marks = ",".join("?" * len(inspections))
    count_sql = f"SELECT COUNT(*) FROM image WHERE inspection_id IN ({marks})"
    with db.transaction():
        db.roots.refresh()  # a root defined on another workstation since this store was opened
        before = db.execute(count_sql, inspections).fetchone()[0]
        values = [_image_values(r, db.roots.stored) for r in rows]
        try:
            with db.savepoint():
                written = db.executemany(_UPSERT_IMAGE, values)
        except db.IntegrityError:  # a path already recorded for another slot: keep the first
            written = 0
            for value in values:
                try:
                    with db.savepoint():
                        written += db.execute(_UPSERT_IMAGE, value).rowcount
                except db.IntegrityError:
                    pass
        inserted = db.execute(count_sql, inspections).fetchone()[0] - before
    return inserted, written - inserted


def mark_load_error(db: Database, image_id: int, reason: str | None) -> None:
    """Record (or clear, with None) why an image cannot be decoded, so every view can say so. Not for
    an image whose root is not mapped on this workstation: the next workstation can read it."""
    if reason is not None:
        row = db.execute("SELECT path FROM image WHERE id = ?", (image_id,)).fetchone()
        if row is not None and db.roots.unmapped(row[0]):
            return
    with db.transaction():
        db.execute("UPDATE image SET load_error = ? WHERE id = ?", (reason, image_id))


# -- one image --------------------------------------------------------------------------------------------


def image(db: Database, image_id: int) -> Image | None:
    rows = _images(db, db.execute(f"SELECT {IMAGE_COLUMNS} FROM image i WHERE i.id = ?", (image_id,)))
    return rows[0] if rows else None


def image_id_by_path(db: Database, path: str) -> int | None:
    row = db.execute("SELECT id FROM image WHERE path = ?", (db.roots.stored(path),)).fetchone()
    return row[0] if row else None


def _position_key(inspection_key: str, mode: str | None) -> tuple[str, str | None]:
    """A key written before imaging modes, an HWI '<stamp>-jpg|uvt|shg', names that mode of the
    inspection '<stamp>'; any other key is the inspection's, in ``mode``."""
    legacy = _LEGACY_HWI_KEY.match(inspection_key)
    if legacy:
        return legacy.group(1), {"jpg": VISIBLE, "uvt": "uv", "shg": "shg"}[legacy.group(2).lower()]
    return inspection_key, mode


def image_id_by_position(db: Database, barcode: str, inspection_key: str, well: str, drop_no: int,
                         mode: str = VISIBLE) -> int | None:
    """The drop's image in ``mode`` (visible unless said), never another mode's: a UV image has the
    visible one's plate, inspection, well and drop. A legacy HWI key names its mode itself."""
    inspection_key, mode = _position_key(inspection_key, mode)
    row = db.execute(
        "SELECT i.id FROM image i JOIN inspection n ON n.id = i.inspection_id JOIN plate p ON p.id = i.plate_id "
        "WHERE p.barcode = ? AND n.key = ? AND i.well = ? AND i.drop_no = ? AND i.mode = ?",
        (barcode, inspection_key, well, drop_no, mode),
    ).fetchone()
    return row[0] if row else None


def position_paths(db: Database, barcode: str, inspection_key: str, well: str, drop_no: int) -> dict[str, str]:
    """mode -> stored path of one drop at one inspection, every mode it was imaged in (which file a
    label CSV line without a mode column names)."""
    inspection_key, mode = _position_key(inspection_key, None)
    rows = db.execute(
        "SELECT i.mode, i.path FROM image i JOIN inspection n ON n.id = i.inspection_id JOIN plate p ON p.id = i.plate_id "
        "WHERE p.barcode = ? AND n.key = ? AND i.well = ? AND i.drop_no = ? AND (? IS NULL OR i.mode = ?)",
        (barcode, inspection_key, well, drop_no, mode, mode))
    return dict(db.roots.local_rows(rows, 1))


def inspection_of_image(db: Database, image_id: int) -> int | None:
    row = db.execute("SELECT inspection_id FROM image WHERE id = ?", (image_id,)).fetchone()
    return row[0] if row else None


def inspections_of_images(db: Database, image_ids: Iterable[int]) -> dict[int, int]:
    """image id -> its inspection, for the images that exist (one query per 500, not one per image)."""
    return dict(db.select_in("SELECT id, inspection_id FROM image WHERE id IN ({marks})", list(image_ids)))


def same_drop(db: Database, inspection_id: int, plate_id: int, well: str, drop_no: int,
              mode: str = VISIBLE) -> int | None:
    """The image of this drop (plate, well, drop) in another inspection, if it was imaged there."""
    row = db.execute(
        "SELECT id FROM image WHERE inspection_id = ? AND plate_id = ? AND well = ? AND drop_no = ? AND mode = ?",
        (inspection_id, plate_id, well, drop_no, mode)).fetchone()
    return row[0] if row else None


def drop_modes(db: Database, inspection_id: int, well: str, drop_no: int) -> dict[str, Image]:
    """mode -> image of one drop at one inspection (every mode it was imaged in)."""
    rows = _images(db, db.execute(
        f"SELECT {IMAGE_COLUMNS} FROM image i WHERE i.inspection_id = ? AND i.well = ? AND i.drop_no = ?",
        (inspection_id, well, drop_no)))
    return {r.mode: r for r in rows}


# -- a drop over time -------------------------------------------------------------------------------------


def drop_images(db: Database, plate_id: int, well: str, drop_no: int, mode: str = VISIBLE) -> list[CourseImage]:
    """One drop across every inspection of its plate in one imaging mode, oldest first: the drop's
    time course (``shown_label`` not filled in; ``drop_course`` does that)."""
    return list(starmap(CourseImage, db.roots.local_rows(db.execute(
        f"SELECT {IMAGE_COLUMNS}, n.imaged_at, n.key, n.profile FROM image i "
        "JOIN inspection n ON n.id = i.inspection_id "
        "WHERE i.plate_id = ? AND i.well = ? AND i.drop_no = ? AND i.mode = ? ORDER BY n.imaged_at, n.id",
        (plate_id, well, drop_no, mode),
    ), 8)))


def drop_course(db: Database, plate_id: int, well: str, drop_no: int, mode: str = VISIBLE) -> list[CourseImage]:
    """The time course with what each inspection shows: ``shown_label`` is its own label, or the
    label inherited from an earlier inspection (``inherited`` True), by the rule of ``inherited_labels``.
    Another ``mode`` follows the drop in that mode (labels are given on the visible images)."""
    rows = drop_images(db, plate_id, well, drop_no, mode)
    carried = inherited_labels(db, image_ids=[r.id for r in rows if not r.label])
    course = []
    for r in rows:
        shown = r.label or carried.get(r.id, (None,))[0]
        course.append(replace(r, shown_label=shown, inherited=not r.label and shown is not None))
    return course


# -- what imports and training ask --------------------------------------------------------------------------


def known_files(db: Database, paths: Iterable[str]) -> dict[str, tuple[int | None, float | None, str | None]]:
    """(size, mtime, load_error) held for each of these paths, so an import can skip unchanged files."""
    out: dict[str, tuple[int | None, float | None, str | None]] = {}
    asked = {db.roots.stored(p): p for p in paths}  # stored form -> the path as the caller gave it
    for path, size, mtime, error in db.select_in(
            "SELECT path, size, mtime, load_error FROM image WHERE path IN ({marks})", list(asked)):
        out[asked[path]] = (size, mtime, error)
    return out


def slot_paths(db: Database, barcode: str, inspection_key: str) -> dict[tuple[str, int, str], str]:
    """(well, drop, mode) -> stored path for one inspection of a plate (empty when it is new)."""
    rows = db.execute(
        "SELECT i.well, i.drop_no, i.mode, i.path FROM image i JOIN inspection n ON n.id = i.inspection_id "
        "JOIN plate p ON p.id = i.plate_id WHERE p.barcode = ? AND n.key = ?", (barcode, inspection_key))
    return {(well, drop, mode): path for well, drop, mode, path in db.roots.local_rows(rows, 3)}


def image_ids(db: Database) -> list[int]:
    """Every image id, in id order."""
    return [r[0] for r in db.execute("SELECT id FROM image ORDER BY id")]


def image_paths(db: Database) -> list[str]:
    return [r[0] for r in db.roots.local_rows(db.execute("SELECT path FROM image ORDER BY id"), 0)]


def image_path_under(db: Database, folder: str) -> str | None:
    """The path of one image stored anywhere inside ``folder``, or None: the thumbnail cache must
    not take a folder of plate images. A range on the path index, not a scan: the folder's own
    absolute paths, the root it lies in, and every mapped root that lies in it."""
    for start in db.roots.stored_prefixes(folder):  # /lab/plates/ (not /lab/plates-old), {Root}/plates/ ...
        row = db.execute("SELECT path FROM image WHERE path >= ? AND path < ? ORDER BY path LIMIT 1",
                         (start, start + "\U0010ffff")).fetchone()
        if row:
            return db.roots.local(row[0])
    return None


def image_counts(db: Database, plate_id: int | None = None, mode: str | None = None) -> tuple[int, int]:
    """(images, images marked unreadable), over one plate or all, of one imaging mode or all."""
    where = " AND ".join(w for w, v in (("plate_id = ?", plate_id), ("mode = ?", mode)) if v is not None)
    params = tuple(v for v in (plate_id, mode) if v is not None)
    total, marked = db.execute("SELECT COUNT(*), SUM(CAST(load_error IS NOT NULL AS INTEGER)) FROM image"
                                    + (f" WHERE {where}" if where else ""), params).fetchone()
    return total, marked or 0


def image_with_plate(db: Database, path: str) -> PlateImage | None:
    """The image stored at ``path`` with its plate's barcode, or None."""
    rows = db.roots.local_rows(db.execute("SELECT i.id, i.path, i.mtime, i.label, p.barcode, i.well, i.drop_no "
                                          "FROM image i JOIN plate p ON p.id = i.plate_id WHERE i.path = ?",
                                          (db.roots.stored(path),)), 1)
    return PlateImage(*rows[0]) if rows else None
