"""Where xtalviewer keeps its files: one place, so every command agrees."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import platformdirs

APP = "xtalviewer"
DB_ENV = "XTALVIEWER_DB"


def data_dir() -> Path:
    """User data folder (database, demo plates, user label schemes, model checkpoints)."""
    override = os.environ.get("XTALVIEWER_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP, appauthor=False))


def cache_dir() -> Path:
    """User cache folder (thumbnails): safe to delete at any time."""
    override = os.environ.get("XTALVIEWER_HOME")
    if override:
        return Path(override) / "cache"
    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def default_db_path() -> Path | str:
    """XTALVIEWER_DB, else the data folder's database file: a file path, or a ``postgresql://`` URL
    kept as text (a ``Path`` would fold its ``//``). Commands ask ``settings.default_db_location``,
    which puts the database chosen in Preferences between the two."""
    override = os.environ.get(DB_ENV)
    if override and "://" in override:
        return override
    return Path(override) if override else data_dir() / "xtalviewer.db"


def resources_dir() -> Path:
    """The bundled resources folder (label schemes, icons, style sheets)."""
    return Path(str(files("xtalviewer.resources")))


def user_schemes_dir() -> Path:
    """Folder where a lab drops its own label-scheme JSON files."""
    return data_dir() / "label_schemes"
