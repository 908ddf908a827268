"""Named image roots: a store records an image below a root as the root and the path below it, every
workstation reads it back through its own mapping, a root this workstation does not map says so
(and never makes the image unreadable), and an older store's absolute paths move under a root when
it is defined. On both engines."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from imagefiles import write_image

from xtalviewer.files.image_roots import RootMap, not_mapped_message, unmapped_root
from xtalviewer.imaging.decode import RootNotMapped, load_rgb
from xtalviewer.imaging.thumbnails import ThumbnailCache
from xtalviewer.importers import import_paths
from xtalviewer.labels import load_scheme
from xtalviewer.model.inference import set_aside_unmapped, work_list
from xtalviewer.store import schema
from xtalviewer.store.copy import copy_store
from xtalviewer.store.store import Store, StoreError

PLATE = "P7_2026-02-03_RI1000-0081-2drop"


def plate_folder(share, plate=PLATE, wells=("01A_1", "02A_1", "01B_2")):
    for w in wells:
        write_image(share / plate / f"{plate.split('_')[0]}_{w}.jpg", size=(32, 24))
    return share / plate


def stored_paths(store: Store) -> list[str]:
    return [r[0] for r in store.execute("SELECT path FROM image ORDER BY id")]


@pytest.fixture
def share(tmp_path):
    """The imager share as this workstation mounts it, holding one plate."""
    folder = tmp_path / "mnt" / "rockimager"
    plate_folder(folder)
    return folder.resolve()


def test_images_below_a_root_are_stored_relative_and_read_back_as_local_paths(store_location, share, tmp_path):
    with Store(store_location, roots={}) as s:
        import_paths(s, [share])
        local = s.image_paths()
        assert all(p.startswith(str(share) + "/") for p in local)
        (tmp_path / "elsewhere").mkdir()
        write_image(tmp_path / "elsewhere" / "Q1_2026-02-03_RI1000-0081-1drop" / "Q1_01A_1.jpg")
        import_paths(s, [tmp_path / "elsewhere"])
        loose = s.image_paths()[-1]

        assert s.define_image_root("RockImager", str(share)) == 3
        stored = stored_paths(s)
        assert stored[:3] == [f"{{RockImager}}/{p[len(str(share)) + 1:]}" for p in local]
        assert stored[3] == loose  # under no root: stays absolute and keeps working
        # every way the app reads or looks up a path sees this workstation's own paths
        assert s.image_paths() == [*local, loose]
        image_id = s.image_id_by_path(local[0])
        assert image_id == 1 and s.image(image_id).path == local[0]
        assert set(s.known_files(local)) == set(local)
        assert s.image_with_plate(local[1]).path == local[1]
        assert sorted(r.path for r in s.review_queue(None, "plate")) == sorted([*local, loose])
        assert {r.image_path for r in s.export_rows_raw(None)} == {*local, loose}
        assert s.image_path_under(str(share)) in local and s.image_path_under(str(share.parent)) in local
        assert s.image_path_under(str(share / PLATE)) in local
        assert s.image_path_under(str(tmp_path / "elsewhere")) == loose
        (root,) = s.image_roots()
        assert (root.name, root.images, root.folder, root.mapped) == ("RockImager", 3, str(share), "as defined")
        assert s.images_under_no_root() == 1
        # importing the folder again finds the same rows; a new inspection is stored below the root
        again = import_paths(s, [share])
        assert again.images_new == 0 and again.images_unchanged == 3
        plate_folder(share, "P7_2026-02-10_RI1000-0081-2drop", wells=("01A_1",))
        assert import_paths(s, [share]).images_new == 1
        assert stored_paths(s)[-1] == "{RockImager}/P7_2026-02-10_RI1000-0081-2drop/P7_01A_1.jpg"


def test_two_workstations_find_the_same_image_each_under_its_own_folder(store_location, share, tmp_path):
    here, there = share, tmp_path / "Z" / "RockImager"
    shutil.copytree(here, there)
    with Store(store_location, roots={"RockImager": str(here)}) as a:
        import_paths(a, [here])
        a.define_image_root("RockImager", str(here))
        seen_here = a.image_paths()
    with Store(store_location, roots={"RockImager": str(there)}) as b:
        seen_there = b.image_paths()
        assert seen_there == [p.replace(str(here), str(there)) for p in seen_here]
        assert load_rgb(seen_there[0]).shape == (24, 32, 3)
        # what the second workstation imports is found by the first under its own folder
        plate_folder(there, "P7_2026-02-10_RI1000-0081-2drop", wells=("01A_1",))
        assert import_paths(b, [there]).images_new == 1
        assert b.image_id_by_path(str(there / "P7_2026-02-10_RI1000-0081-2drop" / "P7_01A_1.jpg")) == 4
    with Store(store_location, roots={"RockImager": str(here)}) as a:
        assert a.image_paths()[-1] == str(here / "P7_2026-02-10_RI1000-0081-2drop" / "P7_01A_1.jpg")


def test_a_root_not_mapped_here_says_so_and_never_makes_the_image_unreadable(store_location, share, tmp_path):
    with Store(store_location, roots={}) as s:
        import_paths(s, [share])
        s.define_image_root("RockImager", str(share))
        model_id = s.add_model(name="m", arch="resnet18", classes=s.scheme.keys, input_size=32, path="/m.pt",
                               activate=True)
    share.rename(tmp_path / "unmounted")  # not mounted where it was defined, and not mapped
    with Store(store_location, roots={}) as s:
        (row,) = s.image_roots()
        assert row.folder is None and row.mapped is None
        image = s.image(1)
        assert unmapped_root(image.path) == "RockImager"
        message = "image root 'RockImager' is not mapped on this workstation: xtalviewer roots map RockImager FOLDER"
        assert not_mapped_message("RockImager") == message
        with pytest.raises(RootNotMapped) as caught:
            load_rgb(image.path)
        assert str(caught.value) == message
        with pytest.raises(RootNotMapped):
            ThumbnailCache(tmp_path / "thumbs").get(image.path)
        # scoring leaves them for a workstation that maps the root; nothing is marked unreadable
        kept, unmapped = set_aside_unmapped(work_list(s, model_id))
        assert kept == [] and unmapped == {"RockImager": 3}
        s.mark_load_error(1, message)
        assert s.image(1).load_error is None and s.image_counts() == (3, 0)
        s.mark_load_error(1, None)  # clearing is always allowed
    with Store(store_location, roots={"RockImager": str(tmp_path / "unmounted")}) as s:
        assert load_rgb(s.image(1).path).shape == (24, 32, 3)


def test_a_root_defined_on_another_workstation_is_seen_by_a_store_already_open(store_location, share):
    with Store(store_location, roots={}) as first:
        import_paths(first, [share])
        before = first.image_paths()
        with Store(store_location, roots={}) as other:
            assert other.define_image_root("RockImager", str(share)) == 3
        assert first.image_paths() == before  # found where it was defined, which exists here
        with pytest.raises(StoreError, match="exists already"):
            first.define_image_root("RockImager", str(share))
        with pytest.raises(StoreError, match="cannot name an image root"):
            first.define_image_root("Rock Imager", str(share))


def test_paths_another_workstation_recorded_by_absolute_path_move_under_the_root(store_location, share):
    """A Windows workstation imported plates by its drive's paths before the root existed: mapping
    the root to that drive stores them relative to it, '/' between the parts."""
    with Store(store_location, roots={}) as s:
        import_paths(s, [share])
        s.define_image_root("RockImager", str(share))
        s.execute("UPDATE image SET path = ? WHERE id = 2", ("Z:\\RockImager\\P7 old\\P7_02A_1.jpg",))
        assert s.images_under_no_root() == 1
        assert s.adopt_image_paths("RockImager", "Z:\\RockImager\\") == 1
        assert stored_paths(s)[1] == "{RockImager}/P7 old/P7_02A_1.jpg"
        with pytest.raises(StoreError, match="no image root 'Other'"):
            s.adopt_image_paths("Other", "Z:\\Other")


def test_a_copied_store_keeps_its_roots(store_location, another_store_location, share):
    with Store(store_location, roots={}) as s:
        import_paths(s, [share])
        s.define_image_root("RockImager", str(share))
        paths = s.image_paths()
        with Store(another_store_location, roots={}) as target:
            copy_store(s, target)
    with Store(another_store_location, roots={}) as copied:
        assert [r.name for r in copied.image_roots()] == ["RockImager"]
        assert copied.image_paths() == paths


def test_an_older_store_with_absolute_paths_migrates(tmp_path, share):
    """A schema-4 store: opening it adds the roots table (after a backup); defining a root moves its
    absolute paths below the root, labels and ids unchanged."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for number in range(4):
        conn.executescript(schema.MIGRATIONS[number])
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO meta VALUES ('scheme', 'xtal10')")
    conn.execute("INSERT INTO meta VALUES ('scheme_classes', ?)", (json.dumps(load_scheme().keys),))
    conn.execute("INSERT INTO plate VALUES (1, 'P7', 8, 12, 2, 'x', NULL)")
    conn.execute("INSERT INTO inspection(id, plate_id, key, imaged_at, layout) VALUES (1, 1, 'k', '2026-02-03', 'xchem')")
    files = sorted((share / PLATE).iterdir()) + [tmp_path / "elsewhere.jpg"]
    for n, f in enumerate(files, start=1):
        conn.execute("INSERT INTO image(id, inspection_id, plate_id, well, row, col, drop_no, path) "
                     "VALUES (?, 1, 1, ?, 1, ?, 1, ?)", (n, f"A{n:02d}", n, str(f)))
    conn.execute("INSERT INTO annotation(image_id, label, annotator, created_at, source) "
                 "VALUES (2, 'needles', 'ann', 'x', 'human')")
    conn.commit()
    conn.close()
    with Store(path, roots={}) as s:
        assert s.schema_version == schema.SCHEMA_VERSION == 5
        assert s.image_roots() == [] and s.images_under_no_root() == 4
        assert s.define_image_root("RockImager", str(share)) == 3
        assert stored_paths(s) == [f"{{RockImager}}/{PLATE}/{f.name}" for f in files[:3]] + [str(files[3])]
        assert s.image_paths() == [str(f) for f in files]
        assert s.current_label(2) == "needles"
    assert list(tmp_path.glob("old.db.v4-*.bak"))


