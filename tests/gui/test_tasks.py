"""The background-task helper: one task per runner, queued reports, stale ones dropped."""

import threading
import time

import numpy as np

from xtalviewer.gui.drop.loader import BackgroundLoader
from xtalviewer.gui.tasks import TaskRunner


def test_result_progress_and_partials_arrive_on_the_gui_thread(qtbot):
    runner = TaskRunner()
    seen, gui = [], threading.current_thread()

    def work(state, n):
        for i in range(n):
            state.partial(i)
            state.progress(i + 1, n)
        return "all", threading.current_thread() is not gui

    def note(kind):
        return lambda *a: seen.append((kind, threading.current_thread() is gui, *a))

    runner.start(work, 3, on_done=note("done"), on_partial=note("partial"), on_progress=note("progress"))
    assert runner.running()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == "done", timeout=5000)
    assert seen == [("partial", True, 0), ("progress", True, 1, 3), ("partial", True, 1), ("progress", True, 2, 3),
                    ("partial", True, 2), ("progress", True, 3, 3), ("done", True, ("all", True))]
    assert not runner.running()


def test_starting_again_cancels_the_previous_task_and_drops_its_reports(qtbot):
    runner = TaskRunner()
    release, seen, stopped = threading.Event(), [], []

    def slow(state):
        state.on_cancel(lambda: stopped.append("hook"))
        release.wait(5)
        state.partial("old partial")
        return "old"

    first = runner.start(slow, on_done=seen.append, on_partial=seen.append)
    runner.start(lambda state: "new", on_done=seen.append)
    assert first.cancelled and stopped == ["hook"]
    release.set()
    qtbot.waitUntil(lambda: "new" in seen, timeout=5000)
    time.sleep(0.1)
    qtbot.wait(50)
    assert seen == ["new"]


def test_a_failure_is_reported_in_words(qtbot):
    runner = TaskRunner()
    failed = []

    def broken(state):
        raise OSError("disk on fire")

    runner.start(broken, on_done=lambda r: failed.append("done?"), on_failed=failed.append)
    qtbot.waitUntil(lambda: bool(failed), timeout=5000)
    assert failed == ["OSError: disk on fire"] and not runner.running()


def test_nothing_arrives_after_close(qtbot):
    runner = TaskRunner()
    seen, release = [], threading.Event()
    runner.start(lambda state: release.wait(5) and "late", on_done=seen.append)
    runner.close()
    release.set()
    qtbot.wait(200)
    assert seen == [] and not runner.running()


def test_cancel_waits_for_the_thread_when_asked(qtbot):
    runner = TaskRunner()
    finished = []

    def polite(state):
        while not state.cancelled:
            time.sleep(0.01)
        finished.append(True)

    runner.start(polite)
    runner.cancel(wait=2.0)
    assert finished == [True]


def test_a_cleared_loader_does_not_deliver_what_it_decoded_before(qtbot):
    release = threading.Event()

    def load(key, payload):
        release.wait(5)
        return np.zeros((4, 4, 3), np.uint8)

    loader = BackgroundLoader(load, threads=1)
    ready = []
    loader.ready.connect(lambda key, image: ready.append(key))
    loader.request("old", None)
    qtbot.waitUntil(lambda: bool(loader._running), timeout=2000)
    loader.clear()
    release.set()
    loader.request("new", None)
    qtbot.waitUntil(lambda: ready == ["new"], timeout=5000)
    qtbot.wait(50)
    assert ready == ["new"] and loader.cached("old") is None and loader.cached("new") is not None
    loader.close()


def test_a_task_can_fail_with_words_of_its_own(qtbot):
    from xtalviewer.gui.tasks import TaskFailed

    runner = TaskRunner()
    failed = []

    def refused(state):
        raise TaskFailed("labels.csv is a FIFO, not a file; choose a file")

    runner.start(refused, on_failed=failed.append)
    qtbot.waitUntil(lambda: bool(failed), timeout=5000)
    assert failed == ["labels.csv is a FIFO, not a file; choose a file"]
