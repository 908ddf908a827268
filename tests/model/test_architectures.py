import pytest
import torch

from modelfiles import tiny_checkpoint
from xtalviewer.labels import SchemeError, load_scheme
from xtalviewer.model.architectures import (
    ARCHITECTURES,
    CheckpointError,
    Preprocess,
    build_model,
    load_checkpoint,
    read_checkpoint,
    resolve_arch,
)

SMALLEST = {"inception_v3": 75, "alexnet": 63}


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_each_architecture_builds_and_scores_at_a_small_size(arch):
    size = SMALLEST.get(arch, 32)
    model = build_model(arch, 10, size).eval()
    with torch.inference_mode():
        probs = torch.softmax(model(torch.randn(2, 3, size, size)), dim=1)
    assert probs.shape == (2, 10)
    assert torch.allclose(probs.sum(dim=1), torch.ones(2))


def test_family_names_resolve_to_variants():
    assert resolve_arch("resnet") == "resnet18"
    assert resolve_arch("Inception") == "inception_v3"
    assert resolve_arch("vgg") == "vgg11_bn" and resolve_arch("vgg16") == "vgg16_bn"
    assert resolve_arch("alexnet") == "alexnet" and resolve_arch("resnet50") == "resnet50"
    with pytest.raises(ValueError, match="unknown architecture 'lenet'"):
        resolve_arch("lenet")


def test_too_small_inputs_are_refused_with_the_minimum():
    with pytest.raises(ValueError, match="at least 75 px"):
        build_model("inception", 10, 64)


def test_preprocess_fits_squares_and_normalises():
    import numpy as np

    rgb = np.full((100, 120, 3), 255, np.uint8)
    squash = Preprocess(input_size=32)
    t = squash(rgb)
    assert t.shape == (3, 32, 32)
    assert torch.allclose(t[:, 0, 0], (1 - torch.tensor(squash.mean)) / torch.tensor(squash.std))
    padded = Preprocess(input_size=32, fit="pad").fit_square(rgb)
    assert padded.shape == (32, 32, 3)
    assert padded[0, 0].sum() == 0 and padded[16, 16].min() == 255  # letterbox bars above and below
    assert Preprocess.from_dict(squash.to_dict()) == squash


def test_checkpoint_round_trip_keeps_weights_and_metadata(tmp_path):
    scheme = load_scheme("xtal10")
    path = tiny_checkpoint(tmp_path / "m.pt", scheme)
    meta, model = load_checkpoint(path, scheme)
    assert meta.arch == "resnet18" and meta.classes == scheme.keys and meta.input_size == 32
    assert meta.crystal == scheme.crystal_mask and meta.run_id == "test-run" and meta.metrics == {"accuracy": 0.5}
    assert meta.torch_version == torch.__version__ and meta.torchvision_version
    torch.manual_seed(0)
    original = build_model("resnet18", 10, 32).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model(x), original(x), atol=1e-6)


def test_checkpoint_of_another_scheme_is_refused(tmp_path):
    path = tiny_checkpoint(tmp_path / "marco.pt", load_scheme("marco4"))
    with pytest.raises(SchemeError, match="label scheme 'marco4'.*database uses 'xtal10'"):
        load_checkpoint(path, load_scheme("xtal10"))


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    path = tiny_checkpoint(tmp_path / "m.pt", load_scheme("xtal10"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        read_checkpoint(path)


def test_foreign_files_give_clear_errors(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(build_model("alexnet", 10).state_dict(), plain)
    with pytest.raises(CheckpointError, match="not an xtalviewer checkpoint .*plain state dict"):
        read_checkpoint(plain)
    text = tmp_path / "notes.pt"
    text.write_text("not a model")
    with pytest.raises(CheckpointError, match="not a readable checkpoint|truncated or damaged"):
        read_checkpoint(text)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(empty)
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_round_trips_operating_point_and_crop(tmp_path):
    from xtalviewer.crystal_call import OperatingPoint
    from xtalviewer.model.architectures import CheckpointMeta, save_checkpoint

    scheme = load_scheme("xtal10")
    op = OperatingPoint(threshold=0.123, temperature=1.7, target_recall=0.99, val_recall=1.0, val_review_load=0.2,
                        val_crystals=31)
    meta = CheckpointMeta(arch="resnet18", scheme_id=scheme.id, classes=scheme.keys, crystal=scheme.crystal_mask,
                          preprocess=Preprocess(input_size=48, crop="drop", crop_margin=0.1), operating_point=op)
    save_checkpoint(tmp_path / "m.pt", build_model("resnet18", 10, 48), meta)
    back, _ = read_checkpoint(tmp_path / "m.pt")
    assert back.operating_point == op and back.operating_point.calibrated
    assert back.preprocess.crop == "drop" and back.preprocess.crop_margin == 0.1 and back.input_size == 48
    with pytest.raises(ValueError, match="unknown crop"):
        Preprocess(crop="plate")


def test_a_checkpoint_from_before_calibration_still_loads_with_the_old_rule(tmp_path):
    scheme = load_scheme("xtal10")
    path = tiny_checkpoint(tmp_path / "new.pt", scheme)
    payload = torch.load(path, weights_only=True)
    del payload["operating_point"]
    payload["preprocess"] = {k: payload["preprocess"][k] for k in ("input_size", "fit", "mean", "std")}
    torch.save(payload, tmp_path / "old.pt")
    meta, model = load_checkpoint(tmp_path / "old.pt", scheme)
    assert not meta.operating_point.calibrated
    assert meta.operating_point.threshold == 0.5 and meta.operating_point.temperature == 1.0
    assert meta.preprocess.crop == "none"
    with torch.inference_mode():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_crop_step_fits_the_drop_not_the_frame():
    import numpy as np

    from xtalviewer.model.crop import apply_crop, find_crop

    from dropimages import small_drop

    rgb = small_drop()
    p = Preprocess(input_size=64, crop="drop")
    box = p.crop_box(rgb)
    assert box == find_crop(rgb, "drop", p.crop_margin) and (box.x1 - box.x0) < 0.9
    region, found = p.crop_region(rgb)
    assert found == box and region.shape == apply_crop(rgb, box).shape
    assert np.array_equal(p.fit_square(rgb), p.fit_region(apply_crop(rgb, box)))
    assert not np.array_equal(p.fit_square(rgb), Preprocess(input_size=64).fit_square(rgb))
    # a drop crop keeps more decoded pixels, so the crop is not upsampled from a reduced decode
    assert p.decode_min_side() == 3 * 64 and Preprocess(input_size=64, crop="well").decode_min_side() == 128
    blank = np.full((200, 240, 3), 128, np.uint8)
    assert p.crop_box(blank).found == "frame" and p.fit_square(blank).shape == (64, 64, 3)
