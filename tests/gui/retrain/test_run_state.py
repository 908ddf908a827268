"""What the Retrain dialog says about a run, from the trainer's events alone (no Qt, no trainer)."""

from xtalviewer.gui.retrain.run_state import RunState


def test_a_run_is_followed_event_by_event_and_worded_for_the_reviewer():
    s = RunState()
    assert "120 training" in s.follow({"event": "run", "run": "r1", "train": 120, "val": 30, "test": 40,
                                       "split_unit": "plate", "device": "cpu", "archs": ["resnet18", "vgg11_bn"],
                                       "folder": "/runs/r1"})
    assert s.follow({"event": "start", "arch": "resnet18", "epochs": 3, "init": "base model"}).startswith("resnet18: starting")
    assert s.arch == "resnet18" and s.epochs == 3 and s.inits["resnet18"] == "base model"
    assert s.follow({"event": "batch", "arch": "resnet18", "epoch": 2, "batch": 5, "batches": 9}) == \
        "resnet18: epoch 2/3, batch 5/9"
    assert "accuracy 50.0%" in s.follow({"event": "epoch_end", "arch": "resnet18", "epoch": 1, "val_loss": 0.5,
                                         "val_accuracy": 0.5})
    s.follow({"event": "metrics", "arch": "resnet18", "metrics": {"accuracy": 0.9}})
    assert s.metrics["resnet18"] == {"accuracy": 0.9}
    assert s.stop_question().endswith("Nothing will be registered for resnet18.")
    assert s.follow({"event": "registered", "arch": "resnet18", "model_id": 7}) is None and s.arch is None
    assert s.follow({"event": "run_done", "arch": "resnet18", "model_id": 7}).endswith("Preparing vgg11_bn…")
    rows = [{"arch": "resnet18", "model_id": 7}]
    assert s.done_text(rows, 0).startswith("Done: 1 model(s) registered. Best: resnet18 (model 7)")
    s.follow({"event": "start", "arch": "vgg11_bn", "epochs": 3})
    text = s.cancelled_text(rows)
    assert "Nothing was registered for vgg11_bn" in text and "resnet18 (model 7)" in text
    assert text.endswith("xtal-train --resume /runs/r1")


def test_a_failure_names_the_trainers_own_reason_before_its_last_stderr_line():
    s = RunState(last_stderr="Traceback …")
    s.follow({"event": "start", "arch": "alexnet", "epochs": 1})
    assert s.failed_text("crashed") == ("Training crashed: Traceback …", "Training failed during alexnet. ")
    s.follow({"event": "error", "message": "CUDA out of memory"})
    assert s.failed_text("stopped with exit status 2")[0] == "Training stopped with exit status 2: CUDA out of memory"
    s.follow({"event": "error", "message": "ignored", "cancelled": True})
    assert s.error == "CUDA out of memory"
    assert s.follow({"event": "from a newer trainer"}) is None
