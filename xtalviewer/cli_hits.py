"""The ``xtalviewer`` commands that tell people about crystals: ``hits`` (the cross-plate hit list and
the morning summary), ``report`` (a plate inspection as one HTML file) and ``watch`` (new
inspections imported and scored as the imagers write them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xtalviewer.files.printable import printable
from xtalviewer.store.store import Store
from xtalviewer.cli_common import CommandError, checked_output, db_location_of, db_path_of, open_store, writing_output


def cmd_hits(args: argparse.Namespace) -> int:
    from xtalviewer.report.hits import (check_since, hit_rule, hit_table, hits_title, output_format, plate_lines,
                                        render_hits, write_hits)

    try:
        since = check_since(args.since)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.output is not None:
        checked_output(args.output, db_path_of(args))
    fmt = args.format or (output_format(args.output) if args.output is not None else None)
    with open_store(args, readonly=True) as store:
        if args.plate and store.plate_by_barcode(args.plate) is None:
            raise CommandError(f"no plate '{args.plate}' in {store.location}")
        from xtalviewer.model.registry import current_model

        model = store.model(args.model) if args.model is not None else current_model(store)
        if model is None:
            raise CommandError(f"no model {args.model} in the registry" if args.model is not None else
                               "no active model: train one (xtal-train) or activate one (xtalviewer models activate ID)")
        rows = store.hit_list(model.id, plate=args.plate, since=since, new_only=args.new)
        rule = hit_rule(model, store.operating_point(model.id))
        title = hits_title(new_only=args.new, since=since, plate=args.plate)
        if args.component:  # the well's screen condition holds this component
            from xtalviewer.report.conditions import hits_with_component

            rows = hits_with_component(rows, store.conditions_by_well(args.plate), args.component)
            title += f" in conditions with {args.component}"
        if fmt is not None and args.output is None:  # the document alone on stdout, for a mail or a pipe
            sys.stdout.write(render_hits(rows, fmt, rule=rule, title=title, new_only=args.new))
            return 0
        print(rule)
        if args.new:
            print("--new: only drops whose first hit is their latest inspection (appeared since the last look).")
        if args.output is None:
            print("\n".join(hit_table(rows) + plate_lines(rows, new_only=args.new)) if rows else "No drops.")
            return 0
        with writing_output(args.output):
            n = write_hits(args.output, rows, fmt, rule=rule, title=title, new_only=args.new)
    print(f"Wrote {n} drop{'s' * (n != 1)} to {printable(args.output)}")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import signal
    from datetime import datetime

    from xtalviewer.settings import load_settings
    from xtalviewer.watch import WatchCallbacks, WatchConfig, WatchService, config_folders

    settings, note = load_settings()
    folders = config_folders(args.folders, settings.watch_folders)
    if not folders:
        raise CommandError("no folders to watch: name them (xtalviewer watch FOLDER ...) or set watch_folders in "
                           "the Preferences")
    if args.settle < 0 or (args.poll is not None and args.poll <= 0) or args.batch_size < 1:
        raise CommandError("--settle must be 0 or more, --poll and --batch-size more than 0")
    db = db_location_of(args)
    summary = args.summary or (Path(settings.watch_summary) if settings.watch_summary else None)
    if summary is not None:
        checked_output(summary, db.path)
    Store(db).close()  # a database we cannot use is an error now, not a retry loop

    def say(text: str) -> None:
        print(f"{datetime.now():%Y-%m-%d %H:%M:%S} {text}", flush=True)

    if note:
        say(f"Note: {note}")
    config = WatchConfig(db=db, folders=folders, settle_s=args.settle, poll_s=args.poll, summary=summary,
                         device=args.device or settings.device, batch_size=args.batch_size)
    service = WatchService(config, WatchCallbacks(status=say))

    def on_signal(signum: int, frame: object) -> None:
        if service.stopping:
            raise KeyboardInterrupt  # a second Ctrl+C: now
        say(f"Stopping ({signal.Signals(signum).name}); the inspection in hand is finished or left for the next start.")
        service.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.once:
            service.run_once()
        else:
            service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say(f"Stopped: {service.imported} inspection{'s' * (service.imported != 1)} imported, {service.scored} scored.")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from xtalviewer.imaging.thumbnails import cache_from_settings
    from xtalviewer.report.html import ReportError, write_report
    from xtalviewer.settings import load_settings

    checked_output(args.output, db_path_of(args))
    with open_store(args, readonly=True) as store:  # reporting must not create (or change) a database
        cache, warning = cache_from_settings(load_settings()[0], store.image_path_under)
        if warning:
            print(f"xtalviewer report: warning: {warning}", file=sys.stderr)
        try:
            path = write_report(store, args.plate, args.output, inspection_key=args.inspection, thumb_cache=cache)
        except ReportError as exc:
            raise CommandError(str(exc)) from None
    print(f"Wrote the report of plate {printable(args.plate)} to {printable(path)}")
    return 0
