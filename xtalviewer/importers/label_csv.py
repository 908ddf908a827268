"""Label CSV exchange: ``xtalviewer export`` and ``xtalviewer import-labels``.

The export columns are a contract scripts rely on. Import takes that CSV back (a round trip adds
nothing when labels are unchanged), a plain ``image_path,label`` CSV, or labels written as class
names or MARCO classes; every line it cannot use is reported with its number and reason.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xtalviewer.crystal_call import is_hit
from xtalviewer.files.outputs import atomic_output, output_target
from xtalviewer.files.regular import open_regular
from xtalviewer.store.schema import MODE_NAMES, MODES, VISIBLE
from xtalviewer.store.store import AnnotationRow, Store

LABEL_CHUNK = 1_000  # labels per transaction: about 0.1 s of holding the write lock on a busy 2-core machine
MAX_LINE_CHARS = 65_536  # a label CSV line is well under 1 KB; anything longer is not one
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula
EXPORT_COLUMNS = (
    "plate", "inspection", "imaged_at", "well", "drop", "image_path", "label", "annotator", "labelled_at",
    "model", "pred1", "p1", "pred2", "p2", "pred3", "p3", "crystal_prob", "hit", "mode", "condition", "ph",
)


def export_rows(store: Store, *, plate: str | None = None, model_id: int | None = None) -> list[dict]:
    """One row per image (CSV column -> value), in plate / inspection / well / drop order; empty cells
    where nothing is known. Each column is the ``ExportRow`` field of its name, but for 'model' and 'hit'."""
    from xtalviewer.model.registry import current_model  # torch only when a model must be found

    model = store.model(model_id) if model_id is not None else current_model(store)
    rows = store.export_rows_raw(model.id if model else None, plate)
    threshold = store.operating_point(model.id).threshold if model else None
    out = []
    for r in rows:
        row = {k: "" if (v := getattr(r, k, None)) is None else v for k in EXPORT_COLUMNS}
        if r.label is None:  # a cleared label: no annotator to credit
            row["annotator"] = row["labelled_at"] = ""
        row["model"] = model.name if model and r.prediction_id is not None else ""
        for k, p in (("p1", r.p1), ("p2", r.p2), ("p3", r.p3), ("crystal_prob", r.crystal_prob)):
            if p is not None:
                row[k] = f"{p:.4f}"
        # the hit at that model's operating point, by the one rule (crystal_call.is_hit)
        row["hit"] = "" if r.crystal_prob is None else int(is_hit(r.crystal_prob, threshold))
        row["ph"] = "" if r.ph is None else f"{r.ph:g}"  # the well's screen condition and its pH (blank: no screen)
        out.append(row)
    return out


def export_csv(store: Store, target: str | Path, *, plate: str | None = None, model_id: int | None = None) -> int:
    """Write the export CSV whole (see ``outputs.atomic_output``); returns the number of rows.

    Raises OutputFileError for a target that must not be replaced, OSError when writing fails.
    """
    output_target(target, databases=[store.path])  # a bad target (the store itself too) fails before the query
    rows = export_rows(store, plate=plate, model_id=model_id)
    with atomic_output(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
    return len(rows)


def neutralise(value: object) -> object:
    """A cell a spreadsheet would run as a formula (=, +, -, @ ...) gets a leading apostrophe, which
    spreadsheets show as text; ``import-labels`` takes it off again."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _restore(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


class LabelCsvError(ValueError):
    """A label CSV that cannot be used at all (unreadable, or without the needed columns)."""


@dataclass
class LabelImportReport:
    stored: int = 0
    unchanged: int = 0
    empty: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    mapped: Counter = field(default_factory=Counter)
    superseded: list[tuple[int, int]] = field(default_factory=list)  # (line, later line naming the same image)

    def summary(self) -> str:
        repeated = (f", {len(self.superseded)} line{'s' * (len(self.superseded) != 1)} superseded by a later line "
                    "for the same image") if self.superseded else ""
        return (f"Stored {self.stored} label{'s' * (self.stored != 1)}; {self.unchanged} unchanged, "
                f"{self.empty} rows without a label, {len(self.problems)} problem line"
                f"{'s' * (len(self.problems) != 1)}{repeated}.")


