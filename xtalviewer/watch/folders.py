"""The imager folders the watcher follows: how changes reach it, and whether each folder is there.

Every folder is followed the same way underneath: a table of its sub-folders and their
modification times, and a rescan of a sub-folder whose time moved (a file or folder was added,
removed or renamed in it) that names the image files in it. What differs is how a changed
sub-folder is noticed:

- events: watchdog's native observer (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW
  on Windows, kqueue on BSD) names the folder at once; a sweep of the table every ``sweep_s``
  catches anything the kernel dropped (an inotify queue overflow);
- polling: SMB and NFS mounts deliver no such events for changes made by other computers (the
  imager), so there the table itself is polled. A sub-folder is checked about sixty times over its
  age since it last changed, between ``poll_s`` and ``max_poll_s``: the folder an imager writes into
  now every few seconds, last year's inspections every ten minutes, so the cost of a poll follows
  the folders in use, not the size of the archive. (watchdog's own PollingObserver stats every file
  of the tree at every poll, which on an imager archive of millions of files is not idle.)

A folder that disappears (an unmounted share, a renamed folder) is retried with back-off, and
rescanned whole when it is back; one whose identity changed (remounted over an empty mount point)
is rescanned too. None of this is ever fatal.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from xtalviewer.imaging.decode import is_image_path
from xtalviewer.store.filesystems import network_filesystem, real_path

DEFAULT_POLL_S = 10.0
MAX_POLL_S = 600.0
SWEEP_S = 600.0  # events mode: check every folder's time this often anyway
ROOT_CHECK_S = 1.0  # events mode: is the folder still there (polling checks it every round)
AGE_PER_CHECK = 60.0  # a quiet sub-folder is checked about 60 times over its age


@dataclass
class SubFolder:
    """One folder under a watched folder as last seen."""

    mtime_ns: int
    changed_at: float  # monotonic time it last changed (at the first look: from its modification time)
    next_check: float
    children: set[str] = field(default_factory=set)  # names of its sub-folders


@dataclass(frozen=True)
class Backoff:
    """Retry delays for a folder that is gone: ``first`` doubling up to ``most`` seconds."""

    first: float = 5.0
    most: float = 300.0

    def after(self, delay: float | None) -> float:
        return self.first if delay is None else min(self.most, delay * 2)


class EventSource:
    """watchdog's native observer, shared by the folders that take events; ``wake`` is called on
    every change it reports (from the observer's thread)."""

    def __init__(self, wake: Callable[[], None]):
        self._wake = wake
        self._observer = None
        self.kind = native_kind()

    def watch(self, folder: WatchedFolder):
        """Start events for ``folder``; returns a handle for ``unwatch``. OSError when the system
        refuses (inotify's watch limit reached, the folder vanished meanwhile)."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self._wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                # content writes are followed by stat (the files waiting to settle); only a change of
                # names (created, deleted, moved) needs a folder listed again
                if event.event_type not in ("created", "deleted", "moved"):
                    return
                for p in (event.src_path, getattr(event, "dest_path", "") or ""):
                    if p:
                        p = os.fsdecode(p)
                        folder.mark_changed(os.path.dirname(p))
                        if event.is_directory:
                            folder.mark_changed(p)
                wake()

        if self._observer is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        try:
            return self._observer.schedule(Handler(), folder.real_root, recursive=True)
        except OSError:
            raise
        except Exception as exc:  # watchdog wraps some refusals in its own errors
            raise OSError(str(exc)) from exc

    def unwatch(self, handle) -> None:
        if self._observer is None or handle is None:
            return
        try:
            self._observer.unschedule(handle)
        except Exception:  # already gone with its folder
            pass

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


def native_kind() -> str | None:
    """The kernel's change events watchdog uses here ("inotify", "FSEvents", ...), None without any."""
    try:
        from watchdog.observers import Observer
    except ImportError:
        return None
    name = Observer.__name__
    kinds = {"InotifyObserver": "inotify", "FSEventsObserver": "FSEvents", "KqueueObserver": "kqueue",
             "WindowsApiObserver": "ReadDirectoryChangesW"}
    return kinds.get(name)


class WatchedFolder:
    """One folder given to the watcher: its sub-folders, how their changes are noticed, whether it
    is there. Used from the watcher's thread; ``mark_changed`` also from the observer's."""

    def __init__(self, root: str | os.PathLike, *, force_poll_s: float | None = None,
                 poll_s: float = DEFAULT_POLL_S, backoff: Backoff = Backoff(), sweep_s: float = SWEEP_S):
        self.root = os.path.abspath(os.fspath(root))
        self.real_root = real_path(self.root)
        self.force_poll_s = force_poll_s
        self.poll_s = force_poll_s or poll_s
        self.backoff = backoff
        self.sweep_s = sweep_s
        self.dirs: dict[str, SubFolder] = {}
        self.polling = True
        self.mode = ""  # in words, for the log
        self.available = False
        self.identity: tuple[int, int] | None = None
        self.lost_at: float | None = None
        self.retry_delay: float | None = None
        self.retry_at = 0.0
        self.next_round = 0.0
        self._handle = None
        self._changed: set[str] = set()
        self._lock = threading.Lock()

    # -- how changes are noticed ---------------------------------------------------------------------

    def choose_mode(self, events: EventSource | None, events_off: str | None = None) -> str:
        """Events where the kernel delivers them for this folder, else polling; the choice in words.
        ``events_off`` says why the owner wants none (a single pass)."""
        if self._handle is not None and events is not None:
            events.unwatch(self._handle)
            self._handle = None
        network = network_filesystem(self.real_root)
        why = None
        if events_off == "one pass":
            self.polling, self.mode = True, "one pass"
            return self.mode
        if self.force_poll_s:
            why = "--poll"
        elif events_off:
            why = events_off
        elif network:
            why = f"{network}: network shares deliver no change events"
        elif events is None or events.kind is None:
            why = "no change events on this system"
        if why is None:
            try:
                self._handle = events.watch(self)
                self.polling = False
                self.mode = f"change events ({events.kind})"
                return self.mode
            except OSError as exc:
                why = f"change events refused ({exc})"
        self.polling = True
        self.mode = f"polling every {self.poll_s:g} s ({why})"
        return self.mode

    def mark_changed(self, folder: str) -> None:
        with self._lock:
            self._changed.add(folder)

    def stop_events(self, events: EventSource | None) -> None:
        if events is not None and self._handle is not None:
            events.unwatch(self._handle)
        self._handle = None

    # -- is it there ------------------------------------------------------------------------------------

    def check(self, now: float) -> tuple[str, str] | None:
        """Look whether the folder is (still) there. Returns (what happened, reason) when that
        changed: ("found", "") the first time, ("lost", why), ("back", after how long), ("replaced", "")
        or ("retry", why) at a failed retry; None when nothing changed or it is not time to retry yet."""
        if not self.available and now < self.retry_at:
            return None
        try:
            st = os.stat(self.root)
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(f"{self.root} is not a folder")
            ident = (st.st_dev, st.st_ino)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if self.available or self.lost_at is None:
                self.available, self.lost_at = False, now
                self.retry_delay = self.backoff.after(None)
                self.retry_at = now + self.retry_delay
                self.dirs.clear()
                return "lost", reason
            self.retry_delay = self.backoff.after(self.retry_delay)
            self.retry_at = now + self.retry_delay
            return "retry", reason
        if not self.available:
            first = self.identity is None and self.lost_at is None
            lost_for = 0.0 if self.lost_at is None else now - self.lost_at
            self.available, self.identity, self.retry_delay = True, ident, None
            self.real_root = real_path(self.root)
            self.lost_at = None
            return ("found", "") if first else ("back", f"{lost_for:.0f} s")
        if ident != self.identity:
            self.identity = ident
            self.real_root = real_path(self.root)
            self.dirs.clear()
            return "replaced", ""
        return None

    # -- what changed -------------------------------------------------------------------------------------

    def full_scan(self, now: float) -> Iterator[list[str]]:
        """Every image file under the folder, one list per sub-folder; rebuilds the table."""
        self.dirs.clear()
        with self._lock:
            self._changed.clear()
        self.next_round = now + (self.poll_s if self.polling else self.sweep_s)
        yield from self._scan(self.real_root, now)

    def changes(self, now: float) -> Iterator[list[str]]:
        """Image files in the sub-folders that changed since the last call (events, or the sub-folders
        due for a poll), one list per sub-folder."""
        if not self.available:
            return
        with self._lock:
            changed, self._changed = self._changed, set()
        for d in sorted(changed):
            if d in self.dirs:
                yield from self._rescan(d, now)
        if now >= self.next_round:
            self.next_round = now + (self.poll_s if self.polling else self.sweep_s)
            for d in [d for d, s in self.dirs.items() if self.polling is False or s.next_check <= now]:
                entry = self.dirs.get(d)
                if entry is None:
                    continue  # gone with a parent rescanned in this round
                try:
                    mtime_ns = os.stat(d).st_mtime_ns
                except OSError:
                    mtime_ns = None
                if mtime_ns != entry.mtime_ns:
                    yield from self._rescan(d, now)
                else:
                    entry.next_check = now + self._interval(now - entry.changed_at)

    def arriving(self, dirs: set[str], now: float) -> Iterator[list[str]]:
        """Image files of the sub-folders files are arriving in, when they changed. Polled every turn
        (a stat each), so an inspection's later files join it at once rather than at the next round,
        before its first files count as settled."""
        if not self.available or not self.polling:
            return
        for d in dirs:
            entry = self.dirs.get(d)
            if entry is None:
                continue
            try:
                mtime_ns = os.stat(d).st_mtime_ns
            except OSError:
                continue
            if mtime_ns != entry.mtime_ns:
                yield from self._rescan(d, now)

    def next_due(self, now: float) -> float:
        """Seconds until this folder wants looking at again."""
        if not self.available:
            return max(0.0, self.retry_at - now)
        if self.polling:
            return max(0.0, self.next_round - now)
        return ROOT_CHECK_S

    def _interval(self, age: float) -> float:
        return min(MAX_POLL_S, max(self.poll_s, age / AGE_PER_CHECK))

    def _rescan(self, d: str, now: float) -> Iterator[list[str]]:
        entry = self.dirs.get(d)
        if entry is None:
            return
        try:
            st = os.stat(d)
        except OSError:
            self._forget(d)
            return
        entry.mtime_ns, entry.changed_at = st.st_mtime_ns, now
        entry.next_check = now + self.poll_s
        files, subdirs = _listing(d)
        for gone in entry.children - set(subdirs):
            self._forget(os.path.join(d, gone))
        entry.children = set(subdirs)
        yield files
        for name in subdirs:
            sub = os.path.join(d, name)
            if sub not in self.dirs:
                yield from self._scan(sub, now)

    def _scan(self, top: str, now: float) -> Iterator[list[str]]:
        """A folder not in the table yet, and everything under it."""
        wall = time.time()
        todo = [top]
        while todo:
            d = todo.pop()
            try:
                st = os.stat(d)
            except OSError:
                continue
            age = max(0.0, wall - st.st_mtime)
            files, subdirs = _listing(d)
            self.dirs[d] = SubFolder(st.st_mtime_ns, now - age, now + self._interval(age), set(subdirs))
            if files:
                yield files
            todo.extend(os.path.join(d, name) for name in reversed(subdirs))

    def _forget(self, d: str) -> None:
        entry = self.dirs.pop(d, None)
        if entry is None:
            return
        for name in entry.children:
            self._forget(os.path.join(d, name))


def _listing(d: str) -> tuple[list[str], list[str]]:
    """(image files, sub-folder names) of one folder; empty when it cannot be listed. Links to
    folders are not followed (no loops); files are full paths, sorted."""
    files: list[str] = []
    subdirs: list[str] = []
    try:
        with os.scandir(d) as it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.name)
                    elif is_image_path(entry.name) and entry.is_file():
                        files.append(entry.path)
                except OSError:
                    continue
    except OSError:
        return [], []
    files.sort()
    subdirs.sort()
    return files, subdirs
