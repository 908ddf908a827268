"""Preferences taking effect in the open review window at once: the label keys wherever they show
(shortcuts, the label bar, the ? list), auto-advance, the thumbnail cache, and through the review
commands who labels and which model scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from xtalviewer.imaging.thumbnails import ThumbnailCache, cache_from_settings, prune_in_background
from xtalviewer.labels import LabelScheme
from xtalviewer.review import commands
from xtalviewer.review.actions import review_actions, shortcut_rows
from xtalviewer.settings import Settings, with_env_roots
from xtalviewer.store.store import Store
from xtalviewer.gui.app.menus import set_shortcuts

if TYPE_CHECKING:
    from xtalviewer.gui.app.main_window import MainWindow


def label_keys(scheme: LabelScheme, settings: Settings) -> dict[str, str]:
    """Class key -> the key that labels it: the user's choice, else the scheme's."""
    return {c.key: settings.hotkeys.get(c.key, c.hotkey) for c in scheme.classes}


def apply_settings(window: MainWindow, new: Settings) -> None:
    """Save ``new`` and put it into effect in ``window``."""
    old, window.settings = window.settings, new
    window.save_settings()
    window.hotkeys = label_keys(window.scheme, new)
    window.action_table = review_actions(window.scheme, window.hotkeys)
    set_shortcuts(window.actions_, window.action_table)
    window.label_bar.set_hotkeys(window.hotkeys)
    window.overlay.set_rows(shortcut_rows(window.action_table))
    window.actions_["edit.advance"].setChecked(new.auto_advance)
    if (new.thumbnail_dir, new.thumbnail_limit_mb) != (old.thumbnail_dir, old.thumbnail_limit_mb):
        window.thumb_cache = thumbnail_cache(new, window.store, window.say)
    commands.settings_changed(window.session, window, old)
    if new.image_roots != old.image_roots:  # this workstation's folders for the store's image roots
        window.store.map_image_roots(with_env_roots(new.image_roots))
        for loader in (window.thumbs, window.images):  # what they could not load before may load now
            loader.clear()
        window.reload_queue(keep_image=window.current_image_id())  # the rows' paths, read with the new folders
        window.refresh_browser()
        window.say("Image roots: the drops are read from the new folders", 8000)
    window.show_model()
    window.watching.follow_settings()  # the watched folders, on or off, the device


def thumbnail_cache(settings: Settings, store: Store, say: Callable[[str, int], None]) -> ThumbnailCache:
    """The disk cache, pruned in the background: its limit may have shrunk, or others filled it.
    A thumbnail folder that cannot be a cache (plate images, others' files) gives way to the
    default folder, and the status bar says so."""
    cache, warning = cache_from_settings(settings, store.image_path_under, size=256)
    if warning:
        say(warning, 30000)
    prune_in_background(cache)
    return cache
