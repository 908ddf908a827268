"""Finding the image files an import takes, and the report of what it did: folders walked once
(symlink loops and virtual file systems such as /proc never walked), file names that are not
UTF-8 reported, and the import's counts, notes and unreadable files."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xtalviewer.imaging.decode import _os_reason, is_image_path
from xtalviewer.store.filesystems import Mount, is_virtual, real_path


class ImportPathError(FileNotFoundError):
    """A path given to import does not exist."""


@dataclass
class ImportReport:
    plates: set[str] = field(default_factory=set)
    inspections: int = 0
    inspections_new: int = 0
    images_new: int = 0
    images_updated: int = 0
    images_unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    layouts: Counter = field(default_factory=Counter)
    found_again: list[tuple[str, str]] = field(default_factory=list)  # (route walked, stored path kept)
    other_copy: list[tuple[str, str]] = field(default_factory=list)  # (file of another copy, stored file kept)
    repointed: list[tuple[str, str]] = field(default_factory=list)  # (stored file left, file now recorded)
    resolved: list[tuple[str, str]] = field(default_factory=list)  # (route walked, real path recorded)

    @property
    def images(self) -> int:
        return self.images_new + self.images_updated + self.images_unchanged

    def summary(self) -> str:
        return (
            f"Recorded {len(self.plates)} plate{'s' * (len(self.plates) != 1)}, {self.inspections} inspection"
            f"{'s' * (self.inspections != 1)} ({self.inspections_new} new) and {self.images} image"
            f"{'s' * (self.images != 1)} ({self.images_new} new, {self.images_updated} updated, "
            f"{self.images_unchanged} unchanged); {len(self.unreadable)} unreadable."
        )


VIRTUAL_NOTE = "virtual file system (/proc, /sys, /dev): not image storage"


def real_route(path: Path) -> Path:
    """The file's real folder and its own name: folder links and /proc/<pid>/cwd are resolved, a
    symbolic link to a file keeps its (meaningful) name."""
    return Path(real_path(path.parent)) / path.name


def walk_images(paths: Iterable[str | os.PathLike], report: ImportReport,
                mounts: list[Mount] | None = None) -> Iterator[Path]:
    """Every image file under the given paths; folder errors, symlink loops and virtual file
    systems (never walked) go to the report."""
    for raw in paths:
        top = Path(raw)
        if is_virtual(top, mounts):
            report.skipped.append((str(top), VIRTUAL_NOTE))
            continue
        if top.is_file() or (top.is_symlink() and not top.is_dir()):
            if is_image_path(top):
                if _utf8(str(top)):
                    yield top.absolute()
                else:
                    report.unreadable.append((str(top).encode("utf-8", "backslashreplace").decode(),
                                              "file name is not valid UTF-8; rename the file to import it"))
            continue
        seen_dirs: set[tuple[int, int]] = set()

        def onerror(exc: OSError) -> None:
            report.unreadable.append((str(exc.filename or top), f"folder cannot be read: {_os_reason(exc)}"))

        for folder, dirnames, filenames in os.walk(top, onerror=onerror, followlinks=True):
            try:
                st = os.stat(folder)
            except OSError as exc:
                report.unreadable.append((folder, f"folder cannot be read: {_os_reason(exc)}"))
                dirnames[:] = []
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in seen_dirs:  # a symlink back up the tree: do not walk it twice (or forever)
                report.skipped.append((folder, "folder already walked (symbolic link loop)"))
                dirnames[:] = []
                continue
            if is_virtual(folder, mounts):  # e.g. a link to /proc, whose <pid>/cwd and root reach everything again
                report.skipped.append((folder, VIRTUAL_NOTE))
                dirnames[:] = []
                continue
            seen_dirs.add(ident)
            dirnames.sort()
            for name in sorted(filenames):
                if not is_image_path(name):
                    continue
                full = os.path.abspath(os.path.join(folder, name))
                if not _utf8(full):
                    report.unreadable.append((full.encode("utf-8", "backslashreplace").decode(),
                                              "file name is not valid UTF-8; rename the file to import it"))
                    continue
                yield Path(full)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
