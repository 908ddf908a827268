"""The watcher's state in one line, as the review window's status bar shows it ("Watching 2 folders ·
last inspection 10:42 (XV1001) · scoring 96 drops"). No Qt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from xtalviewer.files.printable import printable
from xtalviewer.watch.events import WatchState


def clock(when: datetime, now: datetime | None = None) -> str:
    """A time of today as 10:42, of another day as 'Tue 10:42'."""
    now = now or datetime.now()
    return f"{when:%H:%M}" if when.date() == now.date() else f"{when:%a %H:%M}"


def status_text(state: WatchState | None, *, stopping: bool = False, last_at: datetime | None = None,
                last_plate: str | None = None, scoring_drops: int = 0, not_scoring: str | None = None,
                now: datetime | None = None) -> str:
    """The status bar's field: folders watched (or unavailable), when the last inspection arrived,
    and what the watcher is doing now."""
    if stopping:
        return "Watch: stopping…"
    if state is None:
        return "Watch: starting…"
    folders = state.folders
    lost = [f for f in folders if not f.available]
    n = len(folders)
    parts = [f"Watching {n} folder{'s' * (n != 1)}" if not lost else f"Watching {n - len(lost)} of {n} folders"]
    if lost:
        name = Path(lost[0].folder).name or lost[0].folder
        parts.append(f"{name} unavailable" + (f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""))
    if last_at is not None:
        parts.append(f"last inspection {clock(last_at, now)}" + (f" ({printable(last_plate)})" if last_plate else ""))
    if state.waiting_to_score and not_scoring:
        parts.append(f"not scoring ({not_scoring})")
    elif scoring_drops:
        parts.append(f"scoring {scoring_drops} drop{'s' * (scoring_drops != 1)}")
    elif state.waiting_to_score:
        k = state.waiting_to_score
        parts.append(f"scoring {k} inspection{'s' * (k != 1)}")
    if state.arriving_files:
        k = state.arriving_files
        parts.append(f"{k} file{'s' * (k != 1)} arriving")
    return " · ".join(parts)
