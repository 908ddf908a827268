from pathlib import Path

from imagefiles import write_image

from xtalviewer.importers import import_paths
from xtalviewer.importers.xchem import parse_folder_name
from xtalviewer.store.store import Store

FOLDER = "90j8_2018-04-11_RI1000-0081-2drop"
CSV_HEAD = "BatchID,DateImaged,DropNum,ImagerName,PlateID,ProfileID,WellColNum,WellNum,WellRowLetter\n"


def make_export(root: Path, folder: str = FOLDER, barcode: str = "90j8") -> Path:
    for row in "ABCDEFGH":
        for col in range(1, 13):
            for drop in (1, 2):
                write_image(root / folder / f"{barcode}_{col:02d}{row}_{drop}.jpg", size=(40, 30))
    return root / folder


def test_folder_name_parts():
    assert parse_folder_name(FOLDER) == {"barcode": "90j8", "date": "2018-04-11", "imager": "RI1000-0081", "drops": 2}
    assert parse_folder_name("abc_2020-01-02_RI54-0013-3drop")["drops"] == 3
    assert parse_folder_name("not-an-export") is None


def test_xchem_export_gives_barcode_date_imager_wells_and_drops(tmp_path, db_path):
    make_export(tmp_path)
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert report.layouts == {"xchem": 192}
        plate = s.plate_by_barcode("90j8")
        assert (plate.rows, plate.cols, plate.drops) == (8, 12, 2)
        (insp,) = s.inspections(plate.id)
        assert insp.imaged_at == "2018-04-11" and insp.imager == "RI1000-0081" and insp.layout == "xchem"
        wells = {r["well"] for r in s.query("SELECT well FROM image")}
        assert wells == {f"{r}{c:02d}" for r in "ABCDEFGH" for c in range(1, 13)}
        assert {r["drop_no"] for r in s.query("SELECT drop_no FROM image")} == {1, 2}
        # '01A' in the file name is column 1 row A; '12H' is H12
        a = s.query("SELECT well, drop_no FROM image WHERE path LIKE '%90j8_12H_2.jpg'")[0]
        assert a == {"well": "H12", "drop_no": 2}
        assert s.query("SELECT width, height FROM image LIMIT 1")[0] == {"width": 40, "height": 30}


def test_rockmaker_csv_beside_the_folder_is_read(tmp_path, db_path):
    make_export(tmp_path)
    (tmp_path / "90j8.csv").write_text(
        CSV_HEAD + "616,2018-04-11 09:14:05,2,RI1000-0081,692,1,1,1,A\n616,2018-04-11,1,RI1000-0081,692,1,1,49,E\n"
    )
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        (insp,) = s.inspections(s.plate_by_barcode("90j8").id)
    assert insp.imaged_at == "2018-04-11T09:14:05"  # the CSV's time beats the folder's date
    assert '"batch_id": "616"' in insp.meta and '"rockmaker_plate_id": "692"' in insp.meta
    assert any("read RockMaker CSV" in n for n in report.notes)


def test_a_csv_that_is_not_rockmaker_is_noted_and_ignored(tmp_path, db_path):
    make_export(tmp_path)
    (tmp_path / "90j8.csv").write_text("a,b\n1,2\n")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert report.images_new == 192
    assert any("not a RockMaker CSV" in n for n in report.notes)


def test_second_inspection_is_a_new_inspection_of_the_same_plate(tmp_path, db_path):
    make_export(tmp_path)
    make_export(tmp_path, "90j8_2018-04-18_RI1000-0081-2drop")
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert len(report.plates) == 1 and report.inspections_new == 2
        plate = s.plate_by_barcode("90j8")
        assert [i.imaged_at for i in s.inspections(plate.id)] == ["2018-04-11", "2018-04-18"]
        course = s.drop_images(plate.id, "C05", 2)
        assert [c.imaged_at for c in course] == ["2018-04-11", "2018-04-18"]


def test_reimport_is_idempotent_and_keeps_labels(tmp_path, db_path):
    make_export(tmp_path)
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        image_id = s.query("SELECT id FROM image LIMIT 1")[0]["id"]
        s.add_annotation(image_id, "needles", "ann")
        before = s.query("SELECT * FROM image ORDER BY id")
        again = import_paths(s, [tmp_path])
        assert (again.images_new, again.images_updated, again.images_unchanged) == (0, 0, 192)
        assert again.inspections_new == 0
        assert s.query("SELECT * FROM image ORDER BY id") == before
        assert s.conn.execute("SELECT COUNT(*) FROM inspection").fetchone()[0] == 1
        assert s.current_label(image_id) == "needles"


def test_a_changed_file_is_updated_on_reimport(tmp_path, db_path):
    folder = make_export(tmp_path)
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        write_image(folder / "90j8_03C_1.jpg", size=(80, 60))
        again = import_paths(s, [tmp_path])
        assert again.images_updated == 1
        assert s.query("SELECT width FROM image WHERE path LIKE '%90j8_03C_1.jpg'")[0]["width"] == 80


def test_one_csv_for_several_inspections_gives_each_its_own_batch(tmp_path, db_path):
    make_export(tmp_path)
    make_export(tmp_path, "90j8_2018-04-18_RI1000-0081-2drop")
    (tmp_path / "90j8.csv").write_text(
        CSV_HEAD + "616,2018-04-11 09:14:05,1,RI1000-0081,692,1,1,1,A\n"
        "640,2018-04-18 10:00:00,1,RI1000-0081,692,1,1,1,A\n"
    )
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        insp = s.inspections(s.plate_by_barcode("90j8").id)
    assert [i.imaged_at for i in insp] == ["2018-04-11T09:14:05", "2018-04-18T10:00:00"]
    assert '"batch_id": "616"' in insp[0].meta and '"batch_id": "640"' in insp[1].meta
