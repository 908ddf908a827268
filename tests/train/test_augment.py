import torch

from train.augment import augment, to_input
from xtalviewer.model.architectures import Preprocess


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


def test_colour_matrices_keep_brightness_and_make_grey_at_zero_saturation():
    from train.augment import colour_matrices, recolour

    x = torch.rand(3, 3, 8, 8)
    same = recolour(x, colour_matrices(torch.zeros(3), torch.ones(3)))
    assert torch.allclose(same, x, atol=1e-5)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    turned = recolour(x, colour_matrices(torch.tensor([0.5, 1.5, 3.0]), torch.ones(3)))
    assert not torch.allclose(turned, x, atol=1e-2)  # the hue changed ...
    assert torch.allclose((turned * luma).sum(1), (x * luma).sum(1), atol=1e-5)  # ... the brightness did not
    grey = recolour(x, colour_matrices(torch.zeros(3), torch.zeros(3)))
    assert torch.allclose(grey[:, 0], grey[:, 1], atol=1e-5) and torch.allclose(grey[:, 1], grey[:, 2], atol=1e-5)


def test_augment_varies_the_colour_of_a_coloured_drop():
    p = Preprocess(input_size=16)
    x = torch.zeros((64, 16, 16, 3), dtype=torch.uint8)
    x[..., 0], x[..., 1], x[..., 2] = 180, 120, 60  # one brown drop, 64 times
    a = augment(x, p, torch.Generator().manual_seed(0))
    rgb = a * torch.tensor(p.std).view(1, 3, 1, 1) + torch.tensor(p.mean).view(1, 3, 1, 1)
    mean = rgb.mean(dim=(2, 3))
    blue_above_red = (mean[:, 2] > mean[:, 0]).float().mean()
    assert 0.05 < blue_above_red < 0.6  # some hues turned past blue, most kept red above blue
    spread = (mean.max(1).values - mean.min(1).values)
    assert (spread < 0.03).float().mean() > 0.05  # some images are grey
