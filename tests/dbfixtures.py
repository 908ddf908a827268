"""Databases in awkward situations for tests: write-locked by another process, on a read-only
medium, on a (pretended) network file system."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def held_write_lock(db: Path) -> Iterator[subprocess.Popen]:
    """Another process holds the database's write lock (BEGIN IMMEDIATE) until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def run_on_read_only_medium(folder: Path, argv: Sequence[str], env: dict | None = None,
                            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m xtalviewer ARGV`` while ``folder`` is read-only for it.

    As root (permission bits do not stop root) the folder is bind-mounted read-only onto itself in
    a private mount namespace, a real read-only medium for the command and nobody else; without
    root, write permission is taken away for the run.
    """
    command = [sys.executable, "-m", "xtalviewer", *map(str, argv)]
    env = {**os.environ, **(env or {})}
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-m", "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root without mount namespaces (unshare -m): permission bits cannot make a "
                    "folder read-only for root, and no read-only medium can be simulated")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run([unshare, "-m", "sh", "-c", script, "sh", str(folder), *command],
                          capture_output=True, text=True, env=env, timeout=timeout)


def fake_network_mount(monkeypatch, tmp_path: Path, share: Path, fstype: str = "nfs4",
                       source: str = "fileserver:/export/lab") -> None:
    """Make the mount table say ``share`` is a network file system."""
    from xtalviewer.store import filesystems

    table = tmp_path / "mountinfo"
    table.write_text("1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
                     f"40 1 0:52 / {share} rw,relatime - {fstype} {source} rw,vers=4.2\n")
    monkeypatch.setattr(filesystems, "MOUNTINFO", table)
