import os

import pytest
from imagefiles import write_image

from xtalviewer.core.importers import ImportPathError, import_paths
from xtalviewer.core.store import Store


def test_missing_path_is_an_error_before_anything_is_written(tmp_path, db_path):
    with Store(db_path) as s:
        with pytest.raises(ImportPathError, match="no such file or folder"):
            import_paths(s, [tmp_path / "nope"])
        assert s.plates() == []


def test_unreadable_files_are_recorded_with_reasons_and_the_rest_imports(tmp_path, db_path):
    folder = tmp_path / "plate9"
    write_image(folder / "A01.jpg")
    (folder / "A02.jpg").write_bytes(b"")
    (folder / "A03.jpg").write_text("this is not a picture")
    (folder / "notes.txt").write_text("ignored: not an image")
    os.symlink(folder / "loop_b.jpg", folder / "loop_a.jpg")
    os.symlink(folder / "loop_a.jpg", folder / "loop_b.jpg")
    bad_name = os.fsencode(str(folder)) + b"/A04\xff.jpg"
    with open(bad_name, "wb") as fh:
        fh.write(b"x")
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        errors = {os.path.basename(p): reason for p, reason in report.unreadable}
        assert errors["A02.jpg"] == "empty file (0 bytes)"
        assert errors["A03.jpg"].startswith("not an image file")
        assert errors["loop_a.jpg"] == "symbolic link loop"
        assert any("not valid UTF-8" in r for r in errors.values())
        marked = {r["well"]: r["load_error"] for r in s.query("SELECT well, load_error FROM image")}
        assert marked["A01"] is None and marked["A02"] == "empty file (0 bytes)"
        again = import_paths(s, [folder])  # unchanged bad files are still reported
        assert {os.path.basename(p) for p, _ in again.unreadable} >= {"A02.jpg", "A03.jpg"}


def test_symlinked_folder_loop_is_walked_once(tmp_path, db_path):
    folder = tmp_path / "plateL"
    write_image(folder / "B02.jpg")
    os.symlink(tmp_path, folder / "up")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert report.images_new == 1
    assert any("symbolic link loop" in r for _, r in report.skipped)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_folder_is_reported(tmp_path, db_path):
    locked = tmp_path / "locked"
    write_image(locked / "A01.jpg")
    locked.chmod(0)
    try:
        with Store(db_path) as s:
            report = import_paths(s, [tmp_path])
        assert any("permission denied" in r for _, r in report.unreadable)
    finally:
        locked.chmod(0o755)


def test_progress_reports_every_file(tmp_path, db_path):
    for name in ("A01.jpg", "A02.jpg", "B01.jpg"):
        write_image(tmp_path / "p" / name)
    calls = []
    with Store(db_path) as s:
        import_paths(s, [tmp_path], progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3)
