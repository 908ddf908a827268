"""Screen files: what was in each well of a crystallization screen, read into a ``ScreenInput``.

Three formats, recognised from the file (or named with ``--format``):

- ``hwi``: HWI's cocktail list ("Composite List" title row, then a header row ``Well position in
  plate, Cocktail #, Commercial Code, Chemical Additive, Chemical Formula, Concentration, ...``
  with the additive and concentration columns repeated per component and a ``pH`` column after the
  buffer's). The position is an index into the 1536-well plate, row-major on 48 columns, as HWI's
  image names number wells. Header names vary between generations (``Conc``; ``96 Deep Well #``
  for the commercial code); cells may be empty (a condition without a first additive).
- ``csv``: a plain ``well,condition`` sheet a lab writes from any vendor's table: ``well`` a well
  name (A1, A01) or a 1..N index (row-major); optional ``code``, ``ph`` and per component
  ``component_N`` with ``concentration_N`` ("0.1 M", "20% w/v", or a number with ``unit_N``) and
  ``ph_N``. Without component columns the components are read from the condition's text
  ("0.1 M HEPES pH 7.5, 20% (w/v) PEG 3350").
- ``rockmaker``: Rock Maker's screen XML (``ingredients`` with their stocks and units,
  ``conditions`` of ``conditionIngredient`` by stock). A condition carries no well, so conditions are
  taken in the order listed, row-major (A1, A2 ... A12, B1 ...), as Rock Maker writes them.

A file is read whole and checked before anything is stored: every row that cannot be used is
reported with its line (for the XML, its condition number), and then nothing is stored.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from xtalviewer.files.regular import open_regular
from xtalviewer.plates import STANDARD_FORMATS, parse_well, well_from_number
from xtalviewer.importers.chemistry import (  # noqa: F401  (part of this module's interface)
    _condition_ph, components_from_text, describe, parse_amount, parse_ph, unit_text,
)
from xtalviewer.store.inputs import ComponentRow, ConditionRow, ScreenInput

FORMATS = ("hwi", "csv", "rockmaker")
MAX_FILE_BYTES = 20 * 1024 * 1024  # a 1536-condition sheet is well under 1 MB
MAX_POSITION = 1536
HWI_PLATE = (32, 48)
SHOWN_PROBLEMS = 20  # lines listed in the error; the count says how many more


class ScreenFileError(ValueError):
    """A screen file that cannot be stored as it is; the message lists the lines and says why.
    Nothing was stored."""


@dataclass
class _Problems:
    """Bad rows found while reading, by line; a file with any is refused whole."""

    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def raise_if_any(self, source: Path, what: str = "line") -> None:
        if not self.items:
            return
        shown = "; ".join(f"{what} {n}: {m}" for n, m in self.items[:SHOWN_PROBLEMS])
        more = f"; and {len(self.items) - SHOWN_PROBLEMS} more" if len(self.items) > SHOWN_PROBLEMS else ""
        n = len(self.items)
        raise ScreenFileError(f"{source}: {n} {what}{'s' * (n != 1)} cannot be used, so nothing was stored: "
                              f"{shown}{more}")


# -- reading the file ------------------------------------------------------------------------------------------


def _read_text(source: Path) -> str:
    """The file's text: UTF-8 (with or without a byte-order mark), else Windows-1252 (what a
    spreadsheet on Windows saves); only a regular file, and not beyond MAX_FILE_BYTES."""
    try:
        with open_regular(source, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScreenFileError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScreenFileError(f"{source}: larger than {MAX_FILE_BYTES // 1024 // 1024} MB; this is not a screen file")
    if b"\0" in data[:4096]:
        raise ScreenFileError(f"{source}: a binary file, not a screen file (CSV or Rock Maker XML)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _csv_rows(text: str, source: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each record; the line is where the record ends, as ``csv`` counts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for cells in reader:
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ScreenFileError(f"{source}: line {reader.line_num}: {exc}; nothing was stored") from None
    return rows


def _header_key(cell: str) -> str:
    return " ".join(cell.replace("\n", " ").split()).casefold()


def detect_format(source: Path, text: str) -> str:
    """The format of a screen file by its content: XML is Rock Maker's, a "Well position in plate"
    header (or the "Composite List" title) is HWI's cocktail list, anything else the plain CSV."""
    if source.suffix.lower() == ".xml" or text.lstrip().startswith("<"):
        return "rockmaker"
    for _, cells in _csv_rows("\n".join(text.splitlines()[:6]), source)[:6]:
        first = _header_key(cells[0]) if cells else ""
        if first.startswith("well position") or first == "composite list":
            return "hwi"
    return "csv"


