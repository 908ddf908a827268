"""The crystal call: temperature scaling, the recall-tuned threshold and the one hit rule."""

import numpy as np
import pytest

from xtalviewer.crystal_call import DEFAULT_THRESHOLD, PRIOR_THRESHOLD, OperatingPoint, crystal_in_top3, crystal_probability, is_hit, pct, softmax
from xtalviewer.model.calibration import choose_threshold, fit_operating_point, fit_temperature
from xtalviewer.model.metrics import expected_calibration_error

CRYSTAL = [False, False, True, True]


def overconfident_fixture(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model that is right ~70% of the time but ~99% sure: classic overconfidence."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    predicted = np.where(rng.random(n) < 0.7, truth, rng.integers(0, 4, n))
    logits = rng.normal(0, 1, (n, 4))
    logits[np.arange(n), predicted] += 8.0
    return logits, truth


def test_temperature_scaling_lowers_the_calibration_error():
    logits, truth = overconfident_fixture()
    before = expected_calibration_error(truth, softmax(logits))
    t = fit_temperature(logits, truth)
    after = expected_calibration_error(truth, softmax(logits, t))
    assert t > 1.5  # an overconfident model is softened
    assert before > 0.2 and after < before / 3
    # ranking within a drop is unchanged, so top-1 accuracy is too
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()


def test_a_calibrated_model_keeps_temperature_near_one():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (4000, 4))
    truth = np.array([rng.choice(4, p=p) for p in softmax(logits)])  # labels drawn from the model itself
    assert fit_temperature(logits, truth) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("target", [0.9, 0.95, 0.99, 1.0])
def test_threshold_reaches_the_requested_recall(target):
    rng = np.random.default_rng(2)
    is_crystal = rng.random(500) < 0.2
    score = np.clip(np.where(is_crystal, rng.normal(0.6, 0.2, 500), rng.normal(0.2, 0.15, 500)), 0, 1)
    threshold, recall, load = choose_threshold(score, is_crystal, target)
    assert recall >= target
    assert recall == pytest.approx((score[is_crystal] >= threshold).mean())
    assert load == pytest.approx((score >= threshold).mean())
    # the highest such threshold: a hair higher loses recall below the target
    assert (score[is_crystal] >= np.nextafter(threshold, 1)).mean() < target


def test_no_crystals_in_validation_keeps_the_old_rule():
    threshold, recall, _ = choose_threshold(np.array([0.1, 0.7]), np.array([False, False]), 0.99)
    assert threshold == DEFAULT_THRESHOLD and np.isnan(recall)
    op = fit_operating_point(np.zeros((3, 4)), [0, 1, 0], CRYSTAL)
    assert not op.calibrated and op.threshold == DEFAULT_THRESHOLD
    assert "not calibrated" in op.describe()


def test_fit_operating_point_on_validation_logits():
    logits, truth = overconfident_fixture(seed=3)
    op = fit_operating_point(logits, truth, CRYSTAL, target_recall=0.99)
    assert op.calibrated and op.target_recall == 0.99 and op.temperature > 1
    probs = softmax(logits, op.temperature)
    flagged = crystal_probability(probs, CRYSTAL) >= op.threshold
    is_crystal = np.asarray(CRYSTAL)[truth]
    assert flagged[is_crystal].mean() >= 0.99 and op.val_recall == pytest.approx(flagged[is_crystal].mean())
    assert op.val_review_load == pytest.approx(flagged.mean()) and op.val_crystals == int(is_crystal.sum())
    assert OperatingPoint.from_dict(op.to_dict()) == op
    assert "99% crystal recall" in op.describe()


@pytest.mark.parametrize("target", [0.9, 0.99, 0.999])
def test_mass_threshold_keeps_the_target_share_of_expected_crystals(target):
    from xtalviewer.model.calibration import mass_threshold

    rng = np.random.default_rng(5)
    score = rng.beta(0.3, 2.0, 800)
    t = mass_threshold(score, target)
    missed = score[score < t].sum() / score.sum()
    assert missed <= 1 - target + 1e-12
    higher = np.sort(score)[np.searchsorted(np.sort(score), t, side="right")]  # the next score up
    assert score[score < higher].sum() / score.sum() > 1 - target  # the highest such threshold
    assert mass_threshold(np.zeros(5), 0.99) is None and mass_threshold(np.array([]), 0.99) is None


