"""Bad input never fatal: every broken or odd file is imported and marked, or reported with its
reason; predict and train skip the unreadable ones and say how many."""

import os
import shutil
import stat
import subprocess
import sys

import pytest
from badfiles import make_bad_folder
from imagefiles import write_image
from modelfiles import tiny_checkpoint

import xtalviewer.importers as importers
from xtalviewer.imaging.decode import ImageLoadError
from xtalviewer.importers import import_paths
from xtalviewer.store.store import AnnotationRow, Store
from xtalviewer.imaging.thumbnails import ThumbnailCache


def test_import_finishes_and_reports_every_bad_file_with_its_reason(tmp_path, db_path):
    expect = make_bad_folder(tmp_path / "BAD1")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path / "BAD1"])
        reasons = {os.path.basename(p): r for p, r in report.unreadable}
        stored = {os.path.basename(r["path"]): r for r in s.query("SELECT * FROM image")}
    for name, kind in expect.items():
        if kind == "ok":
            assert stored[name]["load_error"] is None and name not in reasons, name
        elif kind == "header":
            assert stored[name]["load_error"] == reasons[name], name
        elif kind == "pixels":
            assert stored[name]["load_error"] is None  # only decoding can tell; see the predict test
        elif kind == "name":
            assert any("not valid UTF-8" in r for p, r in report.unreadable if "A12_caf" in p)
        elif kind == "loop":
            assert reasons[name] == "symbolic link loop"
    assert reasons["A02_zero.jpg"] == "empty file (0 bytes)"
    assert reasons["A04_text.jpg"].startswith("not an image file")
    assert "decompression bomb" in reasons["A05_bomb.png"]
    assert (stored["A10_exif_rotated.jpg"]["width"], stored["A10_exif_rotated.jpg"]["height"]) == (60, 120)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file whatever its permissions")
def test_an_unreadable_file_is_reported(tmp_path, db_path):
    path = write_image(tmp_path / "P" / "A01.jpg")
    path.chmod(0)
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path / "P"])
    assert report.unreadable == [(str(path), "permission denied")]


def test_a_folder_that_vanishes_during_import(tmp_path, db_path, monkeypatch):
    for name in ("A01.jpg", "A02.jpg", "A03.jpg"):
        write_image(tmp_path / "root" / "gone" / name)
    write_image(tmp_path / "root" / "stays" / "B01.jpg")
    real = importers._parse

    def parse_then_vanish(path, ctx):
        found = real(path, ctx)
        if path.parent.name == "gone" and path.parent.exists():
            shutil.rmtree(path.parent)  # the imager's cleanup job deletes the folder under our feet
        return found

    monkeypatch.setattr(importers, "_parse", parse_then_vanish)
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path / "root"])
        assert s.plate_by_barcode("stays") is not None
    missing = {os.path.basename(p): r for p, r in report.unreadable}
    assert missing == {"A02.jpg": "file not found", "A03.jpg": "file not found", "A01.jpg": "file not found"}


def test_predict_and_train_skip_unreadable_images_and_say_how_many(tmp_path, db_path, capsys):
    from xtalviewer.cli import main as xtalviewer_main

    import train.cli as train_cli

    make_bad_folder(tmp_path / "BAD1")
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "BAD1"])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
        s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, path=str(ckpt), activate=True)
        ids = [r["id"] for r in s.query("SELECT id FROM image ORDER BY id")]
        s.add_annotations([AnnotationRow(i, "clear", "t", source="human") for i in ids])
    capsys.readouterr()
    assert xtalviewer_main(["predict", "--db", str(db_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    # 7 decodable images scored; the truncated JPEG found unreadable now; 3 marked at import skipped
    assert "Scored 7 images" in out and "1 unreadable (marked)" in out and "3 skipped as marked unreadable" in out
    with Store(db_path) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM image WHERE load_error IS NOT NULL").fetchone()[0] == 4
    code = train_cli.main(["--db", str(db_path), "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                           "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr()
    assert "4 labelled image(s) are marked unreadable and left out" in out.out
    assert code == 2 and "only 7 labelled images" in out.err  # what is left is too little to train on


def fifo_and_device_images(folder):
    """A plate folder whose A02.jpg is a FIFO without a writer and (as root) A03.jpg a null device."""
    write_image(folder / "A01.jpg")
    os.mkfifo(folder / "A02.jpg")
    if os.geteuid() == 0:
        os.mknod(folder / "A03.jpg", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return folder


def test_fifos_and_devices_named_like_images_are_refused_and_never_opened_for_long(tmp_path, db_path):
    folder = fifo_and_device_images(tmp_path / "PF1")
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)
    reasons = {os.path.basename(p): r for p, r in report.unreadable}
    assert reasons["A02.jpg"] == "is a FIFO (named pipe), not a regular file"
    if os.geteuid() == 0:
        assert reasons["A03.jpg"] == "is a character device, not a regular file"
    # --retry-errors reads them again: an open() of the FIFO used to wait for a writer for ever
    proc = subprocess.run([sys.executable, "-m", "xtalviewer", "predict", "--db", str(db_path), "--model", str(ckpt),
                           "--device", "cpu", "--retry-errors"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Scored 1 image " in proc.stdout
    cache = ThumbnailCache(tmp_path / "thumbs")
    for name in reasons:
        with pytest.raises(ImageLoadError, match="not a regular file"):
            cache.get(str(folder / name))
