import os

import pytest
from imagefiles import write_image

from xtalviewer.importers import VIRTUAL_NOTE, ImportPathError, import_paths
from xtalviewer.store.store import Store


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


def xchem_plate(root):
    folder = root / "P7_2026-02-03_RI1000-0081-2drop"
    for name in ("P7_01A_1.jpg", "P7_01A_2.jpg", "P7_02B_1.jpg"):
        write_image(folder / name)
    return folder


def stored_paths(store):
    return sorted(r["path"] for r in store.query("SELECT path FROM image"))


def test_a_plate_found_again_through_proc_cwd_keeps_its_stored_paths(tmp_path, db_path, monkeypatch):
    plate = xchem_plate(tmp_path / "plates")
    top = tmp_path / "top"
    top.mkdir()
    (top / "0route").symlink_to("/proc/self/cwd")  # as `import /` meets /proc/<pid>/cwd before the plates
    monkeypatch.chdir(tmp_path / "plates")
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "plates"])
        before = stored_paths(s)
        report = import_paths(s, [top])
        assert stored_paths(s) == before
        assert report.images_unchanged == 3 and report.images_updated == 0
        assert any("again by another route" in n and "stored paths are kept" in n for n in report.notes)
        report = import_paths(s, [f"/proc/self/cwd/{plate.name}"])  # the route itself, given by hand
        assert stored_paths(s) == before and report.images_updated == 0
    assert all(p.startswith(str(plate)) for p in before)


def test_a_new_plate_reached_through_proc_or_a_folder_link_is_recorded_under_its_real_path(tmp_path, db_path,
                                                                                           monkeypatch):
    plate = xchem_plate(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path / "real")
    with Store(db_path) as s:
        report = import_paths(s, [f"/proc/self/cwd/{plate.name}"])
        assert stored_paths(s) == sorted(str(p) for p in plate.iterdir())
        assert any("under their real paths" in n for n in report.notes)
    with Store(tmp_path / "other.db") as s:
        import_paths(s, [tmp_path / "link"])
        assert stored_paths(s) == sorted(str(p) for p in plate.iterdir())


def test_a_stored_route_that_still_names_the_file_is_kept_and_a_dead_one_is_replaced(tmp_path, db_path):
    plate = xchem_plate(tmp_path / "real")
    link = tmp_path / "share"
    link.symlink_to(tmp_path / "real")
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "real"])
        with s.transaction():  # as a database made by an earlier release through the link holds them
            s.conn.execute("UPDATE image SET path = replace(path, ?, ?)", (str(tmp_path / "real"), str(link)))
        routed = stored_paths(s)
        assert all(p.startswith(str(link)) for p in routed)
        report = import_paths(s, [tmp_path / "real"])
        assert stored_paths(s) == routed and report.images_updated == 0
        assert len(report.found_again) == 3
        link.unlink()  # the route is gone: the real path replaces it
        import_paths(s, [tmp_path / "real"])
        assert stored_paths(s) == sorted(str(p) for p in plate.iterdir())


def test_virtual_file_systems_are_never_walked(tmp_path, db_path):
    xchem_plate(tmp_path / "top")
    (tmp_path / "top" / "kernel").symlink_to("/proc")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path / "top"])
        assert report.images_new == 3
        report_proc = import_paths(s, ["/sys"])
        assert not any(p.startswith(("/proc", "/sys")) for p in stored_paths(s))
    assert (str(tmp_path / "top" / "kernel"), VIRTUAL_NOTE) in report.skipped
    assert report_proc.skipped == [("/sys", VIRTUAL_NOTE)]


def test_one_file_reached_twice_in_one_import_is_recorded_once(tmp_path, db_path):
    xchem_plate(tmp_path / "top" / "a")
    (tmp_path / "top" / "b").symlink_to(tmp_path / "top" / "a")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path / "top"])
        assert report.images_new == 3 and len(stored_paths(s)) == 3