def test_paths_translate_in_the_style_of_each_workstation():
    """A root defined on Linux and mapped to a Windows drive (and back), compared as each system does."""
    windows = RootMap({"RockImager": "/mnt/rockimager"}, {"RockImager": "Z:\\RockImager\\"})
    assert windows.local("{RockImager}/P7/P7_01A_1.jpg") == "Z:\\RockImager\\P7\\P7_01A_1.jpg"
    assert windows.stored("z:\\rockimager\\P7\\P7_01A_1.jpg") == "{RockImager}/P7/P7_01A_1.jpg"
    assert windows.stored("Z:\\RockImager-old\\P7.jpg") == "Z:\\RockImager-old\\P7.jpg"
    linux = RootMap({"RockImager": "Z:\\RockImager"}, {"RockImager": "/mnt/rockimager"})
    assert linux.local("{RockImager}/P7/P7_01A_1.jpg") == "/mnt/rockimager/P7/P7_01A_1.jpg"
    assert linux.stored("/mnt/rockimager/P7/a\\b.jpg") == "{RockImager}/P7/a\\b.jpg"  # a POSIX name keeps its '\'
    assert linux.stored("/mnt/rockimager2/x.jpg") == "/mnt/rockimager2/x.jpg"
    drive = RootMap({"RockImager": "/mnt/rockimager"}, {"RockImager": "Z:\\"})  # the share is a drive's root
    assert drive.local("{RockImager}/P7/a.jpg") == "Z:\\P7\\a.jpg" and drive.stored("Z:\\P7\\a.jpg") == "{RockImager}/P7/a.jpg"
    unc = RootMap({"RockImager": "/mnt/rockimager"}, {"RockImager": "\\\\imager\\share"})
    assert unc.local("{RockImager}/P7/a.jpg") == "\\\\imager\\share\\P7\\a.jpg"
    assert unc.stored("\\\\IMAGER\\share\\P7\\a.jpg") == "{RockImager}/P7/a.jpg"
    nested = RootMap({"Share": "/s", "Deep": "/s/deep"}, {"Share": "/s", "Deep": "/s/deep"})
    assert nested.stored("/s/deep/x.jpg") == "{Deep}/x.jpg" and nested.stored("/s/x.jpg") == "{Share}/x.jpg"
    unmapped = RootMap({"RockImager": "Z:\\RockImager"}, {})
    assert unmapped.local("{RockImager}/P7/a.jpg") == "{RockImager}/P7/a.jpg"
    assert unmapped.unmapped("{RockImager}/P7/a.jpg") == "RockImager"
