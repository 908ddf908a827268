"""The review window on the plate: the plate map and its keys and headers, hover text, second
looks, blind review, imaging modes, the hit list, reviewers' agreement and the first-start size."""

import numpy as np
import pytest
from imagefiles import write_hwi, write_image
from modelfiles import tiny_checkpoint
from PySide6.QtCore import QRect, Qt
from PySide6.QtTest import QTest

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.importers import import_paths
from xtalviewer.store.store import PredictionRow, Store
from xtalviewer.gui.app.placement import first_start_geometry


@pytest.fixture
def two_drop_db(tmp_path):
    """A 96-well two-drop plate imaged twice (wells A1-A3 and B1-B3), a calibrated tiny model
    (hit at 30%) that scored the later inspection."""
    for day in ("2026-05-01", "2026-05-08"):
        for row in "AB":
            for col in (1, 2, 3):
                for drop in (1, 2):
                    write_image(tmp_path / "img" / f"TD1_{day}_RI1000-0081-2drop" / f"TD1_{col:02d}{row}_{drop}.jpg",
                                size=(96, 80), color=(40 * col, 60 * drop, 120))
    db = tmp_path / "two.db"
    with Store(db) as s:
        import_paths(s, [tmp_path / "img"])
        keys = s.scheme.keys
        model = s.add_model(name="tiny", arch="resnet18", classes=keys, input_size=32,
                            path=str(tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)), activate=True,
                            operating_point=OperatingPoint(threshold=0.3, target_recall=0.99))
        later = s.inspections(s.plate_by_barcode("TD1").id)[-1].id
        rows = []
        for r in s.review_queue(None, inspection_id=later):
            p = np.full(len(keys), 0.02)
            p[keys.index("needles" if r.well == "A02" else "clear")] = 0.82
            rows.append(PredictionRow(r.id, p / p.sum()))
        s.put_predictions(model, rows)
    return db


def at(w):
    r = w.session.current_drop
    return r.well, r.drop_no


def test_plate_order_is_the_plate_and_other_orders_flow(two_drop_db, settings, open_window):
    w = open_window(two_drop_db, settings)
    assert w.grid is w.drops.plate
    model = w.drops.map_model
    assert (model.rowCount(), model.columnCount()) == (8, 12)
    assert model.headerData(0, Qt.Orientation.Horizontal) == "1" and model.headerData(7, Qt.Orientation.Vertical) == "H"
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsEnabled
    assert model.flags(model.index(4, 4)) == Qt.ItemFlag.NoItemFlags  # E5 was not imaged
    w.requeue(order="crystal")
    assert w.grid is w.drops.queue and w.session.rows[0].well == "A02"  # the view follows the order
    w.requeue(order="plate")
    assert w.grid is w.drops.plate
    w.requeue(unreviewed=True)
    assert w.grid is w.drops.queue


def test_arrows_move_by_well_and_tab_cycles_the_drops(two_drop_db, settings, open_window):
    w = open_window(two_drop_db, settings)
    assert at(w) == ("A01", 1)
    QTest.keyClick(w.grid, Qt.Key.Key_Right)
    assert at(w) == ("A02", 1) and w.drops.plate.currentIndex().column() == 1
    QTest.keyClick(w.grid, Qt.Key.Key_Tab)
    assert at(w) == ("A02", 2)
    QTest.keyClick(w.grid, Qt.Key.Key_Down)
    assert at(w) == ("B02", 2)  # the same drop number in the next well
    QTest.keyClick(w.grid, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert at(w) == ("B02", 1)
    QTest.keyClick(w.grid, Qt.Key.Key_Down)
    assert at(w) == ("B02", 1)  # nothing imaged below: nothing moves
    QTest.keyClick(w.grid, Qt.Key.Key_8)  # label and on to the next drop of the plate
    assert at(w) == ("B02", 2) and w.session.rows[w.session.row_of(w.session.current_image_id) - 1].label == "needles"


def test_a_clicked_column_header_selects_the_column_and_one_key_labels_it(two_drop_db, settings, open_window):
    w = open_window(two_drop_db, settings)
    header = w.drops.plate.horizontalHeader()
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QRect(header.sectionViewportPosition(1), 0,
                                                                              header.sectionSize(1), 10).center())
    assert len(w.session.targets()) == 4  # A02 and B02, two drops each
    QTest.keyClick(w.grid, Qt.Key.Key_0)
    with Store(two_drop_db) as s:
        labelled = {(r.well, r.drop_no) for r in s.review_queue(None, inspection_id=w.inspection.id)
                    if r.label == "crystals_3d"}
    assert labelled == {("A02", 1), ("A02", 2), ("B02", 1), ("B02", 2)}


