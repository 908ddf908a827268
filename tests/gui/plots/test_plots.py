"""The Plots dialog: each tab draws what plotdata computes; the messages when there is nothing to show."""

import numpy as np
import pytest
from guifixtures import make_plate_db
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from xtalviewer.report import plots as plotdata
from xtalviewer.plates import PlateType
from xtalviewer.store.store import PredictionRow, Store
from xtalviewer.gui.plots.dialog import PlotsDialog, bar_lengths


def probs(scheme, *ranked):
    p = np.full(len(scheme.keys), 0.01)
    for weight, key in zip((0.5, 0.2, 0.1), ranked):
        p[scheme.index(key)] = weight
    return (p / p.sum()).tolist()


def label_and_score(db, *, score=True):
    """Label five drops of the later inspection; score four of them (one is left unscored)."""
    with Store(db) as s:
        model = s.active_model().id
        later = s.inspections(s.plate_by_barcode("GP1").id)[-1].id
        rows = s.query("SELECT id, well FROM image WHERE inspection_id = ? ORDER BY row, col", (later,))
        by_well = {r["well"]: r["id"] for r in rows}
        labels = {"A01": "needles", "A02": "clear", "A03": "plates", "A04": "skin", "A05": "clear"}
        for well, label in labels.items():
            s.add_annotation(by_well[well], label, "tester")
        if score:
            ranked = {"A01": ("needles", "plates"), "A02": ("clear", "skin"), "A03": ("needles", "plates"),
                      "A04": ("crystals_3d", "clear")}
            s.put_predictions(model, [PredictionRow(by_well[w], probs(s.scheme, *r)) for w, r in ranked.items()])
        return later, by_well


def open_dialog(qtbot, db, inspection_id=None):
    dialog = PlotsDialog(db, inspection_id=inspection_id)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # qtbot closes it
    qtbot.addWidget(dialog)
    dialog.show()
    wait_loaded(qtbot, dialog)
    return dialog


def wait_loaded(qtbot, dialog):
    def loaded():
        a = dialog.agreement
        return (dialog.counts.data is not None and dialog.crystal_map.data is not None
                and (a.data is not None or a.model is None))

    qtbot.waitUntil(loaded, timeout=5000)


def test_label_counts_tab_draws_counts_per_plate(qtbot, plate_db):
    label_and_score(plate_db)
    dialog = open_dialog(qtbot, plate_db)
    tab = dialog.counts
    with Store(plate_db) as s:
        barcodes, keys, counts = plotdata.label_counts_per_plate(s, latest_only=True)
        scheme = s.scheme
    assert not dialog.isModal() and tab.horizontal is False
    for j, key in enumerate(keys):
        assert bar_lengths(tab.bars[key], False).tolist() == counts[:, j].tolist()
    # crystal classes stand on the baseline, the unlabelled drops on top
    assert tab.order[0] == "microcrystals" and tab.order[-1] is None
    assert tab.bars["needles"].opts["y0"].tolist() == [counts[0, keys.index("microcrystals")]]
    names = [label.text for _, label in tab.legend.items]
    assert "Unlabelled" in names and scheme.get("needles").name in names
    assert tab.plot.getAxis("bottom")._tickLevels == [[(0.0, "GP1")]]

    tab.unit.setCurrentIndex(1)  # shares
    total = sum(bar_lengths(tab.bars[k], False)[0] for k in keys)
    assert total == pytest.approx(100.0)

    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.scope.setCurrentIndex(1)  # every inspection
    assert tab.data[2].sum() == 24


def test_label_counts_turn_horizontal_with_many_plates(qtbot, plate_db):
    with Store(plate_db) as s:
        for i in range(9):
            s.upsert_plate(f"EXTRA{i}", PlateType(8, 12, 1))
    dialog = open_dialog(qtbot, plate_db)
    tab = dialog.counts
    assert tab.horizontal is True
    assert bar_lengths(tab.bars[None], True).tolist() == [0.0] * 9 + [12.0]
    assert tab.bars[None].opts["y"].tolist() == list(range(10))
    assert [t for _, t in tab.plot.getAxis("left")._tickLevels[0]][-1] == "GP1"


def test_agreement_tab_shows_rates_bars_and_confusion(qtbot, plate_db):
    label_and_score(plate_db)
    dialog = open_dialog(qtbot, plate_db)
    tab = dialog.agreement
    with Store(plate_db) as s:
        expected = plotdata.agreement(s, s.active_model().id)
    assert not tab.showing_message
    assert (expected["n"], expected["top1_n"], expected["top3_n"], expected["crystal_n"]) == (4, 2, 3, 3)
    assert "50.0%" in tab.tiles["top1"].text() and "75.0%" in tab.tiles["top3"].text()
    assert "75.0%" in tab.tiles["crystal"].text() and "2 of 4" in tab.tiles["top1"].text()
    assert "1 labelled drops are not scored" in tab.summary.text()
    assert bar_lengths(tab.plate_bars["top1"], False).tolist() == pytest.approx([50.0])
    assert bar_lengths(tab.plate_bars["top3"], False).tolist() == pytest.approx([75.0])
    assert tab.overall.value() == pytest.approx(50.0)
    matrix = expected["confusion"]
    assert tab.confusion.matrix == matrix.tolist()  # the Retrain dialog's confusion widget
    assert tab.confusion.names[0] == "Clear" and tab.confusion.row_title == "Reviewer's label"
    assert not tab.confusion.grab().isNull()

    dialog.refresh()
    qtbot.waitUntil(lambda: tab.data is not None, timeout=5000)
    assert tab.confusion.matrix == matrix.tolist()


