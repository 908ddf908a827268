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


def next_news(watch: LabelWatch, timeout: float = 5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        news = watch.read()
        if news:
            return news
        time.sleep(0.02)
    return watch.read()


def test_the_news_carries_each_drops_label_now_and_place_and_a_model_made_active_elsewhere(store_location):
    with Store(store_location) as s:
        with s.transaction():
            pid = s.upsert_plate("LW2", PlateType(8, 12, 1))
            iid, _ = s.upsert_inspection(pid, "k", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                         folder=None)
        s.upsert_images([ImageRow(iid, pid, "B04", 2, 4, 2, "/lw2/b4.jpg", 1, 1.0, 8, 8)])
        image = s.image_id_by_path("/lw2/b4.jpg")
        first = s.add_model(name="first", arch="resnet18", classes=s.scheme.keys, input_size=64, path="/m1.pt",
                            activate=True)
        second = s.add_model(name="second", arch="resnet18", classes=s.scheme.keys, input_size=64, path="/m2.pt")
    with LabelWatch(Store(store_location, readonly=True)) as watch, Store(store_location) as other:
        assert not watch.read()
        other.add_annotation(image, "clear", "ann")
        other.add_annotation(image, "needles", "bob")  # two reviewers: the news says where the store ended
        news = next_news(watch)
        if len(news.events) == 1:
            later = next_news(watch)
            news.events += later.events
            news.labels_now.update(later.labels_now)
        assert [(e.label, e.annotator) for e in news.events] == [("clear", "ann"), ("needles", "bob")]
        assert news.labels_now == {image: "needles"}
        place = news.places[image]
        assert (place.inspection_id, place.barcode, place.well, place.drop_no) == (iid, "LW2", "B04", 2)
        assert news.model_activated is None
        other.activate_model(second)
        news = next_news(watch)
        assert news.model_activated == second and news.events == []
        assert not watch.read()  # said once
        other.activate_model(first)
        assert next_news(watch).model_activated == first
