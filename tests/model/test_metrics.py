import numpy as np
import pytest

from xtalviewer.model.metrics import compute_metrics, headline

CLASSES = ["clear", "precip", "needles", "xtal3d"]
CRYSTAL = [False, False, True, True]


def onehotish(order):
    """Probabilities whose ranking is exactly ``order`` (first = most likely)."""
    p = np.zeros(4)
    for rank, idx in enumerate(order):
        p[idx] = [0.6, 0.25, 0.1, 0.05][rank]
    return p


def test_metrics_follow_the_fixed_definitions():
    truth = [0, 1, 2, 3, 3, 2]
    probs = np.array([
        onehotish([0, 1, 2, 3]),  # clear, right
        onehotish([0, 1, 2, 3]),  # precip predicted clear: wrong, true in top 3
        onehotish([1, 2, 0, 3]),  # needles: top-1 precip (missed @1), needles 2nd (found @3)
        onehotish([3, 2, 0, 1]),  # xtal3d, right
        onehotish([0, 1, 3, 2]),  # xtal3d: top-1 clear, crystal (xtal3d) 3rd -> found @3
        onehotish([0, 1, 3, 2]),  # needles: clear, precip, xtal3d -> a crystal class in the top 3, needles not
    ])
    m = compute_metrics(truth, probs, CLASSES, CRYSTAL)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["top3_accuracy"] == pytest.approx(5 / 6)
    assert m["crystal_images"] == 4
    assert m["missed_crystal_rate_top1"] == pytest.approx(3 / 4)
    assert m["missed_crystal_rate_top3"] == pytest.approx(0 / 4)
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == 6 and cm[0, 0] == 1 and cm[1, 0] == 1 and cm[2, 1] == 1 and cm[3, 3] == 1 and cm[3, 0] == 1
    assert m["per_class"]["clear"] == {"precision": pytest.approx(1 / 4), "recall": 1.0, "support": 1}
    assert m["per_class"]["xtal3d"]["precision"] == 1.0 and m["per_class"]["xtal3d"]["recall"] == 0.5
    assert m["per_class"]["needles"]["precision"] is None  # never predicted
    assert "accuracy 33.33%" in headline(m)


def test_a_crystal_missed_even_in_the_top_3():
    # needles ranked 4th behind clear, precip and dust (not a crystal class): missed at top-1 and top-3
    m = compute_metrics([2], np.array([[0.5, 0.3, 0.04, 0.16]]), ["clear", "precip", "needles", "dust"],
                        [False, False, True, False])
    assert m["missed_crystal_rate_top1"] == 1.0 and m["missed_crystal_rate_top3"] == 1.0
    assert m["top3_accuracy"] == 0.0


def test_no_crystals_and_empty_sets():
    m = compute_metrics([0, 1], np.array([onehotish([0, 1, 2, 3]), onehotish([1, 0, 2, 3])]), CLASSES, CRYSTAL)
    assert m["accuracy"] == 1.0 and m["missed_crystal_rate_top1"] is None
    empty = compute_metrics([], np.zeros((0, 4)), CLASSES, CRYSTAL)
    assert empty["n"] == 0 and empty["accuracy"] is None
    with pytest.raises(ValueError):
        compute_metrics([0], np.zeros((1, 3)), CLASSES, CRYSTAL)


def test_operating_point_metrics_count_hits_at_the_threshold():
    # crystal probability = needles + xtal3d
    truth = [2, 3, 0, 1]
    probs = np.array([
        [0.5, 0.2, 0.2, 0.1],    # needles, crystal prob 0.3
        [0.1, 0.1, 0.1, 0.7],    # xtal3d, 0.8
        [0.6, 0.15, 0.15, 0.1],  # clear, 0.25
        [0.1, 0.85, 0.03, 0.02], # precip, 0.05
    ])
    m = compute_metrics(truth, probs, CLASSES, CRYSTAL, threshold=0.25)
    assert m["threshold"] == 0.25
    assert m["crystal_recall"] == 1.0           # both crystals reach 0.25
    assert m["crystal_precision"] == pytest.approx(2 / 3)  # the clear drop is flagged too
    assert m["review_load"] == pytest.approx(3 / 4)
    strict = compute_metrics(truth, probs, CLASSES, CRYSTAL, threshold=0.5)
    assert strict["crystal_recall"] == 0.5 and strict["review_load"] == 0.25 and strict["crystal_precision"] == 1.0
    # the top-3 strategy: with two crystal classes out of four, every drop has one in its top 3
    assert m["top3_crystal_recall"] == 1.0 and m["top3_review_load"] == 1.0
    # balanced accuracy: recall per class present (needles 0, xtal3d 1, clear 1, precip 1)
    assert m["balanced_accuracy"] == pytest.approx(3 / 4)


def test_expected_calibration_error_is_the_gap_between_confidence_and_accuracy():
    from xtalviewer.model.metrics import expected_calibration_error

    # always 90% sure, right half the time: ECE 0.4
    probs = np.tile([0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3], (10, 1))
    truth = [0] * 5 + [1] * 5
    assert expected_calibration_error(truth, probs) == pytest.approx(0.4)
    # confidence matching accuracy: ECE 0
    probs = np.tile([0.5, 0.5, 0.0, 0.0], (10, 1))
    assert expected_calibration_error([0] * 10, probs) == pytest.approx(0.5)
    assert expected_calibration_error([], np.zeros((0, 4))) is None


def test_best_result_prefers_recall_then_review_load_then_balanced_accuracy():
    from xtalviewer.model.metrics import best_result

    def r(name, recall, load, bal):
        return {"arch": name, "metrics": {"accuracy": 0.5, "crystal_recall": recall, "review_load": load,
                                          "balanced_accuracy": bal}}

    assert best_result([r("a", 0.95, 0.1, 0.9), r("b", 0.99, 0.4, 0.5)])["arch"] == "b"
    assert best_result([r("a", 0.99, 0.3, 0.9), r("b", 0.99, 0.2, 0.5)])["arch"] == "b"
    assert best_result([r("a", 0.99, 0.2, 0.6), r("b", 0.99, 0.2, 0.7)])["arch"] == "b"
    assert best_result([]) is None


def test_best_result_counts_recall_up_to_the_target_so_a_model_flagging_everything_does_not_win():
    from xtalviewer.model.metrics import best_result

    def r(name, recall, load, target=0.99):
        return {"arch": name, "metrics": {"accuracy": 0.5, "crystal_recall": recall, "review_load": load,
                                          "balanced_accuracy": 0.5, "target_recall": target}}

    resnet, alexnet = r("resnet", 0.992, 0.33), r("alexnet", 1.0, 0.87)
    assert best_result([alexnet, resnet])["arch"] == "resnet"  # both reach 99%: the lower load wins
    assert best_result([r("resnet", 0.968, 0.40), alexnet])["arch"] == "alexnet"  # below target: recall first
    assert best_result([r("a", 0.992, 0.33, target=0.995), r("b", 1.0, 0.87, target=0.995)])["arch"] == "b"


def test_roc_auc_is_the_chance_a_crystal_outranks_a_drop_without():
    from xtalviewer.model.metrics import roc_auc

    assert roc_auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5  # ties count half
    assert roc_auc([0.9, 0.3, 0.5, 0.1], [True, True, False, False]) == 0.75
    rng = np.random.default_rng(0)
    s, y = rng.random(200), rng.random(200) < 0.3
    pairs = (s[y][:, None] > s[~y][None, :]).mean()
    assert roc_auc(s, y) == pytest.approx(pairs)
    assert np.isnan(roc_auc([0.1, 0.2], [True, True]))
