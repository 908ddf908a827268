"""Two review windows on one store (two workstations, or two windows on one machine): a label given
in one shows in the other within 2 s with who gave it, both people's labels of one drop are kept,
and a model activated in one becomes the other's."""

import dataclasses
import time

import pytest
from xtalviewer.store.copy import copy_store
from xtalviewer.store.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request, plate_db):
    """The test plate's store on either engine."""
    if request.param == "sqlite":
        return plate_db
    url = request.getfixturevalue("pg_url")
    with Store(plate_db, readonly=True) as source, Store(url, source.scheme) as target:
        copy_store(source, target)
    return url


def two_windows(open_window, store, settings):
    ann = open_window(store, dataclasses.replace(settings, annotator="ann"))
    bob = open_window(store, dataclasses.replace(settings, annotator="bob"))
    return ann, bob


def test_a_label_given_in_one_window_appears_in_the_other_within_two_seconds_with_its_giver(
        qtbot, open_window, shared_store, settings):
    ann, bob = two_windows(open_window, shared_store, settings)
    first = ann.current_image_id()
    assert bob.current_image_id() == first  # both look at the plate's first drop
    row = bob.session.row_of(first)
    assert bob.session.rows[row].label is None
    started = time.monotonic()
    assert ann.apply_label("needles")  # (a hotkey would go to the active window, bob's)
    qtbot.waitUntil(lambda: bob.session.rows[row].label == "needles", timeout=2000)
    assert time.monotonic() - started < 2.0
    qtbot.waitUntil(lambda: "ann labelled" in bob.statusBar().currentMessage(), timeout=1000)
    assert "Needles" in bob.statusBar().currentMessage()
    # bob's side panel shows the drop on screen with ann's annotation in its history
    history = bob.panel.history_model
    cells = [str(history.index(r, c).data()) for r in range(history.rowCount()) for c in range(history.columnCount())]
    assert "ann" in cells
    # the grid cell paints ann's label (the model's data for the cell carries it)
    assert bob.grid_model.queue_row(row).label == "needles"
    # ann's own window says nothing about her own label
    assert "ann labelled" not in ann.statusBar().currentMessage()


def test_two_people_labelling_one_drop_at_once_both_keep_their_annotation_and_it_is_disputed(
        qtbot, open_window, shared_store, settings):
    ann, bob = two_windows(open_window, shared_store, settings)
    first = ann.current_image_id()
    assert ann.apply_label("needles")
    assert bob.apply_label("clear")  # before ann's label reached bob's screen
    with Store(shared_store) as store:
        kept = [(a.annotator, a.label) for a in store.history(first)]
        assert ("ann", "needles") in kept and ("bob", "clear") in kept
        final = store.current_label(first)
    # both windows end on the store's label, whichever commit came last
    row = ann.session.row_of(first)
    qtbot.waitUntil(lambda: ann.session.rows[row].label == final and bob.session.rows[row].label == final,
                    timeout=2000)
    bob.requeue("disputed")
    assert first in [r.id for r in bob.session.rows]


def test_a_model_activated_in_one_window_becomes_active_in_the_other(qtbot, open_window, shared_store, settings):
    with Store(shared_store) as store:
        base = store.active_model()
        other = store.add_model(name="lab-retrained", arch=base.arch, scheme=base.scheme, classes=base.classes,
                                input_size=base.input_size, path=base.path, sha256=base.sha256,
                                normalization=base.normalization)
    ann, bob = two_windows(open_window, shared_store, settings)
    assert bob.model.id == base.id
    ann.activate_model(other)
    qtbot.waitUntil(lambda: bob.model is not None and bob.model.id == other, timeout=3000)
    assert "made active on another workstation" in bob.statusBar().currentMessage()
    assert "lab-retrained" in bob.statusBar().currentMessage()
