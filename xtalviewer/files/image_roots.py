"""Image roots: the imager share named once for the whole lab (``RockImager``) and mounted by each
workstation where it likes (``/mnt/rockimager`` here, ``Z:\\RockImager`` there).

A store records an image under a root as ``{RockImager}/plate/file.jpg``: the root's name in braces,
then the path below it with ``/`` between its parts, whatever the workstation that recorded it. A
path under no root stays absolute. ``RootMap`` turns one form into the other through this
workstation's mapping; the store keeps it, so the rest of the app sees local absolute paths. A row
whose root is not mapped here keeps the stored form as its path: ``unmapped_root`` names the root,
and ``not_mapped_message`` is what a person reads instead of "file not found".
"""

from __future__ import annotations

import ntpath
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

NAME_RULE = "a letter or digit, then letters, digits, '_', '-' or '.' (at most 64)"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_STORED = re.compile(r"\{([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\}[/\\]")
_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[^\\])")  # Z:\share, \\server\share


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a root, or None."""
    if not _NAME.fullmatch(name):
        return f"'{name}' cannot name an image root: use {NAME_RULE}"
    return None


def stored_form(name: str, relative: str) -> str:
    """How the store records ``relative`` (parts joined by '/') under root ``name``."""
    return f"{{{name}}}/{relative}"


def unmapped_root(path: str | os.PathLike) -> str | None:
    """The root a path still names when it was read on a workstation that does not map that root
    (the stored form came through unresolved), else None."""
    m = _STORED.match(os.fspath(path))
    return m.group(1) if m else None


def not_mapped_message(name: str) -> str:
    """The one line said where an image of an unmapped root would be shown or scored."""
    return f"image root '{name}' is not mapped on this workstation: xtalviewer roots map {name} FOLDER"


def is_windows_path(path: str) -> bool:
    """A drive or UNC path (``Z:\\RockImager``, ``\\\\server\\share``), whatever the machine reading it."""
    return bool(_WINDOWS.match(path))


def clean_folder(folder: str) -> str:
    """A root's folder as paths are compared with it: real (links resolved, as imports record the
    files' real folders), absolute, no trailing separator. A Windows folder named on another system
    keeps its own style."""
    if is_windows_path(folder) and os.name != "nt":
        clean = ntpath.normpath(folder)
        return clean if len(clean) <= 3 else clean.rstrip("\\")  # a drive's root keeps its separator
    return os.path.realpath(folder)


def relative_under(path: str, folder: str) -> str | None:
    """``path`` below ``folder`` as parts joined by '/', or None when it is not inside it. Windows
    folders compare without case and with either separator, as Windows does."""
    if is_windows_path(folder):
        base = folder.replace("/", "\\").rstrip("\\")
        p = path.replace("/", "\\")
        if len(p) > len(base) + 1 and p[len(base)] == "\\" and p[: len(base)].lower() == base.lower():
            return p[len(base) + 1:].replace("\\", "/")
        return None
    base = folder.rstrip("/")
    if len(path) > len(base) + 1 and path[len(base)] == "/" and path.startswith(base):
        return path[len(base) + 1:]
    return None


def join_under(folder: str, relative: str) -> str:
    """The local path of ``relative`` (parts joined by '/') below ``folder``, in the folder's style."""
    if folder[:1] == "/":  # a POSIX folder (the common case first)
        return (folder if folder != "/" else "") + "/" + relative
    if is_windows_path(folder):
        return folder.rstrip("\\/") + "\\" + relative.replace("/", "\\")
    return folder.rstrip("/") + "/" + relative


def folder_prefix(folder: str) -> str:
    """``folder`` with its separator: every path inside it starts with this, and no other does."""
    if is_windows_path(folder):
        return folder.rstrip("\\/") + "\\"
    return folder.rstrip("/") + "/"


