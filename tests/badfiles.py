"""The bad-input fixture set, made by the tests: every kind of file an imager folder can hold that
is broken or unusual. Returns what each file is expected to do."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from imagefiles import write_image
from PIL import Image


def png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def make_bad_folder(folder: Path) -> dict[str, str]:
    """name -> 'ok' (unusual but valid), 'header' (refused at import), 'pixels' (refused when decoded),
    'name' (a file name the store cannot hold), or 'loop'. Wells A01.. in a generic-layout folder."""
    folder.mkdir(parents=True, exist_ok=True)
    expect: dict[str, str] = {}

    write_image(folder / "A01_plain.jpg", size=(120, 100))
    expect["A01_plain.jpg"] = "ok"
    (folder / "A02_zero.jpg").write_bytes(b"")
    expect["A02_zero.jpg"] = "header"
    full = write_image(folder / "tmp_full.jpg", size=(300, 240)).read_bytes()
    os.unlink(folder / "tmp_full.jpg")
    (folder / "A03_truncated.jpg").write_bytes(full[: len(full) // 3])
    expect["A03_truncated.jpg"] = "pixels"
    (folder / "A04_text.jpg").write_text("this is a note, not an image\n")
    expect["A04_text.jpg"] = "header"
    png_header_only(folder / "A05_bomb.png", 30000, 30000)
    expect["A05_bomb.png"] = "header"
    Image.fromarray((np.arange(120 * 100, dtype=np.uint16).reshape(100, 120) * 5)).save(folder / "A06_16bit.tif")
    expect["A06_16bit.tif"] = "ok"
    Image.new("CMYK", (120, 100), (0, 120, 40, 0)).save(folder / "A07_cmyk.jpg")
    expect["A07_cmyk.jpg"] = "ok"
    Image.new("L", (120, 100), 128).save(folder / "A08_gray.png")
    expect["A08_gray.png"] = "ok"
    Image.new("RGBA", (120, 100), (10, 200, 30, 90)).save(folder / "A09_rgba.png")
    expect["A09_rgba.png"] = "ok"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (120, 60), (90, 90, 200)).save(folder / "A10_exif_rotated.jpg", exif=exif)
    expect["A10_exif_rotated.jpg"] = "ok"
    long_name = "A11_" + "long" * 60 + ".jpg"  # 248 characters, just under the usual 255-byte limit
    write_image(folder / long_name)
    expect[long_name] = "ok"
    with open(os.fsencode(str(folder)) + b"/A12_caf\xe9.jpg", "wb") as fh:  # Latin-1 byte: not UTF-8
        fh.write(full)
    expect["A12_caf\\xe9.jpg"] = "name"
    os.symlink(folder / "B01_loop_b.jpg", folder / "B01_loop_a.jpg")
    os.symlink(folder / "B01_loop_a.jpg", folder / "B01_loop_b.jpg")
    expect["B01_loop_a.jpg"] = "loop"
    expect["B01_loop_b.jpg"] = "loop"
    return expect