def test_few_easy_validation_crystals_do_not_set_a_high_threshold():
    # 20 crystal drops all scored near 1 would put the labelled threshold at 0.9; 400 other drops
    # with faint crystal probability hold the expected crystals a new plate hides, so it drops
    rng = np.random.default_rng(6)
    crystal_p = rng.uniform(0.9, 0.99, 20)
    other_p = np.concatenate([rng.beta(0.5, 20, 400), rng.uniform(0.9, 0.99, 3)])  # 3 confusions keep T near 1
    p = np.concatenate([crystal_p, other_p])
    truth = np.array([1] * 20 + [0] * 403)
    logits = np.log(np.stack([1 - p, p], 1) + 1e-12)
    op = fit_operating_point(logits, truth, [False, True], target_recall=0.99)
    assert op.labelled_threshold == pytest.approx(np.sort(softmax(logits, op.temperature)[truth == 1, 1])[0])
    assert op.threshold == op.mass_threshold < 0.5 * op.labelled_threshold
    assert op.val_recall == 1.0 and op.lowered and "lowered from" in op.describe()
    assert OperatingPoint.from_dict(op.to_dict()) == op
    # many crystals spread over the range: the labelled rule is already the lower one and stays
    spread = rng.uniform(0.05, 1.0, 300)
    p2 = np.concatenate([spread, np.full(300, 0.001)])
    logits2 = np.log(np.stack([1 - p2, p2], 1))
    op2 = fit_operating_point(logits2, np.array([1] * 300 + [0] * 300), [False, True], target_recall=0.99)
    assert op2.threshold == op2.labelled_threshold and not op2.lowered


def test_hit_and_top3_rules():
    probs = np.array([[0.5, 0.3, 0.15, 0.05], [0.9, 0.05, 0.03, 0.02]])
    assert crystal_probability(probs, CRYSTAL) == pytest.approx([0.2, 0.05])
    assert crystal_in_top3(probs, CRYSTAL).tolist() == [True, True]
    assert is_hit(0.2, 0.2) and not is_hit(0.19, 0.2) and not is_hit(None, 0.0)
    assert is_hit(np.array([0.1, 0.3]), 0.2).tolist() == [False, True]
    assert crystal_in_top3(np.array([0.4, 0.3, 0.2, 0.1]), [False, False, False, True]) == np.False_
    assert pct(0.1234) == "12.3%" and pct(None) == "–" and pct(0.99, 0) == "99%"


def test_three_validation_crystals_give_a_stated_fallback_threshold_not_100_percent():
    # three easy crystals would put the labelled threshold near 100%, which flags nothing new
    rng = np.random.default_rng(9)
    p = np.concatenate([np.full(3, 0.999), rng.beta(0.5, 30, 200)])
    truth = np.array([1] * 3 + [0] * 200)
    logits = np.log(np.stack([1 - p, p], 1))
    op = fit_operating_point(logits, truth, [False, True], target_recall=0.99, fallback_threshold=0.04)
    assert op.threshold == 0.04 and op.calibrated and op.val_crystals == 3
    assert "the base model's threshold 4.0%" in op.fallback and "3 validation crystal drops" in op.fallback
    assert op.fallback in op.describe() and "probability >= 100" not in op.describe()
    prior = fit_operating_point(logits, truth, [False, True], target_recall=0.99)  # no earlier model: the prior
    assert prior.threshold == PRIOR_THRESHOLD and "stated prior" in prior.fallback
    assert OperatingPoint.from_dict(op.to_dict()) == op


def test_the_shape_score_joins_the_network_as_independent_evidence():
    from xtalviewer.model.shape_score import fuse, shape_probability

    probs = np.array([[0.7, 0.2, 0.05, 0.05], [0.97, 0.01, 0.01, 0.01]])
    shape = np.array([0.0, 0.9])
    fused = fuse(probs, shape, CRYSTAL)
    assert np.allclose(fused.sum(1), 1.0)
    assert np.allclose(fused[0], probs[0])  # no straight edges: the network's answer stands
    assert crystal_probability(fused, CRYSTAL)[1] == pytest.approx(1 - (1 - 0.02) * (1 - 0.9))
    assert fused[1, 2] == pytest.approx(fused[1, 3])  # crystal classes keep their shares
    assert crystal_in_top3(fused, CRYSTAL).tolist() == [True, True]
    assert shape_probability(np.array([0.0, 3.0, 30.0]), 1.5, 3.0).tolist() == pytest.approx([0.0, 0.4944, 1.0], abs=1e-3)
    op = fit_operating_point(np.log(probs), [0, 3], CRYSTAL, 0.99, shape_scores=np.array([0.0, 8.0]))
    assert op.fuses_shape and "straight edges" in op.describe()


