"""The review session without Qt: labelling, undo and redo, orders, filters, selection and counts."""

import pytest
from sessionfixtures import open_session

from xtalviewer.review.labelling import LabelNotSaved
from xtalviewer.review.model_choice import chosen_model
from xtalviewer.review.queue import Filters
from xtalviewer.review.session import ReviewError


@pytest.fixture
def session(store):
    return open_session(store)


def ids(session):
    return [r.id for r in session.rows]


def test_a_label_is_committed_with_who_when_and_what_was_shown_then_moves_on(session, store):
    first = session.current_image_id
    session.clock_.now += 1.25  # the reviewer looked for 1.25 s
    change = session.label("needles")
    assert change.image_ids == [first] and change.text == "Needles on 1 drop"
    (h,) = store.history(first)
    assert (h.label, h.annotator, h.source, h.lead_ms) == ("needles", "ada", "human", 1250)
    assert h.shown[0] == ["clear", pytest.approx(0.9)] and h.prediction_id is not None
    assert session.rows[0].label == "needles" and session.current == 1


def test_auto_advance_off_stays_on_the_drop(session):
    session.auto_advance = False
    session.label("clear")
    assert session.current == 0


def test_undo_and_redo_write_new_annotations_and_return_to_the_drop(session, store):
    first = session.current_image_id
    session.label("skin")
    assert session.undo_text == "Skin on 1 drop" and session.current == 1
    change = session.undo()
    assert change.image_ids == [first] and session.current_image_id == first
    assert store.current_label(first) is None and session.rows[0].label is None
    hist = store.history(first)
    assert len(hist) == 2 and hist[0].reverts == hist[1].id
    assert session.undo() is None and session.redo_text == "Skin on 1 drop"
    session.redo()
    assert store.current_label(first) == "skin" and session.rows[0].label == "skin"
    hist = store.history(first)
    assert len(hist) == 3 and hist[0].reverts == hist[1].id
    session.undo()
    session.label("clear")  # a new label forgets what could be redone
    assert session.redo() is None and session.redo_text is None


def test_several_selected_drops_are_labelled_at_once_and_undone_together(session, store):
    session.set_selection([2, 3, 4])
    chosen = [session.rows[r].id for r in (2, 3, 4)]
    change = session.label("crystals_3d")
    assert change.text == "3D crystals on 3 drops"
    assert [store.current_label(i) for i in chosen] == ["crystals_3d"] * 3
    assert all(h.lead_ms is None for i in chosen for h in store.history(i))  # no single drop was "shown"
    assert session.current == 5 and session.selection == []
    session.undo()
    assert [store.current_label(i) for i in chosen] == [None] * 3


def test_enter_accepts_the_top1_of_one_drop_only(session, store):
    session.set_current(2)
    change = session.accept_prediction()
    (h,) = store.history(change.image_ids[0])
    assert (h.label, h.source) == ("crystals_3d", "accepted-prediction")
    session.set_current(5)  # unscored
    with pytest.raises(ReviewError, match="No prediction"):
        session.accept_prediction()
    session.set_current(1)
    session.set_selection([1, 2])
    with pytest.raises(ReviewError, match="single drop"):
        session.accept_prediction()


def test_orders_keep_the_current_drop(session, store):
    i = store.ids
    session.set_current(session.row_of(i[4]))
    session.set_order("crystal")
    assert ids(session)[:2] == [i[2], i[1]] and ids(session)[-1] == i[5]  # unscored last
    assert session.current_image_id == i[4]
    session.set_order("margin")
    assert ids(session)[0] == i[3]
    with pytest.raises(ValueError):
        session.set_order("random")


def test_filters_use_the_models_operating_point(session, store):
    i = store.ids
    assert session.operating_point.threshold == 0.3
    session.set_filters(hit=True)
    assert ids(session) == [i[1], i[2]]  # needles at ~38% is a hit at 30%, not at the old 50%
    session.set_filters(hit=False)
    assert ids(session) == [i[0], i[3], i[4]]
    session.set_filters(hit=None, crystal_top3=True)
    assert set(ids(session)) == {i[1], i[2]}
    session.set_filters(Filters(predicted="heavy_precipitate"))
    assert ids(session) == [i[4]]
    store.add_annotation(i[0], "clear", "bob")
    session.set_filters(Filters(label="clear"))
    assert ids(session) == [i[0]]
    session.set_filters(Filters(unreviewed=True))
    assert i[0] not in ids(session) and len(ids(session)) == 5
    assert session.filters.any()
    session.clear_filters()
    assert ids(session) == i and not session.filters.any()


