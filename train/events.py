"""Training progress as JSON lines, one object per line, for the GUI (or any script) to follow.

Events: start, epoch_start, batch, epoch_end, metrics, registered, run_done, done, error. Each
carries the run id and architecture; lines are flushed as they are written. The trainer's exit
codes live here too, so a follower needs this module only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO

# exit status of xtal-train: 0 done, 1 training failed, 2 bad arguments or nothing to train on, 130 cancelled
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def read_event(line: str) -> dict | None:
    """One line of the stream as an event dict; None for anything else (tqdm bars, warnings)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


class EventWriter:
    """Writes events to a file, to stdout ('-'), or nowhere (None)."""

    def __init__(self, target: str | Path | None):
        self._fh: IO[str] | None = None
        self._own = False
        if target == "-":
            self._fh = sys.stdout
        elif target:
            self._fh = open(target, "a", encoding="utf-8", buffering=1)
            self._own = True
        self._last_batch = 0.0

    @property
    def to_stdout(self) -> bool:
        return self._fh is sys.stdout

    def emit(self, event: str, **fields) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=_plain) + "\n")
        self._fh.flush()

    def batch(self, min_interval: float = 0.5, **fields) -> None:
        """Batch progress, at most every ``min_interval`` seconds (the last batch always goes out)."""
        now = time.monotonic()
        last = fields.get("batch") == fields.get("batches")
        if last or now - self._last_batch >= min_interval:
            self._last_batch = now
            self.emit("batch", **fields)

    def close(self) -> None:
        if self._own and self._fh:
            self._fh.close()
        self._fh = None


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
