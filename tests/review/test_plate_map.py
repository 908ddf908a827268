"""The review session on the plate: geometry navigation, drops of a well, rows and columns,
best over time, second looks and the disputed order, blind review, imaging modes. No Qt."""

import numpy as np
import pytest
from imagefiles import write_hwi

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.importers import import_paths
from xtalviewer.review.plate_map import PlateLayout
from xtalviewer.plates import PlateType, well_name
from xtalviewer.review.queue import Filters
from xtalviewer.review.session import ReviewError, ReviewSession
from xtalviewer.store.rows import Flag, QueueRow
from xtalviewer.store.store import ImageRow, PredictionRow, Store


def crystal(p: float, keys) -> np.ndarray:
    v = np.zeros(len(keys))
    v[keys.index("needles")], v[keys.index("clear")] = p, 1 - p
    return v


@pytest.fixture
def store(db_path):
    """A 96-well plate with two drops per well, wells A1-A3, B1, B3 (B2 not imaged) and H12, at two
    inspections; a model with a 30% threshold scored both."""
    s = Store(db_path)
    wells = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 3), (8, 12)]
    with s.transaction():
        pid = s.upsert_plate("PM", PlateType(8, 12, 2))
        early, _ = s.upsert_inspection(pid, "e", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                       folder=None)
        late, _ = s.upsert_inspection(pid, "l", imaged_at="2026-01-08", imager=None, profile=None, layout="t",
                                      folder=None)
    s.upsert_images([ImageRow(iid, pid, well_name(r, c), r, c, d, f"/pm/{iid}/{r}_{c}_{d}.jpg", 1, 1.0, 8, 8)
                     for iid in (early, late) for r, c in wells for d in (1, 2)])
    model = s.add_model(name="m", arch="resnet18", classes=s.scheme.keys, input_size=32, path="/m.pt", activate=True,
                        operating_point=OperatingPoint(threshold=0.3, target_recall=0.99))
    early_p = {"A01": 0.9, "A02": 0.1}  # A01 drop 1 was a hit early and faded; A02 never
    late_p = {"A01": 0.05, "A03": 0.6}
    rows = []
    for iid, probs in ((early, early_p), (late, late_p)):
        for r in s.review_queue(None, inspection_id=iid):
            p = probs.get(r.well, 0.0) if r.drop_no == 1 else 0.0
            rows.append(PredictionRow(r.id, crystal(p, s.scheme.keys)))
    s.put_predictions(model, rows)
    s.early, s.late, s.pid = early, late, pid
    yield s
    s.close()


@pytest.fixture
def session(store):
    session = ReviewSession(store, "ada", model=store.active_model())
    session.set_inspections([store.early, store.late])
    session.open_inspection(store.late)
    return session


def at(session) -> tuple[str, int]:
    r = session.current_drop
    return r.well, r.drop_no


def test_plate_order_without_filters_is_the_plate_map(session):
    assert session.plate_map and session.layout is not None
    assert (session.layout.rows, session.layout.cols, session.layout.drops) == (8, 12, 2)
    session.set_filters(unreviewed=True)
    assert not session.plate_map and session.layout is None
    session.set_filters(Filters())
    session.set_order("crystal")
    assert not session.plate_map


def test_arrows_move_by_well_in_plate_geometry_and_a_key_cycles_the_drops(session):
    assert at(session) == ("A01", 1)
    session.move_in_plate(0, 1)
    assert at(session) == ("A02", 1)
    session.cycle_drop()
    assert at(session) == ("A02", 2)
    session.move_in_plate(1, 0)
    assert at(session) == ("A02", 2)  # no well below A02 was imaged: nothing moves
    session.move_in_plate(0, 1)
    assert at(session) == ("A03", 2)  # the same drop number in the next well
    session.move_in_plate(1, 0)
    assert at(session) == ("B03", 2)
    session.move_in_plate(0, -1)
    assert at(session) == ("B01", 2)  # B02 has no image: stepped over
    session.cycle_drop()
    assert at(session) == ("B01", 1)  # wraps round the well's drops
    session.cycle_drop(-1)
    assert at(session) == ("B01", 2)
    session.move_in_plate(0, -1)
    assert at(session) == ("B01", 2)  # the plate's edge


def test_a_row_or_column_selected_then_one_label_key_labels_them_all(session, store):
    layout = session.layout
    session.set_selection(layout.in_rows([1]))
    assert len(session.label("clear").image_ids) == 6
    labelled = {(r.well, r.drop_no) for r in session.rows if r.label == "clear"}
    assert labelled == {(w, d) for w in ("A01", "A02", "A03") for d in (1, 2)}
    session.set_selection(layout.in_cols([12]))
    session.label("skin")
    assert {(r.well, r.drop_no) for r in session.rows if r.label == "skin"} == {("H12", 1), ("H12", 2)}
    assert layout.in_wells([(2, 1), (2, 3)]) == sorted(session.row_of(r.id) for r in session.rows
                                                        if r.well in ("B01", "B03"))


