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
from train.cli import main, parse_config
from train.run import train as run_training
from xtalviewer.model.architectures import load_checkpoint
from xtalviewer.store.store import Store

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
        assert model.arch == arch and model.input_size == SMALL[arch] and model.active
        assert model.metrics["accuracy"] == metrics["accuracy"]
        meta, _ = load_checkpoint(model.path, s.scheme)
        # with no active model the default start is the shipped base model where one exists for the arch
        expected_init = "continued from the base model" if arch == "resnet18" else "random initialisation"
        assert meta.run_id == model.run_id and meta.init.startswith(expected_init)
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

    monkeypatch.setattr(train.loop, "evaluate", evaluate_then_cancel)  # the epoch loop's validation
    config = parse_config(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "3",
                           "--runs-dir", str(tmp_path / "runs"), "--patience", "9"])
    with pytest.raises(KeyboardInterrupt):
        run_training(config, cancel)
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
        (row,) = list(csv.DictReader(fh))
    peak = json.loads((run / "resnet18" / "metrics.json").read_text())["lr"]
    assert float(row["lr"]) < 0.01 * peak  # the one epoch that fitted ran the whole schedule down
    with Store(db) as s:
        assert len(s.models()) == 1 and s.models()[0].metrics["epochs_run"] == 1


def test_a_run_calibrates_and_records_the_operating_point(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "2", "--crystal-recall", "0.9",
                 "--runs-dir", str(tmp_path / "runs"), "--init", "scratch"]) == 0
    out = capsys.readouterr().out
    assert "chosen for 90% crystal recall" in out and "recall@op" in out and "highest crystal recall" in out
    (run,) = list((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "resnet18" / "metrics.json").read_text())
    for key in ("crystal_recall", "crystal_precision", "review_load", "balanced_accuracy", "ece", "ece_uncalibrated",
                "threshold", "temperature", "top3_crystal_recall", "top3_review_load", "val_crystal_recall"):
        assert key in metrics, key
    assert metrics["target_recall"] == 0.9 and metrics["val_crystal_recall"] >= 0.9
    with open(run / "resnet18" / "summary.csv") as fh:
        row = next(csv.DictReader(fh))
    assert {"val_balanced_accuracy", "val_ece", "val_review_load", "val_top3_review_load"} <= set(row)
    with Store(db) as s:
        (model,) = s.models()
        op = model.operating_point
        assert op.calibrated and op.threshold == metrics["threshold"] and op.temperature == metrics["temperature"]
        meta, _ = load_checkpoint(model.path, s.scheme)
        assert meta.operating_point == op
    capsys.readouterr()
    assert main(["evaluate", "--db", str(db), "--model", "1"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    for key in ("crystal_recall", "crystal_precision", "review_load", "balanced_accuracy", "ece", "threshold",
                "temperature", "top3_crystal_recall", "top3_review_load"):
        assert key in evaluated, key
    assert evaluated["threshold"] == op.threshold


def test_calibration_reuses_the_best_epochs_validation_scores_which_equal_a_fresh_evaluation(store_db, tmp_path,
                                                                                             monkeypatch):
    import numpy as np

    import train.run

    real = train.loop.evaluate
    loop_calls, fresh, calibrated, run_calls = [], [], [], []

    def in_loop(model, data, labels, idx, spec, d):
        out = real(model, data, labels, idx, spec, d)
        loop_calls.append((idx, out[1]))
        return out

    def in_run(model, data, labels, idx, spec, d):  # the best checkpoint is loaded: score validation afresh too
        run_calls.append(idx)
        fresh.append(real(model, data, labels, loop_calls[-1][0], spec, d)[1])
        return real(model, data, labels, idx, spec, d)

    def fit_op(logits, truth, mask, target, **kw):
        calibrated.append(np.array(logits))
        return fit_operating_point(logits, truth, mask, target, **kw)

    fit_operating_point = train.run.fit_crystal_call
    monkeypatch.setattr(train.loop, "evaluate", in_loop)
    monkeypatch.setattr(train.run, "evaluate", in_run)
    monkeypatch.setattr(train.run, "fit_crystal_call", fit_op)
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "2",
                 "--runs-dir", str(tmp_path / "runs"), "--init", "scratch"]) == 0
    assert len(loop_calls) == 2 and len(run_calls) == 1  # validation is not scored a third time
    (run,) = list((tmp_path / "runs").iterdir())
    best = json.loads((run / "resnet18" / "metrics.json").read_text())["best_epoch"]
    assert np.array_equal(calibrated[0], loop_calls[best - 1][1])
    assert np.allclose(calibrated[0], fresh[0], atol=1e-4)


