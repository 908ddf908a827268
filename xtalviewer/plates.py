"""SBS plate geometry: plate types, well names, well numbers, and inferring a type from wells seen."""

from __future__ import annotations

import re
from dataclasses import dataclass

# rows x columns of the standard SBS crystallization formats, smallest first
STANDARD_FORMATS: tuple[tuple[int, int], ...] = ((8, 12), (16, 24), (32, 48))
MAX_DROPS = 9

_WELL_RE = re.compile(r"^([A-Za-z]{1,2})0*(\d{1,2})$")


@dataclass(frozen=True)
class PlateType:
    rows: int
    cols: int
    drops: int = 1

    @property
    def wells(self) -> int:
        return self.rows * self.cols

    @property
    def label(self) -> str:
        return f"{self.wells}-well, {self.drops} drop{'s' if self.drops != 1 else ''}"


def row_letter(row: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA ... (1536-well plates have rows A..AF)."""
    if row < 1:
        raise ValueError(f"row must be >= 1, got {row}")
    if row <= 26:
        return chr(ord("A") + row - 1)
    return "A" + chr(ord("A") + row - 27)


def row_number(letters: str) -> int:
    letters = letters.upper()
    if len(letters) == 1:
        return ord(letters) - ord("A") + 1
    if len(letters) == 2 and letters[0] == "A":
        return 26 + ord(letters[1]) - ord("A") + 1
    raise ValueError(f"not a plate row: {letters!r}")


def well_name(row: int, col: int) -> str:
    """The canonical well name used everywhere in the app: row letter(s) + two-digit column."""
    return f"{row_letter(row)}{col:02d}"


def parse_well(text: str) -> tuple[int, int]:
    """'A1', 'a01', 'AF48' -> (row, col), both 1-based; ValueError otherwise."""
    m = _WELL_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a well name: {text!r}")
    row, col = row_number(m.group(1)), int(m.group(2))
    if col < 1 or row > 32 or col > 48:
        raise ValueError(f"not a well name: {text!r}")
    return row, col


def well_from_number(number: int, cols: int) -> tuple[int, int]:
    """Row-major well number (A1 = 1, A2 = 2 ...) on a plate of ``cols`` columns -> (row, col)."""
    if number < 1:
        raise ValueError(f"well numbers start at 1, got {number}")
    return (number - 1) // cols + 1, (number - 1) % cols + 1


def columns_for_well_numbers(max_number: int) -> int:
    """Columns of the smallest standard plate that has ``max_number`` wells."""
    for rows, cols in STANDARD_FORMATS:
        if max_number <= rows * cols:
            return cols
    raise ValueError(f"well number {max_number} is beyond a 1536-well plate")


def infer_plate_type(max_row: int, max_col: int, drops: int, hint: PlateType | None = None) -> PlateType:
    """Smallest standard plate that holds every well seen (and the hint, when the layout gave one)."""
    if hint is not None:
        max_row, max_col, drops = max(max_row, hint.rows), max(max_col, hint.cols), max(drops, hint.drops)
    for rows, cols in STANDARD_FORMATS:
        if max_row <= rows and max_col <= cols:
            return PlateType(rows, cols, max(1, drops))
    return PlateType(max(max_row, 32), max(max_col, 48), max(1, drops))
