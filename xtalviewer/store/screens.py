"""Crystallization screens: a screen is a named list of conditions by well, each condition its
components; a plate is assigned one screen, by hand, by a barcode rule, or because the imager's
metadata named it. What a well of a plate held is its screen's condition at the same row and
column (a 96-condition screen on a 96-well plate: A01 is A01).

Who decides a plate's screen: a hand assignment stays until it is cleared; otherwise the screen the
imager's metadata names (an inspection's ``meta`` key 'screen') when the store holds a screen of that
name; otherwise the first barcode rule (oldest first) that matches. ``settle_plate_screens`` applies
that after every import and whenever a screen or a rule is added.

The SQL is plain (joins, ``ON CONFLICT ... DO UPDATE``, no SQLite-only functions): rules are matched
and the imager's JSON metadata read in Python, so a PostgreSQL store runs the same statements.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from xtalviewer.plates import well_name
from xtalviewer.store.db import Database, StoreError, now_iso
from xtalviewer.store.hits import hit_sql, threshold_param
from xtalviewer.store.inputs import ScreenInput
from xtalviewer.store.screen_rows import (Component, PlateScreen, Screen, ScreenRule, WellCondition, WellOutcome,
                                          chemical_key)
from xtalviewer.store.schema import VISIBLE

SOURCES = ("hand", "rule", "imager")  # how a plate got its screen, strongest first
RULE_KINDS = ("prefix", "regex")
IMAGER_META_KEY = "screen"  # an inspection's metadata naming its screen


class ScreenExistsError(StoreError):
    """A screen of that name is in the store already (replace it on purpose, or choose another name)."""


# -- screens ----------------------------------------------------------------------------------------------


def add_screen(db: Database, screen: ScreenInput, *, replace: bool = False) -> int:
    """Store a whole screen in one transaction (nothing half-stored); returns its id. A screen of the
    same name is refused unless ``replace``: then its conditions are replaced and its plates keep it."""
    with db.transaction():
        found = db.execute("SELECT id FROM screen WHERE name = ?", (screen.name,)).fetchone()
        if found and not replace:
            raise ScreenExistsError(f"a screen named '{screen.name}' is in the store already; give another --name, "
                                    "or --replace to replace its conditions (its plates keep it)")
        if found:
            screen_id = found[0]
            db.execute("DELETE FROM condition_component WHERE condition_id IN "
                            "(SELECT id FROM screen_condition WHERE screen_id = ?)", (screen_id,))
            db.execute("DELETE FROM screen_condition WHERE screen_id = ?", (screen_id,))
            db.execute("UPDATE screen SET rows = ?, cols = ?, source = ? WHERE id = ?",
                            (screen.rows, screen.cols, screen.source, screen_id))
        else:
            screen_id = db.insert(
                "INSERT INTO screen(name, rows, cols, source, created_at) VALUES (?, ?, ?, ?, ?)",
                (screen.name, screen.rows, screen.cols, screen.source, now_iso()))
        for c in screen.conditions:
            condition_id = db.insert(
                "INSERT INTO screen_condition(screen_id, position, row, col, code, description, ph) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (screen_id, c.position, c.row, c.col, c.code, c.description, c.ph))
            db.executemany(
                "INSERT INTO condition_component(condition_id, ordinal, chemical, chemical_key, concentration, unit, "
                "ph) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(condition_id, n, k.chemical, chemical_key(k.chemical), k.concentration, k.unit, k.ph)
                 for n, k in enumerate(c.components, 1)])
        settle_plate_screens(db)  # the imager may have named this screen before it was imported
    return screen_id


_SCREEN = ("SELECT s.id, s.name, s.rows, s.cols, s.source, s.created_at, "
           "(SELECT COUNT(*) FROM screen_condition c WHERE c.screen_id = s.id), "
           "(SELECT COUNT(*) FROM plate_screen ps WHERE ps.screen_id = s.id) FROM screen s")


def screens(db: Database) -> list[Screen]:
    """Every screen, by name."""
    return [Screen(*r) for r in db.execute(f"{_SCREEN} ORDER BY s.name")]


def screen(db: Database, name: str) -> Screen | None:
    """The screen of that name; else the one whose name differs only in case (None when none or several)."""
    row = db.execute(f"{_SCREEN} WHERE s.name = ?", (name,)).fetchone()
    if row:
        return Screen(*row)
    alike = [s for s in screens(db) if s.name.casefold() == name.casefold()]
    return alike[0] if len(alike) == 1 else None


def screen_conditions(db: Database, screen_id: int) -> list[WellCondition]:
    """The screen's conditions in position order, each with its components."""
    return sorted(_conditions(db, [screen_id]).get(screen_id, {}).values(), key=lambda c: c.position)


