"""The straight-edge scores run on two threads per batch and leave none behind: a window's exit waits
for every daemon thread, and threads started from a scoring thread (a daemon) are daemons too."""

from __future__ import annotations

import threading

import numpy as np

from xtalviewer.model.shape_score import straight_edge_scores


def test_no_idle_shape_threads_are_left_after_scoring_from_a_daemon_thread():
    squares = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3)).astype(np.uint8)
    scores = []
    worker = threading.Thread(target=lambda: scores.append(straight_edge_scores(squares)), daemon=True)
    worker.start()
    worker.join(30)
    assert len(scores[0]) == 8
    assert not [t.name for t in threading.enumerate() if t.name.startswith("shape-score") and t.is_alive()]
