"""What a layout parser learns about one image file from its name and folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from xtalviewer.plates import PlateType


@dataclass
class FoundImage:
    """One drop image placed on a plate by a layout parser; well_number is resolved later
    (Rock Maker and HWI number wells, and the column count depends on the plate)."""

    path: Path
    barcode: str
    inspection_key: str
    layout: str
    drop: int = 1
    row: int | None = None
    col: int | None = None
    well_number: int | None = None
    imaged_at: str | None = None
    imager: str | None = None
    profile: str | None = None
    plate_hint: PlateType | None = None
    meta: dict = field(default_factory=dict)
    preference: int = 0  # lower wins when two files claim the same drop of the same inspection
    mode: str = "visible"  # imaging mode (schema.MODES): UV and SHG images of an imaging are modes of it

    @property
    def folder(self) -> Path:
        return self.path.parent


class ParseContext:
    """Per-import scratch space for parsers (e.g. a RockMaker CSV read once per folder)."""

    def __init__(self) -> None:
        self.cache: dict = {}
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def iso_date(text: str, fmt: str) -> str | None:
    """Reformat a date string to ISO 8601, or None when it is not a real date."""
    try:
        parsed = datetime.strptime(text, fmt)
    except ValueError:
        return None
    has_time = any(c in fmt for c in "HMS")
    return parsed.isoformat(timespec="seconds") if has_time else parsed.date().isoformat()


_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%Y%m%d%H%M", "%Y%m%d",
)


def parse_datetime(text: str) -> str | None:
    """Best-effort ISO 8601 for the date formats imaging software writes into CSVs and names."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).isoformat(timespec="seconds") if "T" in text or ":" in text \
            else date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    for fmt in _DATETIME_FORMATS:
        found = iso_date(text, fmt)
        if found:
            return found
    return None


_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?!\d)")


def date_in_name(name: str) -> str | None:
    """A YYYY-MM-DD (or YYYYMMDD) date inside a folder name, if it is a real date."""
    for m in _DATE_IN_NAME.finditer(name):
        try:
            d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
        if 1990 <= d.year <= 2100:
            return d.isoformat()
    return None


_SHG = re.compile(r"(?<![a-z])shg(?![a-z])", re.IGNORECASE)
_UV = re.compile(r"(?<![a-z])uv", re.IGNORECASE)
_SONICC = re.compile(r"(?<![a-z])sonicc(?![a-z])", re.IGNORECASE)


def mode_of_profile(name: str | None) -> str:
    """The imaging mode an imaging profile's name says: 'shg' when it names SHG, else 'uv' when a
    word starts with 'UV' (UV, UV-TPEF, UVEX), else 'shg' for a SONICC profile (the SHG imager),
    else 'visible'. So 'SONICC UV-TPEF' is UV and 'SONICC' or 'SONICC SHG' is SHG."""
    if not name:
        return "visible"
    if _SHG.search(name):
        return "shg"
    if _UV.search(name):
        return "uv"
    return "shg" if _SONICC.search(name) else "visible"
