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
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from xtalviewer.importers import ImportPathError, import_paths, inspection_of_file
from xtalviewer.importers.filenames import ParseContext
from xtalviewer.model.registry import current_model
from xtalviewer.store.store import Store, StoreError
from xtalviewer.watch.completeness import FileWatch, first_look
from xtalviewer.watch.events import (
    FolderState,
    InspectionImported,
    InspectionScored,
    NewHit,
    NewHits,
    WatchCallbacks,
    WatchState,
)
from xtalviewer.watch.folders import DEFAULT_POLL_S, Backoff, EventSource, WatchedFolder
from xtalviewer.watch.scoring import (
    LoadedModel,
    ModelChoice,
    drops_to_score,
    inspection_counts,
    new_hits,
    row_value,
    score_drops,
    unscored_under,
)

DEFAULT_SETTLE_S = 30.0
PENDING_TICK_S = 0.5  # how often waiting files are looked at
BURST_S = 0.2  # after an event, wait this long for the rest of a burst before a turn
MAX_DROPS_PER_TURN = 2000  # a backlog is imported and scored in slices, so a stop is heard between them
HANDLED_LIMIT = 100_000  # files an import skipped (second images of a drop), remembered so they are not retried
GIVE_UP_FAILURES = 5  # an inspection whose import fails this often (not a share or database problem) is set aside


@dataclass
class WatchConfig:
    """What to watch and how. Times in seconds."""

    db: Path
    folders: Sequence[Path]
    settle_s: float = DEFAULT_SETTLE_S
    poll_s: float | None = None  # poll every poll_s everywhere; None: events where the file system has them
    auto_poll_s: float = DEFAULT_POLL_S  # the polling interval on network shares when poll_s is None
    give_up_s: float | None = None  # a stable file without its end marker is imported after this (10 x settle, >= 300)
    summary: Path | None = None  # rewritten after each inspection: `hits --new --since` yesterday
    summary_days: int = 1
    device: str = "auto"
    batch_size: int = 16
    workers: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    events: bool = True  # False: never start watchdog's observer (tests of the polling path)

    def give_up(self) -> float:
        return self.give_up_s if self.give_up_s is not None else max(300.0, 10 * self.settle_s)


