"""A label key held down (or the Return that closed a dialog, still held) labels one drop, not one per
key repeat; moving with a held arrow key still repeats."""

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from xtalviewer.store.store import Store


def press(window, key, text, *, repeat):
    QApplication.sendEvent(window.windowHandle(),
                           QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, text, repeat))
    QApplication.processEvents()


def test_key_repeats_of_a_label_key_or_return_label_nothing(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    first = w.current_image_id()
    press(w, Qt.Key.Key_8, "8", repeat=False)  # needles on the first drop, then the next
    assert w.current_row() == 1
    for _ in range(5):  # the key is still held: its repeats do nothing
        press(w, Qt.Key.Key_8, "8", repeat=True)
        press(w, Qt.Key.Key_Return, "\r", repeat=True)
    assert w.current_row() == 1
    with Store(plate_db) as s:
        labelled = [r.id for r in s.review_queue(None) if r.label and r.id != first
                    and s.history(r.id) and s.history(r.id)[0].annotator == "tester"]
        assert labelled == [] and s.current_label(first) == "needles"


def test_a_held_arrow_key_still_moves(plate_db, settings, open_window):
    w = open_window(plate_db, settings)
    w.requeue("crystal")  # the flowing queue: Right walks it
    start = w.current_row()
    for _ in range(3):
        press(w, Qt.Key.Key_Right, "", repeat=True)
    assert w.current_row() == start + 3
