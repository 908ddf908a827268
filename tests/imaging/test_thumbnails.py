import os

import pytest
from imagefiles import write_image

from xtalviewer.imaging import thumbnails
from xtalviewer.imaging.decode import ImageLoadError
from xtalviewer.imaging.thumbnails import ThumbnailCache, thumbnail_folder_problem


def test_thumbnail_is_cached_and_reused_without_decoding(tmp_path, monkeypatch):
    src = write_image(tmp_path / "drop.jpg", size=(1224, 1024))
    cache = ThumbnailCache(tmp_path / "cache", size=128)
    thumb = cache.get(str(src))
    assert max(thumb.shape[:2]) == 128
    monkeypatch.setattr(thumbnails, "load_rgb", lambda *a, **k: pytest.fail("decoded the source again"))
    again = cache.get(str(src))
    assert again.shape == thumb.shape


def test_a_changed_source_gets_a_new_entry(tmp_path):
    src = write_image(tmp_path / "drop.jpg", size=(300, 200))
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    cache.get(str(src))
    write_image(src, size=(200, 300))
    os.utime(src, (1_700_000_000, 1_700_000_000))
    assert cache.get(str(src)).shape[:2] == (64, 43)
    assert len(list((tmp_path / "cache").glob("*/*.jpg"))) == 2


