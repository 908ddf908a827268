"""The watcher: new inspections imported once their files are complete, scored, and announced.

``WatchService`` is a plain object with no thread of its own: ``run(stop_event)`` loops until the
event is set (the command runs it in its main thread; the app's watch panel in a QThread), and
``poll_once()`` is one turn of that loop for an owner that wants to drive it itself. Each turn:

1. looks whether each folder is there (a lost one is retried with back-off, a found one scanned);
2. takes the image files of the sub-folders that changed and keeps those the store does not know,
   grouped by the plate and inspection an import files them under (``inspection_of_file``), so an
   inspection spread over several folders (Rock Maker, HWI) arrives as one;
3. stats the waiting files: an inspection is ready when every file of it is complete
   (``completeness``), i.e. no file changed for the settle time and each carries its end marker;
4. imports each ready inspection (``import_paths`` with exactly its files) and scores its drops
   with the active model through the predict pipeline (``ScoringRun``: decoding threads, batched
   forward passes, a writer thread), the scorer kept loaded between inspections;
5. reports one line per inspection (plate, inspection, drops, hits, new hits) and rewrites the
   summary file when one is set.

Restart is safe: the store knows the files it imported (known files are never imported again), and
at start every unscored drop under the watched folders is scored (an inspection imported just
before a stop). Failures of a share, the database or the model are logged and retried with
back-off; none ends the watcher.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from xtalviewer.importers import ImportPathError
from xtalviewer.importers.filenames import ParseContext
from xtalviewer.model.registry import current_model
from xtalviewer.store.store import Store, StoreError
from xtalviewer.watch.arrivals import Arriving, Arrivals, import_arrived
from xtalviewer.watch.events import (FolderState, InspectionImported, InspectionScored, WatchCallbacks, WatchState,
                                     where_raised)
from xtalviewer.watch.config import WatchConfig
from xtalviewer.watch.folders import EventSource, WatchedFolder
from xtalviewer.watch.scoring import (LoadedModel, ModelChoice, drops_to_score, score_drops, scored_events,
                                      unscored_under, write_summary)

PENDING_TICK_S = 0.5  # how often waiting files are looked at
BURST_S = 0.2  # after an event, wait this long for the rest of a burst before a turn
MAX_DROPS_PER_TURN = 2000  # a backlog is imported and scored in slices, so a stop is heard between them
GIVE_UP_FAILURES = 5  # an inspection whose import fails this often (not a share or database problem) is set aside


@dataclass
class _ToScore:
    """An inspection in the store waiting for its scores; ``imported`` when this watcher imported it."""

    inspection_id: int
    imported: InspectionImported | None = None
    announced: bool = False  # its "imported, not scored" line was said


class WatchService:
    """See the module docstring. Create it anywhere; call ``start``/``poll_once``/``run``/``close``
    from one thread (its store connection belongs to the thread that opens it)."""

    def __init__(self, config: WatchConfig, callbacks: WatchCallbacks | None = None):
        self.config = config
        self.callbacks = callbacks or WatchCallbacks()
        self.folders = [WatchedFolder(f, force_poll_s=config.poll_s, poll_s=config.poll_s or config.auto_poll_s,
                                      backoff=config.backoff) for f in config.folders]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._events: EventSource | None = None
        self._store: Store | None = None
        self._arriving = Arrivals()
        self._to_score: dict[int, _ToScore] = {}
        self._score_retry_at = 0.0
        self._score_delay: float | None = None
        self._model = LoadedModel(config.device)
        self._model_note: str | None = None  # the last "not scored because" said, so it is said once
        self._started = False
        self._one_pass = False
        self.imported = 0
        self.scored = 0

    # -- the owner's controls -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store and look at the folders (the first ``poll_once`` does it when not called)."""
        if self._started:
            return
        self._started = True
        self._store = Store(self.config.db)
        if self.config.events and not self._one_pass:
            self._events = EventSource(self.wake)
        self._say(f"{'One pass over' if self._one_pass else 'Watching'} {len(self.folders)} folder"
                  f"{'s' * (len(self.folders) != 1)} into {self.config.db}; an inspection is imported when its "
                  f"files have not changed for {self.config.settle_s:g} s and each has its end marker.")
        self._catch_up()

    def wake(self) -> None:
        """Make ``run`` take its next turn now (a change event, a stop)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask ``run`` to end after the current step (a scoring run is cancelled between batches)."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Turn until ``stop_event`` (or ``stop()``) is set; closes the service at the end."""
        if stop_event is not None:
            self._stop = stop_event
        try:
            self.start()
            while not self._stop.is_set():
                self.poll_once()
                if self._stop.is_set():
                    break
                if self._wake.wait(self.next_wait()):
                    self._wake.clear()
                    self._stop.wait(BURST_S)
        finally:
            self.close()

    def run_once(self, time_limit_s: float | None = None) -> int:
        """One pass for a scheduled job: look at every folder, wait for the files found to be
        complete (at most ``time_limit_s``, default twice the settle time plus 10 s), import and
        score them, and return the number of files still arriving (left for the next pass)."""
        limit = time_limit_s if time_limit_s is not None else 2 * self.config.settle_s + 10
        self._one_pass = True  # no observer: the pass lists every folder itself
        try:
            self.start()
            end = time.monotonic() + limit
            while not self._stop.is_set():
                self.poll_once()
                if not self._arriving or time.monotonic() >= end:
                    break
                self._stop.wait(min(self.next_wait(), max(0.0, end - time.monotonic())))
            left = self._arriving.file_count
            if left:
                self._say(f"{left} file{'s' * (left != 1)} still arriving or incomplete in "
                          f"{len(self._arriving)} inspection{'s' * (len(self._arriving) != 1)}; left for the next "
                          "pass.")
            return left
        finally:
            self.close()

    def close(self) -> None:
        for folder in self.folders:
            folder.stop_events(self._events)
        if self._events is not None:
            self._events.close()
            self._events = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._started = False

    def next_wait(self) -> float:
        """Seconds until the next turn is due (``run`` waits this long unless woken)."""
        now = time.monotonic()
        waits = [1.0]
        if self._arriving:
            waits.append(PENDING_TICK_S)
        if self._to_score:
            waits.append(max(0.05, self._score_retry_at - now))
        waits += [max(0.05, f.next_due(now)) for f in self.folders]
        return min(waits)

    def state(self) -> WatchState:
        """A snapshot for a status view."""
        folders = tuple(FolderState(f.root, f.available, f.mode if f.available else "unavailable")
                        for f in self.folders)
        return WatchState(folders, self._arriving.file_count, len(self._arriving),
                          len(self._to_score), self.imported, self.scored, self._model.name, self._model_note)

    # -- one turn -------------------------------------------------------------------------------------------

    def poll_once(self) -> list[InspectionScored]:
        """One turn (see the module docstring); returns the inspections scored in it."""
        self.start()
        now = time.monotonic()
        ctx = ParseContext()
        for folder in self.folders:
            self._check_folder(folder, now, ctx)
        arriving_in = self._arriving.folders()
        for folder in self.folders:
            for files in folder.changes(now):
                self._consider(files, now, ctx)
            for files in folder.arriving(arriving_in, now):
                self._consider(files, now, ctx)
        self._arriving.observe(time.monotonic())
        ready = self._arriving.ready(time.monotonic(), self.config.settle_s, self.config.give_up(), MAX_DROPS_PER_TURN)
        for group in ready:
            if self._stop.is_set():
                break
            self._import(group)
        if self._to_score and time.monotonic() >= self._score_retry_at and not self._stop.is_set():
            return self._score()
        return []

    def _check_folder(self, folder: WatchedFolder, now: float, ctx: ParseContext) -> None:
        change = folder.check(now)
        if change is None:
            return
        what, reason = change
        if what == "lost":
            folder.stop_events(self._events)
            self._say(f"Folder {folder.root} is unavailable ({reason}); retrying in {folder.retry_delay:g} s.")
            return
        if what == "retry":
            self._say(f"Folder {folder.root} is still unavailable ({reason}); next try in {folder.retry_delay:g} s.")
            return
        mode = folder.choose_mode(self._events, "one pass" if self._one_pass else
                                  None if self.config.events else "change events off")
        said = {"found": f"Watching {folder.root}: {mode}.",
                "back": f"Folder {folder.root} is back after {reason}; rescanning ({mode}).",
                "replaced": f"Folder {folder.root} was replaced (remounted); rescanning ({mode})."}[what]
        self._say(said)
        for files in folder.full_scan(now):
            self._consider(files, now, ctx)
        # in the time a folder took to list, files of its arriving inspections may have changed
        self._arriving.observe(time.monotonic())

    # -- arriving files --------------------------------------------------------------------------------------

    def _consider(self, files: list[str], now: float, ctx: ParseContext) -> None:
        """Files of one changed sub-folder: those neither known to the store nor already waiting
        join the inspection an import would file them under."""
        fresh = self._arriving.new_files(files)
        if not fresh:
            return
        try:
            known = self._store.known_files(fresh)
        except (StoreError, sqlite3.Error) as exc:
            folder = os.path.dirname(fresh[0])
            self._say(f"Database busy or unavailable while looking at {folder} ({exc}); looking again.")
            for watched in self.folders:  # listed again next turn (a poll would not: its time did not move)
                watched.mark_changed(folder)
            return
        self._arriving.take([p for p in fresh if p not in known], now, ctx)

    # -- import ------------------------------------------------------------------------------------------------

    def _import(self, group: Arriving) -> None:
        ready_at = time.monotonic()
        paths = sorted(p for p in group.files if os.path.lexists(p))
        truncated = tuple(p for p, f in group.files.items() if f.truncated)
        if not paths:
            self._arriving.forget(group)
            return
        try:
            event = import_arrived(self._store, group, paths, ready_at)
        except ImportPathError:
            return  # a file went away between the look and the import: the next turn sees what is left
        except (StoreError, sqlite3.Error, OSError) as exc:
            group.retry_at = time.monotonic() + self.config.backoff.first
            self._say(f"Plate {group.plate}, inspection {group.key}: import failed ({exc}); "
                      f"retrying in {self.config.backoff.first:g} s.")
            return
        except Exception as exc:  # an importer bug must not end a watcher that runs for months
            group.failures += 1
            self._say(f"Plate {group.plate}, inspection {group.key}: import failed "
                      f"({type(exc).__name__}: {exc}; {where_raised(exc)})"
                      + ("; set aside until the watcher restarts." if group.failures >= GIVE_UP_FAILURES
                         else "; retrying."))
            if group.failures >= GIVE_UP_FAILURES:
                self._arriving.set_aside(group)
            else:
                group.retry_at = time.monotonic() + self.config.backoff.first * group.failures
            return
        try:  # files the import skipped (a second image of a drop) must not arrive again and again
            self._arriving.remember_skipped(paths, self._store.known_files)
        except (StoreError, sqlite3.Error):
            pass
        self._arriving.forget(group)
        if event is None:
            return  # nothing of it could be filed (every file skipped); the import's report said why
        self.imported += 1
        if truncated:
            self._say(f"Plate {group.plate}, inspection {group.key}: {len(truncated)} file"
                      f"{'s' * (len(truncated) != 1)} never got an end marker (e.g. {truncated[0]}); imported "
                      "as they are (marked unreadable if they cannot be decoded).")
        self._emit("imported", event)
        self._to_score[event.inspection_id] = _ToScore(event.inspection_id, event)

    # -- scoring -------------------------------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """At start: drops under the watched folders that were imported but not scored (the watcher
        stopped between the two, or they were imported by hand) are scored first."""
        try:
            model = current_model(self._store)
            if model is None:
                return
            roots = [f.real_root for f in self.folders]
            drops, inspections = unscored_under(self._store, model.id, roots)
        except (StoreError, sqlite3.Error) as exc:
            self._say(f"Could not look for unscored drops at start ({exc}); they are scored when their "
                      "inspection is next imported or at the next start.")
            return
        if inspections:
            self._say(f"Catching up: {drops} unscored drop{'s' * (drops != 1)} in {len(inspections)} "
                      f"inspection{'s' * (len(inspections) != 1)} under the watched folders.")
        for inspection_id in sorted(inspections):
            self._to_score.setdefault(inspection_id, _ToScore(inspection_id))

    def _score_later(self, reason: str | None) -> None:
        self._score_delay = self.config.backoff.after(self._score_delay)
        self._score_retry_at = time.monotonic() + self._score_delay
        if reason:
            self._say(f"Scoring stopped: {reason}; retrying in {self._score_delay:g} s.")

    def _not_scoring(self, choice: ModelChoice) -> None:
        """No model to score with: said once while the reason stays, and still one line per inspection."""
        if choice.reason != self._model_note:
            self._model_note = choice.reason
            self._say(f"Not scoring: {choice.reason}; {choice.hint}.")
        for job in self._to_score.values():
            if job.imported is not None and not job.announced:
                job.announced = True
                e = job.imported
                self._say(f"Plate {e.plate}, inspection {e.inspection}: {e.drops} drops"
                          f"{f', {e.unreadable} unreadable' if e.unreadable else ''}; imported, not scored "
                          f"({choice.reason}).")
        self._score_later(None)

    def _score(self) -> list[InspectionScored]:
        batch = sorted(self._to_score)[: max(1, MAX_DROPS_PER_TURN // 192)]  # ~192 drops a 96-well 2-drop inspection
        try:
            choice = self._model.current(self._store)
            if choice.model is None:
                self._not_scoring(choice)
                return []
            if choice.loaded:
                self._say(f"Scoring with {choice.loaded}.")
            self._model_note = None
            model_id = choice.model.id
            items, inspection_of = drops_to_score(self._store, model_id, batch)
        except (StoreError, sqlite3.Error) as exc:
            self._score_later(f"database busy or unavailable ({exc})")
            return []
        outcome = score_drops(choice.scorer, items, inspection_of, db=self.config.db, model_id=model_id,
                              batch_size=self.config.batch_size, workers=self.config.workers, stop=self._stop)
        if outcome.failure:
            self._score_later(outcome.failure)
            return []
        if outcome.cancelled:
            return []  # stopping: the rest is scored at the next start
        stored_at = time.monotonic()
        self._score_delay = None
        done = []
        try:
            for inspection_id in batch:
                job = self._to_score.pop(inspection_id)
                if self._store.inspection(inspection_id) is None:
                    continue  # deleted meanwhile
                done.append(self._report_scored(choice.model, job, outcome.per_inspection.get(inspection_id, 0),
                                                outcome.seconds, stored_at))
            self._write_summary(choice.model)
        except (StoreError, sqlite3.Error) as exc:
            self._say(f"Scored, but the counts could not be read ({exc}).")
        return done

    def _report_scored(self, model, job: _ToScore, scored: int, score_s: float, stored_at: float) -> InspectionScored:
        event, hits = scored_events(self._store, model, job.inspection_id, job.imported, scored=scored,
                                    score_s=score_s, stored_at=stored_at)
        self.scored += 1
        self._say(event.line())
        self._emit("scored", event)
        if hits is not None:
            self._emit("new_hits", hits)
        return event

    def _write_summary(self, model) -> None:
        if self.config.summary is None:
            return
        problem = write_summary(self._store, model, self.config.summary, self.config.summary_days)
        if problem:
            self._say(f"Summary {self.config.summary} could not be written ({problem}); tried again after the next "
                      "inspection.")

    # -- telling the owner ----------------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self.callbacks.status is not None:
            self.callbacks.status(text)

    def _emit(self, kind: str, event) -> None:
        callback: Callable | None = getattr(self.callbacks, kind)
        if callback is not None:
            callback(event)
