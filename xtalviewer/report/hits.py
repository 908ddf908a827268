"""The cross-plate hit list: ``xtalviewer hits`` and the Hit list window.

Drops of every plate that are, or ever were, a hit of a model, ranked by its calibrated crystal
probability at their latest inspection (``Store.hit_list`` says exactly which drops). The CSV's
first columns are a contract scripts rely on; the rule that made the hits is said beside it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path

from xtalviewer.crystal_call import OperatingPoint, pct
from xtalviewer.importers.label_csv import neutralise
from xtalviewer.files.outputs import atomic_output, output_target
from xtalviewer.files.printable import printable
from xtalviewer.store.rows import Hit, Model
from xtalviewer.store.schema import VISIBLE
from xtalviewer.store.store import Store

HIT_COLUMNS = ("plate", "inspection", "imaged_at", "well", "drop", "image_path", "crystal_prob", "label",
               "hit", "crystal_top3", "best_crystal_prob", "first_hit_inspection", "mode", "condition", "ph")


def hit_rule(model: Model, op: OperatingPoint) -> str:
    """One line naming the model and its rule, printed (and shown) beside every hit list."""
    return (f"Model {model.name} (id {model.id}): {op.describe()}. Listed: drops that are, or were at an "
            "earlier inspection, a hit; one row per drop at its latest inspection, highest crystal probability first.")


def check_since(text: str | None) -> str | None:
    """An ISO date (YYYY-MM-DD) as given, or ValueError saying what was wrong."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"--since must be a date like 2026-03-01, not {text!r}") from None


def csv_row(r: Hit) -> dict[str, object]:
    """A hit-list row as the CSV writes it (column -> value): probabilities with 4 decimals, flags
    as 1/0, blanks for none. Each column is the ``Hit`` field of its name, but for 'mode': the hit
    list holds visible drops, and says so, so ``import-labels`` of this CSV never lands on a UV image."""
    values = {k: getattr(r, k) for k in HIT_COLUMNS if k != "mode"}
    values["mode"] = VISIBLE
    out = {k: "" if v is None else v for k, v in values.items()}
    for k in ("crystal_prob", "best_crystal_prob"):
        if values[k] is not None:
            out[k] = f"{values[k]:.4f}"
    for k in ("hit", "crystal_top3"):
        if values[k] is not None:
            out[k] = int(bool(values[k]))
    if values["ph"] is not None:
        out["ph"] = f"{values['ph']:g}"
    return out


def write_hits_csv(target: str | Path, rows: Sequence[Hit]) -> int:
    """Write the hit list whole (``outputs.atomic_output``); returns the number of rows."""
    output_target(target)
    with atomic_output(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HIT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in csv_row(r).items()} for r in rows)
    return len(rows)


def hit_table(rows: Sequence[Hit], limit: int = 50) -> list[str]:
    """The first ``limit`` rows as aligned text lines for the terminal."""
    lines = [f"{'#':>4}  {'plate':<14} {'imaged':<16} {'well':<5} {'drop':>4} {'crystal':>8} {'best':>7} "
             f"{'hit':<4} {'first hit':<16} {'label':<18} condition"]
    for n, r in enumerate(rows[:limit], start=1):
        prob = "" if r.crystal_prob is None else pct(r.crystal_prob)
        lines.append(f"{n:>4}  {printable(r.plate)[:14]:<14} {(r.imaged_at or '')[:16].replace('T', ' '):<16} "
                     f"{r.well:<5} {r.drop:>4} {prob:>8} {pct(r.best_crystal_prob):>7} "
                     f"{'yes' if r.hit else 'no':<4} {(r.first_hit_at or '')[:16].replace('T', ' '):<16} "
                     f"{r.label or '':<18} {printable(r.condition or '')[:60]}")
    if len(rows) > limit:
        lines.append(f"… and {len(rows) - limit} more (-o FILE.csv writes them all)")
    return lines


def store_hits(store: Store, model: Model, *, plate: str | None = None, since: str | None = None,
               new_only: bool = False) -> list[Hit]:
    """``Store.hit_list`` of this model (a thin name for the GUI's background task)."""
    return store.hit_list(model.id, plate=plate, since=since, new_only=new_only)


# -- the morning summary: Markdown, HTML or CSV, with one line per plate -----------------------------------------

FORMATS = ("csv", "md", "html")
_SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".csv": "csv"}


def _field(r, key: str):
    """A hit-list row's field, whether the store hands out dicts or typed ``Hit`` rows."""
    return r.get(key) if isinstance(r, dict) else getattr(r, key)


def summary_format(path: str | Path) -> str:
    """The format a summary file's name asks for (.md, .html, .csv); Markdown for any other name."""
    return _SUFFIX_FORMATS.get(Path(path).suffix.lower(), "md")


