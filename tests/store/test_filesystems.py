"""The mount table: network and virtual file systems are told apart from local disks."""

import os

import pytest

from xtalviewer.store.filesystems import (
    is_virtual,
    mount_of,
    network_filesystem,
    parse_mount_output,
    parse_mountinfo,
    read_only_reason,
)

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 27 0:52 / /mnt/lab\\040data rw,relatime shared:1 - nfs4 fileserver:/export/lab rw,vers=4.2
41 27 0:53 / /mnt/win rw - cifs //nas/share rw
42 27 0:54 / /home/ana/remote rw - fuse.sshfs ana@cluster:/scratch rw
43 27 0:55 / /media/usb rw - fuseblk /dev/sdb1 rw
44 27 0:56 / /mnt/rcl rw - fuse rclone:s3 rw
45 27 0:57 / /mnt/other rw - fuse host:/srv/x rw
"""


def test_mountinfo_fields_and_escapes_are_read():
    mounts = parse_mountinfo(MOUNTINFO)
    assert mounts[2].point == "/mnt/lab data" and mounts[2].fstype == "nfs4" and mounts[2].source == "fileserver:/export/lab"
    assert mount_of("/mnt/lab data/plates/x.db", mounts).fstype == "nfs4"
    assert mount_of("/mnt/labx/y.db", mounts).point == "/"


@pytest.mark.parametrize("path, kind", [
    ("/mnt/lab data/db/lab.db", "nfs4"),
    ("/mnt/win/lab.db", "cifs"),
    ("/home/ana/remote/lab.db", "fuse.sshfs"),
    ("/mnt/other/lab.db", "fuse"),  # a FUSE mount of host:/path is remote whatever its driver
    ("/media/usb/lab.db", None),  # a local disk through FUSE
    ("/home/ana/lab.db", None),
])
def test_network_file_systems_are_recognised(path, kind):
    found = network_filesystem(path, parse_mountinfo(MOUNTINFO))
    assert (found.split(" ")[0] if found else None) == kind


def test_macos_mount_output_is_read():
    mounts = parse_mount_output("/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n"
                                "//ana@nas._smb._tcp.local/lab on /Volumes/lab (smbfs, nodev, nosuid, mounted by ana)\n")
    assert network_filesystem("/Volumes/lab/xtalviewer.db", mounts).startswith("smbfs")
    assert network_filesystem("/Users/ana/xtalviewer.db", mounts) is None


def test_virtual_file_systems(tmp_path):
    assert is_virtual("/proc") and is_virtual("/proc/self/status") and is_virtual("/sys/kernel") and is_virtual("/dev/shm")
    assert not is_virtual("/processing") and not is_virtual(tmp_path)
    (tmp_path / "k").symlink_to("/proc")
    assert is_virtual(tmp_path / "k")


def test_a_writable_folder_is_not_read_only(tmp_path):
    assert read_only_reason(tmp_path / "new.db") is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write whatever the permission bits say")
def test_a_folder_without_write_permission_is_read_only(tmp_path):
    tmp_path.chmod(0o555)
    try:
        assert "not writable" in read_only_reason(tmp_path / "new.db")
    finally:
        tmp_path.chmod(0o755)