def read_screen_file(source: str | Path, *, name: str | None = None, fmt: str | None = None) -> ScreenInput:
    """The screen a file holds, checked whole; ``name`` defaults to the file name without suffix.
    Raises ScreenFileError naming every unusable line (and then nothing is to be stored)."""
    source = Path(source)
    text = _read_text(source)
    fmt = fmt or detect_format(source, text)
    if fmt not in FORMATS:
        raise ScreenFileError(f"unknown screen format {fmt!r}; choose from {', '.join(FORMATS)}")
    reader = {"hwi": _read_hwi, "csv": _read_plain_csv, "rockmaker": _read_rockmaker}[fmt]
    screen_name, rows, cols, conditions = reader(source, text)
    if not conditions:
        raise ScreenFileError(f"{source}: no conditions found ({fmt} format); nothing was stored")
    final = (name or screen_name or source.stem).strip()
    if not final:
        raise ScreenFileError("a screen needs a name (--name)")
    return ScreenInput(final, rows, cols, tuple(sorted(conditions, key=lambda c: c.position)),
                       source=f"{fmt}: {source.name}")


def _plate_for(max_position: int, max_row: int = 0, max_col: int = 0) -> tuple[int, int]:
    """The smallest standard plate holding that many positions and those rows and columns."""
    for rows, cols in STANDARD_FORMATS:
        if max_position <= rows * cols and max_row <= rows and max_col <= cols:
            return rows, cols
    raise ValueError("beyond a 1536-well plate")


def _position(text: str) -> int:
    value = float(text.strip())
    if value != int(value) or not 1 <= value <= MAX_POSITION:
        raise ValueError(f"position {text.strip()!r} is not a whole number from 1 to {MAX_POSITION}")
    return int(value)


# -- HWI cocktail list -------------------------------------------------------------------------------------------


def _read_hwi(source: Path, text: str) -> tuple[str | None, int, int, list[ConditionRow]]:
    rows = _csv_rows(text, source)
    start = next((i for i, (_, cells) in enumerate(rows)
                  if cells and _header_key(cells[0]).startswith("well position")), None)
    if start is None:
        raise ScreenFileError(f"{source}: no 'Well position in plate' header row; not an HWI cocktail list")
    header = [_header_key(c) for c in rows[start][1]]
    code_col = next((i for i, h in enumerate(header) if h.startswith("cocktail")), None)
    groups: list[dict[str, int]] = []  # per component: its additive column, and its concentration and pH columns
    for i, h in enumerate(header):
        if h.startswith("chemical additive"):
            groups.append({"name": i})
        elif groups and (h.startswith("conc")) and "conc" not in groups[-1]:
            groups[-1]["conc"] = i
        elif groups and h == "ph":
            groups[-1]["ph"] = i
    if not groups:
        raise ScreenFileError(f"{source}: the header has no 'Chemical Additive' column; not an HWI cocktail list")
    problems, conditions, seen = _Problems(), [], {}
    for line, cells in rows[start + 1:]:
        if not any(c.strip() for c in cells):
            continue

        def cell(i: int | None) -> str:
            return cells[i].strip() if i is not None and i < len(cells) else ""

        try:
            position = _position(cell(0))
        except ValueError as exc:
            problems.add(line, f"{exc}" if cell(0) else "no well position")
            continue
        if position in seen:
            problems.add(line, f"position {position} again (first on line {seen[position]})")
            continue
        seen[position] = line
        components, ph, bad = [], None, False
        for g in groups:
            chemical, amount, ph_text = cell(g["name"]), cell(g.get("conc")), cell(g.get("ph"))
            component_ph = None
            if ph_text:
                try:
                    component_ph = parse_ph(ph_text)
                except ValueError as exc:
                    problems.add(line, str(exc))
                    bad = True
                    continue
                ph = component_ph if ph is None else ph
            if not chemical:
                if amount:
                    problems.add(line, f"a concentration ({amount}) without a chemical")
                    bad = True
                continue
            value = unit = None
            if amount:
                try:
                    value, unit = parse_amount(amount)
                except ValueError as exc:
                    problems.add(line, str(exc))
                    bad = True
                    continue
            components.append(ComponentRow(" ".join(chemical.split()), value, unit, component_ph))
        if bad:
            continue
        if not components:
            problems.add(line, "no chemical in any additive column")
            continue
        row, col = well_from_number(position, HWI_PLATE[1])
        components_t = tuple(components)
        conditions.append(ConditionRow(position, row, col, describe(components_t), cell(code_col) or None,
                                       _condition_ph(ph, components_t), components_t))
    problems.raise_if_any(source)
    return None, *HWI_PLATE, conditions


