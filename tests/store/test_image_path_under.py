"""``image_path_under``: whether an imported image lies inside a folder (the thumbnail cache must not
take a folder of plate images)."""

from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def test_an_image_inside_a_folder_at_any_depth_is_found_and_a_sibling_folder_is_not(tmp_path):
    plates = tmp_path / "lab" / "plates"
    image = write_image(plates / "P7_2026-02-03_RI1000-0081-1drop" / "P7_01A_1.jpg")
    (tmp_path / "lab" / "plates-old").mkdir()
    with Store(tmp_path / "lab.db") as s:
        import_paths(s, [plates])
        (stored,) = s.image_paths()
        assert stored == str(image.resolve())
        for folder in (plates, plates.parent, image.parent, tmp_path):
            assert s.image_path_under(str(folder.resolve())) == stored, folder
            assert s.image_path_under(str(folder.resolve()) + "/") == stored, folder
        assert s.image_path_under(str((tmp_path / "lab" / "plates-old").resolve())) is None
        assert s.image_path_under(str((tmp_path / "thumbs").resolve())) is None
        ran = []
        s.conn.set_trace_callback(ran.append)
        s.image_path_under(str(plates))
        s.conn.set_trace_callback(None)
        plan = " ".join(r[-1] for r in s.conn.execute(f"EXPLAIN QUERY PLAN {ran[-1]}"))
        assert "INDEX image_path" in plan, plan  # a range on the path index, not a scan of every image