def test_hovering_a_drop_tells_well_drop_label_top3_and_the_hit(two_drop_db, settings, open_window):
    w = open_window(two_drop_db, settings)
    w.set_current_row(w.session.layout.drops_at(1, 2)[1])  # A02 drop 2
    view = w.drops.plate
    rect = view.visualRect(w.drops.map_model.well_index(w.session.current))
    row = view.drop_at(QRect(rect.center().x() + rect.width() // 4, rect.center().y(), 1, 1).topLeft())
    assert row == w.session.current
    text = w.grid_model.tooltip(row)
    assert text.startswith("A02 drop 2") and "not reviewed" in text
    assert "model: Needles 82%" in text and "a hit (≥ 30.0%)" in text and "best over time" in text


def test_d_flags_a_second_look_with_a_note_shown_in_the_history(two_drop_db, settings, open_window, monkeypatch):
    from xtalviewer.gui.app import dialogs

    monkeypatch.setattr(dialogs.QInputDialog, "getText", lambda *a, **k: ("crystal or fibre?", True))
    w = open_window(two_drop_db, settings)
    flagged = w.current_image_id()
    QTest.keyClick(w.grid, Qt.Key.Key_D)
    assert flagged in w.session.flags and w.grid_model.cell(0)["flag"]
    model = w.panel.history_model
    assert model.data(model.index(0, 2)) == "Second look: crystal or fibre?"
    w.requeue(order="disputed")
    assert [r.id for r in w.session.rows] == [flagged]
    QTest.keyClick(w.grid, Qt.Key.Key_D)  # D on a flagged drop clears the flag
    assert flagged not in w.session.flags
    assert w.panel.history_model.data(w.panel.history_model.index(0, 2)) == "Second look done"


def test_blind_review_hides_labels_and_the_model_until_turned_off(two_drop_db, settings, open_window):
    w = open_window(two_drop_db, settings)
    with Store(two_drop_db) as s:
        s.add_annotation(w.current_image_id(), "skin", "bob")
    w.reload_queue()
    assert w.grid_model.cell(0)["label"] == "skin"
    QTest.keyClick(w.grid, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert w.session.blind and w.grid_box.banner.isVisible()
    cell = w.grid_model.cell(0)
    assert cell["label"] is None and cell["crystal_prob"] is None and not cell["hit"]
    assert w.prediction.title.text() == "Model: hidden" and w.panel.history_model.rowCount() == 0
    w.requeue(order="crystal")
    assert w.session.order == "plate" and "Blind review" in w.statusBar().currentMessage()
    QTest.keyClick(w.grid, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert not w.session.blind and w.grid_model.cell(0)["label"] == "skin"


def test_m_cycles_the_imaging_mode_and_shift_m_shows_two_side_by_side(tmp_path, settings, open_window, qtbot):
    write_hwi(tmp_path / "hwi", plate="HW00000001", stamps=("202601011200", "202601081200"))
    db = tmp_path / "hwi.db"
    with Store(db) as s:
        import_paths(s, [tmp_path / "hwi"])
    w = open_window(db, settings)
    assert w.session.modes == ["visible", "uv", "shg"] and w.pane.modes.isVisible()
    visible = w.image_view.image_key
    QTest.keyClick(w.grid, Qt.Key.Key_M)
    assert w.session.shown_mode == "uv"
    qtbot.waitUntil(lambda: w.image_view.image_key not in (None, visible), timeout=5000)
    uv = w.session.mode_images()["uv"]
    assert w.image_view.image_key == uv.id
    assert all("-uvt/" in r.path for r in w.filmstrip.model_.rows())  # the time course follows the mode
    QTest.keyClick(w.grid, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert w.pane.second_view.isVisible()
    qtbot.waitUntil(lambda: w.pane.second_view.image_key == uv.id, timeout=5000)
    assert w.image_view.image_key == w.session.current_image_id  # visible on the left, UV beside it


def test_the_hit_list_opens_a_drop_in_its_plate_with_enter(two_drop_db, settings, open_window, qtbot):
    w = open_window(two_drop_db, settings)
    w.open_inspection(w.session.inspection_ids[0])  # elsewhere: the earlier inspection
    QTest.keyClick(w.grid, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    dialog = w.open_dialogs["hits"]
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0, timeout=10000)
    assert "hit at crystal probability >= 30.0%" in dialog.rule.text()
    first = dialog.model.rows[0]
    assert (first.well, first.hit) == ("A02", True)
    QTest.keyClick(dialog.table, Qt.Key.Key_Return)
    assert w.current_image_id() == first.image_id and w.inspection.id == first.inspection_id
    dialog.close()


def test_the_reviewers_tab_shows_kappa_between_reviewers(two_drop_db, qtbot):
    from xtalviewer.gui.plots.dialog import PlotsDialog

    with Store(two_drop_db) as s:
        ids = [r.id for r in s.review_queue(None, inspection_id=s.inspections(s.plates()[0].id)[-1].id)]
        for n, i in enumerate(ids):
            s.add_annotation(i, "clear" if n < 6 else "skin", "ada")
            s.add_annotation(i, "clear" if n < 4 else "skin", "bob")
    dialog = PlotsDialog(two_drop_db)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.reviewers.kappa.rowCount() == 3, timeout=10000)
    model = dialog.reviewers.kappa
    assert model.data(model.index(0, 1)) == "κ 0.67\n12 drops"  # 10 of 12 agree; chance 0.5
    assert dialog.reviewers.confusion.row_title == "ada" and dialog.reviewers.confusion.column_title == "bob"
    dialog.close()


def test_the_first_start_fills_most_of_the_screen():
    rect = first_start_geometry(QRect(0, 0, 1920, 1080))
    assert (rect.width(), rect.height()) == (1804, 1015) and QRect(0, 0, 1920, 1080).contains(rect)
    big = first_start_geometry(QRect(0, 0, 5120, 2880))
    assert (big.width(), big.height()) == (2560, 1600) and big.center() == QRect(0, 0, 5120, 2880).center()
