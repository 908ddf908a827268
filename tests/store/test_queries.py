"""The store's read-only queries that the review window and the plots use (store/queries.py)."""

from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.store import ImageRow, Store


def plate(s: Store):
    """P1 imaged three times (A01..A03); returns the inspections' ids and {(inspection, well): image id}."""
    with s.transaction():
        pid = s.upsert_plate("P1", PlateType(8, 12, 1))
        inspections = [s.upsert_inspection(pid, f"i{n}", imaged_at=f"2026-01-0{n}", imager="RI", profile=None,
                                           layout="t", folder=None)[0] for n in (1, 2, 3)]
    s.upsert_images([ImageRow(i, pid, well_name(1, c), 1, c, 1, f"/img/{i}/{c}.jpg", 1, 1.0, 8, 8)
                     for i in inspections for c in (1, 2, 3)])
    ids = {(i, r.well): r.id for i in inspections for r in s.review_queue(None, inspection_id=i)}
    return inspections, ids


def test_the_time_course_says_what_each_inspection_shows(store_location):
    with Store(store_location) as s:
        (first, second, third), ids = plate(s)
        s.add_annotation(ids[(first, "A01")], "needles", "ann")
        course = s.drop_course(s.image(ids[(first, "A01")]).plate_id, "A01", 1)
        assert [(c.inspection_id, c.shown_label, c.inherited) for c in course] == [
            (first, "needles", False), (second, "needles", True), (third, "needles", True)]
        s.add_annotation(ids[(second, "A01")], "plates", "ann")  # the latest earlier label wins
        assert s.inherited_labels(third) == {ids[(third, "A01")]: ("plates", "2026-01-02")}
        assert s.inherited_labels(image_ids=[ids[(third, "A01")], ids[(third, "A02")]]) == s.inherited_labels(third)
        assert s.inherited_labels() == {} and s.inherited_labels(image_ids=[]) == {}


def test_one_inspection_its_drops_and_its_summary(store_location):
    with Store(store_location) as s:
        (first, second, _), ids = plate(s)
        found = s.inspection(second)
        assert (found.barcode, found.rows, found.cols, found.drops, found.key) == ("P1", 8, 12, 1, "i2")
        assert s.inspection(999) is None
        assert s.inspection_of_image(ids[(second, "A02")]) == second and s.inspection_of_image(999) is None
        assert s.same_drop(first, found.plate_id, "A02", 1) == ids[(first, "A02")]
        assert s.same_drop(first, found.plate_id, "H12", 1) is None
        s.add_annotation(ids[(second, "A03")], "crystals_3d", "ann")
        (row,) = s.inspection_summaries(None, second)
        assert (row.id, row.images, row.labelled, row.crystal_labels) == (second, 3, 1, 1)
        assert [r.id for r in s.inspection_summaries(None)] == [first, second, s.inspection_choices()[-1].id]
        assert s.barcodes() == ["P1"]
        assert [r[0] for r in s.inspection_drops(second, None)] == [ids[(second, w)] for w in ("A01", "A02", "A03")]
