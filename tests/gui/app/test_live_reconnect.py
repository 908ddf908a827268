"""The window's ear on a PostgreSQL store survives the server ending its session: the loss is
reported, the watch reconnects (LISTEN again), and a colleague's next label still arrives."""

import threading
import time

import psycopg

from xtalviewer.gui.app.live import Unheard, listen
from xtalviewer.gui.tasks import TaskState
from xtalviewer.plates import PlateType
from xtalviewer.store.label_watch import LiveNews
from xtalviewer.store.location import location_of
from xtalviewer.store.store import ImageRow, Store


def test_a_killed_watch_session_is_said_and_the_next_label_still_arrives(pg_url, monkeypatch):
    monkeypatch.setattr("xtalviewer.gui.app.live.RETRY_FIRST_S", 0.2)
    with Store(pg_url) as s:
        with s.transaction():
            pid = s.upsert_plate("RC1", PlateType(8, 12, 1))
            iid, _ = s.upsert_inspection(pid, "k", imaged_at="2026-01-01", imager=None, profile=None, layout="t",
                                         folder=None)
        s.upsert_images([ImageRow(iid, pid, "A01", 1, 1, 1, "/rc/a1.jpg", 1, 1.0, 8, 8)])
        image = s.image_id_by_path("/rc/a1.jpg")
    reports, lock = [], threading.Lock()

    def emit(kind, payload):
        with lock:
            reports.append(payload)

    state = TaskState(emit)
    thread = threading.Thread(target=listen, args=(state, location_of(pg_url), 0.05), daemon=True)
    thread.start()

    def wait_for(pred, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with lock:
                if pred(list(reports)):
                    return True
            time.sleep(0.02)
        return False

    try:
        assert wait_for(lambda r: r and r[0] is None)  # listening
        with Store(pg_url) as colleague:
            colleague.add_annotation(image, "clear", "bob")
            assert wait_for(lambda r: any(isinstance(x, LiveNews) and x.labels_now.get(image) == "clear" for x in r))
            with psycopg.connect(pg_url, autocommit=True) as admin:  # the server ends every other session
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            assert wait_for(lambda r: any(isinstance(x, Unheard) for x in r))
            assert wait_for(lambda r: r[-1] is None)  # heard again
            colleague.add_annotation(image, "needles", "bob")  # the colleague's own connection reconnects too
            assert wait_for(lambda r: any(isinstance(x, LiveNews) and x.labels_now.get(image) == "needles"
                                          for x in r))
    finally:
        state.cancel()
        thread.join(5)
    assert not thread.is_alive()
