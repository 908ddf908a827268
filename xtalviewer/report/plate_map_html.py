"""The pieces of a plate report that show drops: the plate map as inline SVG with its legend, and
drop thumbnails embedded as data URIs; and ``esc``, the escaping every piece of the report's text
goes through (barcodes, annotator names and file names are user input)."""

from __future__ import annotations

import base64
import html
import logging

import cv2
import numpy as np

from xtalviewer.crystal_call import pct
from xtalviewer.files.printable import printable
from xtalviewer.imaging.decode import ImageLoadError, fit_within
from xtalviewer.imaging.thumbnails import ThumbnailCache, cache_from_settings
from xtalviewer.plates import PlateType, row_letter
from xtalviewer.report.data import ReportData
from xtalviewer.settings import load_settings
from xtalviewer.store.rows import ReportDrop
from xtalviewer.store.store import Store

UNLABELLED_COLOR = "#f1f1f1"
UNREADABLE_COLOR = "#9e9e9e"
MARKER_COLOR = "#b71c1c"
THUMB_SIDE = 192  # embedded thumbnails: sharp at the 128 px they are shown at, small in the file
THUMB_QUALITY = 82



def esc(value: object) -> str:
    """Text for HTML content or a quoted attribute; control characters (ESC, NUL ... from a file
    name) shown as escapes (``files.printable``), never written into the page."""
    return html.escape(printable("" if value is None else str(value)), quote=True)


def drop_name(d: ReportDrop, drops: int) -> str:
    """'C07' on a one-drop plate, 'C07-2' otherwise (the CRIMS way of naming a drop)."""
    return d.well if drops == 1 else f"{d.well}-{d.drop_no}"


def swatch(color: str) -> str:
    return f'<span class="sw" style="background:{esc(color)}"></span>'


# -- thumbnails ---------------------------------------------------------------------------------------


def default_thumbnail_cache(store: Store | None = None) -> ThumbnailCache:
    """The app's thumbnail folder, size and limit (Preferences), so the report reuses what browsing
    the plate cached and keeps the cache within the limit the user chose; the default folder where
    the chosen one cannot be a cache (it holds ``store``'s plate images, or others' files)."""
    settings, _ = load_settings()
    cache, warning = cache_from_settings(settings, store.image_path_under if store is not None else None, size=256)
    if warning:
        logging.getLogger(__name__).warning(warning)
    return cache


