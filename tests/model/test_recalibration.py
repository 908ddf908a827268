"""Recalibration on a lab's labels: the refitted operating point reaches the requested recall on them,
as a new registered model with the same weights; too few crystals keep the model's threshold."""

import numpy as np
import pytest
import torch
from imagefiles import write_image
from modelfiles import tiny_checkpoint

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.importers import import_paths
from xtalviewer.model.architectures import load_checkpoint, read_checkpoint, save_checkpoint
from xtalviewer.model.recalibration import RecalibrationError, labelled_crystal_count, recalibrate
from xtalviewer.store.store import Store


def labelled_store(tmp_path, crystals: int, clear: int) -> Store:
    """A 96-well plate folder of small images, labelled crystals_3d (brighter) or clear (darker)."""
    folder = tmp_path / "90j8_2018-04-11_RI1000-0081-2drop"
    rng = np.random.default_rng(1)
    wells = [f"{c:02d}{r}" for r in "ABCDEFGH" for c in range(1, 13)]
    labels = ["crystals_3d"] * crystals + ["clear"] * clear
    for well, label in zip(wells, labels):
        base = 150 if label == "crystals_3d" else 90
        write_image(folder / f"90j8_{well}_1.jpg", color=tuple(int(base + v) for v in rng.integers(-40, 40, 3)))
    store = Store(tmp_path / "lab.db")
    import_paths(store, [folder])
    by_well = {r["well"]: r["id"] for r in store.query("SELECT id, well FROM image")}
    for well, label in zip(wells, labels):
        store.add_annotation(by_well[f"{well[2]}{well[:2]}"], label, "ann")
    return store


def model_with_threshold(tmp_path, store: Store, threshold: float) -> str:
    path = tiny_checkpoint(tmp_path / "tiny.pt", store.scheme)
    meta, net = load_checkpoint(path)
    meta.operating_point = OperatingPoint(threshold=threshold, temperature=1.0, target_recall=0.99)
    save_checkpoint(path, net, meta)
    return str(path)


def test_recalibration_reaches_the_requested_recall_on_the_labels(tmp_path):
    store = labelled_store(tmp_path, crystals=30, clear=30)
    assert labelled_crystal_count(store) == (60, 30)
    path = model_with_threshold(tmp_path, store, threshold=0.999)  # far too high for this "imager"
    result = recalibrate(store, path, target_recall=0.95, out=tmp_path / "recal.pt", log=lambda m: None)
    assert result.drops == 60 and result.crystals == 30 and result.unreadable == 0
    assert result.recall_after >= 0.95 and result.recall_after > result.recall_before
    assert result.after.target_recall == 0.95 and result.after.val_crystals == 30 and result.after.fallback is None
    assert "60 labelled drops of lab.db (30 with crystals)" in result.after.describe()
    new = store.model(result.model_id)
    assert new.active and "recalibrated" in new.name
    meta, state = read_checkpoint(result.path)
    assert meta.operating_point == result.after  # the weights are the old ones, the operating point new
    _, old_state = read_checkpoint(path)
    assert all(torch.allclose(state[k].float(), old_state[k].float(), atol=1e-2) for k in old_state)
    assert "crystal recall" in result.summary() and "->" in result.summary()
    store.close()


def test_too_few_crystals_keep_the_models_threshold_and_say_so(tmp_path):
    store = labelled_store(tmp_path, crystals=3, clear=30)
    path = model_with_threshold(tmp_path, store, threshold=0.3)
    result = recalibrate(store, path, target_recall=0.99, out=tmp_path / "recal.pt", log=lambda m: None)
    assert result.after.threshold == 0.3
    assert "the model's current threshold 30.0%" in result.after.fallback and "3 validation crystal drops" in result.after.fallback
    store.close()


def test_nothing_labelled_is_a_clear_error(tmp_path):
    store = labelled_store(tmp_path, crystals=2, clear=0)
    for image_id in [r["id"] for r in store.query("SELECT id FROM image")]:
        store.add_annotation(image_id, None, "ann")  # labels cleared again
    path = model_with_threshold(tmp_path, store, threshold=0.3)
    with pytest.raises(RecalibrationError, match="no labelled drops"):
        recalibrate(store, path, log=lambda m: None)
    store.close()
