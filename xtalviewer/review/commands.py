"""The review commands the action table and the window run: each changes the ``ReviewSession``,
then tells the view (``ReviewView``, the window) what to show. No Qt, so each is testable with a
fake view; what a command decides lives here or in the session, never in the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from xtalviewer.review import live, model_choice, navigation
from xtalviewer.review.live import LiveUpdate
from xtalviewer.review.labelling import LabelChange, LabelNotSaved
from xtalviewer.review.queue import Filters
from xtalviewer.review.session import ReviewError, ReviewSession
from xtalviewer.settings import Settings
from xtalviewer.store.rows import CourseImage
from xtalviewer.store.label_watch import LiveNews
from xtalviewer.store.location import location_of
from xtalviewer.store.schema import MODE_NAMES

if TYPE_CHECKING:  # the protocol lives with the action table, which calls these commands
    from xtalviewer.review.actions import ReviewView


# -- labelling ------------------------------------------------------------------------------------

def label(session: ReviewSession, view: ReviewView, key: str, *, source: str = "human") -> bool:
    """A label key: label the selected drops (or the current one), commit, then move on."""
    return _labelled(session, view, lambda: session.label(key, source=source))


def accept_prediction(session: ReviewSession, view: ReviewView) -> bool:
    """Enter: the model's top 1 becomes the current drop's label."""
    return _labelled(session, view, session.accept_prediction)


def undo(session: ReviewSession, view: ReviewView) -> bool:
    return _labelled(session, view, session.undo, "Undone")


def redo(session: ReviewSession, view: ReviewView) -> bool:
    return _labelled(session, view, session.redo, "Redone")


def retry_labels(session: ReviewSession, view: ReviewView) -> bool:
    """Retry in the alert of a label that was not saved: the same labels, sent again."""
    return _labelled(session, view, session.retry_labels, "Saved")


def _labelled(session: ReviewSession, view: ReviewView, act: Callable[[], LabelChange | None],
              verb: str | None = None) -> bool:
    """Run one labelling step; a label the database refused is said at once, in the window, and
    nothing moves on. True when labels were written."""
    try:
        change = act()
    except ReviewError as exc:
        view.say(str(exc), 4000)
        return False
    except LabelNotSaved as exc:
        view.show_label_alert(str(exc))
        view.say(f"Label not saved: {exc.reason}", 30000)
        return False
    view.show_label_alert(None)
    if change is None:
        return False
    if verb:
        view.say(f"{verb}: {change.text}", 5000)
    view.labels_changed(change.image_ids)
    return True


def set_auto_advance(session: ReviewSession, view: ReviewView, on: bool) -> None:
    """Edit > Advance after labelling, kept for the next start."""
    session.auto_advance = view.settings.auto_advance = on
    view.save_settings()


# -- which drops, in which order --------------------------------------------------------------------

def requeue(session: ReviewSession, view: ReviewView, order: str | None = None, filters: Filters | None = None,
            **changes) -> None:
    """Another order, other filters, or some filters changed (``hit=True``): show the new queue.
    Blind review refuses the model's orders and filters; the toolbar then shows what holds."""
    order, filters = order or session.order, replace(filters or session.filters, **changes)
    try:
        session.check_queue(order, filters)
    except ReviewError as exc:
        view.say(str(exc), 6000)
    else:
        session.order, session.filters = order, filters
        session.reload()
        view.show_queue()
    view.show_choices()


def set_blind(session: ReviewSession, view: ReviewView, on: bool) -> None:
    """Ctrl+B: blind review of the open plate (earlier labels and the model hidden) on or off."""
    try:
        session.set_blind(on)
    except ReviewError as exc:
        view.say(str(exc), 5000)
        view.show_choices()
        return
    view.show_choices()
    view.show_queue()
    view.say("Blind review on: labels you give now are shown, nothing earlier" if on else
             "Blind review off: earlier labels and the model are shown again", 6000)


def reload_all(session: ReviewSession, view: ReviewView) -> None:
    """Ctrl+R: the store's active model (another program may have changed it), the plates, the queue."""
    from xtalviewer.model.registry import current_model  # torch only when a model must be found

    session.set_model(current_model(session.store))
    session.reload()
    view.model_changed(rescore=False)


def others_changed(session: ReviewSession, view: ReviewView, news: LiveNews) -> LiveUpdate:
    """Colleagues' labels, second looks or model activation arrived (``review/live.py``): the open
    drops they touched are painted again, other plates' counts read again, the model followed, and
    who did what said in one line."""
    update = live.take_news(session, news)
    if update.requeue:
        session.reload()  # the drop on screen stays current when it is still in the queue
        view.show_queue()
    if update.changed:
        view.others_labelled(update.changed)
    if update.elsewhere:
        view.plates_changed()
    notes = [update.note] if update.note else []
    if news.model_activated is not None:
        model = model_choice.follow_activation(session, news.model_activated, view.settings)
        if model is not None:
            view.save_settings()
            view.model_changed(rescore=session.inspection is not None)
            notes.append(f"Model {model.id}: {model.name} was made active on another workstation; "
                         "this window follows it")
    if notes:
        view.say(" · ".join(notes), 15000)
    return update


