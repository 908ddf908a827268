"""Label CSV exchange: ``xtalviewer export`` and ``xtalviewer import-labels``.

The export columns are a contract scripts rely on. Import takes that CSV back (a round trip adds
nothing when labels are unchanged), a plain ``image_path,label`` CSV, or labels written as class
names or MARCO classes; every line it cannot use is reported with its number and reason.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from xtalviewer.core.outputs import atomic_output, output_target
from xtalviewer.core.store import Store

EXPORT_COLUMNS = (
    "plate", "inspection", "imaged_at", "well", "drop", "image_path", "label", "annotator", "labelled_at",
    "model", "pred1", "p1", "pred2", "p2", "pred3", "p3",
)


def export_rows(store: Store, *, plate: str | None = None, model_id: int | None = None) -> list[dict]:
    """One row per image, in plate / inspection / well / drop order; empty cells where nothing is known."""
    model = store.model(model_id) if model_id is not None else store.active_model()
    params: dict = {"model": model["id"] if model else None}
    where = ""
    if plate is not None:
        where = "WHERE pl.barcode = :plate"
        params["plate"] = plate
    rows = store.query(
        f"""
        SELECT pl.barcode AS plate, n.key AS inspection, n.imaged_at, i.well, i.drop_no AS "drop",
               i.path AS image_path, i.label, a.annotator, a.created_at AS labelled_at,
               p.top1 AS pred1, p.p1, p.top2 AS pred2, p.p2, p.top3 AS pred3, p.p3, p.id AS prediction_id
        FROM image i
        JOIN plate pl ON pl.id = i.plate_id
        JOIN inspection n ON n.id = i.inspection_id
        LEFT JOIN annotation a ON a.id = i.annotation_id
        LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
        {where}
        ORDER BY pl.barcode, n.imaged_at, n.id, i.row, i.col, i.drop_no
        """,
        params,
    )
    out = []
    for r in rows:
        row = {k: ("" if r.get(k) is None else r[k]) for k in EXPORT_COLUMNS}
        if r["label"] is None:  # a cleared label: no annotator to credit
            row["annotator"] = row["labelled_at"] = ""
        row["model"] = model["name"] if model and r["prediction_id"] is not None else ""
        for k in ("p1", "p2", "p3"):
            if r[k] is not None:
                row[k] = f"{r[k]:.4f}"
        out.append(row)
    return out


def export_csv(store: Store, target: str | Path, *, plate: str | None = None, model_id: int | None = None) -> int:
    """Write the export CSV whole (see ``outputs.atomic_output``); returns the number of rows.

    Raises OutputFileError for a target that must not be replaced, OSError when writing fails.
    """
    output_target(target)  # a bad target fails before the query
    rows = export_rows(store, plate=plate, model_id=model_id)
    with atomic_output(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


class LabelCsvError(ValueError):
    """A label CSV that cannot be used at all (unreadable, or without the needed columns)."""


@dataclass
class LabelImportReport:
    stored: int = 0
    unchanged: int = 0
    empty: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    mapped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        return (f"Stored {self.stored} label{'s' * (self.stored != 1)}; {self.unchanged} unchanged, "
                f"{self.empty} rows without a label, {len(self.problems)} problem line"
                f"{'s' * (len(self.problems) != 1)}.")


def _find_image(store: Store, row: dict, csv_dir: Path) -> int | None:
    path = (row.get("image_path") or "").strip()
    if path:
        found = store.image_id_by_path(path)
        if found is None and not Path(path).is_absolute():
            found = store.image_id_by_path(str((csv_dir / path).absolute()))
        if found is not None:
            return found
    if all((row.get(k) or "").strip() for k in ("plate", "inspection", "well", "drop")):
        try:
            drop = int(row["drop"])
        except ValueError:
            return None
        return store.image_id_by_position(row["plate"].strip(), row["inspection"].strip(), row["well"].strip(), drop)
    return None


def import_labels(store: Store, source: str | Path, *, annotator: str | None = None,
                  default_annotator: str = "unknown") -> LabelImportReport:
    """Store the labels of a CSV as annotations with source ``import``, all in one transaction."""
    source = Path(source)
    try:
        fh = open(source, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LabelCsvError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    report = LabelImportReport()
    pending: list[dict] = []
    seen: dict[int, str] = {}
    with fh:
        try:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise LabelCsvError(f"{source}: not a readable CSV file ({exc})") from None
        reader.fieldnames = fields
        has_path = "image_path" in fields
        has_position = {"plate", "inspection", "well", "drop"} <= set(fields)
        if "label" not in fields or not (has_path or has_position):
            raise LabelCsvError(
                f"{source}: needs the columns image_path,label (or plate,inspection,well,drop,label as "
                f"`xtalviewer export` writes them); found: {','.join(fields) or 'no header'}"
            )
        try:
            for row in reader:
                line = reader.line_num
                text = (row.get("label") or "").strip()
                if not text:
                    report.empty += 1
                    continue
                key = store.scheme.resolve(text)
                if key is None:
                    report.problems.append((line, f"unknown label '{text}' (scheme {store.scheme.id}: "
                                                  f"{', '.join(store.scheme.keys)})"))
                    continue
                if key != text and text.casefold() not in (key.casefold(), store.scheme.get(key).name.casefold()):
                    report.mapped[f"{text} -> {key}"] += 1
                image_id = _find_image(store, row, source.parent)
                if image_id is None:
                    where = row.get("image_path") or "/".join(str(row.get(k, "")) for k in ("plate", "inspection", "well", "drop"))
                    report.problems.append((line, f"no such image in the database: {where}"))
                    continue
                if seen.get(image_id, store.current_label(image_id)) == key:
                    report.unchanged += 1
                    continue
                seen[image_id] = key
                who = annotator or (row.get("annotator") or "").strip() or default_annotator
                pending.append(dict(image_id=image_id, label=key, annotator=who, source="import"))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise LabelCsvError(f"{source}: line {reader.line_num}: {exc}; nothing was stored") from None
    store.add_annotations(pending)
    report.stored = len(pending)
    return report
