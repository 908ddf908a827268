from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.importers.filenames import ParseContext
from xtalviewer.importers.minstrel import parse
from xtalviewer.store.store import Store

NAME = "RMM3_01_470_RGKU_Test1_Clon1_FB_0000FB000000_003_081218_01_03_02_E0_99_030_001_RDI.jpg"


def test_minstrel_name_fields(tmp_path):
    found = parse(tmp_path / NAME, ParseContext())
    assert found.barcode == "0000FB000000"
    assert found.inspection_key == "inspection 3"
    assert found.imaged_at == "2008-12-18"
    assert (found.row, found.col, found.drop) == (1, 3, 2)
    assert found.imager == "RMM3"


def test_minstrel_folder_imports_as_inspections_of_one_plate(tmp_path, db_path):
    folder = tmp_path / "minstrel"
    for insp, day in ((3, "081218"), (4, "081225")):
        for row in (1, 8):
            for col in (1, 12):
                name = f"RMM3_01_470_RGKU_Test1_Clon1_FB_0000FB000000_{insp:03d}_{day}_{row:02d}_{col:02d}_01_E0_99_030_001_RDI.jpg"
                write_image(folder / name)
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        assert report.layouts == {"minstrel": 8}
        plate = s.plate_by_barcode("0000FB000000")
        assert (plate.rows, plate.cols) == (8, 12)
        assert [i.imaged_at for i in s.inspections(plate.id)] == ["2008-12-18", "2008-12-25"]
        assert {r["well"] for r in s.query("SELECT well FROM image")} == {"A01", "A12", "H01", "H12"}


def test_names_without_a_valid_date_are_not_minstrel(tmp_path):
    assert parse(tmp_path / "a_b_c_d_XX_003_991399_01_03_02_z.jpg", ParseContext()) is None
