"""A real, throwaway PostgreSQL server for the tests that need one: Debian's PostgreSQL binaries,
a cluster in a temporary folder on a free localhost port, trust authentication, removed at the end.

PostgreSQL refuses to run as root: as root the cluster is made and run as the ``postgres`` user
(its folder handed to that user); as anyone else, as that user. Tests that need the server skip
with the reason when no PostgreSQL binaries are installed (``XTALVIEWER_REQUIRE_PG=1``, set by
``.ci/run``, turns that skip into a failure)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (``pg_config`` names it when present)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One running server: ``url(dbname)`` for a database on it, ``create_database`` for a fresh one."""

    def __init__(self, bin_dir: Path, *, durable: bool = False):
        self.bin_dir = bin_dir
        self.durable = durable  # fsync and synchronous commits as a lab's server has them (benchmarks)
        self.root = Path(tempfile.mkdtemp(prefix="xtalviewer-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o700)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd=self.root, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60"
        if not self.durable:  # a throwaway server for tests: nothing to keep across a power cut
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.options = opts
        self.resume()

    def pause(self) -> None:
        """Stop the server as an administrator would (every session ended); ``resume`` starts it again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self.options, "-l", str(self.root / "server.log"), "-w",
                  "start")
        deadline = time.monotonic() + 30
        while self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not become ready: " + (self.root / "server.log").read_text())
            time.sleep(0.1)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def sql(self, statement: str, dbname: str = "postgres") -> str:
        """Run one statement as the superuser (psql); its output."""
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", dbname,
                         "-v", "ON_ERROR_STOP=1", "-At", "-c", statement).stdout

    def password_role(self, name: str, password: str) -> str:
        """A login role that must give its password (scram-sha-256, not trust) and owns a database of
        its own name; the URL of that database, without the password."""
        self.sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        self.sql(f"CREATE DATABASE {name} OWNER {name}")
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {name} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._run("pg_ctl", "-D", str(self.data), "reload")
        time.sleep(0.2)  # the postmaster rereads pg_hba.conf on SIGHUP
        return f"postgresql://{name}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster():
    """One server for the whole session (a few seconds to start)."""
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("XTALVIEWER_REQUIRE_PG") == "1":
            pytest.fail("no PostgreSQL server binaries installed (initdb not found)")
        pytest.skip("no PostgreSQL server binaries installed (initdb not found)")
    cluster = Cluster(bin_dir)
    try:
        cluster.start()
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        cluster.stop()
        pytest.fail(f"could not start a throwaway PostgreSQL server: {exc}")
    yield cluster
    cluster.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh, empty database on the session's server for one test."""
    return pg_cluster.create_database(f"xv_test_{os.getpid()}_{next(_databases)}")
