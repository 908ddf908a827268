"""NaN never trains into a registered model: weights that are not numbers stop a run before any
decoding, a loss that becomes NaN stops it with one line, and the registry refuses to register
or activate a model whose threshold or metrics are not numbers."""

import math

import pytest
from modelfiles import corrupt_tensor_data, nan_output_checkpoint, tiny_checkpoint
from trainfixtures import labelled_store

from train.cli import main
from xtalviewer.cli import main as xtalviewer_main
from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.model.architectures import CheckpointMeta, Preprocess, build_model, read_checkpoint, save_checkpoint
from xtalviewer.model.registry import RegistryError, register_checkpoint, shipped_base_model
from xtalviewer.store.store import Store


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):
    return labelled_store(tmp_path_factory.mktemp("nanstore"), plates=4, per_inspection=10)


@pytest.fixture
def db(store_db, tmp_path):
    copy = tmp_path / "copy.db"
    with Store(store_db) as source:
        source.backup(copy)
    return copy


def train(db, tmp_path, *args):
    return main(["--db", str(db), "--arch", "resnet", "--epochs", "1", "--image-size", "32", "--batch-size", "8",
                 "--runs-dir", str(tmp_path / "runs"), *map(str, args)])


def model_count(db):
    with Store(db) as s:
        return len(s.models())


def test_a_corrupted_copy_of_the_base_model_stops_training_before_any_decoding(db, tmp_path, capsys):
    base = shipped_base_model()
    if base is None:
        pytest.skip("no shipped base model in this installation")
    copy = corrupt_tensor_data(base, tmp_path / "base-copy.pt")
    with pytest.raises(Exception, match="not numbers"):  # precondition: the XOR left a NaN or an infinity
        read_checkpoint(copy)
    assert train(db, tmp_path, "--init", copy) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "base-copy.pt" in err and "not numbers (NaN or infinite" in err, err
    assert model_count(db) == 0 and not list((tmp_path / "runs").rglob("*.pt"))


def test_a_loss_that_becomes_nan_stops_training_with_one_line_and_registers_nothing(db, tmp_path, capsys):
    assert train(db, tmp_path, "--init", "scratch", "--lr", "1e30") == 2  # the first step blows the weights up
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the training loss became NaN or infinite in epoch 1, batch 2" in err, err
    assert "nothing was registered" in err and model_count(db) == 0


def test_weights_that_become_infinite_stop_training_with_one_line_and_register_nothing(db, tmp_path, capsys):
    with Store(db) as s:  # finite, but so large that batch norm's running variance overflows
        overflowing = nan_output_checkpoint(tmp_path / "overflowing.pt", s.scheme)
    assert train(db, tmp_path, "--init", overflowing) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the weights (bn1.running_var" in err and "became NaN or infinite in epoch 1" in err
    assert model_count(db) == 0


def test_the_registry_refuses_to_register_a_checkpoint_with_a_nan_threshold(db, tmp_path):
    with Store(db) as s:
        path = tmp_path / "nan-threshold.pt"
        meta = CheckpointMeta(arch="resnet18", scheme_id=s.scheme.id, classes=s.scheme.keys,
                              crystal=s.scheme.crystal_mask, preprocess=Preprocess(input_size=32), run_id="nan",
                              metrics={"crystal_recall": 0.0, "per_class": {"clear": {"recall": math.nan}}},
                              operating_point=OperatingPoint(threshold=math.nan, target_recall=0.99))
        save_checkpoint(path, build_model("resnet18", len(s.scheme.keys), 32), meta)
        with pytest.raises(RegistryError, match="operating point threshold, per_class.clear.recall are not a number"):
            register_checkpoint(s, path, activate=True)
        assert s.query("SELECT id FROM model") == []


def test_models_activate_refuses_a_model_registered_with_nan_figures(db, tmp_path, capsys):
    with Store(db) as s:  # as an older xtalviewer registered it, past the registry's check
        sound = s.add_model(name="sound", arch="resnet18", classes=s.scheme.keys, input_size=32, activate=True,
                            path=str(tiny_checkpoint(tmp_path / "sound.pt", s.scheme)))
        broken = s.add_model(name="trained-into-nan", arch="resnet18", classes=s.scheme.keys, input_size=32,
                             path=str(tmp_path / "nan.pt"), metrics={"crystal_recall": 0.0, "loss": math.nan},
                             operating_point=OperatingPoint(threshold=math.nan, target_recall=0.99))
    assert xtalviewer_main(["models", "activate", str(broken), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"model {broken} (trained-into-nan) cannot be activated" in err, err
    with Store(db) as s:
        assert s.query("SELECT id FROM model WHERE active = 1") == [{"id": sound}]
