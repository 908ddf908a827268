"""The Retrain dialog: a real tiny training through the subprocess, cancel, and the dialog's own logic
against stand-in processes (fast: a few lines of Python that print events)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import shiboken6
import torch
from PySide6.QtCore import Qt
from trainfixtures import labelled_store

from xtalviewer.settings import Settings
from xtalviewer.store.store import Store
from train.events import read_event
from xtalviewer.model.metrics import BEST_RULE
from xtalviewer.model.metrics import HEADLINE as METRICS
from xtalviewer.gui.retrain import dialog as retrain
from xtalviewer.gui.retrain.results_model import COLUMNS, ResultsModel
from xtalviewer.gui.retrain.dialog import RetrainDialog
from xtalviewer.gui.retrain.trainer_process import LineBuffer, train_command

HEADLINE = ("accuracy", "top3_accuracy", "missed_crystal_rate_top1", "missed_crystal_rate_top3", "train_seconds")


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):
    return labelled_store(tmp_path_factory.mktemp("retrainstore"))


@pytest.fixture
def db(store_db, tmp_path):
    copy = tmp_path / "copy.db"
    with Store(store_db) as src:
        src.backup(copy)
    return copy


@pytest.fixture
def open_dialog(qtbot, tmp_path):
    """Dialogs that answer Yes to their questions and never outlive the test (nor their process)."""
    made: list[RetrainDialog] = []

    def make(db_path, device: str = "cpu", only: tuple[str, ...] = ("resnet",), **options) -> RetrainDialog:
        dialog = RetrainDialog(db_path, Settings(device=device), runs_dir=tmp_path / "runs")
        dialog.questions = []
        dialog.confirm = lambda title, text: dialog.questions.append(title) or True
        for key, box in dialog.options.arch_boxes.items():
            box.setChecked(key in only)
        for name, value in options.items():
            box = getattr(dialog.options, f"{name}_box")
            box.setCurrentIndex(box.findData(value)) if name == "init" else box.setValue(value)
        dialog.events = []
        follow = dialog.handle_event
        dialog.handle_event = lambda ev: (dialog.events.append(ev), follow(ev))
        dialog.show()
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        if shiboken6.isValid(dialog):
            dialog._stop_now()
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
            dialog.close()
            dialog.deleteLater()


def fake_trainer(monkeypatch, script: str) -> None:
    """Run ``script`` instead of the trainer: the dialog only sees a process and its output."""
    monkeypatch.setattr(retrain, "train_command", lambda *a, **kw: [sys.executable, "-c", textwrap.dedent(script)])


def names(dialog) -> list[str]:
    return [e["event"] for e in dialog.events]


# -- a real run through `python -m train` -------------------------------------------------------------


def test_a_tiny_run_fills_curves_table_and_heat_map_and_activates(db, open_dialog, qtbot):
    dialog = open_dialog(db, epochs=2, size=32, init="imagenet")
    qtbot.keyClick(dialog.options.epochs_box, Qt.Key.Key_Return)  # Enter starts
    assert dialog.running()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=240_000)
    assert dialog.error.isHidden(), dialog.error.text() + "\n" + dialog.log.toPlainText()[-3000:]
    assert dialog.status.text().startswith("Done")

    with Store(db) as store:
        models = store.models()
        assert store.active_model() is None  # the dialog activates; the trainer does not
        class_names = [store.scheme.get(k).name for k in store.scheme.keys]
    assert dialog.results.rowCount() == len(models) == 1
    (row,), (model,) = dialog.results.rows, models
    assert row["arch"] == model.arch == "resnet18" and row["model_id"] == model.id
    for key in HEADLINE:
        assert row["metrics"][key] == model.metrics[key]
    shown = [dialog.results.data(dialog.results.index(0, c)) for c in range(dialog.results.columnCount())]
    assert shown[0] == "★ resnet18" and dialog.results.best == 0
    assert shown[1] == f"{100 * model.metrics['accuracy']:.1f}%"
    assert shown[-1] == str(model.id)
    init = next(e["init"] for e in dialog.events if e["event"] == "start")
    assert shown[dialog.results.column("init")] == init and init  # what the trainer says it started from

    # one point per epoch, the values the trainer reported
    ends = [e for e in dialog.events if e["event"] == "epoch_end"]
    assert [e["epoch"] for e in ends] == [1, 2]
    curves = dialog.curves.curves["resnet18"]
    x, y = curves["train_loss"].getData()
    assert list(x) == [1, 2] and list(y) == pytest.approx([e["train_loss"] for e in ends])
    x, y = curves["val_loss"].getData()
    assert list(y) == pytest.approx([e["val_loss"] for e in ends])
    x, y = curves["val_accuracy"].getData()
    assert list(y) == pytest.approx([100 * e["val_accuracy"] for e in ends])
    x, y = curves["missed_top3"].getData()
    assert list(y) == pytest.approx([100 * e["val_missed_crystal_top3"] for e in ends])

    # the heat map follows the selected row
    dialog.table.clearSelection()
    assert dialog.heatmap.matrix == [] and not dialog.activate_button.isEnabled()
    dialog.table.selectRow(0)
    assert dialog.heatmap.matrix == model.metrics["confusion_matrix"]
    assert dialog.heatmap.names == class_names
    assert not dialog.heatmap.grab().isNull()

    with qtbot.waitSignal(dialog.model_activated, timeout=5000) as signal:
        qtbot.mouseClick(dialog.activate_button, Qt.MouseButton.LeftButton)
    assert signal.args == [model.id]
    with Store(db) as store:
        assert store.active_model().id == model.id
    assert "(active)" in dialog.results.data(dialog.results.index(0, dialog.results.columnCount() - 1))


def test_cancel_after_the_first_epoch_registers_nothing(db, open_dialog, qtbot):
    dialog = open_dialog(db, epochs=30, size=32)
    dialog.kill_after_ms = 120_000  # a busy machine can take long over a batch; this test wants the graceful stop
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "epoch_end" in names(dialog) or not dialog.running(), timeout=240_000)
    assert dialog.running(), dialog.log.toPlainText()[-3000:]
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert "Cancelling" in dialog.status.text()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=180_000)
    assert dialog.process.exitCode() == 130, dialog.log.toPlainText()[-3000:]  # stopped at the next batch
    assert "Cancelled" in dialog.status.text()
    assert "Nothing was registered for resnet18" in dialog.status.text()
    assert dialog.error.isHidden()
    assert "registered" not in names(dialog) and dialog.results.rowCount() == 0
    with Store(db) as store:
        assert store.models() == []
    x, _ = dialog.curves.curves["resnet18"]["train_loss"].getData()
    assert len(x) >= 1
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


# -- the dialog's own logic -----------------------------------------------------------------------------


def test_train_command(tmp_path):
    cmd = train_command(tmp_path / "x.db", ["resnet", "alexnet"], 3, 63, 16, "cpu", init="active", crystal_recall=0.99)
    assert cmd[:4] == [sys.executable, "-P", "-m", "train"]  # -P: the working folder is not on sys.path
    args = dict(zip(cmd[4::2], cmd[5::2]))
    assert args == {"--db": str(tmp_path / "x.db"), "--arch": "resnet,alexnet", "--epochs": "3", "--image-size": "63",
                    "--batch-size": "16", "--device": "cpu", "--events": "-", "--activate": "none",
                    "--init": "active", "--crystal-recall": "0.99"}
    assert train_command("x.db", ["vgg"], 1, 32, 8, "auto", runs_dir=tmp_path)[-2:] == ["--runs-dir", str(tmp_path)]
    auto = train_command("x.db", ["vgg"], None, None, 8, "auto")  # epochs and size: the trainer's recipe
    assert "--epochs" not in auto and "--image-size" not in auto


def test_json_lines_arrive_in_pieces():
    buf = LineBuffer()
    line = json.dumps({"event": "batch", "epoch": 1, "batch": 2, "batches": 5})
    assert buf.feed(line[:10].encode()) == []
    assert buf.feed((line[10:] + "\nnot json\n" + line[:4]).encode()) == [line, "not json"]
    assert [read_event(x) for x in buf.feed(line[4:].encode() + b"\n")] == [json.loads(line)]
    assert read_event("not json") is None and read_event("[1, 2]") is None
    assert buf.flush() == []


def metrics(recall, load, balanced, **more):
    return {"accuracy": 0.8, "top3_accuracy": 0.9, "missed_crystal_rate_top1": 0.3, "missed_crystal_rate_top3": 0.05,
            "crystal_recall": recall, "crystal_precision": 0.5, "review_load": load, "top3_review_load": 0.5,
            "balanced_accuracy": balanced, "ece": 0.04, "train_seconds": 75, **more}


def test_the_table_shows_the_headline_metrics_and_marks_the_best_by_the_rule(qtbot):
    model = ResultsModel()
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert titles == ["Architecture", *(m.short for m in METRICS), "Init", "Training\ntime", "Model id"]
    assert model.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == METRICS[0].description
    model.add("resnet18", metrics(0.97, 0.20, 0.9), 1, "random initialisation")
    model.add("vgg11_bn", metrics(0.99, 0.35, 0.7), 2, "ImageNet weights")
    model.add("alexnet", metrics(0.99, 0.30, 0.6, init="continued from model 4"), 3)
    assert model.best == 2  # highest recall, then the lower review load
    assert model.data(model.index(2, 0)) == "★ alexnet" and model.data(model.index(0, 0)) == "resnet18"
    assert model.data(model.index(2, 0), Qt.ItemDataRole.ToolTipRole) == BEST_RULE
    row = {key: model.data(model.index(1, c)) for c, (key, *_) in enumerate(COLUMNS)}
    assert row["crystal_recall"] == "99.0%" and row["review_load"] == "35.0%" and row["ece"] == "4.0%"
    assert row["init"] == "ImageNet weights" and row["train_seconds"] == "1 min 15 s"
    assert model.data(model.index(2, model.column("init"))) == "continued from model 4"
    assert model.data(model.index(2, 0), Qt.ItemDataRole.FontRole).bold()


def test_options_defaults_and_checks(tmp_path, open_dialog):
    dialog = open_dialog(tmp_path / "none.db", only=("resnet", "inception", "vgg", "alexnet"))
    o = dialog.options
    assert (o.epochs(), o.image_size(), o.batch_box.value()) == (None, None, 32)  # the recipe decides
    assert o.epochs_box.text() == "auto" and o.size_box.text() == "auto"
    assert "--epochs" not in dialog.command() and "--image-size" not in dialog.command()
    assert o.device_box.currentText() == "cpu"
    assert o.init() == "imagenet"  # nothing to continue from in a database without models
    assert o.crystal_recall() == 0.99 and o.recall_box.text() == "99.0 %"
    assert "75 px" in o.hint.text() and "63 px" in o.hint.text()
    assert dialog.start_button.isEnabled()
    o.epochs_box.setValue(3)
    assert dialog.command()[dialog.command().index("--epochs") + 1] == "3"
    o.size_box.setValue(70)
    assert not dialog.start_button.isEnabled() and "Inception v3 needs" in o.problem.text()
    o.arch_boxes["inception"].setChecked(False)
    o.size_box.setValue(62)
    assert not dialog.start_button.isEnabled() and "AlexNet needs images of at least 63 px" in o.problem.text()
    o.arch_boxes["alexnet"].setChecked(False)
    assert dialog.start_button.isEnabled()
    for box in o.arch_boxes.values():
        box.setChecked(False)
    assert not dialog.start_button.isEnabled() and "at least one" in o.problem.text()
    assert BEST_RULE in dialog.rule.text().lower()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_said_before_starting(tmp_path, open_dialog):
    dialog = open_dialog(tmp_path / "none.db", device="cuda")
    o = dialog.options
    assert not dialog.start_button.isEnabled() and "CUDA" in o.problem.text()
    o.device_box.setCurrentText("cpu")
    assert dialog.start_button.isEnabled() and not o.problem.isVisible()


def test_escape_closes_when_idle(tmp_path, qtbot):
    dialog = RetrainDialog(tmp_path / "none.db", Settings())
    dialog.show()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_escape_while_running_asks_and_cancels(tmp_path, open_dialog, qtbot, monkeypatch):
    fake_trainer(monkeypatch, """
        import json, time
        print(json.dumps({"event": "run", "run": "r1", "archs": ["resnet18"], "folder": "/runs/r1"}), flush=True)
        print(json.dumps({"event": "start", "arch": "resnet18", "epochs": 3}), flush=True)
        time.sleep(60)
    """)
    dialog = open_dialog(tmp_path / "none.db")
    dialog.start()
    qtbot.waitUntil(lambda: "start" in names(dialog), timeout=20_000)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.questions == ["Stop training?"]
    qtbot.waitUntil(lambda: not dialog.running(), timeout=10_000)
    assert dialog.isVisible()  # Esc cancelled the run; the dialog stays to show what happened
    assert "Cancelled. Nothing was registered for resnet18" in dialog.status.text()
    assert "--resume /runs/r1" in dialog.status.text()


def test_a_trainer_that_ignores_cancel_is_killed(tmp_path, open_dialog, qtbot, monkeypatch):
    fake_trainer(monkeypatch, """
        import json, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(json.dumps({"event": "start", "arch": "alexnet", "epochs": 3}), flush=True)
        time.sleep(60)
    """)
    dialog = open_dialog(tmp_path / "none.db")
    dialog.kill_after_ms = 300
    dialog.start()
    qtbot.waitUntil(lambda: "start" in names(dialog), timeout=20_000)
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=10_000)
    assert "killing it" in dialog.log.toPlainText()
    assert "Cancelled. Nothing was registered for alexnet" in dialog.status.text() and dialog.error.isHidden()


def test_closing_while_running_asks_then_stops_the_process(tmp_path, open_dialog, qtbot, monkeypatch):
    fake_trainer(monkeypatch, "import time; time.sleep(60)")
    dialog = open_dialog(tmp_path / "none.db")
    dialog.start()
    qtbot.waitUntil(dialog.running, timeout=10_000)
    process = dialog.process
    dialog.close()
    assert dialog.questions == ["Stop training and close?"]
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog) or not dialog.isVisible(), timeout=10_000)
    assert not shiboken6.isValid(process) or process.state() == process.ProcessState.NotRunning


def test_an_error_is_shown_plainly(tmp_path, open_dialog, qtbot, monkeypatch):
    fake_trainer(monkeypatch, """
        import json, sys
        print(json.dumps({"event": "error", "message": "only 3 labelled images; label more drops"}), flush=True)
        print("xtal-train: error: only 3 labelled images; label more drops", file=sys.stderr)
        sys.exit(2)
    """)
    dialog = open_dialog(tmp_path / "none.db")
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=20_000)
    assert dialog.error.isVisible()
    assert dialog.error.text() == "Training stopped with exit status 2: only 3 labelled images; label more drops"
    assert "xtal-train: error" in dialog.log.toPlainText()
    assert "No model was registered" in dialog.status.text() and dialog.start_button.isEnabled()


def test_a_crash_without_an_event_shows_the_last_log_line(tmp_path, open_dialog, qtbot, monkeypatch):
    fake_trainer(monkeypatch, """
        import os, sys
        sys.stderr.write("RuntimeError: CUDA out of memory\\n"); sys.stderr.flush()
        os.abort()
    """)
    dialog = open_dialog(tmp_path / "none.db")
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=20_000)
    assert dialog.error.text() == "Training crashed: RuntimeError: CUDA out of memory"


def test_a_trainer_that_cannot_start_is_reported(tmp_path, open_dialog, qtbot, monkeypatch):
    monkeypatch.setattr(retrain, "train_command", lambda *a, **kw: [str(tmp_path / "no-such-python"), "-m", "train"])
    dialog = open_dialog(tmp_path / "none.db")
    dialog.start()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=10_000)
    assert "could not be started" in dialog.error.text()
    assert not dialog.running() and dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


@pytest.mark.parametrize("shadow", ["train.py", "train/__main__.py"])
def test_the_dialog_runs_our_trainer_even_beside_someone_elses(tmp_path, open_dialog, qtbot, monkeypatch, shadow):
    """A folder with another project's train.py (or train/ package) as the working folder must not
    change which trainer Retrain starts."""
    folder, marker = tmp_path / "their-project", tmp_path / "theirs-ran"
    script = folder / shadow
    script.parent.mkdir(parents=True)
    script.write_text(f"open({str(marker)!r}, 'w').write('theirs')\n")
    if shadow.startswith("train/"):
        (folder / "train" / "__init__.py").write_text(script.read_text())
    monkeypatch.chdir(folder)
    dialog = open_dialog(tmp_path / "none.db")
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=120_000)
    assert not marker.exists()
    # ours: it checks the database first and says so in its own words, with its own exit status
    assert "does not exist; import plates and label some drops first" in dialog.error.text(), dialog.log.toPlainText()
    assert dialog.process.exitCode() == 2 and Path(dialog.process.workingDirectory()) != folder


def test_init_and_crystal_recall_reach_the_trainer(db, open_dialog, qtbot, monkeypatch):
    """The database's active model makes "continue" the default; each choice goes on the command line."""
    with Store(db) as store:
        model = store.add_model(name="current", arch="resnet18", classes=store.scheme.keys, input_size=32,
                                path="/m.pt", activate=True)
    argv = []
    monkeypatch.setattr(retrain, "start_trainer", lambda process, cmd: argv.append(cmd))
    dialog = open_dialog(db)
    o = dialog.options
    assert o.init() == "active" and "current" in o.init_box.toolTip()
    o.recall_box.setValue(97.5)
    for init in ("active", "imagenet", "scratch"):
        o.init_box.setCurrentIndex(o.init_box.findData(init))
        dialog.start()
        args = dict(zip(argv[-1][4::2], argv[-1][5::2]))
        assert (args["--init"], args["--crystal-recall"]) == (init, "0.975")
    assert model


