"""Bad files of ours given to predict: one clear message, exit 2, nothing changed."""

import hashlib
import subprocess
import sys

import pytest
from imagefiles import write_image
from modelfiles import nan_weight_checkpoint, tiny_checkpoint

from xtalviewer.cli import main
from xtalviewer.importers import import_paths
from xtalviewer.labels import load_scheme
from xtalviewer.store.store import Store


@pytest.fixture
def db(tmp_path):
    for name in ("A01.jpg", "A02.jpg"):
        write_image(tmp_path / "img" / "PP1" / name)
    path = tmp_path / "p.db"
    with Store(path) as s:
        import_paths(s, [tmp_path / "img"])
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state(db):
    with Store(db) as s:
        return s.query("SELECT * FROM model"), s.query("SELECT COUNT(*) AS n FROM prediction")


@pytest.mark.parametrize("kind, message", [
    ("truncated", "truncated or damaged"),
    ("other-scheme", "label scheme 'marco4'"),
    ("foreign", "not an xtalviewer checkpoint"),
])
def test_a_bad_checkpoint_gives_one_clear_message_and_changes_nothing(db, tmp_path, capsys, kind, message):
    path = tmp_path / "bad.pt"
    if kind == "truncated":
        data = tiny_checkpoint(path, load_scheme("xtal10")).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "other-scheme":
        tiny_checkpoint(path, load_scheme("marco4"))
    else:
        import torch

        torch.save({"conv1.weight": torch.zeros(1)}, path)
    before, file_before = state(db), digest(path)
    assert main(["predict", "--db", str(db), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert state(db) == before and digest(path) == file_before


def test_a_checkpoint_with_nan_weights_is_refused_with_one_line_and_changes_nothing(db, tmp_path):
    path = nan_weight_checkpoint(tmp_path / "trained-into-nan.pt", load_scheme("xtal10"))
    before, file_before = state(db), digest(path)
    proc = subprocess.run([sys.executable, "-m", "xtalviewer", "predict", "--db", str(db), "--model", str(path),
                           "--device", "cpu"], capture_output=True, text=True, timeout=60)  # it used to hang
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "trained-into-nan.pt holds weights that are not numbers (NaN or infinite, in 1 tensor, e.g. " \
           "layer1.0.conv1.weight)" in proc.stderr
    assert state(db) == before and digest(path) == file_before