def thumbnail_uri(cache: ThumbnailCache, d: ReportDrop) -> str:
    """A JPEG data URI of the drop; raises ImageLoadError with the reason when there is none."""
    if d.load_error:
        raise ImageLoadError(d.load_error)
    try:
        rgb = fit_within(cache.get(d.path, d.size, d.mtime), THUMB_SIDE)
    except ImageLoadError:
        raise
    except Exception as exc:  # whatever else a decoder throws, the report still gets written
        raise ImageLoadError(f"could not be read ({exc})") from None
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:
        raise ImageLoadError("could not be encoded as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def thumbnail_html(cache: ThumbnailCache, d: ReportDrop, name: str) -> str:
    """The thumbnail, or a placeholder that says why there is none."""
    try:
        uri = thumbnail_uri(cache, d)
    except ImageLoadError as exc:
        return (f'<div class="thumb placeholder" title="{esc(d.path)}"><b>No image</b>'
                f'<span class="reason">{esc(exc)}</span></div>')
    return f'<img class="thumb" src="{uri}" alt="drop {esc(name)}">'


# -- plate map ----------------------------------------------------------------------------------------


def _map_geometry(pt: PlateType) -> dict[str, float]:
    """Pixel sizes that keep a 96-well map large and a 1536-well map within a page width."""
    pitch = min(74.0, 940.0 / pt.cols)
    gap = max(2.0, pitch * 0.12)
    drop_w = (pitch - gap - (pt.drops - 1)) / pt.drops
    drop_h = min(pitch * 0.62, 42.0) if pt.drops > 1 else pitch - gap
    font = max(7.5, min(13.0, pitch * 0.32))
    return dict(pitch=pitch, gap=gap, drop_w=drop_w, drop_h=drop_h, row_h=drop_h + gap, font=font,
                left=font * 2.2, top=font * 1.8)


def _drop_cell(d: ReportDrop | None, x: float, y: float, g: dict, data: ReportData, name: str) -> str:
    w, h = g["drop_w"], g["drop_h"]
    attrs = f'x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{min(w, h) * 0.18:.1f}"'
    if d is None:
        return f'<rect class="none" {attrs}><title>{esc(name)}: not imaged</title></rect>'
    if d.load_error:
        cx, cy, r = x + w / 2, y + h / 2, min(w, h) * 0.28
        return (f'<g data-drop="{esc(name)}" data-label="unreadable"><rect {attrs} fill="{UNREADABLE_COLOR}"/>'
                f'<path d="M{cx - r:.1f},{cy - r:.1f}L{cx + r:.1f},{cy + r:.1f}M{cx + r:.1f},{cy - r:.1f}'
                f'L{cx - r:.1f},{cy + r:.1f}" stroke="#fff" stroke-width="1.5"/>'
                f'<title>{esc(name)}: image unreadable ({esc(d.load_error)})</title></g>')
    prob = f"; crystal {pct(d.crystal_prob, 0)}" if d.crystal_prob is not None else ""
    if d.label is not None:
        try:
            cls = data.scheme.get(d.label)
            color, label_name, crystal = cls.color, cls.name, cls.crystal
        except KeyError:
            color, label_name, crystal = UNLABELLED_COLOR, d.label, False
        outline = ' class="hit"' if crystal else ""
        return (f'<rect{outline} {attrs} fill="{esc(color)}" data-drop="{esc(name)}" data-label="{esc(d.label)}">'
                f'<title>{esc(name)}: {esc(label_name)}{prob}</title></rect>')
    marker = ""
    if d.crystal_prob is not None:
        radius = max(0.0, min(w, h) * 0.42 * float(d.crystal_prob) ** 0.5)
        if radius >= 0.6:
            marker = (f'<circle cx="{x + w / 2:.1f}" cy="{y + h / 2:.1f}" r="{radius:.1f}" '
                      f'fill="{MARKER_COLOR}" class="p"/>')
    return (f'<g data-drop="{esc(name)}" data-label=""><rect class="unl" {attrs} fill="{UNLABELLED_COLOR}"/>{marker}'
            f'<title>{esc(name)}: unlabelled{prob}</title></g>')


def plate_map_svg(data: ReportData) -> str:
    """The plate as rows x columns x drops, each drop coloured by its current label."""
    pt, g = data.plate_type, _map_geometry(data.plate_type)
    by_slot = {(d.row, d.col, d.drop_no): d for d in data.drops}
    width = g["left"] + pt.cols * g["pitch"]
    height = g["top"] + pt.rows * g["row_h"]
    step = 1 if pt.cols <= 24 else 2  # 48 column numbers do not fit; every other one does
    parts = [f'<svg class="platemap" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.1f} {height:.1f}" font-size="{g["font"]:.1f}" role="img" '
             f'aria-label="plate map of {esc(data.plate.barcode)}">']
    for c in range(1, pt.cols + 1):
        if c % step == 0 or c == 1:
            x = g["left"] + (c - 1) * g["pitch"] + (g["pitch"] - g["gap"]) / 2
            parts.append(f'<text x="{x:.1f}" y="{g["top"] - g["font"] * 0.6:.1f}" text-anchor="middle">{c}</text>')
    for r in range(1, pt.rows + 1):
        y = g["top"] + (r - 1) * g["row_h"]
        parts.append(f'<text x="{g["left"] - g["font"] * 0.7:.1f}" y="{y + g["drop_h"] / 2:.1f}" text-anchor="end" '
                     f'dominant-baseline="central">{esc(row_letter(r))}</text>')
        for c in range(1, pt.cols + 1):
            x0 = g["left"] + (c - 1) * g["pitch"]
            if pt.drops > 1:
                pad = g["gap"] * 0.3
                parts.append(f'<rect class="well" x="{x0 - pad:.1f}" y="{y - pad:.1f}" '
                             f'width="{g["pitch"] - g["gap"] + 2 * pad:.1f}" height="{g["drop_h"] + 2 * pad:.1f}" '
                             f'rx="{pad * 2:.1f}"/>')
            for k in range(1, pt.drops + 1):
                d = by_slot.get((r, c, k))
                name = f"{row_letter(r)}{c:02d}" + (f"-{k}" if pt.drops > 1 else "")
                parts.append(_drop_cell(d, x0 + (k - 1) * (g["drop_w"] + 1), y, g, data, name))
    parts.append("</svg>")
    return "".join(parts)


def legend_html(data: ReportData, counts: dict[str | None, int]) -> str:
    """Class colours with their counts, then what grey, the dot, the outline and the cross mean."""
    items = [f'<li>{swatch(c.color)}{esc(c.name)} <span class="n">{counts[c.key]}</span></li>'
             for c in data.scheme.classes]
    items.append(f'<li><span class="sw unl" style="background:{UNLABELLED_COLOR}"></span>Unlabelled '
                 f'<span class="n">{counts[None]}</span></li>')
    notes = ['<li><span class="sw dot"></span>model crystal probability of an unlabelled drop '
             '(dot area; full size = 100%)</li>' if data.model else "",
             '<li><span class="sw hitsw"></span>labelled as a crystal</li>']
    unreadable = sum(1 for d in data.drops if d.load_error)
    if unreadable:
        notes.append(f'<li>{swatch(UNREADABLE_COLOR)}image unreadable <span class="n">{unreadable}</span></li>')
    layout = "drops side by side in each well, drop 1 left" if data.plate_type.drops > 1 else "one drop per well"
    return (f'<ul class="legend">{"".join(items)}</ul><ul class="legend notes">{"".join(notes)}'
            f'<li class="muted">{esc(layout)}</li></ul>')