@dataclass(frozen=True)
class WantedLabel:
    """One image's label as the CSV asks for it (the last line naming the image wins)."""

    line: int
    image_id: int
    label: str
    annotator: str


def _path_tail(path: str) -> tuple[str, ...]:
    """Folder and file name: what stays when the share holding the images is mounted elsewhere."""
    return tuple(re.split(r"[\\/]", path.strip())[-2:])


def _row_mode(row: dict) -> tuple[str | None, str | None]:
    """(mode, problem) of a line: its mode cell (a mode key or name, any case), visible when the CSV
    has no mode column or the cell is empty."""
    text = (row.get("mode") or "").strip()
    if not text:
        return VISIBLE, None
    wanted = text.casefold()
    for mode in MODES:
        if wanted in (mode, MODE_NAMES.get(mode, mode).casefold()):
            return mode, None
    return None, f"unknown imaging mode '{text}' ({', '.join(MODES)})"


def _find_image(store: Store, row: dict, csv_dir: Path, has_mode: bool) -> tuple[int | None, bool, str | None]:
    """(image id, found by position, problem): by image_path where the store holds it, else by
    plate, inspection, well, drop and mode; the fallback never crosses modes."""
    path = (row.get("image_path") or "").strip()
    if path:
        candidates = [path] if Path(path).is_absolute() else [path, str((csv_dir / path).absolute())]
        candidates.append(os.path.realpath(candidates[-1]))  # the store holds real paths
        for candidate in candidates:
            found = store.image_id_by_path(candidate)
            if found is not None:
                return found, False, None
    if not all((row.get(k) or "").strip() for k in ("plate", "inspection", "well", "drop")):
        return None, False, None
    try:
        drop = int(row["drop"])
    except ValueError:
        return None, False, None
    mode, problem = _row_mode(row)
    if problem:
        return None, True, problem
    position = (row["plate"].strip(), row["inspection"].strip(), row["well"].strip(), drop)
    if not has_mode and path:  # an export from before the mode column: a UV or SHG line is not the visible drop's
        named = [m for m, stored in store.position_paths(*position).items() if _path_tail(stored) == _path_tail(path)]
        if named and VISIBLE not in named:
            return None, True, (f"{'/'.join(_path_tail(path))} is the {MODE_NAMES.get(named[0], named[0])} image of "
                                 "this drop, and without a mode column a line labels the visible image; left out "
                                 "(export again: the export now writes the mode)")
    return store.image_id_by_position(*position, mode), True, None


def _bounded_lines(fh, source: Path) -> Iterator[str]:
    """The file's lines, refusing one longer than MAX_LINE_CHARS (a binary file, /dev/zero) before
    it is read whole."""
    number = 0
    while True:
        line = fh.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise LabelCsvError(f"{source}: line {number} is longer than {MAX_LINE_CHARS} characters; this is not a "
                                "label CSV. Nothing was stored")
        yield line


def _csv_problem(exc: csv.Error, line: int) -> str:
    text = str(exc)
    if "unexpected end of data" in text or "field larger than field limit" in text:
        return f"line {line}: a quoted field that starts on this line is never closed (a missing \")"
    return f"line {line}: {text}"


