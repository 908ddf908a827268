import dataclasses
import os
import stat

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtTest import QTest

from xtalviewer.review import commands
from xtalviewer.store.store import PredictionRow, Store
from xtalviewer.gui.plate.grid_model import Role
from xtalviewer.gui.plate.grid_view import select_rows

KEYS = ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
        "microcrystals", "needles", "plates", "crystals_3d"]


def probs(**named):
    v = np.full(10, 0.0)
    for k, p in named.items():
        v[KEYS.index(k)] = p
    v[v == 0] = (1 - v.sum()) / (v == 0).sum()
    return v


def press(window, key, modifier=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(window.grid, key, modifier)


def ids_in_grid(window):
    return [r.id for r in window.grid_model.rows()]


def test_hotkey_stores_the_label_with_annotator_and_advances(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    first = w.current_image_id()
    assert w.current_row() == 0
    press(w, Qt.Key.Key_8)
    with Store(plate_db) as s:
        assert s.current_label(first) == "needles"
        (h,) = s.history(first)
        assert h.annotator == "tester" and h.source == "human" and h.lead_ms >= 0
    assert w.current_row() == 1
    assert w.grid_model.queue_row(0).label == "needles"


def test_auto_advance_can_be_turned_off(plate_db, settings, open_window):
    settings.auto_advance = False
    w = open_window(plate_db, settings)
    press(w, Qt.Key.Key_1)
    assert w.current_row() == 0


def test_enter_accepts_the_prediction_and_records_what_was_shown(plate_db, settings, open_window):
    with Store(plate_db) as s:
        model_id = s.active_model().id
        first = s.review_queue(model_id, "plate", inspection_id=s.query("SELECT MAX(id) AS i FROM inspection")[0]["i"])[0].id
        s.put_predictions(model_id, [PredictionRow(first, probs(plates=0.7, needles=0.2))])
    w = open_window(plate_db, settings)
    w.set_current_row(w.grid_model.row_of(first))
    assert w.prediction.bars.top3[0] == ("plates", pytest.approx(0.7))
    assert w.prediction.flag.text() == "HIT: crystal probability 92.5% ≥ 50.0%"  # the uncalibrated model: 50%
    assert w.prediction.top3.text() == "crystal in top 3: Plates 70.0%"
    press(w, Qt.Key.Key_Return)
    with Store(plate_db) as s:
        (h,) = s.history(first)
        assert (h.label, h.source) == ("plates", "accepted-prediction")
        assert h.prediction_id is not None and h.shown[0] == ["plates", pytest.approx(0.7)]


def test_undo_and_redo_write_new_annotations(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    first = w.current_image_id()
    press(w, Qt.Key.Key_5)
    press(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with Store(plate_db) as s:
        assert s.current_label(first) is None
        hist = s.history(first)
        assert len(hist) == 2 and hist[0].reverts == hist[1].id
    assert w.current_image_id() == first and w.grid_model.queue_row(0).label is None
    press(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    with Store(plate_db) as s:
        assert s.current_label(first) == "skin"
        assert len(s.history(first)) == 3


def test_several_selected_drops_are_labelled_at_once(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    w.requeue(unreviewed=True)  # a filter: the flowing queue
    assert w.grid is w.drops.queue
    select_rows(w.grid, [2, 3, 4])
    w.grid.selectionModel().setCurrentIndex(w.grid_model.index(4), w.grid.selectionModel().SelectionFlag.Select)
    chosen = [w.grid_model.queue_row(r).id for r in (2, 3, 4)]
    press(w, Qt.Key.Key_0)
    with Store(plate_db) as s:
        assert [s.current_label(i) for i in chosen] == ["crystals_3d"] * 3
        assert s.current_label(w.grid_model.queue_row(1).id) is None
    assert w.current_row() == 5
    press(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one undo reverts the whole group
    with Store(plate_db) as s:
        assert [s.current_label(i) for i in chosen] == [None] * 3


@pytest.fixture
def scored_db(plate_db):
    with Store(plate_db) as s:
        model_id = s.active_model().id
        latest = s.query("SELECT MAX(id) AS i FROM inspection")[0]["i"]
        rows = s.review_queue(model_id, "plate", inspection_id=latest)
        ids = [r.id for r in rows]
        s.put_predictions(model_id, [
            PredictionRow(ids[0], probs(clear=0.9)),
            PredictionRow(ids[1], probs(needles=0.6, clear=0.3)),
            PredictionRow(ids[2], probs(crystals_3d=0.95)),
            PredictionRow(ids[3], probs(skin=0.46, heavy_precipitate=0.45)),
            PredictionRow(ids[4], probs(heavy_precipitate=0.8)),
        ])
        s.add_annotation(ids[4], "microcrystals", "ann")
        s.add_annotation(ids[0], "clear", "ann")
    return plate_db, ids


def choose(combo, data):
    combo.setCurrentIndex(combo.findData(data))


def test_review_orders_and_filters(scored_db, settings, open_window):
    db, ids = scored_db
    w = open_window(db, settings)
    assert ids_in_grid(w) == ids
    choose(w.toolbar.order_box, "crystal")
    assert ids_in_grid(w)[:2] == [ids[2], ids[1]]  # 3D crystals 95%, then needles 60%
    with Store(db) as s:
        expected = [r.id for r in s.review_queue(s.active_model().id, "crystal", inspection_id=w.inspection.id)]
    assert ids_in_grid(w) == expected
    choose(w.toolbar.order_box, "margin")
    assert ids_in_grid(w)[0] == ids[3]
    choose(w.toolbar.order_box, "disagreement")
    assert ids_in_grid(w) == [ids[4]]
    choose(w.toolbar.order_box, "plate")
    w.toolbar.unreviewed.setChecked(True)
    assert ids[0] not in ids_in_grid(w) and ids[4] not in ids_in_grid(w) and len(ids_in_grid(w)) == 10
    w.toolbar.unreviewed.setChecked(False)
    choose(w.toolbar.label_filter, "clear")
    assert ids_in_grid(w) == [ids[0]]
    choose(w.toolbar.label_filter, "")
    choose(w.toolbar.pred_filter, "heavy_precipitate")
    assert ids_in_grid(w) == [ids[4]]
    choose(w.toolbar.pred_filter, "")
    choose(w.toolbar.top3_filter, "yes")
    assert {ids[1], ids[2]} <= set(ids_in_grid(w))
    with Store(db) as s:
        expected = [r.id for r in s.review_queue(s.active_model().id, "plate", inspection_id=w.inspection.id,
                                                    crystal_top3=True)]
    assert ids_in_grid(w) == expected and ids[0] not in expected


def test_prediction_panel_shows_the_stored_top3(scored_db, settings, open_window):
    db, ids = scored_db
    w = open_window(db, settings)
    w.set_current_row(w.grid_model.row_of(ids[1]))
    with Store(db) as s:
        p = s.prediction(ids[1], s.active_model().id)
    assert w.prediction.bars.top3 == [(p.top1, p.p1), (p.top2, p.p2), (p.top3, p.p3)]
    assert w.prediction.title.text() == "Model: tiny"
    w.set_current_row(w.grid_model.row_of(ids[0]))
    assert w.prediction.flag.text().startswith("not a hit")
    assert w.prediction.top3.text() == "no crystal in top 3"


def test_live_worker_fills_predictions_and_the_grid(plate_db, settings, open_window, qtbot):
    w = open_window(plate_db, settings, start_scoring=True)
    qtbot.waitUntil(lambda: not w.scoring.running(), timeout=60000)
    rows = w.grid_model.rows()
    readable = [r for r in rows if not r.load_error]
    assert readable and all(r.top1 for r in readable)
    assert any(r.load_error for r in rows)  # the truncated one, marked by the worker
    with Store(plate_db) as s:
        stored = s.conn.execute("SELECT COUNT(*) FROM prediction p JOIN image i ON i.id = p.image_id "
                                "WHERE i.inspection_id = ?", (w.inspection.id,)).fetchone()[0]
    assert stored == len(readable)
    idx = w.grid_model.index(0)
    assert w.grid_model.data(idx, Role.CRYSTAL_PROB) is not None


def test_unreadable_image_shows_a_placeholder_with_the_reason(plate_db, settings, open_window, qtbot):
    w = open_window(plate_db, settings)
    broken = next(r for r in w.grid_model.rows() if r.path.endswith("GP1_06B_1.jpg"))
    w.set_current_row(w.grid_model.row_of(broken.id))
    qtbot.waitUntil(lambda: "cannot be shown" in w.image_view._message.toPlainText(), timeout=10000)
    text = w.image_view._message.toPlainText()
    assert "truncated" in text or "corrupt" in text
    assert not w.image_view.has_image()
    assert w.grid_model.data(w.grid_model.index(w.grid_model.row_of(broken.id)), Role.ERROR)
    with Store(plate_db) as s:  # marked for every other view too
        assert s.image(broken.id).load_error


def test_arrow_keys_and_page_keys_navigate(plate_db, settings, open_window, qtbot):
    w = open_window(plate_db, settings)
    latest = w.inspection.id
    press(w, Qt.Key.Key_Right)
    assert w.current_row() == 1
    press(w, Qt.Key.Key_PageUp)
    assert w.inspection.id != latest
    press(w, Qt.Key.Key_PageDown)
    assert w.inspection.id == latest


def test_label_from_an_earlier_inspection_is_inherited_until_confirmed(plate_db, settings, open_window):
    with Store(plate_db) as s:
        early = s.query("SELECT id FROM inspection ORDER BY imaged_at LIMIT 1")[0]["id"]
        first_early = s.query("SELECT id FROM image WHERE inspection_id = ? AND well = 'A01'", (early,))[0]["id"]
        s.add_annotation(first_early, "needles", "ann")
    w = open_window(plate_db, settings)
    row0 = w.grid_model.queue_row(0)
    assert row0.well == "A01" and row0.label is None
    assert w.grid_model.data(w.grid_model.index(0), Role.INHERITED) == "needles"
    course = w.filmstrip.model_.rows()
    assert [c.inherited for c in course] == [False, True] and course[1].shown_label == "needles"
    press(w, Qt.Key.Key_8)  # confirming writes the label for this inspection
    with Store(plate_db) as s:
        assert s.current_label(row0.id) == "needles"
    assert w.grid_model.data(w.grid_model.index(0), Role.INHERITED) is None


def test_question_mark_shows_every_shortcut(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    QTest.keyClick(w.grid, Qt.Key.Key_Question, Qt.KeyboardModifier.ShiftModifier)
    assert w.overlay.isVisible()
    texts = " ".join(l.text() for l in w.overlay.findChildren(type(w.grid_title)))
    for needle in ("Enter", "Ctrl+Z", "Page Up", "Fit", "Needles"):
        assert needle in texts


@pytest.mark.parametrize("how, expect", [("full", "full"), ("readonly", "read-only")])
def test_a_label_that_cannot_be_written_is_reported_at_once_and_kept_on_screen(plate_db, settings, open_window,
                                                                                monkeypatch, how, expect):
    import sqlite3

    w = open_window(plate_db, settings)
    first, row = w.current_image_id(), w.current_row()
    if how == "full":  # SQLite's own error when the disk (or max_page_count) leaves no room
        def full(*_a, **_k):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(w.store, "add_annotations", full)
    else:
        w.store.conn.execute("PRAGMA query_only = ON")  # every write fails like a read-only database
    press(w, Qt.Key.Key_8)
    assert w.alert.isVisible() and "NOT SAVED: Needles" in w.alert.text() and expect in w.alert.text().lower()
    assert w.session.pending_label == "needles"
    assert w.current_row() == row and w.grid_model.queue_row(row).label is None  # nothing moved on
    with Store(plate_db) as s:
        assert s.history(first) == []
    if how == "full":
        monkeypatch.undo()
    else:
        w.store.conn.execute("PRAGMA query_only = OFF")
    press(w, Qt.Key.Key_8)  # fixed: the same key saves it
    assert not w.alert.isVisible() and w.session.pending_label is None
    with Store(plate_db) as s:
        assert s.current_label(first) == "needles"


def test_orders_and_filters_from_the_keyboard(scored_db, settings, open_window):
    db, ids = scored_db
    w = open_window(db, settings)
    press(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert w.toolbar.order_box.currentData() == "crystal" and ids_in_grid(w)[0] == ids[2]
    press(w, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    assert w.toolbar.unreviewed.isChecked() and ids[0] not in ids_in_grid(w)
    press(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert w.toolbar.top3_filter.currentData() == "yes"
    press(w, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not w.toolbar.unreviewed.isChecked() and w.toolbar.top3_filter.currentData() == ""
    press(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert ids_in_grid(w) == ids


def test_paging_within_a_plate_keeps_the_drop(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    w.set_current_row(3)
    well = w.grid_model.queue_row(3).well
    later = w.inspection.id
    press(w, Qt.Key.Key_PageUp)
    assert w.inspection.id != later
    assert w.grid_model.queue_row(w.current_row()).well == well


def test_plots_open_from_the_window_and_a_click_goes_to_the_drop(plate_db, settings, open_window, qtbot):
    w = open_window(plate_db, settings)
    QTest.keyClick(w.grid, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert w.open_dialogs["plots"].isVisible()
    target = w.grid_model.queue_row(5).id
    w.open_dialogs["plots"].drop_clicked.emit(target)
    assert w.current_image_id() == target
    w.open_dialogs["plots"].close()


def test_the_current_drop_is_outlined_not_covered(plate_db, settings, open_window, qtbot):
    from xtalviewer.gui.plate.map_view import drop_rects

    w = open_window(plate_db, settings)
    assert w.grid is w.drops.plate  # plate order without filters: the plate map
    for _ in range(4):
        w.drops.grow(+1)  # zoomed in: a bigger thumbnail to compare with
    qtbot.waitUntil(lambda: w.thumbs.cached(w.current_image_id()) is not None, timeout=10000)
    w.grid.viewport().repaint()
    shot = w.grid.viewport().grab().toImage()
    well = w.grid.visualRect(w.drops.map_model.well_index(0)).adjusted(1, 1, -1, -1)
    ((_, rect),) = drop_rects(well, 1, [(0, 1)])
    thumb = w.thumbs.cached(w.current_image_id())

    def mean(image, box):
        pixels = [image.pixelColor(x, y) for x in range(box.left(), box.right()) for y in range(box.top(), box.bottom())]
        return [sum(getattr(c, ch)() for c in pixels) / len(pixels) for ch in ("red", "green", "blue")]

    drawn = thumb.size().scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
    inner = QRect(0, 0, drawn.width(), drawn.height())
    inner.moveCenter(rect.center())
    # inside the outline the cell shows the thumbnail's colours, not a fill colour
    shown, expected = mean(shot, inner.adjusted(4, 4, -4, -4)), mean(thumb, thumb.rect())
    assert all(abs(a - b) < 25 for a, b in zip(shown, expected))
    edge = shot.pixelColor(rect.left(), rect.center().y())  # the outline is the current-drop colour
    assert edge.red() > 200 and edge.green() > 170 and edge.blue() < 120


def test_painting_and_filtering_do_not_leak_references_to_none(scored_db, settings, open_window):
    """PySide6 6.12 drops a reference to None whenever QModelIndex.data() or QComboBox.currentData()
    hands back None; the grid would abort the interpreter within minutes of painting."""
    import sys

    db, ids = scored_db
    w = open_window(db, settings)
    before = sys.getrefcount(None)
    for i in range(100):
        w.grid.viewport().repaint()
        w.filmstrip.viewport().repaint()
        w.browser.viewport().repaint()
        w.reload_queue()
        commands.step_inspection(w.session, w, -1 if i % 2 else 1)
    assert sys.getrefcount(None) - before > -100  # thousands without the workarounds


@pytest.fixture
def calibrated_db(plate_db):
    """The tiny model again, calibrated: hits at a crystal probability of 30%."""
    from xtalviewer.crystal_call import OperatingPoint

    with Store(plate_db) as s:
        old = s.active_model()
        op = OperatingPoint(threshold=0.3, temperature=1.2, target_recall=0.99, val_recall=0.99, val_review_load=0.2)
        model_id = s.add_model(name="tiny-calibrated", arch="resnet18", classes=s.scheme.keys, input_size=32,
                               path=old.path, activate=True, operating_point=op)
        latest = s.query("SELECT MAX(id) AS i FROM inspection")[0]["i"]
        ids = [r.id for r in s.review_queue(model_id, "plate", inspection_id=latest)]
        s.put_predictions(model_id, [
            PredictionRow(ids[0], probs(clear=0.9)),
            PredictionRow(ids[1], probs(needles=0.35, clear=0.6)),  # 36.9% crystal: a hit at 30%, not at 50%
            PredictionRow(ids[2], probs(crystals_3d=0.95)),
        ])
    return plate_db, ids, op


def test_hits_follow_the_models_operating_point(calibrated_db, settings, open_window, qtbot):
    db, ids, op = calibrated_db
    w = open_window(db, settings)
    assert w.status.model.text() == "Model: tiny-calibrated · hit ≥ 30.0% (99% recall on validation)"
    assert w.status.model.toolTip() == op.describe()
    hit = [w.grid_model.data(w.grid_model.index(w.grid_model.row_of(i)), Role.HIT) for i in ids[:3]]
    assert hit == [False, True, True]
    assert "a hit (≥ 30.0%)" in w.grid_model.data(w.grid_model.index(w.grid_model.row_of(ids[1])),
                                                  Qt.ItemDataRole.ToolTipRole)
    w.set_current_row(w.grid_model.row_of(ids[1]))
    assert w.prediction.flag.text() == "HIT: crystal probability 36.9% ≥ 30.0%"
    assert w.prediction.top3.text() == "crystal in top 3: Needles 35.0%"  # the second strategy, on its own line
    assert "2 hits" in w.grid_title.text()
    # a drop scored live (the worker's signal) becomes a hit: the title's count follows it
    w.scoring_feed.scored(ids[0], {"crystal_prob": 0.8, "top1": "crystals_3d"}, None)
    qtbot.waitUntil(lambda: "3 hits" in w.grid_title.text(), timeout=3000)
    w.scoring_feed.scored(ids[0], {"crystal_prob": 0.1, "top1": "clear"}, None)
    w.scoring_feed.finished({"total": 1, "scored": 1, "errors": 0})
    assert "2 hits" in w.grid_title.text()
    press(w, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)  # hits only
    assert ids_in_grid(w) == [ids[1], ids[2]] and w.toolbar.hit_filter.currentData() == "yes"
    press(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)  # and crystal in top 3: both strategies at once
    assert w.toolbar.top3_filter.currentData() == "yes" and set(ids_in_grid(w)) == {ids[1], ids[2]}
    qtbot.waitUntil(lambda: w.browser_model.index_of(w.inspection.id) is not None, timeout=10000)
    row = w.browser_model.index_of(w.inspection.id)
    hits = w.browser_model.itemFromIndex(row.siblingAtColumn(4))
    assert hits.text() == "2" and op.describe() in hits.toolTip()
    assert op.describe() in w.browser_model.horizontalHeaderItem(4).toolTip()


def test_the_shortcut_list_is_the_action_table(plate_db, settings, open_window):
    from xtalviewer.review.actions import ReviewView, shortcut_rows

    w = open_window(plate_db, settings)
    assert isinstance(w, ReviewView)  # the window is the view the table's actions run against
    listed = shortcut_rows(w.action_table)
    for spec in w.action_table:
        if spec.run is not None and spec.keys:  # each key the window answers is listed under ?
            assert w.actions_[spec.name].shortcuts()[0].toString() == spec.keys[0]
            assert (spec.key_text(), spec.help or spec.text) in listed
    assert ("Ctrl+H", "Hits only: crystal probability at the model's threshold") in listed
    assert ("9", "Label as Plates (crystal), then next drop") in listed
    menu_texts = [a.text() for a in w.menus["&Review"].actions()]
    assert "Hits only" in menu_texts and "Crystal in top 3 only" in menu_texts

def test_the_thumbnail_cache_is_pruned_to_its_limit_at_start_up(plate_db, settings, open_window, qtbot):
    settings = dataclasses.replace(settings, thumbnail_limit_mb=1)
    folder = settings.thumbnail_folder() / "00"
    folder.mkdir(parents=True)
    for i in range(30):  # 3 MB left by earlier sessions, over the 1 MB now chosen in Preferences
        old = folder / f"{i:040d}.jpg"
        old.write_bytes(b"\xff" * 100_000)
        os.utime(old, (1_600_000_000 + i, 1_600_000_000 + i))
    open_window(plate_db, settings)
    qtbot.waitUntil(lambda: sum(p.stat().st_size for p in folder.glob("*.jpg")) <= 1024 * 1024, timeout=5000)


def test_exporting_onto_a_fifo_is_refused_with_a_message(plate_db, settings, open_window, tmp_path, monkeypatch,
                                                         qtbot):
    from xtalviewer.gui.app import file_commands

    fifo = tmp_path / "labels.csv"
    os.mkfifo(fifo)
    window = open_window(plate_db, settings)
    warnings = []
    monkeypatch.setattr(file_commands.QFileDialog, "getSaveFileName", lambda *a, **k: (str(fifo), "CSV (*.csv)"))
    monkeypatch.setattr(file_commands.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    QTest.keyClick(window.grid, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # Ctrl+E: export, off the GUI thread
    qtbot.waitUntil(lambda: bool(warnings), timeout=10000)
    assert "FIFO" in warnings[0] and not warnings[0].startswith("ValueError")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def first_readable_drop_on_screen(w, qtbot) -> list[dict]:
    """Show the first readable drop's image; returns the readable drops of the plate."""
    readable = [r for r in w.grid_model.rows() if not r.path.endswith("GP1_06B_1.jpg")]
    w.set_current_row(w.grid_model.row_of(readable[0].id))
    qtbot.waitUntil(lambda: w.image_view.has_image(), timeout=10000)
    return readable


def test_c_outlines_the_crop_box_of_the_image_on_screen(plate_db, settings, open_window, qtbot):
    w = open_window(plate_db, settings)
    readable = first_readable_drop_on_screen(w, qtbot)
    QTest.keyClick(w.grid, Qt.Key.Key_C)
    assert w.actions_["view.crop"].isChecked()
    qtbot.waitUntil(lambda: w.image_view.crop_caption() is not None, timeout=10000)
    first = w.image_view.image_key
    assert w.image_view.crop_key == first and "no active model" in w.image_view.crop_caption()
    rect = w.image_view._crop.rect()
    image = w.image_view.pixmap_image()
    assert 0 <= rect.left() < rect.right() <= image.width() and 0 <= rect.top() < rect.bottom() <= image.height()
    w.set_current_row(w.grid_model.row_of(readable[1].id))  # the next drop gets its own box
    qtbot.waitUntil(lambda: w.image_view.crop_key not in (None, first), timeout=10000)
    assert w.image_view.crop_key == w.image_view.image_key == readable[1].id
    QTest.keyClick(w.grid, Qt.Key.Key_C)
    assert w.image_view.crop_caption() is None and not w.actions_["view.crop"].isChecked()


def test_g_lays_where_the_model_sees_a_crystal_over_the_image(plate_db, settings, open_window, qtbot):
    w = open_window(plate_db, settings)
    readable = first_readable_drop_on_screen(w, qtbot)
    QTest.keyClick(w.grid, Qt.Key.Key_G)
    assert w.actions_["view.cam"].isChecked()
    qtbot.waitUntil(lambda: w.image_view.heat_caption() is not None, timeout=20000)
    first = w.image_view.image_key
    assert w.image_view.heat_key == first and "Grad-CAM" in w.image_view.heat_caption()
    assert "most (red) evidence" in w.image_view.heat_caption()
    assert w.image_view._heat.pixmap().size() == w.image_view.pixmap_image().size()  # laid over the whole image
    w.set_current_row(w.grid_model.row_of(readable[1].id))  # the next drop gets its own map
    qtbot.waitUntil(lambda: w.image_view.heat_key not in (None, first), timeout=20000)
    assert w.image_view.heat_key == w.image_view.image_key == readable[1].id
    QTest.keyClick(w.grid, Qt.Key.Key_G)
    assert w.image_view.heat_caption() is None and not w.actions_["view.cam"].isChecked()


def test_recalibrate_refits_the_active_model_on_the_labels_and_activates_it(plate_db, settings, open_window, qtbot,
                                                                              monkeypatch):
    from xtalviewer.gui.retrain import recalibrate as recal_gui

    shown = []
    monkeypatch.setattr(recal_gui.QMessageBox, "information", lambda *a: shown.append(a[2]))
    w = open_window(plate_db, settings)
    readable = [r for r in w.grid_model.rows() if not r.path.endswith("GP1_06B_1.jpg")]
    for i, r in enumerate(readable):
        w.set_current_row(w.grid_model.row_of(r.id))
        assert w.apply_label("crystals_3d" if i % 2 else "clear")
    before = w.model.id
    w.actions_["model.recalibrate"].trigger()
    qtbot.waitUntil(lambda: w.model is not None and w.model.id != before, timeout=30000)
    assert "recalibrated" in w.model.name and w.store.active_model().id == w.model.id
    assert shown and "labelled drops" in shown[0] and "crystal recall" in shown[0]
    assert "fitted on" in w.session.operating_point.describe()
