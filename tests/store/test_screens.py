"""Screens in the store: a screen stored whole or not at all, which plate gets which screen (by hand,
by the imager's metadata, by a barcode rule, in that order), the condition beside every drop (hit
list, export, report), the wells' outcomes per condition, and a schema-3 store upgraded with its data."""

import sqlite3

import numpy as np
import pytest

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store import schema
from xtalviewer.store.inputs import ComponentRow, ConditionRow, ScreenInput
from xtalviewer.store.screens import ScreenExistsError
from xtalviewer.store.store import ImageRow, PredictionRow, Store


def made_up_screen(name: str = "Grid A", wells: int = 3) -> ScreenInput:
    """A tiny made-up screen: A01 PEG at pH 7.5, A02 salt at pH 5.5, A03 PEG with salt (no pH)."""
    peg = ComponentRow("PEG 3350", 20.0, "% (w/v)")
    conditions = (
        ConditionRow(1, 1, 1, "0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350", "G1", 7.5,
                     (ComponentRow("HEPES", 0.1, "M", 7.5), peg)),
        ConditionRow(2, 1, 2, "1.5 M sodium chloride; 0.1 M MES pH 5.5", "G2", 5.5,
                     (ComponentRow("Sodium  Chloride", 1.5, "M"), ComponentRow("MES", 0.1, "M", 5.5))),
        ConditionRow(3, 1, 3, "0.2 M sodium chloride; 20% (w/v) PEG 3350", "G3", None,
                     (ComponentRow("sodium chloride", 0.2, "M"), peg)),
    )[:wells]
    return ScreenInput(name, 8, 12, conditions, source="test")


def plate(store: Store, barcode: str, *, days=("2026-03-01",), meta: dict | None = None, wells: int = 3) -> int:
    with store.transaction():
        pid = store.upsert_plate(barcode, PlateType(8, 12, 1))
        for n, day in enumerate(days):
            iid, _ = store.upsert_inspection(pid, f"i{n}", imaged_at=f"{day}T09:00:00", imager="RI", profile=None,
                                             layout="t", folder=None, meta=meta)
            store.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, f"/{barcode}/{n}/{c}.jpg", 1, 1.0, 8, 8)
                                 for c in range(1, wells + 1)])
    store.settle_plate_screens([pid])  # as an import does
    return pid


def test_a_screen_is_stored_whole_read_back_by_well_and_replaced_only_on_purpose(store_location):
    with Store(store_location) as s:
        sid = s.add_screen(made_up_screen())
        (found,) = s.screens()
        assert (found.name, found.conditions, found.plates, found.rows, found.cols) == ("Grid A", 3, 0, 8, 12)
        assert s.screen("grid a").id == sid  # a name differing only in case finds it
        first, second, third = s.screen_conditions(sid)
        assert (first.well, first.code, first.ph, first.components[0].describe()) == ("A01", "G1", 7.5,
                                                                                        "0.1 M HEPES pH 7.5")
        assert first.components[1].describe() == "20% (w/v) PEG 3350"
        assert second.has_component("sodium chloride") and not second.has_component("PEG")  # spacing, case
        assert third.ph_value is None and first.in_ph_range(7, 8) and not second.in_ph_range(7, 8)
        with pytest.raises(ScreenExistsError, match="--replace"):
            s.add_screen(made_up_screen())
        pid = plate(s, "P1")
        s.assign_screen(pid, sid)
        assert s.add_screen(made_up_screen(wells=1), replace=True) == sid
        assert len(s.screen_conditions(sid)) == 1 and s.plate_screen(pid).screen_id == sid  # the plate keeps it
        assert set(s.plate_conditions(pid)) == {"A01"}


def test_a_screen_with_a_bad_condition_stores_nothing(store_location):
    bad = made_up_screen()
    bad = ScreenInput(bad.name, 8, 12, (*bad.conditions, bad.conditions[0]))  # position 1 twice
    with Store(store_location) as s:
        with pytest.raises(s.IntegrityError):
            s.add_screen(bad)
        assert s.screens() == [] and s.query("SELECT COUNT(*) AS n FROM condition_component")[0]["n"] == 0


def test_hand_beats_imager_metadata_beats_the_first_matching_rule(store_location):
    with Store(store_location) as s:
        grid, other = s.add_screen(made_up_screen()), s.add_screen(made_up_screen("Other"))
        xv1, xv2 = plate(s, "XV1001"), plate(s, "XV2002")
        named = plate(s, "XV3003", meta={"screen": "other"})  # the imager named the screen (any case)
        loose = plate(s, "ZZ9")
        rule = s.add_screen_rule("prefix", "XV", grid)
        s.add_screen_rule("regex", r"XV2\d+", other)  # later: XV2002 still follows the first rule
        screens = {p.barcode: (p.screen, p.source) for p in s.plate_screens()}
        assert screens == {"XV1001": ("Grid A", "rule"), "XV2002": ("Grid A", "rule"),
                           "XV3003": ("Other", "imager")}
        s.assign_screen(xv1, other)
        s.remove_screen_rule(rule)
        screens = {p.barcode: (p.screen, p.source) for p in s.plate_screens()}
        assert screens == {"XV1001": ("Other", "hand"), "XV2002": ("Other", "rule"), "XV3003": ("Other", "imager")}
        assert s.assign_screen(xv1, None) is None  # cleared: the rules decide again, and none matches XV1001
        s.add_screen_rule("prefix", "XV1", grid)
        assert (s.plate_screen(xv1).screen, s.plate_screen(xv1).source) == ("Grid A", "rule")
        assert s.plate_screen(loose) is None and s.plate_conditions(loose) == {}
        s.add_screen_rule("prefix", "ZZ", grid, wells=1536)  # a 96-well plate: not this rule
        assert s.plate_screen(loose) is None
        assert s.plate_screen(named).screen == "Other" and s.plate_screen(xv2).rule_id is not None
        with pytest.raises(ValueError, match="not a regular expression"):
            s.add_screen_rule("regex", "XV(", grid)


