"""ONNX export: same top-3 as PyTorch on real images, metadata a deployer can rely on, clear CLI errors."""

import contextlib
import io
import json
import sys

import numpy as np
import pytest
import torch
from imagefiles import write_image
from modelfiles import tiny_checkpoint
from specialfiles import file_type, special_targets

from train.cli import main
from train.onnx_export import FixedAdaptiveAvgPool, make_exportable, usage_example
from xtalviewer.imaging.decode import load_rgb
from xtalviewer.model.inference import Scorer
from xtalviewer.labels import load_scheme
from xtalviewer.model.architectures import file_sha256, load_checkpoint
from xtalviewer.paths import default_db_path
from xtalviewer.store.store import Store

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = 48


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A registered tiny ResNet exported through `xtal-train export-onnx --model ID`."""
    root = tmp_path_factory.mktemp("onnx")
    db = root / "reg.db"
    with Store(db, "xtal10") as store:
        ckpt = tiny_checkpoint(root / "resnet.pt", store.scheme, "resnet18", SIZE, seed=3)
        meta, _ = load_checkpoint(ckpt)
        model_id = store.add_model(name="tiny", arch=meta.arch, classes=meta.classes, input_size=SIZE, path=str(ckpt),
                                   sha256=file_sha256(ckpt))
    out = root / "out" / "model.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export-onnx", "--db", str(db), "--model", str(model_id), "-o", str(out)])
    return {"db": db, "ckpt": ckpt, "id": model_id, "out": out, "code": code, "stdout": printed.getvalue()}


def drop_images(folder):
    colours = [(200, 40, 40), (30, 180, 90), (60, 60, 220), (240, 230, 40), (10, 10, 10)]
    return [write_image(folder / f"drop{i}.jpg", size=(80 + 13 * i, 64 + 7 * i), color=c)
            for i, c in enumerate(colours)]


def test_onnx_gives_the_same_top3_as_pytorch_on_images(exported, tmp_path, capsys):
    assert exported["code"] == 0
    meta, net = load_checkpoint(exported["ckpt"])
    batch = torch.stack([meta.preprocess(load_rgb(p, min_side=meta.preprocess.decode_min_side()))
                         for p in drop_images(tmp_path)])
    scorer = Scorer(net, meta, torch.device("cpu"), amp=False)  # float32, as the ONNX graph computes
    expected = scorer.forward(batch)
    session = ort.InferenceSession(str(exported["out"]), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"input": batch.numpy()})
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)  # softmax is inside the graph
    np.testing.assert_allclose(got, expected, atol=1e-4)
    classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
    for p_onnx, p_torch in zip(got, expected):
        ranked = np.sort(p_torch)[::-1]
        assert np.diff(-ranked[:4]).min() > 1e-3, "near-tied classes: top-3 order would be decided by rounding"
        top3_onnx = [classes[i] for i in np.argsort(-p_onnx, kind="stable")[:3]]
        assert top3_onnx == [key for key, _ in scorer.top3(p_torch)]


def test_metadata_props_and_sidecar_describe_the_model(exported):
    model = onnx.load(str(exported["out"]), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    scheme = load_scheme("xtal10")
    assert json.loads(props["classes"]) == scheme.keys  # output order
    assert json.loads(props["crystal_classes"]) == [c.key for c in scheme.classes if c.crystal]
    assert props["arch"] == "resnet18" and props["label_scheme"] == "xtal10" and props["fit"] == "resize"
    assert json.loads(props["input_size"]) == SIZE
    assert json.loads(props["mean"]) == [0.485, 0.456, 0.406] and json.loads(props["std"]) == [0.229, 0.224, 0.225]
    assert props["source_checkpoint_sha256"] == file_sha256(exported["ckpt"])
    assert props["xtalviewer_version"] and json.loads(props["model_id"]) == exported["id"]
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sidecar = json.loads(exported["out"].with_name("model.onnx.json").read_text())
    for key, value in props.items():
        assert sidecar[key] == (value if isinstance(sidecar[key], str) else json.loads(value))
    assert "/255" in sidecar["usage"]["preprocess"]


@pytest.mark.parametrize("fit", ["resize", "pad"])
def test_the_sidecar_usage_example_runs(exported, fit, tmp_path, monkeypatch, capsys):
    sidecar = json.loads(exported["out"].with_name("model.onnx.json").read_text())
    (tmp_path / "model.onnx").symlink_to(exported["out"])
    (tmp_path / "model.onnx.json").write_text(json.dumps({**sidecar, "fit": fit}))
    write_image(tmp_path / "drop.jpg", size=(90, 70))
    monkeypatch.chdir(tmp_path)
    exec("\n".join(usage_example("model.onnx", fit)), {})
    printed = capsys.readouterr().out
    assert printed.count("(") == 3 and sum(k in printed for k in sidecar["classes"]) == 3
    if fit == "resize":
        assert sidecar["usage"]["python"] == usage_example("model.onnx", "resize")


def test_cli_prints_a_one_line_summary_with_the_difference(exported):
    lines = exported["stdout"].strip().splitlines()
    assert len(lines) == 1 and f"model {exported['id']} (resnet18@{SIZE}" in lines[0] and "dynamic batch" in lines[0]
    assert float(lines[0].rsplit("max |diff| ", 1)[1].rstrip(").")) <= 1e-4


def test_a_checkpoint_path_exports_with_a_fixed_batch_and_no_database(tmp_path, monkeypatch, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pt", load_scheme("xtal10"), "resnet18", 32)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # export still works, it just cannot check itself
    assert main(["export-onnx", "--model", str(ckpt), "-o", str(tmp_path / "fixed.onnx"), "--no-dynamic-batch"]) == 0
    out = capsys.readouterr().out
    assert "fixed batch" in out and "not verified" in out and "pip install 'xtalviewer[onnx]'" in out
    model = onnx.load(str(tmp_path / "fixed.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    assert "model_id" not in {p.key for p in model.metadata_props}
    assert not default_db_path().exists()  # nothing was registered anywhere
    meta, net = load_checkpoint(ckpt)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = torch.softmax(net(x), dim=1).numpy()
    (got,) = ort.InferenceSession(str(tmp_path / "fixed.onnx")).run(None, {"input": x.numpy()})
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's notices
def test_fixed_pool_matches_adaptive_pool_and_exports(tmp_path):
    for in_hw, out_hw in [((1, 1), (6, 6)), ((3, 3), (7, 7)), ((10, 13), (6, 4)), ((12, 12), (6, 6))]:
        x = torch.randn(2, 4, *in_hw)
        torch.testing.assert_close(FixedAdaptiveAvgPool(in_hw, out_hw)(x), torch.nn.AdaptiveAvgPool2d(out_hw)(x))
    # AlexNet/VGG at a small size: the exporter rejects this pool until it is swapped
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=4), torch.nn.AdaptiveAvgPool2d((6, 6)),
                              torch.nn.Flatten(), torch.nn.Linear(144, 5)).eval()
    x = torch.randn(3, 3, 40, 40)
    with torch.no_grad():
        expected = net(x).numpy()
    assert make_exportable(net, 40) == ["1"]
    torch.onnx.export(net, (torch.randn(2, 3, 40, 40),), str(tmp_path / "p.onnx"), dynamo=False, opset_version=17,
                      input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    (got,) = ort.InferenceSession(str(tmp_path / "p.onnx")).run(None, {"input": x.numpy()})
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_cli_errors_are_clear_with_exit_2(exported, tmp_path, monkeypatch, capsys):
    def run(*args):
        code = main(["export-onnx", *args, "-o", str(tmp_path / "x.onnx")])
        return code, capsys.readouterr().err

    code, err = run("--db", str(exported["db"]), "--model", "99")
    assert code == 2 and "no model 99 in the registry" in err
    code, err = run("--db", str(tmp_path / "none.db"), "--model", "1")
    assert code == 2 and "does not exist" in err and not (tmp_path / "none.db").exists()
    code, err = run("--model", str(tmp_path / "missing.pt"))
    assert code == 2 and "not found" in err
    truncated = tmp_path / "cut.pt"
    data = exported["ckpt"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    code, err = run("--model", str(truncated))
    assert code == 2 and "truncated or damaged" in err
    code, err = run("--model", str(exported["ckpt"]), "--opset", "99")
    assert code == 2 and "--opset 99" in err
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the onnx extra were not installed
    code, err = run("--model", str(exported["ckpt"]))
    assert code == 2 and "pip install 'xtalviewer[onnx]'" in err
    assert not list(tmp_path.glob("x.onnx*"))


def test_export_onnx_refuses_non_regular_targets_and_writes_through_links(exported, tmp_path, capsys):
    for kind, target in special_targets(tmp_path, ".onnx").items():
        before = file_type(target)
        code = main(["export-onnx", "--model", str(exported["ckpt"]), "-o", str(target)])
        err = capsys.readouterr().err
        assert code == 2 and "not a regular file" in err, kind
        assert file_type(target) == before, f"the {kind} was replaced"
    real = tmp_path / "deploy" / "v3.onnx"
    real.parent.mkdir()
    link = tmp_path / "current.onnx"
    link.symlink_to(real)
    assert main(["export-onnx", "--model", str(exported["ckpt"]), "-o", str(link)]) == 0
    assert link.is_symlink() and onnx.load(str(real)).graph.output[0].name == "probabilities"
    assert json.loads((tmp_path / "current.onnx.json").read_text())["classes"]
    assert not list(tmp_path.rglob("*.part"))
