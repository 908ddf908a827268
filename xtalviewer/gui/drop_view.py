"""The drop on screen: title, image, time course and side panel, fed from the review session. The
image is decoded off the GUI thread, the next drops of the queue prefetched; a drop that cannot be
decoded is marked once and shown with the reason."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from xtalviewer.core.review import ReviewSession
from xtalviewer.gui.drop_panel import DropPanel
from xtalviewer.gui.image_pane import ImagePane
from xtalviewer.gui.loader import BackgroundLoader
from xtalviewer.gui.scoring import LiveScoring

PREFETCH = 3


class DropView(QObject):
    shown = Signal(int)  # image id, once its image and prediction are painted
    unreadable = Signal(int)  # a drop newly marked unreadable: repaint it

    def __init__(self, session: ReviewSession, pane: ImagePane, panel: DropPanel, images: BackgroundLoader,
                 thumbs: BackgroundLoader, scoring: LiveScoring, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.pane, self.panel, self.images, self.scoring = session, pane, panel, images, scoring
        self.image_view = pane.image_view
        self._pending: int | None = None
        self.closed = False  # after the window closed, nothing touches the store
        images.ready.connect(self._image_ready)
        images.failed.connect(self._image_failed)
        thumbs.failed.connect(self._thumb_failed)

    def show(self) -> None:
        """Everything about the session's current drop; the image from memory or on its way."""
        s, r = self.session, self.session.current_drop
        self.show_prediction(history=s.history())
        self.pane.set_course(s.time_course(), r and r["id"])
        if r is None:
            self.pane.title.setText("")
            self.image_view.show_message(None, "No drop selected" if s.inspection is None else
                                         "No drops match the filters")
            return
        self._pending = r["id"]
        self.pane.title.setText(f"{s.inspection['barcode']}  {r['well']}  drop {r['drop_no']}  ·  "
                                f"{Path(r['path']).name}")
        self.scoring.prioritize(r["id"])
        if r.get("load_error"):
            self._image_failed(r["id"], r["load_error"])
            return
        for ahead in range(PREFETCH, 0, -1):  # queued first, served last (LIFO)
            nxt = s.row(s.current + ahead)
            if nxt and not nxt.get("load_error"):
                self.images.request(nxt["id"], nxt["path"])
        image = self.images.request(r["id"], r["path"])
        if image is not None:
            self._image_ready(r["id"], image)
        elif self.images.error(r["id"]):
            self._image_failed(r["id"], self.images.error(r["id"]))
        elif self.image_view.image_key != r["id"]:
            self.image_view.show_message(r["id"], "Loading…")

    def show_prediction(self, history: list[dict] | None = None) -> None:
        """The side panel: prediction, hit call, label state (and the history when given)."""
        s, r = self.session, self.session.current_drop
        pending = self.scoring.running() and bool(r) and not r.get("top1") and not r.get("load_error")
        self.panel.show_drop(s.model["name"] if s.model else None, r, s.operating_point, pending=pending,
                             shown_label=r and s.shown_label(r), history=history)

    def scored(self, image_id: int, error: str | None) -> None:
        """Live scoring reached this drop (the session holds its prediction or error already)."""
        if image_id != self.session.current_image_id:
            return
        if error:
            self._image_failed(image_id, error)
        else:
            self.show_prediction()
            self._painted(image_id)

    def _painted(self, image_id: int) -> None:
        if self._pending == image_id:
            self._pending = None
            self.shown.emit(image_id)

    def _image_ready(self, key, image) -> None:
        if key == self.session.current_image_id:
            self.image_view.show_image(key, image)
            self._painted(key)

    def _mark(self, key, error: str) -> None:
        if not self.closed and self.session.mark_unreadable(key, error):
            self.unreadable.emit(key)

    def _image_failed(self, key, error: str) -> None:
        self._mark(key, error)
        if key == self.session.current_image_id:
            path = self.session.current_drop["path"]
            self.image_view.show_message(key, f"This image cannot be shown:\n{error}\n\n{path}")
            self._painted(key)

    def _thumb_failed(self, key, error: str) -> None:
        if key == self.session.current_image_id and not self.image_view.has_image():
            self._image_failed(key, error)
        else:
            self._mark(key, error)
