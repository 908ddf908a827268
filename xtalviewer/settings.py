"""User settings: one versioned JSON file in the user config folder, with defaults for every key.

Unknown keys from a newer release are kept (so a downgrade does not erase them); a broken file is
set aside and the defaults are used, with a note saying so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

from xtalviewer.paths import APP, DB_ENV, cache_dir, default_db_path
from xtalviewer.files.image_roots import mapping_from_text, merged
from xtalviewer.files.regular import read_regular_text

SETTINGS_VERSION = 1


def settings_path() -> Path:
    override = os.environ.get("XTALVIEWER_HOME")
    base = Path(override) / "config" if override else Path(platformdirs.user_config_dir(APP, appauthor=False))
    return base / "settings.json"


@dataclass
class Settings:
    annotator: str = ""  # empty until the person has said who they are
    auto_advance: bool = True
    device: str = "auto"
    default_model: int | None = None
    thumbnail_dir: str = ""  # empty: the user cache folder
    thumbnail_limit_mb: int = 2048
    thumbnail_size: int = 160
    label_scheme: str = "xtal10"  # used for new databases
    hotkeys: dict[str, str] = field(default_factory=dict)  # class key -> key, overriding the scheme's hotkey
    review_order: str = "plate"
    window_geometry: str = ""  # the review window's place and size at the last close; empty: fit the screen
    last_db: str = ""
    database: str = ""  # the store without --db or XTALVIEWER_DB: a file or postgresql:// URL (never a password)
    watch_folders: list[str] = field(default_factory=list)  # imager folders `xtalviewer watch` follows by default
    watch_summary: str = ""  # file `xtalviewer watch` rewrites with the new hits after each inspection; empty: none
    image_roots: dict[str, str] = field(default_factory=dict)  # image root name -> its folder on this workstation
    watch_enabled: bool = False  # the review window watches ``watch_folders`` while it is open (File > Watch)
    watch_offered: bool = False  # the window offered, once, to watch a folder after an import
    hits_last_look: dict[str, str] = field(default_factory=dict)  # annotator -> when they last opened the hit list (UTC ISO)
    extra: dict = field(default_factory=dict)  # keys this release does not know, kept as they were

    def thumbnail_folder(self) -> Path:
        return Path(self.thumbnail_dir) if self.thumbnail_dir else cache_dir() / "thumbnails"


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """(settings, note): defaults where the file is missing; a note when it had to be set aside."""
    path = path or settings_path()
    if not path.exists():
        return Settings(), None
    try:
        doc = json.loads(read_regular_text(path))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        aside = path.with_name(path.name + ".broken")
        try:
            os.replace(path, aside)
        except OSError:
            pass
        return Settings(), f"settings file {path} could not be read ({exc}); defaults are used, the old file is {aside}"
    known = {f.name: f for f in fields(Settings)}
    values, extra = {}, dict(doc.get("extra") or {})
    defaults = Settings()
    for key, value in doc.items():
        if key in ("version", "extra"):
            continue
        if key in known:
            default = getattr(defaults, key)
            ok = value is None and default is None or isinstance(value, type(default)) or \
                (key == "default_model" and (value is None or isinstance(value, int)))
            if ok:
                values[key] = value
        else:
            extra[key] = value
    return Settings(**values, extra=extra), None


IMAGE_ROOTS_ENV = "XTALVIEWER_IMAGE_ROOTS"  # NAME=FOLDER entries, path-list separated: over the settings


def _saved_value(key: str, path: Path | None = None) -> object:
    """One key of the settings file, read without side effects (every command and every store asks;
    a broken file is for the app to set aside and say so, ``load_settings``); None when absent."""
    try:
        doc = json.loads(read_regular_text(path or settings_path()))
    except (OSError, ValueError):
        return None
    return doc.get(key) if isinstance(doc, dict) else None


def with_env_roots(roots: dict[str, str]) -> dict[str, str]:
    """A settings mapping of image roots (name -> folder), each overridden by XTALVIEWER_IMAGE_ROOTS."""
    return merged(roots, mapping_from_text(os.environ.get(IMAGE_ROOTS_ENV, "")))


def image_roots_here(path: Path | None = None) -> dict[str, str]:
    """This workstation's image-root mapping (name -> folder): the settings' ``image_roots``, each
    overridden by XTALVIEWER_IMAGE_ROOTS. Read as every store opens."""
    roots = _saved_value("image_roots", path)
    return with_env_roots(roots if isinstance(roots, dict) else {})


def saved_database(path: Path | None = None) -> str:
    """The ``database`` of the settings file; empty when there is none."""
    value = _saved_value("database", path)
    return value.strip() if isinstance(value, str) else ""


def default_db_location() -> Path | str:
    """The store of every command and the app when no --db is given: XTALVIEWER_DB, else the
    database chosen in Preferences, else the data folder's file. A server URL stays text."""
    if os.environ.get(DB_ENV):
        return default_db_path()
    chosen = saved_database()
    if chosen:
        return chosen if "://" in chosen else Path(chosen).expanduser()
    return default_db_path()


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically, with the format version."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": SETTINGS_VERSION, **{k: v for k, v in asdict(settings).items() if k != "extra"},
           **settings.extra}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path
