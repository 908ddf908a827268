import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from imagefiles import write_image
from trainfixtures import labelled_store

from train.data import (
    DecodedCache,
    Sample,
    labelled_samples,
    load_split,
    sample_weights,
    samples_from_csv,
    save_split,
    split_samples,
)
from xtalviewer.model.architectures import Preprocess
from xtalviewer.store.store import Store


def fake(n_plates, drops_per_plate=10, inspections=3):
    out, i = [], 0
    for p in range(n_plates):
        for d in range(drops_per_plate):
            for _ in range(inspections):
                i += 1
                out.append(Sample(i, f"/x/{i}.jpg", 1.0, i % 4, f"P{p}", f"A{d + 1:02d}", 1))
    return out


def test_split_by_plate_has_no_leakage_and_keeps_shares():
    samples = fake(20)
    splits, unit = split_samples(samples, 0.15, 0.15, seed=3)
    assert unit == "plate"
    plates = {name: {s.plate for s in part} for name, part in splits.items()}
    assert not (plates["train"] & plates["val"]) and not (plates["train"] & plates["test"])
    assert not (plates["val"] & plates["test"])
    assert sum(len(v) for v in splits.values()) == len(samples)
    assert 0.15 <= len(splits["test"]) / len(samples) <= 0.25 and len(splits["val"]) / len(samples) >= 0.15
    assert split_samples(samples, 0.15, 0.15, seed=3)[0]["test"] == splits["test"]  # deterministic


def test_few_plates_split_by_drop_keeping_a_drops_inspections_together():
    splits, unit = split_samples(fake(2), 0.2, 0.2, seed=0)
    assert unit == "drop"
    where = {}
    for name, part in splits.items():
        for s in part:
            assert where.setdefault((s.plate, s.well, s.drop), name) == name
    assert all(splits[n] for n in ("train", "val", "test"))


def test_split_round_trips_through_its_file(tmp_path):
    splits, unit = split_samples(fake(5), seed=1)
    save_split(tmp_path / "split.json", splits, unit)
    assert load_split(tmp_path / "split.json") == (splits, unit)


def test_sample_weights_balance_classes():
    samples = [Sample(i, "", None, 0 if i < 90 else 1, "P", "A01", 1) for i in range(100)]
    full = sample_weights(samples, 2, "full")
    assert full[:90].sum() == pytest.approx(full[90:].sum())
    sqrt = sample_weights(samples, 2, "sqrt")
    assert 1 < sqrt[:90].sum() / sqrt[90:].sum() < 9
    assert len(set(sample_weights(samples, 2, "none"))) == 1


def test_labelled_samples_follow_the_current_label_and_its_source(tmp_path):
    db = labelled_store(tmp_path, plates=1, per_inspection=10, inspections=1, source="import")
    with Store(db) as s:
        assert len(labelled_samples(s, ["human"])) == 0
        assert len(labelled_samples(s, ["human", "import"])) == 10
        first = s.query("SELECT id FROM image ORDER BY id LIMIT 1")[0]["id"]
        s.add_annotation(first, "needles", "me", source="accepted-prediction")
        assert len(labelled_samples(s, ["human", "import"])) == 9
        assert labelled_samples(s, ["accepted-prediction"])[0].label == s.scheme.index("needles")
        s.add_annotation(first, None, "me")  # cleared: not a training image at all
        assert len(labelled_samples(s, ["human", "import", "accepted-prediction"])) == 9
        with pytest.raises(ValueError, match="unknown label source"):
            labelled_samples(s, ["robot"])


