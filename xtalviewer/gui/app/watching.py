"""The review window watching the imager folders (File > Watch imager folders): the Qt-free
``WatchService`` of ``xtalviewer/watch`` on its own thread (``watch_thread.BackgroundWatch``),
importing and scoring each new inspection as it arrives, while the window shows what it does.

``Watching`` is the window's side: the checkable File menu action and the folders (kept in the
settings: ``watch_enabled``, ``watch_folders``), the status bar's permanent field
(``watch/status.py``), the plate browser read again when an inspection arrives or is scored, a new
hit announced (a tray message where the desktop has a tray; always a status bar badge that opens the
hit list at what is new since the reviewer's last look), and, once, after File > Import, the offer
to watch that folder from now on.

Turning watching off asks the thread to end and does not wait for it (a scoring run stops between
two batches); closing the window waits a few seconds, and ``launch.leave`` waits for what is left.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QStyle, QSystemTrayIcon, QToolButton, QWidget

from xtalviewer.watch import InspectionImported, InspectionScored, NewHits, WatchConfig, WatchState, config_folders
from xtalviewer.watch.config import DEFAULT_SETTLE_S, folder_to_offer
from xtalviewer.watch.status import status_text
from xtalviewer.gui import theme
from xtalviewer.gui.app.watch_folders import WatchDialog
from xtalviewer.gui.app.watch_thread import CLOSE_WAIT_S, BackgroundWatch

if TYPE_CHECKING:
    from xtalviewer.gui.app.main_window import MainWindow

LOG_LINES = 300  # the watcher's lines kept for the Watched folders dialog and the tooltip
TOOLTIP_LINES = 6


class Watching(QObject):
    """File > Watch imager folders in ``window``: see the module docstring. ``settle_s``, ``poll_s``
    and ``events`` are the watcher's (a test shortens them)."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.settle_s: float = DEFAULT_SETTLE_S
        self.poll_s: float | None = None
        self.events = True
        self.background = BackgroundWatch(self)
        self.background.status.connect(self._said)
        self.background.imported.connect(self._imported)
        self.background.scored.connect(self._scored)
        self.background.new_hits.connect(self._new_hits)
        self.background.state.connect(self._state)
        self.background.ended.connect(self._ended)
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.state: WatchState | None = None
        self.scoring: dict[int, int] = {}  # inspection id -> its drops, imported and waiting for scores
        self.last_at: datetime | None = None  # when the last inspection arrived
        self.last_plate: str | None = None  # and of which plate
        self.last_line = ""
        self.failed: str | None = None
        self.unseen_hits = 0  # drops newly hits since the hit list was last opened
        self.dialog: WatchDialog | None = None
        self.offer_box: QMessageBox | None = None
        self.tray: QSystemTrayIcon | None = None
        self._running_key: tuple | None = None
        self._restart: WatchConfig | None = None  # started once the run being stopped has ended
        self.action = window.actions_["file.watch"]

        bar = window.statusBar()
        self.label = QToolButton()
        self.label.setAutoRaise(True)
        self.label.setObjectName("watchStatus")
        self.label.clicked.connect(lambda: window.open_dialog("watch"))
        self.badge = QToolButton()
        self.badge.setObjectName("newHitsBadge")
        self.badge.setStyleSheet(f"QToolButton {{ background: {theme.HIT}; color: {theme.LIGHT_TEXT}; "
                                 "border-radius: 8px; padding: 1px 8px; font-weight: bold; }")
        self.badge.clicked.connect(lambda: window.open_dialog("hits"))
        bar.insertPermanentWidget(0, self.badge)
        bar.insertPermanentWidget(0, self.label)
        self.label.hide()
        self.badge.hide()
        self.follow_settings()

    # -- on and off ------------------------------------------------------------------------------------

    def folders(self) -> list[Path]:
        return config_folders([], self.window.settings.watch_folders)

    def config(self) -> WatchConfig:
        s = self.window.settings
        return WatchConfig(db=self.window.db_path, folders=self.folders(), settle_s=self.settle_s, poll_s=self.poll_s,
                           summary=Path(s.watch_summary) if s.watch_summary else None, device=s.device,
                           events=self.events)

    @staticmethod
    def _key(config: WatchConfig) -> tuple:
        return (tuple(os.path.abspath(f) for f in config.folders), config.summary, config.device, config.settle_s,
                config.poll_s, config.events)

    def set_watching(self, on: bool) -> None:
        """File > Watch imager folders: on (asking for a folder when none is set) or off; kept in the settings."""
        s = self.window.settings
        if on and not self.folders():
            folder = QFileDialog.getExistingDirectory(self.window, "An imager folder to watch")
            if not folder:
                self.action.setChecked(False)
                self.window.say("Not watching: no folder chosen", 6000)
                return
            s.watch_folders = [folder]
        s.watch_enabled = on
        self.window.save_settings()
        self.follow_settings()
        if not on:
            self.window.say("Stopped watching the imager folders", 5000)

    def set_folders(self, folders: Sequence[str], enabled: bool) -> None:
        """File > Watched folders… said OK: these folders, watched or not."""
        s = self.window.settings
        s.watch_folders, s.watch_enabled = list(folders), bool(enabled and folders)
        self.window.save_settings()
        self.follow_settings()

    def follow_settings(self) -> None:
        """Watch as the settings say (at start, after the menu, the dialog or the Preferences):
        started, stopped, or restarted when the folders or the device changed."""
        s = self.window.settings
        wanted = self.config() if s.watch_enabled and self.folders() else None
        self.action.setChecked(wanted is not None)
        if wanted is None:
            self._restart = None
            self._stop()
            return
        if self.background.running():
            if self.background.stopping() or self._key(wanted) != self._running_key:
                self._restart = wanted  # once the run before has ended
                self._stop()
            return
        self._start(wanted)

    def _start(self, config: WatchConfig) -> None:
        self._restart, self.failed = None, None
        self.state, self.scoring = None, {}
        self._running_key = self._key(config)
        self.background.start(config)
        self._show_tray(True)
        self._show()

    def _stop(self) -> None:
        if self.background.running():
            self.background.stop()
        else:
            self._show_tray(False)
        self._show()

    def _ended(self, error: str | None) -> None:
        self._running_key = None
        if error:
            self.failed = error
            self._said(f"The watcher stopped: {error}")
            self.window.say(f"Watching stopped: {error}", 0)
        if self._restart is not None:
            self._start(self._restart)
            return
        if error:
            self.action.setChecked(False)
        self._show_tray(False)
        self._show()

    def close(self, wait: float = CLOSE_WAIT_S) -> None:
        """The window is closing: the watcher stops (waited for ``wait`` seconds), the tray icon goes."""
        self._restart = None
        self.background.close(wait)
        self._show_tray(False)
        for widget in (self.offer_box, self.dialog):
            if widget is not None:
                widget.close()

    # -- what the watcher says ----------------------------------------------------------------------------

    def _said(self, text: str) -> None:
        line = f"{datetime.now():%H:%M:%S} {text}"
        self.lines.append(line)
        if self.dialog is not None:
            try:
                self.dialog.add_line(line)
            except RuntimeError:  # closed and deleted
                self.dialog = None
        self._show()

    def _imported(self, event: InspectionImported) -> None:
        self.scoring[event.inspection_id] = event.drops
        self.last_at, self.last_plate = datetime.now(), event.plate
        self.last_line = f"Plate {event.plate}, inspection {event.inspection}: {event.drops} drops imported"
        self.window.refresh_browser()  # the new inspection in the plate browser
        self._reload_if_open(event.inspection_id)  # late files of the inspection on screen: its new drops
        self._show()

    def _scored(self, event: InspectionScored) -> None:
        self.scoring.pop(event.inspection_id, None)
        self.last_at, self.last_plate = datetime.now(), event.plate
        self.last_line = event.line()
        self.window.refresh_browser()  # its hits
        self._reload_if_open(event.inspection_id)  # the grid on screen shows the watcher's scores
        self._show()

    def _reload_if_open(self, inspection_id: int) -> None:
        """The inspection on screen changed in the store: read its queue again, the drop on screen kept."""
        w = self.window
        if w.inspection is not None and w.inspection.id == inspection_id:
            w.reload_queue(keep_image=w.current_image_id())

    def _state(self, told: tuple[WatchState, bool]) -> None:
        state, turn_end = told
        self.state = state
        if turn_end and not state.waiting_to_score:
            self.scoring.clear()  # an inspection deleted before its scores: nothing is waiting
        self._show()

    def _new_hits(self, hits: NewHits) -> None:
        self.unseen_hits += len(hits.drops)
        self._show_badge()
        if self.tray is not None:
            n = len(hits.drops)
            self.tray.showMessage(f"xtalviewer: {n} new hit{'s' * (n != 1)} on plate {hits.plate}", hits.line(),
                                  QSystemTrayIcon.MessageIcon.Information, 15000)
        open_hits = self.window.open_dialogs.get("hits")
        try:
            if open_hits is not None and open_hits.isVisible():
                open_hits.reload()
        except RuntimeError:  # closed and deleted
            pass

    def hits_seen(self) -> None:
        """The reviewer opened the hit list: the badge goes until the next new hit."""
        self.unseen_hits = 0
        self._show_badge()

    # -- showing it -----------------------------------------------------------------------------------------

    def _show(self) -> None:
        running = self.background.running() or self._restart is not None
        if not running and not self.failed:
            self.label.hide()
            return
        if self.failed and not running:
            text = "Watch stopped (error): File > Watched folders… says why"
        else:
            text = status_text(self.state, stopping=self.background.stopping() and self._restart is None,
                               last_at=self.last_at, last_plate=self.last_plate,
                               scoring_drops=sum(self.scoring.values()),
                               not_scoring=self.state.not_scoring if self.state is not None else None)
        lost = self.state is not None and any(not f.available for f in self.state.folders)
        self.label.setStyleSheet(f"color: {theme.ERROR_TEXT};" if lost or (self.failed and not running) else "")
        self.label.setText(text)
        self.label.setToolTip(self._tooltip())
        self.label.show()

    def _tooltip(self) -> str:
        lines = [f"Watching into {self.window.db_path}"]
        if self.state is not None:
            lines += [f"  {f.folder}: {f.mode}" for f in self.state.folders]
            if self.state.arriving_files:
                lines += [f"Files arriving are imported once none changed for {self.settle_s:g} s and each has "
                          "its end marker."]
        if self.last_line:
            lines += ["Last inspection: " + self.last_line]
        recent = list(self.lines)[-TOOLTIP_LINES:]
        if recent:
            lines += ["", *recent]
        lines += ["", "Click for the folders and all the watcher said (File > Watched folders…)."]
        return "\n".join(lines)

    def _show_badge(self) -> None:
        n = self.unseen_hits
        self.badge.setVisible(n > 0)
        self.badge.setText(f"★ {n} new hit{'s' * (n != 1)}")
        self.badge.setToolTip("Drops that became hits while the watcher ran. Click (or Ctrl+L) for the hit list: "
                              "what is new since your last look.")

    def _show_tray(self, on: bool) -> None:
        if on and self.tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            icon = QApplication.windowIcon()
            if icon.isNull():
                icon = self.window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
            self.tray = QSystemTrayIcon(QIcon(icon), self)
            self.tray.setToolTip("xtalviewer: watching the imager folders")
            self.tray.messageClicked.connect(self._tray_clicked)
            self.tray.show()
        elif not on and self.tray is not None:
            self.tray.hide()
            self.tray.deleteLater()
            self.tray = None

    def _tray_clicked(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        self.window.open_dialog("hits")

    # -- the folders dialog and the offer after an import -----------------------------------------------

    def open_folders(self, open_one: QWidget | None = None) -> WatchDialog:
        """File > Watched folders… (one at a time): the folders, the switch, what the watcher said."""
        try:
            if open_one is not None and open_one.isVisible():
                open_one.raise_()
                open_one.activateWindow()
                return open_one
        except RuntimeError:
            pass
        s = self.window.settings
        self.dialog = WatchDialog(s.watch_folders, s.watch_enabled, self.lines, self.set_folders, self.window)
        self.dialog.show()
        return self.dialog

    def offer(self, paths: Sequence[str]) -> None:
        """After File > Import: offer, once ever, to watch the folder imported from now on."""
        s = self.window.settings
        if s.watch_offered or s.watch_enabled or not paths:
            return
        folder = folder_to_offer(str(paths[0]))
        s.watch_offered = True  # asked once, whatever the answer
        self.window.save_settings()
        box = QMessageBox(QMessageBox.Icon.Question, "Watch this folder?",
                          f"Watch {folder} from now on?\n\nWhile xtalviewer is open, each new inspection the "
                          "imager writes there is imported once its files are complete and scored with the "
                          "active model, and new hits are announced.\n\nFile > Watch imager folders "
                          "(Ctrl+Shift+W) turns it on and off; this question is not asked again.",
                          QMessageBox.StandardButton.NoButton, self.window)
        watch = box.addButton("&Watch it", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("&Not now", QMessageBox.ButtonRole.RejectRole)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.finished.connect(lambda *_: self._offer_answered(folder, box.clickedButton() is watch))
        self.offer_box = box
        box.show()

    def _offer_answered(self, folder: str, yes: bool) -> None:
        self.offer_box = None
        if yes:
            s = self.window.settings
            self.set_folders([*s.watch_folders, folder] if folder not in s.watch_folders else s.watch_folders, True)
            self.window.say(f"Watching {folder}", 6000)
