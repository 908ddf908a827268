"""The Plots dialog's numbers: counts per plate and class, agreement and confusion, crystal-map layout."""

from pathlib import Path

import numpy as np
import pytest
from imagefiles import write_image

from xtalviewer.report import plots as plotdata
from xtalviewer.importers import import_paths
from xtalviewer.store.store import PredictionRow, Store

KEYS = ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
        "microcrystals", "needles", "plates", "crystals_3d"]


def make_plates(root: Path) -> None:
    """Plate P1: two inspections of A01, A02 with 2 drops; plate P2: one inspection of A01 drop 1."""
    for folder, wells in (("P1_2026-01-01_RI1000-0081-2drop", ("01A", "02A")),
                          ("P1_2026-01-08_RI1000-0081-2drop", ("01A", "02A")),
                          ("P2_2026-01-03_RI1000-0081-2drop", ("01A",))):
        barcode = folder.split("_")[0]
        for well in wells:
            for drop in (1, 2) if barcode == "P1" else (1,):
                write_image(root / "img" / folder / f"{barcode}_{well}_{drop}.jpg", size=(24, 16))


def probs(*ranked: str) -> list[float]:
    """A probability vector whose top classes are ``ranked``, in that order."""
    p = np.full(len(KEYS), 0.01)
    for weight, key in zip((0.5, 0.2, 0.1), ranked):
        p[KEYS.index(key)] = weight
    return (p / p.sum()).tolist()


@pytest.fixture
def store(tmp_path, db_path):
    make_plates(tmp_path)
    with Store(db_path) as s:
        import_paths(s, [tmp_path / "img"])
        yield s


def ids(s: Store, barcode: str, day: str) -> dict[tuple[str, int], int]:
    rows = s.query("SELECT i.id, i.well, i.drop_no FROM image i JOIN plate p ON p.id = i.plate_id "
                   "JOIN inspection n ON n.id = i.inspection_id WHERE p.barcode = ? AND n.imaged_at LIKE ?",
                   (barcode, day + "%"))
    return {(r["well"], r["drop_no"]): r["id"] for r in rows}


def add_model(s: Store) -> int:
    return s.add_model(name="m", arch="resnet18", classes=s.scheme.keys, input_size=32, path="/none.pt", activate=True)


def test_label_counts_per_plate_latest_and_all(store):
    old, new, p2 = ids(store, "P1", "2026-01-01"), ids(store, "P1", "2026-01-08"), ids(store, "P2", "2026-01-03")
    store.add_annotation(old[("A01", 1)], "clear", "t")
    store.add_annotation(old[("A01", 2)], "needles", "t")
    store.add_annotation(new[("A01", 1)], "needles", "t")
    store.add_annotation(new[("A02", 1)], "needles", "t")
    store.add_annotation(new[("A02", 2)], "clear", "t")
    store.add_annotation(new[("A02", 2)], "skin", "t")  # the newest annotation is the current label
    store.add_annotation(p2[("A01", 1)], "crystals_3d", "t", source="import")

    barcodes, keys, counts = plotdata.label_counts_per_plate(store, latest_only=True)
    assert barcodes == ["P1", "P2"]
    assert keys == [*KEYS, None]
    col = {k: j for j, k in enumerate(keys)}
    assert counts.shape == (2, 11)
    assert counts[0, col["needles"]] == 2 and counts[0, col["skin"]] == 1 and counts[0, col[None]] == 1
    assert counts[0].sum() == 4  # the latest inspection of P1 only
    assert counts[1, col["crystals_3d"]] == 1 and counts[1].sum() == 1

    _, _, every = plotdata.label_counts_per_plate(store, latest_only=False)
    assert every[0].sum() == 8
    assert every[0, col["needles"]] == 3 and every[0, col["clear"]] == 1 and every[0, col[None]] == 3


def test_label_counts_include_a_plate_without_images(store):
    from xtalviewer.plates import PlateType

    store.upsert_plate("EMPTY", PlateType(8, 12, 1))
    barcodes, _, counts = plotdata.label_counts_per_plate(store, latest_only=True)
    assert barcodes == ["EMPTY", "P1", "P2"] and counts[0].sum() == 0


def test_agreement_rates_and_confusion(store):
    model = add_model(store)
    new, p2 = ids(store, "P1", "2026-01-08"), ids(store, "P2", "2026-01-03")
    # label, model's ranking; P1 A02-2 accepted from the prediction and P1 A01-2 unscored: both left out
    cases = [
        (new[("A01", 1)], "needles", ("needles", "clear", "skin"), "human"),  # top1 ok, crystal ok
        (new[("A02", 1)], "plates", ("needles", "plates", "clear"), "human"),  # top3 ok, crystal ok
        (p2[("A01", 1)], "clear", ("crystals_3d", "skin", "other"), "import"),  # all wrong
        (new[("A02", 2)], "skin", ("skin", "clear", "other"), "accepted-prediction"),
    ]
    for image_id, label, _, source in cases:
        store.add_annotation(image_id, label, "t", source=source)
    store.add_annotation(new[("A01", 2)], "clear", "t")
    store.put_predictions(model, [PredictionRow(i, probs(*ranked)) for i, _, ranked, _ in cases])

    a = plotdata.agreement(store, model)
    assert a["labelled"] == 4  # human and import labels, scored or not
    assert a["n"] == 3
    assert (a["top1_n"], a["top3_n"], a["crystal_n"]) == (1, 2, 2)
    assert a["top1"] == pytest.approx(1 / 3) and a["top3"] == pytest.approx(2 / 3)
    assert a["crystal"] == pytest.approx(2 / 3)
    c = a["confusion"]
    assert c.shape == (10, 10) and c.sum() == 3
    k = KEYS.index
    assert c[k("needles"), k("needles")] == 1 and c[k("plates"), k("needles")] == 1
    assert c[k("clear"), k("crystals_3d")] == 1
    assert a["keys"] == KEYS
    assert a["barcodes"] == ["P1", "P2"]
    assert a["plate_n"].tolist() == [2, 1]
    assert a["plate_top1"].tolist() == pytest.approx([0.5, 0.0])
    assert a["plate_top3"].tolist() == pytest.approx([1.0, 0.0])


