"""The concept modules run on both engines: they speak through ``Database.execute`` (and
``executemany``, ``insert``), which PostgreSQL's engine rewrites, never through the SQLite driver's
own connection (``db.conn``), which only the engines and SQLite's own upkeep may touch."""

from pathlib import Path

import xtalviewer.store as store_package

ENGINE_SIDE = {"db.py", "sqlite_file.py", "postgres.py", "pg_dump.py", "schema.py", "store.py", "lock_holders.py", "filesystems.py"}


def test_concept_modules_use_the_engine_neutral_interface():
    folder = Path(store_package.__file__).parent
    offenders = []
    for module in sorted(folder.glob("*.py")):
        if module.name in ENGINE_SIDE:
            continue
        for number, line in enumerate(module.read_text().splitlines(), 1):
            if ".conn." in line or ".lastrowid" in line or "total_changes" in line or "import sqlite3" in line:
                offenders.append(f"{module.name}:{number}: {line.strip()}")
    assert not offenders, ("use db.execute / db.executemany / db.insert so PostgreSQL runs it too:\n"
                           + "\n".join(offenders))
