"""Every action of the review window, declared once: its menu, keys, what it does and how the ?
list describes it. The window makes menus and shortcuts from this table and the shortcut overlay
lists it, so the three cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xtalviewer.labels import LabelScheme
from xtalviewer.review.session import ORDERS, Filters
from xtalviewer.gui.app import dialogs, review_commands

KEY_NAMES = {"Return": "Enter", "PgUp": "Page Up", "PgDown": "Page Down"}
MENUS = ("&File", "&Edit", "&View", "&Review", "&Model", "&Help")  # the menu bar, left to right
# the ? list: what a reviewer needs most first (by action name prefix), the rest in table order
LIST_ORDER = ("label.", "edit.accept", "grid.", "edit.select_all", "review.flag", "view.next", "view.previous",
              "order.", "filter.", "review.", "view.mode", "view.side", "view.hits", "edit.undo", "edit.redo",
              "view.fit", "view.zoom", "view.crop", "view.cam", "view.bigger", "view.smaller", "edit.advance")


@dataclass(frozen=True)
class Action:
    """One thing the reviewer can do. ``run(window)`` (or ``run(window, checked)`` when checkable);
    no ``run``: a key the grid handles itself, listed in the ? overlay only. ``menu`` may name a
    submenu as 'Menu/Submenu'. ``group``: checkable actions of which one is on."""

    name: str
    text: str
    keys: tuple[str, ...] = ()
    menu: str | None = None
    run: Callable[..., Any] | None = None
    checkable: bool = False
    group: str | None = None
    help: str | None = None
    shown_keys: str | None = None
    listed: bool = True
    separator: bool = False  # a separator before it in its menu

    def key_text(self) -> str:
        if self.shown_keys is not None:
            return self.shown_keys
        return " / ".join(dict.fromkeys(KEY_NAMES.get(k, k) for k in self.keys[:2]))


def review_actions(scheme: LabelScheme, hotkeys: dict[str, str]) -> list[Action]:
    """The window's actions in menu order; label keys follow ``hotkeys`` (class key -> key)."""
    label_as = [Action(f"label.{c.key}", c.name, (hotkeys[c.key],), "&Edit/Label as",
                       lambda w, key=c.key: w.apply_label(key),
                       help=f"Label as {c.name}{' (crystal)' if c.crystal else ''}, then next drop")
                for c in scheme.classes]
    orders = [Action(f"order.{key}", text, (f"Ctrl+{n}",), "&Review", lambda w, on, key=key: w.requeue(order=key),
                     checkable=True, group="order", help=f"Order: {text.lower()}")
              for n, (key, text) in enumerate(ORDERS, start=1)]
    by_label = [Action(f"filter.label.{key}", name, (), "&Review/Filter by label",
                       lambda w, key=key: w.requeue(label=key or None), listed=False)
                for key, name in [("", "Any label"), *((c.key, c.name) for c in scheme.classes)]]
    by_prediction = [Action(f"filter.predicted.{key}", name, (), "&Review/Filter by predicted label",
                            lambda w, key=key: w.requeue(predicted=key or None), listed=False)
                     for key, name in [("", "Any prediction"), *((c.key, c.name) for c in scheme.classes)]]
    return [
        Action("file.import", "Import plate folder…", ("Ctrl+I",), "&File", lambda w: w.files.import_folder(),
               help="Import a plate folder"),
        Action("file.export", "Export labels CSV…", ("Ctrl+E",), "&File", lambda w: w.files.export_csv(),
               help="Export labels as CSV"),
        Action("file.report", "Plate report (HTML)…", ("Ctrl+P",), "&File",
               lambda w: w.files.plate_report(w.inspection, w.thumb_cache),
               help="Plate report (HTML) of this inspection"),
        Action("file.quit", "Quit", ("Ctrl+Q",), "&File", lambda w: w.close(), separator=True),
        Action("edit.undo", "Undo label", ("Ctrl+Z",), "&Edit", lambda w: w.undo(),
               help="Undo a label (history keeps both)"),
        Action("edit.redo", "Redo label", ("Ctrl+Shift+Z", "Ctrl+Y"), "&Edit", lambda w: w.redo(),
               help="Redo a label"),
        Action("edit.accept", "Accept the model's top 1", ("Return", "Enter"), "&Edit",
               lambda w: w.accept_prediction(), separator=True, help="Accept the model's top-1 label"),
        Action("edit.select_all", "Select all drops", ("Ctrl+A",), "&Edit", lambda w: w.drops.select_all(),
               shown_keys="Shift+arrows, Ctrl+A", help="Select several drops (a label key labels them all)"),
        Action("edit.advance", "Advance after labelling", ("Ctrl+Shift+A",), "&Edit",
               lambda w, on: w.set_auto_advance(on), checkable=True, help="Auto-advance after labelling on/off"),
        *label_as,
        Action("edit.preferences", "Preferences…", ("Ctrl+,",), "&Edit", lambda w: dialogs.preferences(w),
               separator=True, help="Preferences (annotator, device, hotkeys …)"),
        Action("grid.move", "Move in the plate grid", shown_keys="← → ↑ ↓",
               help="Move by well on the plate map (by drop in the queue)"),
        Action("grid.cycle", "Next drop of the well", ("Tab",), "&View", lambda w: review_commands.cycle_drop(w, +1),
               help="Next drop of the well (plate map)", separator=True),
        Action("grid.cycle_back", "Previous drop of the well", ("Shift+Tab",), "&View",
               lambda w: review_commands.cycle_drop(w, -1)),
        Action("grid.headers", "Select a row or column", shown_keys="click A…P / 1…24",
               help="Click a row or column header: a label key labels all its drops"),
        Action("view.fit", "Fit image", ("F",), "&View", lambda w: w.image_view.fit(), help="Fit the image"),
        Action("view.zoom_in", "Zoom in", ("+", "="), "&View", lambda w: w.image_view.zoom(1.25),
               help="Zoom the image in (wheel zooms, drag pans)"),
        Action("view.zoom_out", "Zoom out", ("-",), "&View", lambda w: w.image_view.zoom(0.8),
               help="Zoom the image out"),
        Action("view.crop", "Show the crop box", ("C",), "&View", lambda w, on: w.drop.set_crop_shown(on),
               checkable=True, help="Outline the region of the image the model looks at (its drop crop)"),
        Action("view.cam", "Where the model sees a crystal", ("G",), "&View", lambda w, on: w.drop.set_cam_shown(on),
               checkable=True, help="Heat map (Grad-CAM) of where the active model sees a crystal; G again hides it"),
        Action("view.next", "Next plate", ("PgDown",), "&View", lambda w: w.step_inspection(+1), separator=True,
               help="Next inspection (same drop kept within a plate)"),
        Action("view.previous", "Previous plate", ("PgUp",), "&View", lambda w: w.step_inspection(-1),
               help="Previous inspection (same drop kept within a plate)"),
        Action("view.bigger", "Bigger drops", ("Ctrl+=",), "&View", lambda w: w.drops.grow(+1),
               help="Zoom the plate map in, bigger thumbnails (or Ctrl+wheel)"),
        Action("view.smaller", "Smaller drops", ("Ctrl+-",), "&View", lambda w: w.drops.grow(-1),
               help="Zoom the plate map out, smaller thumbnails"),
        Action("view.mode", "Next imaging mode", ("M",), "&View", lambda w: review_commands.cycle_mode(w),
               separator=True, help="Image: visible, UV, SHG in turn (the time course follows)"),
        Action("view.side_by_side", "Modes side by side", ("Shift+M",), "&View",
               lambda w, on: review_commands.side_by_side(w, on), checkable=True,
               help="The visible image beside the UV (or SHG) one"),
        Action("view.hits", "Hit list…", ("Ctrl+L",), "&View", lambda w: dialogs.open_hits(w),
               help="Hit list: drops of all plates by crystal probability (Enter opens one)"),
        Action("view.plots", "Plots…", ("Ctrl+G",), "&View", lambda w: w.open_plots(),
               help="Plots: labels per plate, model vs reviewers, crystal map, reviewers' agreement, conditions"),
        Action("view.reload", "Reload", ("Ctrl+R",), "&View", lambda w: w.refresh_all()),
        *orders,
        Action("filter.unreviewed", "Unreviewed only", ("Ctrl+U",), "&Review", lambda w, on: w.requeue(unreviewed=on),
               checkable=True, separator=True),
        Action("filter.hits", "Hits only", ("Ctrl+H",), "&Review", lambda w, on: w.requeue(hit=True if on else None),
               checkable=True, help="Hits only: crystal probability at the model's threshold"),
        Action("filter.top3", "Crystal in top 3 only", ("Ctrl+K",), "&Review",
               lambda w, on: w.requeue(crystal_top3=True if on else None),
               checkable=True, help="Crystal in top 3 only (the top-3 strategy)"),
        Action("filter.condition", "Condition contains…", ("Ctrl+Shift+F",), "&Review",
               lambda w: w.toolbar.focus_condition(),
               help="Condition contains: type a component (PEG 3350), Enter filters, Esc back to the plate"),
        *by_label,
        *by_prediction,
        Action("filter.clear", "Clear filters", ("Ctrl+Shift+U",), "&Review", lambda w: w.requeue(filters=Filters()),
               help="Clear the filters (Alt+R: filter by label menus)"),
        Action("review.flag", "Needs a second look…", ("D",), "&Review", lambda w: review_commands.flag_drop(w),
               separator=True, help="Needs a second look (with a note); D again clears it"),
        Action("review.blind", "Blind review of this plate", ("Ctrl+B",), "&Review",
               lambda w, on: review_commands.set_blind(w, on), checkable=True,
               help="Blind review: hide earlier labels and the model on this plate"),
        Action("model.retrain", "Retrain…", ("Ctrl+T",), "&Model", lambda w: w.open_retrain(),
               help="Retrain the models"),
        Action("model.recalibrate", "Recalibrate on these labels", ("Ctrl+Shift+R",), "&Model",
               lambda w: w.recalibrate(),
               help="Refit the hit threshold of the active model to this store's labelled drops (seconds)"),
        Action("help.shortcuts", "Keyboard shortcuts", ("?", "Shift+?", "F1"), "&Help", lambda w: w.overlay.toggle(),
               shown_keys="?", help="Show / hide this list"),
        Action("help.about", "About xtalviewer", (), "&Help", lambda w: dialogs.about(w), listed=False),
    ]


def shortcut_rows(actions: list[Action]) -> list[tuple[str, str]]:
    """(keys, what they do) for the ? overlay: every listed action with a key, in ``LIST_ORDER``."""
    def rank(a: Action) -> int:
        return next((i for i, prefix in enumerate(LIST_ORDER) if a.name.startswith(prefix)), len(LIST_ORDER))

    return [(a.key_text(), a.help or a.text) for a in sorted(actions, key=rank) if a.listed and a.key_text()]
