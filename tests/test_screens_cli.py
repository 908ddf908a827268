"""``xtalviewer screens`` (import, list, show, assign, rule, rules), ``xtalviewer conditions`` and the
condition beside every drop that leaves the store: ``hits`` (``--component``, the CSV's condition and
ph columns), ``export`` and the HTML report. Every screen here is made up for the test."""

import csv
import json

import numpy as np
import pytest

from xtalviewer.cli import main
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.store import ImageRow, PredictionRow, Store

GRID = ("well,condition,ph\n"
        "A1,0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350,\n"
        "A2,0.1 M HEPES pH 7.5; 2.0 M ammonium sulfate,\n"
        "A3,0.1 M sodium acetate pH 4.5; 25% (w/v) PEG 3350,\n"
        "A4,made-up additive mix,6.0\n")
# crystal probability per plate and well at the first and second inspection
COURSE = {"SC1": {"A01": (0.2, 0.9), "A02": (0.1, 0.1), "A03": (0.6, 0.7), "A04": (0.0, 0.1)},
          "SC2": {"A01": (0.1, 0.8), "A02": (0.0, 0.2), "A03": (0.1, 0.2), "A04": (0.1, 0.1)},
          "OTHER": {"A01": (0.9, 0.9), "A02": (0.0, 0.0), "A03": (0.0, 0.0), "A04": (0.0, 0.0)}}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def with_crystal(p: float, keys: list[str]) -> np.ndarray:
    v = np.zeros(len(keys))
    v[keys.index("needles")], v[keys.index("clear")] = p, 1 - p
    return v


@pytest.fixture
def plates_db(store_location, tmp_path):
    """Three plates with two inspections each and a model's predictions, on either engine."""
    with Store(store_location) as s:
        keys = s.scheme.keys
        model = s.add_model(name="calibrated", arch="resnet18", classes=keys, input_size=32, path="/m.pt",
                            activate=True, operating_point=OperatingPoint(threshold=0.5))
        preds = []
        for barcode, course in COURSE.items():
            with s.transaction():
                pid = s.upsert_plate(barcode, PlateType(8, 12, 1))
                for n, day in enumerate(("2026-05-01", "2026-05-06")):
                    iid, _ = s.upsert_inspection(pid, f"i{n}", imaged_at=f"{day}T08:00:00", imager="RI", profile=None,
                                                 layout="t", folder=None)
                    s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, f"/{barcode}/{n}/{c}.jpg", 1, 1.0,
                                              8, 8) for c in range(1, 5)])
                    preds += [PredictionRow(s.image_id_by_path(f"/{barcode}/{n}/{c}.jpg"),
                                            with_crystal(course[well_name(1, c)][n], keys)) for c in range(1, 5)]
        s.put_predictions(model, preds)
    (tmp_path / "grid.csv").write_text(GRID)
    return store_location


def test_import_list_show_and_a_rule_give_plates_their_screen(capsys, plates_db, tmp_path):
    code, out, _ = run(capsys, "screens", "import", tmp_path / "grid.csv", "--name", "Made-up grid", "--db", plates_db)
    assert code == 0 and "Stored screen Made-up grid: 4 conditions on a 96-well layout (8 × 12)" in out
    assert "No plate has it yet" in out
    code, out, _ = run(capsys, "screens", "rule", "SC", "made-up GRID", "--db", plates_db)  # the name in any case
    assert code == 0 and "Rule 1: barcodes starting with 'SC' get screen Made-up grid; 2 plates follow it now " \
                         "(SC1, SC2)." in out
    code, out, _ = run(capsys, "screens", "--db", plates_db, "list")  # --db before the action too
    assert code == 0 and "Made-up grid" in out and "csv: grid.csv" in out
    code, out, _ = run(capsys, "screens", "show", "Made-up grid", "--db", plates_db)
    assert "Plates: SC1 (rule), SC2 (rule)" in out
    assert "A03       3                4.5  0.1 M sodium acetate pH 4.5; 25% (w/v) PEG 3350" in out
    code, out, _ = run(capsys, "screens", "assign", "OTHER", "Made-up grid", "--db", plates_db)
    assert code == 0 and "Plate OTHER has screen Made-up grid (by hand)." in out
    code, out, _ = run(capsys, "screens", "rules", "--db", plates_db)
    assert "  1  prefix SC" in out
    code, out, _ = run(capsys, "screens", "rule", "--remove", "1", "--db", plates_db)
    assert code == 0 and "Removed rule 1." in out
    with Store(plates_db, readonly=True) as s:
        assert [p.barcode for p in s.plate_screens()] == ["OTHER"]
    code, out, _ = run(capsys, "screens", "assign", "OTHER", "--clear", "--db", plates_db)
    assert "Plate OTHER has no screen now" in out


