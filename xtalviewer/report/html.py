"""A one-file HTML report of one plate inspection, to send to a colleague.

The file carries everything inline (CSS, an SVG plate map, thumbnails as data URIs) so it opens
in any browser, offline, from a mail attachment, and prints as it looks. Every piece of text from
the database or the file system goes through ``esc``: barcodes and annotator names are user input.
"""

from __future__ import annotations

import base64
import html
import logging
from datetime import datetime
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from xtalviewer import __version__
from xtalviewer.crystal_call import is_hit, pct
from xtalviewer.imaging.decode import ImageLoadError, fit_within
from xtalviewer.labels import LabelScheme
from xtalviewer.model.metrics import HEADLINE
from xtalviewer.files.outputs import OutputFileError, output_target, write_output
from xtalviewer.files.printable import printable
from xtalviewer.plates import PlateType, row_letter
from xtalviewer.report.data import (  # noqa: F401  (ReportError and hits are part of this module's interface)
    ReportData,
    ReportError,
    collect,
    hits,
    label_counts,
    pick_inspection,
)
from xtalviewer.settings import load_settings
from xtalviewer.store.rows import ReportDrop
from xtalviewer.store.store import Store
from xtalviewer.imaging.thumbnails import ThumbnailCache, cache_from_settings

UNLABELLED_COLOR = "#f1f1f1"
UNREADABLE_COLOR = "#9e9e9e"
MARKER_COLOR = "#b71c1c"
THUMB_SIDE = 192  # embedded thumbnails: sharp at the 128 px they are shown at, small in the file
THUMB_QUALITY = 82



def esc(value: object) -> str:
    """Text for HTML content or a quoted attribute; control characters (ESC, NUL ... from a file
    name) shown as escapes (``files.printable``), never written into the page."""
    return html.escape(printable("" if value is None else str(value)), quote=True)


# -- small formatting helpers -----------------------------------------------------------------------


def when(text: str | None) -> str:
    """An ISO timestamp as people read it: date and minutes, no 'T', no seconds."""
    if not text:
        return "–"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    if len(text) <= 10:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")


def drop_name(d: ReportDrop, drops: int) -> str:
    """'C07' on a one-drop plate, 'C07-2' otherwise (the CRIMS way of naming a drop)."""
    return d.well if drops == 1 else f"{d.well}-{d.drop_no}"


def _swatch(color: str) -> str:
    return f'<span class="sw" style="background:{esc(color)}"></span>'


def _label_html(scheme: LabelScheme, key: str | None) -> str:
    if key is None:
        return '<span class="muted">unlabelled</span>'
    try:
        cls = scheme.get(key)
    except KeyError:
        return esc(key)
    return f"{_swatch(cls.color)}{esc(cls.name)}"


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
    items = [f'<li>{_swatch(c.color)}{esc(c.name)} <span class="n">{counts[c.key]}</span></li>'
             for c in data.scheme.classes]
    items.append(f'<li><span class="sw unl" style="background:{UNLABELLED_COLOR}"></span>Unlabelled '
                 f'<span class="n">{counts[None]}</span></li>')
    notes = ['<li><span class="sw dot"></span>model crystal probability of an unlabelled drop '
             '(dot area; full size = 100%)</li>' if data.model else "",
             '<li><span class="sw hitsw"></span>labelled as a crystal</li>']
    unreadable = sum(1 for d in data.drops if d.load_error)
    if unreadable:
        notes.append(f'<li>{_swatch(UNREADABLE_COLOR)}image unreadable <span class="n">{unreadable}</span></li>')
    layout = "drops side by side in each well, drop 1 left" if data.plate_type.drops > 1 else "one drop per well"
    return (f'<ul class="legend">{"".join(items)}</ul><ul class="legend notes">{"".join(notes)}'
            f'<li class="muted">{esc(layout)}</li></ul>')


# -- sections -----------------------------------------------------------------------------------------


