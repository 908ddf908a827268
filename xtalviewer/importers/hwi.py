"""Hauptman-Woodward (HWI) 1536-well screening images.

Folder ``<10-char plate id><YYYYMMDDHHMM>-<jpg|uvt|shg>``; file name characters [0:10] plate id,
[10:14] well 0001-1536 (row-major on 48 columns), [14:22] YYYYMMDD. ``jpg`` is the visible-light
image; ``uvt`` (UV-TPEF) and ``shg`` (second-harmonic) folders of the same time stamp are the UV and
SHG modes of that one inspection (key: the time stamp).
"""

from __future__ import annotations

import re
from pathlib import Path

from xtalviewer.importers.filenames import FoundImage, ParseContext, iso_date
from xtalviewer.plates import PlateType

LAYOUT = "hwi"
FOLDER_RE = re.compile(r"^(?P<plate>.{10})(?P<stamp>\d{12})-(?P<kind>jpg|uvt|shg)$", re.IGNORECASE)
FILE_RE = re.compile(r"^(?P<plate>.{10})(?P<well>\d{4})(?P<day>\d{8})")
MODES = {"jpg": "visible", "uvt": "uv", "shg": "shg"}
PLATE = PlateType(32, 48, 1)


def parse(path: Path, ctx: ParseContext) -> FoundImage | None:
    fm = FOLDER_RE.match(path.parent.name)
    if not fm:
        return None
    m = FILE_RE.match(path.stem)
    if not m or m.group("plate") != fm.group("plate"):
        return None
    well = int(m.group("well"))
    if not 1 <= well <= 1536:
        return None
    kind = fm.group("kind").lower()
    stamp = fm.group("stamp")
    return FoundImage(
        path=path,
        barcode=fm.group("plate"),
        inspection_key=stamp,
        layout=LAYOUT,
        well_number=well,
        drop=1,
        imaged_at=iso_date(stamp, "%Y%m%d%H%M") or iso_date(m.group("day"), "%Y%m%d"),
        profile="visible",
        mode=MODES[kind],
        plate_hint=PLATE,
    )
