"""A small store for review-session tests, without Qt: one plate, two inspections of six drops, a
model calibrated to a 30% hit threshold, the later inspection scored; and a session open on it with
a clock the test moves."""

from __future__ import annotations

import numpy as np

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.plates import PlateType, well_name
from xtalviewer.review.session import ReviewSession
from xtalviewer.store.store import ImageRow, PredictionRow, Store

KEYS = ["clear", "light_precipitate", "heavy_precipitate", "phase_separation", "skin", "other",
        "microcrystals", "needles", "plates", "crystals_3d"]


def probs(**named) -> np.ndarray:
    """A probability vector over ``KEYS``: the named classes as given, the rest sharing what is left."""
    v = np.full(10, 0.0)
    for k, p in named.items():
        v[KEYS.index(k)] = p
    v[v == 0] = (1 - v.sum()) / (v == 0).sum()
    return v


class Clock:
    """A monotonic clock the test moves by hand (``now``)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def scored_plate_store(db_path) -> Store:
    """Plate P1 (96 wells, one drop), inspections ``early`` and ``late`` of wells A01-A06; model ``m``
    with a 30% hit threshold scored five of the late drops. The store carries ``ids`` (the late drops
    in plate order), ``early``, ``late`` and ``model_id``."""
    s = Store(db_path)
    with s.transaction():
        pid = s.upsert_plate("P1", PlateType(8, 12, 1))
        early, _ = s.upsert_inspection(pid, "i1", imaged_at="2026-01-01", imager="RI", profile=None, layout="t",
                                       folder=None)
        late, _ = s.upsert_inspection(pid, "i2", imaged_at="2026-01-08", imager="RI", profile=None, layout="t",
                                      folder=None)
    s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, f"/img/{iid}/{c}.jpg", 1, 1.0, 8, 8)
                     for iid in (early, late) for c in range(1, 7)])
    op = OperatingPoint(threshold=0.3, temperature=1.5, target_recall=0.99, val_recall=0.99, val_review_load=0.2)
    model = s.add_model(name="m", arch="resnet18", classes=s.scheme.keys, input_size=32, path="/m.pt",
                        activate=True, operating_point=op)
    ids = [r.id for r in s.review_queue(model, inspection_id=late)]
    s.put_predictions(model, [
        PredictionRow(ids[0], probs(clear=0.9)),                      # crystal 2%: not a hit, none in top 3
        PredictionRow(ids[1], probs(needles=0.35, clear=0.6)),        # crystal ~38%: a hit below 50%
        PredictionRow(ids[2], probs(crystals_3d=0.95)),               # a hit
        PredictionRow(ids[3], probs(skin=0.46, heavy_precipitate=0.45)),
        PredictionRow(ids[4], probs(heavy_precipitate=0.8)),
    ])  # ids[5] unscored
    s.ids, s.early, s.late, s.model_id = ids, early, late, model
    return s


def open_session(store: Store, annotator: str = "ada") -> ReviewSession:
    """A session on ``scored_plate_store``'s later inspection, browsing both; ``session.clock_`` is its clock."""
    clock = Clock()
    session = ReviewSession(store, annotator, model=store.active_model(), clock=clock)
    session.clock_ = clock
    session.set_inspections([store.early, store.late])
    assert session.open_inspection(store.late)
    return session
