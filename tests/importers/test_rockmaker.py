import os

from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def test_rock_maker_image_store_tree(tmp_path, db_path):
    root = tmp_path / "WellImages" / "692" / "plateID_1692"
    for batch in (616, 640):
        for well in (1, 2, 49, 96):
            for drop in (1, 2):
                base = root / f"batchID_{batch}" / f"wellNum_{well}" / "profileID_1"
                write_image(base / f"d{drop}_r1_ef.jpg")
                write_image(base / f"d{drop}_r1_th.jpg", size=(16, 12))  # thumbnail: skipped
                write_image(base / f"d{drop}_r1_im.jpg")  # a slice: the ef image wins
    uv = root / "batchID_616" / "wellNum_1" / "profileID_5"
    write_image(uv / "d1_r1_ef.jpg")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path / "WellImages"])
        plate = s.plate_by_barcode("1692")
        assert (plate.rows, plate.cols, plate.drops) == (8, 12, 2)
        keys = [i.key for i in s.inspections(plate.id)]
        assert sorted(keys) == ["batch 616 profile 1", "batch 616 profile 5", "batch 640 profile 1"]
        wells = {r["well"] for r in s.query("SELECT well FROM image")}
        assert wells == {"A01", "A02", "E01", "H12"}  # wellNum is row-major on 12 columns
        paths = [r["path"] for r in s.query("SELECT path FROM image")]
        assert all(p.endswith("_ef.jpg") for p in paths) and len(paths) == 17
        assert any("imaged_at_from" in (i.meta or "") for i in s.inspections(plate.id))
    reasons = {reason for _, reason in report.skipped}
    assert "thumbnail, not a drop image" in reasons
    assert any(r.startswith("same drop as d") for r in reasons)


def test_rock_maker_store_numbers_384_well_plates(tmp_path, db_path):
    base = tmp_path / "plateID_7" / "batchID_1"
    for well in (1, 25, 384):
        write_image(base / f"wellNum_{well}" / "profileID_1" / "d1_r1_ef.jpg")
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        plate = s.plate_by_barcode("7")
        assert (plate.rows, plate.cols) == (16, 24)
        assert {r["well"] for r in s.query("SELECT well FROM image")} == {"A01", "B01", "P24"}


def test_rock_maker_export_names(tmp_path, db_path):
    folder = tmp_path / "export"
    write_image(folder / "CD0042_A1_Visible_3_5501.jpg")
    write_image(folder / "CD0042_H12_Visible__5501.jpg")
    write_image(folder / "CD0042_B3.2_Visible_7_5502.jpg")
    os.utime(folder / "CD0042_A1_Visible_3_5501.jpg", (1_600_000_000, 1_600_000_000))
    with Store(db_path) as s:
        report = import_paths(s, [folder])
        assert report.layouts == {"rockmaker-export": 3}
        plate = s.plate_by_barcode("CD0042")
        assert plate.drops == 2
        insp = {i.key: i for i in s.inspections(plate.id)}
        assert set(insp) == {"batch 5501", "batch 5502"}
        assert insp["batch 5501"].profile == "Visible"
        assert insp["batch 5501"].imaged_at.startswith("2020-09-13")  # earliest file time of the batch
        rows = {(r["well"], r["drop_no"]) for r in s.query("SELECT well, drop_no FROM image")}
        assert rows == {("A01", 1), ("H12", 1), ("B03", 2)}


def test_rock_maker_export_uv_and_sonicc_profiles_are_modes_of_the_batch(tmp_path, db_path):
    folder = tmp_path / "export"
    for profile in ("Visible", "UV", "SONICC"):
        write_image(folder / f"CD0043_A1_{profile}__6601.jpg")
    with Store(db_path) as s:
        import_paths(s, [folder])
        (insp,) = s.inspections(s.plate_by_barcode("CD0043").id)
        assert insp.profile == "Visible"  # the visible profile describes the inspection
        assert set(s.drop_modes(insp.id, "A01", 1)) == {"visible", "uv", "shg"}


def test_the_mode_a_profile_name_says():
    from xtalviewer.importers.filenames import mode_of_profile

    assert [mode_of_profile(n) for n in ("ImagerDefaults", "Visible", None, "Polarised", "Ultra bright")] == \
        ["visible"] * 5
    assert [mode_of_profile(n) for n in ("UV", "UV-TPEF", "uvex", "2drop_UV", "SONICC UV-TPEF")] == ["uv"] * 5
    assert [mode_of_profile(n) for n in ("SHG", "SONICC", "Sonicc SHG", "shg_uv")] == ["shg"] * 4
