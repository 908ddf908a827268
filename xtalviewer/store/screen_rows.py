"""What the store returns about crystallization screens: a screen, the condition behind each well
with its components, the barcode rules that assign screens, each plate's screen, and a well's
outcome over its drops (``screens`` holds their SQL). Rows are values, as in ``rows``: the ones a
plate's review reads each time its queue is read (a condition and its components: 1536 conditions
and thrice as many components for an HWI plate) are plain slotted dataclasses, not frozen ones,
which set every field through ``object.__setattr__``; the few others are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass


def chemical_key(name: str) -> str:
    """What makes two spellings of a chemical one: case and runs of spaces do not count
    ("Lithium chloride" and "Lithium  Chloride " are one key). Stored beside each component."""
    return " ".join(name.split()).casefold()


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(slots=True)
class Component:
    """One chemical of a condition: its concentration with unit and its pH where the screen gives them."""

    chemical: str
    concentration: float | None
    unit: str | None
    ph: float | None

    def describe(self) -> str:
        """As a screen sheet writes it: "0.1 M HEPES pH 7.5", "20% (w/v) PEG 3350"."""
        amount = ""
        if self.concentration is not None:
            unit = (self.unit or "").strip()
            gap = "" if unit.startswith("%") or not unit else " "
            amount = f"{_number(self.concentration)}{gap}{unit} "
        ph = f" pH {_number(self.ph)}" if self.ph is not None else ""
        return f"{amount}{self.chemical}{ph}"


@dataclass(slots=True)
class WellCondition:
    """The screen condition behind a well: which screen, its position and well there, its own code
    (a cocktail number), what it is as people read it, its pH and its components."""

    screen: str
    position: int
    well: str  # the screen's well name, A01 ...
    code: str | None
    description: str
    ph: float | None
    components: tuple[Component, ...]

    @property
    def ph_value(self) -> float | None:
        """The condition's pH, else the first pH one of its components gives."""
        if self.ph is not None:
            return self.ph
        return next((c.ph for c in self.components if c.ph is not None), None)

    def has_component(self, text: str) -> bool:
        """Whether a component's name (or the condition's text) contains ``text``, ignoring case and
        spacing: the review window's "condition contains" and ``hits --component``."""
        wanted = chemical_key(text)
        if not wanted:
            return True
        return any(wanted in chemical_key(c.chemical) for c in self.components) or \
            wanted in chemical_key(self.description)

    def in_ph_range(self, low: float, high: float) -> bool:
        """low <= pH < high (a pH bin of the Conditions plot)."""
        ph = self.ph_value
        return ph is not None and low <= ph < high


@dataclass(frozen=True, slots=True)
class Screen:
    """A screen in the store, with how many conditions it holds and how many plates it is assigned to."""

    id: int
    name: str
    rows: int
    cols: int
    source: str | None
    created_at: str
    conditions: int
    plates: int


@dataclass(frozen=True, slots=True)
class ScreenRule:
    """Plates whose barcode starts with ``pattern`` (kind 'prefix') or matches it whole (kind
    'regex'), of ``wells`` wells when given, get the screen ``screen``."""

    id: int
    kind: str
    pattern: str
    wells: int | None
    screen_id: int
    screen: str
    created_at: str


@dataclass(frozen=True, slots=True)
class PlateScreen:
    """The screen a plate is assigned and how: 'hand', 'rule' (``rule_id``) or 'imager' (its metadata named it)."""

    plate_id: int
    barcode: str
    screen_id: int
    screen: str
    source: str
    rule_id: int | None
    assigned_at: str


@dataclass(frozen=True, slots=True)
class WellOutcome:
    """One well of a plate with a screen, over all its drops and inspections (visible images): the
    model's best crystal probability, when it was first a hit, when a drop was first labelled as a
    crystal, and when the plate was first imaged (the set-up, for the time to a first hit)."""

    plate_id: int
    barcode: str
    position: int
    images: int
    scored: int
    best_prob: float | None
    first_hit_at: str | None
    first_crystal_label_at: str | None
    set_up_at: str | None
