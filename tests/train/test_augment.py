import torch

from train.augment import augment, to_input
from xtalviewer.core.models import Preprocess


def test_augment_shapes_range_and_determinism():
    p = Preprocess(input_size=32)
    x = torch.randint(0, 256, (8, 32, 32, 3), dtype=torch.uint8)
    a = augment(x, p, torch.Generator().manual_seed(1))
    b = augment(x, p, torch.Generator().manual_seed(1))
    c = augment(x, p, torch.Generator().manual_seed(2))
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    lo = (0 - torch.tensor(p.mean).max()) / torch.tensor(p.std).min()
    hi = (1 - torch.tensor(p.mean).min()) / torch.tensor(p.std).min()
    assert a.min() >= lo - 1e-4 and a.max() <= hi + 1e-4


def test_augment_changes_images_but_keeps_their_overall_content():
    p = Preprocess(input_size=32)
    x = torch.zeros((4, 32, 32, 3), dtype=torch.uint8)
    x[:, 8:24, 8:24] = 255  # a bright square in the middle stays roughly where it was
    plain = to_input(x, p)
    aug = augment(x, p, torch.Generator().manual_seed(0))
    assert not torch.allclose(plain, aug)
    centre_plain = plain[:, :, 12:20, 12:20].mean()
    centre_aug = aug[:, :, 12:20, 12:20].mean()
    assert abs(float(centre_plain - centre_aug)) < 0.6
