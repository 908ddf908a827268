from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def test_marco_style_names(tmp_path, db_path):
    folder = tmp_path / "marco"
    for name in ("002s_C6_ImagerDefaults_9.jpg", "002s_C6_ImagerDefaults_12.jpg", "002s_P24_ImagerDefaults_9.jpg",
                 "0815_A1_Visible_1.jpg"):
        write_image(folder / name)
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        assert report.layouts == {"marco": 4}
        p = s.plate_by_barcode("002s")
        assert (p.rows, p.cols) == (16, 24)  # P24 only fits a 384-well plate
        assert [i.key for i in s.inspections(p.id)] == ["inspection 12", "inspection 9"] or \
            sorted(i.key for i in s.inspections(p.id)) == ["inspection 12", "inspection 9"]
        assert s.plate_by_barcode("0815") is not None
        course = s.drop_images(p.id, "C06", 1)
        assert len(course) == 2
