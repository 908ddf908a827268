from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def test_generic_folder_takes_wells_and_drops_from_tokens(tmp_path, db_path):
    folder = tmp_path / "screen 2024-03-05 lysozyme"
    for name in ("img_A1.png", "img_B07_2.png", "C03d3.tif", "shot-D12-1.bmp", "well E5 drop2.jpeg", "A01-1.jpg"):
        write_image(folder / name, fmt={"png": "PNG", "tif": "TIFF", "bmp": "BMP"}.get(name.rsplit(".", 1)[1]))
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        assert report.layouts == {"generic": 5}
        plate = s.plate_by_barcode("screen 2024-03-05 lysozyme")
        assert plate is not None and plate.drops == 3
        (insp,) = s.inspections(plate.id)
        assert insp.imaged_at == "2024-03-05"
        got = {(r["well"], r["drop_no"]) for r in s.query("SELECT well, drop_no FROM image")}
        assert got == {("A01", 1), ("B07", 2), ("C03", 3), ("D12", 1), ("E05", 2)}
        # A01-1.jpg and img_A1.png are the same drop: the second is reported, not lost silently
        assert len(report.skipped) == 1 and "same drop" in report.skipped[0][1]


def test_images_without_a_well_are_placed_in_name_order(tmp_path, db_path):
    folder = tmp_path / "loose"
    for name in ("zeta.jpg", "alpha.jpg", "mid.jpg"):
        write_image(folder / name)
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        rows = s.query("SELECT well, path FROM image ORDER BY row, col")
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == ["alpha.jpg", "mid.jpg", "zeta.jpg"]
    assert [r["well"] for r in rows] == ["A01", "A02", "A03"]
    assert any("no well in their file name" in n for n in report.notes)


def test_a_single_file_can_be_imported(tmp_path, db_path):
    path = write_image(tmp_path / "plateX" / "H11.jpg")
    with Store(db_path) as s:
        report = import_paths(s, [path])
        assert report.images_new == 1
        assert s.query("SELECT well FROM image")[0]["well"] == "H11"
