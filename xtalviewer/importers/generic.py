"""Any other folder of drop images: the plate is named after the folder, the well comes from the
first ``[A-P]<1-2 digits>`` token in the file name (``A1``, ``B07``, ``C03d2``, CRIMS ``A01-1``), the
drop from an optional number right after it. Images with no well token are placed later, in file
name order, on wells nothing else uses."""

from __future__ import annotations

import re
from pathlib import Path

from xtalviewer.importers.filenames import FoundImage, ParseContext, date_in_name
from xtalviewer.plates import row_number

LAYOUT = "generic"
_SPLIT = re.compile(r"[_\-\s.]+")
_WELL = re.compile(r"^(?P<row>[A-Pa-p])(?P<col>\d{1,2})(?:d(?P<drop>\d))?$")
_DROP = re.compile(r"^(?:d|drop)?(?P<drop>[1-9])$", re.IGNORECASE)


def parse(path: Path, ctx: ParseContext) -> FoundImage:
    folder = path.parent
    found = FoundImage(
        path=path,
        barcode=folder.name or str(folder),
        inspection_key=str(folder),
        layout=LAYOUT,
        imaged_at=date_in_name(folder.name),
    )
    tokens = [t for t in _SPLIT.split(path.stem) if t]
    for i, token in enumerate(tokens):
        m = _WELL.match(token)
        if not m or not 1 <= int(m.group("col")) <= 24:
            continue
        found.row, found.col = row_number(m.group("row")), int(m.group("col"))
        if m.group("drop"):
            found.drop = int(m.group("drop"))
        elif i + 1 < len(tokens) and (dm := _DROP.match(tokens[i + 1])):
            found.drop = int(dm.group("drop"))
        break
    return found