def test_the_imager_may_name_a_screen_before_it_is_imported(store_location):
    with Store(store_location) as s:
        pid = plate(s, "HWI0000001", meta={"screen": "Grid A"})
        assert s.plate_screen(pid) is None
        s.add_screen(made_up_screen())
        assert (s.plate_screen(pid).screen, s.plate_screen(pid).source) == ("Grid A", "imager")


def with_crystal(p: float, keys: list[str]) -> np.ndarray:
    v = np.zeros(len(keys))
    v[keys.index("needles")], v[keys.index("clear")] = p, 1 - p
    return v


def test_the_condition_travels_with_hits_exports_and_report_drops(store_location):
    with Store(store_location) as s:
        keys = s.scheme.keys
        model = s.add_model(name="m", arch="resnet18", classes=keys, input_size=32, path="/m.pt", activate=True,
                            operating_point=OperatingPoint(threshold=0.5))
        pid = plate(s, "P1")
        s.assign_screen(pid, s.add_screen(made_up_screen(wells=2)))
        rows = s.review_queue(None, plate_id=pid)
        s.put_predictions(model, [PredictionRow(r.id, with_crystal(0.9, keys)) for r in rows])
        hits = {h.well: (h.condition, h.ph) for h in s.hit_list(model)}
        assert hits == {"A01": ("0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350", 7.5),
                        "A02": ("1.5 M sodium chloride; 0.1 M MES pH 5.5", 5.5), "A03": (None, None)}
        exported = {r.well: (r.condition, r.ph) for r in s.export_rows_raw(model)}
        assert exported == hits
        inspection = s.inspections(pid)[0].id
        assert {d.well: (d.condition, d.ph) for d in s.report_drops(model, inspection)} == hits
        assert set(s.conditions_by_well()) == {("P1", "A01"), ("P1", "A02")}


def test_well_outcomes_give_each_wells_best_first_hit_and_set_up(store_location):
    with Store(store_location) as s:
        keys = s.scheme.keys
        model = s.add_model(name="m", arch="resnet18", classes=keys, input_size=32, path="/m.pt", activate=True,
                            operating_point=OperatingPoint(threshold=0.5))
        sid = s.add_screen(made_up_screen())
        s.add_screen_rule("prefix", "P", sid)
        pid = plate(s, "P1", days=("2026-03-01", "2026-03-04", "2026-03-08"))
        course = {"A01": (0.1, 0.7, 0.9), "A02": (0.1, 0.2, 0.3), "A03": (0.0, 0.1, 0.2)}
        preds = []
        for n, insp in enumerate(s.inspections(pid)):
            for r in s.review_queue(None, inspection_id=insp.id):
                preds.append(PredictionRow(r.id, with_crystal(course[r.well][n], keys)))
        s.put_predictions(model, preds)
        labelled = s.image_id_by_path("/P1/2/3.jpg")
        s.add_annotation(labelled, "needles", "ada")
        out = {w.position: w for w in s.well_outcomes(model, sid)}
        assert out[1].best_prob == pytest.approx(0.9) and out[1].first_hit_at.startswith("2026-03-04")
        assert out[2].first_hit_at is None and out[2].first_crystal_label_at is None
        assert out[3].first_hit_at is None and out[3].first_crystal_label_at.startswith("2026-03-08")
        assert {w.set_up_at[:10] for w in out.values()} == {"2026-03-01"} and out[1].images == 3
        assert s.well_outcomes(model, sid, []) == [] and len(s.well_outcomes(None, sid)) == 3


def test_a_schema_3_store_upgrades_to_screens_keeping_its_data_and_a_backup(tmp_path):
    from tests.store.test_migration import old_database

    path = tmp_path / "old.db"
    old_database(path, 3)
    with Store(path) as s:
        assert s.schema_version == schema.SCHEMA_VERSION >= 4
        assert s.current_label(10) == "needles" and s.prediction(20, 1).top1 == "clear"
        assert [p.barcode for p in s.plates()] == ["H000000001", "RM1"]
        sid = s.add_screen(made_up_screen())
        s.add_screen_rule("prefix", "RM", sid)
        assert s.plate_conditions(2)["A01"].code == "G1"
    (backup,) = tmp_path.glob("old.db.v3-*.bak")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 3
    assert "screen" not in {r[0] for r in old.execute("SELECT name FROM sqlite_master")}
    old.close()
