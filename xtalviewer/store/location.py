"""Where a store lives: an SQLite file (a path) or a PostgreSQL database (a ``postgresql://`` URL).

``--db``, XTALVIEWER_DB and every window, worker and subprocess pass a location, never a bare
``Path``: a URL through ``Path`` loses its ``//`` and reads as a file. A location shown to a person
(``str(location)``: messages, logs, titles, reports, tracebacks) never holds a password; the password,
when the URL carried one, stays inside the object for connecting and reaches a child process only
through its environment (``child_env``), never its command line, which every user can list.

Passwords belong in libpq's own places: ``~/.pgpass`` (or PGPASSFILE), a service file
(``postgresql:///?service=lab`` with ``~/.pg_service.conf``) or PGPASSWORD. TLS options
(``sslmode``, ``sslrootcert`` ...) and any other libpq parameter pass through in the URL's query.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
DB_ENV = "XTALVIEWER_DB"


def is_server_url(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL database rather than an SQLite file."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


@dataclass(frozen=True)
class Location:
    """One store's location. ``path`` is the SQLite file (None on a server); ``url`` the server URL
    as given (with its password, if any: only for connecting, never shown)."""

    path: Path | None = None
    url: str | None = field(default=None, repr=False)

    @property
    def is_server(self) -> bool:
        return self.url is not None

    @property
    def missing(self) -> bool:
        """An SQLite file that does not exist (a server's database is found by connecting to it)."""
        return self.path is not None and not self.path.exists()

    @property
    def engine(self) -> str:
        return "postgresql" if self.is_server else "sqlite"

    @property
    def password(self) -> str | None:
        """The password the URL carried (None without one): for libpq, never for display."""
        if self.url is None:
            return None
        parts = urlsplit(self.url)
        if parts.password is not None:
            return unquote(parts.password)
        found = parse_qs(parts.query).get("password")
        return found[-1] if found else None

    def shown(self) -> str:
        """The location as a person may see it: the file path, or the URL without its password."""
        if self.url is None:
            return str(self.path)
        return without_password(self.url)

    def __str__(self) -> str:
        return self.shown()

    @property
    def name(self) -> str:
        """A short name for a window title: the file's name, or ``dbname on host``."""
        if self.url is None:
            return self.path.name
        parts = urlsplit(self.url)
        dbname = unquote(parts.path.lstrip("/")) or "(default database)"
        host = parts.hostname or "local socket"
        return f"{dbname} on {host}"

    def absolute(self) -> Location:
        """The same store named so that a process started in another folder finds it."""
        return self if self.path is None else Location(path=self.path.absolute())

    def argument(self) -> str:
        """What a child process is given as ``--db``: the path, or the URL without its password
        (``child_env`` carries the password)."""
        return self.shown()

    def child_env(self) -> dict[str, str]:
        """Environment entries a child process needs to reach this store as we do: PGPASSWORD when
        the URL carried a password (an environment is readable by its owner only)."""
        return {"PGPASSWORD": self.password} if self.password is not None else {}


def without_password(url: str) -> str:
    """``url`` with any password replaced by nothing: ``postgresql://ann@host/lab``. Also drops a
    ``password=`` query parameter, which libpq accepts too."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def one_line(exc: BaseException, password: str | None = None) -> str:
    """An error's message on one line (libpq spreads a connection failure over several), with the
    password, if given, never in it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = "; ".join(lines) or type(exc).__name__
    if password:
        text = text.replace(password, "***")
    return text


def location_of(value: str | os.PathLike | Location) -> Location:
    """A location from what a person typed (``--db``, XTALVIEWER_DB) or what code passes along."""
    if isinstance(value, Location):
        return value
    text = os.fspath(value) if not isinstance(value, str) else value
    if is_server_url(text):
        return Location(url=text)
    return Location(path=Path(text))


def adopt_password(location: Location) -> Location:
    """A command's own store: a password typed into its URL moves into this process's PGPASSWORD,
    where libpq finds it, here and in every process this one starts (training, predict workers), and
    the location that travels on (arguments, args.json, window titles) has none."""
    password = location.password
    if password is None:
        return location
    os.environ["PGPASSWORD"] = password
    return Location(url=without_password(location.url))


def server_url(host: str, dbname: str, *, user: str | None = None, port: int | None = None) -> str:
    """A ``postgresql://`` URL from its parts, quoted (for docs and tests)."""
    auth = f"{quote(user, safe='')}@" if user else ""
    return f"postgresql://{auth}{host}{':' + str(port) if port else ''}/{quote(dbname, safe='')}"
