"""The watcher's thread for the review window: the Qt-free ``WatchService`` of ``xtalviewer/watch`` run
on a thread of its own (never the GUI thread), with its own store connection. Its callbacks, called
on that thread, cross to the GUI thread as one queued signal; what a stopped run still says is
dropped there, but for its end. ``gui/app/watching.py`` is the window's side.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal

from xtalviewer.watch import InspectionScored, WatchCallbacks, WatchConfig, WatchService, WatchState
from xtalviewer.watch.events import where_raised

CLOSE_WAIT_S = 5.0  # closing the window waits this long for the watcher's thread


class _ReportingService(WatchService):
    """The service, saying its state (``WatchService.state``) when it changed: after each turn, and
    after each report within one (an import and the scoring that follows it are one turn)."""

    def __init__(self, config: WatchConfig, callbacks: WatchCallbacks, on_state):
        super().__init__(config, callbacks)
        self._on_state = on_state
        self._told: WatchState | None = None
        self._told_at_turn_end: WatchState | None = None

    def poll_once(self) -> list[InspectionScored]:
        try:
            return super().poll_once()
        finally:
            self.tell_state(turn_end=True)

    def tell_state(self, turn_end: bool = False) -> None:
        """In the watcher's thread: its state to the owner, (state, turn_end), when it changed since
        last told. Within a turn it is partial: an inspection just imported is not yet waiting to be
        scored; at a turn's end it is whole."""
        state = self.state()
        if state != self._told or turn_end and state != self._told_at_turn_end:
            self._told = state
            if turn_end:
                self._told_at_turn_end = state
            self._on_state((state, turn_end))


def _watch(service: WatchService, stop: threading.Event, send) -> None:
    """The thread: the service's loop until ``stop``, then its end (with the error that ended it, if any)."""
    error = None
    try:
        service.run(stop)
    except Exception as exc:  # the service keeps going through share, database and model failures
        error = f"{type(exc).__name__}: {exc} ({where_raised(exc)})"
    send("ended", error)


class BackgroundWatch(QObject):
    """One ``WatchService`` at a time on its own thread; its reports arrive here as signals on the GUI thread."""

    status = Signal(str)  # every line the watcher says
    imported = Signal(object)  # InspectionImported
    scored = Signal(object)  # InspectionScored
    new_hits = Signal(object)  # NewHits
    state = Signal(object)  # (WatchState, at a turn's end), when it changed
    ended = Signal(object)  # the thread finished: None, or the error that ended it

    _arrived = Signal(int, str, object)  # run, kind, payload: from the watcher's thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._run = 0
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._service: WatchService | None = None
        self.closed = False
        self._arrived.connect(self._arrive, Qt.ConnectionType.QueuedConnection)

    def running(self) -> bool:
        """A run's thread has started and its end has not arrived yet."""
        return self._thread is not None

    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def start(self, config: WatchConfig) -> None:
        """Start watching (the run before must have ended: ``running()`` is False)."""
        if self.running():
            raise RuntimeError("the watcher is still running")
        self._run += 1
        run, arrived = self._run, self._arrived

        def send(kind: str, payload: object) -> None:
            try:
                arrived.emit(run, kind, payload)
            except RuntimeError:  # the window is gone
                pass

        def report(kind: str):
            def told(event: object) -> None:
                send(kind, event)
                service.tell_state()  # files no longer arriving, an inspection waiting to be scored
            return told

        callbacks = WatchCallbacks(status=lambda text: send("status", text), imported=report("imported"),
                                   scored=report("scored"), new_hits=lambda event: send("new_hits", event))
        service = self._service = _ReportingService(config, callbacks, lambda state: send("state", state))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_watch, args=(self._service, self._stop, send), name="watch",
                                        daemon=True)
        self._thread.start()

    def stop(self, wait: float = 0.0) -> bool:
        """Ask the run to end after its current step (scoring stops between two batches); wait up to
        ``wait`` seconds for its thread. True when no thread is left running."""
        thread = self._thread
        if self._stop is not None:
            self._stop.set()
            self._service.wake()
        if thread is None:
            return True
        if wait:
            thread.join(wait)
        return not thread.is_alive()

    def close(self, wait: float = CLOSE_WAIT_S) -> bool:
        """The window is closing: stop, report nothing more, wait for the thread a while."""
        self.closed = True
        return self.stop(wait)

    def _arrive(self, run: int, kind: str, payload: object) -> None:
        if self.closed or run != self._run:
            return
        if kind == "ended":
            self._thread = self._stop = self._service = None
            self.ended.emit(payload)
        elif not self.stopping():  # what a run asked to stop still says is not news
            getattr(self, kind).emit(payload)