@dataclass
class RootMap:
    """The roots a store defines (name -> the folder it was defined under) and where they are on
    this workstation: the settings' mapping first; a root the settings do not map is found where it
    was defined, when that folder exists here (workstations that mount the share at the same place
    need no mapping). ``reload`` re-reads the store's roots when a row names one defined since."""

    defined: dict[str, str] = field(default_factory=dict)
    mapped: dict[str, str] = field(default_factory=dict)
    reload: Callable[[], dict[str, str]] | None = None
    _mounts: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _bases: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _order: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False)
    _tried: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._settle()

    def _settle(self) -> None:
        mounts = {}
        for name, prefix in self.defined.items():
            folder = self.mapped.get(name)
            if folder:
                mounts[name] = clean_folder(folder)
            elif prefix and is_windows_path(prefix) == (os.name == "nt") and os.path.isdir(prefix):
                mounts[name] = clean_folder(prefix)
        self._mounts = mounts
        self._bases = {name: folder_prefix(folder) for name, folder in mounts.items()}  # "/mnt/ri/", "Z:\\RI\\"
        # longest folder first: a path under two roots belongs to the innermost
        self._order = sorted(mounts.items(), key=lambda kv: len(kv[1]), reverse=True)

    def refresh(self) -> None:
        """Read the store's roots again (``reload``): one defined on another workstation since."""
        if self.reload is not None:
            self.defined = self.reload()
            self._settle()

    def mount(self, name: str) -> str | None:
        """Where root ``name`` is on this workstation, or None where it is not mapped."""
        return self._mounts.get(name)

    def how_mapped(self, name: str) -> str | None:
        """'settings' (this workstation maps it), 'as defined' (found where it was defined) or None."""
        if name not in self._mounts:
            return None
        return "settings" if self.mapped.get(name) else "as defined"

    # -- stored form -> local path -----------------------------------------------------------------

    def local(self, stored: str) -> str:
        """The local path of a stored one; the stored form itself when its root is not mapped here."""
        if stored[:1] != "{":
            return stored
        name, sep, rest = stored[1:].partition("}/")
        base = self._bases.get(name) if sep else None
        if base is not None:  # the common case, at the cost of a few string operations per row
            return base + rest if base[-1] == "/" else base + rest.replace("/", "\\")
        m = _STORED.match(stored)
        if m is None:
            return stored
        name = m.group(1)
        if name not in self.defined and name not in self._tried:
            self._tried.add(name)  # a root defined since this store was opened: read them again, once
            self.refresh()
        folder = self._mounts.get(name)
        if folder is None:
            return stored
        return join_under(folder, stored[m.end():])

    def local_rows(self, rows: Iterable[tuple], at: int) -> list[tuple]:
        """Rows (tuples) with the stored path at index ``at`` made local."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not self.defined:
            if not any(isinstance(r[at], str) and r[at][:1] == "{" for r in rows):
                return rows  # the usual case of a store without roots: nothing to do
            self.refresh()  # a root defined on another workstation since this store was opened
        local, after = self.local, at + 1
        return [r[:at] + (local(r[at]),) + r[after:] if isinstance(r[at], str) and r[at][:1] == "{" else r
                for r in rows]

    # -- local path -> stored form ------------------------------------------------------------------

    def stored(self, path: str) -> str:
        """How the store records (or looks up) a local path: under its root where a mapped root holds
        it, else as it is."""
        for name, folder in self._order:
            relative = relative_under(path, folder)
            if relative is not None:
                return stored_form(name, relative)
        return path

    def stored_prefixes(self, folder: str) -> list[str]:
        """Where the stored paths of everything inside ``folder`` begin: its own absolute prefix, the
        root-relative one of each mapped root holding it, and each mapped root lying inside it."""
        folder = clean_folder(folder)
        out = [folder_prefix(folder)]
        for name, mount in self._order:
            if mount == folder or relative_under(mount, folder) is not None:
                out.append(stored_form(name, ""))
            elif (relative := relative_under(folder, mount)) is not None:
                out.append(stored_form(name, relative + "/"))
        return out

    def unmapped(self, stored: str) -> str | None:
        """The root a stored path is under when that root is not mapped here, else None."""
        m = _STORED.match(stored)
        if m is None or m.group(1) in self._mounts:
            return None
        return m.group(1)


def mapping_from_text(text: str) -> dict[str, str]:
    """``NAME=FOLDER`` entries separated by the path-list separator (``:`` or ``;`` on Windows), as
    the environment variable ``XTALVIEWER_IMAGE_ROOTS`` gives them."""
    out = {}
    for entry in text.split(os.pathsep):
        name, sep, folder = entry.partition("=")
        if sep and name.strip() and folder.strip():
            out[name.strip()] = folder.strip()
    return out


def merged(*mappings: Mapping[str, str]) -> dict[str, str]:
    """Later mappings win, name by name; entries that are not text are left out."""
    out: dict[str, str] = {}
    for m in mappings:
        out.update({k: v for k, v in m.items() if isinstance(k, str) and isinstance(v, str) and v})
    return out
