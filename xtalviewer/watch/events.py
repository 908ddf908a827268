"""What the watcher tells its owner: plain frozen records and the callbacks that receive them.

The command prints them; the app's watch panel wraps each callback in a Qt signal (they are called
in the watcher's own thread, so a queued connection carries them to the window).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xtalviewer.crystal_call import pct


@dataclass(frozen=True)
class InspectionImported:
    """An inspection whose files were complete, now in the store (not yet scored)."""

    plate: str
    inspection: str  # the inspection's key (an XChem folder name, a Rock Maker batch ...)
    inspection_id: int
    drops: int  # visible images of the inspection in the store
    new_files: int  # files this import added
    unreadable: int
    truncated: tuple[str, ...]  # files imported without their end marker after the give-up time
    last_change_at: float  # monotonic time its last file last changed
    ready_at: float  # monotonic time its files counted complete
    import_s: float


@dataclass(frozen=True)
class NewHit:
    """A drop first a hit at this inspection."""

    image_id: int
    well: str
    drop: int
    crystal_prob: float
    image_path: str


@dataclass(frozen=True)
class InspectionScored:
    """An inspection scored by the active model: the one line the log shows for it."""

    plate: str
    inspection: str
    inspection_id: int
    imaged_at: str | None
    drops: int
    scored: int  # drops scored now (the others were scored before, or unreadable)
    unreadable: int
    hits: int  # drops at or above the model's operating point
    new_hits: int  # drops whose first hit is this inspection (what `hits --new` lists)
    model: str
    score_s: float
    stored_at: float  # monotonic time its predictions were committed
    ready_at: float | None = None  # when its files counted complete (None: scored on catch-up)
    import_s: float | None = None

    def line(self) -> str:
        """The log line: plate, inspection, drops, hits, new hits, and how long it took."""
        extra = f", {self.unreadable} unreadable" if self.unreadable else ""
        timing = f"scored {self.scored} in {self.score_s:.1f} s"
        if self.import_s is not None:
            timing = f"imported in {self.import_s:.1f} s, {timing}"
        elif self.ready_at is None:
            timing += ", imported earlier"
        return (f"Plate {self.plate}, inspection {self.inspection}: {self.drops} drops, {self.hits} hit"
                f"{'s' * (self.hits != 1)}, {self.new_hits} new{extra} ({timing}; {self.model})")


@dataclass(frozen=True)
class NewHits:
    """The drops of an inspection that became hits there (sent only when there is at least one)."""

    plate: str
    inspection: str
    inspection_id: int
    threshold: float
    drops: tuple[NewHit, ...]

    def line(self) -> str:
        best = max(self.drops, key=lambda d: d.crystal_prob)
        return (f"New hits on plate {self.plate}: " + ", ".join(f"{d.well}-{d.drop}" for d in self.drops[:12])
                + (f" and {len(self.drops) - 12} more" if len(self.drops) > 12 else "")
                + f" (best {best.well}-{best.drop} at {pct(best.crystal_prob)})")


@dataclass(frozen=True)
class FolderState:
    """A watched folder for a status view."""

    folder: str
    available: bool
    mode: str  # "change events (inotify)", "polling every 10 s (...)", or why it is unavailable


@dataclass(frozen=True)
class WatchState:
    """A snapshot for a status view (``WatchService.state()``)."""

    folders: tuple[FolderState, ...]
    arriving_files: int  # seen, waiting to be complete
    arriving_inspections: int
    waiting_to_score: int  # inspections imported, not scored yet
    imported: int  # inspections imported since start
    scored: int  # inspections scored since start
    model: str | None
    not_scoring: str | None = None  # why imported inspections wait for their scores (no model, ...); None: they don't


@dataclass
class WatchCallbacks:
    """Who hears what; each is optional and called in the watcher's thread. ``status`` gets every
    line the command prints (folders found, lost and back, one line per inspection, errors)."""

    status: Callable[[str], None] | None = None
    imported: Callable[[InspectionImported], None] | None = None
    scored: Callable[[InspectionScored], None] | None = None
    new_hits: Callable[[NewHits], None] | None = None


def where_raised(exc: BaseException) -> str:
    """file:line where an unexpected error was raised, for the one log line that reports it."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"