# -- the plain CSV -------------------------------------------------------------------------------------------------


def _read_plain_csv(source: Path, text: str) -> tuple[str | None, int, int, list[ConditionRow]]:
    rows = _csv_rows(text, source)
    start = next((i for i, (_, cells) in enumerate(rows) if any(c.strip() for c in cells)), None)
    if start is None:
        raise ScreenFileError(f"{source}: empty; nothing was stored")
    header = {_header_key(c): i for i, c in reversed(list(enumerate(rows[start][1])))}
    well_col = header.get("well", header.get("position"))
    condition_col = header.get("condition", header.get("description"))
    if well_col is None or (condition_col is None and "component_1" not in header):
        raise ScreenFileError(f"{source}: the first row must name the columns: well, condition (and optionally code, "
                              "ph, component_1, concentration_1, unit_1, ph_1 ...); found "
                              f"{', '.join(c for c in rows[start][1] if c) or 'none'}")
    numbered = sorted({int(m.group(1)) for h in header if (m := re.fullmatch(r"component_(\d+)", h))})
    problems = _Problems()
    parsed: list[tuple[int, str, int | None, tuple[int, int] | None, ConditionRow]] = []
    for line, cells in rows[start + 1:]:
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str) -> str:
            i = header.get(key)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        well_text = cell("well") if "well" in header else cell("position")
        number, place = None, None
        try:
            if re.fullmatch(r"\d+(\.0*)?", well_text):
                number = _position(well_text)
            else:
                place = parse_well(well_text)
        except ValueError:
            problems.add(line, f"well {well_text!r} is neither a well name (A1, H12) nor a number from 1 to "
                               f"{MAX_POSITION}" if well_text else "no well")
            continue
        description = cell("condition") or cell("description")
        try:
            ph = parse_ph(cell("ph")) if cell("ph") else None
            components = []
            for n in numbered:
                chemical = cell(f"component_{n}")
                amount, unit, part_ph = cell(f"concentration_{n}"), cell(f"unit_{n}"), cell(f"ph_{n}")
                if not chemical:
                    if amount:
                        raise ValueError(f"concentration_{n} ({amount}) without component_{n}")
                    continue
                value, found_unit = parse_amount(amount) if amount else (None, None)
                components.append(ComponentRow(" ".join(chemical.split()), value, unit_text(unit) or found_unit,
                                               parse_ph(part_ph) if part_ph else None))
        except ValueError as exc:
            problems.add(line, str(exc))
            continue
        components_t = tuple(components)
        if not components_t and description:
            components_t, text_ph = components_from_text(description)
            ph = ph if ph is not None else text_ph
        if not description and not components_t:
            problems.add(line, "no condition (the condition cell and every component cell are empty)")
            continue
        condition = ConditionRow(0, 0, 0, description or describe(components_t), cell("code") or None,
                                 _condition_ph(ph, components_t), components_t)
        parsed.append((line, well_text, number, place, condition))
    max_number = max((n for _, _, n, _, _ in parsed if n is not None), default=0)
    max_row = max((p[0] for _, _, _, p, _ in parsed if p is not None), default=0)
    max_col = max((p[1] for _, _, _, p, _ in parsed if p is not None), default=0)
    try:
        rows_n, cols_n = _plate_for(max(max_number, len(parsed)), max_row, max_col)
    except ValueError:
        raise ScreenFileError(f"{source}: the wells do not fit a 1536-well plate; nothing was stored") from None
    conditions, seen = [], {}
    for line, well_text, number, place, condition in parsed:
        row, col = place if place is not None else well_from_number(number, cols_n)
        if (row, col) in seen:
            problems.add(line, f"well {well_text} again (first on line {seen[(row, col)]})")
            continue
        seen[(row, col)] = line
        conditions.append(ConditionRow((row - 1) * cols_n + col, row, col, condition.description, condition.code,
                                       condition.ph, condition.components))
    problems.items.sort()
    problems.raise_if_any(source)
    return None, rows_n, cols_n, conditions