def header_html(data: ReportData) -> str:
    insp, pt = data.inspection, data.plate_type
    number = next(i for i, x in enumerate(data.inspections, 1) if x.id == insp.id)
    rows = [
        ("Plate type", f"{pt.label} ({pt.rows} × {pt.cols})"),
        ("Inspection", f"{insp.key} ({number} of {len(data.inspections)})"),
        ("Imaged", when(insp.imaged_at)),
        ("Imager", insp.imager or "–"),
    ]
    if data.screen:
        rows.append(("Screen", data.screen))
    if insp.profile:
        rows.append(("Profile", insp.profile))
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    stamp = data.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    return (f'<header><div class="title"><h1>Plate {esc(data.plate.barcode)}</h1>'
            f'<p class="sub">Crystallization inspection report</p></div>'
            f'<table class="facts">{cells}</table>'
            f'<p class="gen">Generated {esc(stamp)} by xtalviewer {esc(__version__)}</p></header>')


def summary_html(data: ReportData, hit_rows: list[ReportDrop]) -> str:
    crystal = data.scheme.crystal_keys
    labelled = sum(1 for d in data.drops if d.label is not None)
    crystal_labels = sum(1 for d in data.drops if d.label in crystal)
    predicted = sum(1 for d in data.drops if d.crystal_prob is not None)
    model_hits = sum(1 for d in data.drops if is_hit(d.crystal_prob, data.operating_point.threshold))
    top3 = sum(1 for d in data.drops if d.crystal_top3)
    cards = [("drops imaged", len(data.drops)), ("labelled", labelled), ("crystal labels", crystal_labels)]
    if data.model:
        cards += [("scored by the model", predicted), ("model hits", model_hits), ("crystal in model top 3", top3)]
    cards.append(("drops in the hit list", len(hit_rows)))
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{n}</b><span>{esc(t)}</span></div>' for t, n in cards) + "</div>"


def _top3_html(data: ReportData, d: ReportDrop) -> str:
    if d.top1 is None:
        return '<span class="muted">not scored</span>'
    items = []
    for key, p in ((d.top1, d.p1), (d.top2, d.p2), (d.top3, d.p3)):
        if key is None:
            continue
        try:
            cls = data.scheme.get(key)
            name, color, crystal = cls.name, cls.color, cls.crystal
        except KeyError:
            name, color, crystal = key, UNLABELLED_COLOR, False
        cls_attr = ' class="xtal"' if crystal else ""
        items.append(f'<li{cls_attr}>{_swatch(color)}{esc(name)} <span class="p">{pct(p, 0)}</span></li>')
    return f'<ol class="top3">{"".join(items)}</ol>'


def _why(data: ReportData, d: ReportDrop) -> str:
    reasons = []
    if d.label in data.scheme.crystal_keys:
        reasons.append("crystal label")
    if is_hit(d.crystal_prob, data.operating_point.threshold):
        reasons.append("model hit")
    if d.crystal_top3:
        reasons.append("crystal in top 3")
    return " · ".join(reasons)


def _labelled_by(d: ReportDrop) -> str:
    if d.label is None or not d.annotator:
        return '<span class="muted">–</span>'
    source = {"accepted-prediction": " (accepted prediction)", "import": " (imported)"}.get(d.source or "", "")
    return f'{esc(d.annotator)}{esc(source)}<br><span class="muted">{esc(when(d.created_at))}</span>'


