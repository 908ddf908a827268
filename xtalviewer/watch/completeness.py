"""Is a file the imager is still writing finished? Its size stopped changing, and it ends as its format ends.

An imager (or the share between it and us) writes a drop image in pieces, and a half-written JPEG
imported now would be marked unreadable or, worse, scored on its top half. A file counts as complete
when its size and modification time have not changed for the settle time and it carries its
format's end marker: JPEG the EOI marker FF D9, PNG the IEND chunk, BMP the size its header states.
TIFF has no end marker, so there the settle time alone decides.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from xtalviewer.files.regular import open_regular

JPEG_END = b"\xff\xd9"
PNG_END = b"IEND\xaeB`\x82"
TAIL_BYTES = 64  # some writers pad a finished file with a few zero bytes after the marker


def end_marker(path: str | os.PathLike) -> bool | None:
    """True when the file ends as its format ends, False when it does not (yet), None for a format
    without an end marker (TIFF). A file that cannot be read counts as not ended."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in (".jpg", ".jpeg", ".png", ".bmp"):
        return None
    try:
        with open_regular(path) as fh:
            if suffix == ".bmp":
                head = fh.read(6)
                size = os.fstat(fh.fileno()).st_size
                return len(head) == 6 and head[:2] == b"BM" and int.from_bytes(head[2:6], "little") <= size
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read().rstrip(b"\x00")
    except OSError:
        return False
    return tail.endswith(JPEG_END if suffix != ".png" else PNG_END)


@dataclass
class FileWatch:
    """One arriving file as last seen: what changed when (monotonic seconds) and whether it has ended."""

    path: str
    size: int
    mtime_ns: int
    changed_at: float  # when its size or time last changed (or when it was first seen)
    ended: bool | None = None  # end marker at the current size; None: not looked at yet
    ended_checked: bool = False

    def observe(self, st: os.stat_result, now: float) -> bool:
        """Take a new stat of the file; True when it changed since the last one."""
        if (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns):
            return False
        self.size, self.mtime_ns, self.changed_at = st.st_size, st.st_mtime_ns, now
        self.ended, self.ended_checked = None, False
        return True

    def quiet_for(self, now: float) -> float:
        return now - self.changed_at

    def complete(self, now: float, settle_s: float, give_up_s: float) -> bool:
        """Stable for the settle time and ended (or a format without an end). A file that stays
        stable without its end marker for ``give_up_s`` counts as complete too: the imager stopped
        writing it, and the import marks it unreadable if it cannot be decoded."""
        if self.quiet_for(now) < settle_s:
            return False
        if not self.ended_checked:
            self.ended, self.ended_checked = end_marker(self.path), True
        return self.ended is not False or self.quiet_for(now) >= give_up_s

    @property
    def truncated(self) -> bool:
        """Settled without its end marker (imported after the give-up time)."""
        return self.ended_checked and self.ended is False


def first_look(path: str, now: float) -> FileWatch | None:
    """A FileWatch for a regular file, None for anything else (a FIFO named .jpg must not be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return FileWatch(path, st.st_size, st.st_mtime_ns, now)
