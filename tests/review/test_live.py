"""Colleagues' work taken into an open review session without Qt: their labels land in the queue's
rows with a one-line note of who did what, second looks are read again, blind review keeps the
reviewer's own labels, and a model activated elsewhere is followed."""

import pytest
from sessionfixtures import open_session

from xtalviewer.review import commands
from xtalviewer.review.live import take_news
from xtalviewer.settings import Settings
from xtalviewer.store.label_watch import LabelWatch
from xtalviewer.store.store import Store


@pytest.fixture
def watch(store):
    with LabelWatch(Store(store.path, readonly=True)) as w:
        yield w


@pytest.fixture
def colleague(store):
    with Store(store.path) as other:
        yield other


def test_a_colleagues_label_lands_in_the_row_with_a_note_naming_them(store, watch, colleague):
    session = open_session(store)
    colleague.add_annotation(store.ids[2], "crystals_3d", "bob")
    update = take_news(session, watch.read())
    assert session.rows[2].label == "crystals_3d"
    assert update.changed == [store.ids[2]] and not update.elsewhere
    assert update.note == "bob labelled P1 A03 drop 1: 3D crystals"
    # the reviewer's own label, heard back, changes nothing and says nothing
    session.set_current(0)
    session.label("clear")
    update = take_news(session, watch.read())
    assert update.note is None and session.rows[0].label == "clear"


def test_labels_on_another_inspection_only_move_the_counts_and_many_drops_are_counted(store, watch, colleague):
    session = open_session(store)
    early = [r.id for r in store.review_queue(None, inspection_id=store.early)]
    for image_id in early:
        colleague.add_annotation(image_id, "clear", "bob")
    update = take_news(session, watch.read())
    assert update.changed == [] and update.elsewhere
    assert update.note == "bob labelled 6 drops of P1"


def test_second_looks_are_read_again_and_blind_review_keeps_the_reviewers_own_label(store, watch, colleague):
    session = open_session(store)
    colleague.add_flags([store.ids[1]], True, "bob", note="look again")
    update = take_news(session, watch.read())
    assert store.ids[1] in session.flags and update.note == "bob flagged for a second look P1 A02 drop 1"
    session.set_blind(True)
    session.set_current(3)
    session.label("skin")
    watch.read()
    colleague.add_annotation(store.ids[3], "clear", "bob")
    update = take_news(session, watch.read())
    row = session.row_of(store.ids[3])
    assert session.own_label(session.rows[row]) == "skin"  # what this reviewer gave, not bob's
    assert update.note == "bob labelled P1 A04 drop 1"  # and the note does not tell the label


class View:
    """The window as the command sees it: what it was told to do."""

    def __init__(self):
        self.settings = Settings(annotator="ada", default_model=None)
        self.told = []

    def others_labelled(self, ids):
        self.told.append(("labelled", list(ids)))

    def plates_changed(self):
        self.told.append(("plates",))

    def show_queue(self):
        self.told.append(("queue",))

    def model_changed(self, rescore):
        self.told.append(("model", rescore))

    def save_settings(self):
        self.told.append(("saved",))

    def say(self, text, ms=5000):
        self.told.append(("say", text))


def test_a_model_activated_elsewhere_is_followed_and_said(store, watch, colleague):
    session = open_session(store)
    other = colleague.add_model(name="lab-retrained", arch="resnet18", classes=store.scheme.keys, input_size=32,
                                path="/m2.pt")
    colleague.activate_model(other)
    view = View()
    commands.others_changed(session, view, watch.read())
    assert session.model.id == other
    assert ("model", True) in view.told
    said = [t[1] for t in view.told if t[0] == "say"]
    assert said == [f"Model {other}: lab-retrained was made active on another workstation; this window follows it"]
    assert view.settings.default_model is None  # "the active model of each database" stays so
    # activating here again is this window's own doing: no news to follow
    view.told.clear()
    commands.others_changed(session, view, watch.read())
    assert view.told == []


def test_in_the_disputed_order_a_colleagues_conflicting_label_brings_the_drop_into_the_queue(store, watch, colleague):
    session = open_session(store)
    session.set_current(2)
    session.label("crystals_3d")
    session.set_order("disputed")
    assert store.ids[2] not in [r.id for r in session.rows]  # one reviewer: nothing disputed yet
    watch.read()
    colleague.add_annotation(store.ids[2], "clear", "bob")
    view = View()
    update = commands.others_changed(session, view, watch.read())
    assert update.requeue and ("queue",) in view.told
    assert store.ids[2] in [r.id for r in session.rows]
