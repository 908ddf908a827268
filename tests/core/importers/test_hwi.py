from imagefiles import write_image

from xtalviewer.core.importers import import_paths
from xtalviewer.core.store import Store


def test_hwi_1536_plate_with_visible_and_uv_folders(tmp_path, db_path):
    plate = "X000012345"
    for kind in ("jpg", "uvt"):
        folder = tmp_path / f"{plate}201807151230-{kind}"
        for well in (1, 48, 49, 1536):
            write_image(folder / f"{plate}{well:04d}20180715.jpg")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert report.layouts == {"hwi": 8}
        p = s.plate_by_barcode(plate)
        assert (p["rows"], p["cols"], p["drops"]) == (32, 48, 1)
        insp = {i["key"]: i for i in s.inspections(p["id"])}
        assert insp["201807151230-jpg"]["profile"] == "visible"
        assert insp["201807151230-uvt"]["profile"] == "UV-TPEF"
        assert insp["201807151230-jpg"]["imaged_at"] == "2018-07-15T12:30:00"
        wells = {r["well"] for r in s.query("SELECT well FROM image")}
        assert wells == {"A01", "A48", "B01", "AF48"}


def test_a_plate_with_few_wells_seen_is_still_1536(tmp_path, db_path):
    folder = tmp_path / "Y000000001202001011200-jpg"
    write_image(folder / "Y000000001000520200101.jpg")
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        p = s.plate_by_barcode("Y000000001")
        assert (p["rows"], p["cols"]) == (32, 48)
