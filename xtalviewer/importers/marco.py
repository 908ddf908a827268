"""MARCO / Rock Imager style names: ``<barcode>_<well>_<profile>_<n>.jpg``, e.g.
``002s_C6_ImagerDefaults_9.jpg``. ``n`` is taken as the inspection number; a UV or SONICC profile
of the same inspection is its UV or SHG mode (``found.mode_of_profile``)."""

from __future__ import annotations

import re
from pathlib import Path

from xtalviewer.importers.filenames import FoundImage, ParseContext, mode_of_profile
from xtalviewer.plates import row_number

LAYOUT = "marco"
FILE_RE = re.compile(
    r"^(?P<barcode>.+?)_(?P<row>[A-Pa-p])(?P<col>\d{1,2})(?:[.-](?P<drop>\d))?_(?P<profile>[A-Za-z][^_]*)_(?P<n>\d+)$"
)


def parse(path: Path, ctx: ParseContext) -> FoundImage | None:
    m = FILE_RE.match(path.stem)
    if not m:
        return None
    col = int(m.group("col"))
    if not 1 <= col <= 48:
        return None
    return FoundImage(
        path=path,
        barcode=m.group("barcode"),
        inspection_key=f"inspection {int(m.group('n'))}",
        layout=LAYOUT,
        row=row_number(m.group("row")),
        col=col,
        drop=int(m.group("drop") or 1),
        profile=m.group("profile"),
        mode=mode_of_profile(m.group("profile")),
        meta={"inspection_number": int(m.group("n"))},
    )
