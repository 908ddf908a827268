"""Files the commands write (``report -o``, ``export -o``, ``export-onnx -o`` ...): one safe way.

A target that exists and is not a regular file (a device, a FIFO, a socket, a folder) is refused
and left as it is; so is a database: any SQLite file (its first bytes say so, whatever its name,
through a symbolic or a hard link too), the -wal, -shm or journal file of one, and the database a
command reads (``databases``). A symbolic link is written through (the file it points to gets the
new content, the link stays a link). The content goes to a part file beside the real target,
renamed over it at the end, so a reader never sees half a file and a failed write leaves the old
one; parts left by writers that were killed are swept when the next output goes to that folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from xtalviewer.files.parts import open_part, sweep_dead_parts
from xtalviewer.files.regular import file_kind, open_regular

DEFAULT_MODE = 0o644  # outputs are meant to be shared; mkstemp alone would make them private
DATABASE_COMPANIONS = ("-wal", "-shm", "-journal")  # files SQLite keeps beside a database
_WAL_MAGICS = (bytes.fromhex("377f0682"), bytes.fromhex("377f0683"))
_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
_SHM_VERSIONS = (struct.pack("<I", 3007000), struct.pack(">I", 3007000))  # wal-index header, two copies


class OutputFileError(ValueError):
    """An output path that cannot be written as asked; the message names it and says why."""


def sqlite_kind(head: bytes) -> str | None:
    """What SQLite file the first 96 bytes of a file show it to be, in words, or None."""
    if head.startswith(b"SQLite format 3\x00"):
        return "an SQLite database"
    if head[:4] in _WAL_MAGICS:
        return "the write-ahead log (-wal) of an SQLite database"
    if head.startswith(_JOURNAL_MAGIC):
        return "the rollback journal of an SQLite database"
    if len(head) >= 96 and head[:4] in _SHM_VERSIONS and head[:48] == head[48:96]:
        return "the shared-memory (-shm) file of an SQLite database"
    return None


def open_in_this_process(st: os.stat_result) -> bool:
    """Whether this process has the file of ``st`` open already. Such a file is not read: closing
    any descriptor of a file drops every POSIX lock the process holds on it, SQLite's included."""
    if os.name == "nt":
        return False  # Windows locks belong to a handle, not to the process
    fds: Iterable[int] = range(1024)
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            fds = [int(name) for name in os.listdir(listing)]
            break
        except (OSError, ValueError):
            continue
    for fd in fds:
        try:
            open_st = os.fstat(fd)
        except OSError:
            continue
        if (open_st.st_dev, open_st.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False


def _file_head(path: Path) -> bytes | None:
    """The first 96 bytes of a regular file; None for one this process has open (not read)."""
    if open_in_this_process(os.stat(path)):
        return None
    with open_regular(path) as fh:
        return fh.read(96)


def _is_database(path: Path) -> bool:
    """Whether ``path`` is an SQLite database (or a file this process has open, as its database is)."""
    try:
        head = _file_head(path)
    except OSError:
        return False
    return head is None or sqlite_kind(head) == "an SQLite database"


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link: the same inode by another name
    except OSError:
        return False


def database_problem(real: Path, exists: bool, databases: Iterable[str | os.PathLike | None] = ()) -> str | None:
    """Why writing the real target ``real`` would destroy a database, in words, or None. A None in
    ``databases`` is a store on a server: no file of ours to protect."""
    for db in databases:
        if db is None:
            continue
        db = Path(db)
        for suffix in ("", *DATABASE_COMPANIONS):
            if not _same_file(real, Path(f"{db}{suffix}")):
                continue
            if suffix:
                return f"is the {suffix} file of the SQLite database being read ({db})"
            same_name = os.path.realpath(real) == os.path.realpath(db)
            return "is an SQLite database (the one being read" + (")" if same_name else f": {db})")
    if exists:
        try:
            head = _file_head(real)
        except OSError as exc:
            return f"cannot be read to check that it is not a database ({exc.strerror or exc})"
        if head is None:
            return "is open in this program (its SQLite database or one of that database's files)"
        kind = sqlite_kind(head)
        if kind is not None:
            return f"is {kind}"
    for suffix in DATABASE_COMPANIONS:
        base = real.with_name(real.name[: -len(suffix)]) if real.name.endswith(suffix) else None
        if base is not None and base.name and _is_database(base):
            return f"is the {suffix} file of the SQLite database {base}"
    return None


def output_target(path: str | os.PathLike, *, databases: Iterable[str | os.PathLike] = ()) -> Path:
    """The regular file that writing ``path`` will replace (symbolic links followed), checked first.

    Raises OutputFileError for a non-regular target, a database (any SQLite file, the -wal, -shm
    or journal of one, or one of ``databases`` and its companions by any name), a missing or
    unwritable folder.
    """
    given = Path(path)
    if str(given) == "" or given.name in ("", ".", ".."):
        raise OutputFileError(f"{given}: give a file name")
    real = Path(os.path.realpath(given)) if given.is_symlink() else given
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputFileError(f"{given}: cannot be written ({exc.strerror or exc})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputFileError(f"{given}: is {file_kind(st.st_mode)}, not a regular file; it was left as it is "
                              "(give a file name)")
    problem = database_problem(Path(os.path.realpath(real)), st is not None, databases)
    if problem is not None:
        left = "it was left as it is" if st is not None else "nothing was written"
        raise OutputFileError(f"{given}: {problem}; {left} (give another file name)")
    folder = real.parent if str(real.parent) else Path(".")
    if not folder.is_dir():
        raise OutputFileError(f"{given}: cannot be written (folder {folder} does not exist)")
    if not os.access(folder, os.W_OK):
        raise OutputFileError(f"{given}: cannot be written (no permission to write in {folder})")
    return real


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", **open_args) -> Iterator[IO]:
    """Write ``path`` whole or not at all: yields a file object on a temporary file beside the real
    target, renamed over it when the block ends without an exception.

    ``mode`` is "w" (text; ``open_args`` such as encoding, newline) or "wb". Raises OutputFileError
    for a target that must not be replaced, OSError for a write that fails.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output writes with 'w' or 'wb', not {mode!r}")
    target = output_target(path)
    try:
        keep_mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        keep_mode = DEFAULT_MODE
    sweep_dead_parts(target.parent, target.name)
    fd, tmp = open_part(target)
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep_mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_output(path: str | os.PathLike, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a whole str or bytes to ``path`` through ``atomic_output``; returns the path written."""
    if isinstance(data, bytes):
        with atomic_output(path, "wb") as fh:
            fh.write(data)
    else:
        with atomic_output(path, "w", encoding=encoding) as fh:
            fh.write(data)
    return Path(path)


def place_output(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move a finished file made elsewhere (e.g. by a library that writes to a path) onto ``path``
    with the same rules; the source must be on the same file system as the target's folder."""
    target = output_target(path)
    try:
        keep_mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        keep_mode = DEFAULT_MODE
    os.chmod(source, keep_mode)
    os.replace(source, target)
    return Path(path)


def scratch_path(path: str | os.PathLike) -> Path:
    """A fresh temporary file name beside the real target of ``path`` (checked), for ``place_output``."""
    target = output_target(path)
    sweep_dead_parts(target.parent, target.name)
    fd, tmp = open_part(target)
    os.close(fd)
    return tmp
