"""Non-regular files for tests: FIFOs, sockets, folders and (as root) a private null device."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path


def special_targets(folder: Path, suffix: str = ".html") -> dict[str, Path]:
    """kind -> path of every kind of non-regular file this machine lets a test make in ``folder``."""
    made = {}
    fifo = folder / f"fifo{suffix}"
    os.mkfifo(fifo)
    made["FIFO"] = fifo
    sock_path = folder / f"sock{suffix}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()
    made["socket"] = sock_path
    (folder / f"dir{suffix}").mkdir()
    made["folder"] = folder / f"dir{suffix}"
    if os.geteuid() == 0:  # a private copy of /dev/null: only root may make device nodes
        dev = folder / f"null{suffix}"
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made["character device"] = dev
    return made


def file_type(path: Path) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)
