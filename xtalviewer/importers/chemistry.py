"""Chemistry as people write it in screen sheets: an amount with its unit ("0.1 M", "20% (w/v)"), a
pH, and a condition's text split into its components ("0.1 M HEPES pH 7.5, 20% (w/v) PEG 3350").
Used by the screen-file readers (``screens.py``) for every format."""

from __future__ import annotations

import re

from xtalviewer.store.inputs import ComponentRow

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PERCENT = r"%\s*(?:\(\s*[wWvV]\s*/\s*[wWvV]\s*\)|[wWvV]\s*/\s*[wWvV])?"
_UNIT = rf"(?:{_PERCENT}|mM|M|µM|uM|nM|mg/ml|mg/mL|g/l|g/L|v/v|w/v)"
_AMOUNT = re.compile(rf"^\s*(?P<value>{_NUMBER})\s*(?P<unit>{_UNIT})?\s*$")
_PART = re.compile(rf"^\s*(?:(?P<value>{_NUMBER})\s*(?P<unit>{_UNIT})\s+)?(?P<name>.*?)"
                   rf"(?:[,\s]+pH\s*(?P<ph>{_NUMBER}))?\s*$")
_PH_ONLY = re.compile(rf"^\s*pH\s*(?P<ph>{_NUMBER})\s*$", re.IGNORECASE)


def unit_text(unit: str | None) -> str | None:
    """One spelling per unit: "%w/v", "% (W/V)" and "% w/v" are all "% (w/v)"; others as given."""
    if not unit or not unit.strip():
        return None
    text = "".join(unit.split())
    m = re.fullmatch(r"%\(?([wv])/([wv])\)?", text, re.IGNORECASE)
    if m:
        return f"% ({m.group(1).lower()}/{m.group(2).lower()})"
    if re.fullmatch(r"([wv])/([wv])", text, re.IGNORECASE):
        return f"% ({text.lower()})"
    return text


def parse_amount(text: str) -> tuple[float, str | None]:
    """ "0.1 M" -> (0.1, "M"), "20% (v/v)" -> (20.0, "% (v/v)"), "7" -> (7.0, None); ValueError otherwise."""
    m = _AMOUNT.match(re.sub(r"^(\s*\d+),(\d)", r"\1.\2", text))  # a decimal comma, as some sheets write
    if not m:
        raise ValueError(f"not a concentration: {text.strip()!r}")
    return float(m.group("value")), unit_text(m.group("unit"))


def parse_ph(text: str) -> float:
    """A pH cell: a number from 0 to 14; ValueError otherwise."""
    cleaned = text.strip()
    if cleaned.lower().startswith("ph"):
        cleaned = cleaned[2:].strip()
    try:
        ph = float(cleaned)
    except ValueError:
        raise ValueError(f"not a pH: {text.strip()!r}") from None
    if not 0 <= ph <= 14:
        raise ValueError(f"pH {text.strip()} is outside 0-14")
    return ph


def components_from_text(text: str) -> tuple[tuple[ComponentRow, ...], float | None]:
    """Best effort: the components a condition's text names ("0.1 M HEPES pH 7.5, 20% (w/v) PEG 3350"),
    split on ';' and on ', ' (a comma inside a name, as in "1,3-...", has no space after it), and a pH
    said on its own ("pH 7.5")."""
    components, ph = [], None
    for part in re.split(r";|,\s+", text):
        if not part.strip():
            continue
        alone = _PH_ONLY.match(part)
        if alone:
            ph = float(alone.group("ph"))
            continue
        m = _PART.match(part)
        name = (m.group("name") if m else part).strip()
        if not name:
            continue
        value = float(m.group("value")) if m and m.group("value") else None
        part_ph = float(m.group("ph")) if m and m.group("ph") else None
        components.append(ComponentRow(name, value, unit_text(m.group("unit")) if m else None, part_ph))
    return tuple(components), ph


def describe(components: tuple[ComponentRow, ...]) -> str:
    """A condition as people read it, from its components: "0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350"."""
    parts = []
    for c in components:
        amount = ""
        if c.concentration is not None:
            unit = c.unit or ""
            amount = f"{c.concentration:g}{'' if unit.startswith('%') or not unit else ' '}{unit} "
        parts.append(f"{amount}{c.chemical}{f' pH {c.ph:g}' if c.ph is not None else ''}")
    return "; ".join(parts)


def _condition_ph(ph: float | None, components: tuple[ComponentRow, ...]) -> float | None:
    return ph if ph is not None else next((c.ph for c in components if c.ph is not None), None)
