"""What kind of file system a path lives on: virtual (``/proc``), network (NFS, SMB, sshfs) or read-only.

Importers skip virtual file systems (``/proc/<pid>/cwd`` reaches every folder again under a name
that stops existing with the process); the store refuses a database on a network file system
(SQLite's write-ahead log needs memory shared on one computer) and says "read-only" when the
medium is. Linux reads its mount table; macOS and Windows answer on a best-effort basis.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
VIRTUAL_ROOTS = ("/proc", "/sys", "/dev")
VIRTUAL_TYPES = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "pstore",
    "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc", "autofs", "efivarfs", "rpc_pipefs",
    "nsfs", "selinuxfs",
})
# file systems that several computers mount at once: SQLite's locks and shared memory do not reach across
NETWORK_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "smb", "ncpfs", "afs", "openafs", "coda", "afpfs", "webdav", "davfs",
    "ftp", "fuse.sshfs", "sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "fuse.davfs2", "fuse.glusterfs",
    "glusterfs", "ceph", "fuse.ceph", "lustre", "gpfs", "beegfs", "ocfs2", "gfs2", "panfs", "orangefs", "pvfs2",
})
_REMOTE_SOURCE = re.compile(r"^(?:[^/\s]+@)?[^/\s]+:/|^//|^\\\\")  # host:/path, user@host:/path, //server/share


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """Mount tables write space, tab, newline and backslash in a path as \\040, \\011, \\012, \\134."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts of a Linux /proc/<pid>/mountinfo text (fields: id parent dev root point opts ... - type source)."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or not tail:
            continue
        mounts.append(Mount(_unescape(fields[4]), tail[0], _unescape(tail[1]) if len(tail) > 1 else ""))
    return mounts


def parse_mount_output(text: str) -> list[Mount]:
    """Mounts as macOS/BSD ``mount`` prints them: ``source on /point (type, options)``."""
    mounts = []
    for line in text.splitlines():
        m = re.match(r"^(.*) on (.*) \(([^,)]+)", line)
        if m:
            mounts.append(Mount(m.group(2), m.group(3).strip(), m.group(1)))
    return mounts


def read_mounts() -> list[Mount]:
    """This computer's mounts; empty where they cannot be read."""
    try:
        if MOUNTINFO.exists():
            return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape"))
        if sys.platform == "darwin":
            out = subprocess.run(["/sbin/mount"], capture_output=True, text=True, timeout=5).stdout
            return parse_mount_output(out)
    except (OSError, subprocess.SubprocessError):
        pass
    return []


def real_path(path: str | os.PathLike) -> str:
    """``os.path.realpath``, or the absolute path where a link cannot be read (/proc/1/cwd of
    another user's process raises PermissionError)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return os.path.abspath(path)


def _existing(path: str | os.PathLike) -> str:
    """The real path of ``path`` or of its nearest existing ancestor (a database may not exist yet)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return real_path(p)


def _under(path: str, point: str) -> bool:
    return point == "/" or path == point or path.startswith(point.rstrip("/") + "/")


def mount_of(path: str | os.PathLike, mounts: list[Mount] | None = None) -> Mount | None:
    """The mount that holds ``path`` (the longest mount point above its real path)."""
    real = real_path(path)
    mounts = read_mounts() if mounts is None else mounts
    best = None
    for m in mounts:
        if _under(real, m.point) and (best is None or len(m.point) >= len(best.point)):
            best = m  # a later line over the same point hides the earlier mount
    return best


def _is_network(m: Mount) -> bool:
    kind = m.fstype.lower()
    return kind in NETWORK_TYPES or (kind.startswith(("fuse", "osxfuse", "macfuse")) and bool(_REMOTE_SOURCE.match(m.source)))


def network_filesystem(path: str | os.PathLike, mounts: list[Mount] | None = None) -> str | None:
    """A description such as "nfs4 (server:/export mounted on /mnt/lab)" when ``path`` is on a network
    file system, else None (also when it cannot be told)."""
    if os.name == "nt":
        return _windows_network(path)
    m = mount_of(path, mounts)
    if m is not None and _is_network(m):
        return f"{m.fstype} ({m.source} mounted on {m.point})"
    return None


def _windows_network(path: str | os.PathLike) -> str | None:
    full = os.path.abspath(path)
    drive = os.path.splitdrive(full)[0]
    if drive.startswith(("\\\\", "//")):
        return f"a network share ({drive})"
    try:
        import ctypes

        if ctypes.windll.kernel32.GetDriveTypeW(drive + "\\") == 4:  # DRIVE_REMOTE
            return f"a network drive ({drive})"
    except (AttributeError, OSError, ImportError):
        pass
    return None


def is_virtual(path: str | os.PathLike, mounts: list[Mount] | None = None) -> bool:
    """True for paths whose real location is a kernel's view, not stored files (/proc, /sys, /dev)."""
    real = real_path(path)
    if any(_under(real, root) for root in VIRTUAL_ROOTS):
        return True
    if mounts:
        m = mount_of(real, mounts)
        return m is not None and m.fstype in VIRTUAL_TYPES
    return False


def read_only_reason(path: str | os.PathLike) -> str | None:
    """Why a file at ``path`` cannot be written ("on a read-only file system", ...), or None."""
    real = _existing(path)
    folder = real if os.path.isdir(real) else os.path.dirname(real)
    try:
        if os.statvfs(real).f_flag & getattr(os, "ST_RDONLY", 1):
            return "it is on a read-only file system"
    except (OSError, AttributeError):
        pass
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the file is not writable"
    if not os.access(folder, os.W_OK):
        return f"its folder {folder} is not writable"
    return None
