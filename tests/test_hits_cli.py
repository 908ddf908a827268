"""``xtalviewer hits``: drops across plates ranked by the model's calibrated crystal probability,
the rule said, ``--new``, ``--since``, ``--plate`` and the CSV contract."""

import csv
import os

import numpy as np
import pytest

from xtalviewer.cli import main
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.report.hits import HIT_COLUMNS
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.store import ImageRow, PredictionRow, Store


def with_crystal(p: float, keys: list[str]) -> np.ndarray:
    """Probabilities whose crystal share (needles) is ``p``, the rest on 'clear'."""
    v = np.zeros(len(keys))
    v[keys.index("needles")], v[keys.index("clear")] = p, 1 - p
    return v


# crystal probability of each drop at the first and second inspection of plate HP1 (None: not scored)
COURSE = {"A01": (0.10, 0.90), "A02": (0.80, 0.70), "A03": (0.50, 0.05), "A04": (0.10, 0.20), "A05": (None, 0.35)}


@pytest.fixture
def hits_db(store_location):
    """The hit list's store, once per engine (an SQLite file, a PostgreSQL database)."""
    with Store(store_location) as s:
        keys = s.scheme.keys
        model = s.add_model(name="calibrated", arch="resnet18", classes=keys, input_size=32, path="/m.pt",
                            activate=True, operating_point=OperatingPoint(threshold=0.3, target_recall=0.99))
        images = {}
        for barcode, days in (("HP1", ("2026-03-01", "2026-03-08")), ("HP2", ("2026-02-01",))):
            with s.transaction():
                pid = s.upsert_plate(barcode, PlateType(8, 12, 1))
                for n, day in enumerate(days):
                    iid, _ = s.upsert_inspection(pid, f"insp{n + 1}", imaged_at=f"{day}T09:00:00", imager="RI",
                                                 profile=None, layout="t", folder=None)
                    images[(barcode, n)] = iid
            for n in range(len(days)):
                s.upsert_images([ImageRow(images[(barcode, n)], pid, well_name(1, c), 1, c, 1,
                                          f"/{barcode}/{n}/{c}.jpg", 1, 1.0, 8, 8) for c in range(1, 6)])
        rows = []
        for (barcode, n), iid in images.items():
            for r in s.review_queue(None, inspection_id=iid):
                p = COURSE[r.well][n] if barcode == "HP1" else (0.6 if r.well == "A01" else 0.0)
                if p is not None:
                    rows.append(PredictionRow(r.id, with_crystal(p, keys)))
        s.put_predictions(model, rows)
        s.add_annotation(s.image_id_by_path("/HP1/1/2.jpg"), "needles", "ada")
    return store_location


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_hits_rank_drops_across_plates_at_their_latest_inspection(capsys, hits_db, tmp_path):
    out_csv = tmp_path / "hits.csv"
    code, out, _ = run(capsys, "hits", "--db", hits_db, "-o", out_csv)
    assert code == 0
    assert "hit at crystal probability >= 30.0%" in out and "Model calibrated" in out
    with open(out_csv, encoding="utf-8") as fh:
        assert fh.readline().strip().split(",") == list(HIT_COLUMNS)
    rows = read(out_csv)
    assert [(r["plate"], r["well"]) for r in rows] == [("HP1", "A01"), ("HP1", "A02"), ("HP2", "A01"), ("HP1", "A05"),
                                                       ("HP1", "A03")]
    first = rows[0]
    assert (first["inspection"], first["imaged_at"], first["crystal_prob"], first["hit"]) == \
        ("insp2", "2026-03-08T09:00:00", "0.9000", "1")
    assert (first["best_crystal_prob"], first["first_hit_inspection"], first["image_path"]) == \
        ("0.9000", "insp2", "/HP1/1/1.jpg")
    faded = rows[-1]  # a hit once, not any more: still listed, last, with when it was one
    assert (faded["hit"], faded["best_crystal_prob"], faded["first_hit_inspection"]) == ("0", "0.5000", "insp1")
    assert rows[1]["label"] == "needles" and rows[1]["first_hit_inspection"] == "insp1"


def test_new_lists_drops_whose_first_hit_is_their_latest_inspection(capsys, hits_db, tmp_path):
    out_csv = tmp_path / "new.csv"
    code, out, _ = run(capsys, "hits", "--db", hits_db, "--new", "-o", out_csv)
    assert code == 0 and "appeared since the last look" in out
    assert [(r["plate"], r["well"]) for r in read(out_csv)] == [("HP1", "A01"), ("HP2", "A01"), ("HP1", "A05")]


def test_plate_and_since_narrow_the_list_and_the_table_prints_without_o(capsys, hits_db):
    code, out, _ = run(capsys, "hits", "--db", hits_db, "--plate", "HP2")
    assert code == 0 and "HP2" in out and "HP1" not in out.split("\n", 2)[2]
    code, out, _ = run(capsys, "hits", "--db", hits_db, "--since", "2026-03-05")
    lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 4 and all("HP1" in line for line in lines)


@pytest.mark.parametrize("argv, message", [
    (["--since", "last week"], "--since must be a date"),
    (["--plate", "NOPE"], "no plate 'NOPE'"),
    (["--model", "99"], "no model 99"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, hits_db, argv, message):
    code, _, err = run(capsys, "hits", "--db", hits_db, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_non_regular_target_is_refused_and_a_link_written_through(capsys, hits_db, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, _, err = run(capsys, "hits", "--db", hits_db, "-o", folder)
    assert code == 2 and folder.is_dir()
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    os.symlink(real, link)
    assert run(capsys, "hits", "--db", hits_db, "-o", link)[0] == 0
    assert link.is_symlink() and real.read_text().startswith("plate,inspection")


def test_without_an_active_model_there_are_no_hits_to_rank(capsys, tmp_path):
    db = tmp_path / "empty.db"
    Store(db).close()
    code, _, err = run(capsys, "hits", "--db", db)
    assert code == 2 and "no active model" in err