def test_layout_of_a_queue_beyond_the_recorded_plate_grows_it():
    queue = [QueueRow(1, 1, 1, "I13", 9, 13, 3, "visible", "/x.jpg", None, None)]
    layout = PlateLayout.of(queue, 8, 12, 1)
    assert (layout.rows, layout.cols, layout.drops) == (9, 13, 3)
    assert layout.move(0, 0, 1) == 0 and layout.cycle(0) == 0


def test_best_over_time_marks_a_drop_that_was_a_hit_and_orders_by_it(session, store):
    a01 = next(r for r in session.rows if (r.well, r.drop_no) == ("A01", 1))
    best = session.best_hit(a01.id)
    assert best.best == pytest.approx(0.9) and best.first_hit_inspection == store.early
    assert not session.is_hit(a01)  # not a hit now: the mark says it was
    a02 = next(r for r in session.rows if (r.well, r.drop_no) == ("A02", 1))
    assert session.best_hit(a02.id) is None and session.best[a02.id].best == pytest.approx(0.1)
    session.set_order("best")
    assert [(r.well, r.drop_no) for r in session.rows[:3]] == [("A01", 1), ("A03", 1), ("A02", 1)]
    assert session.rows[0].best_prob == pytest.approx(0.9)


def test_second_look_flags_and_the_disputed_order(session, store):
    session.set_current(session.layout.drops_at(1, 2)[0])
    assert session.flag(True, note="edge of the drop?") == 1
    assert session.flag(True) == 0  # already flagged
    flagged = session.current_image_id
    assert session.flags[flagged].note == "edge of the drop?"
    (event,) = [e for e in session.history() if isinstance(e, Flag)]
    assert event.flagged and event.annotator == "ada"
    # two reviewers who disagree make a dispute too
    other = session.rows[session.layout.drops_at(8, 12)[1]].id
    store.add_annotation(other, "clear", "ada")
    store.add_annotation(other, "needles", "bob")
    session.set_order("disputed")
    assert [r.id for r in session.rows] == [flagged, other]  # flagged first
    session.set_current(0)
    assert session.flag(False) == 1 and flagged not in session.flags
    session.reload()
    assert [r.id for r in session.rows] == [other]
    assert [e.flagged for e in store.drop_history(flagged) if isinstance(e, Flag)] == [False, True]


def test_blind_review_hides_earlier_labels_inherited_labels_and_the_model(session, store):
    first = session.rows[0]
    store.add_annotation(store.same_drop(store.early, store.pid, "A02", 1), "skin", "bob")  # inherited into late
    store.add_annotation(first.id, "needles", "bob")
    session.reload()
    a02 = session.rows[session.layout.drops_at(1, 2)[0]]
    assert session.shown_label(session.rows[0]) == "needles" and session.inherited_label(a02.id) == "skin"
    session.set_blind(True)
    assert session.blind and not session.shows_model
    assert session.shown_label(session.rows[0]) is None and session.inherited_label(a02.id) is None
    assert session.history() == []
    assert all(c.shown_label is None for c in session.time_course())
    with pytest.raises(ReviewError, match="Blind review"):
        session.set_order("crystal")
    with pytest.raises(ReviewError, match="Blind review"):
        session.set_filters(hit=True)
    with pytest.raises(ReviewError, match="Blind review"):
        session.accept_prediction()
    session.set_current(0)
    session.label("clear")  # the reviewer's own blind label shows; bob's stays hidden elsewhere
    assert session.shown_label(session.rows[0]) == "clear"
    session.set_current(0)
    assert [e.label for e in session.history()] == ["clear"]  # bob's earlier label stays hidden
    session.set_blind(False)
    assert session.inherited_label(a02.id) == "skin" and session.shows_model


def test_modes_of_an_hwi_inspection_in_the_session(tmp_path, db_path):
    write_hwi(tmp_path / "hwi", stamps=("201807151230", "201807221230"))
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "hwi"])
        session = ReviewSession(s, "ada")
        first, second = s.inspections(s.plates()[0].id)
        session.set_inspections([first.id, second.id])
        session.open_inspection(first.id)
        assert session.modes == ["visible", "uv", "shg"] and len(session.rows) == 4
        assert set(session.mode_images()) == {"visible", "uv", "shg"}
        assert session.cycle_mode() == "uv"
        course = session.time_course()
        assert [c.inspection_id for c in course] == [first.id, second.id] and "-uvt/" in course[0].path
        assert session.cycle_mode() == "shg" and session.cycle_mode() == "visible"
        assert session.step(+1)[1] == s.same_drop(second.id, session.current_drop.plate_id, "A01", 1)