@dataclass
class _Arriving:
    """An inspection whose files are arriving: what an import would file them under."""

    plate: str
    key: str
    files: dict[str, FileWatch] = field(default_factory=dict)
    retry_at: float = 0.0
    failures: int = 0

    def last_change(self) -> float:
        return max(f.changed_at for f in self.files.values())


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
        self._arriving: dict[tuple[str, str], _Arriving] = {}
        self._file_group: dict[str, tuple[str, str]] = {}
        self._handled: dict[str, None] = {}  # insertion-ordered set
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
            left = sum(len(a.files) for a in self._arriving.values())
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
        return WatchState(folders, sum(len(a.files) for a in self._arriving.values()), len(self._arriving),
                          len(self._to_score), self.imported, self.scored, self._model.name)

    # -- one turn -------------------------------------------------------------------------------------------

    def poll_once(self) -> list[InspectionScored]:
        """One turn (see the module docstring); returns the inspections scored in it."""
        self.start()
        now = time.monotonic()
        ctx = ParseContext()
        for folder in self.folders:
            self._check_folder(folder, now, ctx)
        arriving_in = {os.path.dirname(p) for p in self._file_group}
        for folder in self.folders:
            for files in folder.changes(now):
                self._consider(files, now, ctx)
            for files in folder.arriving(arriving_in, now):
                self._consider(files, now, ctx)
        self._observe_arriving(time.monotonic())
        ready = self._ready(time.monotonic())
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
        self._observe_arriving(time.monotonic())

    # -- arriving files --------------------------------------------------------------------------------------

    def _consider(self, files: list[str], now: float, ctx: ParseContext) -> None:
        """Files of one changed sub-folder: those neither known to the store nor already waiting
        join the inspection an import would file them under."""
        fresh = [p for p in files if p not in self._file_group and p not in self._handled]
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
        for path in fresh:
            if path in known:
                continue
            try:
                group_key = inspection_of_file(path, ctx)
            except Exception:  # a parser must never stop the watcher; the import says what is wrong
                group_key = None
            if group_key is None:
                continue  # a thumbnail or a file no import takes
            seen = first_look(path, now)
            if seen is None:
                continue
            group = self._arriving.setdefault(group_key, _Arriving(*group_key))
            group.files[path] = seen
            self._file_group[path] = group_key

    def _observe_arriving(self, now: float) -> None:
        for key, group in list(self._arriving.items()):
            for path, seen in list(group.files.items()):
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    del group.files[path]
                    self._file_group.pop(path, None)
                    continue
                except OSError:
                    continue  # the share hiccuped: look again next turn
                seen.observe(st, now)
            if not group.files:
                del self._arriving[key]

    def _ready(self, now: float) -> list[_Arriving]:
        """Inspections whose every file is complete, longest-waiting first, up to a turn's share."""
        settle, give_up = self.config.settle_s, self.config.give_up()
        ready = [g for g in self._arriving.values()
                 if now >= g.retry_at and all(f.complete(now, settle, give_up) for f in g.files.values())]
        ready.sort(key=lambda g: g.last_change())
        out, drops = [], 0
        for g in ready:
            if out and drops + len(g.files) > MAX_DROPS_PER_TURN:
                break
            out.append(g)
            drops += len(g.files)
        return out

    def _forget_group(self, group: _Arriving) -> None:
        self._arriving.pop((group.plate, group.key), None)
        for path in group.files:
            self._file_group.pop(path, None)

    # -- import ------------------------------------------------------------------------------------------------

    def _import(self, group: _Arriving) -> None:
        ready_at = time.monotonic()
        last_change = group.last_change()
        paths = sorted(p for p in group.files if os.path.lexists(p))
        truncated = tuple(p for p, f in group.files.items() if f.truncated)
        if not paths:
            self._forget_group(group)
            return
        start = time.perf_counter()
        try:
            report = import_paths(self._store, paths, workers=2)
            inspection = self._find_inspection(group.plate, group.key)
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
                      f"({type(exc).__name__}: {exc}; {_where(exc)})"
                      + ("; set aside until the watcher restarts." if group.failures >= GIVE_UP_FAILURES
                         else "; retrying."))
            if group.failures >= GIVE_UP_FAILURES:
                self._set_aside(group)
            else:
                group.retry_at = time.monotonic() + self.config.backoff.first * group.failures
            return
        import_s = time.perf_counter() - start
        self._remember_skipped(paths)
        self._forget_group(group)
        if inspection is None:
            return  # nothing of it could be filed (every file skipped); the import's report said why
        inspection_id = row_value(inspection, "id")
        summary = inspection_counts(self._store, inspection_id, None)
        event = InspectionImported(
            plate=group.plate, inspection=group.key, inspection_id=inspection_id,
            drops=summary["drops"], new_files=report.images_new, unreadable=len(report.unreadable),
            truncated=truncated, last_change_at=last_change, ready_at=ready_at, import_s=import_s)
        self.imported += 1
        if truncated:
            self._say(f"Plate {group.plate}, inspection {group.key}: {len(truncated)} file"
                      f"{'s' * (len(truncated) != 1)} never got an end marker (e.g. {truncated[0]}); imported "
                      "as they are (marked unreadable if they cannot be decoded).")
        self._emit("imported", event)
        self._to_score[inspection_id] = _ToScore(inspection_id, event)

    def _find_inspection(self, barcode: str, key: str):
        plate = self._store.plate_by_barcode(barcode)
        if plate is None:
            return None
        return next((n for n in self._store.inspections(row_value(plate, "id")) if row_value(n, "key") == key), None)

    def _remember_skipped(self, paths: list[str]) -> None:
        """Files the import skipped (a second image of a drop) stay unknown to the store: remember
        them so they do not arrive again at every change of their folder."""
        try:
            known = self._store.known_files(paths)
        except (StoreError, sqlite3.Error):
            return
        for p in paths:
            if p not in known:
                self._handled[p] = None
        while len(self._handled) > HANDLED_LIMIT:
            self._handled.pop(next(iter(self._handled)))

    def _set_aside(self, group: _Arriving) -> None:
        for p in group.files:
            self._handled[p] = None
        self._forget_group(group)

    # -- scoring -------------------------------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """At start: drops under the watched folders that were imported but not scored (the watcher
        stopped between the two, or they were imported by hand) are scored first."""
        try:
            model = current_model(self._store)
            if model is None:
                return
            roots = [f.real_root for f in self.folders]
            drops, inspections = unscored_under(self._store, row_value(model, "id"), roots)
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
            model_id = row_value(choice.model, "id")
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
        model_id = row_value(model, "id")
        inspection = self._store.inspection(job.inspection_id)
        plate, key = row_value(inspection, "barcode"), row_value(inspection, "key")
        counts = inspection_counts(self._store, job.inspection_id, model_id)
        new = new_hits(self._store, model_id, plate, job.inspection_id)
        event = InspectionScored(
            plate=plate, inspection=key, inspection_id=job.inspection_id, imaged_at=row_value(inspection, "imaged_at"),
            drops=counts["drops"], scored=scored, unreadable=counts["unreadable"], hits=counts["hits"],
            new_hits=len(new), model=row_value(model, "name"), score_s=score_s, stored_at=stored_at,
            ready_at=job.imported.ready_at if job.imported else None,
            import_s=job.imported.import_s if job.imported else None)
        self.scored += 1
        self._say(event.line())
        self._emit("scored", event)
        if new:
            threshold = self._store.operating_point(model_id).threshold
            self._emit("new_hits", NewHits(plate, key, job.inspection_id, threshold, tuple(
                NewHit(*(row_value(r, k) for k in ("image_id", "well", "drop", "crystal_prob", "image_path")))
                for r in new)))
        return event

    def _write_summary(self, model) -> None:
        if self.config.summary is None:
            return
        from xtalviewer.report.hits import hit_rule, summary_format, write_hits

        since = (date.today() - timedelta(days=self.config.summary_days)).isoformat()
        model_id = row_value(model, "id")
        try:
            rows = self._store.hit_list(model_id, since=since, new_only=True)
            write_hits(self.config.summary, rows, summary_format(self.config.summary),
                       rule=hit_rule(model, self._store.operating_point(model_id)),
                       title=f"New hits since {since}", new_only=True)
        except (OSError, ValueError) as exc:
            self._say(f"Summary {self.config.summary} could not be written ({exc}); tried again after the next "
                      "inspection.")

    # -- telling the owner ----------------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self.callbacks.status is not None:
            self.callbacks.status(text)

    def _emit(self, kind: str, event) -> None:
        callback: Callable | None = getattr(self.callbacks, kind)
        if callback is not None:
            callback(event)


def _where(exc: BaseException) -> str:
    """file:line where an unexpected error was raised, for the one log line that reports it."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


def config_folders(given: Iterable[str | os.PathLike], preferred: Iterable[str]) -> list[Path]:
    """The folders to watch: those given, else those of the Preferences (``watch_folders``)."""
    chosen = [Path(p) for p in given] or [Path(p) for p in preferred if str(p).strip()]
    seen, out = set(), []
    for p in chosen:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