def test_init_active_continues_from_the_registered_model(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    common = ["--db", str(db), "--arch", "resnet", "--epochs", "1", "--runs-dir", str(tmp_path / "runs")]
    assert main(common + ["--image-size", "40", "--init", "scratch"]) == 0
    capsys.readouterr()
    assert main(common) == 0  # --init active is the default
    out = capsys.readouterr().out
    assert "continued from model 1 (the active model)" in out
    with Store(db) as s:
        first, second = s.models()
        assert second.metrics["init"] == "continued from model 1 (the active model)"
        assert second.input_size == 40  # the continued model's preprocessing is kept
        meta, _ = load_checkpoint(second.path, s.scheme)
        assert meta.init.startswith("continued from")


@pytest.mark.parametrize("content", [b"just some text\n", b"pickle"])
def test_a_bad_init_file_is_one_line_before_anything_is_decoded(store_db, tmp_path, capsys, content):
    import pickle

    db = fresh_db(store_db, tmp_path)
    bad = tmp_path / "bad.pt"
    if content == b"pickle":
        class Evil:
            def __reduce__(self):
                return (os.system, ("touch " + str(tmp_path / "owned"),))

        bad.write_bytes(pickle.dumps({"state_dict": Evil()}))
    else:
        bad.write_bytes(content)
    cache = tmp_path / "cache"
    env_home = os.environ.get("XTALVIEWER_HOME")
    os.environ["XTALVIEWER_HOME"] = str(tmp_path / "home")
    try:
        code = main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                     "--init", str(bad), "--runs-dir", str(tmp_path / "runs")])
    finally:
        if env_home is None:
            os.environ.pop("XTALVIEWER_HOME")
        else:
            os.environ["XTALVIEWER_HOME"] = env_home
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "bad.pt" in err and "weights_only=False" not in err
    assert not (tmp_path / "owned").exists()  # never unpickled
    assert not list((tmp_path / "home").rglob("*.npy")) and not cache.exists()  # nothing decoded


