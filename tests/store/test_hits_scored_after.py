"""``hit_list(scored_after=...)``: the hits whose prediction was stored after a moment (the reviewer's
last look at the hit list), on both engines; with ``new_only`` the drops that newly became hits since."""

from __future__ import annotations

import time

import numpy as np

from xtalviewer.crystal_call import OperatingPoint
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.db import now_iso
from xtalviewer.store.store import ImageRow, PredictionRow, Store


def crystal(p: float, keys: list[str]) -> np.ndarray:
    v = np.zeros(len(keys))
    v[keys.index("needles")], v[keys.index("clear")] = p, 1 - p
    return v


def add_inspection(s: Store, n: int, day: str) -> list[int]:
    with s.transaction():
        pid = s.upsert_plate("SA1", PlateType(8, 12, 1))
        iid, _ = s.upsert_inspection(pid, f"SA1-{n}", imaged_at=f"{day}T09:00:00", imager="RI", profile=None,
                                     layout="t", folder=None)
    paths = [f"/SA1/{n}/{c}.jpg" for c in range(1, 4)]
    s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, paths[c - 1], 1, 1.0, 8, 8) for c in range(1, 4)])
    return [s.image_id_by_path(p) for p in paths]


def test_only_hits_scored_after_the_last_look_and_new_there(store_location):
    with Store(store_location) as s:
        keys = s.scheme.keys
        model = s.add_model(name="m", arch="resnet18", classes=keys, input_size=32, path="/m.pt", activate=True,
                            operating_point=OperatingPoint(threshold=0.5, target_recall=0.99))
        first = add_inspection(s, 1, "2026-03-01")
        s.put_predictions(model, [PredictionRow(i, crystal(p, keys)) for i, p in zip(first, (0.9, 0.1, 0.1))])
        look = now_iso()  # the reviewer opens the hit list: A01 is a hit already
        time.sleep(0.01)  # the store's clock counts milliseconds: what follows is stored later
        second = add_inspection(s, 2, "2026-03-08")  # the watcher brings the next inspection
        s.put_predictions(model, [PredictionRow(i, crystal(p, keys)) for i, p in zip(second, (0.95, 0.8, 0.2))])

        since_look = s.hit_list(model, new_only=True, scored_after=look)
        assert [(h.well, h.inspection) for h in since_look] == [("A02", "SA1-2")]  # A01 was a hit before
        assert {h.well for h in s.hit_list(model, scored_after=look)} == {"A01", "A02"}  # stored later, any hit
        time.sleep(0.01)
        assert s.hit_list(model, new_only=True, scored_after=now_iso()) == []
        assert len(s.hit_list(model)) == 2  # the plain list is unchanged
