"""The app leaves cleanly while a background thread is still decoding a huge image: ``--screenshot``
closes the window while the loader prefetches the next drop, a 196-megapixel PNG, and the process
must exit 0, never abort (exit 134, "terminate called without an active exception")."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.imaging.thumbnails import cache_from_settings
from xtalviewer.settings import Settings
from xtalviewer.store.store import Store


def test_screenshot_exits_cleanly_while_a_huge_image_is_still_decoding(tmp_path, db_path):
    plate = tmp_path / "HUGE1"
    write_image(plate / "A01.jpg", size=(64, 48))  # the drop on screen: shown at once
    # the next drop, prefetched as the window opens: 14000 x 14000 of one colour, quick to write, seconds to decode
    assert cv2.imwrite(str(plate / "A02.png"), np.full((14000, 14000), 90, np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    with Store(db_path) as store:  # no model: nothing is scored, only the loaders run
        import_paths(store, [plate])
        huge = next(store.image(i) for i in store.image_ids() if store.image(i).path.endswith("A02.png"))
    # its grid thumbnail is cached, as after a first opening, so the window settles before the decode ends
    cache, _ = cache_from_settings(Settings(), size=256)
    entry = cache.entry_path(huge.path, huge.size, huge.mtime)
    entry.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(entry), np.full((32, 32, 3), 90, np.uint8))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for run in range(2):
        shot = tmp_path / f"shot{run}.png"
        proc = subprocess.run([sys.executable, "-m", "xtalviewer", "--db", str(db_path), "--screenshot", str(shot)],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "terminate called" not in proc.stderr and shot.is_file()