def activate_model(session: ReviewSession, view: ReviewView, model_id: int) -> bool:
    """The Model menu, the Retrain dialog or a recalibration chose a model: the store, the user's
    default and the session follow it, and the open plate is scored with it. False: refused (said)."""
    from xtalviewer.model.registry import RegistryError

    try:
        plate = model_choice.activate_model(session, model_id, view.settings)
    except RegistryError as exc:  # a model trained into NaN, say
        view.say(f"Not activated: {exc}", 15000)
        return False
    view.save_settings()
    view.model_changed(rescore=plate is not None)
    return True


# -- where the reviewer is ----------------------------------------------------------------------------

def open_inspection(session: ReviewSession, view: ReviewView, inspection_id: int,
                    keep_image: int | None = None) -> bool:
    """Open an inspection, ``keep_image`` (or the first drop) current. False: the store no longer has it."""
    previous = session.inspection
    if not session.open_inspection(inspection_id, keep_image):
        return False
    view.inspection_opened(previous)
    return True


def step_inspection(session: ReviewSession, view: ReviewView, step: int) -> None:
    """Page Up/Down: the neighbouring inspection, the same drop kept within a plate."""
    found = session.step(step)
    if found is not None:
        open_inspection(session, view, *found)


def open_course_image(session: ReviewSession, view: ReviewView, image: CourseImage) -> None:
    """A time-course image clicked: its inspection, the same drop current."""
    found = navigation.course_step(session, image)
    if found is not None:
        open_inspection(session, view, *found)


def go_to_image(session: ReviewSession, view: ReviewView, image_id: int) -> None:
    """A drop picked in the plots or the hit list: shown, in its inspection, whatever hid it cleared."""
    previous = session.inspection
    went = navigation.go_to_image(session, image_id)
    if went == "opened":
        view.show_choices()
        view.inspection_opened(previous)
    elif went == "moved":
        view.show_current()


def cycle_drop(session: ReviewSession, view: ReviewView, step: int) -> None:
    """Tab / Shift+Tab: the next or previous drop of the well on the plate map."""
    if session.layout is None:
        view.say("Tab walks the drops of a well on the plate map (plate order, no filters)", 5000)
        return
    session.cycle_drop(step)
    view.show_current()


# -- second look and imaging modes ---------------------------------------------------------------------

def flag_drop(session: ReviewSession, view: ReviewView) -> None:
    """D: the drop (or the selected drops) needs a second look, with an optional note; on drops that
    are all flagged already, D clears the flag. Both are kept in the drop's history."""
    targets = [session.rows[i].id for i in session.targets()]
    if not targets:
        return
    on = not all(i in session.flags for i in targets)
    note = None
    if on:
        where = session.current_drop.well if len(targets) == 1 else f"{len(targets)} drops"
        note = view.ask_text("Needs a second look",
                             f"Why should someone look at {where} again? (optional, Enter to flag)")
        if note is None:
            return
    try:
        changed = session.flag(on, note)
    except Exception as exc:  # a write the database refused: say so, change nothing
        view.say(f"Second look not saved: {exc}", 15000)
        return
    view.refresh_drops(targets)
    view.show_current()
    view.say(f"{'Flagged' if on else 'Cleared the flag of'} {changed} drop{'s' * (changed != 1)} "
             f"{'for a second look' if on else ''} (Ctrl+7: the disputed drops)", 6000)


def cycle_mode(session: ReviewSession, view: ReviewView) -> None:
    """M: the image view (and the time course) shows the drop in the inspection's next imaging mode."""
    if len(session.modes) < 2:
        view.say("This inspection has visible images only (no UV or SHG)", 4000)
        return
    mode = session.cycle_mode()
    view.show_current()
    view.say(f"Showing the {MODE_NAMES.get(mode, mode)} image", 3000)


def side_by_side(session: ReviewSession, view: ReviewView, on: bool) -> None:
    """Shift+M: the visible image beside another mode's (the one M chose, else the next)."""
    session.side_by_side = on
    view.show_current()
    if on and len(session.modes) < 2:
        view.say("This inspection has one imaging mode: nothing to show beside it", 4000)


def settings_changed(session: ReviewSession, view: ReviewView, old: Settings) -> None:
    """Preferences took effect (``view.settings`` holds the new ones): who labels and auto-advance at
    once; another default model or compute device switches the model and scores the open plate."""
    new = view.settings
    session.annotator, session.auto_advance = new.annotator, new.auto_advance
    model = model_choice.chosen_model(session.store, new.default_model)
    if new.device != old.device or (model and session.model and model.id != session.model.id):
        session.set_model(model)
        session.reload()
        view.model_changed(rescore=True)
    if new.database != old.database:
        chosen = new.database or "the data folder's database file"
        view.say(f"Database: {location_of(chosen) if new.database else chosen} opens at the next start "
                 "(--db and XTALVIEWER_DB still come first)", 15000)
