from imagefiles import write_hwi, write_image

from xtalviewer.importers import import_paths
from xtalviewer.store.store import Store


def test_hwi_1536_plate_with_visible_and_uv_folders(tmp_path, db_path):
    plate = write_hwi(tmp_path, kinds=("jpg", "uvt"))
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert report.layouts == {"hwi": 8}
        p = s.plate_by_barcode(plate)
        assert (p.rows, p.cols, p.drops) == (32, 48, 1)
        (insp,) = s.inspections(p.id)  # one imaging, two modes
        assert (insp.key, insp.profile, insp.imaged_at) == ("201807151230", "visible", "2018-07-15T12:30:00")
        wells = {r["well"] for r in s.query("SELECT well FROM image")}
        assert wells == {"A01", "A48", "B01", "AF48"}
        assert s.inspection_modes(insp.id) == ["visible", "uv"]


def test_jpg_uvt_and_shg_folders_of_one_time_stamp_are_modes_of_one_inspection(tmp_path, db_path):
    plate = write_hwi(tmp_path, stamps=("201807151230", "201807221230"))
    with Store(db_path) as s:
        report = import_paths(s, [tmp_path])
        assert report.inspections == 2 and report.images_new == 24
        assert import_paths(s, [tmp_path]).images_new == 0  # a re-import finds the same slots
        pid = s.plate_by_barcode(plate).id
        first, second = s.inspections(pid)
        assert s.inspection_modes(first.id) == ["visible", "uv", "shg"]
        modes = s.drop_modes(first.id, "B01", 1)
        assert set(modes) == {"visible", "uv", "shg"}
        assert modes["uv"].path.endswith(f"{plate}201807151230-uvt/{plate}004920180715.jpg")
        assert modes["shg"].path.endswith(f"-shg/{plate}004920180715.jpg")
        # the review queue holds the visible drops; UV and SHG are the same drops in other modes
        queue = s.review_queue(None, inspection_id=first.id)
        assert [r.mode for r in queue] == ["visible"] * 4
        # the time course follows a mode; the same drop in another inspection keeps the mode
        course = s.drop_course(pid, "B01", 1, "uv")
        assert [r.inspection_id for r in course] == [first.id, second.id]
        assert all("-uvt/" in r.path for r in course)
        uv_later = s.same_drop(second.id, pid, "B01", 1, "uv")
        assert uv_later == course[1].id
        # counts are per drop: the stats line has 2 inspections of 4 drops, plus 16 UV/SHG images
        (summary,) = s.plate_summaries()
        assert (summary.inspections, summary.images, summary.other_mode_images) == (2, 8, 16)
        assert [r.other_modes for r in s.inspection_summaries()] == ["shg,uv", "shg,uv"]


def test_a_model_scores_the_images_of_its_own_mode(tmp_path, db_path):
    write_hwi(tmp_path)
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        keys = s.scheme.keys
        visible = s.add_model(name="v", arch="resnet18", classes=keys, input_size=32, path="/v.pt")
        uv = s.add_model(name="u", arch="resnet18", classes=keys, input_size=32, path="/u.pt", mode="uv")
        assert all("-jpg/" in r[1] for r in s.unscored_images(visible)) and len(s.unscored_images(visible)) == 4
        assert all("-uvt/" in r[1] for r in s.unscored_images(uv)) and len(s.unscored_images(uv)) == 4


def test_a_plate_with_few_wells_seen_is_still_1536(tmp_path, db_path):
    folder = tmp_path / "Y000000001202001011200-jpg"
    write_image(folder / "Y000000001000520200101.jpg")
    with Store(db_path) as s:
        import_paths(s, [tmp_path])
        p = s.plate_by_barcode("Y000000001")
        assert (p.rows, p.cols) == (32, 48)
