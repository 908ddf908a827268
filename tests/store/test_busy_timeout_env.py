"""XTALVIEWER_BUSY_TIMEOUT that is not a number of seconds is one line, exit 2, before any work."""

import pytest
from imagefiles import write_image

from xtalviewer.cli import main
from xtalviewer.importers import import_paths
from xtalviewer.store.db import BUSY_TIMEOUT_ENV, busy_timeout_s
from xtalviewer.store.store import Store


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "text", "1e400", "86401"])
def test_a_busy_timeout_that_is_not_seconds_is_one_line(tmp_path, db_path, monkeypatch, capsys, value):
    write_image(tmp_path / "PL1" / "A01.jpg", size=(16, 12))
    with Store(db_path) as store:
        import_paths(store, [tmp_path / "PL1"])
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, value)
    assert main(["stats", "--db", str(db_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"{BUSY_TIMEOUT_ENV}='{value}' is not a number of seconds" in err


@pytest.mark.parametrize("value, seconds", [("", 30.0), ("0", 0.0), (" 2.5 ", 2.5), ("86400", 86400.0)])
def test_a_busy_timeout_in_range_is_used(monkeypatch, value, seconds):
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, value)
    assert busy_timeout_s() == seconds
