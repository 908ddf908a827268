"""The window's ear on the store: colleagues' labels, second looks and model activations, read every
half second off the GUI thread through a connection of its own (``store/label_watch.py``: a NOTIFY
on PostgreSQL, ``PRAGMA data_version`` on a file; nothing is read while nothing changes) and handed
to the GUI thread as ``LiveNews``. A lost connection is said once and retried with back-off."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject

from xtalviewer.store.label_watch import LabelWatch, LiveNews
from xtalviewer.store.location import Location
from xtalviewer.store.store import Store
from xtalviewer.gui.tasks import TaskRunner, TaskState

POLL_S = 0.5  # how often the store is asked; a label shows on the other screens within about this
RETRY_FIRST_S, RETRY_MOST_S = 1.0, 30.0  # back-off while the store cannot be reached


@dataclass(frozen=True)
class Unheard:
    """The watch lost the store (``reason``, one line) and tries again in ``retry_s``."""

    reason: str
    retry_s: float


def listen(state: TaskState, location: Location, poll_s: float = POLL_S) -> None:
    """Until cancelled: report each non-empty ``LiveNews``, or ``Unheard`` while the store is away."""
    wake = threading.Event()
    state.on_cancel(wake.set)
    delay = RETRY_FIRST_S
    while not state.cancelled:
        try:
            with LabelWatch(Store(location, readonly=True)) as watch:
                delay = RETRY_FIRST_S
                state.partial(None)  # heard again (the window clears its note)
                while not state.cancelled:
                    news = watch.read()
                    if news:
                        state.partial(news)
                    wake.wait(poll_s)
        except Exception as exc:  # a dropped connection, a server restart, a file gone: say it, try again
            state.partial(Unheard(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                                  delay))
            wake.wait(delay)
            delay = min(delay * 2, RETRY_MOST_S)


class LiveLabels(QObject):
    """Starts ``listen`` for a window and delivers its reports on the GUI thread: ``on_news(LiveNews)``;
    ``on_unheard(text or None)`` when the watch loses the store (None: it is back)."""

    def __init__(self, location: Location, on_news: Callable[[LiveNews], None],
                 on_unheard: Callable[[str | None], None], parent: QObject | None = None, *, poll_s: float = POLL_S):
        super().__init__(parent)
        self.location, self.poll_s = location, poll_s
        self._on_news, self._on_unheard = on_news, on_unheard
        self._lost = False
        self.task = TaskRunner(self)

    def start(self) -> None:
        self.task.start(listen, self.location, self.poll_s, on_partial=self._arrived,
                        on_failed=lambda text: self._on_unheard(f"colleagues' labels stopped arriving: {text}"))

    def close(self, wait: float = 0.0) -> None:
        self.task.close(wait)

    def _arrived(self, report: LiveNews | Unheard | None) -> None:
        if isinstance(report, Unheard):
            self._lost = True
            self._on_unheard(f"colleagues' labels are not arriving ({report.reason}); "
                             f"trying again in {report.retry_s:g} s")
        elif report is None:
            if self._lost:
                self._lost = False
                self._on_unheard(None)
        else:
            self._on_news(report)
