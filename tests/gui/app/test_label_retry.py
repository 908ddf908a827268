"""The review window keeps a label the store could not save on screen, as not saved, with a Retry
button; Retry saves it (once) and moves on. On a lab's server whose link is cut, too."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from pgproxy import Relay
from xtalviewer.store import reconnect
from xtalviewer.store.copy import copy_store
from xtalviewer.store.store import Store


def test_retry_in_the_alert_saves_the_label_and_moves_on(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    first, row = w.current_image_id(), w.current_row()
    w.store.conn.execute("PRAGMA query_only = ON")
    QTest.keyClick(w.grid, Qt.Key.Key_8)
    assert w.alert.isVisible() and "NOT SAVED: Needles" in w.alert.text() and "Retry" in w.alert.text()
    assert w.panel.retry.isVisible() and w.current_row() == row
    w.store.conn.execute("PRAGMA query_only = OFF")
    QTest.mouseClick(w.panel.retry, Qt.MouseButton.LeftButton)
    assert not w.alert.isVisible() and not w.panel.retry.isVisible()
    assert w.current_row() == row + 1 and w.grid_model.queue_row(row).label == "needles"
    with Store(plate_db) as s:
        assert [a.label for a in s.history(first)] == ["needles"]


def test_a_label_while_the_server_is_out_of_reach_waits_on_screen_for_retry(plate_db, pg_url, settings, open_window,
                                                                           monkeypatch):
    monkeypatch.setattr(reconnect, "RECONNECT_WITHIN_S", 0.5)
    with Store(plate_db, readonly=True) as source, Store(pg_url, source.scheme) as target:
        copy_store(source, target)
    relay = Relay(pg_url)
    try:
        w = open_window(relay.url, settings)
        first, row = w.current_image_id(), w.current_row()
        relay.refuse = True
        relay.cut_all()
        QTest.keyClick(w.grid, Qt.Key.Key_8)
        assert w.alert.isVisible() and "NOT SAVED: Needles" in w.alert.text()
        assert "database server" in w.alert.text() and w.panel.retry.isVisible() and w.current_row() == row
        relay.refuse = False
        QTest.mouseClick(w.panel.retry, Qt.MouseButton.LeftButton)
        assert not w.alert.isVisible() and w.current_row() == row + 1
        with Store(pg_url) as other:
            assert [a.label for a in other.history(first)] == ["needles"]
        w.close()
    finally:
        relay.close()
