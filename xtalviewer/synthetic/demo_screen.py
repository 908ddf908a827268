"""The demo plates' crystallization screen: a made-up 96-condition grid, generated here (not any
vendor's or facility's screen). Rows are buffers from pH 4.5 to 9, columns precipitants (PEGs,
MPD, salts), some with an additive salt, so the Conditions plot has components and pH bins to show.

The demo's drops lean on it: ``crystal_propensity`` says how much likelier than the demo's average a
well's drops are to crystallise (mid-size PEGs near neutral pH most, high salt at low pH least), a
made-up chemistry that gives the plot a pattern to find.
"""

from __future__ import annotations

import math

from xtalviewer.store.inputs import ComponentRow, ConditionRow, ScreenInput

NAME = "Demo grid 96 (made up)"
BARCODE_PREFIX = "XV"  # the demo's plates (synthetic.demo.barcode) get it by this barcode rule

# row -> (buffer, pH); 0.1 M each
BUFFERS = (("sodium acetate", 4.5), ("sodium citrate", 5.5), ("MES", 6.0), ("Bis-Tris", 6.5),
           ("HEPES", 7.0), ("HEPES", 7.5), ("Tris", 8.0), ("Bicine", 9.0))
# column -> (precipitant, concentration, unit, additive salt or None, how readily it crystallises the demo protein)
PRECIPITANTS = (
    ("PEG 3350", 20.0, "% (w/v)", None, 1.9),
    ("PEG 3350", 25.0, "% (w/v)", ("sodium chloride", 0.2), 1.7),
    ("PEG 8000", 12.0, "% (w/v)", None, 1.3),
    ("PEG 8000", 18.0, "% (w/v)", ("magnesium chloride", 0.2), 1.4),
    ("PEG 400", 30.0, "% (v/v)", None, 0.7),
    ("MPD", 40.0, "% (v/v)", None, 0.6),
    ("ammonium sulfate", 1.6, "M", None, 1.0),
    ("ammonium sulfate", 2.0, "M", ("lithium sulfate", 0.1), 0.9),
    ("sodium chloride", 2.5, "M", None, 0.4),
    ("PEG 3350", 18.0, "% (w/v)", ("ammonium acetate", 0.2), 1.6),
    ("PEG 4000", 15.0, "% (w/v)", ("lithium sulfate", 0.1), 1.5),
    ("sodium malonate", 1.2, "M", None, 0.8),
)


def condition(row: int, col: int) -> ConditionRow:
    """The made-up condition of well (row, col), both from 1."""
    buffer, ph = BUFFERS[row - 1]
    precipitant, amount, unit, salt, _ = PRECIPITANTS[col - 1]
    components = [ComponentRow(buffer, 0.1, "M", ph), ComponentRow(precipitant, amount, unit)]
    if salt is not None:
        components.append(ComponentRow(salt[0], salt[1], "M"))
    parts = [f"0.1 M {buffer} pH {ph:g}", f"{amount:g}{'' if unit.startswith('%') else ' '}{unit} {precipitant}"]
    if salt is not None:
        parts.append(f"{salt[1]:g} M {salt[0]}")
    return ConditionRow((row - 1) * 12 + col, row, col, "; ".join(parts), f"DG{(row - 1) * 12 + col:02d}", ph,
                        tuple(components))


def demo_screen() -> ScreenInput:
    return ScreenInput(NAME, 8, 12, tuple(condition(r, c) for r in range(1, 9) for c in range(1, 13)),
                       source="made up for the demo (xtalviewer.synthetic.demo_screen)")


def _raw_propensity(row: int, col: int) -> float:
    ph = BUFFERS[row - 1][1]
    precipitant = PRECIPITANTS[col - 1]
    salt_out = precipitant[2] == "M" and precipitant[1] >= 1.5  # high salt prefers low pH in this made-up chemistry
    best_ph = 5.5 if salt_out else 7.5
    return precipitant[4] * (0.35 + math.exp(-((ph - best_ph) / 1.2) ** 2))


def crystal_propensity(row: int, col: int) -> float:
    """How much likelier than the demo's average a drop of this well is to crystallise (mean 1 over the grid)."""
    mean = sum(_raw_propensity(r, c) for r in range(1, 9) for c in range(1, 13)) / 96
    return _raw_propensity(row, col) / mean