def test_lookup_never_decodes_and_misses_cleanly(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache")
    assert cache.lookup("/nowhere.jpg", 1, 1.0) is None


def test_unreadable_source_raises_load_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    with pytest.raises(ImageLoadError):
        ThumbnailCache(tmp_path / "cache").get(str(bad))


def test_prune_keeps_the_cache_under_its_limit(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    for i in range(6):
        src = write_image(tmp_path / f"d{i}.jpg", size=(200, 150), color=(i * 40, 0, 0))
        cache.get(str(src))
    used = cache.usage_bytes()
    removed = cache.prune(limit_bytes=used // 2)
    assert removed >= 3 and cache.usage_bytes() <= used // 2


def fill(cache, folder, n):
    for i in range(n):
        src = write_image(folder / f"d{i}.jpg", size=(200, 150), color=(i * 7 % 256, i * 13 % 256, 0))
        cache.get(str(src))


def test_the_cache_prunes_itself_when_an_entry_takes_it_past_the_limit(tmp_path):
    probe = ThumbnailCache(tmp_path / "probe", size=64)
    fill(probe, tmp_path / "src", 1)
    entry = probe.usage_bytes()
    cache = ThumbnailCache(tmp_path / "cache", size=64, limit_bytes=entry * 10)
    fill(cache, tmp_path / "src", 40)
    assert cache.usage_bytes() <= cache.limit_bytes
    assert len(list((tmp_path / "cache").glob("*/*.jpg"))) >= 5  # pruned to 90%, not emptied


def test_prune_clears_half_written_entries_left_by_dead_processes(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    fill(cache, tmp_path / "src", 1)
    old = tmp_path / "cache" / "ab" / "tmpk2j4h6g8.part"  # as mkstemp names the entry being written
    old.parent.mkdir(exist_ok=True)
    old.write_bytes(b"x" * 100)
    os.utime(old, (1_600_000_000, 1_600_000_000))
    fresh = old.with_name("tmpq1w2e3r4.part")
    fresh.write_bytes(b"y")  # another process may be writing this one right now
    cache.prune()
    assert not old.exists() and fresh.exists()


def plate_images(folder, n=8):
    """Real JPEG files in an imager's layout (``<plate folder>/<image>.jpg``), as a lab keeps them."""
    return [write_image(folder / "P1_2026-05-01_RI1000-0081-1drop" / f"P1_{i + 1:02d}A_1.jpg", size=(320, 240),
                        color=(i * 30, 60, 90)) for i in range(n)]


def test_a_folder_of_plate_images_is_never_pruned(tmp_path):
    images = plate_images(tmp_path / "plates")
    cache = ThumbnailCache(tmp_path / "plates", size=64, limit_bytes=1)
    assert cache.prune() == 0 and cache.prune(limit_bytes=0) == 0
    other = write_image(tmp_path / "elsewhere" / "d.jpg", size=(200, 150))
    assert cache.get(str(other)).shape[:2] == (48, 64)  # still answers, but writes nothing there
    assert sorted((tmp_path / "plates").rglob("*")) == sorted([*images, images[0].parent])
    assert "holds other files" in cache.problem


def test_the_store_is_asked_whether_a_folder_holds_plate_images(tmp_path):
    images = plate_images(tmp_path / "plates")
    under = {str(p) for p in images}

    def image_under(folder):
        return next((p for p in sorted(under) if p.startswith(str(folder) + os.sep)), None)

    assert "images of imported plates" in thumbnail_folder_problem(tmp_path / "plates", image_under)
    assert "images of imported plates" in thumbnail_folder_problem(tmp_path, image_under)
    assert thumbnail_folder_problem(tmp_path / "thumbs", image_under) is None
    link = tmp_path / "via-link"
    link.symlink_to(tmp_path / "plates")
    assert "images of imported plates" in thumbnail_folder_problem(link, image_under)


def test_the_cache_marks_its_folder_and_deletes_only_names_it_generated(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    fill(cache, tmp_path / "src", 6)
    assert (tmp_path / "cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    own = sorted((tmp_path / "cache").glob("*/*.jpg"))
    # what others put there later, or links out of it, is not the cache's to delete
    outside = write_image(tmp_path / "outside" / "keep.jpg")
    foreign = [write_image(tmp_path / "cache" / own[0].parent.name / "holiday.jpg"),
               write_image(tmp_path / "cache" / "ab" / ("0" * 39 + "1.jpg")),  # its folder is not its name's start
               write_image(tmp_path / "cache" / "plates" / "P1_01A_1.jpg")]
    taken = {p.parent.name for p in own}  # entry folders are random (a hash): the planted ones must be others
    free = [f"{n:02x}" for n in range(256) if f"{n:02x}" not in taken | {"ab"}]
    link_dir, linked_dir = free[0], free[1]
    link = tmp_path / "cache" / link_dir / (link_dir + "0" * 38 + ".jpg")
    link.parent.mkdir()
    link.symlink_to(outside)
    (tmp_path / "cache" / linked_dir).symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "outside" / (linked_dir + "1" * 38 + ".jpg")).write_bytes(outside.read_bytes())
    removed = cache.prune(limit_bytes=0)
    assert removed == len(own) and not any(p.exists() for p in own)
    assert all(p.exists() for p in foreign) and link.is_symlink() and outside.exists()
    assert (tmp_path / "outside" / (linked_dir + "1" * 38 + ".jpg")).exists()


def test_the_cache_still_prunes_its_own_entries_to_its_limit(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    fill(cache, tmp_path / "src", 10)
    used = cache.usage_bytes()
    removed = cache.prune(limit_bytes=used // 2)
    assert removed >= 5 and cache.usage_bytes() <= used // 2 * 0.9
    assert len(list((tmp_path / "cache").glob("*/*.jpg"))) == 10 - removed


def test_a_cache_folder_of_an_earlier_release_is_adopted(tmp_path):
    folder = tmp_path / "cache"
    entry = folder / "00" / ("00" + "a" * 38 + ".jpg")  # what earlier releases wrote, with no tag yet
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"\xff" * 1000)
    assert thumbnail_folder_problem(folder) is None
    cache = ThumbnailCache(folder, size=64)
    assert cache.prune(limit_bytes=0) == 1 and (folder / "CACHEDIR.TAG").exists()


def test_an_empty_or_missing_folder_is_taken_and_a_file_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    assert thumbnail_folder_problem(tmp_path / "empty") is None
    assert thumbnail_folder_problem(tmp_path / "new" / "thumbs") is None
    (tmp_path / "file").write_text("x")
    assert "not a folder" in thumbnail_folder_problem(tmp_path / "file")
    (tmp_path / "empty" / "notes.txt").write_text("x")
    assert "holds other files" in thumbnail_folder_problem(tmp_path / "empty")
