"""Which chemistry crystallises: over the plates of one screen, per component and per pH bin, how
many wells gave a hit and the best crystal probability, and per condition how soon its first hit
came. ``xtalviewer conditions`` prints it (or writes JSON) and the Plots dialog's Conditions tab
draws it.

A well is a plate's well (all its drops, every inspection); it is a hit when the model called one
of its drops a hit at some inspection (at the model's operating point) or a reviewer labelled one a
crystal. The time to the first hit counts from the plate's first inspection (its set-up imaging).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from xtalviewer.crystal_call import OperatingPoint, pct
from xtalviewer.files.printable import printable
from xtalviewer.store.rows import Hit, Model
from xtalviewer.store.screen_rows import PlateScreen, WellCondition, WellOutcome, chemical_key
from xtalviewer.store.store import Store


class ConditionsError(ValueError):
    """Plates or a screen that cannot be summarised as asked; the message says why."""


@dataclass(frozen=True)
class ComponentStat:
    """One chemical over the screen's plates: wells holding it, wells with a hit, the best probability."""

    name: str
    conditions: int  # conditions of the screen that hold it
    wells: int  # plate wells imaged whose condition holds it
    hit_wells: int
    best_prob: float | None

    @property
    def share(self) -> float:
        return self.hit_wells / self.wells if self.wells else 0.0


@dataclass(frozen=True)
class PhBinStat:
    """Conditions whose pH is in [low, high)."""

    low: float
    high: float
    conditions: int
    wells: int
    hit_wells: int
    best_prob: float | None

    @property
    def label(self) -> str:
        return f"pH {self.low:g}–{self.high:g}"

    @property
    def share(self) -> float:
        return self.hit_wells / self.wells if self.wells else 0.0


@dataclass(frozen=True)
class ConditionStat:
    """One condition of the screen over its plates; ``days_to_first_hit`` is the soonest over them."""

    position: int
    well: str
    code: str | None
    description: str
    ph: float | None
    wells: int
    hit_wells: int
    best_prob: float | None
    days_to_first_hit: float | None


@dataclass(frozen=True)
class ChemistrySummary:
    """Everything the Conditions tab and ``xtalviewer conditions`` show for one screen."""

    screen: str
    plates: list[str]
    model: str | None
    rule: str
    wells: int
    hit_wells: int
    components: list[ComponentStat]
    ph_bins: list[PhBinStat]
    conditions: list[ConditionStat]
    no_ph_wells: int

    def to_json(self) -> dict:
        return asdict(self)


# -- choosing the plates ---------------------------------------------------------------------------------------


def choose_plates(store: Store, *, screen: str | None = None,
                  plates: Sequence[str] = ()) -> tuple[int, list[PlateScreen]]:
    """(screen id, its plates) for a named screen, for named plates (all of one screen), or for the
    one screen plates have when neither is named. ConditionsError says what to name instead."""
    assigned = store.plate_screens()
    if plates:
        by_barcode = {p.barcode: p for p in assigned}
        unknown = [b for b in plates if store.plate_by_barcode(b) is None]
        if unknown:
            raise ConditionsError(f"no plate '{unknown[0]}' in {store.location}")
        without = [b for b in plates if b not in by_barcode]
        if without:
            raise ConditionsError(f"plate {without[0]} has no screen: assign one (xtalviewer screens assign "
                                  f"{without[0]} NAME) or add a barcode rule (xtalviewer screens rule PREFIX NAME)")
        chosen = [by_barcode[b] for b in dict.fromkeys(plates)]
        names = sorted({p.screen for p in chosen})
        if len(names) > 1:
            raise ConditionsError(f"the plates have different screens ({', '.join(names)}); name plates of one screen")
        if screen is not None and names[0] != screen:
            raise ConditionsError(f"the plates have screen {names[0]}, not {screen}")
        return chosen[0].screen_id, chosen
    if screen is not None:
        found = store.screen(screen)
        if found is None:
            known = ", ".join(s.name for s in store.screens()) or "none yet (xtalviewer screens import FILE)"
            raise ConditionsError(f"no screen '{screen}'; screens: {known}")
        return found.id, [p for p in assigned if p.screen_id == found.id]
    used = sorted({(p.screen, p.screen_id) for p in assigned})
    if len(used) != 1:
        raise ConditionsError("no plate has a screen yet: import one (xtalviewer screens import FILE) and assign it"
                              if not used else
                              f"plates have {len(used)} screens ({', '.join(n for n, _ in used)}); name one with "
                              "--screen or name plates with --plate")
    return used[0][1], [p for p in assigned if p.screen_id == used[0][1]]