def hit_list_html(data: ReportData, hit_rows: list[ReportDrop], cache: ThumbnailCache) -> str:
    """One row per hit: thumbnail, drop, crystal probability, label and who gave it, model top 3.

    Without a model the probability and top-3 columns would be empty on every row, so they go.
    """
    if not hit_rows:
        what = "no drop is labelled as a crystal" + (" and the model calls none a hit" if data.model else "")
        return f'<p class="empty">No hits: {esc(what)}.</p>'
    scored = data.model is not None
    drops = data.plate_type.drops
    rows = []
    for n, d in enumerate(hit_rows, 1):
        name = drop_name(d, drops)
        cells = [f'<td class="num">{n}</td>', f"<td>{thumbnail_html(cache, d, name)}</td>",
                 f'<td><b class="well">{esc(name)}</b><br><span class="muted small">{esc(_why(data, d))}</span></td>']
        if data.screen:
            cells.append(f"<td>{_condition_html(d)}</td>")
        if scored:
            cells.append(f'<td class="prob">{pct(d.crystal_prob, 0)}</td>')
        cells += [f"<td>{_label_html(data.scheme, d.label)}</td>", f"<td>{_labelled_by(d)}</td>"]
        if scored:
            cells.append(f"<td>{_top3_html(data, d)}</td>")
        rows.append(f'<tr class="hitrow" data-drop="{esc(name)}">{"".join(cells)}</tr>')
    heads = ["#", "Image", "Drop"] + (["Condition"] if data.screen else []) + (["Crystal<br>prob."] if scored else [])
    heads += ["Current label", "Labelled by"]
    heads += ["Model top 3"] if scored else []
    head = "".join(f"<th>{h}</th>" for h in heads)
    return f'<table class="hits"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _condition_html(d: ReportDrop) -> str:
    """The well's screen condition and its pH, what the crystallographer reproduces and optimises."""
    if d.condition is None:
        return '<span class="muted">not in the screen</span>'
    ph = f'<br><span class="muted small">pH {d.ph:g}</span>' if d.ph is not None else ""
    return f'<span class="cond">{esc(d.condition)}</span>{ph}'


def hit_intro(data: ReportData) -> str:
    if data.model is None:
        return "Drops labelled as a crystal, in plate order (no model has scored this database)."
    return ("Drops labelled as a crystal or that the model calls a hit, highest crystal probability first. "
            f"The model's rule: {data.operating_point.describe()}.")


def counts_html(data: ReportData, counts: dict[str | None, int]) -> str:
    """Label counts as a table with a bar per class; the bars are plain CSS so they print."""
    total = sum(counts.values()) or 1
    biggest = max(counts.values()) or 1
    rows = []
    entries = [(c.key, c.name, c.color, c.crystal) for c in data.scheme.classes]
    entries.append((None, "Unlabelled", UNLABELLED_COLOR, False))
    for key, name, color, crystal in entries:
        n = counts[key]
        mark = ' <span class="tag">crystal</span>' if crystal else ""
        rows.append(f'<tr data-label="{esc(key or "")}"><td>{_swatch(color)}{esc(name)}{mark}</td>'
                    f'<td class="n">{n}</td><td class="n">{pct(n / total, 1)}</td>'
                    f'<td class="barcell"><span class="bar" style="width:{100 * n / biggest:.1f}%;'
                    f'background:{esc(color)}"></span></td></tr>')
    return ('<table class="counts"><thead><tr><th>Label</th><th>Drops</th><th>Share</th><th></th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody><tfoot><tr><th>Total</th><th class="n">{sum(counts.values())}</th>'
            '<th></th><th></th></tr></tfoot></table>')


def annotators_html(data: ReportData) -> str:
    if not data.annotators:
        return '<p class="empty">Nobody has labelled a drop of this inspection yet.</p>'
    rows = "".join(
        f'<tr><td>{esc(a.annotator)}</td><td class="n">{a.current or 0}</td><td class="n">{a.given}</td>'
        f'<td>{esc(when(a.last_at))}</td></tr>' for a in data.annotators)
    return ('<table class="people"><thead><tr><th>Annotator</th><th>Current labels</th><th>Labels given</th>'
            f'<th>Last label</th></tr></thead><tbody>{rows}</tbody></table>'
            '<p class="muted small">Labels given counts every label set on this inspection, including ones '
            'later changed; current labels are those still in force.</p>')