def plate_lines(rows: Sequence[Hit], *, new_only: bool) -> list[str]:
    """One line per plate, most hits first: "Plate X: 3 new hits in 2 inspections" (with --new), else
    "Plate X: 4 hits (1 new) in 1 inspection"; drops listed for an earlier hit only are counted apart."""
    plates: dict[str, dict] = {}
    for r in rows:
        p = plates.setdefault(_field(r, "plate"), {"hits": 0, "new": 0, "earlier": 0, "inspections": set()})
        p["inspections"].add(_field(r, "inspection"))
        if _field(r, "hit"):
            p["hits"] += 1
            p["new"] += _field(r, "first_hit_inspection") == _field(r, "inspection")
        else:
            p["earlier"] += 1
    lines = []
    for plate, p in sorted(plates.items(), key=lambda kv: (-kv[1]["hits"], kv[0])):
        n, k = p["hits"], len(p["inspections"])
        where = f"in {k} inspection{'s' * (k != 1)}"
        if new_only:
            lines.append(f"Plate {printable(plate)}: {n} new hit{'s' * (n != 1)} {where}")
        else:
            earlier = f"; {p['earlier']} more were hits earlier" if p["earlier"] else ""
            lines.append(f"Plate {printable(plate)}: {n} hit{'s' * (n != 1)} ({p['new']} new) {where}{earlier}")
    return lines


def _md_cell(value: object) -> str:
    return printable(str(value)).replace("\\", "\\\\").replace("|", "\\|")


def _html(value: object) -> str:
    """Text for HTML, control characters from file names shown as escapes."""
    return escape(printable(str(value)))


_TABLE_KEYS = ("plate", "inspection", "imaged_at", "well", "drop", "crystal_prob", "best_crystal_prob", "hit",
               "first_hit_inspection", "label", "condition", "image_path")


def _cell(r, key: str) -> object:
    """A table cell of the Markdown and HTML documents: times to the minute, probabilities in percent."""
    value = _field(r, key)
    if key == "imaged_at":
        return (value or "")[:16].replace("T", " ")
    if key in ("crystal_prob", "best_crystal_prob"):
        return "" if value is None else pct(value)
    if key == "hit":
        return "yes" if value else "no"
    return "" if value is None else value


def render_hits(rows: Sequence[Hit], fmt: str, *, rule: str, title: str, new_only: bool) -> str:
    """The hit list as one document: ``md`` and ``html`` carry the title, the rule, one line per
    plate and a table of the drops; ``csv`` is exactly what ``write_hits_csv`` writes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=HIT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in csv_row(r).items()} for r in rows)  # as write_hits_csv
        return buf.getvalue()
    summary = plate_lines(rows, new_only=new_only) or ["No drops."]
    header = ("Plate", "Inspection", "Imaged", "Well", "Drop", "Crystal", "Best", "Hit now", "First hit", "Label",
              "Condition", "Image")
    table = [tuple(_cell(r, key) for key in _TABLE_KEYS) for r in rows]
    if fmt == "md":
        lines = [f"# {_md_cell(title)}", "", _md_cell(rule), ""] + [f"- {_md_cell(s)}" for s in summary]
        if table:
            lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table]
        return "\n".join(lines) + "\n"
    cells = "".join(f"<th>{_html(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_html(v)}</td>" for v in row) + "</tr>\n" for row in table)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_html(title)}</title>\n"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:left}</style></head><body>\n"
            f"<h1>{_html(title)}</h1>\n<p>{_html(rule)}</p>\n<ul>\n"
            + "".join(f"<li>{_html(s)}</li>\n" for s in summary) + "</ul>\n"
            + (f"<table><thead><tr>{cells}</tr></thead><tbody>\n{body}</tbody></table>\n" if table else "")
            + "</body></html>\n")


def write_hits(target: str | Path, rows: Sequence[Hit], fmt: str, *, rule: str, title: str, new_only: bool) -> int:
    """Write the hit list in ``fmt`` whole (``outputs.atomic_output``), so a mail job or a browser
    never reads half a file; returns the number of drops."""
    text = render_hits(rows, fmt, rule=rule, title=title, new_only=new_only)
    output_target(target)
    with atomic_output(target, "w", newline="", encoding="utf-8") as fh:
        fh.write(text)
    return len(rows)


def output_format(path: str | Path) -> str:
    """The format of ``hits -o FILE`` without --format: Markdown or HTML by the suffix, else CSV."""
    fmt = _SUFFIX_FORMATS.get(Path(path).suffix.lower())
    return fmt or "csv"


def hits_title(*, new_only: bool, since: str | None, plate: str | None) -> str:
    """The heading of a hit-list document: "New hits since 2026-03-01", "Hits on plate X" ..."""
    title = "New hits" if new_only else "Hits"
    if plate:
        title += f" on plate {plate}"
    return title + (f" since {since}" if since else "")
