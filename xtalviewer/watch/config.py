"""What the watcher is told: the folders to watch (given, else the Preferences'), the settle and
polling times, the summary file and how to score. Times in seconds."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xtalviewer.imaging.decode import is_image_path
from xtalviewer.store.location import Location
from xtalviewer.watch.folders import DEFAULT_POLL_S, Backoff

DEFAULT_SETTLE_S = 30.0
_DATED = re.compile(r"(?:19|20)\d\d-?[01]\d-?[0-3]\d")  # a date in an inspection folder's name (XChem, HWI)


@dataclass
class WatchConfig:
    """What to watch and how. Times in seconds."""

    db: Location | Path | str  # the store: a file or a lab's postgresql:// URL (``store.location``)
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


def folder_to_offer(folder: str) -> str:
    """After importing ``folder``, the folder to offer to watch: an inspection's own folder (it holds
    the images and its name carries a date, as XChem and HWI exports are named) gets the plate's next
    inspection beside it, so its parent is offered; any other folder as it was chosen."""
    path = Path(folder)
    if path.parent != path and _DATED.search(path.name) and _holds_images(path):
        return str(path.parent)
    return folder


def _holds_images(folder: Path, look_at: int = 500) -> bool:
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= look_at:
                    break
                if is_image_path(entry.name):
                    return True
    except OSError:
        pass
    return False
