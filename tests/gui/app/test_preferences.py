from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.labels import load_scheme
from xtalviewer.settings import Settings, load_settings
from xtalviewer.store.rows import Model
from xtalviewer.gui.app.preferences import PreferencesDialog, hotkey_problem


def test_hotkey_rules():
    scheme = load_scheme("xtal10")
    keys = {c.key: c.hotkey for c in scheme.classes}
    assert hotkey_problem(scheme, keys) is None
    assert "used twice" in hotkey_problem(scheme, {**keys, "needles": "1"})
    assert "taken by the review window" in hotkey_problem(scheme, {**keys, "needles": "f"})
    assert "single key" in hotkey_problem(scheme, {**keys, "needles": ""})


def test_dialog_edits_and_validates(qtbot):
    scheme = load_scheme("xtal10")
    model = Model(id=3, name="r", arch="resnet18", scheme="xtal10", classes=scheme.keys, input_size=128,
                  normalization=None, run_id=None, metrics=None, path="/models/r.pt", sha256=None, active=False,
                  created_at=None, operating_point=OperatingPoint())
    dialog = PreferencesDialog(Settings(annotator="Ada"), scheme, [model])
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.hotkey_edits["needles"].setText("1")
    assert not ok.isEnabled() and "used twice" in dialog.problem.text()
    dialog.hotkey_edits["needles"].setText("n")
    assert ok.isEnabled()
    dialog.annotator.setText("Grace")
    dialog.default_model.setCurrentIndex(dialog.default_model.findData(3))
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.auto_advance.setChecked(False)
    ok.click()
    s = dialog.result_settings
    assert (s.annotator, s.default_model, s.device, s.auto_advance) == ("Grace", 3, "cpu", False)
    assert s.hotkeys == {"needles": "n"}  # only what differs from the scheme is stored


def test_new_hotkeys_and_annotator_take_effect_in_the_window(plate_db, settings, open_window):
    from xtalviewer.store.store import Store

    w = open_window(plate_db, settings)
    new = Settings(**{**settings.__dict__, "annotator": "Grace", "hotkeys": {"needles": "n"}})
    w.apply_settings(new)
    first = w.current_image_id()
    QTest.keyClick(w.grid, Qt.Key.Key_N)
    with Store(plate_db) as s:
        assert s.current_label(first) == "needles" and s.history(first)[0].annotator == "Grace"
    assert w.label_bar.buttons["needles"].text().startswith("n ")
    assert load_settings()[0].hotkeys == {"needles": "n"}  # saved


def test_the_database_field_is_kept_and_a_password_in_its_url_is_refused(qtbot):
    dialog = PreferencesDialog(Settings(annotator="ada"), load_scheme("xtal10"), [])
    qtbot.addWidget(dialog)
    dialog.database_box.edit.setText("postgresql://xtal:secret@db.lab/xtalviewer")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result_settings is None and "password" in dialog.problem.text()
    dialog.database_box.edit.setText("  postgresql://xtal@db.lab/xtalviewer?sslmode=verify-full ")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result_settings.database == "postgresql://xtal@db.lab/xtalviewer?sslmode=verify-full"