def test_agreement_with_nothing_to_compare(store):
    empty = plotdata.agreement(store, None)
    assert empty["n"] == 0 and empty["top1"] is None and empty["confusion"].sum() == 0
    assert empty["barcodes"] == [] and len(empty["plate_top1"]) == 0
    model = add_model(store)
    store.add_annotation(ids(store, "P2", "2026-01-03")[("A01", 1)], "clear", "t")
    unscored = plotdata.agreement(store, model)
    assert unscored["n"] == 0 and unscored["labelled"] == 1


def test_crystal_map_layout(store):
    model = add_model(store)
    new = ids(store, "P1", "2026-01-08")
    store.put_predictions(model, [PredictionRow(new[("A01", 2)], probs("needles", "plates")),
                                  PredictionRow(new[("A02", 1)], probs("clear"))])
    store.add_annotation(new[("A01", 2)], "needles", "t")
    store.add_annotation(new[("A02", 1)], "clear", "t")
    store.add_annotation(ids(store, "P1", "2026-01-01")[("A02", 2)], "plates", "t")  # the week before
    inspection = store.image(new[("A01", 1)]).inspection_id

    m = plotdata.crystal_map(store, model, inspection)
    assert (m["rows"], m["cols"], m["drops"]) == (8, 12, 2)  # the plate type: a 96-well plate
    assert m["prob"].shape == (8, 24) and m["row_names"][:2] == ["A", "B"]
    crystal = sum(probs("needles", "plates")[KEYS.index(k)] for k in ("microcrystals", "needles", "plates",
                                                                     "crystals_3d"))
    assert m["prob"][0, 1] == pytest.approx(crystal, rel=1e-5)  # A01 drop 2: row 0, column 1
    assert m["image_ids"][0, 1] == new[("A01", 2)] and m["labels"][0, 1] == "needles"
    assert m["top1"][0, 1] == "needles" and m["crystal_label"][0, 1]
    assert m["prob"][0, 2] < 0.1 and not m["crystal_label"][0, 2]  # A02 drop 1
    assert np.isnan(m["prob"][0, 0]) and m["image_ids"][0, 0] == new[("A01", 1)]  # imaged, not scored
    assert np.isnan(m["prob"][1, 0]) and m["image_ids"][1, 0] == -1  # B01: no image
    assert np.count_nonzero(~np.isnan(m["prob"])) == 2
    assert m["labels"][0, 3] is None and m["inherited"][0, 3] == "plates"  # A02 drop 2, labelled earlier
    assert m["crystal_inherited"][0, 3] and m["crystal_inherited"].sum() == 1 and m["crystal_label"].sum() == 1
    assert m["barcode"] == "P1" and m["inspection"].id == inspection

    cell = plotdata.cell_info(m, 0, 1)
    assert cell["well"] == "A01" and cell["drop"] == 2 and cell["label"] == "needles"
    assert cell["image_id"] == new[("A01", 2)] and cell["prob"] == pytest.approx(crystal, rel=1e-5)
    assert plotdata.cell_info(m, 0, 0)["prob"] is None
    assert plotdata.cell_info(m, 0, 3)["inherited"] == "plates"
    assert plotdata.cell_info(m, 8, 0) is None and plotdata.cell_info(m, 0, 24) is None

    without_model = plotdata.crystal_map(store, None, inspection)
    assert np.isnan(without_model["prob"]).all()
    with pytest.raises(KeyError):
        plotdata.crystal_map(store, model, 999)


def test_crystal_map_marks_hits_at_the_models_operating_point(store):
    from xtalviewer.crystal_call import OperatingPoint

    op = OperatingPoint(threshold=0.1, target_recall=0.99, val_recall=0.99, val_review_load=0.3)
    model = store.add_model(name="c", arch="resnet18", classes=store.scheme.keys, input_size=32, path="/c.pt",
                            activate=True, operating_point=op)
    new = ids(store, "P1", "2026-01-08")
    weak = [0.02] * len(KEYS)
    weak[KEYS.index("clear")] = 1 - 0.02 * (len(KEYS) - 1)  # crystal 8%: below 10%
    store.put_predictions(model, [PredictionRow(new[("A01", 2)], probs("clear", "skin", "needles")),  # ~15%: a hit
                                  PredictionRow(new[("A02", 1)], weak)])
    m = plotdata.crystal_map(store, model, store.image(new[("A01", 1)]).inspection_id)
    assert m["operating_point"] == op
    assert m["hit"][0, 1] and not m["hit"][0, 2] and m["hit"].sum() == 1  # unscored drops are never hits
    assert plotdata.cell_info(m, 0, 1)["hit"] and not plotdata.cell_info(m, 0, 0)["hit"]


def test_inspection_choices_by_plate_oldest_first(store):
    choices = plotdata.inspection_choices(store)
    assert [(c.barcode, c.imaged_at[:10]) for c in choices] == [
        ("P1", "2026-01-01"), ("P1", "2026-01-08"), ("P2", "2026-01-03")]
