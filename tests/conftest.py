"""Shared fixtures: an isolated user folder per test, tiny image files made on the fly, and the
store's location on either engine (``store_location``: an SQLite file, or a fresh database on the
throwaway PostgreSQL server of ``pgcluster``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["pgcluster"]

ENGINES = ["sqlite", "postgresql"]


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


@pytest.fixture(params=ENGINES)
def store_location(request, tmp_path) -> str:
    """Where a test's store lives, once per engine: an SQLite file path, or the URL of a fresh
    database on the session's real PostgreSQL server. The same test runs against both."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "test.db")


@pytest.fixture
def another_store_location(request, store_location, tmp_path) -> str:
    """A second, empty store on the same engine as ``store_location`` (copies, round trips)."""
    if "://" in store_location:
        return request.getfixturevalue("pg_cluster").create_database(f"xv_other_{os.getpid()}_{id(request)}")
    return str(tmp_path / "other.db")
