"""A disk cache of drop thumbnails, so reopening a plate does not decode full images again.

Entries are keyed by the source path, its size and mtime and the thumbnail size: a re-imaged
file gets a new entry, and stale ones age out when the cache is pruned to its size limit. The
cache prunes itself when an added entry takes it past the limit; the app also prunes it at
start-up and after each report.

The cache deletes only what it wrote. Its folder carries a tag file (CACHEDIR.TAG, which backup
tools also honour) written when the cache creates the folder or adopts an empty one (or one that
holds only an earlier release's entries); a folder that holds anything else is refused and never
written to or pruned. Within its folder it deletes only files named as it names them
(``<2 hex>/<40 hex>.jpg``, the 2 the name's first 2) and never follows a symbolic link. A folder
that holds an imported plate's images is refused too (``thumbnail_folder_problem`` asks the store).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from xtalviewer.files.regular import read_regular_bytes, read_regular_text
from xtalviewer.imaging.decode import ImageLoadError, check_root, fit_within, load_rgb
from xtalviewer.settings import Settings

DEFAULT_THUMB_SIZE = 256
DEFAULT_LIMIT_BYTES = 2 * 1024**3
PRUNE_TO = 0.9  # a prune leaves 10% headroom, so the next few entries do not prune again
STALE_PART_S = 3600  # a half-written entry this old was left by a process that died
TAG_NAME = "CACHEDIR.TAG"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"  # bford.info/cachedir: the tag's fixed first line
TAG_TEXT = (f"{TAG_SIGNATURE}\n# This file is a cache directory tag created by xtalviewer: its thumbnail cache.\n"
            "# xtalviewer deletes only the thumbnails it wrote here (NN/<40 hex digits>.jpg).\n")
_TAG_OWNER = "created by xtalviewer: its thumbnail cache"
_ENTRY_FOLDER = re.compile(r"[0-9a-f]{2}\Z")
_ENTRY = re.compile(r"[0-9a-f]{40}\.jpg\Z")
_PART = re.compile(r"tmp[a-z0-9_]{8}\.part\Z")  # what mkstemp(suffix=".part") names an entry being written

ImageUnder = Callable[[str], str | None]  # folder -> an imported image's path under it, or None


def is_tagged(folder: Path) -> bool:
    """Whether ``folder`` carries this cache's tag file (written by xtalviewer, not another program)."""
    try:
        text = read_regular_text(folder / TAG_NAME)
    except (OSError, UnicodeDecodeError):
        return False
    return text.startswith(TAG_SIGNATURE) and _TAG_OWNER in text


def _foreign_entry(folder: Path) -> str | None:
    """The first thing in an untagged ``folder`` that this cache would not have written, or None."""
    with os.scandir(folder) as top:
        for sub in top:
            if not (_ENTRY_FOLDER.match(sub.name) and sub.is_dir(follow_symlinks=False)):
                return sub.name
            with os.scandir(sub.path) as files:
                for f in files:
                    own = (_ENTRY.match(f.name) and f.name[:2] == sub.name) or _PART.match(f.name)
                    if not (own and f.is_file(follow_symlinks=False)):
                        return f"{sub.name}{os.sep}{f.name}"
    return None


