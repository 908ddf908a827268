"""Part files: what a writer fills beside the real file before renaming it onto the real name.

A part's name carries its writer's process id and host (``.<name>.<pid>@<host>.<random>.part``), so
the next writer in the folder removes the parts of writers that died (SIGKILL, power cut) and never
the part of one still writing: not one of this process (another thread), not one of a live
process, not one from another computer sharing the folder (its process id means nothing here).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from pathlib import Path

PART_SUFFIX = ".part"
STALE_PART_S = 24 * 3600  # where a process cannot be asked after (Windows), a day-old part is a dead one
_PART = re.compile(r"\A\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]*)\.[a-z0-9_]{8}\.part\Z")
_UNNAMED = re.compile(r"\A\.(?P<name>.+)\.[a-z0-9_]{8}\.part\Z")  # before parts carried a process id


def this_host() -> str:
    """This computer's name as it goes into a part's name (letters, digits and dashes)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def open_part(target: Path) -> tuple[int, Path]:
    """Create a new, empty part beside ``target``: (open descriptor, path)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}@{this_host()}.",
                               suffix=PART_SUFFIX)
    return fd, Path(tmp)


def new_part(target: Path) -> Path:
    """Create a new, empty part beside ``target`` (closed) and return its path."""
    fd, path = open_part(target)
    os.close(fd)
    return path


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this computer (a process of another user counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0 only asks; never called on Windows, where it would end the process
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, run by someone else
        return True
    return True


def _writer_gone(name: str, mtime: float, now: float, host: str, target_name: str | None) -> bool:
    m = _PART.match(name)
    if m is not None:
        if m["host"] != host or int(m["pid"]) == os.getpid():
            return False
        if os.name == "nt":
            return now - mtime > STALE_PART_S
        return not process_alive(int(m["pid"]))
    m = _UNNAMED.match(name)  # an earlier release's part: only of the file being written now, once a day old
    return m is not None and m["name"] == target_name and now - mtime > STALE_PART_S


def sweep_dead_parts(folder: str | os.PathLike, target_name: str | None = None) -> list[Path]:
    """Delete the parts in ``folder`` whose writer has died; returns what was deleted.

    ``target_name``: the file about to be written there; an unnumbered part of it (written before
    parts carried a process id) goes too once it is a day old. Never raises.
    """
    removed: list[Path] = []
    host, now = this_host(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.endswith(PART_SUFFIX):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if _writer_gone(entry.name, entry.stat(follow_symlinks=False).st_mtime, now, host, target_name):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # swept by another process first, or not ours to remove
            continue
    return removed


def sync_file(path: str | os.PathLike) -> None:
    """Flush a finished part to disk before it is renamed onto its real name."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