# -- the numbers ----------------------------------------------------------------------------------------------------


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _first_hit(w: WellOutcome) -> str | None:
    stamps = [s for s in (w.first_hit_at, w.first_crystal_label_at) if s]
    return min(stamps, key=lambda s: _when(s) or datetime.max) if stamps else None


def _days(w: WellOutcome) -> float | None:
    first, set_up = _when(_first_hit(w)), _when(w.set_up_at)
    if first is None or set_up is None:
        return None
    return round(max(0.0, (first - set_up).total_seconds() / 86400), 1)


def _best(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def summarize(store: Store, model: Model | None, *, screen: str | None = None,
              plates: Sequence[str] = ()) -> ChemistrySummary:
    """The chemistry summary of one screen's plates (see ``choose_plates``), with ``model``'s hits."""
    screen_id, chosen = choose_plates(store, screen=screen, plates=plates)
    conditions = {c.position: c for c in store.screen_conditions(screen_id)}
    name = next(iter(conditions.values())).screen if conditions else (screen or "")
    outcomes = store.well_outcomes(model.id if model else None, screen_id, [p.plate_id for p in chosen])
    return summarize_outcomes(name, [p.barcode for p in chosen], conditions, outcomes,
                              model, store.operating_point(model.id) if model else None)


def summarize_outcomes(screen: str, barcodes: list[str], conditions: dict[int, WellCondition],
                       outcomes: Sequence[WellOutcome], model: Model | None,
                       op: OperatingPoint | None = None) -> ChemistrySummary:
    """The summary from the wells' outcomes (no database: the tests build outcomes by hand)."""
    hit = {id(w): _first_hit(w) is not None for w in outcomes}
    by_key: dict[str, list[WellOutcome]] = defaultdict(list)
    names: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    held: dict[str, set[int]] = defaultdict(set)
    for c in conditions.values():
        for k in c.components:
            key = chemical_key(k.chemical)
            names[key][" ".join(k.chemical.split())] += 1
            held[key].add(c.position)
    for w in outcomes:
        c = conditions.get(w.position)
        for key in {chemical_key(k.chemical) for k in (c.components if c else ())}:
            by_key[key].append(w)
    components = [ComponentStat(max(names[key].items(), key=lambda kv: (kv[1], kv[0]))[0], len(held[key]), len(ws),
                                sum(hit[id(w)] for w in ws), _best([w.best_prob for w in ws]))
                  for key, ws in by_key.items()]
    components.sort(key=lambda s: (-s.share, -s.hit_wells, s.name.casefold()))

    bins: dict[int, list[WellOutcome]] = defaultdict(list)
    bin_conditions: dict[int, set[int]] = defaultdict(set)
    no_ph = 0
    for w in outcomes:
        c = conditions.get(w.position)
        ph = c.ph_value if c else None
        if ph is None:
            no_ph += 1
            continue
        bins[math.floor(ph)].append(w)
        bin_conditions[math.floor(ph)].add(w.position)
    ph_bins = [PhBinStat(float(low), float(low + 1), len(bin_conditions[low]), len(ws), sum(hit[id(w)] for w in ws),
                         _best([w.best_prob for w in ws])) for low, ws in sorted(bins.items())]

    per_condition: dict[int, list[WellOutcome]] = defaultdict(list)
    for w in outcomes:
        per_condition[w.position].append(w)
    stats = []
    for position, ws in per_condition.items():
        c = conditions.get(position)
        days = [d for w in ws if (d := _days(w)) is not None]
        stats.append(ConditionStat(position, c.well if c else str(position), c.code if c else None,
                                   c.description if c else "", c.ph_value if c else None, len(ws),
                                   sum(hit[id(w)] for w in ws), _best([w.best_prob for w in ws]),
                                   min(days) if days else None))
    stats.sort(key=lambda s: (-s.hit_wells, -(s.best_prob or 0.0), s.position))
    rule = (f"Model {model.name} (id {model.id}): {op.describe()}." if model and op is not None else
            "No model: only drops labelled as a crystal count as hits.")
    return ChemistrySummary(screen, barcodes, model.name if model else None, rule, len(outcomes),
                            sum(hit.values()), components, ph_bins, stats, no_ph)


# -- as text ------------------------------------------------------------------------------------------------------


def _share(hits: int, wells: int) -> str:
    return f"{hits} of {wells} well{'s' * (wells != 1)} with a hit ({pct(hits / wells if wells else 0, 0)})"


def summary_lines(s: ChemistrySummary, *, limit: int = 25) -> list[str]:
    """The summary for the terminal: the screen and plates, then per component, per pH bin, and the
    conditions with a hit, soonest and best first."""
    more = f" and {len(s.plates) - 8} more" if len(s.plates) > 8 else ""
    plates = ", ".join(printable(b) for b in s.plates[:8]) + more
    lines = [f"Screen {printable(s.screen)}: {len(s.plates)} plate{'s' * (len(s.plates) != 1)} ({plates or 'none'}); "
             f"{_share(s.hit_wells, s.wells)}.",
             s.rule + " A well is a hit when a drop of it was a model hit at any inspection or is labelled a crystal.",
             "", "Per component (highest share of wells with a hit first):"]
    for c in s.components[:limit]:
        best = f"; best crystal probability {pct(c.best_prob)}" if c.best_prob is not None else ""
        lines.append(f"  {printable(c.name)}: {_share(c.hit_wells, c.wells)}{best}"
                     f"; in {c.conditions} condition{'s' * (c.conditions != 1)}")
    if len(s.components) > limit:
        lines.append(f"  … and {len(s.components) - limit} more components (--json lists them all)")
    lines += ["", "Per pH bin:"]
    for b in s.ph_bins:
        best = f"; best {pct(b.best_prob)}" if b.best_prob is not None else ""
        lines.append(f"  {b.label}: {b.hit_wells} hit{'s' * (b.hit_wells != 1)} in {b.wells} wells "
                     f"({pct(b.share, 0)}){best}")
    if s.no_ph_wells:
        lines.append(f"  (no pH given: {s.no_ph_wells} wells)")
    hits = [c for c in s.conditions if c.hit_wells]
    lines += ["", f"Conditions with a hit ({len(hits)}), with the days from set-up to the first hit:"]
    for c in hits[:limit]:
        days = "–" if c.days_to_first_hit is None else f"{c.days_to_first_hit:g} d"
        code = f" {c.code}" if c.code else ""
        best = f", best {pct(c.best_prob)}" if c.best_prob is not None else ""
        lines.append(f"  {c.well}{printable(code)}: {c.hit_wells}/{c.wells} wells{best}, first hit after {days}: "
                     f"{printable(c.description)}")
    if len(hits) > limit:
        lines.append(f"  … and {len(hits) - limit} more (--json lists them all)")
    return lines


def hits_with_component(rows: Sequence[Hit], conditions: Mapping[tuple[str, str], WellCondition],
                        component: str) -> list[Hit]:
    """The hit-list rows whose well's condition contains ``component`` (``hits --component``; the
    same rule as the review window's "condition contains")."""
    return [r for r in rows if (c := conditions.get((r.plate, r.well))) is not None and c.has_component(component)]


def screens_in_use(store: Store) -> list[str]:
    """Names of the screens some plate has, by name (what the Conditions tab offers)."""
    return sorted({p.screen for p in store.plate_screens()})


def tab_data(store: Store, model: Model | None, screen: str | None) -> tuple[list[str], ChemistrySummary | None]:
    """The Conditions tab's numbers: the screens plates have, and the summary of ``screen`` (else the
    first of them); no summary when no plate has a screen."""
    names = screens_in_use(store)
    if not names:
        return names, None
    return names, summarize(store, model, screen=screen if screen in names else names[0])
