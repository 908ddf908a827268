"""Fixtures of the watcher's tests: a store with a tiny active model (random weights, 32 px)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelfiles import tiny_checkpoint
from xtalviewer.model.registry import register_checkpoint
from xtalviewer.store.store import Store


@pytest.fixture
def watch_db(tmp_path) -> Path:
    db = tmp_path / "watch.db"
    with Store(db) as store:
        ckpt = tiny_checkpoint(tmp_path / "tiny.pt", store.scheme, size=32)
        register_checkpoint(store, ckpt, name="tiny", activate=True)
    return db