def test_agreement_says_when_no_model_is_active(qtbot, tmp_path):
    db = make_plate_db(tmp_path, with_model=False, broken=False)
    dialog = open_dialog(qtbot, db)
    assert dialog.agreement.showing_message
    assert "No model is active" in dialog.agreement.message.text()
    assert np.isnan(dialog.crystal_map.image.image).all()  # every drop grey
    assert "no active model" in dialog.crystal_map.title.text()


def test_agreement_says_when_nothing_is_labelled_and_predicted(qtbot, plate_db):
    label_and_score(plate_db, score=False)
    dialog = open_dialog(qtbot, plate_db)
    tab = dialog.agreement
    assert tab.showing_message
    assert "Nothing is both labelled and predicted" in tab.message.text()
    assert "5 drops have a reviewer's label" in tab.message.text()


def test_crystal_map_lays_out_the_plate_and_reports_the_drop(qtbot, plate_db):
    later, by_well = label_and_score(plate_db)
    with Store(plate_db) as s:  # A06 was needles a week earlier and is not labelled at the later inspection
        earlier = s.inspections(s.plate_by_barcode("GP1").id)[0].id
        s.add_annotation(s.query("SELECT id FROM image WHERE inspection_id = ? AND well = 'A06'", (earlier,))[0]["id"],
                         "needles", "tester")
    dialog = open_dialog(qtbot, plate_db, inspection_id=later)
    tab = dialog.crystal_map
    assert tab.inspection_id() == later
    with Store(plate_db) as s:
        expected = plotdata.crystal_map(s, s.active_model().id, later)
    assert tab.image.image.shape == (8, 12)  # a 96-well plate, one drop per well
    assert np.array_equal(tab.image.image, 100 * expected["prob"], equal_nan=True)
    assert not np.isnan(tab.image.image[0, 0]) and np.isnan(tab.image.image[0, 4])  # A05 labelled, unscored
    xs, ys = tab.marks.getData()
    assert sorted(zip(ys.tolist(), xs.tolist())) == [(0.5, 0.5), (0.5, 2.5)]  # A01 needles, A03 plates
    xs, ys = tab.inherited_marks.getData()
    assert list(zip(ys.tolist(), xs.tolist())) == [(0.5, 5.5)]  # dashed: A06, labelled needles earlier
    tab._hover(tab.plot.vb.mapViewToScene(QPointF(5.5, 0.5)))
    assert "Needles at an earlier inspection" in tab.info.text()
    assert tab.plot.getAxis("left")._tickLevels[0][0] == (0.5, "A")
    assert tab.plot.getAxis("top")._tickLevels[0][0] == (0.5, "1")
    assert tab.plot.vb.state["yInverted"]  # row A at the top

    # point at A03, then click it
    scene_pos = tab.plot.vb.mapViewToScene(QPointF(2.5, 0.5))
    tab._hover(scene_pos)
    assert "A03 drop 1" in tab.info.text() and "Plates" in tab.info.text()
    view_pos = tab.view.mapFromScene(scene_pos)
    with qtbot.waitSignal(dialog.drop_clicked, timeout=3000) as clicked:
        QTest.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)
    assert clicked.args == [by_well["A03"]]


def test_crystal_map_follows_the_inspection_picker(qtbot, plate_db):
    dialog = open_dialog(qtbot, plate_db)
    tab = dialog.crystal_map
    assert tab.plate_box.currentText() == "GP1" and tab.inspection_box.count() == 2
    latest = tab.inspection_id()
    assert tab.data["inspection"].id == latest  # no inspection given: the plate's latest
    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.inspection_box.setCurrentIndex(0)
    assert tab.data["inspection"].id == tab.inspection_box.itemData(0) != latest


def test_an_empty_database_opens_with_messages(qtbot, db_path):
    Store(db_path).close()
    dialog = PlotsDialog(db_path)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.counts.data is not None, timeout=5000)
    assert dialog.counts.data[0] == [] and "No plates" in dialog.counts.info.text()
    assert "No inspections" in dialog.crystal_map.info.text()
    assert "No model is active" in dialog.agreement.message.text()


def test_crystal_map_dots_the_hits_of_the_models_operating_point(qtbot, plate_db):
    from xtalviewer.crystal_call import OperatingPoint

    with Store(plate_db) as s:
        op = OperatingPoint(threshold=0.2, target_recall=0.99, val_recall=0.99, val_review_load=0.3)
        s.add_model(name="calibrated", arch="resnet18", classes=s.scheme.keys, input_size=32,
                    path=s.active_model().path, activate=True, operating_point=op)
    later, _ = label_and_score(plate_db)  # scored by the calibrated model, now the active one
    dialog = open_dialog(qtbot, plate_db, inspection_id=later)
    tab = dialog.crystal_map
    xs, ys = tab.hit_marks.getData()
    assert sorted(zip(ys.tolist(), xs.tolist())) == [(0.5, 0.5), (0.5, 2.5), (0.5, 3.5)]  # A01, A03, A04; not A02
    assert "3 hits at crystal probability ≥ 20.0%" in tab.title.text()
    tab._hover(tab.plot.vb.mapViewToScene(QPointF(1.5, 0.5)))
    assert "not a hit (< 20.0%)" in tab.info.text()
