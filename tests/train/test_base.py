import json

import torch

from train.cli import main
from xtalviewer.model.architectures import file_sha256, load_checkpoint


def test_the_base_build_writes_a_half_precision_calibrated_model_its_record_and_keeps_its_run(tmp_path, capsys):
    out = tmp_path / "models" / "base-resnet18.pt"
    work = tmp_path / "work"
    code = main(["base", "--out", str(out), "--plates", "3", "--inspections", "1", "--seed", "7", "--size", "160x128",
                 "--epochs", "1", "--image-size", "32", "--workdir", str(work)])
    assert code == 0, capsys.readouterr().err
    meta, model = load_checkpoint(out)
    assert meta.arch == "resnet18" and meta.preprocess.input_size == 32 and meta.run_id.startswith("base-")
    assert meta.operating_point.calibrated and 0 < meta.operating_point.threshold < 1
    stored = torch.load(out, map_location="cpu", weights_only=True)
    weights = stored["state_dict"] if "state_dict" in stored else stored["model"]
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}  # compact
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["seed"] == 7 and record["plates"] == 3 and record["size"] == "160x128"
    assert record["sha256"] == file_sha256(out) and record["bytes"] == out.stat().st_size
    assert record["command"].startswith("xtal-train base") and "--seed 7" in record["command"]
    assert {"crystal_recall", "review_load", "accuracy"} <= set(record["test_metrics"])
    run = work / "runs"
    assert (work / "base.db").exists() and any(run.glob("*-base/resnet18/metrics.json"))  # the run folder is kept
