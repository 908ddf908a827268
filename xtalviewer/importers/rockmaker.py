"""Formulatrix Rock Maker: its image store tree and the file names of its export tool.

Image store: ``WellImages/<PlateID % 1000>/plateID_<PlateID>/batchID_<BatchID>/wellNum_<N>/
profileID_<P>/d<drop>_r<region>_<type>.<ext>``; a batch is one inspection, ``ef`` is the
extended-focus image (preferred), ``th`` a thumbnail (skipped). The tree names a profile only by
number, so which profile is UV or SONICC cannot be told from it: each profile of a batch stays its
own inspection (visible and UV images never share a drop slot).

Export tool: ``<barcode>_<Row><Col>_<profile>_<scorehotkey>_<batchID>.<ext>``. The profile is
named, so a batch's UV and SONICC profiles become the UV and SHG modes of the batch's inspection
(``found.mode_of_profile``).
"""

from __future__ import annotations

import re
from pathlib import Path

from xtalviewer.importers.filenames import FoundImage, ParseContext, mode_of_profile
from xtalviewer.plates import row_number

STORE_LAYOUT = "rockmaker-store"
EXPORT_LAYOUT = "rockmaker-export"

STORE_RE = re.compile(
    r"plateID_(?P<plate>\d+)/batchID_(?P<batch>\d+)/wellNum_(?P<well>\d+)/profileID_(?P<profile>\d+)/"
    r"d(?P<drop>\d+)_r(?P<region>\d+)_(?P<type>[A-Za-z]+)\.[A-Za-z]+$"
)
EXPORT_RE = re.compile(
    r"^(?P<barcode>.+)_(?P<row>[A-Pa-p])(?P<col>\d{1,2})(?:[.-](?P<drop>\d))?_(?P<profile>[^_]+)_"
    r"(?P<score>[^_]*)_(?P<batch>\d+)$"
)
# lower is better when several files show the same drop: extended focus first, thumbnails never
_TYPE_PREFERENCE = {"ef": 0, "im": 1, "dl": 2}


def parse_store(path: Path, ctx: ParseContext) -> FoundImage | None:
    m = STORE_RE.search(path.as_posix())
    if not m:
        return None
    kind = m.group("type").lower()
    if kind == "th":
        return None
    plate, batch, profile = m.group("plate"), m.group("batch"), m.group("profile")
    return FoundImage(
        path=path,
        barcode=plate,
        inspection_key=f"batch {batch} profile {profile}",
        layout=STORE_LAYOUT,
        well_number=int(m.group("well")),
        drop=int(m.group("drop")),
        profile=f"profile {profile}",
        meta={"rockmaker_plate_id": plate, "batch_id": batch, "profile_id": profile, "image_type": kind},
        preference=_TYPE_PREFERENCE.get(kind, 5) * 100 + int(m.group("region")),
    )


def is_store_thumbnail(path: Path) -> bool:
    m = STORE_RE.search(path.as_posix())
    return bool(m and m.group("type").lower() == "th")


def parse_export(path: Path, ctx: ParseContext) -> FoundImage | None:
    m = EXPORT_RE.match(path.stem)
    if not m:
        return None
    batch = m.group("batch")
    return FoundImage(
        path=path,
        barcode=m.group("barcode"),
        inspection_key=f"batch {batch}",
        layout=EXPORT_LAYOUT,
        row=row_number(m.group("row")),
        col=int(m.group("col")),
        drop=int(m.group("drop") or 1),
        profile=m.group("profile"),
        mode=mode_of_profile(m.group("profile")),
        meta={"batch_id": batch, "vendor_score": m.group("score") or None},
    )
