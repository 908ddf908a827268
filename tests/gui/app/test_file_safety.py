"""The review window keeps the lab's files: Export and Plate report refuse the open database (and its
-wal file) as their target."""

from xtalviewer.gui.app import file_commands
from xtalviewer.store.store import Store


def test_export_onto_the_open_database_or_its_wal_is_refused(plate_db, settings, open_window, monkeypatch, qtbot):
    window = open_window(plate_db, settings)
    with Store(plate_db, readonly=True) as s:
        images = len(s.image_ids())
    warnings = []
    monkeypatch.setattr(file_commands.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    for target in (plate_db, plate_db.with_name(plate_db.name + "-wal")):
        monkeypatch.setattr(file_commands.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV (*.csv)"))
        window.files.export_csv()
        qtbot.waitUntil(lambda: len(warnings) == 1, timeout=10000)
        assert "SQLite database" in warnings[0] and "\n" not in warnings[0], warnings[0]
        warnings.clear()
    with Store(plate_db, readonly=True) as s:
        assert s.barcodes() == ["GP1"] and len(s.image_ids()) == images


def test_a_report_onto_the_open_database_is_refused(plate_db, settings, open_window, monkeypatch, qtbot):
    window = open_window(plate_db, settings)
    monkeypatch.setattr(file_commands.QFileDialog, "getSaveFileName", lambda *a, **k: (str(plate_db), "HTML (*.html)"))
    opened = []
    monkeypatch.setattr(file_commands.QDesktopServices, "openUrl", lambda url: opened.append(url))
    window.files.plate_report(window.inspection, window.thumb_cache)
    qtbot.waitUntil(lambda: "Report not written" in window.statusBar().currentMessage(), timeout=10000)
    assert "SQLite database" in window.statusBar().currentMessage() and not opened
    with Store(plate_db, readonly=True) as s:
        assert s.barcodes() == ["GP1"]
