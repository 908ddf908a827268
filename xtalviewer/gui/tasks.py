"""One background task at a time per owner, so the GUI thread only paints and handles input.

A ``TaskRunner`` belongs to one job of one view (the browser's counts, a plot tab, live scoring,
an import …). ``start`` cancels that runner's previous task; the task function runs on its own
thread with a ``TaskState`` through which it sees cancellation and reports progress and partial
results. Everything it reports comes back to the GUI thread as a queued signal, and a report from
a task that is no longer the runner's current one (cancelled, replaced, or the view closed) is
dropped in one place, ``Relay._arrive``, before any callback sees it. The image loaders deliver
through a ``Relay`` too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

DONE, FAILED, PROGRESS, PARTIAL = "done", "failed", "progress", "partial"


class TaskFailed(Exception):
    """Raised by a task to report exactly this text (a message made for the user, no exception type)."""


class TaskState:
    """What a running task sees of its runner: cancellation, and ways to report back."""

    def __init__(self, emit: Callable[[str, object], None]):
        self._emit = emit
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._on_cancel: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def on_cancel(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (from any thread) when the task is cancelled; at once if it already is."""
        with self._lock:
            if not self._cancelled.is_set():
                self._on_cancel.append(fn)
                return
        fn()

    def progress(self, done: int, total: int) -> None:
        self._emit(PROGRESS, (done, total))

    def partial(self, result: object) -> None:
        """A piece of the result, delivered to ``on_partial`` while the task goes on."""
        self._emit(PARTIAL, result)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            hooks, self._on_cancel = self._on_cancel, []
        for fn in hooks:
            fn()


class Relay(QObject):
    """Carries reports from worker threads to the GUI thread (a queued signal) and drops, in
    ``_arrive``, every report sent under a ticket that is no longer current or after ``close``."""

    _arrived = Signal(int, str, object)  # ticket, kind, payload

    def __init__(self, deliver: Callable[[str, object], None], parent: QObject | None = None):
        super().__init__(parent)
        self._deliver = deliver
        self.ticket = 0
        self.closed = False
        self._arrived.connect(self._arrive)

    def renew(self) -> int:
        """A new ticket: whatever is still on its way under older ones will be dropped."""
        self.ticket += 1
        return self.ticket

    def send(self, ticket: int, kind: str, payload: object) -> None:
        """From any thread."""
        try:
            self._arrived.emit(ticket, kind, payload)
        except RuntimeError:  # the owner was destroyed while the work went on
            pass

    def close(self) -> None:
        self.closed = True

    def _arrive(self, ticket: int, kind: str, payload: object) -> None:
        if self.closed or ticket != self.ticket:
            return  # stale: cancelled, replaced, or the owner closed
        self._deliver(kind, payload)


class TaskRunner(QObject):
    """Runs ``fn(state, *args)`` off the GUI thread, one task at a time; see the module docstring."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._relay = Relay(self._arrive, self)
        self._state: TaskState | None = None
        self._thread: threading.Thread | None = None
        self._callbacks: dict[str, Callable[..., None] | None] = {}

    def start(self, fn: Callable[..., object], *args, on_done: Callable[[Any], None] | None = None,
              on_failed: Callable[[str], None] | None = None,
              on_progress: Callable[[int, int], None] | None = None,
              on_partial: Callable[[Any], None] | None = None) -> TaskState:
        """Cancel the previous task, then run this one. ``on_failed`` gets 'ExceptionType: message'."""
        self.cancel()
        relay, ticket = self._relay, self._relay.renew()
        state = TaskState(lambda kind, payload: relay.send(ticket, kind, payload))
        self._state = state
        self._callbacks = {DONE: on_done, FAILED: on_failed, PROGRESS: on_progress, PARTIAL: on_partial}

        def run() -> None:
            try:
                result = fn(state, *args)
            except TaskFailed as exc:
                relay.send(ticket, FAILED, str(exc))
                return
            except Exception as exc:  # reported to the owner; the app keeps going
                relay.send(ticket, FAILED, f"{type(exc).__name__}: {exc}")
                return
            relay.send(ticket, DONE, result)

        self._thread = threading.Thread(target=run, name=f"task-{getattr(fn, '__name__', 'fn')}", daemon=True)
        self._thread.start()
        return state

    def running(self) -> bool:
        """A task is current and has not reported its end yet."""
        return self._state is not None

    def cancel(self, wait: float = 0.0) -> None:
        """Ask the current task to stop and drop whatever it still reports; ``wait`` seconds for its thread."""
        state, thread = self._state, self._thread
        self._state = None
        self._relay.renew()
        if state is not None:
            state.cancel()
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    def close(self, wait: float = 0.0) -> None:
        """The owner is going away: cancel, and never call back again."""
        self._relay.close()
        self.cancel(wait)

    def _arrive(self, kind: str, payload: object) -> None:
        callback = self._callbacks.get(kind)
        if kind in (DONE, FAILED):
            self._state = None
        if callback is None:
            return
        if kind == PROGRESS:
            callback(*payload)
        else:
            callback(payload)


def wait_for_daemon_threads(timeout: float) -> list[str]:
    """At exit, after every view closed its loaders and tasks: wait up to ``timeout`` seconds for the
    daemon threads still finishing their current piece of work (a loader decoding a 196-megapixel
    image, a scoring stage in the model); returns the names of those still running.

    Why: at interpreter exit Python stops a daemon thread the moment it next needs the interpreter.
    When that moment is inside C++ (OpenCV's decode, Qt, torch) the stop unwinds C++ frames that
    may not be unwound and the process aborts ("terminate called without an active exception",
    exit 134). Closing only asks the threads to stop; this waits until they have."""
    deadline = time.monotonic() + timeout
    dummy = getattr(threading, "_DummyThread", ())  # threads Python did not start: nothing to join
    for thread in threading.enumerate():
        if thread is threading.current_thread() or not thread.daemon or isinstance(thread, dummy):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threading.enumerate()
            if t is not threading.current_thread() and t.daemon and t.is_alive() and not isinstance(t, dummy)]
