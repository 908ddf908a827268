"""A second copy of a plate folder (the same plate, other files) does not silently take over the
drops recorded from the first: the first copy is kept while its files exist, the import says so,
and ``import --repoint`` records the copy on request."""

from __future__ import annotations

import shutil

from imagefiles import write_image

from xtalviewer.cli import main
from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


FOLDER = "90j8_2018-04-11_RI1000-0081-1drop"  # one inspection of plate 90j8, as the imager names it


def plate_copies(tmp_path):
    first = tmp_path / "share" / FOLDER
    for well in ("01A", "02A", "01B"):
        write_image(first / f"90j8_{well}_1.jpg", size=(16, 12))
    second = tmp_path / "backup" / FOLDER
    shutil.copytree(first, second)
    write_image(second / "90j8_02A_1.jpg", size=(20, 16))  # the copies differ: other files
    return first, second


def stored_paths(db):
    with Store(db, readonly=True) as s:
        return sorted(s.image_paths())


def test_a_second_copy_keeps_the_first_and_says_so(tmp_path, db_path):
    first, second = plate_copies(tmp_path)
    with Store(db_path) as s:
        import_paths(s, [first])
        report = import_paths(s, [second])
    assert report.images_updated == 0 and report.images_new == 0
    assert stored_paths(db_path) == sorted(str(p) for p in first.iterdir())
    (note,) = [n for n in report.notes if "another copy" in n]
    assert note.startswith("3 drops are already recorded from another copy of their folder whose files still exist")
    assert "the first copy is kept" in note and "--repoint" in note


def test_repoint_records_the_copy_and_keeps_the_labels(tmp_path, db_path, capsys):
    first, second = plate_copies(tmp_path)
    assert main(["import", "--db", str(db_path), str(first)]) == 0
    with Store(db_path) as s:
        s.add_annotation(s.image_id_by_path(str(first / "90j8_01A_1.jpg")), "needles", "ana")
    capsys.readouterr()
    assert main(["import", "--db", str(db_path), str(second)]) == 0
    out = capsys.readouterr().out
    assert "0 updated" in out and "the first copy is kept" in out
    assert main(["import", "--repoint", "--db", str(db_path), str(second)]) == 0
    out = capsys.readouterr().out
    assert "3 updated" in out and "--repoint: 3 drops now recorded from this copy" in out
    assert stored_paths(db_path) == sorted(str(p) for p in second.iterdir())
    with Store(db_path, readonly=True) as s:
        assert s.image(s.image_id_by_path(str(second / "90j8_01A_1.jpg"))).label == "needles"


def test_a_moved_folder_is_still_followed(tmp_path, db_path):
    first, second = plate_copies(tmp_path)
    with Store(db_path) as s:
        import_paths(s, [first])
        shutil.rmtree(first)  # the first copy is gone: its drops follow the files that remain
        report = import_paths(s, [second])
    assert report.images_updated == 3 and not [n for n in report.notes if "another copy" in n]
    assert stored_paths(db_path) == sorted(str(p) for p in second.iterdir())
