"""Every action of the review window, declared once: its menu, keys, what it does and how the ?
list describes it. The window makes menus and shortcuts from this table and the shortcut overlay
lists it, so the three cannot disagree.

An action runs against the Qt-free ``ReviewSession`` and a ``ReviewView``: the few things it needs
from a window, by intent. The window implements the view over its widgets; a test can hand in a
fake that records what it was asked, so every action runs without Qt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from xtalviewer.labels import LabelScheme
from xtalviewer.review import commands
from xtalviewer.review.queue import ORDERS, Filters
from xtalviewer.settings import Settings
from xtalviewer.store.rows import Inspection

KEY_NAMES = {"Return": "Enter", "PgUp": "Page Up", "PgDown": "Page Down"}
MENUS = ("&File", "&Edit", "&View", "&Review", "&Model", "&Help")  # the menu bar, left to right
# the ? list: what a reviewer needs most first (by action name prefix), the rest in table order
LIST_ORDER = ("label.", "edit.accept", "grid.", "edit.select_all", "review.flag", "view.next", "view.previous",
              "order.", "filter.", "review.", "view.mode", "view.side", "view.hits", "edit.undo", "edit.redo",
              "view.fit", "view.zoom", "view.crop", "view.cam", "view.bigger", "view.smaller", "edit.advance")

Dialog = Literal["preferences", "hits", "plots", "retrain", "about", "shortcuts", "watch"]
Task = Literal["import", "export", "report", "recalibrate"]  # background work, one of each at a time
Overlay = Literal["crop", "cam"]  # drawn over the image: the model's input crop, its Grad-CAM


@runtime_checkable
class ReviewView(Protocol):
    """What the actions need from a window, grouped by intent. The session holds the state; a view
    only shows it and asks the reviewer."""

    settings: Settings  # the user's settings; ``save_settings`` keeps them for the next start

    # telling and asking the reviewer
    def say(self, text: str, ms: int = 5000) -> None:
        """A line in the status bar for ``ms`` milliseconds."""

    def ask_text(self, title: str, question: str) -> str | None:
        """One line from the reviewer (may be empty); None: cancelled. The keys come back after."""

    def show_label_alert(self, text: str | None) -> None:
        """A label the database refused, shown until one is saved (None: clear it)."""

    # showing what the session holds now
    def inspection_opened(self, previous: Inspection | None) -> None:
        """The session opened another inspection (``previous`` was open before)."""

    def show_queue(self) -> None:
        """The session read its queue again: the drops, the title, the drop on screen."""

    def show_choices(self) -> None:
        """The toolbar and menus show the session's order, filters and blind review."""

    def show_current(self) -> None:
        """The session's current drop (or how it is shown: mode, flag) changed."""

    def refresh_drops(self, image_ids: Sequence[int]) -> None:
        """These drops changed in the session's rows (a flag, a prediction): paint them again."""

    def labels_changed(self, image_ids: Sequence[int]) -> None:
        """Labels of these drops were written: the drops, Undo/Redo, the plate's counts, the drop on screen."""

    def others_labelled(self, image_ids: Sequence[int]) -> None:
        """Colleagues labelled or flagged these open drops: paint them, the plate's counts, and the
        side panel when the drop on screen is one of them (nothing moves, nothing else reloads)."""

    def plates_changed(self) -> None:
        """Labels changed on other inspections: read the plate browser's counts again, soon."""

    def model_changed(self, rescore: bool) -> None:
        """The session follows another model and has read its queue; ``rescore``: score the open plate."""

    def save_settings(self) -> None:
        """Keep ``settings`` (saying so when they cannot be written)."""

    # the plate map and the image
    def select_all_drops(self) -> None: ...

    def resize_drops(self, step: int) -> None:
        """Bigger (+1) or smaller (-1) drops on the plate map."""

    def zoom_image(self, factor: float | None) -> None:
        """Zoom the image by ``factor``; None fits it."""

    def show_overlay(self, overlay: Overlay, on: bool) -> None: ...

    def edit_condition_filter(self) -> None:
        """The keys go to "Condition contains…" until Enter or Esc."""

    # elsewhere
    def open_dialog(self, dialog: Dialog) -> None:
        """Open a dialog (or bring the open one forward; "shortcuts" shows or hides the ? list)."""

    def start_task(self, task: Task) -> None: ...

    def set_watching(self, on: bool) -> None:
        """Watch the imager folders in the background while the window is open, or stop (kept in the settings)."""

    def close(self) -> bool: ...


@dataclass(frozen=True)
class Action:
    """One thing the reviewer can do. ``run(session, view)`` (or ``run(session, view, checked)``
    when checkable); no ``run``: a key the grid handles itself, listed in the ? overlay only.
    ``menu`` may name a submenu as 'Menu/Submenu'. ``group``: checkable actions of which one is on."""

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
    repeats: bool = True  # a key held down acts again and again; never for what writes labels (one press, one label)

    def key_text(self) -> str:
        if self.shown_keys is not None:
            return self.shown_keys
        return " / ".join(dict.fromkeys(KEY_NAMES.get(k, k) for k in self.keys[:2]))