def _conditions(db: Database, screen_ids: Sequence[int]) -> dict[int, dict[tuple[int, int], WellCondition]]:
    """screen id -> (row, col) -> its condition with components, for these screens."""
    if not screen_ids:
        return {}
    marks = ",".join("?" * len(screen_ids))
    components: dict[int, list[Component]] = defaultdict(list)
    for condition_id, *values in db.execute(
            f"SELECT k.condition_id, k.chemical, k.concentration, k.unit, k.ph FROM condition_component k "
            f"JOIN screen_condition c ON c.id = k.condition_id WHERE c.screen_id IN ({marks}) "
            "ORDER BY k.condition_id, k.ordinal", list(screen_ids)):
        components[condition_id].append(Component(*values))
    out: dict[int, dict[tuple[int, int], WellCondition]] = defaultdict(dict)
    for condition_id, screen_id, name, position, row, col, code, description, ph in db.execute(
            f"SELECT c.id, c.screen_id, s.name, c.position, c.row, c.col, c.code, c.description, c.ph "
            f"FROM screen_condition c JOIN screen s ON s.id = c.screen_id WHERE c.screen_id IN ({marks})",
            list(screen_ids)):
        out[screen_id][(row, col)] = WellCondition(name, position, well_name(row, col), code, description, ph,
                                                   tuple(components.get(condition_id, ())))
    return out


# -- which plate has which screen ---------------------------------------------------------------------------

_PLATE_SCREEN = ("SELECT ps.plate_id, pl.barcode, ps.screen_id, s.name, ps.source, ps.rule_id, ps.assigned_at "
                 "FROM plate_screen ps JOIN plate pl ON pl.id = ps.plate_id JOIN screen s ON s.id = ps.screen_id")


def plate_screen(db: Database, plate_id: int) -> PlateScreen | None:
    row = db.execute(f"{_PLATE_SCREEN} WHERE ps.plate_id = ?", (plate_id,)).fetchone()
    return PlateScreen(*row) if row else None


def plate_screens(db: Database, screen_id: int | None = None) -> list[PlateScreen]:
    """Plates with a screen (of this screen only, when given), by barcode."""
    where, params = ("WHERE ps.screen_id = ?", (screen_id,)) if screen_id is not None else ("", ())
    return [PlateScreen(*r) for r in db.execute(f"{_PLATE_SCREEN} {where} ORDER BY pl.barcode", params)]


def assign_screen(db: Database, plate_id: int, screen_id: int | None) -> PlateScreen | None:
    """Assign the plate its screen by hand (it stays until cleared); None clears a hand assignment,
    after which the imager's metadata and the barcode rules decide again. Returns the plate's screen now."""
    with db.transaction():
        if screen_id is None:
            db.execute("DELETE FROM plate_screen WHERE plate_id = ? AND source = 'hand'", (plate_id,))
            settle_plate_screens(db, [plate_id])
        else:
            _put(db, plate_id, screen_id, "hand", None)
    return plate_screen(db, plate_id)


def _put(db: Database, plate_id: int, screen_id: int, source: str, rule_id: int | None) -> None:
    db.execute(
        "INSERT INTO plate_screen(plate_id, screen_id, source, rule_id, assigned_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (plate_id) DO UPDATE SET screen_id = excluded.screen_id, source = excluded.source, "
        "rule_id = excluded.rule_id, assigned_at = excluded.assigned_at",
        (plate_id, screen_id, source, rule_id, now_iso()))


# -- barcode rules ----------------------------------------------------------------------------------------


