"""A label the store could not save stays on screen as not saved and is retried as the very same
write: Retry (or its key again) saves it once, on a file and on a server whose connection broke,
even when the first try did reach the server before the link died."""

from __future__ import annotations

import psycopg
import pytest
from pgproxy import Relay
from sessionfixtures import open_session, scored_plate_store

from xtalviewer.review.labelling import LabelNotSaved
from xtalviewer.store import reconnect
from xtalviewer.store.store import Store


def test_a_refused_label_is_kept_and_retried_once(db_path):
    with scored_plate_store(db_path) as store:
        session = open_session(store)
        first = session.current_image_id
        store.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(LabelNotSaved) as failed:
            session.label("needles")
        assert "press Retry" in str(failed.value)
        with pytest.raises(LabelNotSaved):
            session.retry_labels()  # still refused: still kept
        assert session.unsaved is not None and session.rows[0].label is None and session.current == 0
        store.conn.execute("PRAGMA query_only = OFF")
        change = session.retry_labels()
        assert change.text == "Needles on 1 drop" and session.unsaved is None and session.pending_label is None
        assert session.current == 1 and session.rows[0].label == "needles"  # moved on as the key press would
        assert [a.label for a in store.history(first)] == ["needles"]
        assert session.undo_text == "Needles on 1 drop"
        assert session.retry_labels() is None  # nothing waits


def test_the_same_key_on_the_same_drop_is_the_same_write(db_path):
    with scored_plate_store(db_path) as store:
        session = open_session(store)
        store.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(LabelNotSaved):
            session.label("needles")
        kept = session.unsaved.items
        store.conn.execute("PRAGMA query_only = OFF")
        session.clock_.now += 3  # a later press would measure another lead time
        session.label("needles")
        assert store.history(session.rows[0].id)[0].lead_ms == kept[0].lead_ms  # the very rows that were kept


def test_an_undo_that_was_not_saved_is_retried(db_path):
    with scored_plate_store(db_path) as store:
        session = open_session(store)
        first = session.current_image_id
        session.label("needles")
        store.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(LabelNotSaved):
            session.undo()
        store.conn.execute("PRAGMA query_only = OFF")
        session.retry_labels()
        assert store.current_label(first) is None and session.redo_text == "Needles on 1 drop"


@pytest.fixture
def server_store(pg_url):
    store = scored_plate_store(pg_url)
    yield store
    store.close()


def _on_relay(store: Store, relay: Relay) -> Store:
    """The same store reached through the relay (the review window's connection)."""
    through = Store(relay.url)
    through.ids, through.early, through.late = store.ids, store.early, store.late
    return through


def _labels(url: str, image_id: int) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT label FROM annotation WHERE image_id = %s", (image_id,))]


def test_a_label_while_the_server_is_out_of_reach_is_kept_and_saved_once_on_retry(pg_url, server_store,
                                                                                  monkeypatch):
    monkeypatch.setattr(reconnect, "RECONNECT_WITHIN_S", 0.5)
    relay = Relay(pg_url)
    try:
        with _on_relay(server_store, relay) as store:
            session = open_session(store)
            first = session.current_image_id
            relay.refuse = True
            relay.cut_all()
            with pytest.raises(LabelNotSaved) as failed:
                session.label("needles")
            assert failed.value.advice == "Check the network and the database server"
            assert "\n" not in failed.value.reason and session.rows[0].label is None and session.current == 0
            relay.refuse = False
            session.retry_labels()
            assert _labels(pg_url, first) == ["needles"] and session.current == 1
    finally:
        relay.close()


def test_a_label_that_landed_before_the_link_died_is_not_written_again(pg_url, server_store, monkeypatch):
    monkeypatch.setattr(reconnect, "RECONNECT_WITHIN_S", 0.5)
    relay = Relay(pg_url)
    try:
        with _on_relay(server_store, relay) as store:
            session = open_session(store)
            first = session.current_image_id
            relay.cut_at_commit("after", then_refuse=True)  # committed; its answer lost; the server out of reach
            with pytest.raises(LabelNotSaved) as failed:
                session.label("needles")
            assert "not known" in failed.value.reason
            assert _labels(pg_url, first) == ["needles"]  # it is on the server, the window does not know yet
            relay.refuse = False
            landed = list(session.retry_labels().annotation_ids)  # the id the server gave, read back
            assert _labels(pg_url, first) == ["needles"]  # settled: not written twice
            assert session.rows[0].label == "needles" and session.current == 1
            session.undo()  # the undo reverts the annotation the server holds
            with psycopg.connect(pg_url) as conn:
                reverts = conn.execute("SELECT reverts FROM annotation WHERE image_id = %s ORDER BY id",
                                       (first,)).fetchall()
            assert len(landed) == 1 and reverts == [(None,), (landed[0],)]
    finally:
        relay.close()
