"""Shared fixtures: an isolated user folder per test and tiny image files made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    """Keep every test away from the real user data folder and database."""
    home = tmp_path_factory.mktemp("xtalviewer-home")
    monkeypatch.setenv("XTALVIEWER_HOME", str(home))
    monkeypatch.delenv("XTALVIEWER_DB", raising=False)
    return home


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "test.db"
