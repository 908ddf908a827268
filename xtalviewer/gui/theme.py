"""The app's colours, style sheet and number formats, in one place, so the grid, the panels, the
plots and the Retrain dialog read alike. Percentages use ``crystal_call.pct``, the one format."""

from __future__ import annotations

from PySide6.QtGui import QColor

from xtalviewer.crystal_call import OperatingPoint, pct
from xtalviewer.store.rows import Model

__all__ = ["pct", "duration", "text_on", "badge_color", "hit_rule", "model_caption"]

# surfaces
WINDOW = "#23272e"
PANEL = "#2b2f36"  # cells, tiles, header sections
BACKDROP = "#1e2126"  # grid, time course and plot backgrounds
IMAGE_BACKDROP = "#111317"
HIGHLIGHT = "#3d5a80"
CURRENT = "#ffd54f"  # the current drop's outline, the current label's button border
# text
TEXT = "#e5e7eb"
MUTED = "#9ca3af"
FAINT = "#6b7280"
TICK_TEXT = "#cbd5e1"
AXIS = "#4b5563"
DARK_TEXT, LIGHT_TEXT = "#111111", "#ffffff"
# meanings
HIT = "#c62828"  # a hit at the model's operating point
NOT_HIT = "#000000"  # with alpha: the badge of a drop that is not a hit
TOP3 = "#ffb300"  # the top-3 strategy's flag: amber, apart from the hit's red
BEST = "#ffe066"  # the star of a drop that was a hit at another inspection (best over time)
FLAG = "#ff8a3d"  # "needs a second look"
TILE = "#3a3f47"  # a plate-map tile without a label
UNREVIEWED = "#d1d5db"  # the dot on a tile nobody has reviewed
EMPTY_WELL = "#24282e"  # a well without an image at this inspection
BLIND = "#5b3f8c"  # the banner of blind review
NEUTRAL = "#374151"  # "no prediction" and "not a hit" panels
NEUTRAL_TEXT = "#d1d5db"
ERROR = "#e57373"
ERROR_LIGHT = "#ffcdd2"
ERROR_TEXT = "#fca5a5"
ALERT = "#b71c1c"
GOOD = "#81c784"
BEST_ROW = "#26422f"
# plots
UNLABELLED = "#4b5563"
UNSCORED = "#6b6f76"  # neutral grey: no viridis colour is grey
NO_IMAGE = "#2b2f36"
CRYSTAL_MARK = "#ff4fd8"  # magenta: absent from viridis, so the outline shows on every cell colour
HIT_MARK = "#ff1744"
TOP1_COLOUR, TOP3_COLOUR = "#3b82f6", "#1e3a5f"
HEAT_LOW = "#262b33"
SERIES = ("#60a5fa", "#f59e0b", "#34d399", "#f472b6", "#a78bfa", "#f87171")

STYLE = f"""
QMainWindow, QWidget {{ background: {WINDOW}; color: {TEXT}; }}
QTreeView, QTableView {{ background: {BACKDROP}; alternate-background-color: {WINDOW}; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT}; border: none; padding: 3px; }}
QComboBox, QCheckBox, QLabel {{ color: {TEXT}; }}
QToolBar {{ border: none; spacing: 6px; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px; }}
QProgressBar {{ border: 1px solid {AXIS}; border-radius: 3px; text-align: center; }}
QProgressBar::chunk {{ background: {HIGHLIGHT}; }}
"""


def text_on(colour: str | QColor) -> QColor:
    """Dark text on a light fill, white on a dark one."""
    return QColor(DARK_TEXT if QColor(colour).lightness() > 140 else LIGHT_TEXT)


def badge_color(is_hit: bool) -> QColor:
    """The grid's crystal-probability badge: red for a hit at the model's operating point."""
    return QColor(HIT) if is_hit else QColor(0, 0, 0, 150)


def hit_rule(op: OperatingPoint) -> str:
    """The hit rule in a few words: 'hit ≥ 12.3% (99% recall on validation)' or '… (not calibrated)'."""
    if not op.calibrated:
        return f"hit ≥ {pct(op.threshold, 0)} (not calibrated)"
    recall = op.val_recall if op.val_recall is not None else op.target_recall
    return f"hit ≥ {pct(op.threshold)} ({pct(recall, 0)} recall on validation)"


def model_caption(model: Model | None, op: OperatingPoint) -> str:
    """The model as the status bar names it, with its hit rule."""
    if model is None:
        return "Model: none"
    return f"Model: {model.name} · {hit_rule(op)}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