def test_without_an_active_model_continuing_is_not_offered(tmp_path, open_dialog):
    dialog = open_dialog(tmp_path / "none.db")
    o = dialog.options
    assert o.init() == "imagenet"
    assert not o.init_box.model().item(o.init_box.findData("active")).isEnabled()


def test_the_three_initialisations_run_through_the_trainer(db, open_dialog, qtbot, monkeypatch):
    """Scratch, then ImageNet weights (none cached here: the trainer says so and starts from random),
    then continuing from the model the first run registered and the dialog activated."""
    monkeypatch.setenv("XTALVIEWER_OFFLINE", "1")  # never try a download in a test

    def run(init: str) -> dict:
        dialog = open_dialog(db, epochs=1, size=32, init=init)
        assert dialog.options.init() == init
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.running(), timeout=240_000)
        assert dialog.error.isHidden(), dialog.error.text() + "\n" + dialog.log.toPlainText()[-3000:]
        (row,) = dialog.results.rows
        start = next(e for e in dialog.events if e["event"] == "start")
        assert row["init"] == start["init"]
        return {"dialog": dialog, "init": row["init"], "model_id": row["model_id"]}

    scratch = run("scratch")
    assert scratch["init"].startswith("random initialisation")
    imagenet = run("imagenet")
    assert "random initialisation" in imagenet["init"] and "ImageNet" in imagenet["dialog"].log.toPlainText()
    scratch["dialog"].table.selectRow(0)
    scratch["dialog"].activate_selected()
    continued = run("active")
    assert f"from model {scratch['model_id']} " in continued["init"] and continued["init"].startswith("continued from")