def test_no_drop_matches(session):
    session.set_filters(label="needles")
    assert session.rows == [] and session.current == -1 and session.current_drop is None
    assert session.label("clear") is None and session.history() == [] and session.time_course() == []


def test_closing_the_inspection_empties_the_queue(session, store):
    session.close_inspection()
    assert session.rows == [] and session.inspection is None and session.current_drop is None
    assert session.row_of(store.ids[0]) is None and session.reload() == -1 and session.step(1) is None


def test_counts_follow_labels_and_hits(session, store):
    assert session.counts() == {"shown": 6, "labelled": 0, "hits": 2, "crystal_top3": 2, "scored": 5}
    session.set_selection([0, 1])
    session.label("needles")
    assert session.counts()["labelled"] == 2
    c = session.inspection_counts()
    assert (c.images, c.labelled, c.crystal_labels, c.predicted_hits) == (6, 2, 2, 2)


def test_paging_keeps_the_drop_and_stops_at_the_ends(session, store):
    session.set_current(3)
    well = session.current_drop.well
    target, keep = session.step(-1)
    assert target == store.early and store.image(keep).well == well
    session.open_inspection(target, keep_image=keep)
    assert session.current_drop.well == well
    assert session.step(-1) is None and session.step(+1)[0] == store.late


def test_a_label_from_an_earlier_inspection_is_inherited_until_confirmed(session, store):
    early_a1 = store.same_drop(store.early, session.rows[0].plate_id, "A01", 1)
    store.add_annotation(early_a1, "needles", "bob")
    session.reload()
    first = session.rows[0]
    assert first.well == "A01" and session.inherited_label(first.id) == "needles"
    assert session.shown_label(first) == "needles"
    course = session.time_course()
    assert [(c.shown_label, c.inherited) for c in course] == [("needles", False), ("needles", True)]
    session.label("needles")
    assert session.inherited_label(first.id) is None
    assert [c.inherited for c in store.drop_course(first.plate_id, "A01", 1)] == [False, False]


def test_a_label_that_cannot_be_written_moves_nothing(session, store):
    store.conn.execute("PRAGMA query_only = ON")  # every write fails like a read-only database
    with pytest.raises(LabelNotSaved) as failed:
        session.label("needles")
    assert failed.value.label == "needles" and failed.value.wells == ["A01"]
    assert "NOT SAVED: Needles on A01" in str(failed.value) and failed.value.advice == "Make the database writable"
    assert session.pending_label == "needles" and session.current == 0 and session.rows[0].label is None
    assert session.undo_text is None
    store.conn.execute("PRAGMA query_only = OFF")
    session.label("needles")
    assert session.pending_label is None and store.current_label(session.rows[0].id) == "needles"


def test_an_unreadable_drop_is_marked_once(session, store):
    first = session.current_image_id
    assert session.mark_unreadable(first, "truncated JPEG")
    assert not session.mark_unreadable(first, "again")
    assert store.image(first).load_error == "truncated JPEG"
    assert session.rows[0].load_error == "truncated JPEG"


def test_a_new_model_brings_its_own_threshold(session, store):
    other = store.add_model(name="old", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/o.pt")
    session.set_model(store.model(other))
    assert not session.operating_point.calibrated and session.operating_point.threshold == 0.5
    session.reload()
    assert session.counts()["scored"] == 0  # the other model has scored nothing


def test_unknown_label_writes_nothing(session, store):
    with pytest.raises(KeyError):
        session.label("diamonds")
    assert store.history(session.current_image_id) == []


def test_the_preferred_model_when_the_database_has_it(store):
    other = store.add_model(name="other", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/o.pt")
    assert chosen_model(store, other).id == other
    assert chosen_model(store, 999).id == store.model_id == chosen_model(store, None).id
