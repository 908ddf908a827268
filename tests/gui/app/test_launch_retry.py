"""The app at launch when its store cannot be opened (a wrong password, a server out of reach): one
line on stderr, a box offering Retry or Quit; Retry tries again (and opens the window once the
server is back), Quit exits 2."""

from __future__ import annotations

import socket

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from xtalviewer.cli import main
from xtalviewer.gui.app import launch
from xtalviewer.settings import Settings, save_settings
from xtalviewer.store.copy import copy_store
from xtalviewer.store.store import Store

SECRET = "s3cret-launch"


def _no_server_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"postgresql://ann:{SECRET}@127.0.0.1:{sock.getsockname()[1]}/lab"


def _answer(button: QMessageBox.StandardButton) -> None:
    """Press ``button`` of the store error box as soon as it is up."""
    def press() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(button).click()
        else:
            QTimer.singleShot(20, press)
    QTimer.singleShot(20, press)


def test_the_box_offers_retry_and_quit(qtbot):
    box = launch.store_error_box("cannot connect to PostgreSQL database postgresql://ann@db/lab: refused")
    assert box.button(QMessageBox.StandardButton.Retry) is box.defaultButton()
    assert box.button(QMessageBox.StandardButton.Close).text() == "Quit"
    _answer(QMessageBox.StandardButton.Retry)
    assert launch.retry_or_quit("the server is away") is True
    _answer(QMessageBox.StandardButton.Close)
    assert launch.retry_or_quit("the server is away") is False


def test_quit_is_one_line_and_exit_2_without_the_password(qtbot, capsys):
    save_settings(Settings(annotator="tester"))
    asked = []
    code = launch.run_app(_no_server_url(), ask=lambda message: asked.append(message) or False)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot connect to PostgreSQL database" in err
    assert SECRET not in err + asked[0] and "\n" not in asked[0]


def test_retry_opens_the_window_once_the_server_is_back(qtbot, capsys, pg_cluster, pg_url, plate_db, settings):
    with Store(plate_db, readonly=True) as source, Store(pg_url, source.scheme) as target:
        copy_store(source, target)
    asked = []

    def server_back_then_retry(message: str) -> bool:
        asked.append(message)
        pg_cluster.resume()  # the administrator restarted it while the box was up
        return True

    pg_cluster.pause()
    try:
        window = launch.open_window(pg_url, settings, ask=server_back_then_retry)
    finally:
        if not asked:
            pg_cluster.resume()
    qtbot.addWidget(window)
    assert len(asked) == 1 and window is not None and window.store.location.is_server
    assert capsys.readouterr().err.count("\n") == 1
    window.close()


def test_the_app_on_an_unreachable_server_asks_instead_of_exiting_at_once(qtbot, capsys):
    save_settings(Settings(annotator="tester"))
    _answer(QMessageBox.StandardButton.Close)  # the real box; Quit
    assert main(["--db", _no_server_url()]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect to PostgreSQL database" in err and SECRET not in err
