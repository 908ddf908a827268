import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from imagefiles import write_image
from PIL import Image

from xtalviewer.imaging.decode import ImageLoadError, decode, fit_within, load_rgb, read_header


def png_with_header_only(path, width, height):
    """A PNG whose header claims width x height but which holds almost no data: a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_plain_jpeg_decodes_to_rgb(tmp_path):
    path = write_image(tmp_path / "a.jpg", size=(64, 48), color=(200, 10, 10))
    arr = load_rgb(path)
    assert arr.shape == (48, 64, 3) and arr.dtype == np.uint8
    assert read_header(path) == (64, 48)


def test_reduced_jpeg_decode_keeps_at_least_max_side(tmp_path):
    path = write_image(tmp_path / "big.jpg", size=(1224, 1024))
    assert load_rgb(path, max_side=256).shape == (256, 306, 3)  # 1/4 scale: 306 >= 256
    assert load_rgb(path, max_side=700).shape == (1024, 1224, 3)
    assert fit_within(load_rgb(path, max_side=256), 256).shape == (214, 256, 3)


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise on display
    Image.new("RGB", (80, 20), (0, 200, 0)).save(path, exif=exif)
    assert read_header(path) == (20, 80)
    assert load_rgb(path).shape == (80, 20, 3)


@pytest.mark.parametrize("mode, fmt, suffix", [("L", "PNG", "png"), ("RGBA", "PNG", "png"), ("CMYK", "JPEG", "jpg"),
                                               ("RGB", "BMP", "bmp"), ("RGB", "TIFF", "tif")])
def test_other_modes_become_rgb(tmp_path, mode, fmt, suffix):
    path = tmp_path / f"img.{suffix}"
    Image.new(mode, (30, 20)).save(path, format=fmt)
    arr = load_rgb(path)
    assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8


def test_16_bit_tiff_is_scaled_to_8_bit(tmp_path):
    path = tmp_path / "deep.tif"
    data = (np.arange(600, dtype=np.uint16).reshape(20, 30) * 100)
    Image.fromarray(data).save(path)
    arr = load_rgb(path)
    assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8
    assert arr.max() > 200 and arr[0, 0, 0] < 5  # full range kept, not clipped to white


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    for fn in (read_header, load_rgb):
        with pytest.raises(ImageLoadError, match="empty file"):
            fn(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_text("hello, I am not a JPEG")
    with pytest.raises(ImageLoadError, match="not an image file"):
        load_rgb(path)


def test_truncated_jpeg(tmp_path):
    full = write_image(tmp_path / "full.jpg", size=(400, 300)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(full[: len(full) // 2])
    read_header(path)  # the header survived ...
    with pytest.raises(ImageLoadError, match="truncated|corrupt"):
        load_rgb(path)  # ... the pixels did not


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    path = png_with_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        read_header(path)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_rgb(path)


def real_png_bomb(path, width, height):
    """A complete, valid 8-bit grayscale PNG of width x height zeros: a few MB on disk, width*height
    bytes once decoded. Rows are compressed in blocks so making it takes under a second."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    packer = zlib.compressobj(1)
    rows_per_block = 500
    block = b"\0" * ((1 + width) * rows_per_block)
    idat = b"".join(packer.compress(block) for _ in range(height // rows_per_block)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


PEAK_PROBE = """
import resource, sys
from xtalviewer.imaging.decode import ImageLoadError, load_rgb, read_header
from xtalviewer.imaging.thumbnails import ThumbnailCache
for read in (read_header, load_rgb, ThumbnailCache(sys.argv[2]).get):
    try:
        read(sys.argv[1])
        print("decoded")
    except ImageLoadError as exc:
        print(exc)
try:  # VmHWM: the peak of this process image; ru_maxrss on Linux keeps the forking parent's peak
    peak_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except OSError:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
print("peak MB", peak_kb / 1024)
"""


def test_a_real_decompression_bomb_named_jpg_is_refused_before_it_decodes(tmp_path):
    # 20000x20000 PNG named .jpg: Pillow's getexif() on a PNG decodes all 400 MB of it
    pytest.importorskip("resource")  # POSIX: the child reports its own peak memory
    bomb = real_png_bomb(tmp_path / "A01_bomb.jpg", 20000, 20000)
    assert bomb.stat().st_size < 5_000_000
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(bomb), str(tmp_path / "thumbs")],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("decompression bomb") == 3, out
    peak_mb = float(out.split("peak MB")[1])
    assert peak_mb < 300, out


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_rgb(tmp_path / "gone.jpg")


def test_decode_of_garbage_bytes():
    with pytest.raises(ImageLoadError):
        decode(b"\xff\xd8\xff garbage")
