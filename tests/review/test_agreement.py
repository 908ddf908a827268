"""Cohen's kappa between reviewers and between the model and each reviewer (review/agreement.py)."""

import math

import numpy as np
import pytest

from xtalviewer.review.agreement import MODEL, cohens_kappa, kappa_of, store_agreement
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.store import ImageRow, PredictionRow, Store


def test_kappa_of_the_textbook_table():
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohens_kappa(a, b) == pytest.approx(0.4)
    assert kappa_of(np.array([[20, 5], [10, 15]])) == pytest.approx(0.4)


def test_kappa_is_one_for_perfect_agreement_and_undefined_without_variety():
    assert cohens_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert cohens_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement is already 1
    assert cohens_kappa([], []) is None
    assert cohens_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)


def test_agreement_uses_each_reviewers_latest_label_on_drops_both_labelled(db_path):
    with Store(db_path) as s:
        with s.transaction():
            pid = s.upsert_plate("K1", PlateType(8, 12, 1))
            iid, _ = s.upsert_inspection(pid, "i", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                         folder=None)
        s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, f"/k/{c}.jpg", 1, 1.0, 8, 8)
                         for c in range(1, 13)])
        ids = [r.id for r in s.review_queue(None, inspection_id=iid)]
        model = s.add_model(name="m", arch="resnet18", classes=s.scheme.keys, input_size=32, path="/m.pt")
        keys = s.scheme.keys
        one_hot = {k: np.eye(len(keys))[keys.index(k)] * 0.9 + 0.01 for k in ("clear", "needles")}
        s.put_predictions(model, [PredictionRow(i, one_hot["clear" if n < 6 else "needles"]) for n, i in enumerate(ids)])
        # ada and bob label ten drops; bob's first label of drop 0 is replaced by his later one
        ada = ["clear"] * 5 + ["needles"] * 5
        bob = ["clear", "clear", "clear", "clear", "needles", "needles", "needles", "needles", "clear", "clear"]
        s.add_annotation(ids[0], "skin", "bob")  # bob's later label of the same drop counts
        for n in range(10):
            s.add_annotation(ids[n], ada[n], "ada")
            s.add_annotation(ids[n], bob[n], "bob")
        s.add_annotation(ids[10], "clear", "ada")
        s.add_annotation(ids[10], None, "ada")  # undone: ada has no label there
        s.add_annotation(ids[11], "needles", "cy", source="accepted-prediction")  # not counted against the model
        result = store_agreement(s, model)
    assert result["raters"] == ["ada", "bob", "cy", MODEL]
    k, n = result["kappa"], result["n"]
    expected = cohens_kappa(ada, bob, keys)  # 7 of 10 agree; chance 0.5 x 0.6 + 0.5 x 0.4 = 0.5 -> 0.4
    assert expected == pytest.approx(0.4)
    assert k[0, 1] == k[1, 0] == pytest.approx(expected) and n[0, 1] == 10
    assert n[0, 0] == 10 and n[1, 1] == 10  # ada's undone drop is not hers any more
    assert n[0, 2] == 0 and math.isnan(k[0, 2])  # ada and cy share no drop
    # the model said clear on drops 0-5, needles after: against ada 9 of 10 agree
    model_vs_ada = cohens_kappa(ada, ["clear"] * 6 + ["needles"] * 4, keys)
    assert k[0, 3] == pytest.approx(model_vs_ada) and n[0, 3] == 10
    assert n[2, 3] == 0  # cy only accepted the model's answer
    assert result["pairs"][("ada", "bob")][keys.index("needles"), keys.index("clear")] == 2
    assert result["agree"][0, 1] == pytest.approx(0.7)