# -- Rock Maker screen XML -----------------------------------------------------------------------------------------


def _child_text(node: ElementTree.Element, tag: str) -> str:
    found = node.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _read_rockmaker(source: Path, text: str) -> tuple[str | None, int, int, list[ConditionRow]]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ScreenFileError(f"{source}: not well-formed XML ({exc}); nothing was stored") from None
    for element in root.iter():  # a namespaced export names its elements {namespace}tag
        if isinstance(element.tag, str):
            element.tag = element.tag.rpartition("}")[2]
    if root.find("conditions") is None or root.find("ingredients") is None:
        raise ScreenFileError(f"{source}: no <ingredients> and <conditions>; not a Rock Maker screen file")
    stocks: dict[str, tuple[str, str | None, float | None]] = {}  # stock localID -> (ingredient, unit, pH)
    for ingredient in root.iterfind("ingredients/ingredient"):
        chemical = " ".join(_child_text(ingredient, "name").split())
        for stock in ingredient.iterfind("stocks/stock"):
            ph_text = _child_text(stock, "pH")
            try:
                ph = parse_ph(ph_text) if ph_text else None
            except ValueError:
                ph = None
            stocks[_child_text(stock, "localID")] = (chemical, unit_text(_child_text(stock, "units")), ph)
    problems, parsed = _Problems(), []
    listed = root.findall("conditions/condition")
    for number, condition in enumerate(listed, 1):
        components, bad = [], False
        for item in condition.iterfind("conditionIngredient"):
            local_id = _child_text(item, "stockLocalID")
            if local_id not in stocks:
                problems.add(number, f"stock {local_id or '(none)'} is not among the ingredients' stocks")
                bad = True
                continue
            chemical, unit, stock_ph = stocks[local_id]
            try:
                value = float(_child_text(item, "concentration")) if _child_text(item, "concentration") else None
                ph = parse_ph(_child_text(item, "pH")) if _child_text(item, "pH") else None
            except ValueError as exc:
                problems.add(number, f"{chemical}: {exc}")
                bad = True
                continue
            components.append(ComponentRow(chemical or f"stock {local_id}", value, unit, ph))
        if bad:
            continue
        if not components:
            problems.add(number, "no conditionIngredient")
            continue
        parsed.append((number, tuple(components)))
    problems.raise_if_any(source, "condition")
    try:
        rows_n, cols_n = _plate_for(len(listed))
    except ValueError:
        raise ScreenFileError(f"{source}: {len(listed)} conditions do not fit a 1536-well plate") from None
    conditions = []
    for number, components in parsed:
        row, col = well_from_number(number, cols_n)
        conditions.append(ConditionRow(number, row, col, describe(components), None,
                                       _condition_ph(None, components), components))
    name = _child_text(root, "name") or None
    return name, rows_n, cols_n, conditions
