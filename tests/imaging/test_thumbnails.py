import os

import pytest
from imagefiles import write_image

from xtalviewer.imaging import thumbnails
from xtalviewer.imaging.decode import ImageLoadError
from xtalviewer.imaging.thumbnails import ThumbnailCache


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
    old = tmp_path / "cache" / "ab" / "tmpx.part"
    old.parent.mkdir(exist_ok=True)
    old.write_bytes(b"x" * 100)
    os.utime(old, (1_600_000_000, 1_600_000_000))
    fresh = old.with_name("tmpy.part")
    fresh.write_bytes(b"y")  # another process may be writing this one right now
    cache.prune()
    assert not old.exists() and fresh.exists()
