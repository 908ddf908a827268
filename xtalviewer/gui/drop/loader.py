"""Decode images off the GUI thread, newest request first, with an in-memory LRU of results.

Used twice: for grid thumbnails (through the disk thumbnail cache) and for the full image on
screen (with the next drops prefetched). Requests are served last-in first-out, so when a
reviewer scrolls fast the thumbnails now in view come before the ones scrolled past. Results reach
the GUI thread through a ``tasks.Relay``: after ``clear`` or ``close`` nothing decoded before is delivered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from xtalviewer.imaging.decode import ImageLoadError
from xtalviewer.gui.tasks import Relay


def to_qimage(rgb: np.ndarray) -> QImage:
    """RGB uint8 (H, W, 3) -> a QImage that owns its pixels (safe to hand between threads)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgba_qimage(rgba: np.ndarray) -> QImage:
    """RGBA uint8 (H, W, 4) -> a QImage with its own pixels (an overlay with transparency)."""
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def from_qimage(image: QImage) -> np.ndarray:
    """A QImage (any format) -> an RGB uint8 (H, W, 3) copy; safe on a worker thread."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    rows = np.frombuffer(rgb.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return rows[:, : 3 * w].reshape(h, w, 3).copy()


class BackgroundLoader(QObject):
    """Runs ``load(key, payload) -> RGB array`` on worker threads; emits ``ready`` or ``failed``."""

    ready = Signal(object, QImage)
    failed = Signal(object, str)

    def __init__(self, load: Callable[[Hashable, object], np.ndarray], threads: int = 2, memory_items: int = 512,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._load = load
        self._memory: OrderedDict[Hashable, QImage] = OrderedDict()
        self._errors: dict[Hashable, str] = {}
        self._memory_items = memory_items
        self._pending: OrderedDict[Hashable, object] = OrderedDict()
        self._running: set[Hashable] = set()
        self._cv = threading.Condition()
        self._closed = False
        self._relay = Relay(self._deliver, self)
        self._threads = [threading.Thread(target=self._work, name=f"loader-{i}", daemon=True) for i in range(threads)]
        for t in self._threads:
            t.start()

    def cached(self, key: Hashable) -> QImage | None:
        with self._cv:
            image = self._memory.get(key)
            if image is not None:
                self._memory.move_to_end(key)
            return image

    def error(self, key: Hashable) -> str | None:
        return self._errors.get(key)

    def request(self, key: Hashable, payload: object) -> QImage | None:
        """The image if it is in memory; otherwise queue it (most recent request first) and return None."""
        with self._cv:
            image = self._memory.get(key)
            if image is not None:
                self._memory.move_to_end(key)
                return image
            if key in self._errors or key in self._running:
                return None
            self._pending[key] = payload
            self._pending.move_to_end(key)
            self._cv.notify()
        return None

    def idle(self) -> bool:
        """Nothing queued and nothing being decoded."""
        with self._cv:
            return not self._pending and not self._running

    def forget_pending(self) -> None:
        """Drop queued requests (e.g. another plate was opened); loads in progress finish."""
        with self._cv:
            self._pending.clear()

    def clear(self) -> None:
        """Forget everything; decodes still under way are not delivered."""
        with self._cv:
            self._pending.clear()
            self._memory.clear()
            self._errors.clear()
            self._relay.renew()

    def close(self) -> None:
        """Stop the threads; nothing is delivered after this (the receivers may be going away)."""
        self._relay.close()
        with self._cv:
            self._closed = True
            self._pending.clear()
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=2)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                key, payload = self._pending.popitem(last=True)
                self._running.add(key)
                ticket = self._relay.ticket
            try:
                image = to_qimage(self._load(key, payload))
                error = None
            except ImageLoadError as exc:
                image, error = None, str(exc)
            except Exception as exc:  # a loader must never die on one bad file
                image, error = None, f"{type(exc).__name__}: {exc}"
            with self._cv:
                self._running.discard(key)
                if self._closed:
                    return
                if ticket != self._relay.ticket:  # cleared while decoding
                    continue
                if image is not None:
                    self._memory[key] = image
                    while len(self._memory) > self._memory_items:
                        self._memory.popitem(last=False)
                else:
                    self._errors[key] = error
            if image is not None:
                self._relay.send(ticket, "ready", (key, image))
            else:
                self._relay.send(ticket, "failed", (key, error))

    def _deliver(self, kind: str, payload: tuple) -> None:
        (self.ready if kind == "ready" else self.failed).emit(*payload)
