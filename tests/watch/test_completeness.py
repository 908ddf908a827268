"""When a file an imager is writing counts as complete: its end marker, and a size that stopped changing."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from watchfiles import jpeg_bytes
from xtalviewer.watch.completeness import end_marker, first_look


def image_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (40, 90, 160)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("suffix, fmt", [(".jpg", None), (".JPEG", None), (".png", "PNG"), (".bmp", "BMP")])
def test_half_a_file_has_no_end_marker_and_the_whole_file_has_it(tmp_path, suffix, fmt):
    data = jpeg_bytes(3) if fmt is None else image_bytes(fmt)
    path = tmp_path / f"drop{suffix}"
    path.write_bytes(data[: len(data) // 2])
    assert end_marker(path) is False
    path.write_bytes(data)
    assert end_marker(path) is True
    if fmt is None:
        path.write_bytes(data + b"\x00" * 16)  # some writers pad a finished JPEG
        assert end_marker(path) is True


def test_formats_without_an_end_marker_and_files_that_cannot_be_read(tmp_path):
    tif = tmp_path / "drop.tif"
    tif.write_bytes(image_bytes("TIFF"))
    assert end_marker(tif) is None  # the settle time alone decides
    assert end_marker(tmp_path / "gone.jpg") is False


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_an_image_is_never_opened(tmp_path):
    fifo = tmp_path / "trap.jpg"
    os.mkfifo(fifo)
    assert first_look(str(fifo), 0.0) is None  # opening it would wait for a writer for ever
    assert end_marker(fifo) is False


def test_a_file_is_complete_after_the_settle_time_with_its_marker_or_after_the_give_up_time(tmp_path):
    data = jpeg_bytes(5)
    path = tmp_path / "drop.jpg"
    path.write_bytes(data[:100])
    seen = first_look(str(path), now=0.0)
    assert not seen.complete(0.5, settle_s=1.0, give_up_s=10.0)  # too fresh
    assert not seen.complete(2.0, settle_s=1.0, give_up_s=10.0)  # stable, but no end marker
    path.write_bytes(data)
    assert seen.observe(os.stat(path), now=3.0)  # it grew: the settle time starts again
    assert not seen.complete(3.5, settle_s=1.0, give_up_s=10.0)
    assert seen.complete(4.0, settle_s=1.0, give_up_s=10.0) and not seen.truncated
    path.write_bytes(data[:100])
    seen.observe(os.stat(path), now=5.0)
    assert not seen.complete(14.0, settle_s=1.0, give_up_s=10.0)
    assert seen.complete(15.0, settle_s=1.0, give_up_s=10.0) and seen.truncated  # the imager gave up on it
