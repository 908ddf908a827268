"""Files on their way into the store: the image files the watcher has seen but not imported yet,
grouped by the plate and inspection an import would file them under, each followed until it is
complete. Also the files an import skipped (a second image of a drop), remembered so they do not
arrive again at every change of their folder; and the import of an inspection once it has arrived.
No log: the service says what happened."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xtalviewer.importers import import_paths, inspection_of_file
from xtalviewer.importers.filenames import ParseContext
from xtalviewer.store.store import Store
from xtalviewer.watch.completeness import FileWatch, first_look
from xtalviewer.watch.events import InspectionImported
from xtalviewer.watch.scoring import inspection_counts

HANDLED_LIMIT = 100_000  # skipped files remembered at most (oldest forgotten first)


@dataclass
class Arriving:
    """An inspection whose files are arriving: what an import would file them under."""

    plate: str
    key: str
    files: dict[str, FileWatch] = field(default_factory=dict)
    retry_at: float = 0.0
    failures: int = 0

    def last_change(self) -> float:
        return max(f.changed_at for f in self.files.values())


class Arrivals:
    """Every inspection arriving, by (plate, inspection key)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], Arriving] = {}
        self._group_of: dict[str, tuple[str, str]] = {}  # file -> its group
        self._handled: dict[str, None] = {}  # insertion-ordered set of files not to take again

    def __bool__(self) -> bool:
        return bool(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def file_count(self) -> int:
        return sum(len(g.files) for g in self.groups.values())

    def folders(self) -> set[str]:
        """The folders files are arriving in (polled every turn, whatever their age)."""
        return {os.path.dirname(p) for p in self._group_of}

    def new_files(self, files: Iterable[str]) -> list[str]:
        """Those of ``files`` neither waiting already nor set aside."""
        return [p for p in files if p not in self._group_of and p not in self._handled]

    def take(self, paths: Iterable[str], now: float, ctx: ParseContext) -> None:
        """Files the store does not know: each joins the inspection an import would file it under
        (a thumbnail or a file no import takes is left out)."""
        for path in paths:
            try:
                group_key = inspection_of_file(path, ctx)
            except Exception:  # a parser must never stop the watcher; the import says what is wrong
                group_key = None
            if group_key is None:
                continue
            seen = first_look(path, now)
            if seen is None:
                continue
            group = self.groups.setdefault(group_key, Arriving(*group_key))
            group.files[path] = seen
            self._group_of[path] = group_key

    def observe(self, now: float) -> None:
        """Stat every waiting file (a file gone is dropped; a share that hiccups is looked at again)."""
        for key, group in list(self.groups.items()):
            for path, seen in list(group.files.items()):
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    del group.files[path]
                    self._group_of.pop(path, None)
                    continue
                except OSError:
                    continue
                seen.observe(st, now)
            if not group.files:
                del self.groups[key]

    def ready(self, now: float, settle_s: float, give_up_s: float, max_drops: int) -> list[Arriving]:
        """Inspections whose every file is complete, longest-waiting first, up to ``max_drops`` files."""
        ready = [g for g in self.groups.values()
                 if now >= g.retry_at and all(f.complete(now, settle_s, give_up_s) for f in g.files.values())]
        ready.sort(key=lambda g: g.last_change())
        out, drops = [], 0
        for g in ready:
            if out and drops + len(g.files) > max_drops:
                break
            out.append(g)
            drops += len(g.files)
        return out

    def forget(self, group: Arriving) -> None:
        """An inspection imported (or gone): its files wait no longer."""
        self.groups.pop((group.plate, group.key), None)
        for path in group.files:
            self._group_of.pop(path, None)

    def set_aside(self, group: Arriving) -> None:
        """An inspection whose import keeps failing: not taken again until the watcher restarts."""
        self.remember_handled(group.files)
        self.forget(group)

    def remember_handled(self, paths: Iterable[str]) -> None:
        for p in paths:
            self._handled[p] = None
        while len(self._handled) > HANDLED_LIMIT:
            self._handled.pop(next(iter(self._handled)))

    def remember_skipped(self, paths: list[str], known: Callable[[list[str]], object]) -> None:
        """Files an import skipped (``known`` is the store's lookup of imported files)."""
        known_paths = known(paths)
        self.remember_handled(p for p in paths if p not in known_paths)


def import_arrived(store: Store, group: Arriving, paths: list[str], ready_at: float) -> InspectionImported | None:
    """Import exactly ``paths`` (the files of ``group`` still there) and say what came in; None when
    nothing of it could be filed (every file skipped: the import's report says why). Errors of the
    import or the store are the caller's to retry."""
    start = time.perf_counter()
    report = import_paths(store, paths, workers=2)
    plate = store.plate_by_barcode(group.plate)
    inspection = None if plate is None else next(
        (n for n in store.inspections(plate.id) if n.key == group.key), None)
    if inspection is None:
        return None
    inspection_id = inspection.id
    drops = inspection_counts(store, inspection_id, None)["drops"]
    return InspectionImported(
        plate=group.plate, inspection=group.key, inspection_id=inspection_id, drops=drops,
        new_files=report.images_new, unreadable=len(report.unreadable),
        truncated=tuple(p for p, f in group.files.items() if f.truncated), last_change_at=group.last_change(),
        ready_at=ready_at, import_s=time.perf_counter() - start)
