"""Diamond/XChem Rock Imager export folders, with the optional RockMaker CSV beside them.

Folder ``<barcode>_<YYYY-MM-DD>_<imager>-<N>drop`` holds ``<barcode>_<CC><R>_<drop>.jpg`` (two-digit
column, row letter, drop). ``<barcode>.csv`` next to the folder (or inside it) may carry RockMaker
fields per drop: BatchID, DateImaged, DropNum, ImagerName, PlateID, ProfileID, WellColNum, WellNum,
WellRowLetter, where WellNum is row-major on 12 columns.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from xtalviewer.importers.filenames import FoundImage, ParseContext, parse_datetime
from xtalviewer.plates import PlateType, row_number, well_from_number
from xtalviewer.files.regular import open_regular

LAYOUT = "xchem"
FOLDER_RE = re.compile(r"^(?P<barcode>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<rest>.+)$")
FILE_RE = re.compile(r"^(?P<barcode>.+)_(?P<col>\d{2})(?P<row>[A-Pa-p])_(?P<drop>\d)$")
DROPS_RE = re.compile(r"^(?P<drops>\d)drops?$", re.IGNORECASE)
CSV_FIELDS = {"BatchID", "DateImaged", "DropNum", "ImagerName", "PlateID", "ProfileID", "WellColNum", "WellNum",
              "WellRowLetter"}


def parse_folder_name(name: str) -> dict | None:
    """Barcode, ISO date, imager and drop count from an XChem export folder name."""
    m = FOLDER_RE.match(name)
    if not m:
        return None
    rest, drops = m.group("rest"), None
    head, _, tail = rest.rpartition("-")
    dm = DROPS_RE.match(tail)
    if head and dm:
        rest, drops = head, int(dm.group("drops"))
    return {"barcode": m.group("barcode"), "date": m.group("date"), "imager": rest, "drops": drops}


def _csv_rows(folder: Path, barcode: str, day: str, ctx: ParseContext) -> dict[tuple[int, int, int], dict] | None:
    """This inspection's RockMaker rows (DateImaged on the folder's day) keyed by (row, col, drop),
    read once per folder; None when no CSV is there. One CSV covers every inspection of a plate."""
    cache_key = ("xchem-csv", folder)
    if cache_key in ctx.cache:
        return ctx.cache[cache_key]
    rows: dict[tuple[int, int, int], dict] | None = None
    for candidate in (folder.parent / f"{barcode}.csv", folder / f"{barcode}.csv", folder.with_suffix(".csv")):
        if not candidate.is_file():
            continue
        try:
            with open_regular(candidate, "r", newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if not CSV_FIELDS <= set(reader.fieldnames or ()):
                    ctx.note(f"{candidate}: not a RockMaker CSV (expected columns {', '.join(sorted(CSV_FIELDS))}); ignored")
                    continue
                rows = {}
                for rec in reader:
                    when = parse_datetime(rec.get("DateImaged") or "")
                    if when is None or not when.startswith(day):
                        continue  # another inspection's row
                    try:
                        drop = int(rec["DropNum"])
                        if rec["WellRowLetter"] and rec["WellColNum"]:
                            r, c = row_number(rec["WellRowLetter"]), int(rec["WellColNum"])
                        else:
                            r, c = well_from_number(int(rec["WellNum"]), 12)
                    except (ValueError, TypeError):
                        continue
                    rows[(r, c, drop)] = rec
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            ctx.note(f"{candidate}: cannot be read ({exc}); imported without it")
            continue
        ctx.note(f"read RockMaker CSV {candidate}")
        break
    ctx.cache[cache_key] = rows
    return rows


def parse(path: Path, ctx: ParseContext) -> FoundImage | None:
    folder_info = parse_folder_name(path.parent.name)
    if folder_info is None:
        return None
    m = FILE_RE.match(path.stem)
    if not m:
        return None
    row, col, drop = row_number(m.group("row")), int(m.group("col")), int(m.group("drop"))
    barcode = folder_info["barcode"]
    found = FoundImage(
        path=path,
        barcode=barcode,
        inspection_key=path.parent.name,
        layout=LAYOUT,
        row=row,
        col=col,
        drop=drop,
        imaged_at=folder_info["date"],
        imager=folder_info["imager"],
        plate_hint=PlateType(1, 1, folder_info["drops"] or 1),
    )
    csv_rows = _csv_rows(path.parent, barcode, folder_info["date"], ctx)
    rec = csv_rows.get((row, col, drop)) if csv_rows else None
    if rec:
        found.imaged_at = parse_datetime(rec["DateImaged"])
        found.imager = rec.get("ImagerName") or found.imager
        found.meta = {
            "batch_id": rec.get("BatchID"),
            "rockmaker_plate_id": rec.get("PlateID"),
            "profile_id": rec.get("ProfileID"),
            "screen": rec.get("ScreenName") or rec.get("Screen"),  # where the export names the plate's screen
        }
    return found


def parse_loose_file(path: Path, ctx: ParseContext) -> FoundImage | None:
    """An XChem-named file outside an export folder: barcode from the name, one inspection per folder."""
    m = FILE_RE.match(path.stem)
    if not m:
        return None
    return FoundImage(
        path=path,
        barcode=m.group("barcode"),
        inspection_key=str(path.parent),
        layout=LAYOUT,
        row=row_number(m.group("row")),
        col=int(m.group("col")),
        drop=int(m.group("drop")),
    )
