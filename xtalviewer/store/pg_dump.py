"""The backup of a lab's server store before a migration: a ``pg_dump`` (custom format) into the user
data folder's backups/, as the SQLite path copies its file first. Without pg_dump on the PATH, a
warning says that no backup was made (back the database up on the server then)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from xtalviewer.paths import data_dir
from xtalviewer.store.db import StoreError
from xtalviewer.store.location import one_line

if TYPE_CHECKING:
    from xtalviewer.store.db import Database

log = logging.getLogger("xtalviewer.store")

PG_DUMP_TIMEOUT_S = 3600


def dump_before_migration(db: Database, version: int) -> Path | None:
    """A ``pg_dump`` (custom format) of the database into the user data folder's backups/ before
    it is migrated, or, without pg_dump, a warning that no backup was made."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        log.warning("xtalviewer: no pg_dump on PATH: %s is upgraded from schema %d without a backup "
                    "(install the PostgreSQL client tools, or back it up on the server first)", db.location, version)
        return None
    dbname = db.conn.info.dbname
    folder = data_dir() / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{dbname}-{db.conn.info.host.replace('/', '_')}.v{version}-{int(time.time())}.dump"
    part = target.with_name(target.name + ".part")
    env = {**os.environ, **db.location.child_env()}
    try:
        done = subprocess.run([pg_dump, "--format=custom", f"--file={part}", f"--dbname={db.location.argument()}"],
                              env=env, capture_output=True, text=True, timeout=PG_DUMP_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        part.unlink(missing_ok=True)
        raise StoreError(f"could not back up {db.location} before upgrading it: {exc}; nothing was changed") from None
    if done.returncode != 0:
        part.unlink(missing_ok=True)
        why = one_line(RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                                     f"exit {done.returncode}"), db.location.password)
        raise StoreError(f"could not back up {db.location} with pg_dump before upgrading it from schema {version}: "
                         f"{why}; nothing was changed")
    os.replace(part, target)
    log.warning("xtalviewer: %s backed up to %s before its upgrade from schema %d", db.location, target, version)
    return target
