"""Which process holds a database's write lock, to name it when a command gives up waiting.

SQLite locks byte ranges of the database and its ``-shm`` file with POSIX locks; Linux lists them
in /proc/locks with the holder's process id. Elsewhere (or when the list cannot be read) the
answer is empty and the message falls back to the kinds of process that write.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")
WRITER_KINDS = "the review window, an import, import-labels, predict, or an xtal-train run"


def _file_ids(db: Path) -> set[tuple[int, int, int]]:
    ids = set()
    for suffix in ("", "-wal", "-shm"):
        try:
            st = os.stat(f"{db}{suffix}")
        except OSError:
            continue
        ids.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    return ids


def lock_holders(db: str | os.PathLike) -> list[int]:
    """Process ids (other than ours) holding a write lock on the database, its -wal or its -shm file."""
    if not hasattr(os, "major") or not PROC_LOCKS.exists():  # not Linux: nothing to ask
        return []
    wanted = _file_ids(Path(db))
    if not wanted:
        return []
    try:
        text = PROC_LOCKS.read_text()
    except OSError:
        return []
    pids: list[int] = []
    for line in text.splitlines():
        parts = line.split()
        if "->" in parts:  # a process waiting for the lock, not holding it
            continue
        try:
            kind, pid, dev = parts[3], int(parts[4]), parts[5]
            major, minor, inode = dev.split(":")
            ident = (int(major, 16), int(minor, 16), int(inode))
        except (IndexError, ValueError):
            continue
        if kind == "WRITE" and ident in wanted and pid > 0 and pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return pids


def describe_process(pid: int) -> str:
    """What a process is, in the words a lab uses: "xtalviewer import (pid 4242)"."""
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0") if a]
    except OSError:
        return f"process {pid}"
    words = [os.path.basename(a) for a in argv]
    text = " ".join(argv)
    if "xtal-train" in words or "train" in argv or "train.cli" in text:
        what = "an xtal-train run"
    elif "xtalviewer.predict" in argv or ("predict" in argv and "xtalviewer" in text):
        what = "xtalviewer predict"
    elif "xtalviewer" in text:
        sub = next((a for a in argv if a in ("import", "import-labels", "demo", "models", "predict", "export",
                                             "stats", "report")), None)
        what = f"xtalviewer {sub}" if sub else "the xtalviewer review window"
    elif words and words[0].startswith("sqlite3"):
        what = "an sqlite3 shell"
    else:
        what = words[0] if words else "a process"
    return f"{what} (pid {pid})"


def describe_holders(db: str | os.PathLike) -> str:
    """Who holds the lock, for a message: the processes found, else the kinds that write."""
    pids = lock_holders(db)
    if pids:
        return ", ".join(describe_process(p) for p in pids[:3])
    return f"another program ({WRITER_KINDS})"
