"""The threads behind a ``ScoringRun`` and the one rule that stops them together.

Decoder threads prepare images into a bounded queue, the caller's thread runs the forward pass, and
a writer thread stores each batch on its own connection. One ``Halt`` is shared by them all: the
first stage that fails records why and sets it, and every stage waits on its queue with a short
timeout and looks at it, so none waits for a message a failed stage will never send. (A writer that
stopped on a busy database once left the decoders unable to send their end markers, and the
collector waited for them for ever.) The writer's end marker is sent from the caller's ``finally``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

from xtalviewer.store.store import Store, StoreError

POLL_S = 0.1  # how often a waiting stage looks at the halt
END = object()  # a decoder's last message, and the caller's last message to the writer

class Halt:
    """The shared stop of one run: a cancel sets it without a reason, a failing stage with its reason
    (the first one is kept: later stages mostly fail because of it)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None

    def stop(self, reason: str | None = None) -> None:
        with self._lock:
            if reason is not None and self.reason is None:
                self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def offer(target: queue.Queue, item: object, halt: Halt) -> bool:
    """Put ``item`` on a bounded queue unless the run halts first; False when it did."""
    while not halt.is_set():
        try:
            target.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def failure_text(exc: BaseException) -> str:
    """One line for an exception: a StoreError says it all, anything else gets its type."""
    if isinstance(exc, StoreError):
        return str(exc)
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class PredictionWriter:
    """The writer stage: ``(predictions, load errors)`` batches, each committed in one transaction.

    Its queue is unbounded, so ``put`` never blocks the forward pass; ``finish`` sends END and waits
    (a write waits at most the store's busy timeout). On a failure it halts the run with the reason
    and stores nothing more; ``stored`` counts what was committed, all a summary may claim."""

    def __init__(self, db_path: str | Path, model_id: int, halt: Halt):
        self.db_path, self.model_id, self.halt = db_path, model_id, halt
        self.stored = 0
        self._outbox: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, predictions: list, load_errors: list[tuple[int, str]]) -> None:
        self._outbox.put((predictions, load_errors))

    def finish(self) -> None:
        self._outbox.put(END)
        self._thread.join()

    def _run(self) -> None:
        store = None
        try:
            store = Store(self.db_path)
            while (batch := self._outbox.get()) is not END:
                predictions, load_errors = batch
                if predictions:
                    self.stored += store.put_predictions(self.model_id, predictions)
                for image_id, reason in load_errors:
                    store.mark_load_error(image_id, reason)
        except Exception as exc:  # nothing more can be stored: the whole run stops and says why
            self.halt.stop(f"predictions could not be stored: {failure_text(exc)}")
        finally:
            if store is not None:
                store.close()


class DecodeStage:
    """Decoder threads and the batches they fill.

    Each thread takes the next item (``take``), prepares it (``prepare``: never raises for a bad
    file, it returns the reason) and queues it: an urgent one (the drop on screen) on its own queue,
    which ``next_batch`` empties first, the rest on a bounded queue. A thread's last message is END,
    sent in ``finally``; after a halt nothing waits for it. On a CPU (``overlap`` False) the decoders
    run only between forward passes (the ``gate``), so they do not preempt the model's threads.
    """

    def __init__(self, halt: Halt, batch_size: int, *, overlap: bool, queue_size: int):
        self.halt, self.batch_size, self.overlap = halt, batch_size, overlap
        self._ready: queue.Queue = queue.Queue(maxsize=queue_size)
        self._urgent: queue.Queue = queue.Queue()
        self.gate = threading.Event()
        self.gate.set()
        self._live = 0
        self._threads: list[threading.Thread] = []

    def start(self, workers: int, take: Callable[[], object | None], prepare: Callable[[object], tuple],
              is_urgent: Callable[[int], bool]) -> None:
        self._live = workers
        self._threads = [threading.Thread(target=self._decode, args=(take, prepare, is_urgent), name=f"decode-{i}",
                                          daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def done(self) -> bool:
        """Nothing more will come: the run halted, or every decoder ended and no urgent image waits."""
        return self.halt.is_set() or (not self._live and self._urgent.empty())

    def stop(self, timeout: float = 5.0) -> None:
        """After ``halt.stop()``: wake the decoders and wait for them."""
        self.gate.set()
        for thread in self._threads:
            thread.join(timeout)

    def _decode(self, take, prepare, is_urgent) -> None:
        try:
            while not self.halt.is_set():
                if not self.gate.wait(timeout=POLL_S):
                    continue
                item = take()
                if item is None:
                    break
                prepared = prepare(item)
                if is_urgent(item.image_id):
                    self._urgent.put(prepared)
                elif not offer(self._ready, prepared, self.halt):
                    break
        except Exception as exc:  # a bug, not a bad file (prepare reports those): stop the run, say why
            self.halt.stop(f"decoding stopped: {failure_text(exc)}")
        finally:
            offer(self._ready, END, self.halt)

    def next_batch(self) -> list:
        """The next batch ([] when the run halted or the decoders ended). Urgent images go first and
        at once, without waiting for a full batch; otherwise wait for one prepared image, then add
        what else is ready (on a CPU: wait for a full batch while the decoders have every core)."""
        self.gate.set()
        try:
            batch = self._take_urgent()
            if batch:
                return batch
            while not batch and self._live and not self.halt.is_set():
                batch = self._take_urgent()
                if batch:
                    return batch
                self._receive(batch, timeout=0.05)
            while batch and len(batch) < self.batch_size and self._live and not self.halt.is_set():
                if self._urgent.qsize():
                    break
                if not self._receive(batch, timeout=0.05 if self.overlap else 0.5) and self.overlap:
                    break
            return self._take_urgent() + batch  # one that arrived meanwhile still goes first
        finally:
            if not self.overlap:
                self.gate.clear()  # the forward pass gets the cores

    def _receive(self, batch: list, timeout: float) -> bool:
        """Add one prepared image to ``batch`` (or count a decoder's END); False when none came in time."""
        try:
            got = self._ready.get(timeout=timeout)
        except queue.Empty:
            return False
        if got is END:
            self._live -= 1
        else:
            batch.append(got)
        return True

    def _take_urgent(self) -> list:
        batch = []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._urgent.get_nowait())
            except queue.Empty:
                break
        return batch
