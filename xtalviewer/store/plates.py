"""Plates and their inspections: recording them as imports find them, and reading them back.

A plate is its barcode and type; an inspection is one imaging of it, named on the plate by a key
(the same key on the same plate is the same inspection). The imaging modes of an inspection
(visible, UV, SHG ...) are the modes its images were taken in.
"""

from __future__ import annotations

import json
from itertools import starmap

from xtalviewer.plates import PlateType
from xtalviewer.store.db import Database, now_iso
from xtalviewer.store.rows import Inspection, Plate
from xtalviewer.store.schema import MODES

# each plate's latest inspection (what the plate looks like now)
LATEST_INSPECTIONS = """
    SELECT id FROM (
        SELECT id, ROW_NUMBER() OVER (PARTITION BY plate_id ORDER BY imaged_at DESC, id DESC) AS rank
        FROM inspection
    ) AS ranked WHERE rank = 1
"""


def latest_inspections_of_mode(mode_sql: str) -> str:
    """SQL of each plate's latest inspection that holds an image of the imaging mode ``mode_sql`` (an
    SQL expression): a time stamp holding only UV or SHG images is not a visible model's latest."""
    return f"""
        SELECT id FROM (
            SELECT n.id, ROW_NUMBER() OVER (PARTITION BY n.plate_id ORDER BY n.imaged_at DESC, n.id DESC) AS rank
            FROM inspection n WHERE EXISTS (SELECT 1 FROM image m WHERE m.inspection_id = n.id AND m.mode = {mode_sql})
        ) AS ranked WHERE rank = 1
    """


_PLATE = "SELECT id, barcode, rows, cols, drops, created_at, meta FROM plate"
_INSPECTION = ("SELECT n.id, n.plate_id, n.key, n.imaged_at, n.imager, n.profile, n.layout, n.folder, n.meta, "
               "p.barcode, p.rows, p.cols, p.drops FROM inspection n JOIN plate p ON p.id = n.plate_id")


# -- writing ----------------------------------------------------------------------------------------------


def upsert_plate(db: Database, barcode: str, plate_type: PlateType) -> int:
    """Create the plate, or grow its recorded type to hold what a new inspection showed."""
    row = db.execute("SELECT id, rows, cols, drops FROM plate WHERE barcode = ?", (barcode,)).fetchone()
    if row is None:
        return db.insert(
            "INSERT INTO plate(barcode, rows, cols, drops, created_at) VALUES (?, ?, ?, ?, ?)",
            (barcode, plate_type.rows, plate_type.cols, plate_type.drops, now_iso()),
        )
    pid, rows, cols, drops = row
    grown = (max(rows, plate_type.rows), max(cols, plate_type.cols), max(drops, plate_type.drops))
    if grown != (rows, cols, drops):
        db.execute("UPDATE plate SET rows = ?, cols = ?, drops = ? WHERE id = ?", (*grown, pid))
    return pid


def upsert_inspection(
    db: Database,
    plate_id: int,
    key: str,
    *,
    imaged_at: str | None,
    imager: str | None,
    profile: str | None,
    layout: str,
    folder: str | None,
    meta: dict | None = None,
) -> tuple[int, bool]:
    """Return (inspection id, created?). The same key on the same plate is the same inspection."""
    row = db.execute("SELECT id FROM inspection WHERE plate_id = ? AND key = ?", (plate_id, key)).fetchone()
    meta_json = json.dumps(meta, sort_keys=True) if meta else None
    if row:
        db.execute(
            "UPDATE inspection SET imaged_at = COALESCE(?, imaged_at), imager = COALESCE(?, imager), "
            "profile = COALESCE(?, profile), folder = COALESCE(?, folder), meta = COALESCE(?, meta) WHERE id = ?",
            (imaged_at, imager, profile, folder, meta_json, row[0]),
        )
        return row[0], False
    return db.insert(
        "INSERT INTO inspection(plate_id, key, imaged_at, imager, profile, layout, folder, meta) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (plate_id, key, imaged_at, imager, profile, layout, folder, meta_json),
    ), True


# -- reading ----------------------------------------------------------------------------------------------


def plate_by_barcode(db: Database, barcode: str) -> Plate | None:
    row = db.execute(f"{_PLATE} WHERE barcode = ?", (barcode,)).fetchone()
    return Plate(*row) if row else None


def plates(db: Database) -> list[Plate]:
    return list(starmap(Plate, db.execute(f"{_PLATE} ORDER BY barcode")))


def barcodes(db: Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT barcode FROM plate ORDER BY barcode")]


def plate_ids(db: Database) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM plate ORDER BY id")]


def has_plates(db: Database) -> bool:
    return bool(db.execute("SELECT EXISTS (SELECT 1 FROM plate)").fetchone()[0])


def inspections(db: Database, plate_id: int) -> list[Inspection]:
    """The plate's inspections, oldest first."""
    return list(starmap(Inspection, db.execute(
        f"{_INSPECTION} WHERE n.plate_id = ? ORDER BY n.imaged_at, n.id", (plate_id,))))


def inspection(db: Database, inspection_id: int) -> Inspection | None:
    row = db.execute(f"{_INSPECTION} WHERE n.id = ?", (inspection_id,)).fetchone()
    return Inspection(*row) if row else None


def inspection_choices(db: Database) -> list[Inspection]:
    """Every inspection, by plate, oldest first within a plate (pickers list these)."""
    return list(starmap(Inspection, db.execute(f"{_INSPECTION} ORDER BY p.barcode, n.imaged_at, n.id")))


def inspection_modes(db: Database, inspection_id: int) -> list[str]:
    """The imaging modes an inspection holds, visible first (schema.MODES order, then others by name)."""
    found = {r[0] for r in db.execute("SELECT DISTINCT mode FROM image WHERE inspection_id = ?",
                                           (inspection_id,))}
    return sorted(found, key=lambda m: (MODES.index(m) if m in MODES else len(MODES), m))
