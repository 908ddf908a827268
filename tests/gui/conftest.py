import pytest
from guifixtures import make_plate_db

from xtalviewer.settings import Settings


@pytest.fixture
def plate_db(tmp_path):
    return make_plate_db(tmp_path)


@pytest.fixture
def settings(tmp_path):
    return Settings(annotator="tester", thumbnail_dir=str(tmp_path / "thumbs"))


@pytest.fixture
def open_window(qtbot):
    """Open the review window on a database and wait until its first plate is in the grid."""
    from xtalviewer.gui.app.main_window import MainWindow

    def opener(db, settings, start_scoring=False):
        window = MainWindow(db, settings, start_scoring=start_scoring)
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(lambda: window.inspection is not None and window.grid_model.rowCount() > 0, timeout=10000)
        window.grid.setFocus()
        return window

    return opener
