"""Live labels: a workstation watching the store sees what another one labels and flags, on both
engines, and nothing when nothing changed."""

import time

from xtalviewer.plates import PlateType, well_name
from xtalviewer.store.label_watch import LabelWatch
from xtalviewer.store.store import ImageRow, Store


def next_events(watch: LabelWatch, timeout: float = 5.0) -> list:
    """Poll as a window's timer would, until something arrives (a server delivers NOTIFY a moment
    after the commit)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = watch.poll()
        if events:
            return events
        time.sleep(0.02)
    return []


def test_a_watcher_sees_the_labels_and_second_looks_of_another_workstation(store_location):
    with Store(store_location) as s:
        with s.transaction():
            pid = s.upsert_plate("LW1", PlateType(8, 12, 1))
            iid, _ = s.upsert_inspection(pid, "k", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                         folder=None)
        s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, f"/lw/{c}.jpg", 1, 1.0, 8, 8) for c in (1, 2, 3)])
        a, b, c = (s.image_id_by_path(f"/lw/{n}.jpg") for n in (1, 2, 3))
        s.add_annotation(a, "clear", "ann")  # before the watch: not news
    with LabelWatch(Store(store_location, readonly=True)) as watch, Store(store_location) as other:
        assert watch.poll() == []
        other.add_annotation(b, "needles", "bob")
        other.add_flags([c], True, "bob", note="look again")
        events = next_events(watch)
        if len(events) == 1:  # the flag's commit may arrive at the next poll
            events += next_events(watch)
        assert [(e.image_id, e.label, e.annotator, e.flagged) for e in events] == [
            (b, "needles", "bob", None), (c, None, "bob", True)]
        assert watch.poll() == []  # each only once
        other.add_annotation(b, None, "bob")  # an undo is news too
        assert [(e.image_id, e.label) for e in next_events(watch)] == [(b, None)]