@pytest.mark.parametrize("argv, message", [
    (["screens", "assign", "NOPE", "Made-up grid"], "no plate 'NOPE'"),
    (["screens", "assign", "SC1", "No such screen"], "no screen 'No such screen'; screens: Made-up grid"),
    (["screens", "rule", "SC("], "say which plates and which screen"),
    (["screens", "rule", "SC(", "Made-up grid", "--regex"], "not a regular expression"),
    (["screens"], "say what to do"),
    (["conditions", "--screen", "Nope"], "no screen 'Nope'"),
])
def test_mistakes_are_one_line_and_exit_2(capsys, plates_db, tmp_path, argv, message):
    run(capsys, "screens", "import", tmp_path / "grid.csv", "--name", "Made-up grid", "--db", plates_db)
    code, _, err = run(capsys, *argv, "--db", plates_db)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_screen_file_with_bad_rows_stores_nothing(capsys, plates_db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(GRID + "Q99,salt,\nA1,again,\nB1,water,pH eleven\n")
    code, _, err = run(capsys, "screens", "import", bad, "--db", plates_db)
    assert code == 2 and "3 lines cannot be used, so nothing was stored" in err
    assert "line 6: well 'Q99'" in err and "line 7: well A1 again (first on line 2)" in err
    assert "line 8: not a pH: 'pH eleven'" in err
    code, out, _ = run(capsys, "screens", "list", "--db", plates_db)
    assert "No screens" in out


@pytest.fixture
def screened_db(capsys, plates_db, tmp_path):
    run(capsys, "screens", "import", tmp_path / "grid.csv", "--name", "Made-up grid", "--db", plates_db)
    run(capsys, "screens", "rule", "SC", "Made-up grid", "--db", plates_db)
    return plates_db


def test_conditions_per_component_and_ph_with_the_days_to_the_first_hit(capsys, screened_db):
    code, out, _ = run(capsys, "conditions", "--db", screened_db, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["screen"] == "Made-up grid" and summary["plates"] == ["SC1", "SC2"]
    assert (summary["hit_wells"], summary["wells"]) == (3, 8)
    components = {c["name"]: (c["hit_wells"], c["wells"], c["best_prob"]) for c in summary["components"]}
    assert components["PEG 3350"] == (3, 4, pytest.approx(0.9)) and components["ammonium sulfate"][:2] == (0, 2)
    assert components["HEPES"][:2] == (2, 4)
    bins = {(b["low"], b["high"]): (b["hit_wells"], b["wells"]) for b in summary["ph_bins"]}
    assert bins == {(4.0, 5.0): (1, 2), (6.0, 7.0): (0, 2), (7.0, 8.0): (2, 4)}
    days = {c["well"]: c["days_to_first_hit"] for c in summary["conditions"] if c["hit_wells"]}
    assert days == {"A01": 5.0, "A03": 0.0}
    code, out, _ = run(capsys, "conditions", "--db", screened_db, "--plate", "SC2")
    assert code == 0 and "Screen Made-up grid: 1 plate (SC2); 1 of 4 wells with a hit (25%)." in out
    assert "  PEG 3350: 1 of 2 wells with a hit (50%); best crystal probability 80" in out
    assert "  pH 7–8: 1 hit in 2 wells (50%)" in out
    code, _, err = run(capsys, "conditions", "--db", screened_db, "--plate", "OTHER")
    assert code == 2 and "plate OTHER has no screen" in err


def test_hits_carry_the_condition_and_filter_by_component(capsys, screened_db, tmp_path):
    out_csv = tmp_path / "hits.csv"
    code, out, _ = run(capsys, "hits", "--db", screened_db, "-o", out_csv)
    with open(out_csv, newline="", encoding="utf-8") as fh:
        rows = {(r["plate"], r["well"]): r for r in csv.DictReader(fh)}
    assert rows[("SC1", "A01")]["condition"] == "0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350"
    assert rows[("SC1", "A01")]["ph"] == "7.5" and rows[("OTHER", "A01")]["condition"] == ""
    code, out, _ = run(capsys, "hits", "--db", screened_db, "--component", "peg  3350")
    assert code == 0 and "OTHER" not in out and "SC1" in out and "SC2" in out
    assert "0.1 M sodium acetate pH 4.5; 25% (w/v) PEG 3350" in out  # the terminal table's condition column
    code, out, _ = run(capsys, "hits", "--db", screened_db, "--component", "sulfate", "--format", "md")
    assert code == 0 and "# Hits in conditions with sulfate" in out and "No drops." in out


def test_export_and_the_report_show_each_drops_condition(capsys, screened_db, tmp_path):
    out_csv = tmp_path / "export.csv"
    assert run(capsys, "export", "--db", screened_db, "-o", out_csv)[0] == 0
    with open(out_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames[-3:] == ["mode", "condition", "ph"]
    a4 = next(r for r in rows if (r["plate"], r["well"]) == ("SC2", "A04"))
    assert (a4["condition"], a4["ph"]) == ("made-up additive mix", "6")
    report = tmp_path / "sc1.html"
    assert run(capsys, "report", "--db", screened_db, "--plate", "SC1", "-o", report)[0] == 0
    text = report.read_text()
    assert "<th>Screen</th><td>Made-up grid</td>" in text and "<th>Condition</th>" in text
    assert '<span class="cond">0.1 M HEPES pH 7.5; 20% (w/v) PEG 3350</span>' in text
