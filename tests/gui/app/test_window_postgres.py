"""The review window on a lab's PostgreSQL store: it opens, shows the plate, and a hotkey's label
is on the server (where another workstation reads it) before the window moves on."""

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from xtalviewer.store.copy import copy_store
from xtalviewer.store.store import Store


def test_labelling_in_the_window_writes_to_the_server(plate_db, pg_url, settings, open_window):
    with Store(plate_db, readonly=True) as source, Store(pg_url, source.scheme) as target:
        copy_store(source, target)
    w = open_window(pg_url, settings)
    assert w.windowTitle().endswith("on 127.0.0.1") and "postgres@" not in w.windowTitle()
    first = w.current_image_id()
    QTest.keyClick(w.grid, Qt.Key.Key_8)
    with Store(pg_url) as other_workstation:
        assert other_workstation.current_label(first) == "needles"
        assert other_workstation.history(first)[0].annotator == "tester"
    assert w.current_row() == 1
