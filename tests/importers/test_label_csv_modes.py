"""Labels travel as CSV with their imaging mode: a UV or SHG image has the same plate / inspection /
well / drop as the visible one, so ``import-labels`` into a store whose paths differ (the share
mounted elsewhere) must match on the mode too, and the fallback by position never crosses modes."""

from __future__ import annotations

import csv
import shutil

import pytest
from imagefiles import write_hwi

from xtalviewer.cli import main
from xtalviewer.importers import import_paths
from xtalviewer.importers.label_csv import EXPORT_COLUMNS, import_labels
from xtalviewer.report.hits import HIT_COLUMNS
from xtalviewer.store.store import Store

LABELS = {"visible": "crystals_3d", "uv": "skin", "shg": "clear"}


@pytest.fixture
def exported(tmp_path):
    """A plate imaged in three modes, each mode of drop B01 labelled apart, exported as CSV; and a
    second store of the same plate read from another mount point (every path differs)."""
    here, there = tmp_path / "here", tmp_path / "there"
    plate = write_hwi(here)
    shutil.copytree(here, there)
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    for db, root in ((first, here), (second, there)):
        with Store(db) as s:
            import_paths(s, [root])
    with Store(first) as s:
        (inspection,) = s.inspections(s.plate_by_barcode(plate).id)
        for mode, image in s.drop_modes(inspection.id, "B01", 1).items():
            s.add_annotation(image.id, LABELS[mode], "ana")
    out = tmp_path / "labels.csv"
    assert main(["export", "--db", str(first), "-o", str(out)]) == 0
    return out, second, plate


def labels_of_b01(db, plate):
    with Store(db, readonly=True) as s:
        (inspection,) = s.inspections(s.plate_by_barcode(plate).id)
        return {mode: image.label for mode, image in s.drop_modes(inspection.id, "B01", 1).items()}


def test_export_writes_the_mode_and_import_labels_matches_on_it(exported, capsys):
    out, second, plate = exported
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(EXPORT_COLUMNS) and EXPORT_COLUMNS[-3:] == ("mode", "condition", "ph")
    assert sorted(r["mode"] for r in rows if r["label"]) == ["shg", "uv", "visible"]
    capsys.readouterr()
    assert main(["import-labels", "--db", str(second), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Stored 3 labels" in printed and "superseded" not in printed and "the later line counts" not in printed
    assert labels_of_b01(second, plate) == LABELS  # the UV skin never lands on the visible drop


def test_a_csv_without_the_mode_column_labels_visible_drops_only(exported, tmp_path):
    out, second, plate = exported
    with open(out, newline="") as fh:
        rows = [{k: v for k, v in r.items() if k != "mode"} for r in csv.DictReader(fh) if r["mode"] != "uv"]
    old = tmp_path / "old.csv"  # an export written before the mode column, UV row left out
    with open(old, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[c for c in EXPORT_COLUMNS if c != "mode"])
        writer.writeheader()
        writer.writerows(rows)
    with Store(second) as s:
        report = import_labels(s, old)
    # the visible line lands on the visible drop; the SHG line names the SHG file of the drop, so it is
    # said and left out, never taken for the visible drop's label (no later line silently wins)
    assert labels_of_b01(second, plate)["visible"] == "crystals_3d"
    assert labels_of_b01(second, plate)["uv"] is None and labels_of_b01(second, plate)["shg"] is None
    assert not report.superseded
    (problem,) = [p for _, p in report.problems if "-shg/" in p]
    assert "is the SHG image of this drop, and without a mode column a line labels the visible image" in problem


def test_an_unknown_mode_is_a_problem_line(exported, tmp_path):
    out, second, plate = exported
    with open(out, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"]]
    for r in rows:
        r["mode"] = {"visible": "Visible", "uv": "UV", "shg": "ir"}[r["mode"]]  # names as people write them
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with Store(second) as s:
        report = import_labels(s, bad)
    assert report.stored == 2 and [p for _, p in report.problems] == ["unknown imaging mode 'ir' (visible, uv, shg)"]
    assert labels_of_b01(second, plate) == {**LABELS, "shg": None}


def test_the_hit_list_csv_says_its_drops_are_visible(tmp_path):
    from xtalviewer.report.hits import csv_row
    from xtalviewer.store.rows import Hit

    row = Hit(1, 1, "P1", "i1", None, "A01", 1, "/x/A01.jpg", None, 0.9, True, True, 0.9, "i1", None)
    assert HIT_COLUMNS[-3:] == ("mode", "condition", "ph") and csv_row(row)["mode"] == "visible"
