"""Every command's -o refuses the database it reads, its -wal, -shm and journal, its backups and any
other SQLite file: one line, exit 2, the store as it was. A thumbnail folder that holds a plate's
images is not used (the default cache is, with a warning) and loses none of them."""

import hashlib
import json
import os

import pytest
from imagefiles import write_image
from modelfiles import tiny_checkpoint

from xtalviewer.cli import main
from xtalviewer.labels import load_scheme
from xtalviewer.settings import Settings, save_settings
from xtalviewer.store.store import Store


@pytest.fixture
def lab_db(tmp_path, capsys):
    """A store of one imported plate, with the shipped base model active (so `hits` has a model)."""
    folder = tmp_path / "plates" / "P7_2026-02-03_RI1000-0081-2drop"
    for row in "AB":
        for col in (1, 2):
            write_image(folder / f"P7_{col:02d}{row}_1.jpg", size=(96, 80))
    db = tmp_path / "self.db"
    assert main(["import", str(folder), "--db", str(db)]) == 0
    capsys.readouterr()
    return db


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


COMMANDS = {
    "export": ["export"],
    "hits": ["hits"],
    "report": ["report", "--plate", "P7"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_onto_the_database_it_reads_is_refused_and_the_store_kept(capsys, lab_db, tmp_path, command):
    (tmp_path / "link.csv").symlink_to(lab_db)
    os.link(lab_db, tmp_path / "hard.csv")
    with Store(lab_db) as s:
        s.backup(tmp_path / "self.db.v2-1700000000.bak")
    before = digest(lab_db)
    for target in (lab_db, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "self.db-wal",
                   tmp_path / "self.db-shm", tmp_path / "self.db-journal", tmp_path / "self.db.v2-1700000000.bak"):
        code, out, err = run(capsys, *COMMANDS[command], "-o", target, "--db", lab_db)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (target, err)
        assert "SQLite database" in err and "Wrote" not in out, (target, err)
        assert digest(lab_db) == before
    with Store(lab_db, readonly=True) as s:
        assert s.barcodes() == ["P7"]
    assert not list(tmp_path.glob(".*.part"))


def test_the_reported_case_export_onto_itself(capsys, lab_db):
    code, out, err = run(capsys, "export", "-o", lab_db, "--db", lab_db)
    assert code == 2 and out == ""
    assert err == (f"xtalviewer export: error: {lab_db}: is an SQLite database (the one being read); it was left as "
                   "it is (give another file name)\n")


def test_export_onnx_refuses_a_database_as_its_output(capsys, lab_db, tmp_path):
    pytest.importorskip("onnx")
    from train.cli import main as train_main

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt", load_scheme())
    before = digest(lab_db)
    for target in (lab_db, tmp_path / "self.db-wal"):
        code = train_main(["export-onnx", "--model", str(ckpt), "-o", str(target)])
        err = capsys.readouterr().err
        assert code == 2 and "SQLite database" in err and err.count("\n") == 1, err
    assert digest(lab_db) == before
    assert not (tmp_path / "self.db-wal.json").exists() and not list(tmp_path.glob(".*.part"))


def big_plate_images(folder, n=12):
    """Real JPEG files a few hundred kB each, as an imager writes them."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"P9_{i % 6 + 1:02d}{'AB'[i // 6]}_1.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (480, 560, 3), dtype=np.uint8)).save(path, quality=95)
        paths.append(path)
    return paths


def test_a_report_with_the_thumbnail_folder_on_plate_images_deletes_none_of_them(capsys, tmp_path, isolated_home):
    plates = tmp_path / "lab-images"
    images = big_plate_images(plates / "P9_2026-05-01_RI1000-0081-1drop")
    db = tmp_path / "lab.db"
    assert main(["import", str(plates), "--db", str(db)]) == 0
    assert sum(p.stat().st_size for p in images) > 2 << 20  # over the 1 MB limit chosen below
    save_settings(Settings(annotator="ada", thumbnail_dir=str(plates), thumbnail_limit_mb=1))
    capsys.readouterr()
    code, out, err = run(capsys, "report", "--plate", "P9", "-o", tmp_path / "r.html", "--db", db)
    assert code == 0, err
    assert all(p.exists() for p in images), "the cache pruned the lab's images"
    assert sorted(plates.rglob("*")) == sorted([*images, images[0].parent])
    assert err.startswith("xtalviewer report: warning: ") and err.count("\n") == 1, err
    assert "images of imported plates" in err and str(Settings().thumbnail_folder()) in err
    assert (Settings().thumbnail_folder() / "CACHEDIR.TAG").exists()  # the default cache was used instead
    assert json.loads((isolated_home / "config" / "settings.json").read_text())["thumbnail_dir"] == str(plates)
