"""Live scoring shares the batch pipeline: when a stage fails (the store stays busy, the model
computes NaN) the scoring task ends, the window says why, and the window goes on answering."""

import contextlib

import pytest
from dbfixtures import held_write_lock
from modelfiles import nan_output_checkpoint
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from xtalviewer.store.store import Store


@pytest.mark.parametrize("trigger, reason", [("busy", "is busy"), ("nan", "NaN (not a number)")])
def test_a_failing_stage_ends_live_scoring_with_a_message_and_the_window_keeps_answering(
        plate_db, settings, open_window, qtbot, monkeypatch, tmp_path, trigger, reason):
    holding = contextlib.nullcontext()
    if trigger == "nan":
        with Store(plate_db) as s:
            s.add_model(name="nan", arch="resnet18", classes=s.scheme.keys, input_size=32,
                        path=str(nan_output_checkpoint(tmp_path / "nan.pt", s.scheme)), activate=True)
    else:
        monkeypatch.setenv("XTALVIEWER_BUSY_TIMEOUT", "0.5")
        holding = held_write_lock(plate_db)
    with holding:
        w = open_window(plate_db, settings, start_scoring=True)
        qtbot.waitUntil(lambda: not w.scoring.running(), timeout=30000)
        message = w.statusBar().currentMessage()
        assert message.startswith("Scoring stopped: ") and reason in message, message
        assert "\n" not in message and "Traceback" not in message
        QTest.keyClick(w.grid, Qt.Key.Key_Right)  # the window still answers the keyboard
        assert w.current_row() == 1 and w.isVisible()
    with Store(plate_db) as s:
        assert s.query("SELECT COUNT(*) AS n FROM prediction WHERE p1 IS NULL")[0]["n"] == 0