def test_decoded_cache_is_built_once_and_marks_unreadable_images(tmp_path):
    db = labelled_store(tmp_path, plates=1, per_inspection=6, inspections=1)
    with Store(db) as s:
        samples = labelled_samples(s)
    (tmp_path / "broken.jpg").write_text("no")
    samples.append(Sample(999, str(tmp_path / "broken.jpg"), 1.0, 0, "TP0", "H12", 1))
    cache = DecodedCache(samples, Preprocess(input_size=24), folder=tmp_path / "cache").build()
    assert cache.array.shape == (7, 24, 24, 3) and cache.array.dtype == np.uint8
    assert cache.failed == [(6, "not an image file (unrecognised format)")]
    assert cache.ok.tolist() == [True] * 6 + [False]
    again = DecodedCache(samples, Preprocess(input_size=24), folder=tmp_path / "cache")
    assert again.ready() and again.path == cache.path
    assert np.array_equal(again.open().array, cache.array)
    assert DecodedCache(samples, Preprocess(input_size=32), folder=tmp_path / "cache").path != cache.path
    assert Counter(int(a.mean() > 0) for a in cache.array[:6]) == {1: 6}


SLOW_BUILD = """
import sys, time
from train import data
from xtalviewer.model.architectures import Preprocess

decode = data.load_rgb
data.load_rgb = lambda *a, **k: (time.sleep(0.5), decode(*a, **k))[1]
samples = [data.Sample(i, p, 1.0, 0, "P", "A01", 1) for i, p in enumerate(sys.argv[2:])]
data.DecodedCache(samples, Preprocess(input_size=24), folder=sys.argv[1]).build(workers=1)
"""


def test_a_killed_cache_build_leaves_a_part_file_the_next_build_sweeps(tmp_path):
    images = [str(write_image(tmp_path / "img" / f"A{i:02d}.jpg")) for i in range(1, 21)]
    folder = tmp_path / "cache"
    child = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(folder), *images])
    deadline = time.monotonic() + 60
    while not list(folder.glob("*.npy.*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    (leaked,) = folder.glob("*.npy.*.part")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = folder / f"{'0' * 20}-24.npy.{alive.pid}.part"  # another build still at work
        busy.write_bytes(b"x")
        samples = [Sample(i, p, 1.0, 0, "P", "A01", 1) for i, p in enumerate(images[:2])]
        DecodedCache(samples, Preprocess(input_size=24), folder=folder).build()
        assert not leaked.exists() and busy.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_truth_csv_that_is_a_fifo_is_refused_at_once(tmp_path):
    db = labelled_store(tmp_path, plates=1, per_inspection=2, inspections=1)
    fifo = tmp_path / "truth.csv"
    os.mkfifo(fifo)
    with Store(db) as s, pytest.raises(ValueError, match="is a FIFO"):
        samples_from_csv(s, fifo)


def test_composites_add_crystals_drawn_into_the_labs_own_clear_training_drops(tmp_path):
    import cv2
    from dropimages import small_drop

    from train.data import with_composites
    from xtalviewer.labels import load_scheme

    scheme = load_scheme("xtal10")
    pre = Preprocess(input_size=48, crop="drop")
    samples, squares = [], []
    for i, label in enumerate(["clear", "clear", "skin", "crystals_3d"]):
        path = tmp_path / f"d{i}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(small_drop(label, seed=20 + i), cv2.COLOR_RGB2BGR))
        samples.append(Sample(i, str(path), None, scheme.keys.index(label), "P1", f"A0{i + 1}", 1))
        squares.append(pre.fit_square(small_drop(label, seed=20 + i)))
    data, labels = np.stack(squares), np.array([s.label for s in samples])
    train_idx, weights = np.array([0, 1, 2, 3]), np.ones(4)
    out, out_labels, out_idx, out_w, used = with_composites(data, labels, train_idx, weights, samples, pre, scheme.keys,
                                                            scheme.crystal_mask, 8, seed=1)
    assert used == 2 and out.shape == (12, 48, 48, 3) and (out[:4] == data).all()
    assert all(scheme.crystal_mask[k] for k in out_labels[4:]) and list(out_idx) == list(range(12))
    assert len(out_w) == 12 and not any((out[4 + n] == data[0]).all() or (out[4 + n] == data[1]).all() for n in range(8))
    none = with_composites(data, labels, np.array([2, 3]), np.ones(2), samples, pre, scheme.keys, scheme.crystal_mask, 8, 1)
    assert none[4] == 0 and none[0] is data  # no clear drop to draw into: unchanged