def test_a_damaged_last_pt_stops_resume_with_one_line(store_db, tmp_path, capsys, monkeypatch):
    db = fresh_db(store_db, tmp_path)
    cancel = threading.Event()
    real_evaluate = train.loop.evaluate

    def evaluate_then_cancel(*a, **kw):
        result = real_evaluate(*a, **kw)
        cancel.set()
        return result

    monkeypatch.setattr(train.loop, "evaluate", evaluate_then_cancel)
    with pytest.raises(KeyboardInterrupt):
        run_training(parse_config(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "3",
                                   "--runs-dir", str(tmp_path / "runs")]), cancel)
    monkeypatch.setattr(train.loop, "evaluate", real_evaluate)
    (run,) = list((tmp_path / "runs").iterdir())
    last = run / "resnet18" / "last.pt"
    last.write_bytes(last.read_bytes()[:300])
    capsys.readouterr()
    assert main(["--resume", run.name, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be resumed from" in err and "delete it" in err


def test_killed_after_registration_resume_registers_once_and_keeps_best_pt(store_db, tmp_path, monkeypatch):
    from xtalviewer.model.architectures import file_sha256

    db = fresh_db(store_db, tmp_path)
    real_write = Path.write_text

    def die_at_result(self, *a, **kw):
        if self.name == "result.json":
            raise KeyboardInterrupt  # as if killed right after registration
        return real_write(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", die_at_result)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                 "--runs-dir", str(tmp_path / "runs")]) == 130
    monkeypatch.setattr(Path, "write_text", real_write)
    (run,) = list((tmp_path / "runs").iterdir())
    with Store(db) as s:
        (model,) = s.models()
    assert main(["--resume", run.name, "--runs-dir", str(tmp_path / "runs")]) == 0
    with Store(db) as s:
        assert [m.id for m in s.models()] == [model.id]
    assert file_sha256(model.path) == model.sha256
    assert json.loads((run / "resnet18" / "result.json").read_text())["model_id"] == model.id


def test_zero_epochs_calibrates_and_registers_the_starting_model(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    common = ["--db", str(db), "--arch", "resnet", "--runs-dir", str(tmp_path / "runs")]
    assert main(common + ["--image-size", "32", "--epochs", "1", "--init", "scratch"]) == 0
    assert main(common + ["--epochs", "0"]) == 0  # continue from it without training: a new operating point
    with Store(db) as s:
        first, second = s.models()
        assert second.metrics["epochs_run"] == 0 and second.operating_point.calibrated
        _, a = load_checkpoint(first.path, s.scheme)
        _, b = load_checkpoint(second.path, s.scheme)
    import torch

    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_evaluating_a_checkpoint_file_registers_nothing(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    with Store(db) as s:
        (model,) = s.models()
    other = tmp_path / "other.pt"
    import torch

    payload = torch.load(model.path, weights_only=True)
    payload["run_id"] = "another-run"
    torch.save(payload, other)  # a file the registry has never seen
    capsys.readouterr()
    assert main(["evaluate", "--db", str(db), "--model", str(other)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"] is None and result["n"] > 0
    with Store(db) as s:
        assert [m.id for m in s.models()] == [model.id]


def test_a_resumed_run_reports_the_whole_training_time(store_db, tmp_path, monkeypatch):
    db = fresh_db(store_db, tmp_path)
    cancel = threading.Event()
    real_evaluate = train.loop.evaluate
    calls = []

    def slow_then_cancel(*a, **kw):
        result = real_evaluate(*a, **kw)
        calls.append(1)
        if len(calls) == 1:
            import time

            time.sleep(3.0)  # the first run's time, which the resumed run must still count
            cancel.set()
        return result

    monkeypatch.setattr(train.loop, "evaluate", slow_then_cancel)
    with pytest.raises(KeyboardInterrupt):
        run_training(parse_config(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "2",
                                   "--runs-dir", str(tmp_path / "runs"), "--patience", "9"]), cancel)
    (run,) = list((tmp_path / "runs").iterdir())
    with open(run / "resnet18" / "summary.csv") as fh:
        first_epoch_s = float(next(csv.DictReader(fh))["seconds"])
    monkeypatch.setattr(train.loop, "evaluate", real_evaluate)
    assert main(["--resume", run.name, "--runs-dir", str(tmp_path / "runs")]) == 0
    metrics = json.loads((run / "resnet18" / "metrics.json").read_text())
    with open(run / "resnet18" / "summary.csv") as fh:
        seconds = [float(r["seconds"]) for r in csv.DictReader(fh)]
    assert first_epoch_s >= 3.0 and metrics["train_seconds"] >= sum(seconds) - 0.5


def test_composite_trains_with_crystals_drawn_into_the_labs_clear_drops(store_db, tmp_path, capsys):
    db = fresh_db(store_db, tmp_path)
    assert main(["--db", str(db), "--arch", "resnet", "--image-size", "32", "--epochs", "1", "--composite", "6",
                 "--runs-dir", str(tmp_path / "runs"), "--init", "scratch"]) == 0
    out = capsys.readouterr().out
    assert "resnet18: 6 synthetic crystals composited into" in out and "of the lab's own clear training drops" in out
    (run,) = list((tmp_path / "runs").iterdir())
    assert json.loads((run / "args.json").read_text())["composite"] == 6
