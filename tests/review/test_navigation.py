"""Where the reviewer goes next and which model the session follows, decided without Qt: the
inspection opened after the plate browser refresh, a drop picked elsewhere (filters that hide it
cleared), a time-course image's inspection with the same drop, activating a model, and the text of
Edit > Undo / Redo."""

from __future__ import annotations

import math

import pytest
from sessionfixtures import open_session

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.model.registry import RegistryError
from xtalviewer.plates import PlateType, well_name
from xtalviewer.review import navigation
from xtalviewer.review.model_choice import activate_model
from xtalviewer.review.session import ReviewSession
from xtalviewer.settings import Settings
from xtalviewer.store.store import ImageRow


@pytest.fixture
def session(store):
    return open_session(store)


def second_plate(store) -> int:
    """Plate P2 with one inspection of two drops; returns the inspection."""
    with store.transaction():
        pid = store.upsert_plate("P2", PlateType(8, 12, 1))
        inspection, _ = store.upsert_inspection(pid, "j1", imaged_at="2026-01-03", imager="RI", profile=None,
                                                layout="t", folder=None)
    store.upsert_images([ImageRow(inspection, pid, well_name(1, c), 1, c, 1, f"/img/p2/{c}.jpg", 1, 1.0, 8, 8)
                         for c in (1, 2)])
    return inspection


def test_after_the_browser_refresh_the_asked_then_the_open_then_the_wanted_plate_then_the_latest(store):
    p2 = second_plate(store)
    rows = store.inspection_summaries(None)
    fresh = ReviewSession(store, "ada")
    assert navigation.inspection_after_refresh(fresh, rows) == rows[-1].id  # the latest of all
    assert fresh.inspection_ids == [r.id for r in rows]  # Page Up / Down walk them in this order
    latest_p1 = max((r for r in rows if r.barcode == "P1"), key=lambda r: r.imaged_at).id
    assert navigation.inspection_after_refresh(fresh, rows, wanted_plate="P1") == latest_p1
    assert navigation.inspection_after_refresh(fresh, rows, wanted_plate="P9") == rows[-1].id  # not in the store
    assert navigation.inspection_after_refresh(fresh, rows, then_open=store.early) == store.early
    fresh.open_inspection(p2)
    assert navigation.inspection_after_refresh(fresh, rows, wanted_plate="P1") is None  # the open one stays
    assert navigation.inspection_after_refresh(fresh, rows, then_open=store.late) == store.late
    assert navigation.inspection_after_refresh(ReviewSession(store, "ada"), []) is None  # no plates yet


def test_a_drop_picked_elsewhere_clears_the_filters_that_hide_it(session, store):
    session.set_filters(hit=True)
    hidden = store.ids[0]  # not a hit
    assert session.row_of(hidden) is None
    assert navigation.go_to_image(session, hidden) == "opened"
    assert session.current_image_id == hidden and not session.filters.any()
    assert navigation.go_to_image(session, store.ids[3]) == "moved" and session.current_image_id == store.ids[3]
    early_a2 = store.same_drop(store.early, session.current_drop.plate_id, "A02", 1)
    assert navigation.go_to_image(session, early_a2) == "opened"
    assert session.inspection.id == store.early and session.current_image_id == early_a2
    assert navigation.go_to_image(session, 10_000) is None and session.current_image_id == early_a2


def test_a_time_course_image_opens_its_inspection_with_the_same_drop(session, store):
    session.set_current(2)
    early, late = session.time_course()
    assert (early.inspection_id, late.inspection_id) == (store.early, store.late)
    assert navigation.course_step(session, late) is None  # the inspection open
    assert navigation.course_step(session, early) == (store.early, early.id)
    assert session.open_inspection(*navigation.course_step(session, early))
    assert session.current_drop.well == "A03"


def test_activating_a_model_sets_the_store_the_default_and_says_what_to_score(session, store):
    settings = Settings(annotator="ada")
    other = store.add_model(name="other", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/o.pt")
    plate = activate_model(session, other, settings)
    assert plate == session.inspection.plate_id  # the open plate, scored by the new model
    assert store.active_model().id == other and settings.default_model == other and session.model.id == other
    assert session.counts()["scored"] == 0  # the queue was read again with the new model's predictions
    nothing_open = ReviewSession(store, "ada")
    assert activate_model(nothing_open, store.model_id, settings) is None and nothing_open.model.id == store.model_id


def test_a_model_trained_into_nan_is_not_activated(session, store):
    settings = Settings(annotator="ada", default_model=store.model_id)
    broken = store.add_model(name="nan", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/n.pt",
                             metrics={"loss": math.nan}, operating_point=OperatingPoint(threshold=math.nan))
    with pytest.raises(RegistryError):
        activate_model(session, broken, settings)
    assert store.active_model().id == store.model_id == session.model.id and settings.default_model == store.model_id


def test_undo_and_redo_items_name_what_they_would_take_back(session):
    assert session.undo_redo_items() == (("Undo label", False), ("Redo label", False))
    session.set_selection([1, 2])
    session.label("skin")
    assert session.undo_redo_items() == (("Undo Skin on 2 drops", True), ("Redo label", False))
    session.undo()
    assert session.undo_redo_items() == (("Undo label", False), ("Redo Skin on 2 drops", True))
