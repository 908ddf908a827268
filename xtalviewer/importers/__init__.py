"""Import plate image folders as the imagers write them: metadata only, idempotent, never fatal.

``import_paths`` walks files and folders, recognises each file's layout (specific layouts first,
the generic one last), groups files into plates and inspections, reads image sizes from headers
in a thread pool, and records everything in the store. A file that cannot be read is recorded
with its reason (so the app can show why) and listed in the report; the import carries on.

Paths are recorded as real paths (folders resolved): a route through a symbolic link or through
``/proc/<pid>/cwd`` (which stops existing with that process) is never stored, virtual file systems
(/proc, /sys, /dev) are not walked, and a stored path that still names the same file is kept when
an import finds the file again by another route. A second copy of a plate folder (the same plate,
other files) never takes over a drop whose recorded file still exists: the first copy is kept, its
labels and predictions were made on it, and the report says so; ``repoint=True`` (``import
--repoint``) records the copy instead. A recorded file that no longer exists is replaced (it moved).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xtalviewer.store.filesystems import read_mounts
from xtalviewer.files.image_roots import not_mapped_message, unmapped_root
from xtalviewer.imaging.decode import ImageLoadError, _os_reason, read_header
from xtalviewer.importers import generic, hwi, marco, minstrel, rockmaker, xchem
from xtalviewer.importers.filenames import FoundImage, ParseContext
from xtalviewer.plates import (
    PlateType,
    columns_for_well_numbers,
    infer_plate_type,
    well_from_number,
    well_name,
)
from xtalviewer.store.store import ImageRow, Store
from xtalviewer.importers.walk import (  # noqa: F401  (part of this package's interface)
    VIRTUAL_NOTE, ImportPathError, ImportReport, real_route, walk_images,
)

# most specific first: a file goes to the first parser that recognises it
PARSERS: list[tuple[str, Callable[[Path, ParseContext], FoundImage | None]]] = [
    (hwi.LAYOUT, hwi.parse),
    (rockmaker.STORE_LAYOUT, rockmaker.parse_store),
    (xchem.LAYOUT, xchem.parse),
    (minstrel.LAYOUT, minstrel.parse),
    (rockmaker.EXPORT_LAYOUT, rockmaker.parse_export),
    (marco.LAYOUT, marco.parse),
    ("xchem-file", xchem.parse_loose_file),
    (generic.LAYOUT, generic.parse),
]

Progress = Callable[[int, int], None]


@dataclass
class _FileInfo:
    found: FoundImage
    size: int
    mtime: float
    walked: str = ""  # the route the walk reached the file by
    ident: tuple[int, int] = (0, 0)  # (device, inode): the file, whatever the route
    path: str = ""  # what the store records: the real path, or a stored path to the same file


def _parse(path: Path, ctx: ParseContext) -> FoundImage | None:
    for layout, parser in PARSERS:
        found = parser(path, ctx)
        if found is not None:
            return found
        if layout == rockmaker.STORE_LAYOUT and rockmaker.is_store_thumbnail(path):
            return None
    return None


def inspection_of_file(path: str | os.PathLike, ctx: ParseContext | None = None) -> tuple[str, str] | None:
    """(plate barcode, inspection key) an import would file this image under, from its name and
    folder; None for a file an import skips (a thumbnail). ``xtalviewer watch`` groups arriving
    files by it, so an inspection spread over several folders (Rock Maker, HWI) arrives as one."""
    found = _parse(Path(path), ctx or ParseContext())
    return (found.barcode, found.inspection_key) if found is not None else None


def _local_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")


def _place_wells(files: list[_FileInfo], report: ImportReport) -> PlateType:
    """Resolve numbered wells and unplaced generic files of one plate; return the plate type."""
    hints = [f.found.plate_hint for f in files if f.found.plate_hint]
    hint = max(hints, key=lambda h: (h.rows * h.cols, h.drops)) if hints else None
    numbered = [f.found.well_number for f in files if f.found.well_number]
    cols = hint.cols if hint and hint.cols > 1 else (columns_for_well_numbers(max(numbered)) if numbered else 12)
    for f in files:
        if f.found.well_number:
            f.found.row, f.found.col = well_from_number(f.found.well_number, cols)
    placed = [f for f in files if f.found.row is not None]
    unplaced = sorted((f for f in files if f.found.row is None), key=lambda f: f.found.path.name)
    max_row = max((f.found.row for f in placed), default=1)
    max_col = max((f.found.col for f in placed), default=1)
    drops = max((f.found.drop for f in files), default=1)
    if unplaced:
        per_inspection: dict[str, list[_FileInfo]] = defaultdict(list)
        for f in unplaced:
            per_inspection[f.found.inspection_key].append(f)
        longest = max(len(v) for v in per_inspection.values())
        taken = {(f.found.row, f.found.col) for f in placed}
        plate = infer_plate_type(max_row, max_col, 1, hint)
        while plate.wells - len(taken) < longest and plate.rows < 32:
            plate = infer_plate_type(plate.rows * 2, plate.cols * 2, 1)
        free = [(r, c) for r in range(1, plate.rows + 1) for c in range(1, plate.cols + 1) if (r, c) not in taken]
        for group in per_inspection.values():
            for f, (r, c) in zip(group, free):
                f.found.row, f.found.col = r, c
        barcode = unplaced[0].found.barcode
        report.notes.append(
            f"plate {barcode}: {len(unplaced)} image(s) had no well in their file name; placed in file-name order"
        )
        max_row, max_col = max(max_row, plate.rows), max(max_col, plate.cols)
    return infer_plate_type(max_row, max_col, drops, hint)


_INSPECTION_META = ("batch_id", "rockmaker_plate_id", "profile_id", "screen")  # screen: the imager named it


def _inspection_time(group: list[_FileInfo]) -> str | None:
    """The most precise imaging time the files claim: a date-and-time (e.g. from a CSV) beats a bare date."""
    stamps = [g.found.imaged_at for g in group if g.found.imaged_at]
    if not stamps:
        return None
    timed = [s for s in stamps if "T" in s]
    return min(timed) if timed else min(stamps)


def _header(path: Path) -> tuple[int | None, int | None, str | None]:
    try:
        width, height = read_header(path)
        return width, height, None
    except ImageLoadError as exc:
        return None, None, str(exc)


def import_paths(
    store: Store,
    paths: Iterable[str | os.PathLike],
    *,
    progress: Progress | None = None,
    workers: int = 8,
    repoint: bool = False,
) -> ImportReport:
    """Record every drop image under ``paths``; see the module docstring (``repoint``: a drop
    recorded from another copy of its folder that still exists takes this import's file)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists() and not p.is_symlink():
            raise ImportPathError(f"{p}: no such file or folder")
    report = ImportReport()
    ctx = ParseContext()

    infos: list[_FileInfo] = []
    first_route: dict[tuple[int, int], str] = {}
    for walked in walk_images(paths, report, read_mounts()):
        path = real_route(walked)
        try:
            st = path.stat()
        except OSError as exc:
            report.unreadable.append((str(walked), _os_reason(exc)))
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in first_route:  # one file reached twice in this import (two links, two routes)
            report.skipped.append((str(walked), f"same file as {first_route[ident]}"))
            continue
        first_route[ident] = str(walked)
        found = _parse(path, ctx)
        if found is None:
            report.skipped.append((str(walked), "thumbnail, not a drop image"))
            continue
        infos.append(_FileInfo(found, st.st_size, st.st_mtime, str(walked), ident, str(path)))
    report.notes.extend(ctx.notes)

    by_plate: dict[str, list[_FileInfo]] = defaultdict(list)
    for info in infos:
        by_plate[info.found.barcode].append(info)

    total, done = len(infos), 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for barcode in sorted(by_plate):
            files = by_plate[barcode]
            plate_type = _place_wells(files, report)
            slots: dict[tuple[str, int, int, int, str], _FileInfo] = {}
            for f in sorted(files, key=lambda f: (f.found.preference, str(f.found.path))):
                key = (f.found.inspection_key, f.found.row, f.found.col, f.found.drop, f.found.mode)
                if key in slots:
                    report.skipped.append((str(f.found.path), f"same drop as {slots[key].found.path.name}"))
                    continue
                slots[key] = f
            chosen = _keep_stored_routes(store, barcode, list(slots.values()), report, repoint)
            known = store.known_files(f.path for f in chosen)
            fresh = [f for f in chosen if known.get(f.path, (None, None))[:2] != (f.size, f.mtime)]
            headers = dict(zip((id(f) for f in fresh), pool.map(lambda f: _header(f.found.path), fresh)))

            by_inspection: dict[str, list[_FileInfo]] = defaultdict(list)
            for f in chosen:
                by_inspection[f.found.inspection_key].append(f)
            with store.transaction():
                plate_id = store.upsert_plate(barcode, plate_type)
                report.plates.add(barcode)
                for key, group in sorted(by_inspection.items()):
                    first = min(group, key=lambda g: g.found.mode != "visible").found  # it describes the inspection
                    imaged_at = _inspection_time(group)
                    meta = {k: v for g in group for k, v in g.found.meta.items() if k in _INSPECTION_META and v}
                    if imaged_at is None:
                        imaged_at = _local_iso(min(g.mtime for g in group))
                        meta["imaged_at_from"] = "file modification time"
                    inspection_id, created = store.upsert_inspection(
                        plate_id, key, imaged_at=imaged_at,
                        imager=next((g.found.imager for g in group if g.found.imager), None),
                        profile=first.profile, layout=first.layout, folder=str(first.folder), meta=meta or None,
                    )
                    report.inspections += 1
                    report.inspections_new += int(created)
                    rows = []
                    for f in group:
                        report.layouts[f.found.layout] += 1
                        if id(f) not in headers:
                            report.images_unchanged += 1
                            error = known[f.path][2]
                            if error:
                                report.unreadable.append((f.path, error))
                            continue
                        width, height, error = headers[id(f)]
                        if error:
                            report.unreadable.append((f.path, error))
                        rows.append(ImageRow(
                            inspection_id=inspection_id, plate_id=plate_id, well=well_name(f.found.row, f.found.col),
                            row=f.found.row, col=f.found.col, drop_no=f.found.drop, path=f.path,
                            size=f.size, mtime=f.mtime, width=width, height=height, load_error=error,
                            mode=f.found.mode,
                        ))
                    inserted, updated = store.upsert_images(rows)
                    report.images_new += inserted
                    report.images_updated += updated
                    report.images_unchanged += len(rows) - inserted - updated
                store.settle_plate_screens([plate_id])  # its screen: imager metadata or a barcode rule
            done += len(files)
            if progress:
                progress(done, total)
    _route_notes(report)
    return report


def _same_file(path: str, ident: tuple[int, int]) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident


def _keep_stored_routes(store: Store, barcode: str, files: list[_FileInfo], report: ImportReport,
                        repoint: bool = False) -> list[_FileInfo]:
    """The files to record. A drop already recorded under a path that still names the same file keeps
    that path: an import never swaps a working path for another route to the file. A drop recorded
    from another file that still exists (a second copy of the plate folder) keeps it and this file is
    left out, unless ``repoint``. A stored path that no longer exists is replaced (the file moved)."""
    stored_by_key: dict[str, dict[tuple[str, int, str], str]] = {}
    kept = []
    unmapped: dict[str, int] = {}
    for f in files:
        key = f.found.inspection_key
        if key not in stored_by_key:
            stored_by_key[key] = store.slot_paths(barcode, key)
        old = stored_by_key[key].get((well_name(f.found.row, f.found.col), f.found.drop, f.found.mode))
        root = unmapped_root(old) if old is not None else None
        if root is not None:  # recorded under an image root not mapped here: left as the lab recorded it
            unmapped[root] = unmapped.get(root, 0) + 1
            continue
        if old is not None and old != f.path and _same_file(old, f.ident):
            f.path = old
        elif old is not None and old != f.path and os.path.exists(old):
            if not repoint:
                report.other_copy.append((f.path, old))
                continue
            report.repointed.append((old, f.path))
        if f.walked != f.path:
            (report.found_again if old == f.path else report.resolved).append((f.walked, f.path))
        kept.append(f)
    for root, n in sorted(unmapped.items()):
        report.notes.append(f"{n} drop{'s' * (n != 1)} of plate {barcode} {'are' if n != 1 else 'is'} recorded under "
                            f"an image root this workstation does not map, and kept as recorded: "
                            f"{not_mapped_message(root)}")
    return kept


def _route_notes(report: ImportReport) -> None:
    if report.other_copy:
        copy, kept = report.other_copy[0]
        n = len(report.other_copy)
        report.notes.append(
            f"{n} drop{'s' * (n != 1)} {'are' if n != 1 else 'is'} already recorded from another copy of "
            f"{'their' if n != 1 else 'its'} folder whose files still exist (e.g. {copy}: {kept} is kept); "
            "the first copy is kept, as its labels and predictions were made on it. To record this copy "
            "instead, import it again with --repoint")
    if report.repointed:
        left, now = report.repointed[0]
        n = len(report.repointed)
        report.notes.append(f"--repoint: {n} drop{'s' * (n != 1)} now recorded from this copy (e.g. {now}, was "
                            f"{left}); {'their' if n != 1 else 'its'} labels stay")
    if report.found_again:
        walked, kept = report.found_again[0]
        n = len(report.found_again)
        report.notes.append(f"found {n} recorded file{'s' * (n != 1)} again by another route (e.g. {walked} is "
                            f"{kept}); the stored path{'s' * (n != 1)} {'are' if n != 1 else 'is'} kept")
    if report.resolved:
        walked, real = report.resolved[0]
        n = len(report.resolved)
        report.notes.append(f"recorded {n} file{'s' * (n != 1)} reached through symbolic links or /proc under "
                            f"{'their' if n != 1 else 'its'} real path{'s' * (n != 1)} (e.g. {walked} as {real})")