def read_label_csv(store: Store, source: str | Path, *, annotator: str | None = None,
                   default_annotator: str = "unknown") -> tuple[LabelImportReport, list[WantedLabel]]:
    """Read and check a label CSV without writing: the report so far and the labels it asks for.

    Only a regular file is read, and no line may be longer than MAX_LINE_CHARS. A CSV that cannot
    be parsed (an unclosed quote, text that is not UTF-8) raises LabelCsvError naming the line.
    """
    source = Path(source)
    try:
        fh = open_regular(source, "r", newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LabelCsvError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    report = LabelImportReport()
    wanted: dict[int, WantedLabel] = {}
    named_file: dict[int, tuple[int, str]] = {}  # image found by position -> (line, the file that line named)
    conflicting: set[int] = set()
    with fh:
        lines = _bounded_lines(fh, source)
        reader = csv.DictReader(lines, strict=True)
        try:
            fields = [_restore(f.strip()) for f in (reader.fieldnames or [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise LabelCsvError(f"{source}: not a readable CSV file ({exc})") from None
        reader.fieldnames = fields
        has_path = "image_path" in fields
        has_position = {"plate", "inspection", "well", "drop"} <= set(fields)
        has_mode = "mode" in fields
        if "label" not in fields or not (has_path or has_position):
            raise LabelCsvError(
                f"{source}: needs the columns image_path,label (or plate,inspection,well,drop,label as "
                f"`xtalviewer export` writes them); found: {','.join(fields) or 'no header'}"
            )
        line = reader.line_num + 1
        try:
            for raw in reader:
                row = {k: _restore(v) if isinstance(v, str) else v for k, v in raw.items()}
                here, line = line, reader.line_num + 1
                text = (row.get("label") or "").strip()
                if not text:
                    report.empty += 1
                    continue
                key = store.scheme.resolve(text)
                if key is None:
                    report.problems.append((here, f"unknown label '{text}' {store.scheme.label_hint(text)}"))
                    continue
                if key != text and text.casefold() not in (key.casefold(), store.scheme.get(key).name.casefold()):
                    report.mapped[f"{text} -> {key}"] += 1
                image_id, by_position, problem = _find_image(store, row, source.parent, has_mode)
                if image_id is None:
                    where = row.get("image_path") or "/".join(str(row.get(k, "")) for k in ("plate", "inspection", "well", "drop"))
                    report.problems.append((here, problem or f"no such image in the database: {where}"))
                    continue
                path = (row.get("image_path") or "").strip()
                if by_position and path:  # two files found at one position are two images, not one line and a later one
                    first, first_path = named_file.setdefault(image_id, (here, path))
                    if first_path != path or image_id in conflicting:
                        if image_id not in conflicting:
                            conflicting.add(image_id)
                            wanted.pop(image_id, None)
                            report.problems.append((first, f"{first_path}: found by plate/inspection/well/drop, as is "
                                                           f"another file on line {here}; neither is stored"))
                        report.problems.append((here, f"{path}: found by plate/inspection/well/drop, as is another "
                                                      f"file on line {first}; neither is stored"))
                        continue
                if image_id in wanted:
                    report.superseded.append((wanted[image_id].line, here))
                who = annotator or (row.get("annotator") or "").strip() or default_annotator
                wanted[image_id] = WantedLabel(here, image_id, key, who)
        except csv.Error as exc:
            raise LabelCsvError(f"{source}: {_csv_problem(exc, line)}; nothing was stored") from None
        except UnicodeDecodeError:
            raise LabelCsvError(f"{source}: line {line}: not UTF-8 text; nothing was stored") from None
    return report, sorted(wanted.values(), key=lambda w: w.line)


def store_labels(store: Store, wanted: Sequence[WantedLabel], report: LabelImportReport,
                 chunk: int | None = None) -> LabelImportReport:
    """Append the labels that differ from the images' current ones, ``chunk`` at a time.

    Each chunk is one short transaction that reads the current labels and writes inside it, so
    the review window never waits long for the lock and two imports of one CSV store each label
    once. A chunk is whole or absent; a second run stores what an interrupted one did not.
    """
    size = chunk or LABEL_CHUNK
    for start in range(0, len(wanted), size):
        part = wanted[start : start + size]
        with store.transaction():
            current = store.current_labels([w.image_id for w in part])
            new = [w for w in part if current.get(w.image_id) != w.label]
            store.add_annotations([AnnotationRow(w.image_id, w.label, w.annotator, source="import") for w in new])
        report.stored += len(new)
        report.unchanged += len(part) - len(new)
    return report


def import_labels(store: Store, source: str | Path, *, annotator: str | None = None,
                  default_annotator: str = "unknown") -> LabelImportReport:
    """Store the labels of a CSV as annotations with source ``import``: read and check it all, then
    write in short chunks (see ``store_labels``); a CSV that cannot be parsed stores nothing."""
    report, wanted = read_label_csv(store, source, annotator=annotator, default_annotator=default_annotator)
    return store_labels(store, wanted, report)
