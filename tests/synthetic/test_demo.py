import csv
from collections import Counter

from xtalviewer.synthetic.demo import FATE_WEIGHTS, DemoConfig, drop_geometry, plan, run_demo
from xtalviewer.store.store import Store


def test_plan_follows_a_real_screens_balance_and_a_drops_time_course(tmp_path):
    images = plan(DemoConfig(plates=6, inspections=3, seed=4), tmp_path)
    assert len(images) == 6 * 96 * 2 * 3
    last = [img for img in images if img.inspection == 2]
    share = Counter(img.label for img in last)
    crystal = sum(share[k] for k in ("microcrystals", "needles", "plates", "crystals_3d")) / len(last)
    assert 0.05 < crystal < 0.35 and share["clear"] + share["light_precipitate"] + share["heavy_precipitate"] > len(last) / 2
    by_drop = {}
    for img in images:
        by_drop.setdefault((img.barcode, img.row, img.col, img.drop), []).append(img)
    for course in by_drop.values():
        assert [c.inspection for c in course] == [0, 1, 2]
        assert len({c.geometry_seed for c in course}) == 1  # the same drop, inspection after inspection
        shown = [c.label for c in course]
        if shown[-1] != shown[0]:  # only a late fate (crystals, skin) appears after starting clear
            assert shown[0] == "clear" and shown[-1] in ("microcrystals", "needles", "plates", "crystals_3d", "skin")
        growths = [c.growth for c in course if c.label == shown[-1] and c.label != "clear"]
        assert growths == sorted(growths)
    assert {img.label for img in images} == set(FATE_WEIGHTS)  # every class appears in a 6-plate demo


def test_demo_writes_xchem_plates_imports_them_and_labels_a_share(tmp_path):
    db = tmp_path / "demo.db"
    config = DemoConfig(out=tmp_path / "plates", plates=1, inspections=2, size=(160, 128), labelled=0.6, seed=2,
                        workers=1)
    with Store(db) as s:
        images = run_demo(s, config, log=lambda _: None)
        assert s.conn.execute("SELECT COUNT(*) FROM image").fetchone()[0] == 384
        assert len(s.plates()) == 1 and len(s.inspections(s.plates()[0].id)) == 2
        labelled = s.query("SELECT i.path, i.label, a.annotator, a.source FROM image i "
                           "JOIN annotation a ON a.id = i.annotation_id")
    assert 0.5 < len(labelled) / 384 < 0.7
    truth = {img.path.as_posix(): img.label for img in images}
    assert all(truth[r["path"]] == r["label"] and r["source"] == "human" for r in labelled)
    with open(tmp_path / "plates" / "truth.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 384 and {r["label"] for r in rows} <= set(FATE_WEIGHTS)
    assert (tmp_path / "plates" / "XV1001.csv").exists()  # the RockMaker CSV beside the folders
    with Store(db) as s:  # running it again adds nothing
        run_demo(s, config, log=lambda _: None)
        assert s.conn.execute("SELECT COUNT(*) FROM annotation").fetchone()[0] == len(labelled)
        assert s.conn.execute("SELECT COUNT(*) FROM image").fetchone()[0] == 384


def test_each_plate_has_one_imaging_style_drawn_from_the_seed(tmp_path):
    images = plan(DemoConfig(plates=4, inspections=2, seed=5), tmp_path)
    by_plate = {}
    for img in images:
        by_plate.setdefault(img.barcode, []).append(img)
    styles = {code: {drop_geometry(img).style for img in items[::37]} for code, items in by_plate.items()}
    assert all(len(s) == 1 for s in styles.values())  # every drop of a plate shares its plate's style
    assert len({next(iter(s)) for s in styles.values()}) == 4  # plates differ
    again = plan(DemoConfig(plates=4, inspections=2, seed=5), tmp_path)
    assert [drop_geometry(i) for i in again[:5]] == [drop_geometry(i) for i in images[:5]]
    other = plan(DemoConfig(plates=4, inspections=2, seed=6), tmp_path)
    assert drop_geometry(other[0]).style != drop_geometry(images[0]).style
    # Drops of one plate still differ in outline and position.
    assert len({drop_geometry(img).drop_center for img in by_plate["XV1001"][::2]}) > 90
