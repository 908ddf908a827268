"""``xtal-train --nproc N`` and ``xtalviewer predict --nproc N`` start torchrun's workers with our
own modules: a ``train.py``, ``train/`` or ``xtalviewer/`` in the working folder never runs (as
it does under ``python -m train`` or ``torchrun -m train`` started there)."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from imagefiles import write_image
from modelfiles import tiny_checkpoint
from trainfixtures import labelled_store

from xtalviewer.importers import import_paths
from xtalviewer.module_launch import package_root, without_option
from xtalviewer.predict import add_predict_arguments, worker_arguments
from xtalviewer.store.store import Store

BIN = Path(sys.executable).parent


def hostile_folder(root: Path, *shadows: str) -> tuple[Path, Path]:
    """A working folder whose ``train.py``, ``train/`` or ``xtalviewer/`` would leave a marker file."""
    folder, marker = root / "their-project", root / "theirs-ran"
    code = f"open({str(marker)!r}, 'w').write(__name__)\n"
    for shadow in shadows:
        if shadow.endswith(".py"):
            (folder / shadow).parent.mkdir(parents=True, exist_ok=True)
            (folder / shadow).write_text(code)
        else:
            for name in ("__init__.py", "__main__.py", "cli.py", "predict.py"):
                (folder / shadow / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / shadow / name).write_text(code)
    return folder, marker


def launch(command: str, *argv, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """The installed console script, importing the code under test (PYTHONPATH: nothing of ``cwd``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(package_root())}
    return subprocess.run([str(BIN / command), *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("shadow", ["train.py", "train"])
def test_xtal_train_nproc_runs_our_workers_beside_someone_elses_train(tmp_path, shadow):
    folder, marker = hostile_folder(tmp_path, shadow)
    proc = launch("xtal-train", "--nproc", "2", "--db", tmp_path / "missing.db", "--device", "cpu", cwd=folder)
    assert not marker.exists(), marker.read_text()
    # ours: it checks the database first and says so in its own words, with its own exit status
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "does not exist; import plates and label some drops first" in proc.stderr
    assert "Traceback" not in proc.stderr and "ChildFailedError" not in proc.stderr


def test_xtal_train_nproc_trains_with_two_processes_and_registers_one_model(tmp_path):
    db = labelled_store(tmp_path / "store", plates=4, per_inspection=10)
    folder, marker = hostile_folder(tmp_path, "train", "xtalviewer")
    proc = launch("xtal-train", "--nproc", "2", "--db", db, "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                  "--batch-size", "8", "--device", "cpu", "--runs-dir", tmp_path / "runs", cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists()
    assert "Best: resnet18 (model 1)" in proc.stdout
    with Store(db) as s:
        assert len(s.models()) == 1


def test_xtalviewer_predict_nproc_scores_with_two_processes_beside_someone_elses_xtalviewer(tmp_path):
    for i in range(12):
        write_image(tmp_path / "img" / "N1_2026-03-01_RI1000-0081-1drop" / f"N1_{1 + i % 6:02d}{'AB'[i // 6]}_1.jpg")
    db = tmp_path / "p.db"
    with Store(db) as s:
        import_paths(s, [tmp_path / "img"])
        s.add_model(name="tiny", arch="resnet18", classes=s.scheme.keys, input_size=32, activate=True,
                    path=str(tiny_checkpoint(tmp_path / "tiny.pt", s.scheme)))
    folder, marker = hostile_folder(tmp_path, "xtalviewer", "torch.py")
    proc = launch("xtalviewer", "predict", "--nproc", "2", "--db", db, "--device", "cpu", "--batch-size", "4",
                  cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists()
    assert "Scored 12 images" in proc.stdout and "x 2 processes" in proc.stdout
    with Store(db) as s:
        assert s.prediction_count() == 12


def test_predict_workers_get_every_option_but_nproc():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=None)
    add_predict_arguments(parser)
    given = parser.parse_args(["--db", "lab.db", "--model", "3", "--plate", "P7", "--device", "cpu", "--batch-size",
                               "8", "--workers", "3", "--retry-errors", "--latest", "--nproc", "4"])
    again = parser.parse_args(worker_arguments(given))
    assert vars(again) == {**vars(given), "nproc": 1}
    assert vars(parser.parse_args(worker_arguments(parser.parse_args([])))) == vars(parser.parse_args([]))


def test_without_option_takes_both_spellings():
    assert without_option(["--db", "x", "--nproc", "2", "--epochs=1"], "--nproc") == ["--db", "x", "--epochs=1"]
    assert without_option(["--nproc=2", "--name", "--nproc-ish"], "--nproc") == ["--name", "--nproc-ish"]
