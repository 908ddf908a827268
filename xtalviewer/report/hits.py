"""The cross-plate hit list: ``xtalviewer hits`` and the Hit list window.

Drops of every plate that are, or ever were, a hit of a model, ranked by its calibrated crystal
probability at their latest inspection (``Store.hit_list`` says exactly which drops). The CSV's
first columns are a contract scripts rely on; the rule that made the hits is said beside it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from xtalviewer.crystal_call import OperatingPoint, pct
from xtalviewer.importers.label_csv import neutralise
from xtalviewer.files.outputs import atomic_output, output_target
from xtalviewer.store.store import Store

HIT_COLUMNS = ("plate", "inspection", "imaged_at", "well", "drop", "image_path", "crystal_prob", "label",
               "hit", "crystal_top3", "best_crystal_prob", "first_hit_inspection")


def hit_rule(model: dict, op: OperatingPoint) -> str:
    """One line naming the model and its rule, printed (and shown) beside every hit list."""
    return (f"Model {model['name']} (id {model['id']}): {op.describe()}. Listed: drops that are, or were at an "
            "earlier inspection, a hit; one row per drop at its latest inspection, highest crystal probability first.")


def check_since(text: str | None) -> str | None:
    """An ISO date (YYYY-MM-DD) as given, or ValueError saying what was wrong."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"--since must be a date like 2026-03-01, not {text!r}") from None


def csv_row(r: dict) -> dict:
    """A hit-list row as the CSV writes it: probabilities with 4 decimals, flags as 1/0, blanks for none."""
    out = {k: ("" if r.get(k) is None else r[k]) for k in HIT_COLUMNS}
    for k in ("crystal_prob", "best_crystal_prob"):
        if r.get(k) is not None:
            out[k] = f"{r[k]:.4f}"
    for k in ("hit", "crystal_top3"):
        if r.get(k) is not None:
            out[k] = int(bool(r[k]))
    return out


def write_hits_csv(target: str | Path, rows: Sequence[dict]) -> int:
    """Write the hit list whole (``outputs.atomic_output``); returns the number of rows."""
    output_target(target)
    with atomic_output(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HIT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in csv_row(r).items()} for r in rows)
    return len(rows)


def hit_table(rows: Sequence[dict], limit: int = 50) -> list[str]:
    """The first ``limit`` rows as aligned text lines for the terminal."""
    lines = [f"{'#':>4}  {'plate':<14} {'imaged':<16} {'well':<5} {'drop':>4} {'crystal':>8} {'best':>7} "
             f"{'hit':<4} {'first hit':<16} label"]
    for n, r in enumerate(rows[:limit], start=1):
        prob = "" if r["crystal_prob"] is None else pct(r["crystal_prob"])
        lines.append(f"{n:>4}  {r['plate'][:14]:<14} {(r['imaged_at'] or '')[:16].replace('T', ' '):<16} "
                     f"{r['well']:<5} {r['drop']:>4} {prob:>8} {pct(r['best_crystal_prob']):>7} "
                     f"{'yes' if r['hit'] else 'no':<4} {(r['first_hit_at'] or '')[:16].replace('T', ' '):<16} "
                     f"{r['label'] or ''}")
    if len(rows) > limit:
        lines.append(f"… and {len(rows) - limit} more (-o FILE.csv writes them all)")
    return lines


def store_hits(store: Store, model: dict, *, plate: str | None = None, since: str | None = None,
               new_only: bool = False) -> list[dict]:
    """``Store.hit_list`` of this model (a thin name for the GUI's background task)."""
    return store.hit_list(model["id"], plate=plate, since=since, new_only=new_only)
