"""With few labelled plates the crystals often sit on one plate; the split by plate then left training
(or validation) without a single crystal drop, silently. Such a split is made by drop within plates,
with the crystal drops dealt to every split, and the run says how many crystals each split holds."""

from __future__ import annotations

import json

from imagefiles import write_image

from train.cli import main
from train.data import Sample, describe_split, split_samples
from xtalviewer.importers import import_paths
from xtalviewer.store.store import AnnotationRow, Store

CRYSTAL = {7}


def samples(plates: int, crystal_plates: set[int], drops: int = 20, crystal_drops: int = 6, inspections: int = 2):
    out, i = [], 0
    for p in range(plates):
        for d in range(drops):
            for _ in range(inspections):
                i += 1
                label = 7 if p in crystal_plates and d < crystal_drops else i % 3
                out.append(Sample(i, f"/x/{i}.jpg", 1.0, label, f"P{p}", f"A{d + 1:02d}", 1))
    return out


def crystal_count(part):
    return sum(s.label in CRYSTAL for s in part)


def test_crystals_on_one_plate_of_three_are_split_by_drop_into_every_split():
    data = samples(3, {0})
    by_plate, unit = split_samples(data, 0.15, 0.15, seed=0)  # as before: no crystal labels given
    assert unit == "plate" and not all(crystal_count(by_plate[n]) for n in ("train", "val"))
    for seed in range(5):
        splits, unit = split_samples(data, 0.15, 0.15, seed=seed, crystal_labels=CRYSTAL)
        assert unit == "drop" and all(crystal_count(splits[n]) for n in ("train", "val", "test"))
        assert sum(len(v) for v in splits.values()) == len(data)
        where = {}
        for name, part in splits.items():  # a drop's inspections stay together
            for s in part:
                assert where.setdefault((s.plate, s.well, s.drop), name) == name


def test_crystals_on_every_plate_keep_the_split_by_plate():
    splits, unit = split_samples(samples(6, set(range(6))), 0.15, 0.15, seed=1, crystal_labels=CRYSTAL)
    assert unit == "plate" and all(crystal_count(splits[n]) for n in ("train", "val"))


def test_two_crystal_drops_go_to_training_and_validation_and_one_is_said():
    splits, unit = split_samples(samples(3, {0}, crystal_drops=2), 0.15, 0.15, seed=0, crystal_labels=CRYSTAL)
    assert crystal_count(splits["train"]) and crystal_count(splits["val"])
    lines = describe_split(splits, unit, CRYSTAL, plates=3)
    assert lines[0].startswith("Split by drop within plates: the split by plate left training or validation")
    assert f"train {len(splits['train'])} images ({crystal_count(splits['train'])} crystal)" in lines[0]
    one, unit = split_samples(samples(3, {0}, crystal_drops=1), 0.15, 0.15, seed=0, crystal_labels=CRYSTAL)
    warning = describe_split(one, unit, CRYSTAL, plates=3)[-1]
    assert warning.startswith("Warning: validation has no crystal drop (2 crystal images labelled in all)")


def test_a_run_on_three_plates_with_crystals_on_one_trains_on_crystals(tmp_path, capsys):
    truth = []
    for p in range(3):
        folder = tmp_path / "images" / f"TP{p}_2026-03-01_RI1000-0081-1drop"
        for i in range(20):
            crystal = p == 0 and i < 6
            path = write_image(folder / f"TP{p}_{i % 12 + 1:02d}{'AB'[i // 12]}_1.jpg", size=(40, 32),
                               color=(200, 40, 40) if crystal else (40, 200 - 5 * i, 90))
            truth.append((str(path), "needles" if crystal else ("clear", "skin")[i % 2]))
    db = tmp_path / "train.db"
    with Store(db) as s:
        import_paths(s, [tmp_path / "images"])
        s.add_annotations([AnnotationRow(s.image_id_by_path(p), label, "t") for p, label in truth])
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1", "--init", "scratch",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "Split by drop within plates: the split by plate left training or validation without a crystal drop" in out
    (run,) = (tmp_path / "runs").iterdir()
    split = json.loads((run / "split.json").read_text())
    needles = 7  # xtal10's index of 'needles'
    assert split["unit"] == "drop"
    assert all(any(s["label"] == needles for s in split[name]) for name in ("train", "val"))
