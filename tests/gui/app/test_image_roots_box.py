"""Preferences' image roots: the store's roots listed with this workstation's folders, edited in a
small table, saved as the settings' ``image_roots``; a bad root name keeps the dialog open."""

import time

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QDialogButtonBox

from xtalviewer.labels import load_scheme
from xtalviewer.settings import Settings
from xtalviewer.gui.app.preferences import PreferencesDialog


def test_roots_are_mapped_in_the_preferences(qtbot, tmp_path):
    settings = Settings(annotator="Ada", image_roots={"RockImager": "/mnt/rockimager"})
    dialog = PreferencesDialog(settings, load_scheme("xtal10"), [], image_roots=["Formulatrix", "RockImager"])
    qtbot.addWidget(dialog)
    box = dialog.roots_box
    assert box.rows() == [("Formulatrix", ""), ("RockImager", "/mnt/rockimager")]
    box.table.item(0, 1).setText(str(tmp_path))
    at = box.add_row("Rock Imager", "/x")
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.click()
    assert dialog.result_settings is None and "cannot name an image root" in dialog.problem.text()
    box.table.setCurrentCell(at, 0)
    box.remove_row()
    ok.click()
    assert dialog.result_settings.image_roots == {"Formulatrix": str(tmp_path), "RockImager": "/mnt/rockimager"}


def test_a_window_says_a_root_is_not_mapped_until_the_preferences_map_it(plate_db, settings, open_window, tmp_path):
    from xtalviewer.store.store import Store

    with Store(plate_db, roots={}) as s:
        s.define_image_root("Lab", str(tmp_path / "img"))
    moved = tmp_path / "elsewhere"
    (tmp_path / "img").rename(moved)  # this workstation mounts the share elsewhere and has not mapped it
    w = open_window(plate_db, settings)
    message = "image root 'Lab' is not mapped on this workstation: xtalviewer roots map Lab FOLDER"
    cell = w.grid_model.cell(0)
    assert cell["unmapped"] == "Lab" and cell["error"] == message and cell["thumbnail"] is None
    view = w.drop.image_view
    deadline = time.monotonic() + 10
    while message not in view._message.toPlainText() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert message in view._message.toPlainText()
    assert message in w.grid_model.tooltip(0) and "unreadable" not in w.grid_model.tooltip(0)
    w.apply_settings(Settings(**{**w.settings.__dict__, "image_roots": {"Lab": str(moved)}}))
    assert all(r.path.startswith(str(moved.resolve())) for r in w.session.rows)
    assert w.grid_model.cell(0)["unmapped"] is None
    deadline = time.monotonic() + 10
    while not view.has_image() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert view.has_image()
    with Store(plate_db) as s:  # never recorded as unreadable: the next workstation reads it
        assert not any("not mapped" in (s.image(r.id).load_error or "") for r in w.session.rows)


def test_live_scoring_says_how_many_drops_wait_for_a_root_to_be_mapped(plate_db, settings, open_window, qtbot,
                                                                       tmp_path):
    from xtalviewer.store.store import Store

    with Store(plate_db, roots={}) as s:
        s.define_image_root("Lab", str(tmp_path / "img"))
    (tmp_path / "img").rename(tmp_path / "elsewhere")
    w = open_window(plate_db, settings, start_scoring=True)
    qtbot.waitUntil(lambda: w.statusBar().currentMessage().startswith("Scored"), timeout=30000)
    said = w.statusBar().currentMessage()
    assert "under image root 'Lab', not mapped here (Preferences > Image roots)" in said, said
    with Store(plate_db) as s:
        assert s.prediction_count() == 0
