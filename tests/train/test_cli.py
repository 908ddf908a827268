import csv
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from trainfixtures import labelled_store

import train.loop
from train.cli import build_parser, main, train_main
from xtalviewer.core.models import load_checkpoint
from xtalviewer.core.store import Store

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"resnet18": 32, "inception_v3": 75, "vgg11_bn": 32, "alexnet": 63}


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):
    return labelled_store(tmp_path_factory.mktemp("trainstore"))


def fresh_db(store_db, tmp_path):
    db = tmp_path / "copy.db"
    src = Store(store_db)
    src.backup(db)
    src.close()
    return db


def events_of(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.parametrize("arch", list(SMALL))
def test_each_architecture_trains_a_step_and_registers(arch, store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    code = main(["--db", str(db), "--arch", arch, "--image-size", str(SMALL[arch]), "--epochs", "1",
                 "--batch-size", "16", "--runs-dir", str(tmp_path / "runs"), "--events", str(tmp_path / "ev.jsonl")])
    assert code == 0, capsys.readouterr().err
    (run,) = list((tmp_path / "runs").iterdir())
    folder = run / arch
    args = json.loads((run / "args.json").read_text())
    assert args["arch"] == arch and args["epochs"] == 1 and args["image_size"] == SMALL[arch]
    with open(folder / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["epoch"] == "1" and float(rows[0]["train_loss"]) > 0
    assert {"val_missed_crystal_top1", "val_missed_crystal_top3", "val_top3_accuracy", "seconds"} <= set(rows[0])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["split_unit"] == "plate"
    assert len(metrics["confusion_matrix"]) == 10 and sum(map(sum, metrics["confusion_matrix"])) == metrics["n"] > 0
    assert not (folder / "last.pt").exists()  # finished runs keep only the best checkpoint
    with Store(db) as s:
        (model,) = s.models()
        assert model["arch"] == arch and model["input_size"] == SMALL[arch] and model["active"]
        assert model["metrics"]["accuracy"] == metrics["accuracy"]
        meta, _ = load_checkpoint(model["path"], s.scheme)
        assert meta.run_id == model["run_id"] and meta.init == "random initialisation"
    names = [e["event"] for e in events_of(tmp_path / "ev.jsonl")]
    for expected in ("run", "start", "epoch_start", "batch", "epoch_end", "metrics", "registered", "run_done", "done"):
        assert expected in names
    assert names[-1] == "done"


def test_events_to_stdout_are_pure_json_lines(store_db, tmp_path, capfd):
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                 "--runs-dir", str(tmp_path / "runs"), "--events", "-"]) == 0
    out = capfd.readouterr().out
    events = [json.loads(line) for line in out.splitlines()]  # every line parses
    epoch_end = next(e for e in events if e["event"] == "epoch_end")
    assert {"train_loss", "val_loss", "val_accuracy", "val_missed_crystal_top3", "arch", "run"} <= set(epoch_end)


def test_an_interrupted_run_registers_nothing_and_resumes(store_db, tmp_path, monkeypatch):
    db = fresh_db(store_db, tmp_path)
    cancel = threading.Event()
    real_evaluate = train.loop.evaluate

    def evaluate_then_cancel(*a, **kw):
        result = real_evaluate(*a, **kw)
        cancel.set()  # as if Cancel was pressed during epoch 2
        return result

    monkeypatch.setattr(train.loop, "evaluate", evaluate_then_cancel)
    args = build_parser().parse_args(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "3",
                                      "--runs-dir", str(tmp_path / "runs"), "--patience", "9"])
    with pytest.raises(KeyboardInterrupt):
        train_main(args, cancel)
    (run,) = list((tmp_path / "runs").iterdir())
    assert (run / "resnet18" / "last.pt").exists()
    with Store(db) as s:
        assert s.models() == []  # unfinished: nothing registered
    monkeypatch.setattr(train.loop, "evaluate", real_evaluate)
    assert main(["--resume", run.name, "--runs-dir", str(tmp_path / "runs")]) == 0
    with open(run / "resnet18" / "summary.csv") as fh:
        epochs = [int(r["epoch"]) for r in csv.DictReader(fh)]
    assert epochs == [1, 2, 3]  # epoch 1 was kept, 2 and 3 ran after the resume
    with Store(db) as s:
        assert len(s.models()) == 1
    assert main(["--resume", run.name, "--runs-dir", str(tmp_path / "runs")]) == 0  # nothing left to do
    with Store(db) as s:
        assert len(s.models()) == 1


def test_too_few_labels_is_a_clear_error(tmp_path, capsys):
    db = tmp_path / "empty.db"
    Store(db).close()
    assert main(["--db", str(db), "--arch", "resnet", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "only 0 labelled images" in capsys.readouterr().err
    assert main(["--db", str(db), "--arch", "lenet"]) == 2


def test_init_from_imagenet_without_cached_weights_says_so(store_db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1", "--init", "imagenet",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "not in the local torch cache" in out and "starting from random initialisation" in out


def test_evaluate_prints_metrics_for_store_labels_and_a_csv(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--db", str(db), "--model", "1"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 160 and {"accuracy", "top3_accuracy", "missed_crystal_rate_top1",
                                    "missed_crystal_rate_top3", "confusion_matrix"} <= set(metrics)
    with Store(db) as s:
        rows = s.query("SELECT path, label FROM image LIMIT 5")
    truth = tmp_path / "truth.csv"
    truth.write_text("image_path,label\n" + "".join(f"{r['path']},{r['label']}\n" for r in rows) + "/nope.jpg,clear\n")
    assert main(["evaluate", "--db", str(db), "--model", "1", "--labels", str(truth)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 5 and metrics["problem_lines"] == ["line 7: no such image in the database: /nope.jpg"]


def test_ddp_with_two_cpu_processes(store_db, tmp_path):
    db = fresh_db(store_db, tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "train",
         "--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "2", "--batch-size", "8",
         "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--events", str(tmp_path / "ev.jsonl")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Store(db) as s:
        assert len(s.models()) == 1  # registered once, by rank 0
    events = events_of(tmp_path / "ev.jsonl")
    assert [e["epoch"] for e in events if e["event"] == "epoch_end"] == [1, 2]
    start = next(e for e in events if e["event"] == "start")
    batches = [e for e in events if e["event"] == "batch" and e["epoch"] == 1]
    # the epoch's sample is dealt out to the two ranks: each runs half the steps
    assert start["train"] == 80 and batches[-1]["batches"] == 80 // 2 // 8


def test_time_limit_stops_after_the_epoch_that_reaches_it_and_still_registers(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "5", "--time-limit", "0.0001",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "stopping at the time limit" in capsys.readouterr().out
    (run,) = list((tmp_path / "runs").iterdir())
    with open(run / "resnet18" / "summary.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 1
    with Store(db) as s:
        assert len(s.models()) == 1 and s.models()[0]["metrics"]["epochs_run"] == 1
