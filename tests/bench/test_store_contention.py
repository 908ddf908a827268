"""bench/store.py --contention, short: labelling processes on one plate beside predict and an
import, on both engines (on the server with sessions ended under the writers too): nothing
acknowledged is lost, nothing is written twice, no child prints a traceback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from xtalviewer.store.location import location_of

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench():
    sys.path.insert(0, str(BENCH))  # store.py imports its sibling, as when run as a script
    try:
        spec = importlib.util.spec_from_file_location("store_contention", BENCH / "store_contention.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_writers_predict_and_an_import_at_once_lose_and_double_nothing(store_location, tmp_path):
    location = location_of(store_location)
    result = _bench().run(location, writers=3, seconds=3, imports=1,
                          drop_every=0.6 if location.is_server else None, workdir=tmp_path)
    assert result["labels_acknowledged"] > 20 and result["flags_acknowledged"] > 0, result
    assert result["prediction_batches"] > 0 and result["inspections_imported"] == 1, result
    assert (result["lost"], result["duplicates"], result["tracebacks"], result["failed_processes"]) == (0, 0, 0, 0), \
        result
    assert result["predictions_missing"] == 0 and result["import_images_missing"] == 0, result
    assert result["current_label_mismatches"] == 0 and result["targets_met"], result
    if location.is_server:
        assert result["connections_dropped"] > 0 and result["refused"] == 0, result


def test_the_bench_prints_one_json_object(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("store_bench", BENCH / "store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--contention", "--writers", "2", "--seconds", "1", "--db", str(tmp_path / "c.db"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["engine"] == "sqlite" and out["writers"] == 2 and out["lost"] == 0
