"""Start the review application (or render it once to a PNG with --screenshot)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from xtalviewer.files.printable import printable
from xtalviewer.paths import resources_dir
from xtalviewer.settings import Settings, load_settings, save_settings
from xtalviewer.store.store import StoreError
from xtalviewer.store.annotations import default_annotator
from xtalviewer.gui.tasks import wait_for_daemon_threads
from xtalviewer.gui.theme import STYLE

if TYPE_CHECKING:
    from xtalviewer.gui.app.main_window import MainWindow
    from xtalviewer.store.location import Location

EXIT_WAIT_S = 60.0  # at most this long for background threads to finish their piece of work at exit


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("xtalviewer")
    app.setOrganizationName("xtalviewer")
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE)
    app.setDesktopFileName("xtalviewer")  # matches the .desktop entry (Wayland needs it for the icon)
    icon = resources_dir() / "icons" / "xtalviewer.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def ask_annotator(settings: Settings) -> None:
    """First run: who is labelling? The OS user name is the default; kept in the settings."""
    name, ok = QInputDialog.getText(None, "Who is reviewing?",
                                    "Your name as it should appear on every label you give\n"
                                    "(change it later in the settings file):",
                                    text=default_annotator())
    settings.annotator = (name.strip() if ok and name.strip() else default_annotator())
    save_settings(settings)


def wait_until(app: QApplication, done, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if done():
            return True
        time.sleep(0.01)
    return False


def store_error_box(message: str) -> QMessageBox:
    """The store cannot be opened (a wrong password, a server out of reach): say why, offer Retry
    or Quit. Retry is the default: the usual cause (the network, a server restarting) passes."""
    box = QMessageBox(QMessageBox.Icon.Critical, "xtalviewer", message,
                      QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Close)
    box.button(QMessageBox.StandardButton.Close).setText("Quit")
    box.setDefaultButton(QMessageBox.StandardButton.Retry)
    return box


def retry_or_quit(message: str) -> bool:
    """Ask with ``store_error_box``; True: try again."""
    return store_error_box(message).exec() == QMessageBox.StandardButton.Retry


def open_window(location: Path | str | Location, settings: Settings, *,
                ask: Callable[[str], bool] | None = retry_or_quit) -> MainWindow | None:
    """The review window on the store, or None when it cannot be opened and the user quits. Each
    failure is one line on stderr; ``ask(message)`` then offers Retry (True) or Quit (False); with
    no ``ask`` (a screenshot run: nobody to ask) the first failure quits."""
    from xtalviewer.gui.app.main_window import MainWindow

    while True:
        try:
            return MainWindow(location, settings, start_scoring=True)
        except StoreError as exc:
            message = " ".join(str(exc).split())
            print(f"xtalviewer: error: {printable(message)}", file=sys.stderr)
            if ask is None or not ask(message):
                return None


def run_app(db_path: Path | str | Location, *, screenshot: Path | None = None, plate: str | None = None,
            ask: Callable[[str], bool] = retry_or_quit) -> int:
    app = application()
    settings, note = load_settings()
    if not settings.annotator:
        if screenshot is not None:
            settings.annotator = default_annotator()
        else:
            ask_annotator(settings)
    window = open_window(db_path, settings, ask=None if screenshot is not None else ask)
    if window is None:
        return 2
    window.wanted_plate = plate  # opened first (``xtalviewer --plate``)
    if note:
        window.statusBar().showMessage(note, 20000)
    window.show()
    if screenshot is None:
        return leave(app.exec())

    # render once everything visible has loaded: grid, thumbnails, the image, the prediction
    def settled() -> bool:
        if window.inspection is None:
            return False
        visible = window.grid.viewport().rect()
        for row in range(window.grid_model.rowCount()):
            idx = window.grid_model.index(row)
            if not window.grid.visualRect(idx).intersects(visible):
                continue
            r = window.grid_model.queue_row(row)
            if not r.load_error and window.thumbs.cached(r.id) is None and window.thumbs.error(r.id) is None:
                return False
        return window.image_view.has_image() or window.current_image_id() is None or \
            "cannot be shown" in window.image_view._message.toPlainText()

    wait_until(app, settled, 60)
    if window.scoring.running():  # give live scoring a moment to fill the panel
        wait_until(app, lambda: not window.scoring.running(), 20)
    wait_until(app, lambda: False, 0.3)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(screenshot))
    window.close()
    print(f"Wrote {screenshot}" if ok else f"Could not write {screenshot}")
    QTimer.singleShot(0, app.quit)
    return leave(0 if ok else 1)


def leave(code: int) -> int:
    """The window is closed: wait for the background threads it stopped (``wait_for_daemon_threads``
    says why), so the interpreter never exits under a thread that is inside C++. One that is still
    running after EXIT_WAIT_S is left behind without the interpreter's exit (output flushed first)."""
    left = wait_for_daemon_threads(EXIT_WAIT_S)
    if left:
        print(f"xtalviewer: {', '.join(left)} still running after {EXIT_WAIT_S:.0f} s; leaving without them",
              file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
