"""Named image roots in the store: which roots exist (a name and the folder it was defined under),
defining one (the absolute paths already stored below its folder become root-relative), and how
many images each holds.

Translation between stored and local paths is ``files.image_roots.RootMap``'s; each open store
holds one (``Store.roots``, which the concept modules read as ``db.roots``) built here from the
store's roots and this workstation's mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

from xtalviewer.files.image_roots import (
    RootMap, clean_folder, folder_prefix, is_windows_path, name_problem, stored_form,
)
from xtalviewer.store.db import Database, StoreError, now_iso
from xtalviewer.store.rows import ImageRoot

_TOP = "\U0010ffff"  # above every character: [prefix, prefix + _TOP) is a range on the path index


def defined_roots(db: Database) -> dict[str, str]:
    """name -> the folder each root was defined under."""
    return dict(db.execute("SELECT name, prefix FROM image_root ORDER BY name").fetchall())


def root_map(db: Database, mapping: Mapping[str, str]) -> RootMap:
    """The store's roots with this workstation's ``mapping`` (name -> folder), re-read on demand."""
    return RootMap(defined_roots(db), dict(mapping), reload=lambda: defined_roots(db))


def _count_from(db: Database, prefix: str) -> int:
    return db.execute("SELECT COUNT(*) FROM image WHERE path >= ? AND path < ?",
                      (prefix, prefix + _TOP)).fetchone()[0]


def image_roots(db: Database) -> list[ImageRoot]:
    """Every root of the store, by name, with its image count and where it is on this workstation."""
    db.roots.refresh()
    rows = db.execute("SELECT id, name, prefix, created_at FROM image_root ORDER BY name").fetchall()
    return [ImageRoot(*r, images=_count_from(db, stored_form(r[1], "")), folder=db.roots.mount(r[1]),
                      mapped=db.roots.how_mapped(r[1])) for r in rows]


def images_under_no_root(db: Database) -> int:
    """Images stored by an absolute path (under no root)."""
    total = db.execute("SELECT COUNT(*) FROM image").fetchone()[0]
    return total - _count_from(db, "{")


def define_root(db: Database, name: str, folder: str) -> int:
    """Define root ``name`` at ``folder`` (as this workstation sees it) and store the images already
    recorded below that folder root-relative; returns how many were rewritten. The workstation that
    defines a root finds it there without a mapping (``RootMap``); others map it."""
    problem = name_problem(name)
    if problem:
        raise StoreError(problem)
    folder = clean_folder(folder)
    try:
        with db.transaction():
            if db.execute("SELECT 1 FROM image_root WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"image root '{name}' exists already (xtalviewer roots lists them)")
            db.execute("INSERT INTO image_root(name, prefix, created_at) VALUES (?, ?, ?)", (name, folder, now_iso()))
            moved = _move_below(db, name, folder)
    except db.IntegrityError as exc:
        raise StoreError(f"image root '{name}' could not be defined: an image below {folder} is recorded twice "
                         f"({exc}); nothing was changed") from None
    db.roots.refresh()
    return moved


def adopt_paths(db: Database, name: str, folder: str) -> int:
    """Store the absolute paths below ``folder`` (where a workstation mounts root ``name``, e.g. the
    drive a Windows workstation recorded images under before the root existed) relative to the
    root; returns how many."""
    folder = clean_folder(folder)
    try:
        with db.transaction():
            if not db.execute("SELECT 1 FROM image_root WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"no image root '{name}' (xtalviewer roots lists them)")
            return _move_below(db, name, folder)
    except db.IntegrityError as exc:
        raise StoreError(f"the images below {folder} could not be stored under root '{name}': one is recorded "
                         f"twice ({exc}); nothing was changed") from None


def _move_below(db: Database, name: str, folder: str) -> int:
    """The absolute paths below ``folder`` rewritten root-relative: a range on the path index."""
    prefix = folder_prefix(folder)
    # a Windows path's separators become '/'; a POSIX file name may hold a backslash of its own
    relative = "replace(substr(path, ?), '\\', '/')" if is_windows_path(folder) else "substr(path, ?)"
    return db.execute(f"UPDATE image SET path = ? || {relative} WHERE path >= ? AND path < ?",
                      (stored_form(name, ""), len(prefix) + 1, prefix, prefix + _TOP)).rowcount
