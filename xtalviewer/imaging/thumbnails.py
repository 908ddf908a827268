"""A disk cache of drop thumbnails, so reopening a plate does not decode full images again.

Entries are keyed by the source path, its size and mtime and the thumbnail size: a re-imaged
file gets a new entry, and stale ones age out when the cache is pruned to its size limit. The
cache prunes itself when an added entry takes it past the limit; the app also prunes it at
start-up and after each report.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from xtalviewer.imaging.decode import ImageLoadError, fit_within, load_rgb
from xtalviewer.files.regular import read_regular_bytes

DEFAULT_THUMB_SIZE = 256
DEFAULT_LIMIT_BYTES = 2 * 1024**3
PRUNE_TO = 0.9  # a prune leaves 10% headroom, so the next few entries do not prune again
STALE_PART_S = 3600  # a half-written entry this old was left by a process that died


class ThumbnailCache:
    """Thumbnails as small JPEG files under ``folder``, safe to share between threads and processes."""

    def __init__(self, folder: str | Path, size: int = DEFAULT_THUMB_SIZE, limit_bytes: int = DEFAULT_LIMIT_BYTES):
        self.folder = Path(folder)
        self.size = size
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._pruning = threading.Lock()  # one prune at a time; an entry added meanwhile does not start another
        self._usage: int | None = None  # bytes: counted at the first write or prune, then kept up to date
        self._folders: set[Path] = set()  # entry folders known to exist

    def entry_path(self, path: str, file_size: int | None, mtime: float | None) -> Path:
        key = f"{path}\0{file_size}\0{mtime}\0{self.size}".encode("utf-8", "surrogateescape")
        digest = hashlib.sha1(key).hexdigest()
        return self.folder / digest[:2] / f"{digest}.jpg"

    def lookup(self, path: str, file_size: int | None, mtime: float | None) -> np.ndarray | None:
        """The cached thumbnail (RGB) or None; never decodes the source image."""
        entry = self.entry_path(path, file_size, mtime)
        try:
            data = np.frombuffer(read_regular_bytes(entry), dtype=np.uint8)
        except OSError:
            return None
        arr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if arr is None:
            return None
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)

    def get(self, path: str, file_size: int | None = None, mtime: float | None = None) -> np.ndarray:
        """Cached thumbnail, or decode the source at reduced scale, store and return it.

        Raises ImageLoadError when the source cannot be read.
        """
        if file_size is None or mtime is None:
            try:
                st = os.stat(path)
                file_size, mtime = st.st_size, st.st_mtime
            except OSError as exc:
                raise ImageLoadError(exc.strerror or str(exc)) from None
        cached = self.lookup(path, file_size, mtime)
        if cached is not None:
            return cached
        thumb = fit_within(load_rgb(path, max_side=self.size), self.size)
        self._store(self.entry_path(path, file_size, mtime), thumb)
        return thumb

    def _store(self, entry: Path, thumb: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not ok:
            return
        try:
            if entry.parent not in self._folders:  # one mkdir per folder, not per thumbnail
                entry.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(entry.parent)
            # write then rename: a reader never sees half a file, two writers never interleave
            fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.tobytes())
            os.replace(tmp, entry)
        except OSError:
            self._folders.discard(entry.parent)  # removed meanwhile, perhaps: make it again next time
            return  # a cache that cannot be written only costs speed
        self._added(len(buf))

    def _added(self, nbytes: int) -> None:
        """Count a new entry; prune when it takes the cache past its limit."""
        with self._lock:
            if self._usage is None:
                self._usage = self.usage_bytes()
            else:
                self._usage += nbytes
            over = self._usage > self.limit_bytes
        if over and self._pruning.acquire(blocking=False):
            try:
                self.prune()
            finally:
                self._pruning.release()

    def _entries(self) -> list[tuple[float, int, Path]]:
        entries = []
        for p in self.folder.glob("*/*.jpg"):
            try:
                st = p.stat()
            except OSError:  # removed meanwhile by another process's prune
                continue
            entries.append((st.st_mtime, st.st_size, p))
        return entries

    def usage_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def prune(self, limit_bytes: int | None = None) -> int:
        """When the cache is over its limit, delete the least recently written entries until it
        holds at most PRUNE_TO of the limit; also clears half-written entries of dead processes.
        Returns the number of entries removed. Safe to run while other threads and processes use it."""
        limit = self.limit_bytes if limit_bytes is None else limit_bytes
        now = time.time()
        for p in self.folder.glob("*/*.part"):
            try:
                if now - p.stat().st_mtime > STALE_PART_S:
                    p.unlink()
            except OSError:
                pass
        entries = self._entries()
        total = sum(e[1] for e in entries)
        removed = 0
        if total > limit:
            goal = int(limit * PRUNE_TO)
            for _, size, p in sorted(entries):
                if total <= goal:
                    break
                try:
                    p.unlink()
                    total -= size
                    removed += 1
                except OSError:
                    pass
        with self._lock:
            self._usage = total
        return removed


def prune_in_background(cache: ThumbnailCache) -> threading.Thread:
    """Prune ``cache`` on a daemon thread (a big cache takes a moment to scan); returns the thread."""
    thread = threading.Thread(target=cache.prune, name="thumbnail-prune", daemon=True)
    thread.start()
    return thread
