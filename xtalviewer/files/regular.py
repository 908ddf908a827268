"""Open only regular files: a FIFO, a device or a socket named like an image or a CSV must not hang
a reader (a FIFO without a writer blocks ``open`` forever) or feed it without end (``/dev/zero``).

``open_regular`` opens without blocking, checks what it opened with ``fstat`` (no window between a
check and the open) and only then hands the file out.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import IO


class NotRegularFileError(OSError):
    """The path names something other than a regular file; str() says what it is."""


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, in words for a message."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


def not_regular(path: str | os.PathLike, mode: int) -> NotRegularFileError:
    kind = file_kind(mode)
    return NotRegularFileError(errno.EINVAL, f"is {kind}, not a regular file", os.fspath(path))


def open_regular(path: str | os.PathLike, mode: str = "rb", **text_args) -> IO:
    """Open ``path`` for reading, refusing anything that is not a regular file (symbolic links to
    regular files are fine). ``mode`` is "rb" or "r"; text arguments go to ``io.TextIOWrapper``.

    Raises NotRegularFileError (an OSError) or the OSError of the open itself.
    """
    if mode not in ("rb", "r"):
        raise ValueError(f"open_regular reads only ('rb' or 'r'), not {mode!r}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    if not hasattr(os, "O_NONBLOCK"):  # Windows: no FIFOs to block on, but devices (NUL, CON) exist
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(path, st.st_mode)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(path, st.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    if mode == "rb":
        return raw
    return io.TextIOWrapper(raw, **text_args)


def read_regular_bytes(path: str | os.PathLike) -> bytes:
    with open_regular(path) as fh:
        return fh.read()


def read_regular_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    with open_regular(path, "r", encoding=encoding) as fh:
        return fh.read()