def review_actions(scheme: LabelScheme, hotkeys: dict[str, str]) -> list[Action]:
    """The window's actions in menu order; label keys follow ``hotkeys`` (class key -> key).
    In the table ``s`` is the session and ``v`` the view."""
    label_as = [Action(f"label.{c.key}", c.name, (hotkeys[c.key],), "&Edit/Label as",
                       lambda s, v, key=c.key: commands.label(s, v, key),
                       help=f"Label as {c.name}{' (crystal)' if c.crystal else ''}, then next drop", repeats=False)
                for c in scheme.classes]
    orders = [Action(f"order.{key}", text, (f"Ctrl+{n}",), "&Review",
                     lambda s, v, on, key=key: commands.requeue(s, v, order=key),
                     checkable=True, group="order", help=f"Order: {text.lower()}")
              for n, (key, text) in enumerate(ORDERS, start=1)]
    by_label = [Action(f"filter.label.{key}", name, (), "&Review/Filter by label",
                       lambda s, v, key=key: commands.requeue(s, v, label=key or None), listed=False)
                for key, name in [("", "Any label"), *((c.key, c.name) for c in scheme.classes)]]
    by_prediction = [Action(f"filter.predicted.{key}", name, (), "&Review/Filter by predicted label",
                            lambda s, v, key=key: commands.requeue(s, v, predicted=key or None), listed=False)
                     for key, name in [("", "Any prediction"), *((c.key, c.name) for c in scheme.classes)]]
    return [
        Action("file.import", "Import plate folder…", ("Ctrl+I",), "&File", lambda s, v: v.start_task("import"),
               help="Import a plate folder"),
        Action("file.export", "Export labels CSV…", ("Ctrl+E",), "&File", lambda s, v: v.start_task("export"),
               help="Export labels as CSV"),
        Action("file.report", "Plate report (HTML)…", ("Ctrl+P",), "&File", lambda s, v: v.start_task("report"),
               help="Plate report (HTML) of this inspection"),
        Action("file.watch", "Watch imager folders", ("Ctrl+Shift+W",), "&File",
               lambda s, v, on: v.set_watching(on), checkable=True, separator=True,
               help="Watch the imager folders: new inspections imported and scored as they arrive"),
        Action("file.watch_folders", "Watched folders…", (), "&File", lambda s, v: v.open_dialog("watch"),
               listed=False),
        Action("file.quit", "Quit", ("Ctrl+Q",), "&File", lambda s, v: v.close(), separator=True),
        Action("edit.undo", "Undo label", ("Ctrl+Z",), "&Edit", commands.undo,
               help="Undo a label (history keeps both)", repeats=False),
        Action("edit.redo", "Redo label", ("Ctrl+Shift+Z", "Ctrl+Y"), "&Edit", commands.redo,
               help="Redo a label", repeats=False),
        Action("edit.accept", "Accept the model's top 1", ("Return", "Enter"), "&Edit", commands.accept_prediction,
               separator=True, help="Accept the model's top-1 label", repeats=False),
        Action("edit.select_all", "Select all drops", ("Ctrl+A",), "&Edit", lambda s, v: v.select_all_drops(),
               shown_keys="Shift+arrows, Ctrl+A", help="Select several drops (a label key labels them all)"),
        Action("edit.advance", "Advance after labelling", ("Ctrl+Shift+A",), "&Edit", commands.set_auto_advance,
               checkable=True, help="Auto-advance after labelling on/off"),
        *label_as,
        Action("edit.preferences", "Preferences…", ("Ctrl+,",), "&Edit", lambda s, v: v.open_dialog("preferences"),
               separator=True, help="Preferences (annotator, device, hotkeys …)"),
        Action("grid.move", "Move in the plate grid", shown_keys="← → ↑ ↓",
               help="Move by well on the plate map (by drop in the queue)"),
        Action("grid.cycle", "Next drop of the well", ("Tab",), "&View", lambda s, v: commands.cycle_drop(s, v, +1),
               help="Next drop of the well (plate map)", separator=True),
        Action("grid.cycle_back", "Previous drop of the well", ("Shift+Tab",), "&View",
               lambda s, v: commands.cycle_drop(s, v, -1)),
        Action("grid.headers", "Select a row or column", shown_keys="click A…P / 1…24",
               help="Click a row or column header: a label key labels all its drops"),
        Action("view.fit", "Fit image", ("F",), "&View", lambda s, v: v.zoom_image(None), help="Fit the image"),
        Action("view.zoom_in", "Zoom in", ("+", "="), "&View", lambda s, v: v.zoom_image(1.25),
               help="Zoom the image in (wheel zooms, drag pans)"),
        Action("view.zoom_out", "Zoom out", ("-",), "&View", lambda s, v: v.zoom_image(0.8),
               help="Zoom the image out"),
        Action("view.crop", "Show the crop box", ("C",), "&View", lambda s, v, on: v.show_overlay("crop", on),
               checkable=True, help="Outline the region of the image the model looks at (its drop crop)"),
        Action("view.cam", "Where the model sees a crystal", ("G",), "&View",
               lambda s, v, on: v.show_overlay("cam", on),
               checkable=True, help="Heat map (Grad-CAM) of where the active model sees a crystal; G again hides it"),
        Action("view.next", "Next plate", ("PgDown",), "&View", lambda s, v: commands.step_inspection(s, v, +1),
               separator=True, help="Next inspection (same drop kept within a plate)"),
        Action("view.previous", "Previous plate", ("PgUp",), "&View", lambda s, v: commands.step_inspection(s, v, -1),
               help="Previous inspection (same drop kept within a plate)"),
        Action("view.bigger", "Bigger drops", ("Ctrl+=",), "&View", lambda s, v: v.resize_drops(+1),
               help="Zoom the plate map in, bigger thumbnails (or Ctrl+wheel)"),
        Action("view.smaller", "Smaller drops", ("Ctrl+-",), "&View", lambda s, v: v.resize_drops(-1),
               help="Zoom the plate map out, smaller thumbnails"),
        Action("view.mode", "Next imaging mode", ("M",), "&View", commands.cycle_mode,
               separator=True, help="Image: visible, UV, SHG in turn (the time course follows)"),
        Action("view.side_by_side", "Modes side by side", ("Shift+M",), "&View", commands.side_by_side,
               checkable=True, help="The visible image beside the UV (or SHG) one"),
        Action("view.hits", "Hit list…", ("Ctrl+L",), "&View", lambda s, v: v.open_dialog("hits"),
               help="Hit list: drops of all plates by crystal probability (Enter opens one)"),
        Action("view.plots", "Plots…", ("Ctrl+G",), "&View", lambda s, v: v.open_dialog("plots"),
               help="Plots: labels per plate, model vs reviewers, crystal map, reviewers' agreement, conditions"),
        Action("view.reload", "Reload", ("Ctrl+R",), "&View", commands.reload_all),
        *orders,
        Action("filter.unreviewed", "Unreviewed only", ("Ctrl+U",), "&Review",
               lambda s, v, on: commands.requeue(s, v, unreviewed=on), checkable=True, separator=True),
        Action("filter.hits", "Hits only", ("Ctrl+H",), "&Review",
               lambda s, v, on: commands.requeue(s, v, hit=True if on else None),
               checkable=True, help="Hits only: crystal probability at the model's threshold"),
        Action("filter.top3", "Crystal in top 3 only", ("Ctrl+K",), "&Review",
               lambda s, v, on: commands.requeue(s, v, crystal_top3=True if on else None),
               checkable=True, help="Crystal in top 3 only (the top-3 strategy)"),
        Action("filter.condition", "Condition contains…", ("Ctrl+Shift+F",), "&Review",
               lambda s, v: v.edit_condition_filter(),
               help="Condition contains: type a component (PEG 3350), Enter filters, Esc back to the plate"),
        *by_label,
        *by_prediction,
        Action("filter.clear", "Clear filters", ("Ctrl+Shift+U",), "&Review",
               lambda s, v: commands.requeue(s, v, filters=Filters()),
               help="Clear the filters (Alt+R: filter by label menus)"),
        Action("review.flag", "Needs a second look…", ("D",), "&Review", commands.flag_drop,
               separator=True, help="Needs a second look (with a note); D again clears it", repeats=False),
        Action("review.blind", "Blind review of this plate", ("Ctrl+B",), "&Review", commands.set_blind,
               checkable=True, help="Blind review: hide earlier labels and the model on this plate"),
        Action("model.retrain", "Retrain…", ("Ctrl+T",), "&Model", lambda s, v: v.open_dialog("retrain"),
               help="Retrain the models"),
        Action("model.recalibrate", "Recalibrate on these labels", ("Ctrl+Shift+R",), "&Model",
               lambda s, v: v.start_task("recalibrate"),
               help="Refit the hit threshold of the active model to this store's labelled drops (seconds)"),
        Action("help.shortcuts", "Keyboard shortcuts", ("?", "Shift+?", "F1"), "&Help",
               lambda s, v: v.open_dialog("shortcuts"), shown_keys="?", help="Show / hide this list"),
        Action("help.about", "About xtalviewer", (), "&Help", lambda s, v: v.open_dialog("about"), listed=False),
    ]


def shortcut_rows(actions: list[Action]) -> list[tuple[str, str]]:
    """(keys, what they do) for the ? overlay: every listed action with a key, in ``LIST_ORDER``."""
    def rank(a: Action) -> int:
        return next((i for i, prefix in enumerate(LIST_ORDER) if a.name.startswith(prefix)), len(LIST_ORDER))

    return [(a.key_text(), a.help or a.text) for a in sorted(actions, key=rank) if a.listed and a.key_text()]
