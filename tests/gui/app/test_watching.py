"""File > Watch imager folders in the review window: the watcher on its own thread imports an
inspection written file by file, the plate browser gains it, the status bar says what happens, new
hits raise the badge (no tray offscreen) and land in the hit list as new since the last look; the
offer to watch after an import comes once; turning it off and closing the window stop the thread."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox, QSystemTrayIcon

from guifixtures import make_plate_db
from watchfiles import jpeg_bytes, write_inspection, write_slowly, xchem_file, xchem_folder
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.settings import load_settings
from xtalviewer.store.store import Store
from xtalviewer.watch import FolderState, WatchState
from xtalviewer.watch.config import folder_to_offer
from xtalviewer.watch.status import status_text


@pytest.fixture
def hits_db(tmp_path):
    """The GUI plate, and the tiny model made to call every drop a hit (threshold 0): a new
    inspection's drops are all new hits."""
    db = make_plate_db(tmp_path, broken=False)
    with Store(db) as s:
        tiny = s.active_model()
        s.add_model(name="all-hits", arch="resnet18", classes=s.scheme.keys, input_size=32, path=tiny.path,
                    activate=True, operating_point=OperatingPoint(threshold=0.0, target_recall=0.99))
    return db


def fast(window) -> None:
    """The watcher's times shortened; polling, so the test does not depend on inotify."""
    window.watching.settle_s, window.watching.poll_s, window.watching.events = 0.4, 0.2, False


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "watch" and t.is_alive()]


def test_watching_imports_a_slowly_written_inspection_and_announces_its_new_hits(
        tmp_path, hits_db, settings, open_window, qtbot, monkeypatch):
    imager = tmp_path / "imager"
    imager.mkdir()
    w = open_window(hits_db, settings)
    fast(w)
    assert not w.watching.label.isVisible() and not w.actions_["file.watch"].isChecked()  # off until turned on
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(imager))
    texts: list[str] = []
    w.watching.background.state.connect(lambda told: texts.append(w.watching.label.text()))
    QTest.keyClick(w.grid, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.actions_["file.watch"].isChecked()
    saved, _ = load_settings()
    assert saved.watch_enabled and saved.watch_folders == [str(imager)]  # kept for the next start
    qtbot.waitUntil(lambda: w.watching.label.text() == "Watching 1 folder", timeout=10000)
    assert [t for t in watch_threads() if t is not threading.current_thread()]  # never the GUI thread
    before = w.browser_model.inspection_ids()

    folder = xchem_folder(imager, barcode="WG1", day="2026-04-15")
    files = [xchem_file(folder, col, "A", drop) for col in (1, 2) for drop in (1, 2)]
    for n, path in enumerate(files):
        write_slowly(path, jpeg_bytes(n), pause=0.15)  # half a file, flushed, then the rest
        qtbot.wait(150)
    qtbot.waitUntil(lambda: w.watching.badge.isVisible(), timeout=30000)
    assert w.watching.badge.text() == "★ 4 new hits"
    assert QSystemTrayIcon.isSystemTrayAvailable() is False and w.watching.tray is None  # offscreen: the badge
    qtbot.waitUntil(lambda: len(w.browser_model.inspection_ids()) == len(before) + 1, timeout=10000)
    assert w.inspection.id == before[-1]  # the reviewer's plate stays open
    assert any("arriving" in t for t in texts), texts
    label = w.watching.label.text()
    assert label.startswith("Watching 1 folder · last inspection ") and label.endswith("(WG1)")
    assert any(t.endswith("(WG1) · scoring 4 drops") for t in texts), texts
    assert "Plate WG1" in w.watching.label.toolTip() and "4 drops, 4 hits, 4 new" in w.watching.label.toolTip()
    with Store(hits_db) as s:
        assert s.prediction_count() == 4  # imported once, scored once

    w.watching.badge.click()  # the hit list, at what is new since the last look
    dialog = w.open_dialogs["hits"]
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 4, timeout=10000)
    assert dialog.since_look.isChecked() and "your first look" in dialog.since_look.text()
    assert {r.plate for r in dialog.model.rows} == {"WG1"} and dialog.model.fresh == {r.image_id for r in dialog.model.rows}
    assert dialog.model.text(dialog.model.rows[0], 0, 0) == "new 1"
    assert not w.watching.badge.isVisible()
    assert "tester" in load_settings()[0].hits_last_look
    dialog.close()

    w.actions_["view.hits"].trigger()  # Ctrl+L: looked again, nothing new since
    again = w.open_dialogs["hits"]
    assert again is not dialog
    qtbot.waitUntil(lambda: again.model.rowCount() == 4, timeout=10000)
    assert not again.since_look.isChecked() and again.model.fresh == frozenset()
    assert "your first look" not in again.since_look.text()
    again.close()

    w.actions_["file.watch"].trigger()  # off
    assert not w.actions_["file.watch"].isChecked() and not load_settings()[0].watch_enabled
    qtbot.waitUntil(lambda: not w.watching.background.running() and not watch_threads(), timeout=10000)
    assert not w.watching.label.isVisible()


