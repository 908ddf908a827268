"""The screen condition wherever a drop is shown: the side panel, the plate map's hover text, the hit
list's Condition column; "condition contains" from the toolbar (Ctrl+Shift+F, Enter, Esc); the
Conditions plot's bars filtering the review window; and the tab's numbers and keys."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.importers.screens import read_screen_file
from xtalviewer.store.store import PredictionRow, Store

# made up for the test: row A is PEG at pH 7.5 or 8.5, row B ammonium sulfate at pH 5.5
GRID = ("well,condition\n"
        + "".join(f"A{c},0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350\n" for c in (1, 2, 3))
        + "".join(f"A{c},0.1 M Tris pH 8.5; 25% (w/v) PEG 3350\n" for c in (4, 5, 6))
        + "".join(f"B{c},0.1 M sodium citrate pH 5.5; 1.6 M ammonium sulfate\n" for c in range(1, 7)))


@pytest.fixture
def screened_db(plate_db, tmp_path):
    """GP1 with the made-up screen; the later inspection's A01 and A04 scored as crystals, B02 labelled one."""
    (tmp_path / "grid.csv").write_text(GRID)
    with Store(plate_db) as s:
        s.add_screen(read_screen_file(tmp_path / "grid.csv", name="Made-up grid"))
        s.add_screen_rule("prefix", "GP", s.screen("Made-up grid").id)
        tiny = s.active_model()
        model = s.add_model(name="calibrated tiny", arch=tiny.arch, classes=s.scheme.keys, input_size=tiny.input_size,
                            path=tiny.path, activate=True, operating_point=OperatingPoint(threshold=0.5))
        later = s.inspections(s.plate_by_barcode("GP1").id)[-1].id
        by_well = {r.well: r.id for r in s.review_queue(None, inspection_id=later)}
        keys = s.scheme.keys
        rows = []
        for well, image_id in by_well.items():
            v = np.full(len(keys), 0.01)
            v[keys.index("needles" if well in ("A01", "A04") else "clear")] = 0.95
            rows.append(PredictionRow(image_id, (v / v.sum()).tolist()))
        s.put_predictions(model, rows)
        s.add_annotation(by_well["B02"], "needles", "tester")
    return plate_db


def wells_in_grid(window):
    return sorted({r.well for r in window.grid_model.rows()})


def test_the_side_panel_and_the_hover_text_say_what_was_in_the_well(screened_db, settings, open_window):
    w = open_window(screened_db, settings)
    row = next(i for i, r in enumerate(w.grid_model.rows()) if r.well == "A04")
    w.set_current_row(row)
    text = w.panel.condition.text()
    assert "Condition A04" in text and "Made-up grid" in text and "0.1 M Tris pH 8.5" in text
    assert "25% (w/v) PEG 3350" in text and "pH 8.5" in text
    assert "condition: 0.1 M Tris pH 8.5; 25% (w/v) PEG 3350 (pH 8.5)" in w.grid_model.tooltip(row)


def test_a_plate_without_a_screen_says_so(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    assert "no screen for this plate" in w.panel.condition.text()
    assert "condition:" not in w.grid_model.tooltip(0)


def test_condition_contains_from_the_keyboard(screened_db, settings, open_window, qtbot):
    w = open_window(screened_db, settings)
    w.resize(1500, 900)  # wide enough for the whole toolbar
    qtbot.waitUntil(lambda: w.toolbar.condition.isVisible())
    QTest.keyClick(w.grid, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: w.toolbar.condition.hasFocus())
    QTest.keyClicks(w.toolbar.condition, "sulfate")
    assert wells_in_grid(w)[0] == "A01"  # nothing filtered while typing; the label keys went into the field
    QTest.keyClick(w.toolbar.condition, Qt.Key.Key_Return)
    assert w.session.filters.component == "sulfate"
    assert wells_in_grid(w) == ["B01", "B02", "B03", "B04", "B05", "B06"]
    assert w.grid.hasFocus()
    QTest.keyClick(w.grid, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.toolbar.condition.text() == "" and wells_in_grid(w)[:2] == ["A01", "A02"]
    w.toolbar.focus_condition()
    QTest.keyClicks(w.toolbar.condition, "peg")
    QTest.keyClick(w.toolbar.condition, Qt.Key.Key_Escape)
    assert w.grid.hasFocus() and w.session.filters.component is None


def test_a_bar_of_the_conditions_plot_filters_the_review_window(screened_db, settings, open_window, qtbot):
    w = open_window(screened_db, settings)
    QTest.keyClick(w.grid, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    tab = w.open_dialogs["plots"].conditions
    qtbot.waitUntil(lambda: tab.summary is not None, timeout=5000)
    s = tab.summary
    assert s.screen == "Made-up grid" and (s.hit_wells, s.wells) == (3, 12)
    shares = {c.name: (c.hit_wells, c.wells) for c in s.components}
    assert shares["PEG 3350"] == (2, 6) and shares["ammonium sulfate"] == (1, 6) and shares["HEPES"] == (1, 3)
    assert [(b.label, b.hit_wells) for b in s.ph_bins] == [("pH 5–6", 1), ("pH 7–8", 1), ("pH 8–9", 1)]
    by_well = {c.well: c for c in s.conditions if c.hit_wells}
    assert set(by_well) == {"A01", "A04", "B02"} and by_well["A01"].days_to_first_hit == 7.0
    w.open_dialogs["plots"].tabs.setCurrentWidget(tab)
    tab.ph.setFocus()
    QTest.keyClick(tab.ph, Qt.Key.Key_End)
    QTest.keyClick(tab.ph, Qt.Key.Key_Return)  # pH 8-9: row A, columns 4 to 6
    assert w.session.filters.ph_range == (8.0, 9.0) and wells_in_grid(w) == ["A04", "A05", "A06"]
    assert w.toolbar.ph_chip.text().startswith("pH 8–9")
    first = tab.components.plot.vb.mapViewToScene(QPointF(10, 0))  # a click there picks the first bar
    assert tab.components.bar_at(first) == 0
    tab._pick_component(next(i for i, c in enumerate(s.components) if c.name == "ammonium sulfate"))
    assert w.session.filters.component == "ammonium sulfate" and w.session.filters.ph_range == (8.0, 9.0)
    assert wells_in_grid(w) == []  # both filters hold: no well is ammonium sulfate at pH 8-9
    w.toolbar.ph_chip.click()
    assert w.session.filters.ph_range is None and wells_in_grid(w)[0] == "B01"
    w.open_dialogs["plots"].close()


def test_the_hit_list_has_a_condition_column(screened_db, settings, open_window, qtbot):
    from xtalviewer.gui.app import dialogs
    from xtalviewer.gui.plate.hit_list import COLUMNS

    w = open_window(screened_db, settings)
    found = dialogs.open_hits(w)
    qtbot.waitUntil(lambda: found.model.rowCount() > 0, timeout=5000)
    column = COLUMNS.index("Condition")
    texts = {found.model.rows[i].well: found.model.text(found.model.rows[i], i, column)
             for i in range(found.model.rowCount())}
    assert texts["A01"] == "0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350  (pH 7.5)"
    found.close()


def test_a_narrow_window_asks_for_the_component_in_a_dialog(screened_db, settings, open_window, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    w = open_window(screened_db, settings)
    w.resize(700, 800)
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("HEPES", True))
    QTest.keyClick(w.grid, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.session.filters.component == "HEPES" and wells_in_grid(w) == ["A01", "A02", "A03"]
    assert w.toolbar.condition.text() == "HEPES" and w.grid.hasFocus()
