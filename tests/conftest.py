"""Shared fixtures: an isolated user folder per test and tiny image files made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    """Keep every test away from the real user data folder and database."""
    home = tmp_path_factory.mktemp("xtalviewer-home")
    monkeypatch.setenv("XTALVIEWER_HOME", str(home))
    monkeypatch.delenv("XTALVIEWER_DB", raising=False)
    return home


def write_image(path: Path, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (120, 90, 200),
                fmt: str | None = None, **save_args) -> Path:
    """A small real image file; the pixel pattern varies so JPEG has something to encode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.empty((h, w, 3), np.uint8)
    for i, c in enumerate(color):
        arr[:, :, i] = (c + (xx * 3 + yy * 2 * (i + 1))) % 256
    Image.fromarray(arr).save(path, format=fmt, **save_args)
    return path


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "test.db"