def check_rule(kind: str, pattern: str) -> None:
    """ValueError for a rule that cannot match anything sensible (unknown kind, empty pattern, bad regex)."""
    if kind not in RULE_KINDS:
        raise ValueError(f"a rule is one of {', '.join(RULE_KINDS)}, not {kind!r}")
    if not pattern:
        raise ValueError("a rule needs a barcode prefix or pattern")
    if kind == "regex":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None


def rule_matches(rule: ScreenRule, barcode: str, wells: int) -> bool:
    """A prefix rule matches barcodes that start with it; a regex rule matches whole barcodes; a rule
    with ``wells`` only plates of that many wells."""
    if rule.wells is not None and rule.wells != wells:
        return False
    if rule.kind == "prefix":
        return barcode.startswith(rule.pattern)
    return re.fullmatch(rule.pattern, barcode) is not None


def add_screen_rule(db: Database, kind: str, pattern: str, screen_id: int, wells: int | None = None) -> int:
    """Add (or re-point) the rule for this pattern and plate size; plates without a hand assignment
    follow it at once. Returns the rule's id."""
    check_rule(kind, pattern)
    with db.transaction():
        same = [r for r in screen_rules(db) if (r.kind, r.pattern, r.wells) == (kind, pattern, wells)]
        if same:
            rule_id = same[0].id
            db.execute("UPDATE screen_rule SET screen_id = ? WHERE id = ?", (screen_id, rule_id))
        else:
            rule_id = db.insert(
                "INSERT INTO screen_rule(kind, pattern, wells, screen_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (kind, pattern, wells, screen_id, now_iso()))
        settle_plate_screens(db)
    return rule_id


def remove_screen_rule(db: Database, rule_id: int) -> bool:
    """Remove a rule; the plates it assigned follow the other rules (or have no screen). False: no such rule."""
    with db.transaction():
        db.execute("DELETE FROM plate_screen WHERE rule_id = ? AND source = 'rule'", (rule_id,))
        db.execute("UPDATE plate_screen SET rule_id = NULL WHERE rule_id = ?", (rule_id,))
        gone = db.execute("DELETE FROM screen_rule WHERE id = ?", (rule_id,)).rowcount
        settle_plate_screens(db)
    return bool(gone)


def screen_rules(db: Database) -> list[ScreenRule]:
    """The barcode rules, oldest first (the first that matches a plate decides)."""
    return [ScreenRule(*r) for r in db.execute(
        "SELECT r.id, r.kind, r.pattern, r.wells, r.screen_id, s.name, r.created_at "
        "FROM screen_rule r JOIN screen s ON s.id = r.screen_id ORDER BY r.id")]


def _imager_screen_names(db: Database, plate_ids: Sequence[int] | None) -> dict[int, str]:
    """plate id -> the screen its newest inspection's metadata names (read in Python: portable)."""
    where, params = "", ()
    if plate_ids is not None:
        where, params = f"AND plate_id IN ({','.join('?' * len(plate_ids))})", tuple(plate_ids)
    named: dict[int, str] = {}
    for plate_id, meta in db.execute(
            f"SELECT plate_id, meta FROM inspection WHERE meta IS NOT NULL {where} ORDER BY imaged_at, id", params):
        try:
            value = json.loads(meta).get(IMAGER_META_KEY)
        except (ValueError, AttributeError):
            continue
        if isinstance(value, str) and value.strip():
            named[plate_id] = value.strip()
    return named


def settle_plate_screens(db: Database, plate_ids: Iterable[int] | None = None) -> list[PlateScreen]:
    """Give each plate (these, or all) without a hand assignment the screen its imager's metadata
    names, else the one of the first matching barcode rule, else none. Returns the plates that changed."""
    ids = None if plate_ids is None else sorted(set(plate_ids))
    if ids == []:
        return []
    where = "" if ids is None else f"WHERE id IN ({','.join('?' * len(ids))})"
    plates = db.execute(f"SELECT id, barcode, rows * cols FROM plate {where}", ids or ()).fetchall()
    current = {r.plate_id: r for r in plate_screens(db)}
    by_name = {s.name: s.id for s in screens(db)}
    by_folded = {name.casefold(): sid for name, sid in by_name.items()}
    named = _imager_screen_names(db, ids)
    rules = screen_rules(db)
    changed: list[int] = []
    with db.transaction():
        for plate_id, barcode, wells in plates:
            now = current.get(plate_id)
            if now is not None and now.source == "hand":
                continue
            want: tuple[int, str, int | None] | None = None
            name = named.get(plate_id)
            named_id = by_name.get(name) or by_folded.get(name.casefold()) if name else None
            if named_id is not None:
                want = (named_id, "imager", None)
            else:
                rule = next((r for r in rules if rule_matches(r, barcode, wells)), None)
                if rule is not None:
                    want = (rule.screen_id, "rule", rule.id)
            if want == (None if now is None else (now.screen_id, now.source, now.rule_id)):
                continue
            if want is None:
                db.execute("DELETE FROM plate_screen WHERE plate_id = ?", (plate_id,))
            else:
                _put(db, plate_id, *want)
            changed.append(plate_id)
    return [p for p in (plate_screen(db, i) for i in changed) if p is not None]


# -- what a plate's wells held ------------------------------------------------------------------------------


def plate_conditions(db: Database, plate_id: int) -> dict[str, WellCondition]:
    """The plate's well name (A01 ...) -> the condition its screen has there; empty without a screen."""
    found = plate_screen(db, plate_id)
    if found is None:
        return {}
    return {c.well: c for c in _conditions(db, [found.screen_id])[found.screen_id].values()}


def conditions_by_well(db: Database, barcode: str | None = None) -> dict[tuple[str, str], WellCondition]:
    """(plate barcode, well) -> condition, for every plate with a screen (or this plate): what the
    hit list, the export and the report put beside a drop."""
    assigned = [p for p in plate_screens(db) if barcode is None or p.barcode == barcode]
    by_screen = _conditions(db, sorted({p.screen_id for p in assigned}))
    return {(p.barcode, well_name(row, col)): c for p in assigned
            for (row, col), c in by_screen.get(p.screen_id, {}).items()}


def well_outcomes(db: Database, model_id: int | None, screen_id: int,
                  plate_ids: Sequence[int] | None = None) -> list[WellOutcome]:
    """Per well of every plate with this screen (or these of them): the drops' best crystal
    probability over all inspections (this model), when the well was first a hit (``hits.hit_sql``
    at the model's operating point), when a drop was first labelled as a crystal, and when the plate
    was first imaged. Wells without a visible image are left out."""
    crystal = {f"crystal{n}": key for n, key in enumerate(sorted(db.scheme.crystal_keys))}
    labelled = (f"MIN(CASE WHEN i.label IN ({','.join(':' + k for k in crystal)}) THEN n.imaged_at END)"
                if crystal else "NULL")
    params: dict = {"model": model_id, "screen": screen_id, "mode": VISIBLE, **crystal,
                    **threshold_param(db, model_id)}
    scope = ""
    if plate_ids is not None:
        if not plate_ids:
            return []
        scope = "AND ps.plate_id IN (" + ",".join(f":plate{n}" for n in range(len(plate_ids))) + ")"
        params.update({f"plate{n}": pid for n, pid in enumerate(plate_ids)})
    return [WellOutcome(*r) for r in db.execute(
        f"""SELECT ps.plate_id, pl.barcode, sc.position, COUNT(DISTINCT i.id), COUNT(p.id), MAX(p.crystal_prob),
                   MIN(CASE WHEN {hit_sql()} THEN n.imaged_at END), {labelled},
                   (SELECT MIN(f.imaged_at) FROM inspection f WHERE f.plate_id = ps.plate_id)
            FROM plate_screen ps
            JOIN plate pl ON pl.id = ps.plate_id
            JOIN screen_condition sc ON sc.screen_id = ps.screen_id
            JOIN image i ON i.plate_id = ps.plate_id AND i.row = sc.row AND i.col = sc.col
            JOIN inspection n ON n.id = i.inspection_id
            LEFT JOIN prediction p ON p.image_id = i.id AND p.model_id = :model
            WHERE ps.screen_id = :screen AND i.mode = :mode {scope}
            GROUP BY ps.plate_id, pl.barcode, sc.position
            ORDER BY pl.barcode, sc.position""", params)]
