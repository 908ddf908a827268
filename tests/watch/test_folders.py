"""A watched folder on its own: polling looks at folders in use often and old ones rarely, a folder
that goes away is retried with back-off, and a network share is polled (real folders throughout)."""

from __future__ import annotations

import os
import time

from xtalviewer.store.filesystems import Mount
from xtalviewer.watch.folders import MAX_POLL_S, Backoff, WatchedFolder


def files_of(batches) -> list[str]:
    return sorted(os.path.basename(p) for batch in batches for p in batch)


def test_polling_finds_new_files_and_checks_old_folders_rarely(tmp_path):
    old = tmp_path / "X_2025-01-01_RI-2drop"
    old.mkdir()
    (old / "X_01A_1.jpg").write_bytes(b"jpg")
    year_ago = time.time() - 365 * 86400
    os.utime(old, (year_ago, year_ago))
    folder = WatchedFolder(tmp_path, force_poll_s=2.0)
    assert folder.check(now=0.0) == ("found", "")
    folder.choose_mode(None)
    assert folder.mode == "polling every 2 s (--poll)"
    assert files_of(folder.full_scan(now=0.0)) == ["X_01A_1.jpg"]
    assert folder.dirs[os.path.realpath(old)].next_check == MAX_POLL_S  # last year's inspection: every ten minutes
    assert folder.dirs[os.path.realpath(tmp_path)].next_check == 2.0  # just created: every poll
    assert files_of(folder.changes(now=1.0)) == []  # not time for a round yet
    new = tmp_path / "X_2026-03-01_RI-2drop"
    new.mkdir()
    (new / "X_01A_1.jpg").write_bytes(b"jpg")
    (new / "notes.txt").write_text("not an image")
    assert files_of(folder.changes(now=2.5)) == ["X_01A_1.jpg"]
    assert os.path.realpath(new) in folder.dirs
    (new / "X_01A_2.jpg").write_bytes(b"jpg")
    os.utime(new, ns=(time.time_ns(), time.time_ns() + 10**9))  # some file systems keep coarse folder times
    assert files_of(folder.changes(now=5.0)) == ["X_01A_1.jpg", "X_01A_2.jpg"]  # the whole folder, listed again


def test_a_folder_that_goes_away_is_retried_with_doubling_delays_and_found_again(tmp_path):
    root = tmp_path / "share"
    root.mkdir()
    folder = WatchedFolder(root, backoff=Backoff(first=5, most=20))
    assert folder.check(now=0.0) == ("found", "")
    root.rename(tmp_path / "away")
    what, why = folder.check(now=1.0)
    assert (what, folder.retry_delay) == ("lost", 5) and "No such file" in why
    assert folder.check(now=3.0) is None  # not time to retry yet
    assert [folder.check(now=t)[0] for t in (6.0, 16.0, 36.0)] == ["retry"] * 3
    assert folder.retry_delay == 20  # doubled up to the most
    (tmp_path / "away").rename(root)
    assert folder.check(now=56.0) == ("back", "55 s")
    assert folder.check(now=57.0) is None


def test_a_folder_replaced_under_the_same_name_is_scanned_again(tmp_path):
    root = tmp_path / "mnt"
    root.mkdir()
    folder = WatchedFolder(root)
    folder.check(now=0.0)
    other = tmp_path / "share"
    other.mkdir()  # made while the first still exists: surely another inode
    root.rmdir()
    other.rename(root)  # a share mounted over the empty mount point: another folder, same name
    assert folder.check(now=1.0) == ("replaced", "")


def test_a_network_share_is_polled_and_says_why(tmp_path, monkeypatch):
    share = Mount(str(tmp_path), "cifs", "//imager1/images")
    monkeypatch.setattr("xtalviewer.store.filesystems.read_mounts", lambda: [share])
    folder = WatchedFolder(tmp_path)
    folder.check(now=0.0)
    folder.choose_mode(None)
    assert folder.polling and folder.mode == (f"polling every 10 s (cifs (//imager1/images mounted on {tmp_path}): "
                                              "network shares deliver no change events)")
