"""The action table without Qt: every row runs against a real ``ReviewSession`` and a fake view that
records what it was asked; the keys, menus and the ? list are the table's; the review commands
change the session and tell the view what to show."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sessionfixtures import open_session

from xtalviewer.labels import load_scheme
from xtalviewer.review import commands
from xtalviewer.review.actions import MENUS, ReviewView, review_actions, shortcut_rows
from xtalviewer.settings import Settings
from xtalviewer.store.rows import Inspection


class FakeView:
    """A ``ReviewView`` that records each request as (name, arguments…); ``ask_text`` answers
    ``answer`` (None: the reviewer cancelled)."""

    def __init__(self, settings: Settings, answer: str | None = ""):
        self.settings, self.answer = settings, answer
        self.calls: list[tuple] = []

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def said(self) -> str:
        return " | ".join(c[1] for c in self.calls if c[0] == "say")

    def say(self, text: str, ms: int = 5000) -> None:
        self.calls.append(("say", text))

    def ask_text(self, title: str, question: str) -> str | None:
        self.calls.append(("ask_text", title))
        return self.answer

    def show_label_alert(self, text: str | None) -> None:
        self.calls.append(("show_label_alert", text))

    def inspection_opened(self, previous: Inspection | None) -> None:
        self.calls.append(("inspection_opened", previous.id if previous else None))

    def show_queue(self) -> None:
        self.calls.append(("show_queue",))

    def show_choices(self) -> None:
        self.calls.append(("show_choices",))

    def show_current(self) -> None:
        self.calls.append(("show_current",))

    def refresh_drops(self, image_ids: Sequence[int]) -> None:
        self.calls.append(("refresh_drops", list(image_ids)))

    def labels_changed(self, image_ids: Sequence[int]) -> None:
        self.calls.append(("labels_changed", list(image_ids)))

    def others_labelled(self, image_ids: Sequence[int]) -> None:
        self.calls.append(("others_labelled", list(image_ids)))

    def plates_changed(self) -> None:
        self.calls.append(("plates_changed",))

    def model_changed(self, rescore: bool) -> None:
        self.calls.append(("model_changed", rescore))

    def save_settings(self) -> None:
        self.calls.append(("save_settings",))

    def select_all_drops(self) -> None:
        self.calls.append(("select_all_drops",))

    def resize_drops(self, step: int) -> None:
        self.calls.append(("resize_drops", step))

    def zoom_image(self, factor: float | None) -> None:
        self.calls.append(("zoom_image", factor))

    def show_overlay(self, overlay: str, on: bool) -> None:
        self.calls.append(("show_overlay", overlay, on))

    def edit_condition_filter(self) -> None:
        self.calls.append(("edit_condition_filter",))

    def open_dialog(self, dialog: str) -> None:
        self.calls.append(("open_dialog", dialog))

    def start_task(self, task: str) -> None:
        self.calls.append(("start_task", task))

    def set_watching(self, on: bool) -> None:
        self.calls.append(("set_watching", on))

    def close(self) -> bool:
        self.calls.append(("close",))
        return True


@pytest.fixture
def session(store):
    return open_session(store)


@pytest.fixture
def view():
    return FakeView(Settings(annotator="ada"))


@pytest.fixture
def table(store):
    return review_actions(store.scheme, {c.key: c.hotkey for c in store.scheme.classes})


def by_name(table, name):
    return next(a for a in table if a.name == name)


def test_the_fake_is_a_review_view_and_names_all_of_it():
    members = {name for name in vars(ReviewView) if not name.startswith("_")} | set(ReviewView.__annotations__)
    faked = {name for name in vars(FakeView) if not name.startswith("_")} | {"settings"}
    assert members <= faked and isinstance(FakeView(Settings()), ReviewView)
    assert faked - members == {"names", "said"}  # the fake's own helpers


def test_every_action_row_runs_against_the_session_and_a_fake_view(session, view, table):
    for action in table:
        if action.run is None:
            continue
        if action.checkable:
            action.run(session, view, True)
            action.run(session, view, False)
        else:
            action.run(session, view)
    asked = set(view.names())
    assert {"labels_changed", "show_queue", "show_choices", "show_current", "inspection_opened", "open_dialog",
            "start_task", "zoom_image", "show_overlay", "resize_drops", "select_all_drops", "close",
            "edit_condition_filter", "model_changed", "save_settings", "set_watching"} <= asked
    assert {c[1] for c in view.calls if c[0] == "open_dialog"} == {"preferences", "hits", "plots", "retrain",
                                                                     "about", "shortcuts", "watch"}
    assert {c[1] for c in view.calls if c[0] == "start_task"} == {"import", "export", "report", "recalibrate"}


def test_a_label_key_commits_the_label_and_tells_the_view(session, store, view, table):
    first = session.current_image_id
    by_name(table, "label.needles").run(session, view)
    assert store.current_label(first) == "needles" and session.current == 1
    assert view.calls == [("show_label_alert", None), ("labels_changed", [first])]
    assert session.undo_redo_items() == (("Undo Needles on 1 drop", True), ("Redo label", False))
    by_name(table, "edit.undo").run(session, view)
    assert store.current_label(first) is None and "Undone: Needles on 1 drop" in view.said()
    assert session.undo_redo_items() == (("Undo label", False), ("Redo Needles on 1 drop", True))


def test_a_label_the_database_refuses_is_alerted_and_nothing_moves(session, store, view, table):
    store.conn.execute("PRAGMA query_only = ON")  # every write fails like a read-only database
    by_name(table, "label.needles").run(session, view)
    (alert,) = [c[1] for c in view.calls if c[0] == "show_label_alert"]
    assert alert.startswith("NOT SAVED: Needles on A01") and "Label not saved" in view.said()
    assert "labels_changed" not in view.names() and session.current == 0
    store.conn.execute("PRAGMA query_only = OFF")


def test_enter_without_a_prediction_says_why(session, view, table):
    session.set_current(5)  # unscored
    by_name(table, "edit.accept").run(session, view)
    assert view.said() == "No prediction to accept for this drop yet" and "labels_changed" not in view.names()


def test_filters_and_orders_from_the_table_requeue_the_session(session, store, view, table):
    by_name(table, "filter.hits").run(session, view, True)
    assert session.filters.hit is True and [r.id for r in session.rows] == store.ids[1:3]
    assert view.names() == ["show_queue", "show_choices"]
    by_name(table, "order.crystal").run(session, view, True)
    assert session.order == "crystal" and session.filters.hit is True
    by_name(table, "filter.clear").run(session, view)
    assert not session.filters.any() and session.order == "crystal"


def test_blind_review_refuses_the_models_orders_and_the_view_shows_what_holds(session, view, table):
    by_name(table, "review.blind").run(session, view, True)
    assert session.blind and "Blind review on" in view.said()
    view.calls.clear()
    by_name(table, "order.crystal").run(session, view, True)
    assert session.order == "plate" and "Blind review hides" in view.said()
    assert view.names() == ["say", "show_choices"]  # the menu's check goes back to plate order


def test_d_asks_for_a_note_and_a_cancel_flags_nothing(session, view, table):
    first = session.current_image_id
    cancelled = FakeView(view.settings, answer=None)
    by_name(table, "review.flag").run(session, cancelled)
    assert first not in session.flags and cancelled.names() == ["ask_text"]
    by_name(table, "review.flag").run(session, view)
    assert first in session.flags and ("refresh_drops", [first]) in view.calls


def test_page_keys_open_the_neighbouring_inspection_with_the_same_drop(session, store, view, table):
    session.set_current(3)
    by_name(table, "view.previous").run(session, view)
    assert session.inspection.id == store.early and session.current_drop.well == "A04"
    assert view.calls == [("inspection_opened", store.late)]
    view.calls.clear()
    by_name(table, "view.previous").run(session, view)  # the first inspection: nothing further
    assert view.calls == []


def test_tab_on_a_flowing_queue_says_where_it_works(session, view, table):
    session.set_filters(unreviewed=True)
    by_name(table, "grid.cycle").run(session, view)
    assert "plate map" in view.said()


def test_auto_advance_is_kept_in_the_settings(session, view, table):
    by_name(table, "edit.advance").run(session, view, False)
    assert not session.auto_advance and not view.settings.auto_advance and view.names() == ["save_settings"]


def test_menus_keys_and_the_question_mark_list_come_from_the_table(table):
    assert {a.menu.split("/")[0] for a in table if a.menu} <= set(MENUS)
    keys = [a.key for a in load_scheme("xtal10").classes]
    rows = shortcut_rows(table)
    assert [k for k, _ in rows] == [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "Enter", "← → ↑ ↓", "Tab", "Shift+Tab",
        "click A…P / 1…24", "Shift+arrows, Ctrl+A", "D", "Page Down", "Page Up",
        *(f"Ctrl+{n}" for n in range(1, 8)),
        "Ctrl+U", "Ctrl+H", "Ctrl+K", "Ctrl+Shift+F", "Ctrl+Shift+U", "Ctrl+B", "M", "Shift+M", "Ctrl+L", "Ctrl+Z",
        "Ctrl+Shift+Z / Ctrl+Y", "F", "+ / =", "-", "C", "G", "Ctrl+=", "Ctrl+-", "Ctrl+Shift+A", "Ctrl+I", "Ctrl+E",
        "Ctrl+P", "Ctrl+Shift+W", "Ctrl+Q", "Ctrl+,", "Ctrl+G", "Ctrl+R", "Ctrl+T", "Ctrl+Shift+R", "?"]
    names = [a.name for a in table]
    assert len(set(names)) == len(names) and all(f"label.{k}" in names for k in keys)


def test_a_new_label_key_moves_the_label_row_and_its_line_in_the_list(store):
    hotkeys = {**{c.key: c.hotkey for c in store.scheme.classes}, "needles": "n"}
    table = review_actions(store.scheme, hotkeys)
    assert by_name(table, "label.needles").keys == ("n",)
    assert ("n", "Label as Needles (crystal), then next drop") in shortcut_rows(table)


def test_go_to_image_shows_a_drop_hidden_by_the_filters(session, store, view):
    session.set_filters(hit=True)
    commands.go_to_image(session, view, store.ids[0])  # not a hit: hidden
    assert session.current_image_id == store.ids[0] and not session.filters.any()
    assert view.names() == ["show_choices", "inspection_opened"]
    view.calls.clear()
    commands.go_to_image(session, view, store.ids[4])  # in the queue: only moved
    assert session.current_image_id == store.ids[4] and view.names() == ["show_current"]


def test_activating_a_model_saves_the_default_and_rescores_the_open_plate(session, store, view):
    other = store.add_model(name="other", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/o.pt")
    assert commands.activate_model(session, view, other)
    assert session.model.id == other and store.active_model().id == other and view.settings.default_model == other
    assert view.names() == ["save_settings", "model_changed"] and view.calls[-1] == ("model_changed", True)


def test_preferences_that_switch_the_model_reread_the_queue(session, store, view):
    other = store.add_model(name="other", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/o.pt")
    old, view.settings = view.settings, Settings(annotator="grace", default_model=other, auto_advance=False)
    commands.settings_changed(session, view, old)
    assert (session.annotator, session.auto_advance, session.model.id) == ("grace", False, other)
    assert view.calls == [("model_changed", True)]
