"""Files the commands write (``report -o``, ``export -o``, ``export-onnx -o`` ...): one safe way.

A target that exists and is not a regular file (a device, a FIFO, a socket, a folder) is refused
and left as it is; a symbolic link is written through (the file it points to gets the new content,
the link stays a link). The content goes to a temporary file beside the real target and is renamed
over it at the end, so a reader never sees half a file and a failed write leaves the old one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from xtalviewer.files.regular import file_kind

DEFAULT_MODE = 0o644  # outputs are meant to be shared; mkstemp alone would make them private


class OutputFileError(ValueError):
    """An output path that cannot be written as asked; the message names it and says why."""


def output_target(path: str | os.PathLike) -> Path:
    """The regular file that writing ``path`` will replace (symbolic links followed), checked first.

    Raises OutputFileError for a non-regular target, a missing or unwritable folder.
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
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep_mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    return Path(tmp)