def model_html(data: ReportData) -> str:
    """The active model and whatever of its registry metrics exist."""
    m = data.model
    if m is None:
        return ('<p class="empty">No model is active in this database, so the drops were not scored and the hit '
                'list holds labelled crystals only. Train one with <code>xtal-train</code>, then run '
                '<code>xtalviewer predict</code>.</p>')
    scored = sum(1 for d in data.drops if d.crystal_prob is not None)
    facts = [("Name", m.name), ("Architecture", m.arch), ("Input size", f"{m.input_size} px"),
             ("Hit rule", data.operating_point.describe()), ("Registered", when(m.created_at))]
    if m.run_id:
        facts.append(("Training run", m.run_id))
    facts.append(("Drops scored", f"{scored} of {len(data.drops)}"))
    fact_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    metrics = m.metrics if isinstance(m.metrics, dict) else {}
    shown = [(h.title, metrics[h.key], h.description) for h in HEADLINE if h.is_share
             and isinstance(metrics.get(h.key), (int, float)) and not isinstance(metrics.get(h.key), bool)]
    if shown:
        metric_rows = "".join(f'<tr><th>{esc(label)}</th><td class="n">{pct(v, 1)}</td>'
                              f'<td class="muted small">{esc(note)}</td></tr>' for label, v, note in shown)
        metric_part = f'<table class="metrics"><tbody>{metric_rows}</tbody></table>'
    else:
        metric_part = '<p class="muted">The registry holds no validation metrics for this model.</p>'
    note = "" if scored else (f'<p class="empty">This inspection has not been scored by this model yet: run '
                              f'<code>xtalviewer predict --plate {esc(data.plate.barcode)}</code>.</p>')
    return f'<div class="twocol"><table class="facts">{fact_rows}</table><div>{metric_part}</div></div>{note}'


def report_css() -> str:
    """The report's style sheet (resources/styles/report.css), inlined into every report."""
    return (resources.files("xtalviewer.resources") / "styles" / "report.css").read_text(encoding="utf-8")


def render(data: ReportData, cache: ThumbnailCache) -> str:
    """The whole document as one string."""
    hit_rows = hits(data)
    counts = label_counts(data)
    title = f"Plate {data.plate.barcode} – {when(data.inspection.imaged_at)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="xtalviewer {esc(__version__)}">'
        f"<title>{esc(title)}</title><style>{report_css()}</style></head><body><main>"
        f"{header_html(data)}{summary_html(data, hit_rows)}"
        f'<section class="map"><h2>Plate map</h2>{plate_map_svg(data)}{legend_html(data, counts)}</section>'
        f'<section><h2>Hits ({len(hit_rows)})</h2><p class="muted small">{esc(hit_intro(data))}</p>'
        f"{hit_list_html(data, hit_rows, cache)}</section>"
        f'<section class="twocol"><div><h2>Labels</h2>{counts_html(data, counts)}</div>'
        f"<div><h2>Reviewed by</h2>{annotators_html(data)}</div></section>"
        f"<section><h2>Model</h2>{model_html(data)}</section>"
        f'<footer>Label scheme {esc(data.scheme.id)} ({esc(data.scheme.name)}). Crystal probability is the sum of '
        "the model's probabilities for the crystal classes.</footer>"
        "</main></body></html>\n"
    )


# -- entry points ---------------------------------------------------------------------------------------


def build_report(store: Store, barcode: str, inspection_key: str | None = None,
                 thumb_cache: ThumbnailCache | None = None, *, generated_at: datetime | None = None) -> str:
    """The report of one inspection (the latest by default) as a self-contained HTML string.

    Raises ReportError for an unknown plate or inspection. Unreadable images never raise: they
    appear as placeholders that give the reason.
    """
    data = collect(store, barcode, inspection_key)
    if generated_at is not None:
        data.generated_at = generated_at
    return render(data, thumb_cache or default_thumbnail_cache(store))


def write_report(store: Store, barcode: str, target: str | Path, inspection_key: str | None = None,
                 thumb_cache: ThumbnailCache | None = None) -> Path:
    """Build the report and write it to ``target`` whole (a reader never sees half a file).

    The target is checked before the images are read, so a wrong path fails at once; a device,
    FIFO, socket or folder is refused and left alone, a symbolic link is written through. The
    thumbnail cache is pruned to its limit afterwards (a big plate can add thousands of entries).
    """
    try:
        output_target(target, databases=[store.path])
    except OutputFileError as exc:
        raise ReportError(str(exc)) from None
    cache = thumb_cache or default_thumbnail_cache(store)
    text = build_report(store, barcode, inspection_key, cache)
    try:
        write_output(target, text)
    except OutputFileError as exc:
        raise ReportError(str(exc)) from None
    except OSError as exc:
        raise ReportError(f"{target}: cannot be written ({exc.strerror or exc})") from None
    finally:
        cache.prune()
    return Path(target)