def test_straight_edges_count_crystal_facets_not_the_round_drop_rim():
    import cv2

    from xtalviewer.model.shape_score import straight_edge_score

    blank = np.full((128, 128, 3), 180, np.uint8)
    rim = blank.copy()
    cv2.ellipse(rim, (64, 64), (48, 44), 0, 0, 360, (60, 60, 60), 3, cv2.LINE_AA)  # a drop's edge
    crystal = rim.copy()
    cv2.polylines(crystal, [np.array([[50, 40], [80, 48], [72, 82], [42, 74]], np.int32)], True, (30, 30, 30), 3)
    assert straight_edge_score(blank) == 0.0
    assert straight_edge_score(rim) < 0.3 < 1.0 < straight_edge_score(crystal)


def test_the_mass_rule_counts_calibrated_network_probabilities_when_edges_join_the_score():
    from xtalviewer.model.calibration import mass_threshold

    rng = np.random.default_rng(3)
    network = rng.beta(0.3, 6, 400)  # calibrated: the crystals each drop holds on average
    fused = 1 - (1 - network) * (1 - rng.uniform(0.0, 0.3, 400))  # edges lift every drop a little
    # counting the fused scores as probabilities expects far more crystals and puts the threshold too low
    assert mass_threshold(fused, 0.99) < mass_threshold(fused, 0.99, expected=network)
    t = mass_threshold(fused, 0.99, expected=network)
    assert network[fused < t].sum() <= 0.01 * network.sum() + 1e-12
    assert mass_threshold(network, 0.99, expected=network) == mass_threshold(network, 0.99)


def test_auto_keeps_straight_edges_only_where_they_find_what_the_network_misses():
    from xtalviewer.model.calibration import fit_crystal_call

    rng = np.random.default_rng(4)
    n_crystal, n_other = 60, 300
    truth = np.array([1] * n_crystal + [0] * n_other)
    edges_on_others = np.where(rng.random(n_other) < 0.3, rng.uniform(4, 9, n_other), rng.uniform(0, 1, n_other))
    # the network finds every crystal; edges only flag precipitate and dry drops too: left out
    sure = np.concatenate([rng.uniform(0.6, 0.99, n_crystal), rng.uniform(0.0001, 0.004, n_other)])
    logits = np.log(np.stack([1 - sure, sure], 1))
    edges = np.concatenate([rng.uniform(3, 9, n_crystal), edges_on_others])
    op = fit_crystal_call(logits, truth, [False, True], 0.99, shape_scores=edges)
    assert not op.fuses_shape and op.shape_note.startswith("straight edges left out") and op.shape_note in op.describe()
    # a new imager: the network scores a third of the crystals as low as clear drops; those have long edges
    missed = np.concatenate([np.where(np.arange(n_crystal) < 20, rng.uniform(0.0001, 0.004, n_crystal),
                                      sure[:n_crystal]), sure[n_crystal:]])
    edges2 = np.concatenate([np.where(np.arange(n_crystal) < 20, rng.uniform(7, 9, n_crystal), rng.uniform(0, 9, n_crystal)),
                             rng.uniform(0, 1.5, n_other)])
    op2 = fit_crystal_call(np.log(np.stack([1 - missed, missed], 1)), truth, [False, True], 0.99, shape_scores=edges2)
    assert op2.fuses_shape and op2.shape_note.startswith("kept") and op2.val_recall >= 0.99
    assert fit_crystal_call(logits, truth, [False, True], 0.99, shape_scores=edges, shape="on").fuses_shape
    assert not fit_crystal_call(logits, truth, [False, True], 0.99, shape_scores=edges, shape="off").fuses_shape


def test_a_few_labelled_crystals_lower_the_fallback_threshold_so_each_is_a_hit():
    p = np.array([0.9, 0.02, 0.6] + [0.001] * 50)
    truth = np.array([1, 1, 1] + [0] * 50)
    op = fit_operating_point(np.log(np.stack([1 - p, p], 1)), truth, [False, True], 0.99,
                             fallback_threshold=0.3, fallback_temperature=1.0)
    assert op.threshold == pytest.approx(0.02) and op.val_recall == 1.0
    assert "lowered to 2.0% so that every labelled crystal is a hit" in op.fallback
    easy = np.array([0.9, 0.8, 0.6] + [0.001] * 50)  # all above the fallback: it stays
    op2 = fit_operating_point(np.log(np.stack([1 - easy, easy], 1)), truth, [False, True], 0.99,
                              fallback_threshold=0.3, fallback_temperature=1.0)
    assert op2.threshold == 0.3 and "lowered" not in op2.fallback
