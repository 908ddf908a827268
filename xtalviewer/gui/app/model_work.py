"""The model's background work as the review window shows it. Live scoring of the open plate
(``ScoringFeed``): started when a plate opens (a run goes on across the inspections of its plate),
each drop scored put into the session and painted at once, the title's hit count following a few
times a second, the end said in the status bar. Model ▸ Recalibrate (``recalibration``): the refitted
model activated, the result or the failure shown, the suggestion to recalibrate in the status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from xtalviewer.store.rows import Inspection
from xtalviewer.gui.plate.scoring import LiveScoring
from xtalviewer.gui.retrain.recalibrate import Recalibrator, show_failure, show_result

if TYPE_CHECKING:
    from xtalviewer.gui.app.main_window import MainWindow


class ScoringFeed(QObject):
    """Feeds ``scoring`` (the window's ``LiveScoring``) results into ``window``'s session and views."""

    def __init__(self, window: MainWindow, scoring: LiveScoring):
        super().__init__(window)
        self.window, self.scoring = window, scoring
        self.title_timer = QTimer(self, singleShot=True, interval=300,
                                  timeout=lambda: window.grid_box.show_title(window.session))
        scoring.scored.connect(self.scored)
        scoring.finished.connect(self.finished)
        scoring.progress.connect(window.status.scoring)

    def start(self, previous: Inspection | None = None) -> None:
        """Score the open plate with the session's model (what it has not seen, the drop on screen
        first). A run on the plate of ``previous`` goes on: it scores the whole plate."""
        w, inspection = self.window, self.window.inspection
        if previous and inspection and previous.plate_id == inspection.plate_id and self.scoring.running():
            return
        if not w.start_scoring or w.model is None or inspection is None:
            self.scoring.cancel()
            w.status.idle()
            return
        self.scoring.start(w.model, inspection.plate_id, w.settings.device, w.current_image_id())

    def scored(self, image_id: int, fields: dict | None, error: str | None) -> None:
        w = self.window
        w.session.apply_prediction(image_id, fields or {"load_error": error})  # the run marked the store
        w.drops.refresh([image_id])
        w.drop.scored(image_id, error)
        if not self.title_timer.isActive():  # the title's hit count follows, a few times a second
            self.title_timer.start()

    def finished(self, summary: dict) -> None:
        w = self.window
        w.status.idle()
        self.title_timer.stop()
        w.grid_box.show_title(w.session)
        if summary.get("error"):
            w.say(f"Scoring stopped: {summary['error']}", 15000)
        elif summary.get("total"):
            unmapped = summary.get("unmapped") or {}  # image root -> drops set aside (never marked unreadable)
            said = "; ".join([f"{summary['errors']} unreadable",
                              *(f"{n} under image root '{root}', not mapped here (Preferences > Image roots)"
                                for root, n in sorted(unmapped.items()))])
            w.say(f"Scored {summary['scored']} drops ({said})", 15000 if unmapped else 6000)
            w.refresh_browser()
        w.drop.show_prediction()


def recalibration(window: MainWindow) -> Recalibrator:
    """The window's recalibrator (``start`` refits the active model's hit threshold on the labels)."""
    recalibrator = Recalibrator(window.db_path, window)

    def done(model_id: int, summary: str) -> None:
        window.say(f"Recalibrated: {summary}", 15000)
        window.activate_model(model_id)
        show_result(window, summary)

    recalibrator.done.connect(done)
    recalibrator.failed.connect(lambda error: show_failure(window, error))
    recalibrator.suggestion.connect(lambda text: window.say(text, 20000))
    return recalibrator
