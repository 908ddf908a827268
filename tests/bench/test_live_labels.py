"""bench/live_labels.py, short: two review windows on one store (both engines); a label given in one
shows in the other within the 2 s target, and the other's status bar names who gave it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "live_labels.py"


def test_a_label_reaches_the_other_window_within_two_seconds(store_location, tmp_path, qapp):
    spec = importlib.util.spec_from_file_location("live_labels_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.bench(store_location, tmp_path, rounds=3)
    assert result["engine"] == ("postgresql" if "://" in store_location else "sqlite")
    assert result["missed_within_10_s"] == 0 and result["target_met"]
    assert result["label_shown_in_other_window"]["max_s"] < 2.0
    assert result["status_bar_names_the_giver"]["max_s"] < 2.0
