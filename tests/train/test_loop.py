import pytest

from train.loop import epochs_that_fit


@pytest.mark.parametrize("seconds_left, expected", [(100.0, 4), (21.0, 1), (20.0, 1), (0.0, 1)])
def test_epochs_that_fit_count_training_and_validation(seconds_left, expected):
    # 20 training batches of 1 s, 96 validation images at batch 32 (a third of a step each): 21 s an epoch
    assert epochs_that_fit(seconds_left, 1.0, 20, 96, 32) == expected
