"""Small real image files for tests, made on the fly (tests never ship image data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


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


def write_hwi(root, plate="X000012345", stamps=("201807151230",), kinds=("jpg", "uvt", "shg"),
              wells=(1, 48, 49, 1536)):
    """HWI folders ``<plate><stamp>-<kind>`` with one image per well (the UV and SHG ones darker)."""
    for stamp in stamps:
        for n, kind in enumerate(kinds):
            for well in wells:
                write_image(root / f"{plate}{stamp}-{kind}" / f"{plate}{well:04d}{stamp[:8]}.jpg",
                            color=(120 - 50 * n, 90, 200 - 60 * n))
    return plate
