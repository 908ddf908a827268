"""Review commands beyond labelling, as the action table calls them: the drops of a well in turn
(Tab), a second look (D), blind review of the plate (Ctrl+B), the imaging modes (M, Shift+M) and
the hit list (Ctrl+L). Each changes the review session, then has the window show it."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMainWindow

from xtalviewer.review.session import ReviewError
from xtalviewer.store.schema import MODE_NAMES


def cycle_drop(window: QMainWindow, step: int) -> None:
    """Tab / Shift+Tab: the next or previous drop of the well on the plate map."""
    s = window.session
    if s.layout is None:
        window.statusBar().showMessage("Tab walks the drops of a well on the plate map (plate order, no filters)",
                                       5000)
        return
    window.set_current_row(s.cycle_drop(step))


def flag_drop(window: QMainWindow) -> None:
    """D: the drop (or the selected drops) needs a second look, with an optional note; on drops
    that are all flagged already, D clears the flag. Both are kept in the drop's history."""
    s = window.session
    targets = [s.rows[i].id for i in s.targets()]
    if not targets:
        return
    on = not all(i in s.flags for i in targets)
    note = None
    if on:
        where = s.current_drop.well if len(targets) == 1 else f"{len(targets)} drops"
        note, ok = QInputDialog.getText(window, "Needs a second look",
                                        f"Why should someone look at {where} again? (optional, Enter to flag)",
                                        QLineEdit.EchoMode.Normal, "")
        window.activateWindow()  # the keys come back to the review window
        if not ok:
            return
    try:
        changed = s.flag(on, note)
    except Exception as exc:  # a write the database refused: say so, change nothing
        window.statusBar().showMessage(f"Second look not saved: {exc}", 15000)
        return
    window.drops.refresh(targets)
    window.drop.show()
    window.statusBar().showMessage(
        f"{'Flagged' if on else 'Cleared the flag of'} {changed} drop{'s' * (changed != 1)} "
        f"{'for a second look' if on else ''} (Ctrl+7: the disputed drops)", 6000)


def set_blind(window: QMainWindow, on: bool) -> None:
    """Ctrl+B: blind review of the open plate (earlier labels and the model hidden) on or off."""
    try:
        window.session.set_blind(on)
    except ReviewError as exc:
        window.statusBar().showMessage(str(exc), 5000)
        window.actions_["review.blind"].setChecked(False)
        return
    window._show_filter_state()
    window._queue_shown()
    window.statusBar().showMessage("Blind review on: labels you give now are shown, nothing earlier" if on else
                                   "Blind review off: earlier labels and the model are shown again", 6000)


def sync_blind(window: QMainWindow) -> None:
    """The Blind review menu item follows the plate on screen."""
    window.actions_["review.blind"].setChecked(window.session.blind)


def cycle_mode(window: QMainWindow) -> None:
    """M: the image view (and the time course) shows the drop in the inspection's next imaging mode."""
    s = window.session
    if len(s.modes) < 2:
        window.statusBar().showMessage("This inspection has visible images only (no UV or SHG)", 4000)
        return
    mode = s.cycle_mode()
    window.drop.show()
    window.statusBar().showMessage(f"Showing the {MODE_NAMES.get(mode, mode)} image", 3000)


def side_by_side(window: QMainWindow, on: bool) -> None:
    """Shift+M: the visible image beside another mode's (the one M chose, else the next)."""
    window.session.side_by_side = on
    window.drop.show()
    if on and len(window.session.modes) < 2:
        window.statusBar().showMessage("This inspection has one imaging mode: nothing to show beside it", 4000)
