"""The drop on screen: title, image (in the imaging mode shown, or two modes side by side), time
course and side panel, fed from the review session. Images are decoded off the GUI thread, the
next drops of the queue prefetched; a drop that cannot be decoded is marked once and shown with
the reason. C outlines the region the model crops, G lays over the image where the model sees a
crystal (Grad-CAM of the active model), each computed on a worker thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from xtalviewer.model.crop_box import shown_crop
from xtalviewer.model.gradcam import cam_for, heat_rgba, legend_scale
from xtalviewer.review.session import ReviewSession
from xtalviewer.store.rows import Annotation, Flag, Image, QueueRow
from xtalviewer.store.schema import MODES
from xtalviewer.gui.drop.side_panel import DropPanel
from xtalviewer.gui.drop.image_pane import ImagePane
from xtalviewer.gui.drop.image_view import ImageView
from xtalviewer.gui.drop.loader import BackgroundLoader, from_qimage, rgba_qimage, to_qimage
from xtalviewer.gui.plate.scoring import LiveScoring
from xtalviewer.gui.tasks import TaskRunner

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
        self._wanted: dict[ImageView, int] = {}  # the image id each view waits for
        self.closed = False  # after the window closed, nothing touches the store
        self.crop_shown = False  # C: outline the model's crop box on the image
        self._crop_task = TaskRunner(self)
        self.cam_shown = False  # G: where the active model sees a crystal (Grad-CAM)
        self._cam_task = TaskRunner(self)
        images.ready.connect(self._image_ready)
        images.failed.connect(self._image_failed)
        thumbs.failed.connect(self._thumb_failed)

    def show(self) -> None:
        """Everything about the session's current drop; the image from memory or on its way, in the
        imaging mode the session shows (or two modes side by side)."""
        s, r = self.session, self.session.current_drop
        self.show_prediction(history=s.history())
        self.panel.show_condition(s.condition_of(r), has_screen=bool(s.conditions))
        images = s.mode_images() if r else {}
        shown = images.get(s.shown_mode) or r
        pair = side_by_side_modes(images, s.shown_mode) if s.side_by_side else None
        self.pane.show_modes(s.modes, s.shown_mode, pair)
        self.pane.set_course(s.time_course(), shown and shown.id)
        if r is None:
            self.pane.title.setText("")
            self._wanted = {}
            self.image_view.show_message(None, "No drop selected" if s.inspection is None else
                                         "No drops match the filters")
            return
        self._pending = r.id
        self.pane.title.setText(f"{s.inspection.barcode}  {r.well}  drop {r.drop_no}  ·  "
                                f"{Path(shown.path).name}")
        self.scoring.prioritize(r.id)
        for ahead in range(PREFETCH, 0, -1):  # queued first, served last (LIFO)
            nxt = s.row(s.current + ahead)
            if nxt and not nxt.load_error:
                self.images.request(nxt.id, nxt.path)
        views = [(self.image_view, images[pair[0]]), (self.pane.second_view, images[pair[1]])] if pair else \
            [(self.image_view, shown)]
        self._wanted = {view: row.id for view, row in views}
        for view, row in views:
            self._load(view, row)

    def set_crop_shown(self, on: bool) -> None:
        """C: show or hide the model's crop box on the image."""
        self.crop_shown = on
        if on:
            self._find_crop()
        else:
            self._crop_task.cancel()
            self.image_view.clear_crop()

    def set_cam_shown(self, on: bool) -> None:
        """G: show or hide where the active model sees a crystal on the image."""
        self.cam_shown = on
        if on:
            self._find_cam()
        else:
            self._cam_task.cancel()
            self.image_view.clear_heat()

    def model_changed(self) -> None:
        """Another model crops and sees differently: find the box and the heat map again."""
        self.image_view.clear_crop()
        self.image_view.clear_heat()
        self._find_crop()
        self._find_cam()

    def _find_cam(self) -> None:
        """The Grad-CAM of the image on screen, computed off the GUI thread on the decoded image."""
        view = self.image_view
        key, image = view.image_key, view.pixmap_image()
        if not self.cam_shown or image is None or view.heat_key == key:
            return
        model = self.session.model
        if model is None or not model.path:
            view.show_heat(key, rgba_qimage(np.zeros((1, 1, 4), np.uint8)), "no model to explain: G shows where "
                           "the active model sees a crystal", to_qimage(legend_scale()))
            return

        def explain(state, image, path):
            crystal_map = cam_for(path).explain(from_qimage(image))
            return key, rgba_qimage(heat_rgba(crystal_map.heat, segments=crystal_map.segments)), crystal_map.caption

        self._cam_task.start(explain, image, model.path, on_done=self._cam_found,
                             on_failed=lambda err: view.show_heat(key, rgba_qimage(np.zeros((1, 1, 4), np.uint8)),
                                                                  f"no Grad-CAM: {err}", to_qimage(legend_scale())))

    def _cam_found(self, result) -> None:
        key, heat, caption = result
        self.image_view.show_heat(key, heat, f"{caption}\ncolour: little (blue) to most (red) evidence",
                                  to_qimage(legend_scale()))

    def _find_crop(self) -> None:
        """Find the crop box of the image on screen off the GUI thread (on the decoded image)."""
        view = self.image_view
        key, image = view.image_key, view.pixmap_image()
        if not self.crop_shown or image is None or view.crop_key == key:
            return
        model = self.session.model
        normalization = model.normalization if model else None

        def find(state, image, normalization):
            return key, shown_crop(from_qimage(image), normalization)

        self._crop_task.start(find, image, normalization, on_done=self._crop_found)

    def _crop_found(self, result) -> None:
        key, crop = result
        self.image_view.show_crop(key, (crop.x0, crop.y0, crop.x1, crop.y1), crop.caption)

    def _load(self, view: ImageView, row: QueueRow | Image) -> None:
        if row.load_error:
            self._image_failed(row.id, row.load_error)
            return
        image = self.images.request(row.id, row.path)
        if image is not None:
            self._image_ready(row.id, image)
        elif self.images.error(row.id):
            self._image_failed(row.id, self.images.error(row.id))
        elif view.image_key != row.id:
            view.show_message(row.id, "Loading…")

    def show_prediction(self, history: list[Annotation | Flag] | None = None) -> None:
        """The side panel: prediction, hit call, label state (and the history when given); in
        blind review the model's answer is hidden."""
        s, r = self.session, self.session.current_drop
        pending = self.scoring.running() and bool(r) and not r.top1 and not r.load_error
        self.panel.show_drop(s.model.name if s.model else None, r, s.operating_point, pending=pending,
                             shown_label=r and s.shown_label(r), history=history, blind=s.blind)

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
        for view, wanted in self._wanted.items():
            if wanted == key:
                view.show_image(key, image)
                if view is self.image_view:
                    self._painted(self.session.current_image_id)
                    self._find_crop()
                    self._find_cam()

    def _mark(self, key, error: str) -> None:
        if not self.closed and self.session.mark_unreadable(key, error):
            self.unreadable.emit(key)

    def _image_failed(self, key, error: str) -> None:
        self._mark(key, error)
        for view, wanted in self._wanted.items():
            if wanted == key:
                path = next((r.path for r in self.session.mode_images().values() if r.id == key), "")
                view.show_message(key, f"This image cannot be shown:\n{error}\n\n{path}")
                if view is self.image_view:
                    self._painted(self.session.current_image_id)

    def _thumb_failed(self, key, error: str) -> None:
        if key == self._wanted.get(self.image_view) and not self.image_view.has_image():
            self._image_failed(key, error)
        else:
            self._mark(key, error)


def side_by_side_modes(images: dict[str, QueueRow | Image], shown: str) -> list[str] | None:
    """The two modes to show side by side: visible on the left, the shown mode (or the next one)
    on the right; None when the drop has one mode."""
    modes = [m for m in MODES if m in images] + sorted(m for m in images if m not in MODES)
    if len(modes) < 2:
        return None
    left = modes[0]
    right = shown if shown != left and shown in images else modes[1]
    return [left, right]
