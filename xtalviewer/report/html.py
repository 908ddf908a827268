"""A one-file HTML report of one plate inspection, to send to a colleague.

The file carries everything inline (CSS, an SVG plate map, thumbnails as data URIs: those pieces
are ``plate_map_html``) so it opens in any browser, offline, from a mail attachment, and prints as
it looks. Every piece of text from the database or the file system goes through ``esc``.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path

from xtalviewer import __version__
from xtalviewer.crystal_call import is_hit, pct
from xtalviewer.files.outputs import OutputFileError, output_target, write_output
from xtalviewer.imaging.thumbnails import ThumbnailCache
from xtalviewer.labels import LabelScheme
from xtalviewer.model.metrics import HEADLINE
from xtalviewer.report.data import (  # noqa: F401  (ReportError and hits are part of this module's interface)
    ReportData,
    ReportError,
    collect,
    hits,
    label_counts,
)
from xtalviewer.report.plate_map_html import (
    UNLABELLED_COLOR, default_thumbnail_cache, drop_name, esc, legend_html, plate_map_svg, swatch, thumbnail_html,
)
from xtalviewer.store.rows import ReportDrop
from xtalviewer.store.store import Store

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


def _label_html(scheme: LabelScheme, key: str | None) -> str:
    if key is None:
        return '<span class="muted">unlabelled</span>'
    try:
        cls = scheme.get(key)
    except KeyError:
        return esc(key)
    return f"{swatch(cls.color)}{esc(cls.name)}"


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
        items.append(f'<li{cls_attr}>{swatch(color)}{esc(name)} <span class="p">{pct(p, 0)}</span></li>')
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
        rows.append(f'<tr data-label="{esc(key or "")}"><td>{swatch(color)}{esc(name)}{mark}</td>'
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
