"""The review window keeps the lab's files: Export and Plate report refuse the open database (and its
-wal file) as their target, and a thumbnail folder that holds plate images is neither accepted in
Preferences nor pruned when the window opens."""

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QDialogButtonBox

from xtalviewer.gui.app import dialogs, file_commands
from xtalviewer.gui.app.preferences import PreferencesDialog
from xtalviewer.importers import import_paths
from xtalviewer.settings import Settings
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


def plate_of_big_images(root):
    """A plate of real JPEG files a few hundred kB each, imported into a new store."""
    rng = np.random.default_rng(1)
    folder = root / "lab-images" / "GP9_2026-05-01_RI1000-0081-1drop"
    folder.mkdir(parents=True)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (480, 560, 3), dtype=np.uint8)).save(
            folder / f"GP9_{i % 6 + 1:02d}{'AB'[i // 6]}_1.jpg", quality=95)
    db = root / "big.db"
    with Store(db) as s:
        import_paths(s, [root / "lab-images"])
    return db, root / "lab-images", sorted(folder.iterdir())


def test_opening_the_window_on_a_thumbnail_folder_of_plate_images_deletes_none(tmp_path, open_window, qtbot):
    db, plates, images = plate_of_big_images(tmp_path)
    assert sum(p.stat().st_size for p in images) > 2 << 20  # over the 1 MB limit
    settings = Settings(annotator="tester", thumbnail_dir=str(plates), thumbnail_limit_mb=1)
    window = open_window(db, settings)
    qtbot.wait(1500)  # the start-up prune runs in the background
    assert sorted(p for p in plates.rglob("*") if p.is_file()) == images
    assert window.thumb_cache.folder == Settings().thumbnail_folder()  # the default cache, with a warning
    assert window.settings.thumbnail_dir == str(plates)  # the choice is kept, for the person to change


def run_preferences(window, monkeypatch, folder) -> PreferencesDialog:
    """Open Preferences from the window, type ``folder`` as the thumbnail folder and press OK."""
    shown = []

    def exec_(dialog):
        shown.append(dialog)
        dialog.thumb_dir.setText(str(folder))
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        return dialog.result()

    monkeypatch.setattr(PreferencesDialog, "exec", exec_)
    dialogs.preferences(window)
    return shown[0]


def test_preferences_refuse_a_thumbnail_folder_of_plate_images(plate_db, settings, open_window, monkeypatch,
                                                               tmp_path):
    window = open_window(plate_db, settings)
    images = sorted((tmp_path / "img").rglob("*.jpg"))
    for folder, why in ((tmp_path / "img", "images of imported plates"),
                        (tmp_path / "img" / "GP1_2026-04-01_RI1000-0081-1drop", "images of imported plates"),
                        (tmp_path, "images of imported plates")):
        dialog = run_preferences(window, monkeypatch, folder)
        assert not dialog.result() and why in dialog.problem.text() and "\n" not in dialog.problem.text()
        assert window.settings.thumbnail_dir == settings.thumbnail_dir
    assert sorted((tmp_path / "img").rglob("*.jpg")) == images


def test_preferences_refuse_a_folder_of_other_files_and_take_an_empty_one(plate_db, settings, open_window,
                                                                          monkeypatch, tmp_path):
    window = open_window(plate_db, settings)
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "figure.jpg").write_bytes(b"\xff\xd8 a figure")
    dialog = run_preferences(window, monkeypatch, papers)
    assert not dialog.result() and "holds other files" in dialog.problem.text()
    assert window.settings.thumbnail_dir == settings.thumbnail_dir
    fresh = tmp_path / "new-thumbs"
    dialog = run_preferences(window, monkeypatch, fresh)
    assert dialog.result() and window.settings.thumbnail_dir == str(fresh)
    assert window.thumb_cache.folder == fresh