def thumbnail_folder_problem(folder: str | os.PathLike, image_under: ImageUnder | None = None) -> str | None:
    """Why ``folder`` cannot be the thumbnail cache, in one line, or None.

    Refused: something other than a folder; a folder that holds an imported plate's images
    (``image_under(folder)`` asks the store for one; given the folder as typed and as its real
    path); an untagged folder that holds files the cache did not write.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"{folder} is not a folder; choose an empty folder for thumbnails"
    if image_under is not None:
        for candidate in dict.fromkeys((os.path.abspath(folder), os.path.realpath(folder))):
            image = image_under(candidate)
            if image is not None:
                return (f"{folder} holds the images of imported plates (e.g. {image}); thumbnails need a folder of "
                        "their own")
    if not folder.is_dir() or is_tagged(folder):
        return None
    try:
        foreign = _foreign_entry(folder)
    except OSError as exc:
        return f"{folder} cannot be read ({exc.strerror or exc}); choose an empty folder for thumbnails"
    if foreign is not None:
        return f"{folder} holds other files (e.g. {foreign}); choose an empty folder for thumbnails"
    return None


def claim_folder(folder: Path) -> str | None:
    """Make ``folder`` the cache's own: create it, or adopt it when it holds nothing else, and tag
    it. Returns why it cannot be (one line), or None."""
    if is_tagged(folder):
        return None
    problem = thumbnail_folder_problem(folder)
    if problem is not None:
        return problem
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tag.", suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(TAG_TEXT)
        os.replace(tmp, folder / TAG_NAME)
    except OSError as exc:
        return f"{folder} cannot be written ({exc.strerror or exc})"
    return None


def cache_from_settings(settings: Settings, image_under: ImageUnder | None = None,
                        size: int = DEFAULT_THUMB_SIZE) -> tuple[ThumbnailCache, str | None]:
    """The cache of the thumbnail folder chosen in Preferences, with its limit; when that folder
    cannot be a cache (``thumbnail_folder_problem``), the default folder's, and a one-line warning."""
    limit = settings.thumbnail_limit_mb * 1024 * 1024
    chosen = settings.thumbnail_folder()
    problem = thumbnail_folder_problem(chosen, image_under)
    if problem is None:
        return ThumbnailCache(chosen, size=size, limit_bytes=limit), None
    default = Settings().thumbnail_folder()
    cache = ThumbnailCache(default, size=size, limit_bytes=limit)
    return cache, f"thumbnail folder not used: {problem}; the default {default} is used instead"


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
        self._claimed = False
        self.problem: str | None = None  # why the folder is not the cache's (then nothing is written or deleted)

    def _own_folder(self) -> bool:
        """Whether the folder is the cache's (tagged, creating or adopting it the first time)."""
        with self._lock:
            if not self._claimed and self.problem is None:
                self.problem = claim_folder(self.folder)
                self._claimed = self.problem is None
            return self._claimed

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

        Raises ImageLoadError when the source cannot be read (``RootNotMapped`` when its image root
        is not mapped on this workstation).
        """
        check_root(path)
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
        if not ok or not self._own_folder():
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
        """(mtime, size, path) of every entry the cache wrote: only names it generates, in entry
        folders that are real folders, never through a symbolic link."""
        entries = []
        for sub, files in self._entry_folders():
            for f in files:
                if not (_ENTRY.match(f.name) and f.name[:2] == sub):
                    continue
                try:
                    if not f.is_file(follow_symlinks=False):
                        continue
                    st = f.stat(follow_symlinks=False)
                except OSError:  # removed meanwhile by another process's prune
                    continue
                entries.append((st.st_mtime, st.st_size, Path(f.path)))
        return entries

    def _entry_folders(self) -> list[tuple[str, list[os.DirEntry]]]:
        found = []
        try:
            with os.scandir(self.folder) as top:
                subs = [e for e in top if _ENTRY_FOLDER.match(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            return found
        for sub in subs:
            try:
                with os.scandir(sub.path) as files:
                    found.append((sub.name, list(files)))
            except OSError:
                continue
        return found

    def usage_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def prune(self, limit_bytes: int | None = None) -> int:
        """When the cache is over its limit, delete the least recently written entries until it
        holds at most PRUNE_TO of the limit; also clears half-written entries of dead processes.
        Returns the number of entries removed. Safe to run while other threads and processes use it."""
        limit = self.limit_bytes if limit_bytes is None else limit_bytes
        if not self._own_folder():
            return 0
        now = time.time()
        for _, files in self._entry_folders():
            for f in files:
                try:
                    if _PART.match(f.name) and f.is_file(follow_symlinks=False) and \
                            now - f.stat(follow_symlinks=False).st_mtime > STALE_PART_S:
                        os.unlink(f.path)
                except OSError:
                    pass
        entries = self._entries()
        total = sum(e[1] for e in entries)
        removed = 0
        if total > limit:
            goal = int(limit * PRUNE_TO)
            inside = os.path.join(os.path.realpath(self.folder), "")
            for _, size, p in sorted(entries):
                if total <= goal:
                    break
                if not os.path.realpath(p).startswith(inside):  # a folder swapped for a link meanwhile
                    continue
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
