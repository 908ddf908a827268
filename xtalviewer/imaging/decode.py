"""Robust image reading for every part of the app: one place that knows what can go wrong.

Imagers write 8-bit JPEG mostly, but labs also have 16-bit TIFFs, grayscale and RGBA PNGs, CMYK
JPEGs, EXIF-rotated files, truncated transfers and files that are not images at all. Everything
here returns RGB uint8 arrays or raises ``ImageLoadError`` with a reason a person can act on.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from xtalviewer.files.image_roots import not_mapped_message, unmapped_root
from xtalviewer.files.regular import open_regular

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
MAX_PIXELS = 200_000_000  # a 2560x1920 drop image is 5 MP; anything this big is a bomb or a mistake
_ROTATING_ORIENTATIONS = {5, 6, 7, 8}

cv2.setNumThreads(1)  # decoding runs in worker threads already; nested pools only contend
Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with our own message


class ImageLoadError(Exception):
    """An image that cannot be shown or scored; str() is the reason, fit for a status line."""


class RootNotMapped(ImageLoadError):
    """The image lies under a named image root this workstation does not map: not unreadable (the
    next workstation reads it), so never recorded as the image's load error."""

    def __init__(self, root: str):
        super().__init__(not_mapped_message(root))
        self.root = root


def check_root(path: str | os.PathLike) -> None:
    """Raise ``RootNotMapped`` for a path whose image root is not mapped here (the store handed it
    over in its stored form, ``files.image_roots``)."""
    root = unmapped_root(path)
    if root is not None:
        raise RootNotMapped(root)


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _os_reason(exc: OSError) -> str:
    reasons = {
        errno.ENOENT: "file not found",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "symbolic link loop",
        errno.EISDIR: "is a folder, not a file",
        errno.ENAMETOOLONG: "file name too long",
    }
    return reasons.get(exc.errno, exc.strerror or str(exc))


def read_bytes(path: str | os.PathLike) -> bytes:
    """The whole file; only a regular file is read (a FIFO or a device named like an image is refused)."""
    check_root(path)
    try:
        with open_regular(path) as fh:
            data = fh.read()
    except OSError as exc:
        raise ImageLoadError(_os_reason(exc)) from None
    if not data:
        raise ImageLoadError("empty file (0 bytes)")
    return data


def _open_pil(source: str | os.PathLike | io.BytesIO | io.BufferedReader) -> Image.Image:
    """Pillow's lazy open: it reads the header, never the pixels; the size is checked at once."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(source)
    except UnidentifiedImageError:
        raise ImageLoadError("not an image file (unrecognised format)") from None
    except OSError as exc:
        raise ImageLoadError(_os_reason(exc)) from None
    except (ValueError, SyntaxError) as exc:  # Pillow raises these for some malformed headers
        raise ImageLoadError(f"unreadable image header ({exc})") from None
    try:
        _guard_size(*im.size)  # before anything that might decode (PNG's getexif() loads the whole image)
    except ImageLoadError:
        im.close()
        raise
    return im


def _orientation(im: Image.Image) -> int | None:
    """The EXIF orientation tag, read without decoding pixels.

    Pillow's ``getexif()`` decodes a whole PNG to look for an eXIf chunk after the pixel data, so a
    PNG's EXIF is taken only from what its header already holds.
    """
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return None
            exif = Image.Exif()
            exif.load(raw)
            return exif.get(0x0112)
        return im.getexif().get(0x0112)
    except Exception:  # a broken EXIF block must not make a readable image unreadable
        return None


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    width, height = im.size
    return (height, width) if _orientation(im) in _ROTATING_ORIENTATIONS else (width, height)


def is_upright(im: Image.Image) -> bool:
    """True when the image needs no EXIF rotation (checked from the header only)."""
    return _orientation(im) in (None, 1)


def _guard_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"image header says {width}x{height} pixels")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"image is {width}x{height} pixels ({width * height / 1e6:.0f} MP), over the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit; refused as a likely decompression bomb"
        )


def open_header(data: bytes) -> Image.Image:
    """Pillow's view of in-memory image bytes, size-checked before anything decodes; close it after use."""
    return _open_pil(io.BytesIO(data))


def read_header(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as displayed (EXIF rotation applied), reading only the file's header."""
    check_root(path)
    try:
        fh = open_regular(path)
    except OSError as exc:
        raise ImageLoadError(_os_reason(exc)) from None
    with fh:
        try:
            empty = os.fstat(fh.fileno()).st_size == 0
        except OSError as exc:
            raise ImageLoadError(_os_reason(exc)) from None
        if empty:
            raise ImageLoadError("empty file (0 bytes)")
        with _open_pil(fh) as im:
            return _oriented_size(im)


def _reduce_flag(width: int, height: int, max_side: int | None, min_side: int | None) -> int:
    """cv2 flag for JPEG DCT-domain downscaling (1/2, 1/4, 1/8) that keeps the long side >= max_side
    and the short side >= min_side."""
    if not max_side and not min_side:
        return cv2.IMREAD_COLOR
    longest, shortest = max(width, height), min(width, height)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if longest // factor >= (max_side or 0) and shortest // factor >= (min_side or 0):
            return flag
    return cv2.IMREAD_COLOR


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """Pillow fallback for what OpenCV cannot decode: any mode to RGB uint8."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max()
        scale = 255.0 / (65535.0 if top > 255 else max(top, 1.0))
        gray = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def decode(data: bytes, max_side: int | None = None, *, min_side: int | None = None) -> np.ndarray:
    """Decode image bytes to RGB uint8 (H, W, 3), EXIF orientation applied.

    With ``max_side`` (long side, for thumbnails) or ``min_side`` (short side, for model inputs) a
    JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain when that still leaves that many
    pixels: 3-5x faster. The result is not resized further; callers resize to their exact size.
    """
    with _open_pil(io.BytesIO(data)) as im:
        width, height = _oriented_size(im)
        fmt = im.format
        flag = _reduce_flag(width, height, max_side, min_side) if fmt == "JPEG" else cv2.IMREAD_COLOR
        arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
        if arr is not None and arr.ndim == 3 and arr.shape[2] == 3:
            return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        try:
            im.load()
            return _to_rgb8(im)
        except ImageLoadError:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            text = str(exc)
            if "truncated" in text:
                raise ImageLoadError("truncated image file (the transfer was probably cut short)") from None
            raise ImageLoadError(f"corrupt {fmt or 'image'} data ({text})") from None
        except MemoryError:
            raise ImageLoadError("not enough memory to decode this image") from None


def load_rgb(path: str | os.PathLike, max_side: int | None = None, *, min_side: int | None = None) -> np.ndarray:
    """Read and decode one image file; see ``decode``."""
    return decode(read_bytes(path), max_side, min_side=min_side)


def fit_within(arr: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so the long side is at most ``max_side``, keeping the aspect ratio.
    Area averaging for strong reductions; for the last small step after a reduced JPEG decode
    (scale 0.5 or more) bilinear looks the same and is several times faster."""
    h, w = arr.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return arr
    method = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    return cv2.resize(arr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=method)
