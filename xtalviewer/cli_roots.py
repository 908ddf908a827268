"""``xtalviewer roots``: the store's named image roots and where this workstation finds them.

    xtalviewer roots                    the store's roots, this workstation's folder for each, images below
    xtalviewer roots add NAME FOLDER    define a root (paths already stored below FOLDER become relative)
    xtalviewer roots map NAME FOLDER    this workstation finds root NAME at FOLDER (its settings); paths
                                        it stored below FOLDER by absolute path move under the root
    xtalviewer roots unmap NAME         forget this workstation's folder for NAME

The store holds the roots (shared by every workstation of a lab's server); each workstation's
mapping lives in its settings (``image_roots``; XTALVIEWER_IMAGE_ROOTS overrides it). Bad input is
a ``CommandError``: one line, exit 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from xtalviewer.cli_common import CommandError, open_store
from xtalviewer.files.image_roots import clean_folder, name_problem, not_mapped_message
from xtalviewer.files.printable import printable
from xtalviewer.settings import IMAGE_ROOTS_ENV, load_settings, save_settings, settings_path
from xtalviewer.store.store import Store


def add_parser(sub: argparse._SubParsersAction, db: argparse.ArgumentParser) -> None:
    """The ``roots`` subcommand and its actions."""
    p = sub.add_parser("roots", parents=[db], help="named image roots: list them, define one, map one to a folder "
                       "on this workstation")
    p.set_defaults(func=run_roots, roots_action="list")
    actions = p.add_subparsers(dest="roots_action", metavar="ACTION")
    action_db = argparse.ArgumentParser(add_help=False)  # --db after the action too, as before it
    action_db.add_argument("--db", default=argparse.SUPPRESS,
                           help="the store: an SQLite file or a postgresql:// URL (as before the action)")
    actions.add_parser("list", parents=[action_db], help="the store's roots, this workstation's folder for each "
                       "and the images below it (the default)")
    a = actions.add_parser("add", parents=[action_db], help="define root NAME at FOLDER in the store (the paths "
                           "already stored below FOLDER become relative to it) and map it here")
    a.add_argument("name", metavar="NAME")
    a.add_argument("folder", metavar="FOLDER")
    a = actions.add_parser("map", parents=[action_db], help="this workstation finds root NAME at FOLDER (image "
                           "paths stored below FOLDER by absolute path move under the root)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("folder", metavar="FOLDER")
    a = actions.add_parser("unmap", parents=[action_db], help="forget this workstation's folder for root NAME")
    a.add_argument("name", metavar="NAME")


def run_roots(args: argparse.Namespace) -> int:
    action: Callable[[argparse.Namespace], int] = {"list": _list, "add": _add, "map": _map,
                                                   "unmap": _unmap}[args.roots_action or "list"]
    return action(args)


def _folder(text: str) -> str:
    """FOLDER as this workstation names it (absolute); a missing one is a CommandError."""
    folder = clean_folder(os.path.expanduser(text))
    if not os.path.isdir(folder):
        raise CommandError(f"folder {printable(folder)} does not exist (or is not a folder) on this workstation")
    return folder


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise CommandError(problem)


def _set_mapping(name: str, folder: str | None) -> Path:
    """Map (or, with None, unmap) root ``name`` in this workstation's settings."""
    settings, note = load_settings()
    if note:
        print(note)
    if folder is None:
        settings.image_roots.pop(name, None)
    else:
        settings.image_roots[name] = folder
    return save_settings(settings)


def _env_note(name: str) -> None:
    if name in os.environ.get(IMAGE_ROOTS_ENV, ""):
        print(f"Note: {IMAGE_ROOTS_ENV} is set here and overrides the settings for the roots it names.")


def _check_store_root(store: Store, name: str) -> None:
    """Refuse a root the store does not define (its names only: counting their images is for ``roots``)."""
    roots = store.defined_image_roots()
    if name not in roots:
        known = ", ".join(printable(n) for n in roots) or "none yet (xtalviewer roots add NAME FOLDER)"
        raise CommandError(f"no image root '{printable(name)}' in {store.location}; its roots: {known}")


def _list(args: argparse.Namespace) -> int:
    with open_store(args, readonly=True) as store:
        roots = store.image_roots()
        loose = store.images_under_no_root()
        location = store.location
    mapped_here = load_settings()[0].image_roots
    if not roots:
        print(f"No image roots in {location}: every image path is stored as it is ({loose} image"
              f"{'s' * (loose != 1)}). Name the imager share once: xtalviewer roots add NAME FOLDER")
    else:
        print(f"Image roots of {location}:")
        print(f"  {'root':<20} {'images':>8}  on this workstation")
        for r in roots:
            if r.folder is None:
                where = f"not mapped (defined at {printable(r.prefix)}): xtalviewer roots map {printable(r.name)} FOLDER"
            else:
                state = "exists" if os.path.isdir(r.folder) else "missing"
                how = "settings" if r.mapped == "settings" else "where it was defined"
                where = f"{printable(r.folder)} ({state}; {how})"
            print(f"  {printable(r.name):<20} {r.images:>8}  {where}")
        print(f"{loose} image{'s' * (loose != 1)} under no root (stored by absolute path).")
    unknown = sorted(set(mapped_here) - {r.name for r in roots})
    if unknown:
        print(f"Mapped in this workstation's settings but not defined in this store: {', '.join(map(printable, unknown))}")
    return 0


def _add(args: argparse.Namespace) -> int:
    _check_name(args.name)
    folder = _folder(args.folder)
    with open_store(args) as store:
        if args.name in store.defined_image_roots():
            raise CommandError(f"image root '{printable(args.name)}' exists already in {store.location} "
                               f"(xtalviewer roots map {printable(args.name)} FOLDER maps it here)")
        moved = store.define_image_root(args.name, folder)
        loose = store.images_under_no_root()
    saved = _set_mapping(args.name, folder)
    print(f"Image root {printable(args.name)} defined at {printable(folder)}: {moved} image path"
          f"{'s' * (moved != 1)} below it now stored relative to it; {loose} still under no root.")
    print(f"Mapped here ({saved}). Other workstations: xtalviewer roots map {printable(args.name)} FOLDER "
          "(not needed where the share is mounted at the same place).")
    _env_note(args.name)
    return 0


def _map(args: argparse.Namespace) -> int:
    _check_name(args.name)
    folder = _folder(args.folder)
    with open_store(args) as store:
        _check_store_root(store, args.name)
        moved = store.adopt_image_paths(args.name, folder)  # what this workstation recorded there before
        images = next(r.images for r in store.image_roots() if r.name == args.name)
    saved = _set_mapping(args.name, folder)
    print(f"Image root {printable(args.name)} is at {printable(folder)} on this workstation ({images} image"
          f"{'s' * (images != 1)} below it; settings {saved}).")
    if moved:
        print(f"{moved} image path{'s' * (moved != 1)} recorded below {printable(folder)} by absolute path "
              "now stored relative to the root.")
    _env_note(args.name)
    return 0


def _unmap(args: argparse.Namespace) -> int:
    _check_name(args.name)
    settings, _ = load_settings()
    if args.name not in settings.image_roots:
        raise CommandError(f"image root '{printable(args.name)}' is not mapped in this workstation's settings "
                           f"({settings_path()})")
    _set_mapping(args.name, None)
    print(f"Image root {printable(args.name)} is no longer mapped here; its images say: "
          f"{not_mapped_message(args.name)} (unless its folder exists here where it was defined).")
    _env_note(args.name)
    return 0
