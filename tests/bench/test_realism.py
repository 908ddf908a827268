"""bench/realism.py: one JSON object with --json, a sheet, and a clear word when references are missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "realism.py"


def _bench():
    spec = importlib.util.spec_from_file_location("realism_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compares_with_references_and_writes_a_sheet(tmp_path, capsys):
    refs = tmp_path / "refs" / "imager"
    refs.mkdir(parents=True)
    dark_ring = np.full((120, 160, 3), 200, np.uint8)
    cv2.circle(dark_ring, (80, 60), 70, (20, 20, 20), 25)
    cv2.imwrite(str(refs / "a.jpg"), dark_ring)
    cv2.imwrite(str(refs.parent / "b.JPEG"), np.full((90, 120, 3), 128, np.uint8))
    sheet = tmp_path / "sheet.png"
    assert _bench().main(["-n", "3", "--size", "160x134", "--reference", str(tmp_path / "refs"),
                          "-o", str(sheet), "--json"]) == 0
    out = capsys.readouterr().out.strip()
    result = json.loads(out)  # exactly one JSON object
    assert result["reference_found"] and result["reference"]["images"] == 2
    assert set(result["reference_groups"]) == {"imager", "b.JPEG"}
    assert result["synthetic"]["images"] == 3 and 0.0 <= result["synthetic"]["saturation"] <= 1.0
    assert abs(sum(result["synthetic"]["luma_hist8"]) - 1.0) < 1e-3
    assert result["reference_groups"]["imager"]["dark_share"] > 0.2  # the drawn dark ring counts
    assert cv2.imread(str(sheet)) is not None


def test_works_without_the_reference_folder(tmp_path, capsys):
    assert _bench().main(["-n", "2", "--size", "128x107", "--reference", str(tmp_path / "missing")]) == 0
    out = capsys.readouterr().out
    assert "synthetic only" in out and "reference" in out
