"""Colleagues' work arriving while a plate is open: labels and second looks committed by other
workstations (or other windows) and a model activated elsewhere, taken into the review session so
the window shows them without re-reading its queue. No Qt; the window's poller (``gui/app/live.py``)
reads the news off the GUI thread (``store/label_watch.py``) and hands it to ``commands.others_changed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from xtalviewer.store.label_watch import LabelEvent, LiveNews

if TYPE_CHECKING:
    from xtalviewer.review.session import ReviewSession

NAMED_DROPS = 3  # a note names this many drops; more are counted


@dataclass
class LiveUpdate:
    """What the news changed in the session: the open queue's drops to repaint, whether other
    inspections' counts moved, and the line to show (others' work only; None for this reviewer's own)."""

    changed: list[int] = field(default_factory=list)
    elsewhere: bool = False
    note: str | None = None
    requeue: bool = False  # the queue itself changed (the Disputed order gains or loses drops): read it again


def take_news(session: ReviewSession, news: LiveNews) -> LiveUpdate:
    """Put the labels committed elsewhere into the open queue's rows (the store's label now, so two
    people labelling one drop at once end where the store ends; both annotations stay in its history)
    and re-read the second-look marks when one of the open drops got one. In blind review a drop the
    reviewer labelled keeps showing their own label."""
    update = LiveUpdate()
    open_id = session.inspection.id if session.inspection is not None else None
    flags_here = False
    for event in news.events:
        place = news.places.get(event.image_id)
        if place is None or place.inspection_id != open_id:
            update.elsewhere = update.elsewhere or place is not None
            continue
        if session.order == "disputed" and event.annotator != session.annotator:
            update.requeue = True  # a colleague's label may open or settle a dispute on this plate
        row = session.row_of(event.image_id)
        if row is None:  # filtered out of the queue: its counts still moved
            update.elsewhere = True
            continue
        if event.flagged is not None:
            flags_here = True
        elif not (session.blind and event.image_id in session.blind_labelled):
            label = news.labels_now.get(event.image_id, session.rows[row].label)
            if label != session.rows[row].label:
                session.rows[row] = replace(session.rows[row], label=label)
        if event.image_id not in update.changed:
            update.changed.append(event.image_id)
    if flags_here and session.inspection is not None and not update.requeue:  # a requeue reads them anyway
        session.flags = session.store.flags(session.inspection.id)
    update.note = note_of([e for e in news.events if e.annotator != session.annotator], news, session)
    return update


def note_of(events: list[LabelEvent], news: LiveNews, session: ReviewSession) -> str | None:
    """One line: who labelled or flagged what ("bob labelled LW1 B4 drop 1: Needles"; several drops
    counted). In blind review the label itself is not said."""
    if not events:
        return None
    parts = []
    for who in dict.fromkeys(e.annotator for e in events):
        mine = [e for e in events if e.annotator == who]
        labels = [e for e in mine if e.flagged is None]
        flags = [e for e in mine if e.flagged is not None]
        said = []
        if labels:
            said.append(f"labelled {_drops(labels, news, session, with_label=not session.blind)}")
        if flags:
            verb = "flagged for a second look" if flags[-1].flagged else "cleared the second look of"
            said.append(f"{verb} {_drops(flags, news, session, with_label=False)}")
        parts.append(f"{who} " + " and ".join(said))
    return "; ".join(parts)


def _drops(events: list[LabelEvent], news: LiveNews, session: ReviewSession, *, with_label: bool) -> str:
    ids = list(dict.fromkeys(e.image_id for e in events))
    if len(ids) > NAMED_DROPS:
        plates = sorted({p.barcode for i in ids if (p := news.places.get(i)) is not None})
        return f"{len(ids)} drops of {', '.join(plates) or 'another plate'}"
    named = []
    for image_id in ids:
        place = news.places.get(image_id)
        where = f"{place.barcode} {place.well} drop {place.drop_no}" if place else f"image {image_id}"
        last = [e for e in events if e.image_id == image_id][-1]
        if with_label:
            names = {c.key: c.name for c in session.scheme.classes}
            where += f": {names.get(last.label, last.label) if last.label else 'label removed'}"
        named.append(where)
    return ", ".join(named)