def test_the_offer_to_watch_comes_once_after_an_import_and_closing_the_window_stops_the_watcher(
        tmp_path, hits_db, settings, open_window, qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: QMessageBox.StandardButton.Ok)
    imager = tmp_path / "imager"
    first = xchem_folder(imager, barcode="WO1", day="2026-05-01")
    write_inspection(first, drops=2, seed=1)
    w = open_window(hits_db, settings)
    fast(w)
    w.files.run_import([str(first)])
    qtbot.waitUntil(lambda: w.watching.offer_box is not None, timeout=20000)
    box = w.watching.offer_box
    assert f"Watch {imager} from now on?" in box.text()  # an inspection's folder: the next one comes beside it
    assert not box.isModal() and load_settings()[0].watch_offered
    next(b for b in box.buttons() if b.text() == "&Watch it").click()
    assert w.actions_["file.watch"].isChecked() and load_settings()[0].watch_folders == [str(imager)]
    qtbot.waitUntil(lambda: w.watching.label.text().startswith("Watching 1 folder"), timeout=10000)

    second = xchem_folder(imager, barcode="WO1", day="2026-05-08")
    write_inspection(second, drops=2, seed=2)
    w.files.run_import([str(second)])  # imported by hand while watched: no second question
    qtbot.waitUntil(lambda: not w.files.imports.running(), timeout=20000)
    qtbot.wait(200)
    assert w.watching.offer_box is None

    assert watch_threads()
    w.close()  # stops the watcher and waits for its thread
    assert not watch_threads()


def test_not_now_is_remembered_and_never_asked_again(tmp_path, hits_db, settings, open_window, qtbot):
    w = open_window(hits_db, settings)
    w.watching.offer([str(tmp_path / "somewhere")])
    box = w.watching.offer_box
    next(b for b in box.buttons() if b.text() == "&Not now").click()
    assert w.watching.offer_box is None and not w.actions_["file.watch"].isChecked()
    w.watching.offer([str(tmp_path / "elsewhere")])
    assert w.watching.offer_box is None and load_settings()[0].watch_offered


def test_the_status_text_says_what_the_watcher_does():
    two = (FolderState("/mnt/imager1", True, "polling"), FolderState("/mnt/imager2", False, "unavailable"))
    state = WatchState(two, arriving_files=12, arriving_inspections=1, waiting_to_score=1, imported=1, scored=0,
                       model="tiny")
    when = datetime(2026, 3, 1, 10, 42)
    assert status_text(state, last_at=when, last_plate="XV1001", scoring_drops=96, now=when) == \
        "Watching 1 of 2 folders · imager2 unavailable · last inspection 10:42 (XV1001) · scoring 96 drops · " \
        "12 files arriving"
    assert status_text(state, not_scoring="no model to score with", now=when).endswith(
        "not scoring (no model to score with) · 12 files arriving")
    assert status_text(None) == "Watch: starting…" and status_text(state, stopping=True) == "Watch: stopping…"


def test_the_folder_offered_is_the_imagers_not_one_inspections(tmp_path):
    inspection = xchem_folder(tmp_path / "imager", barcode="WF1", day="2026-05-01")
    write_inspection(inspection, drops=1)
    assert folder_to_offer(str(inspection)) == str(tmp_path / "imager")
    assert folder_to_offer(str(tmp_path / "imager")) == str(tmp_path / "imager")


def test_preferences_move_the_watcher_and_a_missing_folder_is_said(tmp_path, hits_db, settings, open_window, qtbot):
    import dataclasses

    w = open_window(hits_db, settings)
    fast(w)
    w.watching.set_folders([str(tmp_path / "not-mounted")], True)  # File > Watched folders… said OK
    qtbot.waitUntil(lambda: "not-mounted unavailable" in w.watching.label.text(), timeout=10000)
    assert w.watching.label.text().startswith("Watching 0 of 1 folders") and "color" in w.watching.label.styleSheet()
    there = tmp_path / "imager"
    there.mkdir()
    w.apply_settings(dataclasses.replace(w.settings, watch_folders=[str(there)]))  # Preferences: another folder
    qtbot.waitUntil(lambda: w.watching.label.text() == "Watching 1 folder", timeout=10000)
    assert [line for line in w.watching.lines if f"Watching {there}:" in line]
    w.apply_settings(dataclasses.replace(w.settings, watch_enabled=False))  # Preferences: off
    qtbot.waitUntil(lambda: not w.watching.background.running() and not watch_threads(), timeout=10000)
    assert not w.actions_["file.watch"].isChecked() and not w.watching.label.isVisible()


def test_late_files_of_the_inspection_on_screen_join_its_grid_with_their_scores(
        tmp_path, hits_db, settings, open_window, qtbot, monkeypatch):
    imager = tmp_path / "imager"
    imager.mkdir()
    w = open_window(hits_db, settings)
    fast(w)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(imager))
    w.set_watching(True)
    qtbot.waitUntil(lambda: w.watching.label.text() == "Watching 1 folder", timeout=10000)
    folder = xchem_folder(imager, barcode="WL1", day="2026-04-16")
    for n, drop in enumerate((1, 2)):
        write_slowly(xchem_file(folder, 1, "A", drop), jpeg_bytes(n), pause=0.05)
    qtbot.waitUntil(lambda: "(WL1)" in w.watching.label.text() and "scoring" not in w.watching.label.text(),
                    timeout=30000)
    with Store(hits_db) as s:
        (inspection,) = s.inspections(s.plate_by_barcode("WL1").id)
    w.open_inspection(inspection.id)
    assert len(w.session.rows) == 2
    shown = w.current_image_id()
    for n, drop in enumerate((1, 2)):  # the imager's late files of the same inspection
        write_slowly(xchem_file(folder, 2, "A", drop), jpeg_bytes(n + 2), pause=0.05)
    qtbot.waitUntil(lambda: len(w.session.rows) == 4 and all(r.top1 for r in w.session.rows), timeout=30000)
    assert w.current_image_id() == shown  # the reviewer's drop stays on screen
    w.set_watching(False)
