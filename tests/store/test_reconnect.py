"""A dropped server connection during review, on the real throwaway server: the store reconnects
and the label lands exactly once, whether the connection died while idle, just before the server
got the COMMIT, or just after it committed (the answer lost); a server that stays away is one line,
and the same write made again later is settled, not doubled."""

from __future__ import annotations

import time

import psycopg
import pytest

from pgproxy import Relay
from xtalviewer.plates import PlateType, well_name
from xtalviewer.store import reconnect
from xtalviewer.store.store import AnnotationRow, ImageRow, Store, StoreError


def _plate(location: str) -> list[int]:
    """A one-row plate of three drops; their image ids."""
    with Store(location) as s:
        with s.transaction():
            pid = s.upsert_plate("RC1", PlateType(8, 12, 1))
            iid, _ = s.upsert_inspection(pid, "k", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                         folder=None)
        s.upsert_images([ImageRow(iid, pid, well_name(1, c), 1, c, 1, f"/rc/{c}.jpg", 1, 1.0, 8, 8) for c in (1, 2, 3)])
        return [s.image_id_by_path(f"/rc/{c}.jpg") for c in (1, 2, 3)]


def _annotations(url: str, image_id: int) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, label FROM annotation WHERE image_id = %s ORDER BY id", (image_id,)).fetchall()


def _kill(url: str, store: Store) -> None:
    """End the store's server session from another connection, as an administrator or a restarted
    pooler would."""
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (store.server_pid,)).fetchone()[0]


@pytest.fixture
def relay(pg_url):
    r = Relay(pg_url)
    yield r
    r.close()


def test_a_label_after_the_server_ended_the_session_lands_exactly_once(pg_url):
    a, b, _ = _plate(pg_url)
    with Store(pg_url) as store:
        _kill(pg_url, store)
        first = store.add_annotation(a, "needles", "ann")
        assert _annotations(pg_url, a) == [(first, "needles")]
        _kill(pg_url, store)  # reads reconnect too
        assert [r.id for r in store.review_queue(None, "plate")][:1] == [a]
        _kill(pg_url, store)
        store.add_flags([b], True, "ann", note="again")
        assert list(store.flags(store.inspection_of_image(b))) == [b]
        assert store.current_label(a) == "needles"


def test_a_commit_the_server_never_got_is_written_once(pg_url, relay):
    a, _, _ = _plate(pg_url)
    with Store(relay.url) as store:
        relay.cut_at_commit("before")
        got = store.add_annotation(a, "clear", "ann")
        assert relay.cuts == 1
        assert _annotations(pg_url, a) == [(got, "clear")]


def test_a_commit_whose_answer_was_lost_is_not_written_again(pg_url, relay):
    a, b, _ = _plate(pg_url)
    with Store(relay.url) as store:
        relay.cut_at_commit("after")  # the server commits; the store never hears it
        ids = store.add_annotations([AnnotationRow(a, "needles", "ann"), AnnotationRow(b, "plates", "ann")])
        assert relay.cuts == 1
        assert _annotations(pg_url, a) == [(ids[0], "needles")] and _annotations(pg_url, b) == [(ids[1], "plates")]
        relay.cut_at_commit("after")
        flag_ids = store.add_flags([a], True, "ann")
        with psycopg.connect(pg_url) as conn:
            assert [r[0] for r in conn.execute("SELECT id FROM flag")] == flag_ids


def test_a_server_out_of_reach_is_one_line_and_the_same_write_later_is_settled(pg_url, relay, monkeypatch):
    monkeypatch.setattr(reconnect, "RECONNECT_WITHIN_S", 0.6)
    a, b, _ = _plate(pg_url)
    with Store(relay.url) as store:
        relay.refuse = True  # nothing gets through, and the open session is cut
        relay.cut_all()
        t0 = time.monotonic()
        with pytest.raises(StoreError) as failed:
            store.add_annotation(b, "clear", "ann")
        assert time.monotonic() - t0 < 5
        message = str(failed.value)
        assert "\n" not in message and "nothing was written" in message and "tried again" in message
        assert _annotations(pg_url, b) == []

        relay.refuse = False
        relay.cut_at_commit("after", then_refuse=True)  # committed; the server out of reach before the store hears it
        with pytest.raises(StoreError) as unknown:
            store.add_annotation(a, "needles", "ann")
        assert "not known" in str(unknown.value) and "\n" not in str(unknown.value)
        assert len(_annotations(pg_url, a)) == 1  # it did land

        relay.refuse = False
        again = store.add_annotation(a, "needles", "ann")  # the same write again (a window's Retry)
        assert _annotations(pg_url, a) == [(again, "needles")]  # settled by the server's word: not doubled
        assert not store.unsettled


def test_a_server_restarted_between_labels_takes_the_next_one(pg_cluster, pg_url):
    a, b, c = _plate(pg_url)
    with Store(pg_url) as store:
        store.add_annotation(a, "clear", "ann")
        pg_cluster.pause()
        try:
            with pytest.raises(StoreError) as failed:
                store.add_annotation(b, "needles", "ann")
            assert "\n" not in str(failed.value) and "nothing was written" in str(failed.value)
        finally:
            pg_cluster.resume()
        store.add_annotation(b, "needles", "ann")  # the retry after the server is back
        store.add_annotation(c, "plates", "ann")
        assert [len(_annotations(pg_url, i)) for i in (a, b, c)] == [1, 1, 1]


def test_a_write_inside_the_callers_transaction_is_not_retried_alone(pg_url):
    a, _, _ = _plate(pg_url)
    with Store(pg_url) as store:
        with pytest.raises(StoreError, match="connection to the server was lost"):
            with store.transaction():
                store.add_annotation(a, "clear", "ann")
                _kill(pg_url, store)
                store.add_annotation(a, "needles", "ann")
        assert _annotations(pg_url, a) == []  # the whole transaction went with its connection
        store.add_annotation(a, "needles", "ann")  # the next call reconnects
        assert [label for _, label in _annotations(pg_url, a)] == ["needles"]
